//! Per touchpoint: visits, time at it and until the journey moved on against its target, the
//! worst visits, drop-off, scores, and the same per period and per segment.

use std::collections::HashMap;

use rayon::prelude::*;

use super::experience::score_figures;
use super::facts::{Basis, moved};
use super::source::LogSource;
use super::{Score, Status, TouchpointFigures, TouchpointSlice, seconds, share};
use crate::stats;

/// A period's or segment's counts at one touchpoint: instances, visits, repeat visits, the times
/// until the journey moved on, and the visits over target.
#[derive(Default)]
struct Slice {
    instances: usize,
    visits: usize,
    repeats: usize,
    totals: Vec<f64>,
    breaches: usize,
}

/// The survey answers rating each touchpoint, in all and per (touchpoint, period or segment).
struct Answers {
    all: Vec<Vec<Score>>,
    periods: HashMap<(usize, u32), Vec<Score>>,
    segments: HashMap<(usize, u32), Vec<Score>>,
}

fn answers(basis: &Basis) -> Answers {
    let mut answers = Answers {
        all: vec![Vec::new(); basis.design.len()],
        periods: HashMap::new(),
        segments: HashMap::new(),
    };
    for (k, instance) in basis.found.iter().enumerate() {
        for score in &instance.scores {
            let Some(t) = score.touchpoint else { continue };
            answers.all[t].push(*score);
            answers
                .periods
                .entry((t, basis.periods.of[k]))
                .or_default()
                .push(*score);
            if let Some(segments) = basis.segments {
                answers
                    .segments
                    .entry((t, segments.of[k]))
                    .or_default()
                    .push(*score);
            }
        }
    }
    answers
}

/// The slices of the groups with instances at the touchpoint, in the grouping's order.
fn slices(
    groups: Vec<Slice>,
    keys: &[String],
    scores: &HashMap<(usize, u32), Vec<Score>>,
    t: usize,
    target: Option<f64>,
) -> Vec<TouchpointSlice> {
    groups
        .into_iter()
        .enumerate()
        .filter(|(_, slice)| slice.instances > 0)
        .map(|(key, mut slice)| TouchpointSlice {
            key: keys[key].clone(),
            instances: slice.instances,
            visits: slice.visits,
            repeat_visits: slice.repeats,
            median_total_seconds: stats::median(&mut slice.totals),
            breach_share: target.map(|_| share(slice.breaches, slice.visits)),
            scores: score_figures(scores.get(&(t, key as u32)).into_iter().flatten().copied()),
        })
        .collect()
}

/// The figures of every touchpoint over every instance.
pub(super) fn touchpoints(basis: &Basis, source: &dyn LogSource) -> Vec<TouchpointFigures> {
    let answers = answers(basis);
    (0..basis.design.len())
        .into_par_iter()
        .map(|t| touchpoint(basis, source, &answers, t))
        .collect()
}

fn touchpoint(
    basis: &Basis,
    source: &dyn LogSource,
    answers: &Answers,
    t: usize,
) -> TouchpointFigures {
    let (design, found, facts) = (basis.design, basis.found, basis.facts);
    let (stage, touchpoint) = design.touchpoints[t];
    let mut at = Vec::new();
    let mut wait = Vec::new();
    let mut total = Vec::new();
    let mut over: Vec<(f64, usize)> = Vec::new();
    let (mut events, mut visits, mut instances, mut repeats, mut drop_off) = (0, 0, 0, 0, 0);
    let target = design.targets[t];
    let mut breaches = 0;
    let mut periods: Vec<Slice> = (0..basis.periods.keys.len())
        .map(|_| Slice::default())
        .collect();
    let mut segments: Vec<Slice> = (0..basis.segments.map_or(0, |s| s.keys.len()))
        .map(|_| Slice::default())
        .collect();
    for (index, instance) in found.iter().enumerate() {
        if !facts.visited(index, t) {
            continue;
        }
        let period = &mut periods[basis.periods.of[index] as usize];
        let mut segment = basis
            .segments
            .map(|by| &mut segments[by.of[index] as usize]);
        let mut here = 0;
        for (k, visit) in instance.visits.iter().enumerate() {
            if visit.touchpoint != t {
                continue;
            }
            here += 1;
            events += visit.events as usize;
            at.push(seconds(visit.end - visit.start));
            if let Some(next) = instance.visits.get(k + 1) {
                wait.push(seconds(next.start - visit.end));
            }
            let moved = moved(instance, k);
            total.push(moved);
            period.totals.push(moved);
            if let Some(segment) = segment.as_mut() {
                segment.totals.push(moved);
            }
            if let Some(target) = target
                && moved > target
            {
                breaches += 1;
                period.breaches += 1;
                if let Some(segment) = segment.as_mut() {
                    segment.breaches += 1;
                }
                over.push((moved, index));
            }
        }
        if here > 0 {
            instances += 1;
            visits += here;
            repeats += here - 1;
            for slice in std::iter::once(period).chain(segment) {
                slice.instances += 1;
                slice.visits += here;
                slice.repeats += here - 1;
            }
            if instance.status == Status::Abandoned
                && instance.visits.last().is_some_and(|v| v.touchpoint == t)
            {
                drop_off += 1;
            }
        }
    }
    over.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let worst: Vec<(String, f64)> = over
        .iter()
        .take(5)
        .map(|&(seconds, k)| (source.case_name(found[k].case), seconds))
        .collect();
    let breach_share = target.and_then(|_| (visits > 0).then(|| share(breaches, visits)));
    TouchpointFigures {
        id: touchpoint.id.clone(),
        name: touchpoint.name.clone(),
        stage: stage.id.clone(),
        optional: touchpoint.optional,
        moment_of_truth: touchpoint.moment_of_truth,
        contact: design.is_contact[t],
        target_seconds: target,
        emotion: touchpoint.experience.emotion,
        events,
        visits,
        instances,
        repeat_visits: repeats,
        drop_off,
        at_seconds: stats::summarize(&mut at),
        wait_after_seconds: stats::summarize(&mut wait),
        total_seconds: stats::summarize(&mut total),
        breach_share,
        worst,
        scores: score_figures(answers.all[t].iter().copied()),
        trend: slices(periods, &basis.periods.keys, &answers.periods, t, target),
        segments: slices(
            segments,
            basis.segments.map_or(&[], |by| &by.keys),
            &answers.segments,
            t,
            target,
        ),
    }
}
