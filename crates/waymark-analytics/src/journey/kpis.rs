//! KPIs measured: each definition ([`waymark_journey::Kpi`]) read as dated observations of a
//! journey's instances, so one code path gives a value over any window, a trend, a before-and-after
//! test and an alert's history.
//!
//! An observation is dated by the start of its instance: people who started after a change are
//! the ones who met the changed journey. A completion or a conversion counts within a time (the
//! KPI's `within`, else the journey's inactivity timeout), as a cohort's conversion window does:
//! an instance counts once that time has passed since it started, a yes when it got there in
//! time; younger ones are not counted at all, so the last days' still-running instances neither
//! drag a rate down nor, were only those already done counted, push it up. The share over target likewise counts an
//! instance once it is over, or already over target.

use waymark_eventlog::Micros;
use waymark_journey::kpi::{Direction, Unit, format_value};
use waymark_journey::{Journey, Kind, Kpi, Measure};

use super::facts::moved;
use super::{DAY, Instance, ScoreKind, Status, seconds};
use crate::compare::{self, Comparison};
use crate::stats;

/// A KPI's observations, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    pub unit: Unit,
    /// When each was observed (its instance's start, µs) and its value: 1 or 0 for a share,
    /// seconds for a time, the answer for a score (NPS as +100, 0 or −100), 1 for a volume.
    pub at: Vec<Micros>,
    pub values: Vec<f64>,
}

/// Where a KPI is defined: on the journey, or on one of its touchpoints (by index in listing
/// order, as visits name them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Journey,
    Touchpoint(usize),
}

/// Every KPI of a journey with its scope and owner, the journey's own first.
pub fn definitions(journey: &Journey) -> Vec<(&Kpi, Scope, String)> {
    let mut all: Vec<(&Kpi, Scope, String)> = journey
        .kpis
        .iter()
        .map(|k| {
            let owner = k.owner.clone().unwrap_or_else(|| journey.owner.clone());
            (k, Scope::Journey, owner)
        })
        .collect();
    for (index, (_, touchpoint)) in journey.touchpoints().enumerate() {
        for kpi in &touchpoint.kpis {
            let owner = kpi
                .owner
                .clone()
                .unwrap_or_else(|| touchpoint.department.clone());
            all.push((kpi, Scope::Touchpoint(index), owner));
        }
    }
    all
}

/// The observations of `kpi` (none for a note) in `instances` of `journey`.
pub fn observe(
    journey: &Journey,
    instances: &[Instance],
    kpi: &Kpi,
    scope: Scope,
    now: Micros,
) -> Option<Observations> {
    let measure = kpi.measure.as_ref()?;
    let ids: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    let index = |id: &str| ids.iter().position(|&known| known == id);
    let here = match scope {
        Scope::Touchpoint(t) => Some(t),
        Scope::Journey => None,
    };
    let mut found: Vec<(Micros, f64)> = Vec::new();
    let mut add = |instance: &Instance, value: f64| found.push((instance.start(), value));
    let decided = |i: &Instance| i.status != Status::Open;
    let flag = |yes: bool| if yes { 1.0 } else { 0.0 };
    let visits = |i: &Instance, t: usize| i.visits.iter().filter(|v| v.touchpoint == t).count();
    // How long an instance has to complete or convert.
    let window = kpi
        .within
        .or(journey.instances.timeout)
        .map_or(30 * DAY, super::timeout_micros);
    match measure {
        Measure::Completion => {
            for i in instances {
                if here.is_some_and(|t| visits(i, t) == 0) {
                    continue;
                }
                // Counted once its window has passed: a cohort's rate, known in full.
                if now - i.start() >= window {
                    let done = i.status == Status::Completed && i.end() - i.start() <= window;
                    add(i, flag(done));
                }
            }
        }
        Measure::Conversion { from, to } => {
            let from = from.as_deref().map_or(here, index);
            let (Some(from), Some(to)) = (from, index(to)) else {
                return Some(empty(measure));
            };
            for i in instances {
                let Some(first) = i.visits.iter().position(|v| v.touchpoint == from) else {
                    continue;
                };
                let at = i.visits[first].start;
                if now - at >= window {
                    let converted = i.visits[first + 1..]
                        .iter()
                        .any(|v| v.touchpoint == to && v.start - at <= window);
                    add(i, flag(converted));
                }
            }
        }
        Measure::OverTarget => {
            let targets: Vec<Option<f64>> = journey
                .touchpoints()
                .map(|(_, t)| t.target.map(|d| d.as_secs_f64()))
                .collect();
            for i in instances {
                // A visit's time is known once the journey moved on, or the instance is over.
                let over = |k: usize| {
                    let t = i.visits[k].touchpoint;
                    targets[t].map(|target| (moved(i, k) > target, k + 1 < i.visits.len()))
                };
                match here {
                    None => {
                        let breached = (0..i.visits.len()).any(|k| over(k).is_some_and(|o| o.0));
                        let timed = (0..i.visits.len()).any(|k| over(k).is_some());
                        if timed && (breached || decided(i)) {
                            add(i, flag(breached));
                        }
                    }
                    Some(t) => {
                        for k in (0..i.visits.len()).filter(|&k| i.visits[k].touchpoint == t) {
                            if let Some((breached, known)) = over(k)
                                && (breached || known || decided(i))
                            {
                                add(i, flag(breached));
                            }
                        }
                    }
                }
            }
        }
        Measure::MedianTime { between } => match (between, here) {
            (Some((from, to)), _) => {
                let (Some(from), Some(to)) = (index(from), index(to)) else {
                    return Some(empty(measure));
                };
                for i in instances {
                    let Some(first) = i.visits.iter().position(|v| v.touchpoint == from) else {
                        continue;
                    };
                    if let Some(reached) = i.visits[first..].iter().find(|v| v.touchpoint == to) {
                        add(i, seconds(reached.start - i.visits[first].start));
                    }
                }
            }
            (None, None) => {
                for i in instances.iter().filter(|i| i.status == Status::Completed) {
                    add(i, seconds(i.end() - i.start()));
                }
            }
            (None, Some(t)) => {
                for i in instances {
                    for k in (0..i.visits.len()).filter(|&k| i.visits[k].touchpoint == t) {
                        if k + 1 < i.visits.len() || decided(i) {
                            add(i, moved(i, k));
                        }
                    }
                }
            }
        },
        Measure::RepeatContacts => {
            let contacts = contact_touchpoints(journey);
            for i in instances {
                match here {
                    Some(t) => {
                        let count = visits(i, t);
                        if count > 0 {
                            add(i, flag(count > 1));
                        }
                    }
                    // Of every instance, as the journey report counts it.
                    None => {
                        let mut seen = vec![false; contacts.len()];
                        let mut repeated = false;
                        for v in i.visits.iter().filter(|v| contacts[v.touchpoint]) {
                            repeated |= std::mem::replace(&mut seen[v.touchpoint], true);
                        }
                        add(i, flag(repeated));
                    }
                }
            }
        }
        Measure::Csat | Measure::Nps | Measure::Ces => {
            let kind = match measure {
                Measure::Csat => ScoreKind::Csat,
                Measure::Nps => ScoreKind::Nps,
                _ => ScoreKind::Ces,
            };
            for i in instances {
                for score in i.scores.iter().filter(|s| s.kind == kind) {
                    if here.is_some() && score.touchpoint != here {
                        continue;
                    }
                    let value = match kind {
                        ScoreKind::Nps if score.value >= 9.0 => 100.0,
                        ScoreKind::Nps if score.value <= 6.0 => -100.0,
                        ScoreKind::Nps => 0.0,
                        _ => score.value,
                    };
                    add(i, value);
                }
            }
        }
        Measure::Volume => {
            for i in instances {
                if here.is_none_or(|t| visits(i, t) > 0) {
                    add(i, 1.0);
                }
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    let (at, values) = found.into_iter().unzip();
    Some(Observations {
        unit: measure.unit(),
        at,
        values,
    })
}

fn empty(measure: &Measure) -> Observations {
    Observations {
        unit: measure.unit(),
        at: Vec::new(),
        values: Vec::new(),
    }
}

/// The contact touchpoints as the journey report takes them: those marked costly, else every
/// conversation.
fn contact_touchpoints(journey: &Journey) -> Vec<bool> {
    let any_costly = journey.touchpoints().any(|(_, t)| t.costly);
    journey
        .touchpoints()
        .map(|(_, t)| {
            if any_costly {
                t.costly
            } else {
                t.kind == Kind::Conversation
            }
        })
        .collect()
}

impl Observations {
    /// The values observed in `[from, to)`.
    pub fn window(&self, from: Micros, to: Micros) -> &[f64] {
        let start = self.at.partition_point(|&at| at < from);
        let end = self.at.partition_point(|&at| at < to);
        &self.values[start..end.max(start)]
    }

    /// The KPI's value over `[from, to)` and how many observations it rests on; none without
    /// observations (a volume is 0 a day then).
    pub fn value(&self, from: Micros, to: Micros) -> Option<(f64, usize)> {
        let values = self.window(from, to);
        let n = values.len();
        match self.unit {
            Unit::PerDay => {
                let days = ((to - from) as f64 / DAY as f64).max(1.0);
                Some((n as f64 / days, n))
            }
            _ if n == 0 => None,
            Unit::Share | Unit::Score { .. } => Some((stats::mean(values), n)),
            Unit::Seconds => {
                let mut sorted = values.to_vec();
                Some((stats::summarize(&mut sorted).median, n))
            }
        }
    }

    /// The KPI over the `days` before `at` against the `days` after it (see [`Self::compare`]).
    pub fn around(&self, at: Micros, days: i64) -> Option<Comparison> {
        let span = days.saturating_mul(DAY);
        self.compare(at.saturating_sub(span), at, at.saturating_add(span))
    }

    /// The KPI before `split` (from `from`) against after it (until `to`), with the test that
    /// fits its unit; none with too few observations.
    pub fn compare(&self, from: Micros, split: Micros, to: Micros) -> Option<Comparison> {
        let (before, after) = (self.window(from, split), self.window(split, to));
        let days = |a: Micros, b: Micros| (b - a) as f64 / DAY as f64;
        match self.unit {
            Unit::Share => {
                let ones = |v: &[f64]| v.iter().filter(|&&x| x > 0.5).count();
                compare::proportions(ones(before), before.len(), ones(after), after.len())
            }
            Unit::Seconds => compare::times(before, after),
            Unit::Score { .. } => compare::scores(before, after),
            Unit::PerDay => compare::rates(
                before.len(),
                days(from, split),
                after.len(),
                days(split, to),
            ),
        }
    }
}

/// How a KPI stands against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Met,
    Missed,
    /// Measured, with no target to meet.
    Untargeted,
    /// Nothing observed in the window.
    NoData,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::Missed => "missed",
            Standing::Untargeted => "no target",
            Standing::NoData => "no data",
        }
    }
}

/// One KPI on a scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub kpi: Kpi,
    pub scope: Scope,
    /// The touchpoint's name, or the journey's title.
    pub scope_name: String,
    pub owner: String,
    /// The value over the window, its observations, and over the window before.
    pub value: Option<f64>,
    pub n: usize,
    pub previous: Option<f64>,
    pub standing: Standing,
    /// Better, worse or steady against the window before (none without both values).
    pub change: Option<Change>,
    /// One value per week, oldest first (none: nothing observed that week).
    pub trend: Vec<Option<f64>>,
    /// The card in a sentence.
    pub words: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Better,
    Worse,
    Steady,
}

/// What a scorecard covers: the window ending at `now`, the weeks of trend.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub now: Micros,
    pub days: i64,
    pub weeks: usize,
}

impl Window {
    /// The last 28 days and 12 weeks of trend, up to `now`.
    pub fn ending(now: Micros) -> Window {
        Window {
            now,
            days: 28,
            weeks: 12,
        }
    }
}

/// The scorecard of a journey's measurable KPIs over `instances`.
pub fn scorecard(journey: &Journey, instances: &[Instance], window: Window) -> Vec<Card> {
    let names: Vec<&str> = journey
        .touchpoints()
        .map(|(_, t)| t.name.as_str())
        .collect();
    definitions(journey)
        .into_iter()
        .filter_map(|(kpi, scope, owner)| {
            let observations = observe(journey, instances, kpi, scope, window.now)?;
            let scope_name = match scope {
                Scope::Journey => journey.title.clone(),
                Scope::Touchpoint(t) => names[t].to_string(),
            };
            Some(card(kpi, scope, scope_name, owner, &observations, window))
        })
        .collect()
}

/// One KPI's card from its observations.
pub fn card(
    kpi: &Kpi,
    scope: Scope,
    scope_name: String,
    owner: String,
    observations: &Observations,
    window: Window,
) -> Card {
    let span = window.days * DAY;
    let now = window.now.saturating_add(1);
    let current = observations.value(now - span, now);
    let previous = observations.value(now - 2 * span, now - span);
    // A volume of nothing is a value (none a day); any other measure needs observations.
    let counts = observations.unit == Unit::PerDay;
    let present = |found: Option<(f64, usize)>| found.filter(|(_, n)| counts || *n > 0);
    let (value, n) = match present(current) {
        Some((value, n)) => (Some(value), n),
        None => (None, 0),
    };
    let previous = present(previous).map(|(v, _)| v);
    let standing = match (value, kpi.met(value.unwrap_or(0.0))) {
        (None, _) => Standing::NoData,
        (Some(_), None) => Standing::Untargeted,
        (Some(_), Some(true)) => Standing::Met,
        (Some(_), Some(false)) => Standing::Missed,
    };
    let change = value.zip(previous).map(|(now, before)| {
        let scale = before.abs().max(now.abs()).max(f64::MIN_POSITIVE);
        if (now - before).abs() / scale < 0.02 {
            Change::Steady
        } else if (now > before) == (kpi.direction == Direction::Up) {
            Change::Better
        } else {
            Change::Worse
        }
    });
    let week = 7 * DAY;
    let trend = (0..window.weeks)
        .rev()
        .map(|k| {
            let end = now - k as i64 * week;
            present(observations.value(end - week, end)).map(|(v, _)| v)
        })
        .collect();
    let unit = observations.unit;
    let words = sentence(kpi, unit, value, n, previous, standing, change, window.days);
    Card {
        kpi: kpi.clone(),
        scope,
        scope_name,
        owner,
        value,
        n,
        previous,
        standing,
        change,
        trend,
        words,
    }
}

/// A value as people read it: `82%`, `3.4d`, `4.2`, `+35`, `12.5/day`.
pub fn show(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Share => format!("{:.0}%", value * 100.0),
        Unit::Seconds => waymark_journey::duration::format_seconds(value),
        Unit::Score { min: -100, .. } => format!("{value:+.0}"),
        Unit::Score { .. } => format!("{value:.1}"),
        Unit::PerDay if value.abs() < 1.0 && value != 0.0 => format!("{value:.2}/day"),
        Unit::PerDay => format!("{value:.1}/day"),
    }
}

#[allow(clippy::too_many_arguments)]
fn sentence(
    kpi: &Kpi,
    unit: Unit,
    value: Option<f64>,
    n: usize,
    previous: Option<f64>,
    standing: Standing,
    change: Option<Change>,
    days: i64,
) -> String {
    let Some(value) = value else {
        return format!("{}: nothing measured in the last {days} days.", kpi.name);
    };
    let mut text = format!("{}: {}", kpi.name, show(unit, value));
    if let Some(target) = kpi.target {
        let bound = match kpi.direction {
            Direction::Up => "at least",
            Direction::Down => "at most",
        };
        let verdict = if standing == Standing::Met {
            "meets"
        } else {
            "misses"
        };
        text.push_str(&format!(
            ", {verdict} the target of {bound} {}",
            format_value(unit, target)
        ));
    }
    text.push_str(&format!(" ({n} observed in the last {days} days)"));
    if let (Some(previous), Some(change)) = (previous, change) {
        let how = match change {
            Change::Better => "better than",
            Change::Worse => "worse than",
            Change::Steady => "about the same as",
        };
        text.push_str(&format!(
            "; {how} the {days} days before ({})",
            show(unit, previous)
        ));
    }
    text.push('.');
    text
}

/// A before-and-after comparison in words: whether the KPI moved, which way, by how much, with
/// the interval and the test.
pub fn verdict(kpi: &Kpi, unit: Unit, comparison: Option<&Comparison>) -> String {
    let Some(c) = comparison else {
        return format!(
            "{}: too few observations on one side to tell (at least {} are needed on each).",
            kpi.name,
            compare::MIN_SAMPLE
        );
    };
    let difference = |d: f64| match unit {
        Unit::Share => format!("{:+.1} points", d * 100.0),
        Unit::PerDay => format!("{d:+.1}/day"),
        Unit::Seconds => {
            let sign = if d < 0.0 { "-" } else { "+" };
            format!(
                "{sign}{}",
                waymark_journey::duration::format_seconds(d.abs())
            )
        }
        _ => format!("{d:+.2}"),
    };
    let better = (c.difference > 0.0) == (kpi.direction == Direction::Up);
    let head = if c.moved() {
        format!(
            "{} moved {}: {} → {}",
            kpi.name,
            if better {
                "for the better"
            } else {
                "for the worse"
            },
            show(unit, c.before),
            show(unit, c.after)
        )
    } else {
        format!(
            "{} did not move measurably: {} → {}",
            kpi.name,
            show(unit, c.before),
            show(unit, c.after)
        )
    };
    let p = if c.p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {:.3}", c.p)
    };
    format!(
        "{head} ({}; 95% interval {} to {}; {}, {p}; {} before, {} after).",
        difference(c.difference),
        difference(c.low),
        difference(c.high),
        c.test.name(),
        c.n_before,
        c.n_after
    )
}
