//! Whether the store can do its work: the database answers, the last write went through, and
//! the disk has room for more. `/healthz` reports this, so a monitor sees a store that stopped
//! writing even while the process still answers.

use crate::{SqliteStore, StoreError};

/// Below this much free space on the database's disk, the store is reported as failing: a
/// commit may not fit, and SQLite needs room for its journal.
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// What is wrong with the store, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Each problem in a sentence; empty when all is well.
    pub problems: Vec<String>,
    /// Free bytes on the database's disk (`None` in memory, or when it cannot be read).
    pub free_bytes: Option<u64>,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl SqliteStore {
    /// Records the outcome of a commit: a failure until the next success.
    pub(crate) fn note_write(&self, failure: Option<&impl std::fmt::Display>) {
        let mut failing = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *failing = failure.map(|error| error.to_string());
    }
}

impl crate::Maintenance for SqliteStore {
    fn backup(&self, to: &std::path::Path) -> Result<u64, StoreError> {
        if to.exists() {
            return Err(StoreError::Refused(format!(
                "{} exists; a backup goes to a new file",
                to.display()
            )));
        }
        // SQLite's online backup: pages are copied in steps, and the copy is of one moment
        // even while others write (a step that sees a write starts over).
        self.with(|connection| {
            let mut target = rusqlite::Connection::open(to)?;
            let backup = rusqlite::backup::Backup::new(connection, &mut target)?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
            Ok(())
        })?;
        Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
    }
}

impl crate::HealthCheck for SqliteStore {
    fn health(&self) -> Health {
        let mut health = Health::default();
        let read: Result<i64, StoreError> = self.with(|connection| {
            Ok(connection.query_row("SELECT count(*) FROM store_meta", [], |r| r.get(0))?)
        });
        if let Err(error) = read {
            health
                .problems
                .push(format!("the database cannot be read: {error}"));
        }
        if let Some(error) = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            health
                .problems
                .push(format!("the last write failed: {error}"));
        }
        if let Some(directory) = &self.directory {
            match rustix::fs::statvfs(directory) {
                Ok(stats) => {
                    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                    health.free_bytes = Some(free);
                    if free < MIN_FREE_BYTES {
                        health.problems.push(format!(
                            "the disk of {} has {} MiB free, under the {} MiB needed to write safely",
                            directory.display(),
                            free / (1024 * 1024),
                            MIN_FREE_BYTES / (1024 * 1024)
                        ));
                    }
                }
                Err(error) => health.problems.push(format!(
                    "the free space of {} cannot be read: {error}",
                    directory.display()
                )),
            }
        }
        health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    /// A failed write is reported until a write succeeds; free space is read for a file store.
    #[test]
    fn a_failed_write_is_not_ok_until_one_succeeds() {
        let store = SqliteStore::open_in_memory().expect("store");
        assert!(store.health().ok());
        store.note_write(Some(&"disk I/O error"));
        let health = store.health();
        assert!(!health.ok());
        assert!(health.problems[0].contains("disk I/O error"), "{health:?}");
        store.note_write(None::<&String>);
        assert!(store.health().ok());
        let dir = tempfile::tempdir().expect("dir");
        let file = SqliteStore::open(&dir.path().join("h.db")).expect("store");
        let health = file.health();
        assert!(health.free_bytes.is_some_and(|b| b > 0), "{health:?}");
    }
}
