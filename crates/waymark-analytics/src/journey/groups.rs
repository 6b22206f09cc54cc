//! Trend and segments: the journey's figures per group of instances (a period, a segment),
//! measured by the same sections as the whole report.

use rayon::prelude::*;

use super::conformance::deviations;
use super::contacts::contacts;
use super::experience::score_figures;
use super::facts::{Basis, Grouping};
use super::stages::stages;
use super::{Group, Status, seconds, share};
use crate::stats;

/// One group per key, in the grouping's order.
pub(super) fn groups(basis: &Basis, grouping: &Grouping) -> Vec<Group> {
    grouping
        .members()
        .par_iter()
        .zip(&grouping.keys)
        .map(|(members, key)| group(basis, key, members))
        .collect()
}

fn group(basis: &Basis, key: &str, members: &[usize]) -> Group {
    let found = basis.found;
    let mut completed: Vec<f64> = members
        .iter()
        .map(|&k| &found[k])
        .filter(|i| i.status == Status::Completed)
        .map(|i| seconds(i.end() - i.start()))
        .collect();
    let fitting = members.iter().filter(|&&k| basis.facts.fits(k)).count();
    Group {
        key: key.to_string(),
        instances: members.len(),
        completed: completed.len(),
        completed_median_seconds: (!completed.is_empty()).then(|| stats::median(&mut completed)),
        conformance_share: share(fitting, members.len()),
        stages: stages(basis, members),
        deviations: deviations(basis, members, 5),
        contacts: contacts(basis, members),
        scores: score_figures(
            members
                .iter()
                .flat_map(|&k| found[k].scores.iter().copied()),
        ),
    }
}
