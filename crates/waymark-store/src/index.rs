//! The indexes whose keys arrive in random order, kept in an LSM tree (fjall) beside the SQLite
//! file: message id → event (to drop duplicates) and person → events (for timelines).
//!
//! Why not SQLite indexes: a B-tree insert with a random key dirties a random page, and SQLite
//! writes whole pages to its WAL on every commit, so two random indexes cost about 8 KB of disk
//! writes per event under load while the event row itself is under 1 KB. An LSM tree writes its
//! journal sequentially and sorts in the background.
//!
//! The index is derived data. The SQLite file stays the record: the index remembers up to which
//! `seq` it holds every event (written in the same atomic batch as the entries), and on open it
//! adds whatever SQLite has beyond that. It is rebuilt from scratch if it belongs to another
//! database (each database has a random id, kept on both sides).

use std::path::Path;

use fjall::config::{PartitioningPolicy, PinningPolicy};
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use crate::StoreError;

const INDEXED: &[u8] = b"indexed_seq";
const STORE_ID: &[u8] = b"store_id";

/// What the index needs to know of a stored event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) message_id: &'a str,
    pub(crate) seq: i64,
    pub(crate) timestamp_us: i64,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) anonymous_id: Option<&'a str>,
}

pub(crate) struct EventIndex {
    /// Every indexed message id, so that looking up a new one (almost every event) usually
    /// costs a Bloom filter probe instead of an LSM read.
    seen: std::sync::Mutex<Seen>,
    database: Database,
    /// message id → seq.
    ids: Keyspace,
    /// identifier (`user:…`, `anon:…`), time, seq → nothing.
    people: Keyspace,
    meta: Keyspace,
    /// Holds the directory of a temporary index until the store is dropped.
    _temporary: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for EventIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventIndex").finish_non_exhaustive()
    }
}

/// The filter grows up to this many ids (about 20 MB); past it, it fills up and more lookups go
/// to the LSM tree (its own filters answer most), so its memory stays bounded however many
/// events are stored.
const MAX_FILTER: usize = 1 << 24;

/// A Bloom filter of message ids (1% false positives), rebuilt twice as large when full, up to
/// [`MAX_FILTER`].
struct Seen {
    filter: fastbloom::BloomFilter,
    items: usize,
    capacity: usize,
}

impl Seen {
    fn with_capacity(capacity: usize) -> Self {
        Seen {
            filter: fastbloom::BloomFilter::with_false_pos(0.01).expected_items(capacity),
            items: 0,
            capacity,
        }
    }
}

fn index_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Index(error.to_string())
}

/// Times sort as unsigned big-endian bytes once the sign bit is flipped.
fn time_key(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_of(bytes: &[u8]) -> i64 {
    (be_u64(bytes) ^ (1 << 63)) as i64
}

/// Eight big-endian bytes (zero when there are not eight).
fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_be_bytes)
}

/// The key prefix of one identifier, given in parts (`user:`, `u1`): its length, then its bytes
/// (so no identifier is a prefix of another's keys).
fn person_prefix(parts: [&str; 2]) -> Vec<u8> {
    let length: usize = parts.iter().map(|p| p.len()).sum();
    let mut key = Vec::with_capacity(4 + length + 16);
    key.extend_from_slice(&(length as u32).to_be_bytes());
    for part in parts {
        key.extend_from_slice(part.as_bytes());
    }
    key
}

fn person_key(parts: [&str; 2], timestamp_us: i64, seq: i64) -> Vec<u8> {
    let mut key = person_prefix(parts);
    key.extend_from_slice(&time_key(timestamp_us));
    key.extend_from_slice(&(seq as u64).to_be_bytes());
    key
}

impl EventIndex {
    fn open_at(directory: &Path, temporary: Option<tempfile::TempDir>) -> Result<Self, StoreError> {
        let database = Database::builder(directory).open().map_err(index_error)?;
        // Small memtables: every new event looks its message id up, and a miss in a large
        // skip list costs more than a miss in a table's Bloom filter. Filters and block indexes
        // are written in partitions and read through the block cache, never pinned: pinned or
        // whole, they took memory in proportion to the events stored (a long load grew the
        // server by tens of bytes per event).
        let keyspace = |name: &str| {
            database
                .keyspace(name, || {
                    KeyspaceCreateOptions::default()
                        .max_memtable_size(8 * 1024 * 1024)
                        .filter_block_pinning_policy(PinningPolicy::all(false))
                        .index_block_pinning_policy(PinningPolicy::all(false))
                        .filter_block_partitioning_policy(PartitioningPolicy::all(true))
                        .index_block_partitioning_policy(PartitioningPolicy::all(true))
                })
                .map_err(index_error)
        };
        let index = EventIndex {
            seen: std::sync::Mutex::new(Seen::with_capacity(1 << 20)),
            ids: keyspace("message_ids")?,
            people: keyspace("people")?,
            meta: keyspace("meta")?,
            database,
            _temporary: temporary,
        };
        index.refill(2 * index.ids.approximate_len())?;
        Ok(index)
    }

    /// Rebuilds the Bloom filter from the index, for at least `capacity` ids.
    fn refill(&self, capacity: usize) -> Result<(), StoreError> {
        let mut seen = Seen::with_capacity(capacity.clamp(1 << 20, MAX_FILTER));
        for item in self.ids.iter() {
            let key = item.key().map_err(index_error)?;
            seen.filter.insert(&*key);
            seen.items += 1;
        }
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = seen;
        Ok(())
    }

    /// The index of the database `store_id`, in `directory`. An index of another database is
    /// wiped, to be rebuilt from the events. An index that cannot be opened is never touched:
    /// most likely another process has it (fjall locks its directory).
    pub(crate) fn open(directory: &Path, store_id: &str) -> Result<Self, StoreError> {
        let index = Self::open_at(directory, None).map_err(|error| {
            let reason = match error {
                StoreError::Index(reason) => reason,
                other => other.to_string(),
            };
            StoreError::Index(format!(
                "{} cannot be opened ({reason}); is another waymark process using this database? \
                 Import through its API (POST /v1/import) instead; if the index is damaged, remove \
                 the directory: it is rebuilt from the database",
                directory.display()
            ))
        })?;
        match index.store_id()?.as_deref() {
            Some(id) if id == store_id => return Ok(index),
            // A new index: claim it.
            None if index.indexed_seq()? == 0 && index.ids.approximate_len() == 0 => {
                index.meta.insert(STORE_ID, store_id).map_err(index_error)?;
                return Ok(index);
            }
            _ => drop(index),
        }
        tracing::warn!(directory = %directory.display(), "the event index belongs to another database, so it is rebuilt");
        std::fs::remove_dir_all(directory).map_err(index_error)?;
        let fresh = Self::open_at(directory, None)?;
        fresh.meta.insert(STORE_ID, store_id).map_err(index_error)?;
        Ok(fresh)
    }

    /// An index in a temporary directory, for an in-memory store.
    pub(crate) fn temporary() -> Result<Self, StoreError> {
        let directory = tempfile::tempdir().map_err(index_error)?;
        let path = directory.path().to_path_buf();
        Self::open_at(&path, Some(directory))
    }

    fn store_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get(STORE_ID)
            .map_err(index_error)?
            .map(|v| String::from_utf8_lossy(&v).to_string()))
    }

    /// Every event up to this seq is in the index.
    pub(crate) fn indexed_seq(&self) -> Result<i64, StoreError> {
        Ok(self
            .meta
            .get(INDEXED)
            .map_err(index_error)?
            .map_or(0, |v| be_u64(&v) as i64))
    }

    pub(crate) fn contains(&self, message_id: &str) -> Result<bool, StoreError> {
        let maybe = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter
            .contains(message_id.as_bytes());
        if !maybe {
            return Ok(false);
        }
        self.ids.contains_key(message_id).map_err(index_error)
    }

    /// Adds stored events (in seq order) in one atomic batch, with the new high-water mark.
    /// Not synced to disk: after a power loss the index may lose a tail, which opening adds
    /// back from SQLite.
    pub(crate) fn add(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let mut batch = self.database.batch();
        for entry in entries {
            batch.insert(&self.ids, entry.message_id, entry.seq.to_be_bytes());
            for parts in [
                entry.user_id.map(|u| ["user:", u]),
                entry.anonymous_id.map(|a| ["anon:", a]),
            ]
            .into_iter()
            .flatten()
            {
                batch.insert(
                    &self.people,
                    person_key(parts, entry.timestamp_us, entry.seq),
                    [],
                );
            }
        }
        batch.insert(&self.meta, INDEXED, last.seq.to_be_bytes());
        batch.commit().map_err(index_error)?;
        let full = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for entry in entries {
                seen.filter.insert(entry.message_id.as_bytes());
            }
            seen.items += entries.len();
            (seen.items > seen.capacity).then_some(seen.capacity)
        };
        if let Some(capacity) = full
            && capacity < MAX_FILTER
        {
            tracing::info!(capacity, "growing the message id filter");
            self.refill(capacity * 2)?;
        }
        Ok(())
    }

    /// The (time, seq) of the events of these identifiers, newest first, strictly before
    /// `before` (a (time, seq) cursor), at most `limit`.
    pub(crate) fn person_events(
        &self,
        identifiers: &[String],
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut found: Vec<(i64, i64)> = Vec::new();
        for identifier in identifiers {
            let prefix = person_prefix([identifier, ""]);
            let start = prefix.clone();
            let end = match before {
                Some((time, seq)) => person_key([identifier, ""], time, seq),
                None => {
                    let mut end = prefix.clone();
                    end.extend_from_slice(&[0xff; 17]);
                    end
                }
            };
            for item in self.people.range(start..end).rev().take(limit) {
                let key = item.key().map_err(index_error)?;
                let tail = &key[prefix.len()..];
                if tail.len() != 16 {
                    continue;
                }
                found.push((time_of(&tail[..8]), be_u64(&tail[8..]) as i64));
            }
        }
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sort_as_bytes_including_before_1970() {
        let times = [-5_000_000_i64, -1, 0, 1, 1_714_557_600_000_000];
        let keys: Vec<[u8; 8]> = times.iter().map(|&t| time_key(t)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(times.iter().all(|&t| time_of(&time_key(t)) == t));
    }

    #[test]
    fn person_events_are_newest_first_and_page_by_cursor() {
        let index = EventIndex::temporary().expect("index");
        let entry = |seq, time, user| Entry {
            message_id: Box::leak(format!("m{seq}").into_boxed_str()),
            seq,
            timestamp_us: time,
            user_id: Some(user),
            anonymous_id: None,
        };
        index
            .add(&[
                entry(1, 30, "u1"),
                entry(2, 10, "u1"),
                entry(3, 20, "u10"),
                entry(4, 20, "u1"),
            ])
            .expect("add");
        assert_eq!(index.indexed_seq().expect("seq"), 4);
        assert!(index.contains("m3").expect("contains"));
        assert!(!index.contains("m9").expect("contains"));
        let ids = vec!["user:u1".to_string()];
        let page = index.person_events(&ids, None, 2).expect("page");
        assert_eq!(page, [(30, 1), (20, 4)], "u10 is another person");
        let next = index.person_events(&ids, Some((20, 4)), 2).expect("page");
        assert_eq!(next, [(10, 2)]);
    }
}
