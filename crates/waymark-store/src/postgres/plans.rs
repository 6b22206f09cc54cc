//! Opportunities and initiatives on PostgreSQL (see `plans.rs`; the statements are shared).

use super::PgStore;
use crate::StoreError;
use crate::plans::{ADD, CHANGE, Plan, PlanColumns, PlanKind, PlanText, by_id, by_kind, plan_row};

fn pg_columns(r: &tokio_postgres::Row) -> Result<PlanColumns, StoreError> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
    ))
}

impl crate::Plans for PgStore {
    fn add_plan(
        &self,
        kind: PlanKind,
        text: &PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<i64, StoreError> {
        let (text, by) = (text.clone(), by.to_string());
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(
                    &client.prepare_cached(ADD).await?,
                    &[
                        &kind.as_str(),
                        &text.title,
                        &text.owner,
                        &text.status,
                        &text.body,
                        &by,
                        &at_us,
                    ],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn plans(&self, kind: PlanKind) -> Result<Vec<Plan>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(&client.prepare_cached(&by_kind()).await?, &[&kind.as_str()])
                .await?;
            rows.iter().map(|r| plan_row(pg_columns(r)?)).collect()
        })
    }

    fn plan(&self, id: i64) -> Result<Option<Plan>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_opt(&client.prepare_cached(&by_id()).await?, &[&id])
                .await?;
            row.map(|r| plan_row(pg_columns(&r)?)).transpose()
        })
    }

    fn change_plan(
        &self,
        id: i64,
        revision: i64,
        text: &PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<bool, StoreError> {
        let (text, by) = (text.clone(), by.to_string());
        self.write(move |pool| async move {
            let client = pool.get().await?;
            let changed = client
                .execute(
                    &client.prepare_cached(CHANGE).await?,
                    &[
                        &id,
                        &revision,
                        &text.title,
                        &text.owner,
                        &text.status,
                        &text.body,
                        &by,
                        &at_us,
                    ],
                )
                .await?;
            Ok(changed > 0)
        })
    }
}
