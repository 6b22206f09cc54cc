//! The mailbox, when the server keeps mail in the app instead of sending it (`waymark demo`):
//! each person reads what Waymark sent them, with the real links inside (a step to work, a
//! survey, a sign-in link); administrators read the outbox of everything sent.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_store::mailbox::Mail;

use crate::Web;
use crate::layout::{failure, page, problem, when};
use crate::session::Signed;

/// Messages shown at once.
const PAGE: usize = 100;

/// Whether this server keeps mail in the app.
pub(crate) fn kept(web: &Web) -> bool {
    web.app.mailer.as_ref().is_some_and(|m| m.keeps_mail())
}

fn not_kept(signed: &Signed) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "No mailbox here",
        "This server sends its email through a mail server: it arrives in your usual inbox.",
        Some(signed),
    )
}

async fn read<T: Send + 'static>(
    web: &Web,
    call: impl FnOnce(&dyn waymark_store::Store) -> Result<T, waymark_store::StoreError>
    + Send
    + 'static,
) -> Result<T, Response> {
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => Err(failure(&error)),
        Err(error) => Err(failure(&error)),
    }
}

fn list(mails: &[Mail], everyone: bool) -> Markup {
    html! {
        @if mails.is_empty() {
            p.notice { "Nothing yet. Messages appear here as Waymark sends them." }
        } @else {
            ul.mails {
                @for mail in mails {
                    li {
                        a href=(format!("/mail/{}", mail.id)) { strong { (mail.subject) } }
                        p.meta {
                            @if everyone { "To " (mail.address) " · " }
                            (when(mail.sent_us))
                        }
                    }
                }
            }
        }
    }
}

/// `GET /mail`: the signed-in person's messages, newest first.
pub(crate) async fn inbox(State(web): State<Web>, signed: Signed) -> Response {
    if !kept(&web) {
        return not_kept(&signed);
    }
    let who = signed.user.id.clone();
    let mails = match read(&web, move |store| store.mails(Some(&who), PAGE)).await {
        Ok(mails) => mails,
        Err(failed) => return failed,
    };
    let content = html! {
        p { "What Waymark sent you. This server keeps its email here instead of sending it." }
        (list(&mails, false))
    };
    page("Mail", Some(&signed), content).into_response()
}

/// `GET /admin/outbox`: everything sent, for administrators.
pub(crate) async fn outbox(State(web): State<Web>, signed: Signed) -> Response {
    if !kept(&web) {
        return not_kept(&signed);
    }
    if !crate::admin::is_admin(&signed) {
        return problem(
            StatusCode::FORBIDDEN,
            "This is for administrators",
            "The outbox of everything sent is open to Waymark's administrators only. Your own messages are under “Mail”.",
            Some(&signed),
        );
    }
    let mails = match read(&web, |store| store.mails(None, PAGE)).await {
        Ok(mails) => mails,
        Err(failed) => return failed,
    };
    let content = html! {
        p { "Every message Waymark sent, newest first." }
        (list(&mails, true))
    };
    page("Outbox", Some(&signed), content).into_response()
}

/// `GET /mail/{id}`: one message, for the person it was sent to (or an administrator), with
/// its links made clickable.
pub(crate) async fn message(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Response {
    if !kept(&web) {
        return not_kept(&signed);
    }
    let mail = match read(&web, move |store| store.mail(id)).await {
        Ok(mail) => mail,
        Err(failed) => return failed,
    };
    let Some(mail) = mail.filter(|m| m.user == signed.user.id || crate::admin::is_admin(&signed))
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such message in your mailbox.",
            Some(&signed),
        );
    };
    let content = html! {
        p.meta { "To " (mail.address) " · " (when(mail.sent_us)) }
        div.mail-body {
            @for paragraph in mail.body.split("\n\n") {
                p {
                    @for (n, line) in paragraph.lines().enumerate() {
                        @if n > 0 { br; }
                        (linked(line))
                    }
                }
            }
        }
        p { a href="/mail" { "← Back to your mail" } }
    };
    page(&mail.subject, Some(&signed), content).into_response()
}

/// A line of a message with its web addresses as links (only `http` and `https`).
fn linked(line: &str) -> Markup {
    html! {
        @for (n, word) in line.split(' ').enumerate() {
            @if n > 0 { " " }
            @if word.starts_with("https://") || word.starts_with("http://") {
                a href=(word) { (word) }
            } @else {
                (word)
            }
        }
    }
}
