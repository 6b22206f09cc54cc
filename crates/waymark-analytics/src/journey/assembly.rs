//! The report put together: the source's cut, the facts of each instance, and every section.

use std::collections::{BTreeMap, HashMap};

use waymark_eventlog::{EventLog, Micros, Symbol};
use waymark_journey::Journey;

use super::binding::Binding;
use super::conformance::conformance;
use super::contacts::contacts;
use super::experience::experience;
use super::facts::{Basis, Design, Grouping};
use super::groups::groups;
use super::instances::instances;
use super::moments::moments;
use super::source::LogSource;
use super::stages::{funnel, milestones, stages};
use super::touchpoints::touchpoints;
use super::{Counts, Instance, Options, Report, Status, UnknownTouchpoint, seconds};
use crate::stats;

/// The journey's figures on `log`.
pub fn report(
    journey: &Journey,
    log: &EventLog,
    options: &Options,
) -> Result<Report, UnknownTouchpoint> {
    report_of(journey, log, options)
}

/// The journey's figures on the events of `source`.
pub fn report_of(
    journey: &Journey,
    source: &dyn LogSource,
    options: &Options,
) -> Result<Report, UnknownTouchpoint> {
    super::check(journey, options)?;
    let cut = source.cut(journey, options)?;
    let design = Design::new(journey, &cut.bound, options)?;
    let facts = Basis::facts(&design, &cut);
    let found = cut.instances.as_slice();
    let periods = Grouping::periods(found, options.period);
    let segments = cut
        .segments
        .as_ref()
        .map(|values| Grouping::of_texts(values.iter().map(String::as_str)));
    let basis = Basis {
        design: &design,
        found,
        facts: &facts,
        periods: &periods,
        segments: segments.as_ref(),
        values: &cut.values,
    };
    let all: Vec<usize> = (0..found.len()).collect();
    let count = |status| found.iter().filter(|i| i.status == status).count();
    let mut completed_seconds: Vec<f64> = found
        .iter()
        .filter(|i| i.status == Status::Completed)
        .map(|i| seconds(i.end() - i.start()))
        .collect();
    let (moments, moments_compared) = moments(&basis, &all);
    Ok(Report {
        journey: journey.id.clone(),
        version: journey.version.clone(),
        instances: Counts {
            total: found.len(),
            completed: count(Status::Completed),
            abandoned: count(Status::Abandoned),
            open: count(Status::Open),
        },
        completed_seconds: stats::summarize(&mut completed_seconds),
        stages: stages(&basis, &all),
        touchpoints: touchpoints(&basis, source),
        funnel: funnel(&basis, options)?,
        milestones: milestones(&basis, options)?,
        conformance: conformance(&basis, &all),
        contacts: contacts(&basis, &all),
        experience: experience(&basis),
        moments,
        moments_compared,
        trend: groups(&basis, &periods),
        segments: segments
            .as_ref()
            .map_or_else(Vec::new, |by| groups(&basis, by)),
        unmapped: unmapped(found, source),
    })
}

/// Events in instances that no touchpoint claims, by activity, most first.
fn unmapped(found: &[Instance], source: &dyn LogSource) -> Vec<(String, usize)> {
    let mut counts: HashMap<Symbol, usize> = HashMap::new();
    for instance in found {
        for &symbol in &instance.unmapped {
            *counts.entry(symbol).or_insert(0) += 1;
        }
    }
    let mut unmapped: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(s, c)| (source.activity(s), c))
        .collect();
    unmapped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    unmapped
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
