//! Moving an installation from a SQLite file to PostgreSQL (`waymark copy`).
//!
//! Every table that holds the installation is copied row by row with its keys, in batches, each
//! row inserted unless its key is there already: running the copy again adds nothing, and a copy
//! that stopped half-way is finished by running it again. Each table's rows are read from both
//! sides in key order and hashed the same way as they pass (the source while it is copied, a
//! batch at a time; the copy afterwards, streamed), so a table of any size needs bounded memory,
//! and the counts and checksums printed for the two sides are equal exactly when the rows are. The event index beside the SQLite file
//! is not copied: PostgreSQL keeps those indexes itself.

use std::path::Path;

use futures_util::StreamExt as _;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;

use crate::StoreError;
use crate::postgres::PgStore;

/// How a column is typed in PostgreSQL (SQLite keeps integers, text and blobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    SmallInt,
    Text,
    Bytes,
    Bool,
}

use Kind::{Bool, Bytes, Int, SmallInt, Text};

/// One table: its columns, the columns that order it, the SQLite expression for each column when
/// it is not the column itself (a rowid kept as the PostgreSQL id), and its identity column.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
    from_rowid: Option<&'static str>,
    identity: Option<&'static str>,
}

const fn table(
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
) -> Table {
    Table {
        name,
        columns,
        key,
        from_rowid: None,
        identity: None,
    }
}

/// What makes an installation, in an order that keeps references pointing backwards.
const TABLES: &[Table] = &[
    table("store_meta", &[("key", Text), ("value", Text)], &["key"]),
    Table {
        identity: Some("seq"),
        ..table(
            "events",
            &[
                ("seq", Int),
                ("message_id", Text),
                ("kind", Text),
                ("name", Text),
                ("user_id", Text),
                ("anonymous_id", Text),
                ("timestamp_us", Int),
                ("received_us", Int),
                ("body", Text),
            ],
            &["seq"],
        )
    },
    table(
        "event_facts",
        &[
            ("seq", Int),
            ("kind", SmallInt),
            ("user_id", Text),
            ("anonymous_id", Text),
            ("timestamp_us", Int),
            ("facts", Bytes),
        ],
        &["seq"],
    ),
    Table {
        identity: Some("id"),
        ..table("profiles", &[("id", Int)], &["id"])
    },
    Table {
        from_rowid: Some("seen"),
        identity: Some("seen"),
        ..table(
            "identities",
            &[("identifier", Text), ("profile_id", Int), ("seen", Int)],
            &["seen"],
        )
    },
    Table {
        from_rowid: Some("id"),
        identity: Some("id"),
        ..table(
            "profile_traits",
            &[
                ("id", Int),
                ("profile_id", Int),
                ("name", Text),
                ("value", Text),
                ("at_us", Int),
            ],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "profile_merges",
            &[("id", Int), ("merged", Int), ("survivor", Int)],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "traces",
            &[
                ("id", Int),
                ("user_id", Text),
                ("first_us", Int),
                ("last_us", Int),
                ("events", Int),
                ("body", Bytes),
            ],
            &["id"],
        )
    },
    table(
        "journeys",
        &[
            ("id", Text),
            ("version", Int),
            ("label", Text),
            ("source", Text),
            ("deployed_us", Int),
        ],
        &["id", "version"],
    ),
    table(
        "users",
        &[
            ("id", Text),
            ("name", Text),
            ("email", Text),
            ("department", Text),
            ("manager", Text),
            ("roles", Text),
            ("disabled_us", Int),
        ],
        &["id"],
    ),
    table(
        "keys",
        &[
            ("id", Text),
            ("hash", Text),
            ("kind", Text),
            ("user_id", Text),
            ("label", Text),
            ("topics", Text),
            ("created_us", Int),
            ("expires_us", Int),
            ("revoked_us", Int),
        ],
        &["id"],
    ),
    table(
        "sessions",
        &[
            ("hash", Text),
            ("user_id", Text),
            ("csrf", Text),
            ("created_us", Int),
            ("expires_us", Int),
            ("key_id", Text),
        ],
        &["hash"],
    ),
    table(
        "used_links",
        &[("hash", Text), ("expires_us", Int)],
        &["hash"],
    ),
    table(
        "processes",
        &[
            ("id", Text),
            ("version", Int),
            ("name", Text),
            ("format", Text),
            ("source", Text),
            ("deployed_us", Int),
        ],
        &["id", "version"],
    ),
    table(
        "forms",
        &[
            ("key", Text),
            ("version", Int),
            ("schema", Text),
            ("deployed_us", Int),
        ],
        &["key", "version"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "instances",
            &[
                ("id", Int),
                ("process_id", Text),
                ("version", Int),
                ("requester", Text),
                ("status", Text),
                ("state", Text),
                ("started_us", Int),
                ("updated_us", Int),
                ("ended_us", Int),
                ("start_key", Text),
            ],
            &["id"],
        )
    },
    table(
        "tasks",
        &[
            ("instance_id", Int),
            ("task_id", Int),
            ("node", Text),
            ("name", Text),
            ("kind", Text),
            ("topic", Text),
            ("assignee", Text),
            ("candidate_groups", Text),
            ("candidate_users", Text),
            ("due_us", Int),
            ("form", Text),
            ("status", Text),
            ("created_us", Int),
            ("completed_us", Int),
            ("completed_by", Text),
            ("requester", Text),
            ("for_requester", Bool),
        ],
        &["instance_id", "task_id"],
    ),
    table(
        "timers",
        &[("instance_id", Int), ("timer_id", Int), ("due_us", Int)],
        &["instance_id", "timer_id"],
    ),
    table(
        "subscriptions",
        &[
            ("instance_id", Int),
            ("subscription_id", Int),
            ("message", Text),
            ("correlation", Text),
        ],
        &["instance_id", "subscription_id"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "audit",
            &[
                ("id", Int),
                ("instance_id", Int),
                ("at_us", Int),
                ("actor", Text),
                ("action", Text),
                ("node", Text),
                ("data", Text),
            ],
            &["id"],
        )
    },
    table(
        "webhook_attempts",
        &[
            ("instance_id", Int),
            ("task_id", Int),
            ("attempts", Int),
            ("next_try_us", Int),
            ("last_error", Text),
        ],
        &["instance_id", "task_id"],
    ),
    table("message_outbox", &[("seq", Int)], &["seq"]),
    table(
        "message_deliveries",
        &[("message_id", Text), ("instance_id", Int)],
        &["message_id", "instance_id"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "mailbox",
            &[
                ("id", Int),
                ("user_id", Text),
                ("address", Text),
                ("subject", Text),
                ("body", Text),
                ("message_id", Text),
                ("sent_us", Int),
            ],
            &["id"],
        )
    },
    table(
        "jobs",
        &[
            ("kind", Text),
            ("instance_id", Int),
            ("item", Int),
            ("due_us", Int),
            ("attempts", Int),
        ],
        &["kind", "instance_id", "item"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "saved_views",
            &[
                ("id", Int),
                ("owner", Text),
                ("name", Text),
                ("kind", Text),
                ("journey", Text),
                ("query", Text),
                ("created_us", Int),
            ],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "lookups",
            &[
                ("id", Int),
                ("viewer", Text),
                ("identifier", Text),
                ("label", Text),
                ("at_us", Int),
            ],
            &["id"],
        )
    },
    table(
        "journey_changes",
        &[
            ("journey", Text),
            ("version", Int),
            ("author", Text),
            ("summary", Text),
            ("at_us", Int),
        ],
        &["journey", "version"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "journey_comments",
            &[
                ("id", Int),
                ("journey", Text),
                ("target", Text),
                ("parent", Int),
                ("author", Text),
                ("body", Text),
                ("at_us", Int),
                ("resolved_by", Text),
                ("resolved_us", Int),
            ],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "alert_rules",
            &[
                ("id", Int),
                ("journey", Text),
                ("kpi", Text),
                ("rule", Text),
                ("webhook", Text),
                ("author", Text),
                ("created_us", Int),
                ("checked_us", Int),
                ("removed_us", Int),
            ],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "alerts",
            &[
                ("id", Int),
                ("rule", Int),
                ("journey", Text),
                ("kpi", Text),
                ("opened_us", Int),
                ("last_us", Int),
                ("buckets", Int),
                ("detail", Text),
                ("acknowledged_by", Text),
                ("acknowledged_us", Int),
                ("resolved_by", Text),
                ("resolved_us", Int),
                ("notified_us", Int),
            ],
            &["id"],
        )
    },
    Table {
        identity: Some("id"),
        ..table(
            "plans",
            &[
                ("id", Int),
                ("kind", Text),
                ("title", Text),
                ("owner", Text),
                ("status", Text),
                ("body", Text),
                ("created_by", Text),
                ("created_us", Int),
                ("updated_by", Text),
                ("updated_us", Int),
                ("revision", Int),
            ],
            &["id"],
        )
    },
    table(
        "survey_asks",
        &[("person", Text), ("key", Text), ("asked_us", Int)],
        &["person"],
    ),
    Table {
        identity: Some("id"),
        ..table(
            "journey_proposals",
            &[
                ("id", Int),
                ("journey", Text),
                ("label", Text),
                ("source", Text),
                ("base", Int),
                ("proposed_by", Text),
                ("proposed_us", Int),
                ("request", Int),
                ("status", Text),
                ("decided_by", Text),
                ("decided_us", Int),
                ("note", Text),
                ("version", Int),
            ],
            &["id"],
        )
    },
];

/// A value as both sides hold it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    fn param(&self, kind: Kind) -> Box<dyn ToSql + Sync + Send> {
        match (self, kind) {
            (Cell::Int(i), SmallInt) => Box::new(Some(*i as i16)),
            (Cell::Int(i), Bool) => Box::new(Some(*i != 0)),
            (Cell::Int(i), _) => Box::new(Some(*i)),
            (Cell::Text(t), _) => Box::new(Some(t.clone())),
            (Cell::Bytes(b), _) => Box::new(Some(b.clone())),
            (Cell::Null, Int) => Box::new(None::<i64>),
            (Cell::Null, SmallInt) => Box::new(None::<i16>),
            (Cell::Null, Bool) => Box::new(None::<bool>),
            (Cell::Null, Bytes) => Box::new(None::<Vec<u8>>),
            (Cell::Null, Text) => Box::new(None::<String>),
        }
    }

    /// The same text for a value whichever side it was read from.
    fn hash_into(&self, hasher: &mut Sha256) {
        match self {
            Cell::Null => hasher.update([0u8]),
            Cell::Int(i) => hasher.update(i.to_string()),
            Cell::Text(t) => hasher.update(t),
            Cell::Bytes(b) => hasher.update(b),
        }
        hasher.update([0x1f]);
    }
}

/// One table as copied: its rows and checksum on each side, and how many rows this run added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub source_rows: u64,
    pub source_checksum: String,
    pub target_rows: u64,
    pub target_checksum: String,
    pub added: u64,
}

impl Copied {
    pub fn equal(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// Reads a table from SQLite in key order, handing `each` a batch of at most [`BATCH`] rows at a
/// time, so a table of any size passes through in bounded memory.
fn sqlite_batches(
    connection: &rusqlite::Connection,
    table: &Table,
    mut each: impl FnMut(Vec<Vec<Cell>>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(name, _)| match table.from_rowid {
            Some(from) if from == *name => "rowid".to_string(),
            _ => (*name).to_string(),
        })
        .collect();
    let order: Vec<String> = table
        .key
        .iter()
        .map(|k| match table.from_rowid {
            Some(from) if from == *k => "rowid".to_string(),
            _ => (*k).to_string(),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        order.join(", ")
    );
    let mut query = connection.prepare(&sql)?;
    let mut rows = query.query([])?;
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::Int(i),
                ValueRef::Real(f) => Cell::Text(f.to_string()),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            });
        }
        batch.push(cells);
        if batch.len() == BATCH {
            each(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
        }
    }
    if !batch.is_empty() {
        each(batch)?;
    }
    Ok(())
}

/// Reads a table back from PostgreSQL in key order as the rows arrive: how many, and their
/// checksum.
async fn postgres_tally(
    client: &deadpool_postgres::Client,
    table: &Table,
) -> Result<(u64, String), StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let order: Vec<String> = table
        .key
        .iter()
        .map(|k| {
            let text = table
                .columns
                .iter()
                .any(|(c, kind)| c == k && *kind == Text);
            if text {
                format!("{k} COLLATE \"C\"")
            } else {
                (*k).to_string()
            }
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        order.join(", ")
    );
    let mut tally = Tally::default();
    let rows = client
        .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
        .await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.next().await {
        let row = row?;
        let mut cells = Vec::with_capacity(columns.len());
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            let cell = match kind {
                Int => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
                SmallInt => row
                    .try_get::<_, Option<i16>>(i)?
                    .map(|v| Cell::Int(i64::from(v))),
                Bool => row
                    .try_get::<_, Option<bool>>(i)?
                    .map(|v| Cell::Int(i64::from(v))),
                Text => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
                Bytes => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Bytes),
            };
            cells.push(cell.unwrap_or(Cell::Null));
        }
        tally.add(&cells);
    }
    Ok(tally.done())
}

/// Rows counted and hashed as they pass, the same way on both sides.
#[derive(Default)]
struct Tally {
    rows: u64,
    hasher: Sha256,
}

impl Tally {
    fn add(&mut self, row: &[Cell]) {
        for cell in row {
            cell.hash_into(&mut self.hasher);
        }
        self.hasher.update([0x1e]);
        self.rows += 1;
    }

    /// The count and the checksum's first eight bytes in hex.
    fn done(self) -> (u64, String) {
        let checksum = self.hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (self.rows, checksum)
    }
}

/// How many rows go in one statement.
const BATCH: usize = 500;

async fn insert(
    client: &deadpool_postgres::Client,
    table: &Table,
    rows: &[Vec<Cell>],
) -> Result<u64, StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let mut added = 0;
    for chunk in rows.chunks(BATCH) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        for row in chunk {
            let places: Vec<String> = row
                .iter()
                .zip(table.columns)
                .map(|(cell, (_, kind))| {
                    params.push(cell.param(*kind));
                    format!("${}", params.len())
                })
                .collect();
            values.push(format!("({})", places.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING",
            table.name,
            columns.join(", "),
            values.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        added += client.execute(&sql, &refs).await?;
    }
    Ok(added)
}

/// Copies the SQLite store at `from` into the PostgreSQL database at `to` (its schema made or
/// brought up to date first), then compares each table on both sides.
pub fn copy(from: &Path, to: &str) -> Result<Vec<Copied>, StoreError> {
    // Bring the file to the current schema (and refuse a file from a newer Waymark), then read
    // it without writing.
    drop(crate::SqliteStore::open(from)?);
    let source_db =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source_db.busy_timeout(std::time::Duration::from_secs(5))?;
    let target = PgStore::open(to, crate::default_identifier_traits())?;
    let mut out = Vec::new();
    for table in TABLES {
        // The source is read, hashed and written a batch at a time.
        let mut source = Tally::default();
        let mut added = 0;
        sqlite_batches(&source_db, table, |rows| {
            for row in &rows {
                source.add(row);
            }
            added += target.run(move |pool| async move {
                let client = pool.get().await?;
                insert(&client, table, &rows).await
            })?;
            Ok(())
        })?;
        if let Some(column) = table.identity {
            // Ids were given: the next id made here comes after them.
            target.run(move |pool| async move {
                pool.get()
                    .await?
                    .execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), coalesce(max({1}), 0) + 1, false) FROM {0}",
                            table.name, column
                        ),
                        &[],
                    )
                    .await?;
                Ok(())
            })?;
        }
        let (source_rows, source_checksum) = source.done();
        let (target_rows, target_checksum) = target
            .run(move |pool| async move { postgres_tally(&pool.get().await?, table).await })?;
        tracing::info!(table = table.name, rows = source_rows, added, "copied");
        out.push(Copied {
            table: table.name,
            source_rows,
            source_checksum,
            target_rows,
            target_checksum,
            added,
        });
    }
    // A new profile's id comes after every id merged away too, as in SQLite: a profile's id
    // names one person for good (see `identity.rs`).
    target.run(move |pool| async move {
        pool.get()
            .await?
            .execute(
                "SELECT setval(pg_get_serial_sequence('profiles', 'id'), greatest(
                    (SELECT coalesce(max(id), 0) FROM profiles),
                    (SELECT coalesce(max(merged), 0) FROM profile_merges)) + 1, false)",
                &[],
            )
            .await?;
        Ok(())
    })?;
    Ok(out)
}
