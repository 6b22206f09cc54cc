//! Experience: survey scores, and what goes with low ones.

use std::collections::HashMap;

use super::contacts::{Counted, drivers};
use super::facts::Basis;
use super::{Experience, Score, ScoreFigures, ScoreKind, share};
use crate::stats;

/// The experience figures of every instance.
pub(super) fn experience(basis: &Basis) -> Experience {
    let (found, facts) = (basis.found, basis.facts);
    let scored: Vec<usize> = (0..found.len())
        .filter(|&k| !found[k].scores.is_empty())
        .collect();
    let (low, other): (Vec<usize>, Vec<usize>) = scored.iter().partition(|&&k| facts.low(k));
    let visited = |group: &[usize]| {
        let mut counted = Counted::new(basis.design.len());
        for &k in group {
            counted.add_row(facts.visited_row(k));
        }
        counted
    };
    let breach_share = |group: &[usize]| {
        (!group.is_empty()).then(|| {
            share(
                group.iter().filter(|&&k| facts.breached(k)).count(),
                group.len(),
            )
        })
    };
    Experience {
        journey: score_figures(found.iter().flat_map(|i| i.scores.iter().copied())),
        low_instances: low.len(),
        low_drivers: drivers(&basis.design.names, &visited(&low), &visited(&other), &[]),
        breach_share_low: breach_share(&low),
        breach_share_other: breach_share(&other),
    }
}

pub(super) fn score_figures(scores: impl Iterator<Item = Score>) -> ScoreFigures {
    let mut values: HashMap<ScoreKind, Vec<f64>> = HashMap::new();
    for score in scores {
        values.entry(score.kind).or_default().push(score.value);
    }
    let of = |kind| values.get(&kind).filter(|v| !v.is_empty());
    ScoreFigures {
        csat: of(ScoreKind::Csat).map(|v| (stats::mean(v), v.len())),
        nps: of(ScoreKind::Nps).map(|v| {
            let promoters = v.iter().filter(|&&x| x >= 9.0).count();
            let detractors = v.iter().filter(|&&x| x <= 6.0).count();
            (
                100.0 * (promoters as f64 - detractors as f64) / v.len() as f64,
                v.len(),
            )
        }),
        ces: of(ScoreKind::Ces).map(|v| (stats::mean(v), v.len())),
    }
}
