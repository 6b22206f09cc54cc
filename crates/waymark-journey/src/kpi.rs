//! KPIs as measurable definitions, written on one line:
//!
//! ```text
//! Approval lead time: median-time <= 2d owner Customer Success
//! Requests completed: completion >= 90%
//! Request to payment: conversion preapproval-form -> payment-made >= 80%
//! ```
//!
//! `NAME: MEASURE [FROM -> TO] [>= or <= TARGET] [owner OWNER]`. The same line is read from a
//! journey file, from the editor's "one per line" field, and written back by [`Kpi`]'s
//! `Display`. A line without a known measure after its colon is a note: kept, shown, not measured.

use std::fmt;

use crate::duration;

/// What a KPI measures. Shares are fractions (0.8 for 80 %), times seconds, scores as answered,
/// volumes per day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// The share of finished instances that completed the journey (at a touchpoint: of those that
    /// reached it).
    Completion,
    /// The share of instances at `from` (a touchpoint KPI's own touchpoint when not given) that
    /// went on to `to`.
    Conversion {
        from: Option<String>,
        to: String,
    },
    /// The share over target: of instances with a visit over its touchpoint's target (at a
    /// touchpoint: of its visits).
    OverTarget,
    /// The median time: of completed instances, of a touchpoint's visits until the journey moved
    /// on, or from the first visit of `from` to the first later visit of `to`.
    MedianTime {
        between: Option<(String, String)>,
    },
    /// The share of instances that came back to a contact touchpoint, as the journey report
    /// counts it (at a touchpoint: of those that visited it, the share that came back).
    RepeatContacts,
    /// Survey scores: CSAT (mean of 1–5), NPS (promoters minus detractors, −100 to 100), CES
    /// (mean of 1–7, lower is easier).
    Csat,
    Nps,
    Ces,
    /// Instances started (at a touchpoint: instances that visited it), per day.
    Volume,
}

/// The unit a measure's values and targets are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Share,
    Seconds,
    Score { min: i32, max: i32 },
    PerDay,
}

/// The measures' names, as written.
pub const MEASURES: [&str; 9] = [
    "completion",
    "conversion",
    "over-target",
    "median-time",
    "repeat-contacts",
    "csat",
    "nps",
    "ces",
    "volume",
];

impl Measure {
    pub fn name(&self) -> &'static str {
        match self {
            Measure::Completion => "completion",
            Measure::Conversion { .. } => "conversion",
            Measure::OverTarget => "over-target",
            Measure::MedianTime { .. } => "median-time",
            Measure::RepeatContacts => "repeat-contacts",
            Measure::Csat => "csat",
            Measure::Nps => "nps",
            Measure::Ces => "ces",
            Measure::Volume => "volume",
        }
    }

    pub fn unit(&self) -> Unit {
        match self {
            Measure::Completion
            | Measure::Conversion { .. }
            | Measure::OverTarget
            | Measure::RepeatContacts => Unit::Share,
            Measure::MedianTime { .. } => Unit::Seconds,
            Measure::Csat => Unit::Score { min: 1, max: 5 },
            Measure::Nps => Unit::Score {
                min: -100,
                max: 100,
            },
            Measure::Ces => Unit::Score { min: 1, max: 7 },
            Measure::Volume => Unit::PerDay,
        }
    }

    /// Which way is better when no target says so.
    pub fn better(&self) -> Direction {
        match self {
            Measure::OverTarget
            | Measure::MedianTime { .. }
            | Measure::RepeatContacts
            | Measure::Ces => Direction::Down,
            _ => Direction::Up,
        }
    }

    /// In words, for people: "median time", "conversion from a to b".
    pub fn describe(&self) -> String {
        match self {
            Measure::Conversion {
                from: Some(from),
                to,
            } => {
                format!("conversion from {from} to {to}")
            }
            Measure::Conversion { from: None, to } => format!("conversion to {to}"),
            Measure::MedianTime {
                between: Some((from, to)),
            } => format!("median time from {from} to {to}"),
            Measure::Csat => "CSAT".to_string(),
            Measure::Nps => "NPS".to_string(),
            Measure::Ces => "CES".to_string(),
            other => other.name().replace('-', " "),
        }
    }
}

/// Which way a KPI should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Higher is better: the target is a floor (`>=`).
    Up,
    /// Lower is better: the target is a ceiling (`<=`).
    Down,
}

/// A KPI as a journey file defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    /// Unique within the journey, from the name.
    pub id: String,
    pub name: String,
    /// None: a note that names what matters but says nothing Waymark can measure.
    pub measure: Option<Measure>,
    /// In the measure's unit (see [`Measure::unit`]).
    pub target: Option<f64>,
    pub direction: Direction,
    /// Who answers for it (a department or a person); none: the touchpoint's department, or the
    /// journey's owner.
    pub owner: Option<String>,
    /// For a completion or a conversion: how long after its start an instance has to get there
    /// (`within 14d`); none: the journey's inactivity timeout.
    pub within: Option<std::time::Duration>,
}

impl Eq for Kpi {}

impl Kpi {
    /// Whether a value meets the target (none without a target).
    pub fn met(&self, value: f64) -> Option<bool> {
        let target = self.target?;
        Some(match self.direction {
            Direction::Up => value >= target,
            Direction::Down => value <= target,
        })
    }

    /// The target as written after the operator: `80%`, `2d`, `4.2`, `5/day`.
    pub fn target_text(&self) -> Option<String> {
        let target = self.target?;
        let unit = self.measure.as_ref()?.unit();
        Some(format_value(unit, target))
    }
}

/// A value in a unit, as written: `80%`, `2d`, `4.2`, `5/day`.
pub fn format_value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Share => format!("{}%", trim(value * 100.0)),
        Unit::Seconds => duration::format(std::time::Duration::from_secs_f64(value.max(0.0))),
        Unit::Score { .. } => trim(value),
        Unit::PerDay => format!("{}/day", trim(value)),
    }
}

/// A number without trailing zeros, at most four decimals.
fn trim(value: f64) -> String {
    let text = format!("{:.4}", value);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

impl fmt::Display for Kpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(measure) = &self.measure else {
            return write!(f, "{}", self.name);
        };
        write!(f, "{}: {}", self.name, measure.name())?;
        match measure {
            Measure::Conversion { from, to } => match from {
                Some(from) => write!(f, " {from} -> {to}")?,
                None => write!(f, " -> {to}")?,
            },
            Measure::MedianTime {
                between: Some((from, to)),
            } => write!(f, " {from} -> {to}")?,
            _ => {}
        }
        if let Some(within) = self.within {
            write!(f, " within {}", duration::format(within))?;
        }
        if let Some(target) = self.target_text() {
            let op = match self.direction {
                Direction::Up => ">=",
                Direction::Down => "<=",
            };
            write!(f, " {op} {target}")?;
        }
        if let Some(owner) = &self.owner {
            write!(f, " owner {owner}")?;
        }
        Ok(())
    }
}

/// A problem in a KPI line: where in the line (a byte offset), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: usize,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

impl Problem {
    fn new(at: usize, code: &'static str, message: String, hint: impl Into<String>) -> Problem {
        Problem {
            at,
            code,
            message,
            hint: hint.into(),
        }
    }
}

const SYNTAX: &str = "write `NAME: MEASURE [FROM -> TO] [>= or <= TARGET] [owner OWNER]`, e.g. `Approval lead time: median-time <= 2d`";

/// Reads one KPI line. The id is left empty: the journey gives ids once it knows every name.
pub fn parse(text: &str) -> Result<Kpi, Problem> {
    let note = |text: &str| Kpi {
        id: String::new(),
        name: text.trim().to_string(),
        measure: None,
        target: None,
        direction: Direction::Up,
        owner: None,
        within: None,
    };
    let Some(colon) = text.find(':') else {
        return Ok(note(text));
    };
    let name = text[..colon].trim();
    let rest_at = colon + 1;
    let rest = &text[rest_at..];
    let mut words = Words::new(rest, rest_at);
    let Some((measure_at, first)) = words.next() else {
        return Ok(note(text));
    };
    let known = MEASURES.contains(&first);
    if !known {
        if let Some(close) = crate::did_you_mean(first, MEASURES.iter().copied()) {
            return Err(Problem::new(
                measure_at,
                "unknown-measure",
                format!("`{first}` is not a measure Waymark knows"),
                format!(
                    "did you mean `{close}`? the measures are {}",
                    crate::one_of(&MEASURES)
                ),
            ));
        }
        // Words after a colon that name no measure: a note such as "Lead time: days to approve".
        return Ok(note(text));
    }
    if name.is_empty() {
        return Err(Problem::new(
            0,
            "kpi-name",
            "the KPI has no name before its `:`".to_string(),
            SYNTAX,
        ));
    }
    let (between, after_between) = pair(&mut words)?;
    let has_between = between.is_some();
    let measure = match first {
        "completion" => Measure::Completion,
        "conversion" => match between {
            Some((from, to)) => Measure::Conversion { from, to },
            None => {
                return Err(Problem::new(
                    measure_at,
                    "kpi-conversion",
                    "a conversion needs the touchpoint it goes to".to_string(),
                    "write `conversion FROM -> TO` with two touchpoint ids (at a touchpoint, `conversion -> TO`)",
                ));
            }
        },
        "over-target" => Measure::OverTarget,
        "median-time" => Measure::MedianTime {
            between: match between {
                Some((Some(from), to)) => Some((from, to)),
                Some((None, _)) => {
                    return Err(Problem::new(
                        measure_at,
                        "kpi-between",
                        "a median time between touchpoints needs both of them".to_string(),
                        "write `median-time FROM -> TO`, or leave the touchpoints out",
                    ));
                }
                None => None,
            },
        },
        "repeat-contacts" => Measure::RepeatContacts,
        "csat" => Measure::Csat,
        "nps" => Measure::Nps,
        "ces" => Measure::Ces,
        _ => Measure::Volume,
    };
    if has_between
        && !matches!(
            measure,
            Measure::Conversion { .. } | Measure::MedianTime { .. }
        )
    {
        return Err(Problem::new(
            after_between,
            "kpi-between",
            format!(
                "`{}` is not measured between two touchpoints",
                measure.name()
            ),
            "only `conversion` and `median-time` take `FROM -> TO`",
        ));
    }
    let mut kpi = Kpi {
        id: String::new(),
        name: name.to_string(),
        direction: measure.better(),
        measure: Some(measure),
        target: None,
        owner: None,
        within: None,
    };
    while let Some((at, word)) = words.next() {
        match word {
            "within" => {
                let shares = matches!(
                    kpi.measure,
                    Some(Measure::Completion | Measure::Conversion { .. })
                );
                if !shares {
                    return Err(Problem::new(
                        at,
                        "kpi-within",
                        "only a completion or a conversion is counted within a time".to_string(),
                        "leave `within` out, or use it with `completion` or `conversion`",
                    ));
                }
                let text = words.until_any(&[">=", "≥", ">", "<=", "≤", "<", "owner"]);
                let Some((within_at, text)) = text else {
                    return Err(Problem::new(
                        at,
                        "kpi-within",
                        "`within` has no time after it".to_string(),
                        "write how long an instance has to get there, e.g. `within 14d`",
                    ));
                };
                match duration::parse(text.trim()) {
                    Ok(d) if !d.is_zero() => kpi.within = Some(d),
                    _ => {
                        return Err(Problem::new(
                            within_at,
                            "kpi-within",
                            format!("`{}` is not a time", text.trim()),
                            "write how long an instance has to get there, e.g. `within 14d`",
                        ));
                    }
                }
            }
            ">=" | "≥" | ">" | "<=" | "≤" | "<" => {
                if kpi.target.is_some() {
                    return Err(Problem::new(
                        at,
                        "kpi-target",
                        "the KPI has two targets".to_string(),
                        "give one target, e.g. `>= 80%`",
                    ));
                }
                kpi.direction = if word.starts_with(['>', '≥']) {
                    Direction::Up
                } else {
                    Direction::Down
                };
                let Some((target_at, target)) = words.until_any(&["owner", "within"]) else {
                    return Err(Problem::new(
                        at,
                        "kpi-target",
                        format!("`{word}` has no target after it"),
                        SYNTAX,
                    ));
                };
                let measure = kpi.measure.as_ref().map(Measure::unit);
                kpi.target = Some(target_value(
                    measure.unwrap_or(Unit::Share),
                    target,
                    target_at,
                )?);
            }
            "owner" => {
                let owner = words.rest().map(|(_, owner)| owner.trim().to_string());
                match owner {
                    Some(owner) if !owner.is_empty() => kpi.owner = Some(owner),
                    _ => {
                        return Err(Problem::new(
                            at,
                            "kpi-owner",
                            "`owner` names nobody".to_string(),
                            "write the department or person after it, e.g. `owner Finance`",
                        ));
                    }
                }
            }
            other => {
                return Err(Problem::new(
                    at,
                    "kpi-syntax",
                    format!("`{other}` was not expected here"),
                    SYNTAX,
                ));
            }
        }
    }
    Ok(kpi)
}

/// An optional `[FROM] -> TO` after the measure; and the offset after it.
type Between = Option<(Option<String>, String)>;

fn pair(words: &mut Words<'_>) -> Result<(Between, usize), Problem> {
    let start = words.offset();
    let mut look = words.clone();
    let (first, second) = (look.next(), look.next());
    let arrow = |w: &str| w == "->" || w == "→";
    let (from, to_at) = match (first, second) {
        (Some((_, a)), Some((_, b))) if arrow(b) && !is_operator(a) && a != "owner" => {
            (Some(a.to_string()), 2)
        }
        (Some((_, a)), _) if arrow(a) => (None, 1),
        _ => return Ok((None, start)),
    };
    for _ in 0..to_at {
        words.next();
    }
    match words.next() {
        Some((_, to)) if !is_operator(to) && to != "owner" => {
            Ok((Some((from, to.to_string())), words.offset()))
        }
        _ => Err(Problem::new(
            words.offset(),
            "kpi-between",
            "`->` has no touchpoint after it".to_string(),
            "write the id of the touchpoint it goes to, e.g. `-> payment-made`",
        )),
    }
}

fn is_operator(word: &str) -> bool {
    matches!(word, ">=" | "≥" | ">" | "<=" | "≤" | "<")
}

/// A target in a measure's unit, or what is wrong with it.
fn target_value(unit: Unit, text: &str, at: usize) -> Result<f64, Problem> {
    let text = text.trim();
    let number = |t: &str| t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match unit {
        Unit::Share => match text.strip_suffix('%').and_then(number) {
            Some(percent) if (0.0..=100.0).contains(&percent) => Ok(percent / 100.0),
            _ => Err(Problem::new(
                at,
                "kpi-target",
                format!("`{text}` is not a share"),
                "write a percentage from 0% to 100%, e.g. `80%`",
            )),
        },
        Unit::Seconds => duration::parse(text).map(|d| d.as_secs_f64()).map_err(|_| {
            Problem::new(
                at,
                "kpi-target",
                format!("`{text}` is not a time"),
                "write a number and a unit, e.g. `30m`, `2d` or `1h 30m`",
            )
        }),
        Unit::Score { min, max } => match number(text) {
            Some(value) if value >= f64::from(min) && value <= f64::from(max) => Ok(value),
            _ => Err(Problem::new(
                at,
                "kpi-target",
                format!("`{text}` is not a score from {min} to {max}"),
                format!(
                    "write a number from {min} to {max}, e.g. `{}`",
                    (min + max) / 2
                ),
            )),
        },
        Unit::PerDay => {
            let bare = text
                .strip_suffix("/day")
                .or_else(|| text.strip_suffix("per day"))
                .unwrap_or(text);
            match number(bare) {
                Some(value) if value >= 0.0 => Ok(value),
                _ => Err(Problem::new(
                    at,
                    "kpi-target",
                    format!("`{text}` is not a number per day"),
                    "write how many a day, e.g. `40/day`",
                )),
            }
        }
    }
}

/// Whitespace-separated words with their byte offsets in the whole line.
#[derive(Clone)]
struct Words<'a> {
    text: &'a str,
    base: usize,
    pos: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str, base: usize) -> Self {
        Words { text, base, pos: 0 }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        self.skip_space();
        let rest = &self.text[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let at = self.offset();
        self.pos += len;
        Some((at, &rest[..len]))
    }

    /// The words up to any of `stops` (not taken) or the end, as one text.
    fn until_any(&mut self, stops: &[&str]) -> Option<(usize, &'a str)> {
        self.skip_space();
        let start = self.pos;
        let mut end = start;
        let mut probe = self.clone();
        while let Some((at, word)) = probe.next() {
            if stops.contains(&word) {
                break;
            }
            end = at - self.base + word.len();
            self.pos = probe.pos;
        }
        (end > start).then(|| (self.base + start, &self.text[start..end]))
    }

    /// Everything left.
    fn rest(&mut self) -> Option<(usize, &'a str)> {
        self.skip_space();
        let at = self.offset();
        let rest = &self.text[self.pos..];
        self.pos = self.text.len();
        (!rest.is_empty()).then_some((at, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Kpi {
        parse(text).unwrap_or_else(|p| panic!("{text}: {p:?}"))
    }

    #[test]
    fn lines_read_and_write_back_the_same() {
        for line in [
            "Approval lead time: median-time <= 2d owner Customer Success",
            "Requests completed: completion >= 90%",
            "Request to payment: conversion preapproval-form -> payment-made >= 80%",
            "Paid in time: conversion -> payment-made >= 75.5%",
            "Paid within a fortnight: conversion form -> paid within 14d >= 60%",
            "Completed in a month: completion within 30d >= 80% owner HR",
            "Approval to payment: median-time manager-approval -> payment-made <= 7d",
            "Late approvals: over-target <= 20%",
            "Calls again: repeat-contacts <= 10%",
            "Training CSAT: csat >= 4.2",
            "Recommend: nps >= 30",
            "Effort: ces <= 3",
            "Requests: volume >= 40/day",
            "Requests: volume",
            "time to find the form",
            "Lead time: days to approve",
        ] {
            assert_eq!(read(line).to_string(), line, "{line}");
        }
    }

    #[test]
    fn targets_are_read_in_the_measures_unit() {
        let kpi = read("Late: over-target < 20%");
        assert_eq!(kpi.target, Some(0.2));
        assert_eq!(kpi.direction, Direction::Down);
        assert_eq!(kpi.met(0.19), Some(true));
        assert_eq!(kpi.met(0.21), Some(false));
        assert_eq!(read("T: median-time <= 1h 30m").target, Some(5400.0));
        assert_eq!(read("V: volume >= 5 per day").target, Some(5.0));
        assert_eq!(read("Done: completion").direction, Direction::Up);
        assert_eq!(read("Done: completion").target, None);
        assert_eq!(read("Effort: ces").direction, Direction::Down);
    }

    #[test]
    fn problems_name_their_place_and_a_fix() {
        let problem = |text: &str| parse(text).expect_err(text);
        let p = problem("Lead: median-tme <= 2d");
        assert_eq!((p.at, p.code), (6, "unknown-measure"));
        assert!(p.hint.contains("median-time"), "{}", p.hint);
        let p = problem("Done: completion >= 90");
        assert_eq!((p.at, p.code), (20, "kpi-target"));
        assert!(p.hint.contains("80%"));
        assert_eq!(problem("C: csat >= 6").code, "kpi-target");
        assert_eq!(problem("T: median-time <= soon").code, "kpi-target");
        assert_eq!(problem("Go: conversion >= 5%").code, "kpi-conversion");
        assert_eq!(problem("Go: csat a -> b").code, "kpi-between");
        assert_eq!(problem("Go: conversion a ->").code, "kpi-between");
        assert_eq!(problem("Go: completion >=").code, "kpi-target");
        assert_eq!(problem("Go: completion owner").code, "kpi-owner");
        assert_eq!(problem("Go: completion soon").code, "kpi-syntax");
        assert_eq!(problem(": completion").code, "kpi-name");
        assert_eq!(problem("Go: completion >= 5% >= 6%").code, "kpi-target");
        assert_eq!(problem("Go: csat within 2d").code, "kpi-within");
        assert_eq!(problem("Go: completion within soon").code, "kpi-within");
        assert_eq!(problem("Go: completion within").code, "kpi-within");
    }
}
