//! Collected and imported events on PostgreSQL.
//!
//! Invariant: every transaction that adds events, facts, identity merges or imported blocks takes
//! the events lock first and holds it to its commit. Sequence numbers are therefore committed in
//! order on every node, so a reader that tails by `seq` (the live logs of all nodes) never skips
//! an event that commits late, and identity merges never interleave. Duplicates are dropped by
//! the unique message id, in the same transaction.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::PgStore;
use super::identity;
use crate::facts::{self, Change, EventFacts, Kind, Since};
use crate::traces::{self, NewTrace, StoredTrace, TraceBlock};
use crate::{Appended, NewEvent, Profile, StoreError, StoredEvent};

/// The advisory lock every writer of events holds until its commit (any number, the same on
/// every node).
const EVENTS_LOCK: i64 = 0x7761_796d_6172_6b02;

pub(crate) const EVENT_COLUMNS: &str =
    "seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body";

/// A stored event from `EVENT_COLUMNS` followed by its profile.
pub(crate) fn event_from(row: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: row.try_get(0)?,
        event: NewEvent {
            message_id: row.try_get(1)?,
            kind: row.try_get(2)?,
            name: row.try_get(3)?,
            user_id: row.try_get(4)?,
            anonymous_id: row.try_get(5)?,
            timestamp_us: row.try_get(6)?,
            received_us: row.try_get(7)?,
            body: row.try_get(8)?,
        },
        profile: row.try_get(9)?,
    })
}

/// Takes the events lock for the rest of the transaction.
pub(crate) async fn lock_events(client: &impl GenericClient) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
        .await?;
    Ok(())
}

/// Stores one event unless its message id is stored: its facts, its identity links, and (for a
/// driving track call) its place in the message outbox. Whether it was new.
pub(crate) async fn insert(
    client: &impl GenericClient,
    event: &NewEvent,
    driving: bool,
    identifier_traits: &[String],
) -> Result<bool, StoreError> {
    let inserted = client
        .query_opt(
            "INSERT INTO events (message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING RETURNING seq",
            &[
                &event.message_id,
                &event.kind,
                &event.name,
                &event.user_id,
                &event.anonymous_id,
                &event.timestamp_us,
                &event.received_us,
                &event.body,
            ],
        )
        .await?;
    let Some(row) = inserted else {
        return Ok(false);
    };
    let seq: i64 = row.try_get(0)?;
    if driving && event.kind == "track" && event.user_id.is_some() {
        client
            .execute("INSERT INTO message_outbox (seq) VALUES ($1)", &[&seq])
            .await?;
    }
    let (kind, record) = facts::of(event);
    client
        .execute(
            "INSERT INTO event_facts (seq, kind, user_id, anonymous_id, timestamp_us, facts)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &seq,
                &(kind.code() as i16),
                &event.user_id,
                &event.anonymous_id,
                &event.timestamp_us,
                &record,
            ],
        )
        .await?;
    identity::link(client, event, identifier_traits).await?;
    Ok(true)
}

async fn append(
    pool: Pool,
    events: Vec<NewEvent>,
    driving: bool,
    traits: Vec<String>,
) -> Result<Appended, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    lock_events(&transaction).await?;
    let mut outcome = Appended::default();
    for event in &events {
        if insert(&transaction, event, driving, &traits).await? {
            outcome.inserted += 1;
        } else {
            outcome.duplicates += 1;
        }
    }
    transaction.commit().await?;
    Ok(outcome)
}

async fn append_traces(
    pool: Pool,
    traces: Vec<NewTrace>,
    identifier_traits: Vec<String>,
) -> Result<Appended, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    lock_events(&transaction).await?;
    let mut outcome = Appended::default();
    for trace in &traces {
        let bodies: Vec<Vec<u8>> = transaction
            .query(
                "SELECT body FROM traces WHERE user_id = $1",
                &[&trace.user_id],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        let stored = traces::keys_in(bodies.iter().map(Vec::as_slice))?;
        let Some(fresh) = traces::unstored(trace, &stored)? else {
            outcome.duplicates += trace.len();
            continue;
        };
        transaction
            .execute(
                "INSERT INTO traces (user_id, first_us, last_us, events, body) VALUES ($1, $2, $3, $4, $5)",
                &[&fresh.user_id, &fresh.first_us, &fresh.last_us, &(fresh.len() as i64), &fresh.block],
            )
            .await?;
        outcome.inserted += fresh.len();
        outcome.duplicates += trace.len() - fresh.len();
        identity::link(
            &transaction,
            &traces::identity_call(trace),
            &identifier_traits,
        )
        .await?;
    }
    transaction.commit().await?;
    Ok(outcome)
}

async fn blocks_after(
    client: &impl GenericClient,
    after_id: i64,
    limit: i64,
) -> Result<Vec<TraceBlock>, StoreError> {
    client
        .query(
            "SELECT t.id, t.user_id, t.body, i.profile_id FROM traces t
             LEFT JOIN identities i ON i.identifier = 'user:' || t.user_id
             WHERE t.id > $1 ORDER BY t.id LIMIT $2",
            &[&after_id, &limit],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(TraceBlock {
                id: row.try_get(0)?,
                user_id: row.try_get(1)?,
                block: row.try_get(2)?,
                profile: row.try_get(3)?,
            })
        })
        .collect()
}

/// A change read from the database, owned so it can cross to the reader's thread.
enum Read {
    Merge {
        id: i64,
        merged: i64,
        survivor: i64,
    },
    Event {
        seq: i64,
        kind: Kind,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        message_id: Option<String>,
        timestamp_us: i64,
        profile: Option<i64>,
        facts: Vec<u8>,
    },
    Block(TraceBlock),
}

/// How many rows go to the reader at a time.
const PAGE: i64 = 5_000;

/// Reads everything after `since` in one repeatable-read transaction (a consistent view),
/// handing pages to `pages` until the reader stops taking them.
async fn read_facts(
    pool: Pool,
    since: Since,
    message_ids: bool,
    pages: tokio::sync::mpsc::Sender<Result<Vec<Read>, StoreError>>,
) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let merges = transaction
        .query(
            "SELECT id, merged, survivor FROM profile_merges WHERE id > $1 ORDER BY id",
            &[&since.merge],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Read::Merge {
                id: row.try_get(0)?,
                merged: row.try_get(1)?,
                survivor: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if pages.send(Ok(merges)).await.is_err() {
        return Ok(());
    }
    let sql = format!(
        "SELECT f.seq, f.kind, f.user_id, f.anonymous_id, f.timestamp_us, f.facts, {},
                coalesce(iu.profile_id, ia.profile_id)
         FROM event_facts f
         LEFT JOIN identities iu ON iu.identifier = 'user:' || f.user_id
         LEFT JOIN identities ia ON ia.identifier = 'anon:' || f.anonymous_id
         {}
         WHERE f.seq > $1 ORDER BY f.seq LIMIT $2",
        if message_ids {
            "e.message_id"
        } else {
            "NULL::TEXT"
        },
        if message_ids {
            "JOIN events e ON e.seq = f.seq"
        } else {
            ""
        },
    );
    let mut after = since.seq;
    loop {
        let rows = transaction.query(&sql, &[&after, &PAGE]).await?;
        let full = rows.len() as i64 == PAGE;
        let page = rows
            .iter()
            .map(|row| {
                Ok(Read::Event {
                    seq: row.try_get(0)?,
                    kind: Kind::from_code(i64::from(row.try_get::<_, i16>(1)?)),
                    user_id: row.try_get(2)?,
                    anonymous_id: row.try_get(3)?,
                    timestamp_us: row.try_get(4)?,
                    facts: row.try_get(5)?,
                    message_id: row.try_get(6)?,
                    profile: row.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if let Some(Read::Event { seq, .. }) = page.last() {
            after = *seq;
        }
        if pages.send(Ok(page)).await.is_err() {
            return Ok(());
        }
        if !full {
            break;
        }
    }
    let mut block = since.block;
    loop {
        let blocks = blocks_after(&transaction, block, 256).await?;
        let Some(last) = blocks.last() else { break };
        block = last.id;
        let page = blocks.into_iter().map(Read::Block).collect();
        if pages.send(Ok(page)).await.is_err() {
            return Ok(());
        }
    }
    transaction.commit().await?;
    Ok(())
}

impl crate::Events for PgStore {
    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        let traits = self.identifier_traits.clone();
        self.write(move |pool| append(pool, events, false, traits))
    }

    fn append_driving(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        let traits = self.identifier_traits.clone();
        self.write(move |pool| append(pool, events, true, traits))
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    "SELECT e.seq, e.message_id, e.kind, e.name, e.user_id, e.anonymous_id, e.timestamp_us,
                            e.received_us, e.body, coalesce(iu.profile_id, ia.profile_id)
                     FROM events e
                     LEFT JOIN identities iu ON iu.identifier = 'user:' || e.user_id
                     LEFT JOIN identities ia ON ia.identifier = 'anon:' || e.anonymous_id
                     WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
                    &[&after_seq, &limit],
                )
                .await?
                .iter()
                .map(event_from)
                .collect()
        })
    }

    fn append_traces(&self, traces: Vec<NewTrace>) -> Result<Appended, StoreError> {
        let traits = self.identifier_traits.clone();
        self.write(move |pool| append_traces(pool, traces, traits))
    }

    fn traces_after(&self, after_id: i64, limit: usize) -> Result<Vec<StoredTrace>, StoreError> {
        self.trace_blocks_after(after_id, limit)?
            .into_iter()
            .map(|b| {
                Ok(StoredTrace {
                    id: b.id,
                    events: traces::read_block(b.id, &b.user_id, b.profile, &b.block)?,
                })
            })
            .collect()
    }

    fn trace_blocks_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<TraceBlock>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            blocks_after(&client, after_id, limit).await
        })
    }

    fn count_events(&self) -> Result<u64, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let count: i64 = client
                .query_one(
                    "SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(events), 0) FROM traces)::BIGINT",
                    &[],
                )
                .await?
                .try_get(0)?;
            Ok(count as u64)
        })
    }

    fn read_facts(
        &self,
        since: Since,
        message_ids: bool,
        visit: &mut dyn FnMut(Change<'_>) -> Result<(), StoreError>,
    ) -> Result<Since, StoreError> {
        let runtime = self.runtime.as_ref().ok_or(StoreError::Poisoned)?;
        let (pages, mut read) = tokio::sync::mpsc::channel(2);
        let failed = pages.clone();
        let pool = self.pool.clone();
        runtime.spawn(async move {
            if let Err(error) = read_facts(pool, since, message_ids, pages).await {
                let _ = failed.send(Err(error)).await;
            }
        });
        let mut until = since;
        // The reader's own thread (the live log's): never a runtime's, so it may block here.
        while let Some(page) = read.blocking_recv() {
            for change in page? {
                match change {
                    Read::Merge {
                        id,
                        merged,
                        survivor,
                    } => {
                        until.merge = id;
                        visit(Change::Merge { merged, survivor })?;
                    }
                    Read::Event {
                        seq,
                        kind,
                        user_id,
                        anonymous_id,
                        message_id,
                        timestamp_us,
                        profile,
                        facts,
                    } => {
                        until.seq = seq;
                        visit(Change::Event(EventFacts {
                            seq,
                            kind,
                            user_id: user_id.as_deref(),
                            anonymous_id: anonymous_id.as_deref(),
                            message_id: message_id.as_deref(),
                            timestamp_us,
                            profile,
                            facts: &facts,
                        }))?;
                    }
                    Read::Block(block) => {
                        until.block = block.id;
                        visit(Change::Block(block))?;
                    }
                }
            }
        }
        Ok(until)
    }

    fn watermark(&self) -> Result<(i64, i64), StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(
                    "SELECT (SELECT coalesce(max(seq), 0) FROM events), (SELECT coalesce(max(id), 0) FROM traces)",
                    &[],
                )
                .await?;
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
    }
}

impl crate::Identities for PgStore {
    fn profile(&self, identifier: &str) -> Result<Option<Profile>, StoreError> {
        let (identifier, traits) = (identifier.to_string(), self.identifier_traits.clone());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            match identity::find(&client, &identifier, &traits).await? {
                Some(id) => identity::profile(&client, id).await,
                None => Ok(None),
            }
        })
    }

    fn timeline(
        &self,
        identifier: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        let (identifier, traits) = (identifier.to_string(), self.identifier_traits.clone());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            match identity::find(&client, &identifier, &traits).await? {
                Some(id) => identity::timeline(&client, id, before_seq, limit)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        })
    }

    fn search_profiles(&self, trait_name: &str, value: &str) -> Result<Vec<Profile>, StoreError> {
        let (name, value) = (trait_name.to_string(), value.to_string());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let mut profiles = Vec::new();
            for id in identity::search(&client, &name, &value).await? {
                if let Some(profile) = identity::profile(&client, id).await? {
                    profiles.push(profile);
                }
            }
            Ok(profiles)
        })
    }
}
