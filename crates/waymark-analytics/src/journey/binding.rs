//! Binding: each event goes to the first touchpoint (in listing order) one of whose event rules it
//! matches; and the survey answers events carry.

use std::collections::HashMap;

use lasso::Key;
use waymark_eventlog::{EventLog, Symbol, Value};
use waymark_journey::{Journey, ValueMatch};

use super::{ScoreKind, UnknownTouchpoint};

/// A touchpoint's rule resolved against a log: the touchpoint, and its property conditions (a
/// key the log lacks can never match).
type Rule<'j> = (usize, Vec<(Option<Symbol>, &'j ValueMatch)>);

/// A journey's event rules resolved against one log.
pub struct Binding<'j> {
    pub(super) journey: &'j Journey,
    /// Per touchpoint (listing order): its stage index.
    pub(super) stage_of: Vec<usize>,
    /// By activity symbol: (touchpoint, property conditions) in listing order.
    rules: Vec<Vec<Rule<'j>>>,
    /// Per touchpoint: whether a rule of it names an activity the log has.
    pub(super) bound: Vec<bool>,
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

    pub(super) fn touchpoint_count(&self) -> usize {
        self.stage_of.len()
    }

    /// The first touchpoint (in listing order) that the log's events can reach.
    pub(super) fn first_bound(&self) -> Option<usize> {
        self.bound.iter().position(|&b| b)
    }
}

/// Touchpoint ids → indexes, refusing unknown ones.
pub(super) fn indexes(
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
pub(super) struct ScoreReader<'j> {
    ids: HashMap<&'j str, usize>,
    keys: Vec<(ScoreKind, Option<Symbol>)>,
    touchpoint_key: Option<Symbol>,
}

impl<'j> ScoreReader<'j> {
    pub(super) fn new(journey: &'j Journey, log: &EventLog) -> Self {
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
    pub(super) fn any(&self) -> bool {
        self.keys.iter().any(|(_, k)| k.is_some())
    }

    /// The touchpoint an event's `touchpoint` attribute names, if it is one of the journey's.
    pub(super) fn rated(&self, log: &EventLog, event: usize) -> Option<usize> {
        let key = self.touchpoint_key?;
        let attribute = log.event_attributes(event).iter().find(|a| a.key == key)?;
        match attribute.value {
            Value::String(s) | Value::Id(s) => self.ids.get(log.resolve(s)).copied(),
            _ => None,
        }
    }

    /// The scores an event carries, each with the touchpoint it rates (when named).
    pub(super) fn scores(
        &self,
        log: &EventLog,
        event: usize,
    ) -> Vec<(ScoreKind, f64, Option<usize>)> {
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
