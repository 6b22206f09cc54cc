//! Process and form definitions on PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use super::PgStore;
use super::journeys::keep_version;
use crate::StoreError;
use crate::workflow::{self, DeployedProcess, WorkflowError};

impl crate::Processes for PgStore {
    fn deploy_process(
        &self,
        id: &str,
        name: &str,
        format: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError> {
        let (id, name, format, source) = (
            id.to_string(),
            name.to_string(),
            format.to_string(),
            source.to_string(),
        );
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let outcome = keep_version(
                &transaction,
                "processes",
                &id,
                &source,
                "INSERT INTO processes (version, id, name, format, source, deployed_us) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &name, &format, &source, &now_us],
            )
            .await?;
            transaction.commit().await?;
            Ok(outcome)
        })
    }

    fn put_form(&self, key: &str, schema: &str, now_us: i64) -> Result<i64, StoreError> {
        let (key, schema) = (key.to_string(), schema.to_string());
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let (version, _) = keep_version(
                &transaction,
                "forms",
                &key,
                &schema,
                "INSERT INTO forms (version, key, schema, deployed_us) VALUES ($1, $2, $3, $4)",
                &[&key, &schema, &now_us],
            )
            .await?;
            transaction.commit().await?;
            Ok(version)
        })
    }

    fn form(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_opt(
                    &client
                        .prepare_cached(
                            "SELECT schema FROM forms WHERE key = $1 ORDER BY version DESC LIMIT 1",
                        )
                        .await?,
                    &[&key],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?)
        })
    }

    fn start_form(&self, process: &str) -> Result<Option<String>, WorkflowError> {
        let Some(version) = self.latest_version(process)? else {
            return Err(WorkflowError::UnknownProcess(process.to_string()));
        };
        Ok(workflow::start_form(&*workflow::definition(
            self,
            &self.definitions,
            process,
            version,
        )?))
    }

    fn latest_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let id = id.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_one(
                    &client
                        .prepare_cached("SELECT max(version) FROM processes WHERE id = $1")
                        .await?,
                    &[&id],
                )
                .await?
                .try_get(0)?)
        })
    }

    fn deployments(&self) -> Result<Vec<crate::workflow::Deployment>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let mut out = Vec::new();
            for (kind, sql) in [
                ("process", crate::workflow::DEPLOYED_PROCESSES),
                ("form", crate::workflow::DEPLOYED_FORMS),
            ] {
                for row in client
                    .query(&client.prepare_cached(sql).await?, &[])
                    .await?
                {
                    out.push(crate::workflow::Deployment {
                        kind,
                        id: row.try_get(0)?,
                        name: row.try_get(1)?,
                        format: row.try_get(2)?,
                        version: row.try_get(3)?,
                        deployed_us: row.try_get(4)?,
                        versions: row.try_get(5)?,
                    });
                }
            }
            Ok(out)
        })
    }

    fn process(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedProcess>, StoreError> {
        let id = id.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client.prepare_cached("SELECT id, version, name, format, source, deployed_us FROM processes
                     WHERE id = $1 AND ($2::BIGINT IS NULL OR version = $2) ORDER BY version DESC LIMIT 1").await?,
                    &[&id, &version],
                )
                .await?
                .map(|r| {
                    Ok(DeployedProcess {
                        id: r.try_get(0)?,
                        version: r.try_get(1)?,
                        name: r.try_get(2)?,
                        format: r.try_get(3)?,
                        source: r.try_get(4)?,
                        deployed_us: r.try_get(5)?,
                    })
                })
                .transpose()
        })
    }

    fn startable(&self) -> Result<Vec<(String, String, Option<String>)>, WorkflowError> {
        let latest: Vec<(String, i64, String)> = self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT id, version, name FROM (
                         SELECT DISTINCT ON (id) id, version, name FROM processes ORDER BY id, version DESC
                     ) latest ORDER BY name, id").await?,
                    &[],
                )
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })?;
        workflow::startable(self, &self.definitions, latest)
    }

    fn message_starts(&self) -> Result<Arc<Vec<(String, String)>>, WorkflowError> {
        let latest: Vec<(String, i64)> = self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client
                        .prepare_cached(
                            "SELECT id, max(version) FROM processes GROUP BY id ORDER BY id",
                        )
                        .await?,
                    &[],
                )
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })?;
        workflow::message_starts(self, &self.definitions, &self.message_starts, latest)
    }

    fn step_names(
        &self,
        id: &str,
        version: i64,
    ) -> Result<(String, HashMap<String, String>), WorkflowError> {
        workflow::step_names(self, &self.definitions, id, version)
    }
}
