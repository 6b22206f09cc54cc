//! Working together on journeys: who saved each version (the journey's activity), and comments
//! on a journey, a stage or a touchpoint, in threads that are open or resolved. The statements
//! are shared by both backends (`$n` placeholders; SQLite reads them as `?n`).

use rusqlite::params;

use crate::StoreError;

/// Who saved a version of a journey, and what it changed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyChange {
    pub journey: String,
    pub version: i64,
    /// A directory id, or how it was deployed (`command line`, `admin token`).
    pub by: String,
    pub summary: String,
    pub at_us: i64,
}

/// A comment to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub journey: String,
    /// What it is about: empty for the whole journey, `stage:ID` or `touchpoint:ID`.
    pub target: String,
    /// The thread it answers (a comment that starts one); `None` starts a thread.
    pub parent: Option<i64>,
    /// A directory id.
    pub author: String,
    pub body: String,
    pub at_us: i64,
}

/// A kept comment; a thread's first comment carries whether the thread is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyComment {
    pub id: i64,
    pub comment: NewComment,
    /// Who resolved the thread, and when.
    pub resolved: Option<(String, i64)>,
}

pub(crate) const NOTE_CHANGE: &str =
    "INSERT INTO journey_changes (journey, version, author, summary, at_us)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (journey, version) DO NOTHING";
pub(crate) const CHANGES: &str =
    "SELECT journey, version, author, summary, at_us FROM journey_changes
    WHERE journey = $1 ORDER BY version DESC";
pub(crate) const ADD_COMMENT: &str =
    "INSERT INTO journey_comments (journey, target, parent, author, body, at_us)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
pub(crate) const COMMENTS: &str =
    "SELECT id, journey, target, parent, author, body, at_us, resolved_by, resolved_us
    FROM journey_comments WHERE journey = $1 ORDER BY id";
/// Only a thread's first comment is resolved or opened again.
pub(crate) const RESOLVE: &str = "UPDATE journey_comments SET resolved_by = $3, resolved_us = $4
    WHERE journey = $1 AND id = $2 AND parent IS NULL";

pub(crate) fn change_row(
    journey: String,
    version: i64,
    by: String,
    summary: String,
    at_us: i64,
) -> JourneyChange {
    JourneyChange {
        journey,
        version,
        by,
        summary,
        at_us,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn comment_row(
    id: i64,
    journey: String,
    target: String,
    parent: Option<i64>,
    author: String,
    body: String,
    at_us: i64,
    resolved_by: Option<String>,
    resolved_us: Option<i64>,
) -> JourneyComment {
    JourneyComment {
        id,
        comment: NewComment {
            journey,
            target,
            parent,
            author,
            body,
            at_us,
        },
        resolved: resolved_by.zip(resolved_us),
    }
}

impl crate::JourneyTalk for crate::SqliteStore {
    fn note_change(&self, change: &JourneyChange) -> Result<(), StoreError> {
        self.write(|connection| {
            connection
                .prepare_cached(&NOTE_CHANGE.replace('$', "?"))?
                .execute(params![
                    change.journey,
                    change.version,
                    change.by,
                    change.summary,
                    change.at_us
                ])?;
            Ok(())
        })
    }

    fn journey_changes(&self, journey: &str) -> Result<Vec<JourneyChange>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&CHANGES.replace('$', "?"))?;
            let rows = query.query_map(params![journey], |r| {
                Ok(change_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn add_comment(&self, comment: &NewComment) -> Result<i64, StoreError> {
        self.write(|connection| {
            Ok(connection
                .prepare_cached(&ADD_COMMENT.replace('$', "?"))?
                .query_row(
                    params![
                        comment.journey,
                        comment.target,
                        comment.parent,
                        comment.author,
                        comment.body,
                        comment.at_us
                    ],
                    |r| r.get(0),
                )?)
        })
    }

    fn journey_comments(&self, journey: &str) -> Result<Vec<JourneyComment>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&COMMENTS.replace('$', "?"))?;
            let rows = query.query_map(params![journey], |r| {
                Ok(comment_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn resolve_thread(
        &self,
        journey: &str,
        id: i64,
        by: Option<&str>,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(|connection| {
            let at = by.map(|_| at_us);
            Ok(connection
                .prepare_cached(&RESOLVE.replace('$', "?"))?
                .execute(params![journey, id, by, at])?
                > 0)
        })
    }
}
