//! What the analyses read of each collected event, kept beside it so that reading events for an
//! analysis parses no JSON.
//!
//! A collected event is kept whole in `events` (its JSON body, for the API and the timeline).
//! In the same transaction its *facts* go to `event_facts`: the call's kind, its user and
//! anonymous ids, its time, and a small postcard record holding the activity and the attributes
//! the Segment reader would make of it (`properties`, then `traits`), each value already typed.
//! Measured on 971,059 collected events: reading them through their JSON took 12 s; through
//! their facts, see BENCHMARKS.md.
//!
//! Identity merges are recorded in `profile_merges` (merged profile, surviving profile) in the
//! transaction that merges, so a reader that holds events by person can follow them.

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{NewEvent, StoreError, TraceBlock};

/// The version of the facts record, its first byte.
const FORMAT: u8 = 1;

/// What kind of call an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Track,
    Page,
    Screen,
    /// Its traits describe the person.
    Identify,
    /// Alias and group calls only link identities.
    Alias,
    Group,
}

impl Kind {
    const ALL: [(Kind, &'static str); 6] = [
        (Kind::Track, "track"),
        (Kind::Page, "page"),
        (Kind::Screen, "screen"),
        (Kind::Identify, "identify"),
        (Kind::Alias, "alias"),
        (Kind::Group, "group"),
    ];

    fn of(kind: &str) -> Kind {
        Kind::ALL
            .iter()
            .find(|(_, name)| *name == kind)
            .map_or(Kind::Track, |(kind, _)| *kind)
    }

    /// The call's type as Segment names it.
    pub fn as_str(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("track", |(_, name)| name)
    }

    /// Track, page and screen calls are interactions, with an activity.
    pub fn is_interaction(self) -> bool {
        matches!(self, Kind::Track | Kind::Page | Kind::Screen)
    }

    pub(crate) fn code(self) -> i64 {
        Kind::ALL
            .iter()
            .position(|(kind, _)| *kind == self)
            .unwrap_or(0) as i64
    }

    pub(crate) fn from_code(code: i64) -> Kind {
        usize::try_from(code)
            .ok()
            .and_then(|i| Kind::ALL.get(i))
            .map_or(Kind::Track, |(kind, _)| *kind)
    }
}

/// One attribute value, typed as the Segment reader types JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fact<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A list or an object, as JSON text (rare; read with the Segment reader's conversion).
    Json(#[serde(borrow)] Cow<'a, str>),
}

/// The facts of one event: its activity (interactions) and its attributes in order (an
/// interaction's `properties` then `traits`; an identify call's `traits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts<'a> {
    #[serde(borrow)]
    pub activity: Cow<'a, str>,
    #[serde(borrow)]
    pub attributes: Vec<(Cow<'a, str>, Fact<'a>)>,
}

fn fact(value: &Json) -> Option<Fact<'_>> {
    Some(match value {
        Json::Null => return None,
        Json::Bool(b) => Fact::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Fact::Int(i),
            None => Fact::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Fact::Text(Cow::Borrowed(s)),
        Json::Array(_) | Json::Object(_) => Fact::Json(Cow::Owned(value.to_string())),
    })
}

fn entries(map: &serde_json::Map<String, Json>) -> impl Iterator<Item = (Cow<'_, str>, Fact<'_>)> {
    map.iter()
        .filter_map(|(key, value)| Some((Cow::Borrowed(key.as_str()), fact(value)?)))
}

/// An event's kind and its facts record.
pub(crate) fn of(event: &NewEvent) -> (Kind, Vec<u8>) {
    let kind = Kind::of(&event.kind);
    let map = match kind {
        Kind::Alias | Kind::Group => serde_json::Map::new(),
        _ => event.to_json(),
    };
    let facts = match kind {
        Kind::Track | Kind::Page | Kind::Screen => match waymark_eventlog::jsonl::interaction(&map)
        {
            Ok(found) => Facts {
                activity: Cow::Owned(found.activity),
                attributes: found
                    .sections
                    .into_iter()
                    .flatten()
                    .flat_map(entries)
                    .collect(),
            },
            Err(_) => Facts {
                activity: Cow::Borrowed(""),
                attributes: Vec::new(),
            },
        },
        // The traits an identify call sets (its own `traits`, not `context.traits`).
        Kind::Identify => Facts {
            activity: Cow::Borrowed(""),
            attributes: match map.get("traits") {
                Some(Json::Object(traits)) => entries(traits).collect(),
                _ => Vec::new(),
            },
        },
        Kind::Alias | Kind::Group => Facts {
            activity: Cow::Borrowed(""),
            attributes: Vec::new(),
        },
    };
    (kind, encode(&facts))
}

fn encode(facts: &Facts<'_>) -> Vec<u8> {
    let mut out = vec![FORMAT];
    // Serialising into a Vec cannot fail.
    if let Ok(bytes) = postcard::to_allocvec(facts) {
        out.extend(bytes);
    }
    out
}

/// Reads a facts record.
pub fn decode(bytes: &[u8]) -> Result<Facts<'_>, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StoreError::Block(format!("event facts: {e}")))
        }
        _ => Err(StoreError::Block(
            "event facts of an unknown version".to_string(),
        )),
    }
}

/// Keeps the facts of an event stored under `seq`, in the transaction that stores it.
pub(crate) fn record(
    connection: &Connection,
    seq: i64,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let (kind, facts) = of(event);
    insert(connection, seq, event, kind, &facts)
}

/// Keeps facts made beforehand (see [`of`]) of an event stored under `seq`.
pub(crate) fn insert(
    connection: &Connection,
    seq: i64,
    event: &NewEvent,
    kind: Kind,
    facts: &[u8],
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO event_facts (seq, kind, user_id, anonymous_id, timestamp_us, facts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            seq,
            kind.code(),
            event.user_id,
            event.anonymous_id,
            event.timestamp_us,
            facts
        ])?;
    Ok(())
}

/// Records that profile `merged` joined `survivor`.
pub(crate) fn record_merge(
    transaction: &Transaction,
    merged: i64,
    survivor: i64,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached("INSERT INTO profile_merges (merged, survivor) VALUES (?1, ?2)")?
        .execute(params![merged, survivor])?;
    Ok(())
}

/// Fills in the facts of events stored before facts were kept (the migration that adds them).
pub(crate) fn backfill(transaction: &Transaction) -> Result<(), StoreError> {
    let mut after = 0;
    loop {
        let page: Vec<crate::StoredEvent> = transaction
            .prepare(
                "SELECT seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body, NULL
                 FROM events WHERE seq > ?1 ORDER BY seq LIMIT 10000",
            )?
            .query_map(params![after], crate::row_to_event)?
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        for stored in &page {
            record(transaction, stored.seq, &stored.event)?;
        }
    }
}

/// The newest collected event, identity merge and imported block (see `Events::watermark`);
/// the same statement on both backends.
pub(crate) const WATERMARK: &str = "SELECT (SELECT coalesce(max(seq), 0) FROM events),
    (SELECT coalesce(max(id), 0) FROM profile_merges),
    (SELECT coalesce(max(id), 0) FROM traces)";

/// Where a reader of facts is: the last collected event, merge and imported block it has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Since {
    pub seq: i64,
    pub merge: i64,
    pub block: i64,
}

/// A collected event's facts, as read.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub seq: i64,
    pub kind: Kind,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    /// Only when asked for.
    pub message_id: Option<&'a str>,
    pub timestamp_us: i64,
    /// The profile of the event's person when it was read.
    pub profile: Option<i64>,
    /// The facts record (see [`decode`]).
    pub facts: &'a [u8],
}

/// What changed since a reader last read, in the order to apply it: merges first (they concern
/// profiles the reader already holds), then collected events, then imported blocks.
#[derive(Debug)]
pub enum Change<'a> {
    Merge { merged: i64, survivor: i64 },
    Event(EventFacts<'a>),
    Block(TraceBlock),
}

/// When more events than this are to be read, the whole identity graph is read at once instead
/// of looking each person up.
const LOOKUPS: i64 = 20_000;

/// Reads everything after `since` in one read transaction (a consistent view), calling `visit`
/// with each change, and returns where the reading ended.
pub(crate) fn read(
    connection: &mut Connection,
    since: Since,
    message_ids: bool,
    visit: &mut dyn FnMut(Change<'_>) -> Result<(), StoreError>,
) -> Result<Since, StoreError> {
    let transaction = connection.transaction()?;
    let mut until = since;
    {
        let mut merges = transaction.prepare_cached(
            "SELECT id, merged, survivor FROM profile_merges WHERE id > ?1 ORDER BY id",
        )?;
        let mut rows = merges.query(params![since.merge])?;
        while let Some(row) = rows.next()? {
            until.merge = row.get(0)?;
            visit(Change::Merge {
                merged: row.get(1)?,
                survivor: row.get(2)?,
            })?;
        }
    }
    let newest: i64 =
        transaction.query_row("SELECT coalesce(max(seq), 0) FROM event_facts", [], |r| {
            r.get(0)
        })?;
    let mut people = People::new(newest - since.seq > LOOKUPS, &transaction)?;
    {
        let sql = if message_ids {
            "SELECT f.seq, f.kind, f.user_id, f.anonymous_id, f.timestamp_us, f.facts, e.message_id
             FROM event_facts f JOIN events e ON e.seq = f.seq WHERE f.seq > ?1 ORDER BY f.seq"
        } else {
            "SELECT seq, kind, user_id, anonymous_id, timestamp_us, facts, NULL
             FROM event_facts WHERE seq > ?1 ORDER BY seq"
        };
        let mut query = transaction.prepare_cached(sql)?;
        let mut rows = query.query(params![since.seq])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let user_id = row.get_ref(2)?.as_str_or_null().map_err(sql_type)?;
            let anonymous_id = row.get_ref(3)?.as_str_or_null().map_err(sql_type)?;
            let profile = match user_id {
                Some(user) => people.profile(&transaction, "user:", user)?,
                None => None,
            };
            let profile = match (profile, anonymous_id) {
                (None, Some(anonymous)) => people.profile(&transaction, "anon:", anonymous)?,
                (found, _) => found,
            };
            until.seq = seq;
            visit(Change::Event(EventFacts {
                seq,
                kind: Kind::from_code(row.get(1)?),
                user_id,
                anonymous_id,
                message_id: row.get_ref(6)?.as_str_or_null().map_err(sql_type)?,
                timestamp_us: row.get(4)?,
                profile,
                facts: row.get_ref(5)?.as_blob().map_err(sql_type)?,
            }))?;
        }
    }
    loop {
        let blocks = crate::traces::blocks_after(&transaction, until.block, 256)?;
        let Some(last) = blocks.last() else { break };
        until.block = last.id;
        for block in blocks {
            visit(Change::Block(block))?;
        }
    }
    transaction.finish()?;
    Ok(until)
}

fn sql_type(error: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Block(format!("event facts: {error}"))
}

/// Profiles of identifiers, for one reading: the whole graph when many events are read, else
/// looked up one at a time (and remembered). User and anonymous ids are kept apart, without
/// their `user:`/`anon:` prefix, so a lookup builds no string.
struct People {
    users: HashMap<Box<str>, i64, foldhash::fast::RandomState>,
    anonymous: HashMap<Box<str>, i64, foldhash::fast::RandomState>,
    whole: bool,
}

impl People {
    fn new(whole: bool, connection: &Connection) -> Result<Self, StoreError> {
        let mut people = People {
            users: HashMap::default(),
            anonymous: HashMap::default(),
            whole,
        };
        if whole {
            let mut query = connection.prepare(
                "SELECT identifier, profile_id FROM identities
                 WHERE identifier >= 'anon:' AND identifier < 'anon;' OR identifier >= 'user:' AND identifier < 'user;'",
            )?;
            let mut rows = query.query([])?;
            while let Some(row) = rows.next()? {
                let identifier = row.get_ref(0)?.as_str().map_err(sql_type)?;
                let profile: i64 = row.get(1)?;
                if let Some(user) = identifier.strip_prefix("user:") {
                    people.users.insert(user.into(), profile);
                } else if let Some(anonymous) = identifier.strip_prefix("anon:") {
                    people.anonymous.insert(anonymous.into(), profile);
                }
            }
        }
        Ok(people)
    }

    fn profile(
        &mut self,
        connection: &Connection,
        kind: &str,
        id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let known = if kind == "user:" {
            &mut self.users
        } else {
            &mut self.anonymous
        };
        if let Some(&profile) = known.get(id) {
            return Ok(Some(profile));
        }
        if self.whole {
            return Ok(None);
        }
        let found: Option<i64> = connection
            .prepare_cached("SELECT profile_id FROM identities WHERE identifier = ?1")?
            .query_row(params![format!("{kind}{id}")], |r| r.get(0))
            .optional()?;
        if let Some(profile) = found {
            known.insert(id.into(), profile);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, body: &str) -> NewEvent {
        NewEvent {
            message_id: "m".into(),
            kind: kind.into(),
            name: Some("Signed up".into()),
            user_id: Some("u1".into()),
            anonymous_id: None,
            timestamp_us: 5,
            received_us: 5,
            body: body.into(),
        }
    }

    #[test]
    fn an_interactions_facts_are_its_activity_and_typed_properties_then_traits() {
        let (kind, bytes) = of(&event(
            "track",
            r#"{"properties":{"plan":"pro","seats":3,"ratio":0.5,"ok":true,"gone":null,"tags":["a"]},"context":{"traits":{"persona":"Jo"}}}"#,
        ));
        assert_eq!(kind, Kind::Track);
        let facts = decode(&bytes).expect("facts");
        assert_eq!(facts.activity, "Signed up");
        let keys: Vec<&str> = facts.attributes.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["ok", "plan", "ratio", "seats", "tags", "persona"]);
        assert!(facts.attributes.contains(&("seats".into(), Fact::Int(3))));
        assert!(
            facts
                .attributes
                .contains(&("ratio".into(), Fact::Float(0.5)))
        );
        assert!(
            facts
                .attributes
                .contains(&("tags".into(), Fact::Json("[\"a\"]".into())))
        );
    }

    #[test]
    fn an_identify_calls_facts_are_its_own_traits_and_other_calls_have_none() {
        let (kind, bytes) = of(&event(
            "identify",
            r#"{"traits":{"persona":"Jo","gone":null},"context":{"traits":{"other":1}}}"#,
        ));
        assert_eq!(kind, Kind::Identify);
        let facts = decode(&bytes).expect("facts");
        assert_eq!(
            facts.attributes,
            vec![("persona".into(), Fact::Text("Jo".into()))]
        );
        let (kind, bytes) = of(&event("alias", r#"{"previousId":"a1","traits":{"x":1}}"#));
        assert_eq!(kind, Kind::Alias);
        assert!(decode(&bytes).expect("facts").attributes.is_empty());
    }

    fn body() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let value = prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            Just(serde_json::json!([1, {"a": "b"}])),
        ];
        prop::collection::btree_map("[a-z]{1,6}", value, 0..6).prop_map(|properties| {
            serde_json::json!({ "properties": properties, "traits": { "plan": "gold" } })
                .to_string()
        })
    }

    proptest::proptest! {
        /// Whatever a body holds, its facts read back as its typed properties then traits.
        #[test]
        fn facts_read_back_what_the_body_holds(body in body()) {
            let (_, bytes) = of(&event("track", &body));
            let facts = decode(&bytes).expect("facts");
            let json: Json = serde_json::from_str(&body).expect("json");
            let expected: Vec<&str> = json["properties"]
                .as_object()
                .expect("properties")
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.as_str())
                .chain(["plan"])
                .collect();
            let keys: Vec<&str> = facts.attributes.iter().map(|(k, _)| k.as_ref()).collect();
            proptest::prop_assert_eq!(keys, expected);
        }

        /// Damaged facts (a byte changed, or cut short) are errors, never panics.
        #[test]
        fn damaged_facts_are_errors_not_panics(body in body(), cut in proptest::prelude::any::<proptest::sample::Index>(), flip in proptest::prelude::any::<u8>()) {
            let (_, mut bytes) = of(&event("track", &body));
            let at = cut.index(bytes.len());
            bytes[at] ^= flip;
            let _ = decode(&bytes);
            let _ = decode(&bytes[..at]);
        }
    }

    #[test]
    fn damaged_facts_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[FORMAT, 200]).is_err());
    }
}
