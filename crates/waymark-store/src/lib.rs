//! Storage behind one trait.
//!
//! [`Store`] is what the server and the engines need from storage: append collected events
//! durably and exactly once, read them back in arrival order, and keep API keys (hashed). The
//! embedded default is [`SqliteStore`] (SQLite in WAL mode, versioned migrations applied at open);
//! a PostgreSQL backend will implement the same trait. No other crate writes SQL.
//!
//! Invariant: [`Store::append`] returns only after its events are committed, so an acknowledged
//! event survives the process being killed.

mod identity;
mod logs;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};

pub use identity::Profile;
pub use logs::{import_log, stored_log};

/// A collected event, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The sender's id for the event; a second event with the same id is a duplicate.
    pub message_id: String,
    /// `track`, `identify`, `page`, `screen`, `group` or `alias`.
    pub kind: String,
    /// The event name (track) or page/screen name.
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// When it happened, in µs since the epoch, after clock-skew correction.
    pub timestamp_us: i64,
    /// When the server received it, in µs since the epoch.
    pub received_us: i64,
    /// The whole event as JSON, as received (properties, traits, context, ...).
    pub body: String,
}

/// A stored event, with its place in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: NewEvent,
    /// The profile the event's person belongs to (identities stitched).
    pub profile: Option<i64>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    pub inserted: usize,
    /// Events whose message id was already stored; they were dropped.
    pub duplicates: usize,
}

/// The kinds of API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Reads and writes everything.
    Admin,
    /// Only writes events.
    Write,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Write => "write",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the store is unusable after an earlier failure")]
    Poisoned,
}

/// What Waymark needs from storage.
pub trait Store: Send + Sync {
    /// Stores events in one transaction, dropping those whose message id is already stored (also
    /// within the batch). Returns after the commit.
    fn append(&self, events: &[NewEvent]) -> Result<Appended, StoreError>;
    /// Events in arrival order, after `after_seq`, at most `limit`.
    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    fn count_events(&self) -> Result<u64, StoreError>;
    /// Makes sure a key exists (stored as a hash of the token).
    fn ensure_key(&self, kind: KeyKind, token: &str) -> Result<(), StoreError>;
    /// The kind of key a token is, if it is one.
    fn key_kind(&self, token: &str) -> Result<Option<KeyKind>, StoreError>;
    /// The profile an identifier (user id, anonymous id, email, phone, …) belongs to.
    fn profile(&self, identifier: &str) -> Result<Option<Profile>, StoreError>;
    /// A profile's events across all its identifiers and channels, newest first, before
    /// `before_seq`. `None` when no profile has the identifier.
    fn timeline(
        &self,
        identifier: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError>;
    /// The profiles whose latest value of a trait is `value`.
    fn search_profiles(&self, trait_name: &str, value: &str) -> Result<Vec<Profile>, StoreError>;
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            name TEXT,
            user_id TEXT,
            anonymous_id TEXT,
            timestamp_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX events_by_user ON events (user_id, timestamp_us);
        CREATE INDEX events_by_anonymous ON events (anonymous_id, timestamp_us);
        CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('admin', 'write'))
        );",
        ),
        M::up(
            "CREATE TABLE profiles (
            id INTEGER PRIMARY KEY
        );
        CREATE TABLE identities (
            identifier TEXT PRIMARY KEY,
            profile_id INTEGER NOT NULL
        );
        CREATE INDEX identities_by_profile ON identities (profile_id);
        CREATE TABLE profile_traits (
            profile_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            at_us INTEGER NOT NULL
        );
        CREATE INDEX profile_traits_by_profile ON profile_traits (profile_id, name, at_us);",
        ),
    ])
}

pub(crate) fn row_to_event(row: &rusqlite::Row) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        event: NewEvent {
            message_id: row.get(1)?,
            kind: row.get(2)?,
            name: row.get(3)?,
            user_id: row.get(4)?,
            anonymous_id: row.get(5)?,
            timestamp_us: row.get(6)?,
            received_us: row.get(7)?,
            body: row.get(8)?,
        },
        profile: row.get(9)?,
    })
}

fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SQLite in WAL mode with full synchronous commits.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
    identifier_traits: Vec<String>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database, for tests and one-off analyses.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut connection: Connection) -> Result<Self, StoreError> {
        // WAL lets readers work while a writer commits; FULL makes each commit durable before
        // `append` returns, which is what acknowledging an event promises.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.pragma_update(None, "cache_size", -65_536)?;
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(&mut connection)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            identifier_traits: vec!["email".to_string(), "phone".to_string()],
        })
    }

    /// The traits that identify a person (default: `email` and `phone`): events carrying the same
    /// value merge into one profile. Applies to events stored from now on.
    pub fn with_identifier_traits(mut self, traits: Vec<String>) -> Self {
        self.identifier_traits = traits;
        self
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut connection)
    }
}

impl Store for SqliteStore {
    fn append(&self, events: &[NewEvent]) -> Result<Appended, StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction()?;
            let mut outcome = Appended::default();
            let mut settled = std::collections::HashSet::new();
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO events (message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (message_id) DO NOTHING",
                )?;
                for e in events {
                    let changed = insert.execute(params![
                        e.message_id,
                        e.kind,
                        e.name,
                        e.user_id,
                        e.anonymous_id,
                        e.timestamp_us,
                        e.received_us,
                        e.body
                    ])?;
                    if changed == 1 {
                        outcome.inserted += 1;
                        identity::link(&transaction, e, &self.identifier_traits, &mut settled)?;
                    } else {
                        outcome.duplicates += 1;
                    }
                }
            }
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body, COALESCE((SELECT profile_id FROM identities WHERE identifier = 'user:' || user_id), (SELECT profile_id FROM identities WHERE identifier = 'anon:' || anonymous_id))
                 FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = query.query_map(params![after_seq, limit as i64], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn count_events(&self) -> Result<u64, StoreError> {
        self.with(|connection| {
            let count: i64 =
                connection.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
            Ok(count as u64)
        })
    }

    fn ensure_key(&self, kind: KeyKind, token: &str) -> Result<(), StoreError> {
        self.with(|connection| {
            connection.execute(
                "INSERT INTO api_keys (hash, kind) VALUES (?1, ?2) ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind",
                params![hash(token), kind.as_str()],
            )?;
            Ok(())
        })
    }

    fn key_kind(&self, token: &str) -> Result<Option<KeyKind>, StoreError> {
        self.with(|connection| {
            let kind: Option<String> = connection
                .query_row(
                    "SELECT kind FROM api_keys WHERE hash = ?1",
                    params![hash(token)],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(kind.map(|k| {
                if k == "admin" {
                    KeyKind::Admin
                } else {
                    KeyKind::Write
                }
            }))
        })
    }

    fn profile(&self, identifier: &str) -> Result<Option<Profile>, StoreError> {
        self.with(
            |connection| match self.profile_id(connection, identifier)? {
                Some(id) => identity::profile(connection, id),
                None => Ok(None),
            },
        )
    }

    fn timeline(
        &self,
        identifier: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        self.with(
            |connection| match self.profile_id(connection, identifier)? {
                Some(id) => identity::timeline(connection, id, before_seq, limit).map(Some),
                None => Ok(None),
            },
        )
    }

    fn search_profiles(&self, trait_name: &str, value: &str) -> Result<Vec<Profile>, StoreError> {
        self.with(|connection| {
            let ids = identity::search(connection, trait_name, value)?;
            let mut profiles = Vec::new();
            for id in ids {
                if let Some(profile) = identity::profile(connection, id)? {
                    profiles.push(profile);
                }
            }
            Ok(profiles)
        })
    }
}

impl SqliteStore {
    fn profile_id(
        &self,
        connection: &Connection,
        identifier: &str,
    ) -> Result<Option<i64>, StoreError> {
        identity::find(connection, identifier, &self.identifier_traits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }
}
