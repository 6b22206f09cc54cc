//! The directly-follows graph.

use std::collections::HashMap;

use rayon::prelude::*;
use waymark_eventlog::{EventLog, NO_TIME, Symbol};

use crate::{Dense, seconds, stats};

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityCount {
    pub activity: Symbol,
    pub count: u64,
}

/// One edge: `to` directly follows `from` in `count` places; the time between the two events.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: Symbol,
    pub to: Symbol,
    pub count: u64,
    pub mean_seconds: f64,
    pub median_seconds: f64,
}

/// The directly-follows graph of a set of cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Dfg {
    pub events: u64,
    pub cases: u64,
    /// Sorted by count, most frequent first.
    pub activities: Vec<ActivityCount>,
    pub start_activities: Vec<ActivityCount>,
    pub end_activities: Vec<ActivityCount>,
    /// Sorted by count, most frequent first.
    pub edges: Vec<Edge>,
}

/// What one worker collects over its share of the cases.
#[derive(Default)]
struct Partial {
    events: u64,
    cases: u64,
    activities: Vec<u64>,
    starts: Vec<u64>,
    ends: Vec<u64>,
    /// Edge (from × activities + to) → the microseconds between the two events, one per occurrence.
    edges: HashMap<u64, Vec<i64>>,
}

impl Partial {
    fn new(activities: usize) -> Self {
        Partial {
            activities: vec![0; activities],
            starts: vec![0; activities],
            ends: vec![0; activities],
            ..Default::default()
        }
    }

    fn merge(mut self, other: Partial) -> Partial {
        self.events += other.events;
        self.cases += other.cases;
        for (a, b) in [
            (&mut self.activities, &other.activities),
            (&mut self.starts, &other.starts),
            (&mut self.ends, &other.ends),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for (edge, mut times) in other.edges {
            self.edges.entry(edge).or_default().append(&mut times);
        }
        self
    }
}

/// Computes the directly-follows graph of the given cases.
pub fn dfg(log: &EventLog, cases: &[u32]) -> Dfg {
    let dense = Dense::new(log);
    let n = dense.len();
    let activity = log.activity_column();
    let time = log.time_column();
    let starts = log.case_starts();
    let chunk = (cases.len() / (rayon::current_num_threads() * 4)).max(1024);
    let total = cases
        .par_chunks(chunk)
        .map(|share| {
            let mut partial = Partial::new(n);
            for &case in share {
                let range = starts[case as usize] as usize..starts[case as usize + 1] as usize;
                if range.is_empty() {
                    continue;
                }
                partial.cases += 1;
                partial.events += range.len() as u64;
                partial.starts[dense.of(activity[range.start])] += 1;
                partial.ends[dense.of(activity[range.end - 1])] += 1;
                let mut last = dense.of(activity[range.start]);
                partial.activities[last] += 1;
                for event in range.start + 1..range.end {
                    let current = dense.of(activity[event]);
                    partial.activities[current] += 1;
                    let edge = (last * n + current) as u64;
                    let gap = if time[event] == NO_TIME || time[event - 1] == NO_TIME {
                        0
                    } else {
                        time[event] - time[event - 1]
                    };
                    partial.edges.entry(edge).or_default().push(gap);
                    last = current;
                }
            }
            partial
        })
        .reduce(|| Partial::new(n), Partial::merge);

    let counted = |counts: &[u64]| {
        let mut list: Vec<ActivityCount> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &count)| ActivityCount {
                activity: dense.symbols[i],
                count,
            })
            .collect();
        list.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| log.resolve(a.activity).cmp(log.resolve(b.activity)))
        });
        list
    };
    let mut edges: Vec<Edge> = total
        .edges
        .into_par_iter()
        .map(|(edge, gaps)| {
            let from = dense.symbols[edge as usize / n];
            let to = dense.symbols[edge as usize % n];
            let sum: i128 = gaps.iter().map(|&g| g as i128).sum();
            let mean_seconds = sum as f64 / gaps.len() as f64 / 1e6;
            let mut values: Vec<f64> = gaps.iter().map(|&g| seconds(0, g)).collect();
            let median_seconds = stats::median(&mut values);
            Edge {
                from,
                to,
                count: gaps.len() as u64,
                mean_seconds,
                median_seconds,
            }
        })
        .collect();
    edges.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| log.resolve(a.from).cmp(log.resolve(b.from)))
            .then_with(|| log.resolve(a.to).cmp(log.resolve(b.to)))
    });
    Dfg {
        events: total.events,
        cases: total.cases,
        activities: counted(&total.activities),
        start_activities: counted(&total.starts),
        end_activities: counted(&total.ends),
        edges,
    }
}
