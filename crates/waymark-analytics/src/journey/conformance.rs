//! Conformance: replay of each instance on the journey's transition system, and the deviations
//! counted over a group of instances.

use std::collections::HashMap;

use waymark_journey::Journey;

use super::facts::{Basis, Design};
use super::{Conformance, Deviation, DeviationKind, Instance, Status, share};

/// One move that is not in the design: (kind, from, to); `from` is `usize::MAX` for a start.
pub(super) type Move = (DeviationKind, usize, usize);

/// Which moves between touchpoints the design allows: the designed edges, and paths through
/// optional touchpoints.
pub(super) fn allowed_moves(journey: &Journey, n: usize) -> Vec<Vec<bool>> {
    let ids: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    let optional: Vec<bool> = journey.touchpoints().map(|(_, t)| t.optional).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (from, to) in journey.flow_edges() {
        if let (Some(a), Some(b)) = (
            ids.iter().position(|i| *i == from),
            ids.iter().position(|i| *i == to),
        ) {
            next[a].push(b);
        }
    }
    let mut allowed = vec![vec![false; n]; n];
    for (start, row) in allowed.iter_mut().enumerate() {
        let mut stack = next[start].clone();
        let mut seen = vec![false; n];
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            row[t] = true;
            if optional[t] {
                stack.extend(&next[t]);
            }
        }
    }
    allowed
}

/// Whether an instance fits the design, and its moves outside it.
pub(super) fn replay(design: &Design, instance: &Instance) -> (bool, Vec<Move>) {
    let mut deviations = Vec::new();
    let Some(first) = instance.visits.first() else {
        return (true, deviations);
    };
    if !design.starts[first.touchpoint] {
        deviations.push((DeviationKind::Start, usize::MAX, first.touchpoint));
    }
    let mut visited = vec![false; design.len()];
    visited[first.touchpoint] = true;
    for pair in instance.visits.windows(2) {
        let (a, b) = (pair[0].touchpoint, pair[1].touchpoint);
        if !design.allowed[a][b] {
            let kind = if visited[b] {
                DeviationKind::Repeated
            } else if b > a {
                DeviationKind::Skipped
            } else {
                DeviationKind::Unexpected
            };
            deviations.push((kind, a, b));
        }
        visited[b] = true;
    }
    (deviations.is_empty(), deviations)
}

/// The conformance of every instance.
pub(super) fn conformance(basis: &Basis, all: &[usize]) -> Conformance {
    let fitting = (0..basis.found.len())
        .filter(|&k| basis.facts.fits(k))
        .count();
    let completed = basis
        .found
        .iter()
        .filter(|i| i.status == Status::Completed)
        .count();
    let completed_fitting = basis
        .found
        .iter()
        .enumerate()
        .filter(|(k, i)| i.status == Status::Completed && basis.facts.fits(*k))
        .count();
    Conformance {
        fitting,
        share: share(fitting, basis.found.len()),
        completed_share: (completed > 0).then(|| share(completed_fitting, completed)),
        deviations: deviations(basis, all, 10),
    }
}

/// The `limit` most frequent deviations of the instances `members`.
pub(super) fn deviations(basis: &Basis, members: &[usize], limit: usize) -> Vec<Deviation> {
    let names = &basis.design.names;
    let mut counts: HashMap<Move, usize> = HashMap::new();
    for &k in members {
        for d in basis.facts.deviations(k) {
            *counts.entry(*d).or_insert(0) += 1;
        }
    }
    let mut deviations: Vec<Deviation> = counts
        .into_iter()
        .map(|((kind, from, to), count)| Deviation {
            kind,
            from: names.get(from).cloned().unwrap_or_default(),
            to: names[to].clone(),
            skipped: if kind == DeviationKind::Skipped {
                (from + 1..to)
                    .filter(|&t| !basis.design.optional[t])
                    .map(|t| names[t].clone())
                    .collect()
            } else {
                Vec::new()
            },
            count,
        })
        .collect();
    deviations.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.kind.cmp(&b.kind))
            .then(a.from.cmp(&b.from))
            .then(a.to.cmp(&b.to))
    });
    deviations.truncate(limit);
    deviations
}
