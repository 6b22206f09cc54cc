//! Every analysis reduced on ClickHouse equals the embedded engine's, on every shared log.

use waymark_analytics::{Filter, FunnelOrder, all_cases};
use waymark_clickhouse::EventStore;
use waymark_eventlog::EventLog;

use crate::{SHARED_LOGS, fresh, servers, shared_log};

/// The filters tried on each log, made from the log's own activities and times.
fn filters(log: &EventLog) -> Vec<Filter> {
    let dfg = waymark_analytics::dfg(log, &all_cases(log));
    let common = log.resolve(dfg.activities[0].activity).to_string();
    let rare = log
        .resolve(dfg.activities[dfg.activities.len() - 1].activity)
        .to_string();
    let mut firsts: Vec<i64> = log
        .iter_cases()
        .filter_map(|c| c.times().first().copied())
        .collect();
    firsts.sort_unstable();
    let middle = firsts[firsts.len() / 2];
    let durations = waymark_analytics::case_durations(log, &all_cases(log));
    vec![
        Filter::default(),
        Filter {
            contains: vec![common.clone()],
            lacks: vec![rare.clone()],
            ..Filter::default()
        },
        Filter {
            from: Some(middle),
            ..Filter::default()
        },
        Filter {
            to: Some(middle),
            min_duration_seconds: Some(durations.median),
            ..Filter::default()
        },
        Filter {
            max_duration_seconds: Some(durations.p90),
            top_variants: Some(3),
            ..Filter::default()
        },
        Filter {
            contains: vec!["no such activity".into()],
            ..Filter::default()
        },
    ]
}

pub(crate) fn same_dfg(name: &str, log: &EventLog, store: &EventStore, filter: &Filter) {
    let cases = filter_cases(log, filter);
    let expected = waymark_analytics::dfg(log, &cases);
    let (actual, names) = store.dfg(filter).unwrap_or_else(|e| panic!("{name}: {e}"));
    let names = names.into_log();
    assert_eq!(
        dfg_words(&names, &actual),
        dfg_words(log, &expected),
        "{name}: the dfg with {filter:?}"
    );
}

/// A directly-follows graph in words (symbols resolved), to compare across logs.
fn dfg_words(log: &EventLog, dfg: &waymark_analytics::Dfg) -> DfgWords {
    let counts = |list: &[waymark_analytics::ActivityCount]| {
        list.iter()
            .map(|a| (log.resolve(a.activity).to_string(), a.count))
            .collect::<Vec<_>>()
    };
    let edges: Vec<_> = dfg
        .edges
        .iter()
        .map(|e| {
            (
                log.resolve(e.from).to_string(),
                log.resolve(e.to).to_string(),
                e.count,
                e.mean_seconds.to_bits(),
                e.median_seconds.to_bits(),
            )
        })
        .collect();
    (
        dfg.events,
        dfg.cases,
        counts(&dfg.activities),
        counts(&dfg.start_activities),
        counts(&dfg.end_activities),
        edges,
    )
}

type DfgWords = (
    u64,
    u64,
    Vec<(String, u64)>,
    Vec<(String, u64)>,
    Vec<(String, u64)>,
    Vec<(String, String, u64, u64, u64)>,
);

fn filter_cases(log: &EventLog, filter: &Filter) -> Vec<u32> {
    if filter.is_empty() {
        all_cases(log)
    } else {
        filter.select(log)
    }
}

fn same_variants_and_durations(name: &str, log: &EventLog, store: &EventStore, filter: &Filter) {
    let cases = filter_cases(log, filter);
    let expected = waymark_analytics::variants(log, &cases);
    let (actual, looked_at, names) = store
        .variants(filter)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let names = names.into_log();
    assert_eq!(
        looked_at,
        cases.len() as u64,
        "{name}: cases with {filter:?}"
    );
    let words = |log: &EventLog, list: &[waymark_analytics::Variant]| {
        list.iter()
            .map(|v| {
                (
                    v.activities
                        .iter()
                        .map(|a| log.resolve(*a).to_string())
                        .collect::<Vec<_>>(),
                    v.count,
                    v.mean_duration_seconds.to_bits(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(&names, &actual),
        words(log, &expected),
        "{name}: the variants with {filter:?}"
    );
    let expected = waymark_analytics::case_durations(log, &cases);
    let (actual, looked_at) = store
        .durations(filter)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(looked_at, cases.len() as u64);
    assert_eq!(actual, expected, "{name}: the durations with {filter:?}");
}

fn same_funnels(name: &str, log: &EventLog, store: &EventStore, filter: &Filter) {
    let cases = filter_cases(log, filter);
    let dfg = waymark_analytics::dfg(log, &all_cases(log));
    // Steps along the most frequent variant, a repeated step, and a step nobody takes.
    let top = &waymark_analytics::variants(log, &all_cases(log))[0].activities;
    let along: Vec<String> = top
        .iter()
        .take(4)
        .map(|a| log.resolve(*a).to_string())
        .collect();
    let first = log.resolve(dfg.activities[0].activity).to_string();
    let step_sets = [
        along.clone(),
        vec![first.clone(), first.clone(), along[0].clone()],
        vec![along[0].clone(), "no such activity".into()],
    ];
    for steps in &step_sets {
        for window in [3_600_000_000_i64, 30 * 86_400_000_000, i64::MAX / 4] {
            for order in [FunnelOrder::Ordered, FunnelOrder::Strict, FunnelOrder::Any] {
                let expected = waymark_analytics::funnel(log, &cases, steps, window, order);
                let actual = store
                    .funnel(filter, steps, window, order)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    actual, expected,
                    "{name}: the funnel {steps:?} within {window} µs, {order:?}, with {filter:?}"
                );
            }
        }
    }
}

#[test]
fn every_analysis_equals_the_embedded_engine_on_every_shared_log() {
    let servers = servers();
    for file in SHARED_LOGS {
        let log = shared_log(file);
        for (server, url) in &servers {
            let name = format!("{file} on {server}");
            let store = fresh(url, "shared");
            let written = store
                .import_log(&log)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(written, log.events() as u64);
            assert_eq!(
                store.counts().expect("counts"),
                (log.events() as u64, log.cases() as u64),
                "{name}"
            );
            if store.location().cluster.is_some() {
                each_person_on_one_shard(&name, &store, log.cases() as u64);
            }
            for filter in filters(&log) {
                same_dfg(&name, &log, &store, &filter);
                same_variants_and_durations(&name, &log, &store, &filter);
            }
            same_funnels(&name, &log, &store, &Filter::default());
        }
    }
}

#[test]
fn a_batch_written_twice_counts_once() {
    let log = shared_log("running-example.xes");
    for (server, url) in servers() {
        let store = fresh(&url, "twice");
        store.import_log(&log).expect("import");
        let (once, names) = store.dfg(&Filter::default()).expect("dfg");
        let once = dfg_words(&names.into_log(), &once);
        // The same rows again, as a retried insert sends them (same arrival numbers); merges
        // stopped, so the rows really are there twice when the analyses read them.
        store
            .execute_everywhere(&format!(
                "SYSTEM STOP MERGES {}",
                store.on_each_node("events")
            ))
            .expect("merges stopped");
        copy_rows_again(&store);
        let events = log.events() as u64;
        assert_eq!(
            store.counts().expect("counts").0,
            events,
            "{server}: duplicates counted"
        );
        let (again, names) = store.dfg(&Filter::default()).expect("dfg");
        assert_eq!(dfg_words(&names.into_log(), &again), once, "{server}");
        // And the rows really are there twice, for the sequences to collapse.
        let rows = store
            .sum_per_node(&format!(
                "SELECT count() FROM {} WHERE kind != 'case' FORMAT TabSeparated",
                store.on_each_node("events")
            ))
            .expect("rows");
        assert_eq!(rows, 2 * events, "{server}");
    }
}

/// Writes every stored row again, unchanged, as an insert retried after a lost answer does.
fn copy_rows_again(store: &EventStore) {
    let table = store.on_each_node("events");
    store
        .execute_everywhere(&format!(
            "INSERT INTO {table} (person, time_us, seq, message_id, kind, activity, properties) \
             SELECT person, time_us, seq, message_id, kind, activity, properties FROM {table}"
        ))
        .expect("rows written again");
}

/// On a cluster: both shards hold events, and every person's events sit on one shard.
fn each_person_on_one_shard(name: &str, store: &EventStore, people: u64) {
    let shards: Vec<(u64, u64)> = store
        .per_node_text(&format!(
            "SELECT count(), uniqExact(person) FROM {} FORMAT TabSeparated",
            store.on_each_node("events")
        ))
        .expect("per shard")
        .iter()
        .map(|text| {
            let mut parts = text
                .split_whitespace()
                .map(|p| p.parse::<u64>().expect("count"));
            (parts.next().expect("events"), parts.next().expect("people"))
        })
        .collect();
    assert_eq!(shards.len(), 2, "{name}");
    if people > 1 {
        assert!(
            shards.iter().all(|&(events, _)| events > 0),
            "{name}: a shard is empty: {shards:?}"
        );
    }
    // People counted per shard add up to all people: nobody is on both.
    assert_eq!(
        shards.iter().map(|s| s.1).sum::<u64>(),
        people,
        "{name}: {shards:?}"
    );
}

/// A log with what the shared logs lack: cases without events (with and without attributes),
/// events without a time, and ties in time.
fn odd_log() -> EventLog {
    use waymark_eventlog::{ActivityKey, Attribute, LogBuilder, NO_TIME};
    let mut builder = LogBuilder::new(ActivityKey::concept_name());
    let concept = builder.intern(waymark_eventlog::CONCEPT_NAME);
    let kind = builder.intern("kind");
    let event = |builder: &mut LogBuilder, case: u32, time: i64, activity: &str| {
        let name = builder.string(activity);
        builder.push_event(case, time, [Attribute::new(concept, name)]);
    };
    for n in 0..30 {
        let case = builder.new_case(&format!("p{n}"));
        let at = 1_700_000_000_000_000 + n * 3_600_000_000;
        event(&mut builder, case, at, "open");
        event(&mut builder, case, at + 1_500_000, "fill");
        if n % 3 == 0 {
            // A tie: two events at one time keep their order.
            event(&mut builder, case, at + 1_500_000, "check");
        }
        if n % 4 == 0 {
            event(&mut builder, case, NO_TIME, "note");
        }
        event(&mut builder, case, at + (n + 1) * 86_400_000_000, "close");
        if n % 5 == 0 {
            let empty = builder.new_case(&format!("empty{n}"));
            if n % 10 == 0 {
                let value = builder.string("vip");
                builder.set_case_attributes(empty, vec![Attribute::new(kind, value)]);
            }
        }
    }
    let untimed = builder.new_case("untimed");
    event(&mut builder, untimed, NO_TIME, "note");
    event(&mut builder, untimed, NO_TIME, "open");
    builder.finish()
}

#[test]
fn cases_without_events_or_times_are_counted_as_the_embedded_engine_counts_them() {
    let log = odd_log();
    assert!(log.iter_cases().any(|c| c.is_empty()));
    for (server, url) in servers() {
        let name = format!("the odd log on {server}");
        let store = fresh(&url, "odd");
        store
            .import_log(&log)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            store.counts().expect("counts"),
            (log.events() as u64, log.cases() as u64),
            "{name}"
        );
        for filter in filters(&log) {
            same_dfg(&name, &log, &store, &filter);
            same_variants_and_durations(&name, &log, &store, &filter);
            same_funnels(&name, &log, &store, &filter);
        }
    }
}
