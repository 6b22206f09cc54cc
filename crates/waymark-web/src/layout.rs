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

/// A link of the navigation: where, what it is called, and the paths it stands for.
struct Link {
    href: &'static str,
    label: &'static str,
}

/// The navigation a person gets, in groups, by what their roles let them do.
fn groups(signed: &Signed) -> Vec<(&'static str, Vec<Link>)> {
    let link = |href, label| Link { href, label };
    let mut work = vec![
        link("/", "Home"),
        link("/work", "Inbox"),
        link("/work/start", "Request something"),
        link("/work/requests", "My requests"),
    ];
    if signed.mail_here {
        work.push(link("/mail", "Mail"));
    }
    let mut insight = Vec::new();
    if crate::journeys::may_read(signed) {
        insight.push(link("/journeys", "Journeys"));
        insight.push(link("/scorecards", "Scorecards"));
        insight.push(link("/alerts", "Alerts"));
        insight.push(link("/analyses", "Analyses"));
    }
    if crate::customers::may_read(signed) {
        insight.push(link("/customers", "Customers"));
    }
    let mut improve = Vec::new();
    if crate::journeys::may_read(signed) {
        improve.push(link("/opportunities", "Opportunities"));
        improve.push(link("/roadmap", "Roadmap"));
        improve.push(link("/follow-ups", "Follow-ups"));
    }
    let mut admin = Vec::new();
    if crate::admin::is_admin(signed) {
        admin.push(link("/admin/requests", "All requests"));
        admin.push(link("/admin/people", "People"));
        admin.push(link("/admin/keys", "Keys"));
        admin.push(link("/admin/deployed", "Deployed"));
        if signed.mail_here {
            admin.push(link("/admin/outbox", "Outbox"));
        }
    }
    [
        ("Work", work),
        ("Insight", insight),
        ("Improve", improve),
        ("Administration", admin),
    ]
    .into_iter()
    .filter(|(_, links)| !links.is_empty())
    .collect()
}

/// The link that stands for `path`: the longest one it starts with (`/` only for itself).
fn current<'a>(groups: &'a [(&'static str, Vec<Link>)], path: &str) -> Option<&'a str> {
    groups
        .iter()
        .flat_map(|(_, links)| links)
        .map(|l| l.href)
        .filter(|href| {
            path == *href
                || (*href != "/" && path.starts_with(href) && path[href.len()..].starts_with('/'))
        })
        .max_by_key(|href| href.len())
}

fn navigation(signed: &Signed, id: &str) -> Markup {
    let groups = groups(signed);
    let here = current(&groups, &signed.path);
    html! {
        nav.side-nav aria-label=(format!("Main{id}")) {
            @for (name, links) in &groups {
                div.nav-group {
                    p.nav-title { (name) }
                    ul {
                        @for l in links {
                            li { a href=(l.href) aria-current=[(here == Some(l.href)).then_some("page")] { (l.label) } }
                        }
                    }
                }
            }
        }
    }
}

/// A whole page: `title` (also the first heading), the navigation for the signed-in person, and
/// the content. On a wide screen the navigation is a column beside the page; on a phone it
/// folds into a menu.
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
                body.signed-in[signed.is_some()] {
                    a.skip href="#main" { "Skip to the content" }
                    header.top {
                        a.brand href="/" { span.brand-mark aria-hidden="true" {} "Waymark" }
                        @if let Some(signed) = signed {
                            details.menu {
                                summary { "Menu" }
                                (navigation(signed, " menu"))
                            }
                            form.signout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                span.who { (signed.user.name) }
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                    div.frame {
                        @if let Some(signed) = signed {
                            div.sidebar { (navigation(signed, "")) }
                        }
                        main #main tabindex="-1" {
                            h1 { (title) }
                            (content)
                        }
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

/// Runs `call` on the store on the blocking pool; when it fails, the page that says so.
pub(crate) async fn stored<T: Send + 'static>(
    web: &crate::Web,
    call: impl FnOnce(&dyn waymark_store::Store) -> Result<T, waymark_store::StoreError>
    + Send
    + 'static,
) -> Result<T, Response> {
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(failure(&error)),
        Err(error) => Err(failure(&error)),
    }
}

/// A time as people read it: `2026-11-23 14:05 UTC`.
pub(crate) fn when(us: i64) -> String {
    let text = waymark_eventlog::time::format_micros(us);
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}
