//! Signing in and out: an emailed link (when the server sends email), or the access token an
//! administrator issued (`waymark org token`); then a session cookie.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use waymark_server::mail::Grant;

use crate::Web;
use crate::layout::failure;
use crate::session::{Signed, check_csrf, cookie, safe_next};

#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

fn sign_in_page(
    web: &Web,
    next: &str,
    status: StatusCode,
    message: Option<&str>,
    token_error: Option<&str>,
) -> Response {
    let email = web.app.mailer.is_some();
    let content = html! {
        @if let Some(message) = message {
            p.notice role="status" { (message) }
        }
        @if email {
            h2 { "Get a sign-in link" }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="email" { "Your work email address" }
                    input #email type="email" name="email" autocomplete="email" required;
                }
                button type="submit" { "Email me a link" }
            }
        }
        h2 { "Sign in with an access token" }
        form method="post" action="/login/token" {
            input type="hidden" name="next" value=(next);
            div.field.invalid[token_error.is_some()] {
                label for="token" { "Access token" }
                p.hint #token-hint { "Your administrator gives you one; it starts with wu_." }
                @if let Some(error) = token_error {
                    p.error #token-error { (error) }
                }
                input #token type="password" name="token" autocomplete="off" required
                    aria-describedby=(if token_error.is_some() { "token-hint token-error" } else { "token-hint" })
                    aria-invalid=[token_error.map(|_| "true")];
            }
            button type="submit" { "Sign in" }
        }
    };
    (status, crate::layout::page("Sign in", None, content)).into_response()
}

/// The sign-in page.
pub(crate) async fn page(State(web): State<Web>, Query(next): Query<Next>) -> Response {
    let next = safe_next(next.next.as_deref());
    sign_in_page(&web, &next, StatusCode::OK, None, None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ByEmail {
    email: String,
    next: Option<String>,
}

/// Emails a sign-in link to the person with that address. The answer is the same whether or
/// not the address is known, so the page cannot be used to find out who works here.
pub(crate) async fn by_email(State(web): State<Web>, Form(form): Form<ByEmail>) -> Response {
    let next = safe_next(form.next.as_deref());
    let Some(mailer) = web.app.mailer.clone() else {
        return sign_in_page(
            &web,
            &next,
            StatusCode::OK,
            Some("This server does not send email; sign in with your access token."),
            None,
        );
    };
    let store = web.app.workflow.clone();
    let links = web.sign_in.clone();
    let now = web.app.clock.now_us();
    let email = form.email.trim().to_string();
    let target = next.clone();
    let sent = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let Some(user) = store.user_by_email(&email).map_err(|e| e.to_string())? else {
            tracing::info!("a sign-in link was asked for an unknown address");
            return Ok(());
        };
        let grant = Grant {
            instance: 0,
            person: user.id.clone(),
            expires_us: now + crate::SIGN_IN_LINK_MINUTES * 60_000_000,
        };
        let link = format!(
            "{}/login/link/{}?next={}",
            mailer.public_url(),
            links.sign(&grant),
            crate::session::form_urlencoded(&target)
        );
        let body = format!(
            "Hello {},\n\nSign in to Waymark with this link (it works for {} minutes, on this one browser session):\n{link}\n\nIf you did not ask for it, you can ignore this email.\n\n— Waymark\n",
            user.name.split_whitespace().next().unwrap_or(&user.name),
            crate::SIGN_IN_LINK_MINUTES
        );
        mailer.send_to(&user, "Your Waymark sign-in link", body)
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "a sign-in link could not be sent"),
        Err(error) => return failure(&error),
    }
    sign_in_page(
        &web,
        &next,
        StatusCode::OK,
        Some(&format!(
            "If {} belongs to someone here, a sign-in link is on its way. It works for {} minutes.",
            form.email.trim(),
            crate::SIGN_IN_LINK_MINUTES
        )),
        None,
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct ByToken {
    token: String,
    next: Option<String>,
}

/// Starts a session for whoever `user` is, and goes to `next`.
async fn start_session(web: &Web, user: String, next: &str) -> Response {
    let store = web.app.workflow.clone();
    let now = web.app.clock.now_us();
    let ttl = crate::SESSION_HOURS * 3_600_000_000;
    let created = tokio::task::spawn_blocking(move || store.create_session(&user, now, ttl)).await;
    match created {
        Ok(Ok((id, _csrf))) => {
            let mut response = Redirect::to(next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, cookie(Some(&id), web.secure));
            response
        }
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

/// Signs in with an access token.
pub(crate) async fn by_token(State(web): State<Web>, Form(form): Form<ByToken>) -> Response {
    let next = safe_next(form.next.as_deref());
    let store = web.app.workflow.clone();
    let token = form.token.trim().to_string();
    let user = match tokio::task::spawn_blocking(move || store.token_user(&token)).await {
        Ok(Ok(user)) => user,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    match user {
        Some(user) => start_session(&web, user.id, &next).await,
        None => sign_in_page(
            &web,
            &next,
            StatusCode::UNAUTHORIZED,
            None,
            Some(
                "That access token is not valid. Check it, or ask your administrator for a new one.",
            ),
        ),
    }
}

/// Signs in with an emailed link.
pub(crate) async fn by_link(
    State(web): State<Web>,
    Path(token): Path<String>,
    Query(next): Query<Next>,
) -> Response {
    let next = safe_next(next.next.as_deref());
    let now = web.app.clock.now_us();
    match web.sign_in.check(&token, now) {
        Ok(grant) if grant.instance == 0 => {
            // Each link signs in once: a forwarded or leaked email cannot be used again.
            let store = web.app.workflow.clone();
            let (key, expires) = (token.clone(), grant.expires_us);
            match tokio::task::spawn_blocking(move || store.use_once(&key, expires, now)).await {
                Ok(Ok(true)) => start_session(&web, grant.person, &next).await,
                Ok(Ok(false)) => sign_in_page(
                    &web,
                    &next,
                    StatusCode::GONE,
                    Some(
                        "That sign-in link was used already; each link works once. Ask for a new one below.",
                    ),
                    None,
                ),
                Ok(Err(error)) => failure(&error),
                Err(error) => failure(&error),
            }
        }
        Err(waymark_server::mail::LinkError::Expired) => sign_in_page(
            &web,
            &next,
            StatusCode::GONE,
            Some("That sign-in link has expired. Ask for a new one below."),
            None,
        ),
        _ => sign_in_page(
            &web,
            &next,
            StatusCode::FORBIDDEN,
            Some("That sign-in link is not valid. Ask for a new one below."),
            None,
        ),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Csrf {
    csrf: Option<String>,
}

/// Signs out: the session ends on the server, and the cookie is cleared.
pub(crate) async fn logout(
    State(web): State<Web>,
    signed: Signed,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, form.csrf.as_deref()) {
        return refused;
    }
    let store = web.app.workflow.clone();
    let id = signed.id.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || store.end_session(&id)).await {
        return failure(&error);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(None, web.secure));
    response
}
