//! The page shell every page shares, the stylesheet, and error pages written for people.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::session::Signed;

const STYLESHEET: &str = include_str!("../assets/waymark.css");
const SCRIPT: &str = include_str!("../assets/waymark.js");

pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: `title` (also the first heading), the navigation for the signed-in person, and
/// the content.
pub(crate) fn page(title: &str, signed: Option<&Signed>, content: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Waymark" }
                    link rel="stylesheet" href="/assets/waymark.css";
                    script src="/assets/waymark.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to the content" }
                    header.top {
                        a.brand href="/" { "Waymark" }
                        @if let Some(signed) = signed {
                            nav aria-label="Main" {
                                ul {
                                    @if crate::journeys::may_read(signed) {
                                        li { a href="/journeys" { "Journeys" } }
                                        li { a href="/analyses" { "Analyses" } }
                                    }
                                    @if crate::customers::may_read(signed) {
                                        li { a href="/customers" { "Customers" } }
                                    }
                                    li { a href="/work" { "Inbox" } }
                                    li { a href="/work/start" { "Request something" } }
                                    li { a href="/work/requests" { "My requests" } }
                                    @if signed.mail_here {
                                        li { a href="/mail" { "Mail" } }
                                    }
                                    @if crate::admin::is_admin(signed) {
                                        li { a href="/admin/requests" { "All requests" } }
                                        li { a href="/admin/people" { "People" } }
                                        li { a href="/admin/keys" { "Keys" } }
                                        li { a href="/admin/deployed" { "Deployed" } }
                                        @if signed.mail_here {
                                            li { a href="/admin/outbox" { "Outbox" } }
                                        }
                                    }
                                }
                            }
                            form.signout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                span.who { (signed.user.name) }
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// A page saying, in a plain sentence, why something cannot be shown or done.
pub(crate) fn problem(
    status: StatusCode,
    title: &str,
    sentence: &str,
    signed: Option<&Signed>,
) -> Response {
    let content = html! {
        p.problem role="alert" { (sentence) }
        p { a href="/work" { "Back to your inbox" } }
    };
    (status, page(title, signed, content)).into_response()
}

/// Something went wrong on our side: logged with its details, shown as a sentence.
pub(crate) fn failure(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "a page failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Waymark could not show this page. Nothing you entered was lost; try again in a moment.",
        None,
    )
}

/// A time as people read it: `2026-11-23 14:05 UTC`.
pub(crate) fn when(us: i64) -> String {
    let text = waymark_eventlog::time::format_micros(us);
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}
