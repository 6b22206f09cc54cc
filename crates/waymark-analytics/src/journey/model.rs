//! What a report holds: instances and their visits, and the figures of each section.

use waymark_eventlog::{Micros, Symbol};

use crate::stats::Summary;

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

    pub(crate) const ALL: [(ScoreKind, &'static str); 3] = [
        (ScoreKind::Csat, "csat"),
        (ScoreKind::Nps, "nps"),
        (ScoreKind::Ces, "ces"),
    ];

    /// Whether a score is low: CSAT 1–2, NPS 0–6 (a detractor), CES 5–7 (hard).
    pub(crate) fn is_low(self, value: f64) -> bool {
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
    /// An instance of nothing: what is left where one was moved out.
    pub(crate) fn empty() -> Instance {
        Instance {
            case: 0,
            visits: Vec::new(),
            status: Status::Open,
            scores: Vec::new(),
            unmapped: Vec::new(),
        }
    }

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

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Abandoned => "abandoned",
            Status::Open => "open",
        }
    }
}
