//! Customer 360 for agents: find a person by any identifier (email, phone, user id, anonymous
//! id), or by part of one or of their name (a list to choose from), then their profile, where they are in each journey, a timeline across channels, and their
//! open requests.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use waymark_store::{Profile, StoredEvent};

use crate::Web;
use crate::layout::{failure, page, problem, when};
use crate::session::Signed;

pub(crate) fn may_read(signed: &Signed) -> bool {
    waymark_server::access::person_may(
        &signed.user,
        waymark_server::access::Capability::ReadCustomers,
    )
}

/// Events shown at once; older ones are a link away.
const PAGE: usize = 50;

#[derive(Debug, Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
    before: Option<i64>,
}

/// What is known of one person.
struct Found {
    profile: Profile,
    events: Vec<StoredEvent>,
    /// Their requests still running: (id, process, who has it now).
    requests: Vec<(i64, String, Vec<String>)>,
    /// Where they are in each deployed journey they have entered.
    journeys: Vec<InJourney>,
}

/// A person's latest pass through a journey.
struct InJourney {
    id: String,
    title: String,
    status: &'static str,
    stage: String,
    touchpoint: String,
    at_us: i64,
    passes: usize,
}

/// The most events of one person read to place them in journeys.
const JOURNEY_EVENTS: usize = 5_000;

/// Places the person in every deployed journey: their events as one case, cut into instances as
/// the journey's report cuts them; the latest instance gives the stage they are at.
fn journeys_of(
    store: &dyn waymark_store::Store,
    viewer: &waymark_server::work::Viewer,
    query: &str,
) -> Result<Vec<InJourney>, String> {
    use waymark_analytics::journey::Status;
    let events = store
        .timeline(query, None, JOURNEY_EVENTS)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    // Only the steps of requests the viewer may see place the person.
    let events =
        waymark_server::work::visible_events(store, viewer, events).map_err(|e| e.to_string())?;
    let mut builder = waymark_eventlog::LogBuilder::default();
    for stored in &events {
        // An event the log cannot read is left out of the placement, as the report leaves it.
        let _ = waymark_store::push_interaction(&mut builder, stored, Some("person"));
    }
    let log = builder.finish();
    let mut out = Vec::new();
    for deployed in store.journeys().map_err(|e| e.to_string())? {
        let Some(journey) = waymark_journey::check(&deployed.source).journey else {
            continue;
        };
        let found = crate::analyses::instances_of(&journey, &log);
        let Some(latest) = found.last() else { continue };
        let Some(visit) = latest.visits.last() else {
            continue;
        };
        let Some((stage, touchpoint)) = journey.touchpoints().nth(visit.touchpoint) else {
            continue;
        };
        out.push(InJourney {
            id: deployed.id.clone(),
            title: journey.title.clone(),
            status: match latest.status {
                Status::Completed => "completed",
                Status::Abandoned => "left without finishing",
                Status::Open => "in progress",
            },
            stage: stage.name.clone(),
            touchpoint: touchpoint.name.clone(),
            at_us: visit.end,
            passes: found.len(),
        });
    }
    Ok(out)
}

/// A person found by `query`, as `viewer` may see them: their open requests only when the
/// viewer may see each (requests are employees' internal business, not every agent's).
fn look_up(
    store: &dyn waymark_store::Store,
    query: &str,
    before: Option<i64>,
    viewer: &waymark_store::workflow::User,
) -> Result<Option<Found>, String> {
    let sees_all = waymark_server::access::person_may(
        viewer,
        waymark_server::access::Capability::ReadAllRequests,
    );
    let Some(profile) = store.profile(query).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let events = store
        .timeline(query, before, PAGE)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let viewing = if sees_all {
        waymark_server::work::Viewer::Admin
    } else {
        waymark_server::work::Viewer::Person(viewer.clone())
    };
    let events =
        waymark_server::work::visible_events(store, &viewing, events).map_err(|e| e.to_string())?;
    let mut requests = Vec::new();
    for user in profile
        .identifiers
        .iter()
        .filter_map(|i| i.strip_prefix("user:"))
    {
        for id in store.instances_of(user).map_err(|e| e.to_string())? {
            let Some(row) = store.instance(id).map_err(|e| e.to_string())? else {
                continue;
            };
            if row.status != "running" {
                continue;
            }
            let tasks = store.instance_tasks(id).map_err(|e| e.to_string())?;
            let request = waymark_server::work::Request {
                instance: row.clone(),
                tasks,
                trail: Vec::new(),
            };
            if !sees_all && !request.visible_to(viewer) {
                continue;
            }
            let now: Vec<String> = request
                .tasks
                .into_iter()
                .filter(|t| t.status == "open")
                .map(|t| t.name)
                .collect();
            requests.push((id, row.process, now));
        }
    }
    let journeys = journeys_of(store, &viewing, query)?;
    Ok(Some(Found {
        profile,
        events,
        requests,
        journeys,
    }))
}

/// How many people a partial search lists.
const MATCHES: usize = 20;
/// The fewest characters a partial search looks for (fewer match nearly everyone, and the
/// search reads every identity).
const SHORTEST: usize = 3;

/// What a search found: the person the text identifies, else the people it partly matches.
enum Outcome {
    One(Box<Found>),
    Several(Vec<waymark_store::PersonFound>),
    /// Identifies nobody, and too short to look for as a part.
    TooShort,
}

/// The search, and the person found.
pub(crate) async fn search(
    State(web): State<Web>,
    signed: Signed,
    Query(search): Query<Search>,
) -> Response {
    if !may_read(&signed) {
        return problem(
            StatusCode::FORBIDDEN,
            "Customer 360 is for the people who serve customers",
            "Looking people up is open to agents, CX leads and analysts. Ask your administrator if you need it.",
            Some(&signed),
        );
    }
    let query = search.q.as_deref().map(str::trim).unwrap_or("").to_string();
    let found = if query.is_empty() {
        None
    } else {
        let store = web.app.store.clone();
        let lookup = query.clone();
        let viewer = signed.user.clone();
        match tokio::task::spawn_blocking(move || {
            Ok::<_, String>(
                match look_up(store.as_ref(), &lookup, search.before, &viewer)? {
                    Some(found) => Outcome::One(Box::new(found)),
                    None if lookup.chars().count() < SHORTEST => Outcome::TooShort,
                    None => Outcome::Several(
                        store
                            .find_people(&lookup, MATCHES)
                            .map_err(|e| e.to_string())?,
                    ),
                },
            )
        })
        .await
        {
            Ok(Ok(found)) => Some(found),
            Ok(Err(error)) => return failure(&error),
            Err(error) => return failure(&error),
        }
    };
    let content = html! {
        form method="get" action="/customers" role="search" {
            div.field {
                label for="q" { "Find a person" }
                p.hint #q-hint { "Their name, email address, phone number, user id or any other identifier, or part of one." }
                input #q type="search" name="q" value=(query) aria-describedby="q-hint" autocomplete="off";
            }
            button type="submit" { "Find" }
        }
        @match &found {
            None => {}
            Some(Outcome::TooShort) => {
                p.notice role="status" { "No one has the identifier “" (query) "”. To find people by part of a name, email or identifier, type at least " (SHORTEST) " characters." }
            }
            Some(Outcome::Several(people)) if people.is_empty() => {
                p.notice role="status" { "No one matches “" (query) "”. Check it, or try another identifier." }
            }
            Some(Outcome::Several(people)) => {
                p role="status" {
                    @if people.len() >= MATCHES { "The first " (MATCHES) " people" } @else { (people.len()) @if people.len() == 1 { " person" } @else { " people" } }
                    " matching “" (query) "”:"
                }
                ul.cards {
                    @for person in people {
                        @let identifier = person.identifiers.first().cloned().unwrap_or_default();
                        li.card {
                            h2 { a href=(format!("/customers?q={}", crate::session::form_urlencoded(&identifier))) {
                                (person.name.clone().unwrap_or_else(|| identifier.clone()))
                            } }
                            @if let Some(email) = &person.email { p.meta { (email) } }
                            p.meta {
                                (person.identifiers.iter().take(5).cloned().collect::<Vec<_>>().join(" · "))
                                @if person.identifiers.len() > 5 { " and " (person.identifiers.len() - 5) " more" }
                            }
                        }
                    }
                }
            }
            Some(Outcome::One(found)) => {
                @let p = &found.profile;
                @let name = p.traits.get("name").map(|n| n.trim_matches('"').to_string())
                    .or_else(|| p.identifiers.first().cloned()).unwrap_or_default();
                h2 { (name) }
                p.meta { "First seen " (when(p.first_seen_us)) " · last seen " (when(p.last_seen_us)) }
                h3 { "Identifiers" }
                ul { @for id in &p.identifiers { li { (id) } } }
                @if !p.traits.is_empty() {
                    h3 { "What they told us" }
                    table {
                        thead { tr { th scope="col" { "Trait" } th scope="col" { "Latest value" } } }
                        tbody { @for (k, v) in &p.traits { tr { td { (k) } td { (v.trim_matches('"')) } } } }
                    }
                }
                h3 { "Journeys" }
                @if found.journeys.is_empty() {
                    p { "Not in any deployed journey yet." }
                } @else {
                    table {
                        caption.visually-hidden { "Where this person is in each journey" }
                        thead { tr { th scope="col" { "Journey" } th scope="col" { "Now at" } th scope="col" { "Status" } th scope="col" { "Since" } } }
                        tbody {
                            @for j in &found.journeys {
                                tr {
                                    td {
                                        @if crate::journeys::may_read(&signed) { a href=(format!("/journeys/{}", j.id)) { (j.title) } }
                                        @else { (j.title) }
                                        @if j.passes > 1 { " (" (j.passes) " times)" }
                                    }
                                    td { (j.stage) ": " (j.touchpoint) }
                                    td { (j.status) }
                                    td { (when(j.at_us)) }
                                }
                            }
                        }
                    }
                }
                h3 { "Open requests" }
                @if found.requests.is_empty() {
                    p { "None." }
                } @else {
                    ul {
                        @for (id, process, now) in &found.requests {
                            li { "Request " (id) " (" (process) "): now at " (now.join(", ")) }
                        }
                    }
                }
                h3 { "Timeline, newest first" }
                p.meta { "Across channels: "
                    @for (n, (channel, count)) in p.channels.iter().enumerate() {
                        @if n > 0 { ", " }
                        (channel) " " (count)
                    }
                }
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Channel" } th scope="col" { "What" } } }
                    tbody {
                        @for event in &found.events {
                            tr {
                                td { (when(event.event.timestamp_us)) }
                                td { (waymark_store::channel(event)) }
                                td { (event.event.name.clone().unwrap_or_else(|| event.event.kind.clone())) }
                            }
                        }
                    }
                }
                @if found.events.len() == PAGE {
                    @if let Some(last) = found.events.last() {
                        p { a href=(format!("/customers?q={}&before={}", crate::session::form_urlencoded(&query), last.seq)) { "Older events" } }
                    }
                }
            }
        }
    };
    page("Customer 360", Some(&signed), content).into_response()
}
