//! Collected events forwarded from the state store to ClickHouse (`waymark serve --events`).
//!
//! The state store stays the record of what the collection API accepted: it drops a message id
//! it has already stored (its index of message ids), stitches identities into profiles, and
//! numbers each event once (`seq`). A forwarding pass ([`EventStore::forward`]) reads what the
//! store gained after a cursor, in one consistent view, and writes it here:
//!
//! - **Merges first.** A profile merged into another is hidden on every node (`merged_people`),
//!   then its rows are copied under the survivor (through the Distributed table, acknowledged by
//!   every shard). A person is never counted twice, and never split across shards; the hidden
//!   rows are deleted later ([`EventStore::purge_merged`]).
//! - **Then events**, each under its person's profile at the time of the reading, in batches
//!   acknowledged by every shard. Track, page and screen calls are events; identify calls carry
//!   their traits; every row carries its user and anonymous id, so the person's name is read
//!   as the live log reads it (`schema`).
//! - **Then the cursor**, kept in `waymark_forwarded`.
//!
//! Every step can be done twice: a pass that failed half-way is done again from the cursor and
//! writes the same rows (same person, time and `seq`), which merges and the views keep once.
//! Imported blocks are not forwarded: import files with `waymark import --events`.

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use waymark_store::Store;
use waymark_store::facts::{self, Change, EventFacts, Fact, Kind, Since};

use crate::write::{Batch, IMPORT_BATCH, Row, SPAN_US};
use crate::{Error, EventStore, sql};

/// What one pass forwarded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Where the store's reading ended: the next pass starts there.
    pub since: Since,
    pub events: u64,
    pub merges: u64,
    /// Imported blocks read and not forwarded.
    pub blocks: u64,
}

/// The person a collected event is kept under: their profile, stable until it is merged into
/// another (then its rows move), or the event's own id when the store has no profile for it.
/// (Imported cases are named by their own names; the prefixes keep the three apart.)
pub fn person_key(profile: Option<i64>, event: &EventFacts<'_>) -> Option<String> {
    match profile {
        Some(profile) => Some(profile_key(profile)),
        None => event
            .user_id
            .or(event.anonymous_id)
            .map(|id| format!("waymark-id:{id}")),
    }
}

fn profile_key(profile: i64) -> String {
    format!("waymark-profile:{profile}")
}

/// Merges per statement: their keys are listed in it.
const MERGES: usize = 5_000;

/// An event's facts as the JSON object its row keeps: values typed as the live log types them
/// (text, integer, float, boolean; a list or object as it came).
fn properties_json(attributes: &[(std::borrow::Cow<'_, str>, Fact<'_>)]) -> String {
    let mut object = Map::new();
    for (key, fact) in attributes {
        let value = match fact {
            Fact::Text(text) => Json::String(text.to_string()),
            Fact::Int(i) => Json::from(*i),
            Fact::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(number) => Json::Number(number),
                None => continue,
            },
            Fact::Bool(b) => Json::Bool(*b),
            Fact::Json(text) => match serde_json::from_str(text) {
                Ok(value) => value,
                Err(_) => continue,
            },
        };
        // The first of a key wins, as the live log's attribute lookup finds the first.
        object.entry(key.to_string()).or_insert(value);
    }
    Json::Object(object).to_string()
}

/// The pieces of a pass: merges and events gathered from the store's reading.
struct Pass<'e> {
    events: &'e EventStore,
    batch: Batch,
    /// Merges read and not yet written (each merged profile with its survivor, in order).
    merges: Vec<(i64, i64)>,
    /// The profiles merged away in this reading: none of them may have events after.
    merged: std::collections::HashSet<i64>,
    /// Where the reading began, and the last event read: a full batch written moves the cursor.
    since: Since,
    last_seq: i64,
    done: Forwarded,
}

/// Bytes that make a batch full (as [`IMPORT_BATCH`] rows do): it is written, and the cursor
/// kept, as the reading goes.
const BATCH_BYTES: usize = 64 << 20;

impl Pass<'_> {
    fn event(&mut self, event: &EventFacts<'_>) -> Result<(), Error> {
        // A record that cannot be read is left out, as the live log leaves it out.
        let Ok(facts) = facts::decode(event.facts) else {
            return Ok(());
        };
        if let Some(profile) = event.profile
            && self.merged.contains(&profile)
        {
            // Waymark before 2026-12 could give a merged profile's id to a new person in
            // SQLite: forwarding them would hide them with the merged one.
            return Err(Error::Store {
                message: format!(
                    "profile {profile} was merged into another and its id then given to a new person (as Waymark could on SQLite before 2026-12); its events cannot be told apart in ClickHouse\nhint: keep this database's events without --events, or start from a new database"
                ),
            });
        }
        let Some(person) = person_key(event.profile, event) else {
            return Ok(());
        };
        let activity = if event.kind.is_interaction() {
            facts.activity.as_ref()
        } else {
            ""
        };
        let properties = match event.kind {
            Kind::Alias | Kind::Group => "{}".to_string(),
            _ => properties_json(&facts.attributes),
        };
        self.batch.push(&Row {
            person: &person,
            time_us: event.timestamp_us,
            seq: event.seq.max(0) as u64,
            message_id: event.message_id.unwrap_or(""),
            kind: event.kind.as_str(),
            activity,
            properties: &properties,
            user_id: event.user_id.unwrap_or(""),
            anonymous_id: event.anonymous_id.unwrap_or(""),
        });
        self.done.events += 1;
        self.last_seq = event.seq;
        if self.batch.len() >= IMPORT_BATCH || self.batch.bytes() >= BATCH_BYTES {
            let full = std::mem::take(&mut self.batch);
            self.events.insert(&full)?;
            // Events come in `seq` order after every merge of the reading: a restart goes on
            // from here (the merges read again change nothing).
            self.events.keep_cursor(Since {
                seq: self.last_seq,
                ..self.since
            })?;
        }
        Ok(())
    }

    fn visit(&mut self, change: Change<'_>) -> Result<(), Error> {
        match change {
            Change::Merge { merged, survivor } => self.merges.push((merged, survivor)),
            Change::Event(event) => {
                // The merges come first in a reading; no event is under a merged profile.
                self.merge()?;
                self.event(&event)?;
            }
            Change::Block(_) => self.done.blocks += 1,
        }
        Ok(())
    }

    /// Writes the merges read so far: each merged profile's rows go to its last survivor (a
    /// chain of merges followed to its end).
    fn merge(&mut self) -> Result<(), Error> {
        if self.merges.is_empty() {
            return Ok(());
        }
        let merges = std::mem::take(&mut self.merges);
        self.merged.extend(merges.iter().map(|&(merged, _)| merged));
        let survivors: std::collections::HashMap<i64, i64> = merges.iter().copied().collect();
        let last = |mut profile: i64| {
            // A chain is at most as long as the merges read (profiles merge into older ones).
            for _ in 0..=survivors.len() {
                match survivors.get(&profile) {
                    Some(&next) if next != profile => profile = next,
                    _ => break,
                }
            }
            profile
        };
        let mut moves: Vec<(String, String)> = merges
            .iter()
            .map(|&(merged, _)| (profile_key(merged), profile_key(last(merged))))
            .collect();
        moves.sort();
        moves.dedup();
        for part in moves.chunks(MERGES) {
            self.events.move_people(part)?;
        }
        self.done.merges += merges.len() as u64;
        Ok(())
    }
}

impl EventStore {
    /// Where forwarding stopped last (nothing forwarded: the start).
    pub fn forwarded(&self) -> Result<Since, Error> {
        #[derive(Deserialize)]
        struct Cursor {
            seq: i64,
            merge: i64,
            block: i64,
        }
        let db = &self.location.database;
        let found: Vec<Cursor> = self.rows(
            "where forwarding stopped",
            &format!("SELECT max(seq) AS seq, max(merge) AS merge, max(block) AS block FROM {db}.waymark_forwarded"),
        )?;
        Ok(found.first().map_or(Since::default(), |c| Since {
            seq: c.seq,
            merge: c.merge,
            block: c.block,
        }))
    }

    /// Forwards what `store` gained after `since` (see the module's documentation): returns
    /// once every shard acknowledged it. The cursor is kept when `keep_cursor` (a restart goes
    /// on from the last one kept; what it forwards again is kept once).
    pub fn forward(
        &self,
        store: &dyn Store,
        since: Since,
        keep_cursor: bool,
    ) -> Result<Forwarded, Error> {
        let mut pass = Pass {
            events: self,
            batch: Batch::new(),
            merges: Vec::new(),
            merged: std::collections::HashSet::new(),
            since,
            last_seq: since.seq,
            done: Forwarded::default(),
        };
        // The store's reading stops at the first error of ours, which is kept as it is.
        let mut failed = None;
        let read = store.read_facts(since, true, &mut |change| {
            pass.visit(change).map_err(|error| {
                let text = error.to_string();
                failed = Some(error);
                waymark_store::StoreError::Refused(text)
            })
        });
        let until = match (read, failed) {
            (_, Some(error)) => return Err(error),
            (Ok(until), None) => until,
            (Err(error), None) => {
                return Err(Error::Store {
                    message: error.to_string(),
                });
            }
        };
        pass.merge()?;
        self.insert(&pass.batch)?;
        pass.done.since = until;
        if keep_cursor && until != since {
            self.keep_cursor(until)?;
        }
        if pass.done.events + pass.done.merges > 0 {
            tracing::debug!(
                events = pass.done.events,
                merges = pass.done.merges,
                seq = until.seq,
                "events forwarded to ClickHouse"
            );
        }
        Ok(pass.done)
    }

    /// Writes down where forwarding stopped.
    fn keep_cursor(&self, at: Since) -> Result<(), Error> {
        let db = &self.location.database;
        self.entry().execute(
            "where forwarding stopped",
            &format!(
                "INSERT INTO {db}.waymark_forwarded VALUES ({}, {}, {}, now())",
                at.seq, at.merge, at.block
            ),
        )
    }

    /// Moves people's rows to others (`(from, to)` pairs): hides each `from` on every node,
    /// copies its rows under its `to` (acknowledged by every shard), then marks it moved. Done
    /// twice, it changes nothing more.
    pub fn move_people(&self, moves: &[(String, String)]) -> Result<(), Error> {
        if moves.is_empty() {
            return Ok(());
        }
        let db = &self.location.database;
        let rows = |moved: u8| {
            moves
                .iter()
                .map(|(from, _)| format!("({}, {moved})", sql::literal(from)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for node in &self.nodes {
            node.execute(
                "the merged people",
                &format!(
                    "INSERT INTO {db}.merged_people (person, moved) VALUES {}",
                    rows(0)
                ),
            )?;
        }
        let settings: &[(&str, &str)] = if self.location.cluster.is_some() {
            &[("insert_distributed_sync", "1")]
        } else {
            &[]
        };
        let from: Vec<String> = moves.iter().map(|(from, _)| from.clone()).collect();
        let to: Vec<String> = moves.iter().map(|(_, to)| to.clone()).collect();
        let columns = "time_us, seq, message_id, kind, activity, properties, user_id, anonymous_id";
        let people = sql::tuple(&from);
        // One insert per span of about a year, as `Batch` writes: no insert exceeds the yearly
        // partitions ClickHouse takes in one block, however far apart the events' times are.
        #[derive(Deserialize)]
        struct Span {
            span: i64,
        }
        let spans: Vec<Span> = self.rows(
            "the merged people's years",
            &format!(
                "SELECT DISTINCT intDiv(greatest(time_us, 0), {SPAN_US}) AS span FROM {db}.events WHERE person IN {people}"
            ),
        )?;
        for Span { span } in spans {
            // Times before 1970 are in the first span, as `Batch` puts them.
            let high = (span + 1) * SPAN_US;
            let within = if span == 0 {
                format!("time_us < {high}")
            } else {
                format!("time_us >= {} AND time_us < {high}", span * SPAN_US)
            };
            self.entry().execute_with(
                "the merged people's events",
                settings,
                &format!(
                    // By position: an alias named `person` would be what the WHERE reads.
                    "INSERT INTO {db}.events (person, {columns}) SELECT transform(person, {}, {}, person), {columns} FROM {db}.events WHERE person IN {people} AND {within}",
                    sql::array(&from),
                    sql::array(&to),
                ),
            )?;
        }
        for node in &self.nodes {
            node.execute(
                "the merged people",
                &format!(
                    "INSERT INTO {db}.merged_people (person, moved) VALUES {}",
                    rows(1)
                ),
            )?;
        }
        Ok(())
    }

    /// Deletes the rows of the people merged into others whose rows were copied to their
    /// survivors (hidden since) on every node. ClickHouse rewrites the parts holding them in the
    /// background; run it now and then, never beside a forwarding pass.
    pub fn purge_merged(&self) -> Result<(), Error> {
        let db = &self.location.database;
        let table = self.on_each_node("events");
        for node in &self.nodes {
            node.execute(
                "the merged people's rows",
                &format!(
                    "ALTER TABLE {table} DELETE WHERE person IN (SELECT person FROM {db}.merged_people WHERE moved = 1)"
                ),
            )?;
        }
        Ok(())
    }
}
