//! Figures kept per snapshot of a live log: a report, a journey's instances, a touchpoint's
//! comments. Asked on a newer snapshot, a slot gives what it keeps at once and computes the new
//! value in the background when the last computation was slow; else it computes while the reader
//! waits. A newer snapshot's value is never replaced by an older one's.
//!
//! Background computations run on a pool of their own, half the cores: their parallel work never
//! queues ahead of what a reader waits for on the shared pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Runs `work` on the pool background computations share. Work given here must never wait for
/// other work given here (with one thread, that would wait forever).
pub fn background<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("waymark-background-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// Which snapshot of which live log something was computed on: (log, version).
pub type Version = (u64, u64);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One kept value, with what computing it needs between snapshots (`S`: the instances the last
/// cut left, for the next one to keep).
pub struct Slot<T, S> {
    value: Mutex<Option<(Version, Arc<T>)>>,
    pub state: Mutex<S>,
    busy: AtomicBool,
    last_us: AtomicU64,
}

impl<T, S: Default> Default for Slot<T, S> {
    fn default() -> Self {
        Slot {
            value: Mutex::new(None),
            state: Mutex::new(S::default()),
            busy: AtomicBool::new(false),
            last_us: AtomicU64::new(0),
        }
    }
}

impl<T: Send + Sync + 'static, S: Send + 'static> Slot<T, S> {
    /// The value on snapshot `version`, as the module says; `compute` makes it (given the slot,
    /// for its state) and may run on a thread of its own, named `thread`.
    pub fn get<E: Send + 'static>(
        self: &Arc<Self>,
        version: Version,
        quick: Duration,
        thread: &str,
        compute: impl Fn(&Self) -> Result<Arc<T>, E> + Send + Sync + 'static,
    ) -> Result<Arc<T>, E> {
        let kept = lock(&self.value).clone();
        match kept {
            Some((of, value)) if of == version => return Ok(value),
            Some((_, value))
                if Duration::from_micros(self.last_us.load(Ordering::Relaxed)) >= quick =>
            {
                if !self.busy.swap(true, Ordering::AcqRel) {
                    let running = self.clone();
                    let spawned =
                        std::thread::Builder::new()
                            .name(thread.to_string())
                            .spawn(move || {
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        background(|| running.compute(version, &compute))
                                    }));
                                running.busy.store(false, Ordering::Release);
                            });
                    if spawned.is_err() {
                        self.busy.store(false, Ordering::Release);
                    }
                }
                return Ok(value);
            }
            _ => {}
        }
        self.compute(version, &compute)
    }

    fn compute<E>(
        &self,
        version: Version,
        compute: &impl Fn(&Self) -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        let started = Instant::now();
        let value = compute(self)?;
        self.last_us
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut kept = lock(&self.value);
        if kept
            .as_ref()
            .is_none_or(|((of, v), _)| *of != version.0 || *v <= version.1)
        {
            *kept = Some((version, value.clone()));
        }
        Ok(value)
    }
}

/// Slots by key, at most `limit` (all dropped when a new key would pass it).
pub struct Slots<T, S> {
    slots: Mutex<HashMap<String, Arc<Slot<T, S>>>>,
    limit: usize,
}

impl<T, S: Default> Slots<T, S> {
    pub fn new(limit: usize) -> Self {
        Slots {
            slots: Mutex::new(HashMap::new()),
            limit,
        }
    }

    pub fn slot(&self, key: String) -> Arc<Slot<T, S>> {
        let mut slots = lock(&self.slots);
        if slots.len() >= self.limit && !slots.contains_key(&key) {
            slots.clear();
        }
        slots.entry(key).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(n: u64) -> Result<Arc<u64>, ()> {
        Ok(Arc::new(n))
    }

    /// Waits for the slot's background computation to end.
    fn settled(slot: &Slot<u64, ()>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while slot.busy.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !slot.busy.load(Ordering::Acquire),
            "the background computation never ended"
        );
    }

    #[test]
    fn a_slot_keeps_its_value_per_snapshot_and_computes_slow_ones_in_the_background() {
        let slot: Arc<Slot<u64, ()>> = Arc::new(Slot::default());
        // Nothing kept: computed while the reader waits.
        assert_eq!(
            *slot
                .get((1, 1), Duration::ZERO, "t", |_| value(1))
                .expect("computed"),
            1
        );
        // The same snapshot: the kept value, not computed again.
        assert_eq!(
            *slot
                .get((1, 1), Duration::ZERO, "t", |_| value(99))
                .expect("computed"),
            1
        );
        // A newer snapshot when the last computation was slow (every one is, with a quick of
        // zero): the kept value at once, the new one computed in the background.
        assert_eq!(
            *slot
                .get((1, 2), Duration::ZERO, "t", |_| value(2))
                .expect("computed"),
            1
        );
        settled(&slot);
        assert_eq!(
            *slot
                .get((1, 2), Duration::ZERO, "t", |_| value(99))
                .expect("computed"),
            2
        );
        // A newer snapshot when the last computation was quick: computed while the reader waits.
        let quick = Duration::from_secs(3600);
        assert_eq!(
            *slot
                .get((1, 3), quick, "t", |_| value(3))
                .expect("computed"),
            3
        );
        // An older snapshot's value is given to its reader but never replaces a newer one.
        assert_eq!(
            *slot
                .get((1, 1), quick, "t", |_| value(10))
                .expect("computed"),
            10
        );
        assert_eq!(
            *slot
                .get((1, 3), quick, "t", |_| value(99))
                .expect("computed"),
            3
        );
        // A failure is the reader's, and keeps nothing.
        let failed: Result<Arc<u64>, &str> = slot.get((1, 4), quick, "t", |_| Err("no"));
        assert_eq!(failed, Err("no"));
        assert_eq!(
            *slot
                .get((1, 3), quick, "t", |_| value(99))
                .expect("computed"),
            3
        );
    }

    #[test]
    fn slots_are_dropped_when_a_new_key_passes_the_limit() {
        let slots: Slots<u64, ()> = Slots::new(2);
        let a = slots.slot("a".into());
        assert!(Arc::ptr_eq(&a, &slots.slot("a".into())));
        slots.slot("b".into());
        let again = slots.slot("c".into());
        assert!(
            !Arc::ptr_eq(&a, &slots.slot("a".into())),
            "all were dropped for c"
        );
        assert!(Arc::ptr_eq(&again, &slots.slot("c".into())));
    }
}
