//! What Waymark needs from storage, one interface per concern.
//!
//! Every backend implements all of them; [`Store`] is their union, the one handle the server, the
//! web app and the command line hold (`Arc<dyn Store>`). Nothing outside this crate names a
//! backend, and the errors are this crate's own.
//!
//! Invariant: a call that writes returns only after its writes are committed, so what was
//! acknowledged survives the process being killed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use waymark_workflow::engine::{Command, Effect};

use crate::facts;
use crate::health::Health;
use crate::keys::{Holder, KeyInfo, NewKey};
use crate::lookups::Lookup;
use crate::mailbox::Mail;
use crate::sessions::Session;
use crate::views::{NewView, SavedView};
use crate::workflow::{
    AuditRow, DeployedProcess, InstanceRow, InstanceSummary, Job, JobKind, TaskKey, TaskRow, Turn,
    User, WorkflowError,
};
use crate::workflow::{Deployment, FailingWebhook};
use crate::{
    Appended, DeployedJourney, KeyKind, NewEvent, NewTrace, PersonFound, Profile, StoreError,
    StoredEvent, StoredTrace, TraceBlock,
};

/// Collected and imported events: appended durably and exactly once, read back in arrival order,
/// and read as facts by the live log.
pub trait Events: Send + Sync {
    /// Stores events atomically, dropping those whose message id is already stored (also within
    /// the batch). Returns after the commit. Concurrent calls may share one commit.
    fn append(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError>;
    /// [`Events::append`] for events whose `track` calls may act on workflows (sent with a
    /// server key): each one stored for the first time is also put in the message outbox, in
    /// the same transaction, so it is handed to the workflow once even across a crash.
    fn append_driving(&self, events: Vec<NewEvent>) -> Result<Appended, StoreError>;
    /// Events in arrival order, after `after_seq`, at most `limit`.
    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// Stores imported cases (kept one block per case, see `traces.rs`), dropping the events
    /// already stored. Returns after the commit.
    fn append_traces(&self, traces: Vec<NewTrace>) -> Result<Appended, StoreError>;
    /// Stored blocks of imported cases in the order they were stored, after block `after_id`,
    /// at most `limit` blocks.
    fn traces_after(&self, after_id: i64, limit: usize) -> Result<Vec<StoredTrace>, StoreError>;
    /// The same blocks undecoded, for reading every event fast.
    fn trace_blocks_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<TraceBlock>, StoreError>;
    /// Collected and imported events.
    fn count_events(&self) -> Result<u64, StoreError>;
    /// Everything the analyses read that changed after `since`, in one consistent view: identity
    /// merges, collected events' facts (with their message ids when asked) and imported blocks,
    /// each handed to `visit` in order. Returns where the reading ended.
    fn read_facts(
        &self,
        since: facts::Since,
        message_ids: bool,
        visit: &mut dyn FnMut(facts::Change<'_>) -> Result<(), StoreError>,
    ) -> Result<facts::Since, StoreError>;
    /// The newest collected event's seq, identity merge and imported block's id: when none
    /// moved, nothing the analyses read changed, so an analysis of the stored events can be
    /// reused (and forwarding has nothing to send).
    fn watermark(&self) -> Result<facts::Since, StoreError>;
}

/// Identities stitched into one profile per person, and their timelines.
pub trait Identities: Send + Sync {
    /// The profile an identifier (user id, anonymous id, email, phone, …) belongs to.
    fn profile(&self, identifier: &str) -> Result<Option<Profile>, StoreError>;
    /// A profile's events across all its identifiers and channels, newest first, before
    /// `before_seq`. `None` when no profile has the identifier.
    fn timeline(
        &self,
        identifier: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError>;
    /// The profiles whose latest value of a trait is `value`.
    fn search_profiles(&self, trait_name: &str, value: &str) -> Result<Vec<Profile>, StoreError>;
    /// People found by part of one of their identifiers or of a name, email or phone they gave
    /// (any value they had), ignoring case (on SQLite, the case of ASCII letters only): at most
    /// `limit`, the earliest profiles first. It reads every identity and trait value: callers
    /// ask for a few characters at least (the web app, three).
    fn find_people(&self, text: &str, limit: usize) -> Result<Vec<PersonFound>, StoreError>;
    /// Records that `viewer` opened the profile of `identifier` (shown as `label`): the access
    /// log of Customer 360, and what each person looked at last.
    fn note_lookup(
        &self,
        viewer: &str,
        identifier: &str,
        label: &str,
        at_us: i64,
    ) -> Result<(), StoreError>;
    /// The people `viewer` looked at last, newest first, each once (at most `limit`).
    fn recent_lookups(&self, viewer: &str, limit: usize) -> Result<Vec<Lookup>, StoreError>;
}

/// Journey files, versioned as deployed.
pub trait Journeys: Send + Sync {
    /// Keeps a journey file under `id`: a new version when it differs from the latest one, else
    /// the latest version again. Returns the version, and whether it is new.
    fn deploy_journey(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError>;
    /// [`Journeys::deploy_journey`], only while the latest version is still `expected` (0: none
    /// yet), checked in the same transaction: `None` when another version came first.
    fn deploy_journey_after(
        &self,
        id: &str,
        label: &str,
        source: &str,
        now_us: i64,
        expected: i64,
    ) -> Result<Option<(i64, bool)>, StoreError>;
    /// The latest version of every deployed journey, by id.
    fn journeys(&self) -> Result<Vec<DeployedJourney>, StoreError>;
    /// Every version of a deployed journey, oldest first.
    fn journey_versions(&self, id: &str) -> Result<Vec<DeployedJourney>, StoreError>;
    /// One deployed journey: the given version, else the latest.
    fn journey(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedJourney>, StoreError>;
}

/// The directory of people and their credentials: API keys, people's access tokens, sign-in
/// tokens, the installation's secrets and signing keys.
pub trait Directory: Send + Sync {
    /// Makes sure a key exists (stored as a hash of the token).
    fn ensure_key(&self, kind: KeyKind, token: &str) -> Result<(), StoreError>;
    /// The kind of key a token is, if it is one.
    fn key_kind(&self, token: &str) -> Result<Option<KeyKind>, StoreError> {
        Ok(match self.holder(token, crate::now_us())? {
            Some(Holder::Key { kind, .. }) => Some(kind),
            _ => None,
        })
    }
    /// Issues a key; gives its public id and the secret (shown once, stored hashed).
    fn issue_key(
        &self,
        key: &NewKey,
        by: &str,
        now_us: i64,
    ) -> Result<(String, String), StoreError>;
    /// Issues an access token for a person in the directory; gives its id and the secret.
    fn issue_person_token(
        &self,
        user: &str,
        label: &str,
        expires_us: Option<i64>,
        by: &str,
        now_us: i64,
    ) -> Result<(String, String), StoreError>;
    /// Who holds `token`, if it is a live key or the live token of a person in the directory.
    fn holder(&self, token: &str, now_us: i64) -> Result<Option<Holder>, StoreError>;
    /// Every key and token, newest first (revoked and expired ones too, marked so).
    fn keys(&self) -> Result<Vec<KeyInfo>, StoreError>;
    /// Ends a key or token at once. False when no live key has that id.
    fn revoke_key(&self, id: &str, by: &str, now_us: i64) -> Result<bool, StoreError>;
    /// Whether `user` is a person of the directory who was disabled (a customer, who is not in
    /// the directory, never is).
    fn disabled(&self, user: &str) -> Result<bool, StoreError>;
    /// Brings a disabled person back (a directory upload never does): without their old
    /// tokens. False when nobody disabled has that id.
    fn enable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError>;
    /// Takes a person out of the directory's working set: their tokens are revoked, their
    /// sessions end, and links sent to them stop working (links are checked against the
    /// directory). Their history stays. False when no active person has that id.
    fn disable_user(&self, user: &str, by: &str, now_us: i64) -> Result<bool, StoreError>;
    /// Adds or replaces people in the directory.
    fn put_users(&self, users: &[User]) -> Result<usize, StoreError>;
    /// Adds or changes one person (an administrator in the browser), with a line in the access
    /// trail saying who did it and, when their roles changed, from what to what.
    fn put_user_by(&self, user: &User, by: &str, now_us: i64) -> Result<(), StoreError>;
    fn user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// The person with this email address (compared without regard to case).
    fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// A random secret kept in the database under `name` (made on first use), e.g. the key that
    /// signs email links.
    fn secret(&self, name: &str) -> Result<String, StoreError>;
    /// The keys that sign links of one kind (`links`, `sign-in`, `surveys`), newest first, each
    /// with its id (`NAME-1`, `NAME-2`, …); the first is made on first use.
    fn signing_keys(&self, name: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Makes a new key for links of one kind: it signs from the next start on, and the older
    /// keys still verify the links they signed until those expire; with `retire`, the older keys
    /// are dropped, so every link signed before stops working. Gives the new key's id.
    fn rotate_signing_key(&self, name: &str, retire: bool) -> Result<String, StoreError>;
    /// A new access token for a person in the directory (returned once; stored hashed), issued
    /// by an administrator and without an end date.
    fn issue_user_token(&self, user: &str) -> Result<String, StoreError> {
        Ok(self
            .issue_person_token(user, "access token", None, "admin", crate::now_us())?
            .1)
    }
    /// The active person a live access token belongs to.
    fn token_user(&self, token: &str) -> Result<Option<User>, StoreError> {
        Ok(match self.holder(token, crate::now_us())? {
            Some(Holder::Person { user, .. }) => Some(user),
            _ => None,
        })
    }
}

/// Process and form definitions, versioned as deployed.
pub trait Processes: Send + Sync {
    /// Keeps a process definition: a new version when it differs from the latest one.
    fn deploy_process(
        &self,
        id: &str,
        name: &str,
        format: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError>;
    /// Keeps a form schema under its key: a new version when it differs from the latest.
    fn put_form(&self, key: &str, schema: &str, now_us: i64) -> Result<i64, StoreError>;
    /// The latest schema of a form.
    fn form(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// The form key of a process's start event, if it has one.
    fn start_form(&self, process: &str) -> Result<Option<String>, WorkflowError>;
    /// The latest deployed version of a process.
    fn latest_version(&self, id: &str) -> Result<Option<i64>, StoreError>;
    /// Every deployed process and form: its latest version, and how many there are; processes
    /// by name, then forms by key.
    fn deployments(&self) -> Result<Vec<Deployment>, StoreError>;
    /// A deployed process: the given version, else the latest.
    fn process(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedProcess>, StoreError>;
    /// The processes people can start: the latest version of each, with the form its start
    /// event names (id, name, form key), by name.
    fn startable(&self) -> Result<Vec<(String, String, Option<String>)>, WorkflowError>;
    /// The processes (latest versions) a collected event starts: (event name, process id).
    /// Kept until the next deploy.
    fn message_starts(&self) -> Result<Arc<Vec<(String, String)>>, WorkflowError>;
    /// The names a version of a process gives its steps, by step id, and the process's name.
    fn step_names(
        &self,
        id: &str,
        version: i64,
    ) -> Result<(String, HashMap<String, String>), WorkflowError>;
}

/// Requests (process instances) and their tasks, with their timers, audit trail, message outbox
/// and webhook attempts. Every step is one transaction.
pub trait Work: Send + Sync {
    /// Claims up to `limit` jobs of `kind` due at `now_us`, each leased to the caller for
    /// `lease_us`: nobody else claims it until the lease ends, and when the caller dies mid-job,
    /// the job is due again then. Each claim counts as an attempt. A job ends in the transaction
    /// of the step that ends its timer or task.
    fn claim_jobs(
        &self,
        kind: JobKind,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;
    /// When the next job of `kind` is due (or its lease ends), found through the due-time index.
    fn next_job(&self, kind: JobKind) -> Result<Option<i64>, StoreError>;
    /// Changes when jobs were added: by this node, and on PostgreSQL by any node (LISTEN/NOTIFY).
    /// A job loop sleeps until its next due job or a change, so an idle node does nothing.
    fn job_changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Starts an instance of the latest version of `process` for `requester` (at the start
    /// event waiting for the collected event `message`, when given), in one transaction; once
    /// per `key` when given (`None` when the key was used). Each backend's one way to start.
    fn start_keyed(
        &self,
        process: &str,
        requester: &str,
        message: Option<&str>,
        variables: Map<String, Json>,
        key: Option<&str>,
        now_us: i64,
    ) -> Result<Option<i64>, WorkflowError>;
    /// Applies a command to an instance in one transaction, as `actor`; once per `message_id`
    /// when given (`None` when it was delivered before). Each backend's one way to step.
    fn advance_keyed(
        &self,
        instance: i64,
        command: Command,
        actor: &str,
        now_us: i64,
        message_id: Option<&str>,
    ) -> Result<Option<Vec<Effect>>, WorkflowError>;
    /// Starts an instance of the latest version of a process for `requester`, with the start
    /// form's values. Returns its id.
    fn start_instance(
        &self,
        process: &str,
        requester: &str,
        variables: Map<String, Json>,
        now_us: i64,
    ) -> Result<i64, WorkflowError> {
        let started = self.start_keyed(process, requester, None, variables, None, now_us)?;
        started.ok_or_else(|| WorkflowError::UnknownProcess(process.to_string()))
    }
    /// Starts an instance at the start event of `process` that waits for the collected event
    /// `message` of `person`, once per event: `key` (the event's message id) already used gives
    /// `None`.
    fn start_on_message(
        &self,
        process: &str,
        person: &str,
        message: &str,
        properties: Map<String, Json>,
        key: &str,
        now_us: i64,
    ) -> Result<Option<i64>, WorkflowError> {
        self.start_keyed(
            process,
            person,
            Some(message),
            properties,
            Some(key),
            now_us,
        )
    }
    /// Applies a command to an instance in one transaction, as `actor` (a user id, or `system`).
    fn advance(
        &self,
        instance: i64,
        command: Command,
        actor: &str,
        now_us: i64,
    ) -> Result<Vec<Effect>, WorkflowError> {
        self.advance_keyed(instance, command, actor, now_us, None)
            .map(Option::unwrap_or_default)
    }
    /// [`Work::advance`] at most once per `message_id` for this instance: the delivery is
    /// recorded in the step's own transaction, so a message handed over again (a retried event,
    /// or the outbox after a crash) changes nothing. `None` when it was delivered before.
    fn advance_once(
        &self,
        instance: i64,
        command: Command,
        now_us: i64,
        message_id: &str,
    ) -> Result<Option<Vec<Effect>>, WorkflowError> {
        self.advance_keyed(instance, command, "system", now_us, Some(message_id))
    }
    /// Track calls in the message outbox, oldest first: (seq, the event).
    fn outbox(&self, limit: usize) -> Result<Vec<(i64, crate::NewEvent)>, StoreError>;
    /// Takes track calls out of the outbox once the workflow has had them (one commit).
    fn outbox_done(&self, seqs: &[i64]) -> Result<(), StoreError>;
    /// The right to hand the outbox over: one hand-over at a time. With `wait`, until it is
    /// free (a caller whose events must be handed over before it answers); without, only if
    /// nobody has it now (the timer loop, which comes back a moment later).
    fn outbox_turn(&self, wait: bool) -> Option<Turn<'_>>;
    fn instance(&self, id: i64) -> Result<Option<InstanceRow>, WorkflowError>;
    /// Instances for an administrator's list, newest first: those with `status` and `process`
    /// when given, with ids below `before`, at most `limit`. Their state is not read.
    fn instance_list(
        &self,
        status: Option<&str>,
        process: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InstanceSummary>, StoreError>;
    /// How many instances there are in each status.
    fn instance_counts(&self) -> Result<Vec<(String, usize)>, StoreError>;
    /// Open webhook steps whose calls failed, most attempts first (at most `limit`), and how
    /// many there are in all.
    fn failing_webhooks(&self, limit: usize) -> Result<(Vec<FailingWebhook>, usize), StoreError>;
    /// How many emails wait to be sent.
    fn mail_waiting(&self) -> Result<usize, StoreError>;
    /// The instances `requester` started, newest first.
    fn instances_of(&self, requester: &str) -> Result<Vec<i64>, StoreError>;
    /// Every open task (people's and workers'), oldest first.
    fn open_tasks(&self) -> Result<Vec<TaskRow>, StoreError>;
    /// A page of the open tasks `user` may see (assigned to them, or offered to them or their
    /// groups; never a step deciding their own request), oldest first, after `after`, at most
    /// `limit`; and where the next page starts, if there may be one. Found by the database, not
    /// by reading every open task.
    fn tasks_for_page(
        &self,
        user: &User,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError>;
    /// A page of the open worker tasks (of `topic` when given: its name before any `?`), oldest
    /// first, after `after`, at most `limit`; and where the next page starts, if there may be one.
    fn worker_tasks(
        &self,
        topic: Option<&str>,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError>;
    /// All the open tasks `user` may see, oldest first.
    fn tasks_for(&self, user: &User) -> Result<Vec<TaskRow>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self.tasks_for_page(user, after, 1_000)?;
            all.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }
    fn task(&self, instance: i64, task: u64) -> Result<Option<TaskRow>, StoreError>;
    /// Every task of an instance, in the order created.
    fn instance_tasks(&self, instance: i64) -> Result<Vec<TaskRow>, StoreError>;
    /// Whether any instance waits for a message (so collected events need not be looked at).
    fn has_subscriptions(&self) -> Result<bool, StoreError>;
    /// Every message name something waits for now: a request's subscription, or a process that
    /// starts on it.
    fn awaited_messages(&self) -> Result<HashSet<String>, WorkflowError>;
    /// The messages an instance waits for now, in the order it began waiting.
    fn awaited_by(&self, instance: i64) -> Result<Vec<String>, StoreError>;
    /// Instances waiting for `message` whose requester is `person`.
    fn awaiting(&self, message: &str, person: &str) -> Result<Vec<i64>, StoreError>;
    fn audit_trail(&self, instance: i64) -> Result<Vec<AuditRow>, StoreError>;
    /// Gives an open task to `user` (a claim, a delegation by its assignee, or an
    /// administrator's reassignment with its `reason`), with a line in the audit trail. False
    /// when the task is not open.
    #[allow(clippy::too_many_arguments)]
    fn assign_task(
        &self,
        instance: i64,
        task: u64,
        user: &str,
        by: &str,
        action: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<bool, StoreError>;
    /// Calls an open webhook task again now instead of at its next try (an administrator, for
    /// `reason`), with a line in the audit trail. False when no failed call of it waits for its
    /// next try (none failed, or a node is calling it now).
    fn retry_webhook(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        reason: &str,
        now_us: i64,
    ) -> Result<bool, StoreError>;
    /// A comment on a task, kept in the instance's audit trail.
    fn comment(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        text: &str,
        now_us: i64,
    ) -> Result<(), StoreError>;
    /// Records a refused attempt (someone acting on what is not theirs).
    fn audit_refusal(
        &self,
        instance: i64,
        actor: &str,
        what: &str,
        now_us: i64,
    ) -> Result<(), StoreError>;
    /// Whether a webhook task may be called now: not before its next try.
    fn webhook_due(&self, instance: i64, task: u64, now_us: i64) -> Result<bool, StoreError>;
    /// Records a failed webhook call and when to try again; returns the number of attempts.
    fn webhook_failed(
        &self,
        instance: i64,
        task: u64,
        error: &str,
        next_try_us: i64,
    ) -> Result<i64, StoreError>;
    /// How many times a webhook task was tried without success, and the last error.
    fn webhook_attempts(
        &self,
        instance: i64,
        task: u64,
    ) -> Result<Option<(i64, String)>, StoreError>;
}

/// Sign-in sessions and single-use tokens (sign-in links, survey answers).
pub trait Sessions: Send + Sync {
    /// Signs `user` in for `ttl_us`: the session id for the cookie, and its CSRF token.
    fn create_session(
        &self,
        user: &str,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<(String, String), StoreError> {
        self.create_session_by(user, None, now_us, ttl_us)
    }
    /// [`Sessions::create_session`] begun with the access token `key` (its id): the session
    /// lasts no longer than the token, and ends when the token is revoked.
    fn create_session_by(
        &self,
        user: &str,
        key: Option<&str>,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<(String, String), StoreError>;
    /// The session a cookie names, while it lasts (and while its person is in the directory).
    fn session(&self, id: &str, now_us: i64) -> Result<Option<Session>, StoreError>;
    /// Marks a one-time link (a sign-in link) used: true the first time, false ever after.
    /// Links past `expires_us` are forgotten, since they no longer work anyway.
    fn use_once(&self, token: &str, expires_us: i64, now_us: i64) -> Result<bool, StoreError>;
    /// Signs a browser out.
    fn end_session(&self, id: &str) -> Result<(), StoreError>;
}

/// Mail kept in the app (the demo's mailbox).
pub trait Mailbox: Send + Sync {
    /// Keeps a message; a second delivery of the same `message_id` changes nothing.
    fn deliver(&self, mail: &Mail) -> Result<(), StoreError>;
    /// The messages for `user` (or everyone's, with `None`), newest first.
    fn mails(&self, user: Option<&str>, limit: usize) -> Result<Vec<Mail>, StoreError>;
    /// One message.
    fn mail(&self, id: i64) -> Result<Option<Mail>, StoreError>;
}

/// Analyses saved under a name and shared by link: a funnel, flow or conformance view of a
/// journey, kept as the query string that asks it again.
pub trait SavedViews: Send + Sync {
    /// Keeps a view; returns its id.
    fn save_view(&self, view: &NewView) -> Result<i64, StoreError>;
    /// The saved views, newest first: `owner`'s only, or everyone's with `None`.
    fn saved_views(&self, owner: Option<&str>, limit: usize) -> Result<Vec<SavedView>, StoreError>;
    /// One saved view.
    fn saved_view(&self, id: i64) -> Result<Option<SavedView>, StoreError>;
    /// Forgets a view; whether there was one.
    fn delete_view(&self, id: i64) -> Result<bool, StoreError>;
}

/// Working together on journeys: who saved each version, and comments in threads.
pub trait JourneyTalk: Send + Sync {
    /// Records who saved a version (once per version; the first record stays).
    fn note_change(&self, change: &crate::talk::JourneyChange) -> Result<(), StoreError>;
    /// A journey's recorded changes, newest version first.
    fn journey_changes(&self, journey: &str)
    -> Result<Vec<crate::talk::JourneyChange>, StoreError>;
    /// Keeps a comment; returns its id.
    fn add_comment(&self, comment: &crate::talk::NewComment) -> Result<i64, StoreError>;
    /// A journey's comments, oldest first.
    fn journey_comments(
        &self,
        journey: &str,
    ) -> Result<Vec<crate::talk::JourneyComment>, StoreError>;
    /// Resolves a thread (`by`), or opens it again (`None`); whether there was such a thread.
    fn resolve_thread(
        &self,
        journey: &str,
        id: i64,
        by: Option<&str>,
        at_us: i64,
    ) -> Result<bool, StoreError>;
}

/// Alert rules on KPIs, and the alerts they raised (see `alerts.rs`).
pub trait Alerts: Send + Sync {
    /// Keeps a rule; returns its id.
    fn add_alert_rule(&self, rule: &crate::alerts::NewAlertRule) -> Result<i64, StoreError>;
    /// The rules in force, oldest first.
    fn alert_rules(&self) -> Result<Vec<crate::alerts::AlertRule>, StoreError>;
    /// Takes a rule out of force (its alerts stay); whether it was in force.
    fn remove_alert_rule(&self, id: i64, at_us: i64) -> Result<bool, StoreError>;
    /// Moves a rule's mark from `seen` (as read with the rule) to `until_us`: true for the one
    /// caller that moved it, who then checks the buckets between.
    fn claim_alert_check(
        &self,
        rule: i64,
        seen: Option<i64>,
        until_us: i64,
    ) -> Result<bool, StoreError>;
    /// Adds a bucket that fired to the rule's open alert when that one's last bucket is at most
    /// `quiet_us` before it, else opens an alert; returns the alert's id and whether it is new.
    fn raise_alert(&self, firing: &crate::alerts::Firing) -> Result<(i64, bool), StoreError>;
    /// The newest alerts, at most `limit`.
    fn alerts(&self, limit: usize) -> Result<Vec<crate::alerts::Alert>, StoreError>;
    /// A rule's alerts not resolved yet, newest first.
    fn open_alerts(&self, rule: i64) -> Result<Vec<crate::alerts::Alert>, StoreError>;
    fn alert(&self, id: i64) -> Result<Option<crate::alerts::Alert>, StoreError>;
    /// Marks an open alert as seen by `by`; whether it was open and not yet acknowledged.
    fn acknowledge_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError>;
    /// Resolves an alert; whether it was open.
    fn resolve_alert(&self, id: i64, by: &str, at_us: i64) -> Result<bool, StoreError>;
    /// Records that the alert's owner was told (the first time only).
    fn alert_notified(&self, id: i64, at_us: i64) -> Result<(), StoreError>;
}

/// Opportunities and initiatives (see `plans.rs`).
pub trait Plans: Send + Sync {
    /// Keeps a plan; returns its id.
    fn add_plan(
        &self,
        kind: crate::plans::PlanKind,
        text: &crate::plans::PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<i64, StoreError>;
    /// The plans of a kind, oldest first.
    fn plans(&self, kind: crate::plans::PlanKind) -> Result<Vec<crate::plans::Plan>, StoreError>;
    fn plan(&self, id: i64) -> Result<Option<crate::plans::Plan>, StoreError>;
    /// Replaces a plan's text when it is still at `revision`; whether it was (false: someone
    /// changed it meanwhile, or there is no such plan).
    fn change_plan(
        &self,
        id: i64,
        revision: i64,
        text: &crate::plans::PlanText,
        by: &str,
        at_us: i64,
    ) -> Result<bool, StoreError>;
}

/// When each person was last asked for feedback (see `surveys.rs`).
pub trait SurveyAsks: Send + Sync {
    /// Asks `person` for feedback at `at_us` unless they were asked less than `quiet_us` before
    /// (by another ask than `key`): `None` when the ask is taken, else when they were asked last.
    fn ask_survey(
        &self,
        person: &str,
        key: &str,
        at_us: i64,
        quiet_us: i64,
    ) -> Result<Option<i64>, StoreError>;
}

/// Work that one node at a time does for all of them (forwarding the events to ClickHouse): a
/// lease named for the work, held by one node until it lapses, renewed while the node lives, with
/// how far the holder got for the others to read (see `leases.rs`).
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `holder` until `now_us + lease_us` when nobody holds it, it
    /// lapsed (its time is at or before `now_us`), or `holder` holds it already, and then
    /// records `progress` when it is further than the recorded one. Returns the lease as it
    /// stands after the call: held by `holder` or by another.
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        lease_us: i64,
        progress: i64,
    ) -> Result<crate::leases::Lease, StoreError>;
    /// The lease `name` as it stands (a read; `None` when nobody ever took it).
    fn read_lease(&self, name: &str) -> Result<Option<crate::leases::Lease>, StoreError>;
    /// Gives the lease up at once when `holder` holds it (a node stopping): it is nobody's, and
    /// keeps its progress.
    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Journey versions proposed for approval (see `proposals.rs`).
pub trait Proposals: Send + Sync {
    /// Keeps a proposal, withdrawing the journey's proposals still waiting (in one
    /// transaction): its id, and those it withdrew.
    fn propose_journey(
        &self,
        new: &crate::proposals::NewProposal,
    ) -> Result<(i64, Vec<crate::proposals::Proposal>), StoreError>;
    /// Notes the workflow request that asks for the approval.
    fn attach_request(&self, id: i64, request: i64) -> Result<(), StoreError>;
    /// Proposals, newest first: of `journey` when given, at most `limit`.
    fn proposals(
        &self,
        journey: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::proposals::Proposal>, StoreError>;
    fn proposal(&self, id: i64) -> Result<Option<crate::proposals::Proposal>, StoreError>;
    /// Makes a waiting proposal the next version of its journey, only while the journey's latest
    /// version is still the one it was proposed on (else it becomes stale), in one transaction.
    /// Publishing a published proposal again gives its version.
    fn publish_proposal(
        &self,
        id: i64,
        by: &str,
        at_us: i64,
    ) -> Result<crate::proposals::Publishing, StoreError>;
    /// Decides a waiting proposal otherwise (sent back, withdrawn): false when it was not
    /// waiting.
    fn settle_proposal(
        &self,
        id: i64,
        status: crate::proposals::ProposalStatus,
        by: &str,
        note: Option<&str>,
        at_us: i64,
    ) -> Result<bool, StoreError>;
}

/// What `/healthz` reports.
pub trait HealthCheck: Send + Sync {
    /// Checks the database with a read, reports the last failed write, and the free space.
    fn health(&self) -> Health;
}

/// Keeping the store safe.
pub trait Maintenance: Send + Sync {
    /// Copies the whole store, consistently and while it is in use, into a new SQLite file at
    /// `to` (refused when it exists); returns the bytes written. A PostgreSQL store is backed up
    /// with the database's own tools (`pg_dump`): this says so.
    fn backup(&self, to: &std::path::Path) -> Result<u64, StoreError>;
}

/// Everything a backend stores: the handle the rest of Waymark holds.
pub trait Store:
    Events
    + Identities
    + Journeys
    + Directory
    + Processes
    + Work
    + Sessions
    + Mailbox
    + SavedViews
    + JourneyTalk
    + Alerts
    + Plans
    + SurveyAsks
    + Leases
    + Proposals
    + HealthCheck
    + Maintenance
{
}

impl<T> Store for T where
    T: Events
        + Identities
        + Journeys
        + Directory
        + Processes
        + Work
        + Sessions
        + Mailbox
        + SavedViews
        + JourneyTalk
        + Alerts
        + Plans
        + SurveyAsks
        + Leases
        + Proposals
        + HealthCheck
        + Maintenance
{
}
