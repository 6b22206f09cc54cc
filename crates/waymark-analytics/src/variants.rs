//! Variants (distinct activity sequences) and case durations.

use std::collections::HashMap;

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Symbol};

use crate::{Summary, case_seconds, stats};

/// A distinct activity sequence, how many cases follow it and their mean duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub activities: Vec<Symbol>,
    pub count: u64,
    pub mean_duration_seconds: f64,
    /// The cases that follow it.
    pub cases: Vec<u32>,
}

/// The variants of the given cases, most frequent first (ties: the variant seen first).
pub fn variants(log: &EventLog, cases: &[u32]) -> Vec<Variant> {
    let mut groups: HashMap<&[Symbol], (usize, Vec<u32>, f64)> = HashMap::new();
    for &case in cases {
        let case_ref = log.case(case as usize);
        let sequence = case_ref.activities();
        let seconds = case_seconds(case_ref.times()).unwrap_or(0.0);
        let order = groups.len();
        let entry = groups.entry(sequence).or_insert((order, Vec::new(), 0.0));
        entry.1.push(case);
        entry.2 += seconds;
    }
    let mut list: Vec<(usize, Variant)> = groups
        .into_iter()
        .map(|(activities, (order, cases, total))| {
            let count = cases.len() as u64;
            (
                order,
                Variant {
                    activities: activities.to_vec(),
                    count,
                    mean_duration_seconds: total / count as f64,
                    cases,
                },
            )
        })
        .collect();
    list.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    list.into_iter().map(|(_, v)| v).collect()
}

/// Statistics of the case durations (last minus first timestamp) of the given cases.
pub fn case_durations(log: &EventLog, cases: &[u32]) -> Summary {
    let mut values: Vec<f64> = cases
        .par_iter()
        .filter_map(|&case| case_seconds(log.case(case as usize).times()))
        .collect();
    stats::summarize(&mut values)
}
