//! The page each person lands on after signing in, made of what their roles let them do: what
//! waits for them (overdue first), their latest requests, the journeys, those that moved most
//! first (for those who read journeys), finding a customer (for agents), and the installation's requests
//! by state (for administrators). Each part is shown only to whom it is for; nothing here is
//! readable that the person's own pages would not show.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_server::work::{self as ops, TaskId, WorkError};
use waymark_store::prelude::*;
use waymark_store::workflow::TaskRow;

use crate::Web;
use crate::layout::page;
use crate::session::Signed;
use crate::work::{About, about, blocking, due, refusal, status_words};

/// How many tasks and requests the home page shows (the inbox and "My requests" have them all).
const SHOWN: usize = 5;

/// What the home page reads from the store for one person.
struct Mine {
    /// Open tasks for them, overdue first, each with who asks and for what; and how many.
    tasks: Vec<(TaskRow, About)>,
    waiting: usize,
    /// Their latest requests: id, title, status.
    requests: Vec<(i64, String, String)>,
    /// Every request's count by state (administrators only).
    counts: Option<Vec<(String, usize)>>,
    /// The analyses they saved, newest first (for those who read journeys).
    saved: Option<Vec<waymark_store::views::SavedView>>,
}

pub(crate) async fn home(State(web): State<Web>, signed: Option<Signed>) -> Response {
    let Some(signed) = signed else {
        return Redirect::to("/login").into_response();
    };
    let now = web.app.clock.now_us();
    let (user, admin) = (signed.user.clone(), crate::admin::is_admin(&signed));
    let analyst = crate::journeys::may_read(&signed);
    let mine = match blocking(&web, move |store| mine(store, &user, admin, analyst, now)).await {
        Ok(mine) => mine,
        Err(error) => return refusal(error, &signed),
    };
    // The journeys' figures, or why they could not be read: the rest of the page is shown
    // either way.
    let journeys = if crate::journeys::may_read(&signed) {
        let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
        Some(
            match tokio::task::spawn_blocking(move || crate::journeys::measured_all(&logs, &store))
                .await
            {
                Ok(Ok(measured)) => Ok(measured),
                Ok(Err(error)) => {
                    tracing::error!(%error, "the home page could not measure the journeys");
                    Err(())
                }
                Err(error) => {
                    tracing::error!(%error, "the home page could not measure the journeys");
                    Err(())
                }
            },
        )
    } else {
        None
    };
    let first_name = signed
        .user
        .name
        .split_whitespace()
        .next()
        .unwrap_or(&signed.user.name)
        .to_string();
    let content = html! {
        (waiting(&mine, now))
        @if let Some(counts) = &mine.counts { (health_part(counts)) }
        @match &journeys {
            Some(Ok(measured)) => (journeys_part(measured)),
            Some(Err(_)) => {
                section aria-labelledby="journeys" {
                    h2 #journeys { "Your journeys" }
                    p.notice role="alert" { "The journeys' figures could not be read just now; try the " a href="/journeys" { "journeys page" } " in a moment." }
                }
            },
            None => {},
        }
        @if let Some(saved) = &mine.saved { (saved_part(saved)) }
        @if crate::customers::may_read(&signed) { (customers_part()) }
        (requests_part(&mine))
    };
    page(&format!("Hello, {first_name}"), Some(&signed), content).into_response()
}

fn mine(
    store: &dyn Store,
    user: &waymark_store::workflow::User,
    admin: bool,
    analyst: bool,
    now: i64,
) -> Result<Mine, WorkError> {
    let mut open = ops::inbox(store, user)?;
    let waiting = open.len();
    // Overdue first (the longest overdue at the top), then the rest oldest first.
    open.sort_by_key(|t| {
        let overdue = t.due_us.filter(|d| *d < now);
        (overdue.is_none(), overdue.unwrap_or(0), t.created_us)
    });
    open.truncate(SHOWN);
    let tasks = open
        .into_iter()
        .map(|t| about(store, user, t.instance).map(|a| (t, a)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids = store.instances_of(&user.id)?;
    ids.truncate(SHOWN);
    let requests = ops::requests(store, user, &ids)?
        .into_iter()
        .map(|r| {
            let title = store
                .step_names(&r.instance.process, r.instance.version)
                .map(|(title, _)| title)
                .unwrap_or_else(|_| r.instance.process.clone());
            (r.instance.id, title, r.instance.status.clone())
        })
        .collect();
    let counts = if admin {
        Some(store.instance_counts()?)
    } else {
        None
    };
    let saved = analyst.then(|| crate::saved::mine(store, &user.id));
    Ok(Mine {
        tasks,
        waiting,
        requests,
        counts,
        saved,
    })
}

fn saved_part(saved: &[waymark_store::views::SavedView]) -> Markup {
    html! {
        section aria-labelledby="saved" {
            h2 #saved { "Your saved analyses" }
            @if saved.is_empty() {
                p.notice { "None yet. Open a journey's funnel, flow or conformance view and save it to find it here and share its link." }
            } @else {
                ul { @for view in saved { li { (crate::saved::link(view)) } } }
            }
            p { a href="/analyses" { "Everyone's saved analyses" } }
        }
    }
}

fn waiting(mine: &Mine, now: i64) -> Markup {
    html! {
        section aria-labelledby="waiting" {
            h2 #waiting { "Waiting for you" }
            @if mine.tasks.is_empty() {
                p.notice { "Nothing is waiting for you." }
            } @else {
                ul.cards {
                    @for (task, (title, requester, facts)) in &mine.tasks {
                        li.card {
                            h3 { a href=(format!("/work/tasks/{}", TaskId::of(task))) { (task.name) } }
                            p.meta { (title) @if let Some((_, what)) = facts.first() { ": " (what) } }
                            p.meta { "Asked by " (requester) " · " (due(task, now)) }
                        }
                    }
                }
                @if mine.waiting > mine.tasks.len() {
                    p { a href="/work" { "All " (mine.waiting) " in your inbox" } }
                }
            }
        }
    }
}

fn journeys_part(measured: &crate::journeys::Measured) -> Markup {
    let (journeys, reading) = measured;
    // The figures that moved most first.
    let moved = |r: &Option<std::sync::Arc<waymark_analytics::journey::Report>>| {
        r.as_deref()
            .and_then(crate::journeys::trend_points)
            .map_or(0.0, f64::abs)
    };
    let mut journeys: Vec<_> = journeys.iter().collect();
    journeys.sort_by(|a, b| moved(&b.2).total_cmp(&moved(&a.2)));
    html! {
        section aria-labelledby="journeys" {
            h2 #journeys { "Your journeys" }
            @if reading.is_some() {
                p.notice { "The figures are being read from the events; they appear in a few seconds." }
            }
            @if journeys.is_empty() {
                p.notice { "No journey is deployed yet. Deploy one with " code { "waymark journey deploy" } "." }
            } @else { ul.cards {
                @for (deployed, journey, report) in &journeys {
                    li.card {
                        h3 { a href=(format!("/journeys/{}", deployed.id)) { (journey.title) } }
                        p.meta { (journey.owner) " · " (deployed.label) }
                        @if let Some(report) = report {
                            p.meta {
                                (report.instances.total) " instances · "
                                (crate::journeys::percent(report.instances.completed, report.instances.total)) " completed · "
                                (crate::journeys::score(report)) " · "
                                strong { (crate::journeys::trend(report)) }
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn customers_part() -> Markup {
    html! {
        section aria-labelledby="find" {
            h2 #find { "Find a customer" }
            form method="get" action="/customers" role="search" {
                div.field {
                    label for="home-q" { "Email, phone or any identifier" }
                    input #home-q type="search" name="q" autocomplete="off";
                }
                button type="submit" { "Find" }
            }
        }
    }
}

fn requests_part(mine: &Mine) -> Markup {
    html! {
        section aria-labelledby="requests" {
            h2 #requests { "Your requests" }
            @if mine.requests.is_empty() {
                p { "You have not requested anything yet. " a href="/work/start" { "Request something" } }
            } @else {
                ul.steps {
                    @for (id, title, status) in &mine.requests {
                        li {
                            a href=(format!("/work/requests/{id}")) { (title) " (request " (id) ")" }
                            " · " (status_words(status))
                        }
                    }
                }
                p { a href="/work/requests" { "All your requests" } " · " a href="/work/start" { "Request something" } }
            }
        }
    }
}

fn health_part(counts: &[(String, usize)]) -> Markup {
    html! {
        section aria-labelledby="health" {
            h2 #health { "Requests in this installation" }
            @if counts.is_empty() {
                p { "No request has been started yet." }
            } @else {
                ul.steps {
                    @for (status, count) in counts {
                        li { a href=(format!("/admin/requests?status={status}")) { (status_words(status)) } ": " (count) }
                    }
                }
            }
        }
    }
}
