//! Customer 360 for agents: find a person by any identifier (email, phone, user id, anonymous
//! id), or by part of one or of their name (a list to choose from), then their profile, where they are in each journey, a timeline across channels, and their
//! open requests.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use waymark_store::StoredEvent;

use crate::Web;
use crate::layout::{failure, page, problem, when};
use crate::session::Signed;

pub(crate) fn may_read(signed: &Signed) -> bool {
    waymark_server::access::person_may(
        &signed.user,
        waymark_server::access::Capability::ReadCustomers,
    )
}

/// The page anyone who may not look people up is answered.
pub(crate) fn refused(signed: &Signed) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "Customer 360 is for the people who serve customers",
        "Looking people up is open to agents, CX leads and analysts. Ask your administrator if you need it.",
        Some(signed),
    )
}

/// Events shown at once; older ones are a link away.
const PAGE: usize = 50;

#[derive(Debug, Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
    before: Option<i64>,
}

/// What is known of one person: the context answer every channel gets, and a page of their
/// timeline with each event's touchpoint and scores.
struct Found {
    context: waymark_server::context::Context,
    events: Vec<Entry>,
}

/// One event of the timeline, in touchpoint words.
struct Entry {
    stored: StoredEvent,
    touchpoint: Option<waymark_server::context::Named>,
    said: Option<String>,
    scores: Vec<(String, f64)>,
}

/// A person found by `query`, as `viewer` may see them: only the requests and steps the viewer
/// may open take part (requests are employees' internal business, not every agent's).
fn look_up(
    store: &dyn waymark_store::Store,
    query: &str,
    before: Option<i64>,
    viewer: &waymark_store::workflow::User,
    now: i64,
) -> Result<Option<Found>, String> {
    use waymark_server::context;
    let viewing = if waymark_server::access::person_may(
        viewer,
        waymark_server::access::Capability::ReadAllRequests,
    ) {
        waymark_server::work::Viewer::Admin
    } else {
        waymark_server::work::Viewer::Person(viewer.clone())
    };
    let journeys = context::deployed(store).map_err(|e| e.to_string())?;
    let Some(found) =
        context::context_with(store, &viewing, query, now, &journeys).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let events = store
        .timeline(query, before, PAGE)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let events =
        waymark_server::work::visible_events(store, &viewing, events).map_err(|e| e.to_string())?;
    let namer = context::Namer {
        journeys: &journeys,
    };
    let events = events
        .into_iter()
        .map(|stored| Entry {
            touchpoint: namer.touchpoint(&stored),
            said: context::said(&stored),
            scores: context::scores(&stored),
            stored,
        })
        .collect();
    Ok(Some(Found {
        context: found,
        events,
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
        return refused(&signed);
    }
    let query = search.q.as_deref().map(str::trim).unwrap_or("").to_string();
    let found = if query.is_empty() {
        None
    } else {
        let store = web.app.store.clone();
        let lookup = query.clone();
        let viewer = signed.user.clone();
        let now = web.app.clock.now_us();
        match tokio::task::spawn_blocking(move || {
            Ok::<_, String>(
                match look_up(store.as_ref(), &lookup, search.before, &viewer, now)? {
                    Some(found) => {
                        // The access log, and what this person looked at last.
                        let label = found.context.name.clone().unwrap_or_else(|| lookup.clone());
                        // By the profile's first identifier: one person is one entry,
                        // whatever they were looked up by.
                        let person = found
                            .context
                            .profile
                            .identifiers
                            .first()
                            .cloned()
                            .unwrap_or_else(|| lookup.clone());
                        store
                            .note_lookup(&viewer.id, &person, &label, now)
                            .map_err(|e| e.to_string())?;
                        Outcome::One(Box::new(found))
                    }
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
        p { a href="/customers/browse" { "Browse people by journey stage, segment or persona" } }
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
            Some(Outcome::One(found)) => { (profile(&signed, &query, found)) }
        }
    };
    page("Customer 360", Some(&signed), content).into_response()
}

/// One person: who they are, where we are with them (the context answer), and their timeline.
fn profile(signed: &Signed, query: &str, found: &Found) -> maud::Markup {
    let c = &found.context;
    let p = &c.profile;
    let name = c
        .name
        .clone()
        .or_else(|| p.identifiers.first().cloned())
        .unwrap_or_default();
    html! {
        h2 { (name) }
        p.meta { "First seen " (when(p.first_seen_us)) " · last seen " (when(p.last_seen_us)) }
        h3 { "Where we are" }
        p.hint { "The same answer the call centre, a chatbot and the website get (" code { "GET /v1/profiles/{id}/context" } ")." }
        h4 { "Journeys" }
        @if c.journeys.is_empty() {
            p { "Not in any deployed journey yet." }
        } @else {
            table {
                caption.visually-hidden { "Where this person is in each journey" }
                thead { tr { th scope="col" { "Journey" } th scope="col" { "Now at" } th scope="col" { "Status" } th scope="col" { "Since" } } }
                tbody {
                    @for j in &c.journeys {
                        tr {
                            td {
                                @if crate::journeys::may_read(signed) { a href=(format!("/journeys/{}", j.journey)) { (j.title) } }
                                @else { (j.title) }
                            }
                            td { (j.stage_name) ": " (j.touchpoint_name) }
                            td { (match j.status { "open" => "in progress", "abandoned" => "left without finishing", other => other }) }
                            td { (when(j.last_us)) }
                        }
                    }
                }
            }
        }
        h4 { "Last on each channel" }
        @if c.channels.is_empty() {
            p { "Nothing yet." }
        } @else {
            ul.cards {
                @for l in &c.channels {
                    li.card {
                        p { strong { (l.channel) } " · " (when(l.at_us)) }
                        p {
                            @if let Some(t) = &l.touchpoint { (t.touchpoint) " (" (t.journey) ")" } @else { (l.event) }
                            @for (kind, value) in &l.scores { " " span.badge { (kind.to_uppercase()) " " (value) } }
                        }
                        @if let Some(said) = &l.said { p.meta { "“" (said) "”" } }
                    }
                }
            }
        }
        h4 { "Open requests" }
        @if c.requests.is_empty() {
            p { "None." }
        } @else {
            ul {
                @for r in &c.requests {
                    li { (r.title) " (request " (r.id) ", since " (when(r.started_us)) "): waiting for " (r.waiting_for.join(", ")) }
                }
            }
        }
        @if !c.waiting.is_empty() {
            h4 { "Waiting on them" }
            ul {
                @for w in &c.waiting {
                    li { (w.name) " (request " (w.request) ", since " (when(w.since_us))
                        @if let Some(due) = w.due_us { ", due " (when(due)) } ")" }
                }
            }
        }
        h3 { "Identifiers" }
        ul { @for id in &p.identifiers { li { (id) } } }
        @if !p.traits.is_empty() {
            h3 { "What they told us" }
            table {
                thead { tr { th scope="col" { "Trait" } th scope="col" { "Latest value" } } }
                tbody { @for (k, v) in &p.traits { tr { td { (k) } td { (v.trim_matches('"')) } } } }
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
                @for entry in &found.events {
                    @let event = &entry.stored.event;
                    tr {
                        td { (when(event.timestamp_us)) }
                        td { (waymark_store::channel(&entry.stored)) }
                        td {
                            @if let Some(t) = &entry.touchpoint {
                                (t.touchpoint) " " span.meta { "(" (event.name.clone().unwrap_or_else(|| event.kind.clone())) ")" }
                            } @else {
                                (event.name.clone().unwrap_or_else(|| event.kind.clone()))
                            }
                            @for (kind, value) in &entry.scores { " " span.badge { (kind.to_uppercase()) " " (value) } }
                            @if let Some(said) = &entry.said { br; span.meta { "“" (said) "”" } }
                        }
                    }
                }
            }
        }
        @if found.events.len() == PAGE {
            @if let Some(last) = found.events.last() {
                p { a href=(format!("/customers?q={}&before={}", crate::session::form_urlencoded(query), last.stored.seq)) { "Older events" } }
            }
        }
    }
}
