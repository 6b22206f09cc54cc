//! Moments of truth: for each outcome, the rate among instances that visited a touchpoint minus
//! the rate among those that did not (a risk difference), set against the designed moments.

use rayon::prelude::*;

use super::contacts::Counted;
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
    let n = design.len();
    let completed = Outcomes::over(basis, &closed, &|k| found[k].status == Status::Completed);
    let low = Outcomes::over(basis, &scored, &|k| facts.low(k));
    let repeated = Outcomes::over(basis, all, &|k| facts.repeated_contact(k));
    let mut moments: Vec<Moment> = (0..n)
        .filter_map(|t| {
            let (visited_total, visited_done) = completed.with(t);
            let (not_total, not_done) = completed.without(t);
            if visited_total == 0 || not_total == 0 {
                return None;
            }
            Some(Moment {
                touchpoint: names[t].clone(),
                influence: share(visited_done, visited_total) - share(not_done, not_total),
                visited: visited_total,
                low_score: low.difference(t),
                repeat_contact: (!design.is_contact[t])
                    .then(|| repeated.difference(t))
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

/// An outcome over a group of instances, counted in one pass: per touchpoint, the instances
/// that visited it, and the same among those with the outcome.
struct Outcomes {
    all: Counted,
    yes: Counted,
}

impl Outcomes {
    fn over(basis: &Basis, group: &[usize], outcome: &(dyn Fn(usize) -> bool + Sync)) -> Outcomes {
        let n = basis.design.len();
        let empty = || Outcomes {
            all: Counted::new(n),
            yes: Counted::new(n),
        };
        group
            .par_chunks(1 << 14)
            .map(|block| {
                let mut counted = empty();
                for &k in block {
                    let row = basis.facts.visited_row(k);
                    counted.all.add_row(row);
                    if outcome(k) {
                        counted.yes.add_row(row);
                    }
                }
                counted
            })
            .reduce(empty, |a, b| Outcomes {
                all: a.all.merge(b.all),
                yes: a.yes.merge(b.yes),
            })
    }

    /// The instances that visited touchpoint `t`, and those of them with the outcome.
    fn with(&self, t: usize) -> (usize, usize) {
        (self.all.counts()[t], self.yes.counts()[t])
    }

    /// The instances that did not visit touchpoint `t`, and those of them with the outcome.
    fn without(&self, t: usize) -> (usize, usize) {
        let (with, with_yes) = self.with(t);
        (self.all.instances() - with, self.yes.instances() - with_yes)
    }

    /// The outcome's rate among those that visited `t` minus among those that did not.
    fn difference(&self, t: usize) -> Option<f64> {
        let (with, with_yes) = self.with(t);
        let (without, without_yes) = self.without(t);
        (with > 0 && without > 0).then(|| share(with_yes, with) - share(without_yes, without))
    }
}
