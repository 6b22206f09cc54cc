//! Alert rules on KPIs: when a KPI crosses a bound, worsens against the period before, or leaves
//! what its own history leads to expect. A rule is checked bucket by bucket (a day, or a week
//! for weekly anomalies) on a KPI's observations ([`crate::journey::kpis::Observations`]); buckets
//! in a row that fire are one *episode*, so a drift that lasts gives one alert, not one a day.
//!
//! **Anomalies** are found against the KPI's own seasonal history, robustly (the median and the
//! median absolute deviation are hardly moved by the outliers they are meant to find):
//!
//! 1. the bucket's value `v` (a day's, or a week's);
//! 2. the history: the `HISTORY` seasons before it (8 weeks): for a weekday season, the same
//!    weekday's median over those weeks is its *expected* value; for a weekly season, the median
//!    of the 8 weeks;
//! 3. the residuals of the history (each bucket's value minus its season's median), and their
//!    scale: 1.4826 × their median absolute deviation (which estimates the standard deviation when
//!    the noise is normal), at least 1 % of the expected value so a flat history does not make
//!    every wobble an anomaly;
//!    When the bucket's own season is noisier (a quiet weekend day), its own median absolute
//!    deviation is the scale; and a share is never judged finer than its sampling error
//!    √(p(1−p)/n) on the bucket's observations;
//! 4. the bucket fires when `(v − expected) / scale` exceeds the sensitivity (3.5 by default) in
//!    the KPI's bad direction (a completion rate falling, a time rising). A history with fewer
//!    than half its buckets measured says nothing.

use std::fmt;

use waymark_eventlog::Micros;
use waymark_journey::kpi::{Direction, Unit, format_value};

use crate::journey::kpis::Observations;
use crate::stats;

const DAY: Micros = 86_400_000_000;
/// Seasons of history an anomaly is judged against.
pub const HISTORY: usize = 8;
/// The default sensitivity of an anomaly rule, in robust deviations.
pub const SENSITIVITY: f64 = 3.5;
/// The default window of a threshold or change rule, in days.
pub const WINDOW_DAYS: i64 = 7;
/// Below this many observations a bucket's value is not judged (volumes are always judged).
pub const MIN_OBSERVATIONS: usize = 5;

/// What a rule watches for.
#[derive(Debug, Clone, PartialEq)]
pub enum Watch {
    /// The KPI over the window is below (or above) a bound, in the KPI's unit.
    Below(f64),
    Above(f64),
    /// The KPI over the window is worse than over the window before by this share of it
    /// (0.2: 20 % worse).
    WorseBy(f64),
    /// The bucket's value leaves its seasonal expectation by more than `sensitivity` robust
    /// deviations, in the bad direction.
    Anomaly {
        season: Season,
        sensitivity: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    /// Daily buckets, each judged against the same weekday of the weeks before.
    Weekday,
    /// Weekly buckets, judged against the weeks before.
    Week,
}

/// A rule: what it watches for, over which window.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub watch: Watch,
    /// Days the KPI is measured over for a bound or a change (the bucket, for anomalies).
    pub window_days: i64,
}

impl Rule {
    /// Reads a rule as people write it, in the KPI's unit: `below 80%`, `above 2d over 14d`,
    /// `worse by 20%`, `anomaly`, `anomaly by week at 4`.
    pub fn parse(text: &str, unit: Unit) -> Result<Rule, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (body, window_days) = match words.iter().position(|w| *w == "over") {
            Some(at) => {
                let days = words[at + 1..].join(" ");
                let duration = waymark_journey::duration::parse(&days).map_err(|_| {
                    format!("`{days}` is not a number of days; write e.g. `over 7d`")
                })?;
                let days = (duration.as_secs() / 86_400) as i64;
                if !(1..=366).contains(&days) {
                    return Err("the window is 1 to 366 days, e.g. `over 7d`".to_string());
                }
                (&words[..at], days)
            }
            None => (&words[..], WINDOW_DAYS),
        };
        let target = |text: &str| -> Result<f64, String> {
            let line = format!("x: {} >= {text}", unit_measure(unit));
            waymark_journey::kpi::parse(&line)
                .map_err(|p| p.message)
                .and_then(|k| k.target.ok_or_else(|| "no value".to_string()))
        };
        let watch = match body {
            ["below", value @ ..] if !value.is_empty() => Watch::Below(target(&value.join(" "))?),
            ["above", value @ ..] if !value.is_empty() => Watch::Above(target(&value.join(" "))?),
            ["worse", "by", share] => {
                let percent = share
                    .strip_suffix('%')
                    .and_then(|p| p.parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && p.is_finite())
                    .ok_or_else(|| {
                        format!("`{share}` is not a percentage; write e.g. `worse by 20%`")
                    })?;
                Watch::WorseBy(percent / 100.0)
            }
            ["anomaly", rest @ ..] => {
                let mut season = Season::Weekday;
                let mut sensitivity = SENSITIVITY;
                let mut rest = rest.iter();
                while let Some(word) = rest.next() {
                    match (*word, rest.next()) {
                        ("by", Some(&"weekday")) => season = Season::Weekday,
                        ("by", Some(&"week")) => season = Season::Week,
                        ("at", Some(k)) => {
                            sensitivity = k
                                .parse::<f64>()
                                .ok()
                                .filter(|k| *k > 0.0 && k.is_finite())
                                .ok_or_else(|| {
                                    format!(
                                        "`{k}` is not a number of deviations; write e.g. `at 3.5`"
                                    )
                                })?;
                        }
                        _ => {
                            return Err(format!(
                                "`{word}` was not expected; write `anomaly [by weekday|by week] [at 3.5]`"
                            ));
                        }
                    }
                }
                Watch::Anomaly {
                    season,
                    sensitivity,
                }
            }
            _ => {
                return Err(format!(
                    "`{text}` is not a rule; write `below VALUE`, `above VALUE`, `worse by 20%` or `anomaly`, each optionally `over 7d`"
                ));
            }
        };
        Ok(Rule { watch, window_days })
    }

    /// The rule in words, for people: "below 80% over 7 days".
    pub fn describe(&self, unit: Unit) -> String {
        let window = format!("over {} days", self.window_days);
        match &self.watch {
            Watch::Below(v) => format!("below {} {window}", format_value(unit, *v)),
            Watch::Above(v) => format!("above {} {window}", format_value(unit, *v)),
            Watch::WorseBy(share) => format!(
                "{}% worse than the {} days before",
                trim(share * 100.0),
                self.window_days
            ),
            Watch::Anomaly {
                season,
                sensitivity,
            } => format!(
                "an anomaly against the same {} of the {HISTORY} weeks before (at {} deviations)",
                match season {
                    Season::Weekday => "weekday",
                    Season::Week => "weeks",
                },
                trim(*sensitivity)
            ),
        }
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A measure of the unit, so a rule's value reads as a KPI target does.
fn unit_measure(unit: Unit) -> &'static str {
    match unit {
        Unit::Share => "completion",
        Unit::Seconds => "median-time",
        Unit::Score { min: -100, .. } => "nps",
        Unit::Score { max: 7, .. } => "ces",
        Unit::Score { .. } => "csat",
        Unit::PerDay => "volume",
    }
}

impl fmt::Display for Season {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Season::Weekday => "weekday",
            Season::Week => "week",
        })
    }
}

/// One bucket checked: its start, the value, what was expected (for anomalies, or the bound or
/// the value before), and whether it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub start: Micros,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub fired: bool,
}

/// Buckets in a row that fired: one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub start: Micros,
    /// The start of its last bucket that fired.
    pub last: Micros,
    /// Buckets that fired in it.
    pub buckets: usize,
    /// The worst value in it, and what was expected then.
    pub worst: f64,
    pub expected: Option<f64>,
}

/// Checks `rule` on every bucket whose start lies in `[from, to)`.
pub fn check(
    observations: &Observations,
    direction: Direction,
    rule: &Rule,
    from: Micros,
    to: Micros,
) -> Vec<Check> {
    let bucket = match rule.watch {
        Watch::Anomaly {
            season: Season::Week,
            ..
        } => 7 * DAY,
        _ => DAY,
    };
    let first = from.div_euclid(DAY) * DAY;
    let mut checks = Vec::new();
    let mut start = first;
    while start < to {
        checks.push(check_one(observations, direction, rule, start, bucket));
        start += bucket;
    }
    checks
}

/// A value over `[from, to)` that has enough observations to be judged.
fn judged(observations: &Observations, from: Micros, to: Micros) -> Option<f64> {
    let (value, n) = observations.value(from, to)?;
    (observations.unit == Unit::PerDay || n >= MIN_OBSERVATIONS).then_some(value)
}

fn worse(direction: Direction, value: f64, than: f64) -> bool {
    match direction {
        Direction::Up => value < than,
        Direction::Down => value > than,
    }
}

fn check_one(
    observations: &Observations,
    direction: Direction,
    rule: &Rule,
    start: Micros,
    bucket: Micros,
) -> Check {
    let end = start + bucket;
    let window = rule.window_days * DAY;
    let (value, expected, fired) = match &rule.watch {
        Watch::Below(bound) | Watch::Above(bound) => {
            let value = judged(observations, end - window, end);
            let below = matches!(rule.watch, Watch::Below(_));
            let fired = value.is_some_and(|v| if below { v < *bound } else { v > *bound });
            (value, Some(*bound), fired)
        }
        Watch::WorseBy(share) => {
            let value = judged(observations, end - window, end);
            let before = judged(observations, end - 2 * window, end - window);
            let fired = match (value, before) {
                (Some(v), Some(b)) => {
                    let change = (v - b).abs() / b.abs().max(f64::MIN_POSITIVE);
                    worse(direction, v, b) && change >= *share
                }
                _ => false,
            };
            (value, before, fired)
        }
        Watch::Anomaly {
            season,
            sensitivity,
        } => {
            let value = judged(observations, start, end);
            let n = observations.window(start, end).len().max(1) as f64;
            let (period, phases) = match season {
                Season::Weekday => (DAY, 7),
                Season::Week => (7 * DAY, 1),
            };
            let history: Vec<Option<f64>> = (1..=HISTORY * phases)
                .rev()
                .map(|k| {
                    let at = start - k as i64 * period;
                    judged(observations, at, at + period)
                })
                .collect();
            match (value, expectation(&history, phases)) {
                (Some(v), Some((expected, scale))) => {
                    // A share measured on few observations wobbles by its sampling error.
                    let sampling = match observations.unit {
                        Unit::Share => (expected * (1.0 - expected) / n).max(0.0).sqrt(),
                        _ => 0.0,
                    };
                    let deviations = (v - expected) / scale.max(sampling);
                    let bad = match direction {
                        Direction::Up => -deviations,
                        Direction::Down => deviations,
                    };
                    (Some(v), Some(expected), bad > *sensitivity)
                }
                (value, found) => (value, found.map(|f| f.0), false),
            }
        }
    };
    Check {
        start,
        value,
        expected,
        fired,
    }
}

/// The expected value of the bucket after `history` (oldest first, `phases` buckets a season)
/// and the robust scale of the history's residuals; none when under half of it was measured.
fn expectation(history: &[Option<f64>], phases: usize) -> Option<(f64, f64)> {
    let measured = history.iter().filter(|v| v.is_some()).count();
    if measured * 2 < history.len() {
        return None;
    }
    // The phase of the bucket after the history is the history's first phase again.
    let median_of_phase = |phase: usize| -> Option<f64> {
        let mut values: Vec<f64> = history
            .iter()
            .enumerate()
            .filter(|(k, _)| k % phases == phase)
            .filter_map(|(_, v)| *v)
            .collect();
        (!values.is_empty()).then(|| stats::summarize(&mut values).median)
    };
    let medians: Vec<Option<f64>> = (0..phases).map(median_of_phase).collect();
    let mut residuals: Vec<f64> = history
        .iter()
        .enumerate()
        .filter_map(|(k, v)| Some(v.as_ref()? - medians[k % phases]?))
        .collect();
    let center = stats::summarize(&mut residuals.clone()).median;
    for r in &mut residuals {
        *r = (*r - center).abs();
    }
    let mad = stats::summarize(&mut residuals).median;
    let phase = history.len() % phases;
    let expected = medians[phase]?;
    // The bucket's own season may be noisier than the rest (a quiet weekend day): its own
    // spread counts when it is the larger.
    let mut own: Vec<f64> = history
        .iter()
        .enumerate()
        .filter(|(k, _)| k % phases == phase)
        .filter_map(|(_, v)| v.map(|v| (v - expected).abs()))
        .collect();
    let own_mad = if own.is_empty() {
        0.0
    } else {
        stats::summarize(&mut own).median
    };
    let scale = (1.4826 * mad.max(own_mad))
        .max(0.01 * expected.abs())
        .max(1e-9);
    Some((expected, scale))
}

/// Quiet buckets after which an episode is over: a KPI that wavers around its bound gives one
/// alert, not one each time it crosses.
pub const QUIET: usize = 3;

/// Fired buckets, as episodes: a run of them, with gaps of fewer than [`QUIET`] quiet buckets.
pub fn episodes(checks: &[Check], direction: Direction) -> Vec<Episode> {
    let mut found: Vec<Episode> = Vec::new();
    let mut quiet = usize::MAX;
    for check in checks {
        if !check.fired {
            quiet = quiet.saturating_add(1);
            continue;
        }
        let value = check.value.unwrap_or(0.0);
        let ongoing = quiet < QUIET;
        quiet = 0;
        match found.last_mut() {
            Some(episode) if ongoing => {
                episode.last = check.start;
                episode.buckets += 1;
                if worse(direction, value, episode.worst) {
                    episode.worst = value;
                    episode.expected = check.expected;
                }
            }
            _ => found.push(Episode {
                start: check.start,
                last: check.start,
                buckets: 1,
                worst: value,
                expected: check.expected,
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_in_the_kpis_unit_and_name_their_mistakes() {
        let rule = Rule::parse("below 80%", Unit::Share).expect("rule");
        assert_eq!(rule.watch, Watch::Below(0.8));
        assert_eq!(rule.window_days, 7);
        let rule = Rule::parse("above 2d over 14d", Unit::Seconds).expect("rule");
        assert_eq!(
            (rule.watch, rule.window_days),
            (Watch::Above(172_800.0), 14)
        );
        assert_eq!(
            Rule::parse("worse by 20%", Unit::Share)
                .expect("rule")
                .watch,
            Watch::WorseBy(0.2)
        );
        assert_eq!(
            Rule::parse("anomaly by week at 4", Unit::PerDay)
                .expect("rule")
                .watch,
            Watch::Anomaly {
                season: Season::Week,
                sensitivity: 4.0
            }
        );
        assert!(
            Rule::parse("below 80", Unit::Share)
                .expect_err("no %")
                .contains("share")
        );
        assert!(
            Rule::parse("sometimes", Unit::Share)
                .expect_err("?")
                .contains("is not a rule")
        );
        assert!(Rule::parse("anomaly by month", Unit::Share).is_err());
        assert!(Rule::parse("below 80% over soon", Unit::Share).is_err());
        assert_eq!(
            Rule::parse("below 4 over 14d", Unit::Score { min: 1, max: 5 })
                .expect("rule")
                .describe(Unit::Score { min: 1, max: 5 }),
            "below 4 over 14 days"
        );
    }
}
