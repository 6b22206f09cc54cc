//! The tables, created and migrated by Waymark on every node.
//!
//! - `events` (one node) or `events_local` on each shard behind the Distributed `events`
//!   (sharded by `cityHash64(person)`, so each person's events sit on one shard): a
//!   ReplacingMergeTree ordered by person, time and arrival (`seq`), partitioned by year. A row
//!   written twice (an insert sent again after a failure) has the same key, so merges keep one.
//! - `sequences` (one node) or `sequences_local` behind the Distributed `sequences`: a view
//!   with each person's events in (time, arrival) order, the same row twice counted once (sorted,
//!   a row equal to the one before it is dropped: rows differ in `seq` unless written twice). A
//!   query over the Distributed `sequences` reduces on each shard, since every person is whole
//!   there, and only the reduced states travel.
//! - `traces` (one node) or `traces_local` behind the Distributed `traces`: the same with each
//!   event's properties and the person's case attributes, for the journey report.
//! - A row of kind `case` holds a case's attributes (an imported trace's), not an event; it also
//!   keeps a case without events (a person whose sequence is empty), as a log read whole does.
//!   Collected events (`forward`) are rows of their Segment kind with their user and anonymous
//!   ids: `identify` rows hold traits (the latest value of each key counts), and `identify`,
//!   `alias` and `group` rows are not events. The views name each person as the live log does:
//!   the first user id, else the first anonymous id, else the person (an imported case's name).
//! - `merged_people` (every node): people merged into others, hidden before their rows are
//!   copied under the survivor (`moved` 0) and marked once they were (`moved` 1); the views
//!   leave them out, and only marked people's rows are deleted.
//! - `waymark_forwarded`: where forwarding from the state store stopped.
//! - `waymark_schema`: the versions applied on this node.

use crate::{Error, EventStore};

/// The newest schema this build knows.
pub const VERSION: u32 = 2;

/// The statements of one step, to run on every node, with `{db}` and the node's own table and
/// views (`{db}.{events}`, `{db}.{sequences}`, `{db}.{traces}`: see `EventStore::on_each_node`)
/// filled in.
fn step(version: u32) -> &'static [&'static str] {
    match version {
        1 => &[
            "CREATE TABLE IF NOT EXISTS {db}.{events} (
                person String,
                time_us Int64,
                time DateTime DEFAULT toDateTime(greatest(intDiv(time_us, 1000000), 0)),
                seq UInt64,
                message_id String,
                kind String,
                activity String,
                properties String
            ) ENGINE = ReplacingMergeTree() PARTITION BY toYear(time) ORDER BY (person, time_us, seq)",
            "CREATE VIEW IF NOT EXISTS {db}.{sequences} AS
            SELECT person, first_seq,
                arrayMap(e -> tupleElement(e, 1), trace) AS times,
                arrayMap(e -> tupleElement(e, 3), trace) AS activities
            FROM (
                SELECT person, min(seq) AS first_seq,
                    arraySort(groupArrayIf((time_us, seq, activity), kind != 'case')) AS sorted,
                    arrayFilter((l_x, l_p) -> l_x != l_p, sorted,
                        arraySlice(arrayPushFront(sorted, (toInt64(0), toUInt64(18446744073709551615), '')), 1, length(sorted))) AS trace
                FROM {db}.{events}
                GROUP BY person
            )",
            "CREATE VIEW IF NOT EXISTS {db}.{traces} AS
            SELECT person, first_seq, case_properties,
                arrayMap(e -> tupleElement(e, 1), trace) AS times,
                arrayMap(e -> tupleElement(e, 3), trace) AS activities,
                arrayMap(e -> tupleElement(e, 4), trace) AS properties
            FROM (
                SELECT person, min(seq) AS first_seq,
                    argMaxIf(properties, seq, kind = 'case') AS case_properties,
                    arraySort(groupArrayIf((time_us, seq, activity, properties), kind != 'case')) AS sorted,
                    arrayFilter((l_x, l_p) -> l_x != l_p, sorted,
                        arraySlice(arrayPushFront(sorted, (toInt64(0), toUInt64(18446744073709551615), '', '')), 1, length(sorted))) AS trace
                FROM {db}.{events}
                GROUP BY person
            )",
        ],
        // Collected events (`serve --events`): each row carries its user and anonymous id, so
        // a person's name is read as the live log reads it; identify calls carry traits; a
        // person merged into another is hidden (`merged_people`, on every node) from the moment
        // its rows are copied to the survivor until they are deleted.
        2 => &[
            "ALTER TABLE {db}.{events} ADD COLUMN user_id String DEFAULT ''",
            "ALTER TABLE {db}.{events} ADD COLUMN anonymous_id String DEFAULT ''",
            "CREATE TABLE IF NOT EXISTS {db}.merged_people (person String, moved UInt8)
                ENGINE = MergeTree() ORDER BY person",
            "CREATE TABLE IF NOT EXISTS {db}.waymark_forwarded (seq Int64, merge Int64, block Int64, at DateTime)
                ENGINE = MergeTree() ORDER BY (seq, merge, block)",
            "DROP TABLE IF EXISTS {db}.{sequences}",
            "CREATE VIEW {db}.{sequences} AS
            SELECT person, first_seq,
                arrayMap(e -> tupleElement(e, 1), trace) AS times,
                arrayMap(e -> tupleElement(e, 3), trace) AS activities
            FROM (
                SELECT person, minIf(seq, kind NOT IN ('identify', 'alias', 'group')) AS first_seq,
                    countIf(kind NOT IN ('identify', 'alias', 'group')) AS held,
                    arraySort(groupArrayIf((time_us, seq, activity), kind NOT IN ('case', 'identify', 'alias', 'group'))) AS sorted,
                    arrayFilter((l_x, l_p) -> l_x != l_p, sorted,
                        arraySlice(arrayPushFront(sorted, (toInt64(0), toUInt64(18446744073709551615), '')), 1, length(sorted))) AS trace
                FROM {db}.{events}
                WHERE person NOT IN (SELECT person FROM {db}.merged_people)
                GROUP BY person
            )
            WHERE held > 0",
            "DROP TABLE IF EXISTS {db}.{traces}",
            "CREATE VIEW {db}.{traces} AS
            SELECT person, name, first_seq, case_properties,
                arrayMap(e -> tupleElement(e, 1), trace) AS times,
                arrayMap(e -> tupleElement(e, 3), trace) AS activities,
                arrayMap(e -> tupleElement(e, 4), trace) AS properties
            FROM (
                SELECT person, minIf(seq, kind NOT IN ('identify', 'alias', 'group')) AS first_seq,
                    countIf(kind NOT IN ('identify', 'alias', 'group')) AS held,
                    if(countIf(user_id != '') > 0, argMinIf(user_id, seq, user_id != ''),
                        if(countIf(anonymous_id != '') > 0, argMinIf(anonymous_id, seq, anonymous_id != ''), person)) AS name,
                    arrayMap(l_c -> tupleElement(l_c, 2),
                        arraySort(groupArrayIf((seq, properties), kind IN ('case', 'identify')))) AS case_properties,
                    arraySort(groupArrayIf((time_us, seq, activity, properties), kind NOT IN ('case', 'identify', 'alias', 'group'))) AS sorted,
                    arrayFilter((l_x, l_p) -> l_x != l_p, sorted,
                        arraySlice(arrayPushFront(sorted, (toInt64(0), toUInt64(18446744073709551615), '', '')), 1, length(sorted))) AS trace
                FROM {db}.{events}
                WHERE person NOT IN (SELECT person FROM {db}.merged_people)
                GROUP BY person
            )
            WHERE held > 0",
        ],
        _ => &[],
    }
}

/// The Distributed tables of a cluster, made after each step on every node.
fn distributed(version: u32) -> &'static [&'static str] {
    match version {
        1 => &[
            "CREATE TABLE IF NOT EXISTS {db}.events AS {db}.events_local
                ENGINE = Distributed({cluster}, {db}, events_local, cityHash64(person))",
            "CREATE TABLE IF NOT EXISTS {db}.sequences (
                person String, first_seq UInt64, times Array(Int64), activities Array(String)
            ) ENGINE = Distributed({cluster}, {db}, sequences_local)",
            "CREATE TABLE IF NOT EXISTS {db}.traces (
                person String, first_seq UInt64, case_properties String, times Array(Int64),
                activities Array(String), properties Array(String)
            ) ENGINE = Distributed({cluster}, {db}, traces_local)",
        ],
        2 => &[
            "DROP TABLE IF EXISTS {db}.events",
            "CREATE TABLE {db}.events AS {db}.events_local
                ENGINE = Distributed({cluster}, {db}, events_local, cityHash64(person))",
            "DROP TABLE IF EXISTS {db}.sequences",
            "CREATE TABLE {db}.sequences (
                person String, first_seq UInt64, times Array(Int64), activities Array(String)
            ) ENGINE = Distributed({cluster}, {db}, sequences_local)",
            "DROP TABLE IF EXISTS {db}.traces",
            "CREATE TABLE {db}.traces (
                person String, name String, first_seq UInt64, case_properties Array(String),
                times Array(Int64), activities Array(String), properties Array(String)
            ) ENGINE = Distributed({cluster}, {db}, traces_local)",
        ],
        _ => &[],
    }
}

impl EventStore {
    /// Creates the database and tables on every node, or brings them to [`VERSION`]; refuses a
    /// node whose schema is newer than this build.
    pub(crate) fn migrate(&self) -> Result<(), Error> {
        let db = &self.location.database;
        for node in &self.nodes {
            node.execute(
                "the database",
                &format!("CREATE DATABASE IF NOT EXISTS {db}"),
            )?;
            node.execute(
                "the schema's versions",
                &format!(
                    "CREATE TABLE IF NOT EXISTS {db}.waymark_schema (version UInt32, applied DateTime) ENGINE = TinyLog"
                ),
            )?;
            let text = node.text(
                "the schema's version",
                &format!("SELECT max(version) FROM {db}.waymark_schema FORMAT TabSeparated"),
            )?;
            let found: u32 = text.trim().parse().map_err(|_| Error::Answer {
                node: node.address.clone(),
                problem: format!("the schema's version: {}", text.trim()),
            })?;
            if found > VERSION {
                return Err(Error::Newer {
                    database: db.clone(),
                    found,
                    known: VERSION,
                });
            }
            for version in found + 1..=VERSION {
                for statement in step(version) {
                    node.execute(&format!("schema step {version}"), &self.fill(statement))?;
                }
                if self.location.cluster.is_some() {
                    for statement in distributed(version) {
                        node.execute(&format!("schema step {version}"), &self.fill(statement))?;
                    }
                }
                node.execute(
                    "the schema's version",
                    &format!("INSERT INTO {db}.waymark_schema VALUES ({version}, now())"),
                )?;
                tracing::info!(node = %node.address, version, "events schema step applied");
            }
        }
        Ok(())
    }

    fn fill(&self, statement: &str) -> String {
        statement
            .replace("{db}.{events}", &self.on_each_node("events"))
            .replace("{db}.{sequences}", &self.on_each_node("sequences"))
            .replace("{db}.{traces}", &self.on_each_node("traces"))
            .replace("{db}", &self.location.database)
            .replace("{cluster}", self.location.cluster.as_deref().unwrap_or(""))
    }
}
