//! Views over instances for the pages: comments, touchpoint funnels, moves, paths and variants.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Micros};
use waymark_journey::Journey;

use super::binding::{Binding, ScoreReader, indexes};
use super::conformance::allowed_moves;
use super::{Instance, ScoreKind, Status, UnknownTouchpoint};
use crate::funnel::{self, FunnelOrder};

/// A comment left in a survey: the case it came from, when, its text and the scores given with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub case: String,
    pub time: Micros,
    pub text: String,
    pub scores: Vec<(ScoreKind, f64)>,
}

/// The attribute that carries a survey's free-text comment.
pub const COMMENT_KEY: &str = "comment";

/// The comments about touchpoint `id`, newest first, at most `limit`: events with a non-blank
/// `comment` attribute that rate it (their `touchpoint` attribute), or, without one, that belong
/// to it or follow it in their case before another touchpoint — the rule survey scores follow.
pub fn comments(journey: &Journey, log: &EventLog, id: &str, limit: usize) -> Vec<Comment> {
    let Some(wanted) = journey.touchpoints().position(|(_, t)| t.id == id) else {
        return Vec::new();
    };
    commented(journey, log, Some(wanted), limit)
        .into_iter()
        .map(|(_, comment)| comment)
        .collect()
}

/// The newest comments about any touchpoint of the journey, each with the touchpoint it is
/// about (its index in listing order), at most `limit`; by the rule of [`comments`].
pub fn latest_comments(journey: &Journey, log: &EventLog, limit: usize) -> Vec<(usize, Comment)> {
    commented(journey, log, None, limit)
}

/// The comments about touchpoint `wanted` (any, with `None`), newest first, at most `limit`.
fn commented(
    journey: &Journey,
    log: &EventLog,
    wanted: Option<usize>,
    limit: usize,
) -> Vec<(usize, Comment)> {
    let Some(comment_key) = log.symbol(COMMENT_KEY) else {
        return Vec::new();
    };
    let binding = Binding::new(journey, log);
    let reader = ScoreReader::new(journey, log);
    // Only the cases with a comment are walked (a quick look at each event's attributes first).
    let with_comments: Vec<usize> = (0..log.cases())
        .into_par_iter()
        .filter(|&case| {
            log.case(case)
                .events()
                .any(|e| log.event_attributes(e).iter().any(|a| a.key == comment_key))
        })
        .collect();
    let mut found = Vec::new();
    for case in with_comments.into_iter().map(|case| log.case(case)) {
        let mut last = None;
        for event in case.events() {
            let bound = binding.touchpoint_of(log, event);
            let text = log
                .event_attributes(event)
                .iter()
                .find(|a| a.key == comment_key)
                .map(|a| log.value_text(&a.value));
            if let Some(text) = text.filter(|t| !t.trim().is_empty())
                && let Some(about) = reader.rated(log, event).or(bound).or(last)
                && wanted.is_none_or(|w| w == about)
            {
                found.push((
                    about,
                    Comment {
                        case: case.name().to_string(),
                        time: log.time_column()[event],
                        text: text.trim().to_string(),
                        scores: reader
                            .scores(log, event)
                            .into_iter()
                            .map(|(k, v, _)| (k, v))
                            .collect(),
                    },
                ));
            }
            if bound.is_some() {
                last = bound;
            }
        }
    }
    found.sort_by(|(_, a), (_, b)| b.time.cmp(&a.time).then_with(|| a.case.cmp(&b.case)));
    found.truncate(limit);
    found
}

/// A funnel over journey instances' touchpoint visits: `steps` are touchpoint ids, `window` the
/// time from the first step in µs, `order` as for event funnels (the steps of `Strict` are
/// consecutive visits). With `by`, also one funnel per value of that case attribute (a profile
/// trait), ordered by value.
pub fn touchpoint_funnel(
    journey: &Journey,
    log: &EventLog,
    found: &[Instance],
    steps: &[String],
    window: Micros,
    order: FunnelOrder,
    by: Option<&str>,
) -> Result<(crate::Funnel, Vec<crate::FunnelGroup>), UnknownTouchpoint> {
    let reaches = reaches(journey, found, steps, window, order)?;
    let whole = funnel::summarize(steps, found.len(), &reaches, order);
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    if let Some(by) = by {
        for (k, i) in found.iter().enumerate() {
            let value = log
                .case(i.case as usize)
                .attribute(by)
                .map(|a| log.value_text(&a.value))
                .unwrap_or_default();
            groups.entry(value).or_default().push(k);
        }
    }
    let groups = groups
        .into_iter()
        .map(|(value, members)| {
            let part: Vec<funnel::Reach> = members
                .iter()
                .map(|&k| funnel::Reach {
                    level: reaches[k].level,
                    gaps: reaches[k].gaps.clone(),
                })
                .collect();
            crate::FunnelGroup {
                value,
                funnel: funnel::summarize(steps, members.len(), &part, order),
            }
        })
        .collect();
    Ok((whole, groups))
}

/// How far each instance of `found` got through the funnel.
fn reaches(
    journey: &Journey,
    found: &[Instance],
    steps: &[String],
    window: Micros,
    order: FunnelOrder,
) -> Result<Vec<funnel::Reach>, UnknownTouchpoint> {
    let wanted = indexes(journey, "steps", steps)?;
    let keys: Vec<Option<usize>> = wanted.iter().map(|&t| Some(t)).collect();
    let reach = |i: &Instance| {
        let touchpoints: Vec<usize> = i.visits.iter().map(|v| v.touchpoint).collect();
        let times: Vec<Micros> = i.visits.iter().map(|v| v.start).collect();
        match order {
            FunnelOrder::Ordered => funnel::ordered(&touchpoints, &times, &keys, window),
            FunnelOrder::Strict => funnel::strict(&touchpoints, &times, &keys, window),
            FunnelOrder::Any => funnel::any(&touchpoints, &times, &keys, window),
        }
    };
    Ok(found.par_iter().map(reach).collect())
}

/// The people behind a funnel's figure: the instances of `found` (their indexes) that reached
/// exactly `level` steps of [`touchpoint_funnel`]'s funnel: with `level` k below the number of
/// steps, those who dropped off after step k; with `level` equal to it, those who reached the
/// last step; 0, those who never reached the first.
pub fn funnel_members(
    journey: &Journey,
    found: &[Instance],
    steps: &[String],
    window: Micros,
    order: FunnelOrder,
    level: usize,
) -> Result<Vec<usize>, UnknownTouchpoint> {
    Ok(reaches(journey, found, steps, window, order)?
        .iter()
        .enumerate()
        .filter(|(_, r)| r.level == level)
        .map(|(k, _)| k)
        .collect())
}

/// A visit that took longer than its touchpoint's target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverTarget {
    /// The instance: its index in `found`.
    pub instance: usize,
    /// The visit: its index in the instance's visits.
    pub visit: usize,
    /// How long until the journey moved on.
    pub seconds: f64,
}

/// The visits to touchpoint `id` that took longer than its target (the time until the journey
/// moved on, as the touchpoint's figures count it), longest first. Empty when the touchpoint
/// has no target.
pub fn over_target(
    journey: &Journey,
    found: &[Instance],
    id: &str,
) -> Result<Vec<OverTarget>, UnknownTouchpoint> {
    let t = indexes(journey, "touchpoint", &[id.to_string()])?[0];
    let Some(target) = journey
        .touchpoints()
        .nth(t)
        .and_then(|(_, tp)| tp.target)
        .map(|d| d.as_secs_f64())
    else {
        return Ok(Vec::new());
    };
    let mut over: Vec<OverTarget> = found
        .iter()
        .enumerate()
        .flat_map(|(index, instance)| {
            instance
                .visits
                .iter()
                .enumerate()
                .filter(|(_, v)| v.touchpoint == t)
                .map(move |(k, _)| OverTarget {
                    instance: index,
                    visit: k,
                    seconds: super::facts::moved(instance, k),
                })
        })
        .filter(|o| o.seconds > target)
        .collect();
    over.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then(a.instance.cmp(&b.instance))
            .then(a.visit.cmp(&b.visit))
    });
    Ok(over)
}

/// One move between touchpoints as journeys made it: from a touchpoint (None: the start of an
/// instance) to the next one visited (None: the instance's end, whether done or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub from: Option<usize>,
    pub to: Option<usize>,
    /// Instances' moves, counted.
    pub count: usize,
    /// The journey has this move: an arrow of its flow, or one passing over optional touchpoints
    /// (always true for starts and ends).
    pub designed: bool,
}

/// Every move journeys made between touchpoints (indexes in listing order), most made first.
pub fn moves(journey: &Journey, found: &[Instance]) -> Vec<Walked> {
    let n = journey.touchpoints().count();
    let allowed = allowed_moves(journey, n);
    let mut counts: HashMap<(Option<usize>, Option<usize>), usize> = HashMap::new();
    for instance in found {
        let mut from = None;
        for visit in &instance.visits {
            *counts.entry((from, Some(visit.touchpoint))).or_default() += 1;
            from = Some(visit.touchpoint);
        }
        if from.is_some() {
            *counts.entry((from, None)).or_default() += 1;
        }
    }
    let mut out: Vec<Walked> = counts
        .into_iter()
        .map(|((from, to), count)| Walked {
            from,
            to,
            count,
            designed: match (from, to) {
                (Some(a), Some(b)) => allowed[a][b],
                _ => true,
            },
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (a.from, a.to).cmp(&(b.from, b.to)))
    });
    out
}

/// Which way paths are read from the chosen touchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What journeys did after their first visit to it.
    After,
    /// What journeys did before their first visit to it.
    Before,
}

/// The paths of instances that visit touchpoint `anchor`: the `depth` touchpoints after (or
/// before) their first visit to it, in the order walked away from it, shorter where the instance
/// ends (or starts) sooner; counted, most walked first.
pub fn paths(
    found: &[Instance],
    anchor: usize,
    direction: Direction,
    depth: usize,
) -> Vec<(Vec<usize>, usize)> {
    let mut counts: HashMap<Vec<usize>, usize> = HashMap::new();
    for instance in found {
        let Some(at) = instance.visits.iter().position(|v| v.touchpoint == anchor) else {
            continue;
        };
        let path: Vec<usize> = match direction {
            Direction::After => instance.visits[at + 1..]
                .iter()
                .take(depth)
                .map(|v| v.touchpoint)
                .collect(),
            Direction::Before => instance.visits[..at]
                .iter()
                .rev()
                .take(depth)
                .map(|v| v.touchpoint)
                .collect(),
        };
        *counts.entry(path).or_default() += 1;
    }
    let mut out: Vec<(Vec<usize>, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The variants of the journey as walked: each distinct sequence of touchpoint visits with the
/// instances that walked it and how many of those completed, most walked first.
pub fn visit_variants(found: &[Instance]) -> Vec<(Vec<usize>, usize, usize)> {
    let mut counts: HashMap<Vec<usize>, (usize, usize)> = HashMap::new();
    for instance in found {
        let key: Vec<usize> = instance.visits.iter().map(|v| v.touchpoint).collect();
        let entry = counts.entry(key).or_default();
        entry.0 += 1;
        if instance.status == Status::Completed {
            entry.1 += 1;
        }
    }
    let mut out: Vec<(Vec<usize>, usize, usize)> = counts
        .into_iter()
        .map(|(path, (walked, completed))| (path, walked, completed))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
