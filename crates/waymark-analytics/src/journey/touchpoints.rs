//! Per touchpoint: visits, time at it and until the journey moved on against its target, the
//! worst visits, drop-off, scores, and the same per period and per segment.

use std::collections::{BTreeMap, HashMap};

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
struct Answers<'a> {
    all: Vec<Vec<Score>>,
    periods: HashMap<(usize, &'a str), Vec<Score>>,
    segments: HashMap<(usize, &'a str), Vec<Score>>,
}

fn answers<'a>(basis: &'a Basis) -> Answers<'a> {
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
                .entry((t, basis.facts[k].period.as_str()))
                .or_default()
                .push(*score);
            if let Some(segments) = basis.segments {
                answers
                    .segments
                    .entry((t, segments[k].as_str()))
                    .or_default()
                    .push(*score);
            }
        }
    }
    answers
}

fn slices(
    groups: BTreeMap<&str, Slice>,
    scores: &HashMap<(usize, &str), Vec<Score>>,
    t: usize,
    target: Option<f64>,
) -> Vec<TouchpointSlice> {
    groups
        .into_iter()
        .map(|(key, mut slice)| TouchpointSlice {
            key: key.to_string(),
            instances: slice.instances,
            visits: slice.visits,
            repeat_visits: slice.repeats,
            median_total_seconds: stats::median(&mut slice.totals),
            breach_share: target.map(|_| share(slice.breaches, slice.visits)),
            scores: score_figures(scores.get(&(t, key)).into_iter().flatten().copied()),
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
    let mut periods: BTreeMap<&str, Slice> = BTreeMap::new();
    let mut segments: BTreeMap<&str, Slice> = BTreeMap::new();
    for (index, instance) in found.iter().enumerate() {
        if !facts[index].visited[t] {
            continue;
        }
        let period = periods.entry(facts[index].period.as_str()).or_default();
        let mut segment = basis
            .segments
            .map(|values| segments.entry(values[index].as_str()).or_default());
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
        trend: slices(periods, &answers.periods, t, target),
        segments: slices(segments, &answers.segments, t, target),
    }
}
