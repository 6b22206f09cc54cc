//! The analyses, reduced where the events are.
//!
//! Each reads the Distributed `sequences` (each person's events in order, whole on their shard),
//! so every shard reduces its people and only small results travel: counts and exact sums per
//! activity, edge and variant; the middle values of each edge's gaps (ClickHouse's exact
//! quantile); for a funnel, each person's events that match a step. The figures are then
//! computed by the same functions as the embedded engine's (`waymark_analytics::stats`,
//! [`FunnelBuilder`]), so the results are equal, bit for bit.

use std::collections::HashMap;

use serde::Deserialize;
use waymark_analytics::{
    ActivityCount, Dfg, Edge, Filter, Funnel, FunnelBuilder, FunnelOrder, Summary, Variant, stats,
};
use waymark_eventlog::{ActivityKey, EventLog, LogBuilder, Micros};

use crate::{Error, EventStore, sql};

/// "No time" (`i64::MIN`) in a statement.
const NO_TIME: &str = "(-9223372036854775807 - 1)";

fn has_time() -> String {
    format!("arrayExists(l_t -> l_t != {NO_TIME}, times)")
}

fn first_time() -> String {
    format!("arrayFirst(l_t -> l_t != {NO_TIME}, times)")
}

/// A person's duration in microseconds (0 without a time), as `waymark_analytics::case_micros`.
fn duration() -> String {
    format!(
        "if({}, times[length(times)] - {}, 0)",
        has_time(),
        first_time()
    )
}

/// An exact sum in microseconds, summed by ClickHouse in two parts that cannot overflow an
/// Int64: whole seconds (`sum(intDiv(x, 1000000))`) and the microseconds left (`sum(x % 1000000)`).
fn total(whole: i64, part: i64) -> i128 {
    i128::from(whole) * 1_000_000 + i128::from(part)
}

/// A result's names: an empty log holding the activities, to resolve the results' symbols as a
/// log read from a file does.
#[derive(Debug)]
pub struct Names {
    builder: LogBuilder,
}

impl Names {
    fn new() -> Names {
        Names {
            builder: LogBuilder::new(ActivityKey::concept_name()),
        }
    }

    fn symbol(&mut self, name: &str) -> waymark_eventlog::Symbol {
        self.builder.intern(name)
    }

    fn name(&self, symbol: waymark_eventlog::Symbol) -> &str {
        self.builder.resolve(symbol)
    }

    pub fn into_log(self) -> EventLog {
        self.builder.finish()
    }
}

#[derive(Deserialize)]
struct DfgRow {
    k: u8,
    f: String,
    t: String,
    n: u64,
    whole: i64,
    part: i64,
    upper: i64,
    lower: i64,
}

#[derive(Deserialize)]
struct VariantRow {
    activities: Vec<String>,
    n: u64,
    first: u64,
    whole: i64,
    part: i64,
}

#[derive(Deserialize)]
struct Reduced {
    c: Vec<u32>,
    t: Vec<Micros>,
}

impl EventStore {
    fn sequences(&self) -> String {
        format!("{}.sequences", self.location.database)
    }

    /// The condition a person must meet to be looked at, as [`Filter::select`] decides.
    fn condition(&self, filter: &Filter) -> Result<String, Error> {
        let mut parts = vec!["1".to_string()];
        if let Some(from) = filter.from {
            parts.push(format!("({} AND {} >= {from})", has_time(), first_time()));
        }
        if let Some(to) = filter.to {
            parts.push(format!("({} AND {} < {to})", has_time(), first_time()));
        }
        if let Some((key, _)) = &filter.case_attribute {
            return Err(Error::Unsupported {
                what: format!("a case attribute filter (--where {key}=…)"),
                hint: "the events' case attributes are not kept in ClickHouse; filter by activity, time or duration".into(),
            });
        }
        for activity in &filter.contains {
            parts.push(format!("has(activities, {})", sql::literal(activity)));
        }
        for activity in &filter.lacks {
            parts.push(format!("NOT has(activities, {})", sql::literal(activity)));
        }
        let seconds = format!("(({}) / 1e6)", duration());
        if let Some(min) = filter.min_duration_seconds {
            parts.push(format!("NOT ({seconds} < {min:?})"));
        }
        if let Some(max) = filter.max_duration_seconds {
            parts.push(format!("NOT ({seconds} > {max:?})"));
        }
        let mut condition = parts.join(" AND ");
        if let Some(k) = filter.top_variants {
            #[derive(Deserialize)]
            struct Top {
                activities: Vec<String>,
            }
            let top: Vec<Top> = self.rows(
                "the most frequent variants",
                &format!(
                    "SELECT activities FROM {} WHERE {condition} GROUP BY activities ORDER BY count() DESC, min(first_seq) LIMIT {k}",
                    self.sequences()
                ),
            )?;
            let arrays: Vec<String> = top.iter().map(|t| sql::array(&t.activities)).collect();
            condition = if arrays.is_empty() {
                "0".to_string()
            } else {
                format!("{condition} AND has([{}], activities)", arrays.join(", "))
            };
        }
        Ok(condition)
    }

    /// The directly-follows graph, as `waymark_analytics::dfg` computes it.
    pub fn dfg(&self, filter: &Filter) -> Result<(Dfg, Names), Error> {
        let condition = self.condition(filter)?;
        let table = self.sequences();
        // One pass: each person's activities (kind 0), first (1) and last (2) activity, and
        // pairs of consecutive events with the time between them (3), grouped together. Lambdas
        // see only their arguments (18.16 cannot capture a column in ARRAY JOIN), so the pairs
        // come from the sequences shifted by one.
        let items = format!(
            "arrayConcat(\
                arrayMap(l_a -> (toUInt8(0), l_a, '', toInt64(0)), activities), \
                [(toUInt8(1), activities[1], '', toInt64(0)), (toUInt8(2), activities[length(activities)], '', toInt64(0))], \
                arrayMap((l_a, l_b, l_s, l_e) -> (toUInt8(3), l_a, l_b, if(l_s = {NO_TIME} OR l_e = {NO_TIME}, toInt64(0), l_e - l_s)), \
                    arrayPopBack(activities), arrayPopFront(activities), arrayPopBack(times), arrayPopFront(times)))"
        );
        let g = "tupleElement(p, 4)";
        let rows: Vec<DfgRow> = self.rows(
            "the directly-follows graph",
            &format!(
                "SELECT tupleElement(p, 1) AS k, tupleElement(p, 2) AS f, tupleElement(p, 3) AS t, count() AS n, \
                 sum(intDiv({g}, 1000000)) AS whole, sum({g} % 1000000) AS part, \
                 quantileExactIf(0.5)({g}, k = 3) AS upper, -quantileExactIf(0.5)(-{g}, k = 3) AS lower \
                 FROM {table} ARRAY JOIN {items} AS p WHERE length(activities) > 0 AND {condition} GROUP BY k, f, t"
            ),
        )?;
        let mut names = Names::new();
        let (mut activities, mut start_activities, mut end_activities, mut edges) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let count = ActivityCount {
                activity: names.symbol(&row.f),
                count: row.n,
            };
            match row.k {
                0 => activities.push(count),
                1 => start_activities.push(count),
                2 => end_activities.push(count),
                _ => edges.push(Edge {
                    from: count.activity,
                    to: names.symbol(&row.t),
                    count: row.n,
                    mean_seconds: stats::mean_seconds(total(row.whole, row.part), row.n),
                    median_seconds: stats::median_micros(row.n as usize, row.lower, row.upper),
                }),
            }
        }
        for list in [&mut activities, &mut start_activities, &mut end_activities] {
            list.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| names.name(a.activity).cmp(names.name(b.activity)))
            });
        }
        edges.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| names.name(a.from).cmp(names.name(b.from)))
                .then_with(|| names.name(a.to).cmp(names.name(b.to)))
        });
        let events = activities.iter().map(|a| a.count).sum();
        let cases = start_activities.iter().map(|a| a.count).sum();
        let dfg = Dfg {
            events,
            cases,
            activities,
            start_activities,
            end_activities,
            edges,
        };
        Ok((dfg, names))
    }

    /// The variants, most frequent first (ties: the variant whose first person arrived first),
    /// with the number of people looked at. A variant's `cases` are left empty: people are not
    /// sent back.
    pub fn variants(&self, filter: &Filter) -> Result<(Vec<Variant>, u64, Names), Error> {
        let condition = self.condition(filter)?;
        let d = duration();
        let mut rows: Vec<VariantRow> = self.rows(
            "the variants",
            &format!(
                "SELECT activities, count() AS n, min(first_seq) AS first, \
                 sum(intDiv({d}, 1000000)) AS whole, sum(({d}) % 1000000) AS part \
                 FROM {} WHERE {condition} GROUP BY activities",
                self.sequences()
            ),
        )?;
        rows.sort_by(|a, b| b.n.cmp(&a.n).then(a.first.cmp(&b.first)));
        let cases = rows.iter().map(|row| row.n).sum();
        let mut names = Names::new();
        let variants = rows
            .into_iter()
            .map(|row| Variant {
                activities: row.activities.iter().map(|a| names.symbol(a)).collect(),
                count: row.n,
                mean_duration_seconds: stats::mean_seconds(total(row.whole, row.part), row.n),
                cases: Vec::new(),
            })
            .collect();
        Ok((variants, cases, names))
    }

    /// The case durations' summary, as `waymark_analytics::case_durations` computes it, with the
    /// number of people looked at.
    pub fn durations(&self, filter: &Filter) -> Result<(Summary, u64), Error> {
        let condition = self.condition(filter)?;
        let table = self.sequences();
        let d = duration();
        #[derive(Deserialize)]
        struct Sums {
            cases: u64,
            n: u64,
            whole: i64,
            part: i64,
        }
        // A person without a time has no duration: counted as looked at, not measured (their
        // `d` is 0, so the sums are those of the measured).
        let sums: Vec<Sums> = self.rows(
            "the durations",
            &format!(
                "SELECT count() AS cases, countIf({}) AS n, sum(intDiv({d}, 1000000)) AS whole, sum(({d}) % 1000000) AS part \
                 FROM {table} WHERE {condition}",
                has_time()
            ),
        )?;
        let cases = sums.first().map_or(0, |s| s.cases);
        let Some(sums) = sums.first().filter(|s| s.n > 0) else {
            return Ok((Summary::default(), cases));
        };
        let count = sums.n as usize;
        let places = stats::summary_places(count);
        // quantileExact(level) is the sorted value at floor(level × count): ask for the middle of
        // each place, so rounding never moves it.
        let levels: Vec<String> = places
            .iter()
            .map(|&place| format!("{:?}", (place as f64 + 0.5) / count as f64))
            .collect();
        #[derive(Deserialize)]
        struct Values {
            q: Vec<i64>,
        }
        let values: Vec<Values> = self.rows(
            "the durations' order",
            &format!(
                "SELECT quantilesExact({})({d}) AS q FROM {table} WHERE {condition} AND {}",
                levels.join(", "),
                has_time()
            ),
        )?;
        let at: HashMap<usize, i64> = places
            .iter()
            .copied()
            .zip(values.first().map(|v| v.q.clone()).unwrap_or_default())
            .collect();
        let summary = stats::summarize_micros(count, total(sums.whole, sums.part), |place| {
            at.get(&place).copied().unwrap_or(0)
        });
        Ok((summary, cases))
    }

    /// A funnel over the people looked at, as `waymark_analytics::funnel` computes it: each shard
    /// sends, per person with an event matching a step, those events (and one event for each
    /// run of others between them), and the funnel is summed here.
    pub fn funnel(
        &self,
        filter: &Filter,
        steps: &[String],
        window: Micros,
        order: FunnelOrder,
    ) -> Result<Funnel, Error> {
        let condition = self.condition(filter)?;
        let mut distinct: Vec<String> = Vec::new();
        let codes: Vec<Option<u32>> = steps
            .iter()
            .map(|step| {
                let place = distinct.iter().position(|d| d == step).unwrap_or_else(|| {
                    distinct.push(step.clone());
                    distinct.len() - 1
                });
                Some(place as u32 + 1)
            })
            .collect();
        let list = sql::array(&distinct);
        let mut builder = FunnelBuilder::new(codes, window, order);
        let mut cases = 0;
        // Every person looked at, in one pass: each event matching a step and the first event
        // after one (standing for the run of others it starts); nothing for a person with no
        // event matching a step. Lambdas see only their arguments.
        self.each(
            "the funnel's events",
            &format!(
                "SELECT if(arrayExists(l_a -> has({list}, l_a), activities) AS found, arrayFilter((l_c, l_k) -> l_k, \
                     arrayMap(l_a -> indexOf({list}, l_a), activities) AS codes, \
                     arrayMap((l_c, l_p) -> l_c > 0 OR l_p > 0, codes, arraySlice(arrayPushFront(codes, 0), 1, length(codes))) AS keep), emptyArrayUInt64()) AS c, \
                 if(found, arrayFilter((l_t, l_k) -> l_k, times, keep), emptyArrayInt64()) AS t \
                 FROM {} WHERE {condition}",
                self.sequences()
            ),
            |row: Reduced| {
                cases += 1;
                if !row.c.is_empty() {
                    builder.add(&row.c, &row.t);
                }
                Ok(())
            },
        )?;
        Ok(builder.finish(steps, cases as usize))
    }
}
