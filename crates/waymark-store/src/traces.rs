//! Imported process logs, kept as one block per case.
//!
//! A process log arrives as whole cases and is read back as whole cases (a person's timeline,
//! the analyses), so its events are not stored one row each with index entries of their own.
//! Measured on `bpic2012.xes.gz` (262,200 events, two cores): a row per event caps `waymark
//! import` near 190k events/s end to end, and still near 315k events/s with every index
//! switched off. Instead each case's events are one row of `traces`: the case's user id, its
//! time range, its event count, and the events packed with postcard and compressed with LZ4. A
//! case longer than [`BLOCK_EVENTS`] takes several rows.
//!
//! Exactly once: an imported event is identified by its case, its position in the case, its
//! activity and its time (what its derived message id is made of, see [`message_id`]). Before a
//! case is stored, the person's stored blocks are read and the events already there are dropped.
//!
//! Seqs: the event at place `i` of block `id` has seq `-(id × BLOCK_EVENTS + i)`, so collected
//! events (positive seqs) and imported ones share one cursor space.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{NewEvent, StoreError, StoredEvent};

/// The most events one stored block holds.
pub const BLOCK_EVENTS: usize = 10_000;

/// The version of the block layout, its first byte.
const FORMAT: u8 = 1;

/// One event of an imported case, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceEvent {
    /// Its position in the case as read from the file, from 0.
    pub(crate) position: u32,
    /// The activity, stored as the `track` call's event name.
    pub(crate) name: String,
    pub(crate) timestamp_us: i64,
    /// The stored body: `{"properties": {…}}`, or `{}`.
    pub(crate) body: String,
}

/// One event of an imported case, to be packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Its position in the case as read from the file, from 0.
    pub position: u32,
    /// The activity, stored as the `track` call's event name.
    pub name: &'a str,
    pub timestamp_us: i64,
    /// The stored body: `{"properties": {…}}`, or `{}`.
    pub body: &'a str,
}

impl<'a> From<&'a TraceEvent> for EventRef<'a> {
    fn from(e: &'a TraceEvent) -> Self {
        EventRef {
            position: e.position,
            name: &e.name,
            timestamp_us: e.timestamp_us,
            body: &e.body,
        }
    }
}

/// Events of one imported case, packed into a block ready to store: they become `track` calls
/// of the user `user_id`. Packing is done by the importing threads, so the one writer only
/// checks for events already stored and inserts the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrace {
    pub(crate) user_id: String,
    pub(crate) first_us: i64,
    pub(crate) last_us: i64,
    /// (position, [`event_key`]) of each event.
    pub(crate) keys: Vec<(u32, u32)>,
    pub(crate) block: Vec<u8>,
}

impl NewTrace {
    /// Packs events of the case `user_id`; at most [`BLOCK_EVENTS`] of them (a longer case
    /// takes several traces).
    pub fn pack(user_id: &str, events: &[EventRef<'_>]) -> Result<Self, StoreError> {
        if events.len() > BLOCK_EVENTS {
            return Err(StoreError::Block(format!(
                "{} events for one block; split the case into blocks of at most {BLOCK_EVENTS}",
                events.len()
            )));
        }
        Ok(NewTrace {
            user_id: user_id.to_string(),
            first_us: events.iter().map(|e| e.timestamp_us).min().unwrap_or(0),
            last_us: events.iter().map(|e| e.timestamp_us).max().unwrap_or(0),
            keys: events
                .iter()
                .map(|e| (e.position, event_key(e.name, e.timestamp_us)))
                .collect(),
            block: encode(events)?,
        })
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A stored block of an imported case, its events read back as stored events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTrace {
    pub id: i64,
    pub events: Vec<StoredEvent>,
}

/// A stored block as it is stored, for readers that go through every event fast (the
/// analyses): no per-event strings are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBlock {
    pub id: i64,
    pub user_id: String,
    /// The profile of `user_id`.
    pub profile: Option<i64>,
    pub(crate) block: Vec<u8>,
}

impl TraceBlock {
    /// Calls `f` with each event in stored order: its position in the case, its activity (with
    /// the activity's index among the block's distinct activities, so callers can cache per
    /// activity), time and body (`{"properties": {…}}` or `{}`).
    pub fn for_each(&self, f: impl FnMut(u32, (usize, &str), i64, &str)) -> Result<(), StoreError> {
        each_event(&self.block, f)
    }
}

/// Unpacks a stored block and calls `f` with each event (see [`TraceBlock::for_each`]).
pub(crate) fn each_event(
    block: &[u8],
    mut f: impl FnMut(u32, (usize, &str), i64, &str),
) -> Result<(), StoreError> {
    let bytes = decompress(block)?;
    let block: Block = postcard::from_bytes(&bytes).map_err(unreadable)?;
    for e in &block.events {
        let name = block
            .names
            .get(e.name as usize)
            .ok_or_else(|| StoreError::Block(format!("activity {} is not in the block", e.name)))?;
        f(e.position, (e.name as usize, name), e.timestamp_us, e.body);
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Block<'a> {
    /// The activities of the block, each once.
    #[serde(borrow)]
    names: Vec<&'a str>,
    #[serde(borrow)]
    events: Vec<Packed<'a>>,
}

#[derive(Serialize, Deserialize)]
struct Packed<'a> {
    position: u32,
    /// Index into `names`.
    name: u32,
    timestamp_us: i64,
    body: &'a str,
}

fn unreadable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Block(error.to_string())
}

/// What identifies an imported event within its case, besides its position.
pub fn event_key(name: &str, timestamp_us: i64) -> u32 {
    let mut bytes = Vec::with_capacity(name.len() + 8);
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(&timestamp_us.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes) as u32
}

/// The message id of an imported event. The case comes first so that one case's ids sort
/// together.
pub fn message_id(user_id: &str, position: u32, key: u32) -> String {
    format!(
        "import-{:016x}-{position:06}-{key:08x}",
        xxhash_rust::xxh3::xxh3_64(user_id.as_bytes())
    )
}

fn encode(events: &[EventRef<'_>]) -> Result<Vec<u8>, StoreError> {
    // A case has few activities, and an imported log's are interned (one pointer each).
    let mut names: Vec<&str> = Vec::new();
    let packed: Vec<Packed> = events
        .iter()
        .map(|e| {
            let found = names
                .iter()
                .position(|n| std::ptr::eq(*n, e.name) || *n == e.name);
            let name = found.unwrap_or_else(|| {
                names.push(e.name);
                names.len() - 1
            }) as u32;
            Packed {
                position: e.position,
                name,
                timestamp_us: e.timestamp_us,
                body: e.body,
            }
        })
        .collect();
    let bytes = postcard::to_allocvec(&Block {
        names,
        events: packed,
    })
    .map_err(unreadable)?;
    let mut out = vec![0; 5 + lz4_flex::block::get_maximum_output_size(bytes.len())];
    out[0] = FORMAT;
    out[1..5].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    let written = lz4_flex::block::compress_into(&bytes, &mut out[5..]).map_err(unreadable)?;
    out.truncate(5 + written);
    Ok(out)
}

/// The packed bytes of a stored block.
fn decompress(block: &[u8]) -> Result<Vec<u8>, StoreError> {
    let Some((&FORMAT, compressed)) = block.split_first() else {
        return Err(StoreError::Block(format!(
            "unknown block format {:?}; was it written by a newer Waymark?",
            block.first()
        )));
    };
    // LZ4 expands at most 255-fold: a larger size means a damaged block, not an allocation.
    let size = compressed
        .get(..4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize);
    if size > compressed.len().saturating_mul(255) {
        return Err(StoreError::Block(format!(
            "the block claims {size} bytes from {} compressed",
            compressed.len()
        )));
    }
    lz4_flex::decompress_size_prepended(compressed).map_err(unreadable)
}

pub(crate) fn decode(block: &[u8]) -> Result<Vec<TraceEvent>, StoreError> {
    let mut events = Vec::new();
    each_event(block, |position, (_, name), timestamp_us, body| {
        events.push(TraceEvent {
            position,
            name: name.to_string(),
            timestamp_us,
            body: body.to_string(),
        });
    })?;
    Ok(events)
}

/// The (position, key) of each event in stored blocks.
pub(crate) fn keys_in<'a>(
    blocks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<HashSet<(u32, u32)>, StoreError> {
    let mut keys = HashSet::new();
    for block in blocks {
        each_event(block, |position, (_, name), timestamp_us, _| {
            keys.insert((position, event_key(name, timestamp_us)));
        })?;
    }
    Ok(keys)
}

/// The part of `trace` whose events are not among `stored` (nor earlier in the trace): the
/// trace itself when all of it is new, else repacked; `None` when nothing is new.
pub(crate) fn unstored<'a>(
    trace: &'a NewTrace,
    stored: &HashSet<(u32, u32)>,
) -> Result<Option<std::borrow::Cow<'a, NewTrace>>, StoreError> {
    let mut seen = HashSet::new();
    let fresh: Vec<bool> = trace
        .keys
        .iter()
        .map(|key| !stored.contains(key) && seen.insert(*key))
        .collect();
    let count = fresh.iter().filter(|f| **f).count();
    if count == 0 {
        return Ok(None);
    }
    if count == trace.len() {
        return Ok(Some(std::borrow::Cow::Borrowed(trace)));
    }
    let events = decode(&trace.block)?;
    let kept: Vec<EventRef> = events
        .iter()
        .zip(&fresh)
        .filter(|(_, fresh)| **fresh)
        .map(|(e, _)| e.into())
        .collect();
    Ok(Some(std::borrow::Cow::Owned(NewTrace::pack(
        &trace.user_id,
        &kept,
    )?)))
}

/// Stores the events of `trace` not stored yet, and says how many that was. Cheap for a
/// person with no stored blocks (one index probe); otherwise the block is repacked without the
/// events already there.
pub(crate) fn insert(connection: &Connection, trace: &NewTrace) -> Result<usize, StoreError> {
    let mut query = connection.prepare_cached("SELECT body FROM traces WHERE user_id = ?1")?;
    let bodies: Vec<Vec<u8>> = query
        .query_map(params![trace.user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let stored = keys_in(bodies.iter().map(Vec::as_slice))?;
    let Some(fresh) = unstored(trace, &stored)? else {
        return Ok(0);
    };
    connection
        .prepare_cached(
            "INSERT INTO traces (user_id, first_us, last_us, events, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            fresh.user_id,
            fresh.first_us,
            fresh.last_us,
            fresh.len() as i64,
            fresh.block
        ])?;
    Ok(fresh.len())
}

/// The events of `trace` as rows with their derived message ids (for cases imported as rows
/// before blocks existed).
pub(crate) fn as_rows(trace: &NewTrace) -> Result<Vec<NewEvent>, StoreError> {
    Ok(decode(&trace.block)?
        .into_iter()
        .map(|e| as_stored(&trace.user_id, 0, None, e).event)
        .collect())
}

/// The message id of the first event of `trace`.
pub(crate) fn first_message_id(trace: &NewTrace) -> Option<String> {
    let &(position, key) = trace.keys.first()?;
    Some(message_id(&trace.user_id, position, key))
}

/// A call that links an imported case's user id into the identity graph.
pub(crate) fn identity_call(trace: &NewTrace) -> NewEvent {
    NewEvent {
        message_id: String::new(),
        kind: "track".to_string(),
        name: None,
        user_id: Some(trace.user_id.clone()),
        anonymous_id: None,
        timestamp_us: trace.first_us,
        received_us: 0,
        body: "{}".to_string(),
    }
}

/// A stored event of an imported case, as a `track` call.
fn as_stored(user_id: &str, seq: i64, profile: Option<i64>, e: TraceEvent) -> StoredEvent {
    StoredEvent {
        seq,
        event: NewEvent {
            message_id: message_id(user_id, e.position, event_key(&e.name, e.timestamp_us)),
            kind: "track".to_string(),
            name: Some(e.name),
            user_id: Some(user_id.to_string()),
            anonymous_id: None,
            timestamp_us: e.timestamp_us,
            received_us: e.timestamp_us,
            body: e.body,
        },
        profile,
    }
}

fn seq(block: i64, place: usize) -> i64 {
    -(block * BLOCK_EVENTS as i64 + place as i64)
}

pub(crate) fn read_block(
    id: i64,
    user_id: &str,
    profile: Option<i64>,
    body: &[u8],
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(decode(body)?
        .into_iter()
        .enumerate()
        .map(|(place, e)| as_stored(user_id, seq(id, place), profile, e))
        .collect())
}

/// Stored blocks in the order they were stored, after block `after_id`, at most `limit`.
pub(crate) fn after(
    connection: &Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<StoredTrace>, StoreError> {
    blocks_after(connection, after_id, limit)?
        .into_iter()
        .map(|b| {
            Ok(StoredTrace {
                id: b.id,
                events: read_block(b.id, &b.user_id, b.profile, &b.block)?,
            })
        })
        .collect()
}

/// Stored blocks, undecoded, in the order stored, after block `after_id`, at most `limit`.
pub(crate) fn blocks_after(
    connection: &Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<TraceBlock>, StoreError> {
    let mut query = connection.prepare_cached(
        "SELECT id, user_id, body, (SELECT profile_id FROM identities WHERE identifier = 'user:' || user_id)
         FROM traces WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = query.query_map(params![after_id, limit as i64], |row| {
        Ok(TraceBlock {
            id: row.get(0)?,
            user_id: row.get(1)?,
            block: row.get(2)?,
            profile: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The imported events of `user_id` at or before `until_us`.
pub(crate) fn of_user(
    connection: &Connection,
    user_id: &str,
    profile: Option<i64>,
    until_us: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut query = connection
        .prepare_cached("SELECT id, body FROM traces WHERE user_id = ?1 AND first_us <= ?2")?;
    let mut rows = query.query(params![user_id, until_us])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.extend(read_block(
            row.get(0)?,
            user_id,
            profile,
            row.get_ref(1)?.as_blob().map_err(unreadable)?,
        )?);
    }
    Ok(events)
}

/// The block and the place in it of the imported event with this (negative) seq.
pub(crate) fn place_of(seq: i64) -> (i64, usize) {
    (
        -seq / BLOCK_EVENTS as i64,
        (-seq % BLOCK_EVENTS as i64) as usize,
    )
}

/// The time of the imported event with this (negative) seq.
pub(crate) fn time_of(connection: &Connection, seq: i64) -> Result<Option<i64>, StoreError> {
    let (id, place) = place_of(seq);
    let body: Option<Vec<u8>> = connection
        .prepare_cached("SELECT body FROM traces WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    match body {
        Some(body) => Ok(decode(&body)?.get(place).map(|e| e.timestamp_us)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn events() -> impl Strategy<Value = Vec<TraceEvent>> {
        prop::collection::vec(
            (any::<u32>(), "[a-zA-Z _]{0,12}", any::<i64>(), "\\PC{0,30}").prop_map(
                |(position, name, timestamp_us, body)| TraceEvent {
                    position,
                    name,
                    timestamp_us,
                    body,
                },
            ),
            0..60,
        )
    }

    proptest! {
        #[test]
        fn blocks_read_back_what_was_written(events in events()) {
            let refs: Vec<EventRef> = events.iter().map(Into::into).collect();
            let block = encode(&refs).expect("encode");
            prop_assert_eq!(decode(&block).expect("decode"), events);
        }

        #[test]
        fn damaged_blocks_are_errors_not_panics(events in events(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
            let refs: Vec<EventRef> = events.iter().map(Into::into).collect();
            let mut block = encode(&refs).expect("encode");
            let at = cut.index(block.len());
            block[at] ^= flip;
            let _ = decode(&block);
            let _ = decode(&block[..at]);
        }
    }

    #[test]
    fn seqs_name_the_block_and_the_place() {
        assert_eq!(seq(12, 5), -120_005);
        let s = seq(7, BLOCK_EVENTS - 1);
        assert_eq!(
            (-s / BLOCK_EVENTS as i64, -s % BLOCK_EVENTS as i64),
            (7, 9_999)
        );
    }

    #[test]
    fn message_ids_are_the_ones_imports_always_derived() {
        // The layout rows of earlier imports carry; re-importing must recognise them.
        let mut key = b"A_SUBMITTED".to_vec();
        key.extend_from_slice(&1_000_i64.to_le_bytes());
        assert_eq!(
            event_key("A_SUBMITTED", 1_000),
            xxhash_rust::xxh3::xxh3_64(&key) as u32
        );
        let id = message_id("173688", 3, 0xabc);
        assert!(
            id.starts_with("import-") && id.ends_with("-000003-00000abc"),
            "{id}"
        );
    }
}
