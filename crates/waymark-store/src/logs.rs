//! Event logs in and out of a store: importing a file's events, and reading stored events back
//! as a log for the analyses.

use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use waymark_eventlog::{Attribute, CONCEPT_NAME, EventLog, LogBuilder, TIME_TIMESTAMP, Value};

use crate::{Appended, NewEvent, Store, StoreError};

/// How many events go into one transaction when importing.
const BATCH: usize = 10_000;

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

/// Stores every event of `log` as a Segment track call: the case is the `userId`, the activity
/// the `event`, the other attributes `properties`. Each event's message id is derived from its
/// case, position, activity and time (or is its own `segment:messageId`), so importing the same
/// events again adds nothing. `progress` is called with the number of events stored so far.
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
    let mut total = Appended::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = 0;
    for case in log.iter_cases() {
        for (position, event) in case.events().enumerate() {
            let attributes = log.event_attributes(event);
            let activity = log.resolve(log.activity_column()[event]);
            let micros = log.time_column()[event];
            let message_id = attributes
                .iter()
                .find(|a| Some(a.key) == message)
                .map(|a| log.value_text(&a.value))
                .unwrap_or_else(|| {
                    let digest = Sha256::digest(
                        format!("{}\u{0}{position}\u{0}{activity}\u{0}{micros}", case.name())
                            .as_bytes(),
                    );
                    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                    format!("import-{hex}")
                });
            let properties: Map<String, Json> = attributes
                .iter()
                .filter(|a| !skip.contains(&a.key))
                .map(|a| (log.resolve(a.key).to_string(), json_value(log, a)))
                .collect();
            let timestamp = waymark_eventlog::time::format_micros(micros);
            let body = json!({
                "type": "track",
                "event": activity,
                "userId": case.name(),
                "messageId": message_id,
                "timestamp": timestamp,
                "properties": properties,
            });
            batch.push(NewEvent {
                message_id,
                kind: "track".to_string(),
                name: Some(activity.to_string()),
                user_id: Some(case.name().to_string()),
                anonymous_id: None,
                timestamp_us: micros,
                received_us: micros,
                body: body.to_string(),
            });
            if batch.len() == BATCH {
                let appended = store.append(&batch)?;
                total.inserted += appended.inserted;
                total.duplicates += appended.duplicates;
                done += batch.len();
                progress(done);
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        let appended = store.append(&batch)?;
        total.inserted += appended.inserted;
        total.duplicates += appended.duplicates;
        done += batch.len();
        progress(done);
    }
    Ok(total)
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
            let Ok(Json::Object(mut map)) = serde_json::from_str::<Json>(&stored.event.body) else {
                skipped += 1;
                continue;
            };
            if !map.contains_key("type") {
                map.insert("type".to_string(), Json::from(stored.event.kind.clone()));
            }
            if let Some(profile) = stored.profile {
                if let Some(name) = names.get(&profile).or_else(|| fallback.get(&profile)) {
                    map.insert("userId".to_string(), Json::from(name.clone()));
                }
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
