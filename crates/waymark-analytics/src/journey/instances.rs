//! Instances: each case (a person, or a request) cut into its passes through the journey.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lasso::Key;

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Micros, Symbol, Value};

use super::binding::{Binding, ScoreReader, indexes};
use super::{
    ATTRIBUTE_VALUES, DAY, Instance, Options, Score, Status, UnknownTouchpoint, Visit, or_file,
    timeout_micros,
};

/// Cuts every case into instances.
pub fn instances(
    log: &EventLog,
    binding: &Binding,
    options: &Options,
) -> Result<Vec<Instance>, UnknownTouchpoint> {
    let cutter = Cutter::new(log, binding, options)?;
    let found: Vec<Vec<Instance>> = (0..log.cases())
        .into_par_iter()
        .map(|case| cutter.case(log, case))
        .collect();
    Ok(found.into_iter().flatten().collect())
}

/// What cutting a case into instances needs, decided once for a log.
pub(super) struct Cutter<'b, 'j> {
    binding: &'b Binding<'j>,
    reader: ScoreReader<'j>,
    any_scores: bool,
    is_start: Vec<bool>,
    is_end: Vec<bool>,
    /// Now, and the inactivity after which an instance is over (µs).
    now: Micros,
    timeout: Micros,
    from: Option<Micros>,
    to: Option<Micros>,
}

impl<'b, 'j> Cutter<'b, 'j> {
    pub(super) fn new(
        log: &EventLog,
        binding: &'b Binding<'j>,
        options: &Options,
    ) -> Result<Self, UnknownTouchpoint> {
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
        Ok(Cutter {
            binding,
            any_scores: reader.any(),
            reader,
            is_start,
            is_end,
            now: options
                .now
                .unwrap_or_else(|| log.time_column().iter().copied().max().unwrap_or(0)),
            timeout: options
                .timeout
                .or(journey.instances.timeout.map(timeout_micros))
                .unwrap_or(30 * DAY),
            from: options.from,
            to: options.to,
        })
    }

    /// Where instances may start: the same for two logs, or instances cut on one are not the
    /// ones the other would cut.
    pub(super) fn starts(&self) -> &[bool] {
        &self.is_start
    }

    /// The status of an instance that did not complete and whose last event was at `end`.
    pub(super) fn unfinished(&self, end: Micros) -> Status {
        if self.now - end <= self.timeout {
            Status::Open
        } else {
            Status::Abandoned
        }
    }

    /// The instances of one case, in order.
    pub(super) fn case(&self, log: &EventLog, case: usize) -> Vec<Instance> {
        let events = log.case(case).events();
        let (reader, any_scores, timeout) = (&self.reader, self.any_scores, self.timeout);
        let mut done = Vec::new();
        let mut current: Option<(Instance, bool)> = None;
        let close = |(mut instance, completed): (Instance, bool)| {
            instance.status = if completed {
                Status::Completed
            } else {
                self.unfinished(instance.end())
            };
            instance
        };
        for event in events {
            let time = log.time_column()[event];
            let bound = self.binding.touchpoint_of(log, event);
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
                        let visited = |i: &Instance| i.visits.iter().any(|v| v.touchpoint == rated);
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
                        || (*completed && self.is_start[touchpoint] && !self.is_end[touchpoint])
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
                *completed |= self.is_end[touchpoint];
            }
        }
        if let Some(last) = current.take() {
            done.push(close(last));
        }
        done.retain(|i| {
            self.from.is_none_or(|from| i.start() >= from)
                && self.to.is_none_or(|to| i.start() < to)
        });
        done
    }
}

/// The case attributes of the instances' cases that take at most [`ATTRIBUTE_VALUES`] values
/// (and at least two): their `attribute=value` names, and per instance which of them it has.
/// Values are told apart by their text, as the names show them; each distinct value is written
/// once.
pub(super) fn attribute_values(log: &EventLog, found: &[Instance]) -> AttributeValues {
    let concept = log.symbol(waymark_eventlog::CONCEPT_NAME);
    let counted = |a: &&waymark_eventlog::Attribute| Some(a.key) != concept && a.children.is_none();
    // Each distinct (key, value) once, with its text; a key past ATTRIBUTE_VALUES texts (an
    // id, an email) is left, and its further values not even written.
    let mut texts: HashMap<(Symbol, ValueKey), usize> = HashMap::new();
    let mut pairs: Vec<(Symbol, String)> = Vec::new();
    let mut by_key: HashMap<Symbol, BTreeSet<String>> = HashMap::new();
    let mut seen_cases = vec![false; log.cases()];
    for instance in found {
        let case = instance.case as usize;
        if std::mem::replace(&mut seen_cases[case], true) {
            continue;
        }
        for attribute in log.case(case).attributes().iter().filter(counted) {
            let pair = (attribute.key, value_key(&attribute.value));
            if texts.contains_key(&pair) {
                continue;
            }
            let set = by_key.entry(attribute.key).or_default();
            if set.len() > ATTRIBUTE_VALUES {
                continue;
            }
            let text = log.value_text(&attribute.value);
            set.insert(text.clone());
            texts.insert(pair, pairs.len());
            pairs.push((attribute.key, text));
        }
    }
    let names = value_names(by_key.iter().map(|(key, set)| (log.resolve(*key), set)));
    if names.is_empty() {
        return AttributeValues::none();
    }
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    // Per distinct (key, value): the name it has, if any.
    let named: Vec<Option<usize>> = pairs
        .iter()
        .map(|(key, text)| {
            index
                .get(format!("{}={text}", log.resolve(*key)).as_str())
                .copied()
        })
        .collect();
    let masks: Vec<Vec<usize>> = found
        .par_iter()
        .map(|instance| {
            log.case(instance.case as usize)
                .attributes()
                .iter()
                .filter(counted)
                .filter_map(|attribute| {
                    let pair = texts.get(&(attribute.key, value_key(&attribute.value)))?;
                    named[*pair]
                })
                .collect()
        })
        .collect();
    AttributeValues::new(names, masks.iter().map(Vec::as_slice))
}

/// A case's attributes as [`attribute_values`] counts them (neither its name nor a list or
/// a container with entries), as (key, text).
pub(super) fn counted_pairs(log: &EventLog, case: usize) -> Vec<(String, String)> {
    let concept = log.symbol(waymark_eventlog::CONCEPT_NAME);
    log.case(case)
        .attributes()
        .iter()
        .filter(|a| Some(a.key) != concept && a.children.is_none())
        .map(|a| (log.resolve(a.key).to_string(), log.value_text(&a.value)))
        .collect()
}

/// The drivers' names of case attribute values, from each key's distinct values as text: for
/// every key with at least two and at most [`ATTRIBUTE_VALUES`] values, in key order, each value
/// in order as `key=value`. (A caller may stop adding values to a key past ATTRIBUTE_VALUES + 1:
/// the key is left out either way.)
pub(super) fn value_names<'a, V: AsRef<str> + 'a>(
    by_key: impl IntoIterator<Item = (&'a str, &'a BTreeSet<V>)>,
) -> Vec<String> {
    let kept: BTreeMap<&str, &BTreeSet<V>> = by_key
        .into_iter()
        .filter(|(_, set)| (2..=ATTRIBUTE_VALUES).contains(&set.len()))
        .collect();
    kept.iter()
        .flat_map(|(key, set)| {
            set.iter()
                .map(move |value| format!("{key}={}", value.as_ref()))
        })
        .collect()
}

/// A value as a hash key: its kind and its bits.
type ValueKey = (u8, u64);

fn value_key(value: &Value) -> ValueKey {
    match *value {
        Value::String(s) => (0, s.into_usize() as u64),
        Value::Id(s) => (1, s.into_usize() as u64),
        Value::Date(t) => (2, t as u64),
        Value::Int(i) => (3, i as u64),
        Value::Float(f) => (4, f.to_bits()),
        Value::Boolean(b) => (5, b as u64),
        Value::List => (6, 0),
        Value::Container => (7, 0),
    }
}

/// Case attribute values as drivers read them: `attribute=value` names, and per instance which of
/// them its case has, as a row of bits (none when there are no names).
#[derive(Debug, Clone, Default)]
pub struct AttributeValues {
    pub names: Vec<String>,
    words: usize,
    rows: Vec<u64>,
}

impl AttributeValues {
    /// Per instance, the places in `names` of the values its case has.
    pub(super) fn new<'a>(
        names: Vec<String>,
        instances: impl Iterator<Item = &'a [usize]>,
    ) -> AttributeValues {
        let words = names.len().div_ceil(64);
        let mut rows = Vec::new();
        for places in instances {
            let at = rows.len();
            rows.resize(at + words, 0u64);
            for &i in places {
                super::facts::set(&mut rows[at..], i);
            }
        }
        AttributeValues { names, words, rows }
    }

    /// No value to compare.
    pub(super) fn none() -> AttributeValues {
        AttributeValues::default()
    }

    /// The values instance `k`'s case has, as a row of bits (empty when there are no names).
    pub fn row(&self, k: usize) -> &[u64] {
        &self.rows[k * self.words..(k + 1) * self.words]
    }
}

/// Each instance's value of attribute `by` (see [`segment`]).
pub(super) fn segments(
    log: &EventLog,
    found: &[Instance],
    by: &str,
    key: Option<Symbol>,
) -> Vec<String> {
    found
        .iter()
        .map(|instance| segment(log, instance, by, key))
        .collect()
}

/// An instance's value of attribute `by`: its case's, else that of the first event at or after
/// the instance's start (`key` is the attribute's symbol in the log).
fn segment(
    log: &EventLog,
    instance: &Instance,
    by: &str,
    key: Option<waymark_eventlog::Symbol>,
) -> String {
    let case = log.case(instance.case as usize);
    case.attribute(by)
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
}
