//! The survey page a feedback link opens: how satisfied (CSAT 1–5), how likely to recommend (NPS
//! 0–10), how easy (CES 1–7) and a comment, about one touchpoint, without signing in. The signed
//! link names the person, the journey and the touchpoint; the answer becomes a `Survey Answered`
//! event, counted by the journey's report like any other.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_server::feedback::{self, Answers, FeedbackError, Survey};
use waymark_server::mail::LinkError;

use crate::Web;
use crate::layout::{failure, page, problem};

fn refused(error: LinkError) -> Response {
    match error {
        LinkError::Expired => problem(
            StatusCode::GONE,
            "This survey has closed",
            "Survey links work for a limited time, and this one has expired. Thank you all the same.",
            None,
        ),
        LinkError::Forged => problem(
            StatusCode::FORBIDDEN,
            "This link does not work",
            "The link is incomplete or was changed. Open it again from the message you received.",
            None,
        ),
    }
}

/// The touchpoint's name and the journey's title, for the page (the ids when the journey is
/// gone).
async fn names(web: &Web, survey: &Survey) -> (String, String) {
    let store = web.app.store.clone();
    let (journey, touchpoint) = (survey.journey.clone(), survey.touchpoint.clone());
    let found = tokio::task::spawn_blocking(move || {
        let versions = store.journey_versions(&journey).ok()?;
        let latest = waymark_journey::check(&versions.last()?.source).journey?;
        let name = latest
            .touchpoints()
            .find(|(_, t)| t.id == touchpoint)
            .map(|(_, t)| t.name.clone())?;
        Some((name, latest.title))
    })
    .await
    .ok()
    .flatten();
    found.unwrap_or_else(|| (survey.touchpoint.clone(), survey.journey.clone()))
}

/// One question as a row of radio buttons, with its ends said in words.
fn scale(
    name: &str,
    question: &str,
    range: std::ops::RangeInclusive<u8>,
    ends: (&str, &str),
    chosen: Option<u8>,
    error: Option<&str>,
) -> Markup {
    let hint = format!("{name}-hint");
    let described = match error {
        Some(_) => format!("{hint} {name}-error"),
        None => hint.clone(),
    };
    let (low, high) = (*range.start(), *range.end());
    html! {
        fieldset.field.scale.invalid[error.is_some()] #(name) aria-describedby=(described) {
            legend { (question) }
            p.hint #(hint) { (low) " = " (ends.0) ", " (high) " = " (ends.1) ". You may leave it out." }
            @if let Some(error) = error { p.error #(format!("{name}-error")) { (error) } }
            div.options {
                @for value in range {
                    div.option {
                        input type="radio" name=(name) id=(format!("{name}-{value}")) value=(value) checked[chosen == Some(value)];
                        label for=(format!("{name}-{value}")) { (value) }
                    }
                }
            }
        }
    }
}

fn show(
    token: &str,
    (touchpoint, journey): &(String, String),
    answers: &Answers,
    errors: &[(&'static str, String)],
    status: StatusCode,
) -> Response {
    let error = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    };
    let content = html! {
        p.meta { "About " (journey) }
        @if !errors.is_empty() {
            div.summary role="alert" tabindex="-1" {
                h2 { "Please check your answers" }
                ul { @for (field, e) in errors { li { a href=(format!("#{field}")) { (e) } } } }
            }
        }
        form method="post" action=(format!("/feedback/{token}")) novalidate {
            (scale("csat", "How satisfied are you with it?", 1..=5, ("very unsatisfied", "very satisfied"), answers.csat, error("csat")))
            (scale("ces", "How easy was it to get what you needed?", 1..=7, ("very easy", "very difficult"), answers.ces, error("ces")))
            (scale("nps", "How likely are you to recommend us to a friend or colleague?", 0..=10, ("not at all likely", "extremely likely"), answers.nps, error("nps")))
            div.field.invalid[error("comment").is_some()] {
                label for="comment" { "Anything you want to tell us?" }
                p.hint #comment-hint { "What went well, what did not. At most " (feedback::COMMENT_CHARS) " characters." }
                @if let Some(e) = error("comment") { p.error #comment-error { (e) } }
                textarea #comment name="comment" rows="5"
                    aria-describedby=(if error("comment").is_some() { "comment-hint comment-error" } else { "comment-hint" }) {
                    (answers.comment.as_deref().unwrap_or(""))
                }
            }
            button type="submit" { "Send" }
        }
    };
    (
        status,
        page(&format!("How was it: {touchpoint}?"), None, content),
    )
        .into_response()
}

/// `GET /feedback/{token}`
pub(crate) async fn open(State(web): State<Web>, Path(token): Path<String>) -> Response {
    let survey = match web.app.surveys.check(&token, web.app.clock.now_us()) {
        Ok(survey) => survey,
        Err(error) => return refused(error),
    };
    let names = names(&web, &survey).await;
    show(&token, &names, &Answers::default(), &[], StatusCode::OK)
}

/// A browser's answers: empty radios are absent, numbers that do not read are kept as errors.
fn read(pairs: &[(String, String)]) -> (Answers, Vec<(&'static str, String)>) {
    let mut errors = Vec::new();
    let mut number = |name: &'static str| -> Option<u8> {
        let text = pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())?;
        if text.is_empty() {
            return None;
        }
        match text.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.push((name, "Choose one of the numbers.".to_string()));
                None
            }
        }
    };
    let answers = Answers {
        csat: number("csat"),
        nps: number("nps"),
        ces: number("ces"),
        comment: pairs
            .iter()
            .find(|(k, _)| k == "comment")
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.trim().is_empty()),
    };
    (answers, errors)
}

/// `POST /feedback/{token}`
pub(crate) async fn submit(
    State(web): State<Web>,
    Path(token): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let now = web.app.clock.now_us();
    let survey = match web.app.surveys.check(&token, now) {
        Ok(survey) => survey,
        Err(error) => return refused(error),
    };
    // A link sent to someone since taken out of the directory no longer works.
    let store = web.app.store.clone();
    let person = survey.person.clone();
    if let Ok(Ok(true)) = tokio::task::spawn_blocking(move || store.disabled(&person)).await {
        return refused(waymark_server::mail::LinkError::Forged);
    }
    let (answers, errors) = read(&pairs);
    if !errors.is_empty() {
        let names = names(&web, &survey).await;
        return show(
            &token,
            &names,
            &answers,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let store = web.app.store.clone();
    let (kept, key, asked) = (answers.clone(), token.clone(), survey.clone());
    let done = tokio::task::spawn_blocking(move || {
        feedback::record(store.as_ref(), &key, &asked, &kept, now)
    })
    .await;
    match done {
        Ok(Ok(first)) => {
            let content = html! {
                p.notice role="status" {
                    @if first { "Thank you. Your answer is saved, and the people who look after this part of the journey will read it." }
                    @else { "You have answered this survey already; the first answer stands. Thank you." }
                }
            };
            (StatusCode::OK, page("Thank you", None, content)).into_response()
        }
        Ok(Err(FeedbackError::Invalid(errors))) => {
            let names = names(&web, &survey).await;
            show(
                &token,
                &names,
                &answers,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Ok(Err(FeedbackError::Store(error))) => failure(&error),
        Err(error) => failure(&error),
    }
}
