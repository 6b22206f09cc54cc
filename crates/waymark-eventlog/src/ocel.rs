//! OCEL 2.0 (object-centric event logs), JSON and XML, flattened on one object type: each object
//! of that type becomes a case holding the events related to it, as PM4Py's flattening does.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use serde::Deserialize;

use crate::builder::LogBuilder;
use crate::error::{Counting, Place, ReadError};
use crate::log::{Attribute, CONCEPT_NAME, TIME_TIMESTAMP, Value};
use crate::{ReadOptions, ReadOutcome};

/// An attribute value as OCEL writes it, before its declared type is applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawValue {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

#[derive(Debug, Deserialize)]
struct JsonAttribute {
    name: String,
    value: Option<RawValue>,
    #[serde(default)]
    time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRelationship {
    object_id: String,
}

#[derive(Debug, Deserialize)]
struct JsonObject {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    attributes: Vec<JsonAttribute>,
}

#[derive(Debug, Deserialize)]
struct JsonEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    time: String,
    #[serde(default)]
    attributes: Vec<JsonAttribute>,
    #[serde(default)]
    relationships: Vec<JsonRelationship>,
}

#[derive(Debug, Deserialize)]
struct JsonTypeAttribute {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct JsonType {
    name: String,
    #[serde(default)]
    attributes: Vec<JsonTypeAttribute>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonLog {
    #[serde(default)]
    object_types: Vec<JsonType>,
    #[serde(default)]
    event_types: Vec<JsonType>,
    #[serde(default)]
    objects: Vec<JsonObject>,
    #[serde(default)]
    events: Vec<JsonEvent>,
}

/// An object attribute value: name, the time it took the value, and the value as text.
type ObjectAttribute = (String, Option<String>, String);

#[derive(Default)]
struct OcelObject {
    kind: String,
    attributes: Vec<ObjectAttribute>,
}

#[derive(Default)]
struct OcelEvent {
    id: String,
    kind: String,
    time: String,
    /// (name, value as text).
    attributes: Vec<(String, String)>,
    /// The ids of the objects the event relates to.
    related: Vec<String>,
}

/// What both encodings are read into before flattening.
#[derive(Default)]
struct Ocel {
    /// (type name, attribute name) → declared type.
    types: HashMap<(String, String), String>,
    object_types: Vec<String>,
    objects: HashMap<String, OcelObject>,
    /// In file order.
    events: Vec<OcelEvent>,
}

fn text(value: &Option<RawValue>) -> String {
    match value {
        Some(RawValue::Text(s)) => s.clone(),
        Some(RawValue::Number(n)) => n.to_string(),
        Some(RawValue::Bool(b)) => b.to_string(),
        None => String::new(),
    }
}

/// Reads OCEL 2.0 JSON.
pub fn read_json<R: BufRead>(reader: R, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let log: JsonLog = serde_json::from_reader(reader).map_err(|e| {
        ReadError::new(
            &options.file,
            Some(Place {
                line: e.line(),
                column: Some(e.column()),
            }),
            format!("this is not OCEL 2.0 JSON: {e}"),
        )
        .with_hint("an OCEL 2.0 JSON file has objectTypes, eventTypes, objects and events")
    })?;
    let mut ocel = Ocel::default();
    for (types, _is_object) in [(&log.object_types, true), (&log.event_types, false)] {
        for t in types {
            for a in &t.attributes {
                ocel.types
                    .insert((t.name.clone(), a.name.clone()), a.kind.clone());
            }
        }
    }
    ocel.object_types = log.object_types.iter().map(|t| t.name.clone()).collect();
    for object in log.objects {
        let attributes = object
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.time.clone(), text(&a.value)))
            .collect();
        ocel.objects.insert(
            object.id,
            OcelObject {
                kind: object.kind,
                attributes,
            },
        );
    }
    for event in log.events {
        let attributes = event
            .attributes
            .iter()
            .map(|a| (a.name.clone(), text(&a.value)))
            .collect();
        let related = event
            .relationships
            .into_iter()
            .map(|r| r.object_id)
            .collect();
        ocel.events.push(OcelEvent {
            id: event.id,
            kind: event.kind,
            time: event.time,
            attributes,
            related,
        });
    }
    flatten(ocel, options)
}

/// An OCEL element's XML attribute; a malformed one counts as missing.
fn attr(start: &BytesStart, name: &str) -> Option<String> {
    crate::xes::xml_attribute(start, name).ok().flatten()
}

/// Reads OCEL 2.0 XML, streaming.
pub fn read_xml<R: BufRead>(reader: R, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let mut xml = quick_xml::Reader::from_reader(Counting::new(reader));
    xml.config_mut().trim_text(true);
    let mut ocel = Ocel::default();
    let mut buf = Vec::new();
    // Where we are: the current type, object or event, and the attribute whose text comes next.
    let mut current_type: Option<String> = None;
    let mut current_object: Option<(String, OcelObject)> = None;
    let mut current_event: Option<OcelEvent> = None;
    // An attribute value's text arrives in pieces: text and entity references.
    let mut pending_attribute: Option<(String, Option<String>, String)> = None;
    let mut in_object_types = false;
    loop {
        let event = xml.read_event_into(&mut buf).map_err(|e| {
            let place = xml.get_ref().place();
            match e {
                quick_xml::Error::Io(io) => ReadError::io(&options.file, Some(place), &io),
                other => ReadError::new(
                    &options.file,
                    Some(place),
                    format!("the XML is malformed: {other}"),
                ),
            }
        })?;
        let place = xml.get_ref().place();
        let missing = |what: &str| {
            ReadError::new(
                &options.file,
                Some(place),
                format!("an OCEL element without `{what}`"),
            )
        };
        let is_empty = matches!(&event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let name = start.local_name();
                match name.as_ref() {
                    "object-types" => in_object_types = true,
                    "event-types" => in_object_types = false,
                    "object-type" | "event-type" => {
                        let type_name = attr(&start, "name").ok_or_else(|| missing("name"))?;
                        if in_object_types {
                            ocel.object_types.push(type_name.clone());
                        }
                        current_type = Some(type_name);
                    }
                    "object" => {
                        let id = attr(&start, "id").ok_or_else(|| missing("id"))?;
                        let kind = attr(&start, "type").ok_or_else(|| missing("type"))?;
                        let object = OcelObject {
                            kind,
                            attributes: Vec::new(),
                        };
                        if is_empty {
                            ocel.objects.insert(id, object);
                        } else {
                            current_object = Some((id, object));
                        }
                    }
                    "event" => {
                        let id = attr(&start, "id").ok_or_else(|| missing("id"))?;
                        let kind = attr(&start, "type").ok_or_else(|| missing("type"))?;
                        let time = attr(&start, "time").ok_or_else(|| missing("time"))?;
                        let event = OcelEvent {
                            id,
                            kind,
                            time,
                            ..Default::default()
                        };
                        if is_empty {
                            ocel.events.push(event);
                        } else {
                            current_event = Some(event);
                        }
                    }
                    "attribute" => {
                        let attribute = attr(&start, "name").ok_or_else(|| missing("name"))?;
                        if current_object.is_none() && current_event.is_none() {
                            // A type declaration: <attribute name=".." type=".."/>.
                            if let (Some(t), Some(kind)) = (&current_type, attr(&start, "type")) {
                                ocel.types.insert((t.clone(), attribute), kind);
                            }
                        } else if is_empty {
                            // <attribute name=".."/>: an empty value.
                            if let Some(event) = current_event.as_mut() {
                                event.attributes.push((attribute, String::new()));
                            } else if let Some((_, object)) = current_object.as_mut() {
                                let time = attr(&start, "time");
                                object.attributes.push((attribute, time, String::new()));
                            }
                        } else {
                            pending_attribute =
                                Some((attribute, attr(&start, "time"), String::new()));
                        }
                    }
                    "relationship" => {
                        if let Some(event) = current_event.as_mut() {
                            event.related.push(
                                attr(&start, "object-id").ok_or_else(|| missing("object-id"))?,
                            );
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(text) => {
                if let Some((_, _, value)) = pending_attribute.as_mut() {
                    value.push_str(&text.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, _, value)) = pending_attribute.as_mut() {
                    match reference.resolve_char_ref() {
                        Ok(Some(c)) => value.push(c),
                        _ => {
                            let name: &str = &reference;
                            match quick_xml::escape::resolve_predefined_entity(name) {
                                Some(text) => value.push_str(text),
                                None => {
                                    return Err(ReadError::new(&options.file, Some(place), format!("the entity `&{name};` is not defined"))
                                        .with_hint("use &amp; &lt; &gt; &quot; &apos; or a character reference"));
                                }
                            }
                        }
                    }
                }
            }
            Event::End(end) => match end.local_name().as_ref() {
                "object" => {
                    if let Some((id, object)) = current_object.take() {
                        ocel.objects.insert(id, object);
                    }
                }
                "event" => {
                    if let Some(event) = current_event.take() {
                        ocel.events.push(event);
                    }
                }
                "attribute" => {
                    if let Some((name, time, value)) = pending_attribute.take() {
                        if let Some(event) = current_event.as_mut() {
                            event.attributes.push((name, value));
                        } else if let Some((_, object)) = current_object.as_mut() {
                            object.attributes.push((name, time, value));
                        }
                    }
                }
                "object-type" | "event-type" => current_type = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if current_event.is_some() || current_object.is_some() {
        return Err(ReadError::new(
            &options.file,
            Some(xml.get_ref().place()),
            "the file ends inside an object or event: the XML is truncated",
        ));
    }
    flatten(ocel, options)
}

fn typed(builder: &mut LogBuilder, declared: Option<&String>, text: &str) -> Option<Value> {
    Some(match declared.map(String::as_str) {
        Some("integer") => text.trim().parse().map(Value::Int).ok()?,
        Some("float") => text.trim().parse().map(Value::Float).ok()?,
        Some("boolean") => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Boolean(true),
            "false" | "0" => Value::Boolean(false),
            _ => return None,
        },
        Some("time") => Value::Date(crate::time::parse_iso8601(text.trim())?),
        _ => builder.string(text),
    })
}

/// Flattens on the chosen object type.
fn flatten(ocel: Ocel, options: &ReadOptions) -> Result<ReadOutcome, ReadError> {
    let mut known: Vec<String> = ocel.object_types.clone();
    for object in ocel.objects.values() {
        if !known.contains(&object.kind) {
            known.push(object.kind.clone());
        }
    }
    let listed = known
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let object_type = options.object_type.as_deref().ok_or_else(|| {
        ReadError::new(
            &options.file,
            None,
            "an object-centric log needs an object type to flatten on",
        )
        .with_hint(format!("pass --object-type with one of {listed}"))
    })?;
    if !known.iter().any(|t| t == object_type) {
        return Err(ReadError::new(
            &options.file,
            None,
            format!("there is no object type `{object_type}`"),
        )
        .with_hint(format!("the object types are {listed}")));
    }
    let mut builder = LogBuilder::new(options.activity_key.clone());
    let concept = builder.intern(CONCEPT_NAME);
    let time_key = builder.intern(TIME_TIMESTAMP);
    let event_id = builder.intern("ocel:eid");
    let mut skipped = 0;
    // Case attributes: each object attribute's earliest value.
    let mut case_of: BTreeMap<&str, u32> = BTreeMap::new();
    for OcelEvent {
        id,
        kind: event_type,
        time,
        attributes,
        related,
    } in &ocel.events
    {
        let Some(micros) = crate::time::parse_iso8601(time.trim()) else {
            if options.lenient {
                skipped += 1;
                continue;
            }
            return Err(ReadError::new(
                &options.file,
                None,
                format!("event `{id}` has the time `{time}`, which is not ISO 8601"),
            ));
        };
        for object in related {
            let Some(OcelObject {
                kind,
                attributes: object_attributes,
            }) = ocel.objects.get(object)
            else {
                continue;
            };
            if kind != object_type {
                continue;
            }
            let case = match case_of.get(object.as_str()) {
                Some(&case) => case,
                None => {
                    let case = builder.case(object);
                    let name = builder.string(object);
                    builder.add_case_attribute(case, Attribute::new(concept, name));
                    let mut earliest: Vec<&(String, Option<String>, String)> =
                        object_attributes.iter().collect();
                    earliest.sort_by_key(|(_, t, _)| {
                        t.as_deref()
                            .and_then(crate::time::parse_iso8601)
                            .unwrap_or(i64::MIN)
                    });
                    for (name, _, value) in earliest.into_iter().rev() {
                        let declared = ocel.types.get(&(kind.clone(), name.clone()));
                        if let Some(value) = typed(&mut builder, declared, value) {
                            let key = builder.intern(name);
                            builder.add_case_attribute(case, Attribute::new(key, value));
                        }
                    }
                    case_of.insert(object, case);
                    case
                }
            };
            let mut event_attributes = vec![
                Attribute::new(concept, builder.string(event_type)),
                Attribute::new(time_key, Value::Date(micros)),
                Attribute::new(event_id, builder.string(id)),
            ];
            for (name, value) in attributes {
                let declared = ocel.types.get(&(event_type.clone(), name.clone()));
                if let Some(value) = typed(&mut builder, declared, value) {
                    let key = builder.intern(name);
                    event_attributes.push(Attribute::new(key, value));
                }
            }
            builder.push_event(case, micros, event_attributes);
        }
    }
    Ok(ReadOutcome {
        log: builder.finish(),
        skipped,
    })
}
