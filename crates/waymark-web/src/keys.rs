//! Keys and tokens in the browser, for administrators: every API key and person's token (never a
//! secret), newest first, a page at a time; issuing a key, whose secret is shown once, on the page that
//! answers; revoking one, at once. The checks are the API's (`waymark_server::keys::new_key`),
//! and every grant and revocation is a line of the access trail, as through the API.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use waymark_server::keys::{IssueKey, new_key, status};
use waymark_store::keys::KeyInfo;

use crate::Web;
use crate::layout::{failure, page, when};
use crate::session::{Signed, check_csrf};

#[derive(Debug, Deserialize)]
pub(crate) struct Listing {
    page: Option<usize>,
    revoked: Option<String>,
}

/// What the issuing form sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Asked {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    topics: String,
    #[serde(default)]
    expires_in: String,
    /// A token of this rendering of the form: a key is issued once per form, so sending it again
    /// (a reload) issues no second key.
    #[serde(default)]
    once: String,
}

/// What the page says above the list.
enum Said {
    Nothing,
    Issued {
        id: String,
        secret: String,
    },
    Revoked(String),
    /// The same form was sent again (a reload): nothing more was issued.
    AlreadyIssued,
    /// The form came back with a problem at one field.
    Problem {
        field: String,
        message: String,
    },
}

/// `GET /admin/keys`
pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    Query(listing): Query<Listing>,
) -> Response {
    let said = match listing.revoked {
        Some(id) => Said::Revoked(id),
        None => Said::Nothing,
    };
    show(
        &web,
        &signed,
        listing.page,
        said,
        &Asked::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/keys`: issues a key and shows its secret once.
pub(crate) async fn issue(
    State(web): State<Web>,
    signed: Signed,
    Form(asked): Form<Asked>,
) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "Keys and tokens");
    }
    if let Some(refused) = check_csrf(&signed, Some(&asked.csrf)) {
        return refused;
    }
    let now = web.app.clock.now_us();
    let request = IssueKey {
        kind: asked.kind.clone(),
        label: asked.label.clone(),
        topics: asked.topics.split(',').map(str::to_string).collect(),
        expires_in: Some(asked.expires_in.trim().to_string()).filter(|e| !e.is_empty()),
    };
    let key = match new_key(&request, now) {
        Ok(key) => key,
        Err(error) => {
            let field = error
                .field
                .as_deref()
                .unwrap_or("/kind")
                .trim_start_matches('/')
                .to_string();
            let said = Said::Problem {
                field,
                message: error.message,
            };
            return show(
                &web,
                &signed,
                None,
                said,
                &asked,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let once = asked.once.trim();
    if once.len() != 32 || !once.bytes().all(|b| b.is_ascii_hexdigit()) {
        return crate::layout::problem(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Reload the keys page and send the form again: nothing was issued.",
            Some(&signed),
        );
    }
    let (store, by) = (web.app.store.clone(), signed.user.id.clone());
    // One key per rendering of the form: a reload sends the same token and issues nothing.
    let once = format!("key-form:{}:{once}", signed.id);
    let expires = now + 24 * 3_600_000_000;
    let issued = tokio::task::spawn_blocking(move || {
        if !store.use_once(&once, expires, now)? {
            return Ok(None);
        }
        store.issue_key(&key, &by, now).map(Some)
    })
    .await;
    match issued {
        Ok(Ok(None)) => {
            show(
                &web,
                &signed,
                None,
                Said::AlreadyIssued,
                &Asked::default(),
                StatusCode::CONFLICT,
            )
            .await
        }
        Ok(Ok(Some((id, secret)))) => {
            tracing::info!(key = %id, "key issued in the browser");
            let said = Said::Issued { id, secret };
            show(
                &web,
                &signed,
                None,
                said,
                &Asked::default(),
                StatusCode::CREATED,
            )
            .await
        }
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

/// `POST /admin/keys/{id}/revoke`: revokes a key or a person's token at once.
pub(crate) async fn revoke(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let acted = crate::admin::Acted {
        what: "Keys and tokens",
        back: "/admin/keys?revoked=",
        missing: (
            "No such key",
            "No live key or token has that id: it may have been revoked already.",
        ),
    };
    crate::admin::act_on(
        &web,
        &signed,
        id,
        &pairs,
        || None,
        |store, id, by, now| store.revoke_key(id, by, now),
        acted,
    )
    .await
}

async fn show(
    web: &Web,
    signed: &Signed,
    page_number: Option<usize>,
    said: Said,
    asked: &Asked,
    status_code: StatusCode,
) -> Response {
    if !crate::admin::may_administer(signed) {
        return crate::admin::refused(signed, "Keys and tokens");
    }
    let store = web.app.store.clone();
    let keys = match tokio::task::spawn_blocking(move || {
        let keys = store.keys()?;
        let users = store.users()?;
        Ok::<_, waymark_store::StoreError>((keys, users))
    })
    .await
    {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let (keys, users) = keys;
    let name = |id: &str| {
        users
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.name.clone())
    };
    let now = web.app.clock.now_us();
    let (shown, pager): (&[KeyInfo], _) = crate::work::paged(&keys, page_number, "/admin/keys?");
    let content = html! {
        @match &said {
            Said::Issued { id, secret } => div.notice role="status" {
                p { "Key " code { (id) } " issued. Copy its secret now: it is shown this once." }
                p { code.secret { (secret) } }
            },
            Said::Revoked(id) => {
                // Said only of a key that is revoked indeed (the address can be typed).
                @if keys.iter().any(|k| &k.id == id && k.revoked_us.is_some()) {
                    p.notice role="status" { "Key " code { (id) } " revoked: it is refused from now on." }
                }
            },
            Said::Problem { field, message } => div.summary role="alert" aria-labelledby="problems" tabindex="-1" {
                h2 #problems { "There is a problem" }
                ul { li { a href=(format!("#key-{field}")) { (message) } } }
            },
            Said::AlreadyIssued => div.notice.warn role="status" {
                p { "This form already issued its key; nothing more was issued. Its secret was shown once: if it was not copied, revoke that key below and issue another." }
            },
            Said::Nothing => {},
        }
        (issue_form(signed, asked, &said))
        h2 { "Keys and tokens" }
        @if keys.is_empty() {
            p { "No key has been issued yet." }
        } @else {
            table {
                caption.visually-hidden { "Every key and person's token, newest first" }
                thead { tr {
                    th scope="col" { "Key" } th scope="col" { "Kind" } th scope="col" { "For" }
                    th scope="col" { "State" } th scope="col" { "Issued" } th scope="col" { "Ends" }
                    th scope="col" { span.visually-hidden { "Action" } }
                } }
                tbody {
                    @for key in shown {
                        @let state = status(key, now);
                        tr {
                            td { code { (key.id) } }
                            td { (key.kind) }
                            td {
                                @if let Some(user) = &key.user { (name(user)) }
                                @if !key.label.is_empty() { @if key.user.is_some() { " · " } (key.label) }
                                @if !key.topics.is_empty() { " (" (key.topics.join(", ")) ")" }
                            }
                            td { span.badge.done[state == "live"].overdue[state != "live"] { (state) } }
                            td { (when(key.created_us)) }
                            td { @if let Some(end) = key.expires_us { (when(end)) } @else { "when revoked" } }
                            td {
                                @if state == "live" && key.label == "configured" {
                                    "Set in the server's settings: change it there"
                                } @else if state == "live" {
                                    form.inline method="post" action=(format!("/admin/keys/{}/revoke", key.id)) {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        button.secondary type="submit" aria-label=(format!("Revoke {}", key.id)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager)
        }
    };
    (status_code, page("Keys and tokens", Some(signed), content)).into_response()
}

fn issue_form(signed: &Signed, asked: &Asked, said: &Said) -> Markup {
    let error = |field: &str| match said {
        Said::Problem {
            field: at, message, ..
        } if at == field => Some(message.as_str()),
        _ => None,
    };
    let kinds = [
        ("server", "Server: records events that act on requests"),
        (
            "worker",
            "Worker: fetches and completes the tasks of its topics",
        ),
        ("write", "Write: records events only (public)"),
        ("admin", "Administrator: everything"),
    ];
    html! {
        details.request open[matches!(said, Said::Problem { .. })] {
            summary { "Issue a key" }
            form method="post" action="/admin/keys" novalidate {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="once" value=(waymark_store::keys::random_hex(16).unwrap_or_default());
                div.field.invalid[error("kind").is_some()] {
                    label for="key-kind" { "Kind" }
                    @if let Some(message) = error("kind") { p.error { (message) } }
                    select #key-kind name="kind" {
                        @for (value, words) in kinds {
                            option value=(value) selected[asked.kind == value] { (words) }
                        }
                    }
                }
                div.field {
                    label for="key-label" { "What it is for (optional)" }
                    input #key-label type="text" name="label" value=(asked.label);
                }
                div.field.invalid[error("topics").is_some()] {
                    label for="key-topics" { "Topics, for a worker key" }
                    p.hint #key-topics-hint { "Separated by commas, e.g. budget-check" }
                    @if let Some(message) = error("topics") { p.error { (message) } }
                    input #key-topics type="text" name="topics" value=(asked.topics) aria-describedby="key-topics-hint";
                }
                div.field.invalid[error("expires_in").is_some()] {
                    label for="key-expires_in" { "Works for (optional)" }
                    p.hint #key-expires-hint { "e.g. 90d or 12h; without it, until revoked" }
                    @if let Some(message) = error("expires_in") { p.error { (message) } }
                    input #key-expires_in type="text" name="expires_in" value=(asked.expires_in) aria-describedby="key-expires-hint";
                }
                button type="submit" { "Issue the key" }
            }
        }
    }
}
