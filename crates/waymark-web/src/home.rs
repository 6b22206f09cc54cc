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
use crate::ui::{Stat, empty, stats};
use crate::work::{About, about, blocking, due, refusal, status_words};

/// How many tasks and requests the home page shows (the inbox and "My requests" have them all).
const SHOWN: usize = 5;

/// What the home page reads from the store for one person.
/// How the installation's work stands, for administrators.
struct Health {
    /// Every request's count by state.
    counts: Vec<(String, usize)>,
    /// Webhook steps whose calls fail (the first few), and how many.
    failing: (Vec<waymark_store::workflow::FailingWebhook>, usize),
    /// Emails waiting to be sent.
    mail: usize,
}

struct Mine {
    /// Open tasks for them, overdue first, each with who asks and for what; and how many.
    tasks: Vec<(TaskRow, About)>,
    waiting: usize,
    /// Their latest requests: id, title, status.
    requests: Vec<(i64, String, String)>,
    /// The installation's health (administrators only).
    health: Option<Health>,
    /// The analyses they saved, newest first (for those who read journeys).
    saved: Option<Vec<waymark_store::views::SavedView>>,
    /// The people they looked at last (for those who look people up).
    looked: Option<Vec<waymark_store::lookups::Lookup>>,
}

pub(crate) async fn home(State(web): State<Web>, signed: Option<Signed>) -> Response {
    let Some(signed) = signed else {
        return Redirect::to("/login").into_response();
    };
    let now = web.app.clock.now_us();
    let (user, admin) = (signed.user.clone(), crate::admin::is_admin(&signed));
    let analyst = crate::journeys::may_read(&signed);
    let agent = crate::customers::may_read(&signed);
    let mine = match blocking(&web, move |store| {
        mine(store, &user, admin, (analyst, agent), now)
    })
    .await
    {
        Ok(mine) => mine,
        Err(error) => return refusal(error, &signed),
    };
    // The journeys' figures, or why they could not be read: the rest of the page is shown
    // either way.
    let journeys = if crate::journeys::may_read(&signed) {
        let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
        Some(
            match tokio::task::spawn_blocking(move || {
                let measured = crate::journeys::measured_all(&logs, &store)?;
                let comments = newest_comments(&logs, &store, &measured);
                Ok::<_, String>((measured, comments))
            })
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
    // The KPIs this person owns, wherever they are defined (none while the events are read).
    let owned = {
        let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
        match tokio::task::spawn_blocking(move || crate::scorecard::everyone(&logs, &store, now))
            .await
        {
            Ok(Ok(Some(cards))) => cards,
            Ok(Ok(None)) => Vec::new(),
            Ok(Err(error)) => {
                tracing::error!(%error, "the home page could not measure the KPIs");
                Vec::new()
            }
            Err(error) => {
                tracing::error!(%error, "the home page could not measure the KPIs");
                Vec::new()
            }
        }
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
        @if let Some(health) = &mine.health { (health_part(health)) }
        (crate::scorecard::home_part(&owned, &signed))
        @match &journeys {
            Some(Ok((measured, comments))) => {
                (journeys_part(measured))
                (comments_part(comments))
            },
            Some(Err(_)) => {
                section aria-labelledby="journeys" {
                    h2 #journeys { "Your journeys" }
                    p.notice role="alert" { "The journeys' figures could not be read just now; try the " a href="/journeys" { "journeys page" } " in a moment." }
                }
            },
            None => {},
        }
        @if let Some(saved) = &mine.saved { (saved_part(saved)) }
        @if let Some(looked) = &mine.looked { (customers_part(looked)) }
        (requests_part(&mine))
    };
    page(&format!("Hello, {first_name}"), Some(&signed), content).into_response()
}

fn mine(
    store: &dyn Store,
    user: &waymark_store::workflow::User,
    admin: bool,
    (analyst, agent): (bool, bool),
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
    let health = if admin {
        Some(Health {
            counts: store.instance_counts()?,
            failing: store.failing_webhooks(SHOWN)?,
            mail: store.mail_waiting()?,
        })
    } else {
        None
    };
    let saved = analyst.then(|| crate::saved::mine(store, &user.id));
    let looked = if agent {
        Some(store.recent_lookups(&user.id, SHOWN)?)
    } else {
        None
    };
    Ok(Mine {
        tasks,
        waiting,
        requests,
        health,
        saved,
        looked,
    })
}

fn saved_part(saved: &[waymark_store::views::SavedView]) -> Markup {
    html! {
        section aria-labelledby="saved" {
            h2 #saved { "Your saved analyses" }
            @if saved.is_empty() {
                (empty("None yet. Open a journey's funnel, flow or conformance view and save it to find it here and share its link.", Some(("/journeys", "Open the journeys"))))
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
                (empty("Nothing is waiting for you.", None))
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
            } @else { ul.cards.grid {
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
            (over_target(&journeys))
        }
    }
}

/// The most comments shown.
const COMMENTS: usize = 5;

/// A comment on the home page: the journey and touchpoint it is about, and what was said.
struct Said {
    journey: String,
    touchpoint: String,
    name: String,
    comment: waymark_analytics::journey::Comment,
}

/// The newest survey comments across the journeys, on the snapshot their figures came from.
fn newest_comments(
    logs: &std::sync::Arc<waymark_server::live::Analyses>,
    store: &std::sync::Arc<dyn Store>,
    measured: &crate::journeys::Measured,
) -> Vec<Said> {
    let (journeys, reading) = measured;
    if reading.is_some() || journeys.is_empty() {
        return Vec::new();
    }
    let models: Vec<_> = journeys.iter().map(|(_, j, _)| j.clone()).collect();
    let Ok(snapshot) = waymark_server::journeys::live_log(
        logs,
        store,
        &models,
        &Default::default(),
        crate::journeys::PAGE_WAIT,
    ) else {
        return Vec::new();
    };
    let mut said: Vec<Said> = journeys
        .iter()
        .flat_map(|(deployed, journey, _)| {
            let latest = logs.latest_comments(&snapshot, journey, COMMENTS);
            latest
                .iter()
                .filter_map(|(t, comment)| {
                    let (_, tp) = journey.touchpoints().nth(*t)?;
                    Some(Said {
                        journey: deployed.id.clone(),
                        touchpoint: tp.id.clone(),
                        name: tp.name.clone(),
                        comment: comment.clone(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    said.sort_by_key(|s| std::cmp::Reverse(s.comment.time));
    said.truncate(COMMENTS);
    said
}

fn comments_part(said: &[Said]) -> Markup {
    html! {
        @if !said.is_empty() {
            section aria-labelledby="comments" {
                h2 #comments { "Newest comments" }
                ul.cards {
                    @for s in said {
                        li.card {
                            blockquote { p { "“" (s.comment.text) "”" } }
                            p.meta {
                                a href=(format!("/journeys/{}/touchpoints/{}", s.journey, s.touchpoint)) { (s.name) }
                                @for (kind, value) in &s.comment.scores { " " span.badge { (kind.as_str().to_uppercase()) " " (value) } }
                                " · " (crate::layout::when(s.comment.time))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The most touchpoints shown over their target.
const OVER_TARGET: usize = 5;

/// The touchpoints whose visits most often take longer than designed, across the journeys.
fn over_target(
    journeys: &[&(
        waymark_store::DeployedJourney,
        waymark_journey::Journey,
        Option<std::sync::Arc<waymark_analytics::journey::Report>>,
    )],
) -> Markup {
    let mut over: Vec<(f64, &str, &str, &str, f64)> = journeys
        .iter()
        .filter_map(|(deployed, _, report)| report.as_ref().map(|r| (deployed, r)))
        .flat_map(|(deployed, report)| {
            report.touchpoints.iter().filter_map(move |t| {
                let share = t.breach_share.filter(|s| *s > 0.0)?;
                Some((
                    share,
                    deployed.id.as_str(),
                    t.id.as_str(),
                    t.name.as_str(),
                    t.target_seconds?,
                ))
            })
        })
        .collect();
    over.sort_by(|a, b| b.0.total_cmp(&a.0));
    over.truncate(OVER_TARGET);
    html! {
        @if !over.is_empty() {
            h3 { "Touchpoints over target" }
            ul.cards {
                @for (share, journey, id, name, target) in &over {
                    li.card {
                        p { a href=(format!("/journeys/{journey}/touchpoints/{id}")) { (name) } }
                        p.meta { span.badge.warn { (crate::chart::percent(*share)) } " of visits took longer than the "
                            (crate::chart::duration(*target)) " target" }
                    }
                }
            }
        }
    }
}

fn customers_part(looked: &[waymark_store::lookups::Lookup]) -> Markup {
    html! {
        section aria-labelledby="find" {
            h2 #find { "Find a customer" }
            form method="get" action="/customers" role="search" {
                div.field {
                    label for="home-q" { "Name, email, phone or any identifier" }
                    input #home-q type="search" name="q" autocomplete="off";
                }
                button type="submit" { "Find" }
            }
            @if !looked.is_empty() {
                h3 { "You looked at last" }
                ul.steps {
                    @for l in looked {
                        li { a href=(format!("/customers?q={}", crate::session::form_urlencoded(&l.identifier))) { (l.label) }
                            " " span.meta { (crate::layout::when(l.at_us)) } }
                    }
                }
            }
            p { a href="/customers/browse" { "Browse people by journey stage, segment or persona" } }
        }
    }
}

fn requests_part(mine: &Mine) -> Markup {
    html! {
        section aria-labelledby="requests" {
            h2 #requests { "Your requests" }
            @if mine.requests.is_empty() {
                (empty("You have not requested anything yet.", Some(("/work/start", "Request something"))))
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

fn health_part(health: &Health) -> Markup {
    let count = |status: &str| {
        health
            .counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    };
    let (failing, failing_all) = &health.failing;
    let tiles = [
        Stat {
            figure: count("running").to_string(),
            label: "requests in progress".into(),
            href: Some("/admin/requests?status=running".into()),
            warn: false,
        },
        Stat {
            figure: count("failed").to_string(),
            label: "requests stuck on an error".into(),
            href: Some("/admin/requests?status=failed".into()),
            warn: count("failed") > 0,
        },
        Stat {
            figure: failing_all.to_string(),
            label: "webhook calls failing".into(),
            href: None,
            warn: *failing_all > 0,
        },
        Stat {
            figure: health.mail.to_string(),
            label: "emails waiting to go out".into(),
            href: None,
            warn: false,
        },
    ];
    html! {
        section aria-labelledby="health" {
            h2 #health { "This installation" }
            (stats("How the installation's work stands", &tiles))
            @if !failing.is_empty() {
                h3 { "Failing webhook calls" }
                ul.cards {
                    @for f in failing {
                        li.card {
                            p { a href=(format!("/work/requests/{}", f.instance)) { (f.name) " (request " (f.instance) ")" }
                                " " span.badge.warn { "tried " (f.attempts) "×" } }
                            p.meta { (f.last_error) " · next try " (crate::layout::when(f.next_try_us)) }
                        }
                    }
                }
            }
            p { a href="/admin/requests" { "All requests" } " · " a href="/admin/deployed" { "What is deployed" } }
        }
    }
}
