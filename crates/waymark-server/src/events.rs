//! Events kept in ClickHouse (`waymark serve --events clickhouse://…`).
//!
//! The state store stays the record of what the collection API accepts: it drops repeated
//! message ids (its index), stitches people, and numbers each event once. [`Forwarding`] then
//! writes what it gained to ClickHouse (`waymark_clickhouse::EventStore::forward`): a collection
//! call is acknowledged only once a forwarding pass that read its events returned, which is once
//! every shard they went to acknowledged them. Calls arriving while a pass runs wait for the
//! next one, which takes all of them: one pass, one batch per shard, however many callers.
//!
//! A pass that fails leaves the cursor where it was: the callers it was for answer 503 ("send
//! them again"; the store keeps the events, so a resend is a duplicate there and is
//! acknowledged once a later pass forwarded them), and the next pass writes the same rows
//! again, which ClickHouse keeps once. A loop in `serve` starts a pass every second for what
//! arrived by other paths (workflow steps, survey answers).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use waymark_clickhouse::EventStore;
use waymark_store::Store;
use waymark_store::facts::Since;

/// How long a collection call waits for its events to reach ClickHouse before answering 503.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    since: Since,
    running: bool,
    /// Passes ended so far, and the number and text of the last one that failed.
    passes: u64,
    failed: Option<(u64, String)>,
}

/// The collected events forwarded to ClickHouse (see the module's documentation).
pub struct Forwarding {
    events: EventStore,
    store: Arc<dyn Store>,
    state: Mutex<State>,
    ended: Condvar,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("events", &self.events.location().to_string())
            .finish_non_exhaustive()
    }
}

impl Forwarding {
    /// Forwarding from `store` to `events`, from where it stopped last.
    pub fn new(
        events: EventStore,
        store: Arc<dyn Store>,
    ) -> Result<Forwarding, waymark_clickhouse::Error> {
        let since = events.forwarded()?;
        Ok(Forwarding {
            events,
            store,
            state: Mutex::new(State {
                since,
                ..State::default()
            }),
            ended: Condvar::new(),
        })
    }

    /// The events in ClickHouse, for the analyses.
    pub fn events(&self) -> &EventStore {
        &self.events
    }

    /// The last collected event forwarded: the reports over ClickHouse are kept until it moves.
    pub fn forwarded(&self) -> i64 {
        self.lock().since.seq
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A pass never leaves the state half-written: it is changed only in one assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once every collected event up to `seq` is in ClickHouse: runs a pass itself when
    /// none is running, else waits for the running one. Fails with the error of a pass that
    /// ended after the call began, or after `wait`.
    pub fn through(&self, seq: i64, wait: Duration) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        let arrived = state.passes;
        loop {
            if state.since.seq >= seq {
                return Ok(());
            }
            if let Some((pass, error)) = &state.failed
                && *pass > arrived
            {
                return Err(error.clone());
            }
            if !state.running {
                state.running = true;
                let since = state.since;
                drop(state);
                let outcome = self.pass(since);
                state = self.lock();
                state.running = false;
                state.passes += 1;
                match outcome {
                    Ok(until) => {
                        state.since = until;
                        state.failed = None;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "events could not be forwarded to ClickHouse");
                        state.failed = Some((state.passes, error));
                    }
                }
                self.ended.notify_all();
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("ClickHouse did not take the events in time".to_string());
            }
            state = self
                .ended
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// One pass: everything the store holds after `since`, up to at least the newest event it
    /// held when the pass began.
    fn pass(&self, since: Since) -> Result<Since, String> {
        let newest = self.store.watermark().map_err(|error| error.to_string())?.0;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.events.forward(self.store.as_ref(), since)
        }));
        match outcome {
            Ok(Ok(done)) => Ok(Since {
                // Events without facts (none are written so) would otherwise be waited for.
                seq: done.since.seq.max(newest),
                ..done.since
            }),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("forwarding the events failed".to_string()),
        }
    }

    /// Forwards what arrived by any path, now and then (`serve`'s loop), and deletes the merged
    /// people's rows once an hour.
    pub fn keep_up(&self, every: Duration) {
        let mut purged = Instant::now();
        loop {
            std::thread::sleep(every);
            match self.store.watermark() {
                Ok((newest, _)) => {
                    if let Err(error) = self.through(newest, ACK_WAIT) {
                        tracing::warn!(%error, "events are waiting to be forwarded to ClickHouse");
                    }
                }
                Err(error) => tracing::warn!(%error, "the store's newest event could not be read"),
            }
            if purged.elapsed() >= Duration::from_secs(3600) {
                purged = Instant::now();
                if let Err(error) = self.events.purge_merged() {
                    tracing::warn!(%error, "the merged people's rows could not be deleted");
                }
            }
        }
    }
}
