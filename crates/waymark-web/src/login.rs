//! Signing in and out: an emailed link (when the server sends email), or the access token an
//! administrator issued (`waymark org token`); then a session cookie.

use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use waymark_server::mail::Grant;

use crate::Web;
use crate::guard;
use crate::layout::failure;
use crate::session::{Signed, check_csrf, cookie, safe_next};

#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

/// The client a request comes from, for rate limits.
pub(crate) struct Client(std::net::IpAddr);

impl FromRequestParts<Web> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Web) -> Result<Self, Self::Rejection> {
        Ok(Client(guard::client_of(parts)))
    }
}

/// The sign-in page, with a fresh login CSRF token in its forms and cookie.
fn sign_in_page(
    web: &Web,
    next: &str,
    status: StatusCode,
    message: Option<&str>,
    token_error: Option<&str>,
) -> Response {
    let (login, cookie) = match guard::new_login_token(web.secure) {
        Ok(pair) => pair,
        Err(error) => return failure(&error),
    };
    let email = web.app.mailer.is_some();
    let content = html! {
        @if let Some(message) = message {
            p.notice role="status" { (message) }
        }
        @if email {
            h2 { "Get a sign-in link" }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                input type="hidden" name="login" value=(login);
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
            input type="hidden" name="login" value=(login);
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
    let response = (status, crate::layout::page("Sign in", None, content)).into_response();
    guard::with_cookie(response, Some(cookie))
}

/// Whether a sign-in form may be looked at: the client is within its rate limit, and the form
/// carries the login token its cookie holds. The answer to give when not.
fn admitted(
    web: &Web,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    login: Option<&str>,
    next: &str,
) -> Option<Response> {
    if let Err(wait) = web.limits.client(client) {
        return Some(guard::too_many(wait));
    }
    if !guard::login_token_matches(headers, login) {
        return Some(stale(web, next));
    }
    None
}

/// The answer to a sign-in form whose login token does not match its cookie (the page was
/// open over an hour, or the form came from another site): the page again, nothing done.
fn stale(web: &Web, next: &str) -> Response {
    sign_in_page(
        web,
        next,
        StatusCode::FORBIDDEN,
        Some("This sign-in page had expired, so nothing was done. Try again below."),
        None,
    )
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
    login: Option<String>,
}

/// Emails a sign-in link to the person with that address. The answer is the same, and as
/// quick, whether or not the address is known: the lookup and the email happen after it, so
/// the page cannot be used to find out who works here.
pub(crate) async fn by_email(
    State(web): State<Web>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<ByEmail>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if let Some(refused) = admitted(&web, client, &headers, form.login.as_deref(), &next) {
        return refused;
    }
    let Some(mailer) = web.app.mailer.clone() else {
        return sign_in_page(
            &web,
            &next,
            StatusCode::OK,
            Some("This server does not send email; sign in with your access token."),
            None,
        );
    };
    if let Err(wait) = web.limits.address(&form.email) {
        return guard::too_many(wait);
    }
    let store = web.app.store.clone();
    let links = web.sign_in.clone();
    let now = web.app.clock.now_us();
    let email = form.email.trim().to_string();
    let target = next.clone();
    // Off the request path: the answer below never waits for the directory or the mail server.
    tokio::task::spawn_blocking(move || {
        let user = match store.user_by_email(&email) {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::info!("a sign-in link was asked for an unknown address");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "a sign-in link could not be looked up");
                return;
            }
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
            "Hello {},\n\nSign in to Waymark with this link (it works for {} minutes, once):\n{link}\n\nIf you did not ask for it, you can ignore this email.\n\n— Waymark\n",
            user.name.split_whitespace().next().unwrap_or(&user.name),
            crate::SIGN_IN_LINK_MINUTES
        );
        if let Err(error) = mailer.send_to(&user, "Your Waymark sign-in link", body) {
            tracing::warn!(%error, "a sign-in link could not be sent");
        }
    });
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
    login: Option<String>,
}

/// Starts a fresh session for whoever `user` is (ending the one this browser had, whoever it
/// was for), and goes to `next`.
async fn start_session(
    web: &Web,
    before: Option<Signed>,
    user: String,
    key: Option<String>,
    next: &str,
) -> Response {
    let store = web.app.store.clone();
    let now = web.app.clock.now_us();
    let ttl = crate::SESSION_HOURS * 3_600_000_000;
    let created = tokio::task::spawn_blocking(move || {
        if let Some(before) = before {
            store.end_session(&before.id)?;
        }
        store.create_session_by(&user, key.as_deref(), now, ttl)
    })
    .await;
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
pub(crate) async fn by_token(
    State(web): State<Web>,
    Client(client): Client,
    before: Option<Signed>,
    headers: HeaderMap,
    Form(form): Form<ByToken>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if let Some(refused) = admitted(&web, client, &headers, form.login.as_deref(), &next) {
        return refused;
    }
    let store = web.app.store.clone();
    let token = form.token.trim().to_string();
    let now = web.app.clock.now_us();
    let holder = match tokio::task::spawn_blocking(move || store.holder(&token, now)).await {
        Ok(Ok(holder)) => holder,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    match holder {
        // The session ends with the token: revoked, or past its end.
        Some(waymark_store::keys::Holder::Person { id, user }) => {
            start_session(&web, before, user.id, Some(id), &next).await
        }
        // A key (write, server, worker, admin) is not a person: it signs nobody in.
        Some(waymark_store::keys::Holder::Key { .. }) | None => sign_in_page(
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

/// An emailed sign-in link opens this page: a button signs in. Opening the link signs nobody
/// in and uses nothing up, so a mail scanner that fetches every link cannot spend it.
pub(crate) async fn link_page(
    State(web): State<Web>,
    Path(token): Path<String>,
    Query(next): Query<Next>,
) -> Response {
    let next = safe_next(next.next.as_deref());
    let now = web.app.clock.now_us();
    match web.sign_in.check(&token, now) {
        Ok(grant) if grant.instance == 0 => {
            let (login, cookie) = match guard::new_login_token(web.secure) {
                Ok(pair) => pair,
                Err(error) => return failure(&error),
            };
            let content = html! {
                p { "This link signs you in to Waymark once, on this browser." }
                form method="post" action=(format!("/login/link/{token}")) {
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="login" value=(login);
                    button type="submit" { "Sign in" }
                }
            };
            let response = (
                StatusCode::OK,
                crate::layout::page("Sign in", None, content),
            )
                .into_response();
            guard::with_cookie(response, Some(cookie))
        }
        Err(waymark_server::mail::LinkError::Expired) => link_expired(&web, &next),
        _ => link_invalid(&web, &next),
    }
}

fn link_expired(web: &Web, next: &str) -> Response {
    sign_in_page(
        web,
        next,
        StatusCode::GONE,
        Some("That sign-in link has expired. Ask for a new one below."),
        None,
    )
}

fn link_invalid(web: &Web, next: &str) -> Response {
    sign_in_page(
        web,
        next,
        StatusCode::FORBIDDEN,
        Some("That sign-in link is not valid. Ask for a new one below."),
        None,
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct ByLink {
    next: Option<String>,
    login: Option<String>,
}

/// Signs in with an emailed link, from the button on its page; each link works once.
pub(crate) async fn by_link(
    State(web): State<Web>,
    Client(client): Client,
    before: Option<Signed>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<ByLink>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if let Some(refused) = admitted(&web, client, &headers, form.login.as_deref(), &next) {
        return refused;
    }
    let now = web.app.clock.now_us();
    match web.sign_in.check(&token, now) {
        Ok(grant) if grant.instance == 0 => {
            // Each link signs in once: a forwarded or leaked email cannot be used again.
            let store = web.app.store.clone();
            let (key, expires) = (token.clone(), grant.expires_us);
            match tokio::task::spawn_blocking(move || store.use_once(&key, expires, now)).await {
                Ok(Ok(true)) => start_session(&web, before, grant.person, None, &next).await,
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
        Err(waymark_server::mail::LinkError::Expired) => link_expired(&web, &next),
        _ => link_invalid(&web, &next),
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
    let store = web.app.store.clone();
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
