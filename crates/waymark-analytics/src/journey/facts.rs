//! What every section reads, computed once: of the journey's design ([`Design`]), and of each
//! instance ([`Facts`]). The sections reduce these facts over a group of instances (all of them,
//! a period or a segment), so a group is measured by the same code as the whole report.

use std::collections::HashMap;

use rayon::prelude::*;
use waymark_eventlog::Micros;
use waymark_journey::{Journey, Kind, Stage, Touchpoint};

use super::binding::indexes;
use super::conformance::{Move, allowed_moves, replay};
use super::instances::AttributeValues;
use super::{Cut, DAY, Instance, Options, Period, Status, UnknownTouchpoint, seconds};

/// The journey's design as the sections read it, with the touchpoints a log's events reach.
pub(super) struct Design<'j> {
    pub journey: &'j Journey,
    pub touchpoints: Vec<(&'j Stage, &'j Touchpoint)>,
    /// Per touchpoint: its id, whether optional, its stage, its target (seconds), whether a
    /// contact, whether events can reach it.
    pub names: Vec<String>,
    pub optional: Vec<bool>,
    pub stage_of: Vec<usize>,
    pub targets: Vec<Option<f64>>,
    pub is_contact: Vec<bool>,
    pub bound: Vec<bool>,
    /// The contact touchpoints, in listing order.
    pub contact_ids: Vec<usize>,
    /// Which moves the design allows, and where an instance may start, for conformance.
    pub allowed: Vec<Vec<bool>>,
    pub starts: Vec<bool>,
    /// Per stage: the sum of its required touchpoints' targets, when any has one.
    pub stage_targets: Vec<Option<f64>>,
}

impl<'j> Design<'j> {
    pub fn new(
        journey: &'j Journey,
        bound: &[bool],
        options: &Options,
    ) -> Result<Self, UnknownTouchpoint> {
        let touchpoints: Vec<(&Stage, &Touchpoint)> = journey.touchpoints().collect();
        let n = touchpoints.len();
        let stage_of: Vec<usize> = touchpoints
            .iter()
            .map(|(stage, _)| {
                journey
                    .stages
                    .iter()
                    .position(|s| s.id == stage.id)
                    .unwrap_or(0)
            })
            .collect();
        let optional: Vec<bool> = touchpoints.iter().map(|(_, t)| t.optional).collect();
        let contact_list = indexes(journey, "contacts", &options.contacts)?;
        // The contacts: as given, else those the journey marks costly, else every conversation.
        let any_costly = touchpoints.iter().any(|(_, t)| t.costly);
        let is_contact: Vec<bool> = (0..n)
            .map(|t| {
                if !contact_list.is_empty() {
                    contact_list.contains(&t)
                } else if any_costly {
                    touchpoints[t].1.costly
                } else {
                    touchpoints[t].1.kind == Kind::Conversation
                }
            })
            .collect();
        let allowed = allowed_moves(journey, n);
        let starts = starts(&allowed, &optional, bound);
        let stage_targets = journey
            .stages
            .iter()
            .map(|stage| {
                let required: Vec<f64> = stage
                    .touchpoints
                    .iter()
                    .filter(|t| !t.optional)
                    .filter_map(|t| t.target.map(|d| d.as_secs_f64()))
                    .collect();
                (!required.is_empty()).then(|| required.iter().sum())
            })
            .collect();
        Ok(Design {
            journey,
            names: touchpoints.iter().map(|(_, t)| t.id.clone()).collect(),
            targets: touchpoints
                .iter()
                .map(|(_, t)| t.target.map(|d| d.as_secs_f64()))
                .collect(),
            touchpoints,
            optional,
            stage_of,
            contact_ids: (0..n).filter(|&t| is_contact[t]).collect(),
            is_contact,
            bound: bound.to_vec(),
            allowed,
            starts,
            stage_targets,
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn stages(&self) -> usize {
        self.journey.stages.len()
    }
}

/// Where a conforming instance may start: the first touchpoint and anything reachable from it
/// through optional ones; and, since a map may begin with touchpoints no event reaches (a website
/// visit the log does not record), the first touchpoint that has bound events.
fn starts(allowed: &[Vec<bool>], optional: &[bool], bound: &[bool]) -> Vec<bool> {
    let n = optional.len();
    let mut is_start = vec![false; n];
    if n > 0 {
        is_start[0] = true;
        if optional[0] {
            for (t, s) in is_start.iter_mut().enumerate() {
                *s |= allowed[0][t];
            }
        }
    }
    if let Some(first) = bound.iter().position(|&b| b) {
        is_start[first] = true;
        for t in 0..n {
            let before_first_bound = (0..first).any(|b| allowed[b][t]) && t <= first;
            is_start[t] |= before_first_bound;
        }
    }
    is_start
}

/// What one instance contributes to every section, as computed ([`of`]) before it is packed
/// into a [`FactTable`].
struct Facts {
    /// Per touchpoint: visited at all.
    visited: Vec<bool>,
    /// Per stage: reached; repeat visits to its touchpoints; time in it (seconds).
    reached: Vec<bool>,
    stage_repeats: Vec<u32>,
    stage_times: Vec<Option<f64>>,
    /// The stage an abandoned instance was last in.
    dropped_in: Option<usize>,
    /// Whether it followed the design, and its moves outside it.
    fits: bool,
    deviations: Vec<Move>,
    /// Its contact visits, and whether a contact repeated.
    contacts: usize,
    repeated_contact: bool,
    /// Per contact touchpoint (in [`Design::contact_ids`] order): the touchpoints visited before
    /// the first visit to it (empty when it was not visited).
    before_contact: Vec<Vec<bool>>,
    /// Whether it has a low score, and a visit over its touchpoint's target.
    low: bool,
    breached: bool,
}

/// The facts of every instance, packed in columns: a set of touchpoints or stages is a row of
/// bits, the rest one number each, with no allocation per instance (a report over millions of
/// instances holds them all).
pub(super) struct FactTable {
    /// Words in a row of touchpoint bits, of stage bits; stages; contact touchpoints.
    words: usize,
    stage_words: usize,
    stages: usize,
    contact_count: usize,
    visited: Vec<u64>,
    reached: Vec<u64>,
    stage_repeats: Vec<u32>,
    /// A stage's time, NaN where the instance did not reach it (a time is never NaN).
    stage_times: Vec<f64>,
    /// The stage, `u32::MAX` for none.
    dropped_in: Vec<u32>,
    contacts: Vec<u32>,
    /// Bits: fits, repeated contact, low, breached.
    flags: Vec<u8>,
    /// Per contact touchpoint, the touchpoints visited before its first visit (no bit when it
    /// was not visited, which [`FactTable::visited`] tells apart).
    before_contact: Vec<u64>,
    /// The deviations of instance `k` are `deviations[starts[k]..starts[k + 1]]`.
    deviations: Vec<Move>,
    starts: Vec<usize>,
}

const FITS: u8 = 1;
const REPEATED_CONTACT: u8 = 2;
const LOW: u8 = 4;
const BREACHED: u8 = 8;

/// `bits` as a row of `words` words.
fn pack(bits: &[bool], words: usize, into: &mut Vec<u64>) {
    let at = into.len();
    into.resize(at + words, 0);
    for (t, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
        set(&mut into[at..], t);
    }
}

/// Sets bit `t` of a row.
pub(super) fn set(row: &mut [u64], t: usize) {
    row[t / 64] |= 1 << (t % 64);
}

/// The places of a row's set bits, in order.
pub(super) fn ones(row: &[u64]) -> impl Iterator<Item = usize> + '_ {
    row.iter().enumerate().flat_map(|(w, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let t = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                t
            })
        })
    })
}

/// Whether bit `t` of a row is set.
pub(super) fn has(row: &[u64], t: usize) -> bool {
    row[t / 64] & (1 << (t % 64)) != 0
}

impl FactTable {
    fn new(design: &Design, capacity: usize) -> FactTable {
        let words = design.len().div_ceil(64).max(1);
        let stage_words = design.stages().div_ceil(64).max(1);
        let stages = design.stages();
        let contact_count = design.contact_ids.len();
        FactTable {
            words,
            stage_words,
            stages,
            contact_count,
            visited: Vec::with_capacity(capacity * words),
            reached: Vec::with_capacity(capacity * stage_words),
            stage_repeats: Vec::with_capacity(capacity * stages),
            stage_times: Vec::with_capacity(capacity * stages),
            dropped_in: Vec::with_capacity(capacity),
            contacts: Vec::with_capacity(capacity),
            flags: Vec::with_capacity(capacity),
            before_contact: Vec::with_capacity(capacity * contact_count * words),
            deviations: Vec::new(),
            starts: {
                let mut starts = Vec::with_capacity(capacity + 1);
                starts.push(0);
                starts
            },
        }
    }

    fn push(&mut self, facts: Facts) {
        pack(&facts.visited, self.words, &mut self.visited);
        pack(&facts.reached, self.stage_words, &mut self.reached);
        self.stage_repeats.extend(&facts.stage_repeats);
        self.stage_times
            .extend(facts.stage_times.iter().map(|t| t.unwrap_or(f64::NAN)));
        self.dropped_in
            .push(facts.dropped_in.map_or(u32::MAX, |s| s as u32));
        self.contacts
            .push(u32::try_from(facts.contacts).unwrap_or(u32::MAX));
        self.flags.push(
            (facts.fits as u8 * FITS)
                | (facts.repeated_contact as u8 * REPEATED_CONTACT)
                | (facts.low as u8 * LOW)
                | (facts.breached as u8 * BREACHED),
        );
        for before in &facts.before_contact {
            pack(before, self.words, &mut self.before_contact);
        }
        self.deviations.extend(facts.deviations);
        self.starts.push(self.deviations.len());
    }

    fn flag(&self, k: usize, flag: u8) -> bool {
        self.flags[k] & flag != 0
    }

    /// The touchpoints instance `k` visited, as a row of bits ([`has`]).
    pub fn visited_row(&self, k: usize) -> &[u64] {
        &self.visited[k * self.words..(k + 1) * self.words]
    }

    pub fn visited(&self, k: usize, t: usize) -> bool {
        has(self.visited_row(k), t)
    }

    /// Whether instance `k` reached stage `s`.
    pub fn reached(&self, k: usize, s: usize) -> bool {
        has(
            &self.reached[k * self.stage_words..(k + 1) * self.stage_words],
            s,
        )
    }

    /// Repeat visits to stage `s`'s touchpoints.
    pub fn stage_repeats(&self, k: usize, s: usize) -> u32 {
        self.stage_repeats[k * self.stages + s]
    }

    /// The time instance `k` spent in stage `s` (seconds), when it reached it.
    pub fn stage_time(&self, k: usize, s: usize) -> Option<f64> {
        let time = self.stage_times[k * self.stages + s];
        (!time.is_nan()).then_some(time)
    }

    /// The stage an abandoned instance was last in.
    pub fn dropped_in(&self, k: usize) -> Option<usize> {
        let stage = self.dropped_in[k];
        (stage != u32::MAX).then_some(stage as usize)
    }

    /// Whether instance `k` followed the design.
    pub fn fits(&self, k: usize) -> bool {
        self.flag(k, FITS)
    }

    /// Its moves outside the design.
    pub fn deviations(&self, k: usize) -> &[Move] {
        &self.deviations[self.starts[k]..self.starts[k + 1]]
    }

    /// Its contact visits.
    pub fn contacts(&self, k: usize) -> usize {
        self.contacts[k] as usize
    }

    /// Whether a contact touchpoint was visited more than once.
    pub fn repeated_contact(&self, k: usize) -> bool {
        self.flag(k, REPEATED_CONTACT)
    }

    /// The touchpoints visited before the first visit to the `ci`-th contact touchpoint (when
    /// it was visited).
    pub fn before_contact(&self, k: usize, ci: usize) -> &[u64] {
        let at = (k * self.contact_count + ci) * self.words;
        &self.before_contact[at..at + self.words]
    }

    /// Whether instance `k` has a low score.
    pub fn low(&self, k: usize) -> bool {
        self.flag(k, LOW)
    }

    /// Whether a visit of instance `k` took longer than its touchpoint's target.
    pub fn breached(&self, k: usize) -> bool {
        self.flag(k, BREACHED)
    }
}

/// Instances grouped by a key (the period they started in, a segment): the keys in order, and
/// each instance's key as its place among them.
pub(super) struct Grouping {
    pub keys: Vec<String>,
    pub of: Vec<u32>,
}

impl Grouping {
    /// Each instance's key given as text.
    pub fn of_texts<'a>(texts: impl Iterator<Item = &'a str>) -> Grouping {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut keys: Vec<&str> = Vec::new();
        let provisional: Vec<u32> = texts
            .map(|text| {
                *index.entry(text).or_insert_with(|| {
                    keys.push(text);
                    (keys.len() - 1) as u32
                })
            })
            .collect();
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_by(|&a, &b| keys[a as usize].cmp(keys[b as usize]));
        let mut rank = vec![0u32; keys.len()];
        for (place, &key) in order.iter().enumerate() {
            rank[key as usize] = place as u32;
        }
        Grouping {
            keys: order
                .iter()
                .map(|&k| keys[k as usize].to_string())
                .collect(),
            of: provisional.into_iter().map(|p| rank[p as usize]).collect(),
        }
    }

    /// By the period each instance started in (each day's period written once).
    pub fn periods(found: &[Instance], period: Period) -> Grouping {
        let mut days: HashMap<Micros, String> = HashMap::new();
        for instance in found {
            let day = instance.start().div_euclid(DAY);
            days.entry(day)
                .or_insert_with(|| period.bucket(instance.start()));
        }
        Grouping::of_texts(
            found
                .iter()
                .map(|instance| days[&instance.start().div_euclid(DAY)].as_str()),
        )
    }

    /// The instances of each key, by key.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.keys.len()];
        for (k, &key) in self.of.iter().enumerate() {
            members[key as usize].push(k);
        }
        members
    }
}

/// Everything the sections read: the design, the instances, their facts and their segments.
pub(super) struct Basis<'a> {
    pub design: &'a Design<'a>,
    pub found: &'a [Instance],
    pub facts: &'a FactTable,
    pub periods: &'a Grouping,
    pub segments: Option<&'a Grouping>,
    pub values: &'a AttributeValues,
}

impl<'a> Basis<'a> {
    /// The facts of every instance of `cut`, computed in parallel a block at a time and packed.
    pub fn facts(design: &Design, cut: &Cut) -> FactTable {
        const BLOCK: usize = 1 << 14;
        let mut table = FactTable::new(design, cut.instances.len());
        for block in cut.instances.chunks(BLOCK) {
            let facts: Vec<Facts> = block
                .par_iter()
                .map(|instance| of(design, instance))
                .collect();
            for facts in facts {
                table.push(facts);
            }
        }
        table
    }
}

/// The facts of one instance.
fn of(design: &Design, instance: &Instance) -> Facts {
    let n = design.len();
    let stage_count = design.stages();
    let stage_of = &design.stage_of;
    let mut visited = vec![false; n];
    let mut reached = vec![false; stage_count];
    let mut stage_repeats = vec![0u32; stage_count];
    for v in &instance.visits {
        if std::mem::replace(&mut visited[v.touchpoint], true) {
            stage_repeats[stage_of[v.touchpoint]] += 1;
        }
        reached[stage_of[v.touchpoint]] = true;
    }
    let (fits, deviations) = replay(design, instance);
    let mut seen_contact = vec![false; n];
    let mut contacts = 0;
    let mut repeated_contact = false;
    for v in instance
        .visits
        .iter()
        .filter(|v| design.is_contact[v.touchpoint])
    {
        contacts += 1;
        repeated_contact |= std::mem::replace(&mut seen_contact[v.touchpoint], true);
    }
    let before_contact = design
        .contact_ids
        .iter()
        .map(|&c| {
            if !visited[c] {
                return Vec::new();
            }
            let mut seen = vec![false; n];
            for v in instance.visits.iter().take_while(|v| v.touchpoint != c) {
                seen[v.touchpoint] = true;
            }
            seen
        })
        .collect();
    Facts {
        stage_times: stage_times(design, instance),
        dropped_in: (instance.status == Status::Abandoned)
            .then(|| instance.visits.last().map(|v| stage_of[v.touchpoint]))
            .flatten(),
        fits,
        deviations,
        contacts,
        repeated_contact,
        before_contact,
        low: instance.scores.iter().any(|s| s.kind.is_low(s.value)),
        breached: (0..instance.visits.len()).any(|k| {
            let visit = &instance.visits[k];
            design.targets[visit.touchpoint].is_some_and(|target| moved(instance, k) > target)
        }),
        visited,
        reached,
        stage_repeats,
    }
}

/// The time from the start of visit `k` until the journey moved on (seconds): its stay, and the
/// wait until the next visit.
pub(super) fn moved(instance: &Instance, k: usize) -> f64 {
    let visit = &instance.visits[k];
    let stay = seconds(visit.end - visit.start);
    match instance.visits.get(k + 1) {
        Some(next) => stay + seconds(next.start - visit.end),
        None => stay,
    }
}

/// Per stage: the time in it, from the first visit to one of its touchpoints until the first
/// visit to a later stage, else until the end of its last visit there.
fn stage_times(design: &Design, instance: &Instance) -> Vec<Option<f64>> {
    let stage_of = &design.stage_of;
    (0..design.stages())
        .map(|s| {
            let first = instance
                .visits
                .iter()
                .position(|v| stage_of[v.touchpoint] == s)?;
            let entered = instance.visits[first].start;
            let left = instance.visits[first..]
                .iter()
                .find(|v| stage_of[v.touchpoint] > s)
                .map(|v| v.start)
                .or_else(|| {
                    instance
                        .visits
                        .iter()
                        .rev()
                        .find(|v| stage_of[v.touchpoint] == s)
                        .map(|v| v.end)
                })
                .unwrap_or(entered);
            Some(seconds(left - entered))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::contacts::Counted;
    use super::super::instances::AttributeValues;
    use super::super::{Cut, Instance, Options, Status, Visit};
    use super::{Basis, Design, has, of, pack};

    /// A journey of 70 touchpoints in two stages (so a row of touchpoints is two words), with
    /// conversations (the contacts) at 5 and 66.
    fn wide_journey() -> waymark_journey::Journey {
        let mut yaml =
            String::from("id: wide\ntitle: Wide\nowner: Test\nversion: as-is\nstages:\n");
        for (stage, range) in [("a", 0..40), ("b", 40..70)] {
            yaml.push_str(&format!(
                "  - id: {stage}\n    name: {stage}\n    touchpoints:\n"
            ));
            for t in range {
                let kind = if t == 5 || t == 66 {
                    "conversation"
                } else {
                    "content"
                };
                yaml.push_str(&format!(
                    "      - id: t{t}\n        name: T{t}\n        channel: web\n        department: Sales\n        actor: customer\n        kind: {kind}\n        target: 1m\n        events:\n          - event: E{t}\n"
                ));
            }
        }
        let checked = waymark_journey::check(&yaml);
        checked
            .journey
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics))
    }

    fn instance(touchpoints: &[usize], status: Status) -> Instance {
        Instance {
            case: 0,
            visits: touchpoints
                .iter()
                .enumerate()
                .map(|(k, &touchpoint)| Visit {
                    touchpoint,
                    start: k as i64 * 90_000_000,
                    end: k as i64 * 90_000_000 + 1_000_000,
                    events: 1,
                })
                .collect(),
            status,
            scores: Vec::new(),
            unmapped: Vec::new(),
        }
    }

    /// The packed table reads back every figure of each instance as computed unpacked, across
    /// the boundary between a row's two words.
    #[test]
    fn the_packed_table_reads_back_each_instance_s_facts() {
        let journey = wide_journey();
        let bound = vec![true; 70];
        let design = Design::new(&journey, &bound, &Options::default()).expect("design");
        assert_eq!(design.contact_ids, [5, 66]);
        let found = vec![
            instance(&[0, 5, 63, 64, 66, 69, 64, 66], Status::Completed),
            instance(&[1, 2], Status::Abandoned),
            instance(&[64, 3, 5, 5], Status::Open),
            instance(&[69], Status::Abandoned),
        ];
        let cut = Cut {
            instances: Arc::new(found.clone()),
            bound,
            segments: None,
            values: AttributeValues::none(),
        };
        let table = Basis::facts(&design, &cut);
        for (k, instance) in found.iter().enumerate() {
            let facts = of(&design, instance);
            for t in 0..70 {
                assert_eq!(
                    table.visited(k, t),
                    facts.visited[t],
                    "instance {k}, visited {t}"
                );
                assert_eq!(has(table.visited_row(k), t), facts.visited[t]);
            }
            for s in 0..2 {
                assert_eq!(
                    table.reached(k, s),
                    facts.reached[s],
                    "instance {k}, stage {s}"
                );
                assert_eq!(table.stage_repeats(k, s), facts.stage_repeats[s]);
                assert_eq!(table.stage_time(k, s), facts.stage_times[s]);
            }
            assert_eq!(table.dropped_in(k), facts.dropped_in, "instance {k}");
            assert_eq!(table.fits(k), facts.fits, "instance {k}");
            assert_eq!(
                table.deviations(k),
                facts.deviations.as_slice(),
                "instance {k}"
            );
            assert_eq!(table.contacts(k), facts.contacts, "instance {k}");
            assert_eq!(
                table.repeated_contact(k),
                facts.repeated_contact,
                "instance {k}"
            );
            assert_eq!(table.low(k), facts.low, "instance {k}");
            assert_eq!(table.breached(k), facts.breached, "instance {k}");
            for (ci, before) in facts.before_contact.iter().enumerate() {
                for t in 0..70 {
                    let expected = before.get(t).copied().unwrap_or(false);
                    assert_eq!(
                        has(table.before_contact(k, ci), t),
                        expected,
                        "instance {k}, before contact {ci}, touchpoint {t}"
                    );
                }
            }
        }
        // The figures this journey gives are not all alike (else the test shows little).
        assert!(table.deviations(0).len() > 1 && table.repeated_contact(0));
        assert!(table.dropped_in(1) == Some(0) && table.stage_time(1, 1).is_none());
        assert!(has(table.before_contact(0, 1), 64) && !has(table.before_contact(0, 1), 66));
    }

    proptest! {
        /// Rows of bits read back as the sets packed, over several words, and count as the sets.
        #[test]
        fn packed_rows_read_back_and_count_as_the_sets(
            sets in prop::collection::vec(prop::collection::vec(any::<bool>(), 150), 0..20),
        ) {
            let words = 150usize.div_ceil(64);
            let mut rows = Vec::new();
            for set in &sets {
                pack(set, words, &mut rows);
            }
            let mut counted = Counted::new(150);
            for (k, set) in sets.iter().enumerate() {
                let row = &rows[k * words..(k + 1) * words];
                for (t, &bit) in set.iter().enumerate() {
                    prop_assert_eq!(has(row, t), bit);
                }
                counted.add_row(row);
            }
            let expected: Vec<usize> = (0..150)
                .map(|t| sets.iter().filter(|set| set[t]).count())
                .collect();
            prop_assert_eq!(counted.instances(), sets.len());
            prop_assert_eq!(counted.counts(), expected.as_slice());
        }
    }
}
