//! The signed-in person of a request: a session cookie, looked up in the store.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use waymark_store::workflow::User;

use crate::Web;

pub(crate) const COOKIE: &str = "waymark_session";

/// A signed-in person.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub user: User,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// The session id (for signing out).
    pub id: String,
    /// Whether this server keeps mail in the app (the navigation then offers the mailbox).
    pub mail_here: bool,
    /// The path of the page asked for: the navigation marks where the person is.
    pub path: String,
}

fn session_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

async fn lookup(parts: &Parts, web: &Web) -> Result<Option<Signed>, Response> {
    let Some(id) = session_id(parts) else {
        return Ok(None);
    };
    let store = web.app.store.clone();
    let now = web.app.clock.now_us();
    let key = id.clone();
    let found = tokio::task::spawn_blocking(move || store.session(&key, now))
        .await
        .map_err(|e| crate::layout::failure(&e))?
        .map_err(|e| crate::layout::failure(&e))?;
    let mail_here = crate::mailbox::kept(web);
    let path = parts.uri.path().to_string();
    Ok(found.map(|s| Signed {
        user: s.user,
        csrf: s.csrf,
        id,
        mail_here,
        path,
    }))
}

impl FromRequestParts<Web> for Signed {
    type Rejection = Response;

    /// Without a session, people are sent to sign in, and brought back afterwards.
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        match lookup(parts, web).await? {
            Some(signed) => Ok(signed),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let next = form_urlencoded(back);
                Err(Redirect::to(&format!("/login?next={next}")).into_response())
            }
        }
    }
}

impl OptionalFromRequestParts<Web> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Option<Self>, Response> {
        lookup(parts, web).await
    }
}

/// Percent-encodes text for a query value.
pub(crate) fn form_urlencoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Only paths on this site are followed after signing in (never another site). The path is
/// read as a browser reads it (a URL parser that drops tabs and newlines and reads `\\` as
/// `/`), and kept only when it stays on this site; what is followed is the parsed path.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    const HERE: &str = "https://waymark.invalid/";
    // Without a page to return to, people land on their home page.
    let fallback = || "/".to_string();
    let Some(next) = next.filter(|n| n.starts_with('/')) else {
        return fallback();
    };
    let (Ok(base), Ok(parsed)) = (
        url::Url::parse(HERE),
        url::Url::parse(HERE).and_then(|b| b.join(next)),
    ) else {
        return fallback();
    };
    if parsed.origin() != base.origin() {
        return fallback();
    }
    let mut path = parsed.path().to_string();
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    // A path that still reads as another site to some browser (`//host`) is refused too.
    if path.starts_with("//") {
        return fallback();
    }
    path
}

/// The `Set-Cookie` header of a new session (or, with `None`, of signing out).
pub(crate) fn cookie(id: Option<&str>, secure: bool) -> HeaderValue {
    let mut cookie = Cookie::build((COOKIE, id.unwrap_or("").to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    cookie = match id {
        Some(_) => cookie.max_age(cookie::time::Duration::hours(crate::SESSION_HOURS)),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    HeaderValue::from_str(&cookie.build().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("waymark_session=; Path=/; Max-Age=0"))
}

/// Checks the CSRF token a form sent back against the session's: the page to answer with when
/// it does not match.
pub(crate) fn check_csrf(signed: &Signed, sent: Option<&str>) -> Option<Response> {
    let sent = sent.unwrap_or("");
    // Both are short hex strings; compare every byte so the time does not tell how much matched.
    let same = sent.len() == signed.csrf.len()
        && sent
            .bytes()
            .zip(signed.csrf.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        None
    } else {
        Some(crate::layout::problem(
            axum::http::StatusCode::FORBIDDEN,
            "This form has expired",
            "The page was open too long or came from somewhere else, so nothing was saved. Go back, reload the page and send it again.",
            Some(signed),
        )
        .into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/work/tasks/1-2")), "/work/tasks/1-2");
        assert_eq!(
            safe_next(Some("/work/requests?page=2")),
            "/work/requests?page=2"
        );
        for bad in [
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("/\t/evil.example"),
            Some("/\n/evil.example"),
            Some("/\\/evil.example"),
            None,
        ] {
            assert_eq!(safe_next(bad), "/");
        }
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        let set = cookie(Some("ws_abc"), true);
        let text = set.to_str().expect("ascii");
        for part in [
            "waymark_session=ws_abc",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=43200",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let gone = cookie(None, false);
        assert!(gone.to_str().expect("ascii").contains("Max-Age=0"));
    }
}
