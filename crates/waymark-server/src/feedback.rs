//! Feedback surveys at touchpoints: signed links that let one person rate one touchpoint of a
//! journey (CSAT 1–5, NPS 0–10, CES 1–7 and a comment) without signing in, and the answer
//! recorded as an event like any other, so the journey's report counts it.
//!
//! A survey link is signed with a key of its own (`surveys`), so it can never open a request's
//! step or sign anyone in. A link takes one answer: the event's message id is derived from the
//! link, and the store drops a second copy.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use waymark_store::NewEvent;

use crate::mail::{LinkError, Links};
use crate::{ApiError, AppState};

/// How long a survey link works, by default.
pub const SURVEY_DAYS: i64 = 30;
const DAY_US: i64 = 86_400_000_000;
/// The event a survey answer is recorded as.
pub const SURVEY_EVENT: &str = "Survey Answered";

/// What a survey link allows: `person` rates `touchpoint` of `journey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub journey: String,
    pub touchpoint: String,
    pub person: String,
    pub expires_us: i64,
}

/// Signs and checks survey links.
#[derive(Debug, Clone)]
pub struct Surveys {
    links: Links,
}

impl Surveys {
    pub fn new(secret: &str) -> Surveys {
        Surveys {
            links: Links::new(secret),
        }
    }

    /// Keys by id, newest first (see [`Links::with_keys`]).
    pub fn with_keys(keys: Vec<(String, String)>) -> Surveys {
        Surveys {
            links: Links::with_keys(keys),
        }
    }

    pub fn sign(&self, survey: &Survey) -> String {
        // Ids are checked to hold no `|` before signing; the person comes last and may hold any.
        self.links.sign_text(&format!(
            "survey|{}|{}|{}|{}",
            survey.expires_us, survey.journey, survey.touchpoint, survey.person
        ))
    }

    pub fn check(&self, token: &str, now_us: i64) -> Result<Survey, LinkError> {
        let text = self.links.check_text(token)?;
        let mut parts = text.splitn(5, '|');
        let (Some("survey"), Some(expires), Some(journey), Some(touchpoint), Some(person)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(LinkError::Forged);
        };
        let expires_us: i64 = expires.parse().map_err(|_| LinkError::Forged)?;
        if now_us > expires_us {
            return Err(LinkError::Expired);
        }
        Ok(Survey {
            journey: journey.to_string(),
            touchpoint: touchpoint.to_string(),
            person: person.to_string(),
            expires_us,
        })
    }
}

/// The answers of one survey; each is optional, at least one must be given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    pub csat: Option<u8>,
    pub nps: Option<u8>,
    pub ces: Option<u8>,
    pub comment: Option<String>,
}

/// The most characters a comment keeps.
pub const COMMENT_CHARS: usize = 2_000;

impl Answers {
    /// The problems, by field: out of range, too long, or nothing answered.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let range = |name: &'static str, value: Option<u8>, low: u8, high: u8, out: &mut Vec<_>| {
            if let Some(v) = value
                && !(low..=high).contains(&v)
            {
                out.push((name, format!("Choose a number from {low} to {high}.")));
            }
        };
        range("csat", self.csat, 1, 5, &mut out);
        range("nps", self.nps, 0, 10, &mut out);
        range("ces", self.ces, 1, 7, &mut out);
        if let Some(c) = &self.comment
            && c.chars().count() > COMMENT_CHARS
        {
            out.push((
                "comment",
                format!("Keep the comment under {COMMENT_CHARS} characters."),
            ));
        }
        let blank = self.comment.as_deref().is_none_or(|c| c.trim().is_empty());
        if self.csat.is_none() && self.nps.is_none() && self.ces.is_none() && blank {
            out.push((
                "csat",
                "Answer at least one question, or write a comment.".into(),
            ));
        }
        out
    }
}

/// Why an answer was not recorded.
#[derive(Debug)]
pub enum FeedbackError {
    /// The answers have problems, by field.
    Invalid(Vec<(&'static str, String)>),
    Store(waymark_store::StoreError),
}

/// Records `answers` for `survey` as a `Survey Answered` track event of the person. Returns
/// false when this link was answered before (the first answer stands).
pub fn record(
    store: &dyn waymark_store::Store,
    token: &str,
    survey: &Survey,
    answers: &Answers,
    now_us: i64,
) -> Result<bool, FeedbackError> {
    let problems = answers.problems();
    if !problems.is_empty() {
        return Err(FeedbackError::Invalid(problems));
    }
    let mut properties = Map::new();
    properties.insert("journey".into(), Value::from(survey.journey.clone()));
    properties.insert("touchpoint".into(), Value::from(survey.touchpoint.clone()));
    for (key, value) in [
        ("csat", answers.csat),
        ("nps", answers.nps),
        ("ces", answers.ces),
    ] {
        if let Some(v) = value {
            properties.insert(key.into(), Value::from(v));
        }
    }
    if let Some(comment) = answers.comment.as_deref().map(str::trim)
        && !comment.is_empty()
    {
        properties.insert("comment".into(), Value::from(comment));
    }
    let digest = Sha256::digest(token.as_bytes());
    let message_id = format!(
        "survey-{}",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let body = json!({
        "type": "track",
        "event": SURVEY_EVENT,
        "userId": survey.person,
        "messageId": message_id,
        "properties": properties,
        "context": { "channel": "email" },
    });
    let appended = store
        .append(vec![NewEvent {
            message_id: message_id.clone(),
            kind: "track".into(),
            name: Some(SURVEY_EVENT.into()),
            user_id: Some(survey.person.clone()),
            anonymous_id: None,
            timestamp_us: now_us,
            received_us: now_us,
            body: body.to_string(),
        }])
        .map_err(FeedbackError::Store)?;
    let first = appended.inserted == 1;
    if first {
        // An unhappy answer opens a follow-up; the answer stands whatever happens to it.
        let answered = crate::followups::Answered {
            journey: &survey.journey,
            touchpoint: &survey.touchpoint,
            person: &survey.person,
            key: &message_id,
        };
        if let Err(error) = crate::followups::open(store, &answered, answers, now_us) {
            tracing::error!(%error, journey = %survey.journey, touchpoint = %survey.touchpoint, "a follow-up could not be opened");
        }
    }
    Ok(first)
}

/// What `POST /v1/surveys` takes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSurvey {
    /// Who answers: a user id.
    pub person: String,
    /// The deployed journey and the touchpoint rated.
    pub journey: String,
    pub touchpoint: String,
    /// How long the link works (default 30).
    pub days: Option<i64>,
}

fn bad(field: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid",
        message,
        field: Some(field.to_string()),
        accepted: None,
    }
}

/// A survey link for one person and one touchpoint, to send by email or SMS.
#[utoipa::path(
    post,
    path = "/v1/surveys",
    tag = "feedback",
    security(("admin_token" = [])),
    request_body = NewSurvey,
    responses(
        (status = 200, description = "The link", body = Object),
        (status = 400, description = "The body is not JSON of this shape", body = crate::openapi::ErrorBody),
        (status = 422, description = "No such journey or touchpoint", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
        (status = 409, description = "The person was asked for feedback lately (`--survey-every`)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    crate::access::require(&state, &headers, crate::access::Capability::Administer).await?;
    let asked: NewSurvey = serde_json::from_str(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("{e}; send {{\"person\", \"journey\", \"touchpoint\", \"days\"}}"),
            format!("line {} column {}", e.line(), e.column()),
        )
    })?;
    let days = asked.days.unwrap_or(SURVEY_DAYS);
    if !(1..=365).contains(&days) {
        return Err(bad("/days", "days must be from 1 to 365".into()));
    }
    if asked.person.trim().is_empty() {
        return Err(bad("/person", "name the person who answers".into()));
    }
    let (journey, touchpoint) = (asked.journey.clone(), asked.touchpoint.clone());
    let versions = state
        .blocking(move |store| store.journey_versions(&journey))
        .await?;
    let latest = versions
        .last()
        .and_then(|d| waymark_journey::check(&d.source).journey)
        .ok_or_else(|| {
            bad(
                "/journey",
                format!("no journey `{}` is deployed", asked.journey),
            )
        })?;
    if !latest.touchpoints().any(|(_, t)| t.id == touchpoint) {
        return Err(bad(
            "/touchpoint",
            format!(
                "the journey `{}` has no touchpoint `{touchpoint}`",
                asked.journey
            ),
        ));
    }
    // Nobody is asked more than once in a while, across all touchpoints.
    let (person, now) = (asked.person.clone(), state.clock.now_us());
    let quiet_us = i64::try_from(state.survey_every.as_micros()).unwrap_or(i64::MAX);
    let key = format!("api-{now}-{}-{touchpoint}", asked.journey);
    let last = state
        .blocking(move |store| store.ask_survey(&person, &key, now, quiet_us))
        .await?;
    if let Some(last) = last {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "asked_lately",
            message: format!(
                "{} was asked for feedback on {}; nobody is asked more than once in {} days (--survey-every): ask again from {}",
                asked.person,
                waymark_eventlog::time::format_micros(last),
                quiet_us / DAY_US,
                waymark_eventlog::time::format_micros(last + quiet_us)
            ),
            field: Some("/person".into()),
            accepted: None,
        });
    }
    let survey = Survey {
        journey: asked.journey,
        touchpoint,
        person: asked.person,
        expires_us: now + days * DAY_US,
    };
    let token = state.surveys.sign(&survey);
    let base = state
        .mailer
        .as_ref()
        .map(|m| m.public_url().to_string())
        .unwrap_or_default();
    Ok(Json(json!({
        "token": token,
        "url": format!("{base}/feedback/{token}"),
        "expires": waymark_eventlog::time::format_micros(survey.expires_us),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_links_are_signed_and_expire() {
        let surveys = Surveys::new("k");
        let survey = Survey {
            journey: "training-request".into(),
            touchpoint: "manager-approval".into(),
            person: "jen|nifer".into(),
            expires_us: 100,
        };
        let token = surveys.sign(&survey);
        assert_eq!(surveys.check(&token, 50), Ok(survey.clone()));
        assert_eq!(surveys.check(&token, 101), Err(LinkError::Expired));
        assert_eq!(
            Surveys::new("other").check(&token, 50),
            Err(LinkError::Forged)
        );
        // A request link signed with the same key is not a survey.
        let request = Links::new("k").sign(&crate::mail::Grant {
            instance: 1,
            person: "jennifer".into(),
            expires_us: 100,
        });
        assert_eq!(surveys.check(&request, 50), Err(LinkError::Forged));
    }

    proptest::proptest! {
        /// Any token is refused or read, never a panic; any survey signed reads back the same.
        #[test]
        fn survey_tokens_read_back_and_never_panic(
            junk in ".{0,80}",
            journey in "[a-z0-9-]{1,20}",
            touchpoint in "[a-z0-9_-]{1,20}",
            person in ".{1,30}",
            expires in 0i64..i64::MAX / 2,
        ) {
            let surveys = Surveys::new("key");
            let _ = surveys.check(&junk, 0);
            let survey = Survey { journey, touchpoint, person, expires_us: expires };
            proptest::prop_assert_eq!(surveys.check(&surveys.sign(&survey), 0), Ok(survey));
        }
    }

    #[test]
    fn answers_are_checked_by_field() {
        let none = Answers::default();
        assert_eq!(none.problems()[0].0, "csat");
        let wrong = Answers {
            csat: Some(6),
            nps: Some(11),
            ces: Some(0),
            comment: Some("x".repeat(COMMENT_CHARS + 1)),
        };
        let fields: Vec<&str> = wrong.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["csat", "nps", "ces", "comment"]);
        let comment_only = Answers {
            comment: Some("Fine".into()),
            ..Answers::default()
        };
        assert!(comment_only.problems().is_empty());
    }
}
