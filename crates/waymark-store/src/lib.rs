//! Storage behind interfaces, one per concern (`interfaces.rs`), with two backends: SQLite, the
//! embedded default ([`SqliteStore`]: WAL, versioned migrations at open, group commit), and
//! PostgreSQL for several nodes (`postgres/`). [`open`] chooses one from a [`Location`]; the rest
//! of Waymark holds `Arc<dyn Store>` and never names a backend. No other crate writes SQL.
//!
//! Invariant: a call that writes returns only after its writes are committed, so an acknowledged
//! event survives the process being killed.

pub mod alerts;
#[cfg(test)]
mod conformance;
mod copy;
pub mod facts;
pub mod health;
mod identity;
mod index;
mod interfaces;
pub mod keys;
pub mod leases;
pub mod live;
mod location;
mod logs;
pub mod lookups;
pub mod mailbox;
pub mod plans;
mod postgres;
pub mod proposals;
pub mod sessions;
mod surveys;
mod talk;
#[doc(hidden)]
pub mod testing;
mod traces;
pub mod views;
pub mod workflow;

use std::path::Path;
use std::sync::{Mutex, mpsc};

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};

pub use identity::{PersonFound, Profile, channel};
/// The storage interfaces, for `use waymark_store::prelude::*` where a store's methods are called.
pub mod prelude {
    pub use crate::interfaces::{
        Alerts, Directory, Events, HealthCheck, Identities, JourneyTalk, Journeys, Leases, Mailbox,
        Maintenance, Plans, Processes, Proposals, SavedViews, Sessions, Store, SurveyAsks, Work,
    };
}
pub use copy::{Copied, copy};
pub use interfaces::{
    Alerts, Directory, Events, HealthCheck, Identities, JourneyTalk, Journeys, Leases, Mailbox,
    Maintenance, Plans, Processes, Proposals, SavedViews, Sessions, Store, SurveyAsks, Work,
};
pub use location::{Location, Options, open, open_in_memory};
pub use logs::{
    ImportError, Imported, Keep, import_log, import_pieces, push_interaction, stored_log,
    stored_log_keeping,
};
pub use talk::{JourneyChange, JourneyComment, NewComment};
pub use traces::{BLOCK_EVENTS, EventRef, NewTrace, StoredTrace, TraceBlock};

/// A collected event, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The sender's id for the event; a second event with the same id is a duplicate.
    pub message_id: String,
    /// `track`, `identify`, `page`, `screen`, `group` or `alias`.
    pub kind: String,
    /// The event name (track) or page/screen name.
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// When it happened, in µs since the epoch, after clock-skew correction.
    pub timestamp_us: i64,
    /// When the server received it, in µs since the epoch.
    pub received_us: i64,
    /// The whole event as JSON, as received (properties, traits, context, ...).
    pub body: String,
}

/// A stored event, with its place in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: NewEvent,
    /// The profile the event's person belongs to (identities stitched).
    pub profile: Option<i64>,
}

impl StoredEvent {
    /// The event as a Segment call. Events collected over HTTP are kept as received; imported
    /// ones keep only their `properties`, so the fields stored as columns (type, event or name,
    /// user and anonymous id, message id) are filled in here when the body lacks them.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.event.to_json()
    }
}

impl NewEvent {
    /// The event as a Segment call (see [`StoredEvent::to_json`]).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value as Json;
        let mut map = match serde_json::from_str::<Json>(&self.body) {
            Ok(Json::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let e = self;
        let name_field = match e.kind.as_str() {
            "track" => Some("event"),
            "page" | "screen" => Some("name"),
            _ => None,
        };
        let columns = [
            ("type", Some(&e.kind)),
            ("messageId", Some(&e.message_id)),
            ("userId", e.user_id.as_ref()),
            ("anonymousId", e.anonymous_id.as_ref()),
        ];
        for (key, value) in columns
            .into_iter()
            .chain(name_field.map(|field| (field, e.name.as_ref())))
        {
            if let Some(value) = value {
                map.entry(key)
                    .or_insert_with(|| Json::String(value.clone()));
            }
        }
        map
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    pub inserted: usize,
    /// Events whose message id was already stored; they were dropped.
    pub duplicates: usize,
}

/// The traits that identify a person unless configured otherwise: `email` and `phone`.
pub fn default_identifier_traits() -> Vec<String> {
    vec!["email".to_string(), "phone".to_string()]
}

/// The kinds of API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Reads and writes everything.
    Admin,
    /// Only records events: the public write key that ships in web pages and apps.
    Write,
    /// Records events whose track calls act on workflows: a secret key held by a server.
    Server,
    /// Fetches and completes the worker tasks of the topics it was issued for.
    Worker,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Admin => "admin",
            KeyKind::Write => "write",
            KeyKind::Server => "server",
            KeyKind::Worker => "worker",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Option<KeyKind> {
        match name {
            "admin" => Some(KeyKind::Admin),
            "write" => Some(KeyKind::Write),
            "server" => Some(KeyKind::Server),
            "worker" => Some(KeyKind::Worker),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Database(String),
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(String),
    #[error("the store is unusable after an earlier failure")]
    Poisoned,
    /// No secret could be made.
    #[error("{0}")]
    Random(String),
    /// Refused, with the reason (a configured key that was revoked, say).
    #[error("{0}")]
    Refused(String),
    /// A write stopped on a bug (a panic); it was rolled back and the store goes on.
    #[error("the write stopped on a bug and was undone: {0}")]
    Bug(String),
    #[error("the events could not be committed: {0}")]
    Commit(String),
    #[error("the event index failed: {0}")]
    Index(String),
    #[error("a stored block of imported events is unreadable: {0}")]
    Block(String),
}

// The backends' own errors become the store's, so no other crate sees a backend's types.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(error.to_string())
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(error: rusqlite_migration::Error) -> Self {
        StoreError::Migration(error.to_string())
    }
}

/// A journey file deployed to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedJourney {
    pub id: String,
    /// 1 for the first file deployed under the id, then one more for each different file.
    pub version: i64,
    /// The file's own version label (`as-is`, `to-be`, …).
    pub label: String,
    /// The journey file as deployed.
    pub source: String,
    pub deployed_us: i64,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(steps())
}

/// The schema version of an up-to-date database.
fn latest_version() -> rusqlite_migration::SchemaVersion {
    std::num::NonZeroUsize::new(steps().len())
        .map_or(rusqlite_migration::SchemaVersion::NoneSet, |n| {
            rusqlite_migration::SchemaVersion::Inside(n)
        })
}

/// The migrations, oldest first; a database's schema version is how many it has had.
fn steps() -> Vec<M<'static>> {
    vec![
        M::up(
            "CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            name TEXT,
            user_id TEXT,
            anonymous_id TEXT,
            timestamp_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX events_by_user ON events (user_id, timestamp_us);
        CREATE INDEX events_by_anonymous ON events (anonymous_id, timestamp_us);
        CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('admin', 'write'))
        );",
        ),
        M::up(
            "CREATE TABLE profiles (
            id INTEGER PRIMARY KEY
        );
        CREATE TABLE identities (
            identifier TEXT PRIMARY KEY,
            profile_id INTEGER NOT NULL
        );
        CREATE INDEX identities_by_profile ON identities (profile_id);
        CREATE TABLE profile_traits (
            profile_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            at_us INTEGER NOT NULL
        );
        CREATE INDEX profile_traits_by_profile ON profile_traits (profile_id, name, at_us);",
        ),
        // Most events (all imported ones) have no anonymous id: leave them out of its index.
        M::up(
            "DROP INDEX events_by_anonymous;
        CREATE INDEX events_by_anonymous ON events (anonymous_id, timestamp_us)
            WHERE anonymous_id IS NOT NULL;",
        ),
        // Each event records its profile (kept current through merges), so a person's events
        // are one index range, and one index replaces the user and anonymous ones.
        M::up(
            "ALTER TABLE events ADD COLUMN profile_id INTEGER;
        UPDATE events SET profile_id = COALESCE(
            (SELECT profile_id FROM identities WHERE identifier = 'user:' || events.user_id),
            (SELECT profile_id FROM identities WHERE identifier = 'anon:' || events.anonymous_id));
        CREATE INDEX events_by_profile ON events (profile_id, timestamp_us);
        DROP INDEX events_by_user;
        DROP INDEX events_by_anonymous;",
        ),
        // The indexes with random keys (message id, person) move to the LSM index beside the
        // database (see `index.rs`); the events table becomes append-only by `seq`. Profiles are
        // found through `identities` when reading, so merges never touch events. Each database
        // gets a random id, so an index is never used with another database.
        M::up(
            "CREATE TABLE events_appended (
            seq INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT,
            user_id TEXT,
            anonymous_id TEXT,
            timestamp_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        INSERT INTO events_appended
            SELECT seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body
            FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_appended RENAME TO events;
        CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO store_meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));",
        ),
        // Imported process logs are kept one block per case (see `traces.rs`).
        M::up(
            "CREATE TABLE traces (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            first_us INTEGER NOT NULL,
            last_us INTEGER NOT NULL,
            events INTEGER NOT NULL,
            body BLOB NOT NULL
        );
        CREATE INDEX traces_by_user ON traces (user_id);",
        ),
        // Deployed journeys: every distinct file deployed under an id is a version.
        M::up(
            "CREATE TABLE journeys (
            id TEXT NOT NULL,
            version INTEGER NOT NULL,
            label TEXT NOT NULL,
            source TEXT NOT NULL,
            deployed_us INTEGER NOT NULL,
            PRIMARY KEY (id, version)
        );",
        ),
        // Automation: the organisation directory, process definitions (a version per distinct
        // file), instances with their engine state, and what they wait for.
        M::up(
            "CREATE TABLE users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT,
            department TEXT,
            manager TEXT,
            roles TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE processes (
            id TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            format TEXT NOT NULL,
            source TEXT NOT NULL,
            deployed_us INTEGER NOT NULL,
            PRIMARY KEY (id, version)
        );
        CREATE TABLE instances (
            id INTEGER PRIMARY KEY,
            process_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            requester TEXT NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            started_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            ended_us INTEGER
        );
        CREATE INDEX instances_by_requester ON instances (requester, id);
        CREATE TABLE tasks (
            instance_id INTEGER NOT NULL,
            task_id INTEGER NOT NULL,
            node TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            topic TEXT,
            assignee TEXT,
            candidate_groups TEXT NOT NULL,
            candidate_users TEXT NOT NULL,
            due_us INTEGER,
            form TEXT,
            status TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            completed_us INTEGER,
            completed_by TEXT,
            PRIMARY KEY (instance_id, task_id)
        );
        CREATE INDEX tasks_open ON tasks (status, created_us);
        CREATE TABLE timers (
            instance_id INTEGER NOT NULL,
            timer_id INTEGER NOT NULL,
            due_us INTEGER NOT NULL,
            PRIMARY KEY (instance_id, timer_id)
        );
        CREATE INDEX timers_by_due ON timers (due_us);
        CREATE TABLE subscriptions (
            instance_id INTEGER NOT NULL,
            subscription_id INTEGER NOT NULL,
            message TEXT NOT NULL,
            correlation TEXT NOT NULL,
            PRIMARY KEY (instance_id, subscription_id)
        );
        CREATE INDEX subscriptions_by_message ON subscriptions (message, correlation);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            instance_id INTEGER NOT NULL,
            at_us INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            node TEXT,
            data TEXT NOT NULL
        );
        CREATE INDEX audit_by_instance ON audit (instance_id, id);",
        ),
        // People sign in to the workflow API with tokens of their own (stored hashed).
        M::up(
            "CREATE TABLE user_tokens (
            hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL
        );",
        ),
        // Forms (Camunda Forms JSON) by key; a version per distinct schema.
        M::up(
            "CREATE TABLE forms (
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            schema TEXT NOT NULL,
            deployed_us INTEGER NOT NULL,
            PRIMARY KEY (key, version)
        );",
        ),
        // Webhook calls of service tasks: attempts and when to try again.
        M::up(
            "CREATE TABLE webhook_attempts (
            instance_id INTEGER NOT NULL,
            task_id INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            next_try_us INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            PRIMARY KEY (instance_id, task_id)
        );",
        ),
        // Instances started by a collected event: the event's message id, so that a retried
        // event does not start a second one.
        M::up(
            "ALTER TABLE instances ADD COLUMN start_key TEXT;
            CREATE UNIQUE INDEX instances_start_key ON instances (start_key) WHERE start_key IS NOT NULL;",
        ),
        // Browser sessions of the web app (the hash of the cookie's id).
        M::up(
            "CREATE TABLE sessions (
            hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            expires_us INTEGER NOT NULL
        );",
        ),
        // Sign-in links already used (the hash of each), so that each works once.
        M::up(
            "CREATE TABLE used_links (
            hash TEXT PRIMARY KEY,
            expires_us INTEGER NOT NULL
        );",
        ),
        // Segregation of duties: each task knows whose request it belongs to, and whether the
        // process routed it to that requester (her own steps) or to someone deciding on it.
        M::up(
            "ALTER TABLE tasks ADD COLUMN requester TEXT NOT NULL DEFAULT '';
            ALTER TABLE tasks ADD COLUMN for_requester INTEGER NOT NULL DEFAULT 0;
            UPDATE tasks SET requester = COALESCE(
                (SELECT requester FROM instances WHERE instances.id = tasks.instance_id), '');
            UPDATE tasks SET for_requester = (assignee IS NOT NULL AND assignee = requester);",
        ),
        // Track calls sent with a server key wait here, written in their event's transaction,
        // until the workflow has taken them; each (message, instance) is delivered once.
        // Keys and people's tokens in one table, to list, expire and revoke them; people can
        // be disabled (their tokens, sessions and links end).
        M::up(
            "CREATE TABLE keys (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL CHECK (kind IN ('admin', 'write', 'server', 'worker', 'person')),
                user_id TEXT,
                label TEXT NOT NULL DEFAULT '',
                topics TEXT NOT NULL DEFAULT '',
                created_us INTEGER NOT NULL DEFAULT 0,
                expires_us INTEGER,
                revoked_us INTEGER
            );
            CREATE INDEX keys_by_user ON keys (user_id) WHERE user_id IS NOT NULL;
            INSERT INTO keys (id, hash, kind, label)
                SELECT 'k_' || substr(hash, 1, 16), hash, kind, 'configured' FROM api_keys;
            INSERT INTO keys (id, hash, kind, user_id, label)
                SELECT 'k_' || substr(hash, 1, 16), hash, 'person', user_id, 'access token' FROM user_tokens;
            DROP TABLE api_keys;
            DROP TABLE user_tokens;
            ALTER TABLE users ADD COLUMN disabled_us INTEGER;",
        ),
        M::up(
            "CREATE TABLE message_outbox (seq INTEGER PRIMARY KEY);
            CREATE TABLE message_deliveries (
                message_id TEXT NOT NULL,
                instance_id INTEGER NOT NULL,
                PRIMARY KEY (message_id, instance_id)
            );",
        ),
        // A session begun with an access token ends with it (revoked, or past its end).
        M::up("ALTER TABLE sessions ADD COLUMN key_id TEXT;"),
        // Mail kept in the app (the demo's mailbox) instead of sent through SMTP.
        M::up(
            "CREATE TABLE mailbox (
                id INTEGER PRIMARY KEY,
                user_id TEXT NOT NULL,
                address TEXT NOT NULL,
                subject TEXT NOT NULL,
                body TEXT NOT NULL,
                message_id TEXT NOT NULL UNIQUE,
                sent_us INTEGER NOT NULL
            );
            CREATE INDEX mailbox_by_user ON mailbox (user_id, id);",
        ),
        // What the analyses read of each collected event, without its JSON (see `facts.rs`),
        // filled in for the events already stored; identity merges, for readers that follow them.
        M::up_with_hook(
            "CREATE TABLE event_facts (
                seq INTEGER PRIMARY KEY,
                kind INTEGER NOT NULL,
                user_id TEXT,
                anonymous_id TEXT,
                timestamp_us INTEGER NOT NULL,
                facts BLOB NOT NULL
            );
            CREATE TABLE profile_merges (
                id INTEGER PRIMARY KEY,
                merged INTEGER NOT NULL,
                survivor INTEGER NOT NULL
            );",
            |transaction: &rusqlite::Transaction| {
                facts::backfill(transaction)
                    .map_err(|e| rusqlite_migration::HookError::Hook(e.to_string()))
            },
        ),
        // Work the server does by itself (a due timer, a webhook call, an email), found by its
        // due time through an index instead of by reading every open task, and leased to one
        // node at a time (see `Work::claim_jobs`). Filled in from the timers and open tasks.
        M::up(JOBS),
        // Open tasks found by whom they are for, and a request's jobs by the request (see
        // `OPEN_WORK_INDEXES`).
        M::up(OPEN_WORK_INDEXES),
        // Analyses saved under a name and shared by link (see `SavedViews`).
        M::up(SAVED_VIEWS),
        // Who opened whose profile in Customer 360, and when (see `Identities::note_lookup`).
        M::up(
            "CREATE TABLE lookups (
                id INTEGER PRIMARY KEY,
                viewer TEXT NOT NULL,
                identifier TEXT NOT NULL,
                label TEXT NOT NULL,
                at_us INTEGER NOT NULL
            );
            CREATE INDEX lookups_by_viewer ON lookups (viewer, id);",
        ),
        // Who saved each journey version, and comments on journeys (see `JourneyTalk`).
        M::up(JOURNEY_TALK),
        // Alert rules on KPIs and the alerts they raised (see `Alerts`).
        M::up(ALERTS),
        // Opportunities and initiatives (see `Plans`).
        M::up(PLANS),
        // When each person was last asked for feedback (see `SurveyAsks`).
        M::up(SURVEY_ASKS),
        // Journey versions proposed for approval (see `Proposals`).
        M::up(PROPOSALS),
        // A new profile's id is past every id merged away (`identity.rs`), found by this index.
        M::up("CREATE INDEX profile_merges_by_merged ON profile_merges (merged);"),
        // Work one node at a time does for all (see `Leases`).
        M::up(leases::SCHEMA),
    ]
}

/// The schema of `Proposals` (as PostgreSQL's eleventh step). Ids are never used again.
const PROPOSALS: &str = "CREATE TABLE journey_proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        journey TEXT NOT NULL,
        label TEXT NOT NULL,
        source TEXT NOT NULL,
        base INTEGER NOT NULL,
        proposed_by TEXT NOT NULL,
        proposed_us INTEGER NOT NULL,
        request INTEGER,
        status TEXT NOT NULL,
        decided_by TEXT,
        decided_us INTEGER,
        note TEXT,
        version INTEGER
    );
    CREATE INDEX journey_proposals_by_journey ON journey_proposals (journey, id);";

/// The schema of `SurveyAsks` (as PostgreSQL's tenth step).
const SURVEY_ASKS: &str = "CREATE TABLE survey_asks (
        person TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        asked_us INTEGER NOT NULL
    );";

/// The schema of `Plans` (as PostgreSQL's ninth step). Ids are never used again.
const PLANS: &str = "CREATE TABLE plans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        updated_us INTEGER NOT NULL,
        revision INTEGER NOT NULL
    );
    CREATE INDEX plans_by_kind ON plans (kind, id);";

/// The schema of `Alerts` (as PostgreSQL's eighth step). Ids are never used again, so a link to
/// an alert never opens another.
const ALERTS: &str = "CREATE TABLE alert_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        journey TEXT NOT NULL,
        kpi TEXT NOT NULL,
        rule TEXT NOT NULL,
        webhook TEXT,
        author TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        checked_us INTEGER,
        removed_us INTEGER
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rule INTEGER NOT NULL,
        journey TEXT NOT NULL,
        kpi TEXT NOT NULL,
        opened_us INTEGER NOT NULL,
        last_us INTEGER NOT NULL,
        buckets INTEGER NOT NULL,
        detail TEXT NOT NULL,
        acknowledged_by TEXT,
        acknowledged_us INTEGER,
        resolved_by TEXT,
        resolved_us INTEGER,
        notified_us INTEGER
    );
    CREATE INDEX alerts_by_rule ON alerts (rule, id);";

/// The schema of `JourneyTalk` (as PostgreSQL's seventh step). Comment ids are never used
/// again, so a link to a removed comment never opens another.
const JOURNEY_TALK: &str = "CREATE TABLE journey_changes (
        journey TEXT NOT NULL,
        version INTEGER NOT NULL,
        author TEXT NOT NULL,
        summary TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        PRIMARY KEY (journey, version)
    );
    CREATE TABLE journey_comments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        journey TEXT NOT NULL,
        target TEXT NOT NULL,
        parent INTEGER,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        resolved_by TEXT,
        resolved_us INTEGER
    );
    CREATE INDEX journey_comments_by_journey ON journey_comments (journey, id);";

/// Saved analyses (as PostgreSQL's fifth step): a funnel, flow or conformance view of a journey,
/// as the query string that asks it again, under a name. Ids are never used again (a shared
/// link to a removed analysis must not open another one), as PostgreSQL's identity.
const SAVED_VIEWS: &str = "CREATE TABLE saved_views (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        journey TEXT NOT NULL,
        query TEXT NOT NULL,
        created_us BIGINT NOT NULL
    );
    CREATE INDEX saved_views_by_owner ON saved_views (owner, id);";

/// Indexes that keep a step and an inbox independent of how much work is open elsewhere
/// (shared with PostgreSQL's third step). The old `tasks_open (status, created_us)` led both
/// backends' planners to read every open task to end one request's tasks or to list one
/// person's inbox; these are partial, so they hold only open tasks:
/// - `tasks_open_by_assignee`: a person's assigned tasks, in inbox order;
/// - `tasks_open_offered`: unassigned user tasks (offered to candidates), in creation order;
/// - `tasks_open_workers`: worker tasks, in creation order;
/// - `jobs_by_instance`: the jobs a step ends with its request's timers and tasks.
pub(crate) const OPEN_WORK_INDEXES: &str = "DROP INDEX tasks_open;
    CREATE INDEX tasks_open_by_assignee ON tasks (assignee, created_us, instance_id, task_id)
        WHERE status = 'open' AND assignee IS NOT NULL;
    CREATE INDEX tasks_open_offered ON tasks (created_us, instance_id, task_id)
        WHERE status = 'open' AND kind = 'user' AND assignee IS NULL;
    CREATE INDEX tasks_open_workers ON tasks (created_us, instance_id, task_id)
        WHERE status = 'open' AND kind = 'worker';
    CREATE INDEX jobs_by_instance ON jobs (instance_id);";

/// The jobs table and its filling from an older schema (shared with PostgreSQL's first step).
pub(crate) const JOBS: &str = "CREATE TABLE jobs (
        kind TEXT NOT NULL,
        instance_id BIGINT NOT NULL,
        item BIGINT NOT NULL,
        due_us BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, instance_id, item)
    );
    CREATE INDEX jobs_due ON jobs (kind, due_us);
    INSERT INTO jobs (kind, instance_id, item, due_us)
        SELECT 'timer', instance_id, timer_id, due_us FROM timers;
    INSERT INTO jobs (kind, instance_id, item, due_us)
        SELECT CASE WHEN t.topic LIKE 'webhook:%' THEN 'webhook' ELSE 'mail' END, t.instance_id,
               t.task_id, coalesce(w.next_try_us, 0)
        FROM tasks t LEFT JOIN webhook_attempts w ON w.instance_id = t.instance_id AND w.task_id = t.task_id
        WHERE t.status = 'open' AND t.kind = 'worker' AND (t.topic LIKE 'webhook:%' OR t.topic LIKE 'email:%');";

pub(crate) fn row_to_event(row: &rusqlite::Row) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        event: NewEvent {
            message_id: row.get(1)?,
            kind: row.get(2)?,
            name: row.get(3)?,
            user_id: row.get(4)?,
            anonymous_id: row.get(5)?,
            timestamp_us: row.get(6)?,
            received_us: row.get(7)?,
            body: row.get(8)?,
        },
        profile: row.get(9)?,
    })
}

fn journey_row(row: &rusqlite::Row) -> rusqlite::Result<DeployedJourney> {
    Ok(DeployedJourney {
        id: row.get(0)?,
        version: row.get(1)?,
        label: row.get(2)?,
        source: row.get(3)?,
        deployed_us: row.get(4)?,
    })
}

/// The system clock in µs since the epoch, for checks without a caller's clock (key expiry).
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

pub(crate) fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A caller's events waiting for a commit, and where its outcome goes.
struct Pending {
    events: Vec<NewEvent>,
    /// Each event's facts, made by the caller before it queued (the writer only inserts them).
    facts: Vec<(facts::Kind, Vec<u8>)>,
    /// Whether its track calls go to the message outbox ([`Store::append_driving`]).
    driving: bool,
    done: mpsc::SyncSender<Result<Appended, String>>,
}

/// The connection that writes, and what it remembers of the identity graph.
struct Writer {
    connection: Connection,
    known: identity::Known,
    /// Set when adding to the index failed after a commit: the next commit first catches up.
    index_behind: bool,
}

impl Writer {
    /// Adds to the index what a failed index write left out, before duplicates are checked.
    fn catch_up(&mut self, index: &index::EventIndex) -> Result<(), StoreError> {
        if self.index_behind {
            catch_up(&self.connection, index)?;
            self.index_behind = false;
        }
        Ok(())
    }
}

/// SQLite in WAL mode with full synchronous commits.
///
/// Writes go through one connection with group commit: callers queue their events, and whoever
/// holds the writer commits everything queued in one transaction (one fsync), then hands each
/// caller its own outcome. Reads use a second connection, so they never wait for an fsync (an
/// in-memory store has only the one connection).
pub struct SqliteStore {
    writer: Mutex<Writer>,
    /// `None` when opened for reading only, beside a running server (which holds the index).
    index: Option<index::EventIndex>,
    reader: Option<Mutex<Connection>>,
    pending: Mutex<Vec<Pending>>,
    identifier_traits: Vec<String>,
    checkpointer: Option<Checkpointer>,
    /// Parsed process definitions, shared by the instances that run them.
    definitions: workflow::Definitions,
    /// The processes collected events start, with the versions they were read from.
    message_starts: workflow::MessageStarts,
    /// Workflow steps waiting for the next group commit.
    steps: Mutex<Vec<workflow::QueuedStep>>,
    /// What the database file is in, for its free space (`None` in memory).
    directory: Option<std::path::PathBuf>,
    /// The database file (none in memory): long readings (the live log's) open a connection of
    /// their own, so they never hold the one other reads share.
    path: Option<std::path::PathBuf>,
    /// Why the last write failed, until a write succeeds again (`/healthz` reports it).
    failing: Mutex<Option<String>>,
    /// Held while the message outbox is handed to the workflow.
    outbox_turn: Mutex<()>,
    /// Raised when a step adds a job.
    jobs: workflow::JobSignal,
}

/// A thread that checkpoints the WAL every second until it is dropped. (Every 200 ms gave
/// 20% less throughput under load: the same hot index pages were copied again and again.)
struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(1000);

    fn start(connection: Connection) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("waymark-checkpoint".to_string())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                    // PASSIVE never blocks the writer; what it cannot copy now it copies next time.
                    if let Err(error) =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(%error, "WAL checkpoint failed; retrying");
                    }
                }
            })
            .ok();
        Checkpointer {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("identifier_traits", &self.identifier_traits)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let index_directory = std::path::PathBuf::from(format!("{}.index", path.display()));
        let mut store = Self::setup(Connection::open(path)?, Some(&index_directory))?;
        let reader = Connection::open(path)?;
        reader.pragma_update(None, "query_only", "ON")?;
        reader.pragma_update(None, "cache_size", -65_536)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        store.reader = Some(Mutex::new(reader));
        store.path = Some(path.to_path_buf());
        store.directory = Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf),
        );
        // Checkpoints (copying the WAL into the database file, and its fsync) run on a thread of
        // their own, so the writer only ever pays for its own commit. The writer still
        // checkpoints by itself if the WAL grows past 200 MB, in case this thread falls behind.
        store
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .connection
            .pragma_update(None, "wal_autocheckpoint", 50_000)?;
        store.checkpointer = Some(Checkpointer::start(Connection::open(path)?));
        Ok(store)
    }

    /// Opens a database for reading its events while another process (a running server) has it
    /// open: events and their order, not profiles or timelines (they need the server's index),
    /// and no writes. The database must be at the current schema.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let connection =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let current = migrations().current_version(&connection)?;
        let latest = latest_version();
        if current != latest {
            return Err(StoreError::Index(format!(
                "{} is at schema {current}, not {latest}; open it once with `waymark serve` or `waymark import` to upgrade it",
                path.display()
            )));
        }
        Ok(SqliteStore {
            writer: Mutex::new(Writer {
                connection,
                known: identity::Known::default(),
                index_behind: false,
            }),
            index: None,
            reader: None,
            pending: Mutex::new(Vec::new()),
            checkpointer: None,
            identifier_traits: default_identifier_traits(),
            definitions: Default::default(),
            message_starts: Default::default(),
            steps: Mutex::new(Vec::new()),
            directory: None,
            path: None,
            failing: Mutex::new(None),
            outbox_turn: Mutex::new(()),
            jobs: Default::default(),
        })
    }

    fn index(&self) -> Result<&index::EventIndex, StoreError> {
        self.index.as_ref().ok_or_else(|| {
            StoreError::Index(
                "this store was opened for reading events only (a server has the database); profiles, timelines and writes need the server".to_string(),
            )
        })
    }

    /// A private in-memory database, for tests and one-off analyses.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    /// Opens the event index (in `index_directory`, else a temporary one) and adds the events
    /// it lacks.
    fn setup(
        mut connection: Connection,
        index_directory: Option<&Path>,
    ) -> Result<Self, StoreError> {
        // WAL lets readers work while a writer commits; FULL makes each commit durable before
        // `append` returns, which is what acknowledging an event promises.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // The writer mostly appends pages it never reads again: a small cache (16 MB) is enough
        // for the identity graph and automation, and bounds what a long load keeps in memory.
        connection.pragma_update(None, "cache_size", -16_384)?;
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(&mut connection)?;
        let store_id: String = connection.query_row(
            "SELECT value FROM store_meta WHERE key = 'store_id'",
            [],
            |r| r.get(0),
        )?;
        let index = match index_directory {
            Some(directory) => index::EventIndex::open(directory, &store_id)?,
            None => index::EventIndex::temporary()?,
        };
        catch_up(&connection, &index)?;
        Ok(SqliteStore {
            index: Some(index),
            writer: Mutex::new(Writer {
                connection,
                known: identity::Known::default(),
                index_behind: false,
            }),
            reader: None,
            pending: Mutex::new(Vec::new()),
            checkpointer: None,
            identifier_traits: default_identifier_traits(),
            definitions: Default::default(),
            message_starts: Default::default(),
            steps: Mutex::new(Vec::new()),
            directory: None,
            path: None,
            failing: Mutex::new(None),
            outbox_turn: Mutex::new(()),
            jobs: Default::default(),
        })
    }

    /// The traits that identify a person (default: `email` and `phone`): events carrying the same
    /// value merge into one profile. Applies to events stored from now on.
    pub fn with_identifier_traits(mut self, traits: Vec<String>) -> Self {
        self.identifier_traits = traits;
        self
    }

    /// Runs a read on the reader connection (the writer's, in memory).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.reader {
            Some(reader) => f(&mut reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            None => f(&mut self.writer().connection),
        }
    }

    /// The writer. A panic while it was held (a bug) left any transaction rolled back by the
    /// unwinding; its caches may hold what was rolled back, so they are dropped and the writer
    /// goes on, never refusing every later write.
    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        match self.writer.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                tracing::error!("a write stopped on a bug earlier; the writer's caches are reset");
                guard.known = Default::default();
                guard.index_behind = true;
                self.writer.clear_poison();
                guard
            }
        }
    }

    /// Queues events for the next group commit and waits for its outcome.
    fn append_queued(&self, events: Vec<NewEvent>, driving: bool) -> Result<Appended, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        // Reading each event's JSON for its facts is done here, on the caller's thread, so that
        // callers do it side by side rather than one after another under the writer.
        let facts = events.iter().map(facts::of).collect();
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Pending {
                events,
                facts,
                driving,
                done,
            });

        {
            let mut writer = self.writer();
            // While we waited for the writer, its holder may have committed our events too.
            // Otherwise they are still queued, and we commit them with everyone else's.
            if let Ok(result) = outcome.try_recv() {
                return result.map_err(StoreError::Commit);
            }
            let group = std::mem::take(
                &mut *self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let committed = self.commit_group(&mut writer, &group);
            self.note_write(committed.as_ref().err());
            match committed {
                Ok(outcomes) => {
                    for (pending, appended) in group.iter().zip(outcomes) {
                        let _ = pending.done.send(Ok(appended));
                    }
                }
                Err(error) => {
                    writer.known.clear();
                    tracing::error!(%error, callers = group.len(), "group commit failed");
                    for pending in &group {
                        let _ = pending.done.send(Err(error.to_string()));
                    }
                }
            }
        }
        outcome
            .recv()
            .map_err(|_| StoreError::Poisoned)?
            .map_err(StoreError::Commit)
    }

    /// Runs a write on the writer connection.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut self.writer().connection)
    }

    /// Inserts every queued caller's events in one transaction and commits once, then adds them
    /// to the index (still holding the writer, so no duplicate can slip in between).
    fn commit_group(
        &self,
        writer: &mut Writer,
        group: &[Pending],
    ) -> Result<Vec<Appended>, StoreError> {
        writer.catch_up(self.index()?)?;
        let transaction = writer.connection.transaction()?;
        let mut outcomes = Vec::with_capacity(group.len());
        let mut stored: Vec<(&NewEvent, i64)> = Vec::new();
        let mut fresh = std::collections::HashSet::new();
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO events (message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for pending in group {
                let mut outcome = Appended::default();
                for (e, (kind, facts)) in pending.events.iter().zip(&pending.facts) {
                    if fresh.contains(e.message_id.as_str())
                        || self.index()?.contains(&e.message_id)?
                    {
                        outcome.duplicates += 1;
                        continue;
                    }
                    insert.execute(params![
                        e.message_id,
                        e.kind,
                        e.name,
                        e.user_id,
                        e.anonymous_id,
                        e.timestamp_us,
                        e.received_us,
                        e.body
                    ])?;
                    let seq = transaction.last_insert_rowid();
                    if pending.driving && e.kind == "track" && e.user_id.is_some() {
                        transaction
                            .prepare_cached("INSERT INTO message_outbox (seq) VALUES (?1)")?
                            .execute(params![seq])?;
                    }
                    facts::insert(&transaction, seq, e, *kind, facts)?;
                    stored.push((e, seq));
                    fresh.insert(e.message_id.as_str());
                    identity::link(&transaction, e, &self.identifier_traits, &mut writer.known)?;
                    outcome.inserted += 1;
                }
                outcomes.push(outcome);
            }
        }
        transaction.commit()?;
        let entries: Vec<index::Entry> = stored
            .iter()
            .map(|(e, seq)| index::Entry {
                message_id: &e.message_id,
                seq: *seq,
                timestamp_us: e.timestamp_us,
                user_id: e.user_id.as_deref(),
                anonymous_id: e.anonymous_id.as_deref(),
            })
            .collect();
        if let Err(error) = self.index()?.add(&entries) {
            // The events are committed, so they are acknowledged; the next commit re-reads them
            // into the index before it checks for duplicates.
            tracing::error!(%error, "the event index is behind; catching up on the next commit");
            writer.index_behind = true;
        }
        Ok(outcomes)
    }
}

/// Keeps `source` as a new version under `id` when it differs from the latest one (read with
/// `latest`, which selects the version and the text for `?1`); `insert` writes the new version's
/// row. Returns the version, and whether it is new.
pub(crate) fn keep_version(
    transaction: &rusqlite::Transaction,
    latest: &str,
    id: &str,
    source: &str,
    insert: impl FnOnce(i64) -> rusqlite::Result<usize>,
) -> Result<(i64, bool), StoreError> {
    let found: Option<(i64, String)> = transaction
        .query_row(latest, params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match found {
        Some((version, same)) if same == source => (version, false),
        other => {
            let version = other.map_or(1, |(v, _)| v + 1);
            insert(version)?;
            (version, true)
        }
    })
}

/// Adds to the index every stored event it does not have yet, in seq order.
fn catch_up(connection: &Connection, index: &index::EventIndex) -> Result<(), StoreError> {
    let mut after = index.indexed_seq()?;
    let newest: i64 =
        connection.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
    if after > newest {
        return Err(StoreError::Index(format!(
            "the index holds events up to {after} but the database only up to {newest}; remove the index directory to rebuild it"
        )));
    }
    let mut query = connection.prepare_cached(
        "SELECT seq, message_id, timestamp_us, user_id, anonymous_id FROM events WHERE seq > ?1 ORDER BY seq LIMIT 50000",
    )?;
    loop {
        let rows = query
            .query_map(params![after], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.0;
        let entries: Vec<index::Entry> = rows
            .iter()
            .map(|(seq, message_id, time, user, anonymous)| index::Entry {
                message_id,
                seq: *seq,
                timestamp_us: *time,
                user_id: user.as_deref(),
                anonymous_id: anonymous.as_deref(),
            })
            .collect();
        index.add(&entries)?;
        tracing::info!(up_to = after, "event index caught up");
    }
}

impl SqliteStore {
    fn profile_id(
        &self,
        connection: &Connection,
        identifier: &str,
    ) -> Result<Option<i64>, StoreError> {
        identity::find(connection, identifier, &self.identifier_traits)
    }
}

impl crate::Events for SqliteStore {
    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        self.append_queued(events, false)
    }

    fn append_driving(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        self.append_queued(events, true)
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT seq, message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body, COALESCE((SELECT profile_id FROM identities WHERE identifier = 'user:' || user_id), (SELECT profile_id FROM identities WHERE identifier = 'anon:' || anonymous_id))
                 FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = query.query_map(params![after_seq, limit as i64], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn append_traces(&self, traces: Vec<NewTrace>) -> Result<Appended, StoreError> {
        let mut outcome = Appended::default();
        let mut earlier = Vec::new();
        {
            let mut guard = self.writer();
            let writer = &mut *guard;
            writer.catch_up(self.index()?)?;
            let transaction = writer.connection.transaction()?;
            for trace in &traces {
                // Imports before blocks existed stored a row per event: such a case goes on
                // as rows, where its message ids are checked one by one.
                if let Some(id) = traces::first_message_id(trace)
                    && self.index()?.contains(&id)?
                {
                    earlier.extend(traces::as_rows(trace)?);
                    continue;
                }
                let inserted = traces::insert(&transaction, trace)?;
                outcome.inserted += inserted;
                outcome.duplicates += trace.len() - inserted;
                if inserted > 0 {
                    identity::link(
                        &transaction,
                        &traces::identity_call(trace),
                        &self.identifier_traits,
                        &mut writer.known,
                    )?;
                }
            }
            if let Err(error) = transaction.commit() {
                writer.known.clear();
                return Err(error.into());
            }
        }
        if !earlier.is_empty() {
            let rows = self.append(earlier)?;
            outcome.inserted += rows.inserted;
            outcome.duplicates += rows.duplicates;
        }
        Ok(outcome)
    }

    fn traces_after(&self, after_id: i64, limit: usize) -> Result<Vec<StoredTrace>, StoreError> {
        self.with(|connection| traces::after(connection, after_id, limit))
    }

    fn trace_blocks_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<TraceBlock>, StoreError> {
        self.with(|connection| traces::blocks_after(connection, after_id, limit))
    }

    fn count_events(&self) -> Result<u64, StoreError> {
        self.with(|connection| {
            let count: i64 = connection.query_row(
                "SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(events), 0) FROM traces)",
                [],
                |row| row.get(0),
            )?;
            Ok(count as u64)
        })
    }

    fn read_facts(
        &self,
        since: facts::Since,
        message_ids: bool,
        visit: &mut dyn FnMut(facts::Change<'_>) -> Result<(), StoreError>,
    ) -> Result<facts::Since, StoreError> {
        match &self.path {
            Some(path) => {
                let mut connection = Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(std::time::Duration::from_secs(5))?;
                facts::read(&mut connection, since, message_ids, visit)
            }
            None => self.with(|connection| facts::read(connection, since, message_ids, visit)),
        }
    }

    fn watermark(&self) -> Result<facts::Since, StoreError> {
        self.with(|connection| {
            Ok(connection.query_row(facts::WATERMARK, [], |row| {
                Ok(facts::Since {
                    seq: row.get(0)?,
                    merge: row.get(1)?,
                    block: row.get(2)?,
                })
            })?)
        })
    }
}

impl crate::Journeys for SqliteStore {
    fn deploy_journey(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let outcome = keep_version(
                &transaction,
                "SELECT version, source FROM journeys WHERE id = ?1 ORDER BY version DESC LIMIT 1",
                id,
                source,
                |version| {
                    transaction.execute(
                        "INSERT INTO journeys (id, version, label, source, deployed_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, version, label, source, now_us],
                    )
                },
            )?;
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn deploy_journey_after(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
        expected: i64,
    ) -> Result<Option<(i64, bool)>, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let latest: i64 = transaction.query_row(
                "SELECT coalesce(max(version), 0) FROM journeys WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            if latest != expected {
                return Ok(None);
            }
            let outcome = keep_version(
                &transaction,
                "SELECT version, source FROM journeys WHERE id = ?1 ORDER BY version DESC LIMIT 1",
                id,
                source,
                |version| {
                    transaction.execute(
                        "INSERT INTO journeys (id, version, label, source, deployed_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, version, label, source, now_us],
                    )
                },
            )?;
            transaction.commit()?;
            Ok(Some(outcome))
        })
    }

    fn journeys(&self) -> Result<Vec<DeployedJourney>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT id, version, label, source, deployed_us FROM journeys j
                 WHERE version = (SELECT max(version) FROM journeys k WHERE k.id = j.id) ORDER BY id",
            )?;
            let rows = query.query_map([], journey_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn journey_versions(&self, id: &str) -> Result<Vec<DeployedJourney>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT id, version, label, source, deployed_us FROM journeys WHERE id = ?1 ORDER BY version",
            )?;
            let rows = query.query_map(params![id], journey_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn journey(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedJourney>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT id, version, label, source, deployed_us FROM journeys
                     WHERE id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                )?
                .query_row(params![id, version], journey_row)
                .optional()?)
        })
    }
}

impl crate::Identities for SqliteStore {
    fn profile(&self, identifier: &str) -> Result<Option<Profile>, StoreError> {
        self.with(
            |connection| match self.profile_id(connection, identifier)? {
                Some(id) => identity::profile(connection, self.index()?, id),
                None => Ok(None),
            },
        )
    }

    fn timeline(
        &self,
        identifier: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        self.with(
            |connection| match self.profile_id(connection, identifier)? {
                Some(id) => {
                    identity::timeline(connection, self.index()?, id, before_seq, limit).map(Some)
                }
                None => Ok(None),
            },
        )
    }

    fn find_people(&self, text: &str, limit: usize) -> Result<Vec<PersonFound>, StoreError> {
        self.with(|connection| identity::find_people(connection, text, limit))
    }

    fn note_lookup(
        &self,
        viewer: &str,
        identifier: &str,
        label: &str,
        at_us: i64,
    ) -> Result<(), StoreError> {
        self.write(|connection| lookups::note(connection, viewer, identifier, label, at_us))
    }

    fn recent_lookups(
        &self,
        viewer: &str,
        limit: usize,
    ) -> Result<Vec<lookups::Lookup>, StoreError> {
        self.with(|connection| lookups::recent(connection, viewer, limit))
    }

    fn search_profiles(&self, trait_name: &str, value: &str) -> Result<Vec<Profile>, StoreError> {
        self.with(|connection| {
            let ids = identity::search(connection, trait_name, value)?;
            let mut profiles = Vec::new();
            for id in ids {
                if let Some(profile) = identity::profile(connection, self.index()?, id)? {
                    profiles.push(profile);
                }
            }
            Ok(profiles)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
        let mut connection = Connection::open_in_memory().expect("db");
        migrations().to_latest(&mut connection).expect("migrate");
        assert_eq!(
            migrations().current_version(&connection).expect("version"),
            latest_version(),
            "a migrated database is at the latest version"
        );
        assert_eq!(latest_version().to_string(), "31 (inside)");
    }

    /// Analyses can read the events while a server has the database open.
    #[test]
    fn events_can_be_read_beside_a_running_store() {
        let path = scratch("read-only");
        let server = SqliteStore::open(&path).expect("open");
        server
            .append(vec![event("a", "u1", 1), event("b", "u1", 2)])
            .expect("append");
        let reader = SqliteStore::open_read_only(&path).expect("read-only");
        let events = reader.events_after(0, 10).expect("events");
        assert_eq!(events.len(), 2);
        assert!(
            events.iter().all(|e| e.profile.is_some()),
            "profiles via identities"
        );
        assert!(reader.append(vec![event("c", "u1", 3)]).is_err());
        let error = reader
            .timeline("u1", None, 10)
            .expect_err("needs the index");
        assert!(error.to_string().contains("reading events only"), "{error}");
    }

    /// A database written before events carried their profile gets it filled in on upgrade.
    #[test]
    fn upgrading_fills_in_each_events_profile() {
        let mut connection = Connection::open_in_memory().expect("db");
        migrations()
            .to_version(&mut connection, 3)
            .expect("old schema");
        connection
            .execute_batch(
                "INSERT INTO profiles (id) VALUES (7), (9);
                 INSERT INTO identities VALUES ('user:u1', 7), ('anon:a1', 7), ('anon:a2', 9);
                 INSERT INTO events (message_id, kind, user_id, anonymous_id, timestamp_us, received_us, body) VALUES
                   ('m1', 'track', 'u1', NULL, 1, 1, '{}'),
                   ('m2', 'page', NULL, 'a1', 2, 2, '{}'),
                   ('m3', 'page', NULL, 'a2', 3, 3, '{}'),
                   ('m4', 'track', 'u1', 'a2', 4, 4, '{}');",
            )
            .expect("old rows");
        migrations()
            .to_version(&mut connection, 4)
            .expect("upgrade");
        let profiles: Vec<(String, Option<i64>)> = connection
            .prepare("SELECT message_id, profile_id FROM events ORDER BY seq")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read");
        let expected = [("m1", 7), ("m2", 7), ("m3", 9), ("m4", 7)]
            .map(|(m, p)| (m.to_string(), Some(p)))
            .to_vec();
        assert_eq!(profiles, expected, "the user id wins over the anonymous id");
    }

    fn event(id: &str, user: &str, at: i64) -> NewEvent {
        NewEvent {
            message_id: id.to_string(),
            kind: "track".to_string(),
            name: Some("Viewed".to_string()),
            user_id: Some(user.to_string()),
            anonymous_id: None,
            timestamp_us: at,
            received_us: at,
            body: "{}".to_string(),
        }
    }

    /// A profile's id names one person for good: after the newest profile is merged into an
    /// older one, the next new person gets a new id (SQLite would give the merged one again),
    /// so a reader replaying the merges never takes the new person for the merged one.
    #[test]
    fn a_merged_profile_s_id_is_never_given_again() {
        let store = SqliteStore::open_in_memory().expect("store");
        let mut first = event("m1", "u1", 1);
        first.user_id = Some("u1".into());
        let mut anonymous = event("m2", "ignored", 2);
        anonymous.user_id = None;
        anonymous.anonymous_id = Some("a1".into());
        store.append(vec![first, anonymous]).expect("two people");
        let newest = store.profile("a1").expect("read").expect("a profile").id;
        let mut linking = event("m3", "u1", 3);
        linking.anonymous_id = Some("a1".into());
        store.append(vec![linking]).expect("merged");
        let survivor = store.profile("a1").expect("read").expect("a profile").id;
        assert_ne!(survivor, newest, "the newest profile was merged away");
        store
            .append(vec![event("m4", "u2", 4)])
            .expect("a new person");
        let next = store.profile("u2").expect("read").expect("a profile").id;
        assert!(
            next > newest,
            "a new person got id {next}, merged id {newest}"
        );
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("waymark-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("waymark.db")
    }

    /// A database file at schema `version` holding `rows` (SQL), as an older Waymark left it.
    fn old_database(name: &str, version: usize, rows: &str) -> std::path::PathBuf {
        let path = scratch(name);
        let mut connection = Connection::open(&path).expect("db");
        migrations()
            .to_version(&mut connection, version)
            .expect("old schema");
        connection.execute_batch(rows).expect("old rows");
        path
    }

    /// Events stored before their facts were kept get them on upgrade: the analyses read them
    /// (with their properties and the traits of their person) without their JSON.
    #[test]
    fn upgrading_fills_in_the_facts_of_stored_events() {
        let path = old_database(
            "facts",
            19,
            r#"INSERT INTO profiles (id) VALUES (1);
             INSERT INTO identities VALUES ('user:u1', 1);
             INSERT INTO events (message_id, kind, name, user_id, timestamp_us, received_us, body) VALUES
               ('m1', 'identify', NULL, 'u1', 5, 5, '{"traits":{"plan":"gold"}}'),
               ('m2', 'track', 'Signed Up', 'u1', 10, 10, '{"properties":{"channel":"web","seats":3}}');"#,
        );
        let store = SqliteStore::open(&path).expect("upgrade");
        let (log, skipped) = crate::stored_log(&store).expect("log");
        assert_eq!((log.cases(), log.events(), skipped), (1, 1, 0));
        let case = log.case(0);
        assert_eq!(case.name(), "u1");
        let plan = case.attribute("plan").expect("the trait");
        assert_eq!(log.value_text(&plan.value), "gold");
        let seats = log
            .event_attributes(0)
            .iter()
            .find(|a| log.resolve(a.key) == "seats")
            .expect("a property");
        assert_eq!(seats.value, waymark_eventlog::Value::Int(3));
        assert_eq!(log.resolve(log.activity_column()[0]), "Signed Up");
    }

    /// A database from before jobs existed gets one for each waiting timer and each open
    /// webhook or email task on upgrade, due when it was (a failed webhook at its next try), so
    /// nothing waiting is forgotten; done and human tasks get none.
    #[test]
    fn upgrading_makes_a_job_of_everything_waiting() {
        use crate::workflow::JobKind;
        let path = old_database(
            "jobs",
            20,
            "INSERT INTO timers VALUES (7, 1, 500);
             INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, candidate_groups, candidate_users, status, created_us)
             VALUES (7, 2, 'call', 'Call', 'worker', 'webhook:https://lms.example/hook', '', '', 'open', 1),
                    (7, 3, 'mail', 'Mail', 'worker', 'email:approved', '', '', 'open', 1),
                    (7, 4, 'old', 'Old', 'worker', 'email:done', '', '', 'completed', 1),
                    (7, 5, 'form', 'Form', 'user', NULL, '', '', 'open', 1);
             INSERT INTO webhook_attempts VALUES (7, 2, 3, 900, 'refused');",
        );
        let store = SqliteStore::open(&path).expect("upgrade");
        let claim = |kind| store.claim_jobs(kind, 10_000, 1_000, 10).expect("claim");
        let item = |jobs: Vec<crate::workflow::Job>| {
            jobs.iter()
                .map(|j| (j.instance, j.item))
                .collect::<Vec<_>>()
        };
        assert_eq!(store.next_job(JobKind::Webhook).expect("next"), Some(900));
        assert_eq!(item(claim(JobKind::Timer)), [(7, 1)]);
        assert_eq!(item(claim(JobKind::Webhook)), [(7, 2)]);
        assert_eq!(item(claim(JobKind::Mail)), [(7, 3)]);
        assert!(claim(JobKind::Mail).is_empty(), "leased");
    }

    /// Tasks stored under the old whole-table index are found through the new ones on
    /// upgrade: a person's inbox holds what is assigned to them and what is offered to them or
    /// their group, in order, and a worker's list its open tasks, nothing done or someone
    /// else's.
    #[test]
    fn upgrading_indexes_open_work_by_whom_it_is_for() {
        let path = old_database(
            "open-work",
            21,
            "INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, assignee, candidate_groups, candidate_users, status, created_us)
             VALUES (1, 1, 'a', 'Hers', 'user', NULL, 'maria', '', '', 'open', 30),
                    (2, 1, 'b', 'Her group''s', 'user', NULL, NULL, 'Finance', '', 'open', 10),
                    (3, 1, 'c', 'Named', 'user', NULL, NULL, '', 'tom,maria', 'open', 20),
                    (4, 1, 'd', 'Tom''s', 'user', NULL, 'tom', '', '', 'open', 5),
                    (5, 1, 'e', 'Done', 'user', NULL, 'maria', '', '', 'completed', 1),
                    (6, 1, 'f', 'Call', 'worker', 'lms', 'maria', '', '', 'open', 2),
                    (6, 2, 'g', 'Called', 'worker', 'lms', NULL, '', '', 'completed', 3);",
        );
        let store = SqliteStore::open(&path).expect("upgrade");
        let maria = crate::workflow::User {
            id: "maria".into(),
            name: "Maria".into(),
            email: None,
            department: None,
            manager: None,
            roles: vec!["finance".into()],
        };
        let (inbox, next) = store.tasks_for_page(&maria, None, 10).expect("inbox");
        let names = |rows: &[crate::workflow::TaskRow]| {
            rows.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&inbox), ["Her group's", "Named", "Hers"]);
        assert_eq!(next, None);
        let (first, next) = store.tasks_for_page(&maria, None, 2).expect("a page");
        assert_eq!(names(&first), ["Her group's", "Named"]);
        let (rest, _) = store.tasks_for_page(&maria, next, 2).expect("the next");
        assert_eq!(names(&rest), ["Hers"]);
        let (calls, _) = store.worker_tasks(Some("lms"), None, 10).expect("worker");
        assert_eq!(names(&calls), ["Call"]);
        let indexes: Vec<String> = store
            .with(|connection| {
                let mut query = connection.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('tasks', 'jobs') AND sql IS NOT NULL ORDER BY name",
                )?;
                let rows = query.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .expect("indexes");
        assert_eq!(
            indexes,
            [
                "jobs_by_instance",
                "jobs_due",
                "tasks_open_by_assignee",
                "tasks_open_offered",
                "tasks_open_workers"
            ]
        );
    }

    /// Events stored before the index existed are indexed on open: their duplicates are
    /// dropped and their timelines work.
    #[test]
    fn upgrading_indexes_the_events_already_stored() {
        let path = old_database(
            "upgrade",
            4,
            "INSERT INTO profiles (id) VALUES (1);
             INSERT INTO identities VALUES ('user:u1', 1);
             INSERT INTO events (message_id, kind, name, user_id, timestamp_us, received_us, body, profile_id)
             VALUES ('old-1', 'track', 'A', 'u1', 10, 10, '{}', 1), ('old-2', 'track', 'B', 'u1', 20, 20, '{}', 1);",
        );
        let store = SqliteStore::open(&path).expect("upgrade");
        let appended = store
            .append(vec![event("old-2", "u1", 20), event("new-1", "u1", 30)])
            .expect("append");
        assert_eq!((appended.inserted, appended.duplicates), (1, 1));
        let timeline = store
            .timeline("u1", None, 10)
            .expect("timeline")
            .expect("known");
        let ids: Vec<&str> = timeline
            .iter()
            .map(|e| e.event.message_id.as_str())
            .collect();
        assert_eq!(ids, ["new-1", "old-2", "old-1"]);
    }

    /// A second process (or store) on the same database is refused with a clear error, and the
    /// first one's index is left alone.
    #[test]
    fn a_second_opener_is_refused_and_the_index_is_untouched() {
        let path = scratch("second");
        let first = SqliteStore::open(&path).expect("open");
        first.append(vec![event("a", "u1", 1)]).expect("append");
        let error = SqliteStore::open(&path)
            .expect_err("the index is in use")
            .to_string();
        assert!(error.contains("another waymark process"), "{error}");
        let again = first.append(vec![event("a", "u1", 1)]).expect("append");
        assert_eq!(
            again.duplicates, 1,
            "the first store's index still knows `a`"
        );
        assert_eq!(
            first
                .timeline("u1", None, 10)
                .expect("t")
                .expect("known")
                .len(),
            1
        );
    }

    /// The index is derived: removed, it is rebuilt; beside another database, it is not used.
    #[test]
    fn a_lost_or_foreign_index_is_rebuilt_from_the_events() {
        let path = scratch("rebuild");
        let index_dir = std::path::PathBuf::from(format!("{}.index", path.display()));
        {
            let store = SqliteStore::open(&path).expect("open");
            store
                .append(vec![event("a", "u1", 1), event("b", "u1", 2)])
                .expect("append");
        }
        std::fs::remove_dir_all(&index_dir).expect("remove the index");
        {
            let store = SqliteStore::open(&path).expect("reopen");
            let again = store.append(vec![event("a", "u1", 1)]).expect("append");
            assert_eq!(again.duplicates, 1, "the rebuilt index knows `a`");
            assert_eq!(
                store
                    .timeline("u1", None, 10)
                    .expect("t")
                    .expect("known")
                    .len(),
                2
            );
        }
        // A new database beside the old index: the old message ids are not duplicates here.
        std::fs::remove_file(&path).expect("remove the database");
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = SqliteStore::open(&path).expect("new database");
        let fresh = store.append(vec![event("a", "u2", 5)]).expect("append");
        assert_eq!((fresh.inserted, fresh.duplicates), (1, 0));
        assert_eq!(store.timeline("u1", None, 10).expect("t"), None);
    }

    /// Cases imported as rows (before blocks existed) stay rows when imported again: their
    /// events are recognised by their derived message ids and only new ones are added.
    #[test]
    fn cases_imported_as_rows_go_on_as_rows() {
        let store = SqliteStore::open_in_memory().expect("store");
        let old = |position: u32, name: &str, at: i64| NewEvent {
            message_id: traces::message_id("c1", position, traces::event_key(name, at)),
            name: Some(name.to_string()),
            ..event("", "c1", at)
        };
        store
            .append(vec![old(0, "Apply", 10), old(1, "Check", 20)])
            .expect("append");
        let events = [("Apply", 10), ("Check", 20), ("Approve", 30)];
        let refs: Vec<EventRef> = events
            .iter()
            .enumerate()
            .map(|(position, &(name, timestamp_us))| EventRef {
                position: position as u32,
                name,
                timestamp_us,
                body: "{}",
            })
            .collect();
        let trace = NewTrace::pack("c1", &refs).expect("pack");
        let appended = store.append_traces(vec![trace.clone()]).expect("import");
        assert_eq!((appended.inserted, appended.duplicates), (1, 2));
        assert!(store.traces_after(0, 10).expect("blocks").is_empty());
        assert_eq!(store.count_events().expect("count"), 3);
        let again = store.append_traces(vec![trace]).expect("import");
        assert_eq!((again.inserted, again.duplicates), (0, 3));
    }
}
