//! Leases on PostgreSQL (see `leases.rs`; the statements are shared).

use super::PgStore;
use crate::StoreError;
use crate::leases::{Lease, READ, RELEASE, TAKE};

fn lease_of(row: &tokio_postgres::Row) -> Result<Lease, StoreError> {
    Ok(Lease {
        holder: row.try_get(0)?,
        until_us: row.try_get(1)?,
        progress: row.try_get(2)?,
    })
}

impl crate::Leases for PgStore {
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        lease_us: i64,
        progress: i64,
    ) -> Result<Lease, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        // Not noted as the store's last write (`/healthz`): a lease taken says nothing of the
        // events' appends.
        self.run(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let until = now_us.saturating_add(lease_us);
            transaction
                .execute(
                    &transaction.prepare_cached(TAKE).await?,
                    &[&name, &holder, &until, &progress, &now_us],
                )
                .await?;
            let row = transaction
                .query_one(&transaction.prepare_cached(READ).await?, &[&name])
                .await?;
            let lease = lease_of(&row)?;
            transaction.commit().await?;
            Ok(lease)
        })
    }

    fn read_lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let name = name.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_opt(&client.prepare_cached(READ).await?, &[&name])
                .await?;
            row.as_ref().map(lease_of).transpose()
        })
    }

    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(&client.prepare_cached(RELEASE).await?, &[&name, &holder])
                .await?;
            Ok(())
        })
    }
}
