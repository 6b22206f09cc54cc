//! JSON Lines of Segment-format events (track, page, screen, identify, ...).
//!
//! The case is `userId`, else `anonymousId`; the activity is `event` (track), else `name` (page and
//! screen), else the call's `type`; the time is `timestamp`, else `originalTimestamp`, `sentAt` or
//! `receivedAt`; `properties` (and `traits`) become attributes.

use std::io::BufRead;

use serde_json::{Map, Value as Json};

use crate::builder::LogBuilder;
use crate::error::{Place, ReadError};
use crate::log::{Attribute, CONCEPT_NAME, TIME_TIMESTAMP, Value};
use crate::{ReadOptions, ReadOutcome};

/// An identifier or name as Segment sends it: a string that is not blank, or a number.
pub fn text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON value as an attribute named `key` (`None` for `null`).
pub fn convert<I: crate::Intern + ?Sized>(
    builder: &mut I,
    key: &str,
    value: &Json,
) -> Option<Attribute> {
    let symbol = builder.intern(key);
    let (value, children) = match value {
        Json::Null => return None,
        Json::Bool(b) => (Value::Boolean(*b), None),
        Json::Number(n) => match n.as_i64() {
            Some(i) => (Value::Int(i), None),
            None => (Value::Float(n.as_f64().unwrap_or(f64::NAN)), None),
        },
        Json::String(s) => (Value::String(builder.intern(s)), None),
        Json::Array(items) => {
            let children: Vec<Attribute> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| convert(builder, &i.to_string(), item))
                .collect();
            (Value::List, Some(Box::new(children)))
        }
        Json::Object(map) => {
            let children: Vec<Attribute> = map
                .iter()
                .filter_map(|(k, v)| convert(builder, k, v))
                .collect();
            (Value::Container, Some(Box::new(children)))
        }
    };
    Some(Attribute {
        key: symbol,
        value,
        children: children.filter(|c| !c.is_empty()),
    })
}

/// Reads Segment events, one JSON object per line.
pub fn read<R: BufRead>(reader: R, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let file = options.file.as_str();
    let mut builder = LogBuilder::new(options.activity_key.clone());
    let mut skipped = 0;
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| {
            ReadError::io(
                file,
                Some(Place {
                    line: number,
                    column: None,
                }),
                &e,
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let outcome = parse_line(&mut builder, &line, number, file);
        match outcome {
            Ok(()) => {}
            Err(_) if options.lenient => skipped += 1,
            Err(error) => {
                return Err(error.with_hint("fix the line, or pass --lenient to skip bad events"));
            }
        }
    }
    Ok(ReadOutcome {
        log: builder.finish(),
        skipped,
    })
}

fn parse_line(
    builder: &mut LogBuilder,
    line: &str,
    number: usize,
    file: &str,
) -> Result<(), ReadError> {
    let place = |column: Option<usize>| {
        Some(Place {
            line: number,
            column,
        })
    };
    let event: Map<String, Json> = serde_json::from_str(line).map_err(|e| {
        ReadError::new(
            file,
            place(Some(e.column())),
            format!("this line is not a JSON object: {e}"),
        )
    })?;
    push_segment(builder, &event, None)
        .map_err(|message| ReadError::new(file, place(None), message))
}

/// A Segment event read as an interaction: who, what and the sections whose entries become
/// attributes. [`push_segment`] adds one to a log; a store keeps the same parts so that it can
/// add the event again without reading its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction<'a> {
    /// `userId`, else `anonymousId`.
    pub case: String,
    /// The call's type (`track` when it has none).
    pub kind: &'a str,
    /// `event`, else `name`, else `properties.name`, else the call's type.
    pub activity: String,
    /// `properties`, then `traits` (else RudderStack's `context.traits`): each entry an attribute.
    pub sections: [Option<&'a Map<String, Json>>; 2],
}

/// An event's parts as [`push_segment`] reads them.
pub fn interaction(event: &Map<String, Json>) -> Result<Interaction<'_>, String> {
    let case = event
        .get("userId")
        .and_then(text)
        .or_else(|| event.get("anonymousId").and_then(text))
        .ok_or("the event has neither `userId` nor `anonymousId`")?;
    let kind = event.get("type").and_then(Json::as_str).unwrap_or("track");
    let activity = event
        .get("event")
        .and_then(text)
        .or_else(|| event.get("name").and_then(text))
        .or_else(|| {
            event
                .get("properties")
                .and_then(|p| p.get("name"))
                .and_then(text)
        })
        .unwrap_or_else(|| kind.to_string());
    // RudderStack's libraries send identify traits in `context.traits`.
    let context_traits = event.get("context").and_then(|c| c.get("traits"));
    let traits = event.get("traits").or(context_traits);
    let sections = [event.get("properties"), traits].map(|section| match section {
        Some(Json::Object(map)) => Some(map),
        _ => None,
    });
    Ok(Interaction {
        case,
        kind,
        activity,
        sections,
    })
}

/// Adds one Segment event (a track, page, screen, identify, group or alias call) to a log being
/// built. The case is `userId`, else `anonymousId`; the activity is `event`, else `name`, else the
/// call's type; `properties` and `traits` become attributes. `time` (µs) replaces the event's own
/// timestamp when given, e.g. the server's clock-skew-corrected time.
pub fn push_segment(
    builder: &mut LogBuilder,
    event: &Map<String, Json>,
    time: Option<i64>,
) -> Result<(), String> {
    let concept = builder.intern(CONCEPT_NAME);
    let time_key = builder.intern(TIME_TIMESTAMP);
    let Interaction {
        case,
        kind,
        activity,
        sections,
    } = interaction(event)?;
    let time = match time {
        Some(time) => time,
        None => {
            let time_text = ["timestamp", "originalTimestamp", "sentAt", "receivedAt"]
                .iter()
                .find_map(|k| event.get(*k).and_then(Json::as_str))
                .ok_or("the event has no `timestamp`")?;
            crate::time::parse_iso8601(time_text)
                .ok_or_else(|| format!("`{time_text}` in `timestamp` is not an ISO 8601 time"))?
        }
    };
    let case_index = builder.case(&case);
    let case_name = builder.string(&case);
    builder.add_case_attribute(case_index, Attribute::new(concept, case_name));
    let mut attributes = vec![
        Attribute::new(concept, builder.string(&activity)),
        Attribute::new(time_key, Value::Date(time)),
    ];
    let type_value = builder.string(kind);
    attributes.push(Attribute::new(builder.intern("segment:type"), type_value));
    for key in ["messageId", "anonymousId", "userId"] {
        if let Some(value) = event.get(key).and_then(text) {
            let value = builder.string(&value);
            attributes.push(Attribute::new(
                builder.intern(&format!("segment:{key}")),
                value,
            ));
        }
    }
    for map in sections.into_iter().flatten() {
        for (key, value) in map {
            if let Some(attribute) = convert(builder, key, value) {
                attributes.push(attribute);
            }
        }
    }
    builder.push_event(case_index, time, attributes);
    Ok(())
}
