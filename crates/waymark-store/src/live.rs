//! The live log: the stored events held in memory by person, as the analyses read them, kept up
//! to date by reading only what changed.
//!
//! [`LiveLog::catch_up`] reads what the store gained since the last reading (one consistent view,
//! see [`crate::facts::read`]): identity merges move the merged person's events to the survivor,
//! new collected events join their person (no JSON is parsed: their facts are), new imported
//! blocks join theirs. [`LiveLog::snapshot`] writes the whole as an [`EventLog`] for the
//! analyses, one case per person. Reading a store from scratch is a catch-up from nothing, so a
//! fresh reading and a log kept up to date are made by the same code; the property test in
//! `tests/it/live.rs` holds the live log against an independent reading of the store's rows.
//!
//! What a snapshot holds, per person (a profile, identities stitched):
//! - the case name: the person's first collected user id, else the first imported case's user
//!   id, else the first anonymous id;
//! - the case's attributes: `concept:name`, then the latest value of each trait the person's
//!   identify calls set (by arrival), by key;
//! - the events ordered by time, ties by arrival: collected events first, then imported ones;
//! - per event its activity and time, and the attributes [`Keep`] names.
//!
//! Cases come in the order of their first event's arrival (collected events before imported).
//!
//! With each snapshot go its [`Stamps`]: per case, the person's id (stable while the log lives)
//! and the snapshot in which the person last changed (an event, a merge, a name or a trait).
//! The analyses keep what they computed for people a new snapshot did not touch (see
//! `waymark_analytics::journey::source`).

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use waymark_eventlog::{
    ActivityKey, Attribute, CONCEPT_NAME, CaseWriter, EventLog, Intern, Interner, SharedInterner,
    Stamps, Symbol, TIME_TIMESTAMP, Value,
};

use crate::facts::{self, Change, EventFacts, Fact, Kind, Since};
use crate::{Keep, Store, StoreError, TraceBlock};

/// Imported events sort after collected ones with the same time: their order key starts here.
const IMPORTED: i64 = 1 << 62;

/// Who a person is in the live log: their profile, else (events without one) their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Profile(i64),
    Named(Symbol),
}

/// One event held: its time, its order among events of the same time (collected: its seq;
/// imported: after [`IMPORTED`]), its activity and its attributes in the arena.
#[derive(Debug, Clone, Copy)]
struct Held {
    time: i64,
    order: i64,
    activity: Symbol,
    attributes: u32,
    count: u32,
}

impl Held {
    fn key(&self) -> (i64, i64) {
        (self.time, self.order)
    }
}

#[derive(Debug, Default)]
struct Person {
    /// The order key of the person's first event (`None` until they have one).
    first: Option<i64>,
    /// (order, id) of the first collected user id, imported case id and anonymous id seen.
    user: Option<(i64, Symbol)>,
    imported: Option<(i64, Symbol)>,
    anonymous: Option<(i64, Symbol)>,
    /// The traits identify calls set: (key, seq of the call, value), one entry per key.
    traits: Vec<(Symbol, i64, Attribute)>,
    /// The cases of the last snapshot holding the person's events: one, or several after
    /// identity merges (until the next snapshot).
    cases: Vec<u32>,
    /// Events added since the last snapshot, in arrival order: ordered by [`Held::key`] unless
    /// `unsorted` (then sorted once, when the next snapshot is written).
    added: Vec<Held>,
    unsorted: bool,
    /// The person's id in the log's [`Stamps`] (0 until their first snapshot), whether their
    /// events, names or traits changed since the last snapshot, and the generation of the
    /// snapshot in which they last did.
    id: u32,
    dirty: bool,
    changed: u64,
}

fn earlier(a: Option<(i64, Symbol)>, b: Option<(i64, Symbol)>) -> Option<(i64, Symbol)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, y) => x.or(y),
    }
}

impl Person {
    fn name(&self) -> Option<Symbol> {
        self.user
            .or(self.imported)
            .or(self.anonymous)
            .map(|(_, name)| name)
    }

    fn add(&mut self, held: Held) {
        self.first = Some(self.first.map_or(held.order, |f| f.min(held.order)));
        self.unsorted |= self
            .added
            .last()
            .is_some_and(|last| last.key() > held.key());
        self.added.push(held);
    }

    fn has_events(&self) -> bool {
        !self.cases.is_empty() || !self.added.is_empty()
    }

    fn set_trait(&mut self, key: Symbol, seq: i64, value: Attribute) {
        match self.traits.iter_mut().find(|(k, _, _)| *k == key) {
            Some(known) if known.1 <= seq => *known = (key, seq, value),
            Some(_) => {}
            None => self.traits.push((key, seq, value)),
        }
    }

    /// Takes in everything of `other` (a profile merged into this one).
    fn absorb(&mut self, other: Person) {
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.user = earlier(self.user, other.user);
        self.imported = earlier(self.imported, other.imported);
        self.anonymous = earlier(self.anonymous, other.anonymous);
        for (key, seq, value) in other.traits {
            self.set_trait(key, seq, value);
        }
        self.cases.extend(other.cases);
        self.unsorted |= other.unsorted || !self.added.is_empty() && !other.added.is_empty();
        self.added.extend(other.added);
    }
}

/// The keys of the attributes a collected event may carry besides its facts.
#[derive(Debug, Clone, Copy)]
struct Keys {
    concept: Symbol,
    time: Symbol,
    kind: Symbol,
    message: Symbol,
    anonymous: Symbol,
    user: Symbol,
}

/// Which of the attributes a log writes itself it keeps, decided once from [`Keep`] (not per
/// event).
#[derive(Debug, Clone, Copy)]
struct Kept {
    concept: bool,
    time: bool,
    kind: bool,
    message: bool,
    anonymous: bool,
    user: bool,
}

impl Kept {
    fn of(keep: &Keep) -> Self {
        Kept {
            concept: keep.keeps(CONCEPT_NAME),
            time: keep.keeps(TIME_TIMESTAMP),
            kind: keep.keeps("segment:type"),
            message: keep.keeps("segment:messageId"),
            anonymous: keep.keeps("segment:anonymousId"),
            user: keep.keeps("segment:userId"),
        }
    }
}

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaughtUp {
    /// Collected events and imported blocks read, merges applied.
    pub events: usize,
    pub blocks: usize,
    pub merges: usize,
    /// People whose events changed.
    pub touched: usize,
}

impl CaughtUp {
    pub fn changed(&self) -> bool {
        self.events + self.blocks + self.merges > 0
    }
}

/// The stored events by person, kept up to date (see the module's documentation).
#[derive(Debug)]
pub struct LiveLog {
    keep: Keep,
    kept: Kept,
    /// Its strings: the last snapshot's, and those interned since.
    strings: SharedInterner,
    keys: Keys,
    since: Since,
    people: HashMap<Who, Person, foldhash::fast::RandomState>,
    /// The last snapshot: every event up to it, one case per person.
    base: Arc<EventLog>,
    /// Per event of `base`, its order among events of the same time.
    base_order: Vec<i64>,
    /// The attributes of the events added since the last snapshot.
    arena: Vec<Attribute>,
    /// Whether anything changed since the last snapshot.
    changed: bool,
    events: usize,
    /// Collected events whose facts could not be read.
    skipped: usize,
    /// The stamps of the last snapshot's cases, and the id the next new person gets.
    stamps: Arc<Stamps>,
    next_person: u32,
}

/// Each live log starts a lineage of its own: its person ids and generations mean nothing to
/// another.
static LINEAGE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl LiveLog {
    /// An empty live log keeping the attributes `keep` names.
    pub fn new(keep: Keep) -> Self {
        let mut strings = SharedInterner::default();
        let keys = Keys {
            concept: strings.intern(CONCEPT_NAME),
            time: strings.intern(TIME_TIMESTAMP),
            kind: strings.intern("segment:type"),
            message: strings.intern("segment:messageId"),
            anonymous: strings.intern("segment:anonymousId"),
            user: strings.intern("segment:userId"),
        };
        LiveLog {
            kept: Kept::of(&keep),
            keep,
            strings,
            keys,
            since: Since::default(),
            people: HashMap::default(),
            base: Arc::new(CaseWriter::new(Interner::default(), ActivityKey::default()).finish()),
            base_order: Vec::new(),
            arena: Vec::new(),
            changed: true,
            events: 0,
            skipped: 0,
            stamps: Arc::new(Stamps {
                lineage: LINEAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                ..Stamps::default()
            }),
            next_person: 1,
        }
    }

    /// Every stored event, read from scratch.
    pub fn load(store: &dyn Store, keep: Keep) -> Result<Self, StoreError> {
        let mut live = LiveLog::new(keep);
        live.catch_up(store)?;
        Ok(live)
    }

    /// Where the log is in the store.
    pub fn since(&self) -> Since {
        self.since
    }

    /// Events held.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Collected events whose facts could not be read, left out.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Reads what the store gained since the last reading.
    pub fn catch_up(&mut self, store: &dyn Store) -> Result<CaughtUp, StoreError> {
        self.catch_up_counting(store, &|_| {})
    }

    /// [`LiveLog::catch_up`], telling `progress` how many collected events it has read, every
    /// so often.
    pub fn catch_up_counting(
        &mut self,
        store: &dyn Store,
        progress: &dyn Fn(usize),
    ) -> Result<CaughtUp, StoreError> {
        let mut done = CaughtUp::default();
        let mut touched: std::collections::HashSet<Who, foldhash::fast::RandomState> =
            std::collections::HashSet::default();
        let mut blocks = Vec::new();
        let message_ids = self.kept.message;
        let since = store.read_facts(self.since, message_ids, &mut |change| {
            match change {
                Change::Merge { merged, survivor } => {
                    done.merges += 1;
                    if let Some(person) = self.people.remove(&Who::Profile(merged)) {
                        self.people
                            .entry(Who::Profile(survivor))
                            .or_default()
                            .absorb(person);
                        touched.insert(Who::Profile(survivor));
                    }
                }
                Change::Event(event) => {
                    done.events += 1;
                    if done.events % 65_536 == 0 {
                        progress(done.events);
                    }
                    if let Some(who) = self.add_collected(&event) {
                        touched.insert(who);
                    }
                }
                Change::Block(block) => blocks.push(block),
            }
            Ok(())
        })?;
        done.blocks = blocks.len();
        self.changed |= done.events + done.merges + done.blocks > 0;
        for who in self.add_blocks(blocks)? {
            touched.insert(who);
        }
        for who in &touched {
            if let Some(person) = self.people.get_mut(who) {
                person.dirty = true;
            }
        }
        // Only a whole reading moves the cursor. A reading that failed half-way has changed the
        // log already: its holder must start again from nothing (the server does).
        self.since = since;
        done.touched = touched.len();
        Ok(done)
    }

    fn who(&mut self, profile: Option<i64>, name: &str) -> Who {
        match profile {
            Some(profile) => Who::Profile(profile),
            None => Who::Named(self.strings.intern(name)),
        }
    }

    fn value(&mut self, key: &str, fact: &Fact<'_>) -> Option<Attribute> {
        let value = match fact {
            Fact::Text(text) => Value::String(self.strings.intern(text)),
            Fact::Int(i) => Value::Int(*i),
            Fact::Float(f) => Value::Float(*f),
            Fact::Bool(b) => Value::Boolean(*b),
            Fact::Json(text) => {
                let json: serde_json::Value = serde_json::from_str(text).ok()?;
                return waymark_eventlog::jsonl::convert(&mut self.strings, key, &json);
            }
        };
        Some(Attribute::new(self.strings.intern(key), value))
    }

    fn add_collected(&mut self, event: &EventFacts<'_>) -> Option<Who> {
        let name = event.user_id.or(event.anonymous_id)?;
        let who = self.who(event.profile, name);
        let order = event.seq;
        // Events come in arrival order, so a person's first ids are the first ones seen: later
        // ones are not even interned.
        let (named, anonymous_named) = self.people.get(&who).map_or((false, false), |p| {
            (p.user.is_some(), p.anonymous.is_some())
        });
        let user = event
            .user_id
            .filter(|_| !named)
            .map(|u| (order, self.strings.intern(u)));
        let keep_anonymous = self.kept.anonymous;
        let anonymous = event
            .anonymous_id
            .filter(|_| !anonymous_named || keep_anonymous)
            .map(|a| (order, self.strings.intern(a)));
        let Ok(facts) = facts::decode(event.facts) else {
            self.skipped += usize::from(event.kind.is_interaction());
            return None;
        };
        let held = match event.kind {
            Kind::Alias | Kind::Group => None,
            Kind::Identify => {
                let traits: Vec<Attribute> = facts
                    .attributes
                    .iter()
                    .filter_map(|(key, fact)| self.value(key, fact))
                    .collect();
                let person = self.people.entry(who).or_default();
                for attribute in traits {
                    person.set_trait(attribute.key, order, attribute);
                }
                None
            }
            Kind::Track | Kind::Page | Kind::Screen => {
                let start = self.arena.len();
                let keys = self.keys;
                if self.kept.kind {
                    let kind = self.strings.string(event.kind.as_str());
                    self.arena.push(Attribute::new(keys.kind, kind));
                }
                if let Some(message) = event.message_id
                    && self.kept.message
                {
                    let message = self.strings.string(message);
                    self.arena.push(Attribute::new(keys.message, message));
                }
                if let Some((_, anonymous)) = anonymous
                    && keep_anonymous
                {
                    self.arena
                        .push(Attribute::new(keys.anonymous, Value::String(anonymous)));
                }
                for (key, fact) in &facts.attributes {
                    if self.keep.keeps(key)
                        && let Some(attribute) = self.value(key, fact)
                    {
                        self.arena.push(attribute);
                    }
                }
                Some(Held {
                    time: event.timestamp_us,
                    order,
                    activity: self.strings.intern(&facts.activity),
                    attributes: start as u32,
                    count: (self.arena.len() - start) as u32,
                })
            }
        };
        let person = self.people.entry(who).or_default();
        person.user = earlier(person.user, user);
        person.anonymous = earlier(person.anonymous, anonymous);
        if let Some(held) = held {
            person.add(held);
            self.events += 1;
        }
        Some(who)
    }

    /// Adds imported blocks: decoded on every core, a run of blocks each, then joined in order.
    fn add_blocks(&mut self, blocks: Vec<TraceBlock>) -> Result<Vec<Who>, StoreError> {
        let keep = &self.keep;
        let parts = blocks
            .par_chunks(64)
            .map(|part| decode_blocks(part, keep))
            .collect::<Result<Vec<_>, _>>()?;
        let mut touched = Vec::new();
        for part in parts {
            let map: Vec<Symbol> = part
                .strings
                .strings()
                .map(|text| self.strings.intern(text))
                .collect();
            let remap = |symbol: Symbol| map[Interner::index(symbol)];
            for case in part.cases {
                let name = remap(case.name);
                let who = match case.profile {
                    Some(profile) => Who::Profile(profile),
                    None => Who::Named(name),
                };
                touched.push(who);
                let mut helds = Vec::with_capacity(case.events.len());
                for event in case.events {
                    let start = self.arena.len();
                    self.arena.extend(
                        part.arena[event.attributes..event.attributes + event.count]
                            .iter()
                            .map(|a| a.remapped(&remap)),
                    );
                    helds.push(Held {
                        time: event.time,
                        order: event.order,
                        activity: remap(event.activity),
                        attributes: start as u32,
                        count: event.count as u32,
                    });
                }
                let person = self.people.entry(who).or_default();
                person.imported = earlier(person.imported, Some((case.order, name)));
                self.events += helds.len();
                for held in helds {
                    person.add(held);
                }
            }
        }
        Ok(touched)
    }

    /// The log as the analyses read it (see the module's documentation). It becomes the base
    /// the next snapshot is written from: each person's events there, merged with what was
    /// added since, in order. Without a change since the last one, it is the last one.
    pub fn snapshot(&mut self) -> Arc<EventLog> {
        if !self.changed {
            return self.base.clone();
        }
        let generation = self.stamps.generation + 1;
        let mut stamps = Stamps {
            lineage: self.stamps.lineage,
            generation,
            person: Vec::new(),
            changed: Vec::new(),
        };
        let mut people: Vec<(Symbol, &mut Person)> = self
            .people
            .values_mut()
            .filter(|p| p.has_events())
            .filter_map(|p| Some((p.name()?, p)))
            .collect();
        people.sort_by_key(|(_, p)| p.first);
        let mut writer = CaseWriter::new(self.strings.to_interner(), ActivityKey::default());
        writer.reserve(people.len(), self.events);
        let mut order = Vec::with_capacity(self.events);
        let keys = self.keys;
        let Kept {
            concept,
            time,
            user,
            ..
        } = self.kept;
        // The attributes a snapshot writes itself around the kept ones (dropped when read back).
        let front = usize::from(concept) + usize::from(time);
        let (base, base_order, arena) = (&self.base, &self.base_order, &self.arena);
        let mut attributes = Vec::new();
        // (time, order, where): an event of the base, or one added.
        let mut merged: Vec<(i64, i64, Source)> = Vec::new();
        for (case, (name, person)) in people.into_iter().enumerate() {
            let mut traits: Vec<&(Symbol, i64, Attribute)> = person.traits.iter().collect();
            traits.sort_by(|a, b| self.strings.resolve(a.0).cmp(self.strings.resolve(b.0)));
            writer.case(
                name,
                std::iter::once(Attribute::new(keys.concept, Value::String(name)))
                    .chain(traits.into_iter().map(|(_, _, value)| value.clone())),
            );
            if person.unsorted {
                person.added.sort_unstable_by_key(Held::key);
            }
            merged.clear();
            for &old in &person.cases {
                for event in base.case(old as usize).events() {
                    merged.push((
                        base.time_column()[event],
                        base_order[event],
                        Source::Base(event),
                    ));
                }
            }
            merged.extend(
                person
                    .added
                    .iter()
                    .map(|held| (held.time, held.order, Source::Added(*held))),
            );
            if person.cases.len() + usize::from(!person.added.is_empty()) > 1 {
                merged.sort_unstable_by_key(|(time, order, _)| (*time, *order));
            }
            for &(at, rank, source) in &merged {
                attributes.clear();
                if concept {
                    let activity = match source {
                        Source::Base(event) => base.activity_column()[event],
                        Source::Added(held) => held.activity,
                    };
                    attributes.push(Attribute::new(keys.concept, Value::String(activity)));
                }
                if time {
                    attributes.push(Attribute::new(keys.time, Value::Date(at)));
                }
                let collected = rank < IMPORTED;
                let activity = match source {
                    Source::Base(event) => {
                        let kept = base.event_attributes(event);
                        let back = usize::from(user && collected);
                        attributes.extend_from_slice(&kept[front..kept.len() - back]);
                        base.activity_column()[event]
                    }
                    Source::Added(held) => {
                        let start = held.attributes as usize;
                        attributes.extend_from_slice(&arena[start..start + held.count as usize]);
                        held.activity
                    }
                };
                if user && collected {
                    attributes.push(Attribute::new(keys.user, Value::String(name)));
                }
                writer.event(at, activity, attributes.drain(..));
                order.push(rank);
            }
            person.cases = vec![case as u32];
            person.added = Vec::new();
            person.unsorted = false;
            if person.id == 0 {
                person.id = self.next_person;
                self.next_person += 1;
                person.dirty = true;
            }
            if std::mem::take(&mut person.dirty) {
                person.changed = generation;
            }
            stamps.person.push(person.id);
            stamps.changed.push(person.changed);
        }
        self.stamps = Arc::new(stamps);
        self.base = Arc::new(writer.finish());
        self.strings.rebase(self.base.clone());
        self.base_order = order;
        self.arena = Vec::new();
        self.changed = false;
        self.base.clone()
    }

    /// The stamps of the last snapshot's cases: which person each is, and in which snapshot
    /// their events last changed.
    pub fn stamps(&self) -> Arc<Stamps> {
        self.stamps.clone()
    }

    /// Of [`LiveLog::bytes`], the bytes the attributes it keeps take: the events' and the
    /// people's (traits).
    pub fn attribute_bytes(&self) -> usize {
        self.base.attribute_bytes()
            + self.arena.capacity() * std::mem::size_of::<Attribute>()
            + self
                .people
                .values()
                .map(|p| p.traits.capacity() * std::mem::size_of::<(Symbol, i64, Attribute)>())
                .sum::<usize>()
    }

    /// The memory the log holds, in bytes, about: its last snapshot (shared with whoever reads
    /// it), the order of its events, what was added since, people and strings.
    pub fn bytes(&self) -> usize {
        let base = self.base.heap_bytes() + self.base_order.capacity() * std::mem::size_of::<i64>();
        let added = self.arena.capacity() * std::mem::size_of::<Attribute>()
            + self
                .people
                .values()
                .map(|p| p.added.capacity() * std::mem::size_of::<Held>())
                .sum::<usize>();
        let people = self.people.len()
            * (std::mem::size_of::<Person>() + std::mem::size_of::<Who>() + 16)
            + self
                .people
                .values()
                .map(|p| {
                    p.traits.capacity() * std::mem::size_of::<(Symbol, i64, Attribute)>()
                        + p.cases.capacity() * 4
                })
                .sum::<usize>();
        // The strings of the snapshot are counted with it.
        let strings = self.strings.fresh_bytes();
        base + added + people + strings
    }
}

/// Where an event of a snapshot comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The last snapshot's event at this place.
    Base(usize),
    Added(Held),
}

/// Imported events decoded by one task, with strings of their own.
struct Decoded {
    strings: Interner,
    arena: Vec<Attribute>,
    cases: Vec<DecodedCase>,
}

struct DecodedCase {
    name: Symbol,
    profile: Option<i64>,
    order: i64,
    events: Vec<DecodedEvent>,
}

struct DecodedEvent {
    time: i64,
    order: i64,
    activity: Symbol,
    attributes: usize,
    count: usize,
}

fn decode_blocks(blocks: &[TraceBlock], keep: &Keep) -> Result<Decoded, StoreError> {
    let mut strings = Interner::default();
    let mut arena = Vec::new();
    let mut cases = Vec::with_capacity(blocks.len());
    let type_key = strings.intern("segment:type");
    let user_key = strings.intern("segment:userId");
    let track = strings.string("track");
    let segment = (keep.keeps("segment:type"), keep.keeps("segment:userId"));
    for block in blocks {
        let name = strings.intern(&block.user_id);
        let base = IMPORTED + block.id * crate::BLOCK_EVENTS as i64;
        let mut events = Vec::with_capacity(crate::BLOCK_EVENTS.min(1024));
        let mut activities: Vec<Option<Symbol>> = Vec::new();
        let mut place = 0;
        block.for_each(|_, (index, activity), time, body| {
            if activities.len() <= index {
                activities.resize(index + 1, None);
            }
            let activity = *activities[index].get_or_insert_with(|| strings.intern(activity));
            let start = arena.len();
            if segment.0 {
                arena.push(Attribute::new(type_key, track));
            }
            if segment.1 {
                arena.push(Attribute::new(user_key, Value::String(name)));
            }
            if body.len() > 2 {
                crate::logs::push_properties(&mut strings, body, &mut arena, keep);
            }
            events.push(DecodedEvent {
                time,
                order: base + place,
                activity,
                attributes: start,
                count: arena.len() - start,
            });
            place += 1;
        })?;
        cases.push(DecodedCase {
            name,
            profile: block.profile,
            order: base,
            events,
        });
    }
    Ok(Decoded {
        strings,
        arena,
        cases,
    })
}
