//! Events kept in ClickHouse (`waymark serve --events clickhouse://…`).
//!
//! The state store stays the record of what the collection API accepts: it drops repeated
//! message ids (its index), stitches people, and numbers each event once. [`Forwarding`] then
//! writes what it gained to ClickHouse (`waymark_clickhouse::EventStore::forward`) on a thread
//! of its own, one pass at a time: a pass takes everything the store gained since the last, so
//! however many calls arrive meanwhile, each shard gets one batch per pass. A collection call is
//! acknowledged only once a pass that read its events returned, which is once every shard they
//! went to acknowledged them; it waits without holding a thread ([`Forwarding::through`]).
//!
//! A pass that fails leaves the cursor where it was: the calls waiting for it answer 503 ("send
//! them again"; the store keeps the events, so a resend is a duplicate there and is acknowledged
//! once a later pass forwarded them), and the next pass, a second later, writes the same rows
//! again, which ClickHouse keeps once. The thread also forwards what arrived by other paths
//! (workflow steps, survey answers) within a second, and deletes the merged people's rows once
//! an hour, between passes.
//!
//! One server forwards to a ClickHouse database: several servers on one PostgreSQL database
//! must not all run with `--events` (see docs/deploy.md).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use waymark_clickhouse::EventStore;
use waymark_store::Store;
use waymark_store::facts::Since;

/// How long a collection call waits for its events to reach ClickHouse before answering 503.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// How often the thread looks for events that arrived by other paths.
const EVERY: Duration = Duration::from_secs(1);

/// Passes are at least this far apart: ClickHouse takes a few large inserts a second better than
/// many small ones (each is a part to merge), and calls arriving meanwhile share the next.
const SPACING: Duration = Duration::from_millis(100);

/// How often where forwarding stopped is written down (a restart forwards again what came after).
const CURSOR_EVERY: Duration = Duration::from_secs(5);

/// How often the merged people's rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the forwarding thread has done, as callers watch it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The last collected event forwarded.
    pub seq: i64,
    /// Passes ended so far, and of the last one that failed (cleared by the next that
    /// succeeds): its number, the newest event it was to forward, and what went wrong.
    pub passes: u64,
    pub failed: Option<(u64, i64, String)>,
}

/// The collected events forwarded to ClickHouse (see the module's documentation).
pub struct Forwarding {
    events: EventStore,
    store: Arc<dyn Store>,
    /// The newest event a caller waits for; the thread wakes when it moves.
    wanted: Mutex<i64>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("events", &self.events.location().to_string())
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}

impl Forwarding {
    /// Forwarding from `store` to `events`, from where it stopped last, on a thread of its own.
    /// What the store gained since is forwarded first, before this returns (on a server's first
    /// start with `--events`, every event it holds: the server listens once they are there).
    pub fn start(
        events: EventStore,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Forwarding>, waymark_clickhouse::Error> {
        let mut since = events.forwarded()?;
        let started = Instant::now();
        let done = events.forward(store.as_ref(), since, true)?;
        if done.events + done.merges > 0 {
            tracing::info!(
                events = done.events,
                merges = done.merges,
                seconds = started.elapsed().as_secs_f64(),
                "the stored events were forwarded to ClickHouse"
            );
        }
        since = done.since;
        let (progress, _) = watch::channel(Progress {
            seq: since.seq,
            ..Progress::default()
        });
        let forwarding = Arc::new(Forwarding {
            events,
            store,
            wanted: Mutex::new(since.seq),
            wake: Condvar::new(),
            progress,
        });
        let running = forwarding.clone();
        std::thread::Builder::new()
            .name("waymark-forward".into())
            .spawn(move || running.run(since))
            .map_err(|error| waymark_clickhouse::Error::Store {
                message: format!("no thread to forward the events: {error}"),
            })?;
        Ok(forwarding)
    }

    /// The events in ClickHouse, for the analyses.
    pub fn events(&self) -> &EventStore {
        &self.events
    }

    /// The last collected event forwarded: the reports over ClickHouse are kept until it moves.
    pub fn forwarded(&self) -> i64 {
        self.progress.borrow().seq
    }

    /// Returns once every collected event up to `seq` is in ClickHouse. Fails with the error of
    /// a pass that ended after the call began, or after `wait`. Holds no thread meanwhile.
    pub async fn through(&self, seq: i64, wait: Duration) -> Result<(), String> {
        let mut progress = self.progress.subscribe();
        let arrived = progress.borrow().passes;
        if progress.borrow().seq >= seq {
            return Ok(());
        }
        {
            let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            *wanted = (*wanted).max(seq);
            self.wake.notify_one();
        }
        // A pass that failed fails this call only when it was to forward its events; else the
        // call waits for the next.
        let ended = progress.wait_for(|p| {
            p.seq >= seq
                || p.failed
                    .as_ref()
                    .is_some_and(|(pass, newest, _)| *pass > arrived && *newest >= seq)
        });
        match tokio::time::timeout(wait, ended).await {
            Ok(Ok(now)) if now.seq >= seq => Ok(()),
            Ok(Ok(now)) => Err(now
                .failed
                .as_ref()
                .map_or_else(String::new, |(_, _, error)| error.clone())),
            Ok(Err(_)) => Err("the forwarding of events stopped".to_string()),
            Err(_) => Err("ClickHouse did not take the events in time".to_string()),
        }
    }

    /// The thread: a pass whenever a caller waits for events not forwarded yet or the store
    /// holds some (looked at every second), and the purge once an hour, between passes.
    fn run(&self, mut since: Since) {
        let mut purged = Instant::now();
        let mut last = Instant::now();
        let mut cursor_kept: Option<Instant> = None;
        loop {
            {
                let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
                if *wanted <= since.seq {
                    drop(
                        self.wake
                            .wait_timeout(wanted, EVERY)
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                }
            }
            let newest = match self.store.watermark() {
                Ok((newest, _)) => newest,
                Err(error) => {
                    self.ended(Err((0, format!("the store's newest event: {error}"))));
                    std::thread::sleep(EVERY);
                    continue;
                }
            };
            if newest > since.seq {
                std::thread::sleep(SPACING.saturating_sub(last.elapsed()));
                last = Instant::now();
                let keep_cursor = cursor_kept.is_none_or(|at| at.elapsed() >= CURSOR_EVERY);
                match self.pass(since, newest, keep_cursor) {
                    Ok(until) => {
                        since = until;
                        if keep_cursor {
                            cursor_kept = Some(Instant::now());
                        }
                        self.ended(Ok(until.seq));
                    }
                    Err(error) => {
                        self.ended(Err((newest, error)));
                        // The next pass a second later, not at once: ClickHouse may be down.
                        std::thread::sleep(EVERY);
                    }
                }
            }
            if purged.elapsed() >= PURGE_EVERY {
                purged = Instant::now();
                if let Err(error) = self.events.purge_merged() {
                    tracing::warn!(%error, "the merged people's rows could not be deleted");
                }
            }
        }
    }

    /// One pass: everything the store holds after `since`, up to at least `newest` (the store's
    /// newest event when the pass began: the reading starts after it).
    fn pass(&self, since: Since, newest: i64, keep_cursor: bool) -> Result<Since, String> {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.events.forward(self.store.as_ref(), since, keep_cursor)
        }));
        match outcome {
            Ok(Ok(done)) => {
                if done.since.seq < newest {
                    // Events without facts (none are written so): not waited for.
                    tracing::warn!(
                        read = done.since.seq,
                        newest,
                        "the store's newest events had no facts to forward"
                    );
                }
                Ok(Since {
                    seq: done.since.seq.max(newest),
                    ..done.since
                })
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("forwarding the events failed".to_string()),
        }
    }

    fn ended(&self, outcome: Result<i64, (i64, String)>) {
        self.progress.send_modify(|progress| {
            progress.passes += 1;
            match outcome {
                Ok(seq) => {
                    progress.seq = seq;
                    progress.failed = None;
                }
                Err((newest, error)) => {
                    tracing::warn!(%error, "events could not be forwarded to ClickHouse");
                    progress.failed = Some((progress.passes, newest, error));
                }
            }
        });
    }
}
