//! Moments of truth: for each outcome, the rate among instances that visited a touchpoint minus
//! the rate among those that did not (a risk difference), set against the designed moments.

use rayon::prelude::*;

use super::facts::Basis;
use super::{MOMENT_THRESHOLD, Moment, MomentsCompared, Status, share};

/// Every touchpoint's effects, strongest first, and the measured moments against the designed.
pub(super) fn moments(basis: &Basis, all: &[usize]) -> (Vec<Moment>, MomentsCompared) {
    let (design, found, facts) = (basis.design, basis.found, basis.facts);
    let names = &design.names;
    let closed: Vec<usize> = (0..found.len())
        .filter(|&k| found[k].status != Status::Open)
        .collect();
    let scored: Vec<usize> = (0..found.len())
        .filter(|&k| !found[k].scores.is_empty())
        .collect();
    // Over `group`, with `outcome` per instance: visited rate minus not-visited rate.
    let difference = |group: &[usize], t: usize, outcome: &(dyn Fn(usize) -> bool + Sync)| {
        let (mut with, mut with_yes, mut without, mut without_yes) = (0, 0, 0, 0);
        for &k in group {
            let yes = outcome(k) as usize;
            if facts[k].visited[t] {
                with += 1;
                with_yes += yes;
            } else {
                without += 1;
                without_yes += yes;
            }
        }
        (with > 0 && without > 0).then(|| share(with_yes, with) - share(without_yes, without))
    };
    let mut moments: Vec<Moment> = (0..design.len())
        .into_par_iter()
        .filter_map(|t| {
            let (mut visited_total, mut visited_done, mut not_total, mut not_done) = (0, 0, 0, 0);
            for &k in &closed {
                let done = (found[k].status == Status::Completed) as usize;
                if facts[k].visited[t] {
                    visited_total += 1;
                    visited_done += done;
                } else {
                    not_total += 1;
                    not_done += done;
                }
            }
            if visited_total == 0 || not_total == 0 {
                return None;
            }
            Some(Moment {
                touchpoint: names[t].clone(),
                influence: share(visited_done, visited_total) - share(not_done, not_total),
                visited: visited_total,
                low_score: difference(&scored, t, &|k| facts[k].low),
                repeat_contact: (!design.is_contact[t])
                    .then(|| difference(all, t, &|k| facts[k].repeated_contact))
                    .flatten(),
                designed: design.touchpoints[t].1.moment_of_truth,
            })
        })
        .collect();
    moments.sort_by(|a, b| {
        b.strength()
            .total_cmp(&a.strength())
            .then(a.touchpoint.cmp(&b.touchpoint))
    });
    let mut compared = MomentsCompared::default();
    for (t, (_, touchpoint)) in design.touchpoints.iter().enumerate() {
        let matters = moments
            .iter()
            .find(|m| m.touchpoint == names[t])
            .is_some_and(|m| m.strength() >= MOMENT_THRESHOLD);
        let list = match (touchpoint.moment_of_truth, matters) {
            (true, true) => &mut compared.confirmed,
            (true, false) => &mut compared.not_confirmed,
            (false, true) => &mut compared.unmarked,
            (false, false) => continue,
        };
        list.push(names[t].clone());
    }
    (moments, compared)
}
