//! Deployed journey files on PostgreSQL.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::{DeployedJourney, StoreError};

fn journey_from(row: &Row) -> Result<DeployedJourney, StoreError> {
    Ok(DeployedJourney {
        id: row.try_get(0)?,
        version: row.try_get(1)?,
        label: row.try_get(2)?,
        source: row.try_get(3)?,
        deployed_us: row.try_get(4)?,
    })
}

/// Keeps `source` as the next version of `id` in `table` unless the latest version is the same
/// text: (the version, whether it is new). Nodes deploying the same id at once take turns on an
/// advisory lock for it, so versions are numbered once each.
pub(crate) async fn keep_version(
    client: &impl GenericClient,
    table: &str,
    id: &str,
    source: &str,
    insert: &str,
    values: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(i64, bool), StoreError> {
    client
        .execute(
            &client
                .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .await?,
            &[&format!("{table}:{id}")],
        )
        .await?;
    let (key, text) = match table {
        "forms" => ("key", "schema"),
        _ => ("id", "source"),
    };
    let latest = client
        .query_opt(
            &client.prepare_cached(&format!(
                "SELECT version, {text} FROM {table} WHERE {key} = $1 ORDER BY version DESC LIMIT 1"
            )).await?,
            &[&id],
        )
        .await?;
    let latest: Option<(i64, String)> = latest
        .map(|row| Ok::<_, StoreError>((row.try_get(0)?, row.try_get(1)?)))
        .transpose()?;
    Ok(match latest {
        Some((version, same)) if same == source => (version, false),
        other => {
            let version = other.map_or(1, |(v, _)| v + 1);
            let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&version];
            all.extend_from_slice(values);
            client.execute(insert, &all).await?;
            (version, true)
        }
    })
}

impl crate::Journeys for PgStore {
    fn deploy_journey(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError> {
        let (id, label, source) = (id.to_string(), label.to_string(), source.to_string());
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let outcome = keep_version(
                &transaction,
                "journeys",
                &id,
                &source,
                "INSERT INTO journeys (version, id, label, source, deployed_us) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &label, &source, &now_us],
            )
            .await?;
            transaction.commit().await?;
            Ok(outcome)
        })
    }

    fn deploy_journey_after(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
        expected: i64,
    ) -> Result<Option<(i64, bool)>, StoreError> {
        let (id, label, source) = (id.to_string(), label.to_string(), source.to_string());
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            // The lock `keep_version` takes, taken first: the check and the insert are one turn.
            transaction
                .execute(
                    &transaction
                        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .await?,
                    &[&format!("journeys:{id}")],
                )
                .await?;
            let latest: i64 = transaction
                .query_one(
                    &transaction
                        .prepare_cached("SELECT coalesce(max(version), 0) FROM journeys WHERE id = $1")
                        .await?,
                    &[&id],
                )
                .await?
                .try_get(0)?;
            if latest != expected {
                return Ok(None);
            }
            let outcome = keep_version(
                &transaction,
                "journeys",
                &id,
                &source,
                "INSERT INTO journeys (version, id, label, source, deployed_us) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &label, &source, &now_us],
            )
            .await?;
            transaction.commit().await?;
            Ok(Some(outcome))
        })
    }

    fn journeys(&self) -> Result<Vec<DeployedJourney>, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached("SELECT DISTINCT ON (id) id, version, label, source, deployed_us FROM journeys
                     ORDER BY id, version DESC").await?,
                    &[],
                )
                .await?;
            rows.iter().map(journey_from).collect()
        })
    }

    fn journey_versions(&self, id: &str) -> Result<Vec<DeployedJourney>, StoreError> {
        let id = id.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached("SELECT id, version, label, source, deployed_us FROM journeys WHERE id = $1 ORDER BY version").await?,
                    &[&id],
                )
                .await?;
            rows.iter().map(journey_from).collect()
        })
    }

    fn journey(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedJourney>, StoreError> {
        let id = id.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client.prepare_cached("SELECT id, version, label, source, deployed_us FROM journeys
                     WHERE id = $1 AND ($2::BIGINT IS NULL OR version = $2) ORDER BY version DESC LIMIT 1").await?,
                    &[&id, &version],
                )
                .await?
                .map(|row| journey_from(&row))
                .transpose()
        })
    }
}
