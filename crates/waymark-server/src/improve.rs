//! What people do with opportunities and initiatives, for the API and the pages alike: raise an
//! opportunity with its evidence measured now, change one, start and change initiatives (their
//! KPIs' baselines measured when they start), and measure an initiative's KPIs before and after
//! the journey version it delivers.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use waymark_analytics::FunnelOrder;
use waymark_analytics::compare::Comparison;
use waymark_analytics::journey::kpis::{self, Observations, Scope};
use waymark_analytics::journey::{Instance, Options};
use waymark_eventlog::Micros;
use waymark_journey::{Journey, Kpi};
use waymark_store::Store;
use waymark_store::plans::PlanKind;

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use crate::evidence;
use crate::journeys::{API_WAIT, Measure, live_log, measure_error};
use crate::plans::{
    Baseline, Change, Delivery, Goal, Initiative, InitiativeStatus, Link, Opportunity,
    OpportunityStatus, Problem, Score, Source, day_of, day_us,
};

/// How many days before the start a baseline covers, and each side of a before-and-after.
pub const BASELINE_DAYS: i64 = 28;
const DAY: i64 = 86_400_000_000;

/// A problem as the API answers it.
pub fn invalid(problem: Problem) -> ApiError {
    ApiError::bad_request("invalid_plan", problem.message, problem.field)
}

fn first(problems: Vec<Problem>) -> Result<(), ApiError> {
    match problems.into_iter().next() {
        Some(problem) => Err(invalid(problem)),
        None => Ok(()),
    }
}

/// No plan `id` of this kind (or none the caller may read).
pub fn not_found(what: &str, id: i64) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("there is no {what} {id}"),
        field: Some("id".into()),
        accepted: None,
    }
}

fn stale(what: &str) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::CONFLICT,
        code: "changed_meanwhile",
        message: format!(
            "someone changed this {what} since you read it; read it again and make your change on that"
        ),
        field: Some("/revision".into()),
        accepted: None,
    }
}

fn forbidden(what: &str) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::FORBIDDEN,
        code: "forbidden",
        message: format!(
            "this {what} is changed by its owner, the person who raised it, journey designers (cx, journey-owner) and administrators"
        ),
        field: Some("Authorization".into()),
        accepted: None,
    }
}

/// The latest deployed version of journey `id`, read; `field` names where it was asked.
fn journey_of(store: &dyn Store, id: &str, field: &str) -> Result<Journey, ApiError> {
    let deployed = store
        .journey(id, None)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::bad_request(
                "unknown_journey",
                format!("no journey `{id}` is deployed"),
                field,
            )
        })?;
    waymark_journey::check(&deployed.source)
        .journey
        .ok_or_else(|| ApiError::internal(&"a deployed journey no longer reads"))
}

fn check_owner(store: &dyn Store, owner: &str, field: &str) -> Result<(), ApiError> {
    if owner.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_plan",
            "say who owns it: a person's directory id",
            field,
        ));
    }
    match store.user(owner).map_err(|e| ApiError::internal(&e))? {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(
            "unknown_person",
            format!("nobody with the id `{owner}` is in the directory"),
            field,
        )),
    }
}

fn check_links(store: &dyn Store, links: &[Link]) -> Result<(), ApiError> {
    too_many(links.len(), "/links")?;
    let mut read: HashMap<&str, Journey> = HashMap::new();
    for (i, link) in links.iter().enumerate() {
        if !read.contains_key(link.journey.as_str()) {
            let journey = journey_of(store, &link.journey, &format!("/links/{i}/journey"))?;
            read.insert(&link.journey, journey);
        }
        let journey = &read[link.journey.as_str()];
        if let Some(t) = &link.touchpoint
            && !journey.touchpoints().any(|(_, d)| &d.id == t)
        {
            return Err(ApiError::bad_request(
                "unknown_touchpoint",
                format!("the journey `{}` has no touchpoint `{t}`", link.journey),
                format!("/links/{i}/touchpoint"),
            ));
        }
    }
    Ok(())
}

/// `new`, trimmed, when it is given and differs from `old`: a title or owner to change.
fn differs(new: Option<String>, old: &str) -> Option<String> {
    new.map(|t| t.trim().to_string()).filter(|t| t != old)
}

/// Refuses a list longer than [`crate::plans::MOST`] before anything in it is looked up.
fn too_many(n: usize, field: &str) -> Result<(), ApiError> {
    if n > crate::plans::MOST {
        return Err(ApiError::bad_request(
            "invalid_plan",
            format!("{n} entries; at most {}", crate::plans::MOST),
            field,
        ));
    }
    Ok(())
}

/// The most changes a plan's history keeps (the oldest go first).
pub const HISTORY: usize = 200;

fn remember(history: &mut Vec<Change>, change: Change) {
    history.push(change);
    if history.len() > HISTORY {
        history.drain(..history.len() - HISTORY);
    }
}

/// Where an opportunity is raised from, besides the journey and touchpoint.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Raise {
    pub journey: String,
    /// The touchpoint (none with `funnel`: the step's own).
    #[serde(default)]
    pub touchpoint: Option<String>,
    /// Raised from a step of a touchpoint funnel.
    #[serde(default)]
    pub funnel: Option<FunnelAsked>,
    /// Raised from a survey comment about the touchpoint, as the touchpoint's page lists them.
    #[serde(default)]
    pub comment: Option<CommentAsked>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
    /// A directory id (default: whoever raises it; the admin token must name one).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub score: Option<Score>,
    /// The page it was raised on (a path of this app).
    #[serde(default)]
    pub href: Option<String>,
}

/// A funnel as the funnel page asks it, and the step raised from.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct FunnelAsked {
    /// Touchpoint ids, in the funnel's order.
    pub steps: Vec<String>,
    /// 1-based, at least 2: the step people did not reach.
    pub step: usize,
    /// Like `30d` (default).
    #[serde(default)]
    pub window: Option<String>,
    /// `ordered` (default), `strict` or `any`.
    #[serde(default)]
    pub order: Option<String>,
}

/// A survey comment: who wrote it (the case) and when, in µs.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CommentAsked {
    pub case: String,
    pub at_us: i64,
}

/// The touchpoint a raise is about, its evidence and where it came from, measured on the live
/// log (blocking).
fn measure_raise(
    state: &AppState,
    journey: &Journey,
    raise: &Raise,
) -> Result<(String, Vec<crate::plans::Evidence>, Source, String), ApiError> {
    let snapshot = live_log(
        &state.logs,
        &state.store,
        std::slice::from_ref(journey),
        &Options::default(),
        API_WAIT,
    )
    .map_err(measure_error)?;
    let report = state
        .logs
        .report(&snapshot, journey, &Options::default())
        .map_err(|e| measure_error(Measure::Options(e)))?;
    let mut found = Vec::new();
    let (touchpoint, source) = match (&raise.funnel, &raise.comment) {
        (Some(f), _) => {
            let window_text = f.window.clone().unwrap_or_else(|| "30d".into());
            if window_text.chars().count() > 20 || f.steps.iter().any(|s| s.len() > 200) {
                return Err(ApiError::bad_request(
                    "invalid_plan",
                    "a funnel's window is like 30d, and its steps are touchpoint ids",
                    "/funnel",
                ));
            }
            let window = waymark_journey::duration::parse(&window_text).map_err(|e| {
                ApiError::bad_request(
                    "invalid_plan",
                    format!(
                        "the window `{window_text}` does not read as a time ({e}); write it like 7d"
                    ),
                    "/funnel/window",
                )
            })?;
            let order = match f.order.as_deref().unwrap_or("ordered") {
                "ordered" => FunnelOrder::Ordered,
                "strict" => FunnelOrder::Strict,
                "any" => FunnelOrder::Any,
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_plan",
                        format!("`{other}` is not an order; use ordered, strict or any"),
                        "/funnel/order",
                    ));
                }
            };
            if f.step < 2 || f.step > f.steps.len() || f.steps.len() > 8 {
                return Err(ApiError::bad_request(
                    "invalid_plan",
                    format!(
                        "step {} of a funnel of {} steps: raise from step 2 or later, on a funnel of at most 8",
                        f.step,
                        f.steps.len()
                    ),
                    "/funnel/step",
                ));
            }
            let instances = state
                .logs
                .instances(&snapshot, journey)
                .map_err(|e| measure_error(Measure::Options(e)))?;
            let (funnel, _) = waymark_analytics::journey::touchpoint_funnel(
                journey,
                &snapshot.log,
                &instances,
                &f.steps,
                waymark_analytics::journey::timeout_micros(window),
                order,
                None,
            )
            .map_err(|e| {
                ApiError::bad_request(
                    "unknown_touchpoint",
                    format!("the journey has no touchpoint `{}`", e.id),
                    "/funnel/steps",
                )
            })?;
            found.extend(evidence::of_funnel_step(
                journey,
                &funnel,
                f.step,
                &window_text,
                order,
            ));
            let touchpoint = f.steps[f.step - 1].clone();
            let words = format!(
                "the funnel step {} ({} of {})",
                evidence::name_of(journey, &touchpoint),
                f.step,
                f.steps.len()
            );
            (touchpoint, ("funnel", words))
        }
        (None, Some(c)) => {
            let touchpoint = raise.touchpoint.clone().ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_plan",
                    "say which touchpoint the comment is about",
                    "/touchpoint",
                )
            })?;
            let comments = state.logs.comments(&snapshot, journey, &touchpoint, 200);
            let said = comments
                .iter()
                .find(|k| k.case == c.case && k.time == c.at_us)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "unknown_comment",
                        "that comment is not among the touchpoint's newest 200; raise it from the touchpoint instead",
                        "/comment",
                    )
                })?;
            found.push(evidence::of_comment(journey, &touchpoint, said));
            let words = format!(
                "a comment about {}",
                evidence::name_of(journey, &touchpoint)
            );
            (touchpoint, ("comment", words))
        }
        (None, None) => {
            let touchpoint = raise.touchpoint.clone().ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_plan",
                    "say which touchpoint it is about (or raise it from a funnel step)",
                    "/touchpoint",
                )
            })?;
            let words = format!("the touchpoint {}", evidence::name_of(journey, &touchpoint));
            (touchpoint, ("touchpoint", words))
        }
    };
    if !journey.touchpoints().any(|(_, t)| t.id == touchpoint) {
        return Err(ApiError::bad_request(
            "unknown_touchpoint",
            format!(
                "the journey `{}` has no touchpoint `{touchpoint}`",
                journey.id
            ),
            "/touchpoint",
        ));
    }
    let comments = state.logs.comments(&snapshot, journey, &touchpoint, 25);
    let mut measured = evidence::of_touchpoint(journey, &report, &touchpoint, &comments);
    // A quoted comment is not quoted twice.
    measured.retain(|e| !found.iter().any(|f| f.words == e.words));
    found.extend(measured);
    let title = evidence::title_for(journey, &touchpoint, &found, source.0 == "comment");
    let href = raise.href.clone().filter(|h| local_path(h));
    Ok((
        touchpoint,
        found,
        Source {
            kind: source.0.to_string(),
            words: source.1,
            href,
        },
        title,
    ))
}

/// Whether `href` is a path of this app to link back to: it starts with one `/`, holds no
/// backslash, whitespace or control character (a browser reads `/\\x` or `/<tab>/x` as another
/// site), and is at most 500 characters.
pub fn local_path(href: &str) -> bool {
    href.len() <= 500
        && href.starts_with('/')
        && !href.starts_with("//")
        && !href
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// An opportunity raised by `by` at `link`, with its evidence measured at `now`: open, scored
/// 3/3/3 until someone scores it.
pub fn raised(
    by: &str,
    owner: String,
    link: Link,
    (source, evidence): (Source, Vec<crate::plans::Evidence>),
    title: String,
    now: i64,
) -> Opportunity {
    Opportunity {
        id: 0,
        revision: 1,
        title,
        owner,
        status: OpportunityStatus::Open,
        problem: String::new(),
        links: vec![link],
        source: Some(source),
        evidence,
        measured_us: Some(now),
        score: Score::default(),
        history: vec![Change {
            by: by.to_string(),
            at_us: now,
            words: "raised it".into(),
        }],
        created_by: by.to_string(),
        created_us: now,
        updated_us: now,
    }
}

/// A new initiative of `owner`, proposed, with nothing else written yet.
pub fn proposed(by: &str, owner: String, now: i64) -> Initiative {
    Initiative {
        id: 0,
        revision: 1,
        title: String::new(),
        owner,
        status: InitiativeStatus::Proposed,
        summary: String::new(),
        departments: Vec::new(),
        start: None,
        target_date: None,
        opportunities: Vec::new(),
        delivers: None,
        measure_from: None,
        goals: Vec::new(),
        history: Vec::new(),
        created_by: by.to_string(),
        created_us: now,
        updated_us: now,
    }
}

/// Raises an opportunity: its evidence is measured now, from the live log.
pub async fn raise(
    state: &AppState,
    caller: &Caller,
    raise: Raise,
) -> Result<Opportunity, ApiError> {
    let by = caller.recorded_as();
    let owner = match (&raise.owner, caller.person()) {
        (Some(owner), _) => owner.trim().to_string(),
        (None, Some(person)) => person.id.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_plan",
                "say who owns it: a person's directory id",
                "/owner",
            ));
        }
    };
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state2.store.as_ref();
        let journey = journey_of(store, &raise.journey, "/journey")?;
        check_owner(store, &owner, "/owner")?;
        let (touchpoint, found, source, title) = measure_raise(&state2, &journey, &raise)?;
        let now = state2.clock.now_us();
        let title = raise
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(title);
        let mut opportunity = raised(
            &by,
            owner,
            Link {
                journey: journey.id.clone(),
                touchpoint: Some(touchpoint),
            },
            (source, found),
            title,
            now,
        );
        opportunity.problem = raise.problem.clone().unwrap_or_default();
        opportunity.score = raise.score.unwrap_or_default();
        first(opportunity.check())?;
        let id = store
            .add_plan(PlanKind::Opportunity, &opportunity.text(), &by, now)
            .map_err(|e| ApiError::internal(&e))?;
        opportunity.id = id;
        tracing::info!(opportunity = id, journey = %journey.id, "an opportunity was raised");
        Ok(opportunity)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// What a change of an opportunity sets; what is left out stays.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct OpportunityChange {
    /// The revision read: the change is refused (409) when the opportunity changed since.
    pub revision: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// `open`, `planned`, `solved` or `dismissed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub score: Option<Score>,
    /// Every link (replaces them).
    #[serde(default)]
    pub links: Option<Vec<Link>>,
}

/// Refuses a change of plan `id` of `kind` the caller may not make: 404 when they may not read
/// it (or there is none), 403 when they may read but not change it. Asked before a body is read,
/// so that nobody learns what a change must look like for a plan they may not change.
pub async fn may_change(
    state: &AppState,
    caller: &Caller,
    id: i64,
    kind: PlanKind,
) -> Result<(), ApiError> {
    let what = match kind {
        PlanKind::Opportunity => "opportunity",
        PlanKind::Initiative => "initiative",
    };
    let plan = state.blocking(move |store| store.plan(id)).await?;
    let Some(plan) = plan.filter(|p| p.kind == kind) else {
        return Err(not_found(what, id));
    };
    if !crate::access::may_read_plan(caller, &plan.text.owner) {
        return Err(not_found(what, id));
    }
    if !crate::access::may_change_plan(caller, &plan.text.owner, &plan.created_by) {
        return Err(forbidden(what));
    }
    Ok(())
}

/// An opportunity by id.
pub fn opportunity(store: &dyn Store, id: i64) -> Result<Option<Opportunity>, ApiError> {
    match store.plan(id).map_err(|e| ApiError::internal(&e))? {
        Some(plan) if plan.kind == PlanKind::Opportunity => Opportunity::read(&plan)
            .map(Some)
            .map_err(|e| ApiError::internal(&e)),
        _ => Ok(None),
    }
}

/// Every opportunity, the highest priority first (then the newest).
pub fn opportunities(store: &dyn Store) -> Result<Vec<Opportunity>, ApiError> {
    let mut all = store
        .plans(PlanKind::Opportunity)
        .map_err(|e| ApiError::internal(&e))?
        .iter()
        .filter_map(|p| match Opportunity::read(p) {
            Ok(o) => Some(o),
            Err(error) => {
                tracing::warn!(%error, "a stored opportunity does not read");
                None
            }
        })
        .collect::<Vec<_>>();
    all.sort_by(|a, b| {
        b.score
            .priority()
            .total_cmp(&a.score.priority())
            .then(b.id.cmp(&a.id))
    });
    Ok(all)
}

/// Changes an opportunity.
pub async fn change_opportunity(
    state: &AppState,
    caller: &Caller,
    id: i64,
    change: OpportunityChange,
) -> Result<Opportunity, ApiError> {
    let (by, caller) = (caller.recorded_as(), caller.clone());
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state2.store.as_ref();
        let mut o = opportunity(store, id)?.ok_or_else(|| not_found("opportunity", id))?;
        if !crate::access::may_read_plan(&caller, &o.owner) {
            return Err(not_found("opportunity", id));
        }
        if !crate::access::may_change_plan(&caller, &o.owner, &o.created_by) {
            return Err(forbidden("opportunity"));
        }
        if o.revision != change.revision {
            return Err(stale("opportunity"));
        }
        let mut said = Vec::new();
        if let Some(title) = differs(change.title, &o.title) {
            o.title = title;
            said.push("renamed it".to_string());
        }
        if let Some(problem) = change.problem.filter(|p| *p != o.problem) {
            o.problem = problem;
            said.push("rewrote the problem".to_string());
        }
        if let Some(owner) = differs(change.owner, &o.owner) {
            check_owner(store, &owner, "/owner")?;
            said.push(format!("gave it to {owner}"));
            o.owner = owner;
        }
        if let Some(status) = change.status {
            let status = OpportunityStatus::parse(&status).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_plan",
                    format!("`{status}` is not a status; use open, planned, solved or dismissed"),
                    "/status",
                )
            })?;
            if status != o.status {
                said.push(format!("marked it {}", status.as_str()));
                o.status = status;
            }
        }
        if let Some(score) = change.score.filter(|s| *s != o.score) {
            said.push(format!(
                "scored it {}/{}/{} (customer value, business value, effort)",
                score.customer_value, score.business_value, score.effort
            ));
            o.score = score;
        }
        if change.links.is_some() && !caller.may(crate::access::Capability::ReadJourneys) {
            return Err(crate::access::forbidden(
                &caller,
                crate::access::Capability::ReadJourneys,
            ));
        }
        if let Some(links) = change.links.filter(|l| *l != o.links) {
            check_links(store, &links)?;
            said.push(format!("linked it to {} touchpoints", links.len()));
            o.links = links;
        }
        first(o.check())?;
        if said.is_empty() {
            return Ok(o);
        }
        let now = state2.clock.now_us();
        remember(
            &mut o.history,
            Change {
                by: by.clone(),
                at_us: now,
                words: said.join("; "),
            },
        );
        if !store
            .change_plan(id, o.revision, &o.text(), &by, now)
            .map_err(|e| ApiError::internal(&e))?
        {
            return Err(stale("opportunity"));
        }
        o.revision += 1;
        o.updated_us = now;
        Ok(o)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// An initiative as written: to add one, or (with `revision`) to change one; on a change, what
/// is left out stays.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct InitiativeInput {
    /// For a change: the revision read (409 when it changed since).
    #[serde(default)]
    pub revision: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// A directory id (default for a new one: whoever adds it).
    #[serde(default)]
    pub owner: Option<String>,
    /// `proposed`, `active`, `done` or `stopped`. Becoming active measures each KPI's baseline.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub departments: Option<Vec<String>>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub target_date: Option<String>,
    /// The opportunities it addresses (open ones become planned).
    #[serde(default)]
    pub opportunities: Option<Vec<i64>>,
    /// The journey version it delivers; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Delivery>)]
    pub delivers: Option<Option<Delivery>>,
    /// Measure before and after this day (`YYYY-MM-DD`) instead of the delivery's deployment;
    /// an empty string removes it.
    #[serde(default)]
    pub measure_from: Option<String>,
    /// The KPIs it is meant to move (replaces them; kept baselines stay with their KPI).
    #[serde(default)]
    pub goals: Option<Vec<GoalInput>>,
}

/// A field that may be sent as `null` (to remove what it names) or left out (to keep it).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A KPI an initiative is meant to move, as written.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct GoalInput {
    pub journey: String,
    pub kpi: String,
    /// In the KPI's unit as written in journey files: `80%`, `2d`, `4.2`, `40/day`; none: the
    /// KPI's own target.
    #[serde(default)]
    pub target: Option<String>,
}

/// Every initiative, by id.
pub fn initiatives(store: &dyn Store) -> Result<Vec<Initiative>, ApiError> {
    Ok(store
        .plans(PlanKind::Initiative)
        .map_err(|e| ApiError::internal(&e))?
        .iter()
        .filter_map(|p| match Initiative::read(p) {
            Ok(i) => Some(i),
            Err(error) => {
                tracing::warn!(%error, "a stored initiative does not read");
                None
            }
        })
        .collect())
}

pub fn initiative(store: &dyn Store, id: i64) -> Result<Option<Initiative>, ApiError> {
    match store.plan(id).map_err(|e| ApiError::internal(&e))? {
        Some(plan) if plan.kind == PlanKind::Initiative => Initiative::read(&plan)
            .map(Some)
            .map_err(|e| ApiError::internal(&e)),
        _ => Ok(None),
    }
}

/// The KPI `kpi` of `journey`, with its scope.
fn kpi_of<'j>(journey: &'j Journey, kpi: &str) -> Option<(&'j Kpi, Scope)> {
    kpis::definitions(journey)
        .into_iter()
        .find(|(k, ..)| k.id == kpi)
        .map(|(k, scope, _)| (k, scope))
}

/// Reads a target as the KPI's measure writes it (`80%`, `2d`), into the stored unit.
fn target_of(kpi: &Kpi, text: &str, field: &str) -> Result<f64, ApiError> {
    let bare = Kpi {
        target: None,
        owner: None,
        ..kpi.clone()
    };
    let op = match kpi.direction {
        waymark_journey::kpi::Direction::Up => ">=",
        waymark_journey::kpi::Direction::Down => "<=",
    };
    let refused = |why: String| {
        ApiError::bad_request(
            "invalid_plan",
            format!("the target “{text}” does not read for this KPI: {why}"),
            field,
        )
    };
    let read = waymark_journey::kpi::parse(&format!("{bare} {op} {text}"))
        .map_err(|p| refused(format!("{} ({})", p.message, p.hint)))?;
    read.target
        .ok_or_else(|| refused("write it in the KPI's unit, like 80%, 2d, 4.2 or 40/day".into()))
}

/// Applies `input` to `i` (a new one when its id is 0), checked against the store; says what
/// changed.
fn apply(
    store: &dyn Store,
    caller: &Caller,
    i: &mut Initiative,
    input: InitiativeInput,
) -> Result<Vec<String>, ApiError> {
    let mut said = Vec::new();
    too_many(
        input.departments.as_ref().map_or(0, Vec::len),
        "/departments",
    )?;
    too_many(
        input.opportunities.as_ref().map_or(0, Vec::len),
        "/opportunities",
    )?;
    too_many(input.goals.as_ref().map_or(0, Vec::len), "/goals")?;
    // What names journeys, KPIs and other plans is for those who may read them.
    let reads = caller.may(crate::access::Capability::ReadJourneys);
    for (field, set) in [
        ("/goals", input.goals.is_some()),
        ("/delivers", input.delivers.is_some()),
        ("/opportunities", input.opportunities.is_some()),
    ] {
        if set && !reads {
            return Err(ApiError {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "forbidden",
                message: format!(
                    "`{}` names journeys and plans: it needs one of the roles {}",
                    field.trim_start_matches('/'),
                    crate::access::JOURNEY_READERS.join(", ")
                ),
                field: Some(field.into()),
                accepted: None,
            });
        }
    }
    if let Some(title) = differs(input.title, &i.title) {
        i.title = title;
        said.push("renamed it".to_string());
    }
    if let Some(summary) = input.summary.filter(|s| *s != i.summary) {
        i.summary = summary;
        said.push("rewrote the summary".to_string());
    }
    if let Some(owner) = differs(input.owner, &i.owner) {
        check_owner(store, &owner, "/owner")?;
        said.push(format!("gave it to {owner}"));
        i.owner = owner;
    }
    if let Some(status) = input.status {
        let status = InitiativeStatus::parse(&status).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_plan",
                format!("`{status}` is not a status; use proposed, active, done or stopped"),
                "/status",
            )
        })?;
        if status != i.status {
            said.push(format!("marked it {}", status.as_str()));
            i.status = status;
        }
    }
    if let Some(departments) = input.departments {
        let departments: Vec<String> = departments
            .into_iter()
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect();
        if departments != i.departments {
            said.push(format!("involved {}", departments.join(", ")));
            i.departments = departments;
        }
    }
    let day = |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(start) = input.start {
        let start = day(Some(start));
        if start != i.start {
            said.push(format!(
                "set the start to {}",
                start.as_deref().unwrap_or("none")
            ));
            i.start = start;
        }
    }
    if let Some(target) = input.target_date {
        let target = day(Some(target));
        if target != i.target_date {
            said.push(format!(
                "set the target date to {}",
                target.as_deref().unwrap_or("none")
            ));
            i.target_date = target;
        }
    }
    if let Some(from) = input.measure_from {
        let from = day(Some(from));
        if from != i.measure_from {
            said.push(format!(
                "measures from {}",
                from.as_deref().unwrap_or("the delivery")
            ));
            i.measure_from = from;
        }
    }
    match input.delivers {
        Some(None) if i.delivers.is_some() => {
            said.push("delivers no journey version".to_string());
            i.delivers = None;
        }
        Some(Some(delivers)) if Some(&delivers) != i.delivers.as_ref() => {
            journey_of(store, &delivers.journey, "/delivers/journey")?;
            if let Some(v) = delivers.version
                && store
                    .journey(&delivers.journey, Some(v))
                    .map_err(|e| ApiError::internal(&e))?
                    .is_none()
            {
                return Err(ApiError::bad_request(
                    "unknown_version",
                    format!("the journey `{}` has no version {v}", delivers.journey),
                    "/delivers/version",
                ));
            }
            said.push(format!("delivers {}", delivered(&delivers)));
            i.delivers = Some(delivers);
        }
        _ => {}
    }
    if let Some(mut ids) = input.opportunities {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        for (k, id) in ids.iter().enumerate() {
            let readable = opportunity(store, *id)?
                .is_some_and(|o| crate::access::may_read_plan(caller, &o.owner));
            if !readable {
                return Err(ApiError::bad_request(
                    "unknown_opportunity",
                    format!("there is no opportunity {id}"),
                    format!("/opportunities/{k}"),
                ));
            }
        }
        if ids != i.opportunities {
            said.push(format!("addresses {} opportunities", ids.len()));
            i.opportunities = ids;
        }
    }
    if let Some(goals) = input.goals {
        let mut read = Vec::new();
        let mut models: HashMap<String, Journey> = HashMap::new();
        for (k, g) in goals.into_iter().enumerate() {
            if !models.contains_key(&g.journey) {
                let journey = journey_of(store, &g.journey, &format!("/goals/{k}/journey"))?;
                models.insert(g.journey.clone(), journey);
            }
            let journey = &models[&g.journey];
            let Some((kpi, _)) = kpi_of(journey, &g.kpi) else {
                return Err(ApiError::bad_request(
                    "unknown_kpi",
                    format!("the journey `{}` has no KPI `{}`", g.journey, g.kpi),
                    format!("/goals/{k}/kpi"),
                ));
            };
            if kpi.measure.is_none() {
                return Err(ApiError::bad_request(
                    "unknown_kpi",
                    format!("the KPI `{}` is a note, not a measure", g.kpi),
                    format!("/goals/{k}/kpi"),
                ));
            }
            let target = g
                .target
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| target_of(kpi, t, &format!("/goals/{k}/target")))
                .transpose()?;
            let baseline = i
                .goals
                .iter()
                .find(|old| old.journey == g.journey && old.kpi == g.kpi)
                .and_then(|old| old.baseline.clone());
            read.push(Goal {
                journey: g.journey,
                kpi: g.kpi,
                target,
                baseline,
            });
        }
        if read != i.goals {
            said.push(format!("is meant to move {} KPIs", read.len()));
            i.goals = read;
        }
    }
    first(i.check())?;
    Ok(said)
}

/// The version a delivery names, in words.
pub fn delivered(d: &Delivery) -> String {
    match d.version {
        Some(v) => format!("version {v} of {}", d.journey),
        None => format!("the next version of {}", d.journey),
    }
}

/// Measures the baseline of each goal without one, over the days before the start (blocking).
fn measure_baselines(state: &AppState, i: &mut Initiative) -> Result<usize, ApiError> {
    let Some(start) = i.start.as_deref().and_then(day_us) else {
        return Ok(0);
    };
    let now = state.clock.now_us();
    let mut measured = 0;
    let wanted: Vec<usize> = (0..i.goals.len())
        .filter(|&k| i.goals[k].baseline.is_none())
        .collect();
    let journeys: Vec<String> = wanted.iter().map(|&k| i.goals[k].journey.clone()).collect();
    let (_, observed) = observations(state, &journeys, now)?;
    for k in wanted {
        let goal = &mut i.goals[k];
        if let Some(o) = observed.get(&(goal.journey.clone(), goal.kpi.clone())) {
            goal.baseline = Some(baseline(o, start, now));
            measured += 1;
        }
    }
    Ok(measured)
}

/// A KPI's baseline: its value over the [`BASELINE_DAYS`] before `start`, measured at `now`.
pub fn baseline(o: &Observations, start: Micros, now: Micros) -> Baseline {
    let from = start - BASELINE_DAYS * DAY;
    let value = o.value(from, start);
    Baseline {
        value: value.map(|(v, _)| v),
        n: value.map_or(0, |(_, n)| n),
        from_us: from,
        to_us: start,
        measured_us: now,
    }
}

/// Every measurable KPI of `journey` observed in `instances` at `now`, by KPI id.
pub fn observe_all(
    journey: &Journey,
    instances: &[Instance],
    now: Micros,
) -> HashMap<String, Observations> {
    kpis::definitions(journey)
        .into_iter()
        .filter_map(|(kpi, scope, _)| {
            kpis::observe(journey, instances, kpi, scope, now).map(|o| (kpi.id.clone(), o))
        })
        .collect()
}

/// KPIs' observations by (journey, KPI id).
pub type Observed = HashMap<(String, String), Observations>;

/// The latest versions of `journeys`, read once each, and the observations of every KPI of
/// them, by (journey, KPI id), observed at `now` (blocking).
pub fn observations(
    state: &AppState,
    journeys: &[String],
    now: Micros,
) -> Result<(Vec<Journey>, Observed), ApiError> {
    let mut wanted: Vec<&String> = journeys.iter().collect();
    wanted.sort();
    wanted.dedup();
    let mut models = Vec::new();
    for id in wanted {
        models.push(journey_of(state.store.as_ref(), id, "/goals")?);
    }
    let mut found = HashMap::new();
    if models.is_empty() {
        return Ok((models, found));
    }
    let snapshot = live_log(
        &state.logs,
        &state.store,
        &models,
        &Options::default(),
        API_WAIT,
    )
    .map_err(measure_error)?;
    for journey in &models {
        let instances: Arc<Vec<Instance>> = state
            .logs
            .instances(&snapshot, journey)
            .map_err(|e| measure_error(Measure::Options(e)))?;
        for (kpi, o) in observe_all(journey, &instances, now) {
            found.insert((journey.id.clone(), kpi), o);
        }
    }
    Ok((models, found))
}

/// Adds an initiative (measuring its baselines when it starts active).
pub async fn add_initiative(
    state: &AppState,
    caller: &Caller,
    input: InitiativeInput,
) -> Result<Initiative, ApiError> {
    let (by, caller) = (caller.recorded_as(), caller.clone());
    let owner = match (&input.owner, caller.person()) {
        (Some(_), _) => String::new(),
        (None, Some(person)) => person.id.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_plan",
                "say who owns it: a person's directory id",
                "/owner",
            ));
        }
    };
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state2.store.as_ref();
        let now = state2.clock.now_us();
        let mut i = proposed(&by, owner, now);
        apply(store, &caller, &mut i, input)?;
        check_owner(store, &i.owner, "/owner")?;
        let mut words = "started it".to_string();
        if i.status.started() {
            let n = measure_baselines(&state2, &mut i)?;
            words = format!("started it; measured {n} baselines");
        }
        remember(
            &mut i.history,
            Change {
                by: by.clone(),
                at_us: now,
                words,
            },
        );
        let id = store
            .add_plan(PlanKind::Initiative, &i.text(), &by, now)
            .map_err(|e| ApiError::internal(&e))?;
        i.id = id;
        plan_opportunities(store, &caller, &i, &by, now)?;
        tracing::info!(initiative = id, "an initiative was added");
        Ok(i)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// Marks the open opportunities an initiative addresses as planned.
fn plan_opportunities(
    store: &dyn Store,
    caller: &Caller,
    i: &Initiative,
    by: &str,
    now: i64,
) -> Result<(), ApiError> {
    for id in &i.opportunities {
        // Another change meanwhile: that one stands (the opportunity stays as its author left it).
        if let Some(mut o) = opportunity(store, *id)?
            && o.status == OpportunityStatus::Open
            && crate::access::may_change_plan(caller, &o.owner, &o.created_by)
        {
            o.status = OpportunityStatus::Planned;
            remember(
                &mut o.history,
                Change {
                    by: by.to_string(),
                    at_us: now,
                    words: format!("planned it in the initiative “{}” ({})", i.title, i.id),
                },
            );
            store
                .change_plan(o.id, o.revision, &o.text(), by, now)
                .map_err(|e| ApiError::internal(&e))?;
        }
    }
    Ok(())
}

/// Changes an initiative; becoming active measures the baselines not measured yet.
pub async fn change_initiative(
    state: &AppState,
    caller: &Caller,
    id: i64,
    input: InitiativeInput,
) -> Result<Initiative, ApiError> {
    let (by, caller) = (caller.recorded_as(), caller.clone());
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state2.store.as_ref();
        let mut i = initiative(store, id)?.ok_or_else(|| not_found("initiative", id))?;
        if !crate::access::may_read_plan(&caller, &i.owner) {
            return Err(not_found("initiative", id));
        }
        if !crate::access::may_change_plan(&caller, &i.owner, &i.created_by) {
            return Err(forbidden("initiative"));
        }
        let Some(revision) = input.revision else {
            return Err(ApiError::bad_request(
                "invalid_plan",
                "send the revision you read, so that a change made meanwhile is not overwritten",
                "/revision",
            ));
        };
        if revision != i.revision {
            return Err(stale("initiative"));
        }
        let mut said = apply(store, &caller, &mut i, input)?;
        if i.status.started() && i.goals.iter().any(|g| g.baseline.is_none()) {
            let n = measure_baselines(&state2, &mut i)?;
            if n > 0 {
                said.push(format!("measured {n} baselines"));
            }
        }
        if said.is_empty() {
            return Ok(i);
        }
        let now = state2.clock.now_us();
        remember(
            &mut i.history,
            Change {
                by: by.clone(),
                at_us: now,
                words: said.join("; "),
            },
        );
        if !store
            .change_plan(id, i.revision, &i.text(), &by, now)
            .map_err(|e| ApiError::internal(&e))?
        {
            return Err(stale("initiative"));
        }
        i.revision += 1;
        i.updated_us = now;
        plan_opportunities(store, &caller, &i, &by, now)?;
        Ok(i)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// When an initiative's KPIs are split into before and after, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub at: Micros,
    pub words: String,
}

/// Where an initiative is measured from: the day set by hand, else when the version it delivers
/// was deployed (the named one, or the first deployed after its start); none before either.
pub fn split(store: &dyn Store, i: &Initiative) -> Result<Option<Split>, ApiError> {
    if let Some(at) = i.measure_from.as_deref().and_then(day_us) {
        return Ok(Some(Split {
            at,
            words: format!("from {}, as set by hand", day_of(at)),
        }));
    }
    let Some(d) = &i.delivers else {
        return Ok(None);
    };
    let versions = store
        .journey_versions(&d.journey)
        .map_err(|e| ApiError::internal(&e))?;
    let start = i.start.as_deref().and_then(day_us).unwrap_or(i.created_us);
    let found = match d.version {
        Some(v) => versions.into_iter().find(|x| x.version == v),
        None => versions.into_iter().find(|x| x.deployed_us >= start),
    };
    Ok(found.map(|x| Split {
        at: x.deployed_us,
        words: format!(
            "from the deployment of version {} ({}) of {} on {}",
            x.version,
            x.label,
            d.journey,
            day_of(x.deployed_us)
        ),
    }))
}

/// One KPI of an initiative, measured now.
#[derive(Debug, Clone)]
pub struct GoalResult {
    pub goal: Goal,
    pub kpi: Option<Kpi>,
    /// The KPI's name and unit, when the journey still has it.
    pub unit: Option<waymark_journey::kpi::Unit>,
    /// The last 28 days.
    pub now: Option<(f64, usize)>,
    pub compared: Option<Comparison>,
    /// In words: whether it moved, or why it cannot be said yet.
    pub words: String,
}

/// Each KPI of an initiative now and, once there is a split, before and after it (blocking).
pub fn results(
    state: &AppState,
    i: &Initiative,
) -> Result<(Option<Split>, Vec<GoalResult>), ApiError> {
    let split = split(state.store.as_ref(), i)?;
    let now = state.clock.now_us();
    let journeys: Vec<String> = i.goals.iter().map(|g| g.journey.clone()).collect();
    let (models, observed) = observations(state, &journeys, now)?;
    let models: HashMap<&str, &Journey> = models.iter().map(|j| (j.id.as_str(), j)).collect();
    let results = i
        .goals
        .iter()
        .map(|g| {
            let kpi = models
                .get(g.journey.as_str())
                .and_then(|j| kpi_of(j, &g.kpi))
                .map(|(k, _)| k.clone());
            let o = observed.get(&(g.journey.clone(), g.kpi.clone()));
            let value = o.and_then(|o| o.value(now - BASELINE_DAYS * DAY, now));
            let compared = match (o, &split) {
                (Some(o), Some(s)) => o.around(s.at, BASELINE_DAYS),
                _ => None,
            };
            let words = match (&kpi, o, &split) {
                (None, ..) => format!("the journey {} no longer has this KPI", g.journey),
                (Some(_), None, _) => "not measured: no events yet".to_string(),
                (Some(_), Some(_), None) => {
                    "before and after: once the version it delivers is deployed (or a day is set)"
                        .to_string()
                }
                (Some(k), Some(o), Some(s)) if s.at + BASELINE_DAYS * DAY > now => format!(
                    "{} (the {BASELINE_DAYS} days after are not over yet)",
                    kpis::verdict(k, o.unit, compared.as_ref())
                ),
                (Some(k), Some(o), Some(_)) => kpis::verdict(k, o.unit, compared.as_ref()),
            };
            GoalResult {
                goal: g.clone(),
                unit: o.map(|o| o.unit),
                kpi,
                now: value,
                compared,
                words,
            }
        })
        .collect();
    Ok((split, results))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_app_are_linked_back_to() {
        for good in [
            "/journeys/loan/touchpoints/apply",
            "/journeys/loan/funnel?step=a&step=b",
        ] {
            assert!(local_path(good), "{good}");
        }
        let long = format!("/{}", "a".repeat(500));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/ /evil.example",
            "journeys",
            "",
            long.as_str(),
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
