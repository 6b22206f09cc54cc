//! Work one node at a time does for all of them, such as forwarding the collected events to
//! ClickHouse: a lease per piece of work, one row each.
//!
//! - A node takes a lease when nobody holds it or it lapsed, and renews it while it lives.
//! - Whoever holds it records how far it got (`progress`: it only moves forward).
//! - The others read that, so a call they answer can wait for work another node does.
//!
//! A node that stops gives its lease up; one that dies holds it until it lapses, and then the
//! next node to ask takes it. Times are the nodes' own clocks: keep them in step (NTP), well
//! within the lease's length. Two nodes may both believe they hold a lease for as long as one
//! of them is paused past its lapse, so the work done under one must be safe to do twice.
//! The statements are shared by both backends.

use rusqlite::{OptionalExtension, params};

use crate::StoreError;

/// The table (SQLite's schema 31, PostgreSQL's 12).
pub(crate) const SCHEMA: &str = "CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until_us BIGINT NOT NULL,
        progress BIGINT NOT NULL
    );";

/// Takes or renews the lease: `$1` name, `$2` holder, `$3` until, `$4` progress, `$5` now.
pub(crate) const TAKE: &str =
    "INSERT INTO leases (name, holder, until_us, progress) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us,
        progress = CASE WHEN leases.progress > excluded.progress THEN leases.progress
                        ELSE excluded.progress END
    WHERE leases.holder = excluded.holder OR leases.until_us <= $5";
pub(crate) const READ: &str = "SELECT holder, until_us, progress FROM leases WHERE name = $1";
pub(crate) const RELEASE: &str =
    "UPDATE leases SET holder = '', until_us = 0 WHERE name = $1 AND holder = $2";

/// A lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    /// When it lapses unless renewed (µs).
    pub until_us: i64,
    /// How far its holders got, as they recorded it.
    pub progress: i64,
}

impl Lease {
    pub fn held_by(&self, holder: &str) -> bool {
        self.holder == holder
    }

    /// Whether anyone may take it at `now_us`: given up, or not renewed in time.
    pub fn lapsed(&self, now_us: i64) -> bool {
        self.until_us <= now_us
    }
}

fn lease_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        holder: row.get(0)?,
        until_us: row.get(1)?,
        progress: row.get(2)?,
    })
}

fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

impl crate::Leases for crate::SqliteStore {
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        lease_us: i64,
        progress: i64,
    ) -> Result<Lease, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            transaction.prepare_cached(&q(TAKE))?.execute(params![
                name,
                holder,
                now_us.saturating_add(lease_us),
                progress,
                now_us
            ])?;
            let lease = transaction
                .prepare_cached(&q(READ))?
                .query_row(params![name], lease_of)?;
            transaction.commit()?;
            Ok(lease)
        })
    }

    fn read_lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&q(READ))?
                .query_row(params![name], lease_of)
                .optional()?)
        })
    }

    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.write(|connection| {
            connection
                .prepare_cached(&q(RELEASE))?
                .execute(params![name, holder])?;
            Ok(())
        })
    }
}
