//! What the journey editor offers for event rules: the event names actually collected, the
//! values of their step and channel properties, each with how many events it would bind, and the
//! events no touchpoint of the draft binds yet. Read from the live log's snapshot and kept per
//! snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use waymark_eventlog::{EventLog, Value};
use waymark_journey::Journey;
use waymark_server::live::Snapshot;

/// The most values offered for one property of one event.
const VALUES: usize = 40;
/// The most event names offered in a rule's list (the most frequent): enough for any journey,
/// few enough that a page stays small when a write key sends many names.
pub(crate) const OFFERED: usize = 200;

/// The names and property values collected, with their counts.
#[derive(Debug, Default)]
pub(crate) struct Suggestions {
    /// Event names, the most frequent first.
    pub(crate) names: Vec<(String, usize)>,
    /// Each name's count.
    counts: HashMap<String, usize>,
    /// By event name: (property, value, events), the most frequent first.
    pub(crate) values: HashMap<String, Vec<(String, String, usize)>>,
}

impl Suggestions {
    pub(crate) fn count(&self, name: &str) -> Option<usize> {
        self.counts.get(name).copied()
    }
}

/// The suggestions of the last snapshot asked for: (live log, snapshot version) → suggestions.
#[derive(Debug, Default)]
pub(crate) struct Kept(Mutex<Option<(SnapshotKey, Arc<Suggestions>)>>);

/// A snapshot's live log and version.
type SnapshotKey = (u64, u64);

impl Kept {
    /// The suggestions for `snapshot`, computed once per snapshot (blocking).
    pub(crate) fn of(&self, snapshot: &Snapshot) -> Arc<Suggestions> {
        let key = (snapshot.of, snapshot.version);
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, found)) = kept.as_ref()
            && *at == key
        {
            return found.clone();
        }
        let found = Arc::new(suggestions(&snapshot.log));
        *kept = Some((key, found.clone()));
        found
    }
}

/// Counts every event name and, per name, the values of the properties the log keeps (those
/// with few values: steps, channels, templates; never ids).
pub(crate) fn suggestions(log: &EventLog) -> Suggestions {
    let mut names: HashMap<waymark_eventlog::Symbol, usize> = HashMap::new();
    // (activity, key, value) → events; keys with too many values are dropped.
    let mut values: HashMap<
        (waymark_eventlog::Symbol, waymark_eventlog::Symbol),
        HashMap<String, usize>,
    > = HashMap::new();
    let skip: Vec<_> = ["concept:name", "time:timestamp", "lifecycle:transition"]
        .iter()
        .filter_map(|k| log.symbol(k))
        .collect();
    for (event, &activity) in log.activity_column().iter().enumerate() {
        *names.entry(activity).or_default() += 1;
        for attribute in log.event_attributes(event) {
            if skip.contains(&attribute.key) {
                continue;
            }
            let text = match &attribute.value {
                Value::String(s) | Value::Id(s) => log.resolve(*s).to_string(),
                Value::Int(_) | Value::Boolean(_) => log.value_text(&attribute.value),
                _ => continue,
            };
            let counts = values.entry((activity, attribute.key)).or_default();
            if counts.len() <= VALUES || counts.contains_key(&text) {
                *counts.entry(text).or_default() += 1;
            }
        }
    }
    let mut by_name: HashMap<String, Vec<(String, String, usize)>> = HashMap::new();
    for ((activity, key), counts) in values {
        if counts.len() > VALUES {
            continue;
        }
        let list = by_name
            .entry(log.resolve(activity).to_string())
            .or_default();
        for (value, count) in counts {
            list.push((log.resolve(key).to_string(), value, count));
        }
    }
    for list in by_name.values_mut() {
        list.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    }
    let mut names: Vec<(String, usize)> = names
        .into_iter()
        .map(|(symbol, count)| (log.resolve(symbol).to_string(), count))
        .collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Suggestions {
        counts: names.iter().cloned().collect(),
        names,
        values: by_name,
    }
}

/// The events no touchpoint of `journey` binds: (name, events), the most frequent first.
pub(crate) fn unbound(journey: &Journey, log: &EventLog) -> Vec<(String, usize)> {
    let binding = waymark_analytics::journey::Binding::new(journey, log);
    let mut counts: HashMap<waymark_eventlog::Symbol, usize> = HashMap::new();
    for (event, &activity) in log.activity_column().iter().enumerate() {
        if binding.touchpoint_of(log, event).is_none() {
            *counts.entry(activity).or_default() += 1;
        }
    }
    let mut list: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(symbol, count)| (log.resolve(symbol).to_string(), count))
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}
