//! A transaction begun and ended by plain statements, so that its `COMMIT` can travel in one
//! message with the statements before it. The writers of events hold the events lock until they
//! commit; sending the commit with their last statements keeps that time to one round trip.
//!
//! A transaction that is neither committed nor rolled back (an error, a panic) closes its
//! connection instead of handing it back to the pool, so no connection is ever reused in the
//! middle of a transaction: the server rolls it back.

use deadpool_postgres::{Object, Pool};

use crate::StoreError;

/// An open transaction on a pooled connection.
pub(crate) struct Tx {
    /// `None` once the transaction ended.
    client: Option<Object>,
}

impl Tx {
    /// Takes a connection for a transaction. Its first statements go with `begin()`.
    pub(crate) async fn open(pool: &Pool) -> Result<Self, StoreError> {
        Ok(Tx {
            client: Some(pool.get().await?),
        })
    }

    /// Begins the transaction: send it first, in the same join as the first statements.
    pub(crate) async fn begin(&self) -> Result<(), StoreError> {
        self.client().batch_execute("BEGIN").await?;
        Ok(())
    }

    /// The connection, for the transaction's statements.
    pub(crate) fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a transaction is used only until it ends")
    }

    /// Sends `COMMIT` (call it last, in the same join as the statements it should travel with).
    pub(crate) async fn send_commit(&self) -> Result<(), StoreError> {
        self.client().batch_execute("COMMIT").await?;
        Ok(())
    }

    /// Records that `send_commit` succeeded: the connection goes back to the pool.
    pub(crate) fn committed(mut self) {
        drop(self.client.take());
    }

    /// Rolls back (nothing was meant to be written).
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        if let Some(client) = self.client.take()
            && let Err(error) = client.batch_execute("ROLLBACK").await
        {
            drop(Object::take(client));
            return Err(error.into());
        }
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Closing the connection ends the transaction on the server.
            drop(Object::take(client));
        }
    }
}
