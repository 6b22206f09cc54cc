//! The security headers every answer carries, pages and API alike: a Content-Security-Policy
//! that allows no inline script and no framing, no referrer (links in emails carry tokens, and
//! no page should hand its address to another site), no caching of what is personal, and no
//! content sniffing. A handler that sets one of them itself (the stylesheet's cache lifetime,
//! say) keeps its own.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// What pages may load: only this site's own script and stylesheet, no inline script, never
/// shown inside another site's frame, forms posted only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `router` with the headers added to every answer that does not set them itself.
pub fn secure(router: Router) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::CACHE_CONTROL, "no-store"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
}
