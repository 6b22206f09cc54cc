//! Writing events: rows in batches, each batch one insert acknowledged by every shard it went to
//! (`insert_distributed_sync`), sent again on a transient failure with the same rows, so a batch
//! written twice keeps one copy of each row (same key: see `schema`).

use std::time::Duration;

use waymark_eventlog::{Attribute, Value};

use crate::{Error, EventStore, sql};

/// One event as ClickHouse keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// The person (or case) the event belongs to: the sharding key.
    pub person: &'a str,
    /// Microseconds since 1970 (`i64::MIN`: no time).
    pub time_us: i64,
    /// The arrival order: the store's sequence number, or the place in an imported file. Ties in
    /// time keep this order.
    pub seq: u64,
    pub message_id: &'a str,
    /// `track`, `page`, `identify`, … or `import`.
    pub kind: &'a str,
    pub activity: &'a str,
    /// The event's properties as JSON text (`{}` when none); an identify call's traits.
    pub properties: &'a str,
    /// A collected event's ids (empty when it has none, and for imported rows): the person's
    /// name is their first user id, else their first anonymous id.
    pub user_id: &'a str,
    pub anonymous_id: &'a str,
}

/// Rows gathered for writing: one insert per span of about a year, so that no insert spans
/// more of the table's yearly partitions than ClickHouse takes in one block (100 by default),
/// however far apart the events' times are.
#[derive(Debug, Default)]
pub struct Batch {
    parts: std::collections::BTreeMap<i64, Part>,
    rows: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Part {
    body: Vec<u8>,
}

/// About a year in µs: rows in one span fall in two or three of the table's partitions (years
/// in the server's time zone).
pub(crate) const SPAN_US: i64 = 31_556_952_000_000;

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn push(&mut self, row: &Row<'_>) {
        // Times before 1970 are kept in 1970's partition (`schema`).
        let span = row.time_us.max(0) / SPAN_US;
        let body = &mut self.parts.entry(span).or_default().body;
        let before = body.len();
        sql::field(body, row.person);
        body.push(b'\t');
        body.extend_from_slice(row.time_us.to_string().as_bytes());
        body.push(b'\t');
        body.extend_from_slice(row.seq.to_string().as_bytes());
        body.push(b'\t');
        sql::field(body, row.message_id);
        body.push(b'\t');
        sql::field(body, row.kind);
        body.push(b'\t');
        sql::field(body, row.activity);
        body.push(b'\t');
        sql::field(body, row.properties);
        body.push(b'\t');
        sql::field(body, row.user_id);
        body.push(b'\t');
        sql::field(body, row.anonymous_id);
        body.push(b'\n');
        self.bytes += body.len() - before;
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The bytes of the rows, for sizing batches.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// How often a batch is sent again on a transient failure, and the first pause (doubled each
/// time).
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

impl EventStore {
    /// Writes a batch; returns once ClickHouse acknowledged it on every shard the rows went to.
    /// A transient failure (node unreachable, too busy) is retried with the same rows.
    pub fn insert(&self, batch: &Batch) -> Result<(), Error> {
        for part in batch.parts.values() {
            self.insert_part(&part.body)?;
        }
        Ok(())
    }

    fn insert_part(&self, rows: &[u8]) -> Result<(), Error> {
        let statement = format!(
            "INSERT INTO {}.events (person, time_us, seq, message_id, kind, activity, properties, user_id, anonymous_id) FORMAT TabSeparated",
            self.location.database
        );
        let settings: &[(&str, &str)] = if self.location.cluster.is_some() {
            &[("insert_distributed_sync", "1")]
        } else {
            &[]
        };
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            // Any node takes a batch: the Distributed table sends each row to its shard.
            let node = &self.nodes[(attempt as usize - 1) % self.nodes.len()];
            match node.insert("the events", settings, &statement, rows) {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(node = %node.address, attempt, %error, "events insert failed; sending it again");
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The next free arrival number (one past the largest stored), for an import's rows.
    pub fn next_seq(&self) -> Result<u64, Error> {
        let text = self.entry().text(
            "the last arrival number",
            &format!(
                "SELECT max(seq) + 1, count() FROM {}.events FORMAT TabSeparated",
                self.location.database
            ),
        )?;
        let mut parts = text.split_whitespace();
        let next: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let count: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Ok(if count == 0 { 0 } else { next })
    }
}

/// Rows per insert when importing a log: ClickHouse prefers few large inserts.
pub const IMPORT_BATCH: usize = 100_000;

impl EventStore {
    /// Writes every event of a log read from a file, case by case in the log's order, after the
    /// events already stored: each case is a person, ties in time keep the log's order, and the
    /// cases keep their order of first appearance. Returns the events written.
    pub fn import_log(&self, log: &waymark_eventlog::EventLog) -> Result<u64, Error> {
        let mut seq = self.next_seq()?;
        let activities = log.activity_column();
        let times = log.time_column();
        let mut batch = Batch::new();
        let mut written = 0;
        let mut events = 0;
        for case in log.iter_cases() {
            let name = case.name();
            let attributes = attributes_json(log, case.attributes());
            if attributes != "{}" || case.is_empty() {
                batch.push(&Row {
                    person: name,
                    time_us: waymark_eventlog::NO_TIME,
                    seq,
                    message_id: "",
                    kind: "case",
                    activity: "",
                    properties: &attributes,
                    user_id: "",
                    anonymous_id: "",
                });
                seq += 1;
            }
            for event in case.events() {
                let properties = attributes_json(log, log.event_attributes(event));
                batch.push(&Row {
                    person: name,
                    time_us: times[event],
                    seq,
                    message_id: "",
                    kind: "import",
                    activity: log.resolve(activities[event]),
                    properties: &properties,
                    user_id: "",
                    anonymous_id: "",
                });
                seq += 1;
                events += 1;
                if batch.len() >= IMPORT_BATCH {
                    self.insert(&batch)?;
                    written += batch.len() as u64;
                    batch = Batch::new();
                }
            }
        }
        self.insert(&batch)?;
        written += batch.len() as u64;
        tracing::debug!(rows = written, events, "log imported");
        Ok(events)
    }
}

/// Attributes as a JSON object, as the journey report reads them back: every value as its text
/// (what the report compares and shows; a number is read from its text, a date keeps the text
/// the file's reader gives it), a list or a container as an array or an object of its children.
/// The activity and the time are columns of their own and left out.
fn attributes_json(log: &waymark_eventlog::EventLog, attributes: &[Attribute]) -> String {
    let skip = [
        log.symbol(waymark_eventlog::CONCEPT_NAME),
        log.symbol(waymark_eventlog::TIME_TIMESTAMP),
    ];
    let mut object = serde_json::Map::new();
    for attribute in attributes {
        if skip.contains(&Some(attribute.key)) {
            continue;
        }
        object
            .entry(log.resolve(attribute.key).to_string())
            .or_insert_with(|| json_value(log, attribute));
    }
    serde_json::Value::Object(object).to_string()
}

fn json_value(log: &waymark_eventlog::EventLog, attribute: &Attribute) -> serde_json::Value {
    use serde_json::Value as Json;
    match attribute.value {
        Value::List => Json::Array(
            attribute
                .children()
                .iter()
                .map(|child| json_value(log, child))
                .collect(),
        ),
        Value::Container => {
            let mut object = serde_json::Map::new();
            for child in attribute.children() {
                object
                    .entry(log.resolve(child.key).to_string())
                    .or_insert_with(|| json_value(log, child));
            }
            Json::Object(object)
        }
        _ => Json::String(log.value_text(&attribute.value)),
    }
}
