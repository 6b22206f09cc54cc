//! Funnels: how many cases reach each of a sequence of steps within a time window.

use std::collections::BTreeMap;

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Micros};

use crate::stats;

/// How the steps must follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FunnelOrder {
    /// Exactly ClickHouse's `windowFunnel(window)` in its default mode: events in time order (ties
    /// by step number), every step-1 event starts a chain, a step advances a chain when its event
    /// is no later than the chain's first event plus the window, and a case counts at the highest
    /// step any chain reached. Other events may come between steps.
    #[default]
    Ordered,
    /// Like `Ordered`, but no other event may come between two steps: step k+1 must be the very
    /// next event of the case after step k.
    Strict,
    /// The steps may happen in any order: a case reaches step k when k of the steps happen within
    /// one window.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    pub name: String,
    /// Cases that reached this step (and every step before it).
    pub reached: usize,
    /// `reached` over the previous step's `reached` (1 for the first step).
    pub conversion_from_previous: f64,
    /// `reached` over the first step's `reached`.
    pub conversion_from_first: f64,
    /// The median seconds from the previous step to this one, over the cases that reached it
    /// (not defined for the first step, nor for `Any` order).
    pub median_seconds_from_previous: Option<f64>,
    /// Cases that reached the previous step but not this one.
    pub drop_off: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    /// The cases looked at.
    pub cases: usize,
    pub steps: Vec<FunnelStep>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunnelGroup {
    /// The value of the breakdown attribute (empty when the case has none).
    pub value: String,
    pub funnel: Funnel,
}

/// How far one case got, and when it reached each step of that chain.
#[derive(Debug)]
pub(crate) struct Reach {
    pub(crate) level: usize,
    /// Seconds from step k-1 to step k, for k in 1..level.
    pub(crate) gaps: Vec<f64>,
}

/// Computes a funnel over the given cases. `window` is in microseconds.
pub fn funnel(
    log: &EventLog,
    cases: &[u32],
    steps: &[String],
    window: Micros,
    order: FunnelOrder,
) -> Funnel {
    let symbols: Vec<Option<waymark_eventlog::Symbol>> =
        steps.iter().map(|s| log.symbol(s)).collect();
    let reaches: Vec<Reach> = cases
        .par_iter()
        .map(|&case| {
            let case = log.case(case as usize);
            reach(case.activities(), case.times(), &symbols, window, order)
        })
        .collect();
    summarize(steps, cases.len(), &reaches, order)
}

fn reach<T: Copy + PartialEq>(
    activities: &[T],
    times: &[Micros],
    steps: &[Option<T>],
    window: Micros,
    order: FunnelOrder,
) -> Reach {
    match order {
        FunnelOrder::Ordered => ordered(activities, times, steps, window),
        FunnelOrder::Strict => strict(activities, times, steps, window),
        FunnelOrder::Any => any(activities, times, steps, window),
    }
}

/// A funnel built case by case, for a store that reduces each case to the events that matter to
/// the steps before handing it over (ClickHouse): the same reach and summary code as [`funnel`].
///
/// A case is given as codes and times in the case's order: `steps[k]` is the code of step k's
/// activity (none when no event has it), and every run of events that match no step may be
/// shortened to one event (any code that is no step's), which changes no order's result.
#[derive(Debug)]
pub struct FunnelBuilder {
    steps: Vec<Option<u32>>,
    window: Micros,
    order: FunnelOrder,
    /// What the summary reads, summed as cases arrive (no case is kept).
    tally: Tally,
}

/// Per step, the cases that reached it and their gaps from the step before: all a funnel's
/// summary reads of its cases' reaches.
#[derive(Debug)]
pub(crate) struct Tally {
    reached: Vec<usize>,
    gaps: Vec<Vec<f64>>,
}

impl Tally {
    pub(crate) fn new(steps: usize) -> Tally {
        Tally {
            reached: vec![0; steps],
            gaps: vec![Vec::new(); steps.saturating_sub(1)],
        }
    }

    /// Two tallies of different cases as one (a median does not depend on the order of gaps).
    pub(crate) fn merge(mut self, other: Tally) -> Tally {
        for (reached, more) in self.reached.iter_mut().zip(other.reached) {
            *reached += more;
        }
        for (gaps, more) in self.gaps.iter_mut().zip(other.gaps) {
            gaps.extend(more);
        }
        self
    }

    pub(crate) fn add(&mut self, reach: &Reach) {
        for reached in self.reached.iter_mut().take(reach.level) {
            *reached += 1;
        }
        // (An unordered funnel's reaches have no gaps.)
        let reached_gaps = reach.level.saturating_sub(1);
        for (gaps, &gap) in self.gaps.iter_mut().zip(&reach.gaps).take(reached_gaps) {
            gaps.push(gap);
        }
    }
}

impl FunnelBuilder {
    pub fn new(steps: Vec<Option<u32>>, window: Micros, order: FunnelOrder) -> FunnelBuilder {
        let steps_len = steps.len();
        FunnelBuilder {
            steps,
            window,
            order,
            tally: Tally::new(steps_len),
        }
    }

    /// Adds a case that has at least one event matching a step.
    pub fn add(&mut self, codes: &[u32], times: &[Micros]) {
        let reach = reach(codes, times, &self.steps, self.window, self.order);
        self.tally.add(&reach);
    }

    /// The funnel over `cases` cases (those added and those matching no step).
    pub fn finish(self, names: &[String], cases: usize) -> Funnel {
        summarize_tally(names, cases, self.tally, self.order)
    }
}

/// The funnel for each value of a case attribute, ordered by value.
pub fn funnel_by(
    log: &EventLog,
    cases: &[u32],
    steps: &[String],
    window: Micros,
    order: FunnelOrder,
    attribute: &str,
) -> Vec<FunnelGroup> {
    let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for &case in cases {
        let value = log
            .case(case as usize)
            .attribute(attribute)
            .map(|a| log.value_text(&a.value))
            .unwrap_or_default();
        groups.entry(value).or_default().push(case);
    }
    groups
        .into_iter()
        .map(|(value, members)| FunnelGroup {
            value,
            funnel: funnel(log, &members, steps, window, order),
        })
        .collect()
}

pub(crate) fn summarize(
    steps: &[String],
    cases: usize,
    reaches: &[Reach],
    order: FunnelOrder,
) -> Funnel {
    let mut tally = Tally::new(steps.len());
    for reach in reaches {
        tally.add(reach);
    }
    summarize_tally(steps, cases, tally, order)
}

pub(crate) fn summarize_tally(
    steps: &[String],
    cases: usize,
    tally: Tally,
    order: FunnelOrder,
) -> Funnel {
    let Tally {
        reached: reached_by_step,
        mut gaps,
    } = tally;
    let mut result = Vec::with_capacity(steps.len());
    let mut first = 0;
    let mut previous = cases;
    for (k, name) in steps.iter().enumerate() {
        let reached = reached_by_step[k];
        if k == 0 {
            first = reached;
        }
        let median_seconds_from_previous = if k == 0 || order == FunnelOrder::Any {
            None
        } else {
            let gaps = &mut gaps[k - 1];
            (!gaps.is_empty()).then(|| stats::median(gaps))
        };
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        result.push(FunnelStep {
            name: name.clone(),
            reached,
            conversion_from_previous: if k == 0 {
                1.0
            } else {
                ratio(reached, previous)
            },
            conversion_from_first: ratio(reached, first),
            median_seconds_from_previous,
            drop_off: if k == 0 { 0 } else { previous - reached },
        });
        previous = reached;
    }
    Funnel {
        cases,
        steps: result,
    }
}

/// ClickHouse `windowFunnel` default mode, keeping the reach times of each level's chain.
pub(crate) fn ordered<T: Copy + PartialEq>(
    activities: &[T],
    times: &[Micros],
    steps: &[Option<T>],
    window: Micros,
) -> Reach {
    // The events that match a step, as (time, step).
    let mut matched: Vec<(Micros, usize)> = Vec::new();
    for (activity, &time) in activities.iter().zip(times) {
        for (step, symbol) in steps.iter().enumerate() {
            if *symbol == Some(*activity) {
                matched.push((time, step));
            }
        }
    }
    ordered_matched(matched, steps.len(), window)
}

/// [`ordered`] on the (time, step) of the events that match a step, in any order.
pub(crate) fn ordered_matched(
    mut matched: Vec<(Micros, usize)>,
    n: usize,
    window: Micros,
) -> Reach {
    matched.sort_unstable();
    // chain[k]: the chain that reached level k: its start and the time it reached each step.
    let mut reached: Vec<bool> = vec![false; n];
    let mut chain = vec![0 as Micros; n * n];
    let mut best = 0;
    for (time, step) in matched {
        if step == 0 {
            reached[0] = true;
            chain[0] = time;
        } else if reached[step - 1] && time <= chain[(step - 1) * n] + window {
            reached[step] = true;
            let (before, after) = chain.split_at_mut(step * n);
            after[..step].copy_from_slice(&before[(step - 1) * n..(step - 1) * n + step]);
            after[step] = time;
            if step + 1 == n {
                best = n;
                break;
            }
        }
    }
    if best == 0 {
        best = reached.iter().rposition(|&r| r).map_or(0, |k| k + 1);
    }
    let gaps = if best >= 2 {
        let row = &chain[(best - 1) * n..(best - 1) * n + best];
        row.windows(2).map(|w| crate::seconds(w[0], w[1])).collect()
    } else {
        Vec::new()
    };
    Reach { level: best, gaps }
}

/// Steps must be consecutive events of the case, all within the window of the first.
pub(crate) fn strict<T: Copy + PartialEq>(
    activities: &[T],
    times: &[Micros],
    steps: &[Option<T>],
    window: Micros,
) -> Reach {
    let mut best = Reach {
        level: 0,
        gaps: Vec::new(),
    };
    for start in 0..activities.len() {
        if steps.first().copied().flatten() != Some(activities[start]) {
            continue;
        }
        let mut level = 1;
        while level < steps.len()
            && start + level < activities.len()
            && steps[level] == Some(activities[start + level])
            && times[start + level] <= times[start] + window
        {
            level += 1;
        }
        if level > best.level {
            let gaps = (1..level)
                .map(|k| crate::seconds(times[start + k - 1], times[start + k]))
                .collect();
            best = Reach { level, gaps };
            if level == steps.len() {
                break;
            }
        }
    }
    best
}

/// The most distinct steps that happen within one window, in any order.
pub(crate) fn any<T: Copy + PartialEq>(
    activities: &[T],
    times: &[Micros],
    steps: &[Option<T>],
    window: Micros,
) -> Reach {
    let matched: Vec<(Micros, usize)> = activities
        .iter()
        .zip(times)
        .filter_map(|(a, &t)| {
            steps
                .iter()
                .position(|s| *s == Some(*a))
                .map(|step| (t, step))
        })
        .collect();
    let mut counts = vec![0usize; steps.len()];
    let (mut distinct, mut best, mut left) = (0, 0, 0);
    for right in 0..matched.len() {
        let (time, step) = matched[right];
        if counts[step] == 0 {
            distinct += 1;
        }
        counts[step] += 1;
        while matched[left].0 + window < time {
            let old = matched[left].1;
            counts[old] -= 1;
            if counts[old] == 0 {
                distinct -= 1;
            }
            left += 1;
        }
        best = best.max(distinct);
    }
    Reach {
        level: best,
        gaps: Vec::new(),
    }
}
