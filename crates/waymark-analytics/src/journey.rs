//! A designed journey measured by events.
//!
//! 1. **Binding**: each event goes to the first touchpoint (in listing order) one of whose event
//!    rules it matches, so the assignment is deterministic; an event may belong to touchpoints of
//!    several journeys, each measured on its own.
//! 2. **Instances**: a case (a person, or a request) is cut into journey instances. An instance
//!    starts at the case's first bound event, or after the previous one completed at a start
//!    touchpoint, or after `timeout` without events. It is *completed* once it reaches an end
//!    touchpoint, *open* when its last event is within `timeout` of now, else *abandoned*.
//! 3. **Visits**: consecutive events at the same touchpoint are one visit. A visit's time *at* the
//!    touchpoint runs from its first to its last event; the *wait after* runs to the next visit.
//!    Their sum, the time until the journey moved on, is compared with the touchpoint's target.
//! 4. **Conformance** is replay on the journey's transition system: touchpoints are states, and
//!    the designed edges (listing order, `links`, and paths through optional touchpoints) are the
//!    transitions — the directly-follows form of token replay (Rozinat & van der Aalst 2008;
//!    Leemans, Fahland & van der Aalst 2018). An instance fits when it starts at a start
//!    touchpoint and every move between visits is a transition; every other move is a deviation:
//!    *repeated* (back to a touchpoint already visited), *skipped* (forward past required
//!    touchpoints) or *unexpected*.
//! 5. **Moments of truth**: a touchpoint's influence on completion is the difference in completion
//!    rate between closed instances that visited it and those that did not (a risk difference:
//!    simple, explainable, not causal).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use lasso::Key;
use rayon::prelude::*;
use waymark_eventlog::{EventLog, Micros, Symbol, Value};
use waymark_journey::{Journey, Kind, ValueMatch};

use crate::funnel::{self, FunnelOrder};
use crate::stats::{self, Summary};

/// A day in µs.
const DAY: Micros = 86_400_000_000;

/// How instances are cut and what is measured.
#[derive(Debug, Clone)]
pub struct Options {
    /// Touchpoints where a new instance may start after a completed one (empty: the journey
    /// file's `instances.start`, else the first touchpoint that has bound events).
    pub start: Vec<String>,
    /// Touchpoints that complete an instance (empty: the journey file's `instances.end`, else
    /// the touchpoints of the last stage).
    pub end: Vec<String>,
    /// An instance with no event for this long is over (µs; none: the journey file's
    /// `instances.timeout`, else 30 days).
    pub timeout: Option<Micros>,
    /// Only instances that start at or after `from` and before `to`.
    pub from: Option<Micros>,
    pub to: Option<Micros>,
    /// The touchpoints that are costly contacts (empty: those the journey marks `costly`, else
    /// every `conversation`: calls, chats).
    pub contacts: Vec<String>,
    /// Break instances down by this attribute: of the case, else of the instance's first event.
    pub by: Option<String>,
    pub period: Period,
    /// The funnel's steps, touchpoint ids in order (empty: one step per stage with bound events).
    pub funnel: Vec<String>,
    /// Times to measure between two touchpoints: from the first visit of the first to the
    /// first visit of the second after it.
    pub milestones: Vec<(String, String)>,
    /// Now, for telling open instances from abandoned ones (default: the log's last event).
    pub now: Option<Micros>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start: Vec::new(),
            end: Vec::new(),
            timeout: None,
            from: None,
            to: None,
            contacts: Vec::new(),
            by: None,
            period: Period::Month,
            funnel: Vec::new(),
            milestones: Vec::new(),
            now: None,
        }
    }
}

/// The event and case attributes a report of `journey` reads besides the activity and the time:
/// the keys of the touchpoints' property conditions, the survey scores (`csat`, `nps`, `ces`), the
/// `touchpoint` they rate and the `comment` given with them, and the `--by` attribute. A log with only these gives the same
/// report, so a store can leave the rest unread.
pub fn attributes_read(journey: &Journey, options: &Options) -> Vec<String> {
    let mut keys: Vec<String> = journey
        .touchpoints()
        .flat_map(|(_, t)| t.events.iter().flat_map(|rule| rule.properties.keys()))
        .cloned()
        .collect();
    keys.extend(ScoreKind::ALL.iter().map(|(_, name)| name.to_string()));
    keys.push("touchpoint".to_string());
    keys.push(COMMENT_KEY.to_string());
    keys.extend(options.by.iter().cloned());
    keys.sort();
    keys.dedup();
    keys
}

/// An inactivity timeout in µs, capped so that adding it to a time cannot overflow.
pub fn timeout_micros(duration: std::time::Duration) -> Micros {
    duration.as_micros().min(i64::MAX as u128 / 4) as Micros
}

/// The touchpoints given in the options, else those the journey file names.
fn or_file<'a>(given: &'a [String], file: &'a [String]) -> &'a [String] {
    if given.is_empty() { file } else { given }
}

/// A milestone written `FROM:TO` (two touchpoint ids), as the options take it.
pub fn milestone(text: &str) -> Option<(String, String)> {
    text.split_once(':')
        .map(|(from, to)| (from.trim().to_string(), to.trim().to_string()))
}

/// The length of a trend's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The first day of the bucket holding `time`, as `YYYY-MM-DD`.
    fn bucket(self, time: Micros) -> String {
        use chrono::{Datelike, Duration};
        let Some(moment) = chrono::DateTime::from_timestamp_micros(time) else {
            return String::new();
        };
        let date = moment.date_naive();
        let first = match self {
            Period::Day => date,
            Period::Week => date - Duration::days(date.weekday().num_days_from_monday() as i64),
            Period::Month => date.with_day(1).unwrap_or(date),
        };
        first.format("%Y-%m-%d").to_string()
    }
}

/// A problem with the options: a touchpoint id that the journey does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{id}` in {option} is not a touchpoint of the journey{hint}")]
pub struct UnknownTouchpoint {
    pub option: &'static str,
    pub id: String,
    /// ` (did you mean …?)`, or empty.
    pub hint: String,
}

/// How an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Completed,
    Abandoned,
    Open,
}

/// One stay at a touchpoint: consecutive events bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// Index into [`Report::touchpoints`].
    pub touchpoint: usize,
    pub start: Micros,
    pub end: Micros,
    pub events: u32,
}

/// A survey answer: CSAT (1–5), NPS (0–10) or CES (1–7), with the touchpoint it rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub kind: ScoreKind,
    pub value: f64,
    pub touchpoint: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreKind {
    Csat,
    Nps,
    Ces,
}

impl ScoreKind {
    /// Its name in events and reports: `csat`, `nps`, `ces`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Csat => "csat",
            ScoreKind::Nps => "nps",
            ScoreKind::Ces => "ces",
        }
    }

    const ALL: [(ScoreKind, &'static str); 3] = [
        (ScoreKind::Csat, "csat"),
        (ScoreKind::Nps, "nps"),
        (ScoreKind::Ces, "ces"),
    ];

    /// Whether a score is low: CSAT 1–2, NPS 0–6 (a detractor), CES 5–7 (hard).
    fn is_low(self, value: f64) -> bool {
        match self {
            ScoreKind::Csat => value <= 2.0,
            ScoreKind::Nps => value <= 6.0,
            ScoreKind::Ces => value >= 5.0,
        }
    }
}

/// One person's (or request's) pass through the journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub case: u32,
    pub visits: Vec<Visit>,
    pub status: Status,
    pub scores: Vec<Score>,
    /// Events of the instance's time span bound to no touchpoint, by activity.
    pub unmapped: Vec<Symbol>,
}

impl Instance {
    pub fn start(&self) -> Micros {
        self.visits.first().map_or(0, |v| v.start)
    }

    pub fn end(&self) -> Micros {
        self.visits.last().map_or(0, |v| v.end)
    }
}

/// A journey's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub journey: String,
    pub version: String,
    pub instances: Counts,
    /// Seconds from first to last event of completed instances.
    pub completed_seconds: Summary,
    pub stages: Vec<StageFigures>,
    pub touchpoints: Vec<TouchpointFigures>,
    pub funnel: crate::Funnel,
    pub milestones: Vec<Milestone>,
    pub conformance: Conformance,
    pub contacts: Contacts,
    pub experience: Experience,
    /// Touchpoints by the size of their largest effect on an outcome, largest first.
    pub moments: Vec<Moment>,
    /// The measured moments set against the designed ones.
    pub moments_compared: MomentsCompared,
    pub trend: Vec<Group>,
    /// Figures per value of [`Options::by`], by value.
    pub segments: Vec<Group>,
    /// Events in instances that no touchpoint claims (the map's blind spots), most first.
    pub unmapped: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub completed: usize,
    pub abandoned: usize,
    pub open: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageFigures {
    pub id: String,
    pub name: String,
    /// Instances with a visit to any of its touchpoints.
    pub reached: usize,
    /// Of those, the share that also reached the next stage (none for the last stage).
    pub conversion_to_next: Option<f64>,
    /// Abandoned instances whose last visit was in this stage.
    pub drop_off: usize,
    /// Visits to its touchpoints after an instance's first visit to each (loops back).
    pub repeat_visits: usize,
    /// Time in the stage, seconds: from the first visit to one of its touchpoints until the
    /// first visit to a later stage, else until the end of the last visit in the stage.
    pub seconds: Summary,
    /// The sum of the targets of its required touchpoints, when any has one.
    pub target_seconds: Option<f64>,
    /// Instances whose time in the stage exceeded that, over the instances that reached it.
    pub breach_share: Option<f64>,
    /// Survey answers that rate its touchpoints.
    pub scores: ScoreFigures,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TouchpointFigures {
    pub id: String,
    pub name: String,
    pub stage: String,
    pub optional: bool,
    pub moment_of_truth: bool,
    pub contact: bool,
    /// The designed target, seconds.
    pub target_seconds: Option<f64>,
    /// The designed emotion, −2..2.
    pub emotion: Option<i8>,
    pub events: usize,
    pub visits: usize,
    /// Instances that visited it.
    pub instances: usize,
    /// Visits after an instance's first visit here (loops back).
    pub repeat_visits: usize,
    /// Abandoned instances whose last visit was here.
    pub drop_off: usize,
    pub at_seconds: Summary,
    pub wait_after_seconds: Summary,
    /// At plus wait after: the time until the journey moved on.
    pub total_seconds: Summary,
    /// Visits whose total exceeded the target, over all visits.
    pub breach_share: Option<f64>,
    /// The longest visits over target: (case, seconds).
    pub worst: Vec<(String, f64)>,
    pub scores: ScoreFigures,
    /// The touchpoint's figures per period of the instances' start, oldest first.
    pub trend: Vec<TouchpointSlice>,
    /// The touchpoint's figures per value of [`Options::by`], by value.
    pub segments: Vec<TouchpointSlice>,
}

/// A touchpoint's figures for one group of instances: a period, or a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchpointSlice {
    /// The period's first day, or the segment's value.
    pub key: String,
    pub instances: usize,
    pub visits: usize,
    pub repeat_visits: usize,
    /// Median time until the journey moved on, seconds.
    pub median_total_seconds: f64,
    pub breach_share: Option<f64>,
    pub scores: ScoreFigures,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreFigures {
    pub csat: Option<(f64, usize)>,
    /// Promoters minus detractors, in percent, and the number of answers.
    pub nps: Option<(f64, usize)>,
    pub ces: Option<(f64, usize)>,
}

impl ScoreFigures {
    /// The measured feeling on the journey file's emotion scale (−2 … +2), to set against the
    /// designed one: CSAT (1–5) minus 3, else NPS (−100 … +100) divided by 50, else CES (1–7,
    /// 7 the most effort) as (4 − CES) × ⅔. A plain linear rescaling of whichever score was
    /// asked, in that order; none without answers.
    pub fn emotion(&self) -> Option<f64> {
        let value = if let Some((csat, _)) = self.csat {
            csat - 3.0
        } else if let Some((nps, _)) = self.nps {
            nps / 50.0
        } else {
            let (ces, _) = self.ces?;
            (4.0 - ces) * 2.0 / 3.0
        };
        Some(value.clamp(-2.0, 2.0))
    }
}

/// The time between two touchpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    pub from: String,
    pub to: String,
    /// Instances that reached `from`, and then `to`.
    pub from_reached: usize,
    pub reached: usize,
    pub seconds: Summary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conformance {
    /// Instances that followed the designed path, over all instances.
    pub fitting: usize,
    pub share: f64,
    /// Among completed instances.
    pub completed_share: Option<f64>,
    /// The most frequent deviations: (kind, from, to, count); `from` is empty for a start.
    pub deviations: Vec<Deviation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    pub kind: DeviationKind,
    pub from: String,
    pub to: String,
    /// The required touchpoints passed over, for `Skipped`.
    pub skipped: Vec<String>,
    pub count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviationKind {
    /// Started somewhere a journey does not start.
    Start,
    Repeated,
    Skipped,
    Unexpected,
}

impl DeviationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviationKind::Start => "start",
            DeviationKind::Repeated => "repeated",
            DeviationKind::Skipped => "skipped",
            DeviationKind::Unexpected => "unexpected",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contacts {
    pub touchpoints: Vec<String>,
    /// Contact visits per instance.
    pub per_instance: f64,
    /// Instances with at least one contact, and with a contact repeated.
    pub instances_with_contact: usize,
    pub instances_with_repeat: usize,
    pub repeat_rate: f64,
    pub by_touchpoint: Vec<ContactFigures>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactFigures {
    pub touchpoint: String,
    pub visits: usize,
    pub instances: usize,
    /// Instances that visited it more than once.
    pub repeated_instances: usize,
    /// What came just before each visit: (touchpoint, or `(start)`, visits), most first.
    pub preceded_by: Vec<(String, usize)>,
    /// Touchpoints that over-occur before the first such contact, against instances without
    /// one: (touchpoint, share with, share without, lift), highest lift first.
    pub drivers: Vec<Driver>,
    /// Attribute values of the person or case (a persona, a plan, a region: case attributes with
    /// at most [`ATTRIBUTE_VALUES`] values) that over-occur in instances with the contact; the
    /// `touchpoint` of each is written `attribute=value`.
    pub attribute_drivers: Vec<Driver>,
}

/// Case attributes with more values than this (ids, amounts, dates) are not compared as drivers.
pub const ATTRIBUTE_VALUES: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    pub touchpoint: String,
    pub share_with: f64,
    pub share_without: f64,
    /// `share_with / share_without` (infinite when it never happens without).
    pub lift: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Experience {
    pub journey: ScoreFigures,
    /// Instances with a low score.
    pub low_instances: usize,
    /// Touchpoints that over-occur in instances with a low score, against the other scored ones.
    pub low_drivers: Vec<Driver>,
    /// The share of instances with a target breach, with and without a low score.
    pub breach_share_low: Option<f64>,
    pub breach_share_other: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    pub touchpoint: String,
    /// Completion rate of closed instances that visited it, minus of those that did not.
    pub influence: f64,
    pub visited: usize,
    /// The share of scored instances with a low score among those that visited it, minus among
    /// those that did not (positive: goes with low scores). None without scores on both sides.
    pub low_score: Option<f64>,
    /// The share of instances with a repeated contact among those that visited it, minus among
    /// those that did not (positive: goes with repeat contacts).
    pub repeat_contact: Option<f64>,
    pub designed: bool,
}

/// Designed moments of truth against measured ones: a touchpoint counts as measured to matter
/// when one of its effects is at least [`MOMENT_THRESHOLD`] (ten points).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MomentsCompared {
    /// Marked by the designers, and the data agrees.
    pub confirmed: Vec<String>,
    /// Marked, but no effect of ten points or more was measured (or it could not be measured).
    pub not_confirmed: Vec<String>,
    /// Not marked, yet an effect of ten points or more was measured: candidates to mark.
    pub unmarked: Vec<String>,
}

/// The effect size (a difference of rates) from which a touchpoint is measured to matter.
pub const MOMENT_THRESHOLD: f64 = 0.10;

impl Moment {
    /// The largest of its three effects, in absolute size: how much the touchpoint matters.
    pub fn strength(&self) -> f64 {
        [Some(self.influence), self.low_score, self.repeat_contact]
            .into_iter()
            .flatten()
            .map(f64::abs)
            .fold(0.0, f64::max)
    }
}

/// The journey's figures for one group of instances: a period, or a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The period's first day, or the segment's value.
    pub key: String,
    pub instances: usize,
    pub completed: usize,
    pub completed_median_seconds: Option<f64>,
    pub conformance_share: f64,
    /// Reach and conversion of each stage within the group.
    pub stages: Vec<StageFigures>,
    /// The group's most frequent deviations (at most five).
    pub deviations: Vec<Deviation>,
    /// Repeat contacts within the group, with what precedes them and their drivers there.
    pub contacts: Contacts,
    /// The journey's scores within the group.
    pub scores: ScoreFigures,
}

/// A touchpoint's rule resolved against a log: the touchpoint, and its property conditions (a
/// key the log lacks can never match).
type Rule<'j> = (usize, Vec<(Option<Symbol>, &'j ValueMatch)>);

/// One move that is not in the design: (kind, from, to); `from` is `usize::MAX` for a start.
type Move = (DeviationKind, usize, usize);

/// A journey's event rules resolved against one log.
pub struct Binding<'j> {
    journey: &'j Journey,
    /// Per touchpoint (listing order): its stage index.
    stage_of: Vec<usize>,
    /// By activity symbol: (touchpoint, property conditions) in listing order.
    rules: Vec<Vec<Rule<'j>>>,
    /// Per touchpoint: whether a rule of it names an activity the log has.
    bound: Vec<bool>,
}

impl std::fmt::Debug for Binding<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("journey", &self.journey.id)
            .finish_non_exhaustive()
    }
}

fn value_matches(log: &EventLog, value: &Value, condition: &ValueMatch) -> bool {
    match value {
        Value::String(s) | Value::Id(s) => condition.matches(log.resolve(*s)),
        other => condition.matches(&log.value_text(other)),
    }
}

impl<'j> Binding<'j> {
    pub fn new(journey: &'j Journey, log: &EventLog) -> Self {
        let mut stage_of = Vec::new();
        let mut rules: Vec<Vec<_>> = Vec::new();
        for (index, (stage, touchpoint)) in journey.touchpoints().enumerate() {
            stage_of.push(
                journey
                    .stages
                    .iter()
                    .position(|s| s.id == stage.id)
                    .unwrap_or(0),
            );
            for rule in &touchpoint.events {
                let Some(symbol) = log.symbol(&rule.event) else {
                    continue;
                };
                let key = symbol.into_usize();
                if rules.len() <= key {
                    rules.resize_with(key + 1, Vec::new);
                }
                let conditions = rule
                    .properties
                    .iter()
                    .map(|(name, condition)| (log.symbol(name), condition))
                    .collect();
                rules[key].push((index, conditions));
            }
        }
        let mut bound = vec![false; stage_of.len()];
        for &(t, _) in rules.iter().flatten() {
            bound[t] = true;
        }
        Binding {
            journey,
            stage_of,
            rules,
            bound,
        }
    }

    /// The touchpoint an event belongs to.
    pub fn touchpoint_of(&self, log: &EventLog, event: usize) -> Option<usize> {
        let candidates = self.rules.get(log.activity_column()[event].into_usize())?;
        let mut attributes = None;
        candidates.iter().find_map(|(touchpoint, conditions)| {
            let holds = conditions.iter().all(|(key, condition)| {
                let Some(key) = key else { return false };
                attributes
                    .get_or_insert_with(|| log.event_attributes(event))
                    .iter()
                    .find(|a| a.key == *key)
                    .is_some_and(|a| value_matches(log, &a.value, condition))
            });
            holds.then_some(*touchpoint)
        })
    }

    fn touchpoint_count(&self) -> usize {
        self.stage_of.len()
    }

    /// The first touchpoint (in listing order) that the log's events can reach.
    fn first_bound(&self) -> Option<usize> {
        self.bound.iter().position(|&b| b)
    }
}

/// Touchpoint ids → indexes, refusing unknown ones.
fn indexes(
    journey: &Journey,
    option: &'static str,
    ids: &[String],
) -> Result<Vec<usize>, UnknownTouchpoint> {
    let all: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    ids.iter()
        .map(|id| {
            all.iter().position(|t| t == id).ok_or_else(|| {
                let close = all
                    .iter()
                    .filter(|t| strsim::jaro_winkler(t, id) > 0.8)
                    .max_by(|a, b| {
                        strsim::jaro_winkler(a, id).total_cmp(&strsim::jaro_winkler(b, id))
                    });
                UnknownTouchpoint {
                    option,
                    id: id.clone(),
                    hint: close.map_or(String::new(), |c| format!(" (did you mean `{c}`?)")),
                }
            })
        })
        .collect()
}

/// Reads survey answers off events: numeric `csat`, `nps` or `ces` attributes, and the
/// touchpoint their `touchpoint` attribute names.
struct ScoreReader<'j> {
    ids: HashMap<&'j str, usize>,
    keys: Vec<(ScoreKind, Option<Symbol>)>,
    touchpoint_key: Option<Symbol>,
}

impl<'j> ScoreReader<'j> {
    fn new(journey: &'j Journey, log: &EventLog) -> Self {
        ScoreReader {
            ids: journey
                .touchpoints()
                .enumerate()
                .map(|(i, (_, t))| (t.id.as_str(), i))
                .collect(),
            keys: ScoreKind::ALL
                .iter()
                .map(|(kind, name)| (*kind, log.symbol(name)))
                .collect(),
            touchpoint_key: log.symbol("touchpoint"),
        }
    }

    /// Whether the log has any score attribute at all.
    fn any(&self) -> bool {
        self.keys.iter().any(|(_, k)| k.is_some())
    }

    /// The touchpoint an event's `touchpoint` attribute names, if it is one of the journey's.
    fn rated(&self, log: &EventLog, event: usize) -> Option<usize> {
        let key = self.touchpoint_key?;
        let attribute = log.event_attributes(event).iter().find(|a| a.key == key)?;
        match attribute.value {
            Value::String(s) | Value::Id(s) => self.ids.get(log.resolve(s)).copied(),
            _ => None,
        }
    }

    /// The scores an event carries, each with the touchpoint it rates (when named).
    fn scores(&self, log: &EventLog, event: usize) -> Vec<(ScoreKind, f64, Option<usize>)> {
        let attributes = log.event_attributes(event);
        let number = |value: &Value| match value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::String(s) => log.resolve(*s).trim().parse().ok(),
            _ => None,
        };
        let rated = self.rated(log, event);
        self.keys
            .iter()
            .filter_map(|(kind, key)| {
                let key = (*key)?;
                let value = attributes.iter().find(|a| a.key == key)?;
                Some((*kind, number(&value.value)?, rated))
            })
            .collect()
    }
}

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
    let Some(comment_key) = log.symbol(COMMENT_KEY) else {
        return Vec::new();
    };
    let binding = Binding::new(journey, log);
    let reader = ScoreReader::new(journey, log);
    let mut found = Vec::new();
    for case in log.iter_cases() {
        let mut last = None;
        for event in case.events() {
            let bound = binding.touchpoint_of(log, event);
            let text = log
                .event_attributes(event)
                .iter()
                .find(|a| a.key == comment_key)
                .map(|a| log.value_text(&a.value));
            if let Some(text) = text.filter(|t| !t.trim().is_empty())
                && reader.rated(log, event).or(bound).or(last) == Some(wanted)
            {
                found.push(Comment {
                    case: case.name().to_string(),
                    time: log.time_column()[event],
                    text: text.trim().to_string(),
                    scores: reader
                        .scores(log, event)
                        .into_iter()
                        .map(|(k, v, _)| (k, v))
                        .collect(),
                });
            }
            if bound.is_some() {
                last = bound;
            }
        }
    }
    found.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.case.cmp(&b.case)));
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
    let reaches: Vec<funnel::Reach> = found.par_iter().map(reach).collect();
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

/// Cuts every case into instances.
pub fn instances(
    log: &EventLog,
    binding: &Binding,
    options: &Options,
) -> Result<Vec<Instance>, UnknownTouchpoint> {
    let journey = binding.journey;
    let n = binding.touchpoint_count();
    let mut is_end = vec![false; n];
    let ends = indexes(
        journey,
        "end",
        or_file(&options.end, &journey.instances.end),
    )?;
    if ends.is_empty() {
        let last = journey.stages.len().saturating_sub(1);
        for (t, &stage) in binding.stage_of.iter().enumerate() {
            is_end[t] = stage == last;
        }
    } else {
        for t in ends {
            is_end[t] = true;
        }
    }
    let mut is_start = vec![false; n];
    let starts = indexes(
        journey,
        "start",
        or_file(&options.start, &journey.instances.start),
    )?;
    if starts.is_empty() {
        // The first touchpoint that events reach (and any before it).
        if let Some(first) = binding.first_bound() {
            is_start[..=first].fill(true);
        }
    } else {
        for t in starts {
            is_start[t] = true;
        }
    }
    let reader = ScoreReader::new(journey, log);
    let any_scores = reader.any();
    let now = options
        .now
        .unwrap_or_else(|| log.time_column().iter().copied().max().unwrap_or(0));
    let timeout = options
        .timeout
        .or(journey.instances.timeout.map(timeout_micros))
        .unwrap_or(30 * DAY);
    let found: Vec<Vec<Instance>> = (0..log.cases())
        .into_par_iter()
        .map(|case| {
            let events = log.case(case).events();
            let mut done = Vec::new();
            let mut current: Option<(Instance, bool)> = None;
            let close = |(mut instance, completed): (Instance, bool)| {
                instance.status = if completed {
                    Status::Completed
                } else if now - instance.end() <= timeout {
                    Status::Open
                } else {
                    Status::Abandoned
                };
                instance
            };
            for event in events {
                let time = log.time_column()[event];
                let bound = binding.touchpoint_of(log, event);
                let scores = if any_scores {
                    reader.scores(log, event)
                } else {
                    Vec::new()
                };
                let Some(touchpoint) = bound else {
                    if let Some((instance, _)) = current.as_mut()
                        && time - instance.end() <= timeout
                    {
                        if scores.is_empty() {
                            instance.unmapped.push(log.activity_column()[event]);
                        }
                        let last = instance.visits.last().map(|v| v.touchpoint);
                        instance
                            .scores
                            .extend(scores.into_iter().map(|(kind, value, rated)| Score {
                                kind,
                                value,
                                touchpoint: rated.or(last),
                            }));
                    } else {
                        // An answer after the instance went quiet (a survey emailed later) still
                        // counts when it names the touchpoint it rates: it belongs to the latest
                        // instance that visited that touchpoint.
                        for (kind, value, rated) in scores {
                            let Some(rated) = rated else { continue };
                            let visited =
                                |i: &Instance| i.visits.iter().any(|v| v.touchpoint == rated);
                            let owner = match current.as_mut() {
                                Some((instance, _)) if visited(instance) => Some(instance),
                                _ => done.iter_mut().rev().find(|i| visited(i)),
                            };
                            if let Some(owner) = owner {
                                owner.scores.push(Score {
                                    kind,
                                    value,
                                    touchpoint: Some(rated),
                                });
                            }
                        }
                    }
                    continue;
                };
                let new = match &current {
                    None => true,
                    Some((instance, completed)) => {
                        time - instance.end() > timeout
                            || (*completed && is_start[touchpoint] && !is_end[touchpoint])
                    }
                };
                if new {
                    if let Some(previous) = current.take() {
                        done.push(close(previous));
                    }
                    current = Some((
                        Instance {
                            case: case as u32,
                            visits: Vec::new(),
                            status: Status::Open,
                            scores: Vec::new(),
                            unmapped: Vec::new(),
                        },
                        false,
                    ));
                }
                if let Some((instance, completed)) = current.as_mut() {
                    match instance.visits.last_mut() {
                        Some(visit) if visit.touchpoint == touchpoint => {
                            visit.end = time;
                            visit.events += 1;
                        }
                        _ => instance.visits.push(Visit {
                            touchpoint,
                            start: time,
                            end: time,
                            events: 1,
                        }),
                    }
                    instance
                        .scores
                        .extend(scores.into_iter().map(|(kind, value, rated)| Score {
                            kind,
                            value,
                            touchpoint: rated.or(Some(touchpoint)),
                        }));
                    *completed |= is_end[touchpoint];
                }
            }
            if let Some(last) = current.take() {
                done.push(close(last));
            }
            done.retain(|i| {
                options.from.is_none_or(|from| i.start() >= from)
                    && options.to.is_none_or(|to| i.start() < to)
            });
            done
        })
        .collect();
    Ok(found.into_iter().flatten().collect())
}

/// Which moves between touchpoints the design allows: the designed edges, and paths through
/// optional touchpoints.
fn allowed_moves(journey: &Journey, n: usize) -> Vec<Vec<bool>> {
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

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn seconds(us: Micros) -> f64 {
    us as f64 / 1e6
}

/// Touchpoints over-occurring in `with` against `without`: each instance is given as the
/// touchpoints that count for it (`seen[t]`).
fn drivers(
    names: &[String],
    with: &[&[bool]],
    without: &[&[bool]],
    exclude: &[usize],
) -> Vec<Driver> {
    if with.is_empty() || without.is_empty() {
        return Vec::new();
    }
    let count = |group: &[&[bool]]| {
        let mut counts = vec![0usize; names.len()];
        for seen in group {
            for (t, &s) in seen.iter().enumerate() {
                counts[t] += s as usize;
            }
        }
        counts
    };
    let (with_counts, without_counts) = (count(with), count(without));
    let mut found: Vec<Driver> = (0..names.len())
        .filter(|t| !exclude.contains(t))
        .filter_map(|t| {
            let a = with_counts[t];
            // Below 5% of the instances with the outcome, a lift says little.
            if a * 20 < with.len() {
                return None;
            }
            let b = without_counts[t];
            let share_with = share(a, with.len());
            let share_without = share(b, without.len());
            let lift = if share_without == 0.0 {
                f64::INFINITY
            } else {
                share_with / share_without
            };
            // Only clear differences: at least 1.2 times as often, and 5 points more.
            (lift >= 1.2 && share_with - share_without >= 0.05).then(|| Driver {
                touchpoint: names[t].clone(),
                share_with,
                share_without,
                lift,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(a.touchpoint.cmp(&b.touchpoint))
    });
    found.truncate(5);
    found
}

fn score_figures(scores: impl Iterator<Item = Score>) -> ScoreFigures {
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

/// The case attributes of the instances' cases that take at most [`ATTRIBUTE_VALUES`] values
/// (and at least two): their `attribute=value` names, and per instance which of them it has.
fn attribute_values(log: &EventLog, found: &[Instance]) -> (Vec<String>, Vec<Vec<bool>>) {
    let concept = log.symbol(waymark_eventlog::CONCEPT_NAME);
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen_cases = HashSet::new();
    for instance in found {
        if !seen_cases.insert(instance.case) {
            continue;
        }
        for attribute in log.case(instance.case as usize).attributes() {
            if Some(attribute.key) == concept || attribute.children.is_some() {
                continue;
            }
            let set = values
                .entry(log.resolve(attribute.key).to_string())
                .or_default();
            if set.len() <= ATTRIBUTE_VALUES {
                set.insert(log.value_text(&attribute.value));
            }
        }
    }
    values.retain(|_, set| (2..=ATTRIBUTE_VALUES).contains(&set.len()));
    let names: Vec<String> = values
        .iter()
        .flat_map(|(key, set)| set.iter().map(move |value| format!("{key}={value}")))
        .collect();
    if names.is_empty() {
        return (names, vec![Vec::new(); found.len()]);
    }
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let masks = found
        .iter()
        .map(|instance| {
            let mut mask = vec![false; names.len()];
            for attribute in log.case(instance.case as usize).attributes() {
                let name = format!(
                    "{}={}",
                    log.resolve(attribute.key),
                    log.value_text(&attribute.value)
                );
                if let Some(&i) = index.get(name.as_str()) {
                    mask[i] = true;
                }
            }
            mask
        })
        .collect();
    (names, masks)
}

/// The journey's figures on `log`.
pub fn report(
    journey: &Journey,
    log: &EventLog,
    options: &Options,
) -> Result<Report, UnknownTouchpoint> {
    let binding = Binding::new(journey, log);
    let found = instances(log, &binding, options)?;
    let n = binding.touchpoint_count();
    let touchpoints: Vec<(&waymark_journey::Stage, &waymark_journey::Touchpoint)> =
        journey.touchpoints().collect();
    let names: Vec<String> = touchpoints.iter().map(|(_, t)| t.id.clone()).collect();
    let optional: Vec<bool> = touchpoints.iter().map(|(_, t)| t.optional).collect();
    let contact_list = indexes(journey, "contacts", &options.contacts)?;
    // The contacts: as given, else those the journey marks costly, else every conversation.
    let any_costly = touchpoints.iter().any(|(_, t)| t.costly);
    let is_contact: Vec<bool> = (0..n)
        .map(|t| {
            if !contact_list.is_empty() {
                contact_list.contains(&t)
            } else if any_costly {
                touchpoints[t].1.costly
            } else {
                touchpoints[t].1.kind == Kind::Conversation
            }
        })
        .collect();
    let allowed = allowed_moves(journey, n);
    let starts = {
        let mut is_start = vec![false; n];
        // The first touchpoint, and anything reachable from the start through optional ones.
        if n > 0 {
            is_start[0] = true;
            if optional[0] {
                for (t, s) in is_start.iter_mut().enumerate() {
                    *s |= allowed[0][t];
                }
            }
        }
        // A map may begin with touchpoints no event reaches (a website visit the log does not
        // record): starting at the first touchpoint that has bound events fits too.
        if let Some(first) = binding.first_bound() {
            is_start[first] = true;
            for t in 0..n {
                let before_first_bound = (0..first).any(|b| allowed[b][t]) && t <= first;
                is_start[t] |= before_first_bound;
            }
        }
        is_start
    };

    // Conformance of each instance, with its deviations.
    let replays: Vec<(bool, Vec<Move>)> = found
        .par_iter()
        .map(|instance| {
            let mut deviations = Vec::new();
            let Some(first) = instance.visits.first() else {
                return (true, deviations);
            };
            if !starts[first.touchpoint] {
                deviations.push((DeviationKind::Start, usize::MAX, first.touchpoint));
            }
            let mut visited = vec![false; n];
            visited[first.touchpoint] = true;
            for pair in instance.visits.windows(2) {
                let (a, b) = (pair[0].touchpoint, pair[1].touchpoint);
                if !allowed[a][b] {
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
        })
        .collect();

    let counts = Counts {
        total: found.len(),
        completed: found
            .iter()
            .filter(|i| i.status == Status::Completed)
            .count(),
        abandoned: found
            .iter()
            .filter(|i| i.status == Status::Abandoned)
            .count(),
        open: found.iter().filter(|i| i.status == Status::Open).count(),
    };
    let mut completed_seconds: Vec<f64> = found
        .iter()
        .filter(|i| i.status == Status::Completed)
        .map(|i| seconds(i.end() - i.start()))
        .collect();

    // The touchpoints each instance visited.
    let visited: Vec<Vec<bool>> = found
        .par_iter()
        .map(|i| {
            let mut seen = vec![false; n];
            for v in &i.visits {
                seen[v.touchpoint] = true;
            }
            seen
        })
        .collect();

    // The period each instance started in.
    let buckets: Vec<String> = found
        .iter()
        .map(|i| options.period.bucket(i.start()))
        .collect();

    // The segment of each instance, when broken down.
    let segment_of: Option<Vec<String>> = options.by.as_ref().map(|attribute| {
        let key = log.symbol(attribute);
        found
            .iter()
            .map(|instance| {
                let case = log.case(instance.case as usize);
                case.attribute(attribute)
                    .map(|a| log.value_text(&a.value))
                    .or_else(|| {
                        let key = key?;
                        let first = case
                            .events()
                            .find(|&e| log.time_column()[e] >= instance.start())?;
                        log.event_attributes(first)
                            .iter()
                            .find(|a| a.key == key)
                            .map(|a| log.value_text(&a.value))
                    })
                    .unwrap_or_default()
            })
            .collect()
    });

    // The survey answers for each touchpoint, in all and per period and segment.
    let mut touchpoint_scores: Vec<Vec<Score>> = vec![Vec::new(); n];
    let mut period_scores: HashMap<(usize, &str), Vec<Score>> = HashMap::new();
    let mut segment_scores: HashMap<(usize, &str), Vec<Score>> = HashMap::new();
    for (k, (instance, bucket)) in found.iter().zip(&buckets).enumerate() {
        for score in &instance.scores {
            if let Some(t) = score.touchpoint {
                touchpoint_scores[t].push(*score);
                period_scores
                    .entry((t, bucket.as_str()))
                    .or_default()
                    .push(*score);
                if let Some(segments) = &segment_of {
                    segment_scores
                        .entry((t, segments[k].as_str()))
                        .or_default()
                        .push(*score);
                }
            }
        }
    }
    // period or segment → (instances, visits, repeats, totals, breaches)
    type Bucket = (usize, usize, usize, Vec<f64>, usize);
    let slices = |groups: BTreeMap<&str, Bucket>,
                  scores: &HashMap<(usize, &str), Vec<Score>>,
                  t: usize,
                  target: Option<f64>| {
        groups
            .into_iter()
            .map(
                |(key, (instances, visits, repeats, mut totals, breaches))| TouchpointSlice {
                    key: key.to_string(),
                    instances,
                    visits,
                    repeat_visits: repeats,
                    median_total_seconds: stats::median(&mut totals),
                    breach_share: target.map(|_| share(breaches, visits)),
                    scores: score_figures(scores.get(&(t, key)).into_iter().flatten().copied()),
                },
            )
            .collect::<Vec<_>>()
    };

    // Per touchpoint. Instances with a visit over its target are marked in `breached`.
    let mut breached = vec![false; found.len()];
    let case_name = |k: usize| log.case(found[k].case as usize).name().to_string();
    let mut figures = Vec::with_capacity(n);
    for (t, (stage, touchpoint)) in touchpoints.iter().enumerate() {
        let mut at = Vec::new();
        let mut wait = Vec::new();
        let mut total = Vec::new();
        let mut over: Vec<(f64, usize)> = Vec::new();
        let (mut events, mut visits, mut instances, mut repeats, mut drop_off) = (0, 0, 0, 0, 0);
        let target = touchpoint.target.map(|d| d.as_secs_f64());
        let mut breaches = 0;
        let mut periods: BTreeMap<&str, Bucket> = BTreeMap::new();
        let mut segments: BTreeMap<&str, Bucket> = BTreeMap::new();
        for (index, instance) in found.iter().enumerate() {
            if !visited[index][t] {
                continue;
            }
            let bucket = periods.entry(buckets[index].as_str()).or_default();
            let mut segment = segment_of
                .as_ref()
                .map(|values| segments.entry(values[index].as_str()).or_default());
            let mut here = 0;
            for (k, visit) in instance.visits.iter().enumerate() {
                if visit.touchpoint != t {
                    continue;
                }
                here += 1;
                events += visit.events as usize;
                let stay = seconds(visit.end - visit.start);
                at.push(stay);
                let next = instance.visits.get(k + 1);
                let moved = match next {
                    Some(next) => {
                        let gap = seconds(next.start - visit.end);
                        wait.push(gap);
                        stay + gap
                    }
                    None => stay,
                };
                total.push(moved);
                bucket.3.push(moved);
                if let Some(segment) = segment.as_mut() {
                    segment.3.push(moved);
                }
                if let Some(target) = target
                    && moved > target
                {
                    breaches += 1;
                    bucket.4 += 1;
                    if let Some(segment) = segment.as_mut() {
                        segment.4 += 1;
                    }
                    over.push((moved, index));
                    breached[index] = true;
                }
            }
            if here > 0 {
                instances += 1;
                visits += here;
                repeats += here - 1;
                bucket.0 += 1;
                bucket.1 += here;
                bucket.2 += here - 1;
                if let Some(segment) = segment.as_mut() {
                    segment.0 += 1;
                    segment.1 += here;
                    segment.2 += here - 1;
                }
                if instance.status == Status::Abandoned
                    && instance.visits.last().is_some_and(|v| v.touchpoint == t)
                {
                    drop_off += 1;
                }
            }
        }
        over.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let over: Vec<(String, f64)> = over
            .iter()
            .take(5)
            .map(|&(seconds, k)| (case_name(k), seconds))
            .collect();
        let breach_share = target.and_then(|_| (visits > 0).then(|| share(breaches, visits)));
        figures.push(TouchpointFigures {
            id: touchpoint.id.clone(),
            name: touchpoint.name.clone(),
            stage: stage.id.clone(),
            optional: touchpoint.optional,
            moment_of_truth: touchpoint.moment_of_truth,
            contact: is_contact[t],
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
            worst: over,
            scores: score_figures(touchpoint_scores[t].iter().copied()),
            trend: slices(periods, &period_scores, t, target),
            segments: slices(segments, &segment_scores, t, target),
        });
    }

    // Stages: reach and conversion over a group of instances.
    let reached_stage: Vec<Vec<bool>> = found
        .iter()
        .map(|i| {
            let mut reached = vec![false; journey.stages.len()];
            for v in &i.visits {
                reached[binding.stage_of[v.touchpoint]] = true;
            }
            reached
        })
        .collect();
    // Per instance and stage: the time in it (seconds), and repeat visits to its touchpoints.
    let stage_count = journey.stages.len();
    let stage_of = &binding.stage_of;
    let stage_repeats: Vec<Vec<u32>> = found
        .par_iter()
        .map(|instance| {
            let mut seen = vec![false; n];
            let mut repeats = vec![0u32; stage_count];
            for v in &instance.visits {
                if std::mem::replace(&mut seen[v.touchpoint], true) {
                    repeats[stage_of[v.touchpoint]] += 1;
                }
            }
            repeats
        })
        .collect();
    // The stage an abandoned instance was last in.
    let dropped_in: Vec<Option<usize>> = found
        .iter()
        .map(|i| {
            (i.status == Status::Abandoned)
                .then(|| i.visits.last().map(|v| stage_of[v.touchpoint]))
                .flatten()
        })
        .collect();
    let stage_times: Vec<Vec<Option<f64>>> = found
        .par_iter()
        .map(|instance| {
            (0..stage_count)
                .map(|s| {
                    let first = instance
                        .visits
                        .iter()
                        .position(|v| stage_of[v.touchpoint] == s)?;
                    let entered = instance.visits[first].start;
                    let left = instance.visits[first..]
                        .iter()
                        .find(|v| stage_of[v.touchpoint] > s)
                        .map(|v| v.start)
                        .or_else(|| {
                            instance
                                .visits
                                .iter()
                                .rev()
                                .find(|v| stage_of[v.touchpoint] == s)
                                .map(|v| v.end)
                        })
                        .unwrap_or(entered);
                    Some(seconds(left - entered))
                })
                .collect()
        })
        .collect();
    let stage_targets: Vec<Option<f64>> = journey
        .stages
        .iter()
        .map(|stage| {
            let required: Vec<f64> = stage
                .touchpoints
                .iter()
                .filter(|t| !t.optional)
                .filter_map(|t| t.target.map(|d| d.as_secs_f64()))
                .collect();
            (!required.is_empty()).then(|| required.iter().sum())
        })
        .collect();
    let stage_figures = |members: &[usize]| -> Vec<StageFigures> {
        journey
            .stages
            .iter()
            .enumerate()
            .map(|(s, stage)| {
                let reached = members.iter().filter(|&&k| reached_stage[k][s]).count();
                let conversion_to_next = (s + 1 < stage_count).then(|| {
                    share(
                        members
                            .iter()
                            .filter(|&&k| reached_stage[k][s] && reached_stage[k][s + 1])
                            .count(),
                        reached,
                    )
                });
                let drop_off = members
                    .iter()
                    .filter(|&&k| dropped_in[k] == Some(s))
                    .count();
                let repeat_visits = members.iter().map(|&k| stage_repeats[k][s] as usize).sum();
                let mut times: Vec<f64> =
                    members.iter().filter_map(|&k| stage_times[k][s]).collect();
                let target_seconds = stage_targets[s];
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
                            .filter(|score| score.touchpoint.is_some_and(|t| stage_of[t] == s))
                            .copied()
                    })),
                }
            })
            .collect()
    };
    let all: Vec<usize> = (0..found.len()).collect();
    let stages = stage_figures(&all);

    // The funnel: the engine's ordered funnel (ClickHouse windowFunnel) over visits.
    let (step_names, step_of): (Vec<String>, Vec<Option<usize>>) = if options.funnel.is_empty() {
        let used: Vec<usize> = (0..journey.stages.len())
            .filter(|s| (0..n).any(|t| binding.stage_of[t] == *s && binding.bound[t]))
            .collect();
        (
            used.iter().map(|&s| journey.stages[s].id.clone()).collect(),
            (0..n)
                .map(|t| used.iter().position(|&s| s == binding.stage_of[t]))
                .collect(),
        )
    } else {
        let steps = indexes(journey, "funnel", &options.funnel)?;
        (
            options.funnel.clone(),
            (0..n).map(|t| steps.iter().position(|&s| s == t)).collect(),
        )
    };
    let reaches: Vec<funnel::Reach> = found
        .par_iter()
        .map(|i| {
            let matched: Vec<(Micros, usize)> = i
                .visits
                .iter()
                .filter_map(|v| step_of[v.touchpoint].map(|step| (v.start, step)))
                .collect();
            funnel::ordered_matched(matched, step_names.len(), Micros::MAX / 4)
        })
        .collect();
    let funnel = funnel::summarize(&step_names, found.len(), &reaches, FunnelOrder::Ordered);

    // Milestones: two-step ordered funnels.
    let mut milestones = Vec::new();
    for (from, to) in &options.milestones {
        let pair = indexes(journey, "milestones", &[from.clone(), to.clone()])?;
        let mut gaps = Vec::new();
        let mut from_reached = 0;
        for instance in &found {
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

    // Conformance.
    let fitting = replays.iter().filter(|r| r.0).count();
    let completed_fitting = found
        .iter()
        .zip(&replays)
        .filter(|(i, r)| i.status == Status::Completed && r.0)
        .count();
    let deviation_list = |members: &[usize], limit: usize| -> Vec<Deviation> {
        let mut counts: HashMap<(DeviationKind, usize, usize), usize> = HashMap::new();
        for &k in members {
            for d in &replays[k].1 {
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
                        .filter(|&t| !optional[t])
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
    };
    let deviations = deviation_list(&all, 10);
    let conformance = Conformance {
        fitting,
        share: share(fitting, found.len()),
        completed_share: (counts.completed > 0).then(|| share(completed_fitting, counts.completed)),
        deviations,
    };

    // Repeat contacts.
    let contact_visits =
        |i: &Instance| i.visits.iter().filter(|v| is_contact[v.touchpoint]).count();
    let contact_ids: Vec<usize> = (0..n).filter(|&t| is_contact[t]).collect();
    // Each instance's case attribute values, as `attribute=value` flags for the drivers.
    let (value_names, value_masks) = attribute_values(log, &found);
    // Per instance, computed once for the whole report and every group: contact visits, whether
    // a contact repeated, and per contact touchpoint what it visited before the first contact.
    let contact_counts: Vec<usize> = found.iter().map(contact_visits).collect();
    let repeated_contact: Vec<bool> = found
        .iter()
        .map(|i| {
            let mut seen = vec![false; n];
            i.visits
                .iter()
                .filter(|v| is_contact[v.touchpoint])
                .any(|v| std::mem::replace(&mut seen[v.touchpoint], true))
        })
        .collect();
    let before_contact: Vec<Vec<Vec<bool>>> = found
        .par_iter()
        .enumerate()
        .map(|(k, instance)| {
            contact_ids
                .iter()
                .map(|&c| {
                    if !visited[k][c] {
                        return Vec::new();
                    }
                    let mut seen = vec![false; n];
                    for v in instance.visits.iter().take_while(|v| v.touchpoint != c) {
                        seen[v.touchpoint] = true;
                    }
                    seen
                })
                .collect()
        })
        .collect();
    let contact_figures = |members: &[usize]| -> Contacts {
        let total_contacts: usize = members.iter().map(|&k| contact_counts[k]).sum();
        let with_contact = members.iter().filter(|&&k| contact_counts[k] > 0).count();
        let with_repeat = members.iter().filter(|&&k| repeated_contact[k]).count();
        let by_touchpoint = contact_ids
            .iter()
            .enumerate()
            .map(|(ci, &c)| {
                // What came just before each visit: by touchpoint, the last slot for a start.
                let mut preceded = vec![0usize; n + 1];
                let (mut visits, mut instances, mut repeated) = (0, 0, 0);
                // For instances with the contact: what came before its first visit; for the
                // others: everything they visited.
                let mut with: Vec<&[bool]> = Vec::new();
                let mut without: Vec<&[bool]> = Vec::new();
                for &index in members {
                    let instance = &found[index];
                    if !visited[index][c] {
                        without.push(&visited[index]);
                        continue;
                    }
                    with.push(&before_contact[index][ci]);
                    let mut here = 0;
                    for (k, v) in instance.visits.iter().enumerate() {
                        if v.touchpoint == c {
                            here += 1;
                            let before = if k == 0 {
                                n
                            } else {
                                instance.visits[k - 1].touchpoint
                            };
                            preceded[before] += 1;
                        }
                    }
                    visits += here;
                    instances += 1;
                    if here > 1 {
                        repeated += 1;
                    }
                }
                let mut preceded_by: Vec<(String, usize)> = preceded
                    .iter()
                    .enumerate()
                    .filter(|&(_, &count)| count > 0)
                    .map(|(t, &count)| {
                        let name = names.get(t).map_or("(start)", String::as_str);
                        (name.to_string(), count)
                    })
                    .collect();
                preceded_by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                preceded_by.truncate(5);
                let (with_values, without_values): (Vec<&[bool]>, Vec<&[bool]>) = {
                    let (a, b): (Vec<usize>, Vec<usize>) =
                        members.iter().partition(|&&k| visited[k][c]);
                    (
                        a.iter().map(|&k| value_masks[k].as_slice()).collect(),
                        b.iter().map(|&k| value_masks[k].as_slice()).collect(),
                    )
                };
                ContactFigures {
                    touchpoint: names[c].clone(),
                    visits,
                    instances,
                    repeated_instances: repeated,
                    preceded_by,
                    drivers: drivers(&names, &with, &without, &[c]),
                    attribute_drivers: drivers(&value_names, &with_values, &without_values, &[]),
                }
            })
            .collect();
        Contacts {
            touchpoints: contact_ids.iter().map(|&t| names[t].clone()).collect(),
            per_instance: share(total_contacts, members.len()),
            instances_with_contact: with_contact,
            instances_with_repeat: with_repeat,
            repeat_rate: share(with_repeat, members.len()),
            by_touchpoint,
        }
    };
    let contacts = contact_figures(&all);

    // Experience.
    let scored: Vec<usize> = (0..found.len())
        .filter(|&k| !found[k].scores.is_empty())
        .collect();
    let (low, other): (Vec<usize>, Vec<usize>) = scored
        .iter()
        .partition(|&&k| found[k].scores.iter().any(|s| s.kind.is_low(s.value)));
    let masks = |group: &[usize]| -> Vec<&[bool]> {
        group.iter().map(|&k| visited[k].as_slice()).collect()
    };
    let breach_share = |group: &[usize]| {
        (!group.is_empty())
            .then(|| share(group.iter().filter(|&&k| breached[k]).count(), group.len()))
    };
    let experience = Experience {
        journey: score_figures(found.iter().flat_map(|i| i.scores.iter().copied())),
        low_instances: low.len(),
        low_drivers: drivers(&names, &masks(&low), &masks(&other), &[]),
        breach_share_low: breach_share(&low),
        breach_share_other: breach_share(&other),
    };

    // Moments of truth: for each outcome, the rate among instances that visited the touchpoint
    // minus the rate among those that did not (a risk difference).
    let closed: Vec<usize> = (0..found.len())
        .filter(|&k| found[k].status != Status::Open)
        .collect();
    let is_low: Vec<bool> = found
        .iter()
        .map(|i| i.scores.iter().any(|s| s.kind.is_low(s.value)))
        .collect();
    // Over `group`, with `outcome` per instance: visited rate minus not-visited rate.
    let difference = |group: &[usize], t: usize, outcome: &dyn Fn(usize) -> bool| {
        let (mut with, mut with_yes, mut without, mut without_yes) = (0, 0, 0, 0);
        for &k in group {
            let yes = outcome(k) as usize;
            if visited[k][t] {
                with += 1;
                with_yes += yes;
            } else {
                without += 1;
                without_yes += yes;
            }
        }
        (with > 0 && without > 0).then(|| share(with_yes, with) - share(without_yes, without))
    };
    let mut moments: Vec<Moment> = (0..n)
        .filter_map(|t| {
            let (mut visited_total, mut visited_done, mut not_total, mut not_done) = (0, 0, 0, 0);
            for &k in &closed {
                let done = (found[k].status == Status::Completed) as usize;
                if visited[k][t] {
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
                low_score: difference(&scored, t, &|k| is_low[k]),
                repeat_contact: (!is_contact[t])
                    .then(|| difference(&all, t, &|k| repeated_contact[k]))
                    .flatten(),
                designed: touchpoints[t].1.moment_of_truth,
            })
        })
        .collect();
    moments.sort_by(|a, b| {
        b.strength()
            .total_cmp(&a.strength())
            .then(a.touchpoint.cmp(&b.touchpoint))
    });

    let mut moments_compared = MomentsCompared::default();
    for (t, (_, touchpoint)) in touchpoints.iter().enumerate() {
        let matters = moments
            .iter()
            .find(|m| m.touchpoint == names[t])
            .is_some_and(|m| m.strength() >= MOMENT_THRESHOLD);
        let list = match (touchpoint.moment_of_truth, matters) {
            (true, true) => &mut moments_compared.confirmed,
            (true, false) => &mut moments_compared.not_confirmed,
            (false, true) => &mut moments_compared.unmarked,
            (false, false) => continue,
        };
        list.push(names[t].clone());
    }

    // Trend and segments: the same figures per group of instances.
    // The same figures per period and per segment: each instance's key picks its group.
    let groups = |keys: &[String]| -> Vec<Group> {
        let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, key) in keys.iter().enumerate() {
            members.entry(key.as_str()).or_default().push(k);
        }
        members
            .into_iter()
            .map(|(key, members)| {
                let mut completed: Vec<f64> = members
                    .iter()
                    .map(|&k| &found[k])
                    .filter(|i| i.status == Status::Completed)
                    .map(|i| seconds(i.end() - i.start()))
                    .collect();
                let fitting = members.iter().filter(|&&k| replays[k].0).count();
                Group {
                    key: key.to_string(),
                    instances: members.len(),
                    completed: completed.len(),
                    completed_median_seconds: (!completed.is_empty())
                        .then(|| stats::median(&mut completed)),
                    conformance_share: share(fitting, members.len()),
                    stages: stage_figures(&members),
                    deviations: deviation_list(&members, 5),
                    contacts: contact_figures(&members),
                    scores: score_figures(
                        members
                            .iter()
                            .flat_map(|&k| found[k].scores.iter().copied()),
                    ),
                }
            })
            .collect()
    };
    let trend = groups(&buckets);
    let segments = segment_of.as_deref().map_or_else(Vec::new, groups);

    // Blind spots.
    let mut unmapped: HashMap<Symbol, usize> = HashMap::new();
    for instance in &found {
        for &symbol in &instance.unmapped {
            *unmapped.entry(symbol).or_insert(0) += 1;
        }
    }
    let mut unmapped: Vec<(String, usize)> = unmapped
        .into_iter()
        .map(|(s, c)| (log.resolve(s).to_string(), c))
        .collect();
    unmapped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    Ok(Report {
        journey: journey.id.clone(),
        version: journey.version.clone(),
        instances: counts,
        completed_seconds: stats::summarize(&mut completed_seconds),
        stages,
        touchpoints: figures,
        funnel,
        milestones,
        conformance,
        contacts,
        experience,
        moments,
        moments_compared,
        trend,
        segments,
        unmapped,
    })
}

/// Where a case stands in a journey: its latest instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub case: u32,
    pub status: Status,
    pub stage: String,
    pub touchpoint: String,
    /// When the instance started, and its last event.
    pub started_us: Micros,
    pub last_us: Micros,
}

/// The latest instance of every case that is in the journey, and where it stands.
pub fn positions(
    journey: &Journey,
    log: &EventLog,
    options: &Options,
) -> Result<Vec<Position>, UnknownTouchpoint> {
    let binding = Binding::new(journey, log);
    let found = instances(log, &binding, options)?;
    let touchpoints: Vec<(&waymark_journey::Stage, &waymark_journey::Touchpoint)> =
        journey.touchpoints().collect();
    let mut latest: BTreeMap<u32, &Instance> = BTreeMap::new();
    for instance in &found {
        let slot = latest.entry(instance.case).or_insert(instance);
        if instance.start() > slot.start() {
            *slot = instance;
        }
    }
    Ok(latest
        .into_values()
        .filter_map(|instance| {
            let last = instance.visits.last()?;
            let (stage, touchpoint) = touchpoints[last.touchpoint];
            Some(Position {
                case: instance.case,
                status: instance.status,
                stage: stage.id.clone(),
                touchpoint: touchpoint.id.clone(),
                started_us: instance.start(),
                last_us: instance.end(),
            })
        })
        .collect())
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Abandoned => "abandoned",
            Status::Open => "open",
        }
    }
}
