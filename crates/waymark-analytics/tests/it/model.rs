//! The engine against a naive model on random logs: the model keeps raw events per case, sorts
//! them itself, and computes each analysis in the most obvious way.

use std::collections::BTreeMap;

use proptest::prelude::*;
use waymark_analytics::{FunnelOrder, all_cases};
use waymark_eventlog::{ActivityKey, Attribute, CONCEPT_NAME, EventLog, LogBuilder};

/// Raw events in arrival order: (case, activity, time in seconds).
type Raw = Vec<(u8, u8, i64)>;

fn raw_log() -> impl Strategy<Value = Raw> {
    // Few activities and coarse times, so ties and loops are common.
    prop::collection::vec((0u8..8, 0u8..5, 0i64..40), 0..120)
}

fn name(activity: u8) -> String {
    format!("act-{activity}")
}

fn build(raw: &Raw) -> EventLog {
    let mut builder = LogBuilder::new(ActivityKey::default());
    let key = builder.intern(CONCEPT_NAME);
    for &(case, activity, time) in raw {
        let case = builder.case(&format!("case-{case}"));
        let value = builder.string(&name(activity));
        builder.push_event(case, time * 1_000_000, [Attribute::new(key, value)]);
    }
    builder.finish()
}

/// The model's cases: first-appearance order, each stably sorted by time.
fn model_cases(raw: &Raw) -> Vec<Vec<(u8, i64)>> {
    let mut order: Vec<u8> = Vec::new();
    let mut cases: BTreeMap<u8, Vec<(u8, i64)>> = BTreeMap::new();
    for &(case, activity, time) in raw {
        if !order.contains(&case) {
            order.push(case);
        }
        cases.entry(case).or_default().push((activity, time));
    }
    order
        .iter()
        .map(|c| {
            let mut events = cases.remove(c).unwrap_or_default();
            events.sort_by_key(|&(_, t)| t);
            events
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The funnel level of one case by trying every chain: each step-1 event starts a chain that
/// takes, for each next step, the earliest matching event after the previous one (ties by step).
fn model_ordered_level(events: &[(u8, i64)], steps: &[u8], window: i64) -> usize {
    // Events matching steps, ordered by time then step number.
    let mut matched: Vec<(i64, usize)> = Vec::new();
    for &(activity, time) in events {
        for (k, &step) in steps.iter().enumerate() {
            if step == activity {
                matched.push((time, k));
            }
        }
    }
    matched.sort();
    let mut best = 0;
    for (i, &(start, k)) in matched.iter().enumerate() {
        if k != 0 {
            continue;
        }
        let mut level = 1;
        for &(time, step) in &matched[i + 1..] {
            if level < steps.len() && step == level && time <= start + window {
                level += 1;
            }
        }
        best = best.max(level);
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn dfg_variants_and_durations_match_the_model(raw in raw_log()) {
        let log = build(&raw);
        let cases = model_cases(&raw);
        prop_assert_eq!(log.cases(), cases.len());
        let selection = all_cases(&log);

        // Events in each case, in the model's order.
        for (index, events) in cases.iter().enumerate() {
            let case = log.case(index);
            let got: Vec<(String, i64)> = case.activities().iter().zip(case.times()).map(|(a, t)| (log.resolve(*a).to_string(), *t / 1_000_000)).collect();
            let want: Vec<(String, i64)> = events.iter().map(|&(a, t)| (name(a), t)).collect();
            prop_assert_eq!(got, want);
        }

        let dfg = waymark_analytics::dfg(&log, &selection);
        let mut edges: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for events in &cases {
            for pair in events.windows(2) {
                edges.entry((name(pair[0].0), name(pair[1].0))).or_default().push((pair[1].1 - pair[0].1) as f64);
            }
        }
        prop_assert_eq!(dfg.edges.len(), edges.len());
        for edge in &dfg.edges {
            let gaps = &edges[&(log.resolve(edge.from).to_string(), log.resolve(edge.to).to_string())];
            prop_assert_eq!(edge.count as usize, gaps.len());
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            prop_assert!((edge.mean_seconds - mean).abs() < 1e-9);
            prop_assert!((edge.median_seconds - median(gaps.clone())).abs() < 1e-9);
        }
        let starts = cases.iter().filter(|c| !c.is_empty()).count() as u64;
        prop_assert_eq!(dfg.start_activities.iter().map(|a| a.count).sum::<u64>(), starts);

        let variants = waymark_analytics::variants(&log, &selection);
        let mut model: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for events in &cases {
            *model.entry(events.iter().map(|&(a, _)| name(a)).collect()).or_default() += 1;
        }
        let got: BTreeMap<Vec<String>, u64> = variants.iter().map(|v| (v.activities.iter().map(|a| log.resolve(*a).to_string()).collect(), v.count)).collect();
        prop_assert_eq!(got, model);

        let durations = waymark_analytics::case_durations(&log, &selection);
        let model: Vec<f64> = cases.iter().filter(|c| !c.is_empty()).map(|c| (c.last().map_or(0, |e| e.1) - c[0].1) as f64).collect();
        if !model.is_empty() {
            prop_assert!((durations.median - median(model.clone())).abs() < 1e-9);
            prop_assert_eq!(durations.max, model.iter().copied().fold(f64::MIN, f64::max));
        }
    }

    #[test]
    fn ordered_funnel_matches_trying_every_chain(raw in raw_log(), steps in prop::collection::vec(0u8..5, 1..5), window in 0i64..30) {
        let log = build(&raw);
        let cases = model_cases(&raw);
        let names: Vec<String> = steps.iter().map(|&s| name(s)).collect();
        let funnel = waymark_analytics::funnel(&log, &all_cases(&log), &names, window * 1_000_000, FunnelOrder::Ordered);
        let levels: Vec<usize> = cases.iter().map(|c| model_ordered_level(c, &steps, window)).collect();
        for (k, step) in funnel.steps.iter().enumerate() {
            prop_assert_eq!(step.reached, levels.iter().filter(|&&l| l > k).count(), "step {}", k);
        }
    }

    #[test]
    fn strict_and_any_bound_the_ordered_funnel(raw in raw_log(), steps in prop::collection::vec(0u8..5, 1..4), window in 0i64..30) {
        let log = build(&raw);
        let names: Vec<String> = steps.iter().map(|&s| name(s)).collect();
        let cases = all_cases(&log);
        let window = window * 1_000_000;
        let reached = |order| waymark_analytics::funnel(&log, &cases, &names, window, order).steps.iter().map(|s| s.reached).collect::<Vec<_>>();
        let (ordered, strict, any) = (reached(FunnelOrder::Ordered), reached(FunnelOrder::Strict), reached(FunnelOrder::Any));
        for k in 0..names.len() {
            prop_assert!(strict[k] <= ordered[k], "strict never reaches further than ordered");
            if k == 0 {
                prop_assert_eq!(strict[0], ordered[0]);
            }
            prop_assert!(ordered[k] <= any[k] || steps.iter().collect::<std::collections::BTreeSet<_>>().len() < steps.len(),
                "with distinct steps, any order reaches at least as far");
        }
    }
}

#[test]
fn funnel_counts_conversion_drop_off_and_time_between_steps() {
    let raw: Raw = vec![
        (1, 0, 0),
        (1, 1, 10),
        (1, 2, 30),
        (2, 0, 0),
        (2, 1, 20),
        (3, 0, 5),
        (4, 3, 1),
    ];
    let log = build(&raw);
    let steps: Vec<String> = [0, 1, 2].iter().map(|&s| name(s)).collect();
    let funnel = waymark_analytics::funnel(
        &log,
        &all_cases(&log),
        &steps,
        100 * 1_000_000,
        FunnelOrder::Ordered,
    );
    assert_eq!(funnel.cases, 4);
    let reached: Vec<usize> = funnel.steps.iter().map(|s| s.reached).collect();
    assert_eq!(reached, [3, 2, 1]);
    assert_eq!(funnel.steps[1].drop_off, 1);
    assert!((funnel.steps[1].conversion_from_previous - 2.0 / 3.0).abs() < 1e-12);
    assert!((funnel.steps[2].conversion_from_first - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(funnel.steps[1].median_seconds_from_previous, Some(15.0));
    assert_eq!(funnel.steps[2].median_seconds_from_previous, Some(20.0));
    // A tight window cuts case 2 at the second step (20 s after the first).
    let tight = waymark_analytics::funnel(
        &log,
        &all_cases(&log),
        &steps,
        15 * 1_000_000,
        FunnelOrder::Ordered,
    );
    assert_eq!(
        tight.steps.iter().map(|s| s.reached).collect::<Vec<_>>(),
        [3, 1, 0]
    );
}

#[test]
fn filters_select_cases() {
    let raw: Raw = vec![(1, 0, 0), (1, 1, 10), (2, 0, 100), (2, 2, 300), (3, 1, 50)];
    let log = build(&raw);
    let select = |filter: waymark_analytics::Filter| -> Vec<String> {
        filter
            .select(&log)
            .iter()
            .map(|&c| log.case(c as usize).name().to_string())
            .collect()
    };
    let filter = waymark_analytics::Filter {
        contains: vec![name(0)],
        ..Default::default()
    };
    assert_eq!(select(filter), ["case-1", "case-2"]);
    let filter = waymark_analytics::Filter {
        lacks: vec![name(2)],
        ..Default::default()
    };
    assert_eq!(select(filter), ["case-1", "case-3"]);
    let filter = waymark_analytics::Filter {
        min_duration_seconds: Some(100.0),
        ..Default::default()
    };
    assert_eq!(select(filter), ["case-2"]);
    let filter = waymark_analytics::Filter {
        from: Some(50 * 1_000_000),
        ..Default::default()
    };
    assert_eq!(select(filter), ["case-2", "case-3"]);
    let filter = waymark_analytics::Filter {
        contains: vec!["never".into()],
        ..Default::default()
    };
    assert!(select(filter).is_empty());
    let filter = waymark_analytics::Filter {
        top_variants: Some(1),
        ..Default::default()
    };
    assert_eq!(select(filter).len(), 1);
}
