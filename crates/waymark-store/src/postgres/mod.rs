//! The PostgreSQL backend: the same interfaces as the SQLite store, for several Waymark nodes
//! sharing one database.
//!
//! The client is `tokio-postgres` with a `deadpool` pool, on a small runtime of the store's own.
//! The storage interfaces are synchronous (the server calls them on its blocking pool, as it
//! calls SQLite), so each call hands its work to that runtime and waits on a plain channel: it
//! may be called from any thread, and a panic inside a call becomes that call's error.
//!
//! Every write is one PostgreSQL transaction; what must happen once across nodes is decided by
//! the database (unique keys, `ON CONFLICT`, row locks, advisory locks), never by a lock in one
//! process.

mod alerts;
mod directory;
mod events;
mod health;
mod holders;
mod identity;
mod journeys;
mod leases;
mod listen;
mod mailbox;
mod plans;
mod processes;
mod proposals;
pub(crate) mod schema;
mod sessions;
mod surveys;
mod talk;
mod tls;
mod tx;
mod views;
mod work;

use std::future::Future;
use std::sync::Mutex;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::StoreError;
use crate::workflow::WorkflowError;

/// How many connections one node opens at most.
const POOL_SIZE: usize = 16;

/// A Waymark store in a PostgreSQL database.
pub(crate) struct PgStore {
    pool: Pool,
    /// Runs the client's work; `None` only while the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    identifier_traits: Vec<String>,
    /// The last write's failure, until a write succeeds (for `/healthz`).
    failing: Mutex<Option<String>>,
    /// Parsed process definitions, shared by the instances that run them.
    definitions: crate::workflow::Definitions,
    /// The processes collected events start, with the versions they were read from.
    message_starts: crate::workflow::MessageStarts,
    /// Appends waiting for the next group commit.
    appends: std::sync::Arc<events::Appends>,
    /// Requests' heads read so far.
    heads: Heads,
    /// Who holds each token, kept until the directory changes (`holders.rs`).
    holders: std::sync::Arc<holders::Holders>,
    /// Raised when any node adds a job.
    jobs: std::sync::Arc<crate::workflow::JobSignal>,
    /// Held while this node hands the message outbox over (each delivery is once per message and
    /// instance in the database, whichever node makes it).
    outbox_turn: Mutex<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("identifier_traits", &self.identifier_traits)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date.
    pub(crate) fn open(url: &str, identifier_traits: Vec<String>) -> Result<Self, StoreError> {
        let tls::Connect { config, tls } = tls::read(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("waymark-postgres")
            .enable_all()
            .build()
            .map_err(|error| StoreError::Database(format!("no runtime for the client: {error}")))?;
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), recycling()),
            None => Manager::from_config(config.clone(), NoTls, recycling()),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .build()
            .map_err(|error| StoreError::Database(format!("no connection pool: {error}")))?;
        let store = PgStore {
            pool,
            runtime: Some(runtime),
            identifier_traits,
            failing: Mutex::new(None),
            definitions: Default::default(),
            message_starts: Default::default(),
            outbox_turn: Mutex::new(()),
            appends: Default::default(),
            heads: Default::default(),
            holders: Default::default(),
            jobs: Default::default(),
        };
        store.run(|pool| async move { schema::migrate(&pool).await })?;
        if let Some(runtime) = &store.runtime {
            runtime.spawn(listen::listen(
                config,
                tls,
                store.jobs.clone(),
                store.holders.clone(),
            ));
        }
        tracing::info!(store = %crate::Location::Postgres(url.to_string()), "PostgreSQL store open");
        Ok(store)
    }

    /// Runs `work` on the store's runtime and waits for its outcome.
    fn exec<T, E, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(StoreError::Poisoned)?;
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        runtime.spawn(async move {
            let _ = done.send(future.await);
        });
        outcome.recv().map_err(|_| {
            E::from(StoreError::Bug(
                "a database call stopped before it answered (a panic)".into(),
            ))
        })?
    }

    /// Records a write's outcome: what `/healthz` reports until the next write.
    fn note<T, E: std::fmt::Display>(&self, outcome: Result<T, E>) -> Result<T, E> {
        *self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            outcome.as_ref().err().map(ToString::to_string);
        outcome
    }

    /// A read.
    pub(crate) fn run<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.exec(work)
    }

    /// A write.
    pub(crate) fn write<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.note(self.exec(work))
    }

    /// A read for the workflow.
    pub(crate) fn run_step<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, WorkflowError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, WorkflowError>> + Send + 'static,
    {
        self.exec(work)
    }

    /// A workflow step.
    pub(crate) fn write_step<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, WorkflowError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, WorkflowError>> + Send + 'static,
    {
        self.note(self.exec(work))
    }
}

/// A request's process, its version and who started it.
pub(crate) type Head = (String, i64, String);

/// Requests' heads, which never change once written, kept so a step reads them once per node.
/// Bounded: emptied when full.
#[derive(Default)]
pub(crate) struct Heads(Mutex<std::collections::HashMap<i64, Head>>);

impl Heads {
    const MOST: usize = 65_536;

    fn get(&self, instance: i64) -> Option<Head> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&instance)
            .cloned()
    }

    fn keep(&self, instance: i64, head: Head) {
        let mut heads = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if heads.len() >= Self::MOST {
            heads.clear();
        }
        heads.insert(instance, head);
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // A runtime must not be dropped where blocking is refused (inside the server's own
        // runtime): let its threads end by themselves.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A client error in words: the server's message and SQLSTATE when it sent one, otherwise the
/// error with its causes (a TLS handshake's says why the certificate was refused).
pub(crate) fn described(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => with_causes(error),
    }
}

/// An error and, after colons, what caused it.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let more = next.to_string();
        if !said.contains(&more) {
            said = format!("{said}: {more}");
        }
        cause = next.source();
    }
    said
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Database(described(&error))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        let said = with_causes(&error);
        let hint = if said.contains("peer certificate") {
            "\nhint: add sslrootcert=/path/to/ca.pem, the CA that signed the server's certificate"
        } else {
            ""
        };
        StoreError::Database(format!("no connection to PostgreSQL: {said}{hint}"))
    }
}

impl From<tokio_postgres::Error> for crate::workflow::WorkflowError {
    fn from(error: tokio_postgres::Error) -> Self {
        crate::workflow::WorkflowError::Store(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for crate::workflow::WorkflowError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        crate::workflow::WorkflowError::Store(error.into())
    }
}
