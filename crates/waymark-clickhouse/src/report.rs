//! A journey report over the events in ClickHouse.
//!
//! Each shard sends, for each person with an event a touchpoint rule names, the events from
//! that one on (none before can start or join an instance; from the first at its time, since a
//! segment is read from the first event at or after an instance's start) with their properties,
//! and the
//! person's case attributes. Waymark rebuilds them a chunk of people at a time into logs of the
//! attributes the report reads, and cuts each with the embedded engine's code
//! (`waymark_analytics::journey::pieces`): every activity of the store and the store's last time
//! are given to every chunk, so each is cut as the whole log would be. The report then reads the
//! assembled instances through the same `LogSource` interface as a log in memory.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use waymark_analytics::journey::pieces::{Assembled, Pieces, now_or};
use waymark_analytics::journey::{Options, attributes_read, check};
use waymark_eventlog::{
    ActivityKey, Attribute, CONCEPT_NAME, LogBuilder, TIME_TIMESTAMP, Value, jsonl,
};
use waymark_journey::Journey;

use crate::{Error, EventStore, sql};

/// The rows that are events (not a case's attributes, nor a call that only says who someone is).
const EVENT: &str = "kind NOT IN ('case', 'identify', 'alias', 'group')";

/// People per chunk: each chunk is one log in memory while it is cut.
const CHUNK: usize = 20_000;

/// A person as the shards send them: activities as their place in the store's list (from 1),
/// or 0 and the name for one that arrived since the list was read; properties only where they
/// may hold a key the report reads (else empty).
#[derive(Deserialize)]
struct Person {
    /// The case's name: the person's first user id, else first anonymous id (collected), or
    /// the imported case's name.
    name: String,
    first_seq: u64,
    /// The imported case's attributes and the traits of each identify call, in arrival order:
    /// a later value of a key replaces an earlier one.
    case_properties: Vec<String>,
    t: Vec<i64>,
    a: Vec<u32>,
    n: Vec<String>,
    p: Vec<String>,
}

/// One chunk of people being rebuilt as a log.
struct Chunk<'k> {
    builder: LogBuilder,
    first: Vec<u64>,
    keep: &'k HashSet<String>,
    activities: &'k [String],
}

impl<'k> Chunk<'k> {
    fn new(activities: &'k [String], keep: &'k HashSet<String>) -> Chunk<'k> {
        let mut builder = LogBuilder::new(ActivityKey::concept_name());
        for activity in activities {
            builder.intern(activity);
        }
        Chunk {
            builder,
            first: Vec::new(),
            keep,
            activities,
        }
    }

    fn add(&mut self, person: &Person) -> Result<(), String> {
        let builder = &mut self.builder;
        let concept = builder.intern(CONCEPT_NAME);
        let time_key = builder.intern(TIME_TIMESTAMP);
        let case = builder.new_case(&person.name);
        let name = builder.string(&person.name);
        let mut attributes = vec![Attribute::new(concept, name)];
        // Keys in order, as a snapshot writes a person's traits.
        let mut traits = std::collections::BTreeMap::new();
        for properties in &person.case_properties {
            traits.extend(object(properties)?);
        }
        for (key, value) in traits {
            attributes.extend(jsonl::convert(builder, &key, &value));
        }
        builder.set_case_attributes(case, attributes);
        for (((&time, &code), name), properties) in
            person.t.iter().zip(&person.a).zip(&person.n).zip(&person.p)
        {
            let activity = match code.checked_sub(1) {
                Some(place) => self.activities.get(place as usize).ok_or_else(|| {
                    format!("an activity numbered {code} of {}", self.activities.len())
                })?,
                None => name,
            };
            let activity = builder.string(activity);
            let mut attributes = vec![
                Attribute::new(concept, activity),
                Attribute::new(time_key, Value::Date(time)),
            ];
            if properties.is_empty() {
                builder.push_event(case, time, attributes);
                continue;
            }
            for (key, value) in object(properties)? {
                if self.keep.contains(&key) {
                    attributes.extend(jsonl::convert(builder, &key, &value));
                }
            }
            builder.push_event(case, time, attributes);
        }
        self.first.push(person.first_seq);
        Ok(())
    }
}

fn object(text: &str) -> Result<Map<String, Json>, String> {
    match serde_json::from_str(text) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(format!("properties that are not an object: {text:.80}")),
        Err(error) => Err(format!(
            "properties that are not JSON ({error}): {text:.80}"
        )),
    }
}

impl EventStore {
    /// The journey's instances cut from the events here, as a `LogSource` for
    /// `waymark_analytics::journey::report_of`, with the options the report must be given
    /// (`now`, when not set, is the store's last time). Options naming a touchpoint the
    /// journey does not have are refused ([`Error::Options`]) before any query.
    pub fn journey_cut(
        &self,
        journey: &Journey,
        options: &Options,
    ) -> Result<(Assembled, Options), Error> {
        // Refused before the servers are asked, as the report would refuse them after.
        check(journey, options)?;
        let db = &self.location.database;
        #[derive(Deserialize)]
        struct Last {
            last: i64,
        }
        let last: Vec<Last> = self.rows(
            "the last time",
            &format!("SELECT max(time_us) AS last FROM {db}.events WHERE {EVENT}"),
        )?;
        let options = now_or(options, last.first().map_or(0, |l| l.last));
        #[derive(Deserialize)]
        struct Activity {
            activity: String,
        }
        let activities: Vec<String> = self
            .rows::<Activity>(
                "the activities",
                &format!(
                    "SELECT DISTINCT activity FROM {db}.events WHERE {EVENT} ORDER BY activity"
                ),
            )?
            .into_iter()
            .map(|a| a.activity)
            .collect();
        let named: Vec<String> = journey
            .touchpoints()
            .flat_map(|(_, t)| t.events.iter().map(|rule| rule.event.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let keep: HashSet<String> = attributes_read(journey, &options).into_iter().collect();
        let mut pieces = Pieces::new(&options);
        let refused = |problem: String| Error::Answer {
            node: self.entry().address.clone(),
            problem,
        };
        let mut chunk = Chunk::new(&activities, &keep);
        let cut = |pieces: &mut Pieces, chunk: Chunk<'_>| -> Result<(), Error> {
            let log = chunk.builder.finish();
            pieces
                .add(journey, &log, &chunk.first)
                .map_err(|error| Error::Journey {
                    message: error.to_string(),
                })
        };
        let list = sql::array(&named);
        let all = sql::array(&activities);
        // A cheap test that an event's properties may hold a key the report reads (at any depth:
        // a superset; the keys are read here).
        let mut keys: Vec<String> = keep.iter().cloned().collect();
        keys.sort();
        let may_hold = if keys.is_empty() {
            "0".to_string()
        } else {
            keys.iter()
                // The key as JSON writes it (quotes, backslashes and control characters escaped).
                .map(|key| {
                    let written = serde_json::to_string(key).unwrap_or_default();
                    let inner = &written[1..written.len().saturating_sub(1).max(1)];
                    format!("visitParamHas(l_p, {})", sql::literal(inner))
                })
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        self.each(
            "the people's events",
            &format!(
                "SELECT name, first_seq, case_properties, \
                 indexOf(times, times[arrayFirstIndex(l_a -> has({list}, l_a), activities) AS first]) * (first > 0) AS s, \
                 arraySlice(times, s) AS t, \
                 arrayMap(l_a -> indexOf({all}, l_a), arraySlice(activities, s) AS sliced) AS a, \
                 arrayMap(l_a -> if(has({all}, l_a), '', l_a), sliced) AS n, \
                 arrayMap(l_p -> if({may_hold}, l_p, ''), arraySlice(properties, s)) AS p \
                 FROM {db}.traces WHERE s > 0"
            ),
            |person: Person| {
                chunk.add(&person).map_err(refused)?;
                if chunk.first.len() >= CHUNK {
                    let full = std::mem::replace(&mut chunk, Chunk::new(&activities, &keep));
                    cut(&mut pieces, full)?;
                }
                Ok(())
            },
        )?;
        cut(&mut pieces, chunk)?;
        Ok((pieces.finish(), options))
    }
}
