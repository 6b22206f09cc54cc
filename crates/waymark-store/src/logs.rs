//! Event logs in and out of a store: importing a file's events, and reading stored events back
//! as a log for the analyses.

use std::collections::HashMap;
use std::ops::ControlFlow;

use serde_json::Value as Json;
use waymark_eventlog::{
    Attribute, CONCEPT_NAME, EventLog, LogBuilder, ReadOutcome, Symbol, TIME_TIMESTAMP, Value,
};

use rayon::prelude::*;

use crate::{Appended, BLOCK_EVENTS, EventRef, NewEvent, NewTrace, Store, StoreError, StoredEvent};

/// How many events go into one transaction when importing.
const BATCH: usize = 50_000;

fn json_value(log: &EventLog, attribute: &Attribute) -> Json {
    match attribute.value {
        Value::String(s) | Value::Id(s) => Json::from(log.resolve(s)),
        Value::Int(i) => Json::from(i),
        Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::from(b),
        Value::Date(micros) => Json::from(waymark_eventlog::time::format_micros(micros)),
        Value::List => Json::Array(
            attribute
                .children()
                .iter()
                .map(|c| json_value(log, c))
                .collect(),
        ),
        Value::Container => Json::Object(
            attribute
                .children()
                .iter()
                .map(|c| (log.resolve(c.key).to_string(), json_value(log, c)))
                .collect(),
        ),
    }
}

/// Writes `value` as JSON.
fn write_value(out: &mut Vec<u8>, log: &EventLog, attribute: &Attribute) {
    // Writing to a Vec cannot fail.
    let _ = match attribute.value {
        Value::String(s) | Value::Id(s) => serde_json::to_writer(&mut *out, log.resolve(s)),
        Value::Int(i) => serde_json::to_writer(&mut *out, &i),
        Value::Float(f) => serde_json::to_writer(&mut *out, &f),
        Value::Boolean(b) => serde_json::to_writer(&mut *out, &b),
        Value::Date(micros) => {
            serde_json::to_writer(&mut *out, &waymark_eventlog::time::format_micros(micros))
        }
        Value::List | Value::Container => {
            serde_json::to_writer(&mut *out, &json_value(log, attribute))
        }
    };
}

/// Writes the stored body of an imported event: only its `properties`. The type, name, user id,
/// message id and time are stored apart (see [`crate::StoredEvent::to_json`]).
fn write_properties(out: &mut Vec<u8>, log: &EventLog, attributes: &[Attribute], skip: &[Symbol]) {
    out.extend_from_slice(b"{");
    let mut first = true;
    for attribute in attributes.iter().filter(|a| !skip.contains(&a.key)) {
        out.extend_from_slice(if first { b"\"properties\":{" } else { b"," });
        first = false;
        let _ = serde_json::to_writer(&mut *out, log.resolve(attribute.key));
        out.push(b':');
        write_value(out, log, attribute);
    }
    if !first {
        out.push(b'}');
    }
    out.push(b'}');
}

/// What a log's import needs to know of its attributes.
struct Fields {
    /// `segment:messageId`: an event that has one is stored as a row under that id.
    message: Option<Symbol>,
    /// The attributes that are not properties.
    skip: Vec<Symbol>,
}

impl Fields {
    fn of(log: &EventLog) -> Self {
        let skip = [
            CONCEPT_NAME,
            TIME_TIMESTAMP,
            "segment:type",
            "segment:userId",
            "segment:anonymousId",
            "segment:messageId",
        ]
        .iter()
        .filter_map(|k| log.symbol(k))
        .collect();
        Fields {
            message: log.symbol("segment:messageId"),
            skip,
        }
    }
}

/// One case of a log, ready to store: its blocks, and its events that have message ids of
/// their own.
fn pack_case(
    log: &EventLog,
    index: usize,
    fields: &Fields,
    seen: &Seen,
) -> Result<(Vec<NewTrace>, Vec<NewEvent>), StoreError> {
    let case = log.case(index);
    let first = seen.get(&case_hash(case.name())).copied().unwrap_or(0);
    let mut rows = Vec::new();
    let mut bodies = Vec::with_capacity(case.events().len() * 64);
    // (position, activity, time, body start, body end) of each event of the blocks.
    let mut spans = Vec::with_capacity(case.events().len());
    for (position, event) in case.events().enumerate() {
        let attributes = log.event_attributes(event);
        let activity = log.resolve(log.activity_column()[event]);
        let micros = log.time_column()[event];
        match attributes.iter().find(|a| Some(a.key) == fields.message) {
            Some(id) => {
                let mut body = Vec::new();
                write_properties(&mut body, log, attributes, &fields.skip);
                rows.push(NewEvent {
                    message_id: log.value_text(&id.value),
                    kind: "track".to_string(),
                    name: Some(activity.to_string()),
                    user_id: Some(case.name().to_string()),
                    anonymous_id: None,
                    timestamp_us: micros,
                    received_us: micros,
                    body: String::from_utf8(body).unwrap_or_else(|_| "{}".to_string()),
                });
            }
            None => {
                let start = bodies.len();
                write_properties(&mut bodies, log, attributes, &fields.skip);
                let position = first + position as u32;
                spans.push((position, activity, micros, start, bodies.len()));
            }
        }
    }
    let bodies = String::from_utf8(bodies).map_err(|e| StoreError::Block(e.to_string()))?;
    let events: Vec<EventRef> = spans
        .iter()
        .map(|&(position, name, timestamp_us, start, end)| EventRef {
            position,
            name,
            timestamp_us,
            body: bodies.get(start..end).unwrap_or("{}"),
        })
        .collect();
    let traces = events
        .chunks(BLOCK_EVENTS)
        .map(|block| NewTrace::pack(case.name(), block))
        .collect::<Result<_, _>>()?;
    Ok((traces, rows))
}

/// What the converting thread hands the storing one.
enum Work {
    /// Events with message ids of their own, stored as rows.
    Rows(Vec<NewEvent>),
    /// Whole cases, stored as blocks, and how many events they hold.
    Traces(Vec<NewTrace>, usize),
}

/// How many events of each case (by name hash) earlier pieces of the same file had: an XES file
/// is imported in pieces, and a trace name found again in a later piece continues the case, so
/// its events get the next positions (and are never taken for the earlier ones).
type Seen = HashMap<u64, u32>;

fn case_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// Stores every event of `log` as a Segment track call: the case is the `userId`, the activity
/// the `event`, the other attributes `properties`. Cases are stored as blocks (see
/// `traces.rs`), where an event is identified by its case, position, activity and time, so
/// importing the same events again adds nothing; events with a `segment:messageId` of their own
/// are stored as rows under that id.
///
/// Cases are packed on every core (rayon), a batch at a time and in order, while one thread
/// stores the previous batch. `progress` is called with the number of events stored so far.
pub fn import_log(
    store: &dyn Store,
    log: &EventLog,
    progress: impl FnMut(usize),
) -> Result<Appended, StoreError> {
    import_piece(store, log, &mut Seen::new(), progress)
}

/// [`import_log`] for one piece of a file; `seen` counts the events of each case in the pieces
/// before, and is updated.
fn import_piece(
    store: &dyn Store,
    log: &EventLog,
    seen: &mut Seen,
    mut progress: impl FnMut(usize),
) -> Result<Appended, StoreError> {
    let fields = Fields::of(log);
    std::thread::scope(|scope| {
        let (batches, incoming) = std::sync::mpsc::sync_channel::<Work>(2);
        let (stored, reports) = std::sync::mpsc::channel::<usize>();
        let storer = scope.spawn(move || {
            let mut total = Appended::default();
            for work in incoming {
                let (appended, count) = match work {
                    Work::Rows(rows) => {
                        let count = rows.len();
                        (store.append(rows)?, count)
                    }
                    Work::Traces(traces, count) => (store.append_traces(traces)?, count),
                };
                total.inserted += appended.inserted;
                total.duplicates += appended.duplicates;
                let _ = stored.send(count);
            }
            Ok::<_, StoreError>(total)
        });
        let mut done = 0;
        let mut start = 0;
        let mut packing = Ok(());
        while start < log.cases() {
            let mut end = start;
            let mut events = 0;
            while end < log.cases() && events < BATCH {
                events += log.case(end).events().len();
                end += 1;
            }
            let packed = (start..end)
                .into_par_iter()
                .with_min_len(64)
                .map(|case| pack_case(log, case, &fields, seen))
                .collect::<Result<Vec<_>, _>>();
            start = end;
            let packed = match packed {
                Ok(packed) => packed,
                Err(error) => {
                    packing = Err(error);
                    break;
                }
            };
            let mut traces = Vec::new();
            let mut rows = Vec::new();
            for (case_traces, case_rows) in packed {
                traces.extend(case_traces);
                rows.extend(case_rows);
            }
            let traced = traces.iter().map(NewTrace::len).sum();
            let work = [
                (!traces.is_empty()).then_some(Work::Traces(traces, traced)),
                (!rows.is_empty()).then_some(Work::Rows(rows)),
            ];
            if work
                .into_iter()
                .flatten()
                .any(|work| batches.send(work).is_err())
            {
                break; // the storer failed; its error is reported below
            }
            done += reports.try_iter().sum::<usize>();
            progress(done);
        }
        drop(batches);
        let total = storer.join().map_err(|_| StoreError::Poisoned)??;
        packing?;
        for case in log.iter_cases() {
            *seen.entry(case_hash(case.name())).or_insert(0) += case.events().len() as u32;
        }
        done += reports.try_iter().sum::<usize>();
        progress(done);
        Ok(total)
    })
}

/// What importing a file did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Events and cases read from the file.
    pub events: usize,
    pub cases: usize,
    /// Bad events skipped while reading (lenient reading only).
    pub skipped: usize,
    /// Events stored, and events that were already there.
    pub inserted: usize,
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read; what was read before the error is stored (`before`), and
    /// importing the mended file adds only the rest.
    #[error("{error}")]
    Read {
        error: Box<waymark_eventlog::ReadError>,
        before: Imported,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports a log that `read` reads in pieces (it is handed the function to call with each; see
/// `waymark_eventlog::read_pieces`): each piece is stored on another thread while the next one
/// is read. `progress` is called with the number of events stored so far.
pub fn import_pieces(
    store: &dyn Store,
    read: impl FnOnce(
        &mut dyn FnMut(ReadOutcome) -> ControlFlow<()>,
    ) -> Result<(), waymark_eventlog::ReadError>,
    mut progress: impl FnMut(usize) + Send,
) -> Result<Imported, ImportError> {
    std::thread::scope(|scope| {
        let (pieces, incoming) = std::sync::mpsc::sync_channel::<ReadOutcome>(1);
        let importer = scope.spawn(move || {
            let mut imported = Imported::default();
            let mut seen = Seen::new();
            for piece in incoming {
                let before = imported.inserted + imported.duplicates;
                let appended =
                    import_piece(store, &piece.log, &mut seen, |done| progress(before + done))?;
                imported.events += piece.log.events();
                imported.skipped += piece.skipped;
                imported.inserted += appended.inserted;
                imported.duplicates += appended.duplicates;
            }
            // A trace name found in several pieces is one case, as when the file is read whole.
            imported.cases = seen.len();
            Ok::<_, StoreError>(imported)
        });
        let read = read(&mut |piece| match pieces.send(piece) {
            Ok(()) => ControlFlow::Continue(()),
            // The importer failed; its error is reported below.
            Err(_) => ControlFlow::Break(()),
        });
        drop(pieces);
        let imported = importer.join().map_err(|_| StoreError::Poisoned)??;
        match read {
            Ok(()) => Ok(imported),
            Err(error) => Err(ImportError::Read {
                error: Box::new(error),
                before: imported,
            }),
        }
    })
}

/// Text borrowed from the JSON when it has no escapes.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

/// Reads an imported event's stored body, `{"properties": {…}}`, straight into attributes,
/// without building a JSON tree: strings, numbers and booleans are taken as they are; anything
/// else goes through the JSON Lines reader's conversion.
struct Properties<'b> {
    builder: &'b mut dyn waymark_eventlog::Intern,
    attributes: &'b mut Vec<Attribute>,
    /// Inside `properties` (else at the top of the body).
    inside: bool,
    keep: &'b Keep,
}

impl<'de> serde::de::DeserializeSeed<'de> for Properties<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Properties<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text>()? {
            if !self.inside {
                if key == "properties" {
                    map.next_value_seed(Properties {
                        builder: &mut *self.builder,
                        attributes: &mut *self.attributes,
                        inside: true,
                        keep: self.keep,
                    })?;
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                continue;
            }
            if !self.keep.keeps(&key) {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let raw: &serde_json::value::RawValue = map.next_value()?;
            let text = raw.get();
            let value = match text.as_bytes().first() {
                Some(b'"') => serde_json::from_str::<Text>(text)
                    .ok()
                    .map(|Text(s)| Value::String(self.builder.intern(&s))),
                Some(b't') => Some(Value::Boolean(true)),
                Some(b'f') => Some(Value::Boolean(false)),
                Some(b'n') => None,
                Some(b'-' | b'0'..=b'9') => match text.parse::<i64>() {
                    Ok(i) => Some(Value::Int(i)),
                    Err(_) => text.parse::<f64>().ok().map(Value::Float),
                },
                _ => {
                    if let Ok(json) = serde_json::from_str::<Json>(text)
                        && let Some(attribute) =
                            waymark_eventlog::jsonl::convert(self.builder, &key, &json)
                    {
                        self.attributes.push(attribute);
                    }
                    continue;
                }
            };
            if let Some(value) = value {
                let key = self.builder.intern(&key);
                self.attributes.push(Attribute::new(key, value));
            }
        }
        Ok(())
    }
}

pub(crate) fn push_properties(
    builder: &mut dyn waymark_eventlog::Intern,
    body: &str,
    attributes: &mut Vec<Attribute>,
    keep: &Keep,
) {
    use serde::de::DeserializeSeed as _;
    let mut reader = serde_json::Deserializer::from_str(body);
    let _ = Properties {
        builder,
        attributes,
        inside: false,
        keep,
    }
    .deserialize(&mut reader);
}

/// Which event attributes to read from the store, besides the activity and the time.
#[derive(Debug, Clone, Default)]
pub enum Keep {
    /// Every attribute.
    #[default]
    All,
    /// Only these keys: an analysis that reads a few attributes is spared building the others
    /// (about half a journey report's time on a million imported events).
    Only(std::collections::HashSet<String>),
}

impl Keep {
    /// Only the keys given.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) -> Keep {
        Keep::Only(keys.into_iter().map(Into::into).collect())
    }

    pub(crate) fn keeps(&self, key: &str) -> bool {
        match self {
            Keep::All => true,
            Keep::Only(keys) => keys.contains(key),
        }
    }
}

/// Adds a collected event to a log the way the Segment JSON Lines reader reads it, at the
/// server's skew-corrected time, in the case `case` (else its own user or anonymous id).
/// Identify, alias and group calls update a profile and are not interactions: they are left out.
pub fn push_interaction(
    builder: &mut LogBuilder,
    stored: &StoredEvent,
    case: Option<&str>,
) -> Result<(), String> {
    if matches!(stored.event.kind.as_str(), "identify" | "alias" | "group") {
        return Ok(());
    }
    let mut map = stored.to_json();
    if let Some(case) = case {
        map.insert("userId".to_string(), Json::from(case));
    }
    waymark_eventlog::jsonl::push_segment(builder, &map, Some(stored.event.timestamp_us))
}

/// Every stored event as a log, one case per person: a fresh [`crate::live::LiveLog`] (see
/// there what a case holds) with every attribute. Events that cannot be used are counted in
/// the second value.
pub fn stored_log(store: &dyn Store) -> Result<(EventLog, usize), StoreError> {
    stored_log_keeping(store, &Keep::All)
}

/// [`stored_log`] with only the attributes `keep` names (and the activity and time).
pub fn stored_log_keeping(store: &dyn Store, keep: &Keep) -> Result<(EventLog, usize), StoreError> {
    let mut live = crate::live::LiveLog::load(store, keep.clone())?;
    let (log, skipped) = (live.snapshot(), live.skipped());
    drop(live);
    // The live log is gone: the snapshot is the log's only holder.
    Ok((
        std::sync::Arc::into_inner(log).ok_or(StoreError::Poisoned)?,
        skipped,
    ))
}
