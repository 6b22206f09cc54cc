//! `/v1/journeys/{id}/proposals`: the to-be versions proposed for a journey, and where each
//! stands (see `changes`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use waymark_store::proposals::Proposal;

use crate::access::{Capability, require};
use crate::{ApiError, AppState};

/// A proposed journey version.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProposalJson {
    id: i64,
    journey: String,
    /// The file's version label.
    label: String,
    /// `waiting`, `published`, `sent-back`, `withdrawn` or `stale`.
    status: String,
    /// The journey's version it was proposed on (0: none).
    base: i64,
    proposed_by: String,
    proposed_at: String,
    /// The approval request.
    request: Option<i64>,
    decided_by: Option<String>,
    decided_at: Option<String>,
    /// Why it was sent back, withdrawn or stale.
    note: Option<String>,
    /// The version it became, once published.
    version: Option<i64>,
    /// What it changes against the version it was proposed on, in words.
    summary: String,
    /// The five change-impact questions with the file's answers.
    answers: Vec<Answer>,
    /// The journey file.
    source: String,
}

/// One change-impact question and its answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Answer {
    key: String,
    question: String,
    answer: Option<String>,
}

/// The proposals of a journey, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProposalList {
    proposals: Vec<ProposalJson>,
}

fn time(us: i64) -> String {
    waymark_eventlog::time::format_micros(us)
}

/// A proposal as the API shows it; `base` is the source of the version it was proposed on.
pub fn proposal_json(p: Proposal, base: Option<&str>) -> ProposalJson {
    let after = waymark_journey::check(&p.source).journey;
    let before = base.and_then(|s| waymark_journey::check(s).journey);
    let summary = after
        .as_ref()
        .map(|a| waymark_journey::diff::summary(before.as_ref(), a))
        .unwrap_or_default();
    let change = after.as_ref().and_then(|a| a.change.clone());
    let answers = waymark_journey::CHANGE_QUESTIONS
        .iter()
        .enumerate()
        .map(|(i, q)| Answer {
            key: q.key.to_string(),
            question: q.question.to_string(),
            answer: change
                .as_ref()
                .and_then(|c| c.answers()[i].map(str::to_string)),
        })
        .collect();
    ProposalJson {
        id: p.id,
        journey: p.journey,
        label: p.label,
        status: p.status.as_str().to_string(),
        base: p.base,
        proposed_by: p.proposed_by,
        proposed_at: time(p.proposed_us),
        request: p.request,
        decided_by: p.decided_by,
        decided_at: p.decided_us.map(time),
        note: p.note,
        version: p.version,
        summary,
        answers,
        source: p.source,
    }
}

/// Reads proposals with the source of the versions they were proposed on.
fn with_bases(
    store: &dyn waymark_store::Store,
    proposals: Vec<Proposal>,
) -> Result<Vec<ProposalJson>, waymark_store::StoreError> {
    let Some(first) = proposals.first() else {
        return Ok(Vec::new());
    };
    let versions = store.journey_versions(&first.journey)?;
    Ok(proposals
        .into_iter()
        .map(|p| {
            let base = versions
                .iter()
                .find(|v| v.version == p.base)
                .map(|v| v.source.clone());
            proposal_json(p, base.as_deref())
        })
        .collect())
}

/// The to-be versions proposed for a journey, newest first (at most 100), and where each stands.
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/proposals",
    tag = "journeys",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The journey id")),
    responses(
        (status = 200, description = "Its proposals, newest first", body = ProposalList),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_proposals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ProposalList>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let proposals = state
        .blocking(move |store| with_bases(store, store.proposals(Some(&id), 100)?))
        .await?;
    Ok(Json(ProposalList { proposals }))
}

/// One proposed version: its answers, what it changes, and where it stands. Whoever reads
/// journeys may read it, and so may its proposer and its approver.
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/proposals/{proposal}",
    tag = "journeys",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "The journey id"),
        ("proposal" = i64, Path, description = "The proposal id"),
    ),
    responses(
        (status = 200, description = "The proposal", body = ProposalJson),
        (status = 400, description = "The proposal id is not a number", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such proposal of this journey (or not one the caller may read)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn proposal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, proposal)): Path<(String, String)>,
) -> Result<Json<ProposalJson>, ApiError> {
    let caller = crate::access::caller(&state, &headers).await?;
    if !caller.may(Capability::ReadJourneys) && caller.person().is_none() {
        return Err(crate::access::forbidden(&caller, Capability::ReadJourneys));
    }
    let number: i64 = proposal.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{proposal}` is not a proposal id; proposal ids are whole numbers"),
            "proposal",
        )
    })?;
    let found = state
        .blocking(move |store| {
            let Some(p) = crate::changes::readable_proposal(store, &caller, &id, number)? else {
                return Ok(None);
            };
            Ok(with_bases(store, vec![p])?.pop())
        })
        .await?;
    found.map(Json).ok_or_else(|| ApiError {
        status: axum::http::StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!(
            "journey has no proposal {number}; GET /v1/journeys/{{id}}/proposals lists them"
        ),
        field: Some("proposal".to_string()),
        accepted: None,
    })
}
