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
//! at a time, the one holding the store's lease on the work (one lease per ClickHouse database,
//! see `waymark_store::leases`). It renews the lease while its passes succeed and records in it
//! how far it forwarded; the others read that, so a collection call any node took is
//! acknowledged once the forwarding node forwarded its events. A node that stops ends its pass
//! and gives the lease up; when one dies, or cannot forward for as long as the lease lasts, the
//! lease lapses and the next node to look takes it, going on from where forwarding stopped in
//! ClickHouse (`waymark_forwarded`): what it forwards again is kept once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use waymark_clickhouse::EventStore;
use waymark_store::Store;
use waymark_store::facts::Since;
use waymark_store::leases::Lease;

/// How long a collection call waits for its events to reach ClickHouse before answering 503.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// The store's lease on forwarding, named with the ClickHouse database after it: held by the
/// node that forwards there.
pub const LEASE: &str = "forward-events";

/// The longest the lease lasts unrenewed: a node that dies holding it keeps the others' calls
/// waiting this long at most (less with a shorter `--takeover-after`).
pub const LEASE_AT_MOST: Duration = Duration::from_secs(10);

/// How often the forwarding node looks for events that arrived by other paths (another node's
/// calls, workflow steps, survey answers), and a following node at the lease.
const EVERY: Duration = Duration::from_millis(200);

/// How long a pass may run before the node stops renewing the lease for it (a pass that hangs).
const PASS_AT_MOST: Duration = Duration::from_secs(1800);

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
    /// Passes this node ran (succeeded or not).
    pub ran: u64,
}

/// The collected events forwarded to ClickHouse (see the module's documentation).
pub struct Forwarding {
    events: EventStore,
    store: Arc<dyn Store>,
    /// The lease's name: [`LEASE`] and the ClickHouse database.
    lease_name: String,
    /// This node's name in the lease: its host, process and a random part.
    node: String,
    /// How long the lease lasts unrenewed.
    lease: Duration,
    /// Taken to ask for the lease or give it up: once stopped, nothing takes it again.
    leasing: Mutex<()>,
    /// Whether this node held the lease when it last asked.
    holding: AtomicBool,
    /// Set by [`Forwarding::stop`]: the threads end and the lease is given up.
    stopped: AtomicBool,
    /// When the forwarding thread last got through a round without failing, and when the pass
    /// under way began: the lease is renewed only while these are recent.
    healthy: Mutex<Instant>,
    passing: Mutex<Option<Instant>>,
    /// The threads, joined when stopping.
    threads: Mutex<Vec<JoinHandle<()>>>,
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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
            lease_name: format!("{LEASE} {}", events.location()),
            events,
            store,
            node: format!("{host}:{}:{}", std::process::id(), &random[..8]),
            lease: lease.min(LEASE_AT_MOST),
            leasing: Mutex::new(()),
            holding: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            healthy: Mutex::new(Instant::now()),
            passing: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
            wanted: Mutex::new(0),
            wake: Condvar::new(),
            progress: watch::channel(Progress::default()).0,
        });
        match forwarding.begin() {
            Ok(()) => Ok(forwarding),
            Err(error) => {
                forwarding.stop();
                Err(error)
            }
        }
    }

    /// The lease asked for, the first pass when this node took it, and the threads started.
    fn begin(self: &Arc<Self>) -> Result<(), waymark_clickhouse::Error> {
        let store_error = |error: waymark_store::StoreError| waymark_clickhouse::Error::Store {
            message: error.to_string(),
        };
        // As a following node looks: taken only when free or lapsed, else followed.
        let held = self.follow().map_err(store_error)?.is_some();
        // Renewed on a thread of its own, so a long pass (the first one) keeps it.
        self.spawn("waymark-lease", |forwarding| forwarding.renew())?;
        let mut since = Since::default();
        if held {
            since = self.events.forwarded()?;
            let started = Instant::now();
            let done = self.passing(|| self.events.forward(self.store.as_ref(), since, true))?;
            *lock(&self.healthy) = Instant::now();
            if done.events + done.merges > 0 {
                tracing::info!(
                    events = done.events,
                    merges = done.merges,
                    seconds = started.elapsed().as_secs_f64(),
                    "the stored events were forwarded to ClickHouse"
                );
            }
            since = done.since;
            // Recorded for the other nodes at once (renewals record it too).
            if let Err(error) = self.ask(since.seq) {
                tracing::warn!(%error, "how far forwarding got could not be recorded");
            }
        }
        let seq = if held { since.seq } else { self.forwarded() };
        *lock(&self.wanted) = seq;
        self.progress.send_modify(|progress| {
            progress.seq = seq;
            progress.forwarding = held;
        });
        self.spawn("waymark-forward", move |forwarding| {
            forwarding.run(since, held)
        })
    }

    fn spawn(
        self: &Arc<Self>,
        name: &str,
        work: impl FnOnce(&Forwarding) + Send + 'static,
    ) -> Result<(), waymark_clickhouse::Error> {
        let running = self.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(&running))
            .map_err(|error| waymark_clickhouse::Error::Store {
                message: format!("no thread to forward the events: {error}"),
            })?;
        lock(&self.threads).push(thread);
        Ok(())
    }

    /// Takes or renews the lease, recording `progress` when this node holds it, and notes
    /// whether it does (`None` once stopped: nothing is asked then).
    fn ask(&self, progress: i64) -> Result<Option<Lease>, waymark_store::StoreError> {
        let _turn = lock(&self.leasing);
        if self.stopped.load(Ordering::Acquire) {
            return Ok(None);
        }
        let length = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let lease = self
            .store
            .lease(&self.lease_name, &self.node, now_us(), length, progress)?;
        self.noted(&lease);
        Ok(Some(lease))
    }

    /// Notes whether this node holds `lease`, saying so when that changed.
    fn noted(&self, lease: &Lease) {
        let held = lease.held_by(&self.node);
        if self.holding.swap(held, Ordering::AcqRel) != held {
            if held {
                tracing::info!(node = %self.node, "this node forwards the events to ClickHouse");
            } else {
                tracing::info!(node = %self.node, holder = %lease.holder, "another node forwards the events to ClickHouse");
            }
        }
    }

    /// Whether the forwarding thread works: a pass under way not too long, else a round without
    /// failure within the lease's length. A node that cannot forward lets its lease lapse, for
    /// another node to take (it goes on trying, and follows that node once a pass of its own
    /// succeeds and it finds the lease taken).
    fn working(&self) -> bool {
        let healthy = *lock(&self.healthy);
        match *lock(&self.passing) {
            // A pass counts while it is not too long, and only when the round before it had
            // succeeded: passes that each fail slowly (timeouts) do not keep the lease.
            Some(began) => {
                began.elapsed() < PASS_AT_MOST
                    && began.saturating_duration_since(healthy) < self.lease
            }
            None => healthy.elapsed() < self.lease,
        }
    }

    /// The lease's renewal while this node holds it and forwards, a few times within its length.
    fn renew(&self) {
        let mut warned = false;
        while !self.stopped.load(Ordering::Acquire) {
            std::thread::park_timeout(self.lease / 4);
            if !self.holding.load(Ordering::Acquire) || self.stopped.load(Ordering::Acquire) {
                continue;
            }
            if !self.working() {
                if !warned {
                    tracing::warn!(node = %self.node, "forwarding keeps failing here: the lease is left to lapse, for another node to forward");
                    warned = true;
                }
                continue;
            }
            warned = false;
            // Read first: the progress's lock is not held across the store's round trip.
            let seq = self.forwarded();
            if let Err(error) = self.ask(seq) {
                tracing::warn!(%error, "the lease on forwarding could not be renewed");
            }
        }
    }

    /// Ends the threads, after the pass under way, and gives the lease up, so another node
    /// forwards at once (a server stopping: calls still waiting time out). Blocks meanwhile.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            thread.thread().unpark();
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        let _turn = lock(&self.leasing);
        if self.holding.swap(false, Ordering::AcqRel)
            && let Err(error) = self.store.release(&self.lease_name, &self.node)
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
            let mut wanted = lock(&self.wanted);
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

    /// The thread. On the node holding the lease: a pass whenever a caller waits for events not
    /// forwarded yet or the store gained something (looked at every 200 ms), and the purge once
    /// an hour, between passes. On the others: how far the holder got, read every 200 ms (every
    /// 50 ms while a caller waits), and the lease taken once it lapsed.
    fn run(&self, mut since: Since, mut held: bool) {
        let mut purged = Instant::now();
        let mut last = Instant::now();
        let mut cursor_kept: Option<Instant> = None;
        // Whether the last round forwarded something: while events keep arriving (from any
        // node), the next round looks at once, not after a pause.
        let mut busy = false;
        while !self.stopped.load(Ordering::Acquire) {
            {
                let wanted = lock(&self.wanted);
                let pause = if held && busy {
                    None
                } else if *wanted <= self.forwarded() {
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
            if held && !self.holding.load(Ordering::Acquire) {
                // The renewal found the lease taken by another node.
                held = false;
            }

            if !held {
                match self.follow() {
                    Ok(Some(lease)) => {
                        // Taken over: another node forwarded, up to its last cursor at least.
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
                        self.progress.send_modify(|progress| {
                            progress.seq = progress.seq.max(lease.progress).max(since.seq);
                            progress.forwarding = true;
                        });
                    }
                    Ok(None) => {
                        *lock(&self.healthy) = Instant::now();
                        continue;
                    }
                    Err(error) => {
                        self.ended(Err((0, format!("the lease on forwarding: {error}"))));
                        std::thread::sleep(EVERY);
                        continue;
                    }
                }
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
                        busy = true;
                        if keep_cursor {
                            cursor_kept = Some(Instant::now());
                        }
                        self.ended(Ok(until.seq));
                        *lock(&self.healthy) = Instant::now();
                        // Recorded for the other nodes' callers at once.
                        if let Err(error) = self.ask(until.seq) {
                            tracing::warn!(%error, "how far forwarding got could not be recorded");
                        }
                    }
                    Err(error) => {
                        busy = false;
                        self.ended(Err((newest.seq, error)));
                        // Another node may have taken the lease meanwhile (this one stops
                        // renewing it while its passes fail): follow it then.
                        if let Ok(Some(lease)) = self.store.read_lease(&self.lease_name)
                            && !lease.held_by(&self.node)
                            && !lease.lapsed(now_us())
                        {
                            held = false;
                            self.noted(&lease);
                            self.followed(lease.progress);
                            continue;
                        }
                        // The next pass a second later, not at once: ClickHouse may be down.
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            } else {
                busy = false;
                // Nothing to forward: everything the store holds is there, however far this
                // node's callers knew (after a takeover, the cursor may be past them).
                if since.seq > self.forwarded() {
                    self.ended(Ok(since.seq));
                }
                *lock(&self.healthy) = Instant::now();
            }
            if purged.elapsed() >= PURGE_EVERY {
                purged = Instant::now();
                // Counted as a pass: the lease is renewed meanwhile.
                if let Err(error) = self.passing(|| self.events.purge_merged()) {
                    tracing::warn!(%error, "the merged people's rows could not be deleted");
                }
            }
        }
    }

    /// A following node's look at the lease: how far its holder got, taken over to the callers
    /// waiting here; the lease itself when it lapsed and this node took it.
    fn follow(&self) -> Result<Option<Lease>, waymark_store::StoreError> {
        let found = self.store.read_lease(&self.lease_name)?;
        if let Some(lease) = &found
            && !lease.lapsed(now_us())
        {
            self.noted(lease);
            if lease.held_by(&self.node) {
                // Taken by this node in a round that then failed: forwarding goes on here.
                return Ok(found);
            }
            self.followed(lease.progress);
            return Ok(None);
        }
        // Read first: `followed` below takes the progress's lock to write.
        let seq = self.forwarded();
        match self.ask(seq)? {
            Some(lease) if lease.held_by(&self.node) => Ok(Some(lease)),
            Some(lease) => {
                self.followed(lease.progress);
                Ok(None)
            }
            None => Ok(None),
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
        self.progress.send_modify(|progress| progress.ran += 1);
        let outcome = self.passing(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.events.forward(self.store.as_ref(), since, keep_cursor)
            }))
        });
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

    /// `work` as a pass under way, for [`Forwarding::working`].
    fn passing<T>(&self, work: impl FnOnce() -> T) -> T {
        *lock(&self.passing) = Some(Instant::now());
        let outcome = work();
        *lock(&self.passing) = None;
        outcome
    }

    fn ended(&self, outcome: Result<i64, (i64, String)>) {
        self.progress.send_modify(|progress| {
            progress.passes += 1;
            match outcome {
                Ok(seq) => {
                    progress.seq = progress.seq.max(seq);
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
