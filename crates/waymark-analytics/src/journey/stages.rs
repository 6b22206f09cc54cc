//! Stages (reach, conversion, time against target), the funnel over stages or chosen
//! touchpoints, and milestones between two touchpoints.

use rayon::prelude::*;
use waymark_eventlog::Micros;

use super::binding::indexes;
use super::experience::score_figures;
use super::facts::Basis;
use super::{Milestone, Options, StageFigures, UnknownTouchpoint, share};
use crate::funnel::{self, FunnelOrder};
use crate::stats;

/// The figures of every stage over the instances `members`.
pub(super) fn stages(basis: &Basis, members: &[usize]) -> Vec<StageFigures> {
    let (design, found, facts) = (basis.design, basis.found, basis.facts);
    let stage_count = design.stages();
    design
        .journey
        .stages
        .par_iter()
        .enumerate()
        .map(|(s, stage)| {
            let reached = members.iter().filter(|&&k| facts.reached(k, s)).count();
            let conversion_to_next = (s + 1 < stage_count).then(|| {
                share(
                    members
                        .iter()
                        .filter(|&&k| facts.reached(k, s) && facts.reached(k, s + 1))
                        .count(),
                    reached,
                )
            });
            let drop_off = members
                .iter()
                .filter(|&&k| facts.dropped_in(k) == Some(s))
                .count();
            let repeat_visits = members
                .iter()
                .map(|&k| facts.stage_repeats(k, s) as usize)
                .sum();
            let mut times: Vec<f64> = members
                .iter()
                .filter_map(|&k| facts.stage_time(k, s))
                .collect();
            let target_seconds = design.stage_targets[s];
            let breach_share = target_seconds.and_then(|target| {
                (!times.is_empty())
                    .then(|| share(times.iter().filter(|&&t| t > target).count(), times.len()))
            });
            StageFigures {
                id: stage.id.clone(),
                name: stage.name.clone(),
                reached,
                conversion_to_next,
                drop_off,
                repeat_visits,
                seconds: stats::summarize(&mut times),
                target_seconds,
                breach_share,
                scores: score_figures(members.iter().flat_map(|&k| {
                    found[k]
                        .scores
                        .iter()
                        .filter(|score| score.touchpoint.is_some_and(|t| design.stage_of[t] == s))
                        .copied()
                })),
            }
        })
        .collect()
}

/// The funnel: the engine's ordered funnel (ClickHouse windowFunnel) over visits, through the
/// options' touchpoints, else one step per stage that events reach.
pub(super) fn funnel(basis: &Basis, options: &Options) -> Result<crate::Funnel, UnknownTouchpoint> {
    let design = basis.design;
    let n = design.len();
    let (step_names, step_of): (Vec<String>, Vec<Option<usize>>) = if options.funnel.is_empty() {
        let used: Vec<usize> = (0..design.stages())
            .filter(|s| (0..n).any(|t| design.stage_of[t] == *s && design.bound[t]))
            .collect();
        (
            used.iter()
                .map(|&s| design.journey.stages[s].id.clone())
                .collect(),
            (0..n)
                .map(|t| used.iter().position(|&s| s == design.stage_of[t]))
                .collect(),
        )
    } else {
        let steps = indexes(design.journey, "funnel", &options.funnel)?;
        (
            options.funnel.clone(),
            (0..n).map(|t| steps.iter().position(|&s| s == t)).collect(),
        )
    };
    let steps = step_names.len();
    let tally = basis
        .found
        .par_iter()
        .fold(
            || funnel::Tally::new(steps),
            |mut tally, i| {
                let matched: Vec<(Micros, usize)> = i
                    .visits
                    .iter()
                    .filter_map(|v| step_of[v.touchpoint].map(|step| (v.start, step)))
                    .collect();
                tally.add(&funnel::ordered_matched(matched, steps, Micros::MAX / 4));
                tally
            },
        )
        .reduce(|| funnel::Tally::new(steps), funnel::Tally::merge);
    Ok(funnel::summarize_tally(
        &step_names,
        basis.found.len(),
        tally,
        FunnelOrder::Ordered,
    ))
}

/// Milestones: two-step ordered funnels, with the time between the steps.
pub(super) fn milestones(
    basis: &Basis,
    options: &Options,
) -> Result<Vec<Milestone>, UnknownTouchpoint> {
    let mut milestones = Vec::new();
    for (from, to) in &options.milestones {
        let pair = indexes(
            basis.design.journey,
            "milestones",
            &[from.clone(), to.clone()],
        )?;
        let mut gaps = Vec::new();
        let mut from_reached = 0;
        for instance in basis.found {
            let matched: Vec<(Micros, usize)> = instance
                .visits
                .iter()
                .filter_map(|v| {
                    pair.iter()
                        .position(|&t| t == v.touchpoint)
                        .map(|k| (v.start, k))
                })
                .collect();
            let reach = funnel::ordered_matched(matched, 2, Micros::MAX / 4);
            if reach.level >= 1 {
                from_reached += 1;
            }
            if reach.level == 2 {
                gaps.push(reach.gaps[0]);
            }
        }
        milestones.push(Milestone {
            from: from.clone(),
            to: to.clone(),
            from_reached,
            reached: gaps.len(),
            seconds: stats::summarize(&mut gaps),
        });
    }
    Ok(milestones)
}
