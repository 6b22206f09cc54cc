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
//! Several nodes on one PostgreSQL database may all run with `--events`: one of them forwards
//! at a time, the one holding the store's lease on the work ([`LEASE`], see
//! `waymark_store::leases`). It renews the lease while it lives and records in it how far it
//! forwarded; the others read that, so a collection call any node took is acknowledged once the
//! forwarding node forwarded its events. A node that stops gives the lease up; when one dies,
//! the next node to ask takes it once it lapses, and goes on from where forwarding stopped in
//! ClickHouse (`waymark_forwarded`): what it forwards again is kept once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use waymark_clickhouse::EventStore;
use waymark_store::Store;
use waymark_store::facts::Since;
use waymark_store::leases::Lease;

/// How long a collection call waits for its events to reach ClickHouse before answering 503.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// The store's lease on forwarding: held by the node that forwards.
pub const LEASE: &str = "forward-events";

/// The longest the lease lasts unrenewed: a node that dies holding it keeps the others' calls
/// waiting this long at most (less with a shorter `--takeover-after`).
pub const LEASE_AT_MOST: Duration = Duration::from_secs(10);

/// How often the thread looks for events that arrived by other paths.
const EVERY: Duration = Duration::from_secs(1);

/// How often a node whose callers wait for another node's forwarding reads how far it got.
const FOLLOW: Duration = Duration::from_millis(50);

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
    /// Whether this node forwards (holds the lease); else it follows another's progress.
    pub forwarding: bool,
}

/// The collected events forwarded to ClickHouse (see the module's documentation).
pub struct Forwarding {
    events: EventStore,
    store: Arc<dyn Store>,
    /// This node's name in the lease: its host, process and a random part.
    node: String,
    /// How long the lease lasts unrenewed.
    lease: Duration,
    /// Whether this node held the lease when it last asked.
    holding: AtomicBool,
    /// Set by [`Forwarding::stop`]: the threads end and the lease is given up.
    stopped: AtomicBool,
    /// The newest event a caller waits for; the thread wakes when it moves.
    wanted: Mutex<i64>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("events", &self.events.location().to_string())
            .field("node", &self.node)
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}

impl Forwarding {
    /// Forwarding from `store` to `events`, from where it stopped last, on a thread of its own,
    /// when this node takes the lease (held for `lease` at a time, [`LEASE_AT_MOST`] at most);
    /// else following the node that holds it. A node that takes it forwards what the store
    /// gained since before this returns (on a server's first start with `--events`, every event
    /// it holds: the server listens once they are there).
    pub fn start(
        events: EventStore,
        store: Arc<dyn Store>,
        lease: Duration,
    ) -> Result<Arc<Forwarding>, waymark_clickhouse::Error> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_string());
        let random = uuid::Uuid::new_v4().simple().to_string();
        let forwarding = Arc::new(Forwarding {
            events,
            store,
            node: format!("{host}:{}:{}", std::process::id(), &random[..8]),
            lease: lease.min(LEASE_AT_MOST),
            holding: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            wanted: Mutex::new(0),
            wake: Condvar::new(),
            progress: watch::channel(Progress::default()).0,
        });
        let store_error = |error: waymark_store::StoreError| waymark_clickhouse::Error::Store {
            message: error.to_string(),
        };
        let lease = forwarding.ask(0).map_err(store_error)?;
        // Renewed on a thread of its own, so a long pass (the first one) keeps it.
        forwarding.spawn("waymark-lease", |forwarding| forwarding.renew())?;
        let held = lease.held_by(&forwarding.node);
        let mut since = Since::default();
        if held {
            since = forwarding.events.forwarded()?;
            let started = Instant::now();
            let done = forwarding
                .events
                .forward(forwarding.store.as_ref(), since, true)?;
            if done.events + done.merges > 0 {
                tracing::info!(
                    events = done.events,
                    merges = done.merges,
                    seconds = started.elapsed().as_secs_f64(),
                    "the stored events were forwarded to ClickHouse"
                );
            }
            since = done.since;
            // Recorded in the lease for the other nodes (renewals record it too).
            let _ = forwarding.ask(since.seq);
        }
        let seq = if held { since.seq } else { lease.progress };
        *forwarding
            .wanted
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = seq;
        forwarding.progress.send_modify(|progress| {
            progress.seq = seq;
            progress.forwarding = held;
        });
        forwarding.spawn("waymark-forward", move |forwarding| {
            forwarding.run(since, held)
        })?;
        Ok(forwarding)
    }

    fn spawn(
        self: &Arc<Self>,
        name: &str,
        work: impl FnOnce(&Forwarding) + Send + 'static,
    ) -> Result<(), waymark_clickhouse::Error> {
        let running = self.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(&running))
            .map(|_| ())
            .map_err(|error| waymark_clickhouse::Error::Store {
                message: format!("no thread to forward the events: {error}"),
            })
    }

    /// Takes, renews or reads the lease, recording `progress` when this node holds it, and
    /// notes whether it does.
    fn ask(&self, progress: i64) -> Result<Lease, waymark_store::StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let length = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let lease = self.store.lease(LEASE, &self.node, now, length, progress)?;
        let held = lease.held_by(&self.node);
        if self.holding.swap(held, Ordering::AcqRel) != held {
            if held {
                tracing::info!(node = %self.node, "this node forwards the events to ClickHouse");
            } else {
                tracing::info!(node = %self.node, holder = %lease.holder, "another node forwards the events to ClickHouse");
            }
        }
        Ok(lease)
    }

    /// The lease's renewal while this node holds it, a few times within its length.
    fn renew(&self) {
        while !self.stopped.load(Ordering::Acquire) {
            std::thread::sleep(self.lease / 4);
            if self.holding.load(Ordering::Acquire)
                && !self.stopped.load(Ordering::Acquire)
                && let Err(error) = self.ask(self.progress.borrow().seq)
            {
                tracing::warn!(%error, "the lease on forwarding could not be renewed");
            }
        }
    }

    /// Ends the threads and gives the lease up, so another node forwards at once (a server
    /// stopping). Calls still waiting fail.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_all();
        if self.holding.swap(false, Ordering::AcqRel)
            && let Err(error) = self.store.release(LEASE, &self.node)
        {
            tracing::warn!(%error, "the lease on forwarding could not be given up");
        }
    }

    /// The events in ClickHouse, for the analyses.
    pub fn events(&self) -> &EventStore {
        &self.events
    }

    /// How forwarding stands, as this node knows it.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
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

    /// The thread: on the node holding the lease, a pass whenever a caller waits for events
    /// not forwarded yet or the store gained something (looked at every second), and the purge
    /// once an hour, between passes; on the others, how far the holder got, read every second
    /// (every 50 ms while a caller waits), and the lease taken once it lapses.
    fn run(&self, mut since: Since, mut held: bool) {
        let mut purged = Instant::now();
        let mut last = Instant::now();
        let mut cursor_kept: Option<Instant> = None;
        while !self.stopped.load(Ordering::Acquire) {
            {
                let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
                let pause = if *wanted <= self.progress.borrow().seq {
                    Some(EVERY)
                } else if !held {
                    Some(FOLLOW)
                } else {
                    None
                };
                if let Some(pause) = pause {
                    drop(
                        self.wake
                            .wait_timeout(wanted, pause)
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                }
            }
            if self.stopped.load(Ordering::Acquire) {
                break;
            }
            let lease = match self.ask(self.progress.borrow().seq) {
                Ok(lease) => lease,
                Err(error) => {
                    self.ended(Err((0, format!("the lease on forwarding: {error}"))));
                    std::thread::sleep(EVERY);
                    continue;
                }
            };
            if !lease.held_by(&self.node) {
                held = false;
                self.followed(lease.progress);
                continue;
            }
            if !held {
                // Taken over: another node forwarded meanwhile, up to its last cursor at least.
                match self.events.forwarded() {
                    Ok(cursor) => since = cursor,
                    Err(error) => {
                        self.ended(Err((0, format!("where forwarding stopped: {error}"))));
                        std::thread::sleep(EVERY);
                        continue;
                    }
                }
                held = true;
                cursor_kept = None;
                self.progress
                    .send_modify(|progress| progress.forwarding = true);
            }
            let newest = match self.store.watermark() {
                Ok(newest) => newest,
                Err(error) => {
                    self.ended(Err((0, format!("the store's newest event: {error}"))));
                    std::thread::sleep(EVERY);
                    continue;
                }
            };
            // Merges count as well (each is recorded with the event that made it, but the pass
            // does not rely on that).
            if newest.seq > since.seq || newest.merge > since.merge {
                std::thread::sleep(SPACING.saturating_sub(last.elapsed()));
                last = Instant::now();
                let keep_cursor = cursor_kept.is_none_or(|at| at.elapsed() >= CURSOR_EVERY);
                match self.pass(since, newest.seq, keep_cursor) {
                    Ok(until) => {
                        since = until;
                        if keep_cursor {
                            cursor_kept = Some(Instant::now());
                        }
                        self.ended(Ok(until.seq));
                        // Recorded for the other nodes' callers at once.
                        if let Err(error) = self.ask(until.seq) {
                            tracing::warn!(%error, "how far forwarding got could not be recorded");
                        }
                    }
                    Err(error) => {
                        self.ended(Err((newest.seq, error)));
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

    /// How far the node holding the lease forwarded, as it recorded it: this node's callers
    /// waiting for events up to there are answered.
    fn followed(&self, seq: i64) {
        self.progress.send_if_modified(|progress| {
            let moved = seq > progress.seq || progress.forwarding;
            if moved {
                progress.seq = progress.seq.max(seq);
                progress.forwarding = false;
                progress.failed = None;
            }
            moved
        });
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
