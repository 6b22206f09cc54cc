//! A log handed over in pieces: a store that reduces its events on its servers (ClickHouse)
//! sends people a chunk at a time, each person whole in one piece, and the report reads the
//! assembled cut through the same [`LogSource`] interface as a log in memory.
//!
//! Each piece is cut as a log of its own ([`EventLog`]'s cut), with what must not depend on the
//! piece decided once for all of them: every activity of the whole store is interned in every
//! piece (so the binding, and where instances may start, are the same), and `now` is the whole
//! store's. Then cases are numbered in the order of their first arrival, as a log read whole
//! numbers them, and the case attribute values the contact drivers compare are chosen over all
//! pieces. The result equals the cut of the whole log (`tests/it/journey.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use waymark_eventlog::{ActivityKey, EventLog, LogBuilder, Micros, Symbol};
use waymark_journey::Journey;

use super::instances::{AttributeValues, value_names};
use super::source::{Cut, LogSource};
use super::{ATTRIBUTE_VALUES, Instance, Options, UnknownTouchpoint};

/// The cut of a log assembled from pieces.
#[derive(Debug)]
pub struct Pieces {
    options: Options,
    /// Case by case (in the order they were added): name, first arrival, and the counted case
    /// attributes as (key, text).
    cases: Vec<PieceCase>,
    /// Every instance in the order added, its `case` a place in `cases`; and its segment (when
    /// the report is broken down).
    instances: Vec<Instance>,
    segments: Vec<String>,
    bound: Option<Vec<bool>>,
    /// The activities of every piece, for the instances' unmapped events.
    names: LogBuilder,
}

#[derive(Debug)]
struct PieceCase {
    name: String,
    first: u64,
    pairs: Vec<(String, String)>,
}

/// The assembled cut, read as a [`LogSource`].
#[derive(Debug)]
pub struct Assembled {
    cut: Cut,
    names: Vec<String>,
    activities: EventLog,
}

impl Pieces {
    /// `options.now` must be set (the whole store's last time): a piece's own last time is not.
    pub fn new(options: &Options) -> Pieces {
        Pieces {
            options: options.clone(),
            cases: Vec::new(),
            instances: Vec::new(),
            segments: Vec::new(),
            bound: None,
            names: LogBuilder::new(ActivityKey::concept_name()),
        }
    }

    /// Cuts one piece. `first[c]` is case `c`'s first arrival in the whole store (cases are
    /// numbered by it in the end); every activity of the store must be interned in the piece.
    pub fn add(
        &mut self,
        journey: &Journey,
        piece: &EventLog,
        first: &[u64],
    ) -> Result<(), UnknownTouchpoint> {
        let cut = piece.cut(journey, &self.options)?;
        if self.bound.is_none() {
            self.bound = Some(cut.bound.clone());
        }
        let offset = self.cases.len();
        for case in 0..piece.cases() {
            self.cases.push(PieceCase {
                name: piece.case(case).name().to_string(),
                first: first.get(case).copied().unwrap_or(u64::MAX),
                pairs: super::instances::counted_pairs(piece, case),
            });
        }
        for instance in cut.instances.iter() {
            let mut instance = instance.clone();
            instance.case += offset as u32;
            for symbol in &mut instance.unmapped {
                *symbol = self.names.intern(piece.resolve(*symbol));
            }
            self.instances.push(instance);
        }
        if let Some(segments) = &cut.segments {
            self.segments.extend(segments.iter().cloned());
        }
        Ok(())
    }

    /// The cut of all pieces, cases in the order of their first arrival, each case's instances
    /// in order. Every instance is moved once, in place.
    pub fn finish(self) -> Assembled {
        let Pieces {
            options,
            mut cases,
            mut instances,
            mut segments,
            bound,
            names: activities,
        } = self;
        // Cases by first arrival (ties as added), and each case's place in that order.
        let mut order: Vec<u32> = (0..cases.len() as u32).collect();
        order.sort_by_key(|&case| cases[case as usize].first);
        let mut rank = vec![0u32; cases.len()];
        for (place, &case) in order.iter().enumerate() {
            rank[case as usize] = place as u32;
        }
        // Instances by their case's place; a stable sort keeps each case's in order.
        let mut by_case: Vec<u32> = (0..instances.len() as u32).collect();
        by_case.sort_by_key(|&k| rank[instances[k as usize].case as usize]);
        for instance in &mut instances {
            instance.case = rank[instance.case as usize];
        }
        permute(&mut instances, &by_case, Instance::empty);
        if options.by.is_some() {
            permute(&mut segments, &by_case, String::new);
        }
        let mut names = Vec::with_capacity(cases.len());
        let mut pairs = Vec::with_capacity(cases.len());
        for &case in &order {
            let case = &mut cases[case as usize];
            names.push(std::mem::take(&mut case.name));
            pairs.push(std::mem::take(&mut case.pairs));
        }
        drop(cases);
        let values = values_of(&pairs, &instances);
        let cut = Cut {
            instances: Arc::new(instances),
            bound: bound.unwrap_or_default(),
            segments: options.by.is_some().then_some(segments),
            values,
        };
        Assembled {
            cut,
            names,
            activities: activities.finish(),
        }
    }
}

/// Puts `items[order[i]]` at place `i`, moving each item once (`hole` fills a place for the
/// moment it is empty).
fn permute<T>(items: &mut [T], order: &[u32], hole: impl Fn() -> T) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        if placed[start] {
            continue;
        }
        let held = std::mem::replace(&mut items[start], hole());
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                items[at] = held;
                break;
            }
            items[at] = std::mem::replace(&mut items[from], hole());
            at = from;
        }
    }
}

/// The drivers' attribute values as [`super::instances::attribute_values`] chooses them, from
/// the case attributes as text ([`value_names`]) of the cases with instances.
fn values_of(pairs: &[Vec<(String, String)>], instances: &[Instance]) -> AttributeValues {
    let mut by_key: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut with_instances = vec![false; pairs.len()];
    for instance in instances {
        with_instances[instance.case as usize] = true;
    }
    for (case, _) in pairs.iter().zip(&with_instances).filter(|(_, with)| **with) {
        for (key, text) in case.iter() {
            let set = by_key.entry(key).or_default();
            if set.len() <= ATTRIBUTE_VALUES {
                set.insert(text);
            }
        }
    }
    let names = value_names(by_key.iter().map(|(key, set)| (*key, set)));
    if names.is_empty() {
        return AttributeValues::none();
    }
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    // Per case, the places of the values it has; then each instance has its case's.
    let places: Vec<Vec<usize>> = pairs
        .iter()
        .map(|case| {
            case.iter()
                .filter_map(|(key, text)| index.get(format!("{key}={text}").as_str()).copied())
                .collect()
        })
        .collect();
    AttributeValues::new(
        names,
        instances
            .iter()
            .map(|instance| places[instance.case as usize].as_slice()),
    )
}

impl Assembled {
    /// The instances cut, as a report reads them.
    pub fn instances(&self) -> &[Instance] {
        &self.cut.instances
    }
}

impl LogSource for Assembled {
    /// The assembled cut: it was made for one journey and one set of options, those given to
    /// [`Pieces`].
    fn cut(&self, _journey: &Journey, _options: &Options) -> Result<Cut, UnknownTouchpoint> {
        Ok(self.cut.clone())
    }

    fn case_name(&self, case: u32) -> String {
        self.names.get(case as usize).cloned().unwrap_or_default()
    }

    fn activity(&self, symbol: Symbol) -> String {
        self.activities.resolve(symbol).to_string()
    }
}

/// `now` for a report over a store's events: the option given, else the store's last time.
pub fn now_or(options: &Options, last: Micros) -> Options {
    let mut options = options.clone();
    options.now = options.now.or(Some(last));
    options
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Permuting in place puts at each place the item the order names.
        #[test]
        fn permute_puts_each_item_where_the_order_says(
            order in (0usize..60).prop_flat_map(|n| Just((0..n as u32).collect::<Vec<u32>>()).prop_shuffle()),
        ) {
            let mut items: Vec<String> = (0..order.len()).map(|i| format!("item {i}")).collect();
            super::permute(&mut items, &order, String::new);
            let expected: Vec<String> = order.iter().map(|&i| format!("item {i}")).collect();
            prop_assert_eq!(items, expected);
        }
    }
}
