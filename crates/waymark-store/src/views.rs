//! Analyses saved under a name and shared by link: a funnel, flow or conformance view of a
//! journey, kept as the query string that asks it again (the pages take their choices from it).

use rusqlite::{OptionalExtension as _, params};

use crate::{SqliteStore, StoreError};

/// A view to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewView {
    /// Who saved it (a directory id).
    pub owner: String,
    pub name: String,
    /// `funnel`, `flow` or `conformance`.
    pub kind: String,
    /// The journey's id.
    pub journey: String,
    /// The query string that asks it again, without `?`.
    pub query: String,
    pub created_us: i64,
}

/// A kept view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedView {
    pub id: i64,
    pub view: NewView,
}

pub(crate) const COLUMNS: &str = "id, owner, name, kind, journey, query, created_us";

fn view_row(row: &rusqlite::Row) -> rusqlite::Result<SavedView> {
    Ok(SavedView {
        id: row.get(0)?,
        view: NewView {
            owner: row.get(1)?,
            name: row.get(2)?,
            kind: row.get(3)?,
            journey: row.get(4)?,
            query: row.get(5)?,
            created_us: row.get(6)?,
        },
    })
}

impl crate::SavedViews for SqliteStore {
    fn save_view(&self, view: &NewView) -> Result<i64, StoreError> {
        self.write(|connection| {
            connection.execute(
                "INSERT INTO saved_views (owner, name, kind, journey, query, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![view.owner, view.name, view.kind, view.journey, view.query, view.created_us],
            )?;
            Ok(connection.last_insert_rowid())
        })
    }

    fn saved_views(&self, owner: Option<&str>, limit: usize) -> Result<Vec<SavedView>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM saved_views WHERE ?1 IS NULL OR owner = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = query.query_map(params![owner, limit as i64], view_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn saved_view(&self, id: i64) -> Result<Option<SavedView>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&format!("SELECT {COLUMNS} FROM saved_views WHERE id = ?1"))?
                .query_row(params![id], view_row)
                .optional()?)
        })
    }

    fn delete_view(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|connection| {
            Ok(connection.execute("DELETE FROM saved_views WHERE id = ?1", params![id])? > 0)
        })
    }
}
