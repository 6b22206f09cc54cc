//! Log sources: where a report's instances come from.
//!
//! A report reads its events through [`LogSource`]: the source cuts its events into the journey's
//! instances ([`Cut`]) and names cases and activities; everything after (the per-instance facts
//! and every section) reads only the cut. A log in memory is a source ([`EventLog`]); so is a
//! reading of a live log ([`Live`]), which keeps the instances of the people a new reading did
//! not touch instead of cutting them again. A later store (ClickHouse) can cut on its servers and
//! send only the instances.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;
use waymark_eventlog::{EventLog, Stamps, Symbol};
use waymark_journey::Journey;

use super::binding::Binding;
use super::instances::{AttributeValues, Cutter, attribute_values, instances, segments};
use super::{Instance, Options, Status, UnknownTouchpoint};

/// A source's events cut into a journey's instances, with what the report reads of their cases.
#[derive(Debug, Clone)]
pub struct Cut {
    /// Every case's instances, case by case, each case's in order.
    pub instances: Arc<Vec<Instance>>,
    /// Per touchpoint: whether the source's events can reach it (one of its rules names an
    /// activity the source has).
    pub bound: Vec<bool>,
    /// Per instance: its value of [`Options::by`], when asked.
    pub segments: Option<Vec<String>>,
    /// The case attribute values the contact drivers compare.
    pub values: AttributeValues,
}

/// Where a report reads events from.
pub trait LogSource: Sync {
    /// The journey's instances in every case.
    fn cut(&self, journey: &Journey, options: &Options) -> Result<Cut, UnknownTouchpoint>;
    /// The name of a case (a person, or a request).
    fn case_name(&self, case: u32) -> String;
    /// The name of an activity.
    fn activity(&self, symbol: Symbol) -> String;
}

impl LogSource for EventLog {
    fn cut(&self, journey: &Journey, options: &Options) -> Result<Cut, UnknownTouchpoint> {
        let binding = Binding::new(journey, self);
        let instances = instances(self, &binding, options)?;
        let segments = options
            .by
            .as_deref()
            .map(|by| segments(self, &instances, by, self.symbol(by)));
        Ok(Cut {
            values: attribute_values(self, &instances),
            instances: Arc::new(instances),
            bound: binding.bound.clone(),
            segments,
        })
    }

    fn case_name(&self, case: u32) -> String {
        self.case(case as usize).name().to_string()
    }

    fn activity(&self, symbol: Symbol) -> String {
        self.resolve(symbol).to_string()
    }
}

/// What one cut of a live log leaves for the next: each person's instances.
#[derive(Debug, Default)]
pub struct Reuse {
    /// What the kept instances were cut for: the journey and options (a hash), the lineage and
    /// generation of the reading, and where instances may start (which depends on the activities
    /// the log has).
    fingerprint: u64,
    lineage: u64,
    generation: u64,
    starts: Vec<bool>,
    /// Per person id: the range of `instances` (and `segments`) holding their instances
    /// ([`ABSENT`] for people without a case).
    people: Vec<(u32, u32)>,
    instances: Arc<Vec<Instance>>,
    segments: Option<Vec<String>>,
    /// Of the last cut: the cases cut again, and those whose instances were kept.
    pub recut: usize,
    pub kept: usize,
}

/// A reading of a live log, with its stamps: cuts only the cases that changed since the cut kept
/// in `reuse`, and keeps the rest. The result equals the [`EventLog`]'s own cut.
#[derive(Debug)]
pub struct Live<'a> {
    pub log: &'a EventLog,
    pub stamps: &'a Stamps,
    pub reuse: &'a Mutex<Reuse>,
}

fn fingerprint(journey: &Journey, options: &Options) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{journey:?}").hash(&mut hasher);
    format!("{options:?}").hash(&mut hasher);
    hasher.finish()
}

/// Where a case's instances come from in a new cut.
enum Origin {
    /// Kept: this range of the last cut's instances.
    Kept(usize, usize),
    /// Cut again: this place in the list of cases cut again.
    Cut(usize),
}

/// A person's range in the last cut's instances, unless they had no case there.
const ABSENT: (u32, u32) = (u32::MAX, u32::MAX);

impl LogSource for Live<'_> {
    fn cut(&self, journey: &Journey, options: &Options) -> Result<Cut, UnknownTouchpoint> {
        let (log, stamps) = (self.log, self.stamps);
        let binding = Binding::new(journey, log);
        let cutter = Cutter::new(log, &binding, options)?;
        let print = fingerprint(journey, options);
        let mut kept = self.reuse.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.lineage == stamps.lineage && stamps.generation < kept.generation {
            // An older snapshot than the kept cut's (a reader that began before a refresh): its
            // people may be older than the kept instances. Cut it whole and keep the newer.
            drop(kept);
            return self.log.cut(journey, options);
        }
        // Taken out whole: a panic half-way leaves an empty (never usable) cut behind.
        let reuse = std::mem::take(&mut *kept);
        let usable = reuse.fingerprint == print
            && reuse.lineage == stamps.lineage
            && reuse.starts == cutter.starts()
            && stamps.person.len() == log.cases();
        let origins: Vec<Origin> = {
            let mut recut = 0;
            (0..log.cases())
                .map(|case| {
                    let range = stamps
                        .person
                        .get(case)
                        .and_then(|&person| reuse.people.get(person as usize))
                        .filter(|_| usable && stamps.unchanged_since(case, reuse.generation))
                        .filter(|&&range| range != ABSENT);
                    match range {
                        Some(&(from, to)) => Origin::Kept(from as usize, to as usize),
                        None => {
                            recut += 1;
                            Origin::Cut(recut - 1)
                        }
                    }
                })
                .collect()
        };
        let key = options.by.as_deref().map(|by| (by, log.symbol(by)));
        let again: Vec<usize> = origins
            .iter()
            .enumerate()
            .filter(|(_, origin)| matches!(origin, Origin::Cut(_)))
            .map(|(case, _)| case)
            .collect();
        let mut cut_again: Vec<(Vec<Instance>, Vec<String>)> = again
            .par_iter()
            .map(|&case| {
                let instances = cutter.case(log, case);
                let segments =
                    key.map_or_else(Vec::new, |(by, key)| segments(log, &instances, by, key));
                (instances, segments)
            })
            .collect();
        // The last cut's instances are moved into the new one (copied when someone else still
        // holds them).
        let mut previous = Arc::try_unwrap(reuse.instances).unwrap_or_else(|kept| (*kept).clone());
        let mut previous_segments = reuse.segments.unwrap_or_default();
        let mut instances = Vec::with_capacity(previous.len() + again.len());
        let mut segments = key.map(|_| Vec::with_capacity(instances.capacity()));
        let mut people = vec![ABSENT; stamps.person.iter().max().map_or(0, |&p| p as usize + 1)];
        for (case, origin) in origins.iter().enumerate() {
            let from = instances.len() as u32;
            match *origin {
                Origin::Kept(start, end) => {
                    for kept in &mut previous[start..end] {
                        let mut instance = std::mem::replace(kept, Instance::empty());
                        instance.case = case as u32;
                        if instance.status != Status::Completed {
                            instance.status = cutter.unfinished(instance.end());
                        }
                        instances.push(instance);
                    }
                    if let Some(segments) = segments.as_mut() {
                        segments
                            .extend(previous_segments[start..end].iter_mut().map(std::mem::take));
                    }
                }
                Origin::Cut(place) => {
                    let (found, values) = std::mem::take(&mut cut_again[place]);
                    instances.extend(found);
                    if let Some(segments) = segments.as_mut() {
                        segments.extend(values);
                    }
                }
            }
            if let Some(&person) = stamps.person.get(case) {
                people[person as usize] = (from, instances.len() as u32);
            }
        }
        let values = attribute_values(log, &instances);
        let instances = Arc::new(instances);
        *kept = Reuse {
            fingerprint: print,
            lineage: stamps.lineage,
            generation: stamps.generation,
            starts: cutter.starts().to_vec(),
            people,
            instances: instances.clone(),
            segments: segments.clone(),
            recut: again.len(),
            kept: log.cases() - again.len(),
        };
        Ok(Cut {
            instances,
            bound: binding.bound.clone(),
            segments,
            values,
        })
    }

    fn case_name(&self, case: u32) -> String {
        self.log.case_name(case)
    }

    fn activity(&self, symbol: Symbol) -> String {
        self.log.activity(symbol)
    }
}
