//! Who may do what: the one place that decides, for the JSON API and the web app alike.
//!
//! A call comes from a [`Caller`]: a key (the admin token, the public write key, a secret
//! server key, a worker key limited to topics) or a person (by an access token or a browser
//! session). [`Caller::may`] answers for every [`Capability`]; what a person may do comes from
//! their directory roles only, never from their department's name. Which requests and tasks a
//! person sees is decided beside it, in [`crate::work`].

use axum::http::{HeaderMap, StatusCode};
use waymark_store::KeyKind;
use waymark_store::keys::Holder;
use waymark_store::workflow::User;

use crate::{ApiError, AppState};

/// The directory role that makes a person an administrator.
pub const ADMIN_ROLE: &str = "admin";
/// Roles that read journeys, their maps and analyses.
pub const JOURNEY_READERS: [&str; 4] = ["cx", "journey-owner", "analyst", ADMIN_ROLE];
/// Roles that deploy journeys.
pub const JOURNEY_DESIGNERS: [&str; 3] = ["cx", "journey-owner", ADMIN_ROLE];
/// Roles that look people up in Customer 360.
pub const CUSTOMER_READERS: [&str; 4] = ["agent", "cx", "analyst", ADMIN_ROLE];

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin token.
    AdminKey,
    /// The public write key: records events, nothing else.
    WriteKey,
    /// A secret server key: records events whose track calls act on workflows.
    ServerKey,
    /// A worker key: the worker tasks of these topics.
    WorkerKey { topics: Vec<String> },
    /// A person in the directory.
    Person(User),
}

/// What a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability<'a> {
    /// Send events to the collection API.
    RecordEvents,
    /// Have collected track calls continue or start requests.
    DriveWorkflows,
    /// The directory, keys, process and form deployment, imports, metrics, survey links.
    Administer,
    /// Every request with its whole audit trail.
    ReadAllRequests,
    /// Profiles, timelines and Customer 360.
    ReadCustomers,
    /// Deployed journeys, their reports, maps and analyses.
    ReadJourneys,
    /// Deploy journey files.
    DesignJourneys,
    /// Fetch and complete worker tasks of a topic.
    Work(&'a str),
    /// Start requests and work tasks as oneself.
    ActAsPerson,
}

impl Caller {
    /// Whether this caller may do `what`.
    pub fn may(&self, what: Capability<'_>) -> bool {
        use Capability::*;
        // Waymark's own worker steps (`waymark-…`, e.g. publishing an approved journey change)
        // are carried out by Waymark alone.
        if let Work(topic) = what
            && crate::followups::reserved(topic)
        {
            return false;
        }
        match self {
            // The admin token administers; it neither acts as a person nor moves requests
            // through collected events (that is a server key's).
            Caller::AdminKey => !matches!(what, ActAsPerson | DriveWorkflows),
            Caller::WriteKey => matches!(what, RecordEvents),
            Caller::ServerKey => matches!(what, RecordEvents | DriveWorkflows),
            Caller::WorkerKey { topics } => match what {
                Work(topic) => topics.iter().any(|t| t == topic),
                _ => false,
            },
            Caller::Person(user) => person_may(user, what),
        }
    }

    /// The person calling, if it is one.
    pub fn person(&self) -> Option<&User> {
        match self {
            Caller::Person(user) => Some(user),
            _ => None,
        }
    }

    /// Who the caller is in histories and records: a person's directory id, else `the admin
    /// token` (the only key that changes what is recorded this way).
    pub fn recorded_as(&self) -> String {
        match self {
            Caller::Person(user) => user.id.clone(),
            _ => "the admin token".to_string(),
        }
    }

    /// Whether the caller administers Waymark (the admin token, or a person with the role).
    pub fn is_admin(&self) -> bool {
        self.may(Capability::Administer)
    }
}

/// What a person may do, by their directory roles.
pub fn person_may(user: &User, what: Capability<'_>) -> bool {
    let any = |roles: &[&str]| roles.iter().any(|r| user.has_role(r));
    match what {
        Capability::ActAsPerson => true,
        Capability::RecordEvents | Capability::DriveWorkflows | Capability::Work(_) => false,
        Capability::Administer | Capability::ReadAllRequests => user.has_role(ADMIN_ROLE),
        Capability::ReadCustomers => any(&CUSTOMER_READERS),
        Capability::ReadJourneys => any(&JOURNEY_READERS),
        Capability::DesignJourneys => any(&JOURNEY_DESIGNERS),
    }
}

/// Whether `caller` may read a plan (an opportunity or initiative) owned by `owner`: whoever
/// reads journeys reads every plan; its owner reads their own.
pub fn may_read_plan(caller: &Caller, owner: &str) -> bool {
    caller.may(Capability::ReadJourneys) || caller.person().is_some_and(|p| p.id == owner)
}

/// Whether `caller` may read a proposed journey version: whoever reads journeys, and the people
/// it concerns though they read no journeys: who proposed it, and who was asked to approve it
/// (`changes::approver_of`).
pub fn may_read_proposal(caller: &Caller, proposer: &str, approvers: &[String]) -> bool {
    caller.may(Capability::ReadJourneys)
        || caller
            .person()
            .is_some_and(|p| p.id == proposer || approvers.contains(&p.id))
}

/// Whether `caller` may change a plan owned by `owner` and raised by `created_by`: its owner,
/// the person who raised it (while they read journeys), journey designers and administrators.
pub fn may_change_plan(caller: &Caller, owner: &str, created_by: &str) -> bool {
    if caller.may(Capability::DesignJourneys) {
        return true;
    }
    caller.person().is_some_and(|p| {
        p.id == owner || (p.id == created_by && caller.may(Capability::ReadJourneys))
    })
}

/// The bearer token of a call.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// Who holds `token`, read from the store (on the blocking pool).
pub(crate) fn holder(
    store: &dyn waymark_store::Store,
    token: &str,
    now: i64,
) -> Result<Option<Caller>, waymark_store::StoreError> {
    Ok(store.holder(token, now)?.map(|holder| match holder {
        Holder::Person { user, .. } => Caller::Person(user),
        Holder::Key { kind, topics, .. } => match kind {
            KeyKind::Admin => Caller::AdminKey,
            KeyKind::Write => Caller::WriteKey,
            KeyKind::Server => Caller::ServerKey,
            KeyKind::Worker => Caller::WorkerKey { topics },
        },
    }))
}

/// The caller of an API call by its bearer token; 401 without a live one.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized("send your token as `Authorization: Bearer TOKEN`")
    })?;
    let now = state.clock.now_us();
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || holder(store.as_ref(), &token, now))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::unauthorized("the token is not valid (unknown, expired or revoked)")
        })
}

/// The caller, if they may do `what`; else 401 (no live token) or 403 saying what it needs.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    what: Capability<'_>,
) -> Result<Caller, ApiError> {
    let caller = caller(state, headers).await?;
    if caller.may(what) {
        Ok(caller)
    } else {
        Err(forbidden(&caller, what))
    }
}

/// Why `caller` may not do `what`, in a sentence.
pub fn forbidden(caller: &Caller, what: Capability<'_>) -> ApiError {
    let needs = match what {
        Capability::RecordEvents => "sending events needs a write or server key".to_string(),
        Capability::DriveWorkflows => {
            "acting on requests needs a server key; the public write key only records events"
                .to_string()
        }
        Capability::Administer | Capability::ReadAllRequests => {
            "this needs an administrator: the admin token, or a person with the `admin` role"
                .to_string()
        }
        Capability::ReadCustomers => format!(
            "looking people up needs one of the roles {}",
            CUSTOMER_READERS.join(", ")
        ),
        Capability::ReadJourneys => format!(
            "journeys and their figures need one of the roles {}",
            JOURNEY_READERS.join(", ")
        ),
        Capability::DesignJourneys => format!(
            "designing and deploying journeys needs one of the roles {}",
            JOURNEY_DESIGNERS.join(", ")
        ),
        Capability::Work(topic) if crate::followups::reserved(topic) => {
            format!("`{topic}` is Waymark's own step: Waymark carries it out, no key does")
        }
        Capability::Work(topic) => {
            format!("this needs a worker key issued for the topic `{topic}`")
        }
        Capability::ActAsPerson => {
            "act as a person: use a token issued to them (POST /v1/directory/users/{id}/tokens)"
                .to_string()
        }
    };
    let message = match caller {
        Caller::WriteKey => format!("a write key can only send events; {needs}"),
        _ => needs,
    };
    ApiError {
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
        field: Some("Authorization".to_string()),
        accepted: None,
    }
}
