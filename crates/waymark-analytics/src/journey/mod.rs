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

//!
//! The code follows those steps. A [`LogSource`] cuts its events into instances ([`Cut`]):
//! [`binding`] and [`instances`] for a log in memory, with [`source::Reuse`] keeping a live log's
//! untouched people's instances from one reading to the next. [`facts`] then computes once per
//! instance what every section reads; each section ([`stages`], [`touchpoints`], [`conformance`],
//! [`contacts`], [`experience`], [`moments`]) reduces those facts over a group of instances, and
//! [`groups`] measures each period and segment with the same code as the whole; [`assembly`]
//! puts the report together.

mod assembly;
mod binding;
mod conformance;
mod contacts;
mod experience;
mod facts;
mod groups;
mod instances;
pub mod kpis;
mod model;
mod moments;
pub mod pieces;
pub mod source;
mod stages;
mod touchpoints;
mod views;

pub use assembly::{Position, positions, report, report_of};
pub use binding::Binding;
pub use instances::instances;
pub use model::*;
pub use source::{Cut, LogSource};
pub use views::{
    COMMENT_KEY, Comment, Direction, OverTarget, Walked, comments, funnel_members, latest_comments,
    moves, over_target, paths, touchpoint_funnel, visit_variants,
};

use waymark_eventlog::Micros;
use waymark_journey::Journey;

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

/// Refuses options naming a touchpoint the journey does not have, with the error a report would
/// give (the same option first), before anything is read or cut: a store that measures far from
/// here checks them before it asks its servers.
pub fn check(journey: &Journey, options: &Options) -> Result<(), UnknownTouchpoint> {
    binding::indexes(
        journey,
        "end",
        or_file(&options.end, &journey.instances.end),
    )?;
    binding::indexes(
        journey,
        "start",
        or_file(&options.start, &journey.instances.start),
    )?;
    binding::indexes(journey, "contacts", &options.contacts)?;
    binding::indexes(journey, "funnel", &options.funnel)?;
    for (from, to) in &options.milestones {
        binding::indexes(journey, "milestones", &[from.clone(), to.clone()])?;
    }
    Ok(())
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
    pub(crate) fn bucket(self, time: Micros) -> String {
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

/// A share, 0 of nothing.
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// µs as seconds.
fn seconds(us: Micros) -> f64 {
    us as f64 / 1e6
}
