//! The journeys' view of the stored events, kept live: the journey pages and the report API read
//! a [`LiveLog`] that follows the store, and reports computed on it, reused until it moves.
//!
//! - **Loading.** A live log is read from scratch once per set of attributes (the ones every
//!   deployed journey reads), on a thread of its own: `serve` starts it at start-up, and until it
//!   is ready the pages say so ([`NotReady`]) instead of waiting.
//! - **Following.** When a reader finds the store ahead of the log, one refresh runs at a time:
//!   it reads only what changed ([`LiveLog::catch_up`]) and writes a new snapshot. Readers keep
//!   the snapshot they have until the new one is swapped in; nobody waits for a whole re-read.
//! - **Freshness.** A reader waits for a refresh (and a report for its computation) only while
//!   they are quick: when the last one took under [`QUICK`]. On a small store a page therefore
//!   shows the event that arrived a moment ago; on a large one under load it shows the figures
//!   of the last refresh (a second or so old, and says as of when) while the next one runs.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use waymark_analytics::journey::source::{Live, Reuse};
use waymark_analytics::journey::{
    Comment, Instance, LogSource, Options, Report, UnknownTouchpoint,
};
use waymark_journey::Journey;

use crate::kept::Slots;
use waymark_eventlog::EventLog;
use waymark_store::live::LiveLog;
use waymark_store::{Keep, Store, StoreError};

/// A refresh or a report that took less than this is waited for.
pub const QUICK: Duration = Duration::from_millis(150);

/// How many sets of attributes are followed at once (each is a live log of every event).
const LOGS: usize = 3;

/// How long after a failed refresh the next one may start.
const RETRY: Duration = Duration::from_secs(5);

/// The next live log's id.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// How many reports are kept.
const REPORTS: usize = 64;

/// The log is being read for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady {
    /// Events read so far.
    pub read: usize,
}

/// Why the analyses cannot answer.
#[derive(Debug)]
pub enum Unavailable {
    /// The events are still being read (after a start, or for a new set of attributes).
    Loading(NotReady),
    Store(StoreError),
}

/// One state of a live log, as the analyses read it.
#[derive(Debug)]
pub struct Snapshot {
    pub log: Arc<EventLog>,
    /// Its cases' stamps: what a report over the next snapshot may keep of one over this.
    pub stamps: Arc<waymark_eventlog::Stamps>,
    /// Which live log it is of (each set of attributes followed has its own).
    pub of: u64,
    /// Where in the store it was taken.
    pub since: waymark_store::facts::Since,
    /// Counts up with every snapshot of the same live log.
    pub version: u64,
    /// When it was written.
    pub at: std::time::SystemTime,
    /// The live log's size: events and bytes held (its last snapshot, this one, included).
    pub events: usize,
    pub bytes: usize,
    /// Of `bytes`, the attributes the log keeps (those the journeys read).
    pub attribute_bytes: usize,
}

/// A live log and its latest snapshot.
struct Followed {
    id: u64,
    keep: Vec<String>,
    live: Mutex<Option<LiveLog>>,
    current: RwLock<Option<Arc<Snapshot>>>,
    busy: AtomicBool,
    read: AtomicUsize,
    failed: Mutex<Option<String>>,
    /// When the last refresh failed: the next one waits [`RETRY`].
    failed_at: Mutex<Option<Instant>>,
    /// How long the last refresh took, in µs.
    last_us: AtomicU64,
    done: (Mutex<u64>, Condvar),
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // What a panicking holder left is a whole value (a log, a snapshot) or none.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Followed {
    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Brings the log up to date on this thread (loading it first if needed) and swaps in a
    /// new snapshot when anything changed.
    fn refresh(&self, store: &dyn Store, full_reads: &AtomicU64) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut guard = lock(&self.live);
        let changed = match guard.as_mut() {
            Some(live) => {
                let done = match live.catch_up(store) {
                    Ok(done) => done,
                    Err(error) => {
                        // A reading that failed half-way may have applied part of what it read:
                        // the log starts again from nothing on the next refresh.
                        *guard = None;
                        return Err(error);
                    }
                };
                tracing::debug!(
                    events = done.events,
                    blocks = done.blocks,
                    merges = done.merges,
                    people = done.touched,
                    ms = started.elapsed().as_millis() as u64,
                    "the live log read what changed"
                );
                done.changed()
            }
            None => {
                full_reads.fetch_add(1, Ordering::Relaxed);
                let mut live = LiveLog::new(Keep::only(self.keep.clone()));
                live.catch_up_counting(store, &|read| self.read.store(read, Ordering::Relaxed))?;
                *guard = Some(live);
                true
            }
        };
        let live = guard.as_mut().ok_or(StoreError::Poisoned)?;
        if changed || self.snapshot().is_none() {
            let version = self.snapshot().map_or(1, |s| s.version + 1);
            let snapshot = Snapshot {
                log: live.snapshot(),
                stamps: live.stamps(),
                of: self.id,
                since: live.since(),
                version,
                at: std::time::SystemTime::now(),
                events: live.events(),
                bytes: live.bytes(),
                attribute_bytes: live.attribute_bytes(),
            };
            *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                Some(Arc::new(snapshot));
        }
        self.last_us
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "the live log was refreshed"
        );
        Ok(())
    }

    fn quick(&self) -> bool {
        Duration::from_micros(self.last_us.load(Ordering::Relaxed)) < QUICK
    }
}

/// What is kept per journey (and options): the figures, and the instances the last cut left by
/// person, so that the next cuts only the people a newer snapshot touched.
type Figures<T> = Slots<T, Reuse>;

/// The live logs and the reports computed on them (see the module's documentation).
pub struct Analyses {
    followed: Mutex<Vec<Arc<Followed>>>,
    reports: Figures<Report>,
    cuts: Figures<Vec<Instance>>,
    /// Comments need nothing kept between snapshots.
    comments: Slots<Vec<Comment>, ()>,
    /// The newest comments about any of a journey's touchpoints (the readers' home).
    latest: Slots<Vec<(usize, Comment)>, ()>,
    /// Each journey's KPI scorecard (the home pages, `/scorecards`), per snapshot and minute.
    scorecards: Slots<Vec<waymark_analytics::journey::kpis::Card>, ()>,
    full_reads: AtomicU64,
    /// The events in ClickHouse, when they are kept there: reports are measured there.
    events: std::sync::OnceLock<Arc<crate::events::Forwarding>>,
    /// When a report last failed there (the live log answers for [`RETRY`] after).
    events_failed: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Analyses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyses")
            .field("full_reads", &self.full_reads)
            .finish_non_exhaustive()
    }
}

impl Default for Analyses {
    fn default() -> Self {
        Analyses {
            followed: Mutex::new(Vec::new()),
            reports: Slots::new(REPORTS),
            cuts: Slots::new(REPORTS),
            comments: Slots::new(REPORTS),
            latest: Slots::new(REPORTS),
            scorecards: Slots::new(REPORTS),
            full_reads: AtomicU64::new(0),
            events: std::sync::OnceLock::new(),
            events_failed: Mutex::new(None),
        }
    }
}

fn normalised(mut keep: Vec<String>) -> Vec<String> {
    keep.sort();
    keep.dedup();
    keep
}

/// What the live logs hold, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Live logs followed, and the events they hold (each log counts every event).
    pub logs: usize,
    pub events: usize,
    /// Bytes held by the live logs, and by their current snapshots.
    pub live_bytes: usize,
    pub snapshot_bytes: usize,
    /// Of `live_bytes`, the attributes kept.
    pub attribute_bytes: usize,
    /// How long the last refresh of each log took, summed, in µs.
    pub refresh_us: u64,
}

impl Analyses {
    /// What the live logs hold now.
    pub fn held(&self) -> Held {
        let followed = lock(&self.followed).clone();
        let mut held = Held::default();
        for log in followed {
            if let Some(snapshot) = log.snapshot() {
                held.logs += 1;
                held.events += snapshot.events;
                held.live_bytes += snapshot.bytes;
                held.attribute_bytes += snapshot.attribute_bytes;
                held.snapshot_bytes += snapshot.log.heap_bytes();
                held.refresh_us += log.last_us.load(Ordering::Relaxed);
            }
        }
        held
    }

    /// How many times the stored events were read from scratch.
    pub fn full_reads(&self) -> u64 {
        self.full_reads.load(Ordering::Relaxed)
    }

    fn followed(&self, keep: Vec<String>) -> Arc<Followed> {
        let keep = normalised(keep);
        let mut all = lock(&self.followed);
        // A log with every attribute asked for serves (more attributes change no figure), so a
        // narrower reading never reads the store again. Least recently used first: a log found
        // moves to the end.
        if let Some(at) = all
            .iter()
            .position(|f| keep.iter().all(|k| f.keep.binary_search(k).is_ok()))
        {
            let found = all.remove(at);
            all.push(found.clone());
            return found;
        }
        if all.len() >= LOGS {
            all.remove(0);
        }
        let followed = Arc::new(Followed {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            keep,
            live: Mutex::new(None),
            current: RwLock::new(None),
            busy: AtomicBool::new(false),
            read: AtomicUsize::new(0),
            failed: Mutex::new(None),
            failed_at: Mutex::new(None),
            last_us: AtomicU64::new(0),
            done: (Mutex::new(0), Condvar::new()),
        });
        all.push(followed.clone());
        followed
    }

    /// Starts following the events with the attributes `keep` names, reading them on a thread of
    /// its own; returns at once.
    pub fn start(self: &Arc<Self>, store: Arc<dyn Store>, keep: Vec<String>) {
        let followed = self.followed(keep);
        self.spawn_refresh(&followed, store);
    }

    /// Starts a refresh unless one runs.
    fn spawn_refresh(self: &Arc<Self>, followed: &Arc<Followed>, store: Arc<dyn Store>) -> bool {
        if lock(&followed.failed_at).is_some_and(|at| at.elapsed() < RETRY) {
            return false;
        }
        if followed.busy.swap(true, Ordering::AcqRel) {
            return false;
        }
        let (analyses, running) = (self.clone(), followed.clone());
        let spawned = std::thread::Builder::new()
            .name("waymark-live-log".into())
            .spawn(move || {
                let followed = running;
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::kept::background(|| {
                        followed.refresh(store.as_ref(), &analyses.full_reads)
                    })
                }));
                let failure = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(error.to_string()),
                    Err(_) => {
                        // What the panic left half-applied is dropped: the log is read again.
                        *lock(&followed.live) = None;
                        Some("the reading of the events failed".to_string())
                    }
                };
                if let Some(failure) = &failure {
                    tracing::error!(error = %failure, "the live log could not be brought up to date");
                }
                *lock(&followed.failed_at) = failure.as_ref().map(|_| Instant::now());
                *lock(&followed.failed) = failure;
                followed.busy.store(false, Ordering::Release);
                let (count, signal) = &followed.done;
                *lock(count) += 1;
                signal.notify_all();
            });
        if spawned.is_err() {
            followed.busy.store(false, Ordering::Release);
        }
        spawned.is_ok()
    }

    /// Waits until the refresh running on `followed` ends, at most `wait`.
    fn wait_for(followed: &Followed, wait: Duration) {
        let (count, signal) = &followed.done;
        let deadline = Instant::now() + wait;
        let mut guard = lock(count);
        while followed.busy.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = signal
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The stored events with the attributes `keep` names, as fresh as is quick (blocking: run it
    /// on the blocking pool). Starts the reading if nobody did; until it is done, answers
    /// [`Unavailable::Loading`] after waiting at most `wait`.
    pub fn log(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        keep: Vec<String>,
        wait: Duration,
    ) -> Result<Arc<Snapshot>, Unavailable> {
        let followed = self.followed(keep);
        let current = followed.snapshot();
        let behind = match &current {
            None => true,
            Some(snapshot) => {
                let mark = store.watermark().map_err(Unavailable::Store)?;
                // A merge alone (another process's import) changes the people too.
                snapshot.since != mark
            }
        };
        if behind {
            self.spawn_refresh(&followed, store.clone());
            if current.is_none() || followed.quick() {
                Self::wait_for(&followed, if current.is_none() { wait } else { QUICK });
            }
        }
        let failure = lock(&followed.failed).clone();
        match (followed.snapshot(), failure) {
            (Some(snapshot), failure) => {
                if let Some(failure) = failure {
                    tracing::warn!(error = %failure, "showing the last figures");
                }
                Ok(snapshot)
            }
            (None, Some(failure)) if !followed.busy.load(Ordering::Acquire) => {
                Err(Unavailable::Store(StoreError::Refused(format!(
                    "the stored events could not be read ({failure}); trying again shortly"
                ))))
            }
            (None, _) => Err(Unavailable::Loading(NotReady {
                read: followed.read.load(Ordering::Relaxed),
            })),
        }
    }

    /// Measures the reports on the events in ClickHouse from now on (`serve --events`).
    pub fn measure_in(&self, forwarding: Arc<crate::events::Forwarding>) {
        let _ = self.events.set(forwarding);
    }

    /// A report of `journey` on `snapshot`: the kept one when it was computed on this snapshot;
    /// else computed now when that is quick or nothing was kept, else the kept one while a
    /// new one is computed in the background. With the events in ClickHouse, measured there
    /// instead, and kept until more events are forwarded.
    pub fn report(
        self: &Arc<Self>,
        snapshot: &Arc<Snapshot>,
        journey: &Journey,
        options: &Options,
    ) -> Result<Arc<Report>, UnknownTouchpoint> {
        let failed_lately = lock(&self.events_failed).is_some_and(|at| at.elapsed() < RETRY);
        if let Some(forwarding) = self.events.get()
            && !failed_lately
        {
            match self.report_in_clickhouse(forwarding, journey, options) {
                Ok(report) => return report,
                Err(error) => {
                    // The live log holds the same events: the pages keep their figures, and
                    // ClickHouse is asked again after a while, not on every page.
                    *lock(&self.events_failed) = Some(Instant::now());
                    tracing::warn!(%error, journey = %journey.id, "the report could not be measured in ClickHouse; measuring the live log");
                }
            }
        }
        let slot = self
            .reports
            .slot(format!("{:x}:{options:?}", hash(&format!("{journey:?}"))));
        let reusing = format!("{options:?}") == format!("{:?}", Options::default());
        let (snapshot, journey, options) = (snapshot.clone(), journey.clone(), options.clone());
        slot.get(
            (snapshot.of, snapshot.version),
            QUICK,
            "waymark-report",
            move |slot| {
                let started = Instant::now();
                let source = Live {
                    log: &snapshot.log,
                    stamps: &snapshot.stamps,
                    reuse: &slot.state,
                };
                // Each kept cut holds every instance: only the pages' reports (default
                // options) keep theirs; a report with other options cuts its snapshot whole.
                let report = if reusing {
                    waymark_analytics::journey::report_of(&journey, &source, &options)?
                } else {
                    waymark_analytics::journey::report(&journey, &snapshot.log, &options)?
                };
                let reuse = lock(&slot.state);
                tracing::debug!(
                    journey = %journey.id,
                    recut = reuse.recut,
                    kept = reuse.kept,
                    ms = started.elapsed().as_millis() as u64,
                    "a report was measured"
                );
                Ok(Arc::new(report))
            },
        )
    }

    /// A report measured in ClickHouse, kept per journey and options until the next events
    /// are forwarded. The outer error is ClickHouse's; the inner one the options'.
    fn report_in_clickhouse(
        &self,
        forwarding: &Arc<crate::events::Forwarding>,
        journey: &Journey,
        options: &Options,
    ) -> Result<Result<Arc<Report>, UnknownTouchpoint>, String> {
        // The touchpoints the options name are checked as the live log's report checks them,
        // before ClickHouse is asked.
        if let Err(unknown) = waymark_analytics::journey::check(journey, options) {
            return Ok(Err(unknown));
        }
        let slot = self.reports.slot(format!(
            "clickhouse:{:x}:{options:?}",
            hash(&format!("{journey:?}"))
        ));
        let version = (u64::MAX, forwarding.forwarded().max(0) as u64);
        let (forwarding, journey, options) = (forwarding.clone(), journey.clone(), options.clone());
        let measured: Result<Arc<Report>, String> =
            slot.get(version, QUICK, "waymark-report", move |_| {
                let started = Instant::now();
                let (cut, options) = forwarding
                    .events()
                    .journey_cut(&journey, &options)
                    .map_err(|error| error.to_string())?;
                let report = waymark_analytics::journey::report_of(&journey, &cut, &options)
                    .map_err(|error| error.to_string())?;
                tracing::debug!(
                    journey = %journey.id,
                    ms = started.elapsed().as_millis() as u64,
                    "a report was measured in ClickHouse"
                );
                Ok(Arc::new(report))
            });
        measured.map(Ok)
    }

    /// The instances of `journey` in `snapshot` (cut with the default options), as its report
    /// cuts them: once per snapshot, and then only for the people the snapshot touched; kept
    /// like a report.
    pub fn instances(
        &self,
        snapshot: &Arc<Snapshot>,
        journey: &Journey,
    ) -> Result<Arc<Vec<Instance>>, UnknownTouchpoint> {
        let slot = self
            .cuts
            .slot(format!("{:x}", hash(&format!("{journey:?}"))));
        let (snapshot, journey) = (snapshot.clone(), journey.clone());
        slot.get(
            (snapshot.of, snapshot.version),
            QUICK,
            "waymark-cut",
            move |slot| {
                let source = Live {
                    log: &snapshot.log,
                    stamps: &snapshot.stamps,
                    reuse: &slot.state,
                };
                Ok(source.cut(&journey, &Options::default())?.instances)
            },
        )
    }

    /// The newest comments about touchpoint `id` of `journey` in `snapshot` (at most `limit`),
    /// kept like a report.
    /// The newest comments about any of `journey`'s touchpoints on `snapshot`, each with its
    /// touchpoint's index (see `waymark_analytics::journey::latest_comments`), kept per snapshot.
    pub fn latest_comments(
        &self,
        snapshot: &Arc<Snapshot>,
        journey: &Journey,
        limit: usize,
    ) -> Arc<Vec<(usize, Comment)>> {
        let slot = self
            .latest
            .slot(format!("{:x}:{limit}", hash(&format!("{journey:?}"))));
        let (snapshot, journey) = (snapshot.clone(), journey.clone());
        let found: Result<_, std::convert::Infallible> = slot.get(
            (snapshot.of, snapshot.version),
            QUICK,
            "waymark-comments",
            move |_| {
                Ok(Arc::new(waymark_analytics::journey::latest_comments(
                    &journey,
                    &snapshot.log,
                    limit,
                )))
            },
        );
        found.unwrap_or_else(|never| match never {})
    }

    /// The scorecard of `journey` on `snapshot` over `window`, kept per snapshot and per minute
    /// of the window's end (a card moves by a minute's worth of a 28-day window at most).
    pub fn scorecard(
        &self,
        snapshot: &Arc<Snapshot>,
        journey: &Journey,
        window: waymark_analytics::journey::kpis::Window,
    ) -> Result<Arc<Vec<waymark_analytics::journey::kpis::Card>>, UnknownTouchpoint> {
        let instances = self.instances(snapshot, journey)?;
        let minute = window.now.div_euclid(60_000_000);
        let slot = self.scorecards.slot(format!(
            "{:x}:{minute}:{}:{}",
            hash(&format!("{journey:?}")),
            window.days,
            window.weeks
        ));
        let (snapshot, journey) = (snapshot.clone(), journey.clone());
        let window = waymark_analytics::journey::kpis::Window {
            now: minute * 60_000_000,
            ..window
        };
        slot.get(
            (snapshot.of, snapshot.version),
            QUICK,
            "waymark-scorecard",
            move |_| {
                Ok(Arc::new(waymark_analytics::journey::kpis::scorecard(
                    &journey, &instances, window,
                )))
            },
        )
    }

    pub fn comments(
        &self,
        snapshot: &Arc<Snapshot>,
        journey: &Journey,
        id: &str,
        limit: usize,
    ) -> Arc<Vec<Comment>> {
        let slot = self
            .comments
            .slot(format!("{:x}:{id}:{limit}", hash(&format!("{journey:?}"))));
        let (snapshot, journey, id) = (snapshot.clone(), journey.clone(), id.to_string());
        let found: Result<_, std::convert::Infallible> = slot.get(
            (snapshot.of, snapshot.version),
            QUICK,
            "waymark-comments",
            move |_| {
                Ok(Arc::new(waymark_analytics::journey::comments(
                    &journey,
                    &snapshot.log,
                    &id,
                    limit,
                )))
            },
        );
        found.unwrap_or_else(|never| match never {})
    }
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    /// A log keeping more attributes serves a narrower reading; a wider one needs a log of its
    /// own; the least recently used log goes first.
    #[test]
    fn a_log_serves_every_reading_of_fewer_attributes() {
        let analyses = Analyses::default();
        let wide = analyses.followed(keys(&["csat", "touchpoint", "plan"]));
        let narrow = analyses.followed(keys(&["touchpoint", "csat"]));
        assert!(Arc::ptr_eq(&wide, &narrow));
        let wider = analyses.followed(keys(&["csat", "touchpoint", "plan", "segment"]));
        assert!(!Arc::ptr_eq(&wide, &wider));
        // Using `wide` again makes `wider` the least recently used: the third log fits, the
        // fourth evicts `wider`.
        let again = analyses.followed(keys(&["plan"]));
        assert!(
            Arc::ptr_eq(&again, &wide),
            "the first match, most recently used"
        );
        analyses.followed(keys(&["x"]));
        analyses.followed(keys(&["y"]));
        assert_eq!(lock(&analyses.followed).len(), LOGS);
        assert!(
            lock(&analyses.followed)
                .iter()
                .all(|f| !Arc::ptr_eq(f, &wider)),
            "the least recently used was evicted"
        );
    }
}
