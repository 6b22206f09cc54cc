//! Saved analyses on PostgreSQL (see `views.rs`).

use tokio_postgres::Row;

use super::PgStore;
use crate::StoreError;
use crate::views::{COLUMNS, NewView, SavedView};

fn view_from(row: &Row) -> Result<SavedView, StoreError> {
    Ok(SavedView {
        id: row.try_get(0)?,
        view: NewView {
            owner: row.try_get(1)?,
            name: row.try_get(2)?,
            kind: row.try_get(3)?,
            journey: row.try_get(4)?,
            query: row.try_get(5)?,
            created_us: row.try_get(6)?,
        },
    })
}

impl crate::SavedViews for PgStore {
    fn save_view(&self, view: &NewView) -> Result<i64, StoreError> {
        let view = view.clone();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(
                    &client.prepare_cached("INSERT INTO saved_views (owner, name, kind, journey, query, created_us) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id").await?,
                    &[&view.owner, &view.name, &view.kind, &view.journey, &view.query, &view.created_us],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn saved_views(&self, owner: Option<&str>, limit: usize) -> Result<Vec<SavedView>, StoreError> {
        let owner = owner.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client
                        .prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM saved_views WHERE $1::TEXT IS NULL OR owner = $1 ORDER BY id DESC LIMIT $2"
                        ))
                        .await?,
                    &[&owner, &limit],
                )
                .await?;
            rows.iter().map(view_from).collect()
        })
    }

    fn saved_view(&self, id: i64) -> Result<Option<SavedView>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client
                        .prepare_cached(&format!("SELECT {COLUMNS} FROM saved_views WHERE id = $1"))
                        .await?,
                    &[&id],
                )
                .await?
                .map(|row| view_from(&row))
                .transpose()
        })
    }

    fn delete_view(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let deleted = client
                .execute(
                    &client
                        .prepare_cached("DELETE FROM saved_views WHERE id = $1")
                        .await?,
                    &[&id],
                )
                .await?;
            Ok(deleted > 0)
        })
    }
}
