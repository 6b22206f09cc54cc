//! What `/healthz` reports for a PostgreSQL store: the database answers, and the last write
//! went through. Free disk is the database server's to watch.

use super::PgStore;
use crate::health::Health;

impl crate::HealthCheck for PgStore {
    fn health(&self) -> Health {
        let mut health = Health::default();
        let read = self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .query_one(&client.prepare_cached("SELECT 1").await?, &[])
                .await?;
            Ok(())
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
        health
    }
}

impl crate::Maintenance for PgStore {
    fn backup(&self, _to: &std::path::Path) -> Result<u64, crate::StoreError> {
        Err(crate::StoreError::Refused(
            "a PostgreSQL store is backed up with pg_dump (see docs/deploy.md)\nhint: pg_dump --format=custom --file waymark.dump DATABASE_URL".into(),
        ))
    }
}
