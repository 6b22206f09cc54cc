//! The page an emailed link opens: the step of a request that waits for the person the email
//! went to (the training assessment, say), filled in without signing in. The signed link itself
//! is the key: it names one person and one request, and expires.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Map, Value};
use waymark_server::mail::{Grant, LinkError};
use waymark_server::work::{self as ops, FormView, TaskId, WorkError};
use waymark_store::workflow::{TaskRow, User};
use waymark_workflow::forms::FieldError;

use crate::Web;
use crate::layout::{failure, page, problem};

/// The person, their open step in the request with its form, and what the request is about.
type Step = (
    User,
    Option<(TaskRow, Option<FormView>)>,
    crate::work::About,
);

fn grant(web: &Web, token: &str) -> Result<Grant, LinkError> {
    web.app.links.check(token, web.app.clock.now_us())
}

/// Why a link does not open, as a page.
fn refused(error: LinkError) -> Response {
    match error {
        LinkError::Expired => problem(
            StatusCode::GONE,
            "This link has expired",
            "Links in our emails work for a limited time. Sign in to find the step in your inbox.",
            None,
        ),
        LinkError::Forged => problem(
            StatusCode::FORBIDDEN,
            "This link does not work",
            "The link is incomplete or was changed. Open it again from the email, or sign in to find the step in your inbox.",
            None,
        ),
    }
}

async fn step(web: &Web, grant: &Grant) -> Result<Step, Response> {
    let store = web.app.store.clone();
    let grant = grant.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<Option<Step>, WorkError> {
        let Some(user) = store.user(&grant.person)? else {
            return Ok(None);
        };
        let open = waymark_server::mail::step_for(store.as_ref(), grant.instance, &user)?;
        let open = match open {
            Some(task) => {
                let view = match &task.form {
                    Some(key) => ops::form(store.as_ref(), key, &user)?,
                    None => None,
                };
                Some((task, view))
            }
            None => None,
        };
        let about = crate::work::about(store.as_ref(), &user, grant.instance)?;
        Ok(Some((user, open, about)))
    })
    .await;
    match found {
        Ok(Ok(Some(step))) => Ok(step),
        Ok(Ok(None)) => Err(problem(
            StatusCode::FORBIDDEN,
            "This link does not work",
            "The person it was sent to is no longer in the directory.",
            None,
        )),
        Ok(Err(error)) => Err(failure(&error)),
        Err(error) => Err(failure(&error)),
    }
}

fn show(
    token: &str,
    user: &User,
    facts: &[(String, String)],
    open: Option<&(TaskRow, Option<FormView>)>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    status: StatusCode,
) -> Response {
    let Some((task, view)) = open else {
        let content = html! {
            p.notice role="status" { "Nothing in this request is waiting for you, " (user.name) ". It may have been done already." }
            p { a href="/login" { "Sign in to see your requests" } }
        };
        return (StatusCode::OK, page("Nothing to do here", None, content)).into_response();
    };
    let content = html! {
        p.meta { "For " (user.name) " · request " (task.instance) }
        (crate::work::asked(facts))
        form method="post" action=(format!("/links/{token}")) novalidate {
            @if let Some(view) = view {
                (crate::form::fields(&view.form, values, &view.prefill, errors))
            }
            (crate::form::submit(view.as_ref().map(|v| &v.form), "Send"))
        }
    };
    (status, page(&task.name, None, content)).into_response()
}

/// The step the link opens, with its form.
pub(crate) async fn open(State(web): State<Web>, Path(token): Path<String>) -> Response {
    let grant = match grant(&web, &token) {
        Ok(grant) => grant,
        Err(error) => return refused(error),
    };
    match step(&web, &grant).await {
        Ok((user, open, (_, _, facts))) => show(
            &token,
            &user,
            &facts,
            open.as_ref(),
            &Map::new(),
            &[],
            StatusCode::OK,
        ),
        Err(refused) => refused,
    }
}

/// Sends the step's form, as the person the link was sent to.
pub(crate) async fn submit(
    State(web): State<Web>,
    Path(token): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let grant = match grant(&web, &token) {
        Ok(grant) => grant,
        Err(error) => return refused(error),
    };
    let (user, open, (_, _, facts)) = match step(&web, &grant).await {
        Ok(step) => step,
        Err(page) => return page,
    };
    let Some((task, view)) = &open else {
        return show(
            &token,
            &user,
            &facts,
            None,
            &Map::new(),
            &[],
            StatusCode::OK,
        );
    };
    let values = view
        .as_ref()
        .map(|v| crate::form::read(&v.form, &pairs))
        .unwrap_or_default();
    let store = web.app.store.clone();
    let now = web.app.clock.now_us();
    let (person, id, sent) = (user.clone(), TaskId::of(task), values.clone());
    let mailer = web.app.mailer.clone();
    let done = tokio::task::spawn_blocking(move || {
        ops::complete(store.as_ref(), &person, id, sent, now)?;
        waymark_server::changes::settle(store.as_ref(), mailer.as_deref(), now);
        Ok(())
    })
    .await;
    match done {
        Ok(Ok(())) => {
            let content = html! {
                p.notice role="status" { "Thank you, " (user.name) ". Your answers are saved." }
                p { a href="/login?next=/work/requests" { "Sign in to see where your requests stand" } }
            };
            (StatusCode::OK, page("Thank you", None, content)).into_response()
        }
        Ok(Err(WorkError::Invalid(errors))) => show(
            &token,
            &user,
            &facts,
            open.as_ref(),
            &values,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Ok(Err(WorkError::Conflict(_))) => show(
            &token,
            &user,
            &facts,
            None,
            &Map::new(),
            &[],
            StatusCode::OK,
        ),
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}
