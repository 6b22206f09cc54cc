//! Context transfer: one answer, for every channel, to "who is this, and where are we with
//! them?": where the person stands in each journey, what they were last told or did on each
//! channel (the last email, SMS, call note, web page), their open requests and the steps
//! waiting on them. `GET /v1/profiles/{id}/context` and the Customer 360 page both read it
//! here, so a call centre, a chatbot and the website say the same thing.
//!
//! Only what the viewer may see takes part: the steps of a colleague's internal request never
//! place the person, name a channel's last message or list as open.

use std::collections::BTreeMap;

use waymark_journey::Journey;
use waymark_store::prelude::*;
use waymark_store::{Profile, StoredEvent};

use crate::work::{Request, Viewer, WorkError};

/// The most of a person's events read to answer (their latest).
pub const EVENTS_READ: usize = 10_000;

/// Everything an agent, a bot or a page needs to carry on with a person.
#[derive(Debug, Clone)]
pub struct Context {
    pub profile: Profile,
    /// Their name as they gave it (the `name` trait), if they did.
    pub name: Option<String>,
    /// Where they stand in each deployed journey they are in: their latest pass.
    pub journeys: Vec<Position>,
    /// The latest event on each channel, newest first.
    pub channels: Vec<LastOnChannel>,
    /// The requests they asked for that are still running.
    pub requests: Vec<OpenRequest>,
    /// The steps that wait on them (assigned to them).
    pub waiting: Vec<Waiting>,
}

/// A person's place in a deployed journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub journey: String,
    pub title: String,
    pub version: i64,
    /// `open`, `completed` or `abandoned`.
    pub status: &'static str,
    /// The ids of the stage and touchpoint of their latest event in it.
    pub stage: String,
    pub touchpoint: String,
    /// Their names.
    pub stage_name: String,
    pub touchpoint_name: String,
    pub started_us: i64,
    pub last_us: i64,
}

/// The latest thing that happened with a person on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct LastOnChannel {
    pub channel: String,
    pub at_us: i64,
    /// The event's name (`Email Sent`, `Viewed Pricing`), or its type for a page or screen.
    pub event: String,
    /// The touchpoint of a deployed journey the event belongs to, by name.
    pub touchpoint: Option<Named>,
    /// What it said: its subject, message, note or text, or the page's title or address.
    pub said: Option<String>,
    /// Survey scores it carried (`csat`, `nps`, `ces`).
    pub scores: Vec<(String, f64)>,
}

/// A touchpoint by name, and its journey's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub touchpoint: String,
    pub journey: String,
}

/// A running request the person asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRequest {
    pub id: i64,
    pub process: String,
    /// The process's name.
    pub title: String,
    pub started_us: i64,
    /// The steps it waits on now.
    pub waiting_for: Vec<String>,
}

/// A step assigned to the person.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub request: i64,
    pub name: String,
    pub since_us: i64,
    pub due_us: Option<i64>,
}

/// The context of the person `identifier` names, as `viewer` may see it at `now_us`; `None`
/// when no profile has that identifier.
pub fn context(
    store: &dyn Store,
    viewer: &Viewer,
    identifier: &str,
    now_us: i64,
) -> Result<Option<Context>, WorkError> {
    context_with(store, viewer, identifier, now_us, &deployed(store)?)
}

/// [`context`] with the deployed journeys already read (a page that also names events by them
/// reads them once).
pub fn context_with(
    store: &dyn Store,
    viewer: &Viewer,
    identifier: &str,
    now_us: i64,
    journeys: &[Deployed],
) -> Result<Option<Context>, WorkError> {
    let Some((profile, events)) = read(store, viewer, identifier)? else {
        return Ok(None);
    };
    let namer = Namer { journeys };
    let name = profile
        .traits
        .get("name")
        .and_then(|n| serde_json::from_str::<serde_json::Value>(n).ok())
        .and_then(|n| n.as_str().map(str::to_string));
    let (requests, waiting) = requests_of(store, viewer, &profile)?;
    Ok(Some(Context {
        journeys: positions(journeys, &events, now_us),
        channels: last_on_each_channel(&namer, &events),
        name,
        requests,
        waiting,
        profile,
    }))
}

/// The profile of the person `identifier` names and where they stand in each journey, as
/// `viewer` may see it: the part of [`context`] a profile answer carries, without the channels
/// and requests.
pub fn placed(
    store: &dyn Store,
    viewer: &Viewer,
    identifier: &str,
    now_us: i64,
) -> Result<Option<(Profile, Vec<Position>)>, WorkError> {
    let Some((profile, events)) = read(store, viewer, identifier)? else {
        return Ok(None);
    };
    Ok(Some((
        profile,
        positions(&deployed(store)?, &events, now_us),
    )))
}

/// What both answers read: the profile, and the person's latest events the viewer may see
/// (newest first).
fn read(
    store: &dyn Store,
    viewer: &Viewer,
    identifier: &str,
) -> Result<Option<(Profile, Vec<StoredEvent>)>, WorkError> {
    let Some(profile) = store.profile(identifier)? else {
        return Ok(None);
    };
    let events = store
        .timeline(identifier, None, EVENTS_READ)?
        .unwrap_or_default();
    Ok(Some((
        profile,
        crate::work::visible_events(store, viewer, events)?,
    )))
}

/// A deployed journey that reads: its id, version and model.
#[derive(Debug)]
pub struct Deployed {
    pub id: String,
    pub version: i64,
    pub journey: Journey,
}

/// The deployed journeys that read (one that no longer does is left out, as its report is).
pub fn deployed(store: &dyn Store) -> Result<Vec<Deployed>, WorkError> {
    Ok(store
        .journeys()?
        .into_iter()
        .filter_map(|d| {
            waymark_journey::check(&d.source)
                .journey
                .map(|journey| Deployed {
                    id: d.id,
                    version: d.version,
                    journey,
                })
        })
        .collect())
}

/// Names events by the touchpoints of the deployed journeys.
#[derive(Debug)]
pub struct Namer<'a> {
    pub journeys: &'a [Deployed],
}

impl Namer<'_> {
    /// The touchpoint `stored` belongs to in the first deployed journey that binds it.
    pub fn touchpoint(&self, stored: &StoredEvent) -> Option<Named> {
        if self.journeys.is_empty() {
            return None;
        }
        let mut builder = waymark_eventlog::LogBuilder::default();
        waymark_store::push_interaction(&mut builder, stored, Some("person")).ok()?;
        let log = builder.finish();
        if log.events() != 1 {
            return None;
        }
        self.journeys.iter().find_map(|d| {
            let binding = waymark_analytics::journey::Binding::new(&d.journey, &log);
            let at = binding.touchpoint_of(&log, 0)?;
            let (_, touchpoint) = d.journey.touchpoints().nth(at)?;
            Some(Named {
                touchpoint: touchpoint.name.clone(),
                journey: d.journey.title.clone(),
            })
        })
    }
}

/// The survey scores an event carries: numeric `csat`, `nps` and `ces` properties.
pub fn scores(stored: &StoredEvent) -> Vec<(String, f64)> {
    let json = stored.to_json();
    let properties = json.get("properties").and_then(|p| p.as_object());
    ["csat", "nps", "ces"]
        .into_iter()
        .filter_map(|kind| {
            let value = properties?.get(kind)?;
            let number = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some((kind.to_string(), number))
        })
        .collect()
}

/// The longest `said` kept, in characters.
const SAID: usize = 280;

/// What an event said, in its own words: the first of its subject, message, note, text, summary
/// or comment, else a page's title, path or address.
pub fn said(stored: &StoredEvent) -> Option<String> {
    let json = stored.to_json();
    let properties = json.get("properties").and_then(|p| p.as_object())?;
    let text = [
        "subject", "message", "note", "text", "summary", "comment", "title", "path", "url",
    ]
    .into_iter()
    .find_map(|key| {
        properties
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })?;
    let mut kept: String = text.chars().take(SAID).collect();
    if text.chars().count() > SAID {
        kept.push('…');
    }
    Some(kept)
}

/// The latest event on each channel (`events` newest first), newest first.
fn last_on_each_channel(namer: &Namer, events: &[StoredEvent]) -> Vec<LastOnChannel> {
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for stored in events {
        if matches!(stored.event.kind.as_str(), "identify" | "alias" | "group") {
            continue;
        }
        let channel = waymark_store::channel(stored);
        if seen.insert(channel.clone(), ()).is_some() {
            continue;
        }
        out.push(LastOnChannel {
            channel,
            at_us: stored.event.timestamp_us,
            event: stored
                .event
                .name
                .clone()
                .unwrap_or_else(|| stored.event.kind.clone()),
            touchpoint: namer.touchpoint(stored),
            said: said(stored),
            scores: scores(stored),
        });
    }
    out
}

/// Where the person stands in each journey: their events (newest first) as one case.
fn positions(journeys: &[Deployed], events: &[StoredEvent], now_us: i64) -> Vec<Position> {
    if journeys.is_empty() {
        return Vec::new();
    }
    let mut builder = waymark_eventlog::LogBuilder::default();
    for stored in events.iter().rev() {
        // An event the log cannot read is left out, as the journey's report leaves it out.
        let _ = waymark_store::push_interaction(&mut builder, stored, Some("person"));
    }
    let log = builder.finish();
    let options = waymark_analytics::journey::Options {
        now: Some(now_us),
        ..Default::default()
    };
    let mut found = Vec::new();
    for d in journeys {
        let Ok(positions) = waymark_analytics::journey::positions(&d.journey, &log, &options)
        else {
            continue;
        };
        for p in positions {
            let stage_name = d
                .journey
                .stages
                .iter()
                .find(|s| s.id == p.stage)
                .map_or_else(|| p.stage.clone(), |s| s.name.clone());
            let touchpoint_name = d
                .journey
                .touchpoints()
                .find(|(_, t)| t.id == p.touchpoint)
                .map_or_else(|| p.touchpoint.clone(), |(_, t)| t.name.clone());
            found.push(Position {
                stage_name,
                touchpoint_name,
                journey: d.id.clone(),
                title: d.journey.title.clone(),
                version: d.version,
                status: p.status.as_str(),
                stage: p.stage,
                touchpoint: p.touchpoint,
                started_us: p.started_us,
                last_us: p.last_us,
            });
        }
    }
    found
}

/// The person's running requests and the steps assigned to them, those `viewer` may see.
fn requests_of(
    store: &dyn Store,
    viewer: &Viewer,
    profile: &Profile,
) -> Result<(Vec<OpenRequest>, Vec<Waiting>), WorkError> {
    let sees = |request: &Request| match viewer {
        Viewer::Admin => true,
        Viewer::Person(user) => request.visible_to(user),
    };
    let mut requests = Vec::new();
    let mut waiting = Vec::new();
    for user in profile
        .identifiers
        .iter()
        .filter_map(|i| i.strip_prefix("user:"))
    {
        for id in store.instances_of(user)? {
            let Some(request) = crate::work::read(store, id)? else {
                continue;
            };
            if request.instance.status != "running" || !sees(&request) {
                continue;
            }
            let title = store
                .process(&request.instance.process, Some(request.instance.version))?
                .map(|p| p.name)
                .unwrap_or_else(|| request.instance.process.clone());
            requests.push(OpenRequest {
                id,
                process: request.instance.process.clone(),
                title,
                started_us: request.instance.started_us,
                waiting_for: request
                    .tasks
                    .iter()
                    .filter(|t| t.status == "open")
                    .map(|t| t.name.clone())
                    .collect(),
            });
        }
        let Some(person) = store.user(user)? else {
            continue;
        };
        for task in crate::work::inbox(store, &person)? {
            if task.assignee.as_deref() != Some(user) {
                continue;
            }
            let Some(request) = crate::work::read(store, task.instance)? else {
                continue;
            };
            if !sees(&request) {
                continue;
            }
            waiting.push(Waiting {
                request: task.instance,
                name: task.name,
                since_us: task.created_us,
                due_us: task.due_us,
            });
        }
    }
    Ok((requests, waiting))
}
