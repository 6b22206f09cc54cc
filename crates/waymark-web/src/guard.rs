//! What stands in front of signing in: rate limits per client and per email address (a 429
//! with `Retry-After` when exceeded), and the login CSRF token, a random value in a cookie of
//! its own that every sign-in form must send back, so no other site can sign a browser in as
//! someone else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The cookie holding the login CSRF token.
pub(crate) const LOGIN_COOKIE: &str = "waymark_login";

/// Sign-in attempts a client may make: a burst of 10, then one every 6 seconds.
const PER_CLIENT_PER_MINUTE: u32 = 10;
/// Sign-in links one email address may be sent: 3, then one every 5 minutes.
const LINKS_PER_ADDRESS: u32 = 3;
const LINK_EVERY: Duration = Duration::from_secs(300);

/// The limits, shared by every request.
#[derive(Clone)]
pub(crate) struct Limits {
    by_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    by_address: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits { … }")
    }
}

impl Default for Limits {
    fn default() -> Self {
        let per_client = NonZeroU32::new(PER_CLIENT_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let links = NonZeroU32::new(LINKS_PER_ADDRESS).unwrap_or(NonZeroU32::MIN);
        let address_quota = Quota::with_period(LINK_EVERY)
            .unwrap_or_else(|| Quota::per_hour(links))
            .allow_burst(links);
        Limits {
            by_client: Arc::new(RateLimiter::keyed(Quota::per_minute(per_client))),
            by_address: Arc::new(RateLimiter::keyed(address_quota)),
        }
    }
}

/// How long to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooMany(pub Duration);

impl Limits {
    /// One more sign-in attempt from `client`.
    pub(crate) fn client(&self, client: IpAddr) -> Result<(), TooMany> {
        self.by_client
            .check_key(&client)
            .map_err(|not_until| TooMany(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// One more sign-in link for `address` (compared without case).
    pub(crate) fn address(&self, address: &str) -> Result<(), TooMany> {
        self.by_address
            .check_key(&address.trim().to_lowercase())
            .map_err(|not_until| TooMany(not_until.wait_time_from(DefaultClock::default().now())))
    }
}

/// The peer address of a request (the socket's), or an unspecified address when there is no
/// socket (tests that drive the router directly).
pub(crate) fn client_of(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The answer to too many attempts: 429 with `Retry-After` in whole seconds, and a sentence.
pub(crate) fn too_many(wait: TooMany) -> Response {
    let seconds = wait.0.as_secs().max(1);
    let mut response = crate::layout::problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!(
            "There were too many sign-in attempts from here or for this address. Wait {} and try again.",
            if seconds >= 60 {
                format!("{} minutes", seconds.div_ceil(60))
            } else {
                format!("{seconds} seconds")
            }
        ),
        None,
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The login CSRF token a request's cookie holds, if any.
pub(crate) fn login_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// A new login CSRF token and the cookie that carries it (an hour, sign-in pages only).
pub(crate) fn new_login_token(secure: bool) -> Result<(String, HeaderValue), String> {
    let token = waymark_store::keys::random_hex(16).map_err(|e| e.to_string())?;
    let cookie = Cookie::build((LOGIN_COOKIE, token.clone()))
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::hours(1))
        .build();
    let value = HeaderValue::from_str(&cookie.to_string()).map_err(|e| e.to_string())?;
    Ok((token, value))
}

/// Whether the form sent back the token its cookie holds (compared in constant time).
pub(crate) fn login_token_matches(headers: &HeaderMap, sent: Option<&str>) -> bool {
    let (Some(held), Some(sent)) = (login_token(headers), sent) else {
        return false;
    };
    held.len() == sent.len()
        && held
            .bytes()
            .zip(sent.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Lets a response through unchanged; a helper for handlers that answer with one of ours.
pub(crate) fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_limited_after_its_burst() {
        let limits = Limits::default();
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        for _ in 0..PER_CLIENT_PER_MINUTE {
            assert!(limits.client(client).is_ok());
        }
        let TooMany(wait) = limits.client(client).expect_err("limited");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(
            limits
                .client(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8)))
                .is_ok()
        );
    }

    #[test]
    fn an_address_gets_a_few_links_whatever_its_case() {
        let limits = Limits::default();
        for _ in 0..LINKS_PER_ADDRESS {
            assert!(limits.address("Jennifer@Example.com").is_ok());
        }
        assert!(limits.address("jennifer@example.com ").is_err());
        assert!(limits.address("maria@example.com").is_ok());
    }
}
