//! Waymark's events in ClickHouse, for when one machine's memory is not enough.
//!
//! The state (people, journeys, requests) stays in SQLite or PostgreSQL; the events go to
//! ClickHouse ([`EventStore`]): written in batches ([`EventStore::insert`]), acknowledged once
//! every shard they went to has them, and analysed where they are ([`analyses`]): each query
//! reduces on the shards, so only small results travel to Waymark, and every result equals the
//! embedded engine's on the same events.
//!
//! Waymark talks to ClickHouse over its HTTP interface with `ureq`, in text formats, so the same
//! statements run on Debian's ClickHouse 18.16 and on current releases (ARCHITECTURE.md says why
//! no ClickHouse client crate is used).

mod analyses;
mod error;
mod forward;
mod http;
mod location;
mod report;
mod schema;
mod sql;
mod write;

pub use error::Error;
pub use forward::{Forwarded, person_key};
pub use location::{Location, is_clickhouse};
pub use schema::VERSION;
pub use write::{Batch, IMPORT_BATCH, Row};

use http::Node;
use serde::Deserialize;

/// The events kept in ClickHouse: one node, or the shards of a cluster.
#[derive(Debug, Clone)]
pub struct EventStore {
    location: Location,
    nodes: Vec<Node>,
}

impl EventStore {
    /// Connects to the nodes of `location` and creates or migrates the schema on each.
    pub fn open(location: &Location) -> Result<EventStore, Error> {
        location.check()?;
        let nodes = location
            .nodes
            .iter()
            .map(|address| {
                Node::new(
                    address,
                    location.user.as_deref(),
                    location.password.as_deref(),
                )
            })
            .collect();
        let store = EventStore {
            location: location.clone(),
            nodes,
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The node queries and writes go to (any node: the Distributed tables reach all shards).
    fn entry(&self) -> &Node {
        &self.nodes[0]
    }

    /// The rows of a JSONEachRow query.
    pub(crate) fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        sql: &str,
    ) -> Result<Vec<T>, Error> {
        let mut rows = Vec::new();
        self.each(what, sql, |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Each row of a JSONEachRow query, read as it arrives (the answer is never held whole).
    pub(crate) fn each<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        sql: &str,
        mut each: impl FnMut(T) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let node = self.entry();
        node.lines(what, &format!("{sql} FORMAT JSONEachRow"), |line| {
            if line.is_empty() {
                return Ok(());
            }
            let row = serde_json::from_str(line).map_err(|error| Error::Answer {
                node: node.address.clone(),
                problem: format!("{what}: {error}"),
            })?;
            each(row)
        })
    }

    /// The server's version, as it names it.
    pub fn server_version(&self) -> Result<String, Error> {
        Ok(self
            .entry()
            .text("the version", "SELECT version() FORMAT TabSeparated")?
            .trim()
            .to_string())
    }

    /// Every event and person, for tests and `waymark copy`-like checks: (events, people).
    pub fn counts(&self) -> Result<(u64, u64), Error> {
        let db = &self.location.database;
        let text = self.entry().text(
            "the counts",
            &format!(
                "SELECT sum(length(activities)), count() FROM {db}.sequences FORMAT TabSeparated"
            ),
        )?;
        let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(events), Some(people)) => Ok((events, people)),
            _ => Err(Error::Answer {
                node: self.entry().address.clone(),
                problem: format!("the counts: {}", text.trim()),
            }),
        }
    }

    /// Runs a statement on every node (for tests and operators' scripts: the events are
    /// Waymark's to write).
    pub fn execute_everywhere(&self, sql: &str) -> Result<(), Error> {
        for node in &self.nodes {
            node.execute("a statement", sql)?;
        }
        Ok(())
    }

    /// Runs a query on each node by itself, in the nodes' order, and returns each answer (for
    /// checks of where the rows are).
    pub fn per_node_text(&self, sql: &str) -> Result<Vec<String>, Error> {
        self.nodes
            .iter()
            .map(|node| node.text("a query", sql))
            .collect()
    }

    /// The sum over the nodes of a query answering one number on each (a count of the rows
    /// each node holds itself, for checks of where the rows are).
    pub fn sum_per_node(&self, sql: &str) -> Result<u64, Error> {
        let mut sum = 0u64;
        for (node, text) in self.nodes.iter().zip(self.per_node_text(sql)?) {
            let value: u64 = text.trim().parse().map_err(|_| Error::Answer {
                node: node.address.clone(),
                problem: format!("not a number: {:.80}", text.trim()),
            })?;
            sum = sum.saturating_add(value);
        }
        Ok(sum)
    }

    /// The table or view each node holds its own part of: `database.NAME_local` on a cluster
    /// (behind the Distributed `NAME`), `database.NAME` on one node.
    pub fn on_each_node(&self, name: &str) -> String {
        let db = &self.location.database;
        match self.location.cluster {
            Some(_) => format!("{db}.{name}_local"),
            None => format!("{db}.{name}"),
        }
    }
}
