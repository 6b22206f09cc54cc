//! Discovering the as-is journey from events: a draft journey file that binds every event, for
//! people to review in the editor.
//!
//! The method, in the order it runs (see `docs/discover.md` for the reasoning and the sources):
//!
//! 1. **Touchpoints.** Each event name is a touchpoint. A generic name whose events all carry one
//!    of the step keys ([`STEP_KEYS`], e.g. `Task Completed` with `task`) is split by that key's
//!    values (at most [`MAX_SPLIT`]). A touchpoint whose events all carry a `channel`, on two or
//!    more channels with a tenth of its events or more each, is split by channel; the rarer
//!    channels join the largest one. Every event has exactly one touchpoint, so the draft binds
//!    every event.
//! 2. **Order.** For each pair of touchpoints, the cases in which the first visit of one comes
//!    before the first visit of the other are counted (the *eventually-follows* relation of the
//!    Inductive Miner, on first occurrences); a touchpoint's rank is the share of the others that
//!    usually come before it (a Borda count). Touchpoints are listed by rank.
//! 3. **Stages.** The ordered touchpoints are cut where people wait longest: between consecutive
//!    touchpoints, the median time from the first visit of one to the first visit of the next.
//! 4. **Links.** The directly-follows graph, filtered the way the Heuristics Miner filters it: an
//!    edge not given by the listing order becomes a link when it holds for at least
//!    [`LINK_SHARE`] of its source's visits; a forward edge must also dominate its reverse
//!    (dependency ≥ [`DEPENDENCY`]); backward edges and self-loops are loops people really take.
//! 5. **Measures.** The draft is measured by the journey report itself: each touchpoint's target
//!    is its median time until the journey moved on, and the touchpoints whose visit changes the
//!    completion rate by ten points or more (the report's moments) are candidate moments of truth.

use std::collections::HashMap;
use std::time::Duration;

use waymark_eventlog::{EventLog, Symbol, Value};
use waymark_journey::{
    Actor, Channel, EventRule, Experience, Instances, Journey, Kind, Link, Persona, Stage,
    Touchpoint, ValueMatch, Visibility,
};

use crate::journey::{MOMENT_THRESHOLD, Options, report};

/// Property keys that name the step of a generic event, in the order they are preferred.
pub const STEP_KEYS: [&str; 7] = [
    "task", "step", "form", "template", "page", "screen", "action",
];
/// Every property discovery reads: the step keys, the channel and the department.
pub const KEYS: [&str; 9] = [
    "task",
    "step",
    "form",
    "template",
    "page",
    "screen",
    "action",
    CHANNEL_KEY,
    "department",
];
/// The most touchpoints one event name is split into by a step key.
pub const MAX_SPLIT: usize = 12;
/// The property that names an event's channel.
pub const CHANNEL_KEY: &str = "channel";
/// The share of a touchpoint's events a channel needs to become a touchpoint of its own.
pub const CHANNEL_SHARE: f64 = 0.10;
/// The share of a touchpoint's visits an edge needs to become a link.
pub const LINK_SHARE: f64 = 0.05;
/// The Heuristics Miner's dependency a forward edge needs to become a link.
pub const DEPENDENCY: f64 = 0.5;
/// The share of cases that must end at a touchpoint for it to complete instances.
pub const END_SHARE: f64 = 0.05;
/// The most touchpoints a draft takes: a journey people read, and a bound on the work.
pub const MAX_TOUCHPOINTS: usize = 300;
/// The order and the stages are read from at most this many cases, spread evenly over the log.
pub const SAMPLE: usize = 20_000;
/// The most candidate moments of truth marked.
pub const MOMENTS: usize = 3;

/// What to call the draft.
#[derive(Debug, Clone)]
pub struct Settings {
    pub id: String,
    pub title: String,
    pub owner: String,
    /// How many stages at most (at least one; default: a quarter of the touchpoints, 2 to 7).
    pub stages: Option<usize>,
    /// Only events with these names (empty: every event).
    pub only: Vec<String>,
}

/// Why nothing could be discovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NothingToDiscover {
    #[error("the log has no events")]
    NoEvents,
    #[error("no event has one of the names asked for ({0})")]
    NoneNamed(String),
    #[error(
        "the events make {0} touchpoints (names, steps and channels), more than the {max} a draft takes; choose the events of one journey (--only)",
        max = MAX_TOUCHPOINTS
    )]
    TooMany(usize),
}

/// A discovered draft and what it was made from.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub journey: Journey,
    /// Per touchpoint (listing order): its events, and the cases that visit it.
    pub figures: Vec<(String, usize, usize)>,
    /// The cases and events the draft was made from.
    pub cases: usize,
    pub events: usize,
}

/// A step property and its value: what narrows a generic event to one touchpoint.
type Step = (String, String);

/// No touchpoint: an event of a name not asked for.
const LEFT_OUT: u32 = u32::MAX;

/// A touchpoint candidate: an event name, maybe narrowed by a step key's value and channels.
#[derive(Debug, Clone)]
struct Unit {
    activity: Symbol,
    step: Option<Step>,
    /// The channel values this unit takes (empty: all; the touchpoint's channel comes from
    /// `channel`).
    channels: Vec<String>,
    channel: Channel,
    department: Option<String>,
    events: usize,
}

/// Proposes a journey from `log`: see the module's documentation for the method.
pub fn discover(log: &EventLog, settings: &Settings) -> Result<Discovered, NothingToDiscover> {
    if log.events() == 0 {
        return Err(NothingToDiscover::NoEvents);
    }
    let (units, unit_of) = units(log, &settings.only);
    if units.is_empty() {
        return Err(NothingToDiscover::NoneNamed(settings.only.join(", ")));
    }
    if units.len() > MAX_TOUCHPOINTS {
        return Err(NothingToDiscover::TooMany(units.len()));
    }
    let sequences: Vec<Vec<(usize, i64)>> = sequences(log, &unit_of)
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let events: usize = units.iter().map(|u| u.events).sum();
    let step = sequences.len().div_ceil(SAMPLE).max(1);
    let sample: Vec<&[(usize, i64)]> = sequences.iter().step_by(step).map(Vec::as_slice).collect();
    let order = order(&sample, units.len());
    let position: Vec<usize> = {
        let mut position = vec![0; units.len()];
        for (at, &u) in order.iter().enumerate() {
            position[u] = at;
        }
        position
    };
    let cuts = cuts(&sample, &order, settings.stages);
    let names = names(log, &units);
    let ids = ids(&names);
    let mut stages = Vec::new();
    let mut start = 0;
    for (number, &end) in cuts.iter().chain(std::iter::once(&order.len())).enumerate() {
        let members = &order[start..end];
        let first = &names[members[0]];
        let last = &names[members[members.len() - 1]];
        stages.push(Stage {
            id: format!("stage-{}", number + 1),
            name: if members.len() == 1 {
                first.clone()
            } else {
                format!("{first} to {last}")
            },
            goal: None,
            touchpoints: members
                .iter()
                .map(|&u| touchpoint(log, &units[u], &ids[u], &names[u]))
                .collect(),
        });
        start = end;
    }
    let links = links(&sequences, &position, &order, units.len())
        .into_iter()
        .map(|(from, to, back)| Link {
            from: ids[from].clone(),
            to: ids[to].clone(),
            label: back.then(|| "back".to_string()),
        })
        .collect();
    let end = ends(&sequences, units.len())
        .into_iter()
        .map(|u| ids[u].clone())
        .collect();
    let mut journey = Journey {
        id: settings.id.clone(),
        title: settings.title.clone(),
        owner: settings.owner.clone(),
        version: "as-is".to_string(),
        description: Some(format!(
            "Discovered from {events} events in {} cases: review the stages, names, departments and experience before deploying.",
            sequences.len()
        )),
        personas: vec![Persona {
            id: "customer".to_string(),
            name: "Our customer".to_string(),
            description: None,
            goals: Vec::new(),
            pains: Vec::new(),
        }],
        serves: vec!["customer".to_string()],
        stages,
        links,
        change: None,
        instances: Instances {
            start: Vec::new(),
            end,
            timeout: None,
        },
        kpis: Vec::new(),
    };
    measure(&mut journey, log);
    let mut visits = vec![0usize; units.len()];
    for sequence in &sequences {
        let mut seen = vec![false; units.len()];
        for &(u, _) in sequence {
            if !std::mem::replace(&mut seen[u], true) {
                visits[u] += 1;
            }
        }
    }
    let figures = order
        .iter()
        .map(|&u| (ids[u].clone(), units[u].events, visits[u]))
        .collect();
    Ok(Discovered {
        journey,
        figures,
        cases: sequences.len(),
        events,
    })
}

/// The text of an event's attribute `key`, when it is a plain value.
fn text_of(log: &EventLog, event: usize, key: Symbol) -> Option<String> {
    let attribute = log.event_attributes(event).iter().find(|a| a.key == key)?;
    match &attribute.value {
        Value::String(s) | Value::Id(s) => Some(log.resolve(*s).to_string()),
        Value::List | Value::Container => None,
        other => Some(log.value_text(other)),
    }
}

/// Counts of one key's values over a set of events: `None` when some event lacks it or it takes
/// more than `cap` values.
fn values(
    log: &EventLog,
    events: &[usize],
    key: Option<Symbol>,
    cap: usize,
) -> Option<Vec<(String, usize)>> {
    let key = key?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for &event in events {
        let value = text_of(log, event, key)?;
        *counts.entry(value).or_default() += 1;
        if counts.len() > cap {
            return None;
        }
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(counts)
}

/// The touchpoint candidates, and per event its candidate.
fn units(log: &EventLog, only: &[String]) -> (Vec<Unit>, Vec<u32>) {
    let mut by_activity: HashMap<Symbol, Vec<usize>> = HashMap::new();
    let mut first_seen: Vec<Symbol> = Vec::new();
    let kept: Option<std::collections::HashSet<Symbol>> =
        (!only.is_empty()).then(|| only.iter().filter_map(|name| log.symbol(name)).collect());
    for (event, &activity) in log.activity_column().iter().enumerate() {
        if kept.as_ref().is_some_and(|kept| !kept.contains(&activity)) {
            continue;
        }
        let list = by_activity.entry(activity).or_default();
        if list.is_empty() {
            first_seen.push(activity);
        }
        list.push(event);
    }
    let channel_key = log.symbol(CHANNEL_KEY);
    let department_key = log.symbol("department");
    let mut units = Vec::new();
    let mut unit_of = vec![LEFT_OUT; log.events()];
    for activity in first_seen {
        let events = &by_activity[&activity];
        let split = STEP_KEYS.iter().find_map(|key| {
            let counts = values(log, events, log.symbol(key), MAX_SPLIT)?;
            (counts.len() >= 2).then(|| (key.to_string(), counts))
        });
        let groups: Vec<(Option<Step>, Vec<usize>)> = match split {
            Some((key, counts)) => {
                let symbol = log.symbol(&key);
                counts
                    .into_iter()
                    .map(|(value, _)| {
                        let members = events
                            .iter()
                            .copied()
                            .filter(|&e| {
                                symbol.and_then(|s| text_of(log, e, s)).as_deref() == Some(&value)
                            })
                            .collect();
                        (Some((key.clone(), value)), members)
                    })
                    .collect()
            }
            None => vec![(None, events.clone())],
        };
        for (step, members) in groups {
            for (channels, channel, channel_members) in by_channel(log, &members, channel_key) {
                let index = units.len() as u32;
                for &event in &channel_members {
                    unit_of[event] = index;
                }
                let department = values(log, &channel_members, department_key, 64)
                    .and_then(|counts| counts.into_iter().next())
                    .map(|(value, _)| value);
                units.push(Unit {
                    activity,
                    step: step.clone(),
                    channels,
                    channel,
                    department,
                    events: channel_members.len(),
                });
            }
        }
    }
    (units, unit_of)
}

/// A group of events split by channel: (the channel values it takes, empty for all; its channel;
/// its events).
type ChannelGroup = (Vec<String>, Channel, Vec<usize>);

/// Splits events by channel when every one names a channel and two or more channels carry a
/// tenth of them each; the rarer channels join the largest.
fn by_channel(log: &EventLog, events: &[usize], key: Option<Symbol>) -> Vec<ChannelGroup> {
    let Some(counts) = values(log, events, key, 64) else {
        return vec![(Vec::new(), Channel::Other, events.to_vec())];
    };
    let channel = |value: &str| Channel::parse(&value.to_lowercase()).unwrap_or(Channel::Other);
    let major: Vec<&(String, usize)> = counts
        .iter()
        .filter(|(_, n)| *n as f64 >= CHANNEL_SHARE * events.len() as f64)
        .collect();
    if major.len() < 2 {
        let main = channel(&counts[0].0);
        return vec![(Vec::new(), main, events.to_vec())];
    }
    let key = key.expect("values found a key");
    major
        .iter()
        .enumerate()
        .map(|(index, (value, _))| {
            let mut taken = vec![value.clone()];
            if index == 0 {
                // The largest takes the rare channels too, so every event keeps a touchpoint.
                taken.extend(
                    counts
                        .iter()
                        .filter(|(v, _)| !major.iter().any(|(m, _)| m == v))
                        .map(|(v, _)| v.clone()),
                );
            }
            let members = events
                .iter()
                .copied()
                .filter(|&e| text_of(log, e, key).is_some_and(|v| taken.contains(&v)))
                .collect();
            (taken, channel(value), members)
        })
        .collect()
}

/// Per case, its events' (unit, time) in order.
fn sequences(log: &EventLog, unit_of: &[u32]) -> Vec<Vec<(usize, i64)>> {
    log.iter_cases()
        .map(|case| {
            case.events()
                .zip(case.times())
                .filter(|(event, _)| unit_of[*event] != LEFT_OUT)
                .map(|(event, &time)| (unit_of[event] as usize, time))
                .collect()
        })
        .collect()
}

/// Per case, each unit's first visit (unit, time), in order of the first visits.
fn firsts(sequence: &[(usize, i64)], seen: &mut [bool]) -> Vec<(usize, i64)> {
    let mut out = Vec::new();
    for &(u, time) in sequence {
        if !seen[u] {
            seen[u] = true;
            out.push((u, time));
        }
    }
    for &(u, _) in &out {
        seen[u] = false;
    }
    out
}

/// The units by rank: the share of the others whose first visit usually comes before theirs.
fn order(sequences: &[&[(usize, i64)]], n: usize) -> Vec<usize> {
    // before[a * n + b]: cases where a's first visit precedes b's.
    let mut before = vec![0u32; n * n];
    let mut frequency = vec![0usize; n];
    let mut seen = vec![false; n];
    for sequence in sequences {
        let firsts = firsts(sequence, &mut seen);
        for (i, &(a, _)) in firsts.iter().enumerate() {
            frequency[a] += 1;
            for &(b, _) in &firsts[i + 1..] {
                before[a * n + b] += 1;
            }
        }
    }
    let rank: Vec<f64> = (0..n)
        .map(|u| {
            let (mut earlier, mut pairs) = (0usize, 0usize);
            for v in (0..n).filter(|&v| v != u) {
                let (vu, uv) = (before[v * n + u], before[u * n + v]);
                if vu + uv > 0 {
                    pairs += 1;
                    if vu > uv {
                        earlier += 2;
                    } else if vu == uv {
                        earlier += 1;
                    }
                }
            }
            if pairs == 0 {
                0.0
            } else {
                earlier as f64 / (2 * pairs) as f64
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    // Ties: the more frequent first, then the first seen in the log.
    order.sort_by(|&a, &b| {
        rank[a]
            .total_cmp(&rank[b])
            .then(frequency[b].cmp(&frequency[a]))
            .then(a.cmp(&b))
    });
    order
}

/// Where stages begin (indexes into `order`, after the first): at the longest median waits. The
/// wait at a boundary, in one case, is from the last first visit before it to the first visit
/// after it; the median is over the cases with visits on both sides.
fn cuts(sequences: &[&[(usize, i64)]], order: &[usize], stages: Option<usize>) -> Vec<usize> {
    let n = order.len();
    let wanted = stages
        .unwrap_or_else(|| n.div_ceil(4).clamp(2, 7))
        .clamp(1, n);
    if wanted <= 1 || n < 2 {
        return Vec::new();
    }
    let mut position = vec![0; n];
    for (at, &u) in order.iter().enumerate() {
        position[u] = at;
    }
    // waits[i]: across the boundary between order[i] and order[i + 1].
    let mut waits: Vec<Vec<f64>> = vec![Vec::new(); n - 1];
    let mut first: Vec<Option<i64>> = vec![None; n];
    let mut after: Vec<Option<i64>> = vec![None; n];
    for sequence in sequences {
        for &(u, time) in sequence.iter() {
            first[position[u]].get_or_insert(time);
        }
        // after[i]: the earliest first visit at position i or later.
        let mut earliest: Option<i64> = None;
        for i in (0..n).rev() {
            earliest = match (earliest, first[i]) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            after[i] = earliest;
        }
        let mut latest: Option<i64> = None;
        for i in 0..n - 1 {
            latest = latest.max(first[i]);
            if let (Some(before), Some(next)) = (latest, after[i + 1]) {
                waits[i].push((next - before).max(0) as f64);
            }
        }
        first.iter_mut().for_each(|f| *f = None);
    }
    let mut gaps: Vec<(f64, usize)> = waits
        .iter_mut()
        .enumerate()
        .map(|(i, w)| (crate::stats::median(w), i + 1))
        .collect();
    gaps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut cuts: Vec<usize> = gaps.iter().take(wanted - 1).map(|&(_, at)| at).collect();
    cuts.sort_unstable();
    cuts
}

/// The links: directly-follows edges the listing order does not give, as (from, to, backward).
fn links(
    sequences: &[Vec<(usize, i64)>],
    position: &[usize],
    order: &[usize],
    n: usize,
) -> Vec<(usize, usize, bool)> {
    // Consecutive events at one touchpoint are one visit; a move between two events at the same
    // instant says nothing about order (systems write them in any order).
    let mut follows: HashMap<(usize, usize), usize> = HashMap::new();
    let mut visits = vec![0usize; n];
    for sequence in sequences {
        for (i, &(u, time)) in sequence.iter().enumerate() {
            if i == 0 || sequence[i - 1].0 != u {
                visits[u] += 1;
            }
            if let Some(&(v, next)) = sequence.get(i + 1)
                && v != u
                && next > time
            {
                *follows.entry((u, v)).or_default() += 1;
            }
        }
    }
    let mut found: Vec<(usize, usize, bool, usize)> = follows
        .iter()
        .filter_map(|(&(a, b), &count)| {
            let listed = position[b] == position[a] + 1;
            if listed || (count as f64) < LINK_SHARE * visits[a] as f64 || count < 2 {
                return None;
            }
            let back = position[b] <= position[a];
            if !back {
                let reverse = follows.get(&(b, a)).copied().unwrap_or(0) as f64;
                let dependency = (count as f64 - reverse) / (count as f64 + reverse + 1.0);
                if dependency < DEPENDENCY {
                    return None;
                }
            }
            Some((a, b, back, count))
        })
        .collect();
    // The strongest first, at most three per touchpoint on average; then in journey order.
    found.sort_by(|x, y| y.3.cmp(&x.3).then((x.0, x.1).cmp(&(y.0, y.1))));
    found.truncate(3 * order.len());
    found.sort_by_key(|&(a, b, _, _)| (position[a], position[b]));
    found
        .into_iter()
        .map(|(a, b, back, _)| (a, b, back))
        .collect()
}

/// The units that end cases: at least [`END_SHARE`] of all cases end there, and most cases that
/// reach them end there.
fn ends(sequences: &[Vec<(usize, i64)>], n: usize) -> Vec<usize> {
    let (mut last, mut reached) = (vec![0usize; n], vec![0usize; n]);
    let mut seen = vec![false; n];
    for sequence in sequences {
        if let Some(&(u, _)) = sequence.last() {
            last[u] += 1;
        }
        for (u, _) in firsts(sequence, &mut seen) {
            reached[u] += 1;
        }
    }
    let cases = sequences.len() as f64;
    (0..n)
        .filter(|&u| {
            last[u] > 0 && last[u] as f64 >= END_SHARE * cases && 2 * last[u] >= reached[u]
        })
        .collect()
}

/// The touchpoints' names: the event name, with the step's value and the channel when split.
fn names(log: &EventLog, units: &[Unit]) -> Vec<String> {
    let mut split_by_channel: HashMap<(Symbol, Option<&Step>), usize> = HashMap::new();
    for unit in units {
        *split_by_channel
            .entry((unit.activity, unit.step.as_ref()))
            .or_default() += 1;
    }
    units
        .iter()
        .map(|unit| {
            let mut name = log.resolve(unit.activity).to_string();
            if let Some((_, value)) = &unit.step {
                name = format!("{name}: {value}");
            }
            if split_by_channel[&(unit.activity, unit.step.as_ref())] > 1 {
                name = format!("{name} ({})", unit.channel);
            }
            name
        })
        .collect()
}

/// Ids made from the names (`waymark_journey::id_from_name`), unique.
fn ids(names: &[String]) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    names
        .iter()
        .map(|name| {
            let id = waymark_journey::id_from_name(name, |id| taken.contains(id));
            taken.insert(id.clone());
            id
        })
        .collect()
}

/// What kind of touchpoint an event name suggests, by the words in it.
fn kind_of(name: &str) -> Kind {
    let name = name.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["approv", "accept", "declin", "reject", "decid", "review"]) {
        Kind::Approval
    } else if has(&["pay", "invoice", "refund", "charge"]) {
        Kind::Payment
    } else if has(&["form", "submit", "appl", "request", "sign"]) {
        Kind::Form
    } else if has(&["email", "sms", "notif", "sent", "letter", "remind"]) {
        Kind::Notification
    } else if has(&["call", "chat", "conversation", "contact", "ticket"]) {
        Kind::Conversation
    } else if has(&["view", "page", "visit", "read", "open"]) {
        Kind::Content
    } else if has(&["wait", "timer", "expire"]) {
        Kind::Wait
    } else {
        Kind::Task
    }
}

fn touchpoint(log: &EventLog, unit: &Unit, id: &str, name: &str) -> Touchpoint {
    let mut properties = std::collections::BTreeMap::new();
    if let Some((key, value)) = &unit.step {
        properties.insert(key.clone(), ValueMatch::Equals(value.clone()));
    }
    match unit.channels.as_slice() {
        [] => {}
        [one] => {
            properties.insert(CHANNEL_KEY.to_string(), ValueMatch::Equals(one.clone()));
        }
        many => {
            properties.insert(CHANNEL_KEY.to_string(), ValueMatch::OneOf(many.to_vec()));
        }
    }
    // Without a channel the events come from a system; on a channel, from the customer.
    let actor = if unit.channel == Channel::Other {
        Actor::System
    } else {
        Actor::Customer
    };
    Touchpoint {
        id: id.to_string(),
        name: name.to_string(),
        channel: unit.channel,
        department: unit
            .department
            .clone()
            .unwrap_or_else(|| "To be decided".to_string()),
        actor,
        kind: kind_of(name),
        visibility: Visibility::default_for(actor),
        experience: Experience::default(),
        target: None,
        moment_of_truth: false,
        optional: false,
        costly: false,
        kpis: Vec::new(),
        events: vec![EventRule {
            event: log.resolve(unit.activity).to_string(),
            properties,
        }],
    }
}

/// Sets targets to the measured median times, marks the optional touchpoints and the candidate
/// moments of truth, all from the journey report of the draft.
fn measure(journey: &mut Journey, log: &EventLog) {
    let Ok(report) = report(journey, log, &Options::default()) else {
        return;
    };
    let total = report.instances.total.max(1) as f64;
    let ends = journey.instances.end.clone();
    let candidates: Vec<String> = report
        .moments
        .iter()
        .filter(|m| m.strength() >= MOMENT_THRESHOLD && !ends.contains(&m.touchpoint))
        .take(MOMENTS)
        .map(|m| m.touchpoint.clone())
        .collect();
    for stage in &mut journey.stages {
        for touchpoint in &mut stage.touchpoints {
            let Some(figures) = report.touchpoints.iter().find(|f| f.id == touchpoint.id) else {
                continue;
            };
            let median = figures.total_seconds.median;
            if figures.total_seconds.count > 0 && median >= 1.0 {
                touchpoint.target = Some(round(median));
            }
            // Visited by fewer than half the instances: the designed path may skip it.
            touchpoint.optional = (figures.instances as f64) < 0.5 * total;
            touchpoint.moment_of_truth = candidates.contains(&touchpoint.id);
        }
    }
}

/// A measured time rounded to a target people would write: whole seconds, minutes, hours or days.
fn round(seconds: f64) -> Duration {
    let unit = if seconds >= 86_400.0 {
        3_600.0
    } else if seconds >= 60.0 {
        60.0
    } else {
        1.0
    };
    let rounded = ((seconds / unit).round() * unit).max(1.0);
    Duration::from_secs(rounded as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let names = [
            "A_SUBMITTED",
            "a submitted",
            "Task Completed: po-issued",
            "!!",
        ]
        .map(String::from);
        assert_eq!(
            ids(&names),
            [
                "a-submitted",
                "a-submitted-2",
                "task-completed-po-issued",
                "touchpoint"
            ]
        );
    }

    #[test]
    fn targets_round_to_what_people_write() {
        assert_eq!(round(42.4), Duration::from_secs(42));
        assert_eq!(round(3_700.0), Duration::from_secs(3_720));
        assert_eq!(round(1_679.0), Duration::from_secs(1_680));
        assert_eq!(round(200_000.0), Duration::from_secs(201_600));
    }

    #[test]
    fn kinds_are_guessed_from_words() {
        assert_eq!(kind_of("A_DECLINED"), Kind::Approval);
        assert_eq!(kind_of("Payment Made"), Kind::Payment);
        assert_eq!(kind_of("Page Viewed"), Kind::Content);
        assert_eq!(kind_of("O_SENT"), Kind::Notification);
    }
}
