//! Collected and imported events on PostgreSQL.
//!
//! Invariant: every transaction that adds events, facts, identity merges or imported blocks takes
//! the events lock before it writes any of them and holds it to its commit. Sequence numbers are therefore committed in
//! order on every node, so a reader that tails by `seq` (the live logs of all nodes) never skips
//! an event that commits late, and identity merges never interleave. Duplicates are dropped by
//! the unique message id, in the same transaction.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::PgStore;
use super::identity;
use super::tx::Tx;
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
        .execute(
            &client
                .prepare_cached("SELECT pg_advisory_xact_lock($1)")
                .await?,
            &[&EVENTS_LOCK],
        )
        .await?;
    Ok(())
}

/// Ends a transaction that adds events: runs `before` (the transaction's other last writes),
/// takes the events lock, stores the events whose message ids are not stored yet (nor earlier in
/// `events`) in order, and sends the commit. Which events were new. The caller calls
/// `tx.committed()` when this succeeds.
///
/// The lock is held until the commit and every writer of events waits for it, so the time in
/// between is kept to one round trip: outside the lock, `before` and the lookup of the people
/// the events name go together; then the lock, one statement for the rows with their facts and
/// outbox places, and the commit are sent in one message (the server runs them in order). Only
/// when an event says something new about a person (an alias, traits, someone unseen) are the
/// identity links written between the rows and the commit.
pub(crate) async fn commit_with_events(
    tx: &Tx,
    before: impl Future<Output = Result<(), StoreError>>,
    events: &[NewEvent],
    driving: &[bool],
    identifier_traits: &[String],
    seen: &identity::Settled,
) -> Result<Vec<bool>, StoreError> {
    let client = tx.client();
    // Known to this node: `before` travels with the lock and the commit. Otherwise it travels
    // with the lookup.
    let (before, known) = if seen.all(events) {
        (Some(before), None)
    } else {
        let ((), known) = tokio::try_join!(biased; before, identity::known(client, events))?;
        seen.learn(events, &known);
        (None, Some(known))
    };
    if events.is_empty() {
        if let Some(before) = before {
            before.await?;
        }
        tx.send_commit().await?;
        return Ok(Vec::new());
    }
    let (lock, insert) = (
        client.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?,
        client.prepare_cached("WITH stored AS (
                 INSERT INTO events (message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body)
                 SELECT m, k, n, u, a, t, r, b
                 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[], $8::TEXT[])
                      WITH ORDINALITY AS e(m, k, n, u, a, t, r, b, place)
                 ORDER BY place
                 ON CONFLICT (message_id) DO NOTHING
                 RETURNING seq, message_id, user_id, anonymous_id, timestamp_us),
             facts AS (
                 INSERT INTO event_facts (seq, kind, user_id, anonymous_id, timestamp_us, facts)
                 SELECT s.seq, f.k, s.user_id, s.anonymous_id, s.timestamp_us, f.x
                 FROM stored s JOIN unnest($9::TEXT[], $10::SMALLINT[], $11::BYTEA[]) AS f(m, k, x) ON f.m = s.message_id),
             outbox AS (
                 INSERT INTO message_outbox (seq) SELECT seq FROM stored WHERE message_id = ANY($12::TEXT[]))
             SELECT seq, message_id FROM stored").await?,
    );
    // Facts and outbox places for the first event with each message id: only it can be new.
    let mut seen = std::collections::HashSet::new();
    let (mut fact_ids, mut fact_kinds, mut fact_records, mut outbox) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (event, driving) in events.iter().zip(driving) {
        if !seen.insert(event.message_id.as_str()) {
            continue;
        }
        let (kind, record) = facts::of(event);
        fact_ids.push(event.message_id.as_str());
        fact_kinds.push(kind.code() as i16);
        fact_records.push(record);
        if *driving && event.kind == "track" && event.user_id.is_some() {
            outbox.push(event.message_id.as_str());
        }
    }
    let column = |f: fn(&NewEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let (message_ids, kinds, names, users, anonymous, times, received, bodies) = (
        events
            .iter()
            .map(|e| e.message_id.as_str())
            .collect::<Vec<_>>(),
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        column(|e| e.name.clone()),
        column(|e| e.user_id.clone()),
        column(|e| e.anonymous_id.clone()),
        events.iter().map(|e| e.timestamp_us).collect::<Vec<_>>(),
        events.iter().map(|e| e.received_us).collect::<Vec<_>>(),
        events.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
    );
    let locking = async {
        client
            .execute(&lock, &[&EVENTS_LOCK])
            .await
            .map_err(StoreError::from)
    };
    let inserting = async {
        client
            .query(
                &insert,
                &[
                    &message_ids,
                    &kinds,
                    &names,
                    &users,
                    &anonymous,
                    &times,
                    &received,
                    &bodies,
                    &fact_ids,
                    &fact_kinds,
                    &fact_records,
                    &outbox,
                ],
            )
            .await
            .map_err(StoreError::from)
    };
    let settled = known
        .as_ref()
        .is_none_or(|known| events.iter().all(|e| identity::settled(e, known)));
    // `biased`: polled in this order the first time, so they are sent in this order.
    let rows = match (before, settled) {
        (Some(before), _) => {
            tokio::try_join!(biased; before, locking, inserting, tx.send_commit())?.2
        }
        (None, true) => tokio::try_join!(biased; locking, inserting, tx.send_commit())?.1,
        (None, false) => tokio::try_join!(biased; locking, inserting)?.1,
    };
    let mut seqs: std::collections::HashMap<String, i64> = rows
        .iter()
        .map(|row| Ok::<_, StoreError>((row.try_get(1)?, row.try_get(0)?)))
        .collect::<Result<_, _>>()?;
    // The first event with a message id is the one stored; the others are duplicates.
    let stored: Vec<bool> = events
        .iter()
        .map(|e| seqs.remove(&e.message_id).is_some())
        .collect();
    if !settled {
        let new: Vec<&NewEvent> = events
            .iter()
            .zip(&stored)
            .filter_map(|(e, new)| new.then_some(e))
            .collect();
        let known = known.unwrap_or_default();
        identity::link_all(client, &new, &known, identifier_traits).await?;
        tx.send_commit().await?;
    }
    Ok(stored)
}

/// A caller's events waiting for the next group commit.
struct Pending {
    events: Vec<NewEvent>,
    driving: bool,
    done: tokio::sync::oneshot::Sender<Result<Appended, String>>,
}

/// Group commit: callers queue their events, and whoever holds the turn writes everything queued
/// in one transaction (one events lock, one commit, a few statements for all of it), then hands
/// each caller its own outcome. Under load many callers share a commit; alone, a caller commits
/// at once.
#[derive(Default)]
pub(crate) struct Appends {
    pending: std::sync::Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
    /// The people this node knows need nothing written (for every writer of events).
    pub(crate) settled: identity::Settled,
}

async fn append(
    pool: Pool,
    appends: std::sync::Arc<Appends>,
    events: Vec<NewEvent>,
    driving: bool,
    traits: Vec<String>,
) -> Result<Appended, StoreError> {
    let (done, mut outcome) = tokio::sync::oneshot::channel();
    appends
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Pending {
            events,
            driving,
            done,
        });
    let turn = appends.turn.lock().await;
    // While this caller waited for the turn, the one before may have written its events too.
    if let Ok(result) = outcome.try_recv() {
        return result.map_err(StoreError::Commit);
    }
    let group = std::mem::take(
        &mut *appends
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if group.is_empty() {
        // Taken by the one before, whose answer is on its way.
        drop(turn);
        return outcome
            .await
            .map_err(|_| StoreError::Poisoned)?
            .map_err(StoreError::Commit);
    }
    let written = commit_group(&pool, &group, &traits, &appends.settled).await;
    match written {
        Ok(outcomes) => {
            for (pending, appended) in group.into_iter().zip(outcomes) {
                let _ = pending.done.send(Ok(appended));
            }
        }
        Err(error) => {
            tracing::error!(%error, callers = group.len(), "group commit failed");
            for pending in group {
                let _ = pending.done.send(Err(error.to_string()));
            }
        }
    }
    drop(turn);
    outcome
        .await
        .map_err(|_| StoreError::Poisoned)?
        .map_err(StoreError::Commit)
}

/// Writes a group's events in one transaction; each caller's counts.
async fn commit_group(
    pool: &Pool,
    group: &[Pending],
    traits: &[String],
    settled: &identity::Settled,
) -> Result<Vec<Appended>, StoreError> {
    let events: Vec<NewEvent> = group
        .iter()
        .flat_map(|p| p.events.iter().cloned())
        .collect();
    let driving: Vec<bool> = group
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.driving, p.events.len()))
        .collect();
    let tx = Tx::open(pool).await?;
    let inserted = commit_with_events(&tx, tx.begin(), &events, &driving, traits, settled).await?;
    tx.committed();
    let mut at = 0;
    Ok(group
        .iter()
        .map(|p| {
            let mine = &inserted[at..at + p.events.len()];
            at += p.events.len();
            let new = mine.iter().filter(|i| **i).count();
            Appended {
                inserted: new,
                duplicates: mine.len() - new,
            }
        })
        .collect())
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
                &transaction
                    .prepare_cached("SELECT body FROM traces WHERE user_id = $1")
                    .await?,
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
                &transaction.prepare_cached("INSERT INTO traces (user_id, first_us, last_us, events, body) VALUES ($1, $2, $3, $4, $5)").await?,
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
            &client
                .prepare_cached(
                    "SELECT t.id, t.user_id, t.body, i.profile_id FROM traces t
             LEFT JOIN identities i ON i.identifier = 'user:' || t.user_id
             WHERE t.id > $1 ORDER BY t.id LIMIT $2",
                )
                .await?,
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
            &transaction
                .prepare_cached(
                    "SELECT id, merged, survivor FROM profile_merges WHERE id > $1 ORDER BY id",
                )
                .await?,
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
        let (traits, appends) = (self.identifier_traits.clone(), self.appends.clone());
        self.write(move |pool| append(pool, appends, events, false, traits))
    }

    fn append_driving(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        let (traits, appends) = (self.identifier_traits.clone(), self.appends.clone());
        self.write(move |pool| append(pool, appends, events, true, traits))
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT e.seq, e.message_id, e.kind, e.name, e.user_id, e.anonymous_id, e.timestamp_us,
                            e.received_us, e.body, coalesce(iu.profile_id, ia.profile_id)
                     FROM events e
                     LEFT JOIN identities iu ON iu.identifier = 'user:' || e.user_id
                     LEFT JOIN identities ia ON ia.identifier = 'anon:' || e.anonymous_id
                     WHERE e.seq > $1 ORDER BY e.seq LIMIT $2").await?,
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
                    &client.prepare_cached("SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(events), 0) FROM traces)::BIGINT").await?,
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

    fn watermark(&self) -> Result<crate::facts::Since, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let row = client
                .query_one(&client.prepare_cached(crate::facts::WATERMARK).await?, &[])
                .await?;
            Ok(crate::facts::Since {
                seq: row.try_get(0)?,
                merge: row.try_get(1)?,
                block: row.try_get(2)?,
            })
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

    fn note_lookup(
        &self,
        viewer: &str,
        identifier: &str,
        label: &str,
        at_us: i64,
    ) -> Result<(), StoreError> {
        let (viewer, identifier, label) = (
            viewer.to_string(),
            identifier.to_string(),
            label.to_string(),
        );
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client.prepare_cached(crate::lookups::NOTE).await?,
                    &[&viewer, &identifier, &label, &at_us],
                )
                .await?;
            Ok(())
        })
    }

    fn recent_lookups(
        &self,
        viewer: &str,
        limit: usize,
    ) -> Result<Vec<crate::lookups::Lookup>, StoreError> {
        let viewer = viewer.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached(crate::lookups::RECENT).await?,
                    &[&viewer, &limit],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(crate::lookups::Lookup {
                        identifier: r.try_get(0)?,
                        label: r.try_get(1)?,
                        at_us: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn find_people(&self, text: &str, limit: usize) -> Result<Vec<crate::PersonFound>, StoreError> {
        let text = text.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            identity::find_people(&client, &text, limit).await
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
