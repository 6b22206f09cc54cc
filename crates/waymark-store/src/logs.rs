//! Event logs in and out of a store: importing a file's events, and reading stored events back
//! as a log for the analyses.

use serde_json::Value as Json;
use waymark_eventlog::{
    Attribute, CONCEPT_NAME, EventLog, LogBuilder, Symbol, TIME_TIMESTAMP, Value,
};

use crate::{Appended, NewEvent, Store, StoreError};

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

/// The stored body of an imported event: only its `properties`. The type, name, user id, message
/// id and time are columns of their own (see [`crate::StoredEvent::to_json`]).
fn properties_body(log: &EventLog, attributes: &[Attribute], skip: &[Symbol]) -> String {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"{");
    let mut first = true;
    for attribute in attributes.iter().filter(|a| !skip.contains(&a.key)) {
        out.extend_from_slice(if first { b"\"properties\":{" } else { b"," });
        first = false;
        let _ = serde_json::to_writer(&mut out, log.resolve(attribute.key));
        out.push(b':');
        write_value(&mut out, log, attribute);
    }
    if !first {
        out.push(b'}');
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
}

/// Stores every event of `log` as a Segment track call: the case is the `userId`, the activity
/// the `event`, the other attributes `properties`. Each event's message id is derived from its
/// case, position, activity and time (or is its own `segment:messageId`), so importing the same
/// events again adds nothing. Events are prepared on this thread while another stores the
/// previous batch. `progress` is called with the number of events stored so far.
pub fn import_log(
    store: &dyn Store,
    log: &EventLog,
    mut progress: impl FnMut(usize),
) -> Result<Appended, StoreError> {
    let concept = log.symbol(CONCEPT_NAME);
    let time = log.symbol(TIME_TIMESTAMP);
    let message = log.symbol("segment:messageId");
    let skip: Vec<_> = [
        "segment:type",
        "segment:userId",
        "segment:anonymousId",
        "segment:messageId",
    ]
    .iter()
    .filter_map(|k| log.symbol(k))
    .chain(concept)
    .chain(time)
    .collect();
    std::thread::scope(|scope| {
        let (batches, incoming) = std::sync::mpsc::sync_channel::<Vec<NewEvent>>(2);
        let (stored, reports) = std::sync::mpsc::channel::<usize>();
        let storer = scope.spawn(move || {
            let mut total = Appended::default();
            for batch in incoming {
                let count = batch.len();
                let appended = store.append(batch)?;
                total.inserted += appended.inserted;
                total.duplicates += appended.duplicates;
                let _ = stored.send(count);
            }
            Ok::<_, StoreError>(total)
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut done = 0;
        let mut key = Vec::new();
        'cases: for case in log.iter_cases() {
            for (position, event) in case.events().enumerate() {
                let attributes = log.event_attributes(event);
                let activity = log.resolve(log.activity_column()[event]);
                let micros = log.time_column()[event];
                let message_id = attributes
                    .iter()
                    .find(|a| Some(a.key) == message)
                    .map(|a| log.value_text(&a.value))
                    .unwrap_or_else(|| {
                        // The case comes first so that one case's ids sort together: the message
                        // id index then grows in runs instead of at random places.
                        key.clear();
                        key.extend_from_slice(activity.as_bytes());
                        key.extend_from_slice(&micros.to_le_bytes());
                        format!(
                            "import-{:016x}-{position:06}-{:08x}",
                            xxhash_rust::xxh3::xxh3_64(case.name().as_bytes()),
                            xxhash_rust::xxh3::xxh3_64(&key) as u32
                        )
                    });
                batch.push(NewEvent {
                    message_id,
                    kind: "track".to_string(),
                    name: Some(activity.to_string()),
                    user_id: Some(case.name().to_string()),
                    anonymous_id: None,
                    timestamp_us: micros,
                    received_us: micros,
                    body: properties_body(log, attributes, &skip),
                });
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if batches.send(full).is_err() {
                        break 'cases; // the storer failed; its error is reported below
                    }
                    done += reports.try_iter().sum::<usize>();
                    progress(done);
                }
            }
        }
        if !batch.is_empty() {
            let _ = batches.send(batch);
        }
        drop(batches);
        let total = storer.join().map_err(|_| StoreError::Poisoned)??;
        done += reports.try_iter().sum::<usize>();
        progress(done);
        Ok(total)
    })
}

/// Every stored event as a log, one case per person: events are grouped by profile (identities
/// stitched, so anonymous visits before identification are in the person's case), and a case is
/// named after the profile's first `userId` (else its `anonymousId`). Identify, alias and group
/// calls update the profile and are not interactions, so they are left out. Events are read the
/// way the Segment JSON Lines reader reads them, at the server's skew-corrected time. Events that
/// cannot be used are counted in the second value.
pub fn stored_log(store: &dyn Store) -> Result<(EventLog, usize), StoreError> {
    // First pass: the name of each profile's case.
    let mut names: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let mut fallback: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let page = store.events_after(after, BATCH)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for stored in &page {
            if let Some(profile) = stored.profile {
                if let Some(user) = &stored.event.user_id {
                    names.entry(profile).or_insert_with(|| user.clone());
                } else if let Some(anonymous) = &stored.event.anonymous_id {
                    fallback.entry(profile).or_insert_with(|| anonymous.clone());
                }
            }
        }
    }
    let mut builder = LogBuilder::default();
    let mut skipped = 0;
    let mut after = 0;
    loop {
        let page = store.events_after(after, BATCH)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for stored in page {
            if matches!(stored.event.kind.as_str(), "identify" | "alias" | "group") {
                continue;
            }
            let mut map = stored.to_json();
            if let Some(profile) = stored.profile
                && let Some(name) = names.get(&profile).or_else(|| fallback.get(&profile))
            {
                map.insert("userId".to_string(), Json::from(name.clone()));
            }
            if waymark_eventlog::jsonl::push_segment(
                &mut builder,
                &map,
                Some(stored.event.timestamp_us),
            )
            .is_err()
            {
                skipped += 1;
            }
        }
    }
    Ok((builder.finish(), skipped))
}
