//! Variants (distinct activity sequences) and case durations.

use std::collections::HashMap;

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Symbol};

use crate::{Summary, case_micros, stats};

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
///
/// The mean duration is the exact sum of the cases' durations in microseconds over their count
/// ([`stats::mean_seconds`]), so a store summing on its servers gives the same figure.
pub fn variants(log: &EventLog, cases: &[u32]) -> Vec<Variant> {
    let mut groups: HashMap<&[Symbol], (usize, Vec<u32>, i128)> = HashMap::new();
    for &case in cases {
        let case_ref = log.case(case as usize);
        let sequence = case_ref.activities();
        let micros = case_micros(case_ref.times()).unwrap_or(0);
        let order = groups.len();
        let entry = groups.entry(sequence).or_insert((order, Vec::new(), 0));
        entry.1.push(case);
        entry.2 += i128::from(micros);
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
                    mean_duration_seconds: stats::mean_seconds(total, count),
                    cases,
                },
            )
        })
        .collect();
    list.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    list.into_iter().map(|(_, v)| v).collect()
}

/// Statistics of the case durations (last minus first timestamp) of the given cases: the mean
/// from their exact sum in microseconds, the rest as [`stats::summarize`] computes them
/// ([`stats::summarize_micros`]).
pub fn case_durations(log: &EventLog, cases: &[u32]) -> Summary {
    let mut values: Vec<i64> = cases
        .par_iter()
        .filter_map(|&case| case_micros(log.case(case as usize).times()))
        .collect();
    values.par_sort_unstable();
    let total: i128 = values.iter().map(|&v| i128::from(v)).sum();
    stats::summarize_micros(values.len(), total, |place| values[place])
}
