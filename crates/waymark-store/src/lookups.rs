//! The access log of Customer 360: who opened whose profile, and when. It answers "whom did I
//! look at last" for a person's home page, and keeps who read a customer's data.

use rusqlite::params;

use crate::StoreError;

/// A profile someone opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// What they looked the person up by (an identifier that opens the profile again).
    pub identifier: String,
    /// How the person was shown: their name, else the identifier.
    pub label: String,
    pub at_us: i64,
}

/// The newest lookup of each person by a viewer, newest first (shared by both backends;
/// `$n`/`?n` alike).
pub(crate) const RECENT: &str = "SELECT identifier, label, at_us FROM lookups
    WHERE id IN (SELECT max(id) FROM lookups WHERE viewer = $1 GROUP BY identifier)
    ORDER BY id DESC LIMIT $2";

pub(crate) const NOTE: &str =
    "INSERT INTO lookups (viewer, identifier, label, at_us) VALUES ($1, $2, $3, $4)";

pub(crate) fn note(
    connection: &rusqlite::Connection,
    viewer: &str,
    identifier: &str,
    label: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(&NOTE.replace('$', "?"))?
        .execute(params![viewer, identifier, label, at_us])?;
    Ok(())
}

pub(crate) fn recent(
    connection: &rusqlite::Connection,
    viewer: &str,
    limit: usize,
) -> Result<Vec<Lookup>, StoreError> {
    let mut query = connection.prepare_cached(&RECENT.replace('$', "?"))?;
    let rows = query.query_map(params![viewer, limit as i64], |r| {
        Ok(Lookup {
            identifier: r.get(0)?,
            label: r.get(1)?,
            at_us: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
