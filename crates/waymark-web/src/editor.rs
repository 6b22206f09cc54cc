//! The journey editor: people with the `cx`, `journey-owner` or `admin` role create a journey
//! (from the universal stages, a copy of another, or discovered from the events), edit every field
//! of its file, and save it as a new version through the journey model.
//!
//! The work in progress lives in the form itself (a [`Draft`]): every button posts the whole form,
//! the server applies the action (add, move, remove, pick a rule) and answers the editor again,
//! with the problems `waymark journey lint` finds shown at their fields and the map drawn from the
//! draft. Nothing is stored until Save. Saving carries the version the edit started from: when
//! someone saved another version meanwhile, the two edits are merged (what each changed is kept)
//! or, where they clash, the save is refused with both values shown.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How a KPI line is written, under each KPI field.
const KPI_HINT: &str = "NAME: MEASURE [FROM -> TO] [>= or <= TARGET] [owner WHO], e.g. Approval lead time: median-time <= 2d. Measures: completion, conversion, over-target, median-time, repeat-contacts, csat, nps, ces, volume";

use waymark_journey::draft::{
    Conflict, Draft, Fields, LIMITS, RuleDraft, StageDraft, TouchpointDraft, merge,
};
use waymark_journey::{Actor, Channel, Diagnostic, Journey, Kind, Severity, Visibility};

use crate::Web;
use crate::layout::{failure, page, problem, stored};
use crate::session::Signed;
use crate::suggest::Suggestions;

pub(crate) fn may_design(signed: &Signed) -> bool {
    waymark_server::access::person_may(
        &signed.user,
        waymark_server::access::Capability::DesignJourneys,
    )
}

fn refused(signed: &Signed) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "Designing journeys is for CX leads and journey owners",
        "Creating and changing journeys needs the cx, journey-owner or admin role. Ask your administrator if you need it.",
        Some(signed),
    )
}

/// The draft checked as a journey file: the problems by the field they concern, and the journey
/// when there is no error.
pub(crate) struct Checked {
    pub(crate) problems: Vec<(String, Diagnostic)>,
    pub(crate) journey: Option<Journey>,
    /// Field → its problems (indexes into `problems`).
    by_field: HashMap<String, Vec<usize>>,
    /// The touchpoints (`sN.tM`) with a problem in one of their fields.
    touchpoints: HashSet<String>,
}

impl Checked {
    pub(crate) fn of(draft: &Draft) -> Checked {
        let (text, fields) = draft.file();
        let report = waymark_journey::check(&text);
        let problems: Vec<(String, Diagnostic)> = report
            .diagnostics
            .into_iter()
            .map(|d| {
                let field = fields
                    .get(d.location.line.saturating_sub(1))
                    .cloned()
                    .unwrap_or_else(|| "j.id".into());
                (field, d)
            })
            .collect();
        let mut by_field: HashMap<String, Vec<usize>> = HashMap::new();
        let mut touchpoints = HashSet::new();
        for (index, (field, _)) in problems.iter().enumerate() {
            by_field.entry(field.clone()).or_default().push(index);
            let mut parts = field.split('.');
            if let (Some(s), Some(t)) = (parts.next(), parts.next())
                && s.starts_with('s')
                && t.starts_with('t')
            {
                touchpoints.insert(format!("{s}.{t}"));
            }
        }
        Checked {
            problems,
            journey: report.journey,
            by_field,
            touchpoints,
        }
    }

    fn at(&self, field: &str) -> Vec<&Diagnostic> {
        self.by_field
            .get(field)
            .into_iter()
            .flatten()
            .map(|&i| &self.problems[i].1)
            .collect()
    }

    fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|(_, d)| d.severity == Severity::Error)
            .count()
    }
}

/// An id made from a name, not among `taken`.
fn id_from(name: &str, taken: &[String]) -> String {
    waymark_journey::id_from_name(name, |id| taken.iter().any(|t| t == id))
}

fn touchpoint_ids(draft: &Draft) -> Vec<String> {
    draft
        .touchpoints()
        .filter_map(|(_, t)| t.fields.get("id").cloned())
        .collect()
}

fn new_touchpoint(draft: &Draft, name: &str, event: Option<&str>) -> TouchpointDraft {
    let id = id_from(name, &touchpoint_ids(draft));
    let mut fields = Fields::new();
    for (key, value) in [
        ("id", id.as_str()),
        ("name", name),
        ("channel", "web"),
        ("department", "Customer Experience"),
        ("actor", "customer"),
        ("kind", "task"),
    ] {
        fields.insert(key.into(), value.into());
    }
    TouchpointDraft {
        fields,
        rules: event
            .map(|event| {
                vec![RuleDraft {
                    event: event.into(),
                    conditions: String::new(),
                }]
            })
            .unwrap_or_default(),
    }
}

/// `"3.1"` → (3, 1).
fn pair(text: &str) -> Option<(usize, usize)> {
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Applies one of the editor's buttons to the draft; returns the anchor to show afterwards.
pub(crate) fn apply(draft: &mut Draft, action: &str) -> Option<String> {
    let (verb, target) = action.split_once(':').unwrap_or((action, ""));
    let index = target.parse::<usize>().ok();
    match verb {
        "add-stage" => {
            if draft.stages.len() >= LIMITS.stages {
                return None;
            }
            let taken: Vec<String> = draft
                .stages
                .iter()
                .filter_map(|s| s.fields.get("id").cloned())
                .collect();
            let number = draft.stages.len() + 1;
            let mut fields = Fields::new();
            fields.insert("id".into(), id_from(&format!("stage {number}"), &taken));
            fields.insert("name".into(), format!("Stage {number}"));
            let touchpoint = new_touchpoint(draft, &format!("Stage {number} touchpoint"), None);
            draft.stages.push(StageDraft {
                fields,
                touchpoints: vec![touchpoint],
            });
            Some(format!("s{}", draft.stages.len() - 1))
        }
        "remove-stage" => {
            let s = index.filter(|&s| s < draft.stages.len() && draft.stages.len() > 1)?;
            draft.stages.remove(s);
            Some("stages".into())
        }
        "stage-up" | "stage-down" => {
            let s = index.filter(|&s| s < draft.stages.len())?;
            let other = if verb == "stage-up" {
                s.checked_sub(1)?
            } else {
                s + 1
            };
            if other >= draft.stages.len() {
                return None;
            }
            draft.stages.swap(s, other);
            Some(format!("s{other}"))
        }
        "add-touchpoint" => {
            let s = index.filter(|&s| {
                draft
                    .stages
                    .get(s)
                    .is_some_and(|stage| stage.touchpoints.len() < LIMITS.touchpoints)
            })?;
            let count = draft.touchpoints().count() + 1;
            let touchpoint = new_touchpoint(draft, &format!("Touchpoint {count}"), None);
            draft.stages[s].touchpoints.push(touchpoint);
            Some(format!("s{s}.t{}", draft.stages[s].touchpoints.len() - 1))
        }
        "remove-touchpoint" => {
            let (s, t) = pair(target)?;
            let stage = draft.stages.get_mut(s)?;
            (t < stage.touchpoints.len()).then(|| stage.touchpoints.remove(t))?;
            Some(format!("s{s}"))
        }
        "up" => {
            let (s, t) = pair(target)?;
            if t >= draft.stages.get(s)?.touchpoints.len() {
                return None;
            }
            if t > 0 {
                draft.stages.get_mut(s)?.touchpoints.swap(t - 1, t);
                Some(format!("s{s}.t{}", t - 1))
            } else if s > 0 {
                // The first of a stage moves to the end of the stage before.
                let moved = draft.stages[s].touchpoints.remove(0);
                draft.stages[s - 1].touchpoints.push(moved);
                Some(format!(
                    "s{}.t{}",
                    s - 1,
                    draft.stages[s - 1].touchpoints.len() - 1
                ))
            } else {
                None
            }
        }
        "down" => {
            let (s, t) = pair(target)?;
            let len = draft.stages.get(s)?.touchpoints.len();
            if t + 1 < len {
                draft.stages[s].touchpoints.swap(t, t + 1);
                Some(format!("s{s}.t{}", t + 1))
            } else if t < len && s + 1 < draft.stages.len() {
                // The last of a stage moves to the start of the next.
                let moved = draft.stages[s].touchpoints.remove(t);
                draft.stages[s + 1].touchpoints.insert(0, moved);
                Some(format!("s{}.t0", s + 1))
            } else {
                None
            }
        }
        "add-rule" => {
            let (s, t) = pair(target)?;
            let touchpoint = draft.stages.get_mut(s)?.touchpoints.get_mut(t)?;
            if touchpoint.rules.len() >= LIMITS.rules {
                return None;
            }
            touchpoint.rules.push(RuleDraft::default());
            Some(format!("s{s}.t{t}"))
        }
        "remove-rule" => {
            let mut parts = target.split('.');
            let (s, t, r) = (
                parts.next()?.parse::<usize>().ok()?,
                parts.next()?.parse::<usize>().ok()?,
                parts.next()?.parse::<usize>().ok()?,
            );
            let touchpoint = draft.stages.get_mut(s)?.touchpoints.get_mut(t)?;
            (r < touchpoint.rules.len()).then(|| touchpoint.rules.remove(r))?;
            Some(format!("s{s}.t{t}"))
        }
        "bind" => {
            // A touchpoint for events no touchpoint binds yet, at the end of the last stage.
            let event = target.trim();
            let last = draft.stages.last()?;
            if event.is_empty() || last.touchpoints.len() >= LIMITS.touchpoints {
                return None;
            }
            let touchpoint = new_touchpoint(draft, event, Some(event));
            let last = draft.stages.len() - 1;
            draft.stages[last].touchpoints.push(touchpoint);
            Some(format!(
                "s{last}.t{}",
                draft.stages[last].touchpoints.len() - 1
            ))
        }
        "add-persona" if draft.personas.len() < LIMITS.personas => {
            let taken: Vec<String> = draft
                .personas
                .iter()
                .filter_map(|p| p.get("id").cloned())
                .collect();
            let mut fields = Fields::new();
            fields.insert("id".into(), id_from("persona", &taken));
            fields.insert("name".into(), "A new persona".into());
            draft.personas.push(fields);
            Some(format!("p{}", draft.personas.len() - 1))
        }
        "remove-persona" => {
            let p = index.filter(|&p| p < draft.personas.len())?;
            draft.personas.remove(p);
            Some("personas".into())
        }
        "add-link" if draft.links.len() < LIMITS.links => {
            draft.links.push(Fields::new());
            Some(format!("l{}", draft.links.len() - 1))
        }
        "remove-link" => {
            let l = index.filter(|&l| l < draft.links.len())?;
            draft.links.remove(l);
            Some("links".into())
        }
        _ => None,
    }
}

/// What the editor page shows besides the draft.
#[derive(Default)]
pub(crate) struct Around {
    /// The version the edit started from (0: a new journey).
    pub(crate) base: i64,
    /// Whether the journey exists already (its id cannot change).
    pub(crate) existing: bool,
    pub(crate) suggestions: Option<Arc<Suggestions>>,
    pub(crate) unbound: Vec<(String, usize)>,
    pub(crate) notice: Option<Markup>,
    pub(crate) conflicts: Vec<Conflict>,
}

/// The live log's snapshot, for the suggestions (none while the events are being read).
async fn snapshot(web: &Web) -> Option<Arc<waymark_server::live::Snapshot>> {
    let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
    tokio::task::spawn_blocking(move || {
        waymark_server::journeys::live_log(
            &logs,
            &store,
            &[],
            &waymark_analytics::journey::Options::default(),
            crate::journeys::PAGE_WAIT,
        )
        .ok()
    })
    .await
    .ok()
    .flatten()
}

/// The suggestions and the events the draft leaves unbound, on the latest snapshot.
async fn around_events(web: &Web, checked: &Checked, around: &mut Around) {
    let Some(snapshot) = snapshot(web).await else {
        return;
    };
    let kept = web.suggestions.clone();
    let journey = checked.journey.clone();
    let found = tokio::task::spawn_blocking(move || {
        let suggestions = kept.of(&snapshot);
        let unbound = match &journey {
            Some(journey) => crate::suggest::unbound(journey, &snapshot.log),
            None => Vec::new(),
        };
        (suggestions, unbound)
    })
    .await;
    if let Ok((suggestions, unbound)) = found {
        around.suggestions = Some(suggestions);
        around.unbound = unbound;
    }
}

/// The editor's page for `draft`: checked, with the event suggestions, rendered off the request
/// thread (a long journey is work); and how many errors the draft has.
async fn answer(
    web: &Web,
    signed: &Signed,
    id: &str,
    draft: Draft,
    mut around: Around,
    focus: Option<String>,
) -> (Response, usize) {
    let checked = match tokio::task::spawn_blocking(move || {
        let checked = Checked::of(&draft);
        (draft, checked)
    })
    .await
    {
        Ok(checked) => checked,
        Err(error) => return (failure(&error), 0),
    };
    let (draft, checked) = checked;
    around_events(web, &checked, &mut around).await;
    let errors = checked.errors();
    let (signed, id) = (signed.clone(), id.to_string());
    match tokio::task::spawn_blocking(move || {
        editor_page(&signed, &id, &draft, &checked, &around, focus.as_deref())
    })
    .await
    {
        Ok(page) => (page.into_response(), errors),
        Err(error) => (failure(&error), errors),
    }
}

/// `GET /journeys/{id}/edit`: the editor on the latest version (`?as=to-be`: a to-be version made
/// from it).
#[derive(Debug, Deserialize)]
pub(crate) struct EditQuery {
    #[serde(rename = "as")]
    as_label: Option<String>,
    saved: Option<i64>,
    merged: Option<i64>,
    /// A proposal to go on from.
    proposal: Option<i64>,
    /// A proposal just made.
    proposed: Option<i64>,
}

pub(crate) async fn edit(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<EditQuery>,
) -> Response {
    if !may_design(&signed) {
        return refused(&signed);
    }
    let key = id.clone();
    // The proposal asked for, else the newest one when it waits.
    let wanted = query.proposed.or(query.proposal);
    let found = stored(&web, move |store| {
        let asked = match wanted {
            Some(id) => store.proposal(id)?.filter(|p| p.journey == key),
            None => None,
        };
        let proposal = match asked {
            Some(p) => Some(p),
            None => store
                .proposals(Some(&key), 1)?
                .into_iter()
                .next()
                .filter(|p| p.status == waymark_store::proposals::ProposalStatus::Waiting),
        };
        Ok((store.journey(&key, None)?, proposal))
    })
    .await;
    let (latest, proposal) = match found {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(latest) = latest else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such journey",
            &format!("No journey `{id}` is deployed. Start one from the journeys page."),
            Some(&signed),
        );
    };
    let going_on = proposal.as_ref().filter(|p| wanted == Some(p.id));
    let source = going_on.map_or(&latest.source, |p| &p.source);
    let Some(journey) = waymark_journey::check(source).journey else {
        return failure(&"a deployed journey no longer reads");
    };
    let mut draft = Draft::of(&journey);
    let mut notice = proposal
        .as_ref()
        .map(|p| proposal_notice(&id, p, going_on.is_some(), query.proposed.is_some()));
    if let Some(label) = query.as_label.as_deref().filter(|l| !l.trim().is_empty()) {
        draft
            .journey
            .insert("version".into(), label.trim().to_string());
        if waymark_journey::is_to_be_label(label) {
            draft.journey.insert("change".into(), "true".into());
        }
        notice = Some(html! {
            p.notice role="status" { "This is a " strong { (label) } " version made from version " (latest.version) " (" (latest.label) "). Change what will be different, answer the five change-impact questions, and save it as a new version." }
        });
    }
    if let Some(version) = query.saved {
        let merged = query.merged.is_some();
        notice = Some(html! {
            p.notice.success role="status" {
                "Saved as version " (version) "."
                @if merged { " Someone saved another version while you were editing; their changes and yours were merged." }
                " " a href=(format!("/journeys/{id}")) { "See the live map" } " · "
                a href=(format!("/journeys/{id}/download?version={version}")) { "Download the YAML" }
            }
        });
    }
    let around = Around {
        base: latest.version,
        existing: true,
        notice,
        ..Around::default()
    };
    answer(&web, &signed, &id, draft, around, None).await.0
}

/// What the editor says of a journey's proposal: made just now, gone on from, or waiting.
fn proposal_notice(
    id: &str,
    p: &waymark_store::proposals::Proposal,
    going_on: bool,
    just_made: bool,
) -> Markup {
    let link = format!("/journeys/{id}/proposals/{}", p.id);
    html! {
        @if just_made {
            p.notice.success role="status" {
                "Proposed: the " strong { (p.label) } " version becomes the current one once the journey's owner approves its five answers. "
                "They have it among their tasks. " a href=(link) { "See the proposal" }
            }
        } @else if going_on {
            p.notice role="status" {
                "You are editing proposal " (p.id) " (" (p.status.as_str()) "), not the current version. Saving proposes it again and replaces it. "
                a href=(link) { "See the proposal" }
            }
        } @else {
            p.notice role="status" {
                "A " strong { (p.label) } " version proposed by " (p.proposed_by) " waits for the owner's approval. "
                a href=(link) { "See it" } " · " a href=(format!("/journeys/{id}/edit?proposal={}", p.id)) { "Go on editing it" }
            }
        }
    }
}

/// `POST /journeys/{id}/edit`: a button of the editor (`action`), on the whole form.
pub(crate) async fn post(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_design(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let field = |key: &str| {
        crate::work::form_field(&pairs, key)
            .unwrap_or("")
            .to_string()
    };
    let base: i64 = field("base").parse().unwrap_or(0);
    let action = field("action");
    let mut draft = Draft::from_fields(&pairs);
    let key = id.clone();
    let versions = match stored(&web, move |store| store.journey_versions(&key)).await {
        Ok(versions) => versions,
        Err(page) => return page,
    };
    let existing = !versions.is_empty();
    if existing {
        // An existing journey keeps its id: a journey under another id is a copy.
        draft.journey.insert("id".into(), id.clone());
    } else if draft.get("id") != id {
        draft.journey.insert("id".into(), id.clone());
    }
    let mut around = Around {
        base,
        existing,
        ..Around::default()
    };
    let focus = if action == "save" {
        match save(&web, &signed, &id, draft.clone(), base, versions.clone()).await {
            Saved::Done(response) => return response,
            // `save` tries again itself; it never hands this back.
            Saved::Again => None,
            Saved::Refused {
                draft: kept,
                base,
                conflicts,
                notice,
            } => {
                draft = kept;
                around.base = base;
                around.conflicts = conflicts;
                around.notice = Some(notice);
                None
            }
        }
    } else {
        apply(&mut draft, &action)
    };
    let status = if around.conflicts.is_empty() && around.notice.is_none() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    let clash = !around.conflicts.is_empty();
    let (mut response, errors) = answer(&web, &signed, &id, draft, around, focus).await;
    if action == "save" && errors > 0 && !clash {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    } else if action == "save" {
        *response.status_mut() = status;
    }
    response
}

/// What a save with errors says: nothing was saved, and why.
fn unsaved(errors: usize) -> Markup {
    html! {
        p.notice.error role="alert" {
            "Nothing was saved: the journey has " (errors) (if errors == 1 { " problem" } else { " problems" })
            " to fix first, shown at their fields."
        }
    }
}

enum Saved {
    Done(Response),
    /// Another version came first: merge again.
    Again,
    Refused {
        draft: Draft,
        base: i64,
        conflicts: Vec<Conflict>,
        notice: Markup,
    },
}

/// Saves the draft as a new version: merged with a version saved meanwhile, refused when the
/// two clash or the draft has errors.
async fn save(
    web: &Web,
    signed: &Signed,
    id: &str,
    draft: Draft,
    base: i64,
    versions: Vec<waymark_store::DeployedJourney>,
) -> Saved {
    // An edit with errors is not merged: its problems come first.
    let errors = Checked::of(&draft).errors();
    if errors > 0 {
        return Saved::Refused {
            draft,
            base,
            conflicts: Vec::new(),
            notice: unsaved(errors),
        };
    }
    let mut versions = versions;
    // Another save between the merge and the write makes the write step aside: merged again
    // with what came first.
    for _ in 0..3 {
        match save_once(web, signed, id, draft.clone(), base, &versions).await {
            Saved::Again => {}
            saved => return saved,
        }
        let key = id.to_string();
        versions = match stored(web, move |store| store.journey_versions(&key)).await {
            Ok(versions) => versions,
            Err(page) => return Saved::Done(page),
        };
    }
    let latest = versions.last().map_or(0, |l| l.version);
    Saved::Refused {
        draft,
        base: latest,
        conflicts: Vec::new(),
        notice: html! {
            p.notice.error role="alert" { "Others saved this journey at the same moment several times; nothing was saved. Press Save again." }
        },
    }
}

/// One attempt at [`save`]; [`Saved::Again`] when another version was saved between reading the
/// versions and writing this one.
async fn save_once(
    web: &Web,
    signed: &Signed,
    id: &str,
    draft: Draft,
    base: i64,
    versions: &[waymark_store::DeployedJourney],
) -> Saved {
    let latest = versions.last();
    let refuse =
        |draft: Draft, base: i64, conflicts: Vec<Conflict>, notice: Markup| Saved::Refused {
            draft,
            base,
            conflicts,
            notice,
        };
    let mut merged_with = None;
    let draft = match latest {
        None if base != 0 => {
            return refuse(
                draft,
                0,
                Vec::new(),
                html! {
                    p.notice.error role="alert" { "This journey is no longer deployed. Saving again creates it anew." }
                },
            );
        }
        Some(latest) if base == 0 => {
            return refuse(
                draft,
                latest.version,
                Vec::new(),
                html! {
                    p.notice.error role="alert" {
                        "A journey with the id " code { (id) } " was saved by someone else meanwhile. "
                        a href=(format!("/journeys/{id}/edit")) { "Open it" } ", or choose another id for yours."
                    }
                },
            );
        }
        Some(latest) if latest.version != base => {
            let Some(start) = versions.iter().find(|v| v.version == base) else {
                return refuse(
                    draft,
                    latest.version,
                    Vec::new(),
                    html! {
                        p.notice.error role="alert" { "The version this edit started from is unknown; compare with the latest below, then save again." }
                    },
                );
            };
            let read = |source: &str| {
                waymark_journey::check(source)
                    .journey
                    .map(|j| Draft::of(&j))
            };
            let (Some(start), Some(theirs)) = (read(&start.source), read(&latest.source)) else {
                return Saved::Done(failure(&"a deployed journey no longer reads"));
            };
            match merge(&start, &draft, &theirs) {
                Ok(merged) => {
                    merged_with = Some(latest.version);
                    merged
                }
                Err(conflicts) => {
                    let notice = html! {
                        p.notice.error role="alert" {
                            "Version " (latest.version) " was saved while you were editing, and it changes some of the same things you did. "
                            "Nothing was saved. Below, each clash shows the value you started from, theirs and yours; "
                            "your edits are kept in the form. Choose what to keep, then save again."
                        }
                    };
                    return refuse(draft, latest.version, conflicts, notice);
                }
            }
        }
        _ => draft,
    };
    let checked = Checked::of(&draft);
    let count = checked.errors();
    let Some(journey) = checked.journey.filter(|_| count == 0) else {
        return refuse(
            draft,
            latest.map_or(0, |l| l.version),
            Vec::new(),
            unsaved(count),
        );
    };
    let source = waymark_journey::write(&journey);
    let now = web.app.clock.now_us();
    let expected = latest.map_or(0, |l| l.version);
    // A to-be version waits for the owner's approval of its five answers.
    if waymark_server::changes::gated(&journey, latest.map(|l| l.label.as_str())) {
        return propose(web, signed, id, journey, source, draft, expected).await;
    }
    let (key, label, user) = (
        id.to_string(),
        journey.version.clone(),
        signed.user.id.clone(),
    );
    let deployed = stored(web, move |store| {
        let Some(deployed) = store.deploy_journey_after(&key, &label, &source, now, expected)?
        else {
            return Ok(None);
        };
        if deployed.1 {
            waymark_server::journeys::record_version(store, &key, deployed.0, &user, now);
        }
        Ok(Some((deployed.0, user)))
    })
    .await;
    match deployed {
        Ok(None) => Saved::Again,
        Ok(Some((version, user))) => {
            tracing::info!(journey = %id, version, by = %user, merged = merged_with.is_some(), "a journey was saved in the editor");
            let merged = merged_with.map(|_| "&merged=1").unwrap_or("");
            Saved::Done(
                Redirect::to(&format!("/journeys/{id}/edit?saved={version}{merged}"))
                    .into_response(),
            )
        }
        Err(page) => Saved::Done(page),
    }
}

/// Saves a version that needs its owner's approval (`changes::gated`: a to-be, or any version
/// after one) as a proposal: refused while its five change-impact answers are not all written and
/// signed, or when nobody may approve it; else the owner is asked in a request.
async fn propose(
    web: &Web,
    signed: &Signed,
    id: &str,
    journey: waymark_journey::Journey,
    source: String,
    draft: Draft,
    base: i64,
) -> Saved {
    use waymark_server::changes::{self, ChangeError, Proposed};
    let refuse = |draft: Draft, message: String| Saved::Refused {
        draft,
        base,
        conflicts: Vec::new(),
        notice: html! {
            p.notice.error role="alert" { "Nothing was saved. " (message) }
        },
    };
    let (store, user, now) = (
        web.app.store.clone(),
        signed.user.id.clone(),
        web.app.clock.now_us(),
    );
    let proposed = tokio::task::spawn_blocking(move || {
        let diagnostics = waymark_journey::check(&source).diagnostics;
        changes::propose_answered(store.as_ref(), &journey, &diagnostics, &source, &user, now)
    })
    .await;
    match proposed {
        Ok(Ok(Proposed::Current { version })) => Saved::Done(
            Redirect::to(&format!("/journeys/{id}/edit?saved={version}")).into_response(),
        ),
        Ok(Ok(Proposed::Waiting { proposal, .. })) => {
            tracing::info!(journey = %id, proposal, by = %signed.user.id, "a to-be version was proposed in the editor");
            Saved::Done(
                Redirect::to(&format!("/journeys/{id}/edit?proposed={proposal}")).into_response(),
            )
        }
        Ok(Err(ChangeError::Unanswered { message, hint, .. })) => {
            refuse(draft, format!("{message} — {hint}."))
        }
        Ok(Err(ChangeError::NoApprover(message))) => refuse(draft, message),
        Ok(Err(error)) => Saved::Done(failure(&error)),
        Err(error) => Saved::Done(failure(&error)),
    }
}

/// `POST /journeys/{id}/edit/preview`: the map and the problems of the form as it stands, for
/// the script to put beside the editor while people type.
pub(crate) async fn preview(
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_design(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let drawn = tokio::task::spawn_blocking(move || {
        let mut draft = Draft::from_fields(&pairs);
        draft.journey.insert("id".into(), id);
        preview_part(&Checked::of(&draft)).into_string()
    })
    .await;
    match drawn {
        Ok(part) => Html(part).into_response(),
        Err(error) => failure(&error),
    }
}

/// The map drawn from the draft, and the list of its problems.
fn preview_part(checked: &Checked) -> Markup {
    html! {
        @if checked.problems.is_empty() {
            p.meta { "No problems: " code { "waymark journey lint" } " would pass this journey." }
        } @else {
            h3 { (checked.problems.len()) (if checked.problems.len() == 1 { " problem" } else { " problems" }) }
            ul.problems {
                @for (field, d) in &checked.problems {
                    li class=(if d.severity == Severity::Error { "error" } else { "warning" }) {
                        a href=(format!("#f-{field}")) { (d.severity.as_str()) "[" (d.code) "]: " (d.message) }
                        @if let Some(hint) = &d.hint { " — " (hint) }
                    }
                }
            }
        }
        @if let Some(journey) = &checked.journey {
            figure.map tabindex="0" role="group" aria-label="The journey map as edited (scrolls sideways)" {
                (PreEscaped(waymark_map::svg(journey)))
            }
        } @else {
            p.notice { "The map appears when the errors are fixed." }
        }
    }
}

/// One field of the editor, with its label and its problems.
enum Input<'a> {
    Text,
    Area,
    Choice(&'a [&'a str]),
    Flag,
    Fixed,
}

fn field(
    checked: &Checked,
    name: &str,
    label: &str,
    value: &str,
    input: Input<'_>,
    hint: Option<&str>,
) -> Markup {
    let problems = checked.at(name);
    let id = format!("f-{name}");
    let described = (!problems.is_empty() || hint.is_some()).then(|| format!("e-{name}"));
    let invalid = problems.iter().any(|d| d.severity == Severity::Error);
    html! {
        div.field.invalid[invalid] {
            @match input {
                Input::Flag => {
                    label.check for=(id) {
                        input type="checkbox" id=(id) name=(name) value="true" checked[value == "true"] aria-describedby=[described.as_deref()];
                        " " (label)
                    }
                }
                _ => {
                    label for=(id) { (label) }
                    @match input {
                        Input::Area => {
                            textarea id=(id) name=(name) rows="2" aria-invalid=[invalid.then_some("true")] aria-describedby=[described.as_deref()] { (value) }
                        }
                        Input::Choice(options) => {
                            select id=(id) name=(name) aria-invalid=[invalid.then_some("true")] aria-describedby=[described.as_deref()] {
                                @if !options.contains(&value) {
                                    option value=(value) selected { (if value.is_empty() { "(not set)" } else { value }) }
                                }
                                @for option in options {
                                    option value=(option) selected[*option == value] { (if option.is_empty() { "(default)" } else { option }) }
                                }
                            }
                        }
                        Input::Fixed => {
                            input type="text" id=(id) name=(name) value=(value) readonly aria-describedby=[described.as_deref()];
                        }
                        _ => {
                            input type="text" id=(id) name=(name) value=(value) aria-invalid=[invalid.then_some("true")] aria-describedby=[described.as_deref()];
                        }
                    }
                }
            }
            @if let Some(described) = &described {
                div.field-notes id=(described) {
                    @if let Some(hint) = hint { small.meta { (hint) } }
                    @for d in &problems {
                        p class=(if d.severity == Severity::Error { "field-error" } else { "field-warning" }) {
                            (d.severity.as_str()) ": " (d.message)
                            @if let Some(hint) = &d.hint { br; small { (hint) } }
                        }
                    }
                }
            }
        }
    }
}

fn get<'a>(fields: &'a Fields, key: &str) -> &'a str {
    fields.get(key).map_or("", String::as_str)
}

/// A submit button that applies an action and shows the place it changed.
fn button(id: &str, action: &str, anchor: &str, label: &str, class: Option<&str>) -> Markup {
    html! {
        button type="submit" name="action" value=(action) formaction=(format!("/journeys/{id}/edit#{anchor}")) class=[class] { (label) }
    }
}

fn rule_row(
    id: &str,
    (s, t): (usize, usize),
    r: usize,
    rule: &RuleDraft,
    checked: &Checked,
    suggestions: Option<&Suggestions>,
) -> Markup {
    let prefix = format!("s{s}.t{t}");
    let name = format!("{prefix}.r{r}");
    let event_field = format!("{name}.event");
    let conditions_field = format!("{name}.conditions");
    let problems: Vec<&Diagnostic> = checked
        .at(&event_field)
        .into_iter()
        .chain(checked.at(&conditions_field))
        .collect();
    let names = suggestions.map(|s| s.names.as_slice()).unwrap_or(&[]);
    let listed = names
        .iter()
        .take(crate::suggest::OFFERED)
        .any(|(n, _)| *n == rule.event);
    let values: &[(String, String, usize)] = suggestions
        .and_then(|s| s.values.get(&rule.event))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let current = rule.conditions.trim();
    let offered: Vec<(String, String, usize)> = values
        .iter()
        .map(|(key, value, count)| {
            let mut one = serde_json::Map::new();
            one.insert(key.clone(), serde_json::Value::from(value.as_str()));
            (
                serde_json::Value::Object(one).to_string(),
                format!("{key} = {value}"),
                *count,
            )
        })
        .collect();
    let all = suggestions.and_then(|s| s.count(&rule.event));
    html! {
        fieldset.rule id=(format!("f-{name}")) {
            legend { "Event rule " (r + 1) }
            div.field {
                label for=(format!("f-{event_field}")) { "Event" }
                select id=(format!("f-{event_field}")) name=(event_field) data-refresh="true" {
                    @if !listed {
                        option value=(rule.event) selected {
                            @if rule.event.is_empty() { "Choose an event…" }
                            @else if let Some(count) = all { (rule.event) " (" (count) " events)" }
                            @else { (rule.event) " (not collected yet)" }
                        }
                    }
                    @for (event, count) in names.iter().take(crate::suggest::OFFERED) {
                        option value=(event) selected[*event == rule.event] { (event) " (" (count) (if *count == 1 { " event)" } else { " events)" }) }
                    }
                }
            }
            div.field {
                label for=(format!("f-{conditions_field}")) { "Only when" }
                select id=(format!("f-{conditions_field}")) name=(conditions_field) {
                    option value="" selected[current.is_empty()] {
                        "any of them" @if let Some(all) = all { " (" (all) " events)" }
                    }
                    @if !current.is_empty() && !offered.iter().any(|(v, _, _)| v == current) {
                        option value=(current) selected { (rule.describe()) }
                    }
                    @for (value, label, count) in &offered {
                        option value=(value) selected[value == current] { (label) " (" (count) " events)" }
                    }
                }
            }
            div.actions {
                (button(id, "preview", &format!("f-{prefix}"), "Update the choices", Some("secondary")))
                (button(id, &format!("remove-rule:{s}.{t}.{r}"), &format!("f-{prefix}"), "Remove this rule", Some("secondary")))
            }
            @for d in problems {
                p class=(if d.severity == Severity::Error { "field-error" } else { "field-warning" }) {
                    (d.severity.as_str()) ": " (d.message)
                    @if let Some(hint) = &d.hint { br; small { (hint) } }
                }
            }
        }
    }
}

const CHANNELS: fn() -> Vec<&'static str> = Channel::names;

fn touchpoint_part(
    id: &str,
    (s, t): (usize, usize),
    touchpoint: &TouchpointDraft,
    checked: &Checked,
    around: &Around,
    (focus, open_all): (Option<&str>, bool),
) -> Markup {
    let prefix = format!("s{s}.t{t}");
    let f = &touchpoint.fields;
    let name = |key: &str| format!("{prefix}.{key}");
    let has_problem = checked.touchpoints.contains(&prefix);
    // A short journey shows every touchpoint open; a long one only those with problems or just
    // acted on.
    let open = open_all
        || has_problem
        || focus.is_some_and(|f| f == prefix || f.starts_with(&format!("{prefix}.")));
    let channels = CHANNELS();
    let actors = Actor::names();
    let kinds = Kind::names();
    let mut visibilities = vec![""];
    visibilities.extend(Visibility::names());
    let emotions = ["", "-2", "-1", "0", "1", "2"];
    html! {
        details.touchpoint id=(format!("f-{prefix}")) open[open] {
            summary {
                strong { (get(f, "name")) }
                " · " (get(f, "channel")) " · " (get(f, "department"))
                @if has_problem { " · " span.badge.error { "needs attention" } }
            }
            div.grid {
                (field(checked, &name("id"), "Id", get(f, "id"), Input::Text, Some("letters, digits and -")))
                (field(checked, &name("name"), "Name", get(f, "name"), Input::Text, None))
                (field(checked, &name("channel"), "Channel", get(f, "channel"), Input::Choice(&channels), None))
                (field(checked, &name("department"), "Owning department", get(f, "department"), Input::Text, None))
                (field(checked, &name("actor"), "Who acts", get(f, "actor"), Input::Choice(&actors), None))
                (field(checked, &name("kind"), "Kind", get(f, "kind"), Input::Choice(&kinds), None))
                (field(checked, &name("visibility"), "Visibility", get(f, "visibility"), Input::Choice(&visibilities), Some("default: front for the customer, back for staff and systems")))
                (field(checked, &name("target"), "Target time", get(f, "target"), Input::Text, Some("e.g. 30m, 4h, 2d")))
                (field(checked, &name("thinks"), "The customer thinks", get(f, "thinks"), Input::Text, None))
                (field(checked, &name("does"), "The customer does", get(f, "does"), Input::Text, None))
                (field(checked, &name("feels"), "The customer feels", get(f, "feels"), Input::Text, Some("one word, e.g. relieved")))
                (field(checked, &name("emotion"), "Emotion (−2 to +2)", get(f, "emotion"), Input::Choice(&emotions), None))
                (field(checked, &name("kpis"), "KPIs (one per line)", get(f, "kpis"), Input::Area, Some(KPI_HINT)))
                div.flags {
                    (field(checked, &name("moment_of_truth"), "Moment of truth", get(f, "moment_of_truth"), Input::Flag, None))
                    (field(checked, &name("optional"), "Optional", get(f, "optional"), Input::Flag, None))
                    (field(checked, &name("costly"), "Costly contact", get(f, "costly"), Input::Flag, None))
                }
            }
            h4 { "Events that belong here" }
            @if touchpoint.rules.is_empty() {
                p.meta { "No event rule yet: the touchpoint shows no measured figures." }
            }
            @for (r, rule) in touchpoint.rules.iter().enumerate() {
                (rule_row(id, (s, t), r, rule, checked, around.suggestions.as_deref()))
            }
            div.actions {
                (button(id, &format!("add-rule:{s}.{t}"), &format!("f-{prefix}"), "Add an event rule", Some("secondary")))
                (button(id, &format!("up:{s}.{t}"), &format!("f-{prefix}"), "Move up", Some("secondary")))
                (button(id, &format!("down:{s}.{t}"), &format!("f-{prefix}"), "Move down", Some("secondary")))
                (button(id, &format!("remove-touchpoint:{s}.{t}"), &format!("f-s{s}"), "Remove this touchpoint", Some("secondary")))
            }
        }
    }
}

/// A journey with this many touchpoints or fewer shows them all open in the editor.
const OPEN_ALL: usize = 8;

/// The editor page.
pub(crate) fn editor_page(
    signed: &Signed,
    id: &str,
    draft: &Draft,
    checked: &Checked,
    around: &Around,
    focus: Option<&str>,
) -> Html<String> {
    let j = &draft.journey;
    let title = if around.existing {
        format!("Edit: {}", draft.get("title"))
    } else {
        format!("New journey: {}", draft.get("title"))
    };
    let open_all = draft.touchpoints().count() <= OPEN_ALL;
    let to_be =
        waymark_journey::is_to_be_label(draft.get("version")) || !draft.get("change").is_empty();
    let content = html! {
        p.meta {
            @if around.existing {
                "Editing from version " (around.base) ". Saving makes a new version; the versions before it stay. "
                a href=(format!("/journeys/{id}")) { "Back to the map" } " · "
                a href=(format!("/journeys/{id}/download")) { "Download the saved YAML" }
            } @else {
                "A new journey: nothing is saved until you press Save."
            }
        }
        @if let Some(notice) = &around.notice { (notice) }
        @if !checked.problems.is_empty() {
            div.notice.warn {
                p { strong { (checked.problems.len()) (if checked.problems.len() == 1 { " problem" } else { " problems" }) } " to look at (the check and the map are " a href="#preview" { "below" } "):" }
                ul {
                    @for (field, d) in checked.problems.iter().take(10) {
                        li { a href=(format!("#f-{field}")) { (d.severity.as_str()) ": " (d.message) } }
                    }
                }
            }
        }
        @if !around.conflicts.is_empty() {
            table.conflicts {
                caption { "What clashes with the version saved meanwhile" }
                thead { tr { th scope="col" { "Where" } th scope="col" { "When you started" } th scope="col" { "Saved meanwhile" } th scope="col" { "Yours (in the form)" } } }
                tbody {
                    @for c in &around.conflicts {
                        tr { th scope="row" { (c.place) } td { (shown(&c.base)) } td { (shown(&c.theirs)) } td { (shown(&c.mine)) } }
                    }
                }
            }
        }
        div.editor-layout {
        form.editor method="post" action=(format!("/journeys/{id}/edit")) data-preview=(format!("/journeys/{id}/edit/preview")) {
            input type="hidden" name="csrf" value=(signed.csrf);
            input type="hidden" name="base" value=(around.base);
            @if !get(j, "change").is_empty() { input type="hidden" name="j.change" value="true"; }
            div.actions.sticky {
                button type="submit" name="action" value="save" { "Save as a new version" }
                button.secondary type="submit" name="action" value="preview" formaction=(format!("/journeys/{id}/edit#preview")) { "Check and redraw" }
            }
            section aria-labelledby="about" {
                h2 id="about" { "The journey" }
                div.grid {
                    (field(checked, "j.id", "Id", draft.get("id"), if around.existing { Input::Fixed } else { Input::Text }, Some(if around.existing { "a saved journey keeps its id" } else { "letters, digits and -, e.g. home-insurance-claim" })))
                    (field(checked, "j.title", "Title", draft.get("title"), Input::Text, None))
                    (field(checked, "j.owner", "Owner", draft.get("owner"), Input::Text, Some("the person or department accountable for the whole journey")))
                    (field(checked, "j.version", "Version label", draft.get("version"), Input::Text, Some("as-is, to-be, or any label")))
                    (field(checked, "j.description", "Description", draft.get("description"), Input::Area, None))
                    (field(checked, "j.serves", "Serves personas (ids)", draft.get("serves"), Input::Text, Some("comma-separated persona ids")))
                    (field(checked, "j.kpis", "The journey's KPIs (one per line)", draft.get("kpis"), Input::Area, Some(KPI_HINT)))
                }
                @for (p, persona) in draft.personas.iter().enumerate() {
                    fieldset.persona id=(format!("f-p{p}")) {
                        legend { "Persona: " (get(persona, "name")) }
                        div.grid {
                            (field(checked, &format!("p{p}.id"), "Id", get(persona, "id"), Input::Text, None))
                            (field(checked, &format!("p{p}.name"), "Name", get(persona, "name"), Input::Text, None))
                            (field(checked, &format!("p{p}.description"), "Description", get(persona, "description"), Input::Area, None))
                            (field(checked, &format!("p{p}.goals"), "Goals (one per line)", get(persona, "goals"), Input::Area, None))
                            (field(checked, &format!("p{p}.pains"), "Pains (one per line)", get(persona, "pains"), Input::Area, None))
                        }
                        div.actions { (button(id, &format!("remove-persona:{p}"), "personas", "Remove this persona", Some("secondary"))) }
                    }
                }
                div.actions id="personas" { (button(id, "add-persona", "personas", "Add a persona", Some("secondary"))) }
            }
            section aria-labelledby="stages" {
                h2 id="stages" { "Stages and touchpoints" }
                @for (s, stage) in draft.stages.iter().enumerate() {
                    fieldset.stage id=(format!("f-s{s}")) {
                        legend { "Stage " (s + 1) ": " (get(&stage.fields, "name")) }
                        div.grid {
                            (field(checked, &format!("s{s}.id"), "Id", get(&stage.fields, "id"), Input::Text, None))
                            (field(checked, &format!("s{s}.name"), "Name", get(&stage.fields, "name"), Input::Text, None))
                            (field(checked, &format!("s{s}.goal"), "The customer's goal", get(&stage.fields, "goal"), Input::Text, None))
                        }
                        @for (t, touchpoint) in stage.touchpoints.iter().enumerate() {
                            (touchpoint_part(id, (s, t), touchpoint, checked, around, (focus, open_all)))
                        }
                        div.actions {
                            (button(id, &format!("add-touchpoint:{s}"), &format!("f-s{s}"), "Add a touchpoint", None))
                            (button(id, &format!("stage-up:{s}"), &format!("f-s{s}"), "Move stage earlier", Some("secondary")))
                            (button(id, &format!("stage-down:{s}"), &format!("f-s{s}"), "Move stage later", Some("secondary")))
                            (button(id, &format!("remove-stage:{s}"), "stages", "Remove this stage", Some("secondary")))
                        }
                    }
                }
                div.actions { (button(id, "add-stage", "stages", "Add a stage", None)) }
            }
            section aria-labelledby="links" {
                h2 id="links" { "Links: branches and loops" }
                p.meta { "The flow runs from each touchpoint to the next in the list; add a link where people branch or go back." }
                @let ids = touchpoint_ids(draft);
                @let choices: Vec<&str> = ids.iter().map(String::as_str).collect();
                @for (l, link) in draft.links.iter().enumerate() {
                    fieldset.link id=(format!("f-l{l}")) {
                        legend { "Link " (l + 1) }
                        div.grid {
                            (field(checked, &format!("l{l}.from"), "From", get(link, "from"), Input::Choice(&choices), None))
                            (field(checked, &format!("l{l}.to"), "To", get(link, "to"), Input::Choice(&choices), None))
                            (field(checked, &format!("l{l}.label"), "When", get(link, "label"), Input::Text, Some("e.g. rejected")))
                        }
                        div.actions { (button(id, &format!("remove-link:{l}"), "links", "Remove this link", Some("secondary"))) }
                    }
                }
                div.actions { (button(id, "add-link", "links", "Add a link", Some("secondary"))) }
            }
            section aria-labelledby="change" {
                h2 id="change" { "The change for the customer" }
                @if to_be {
                    p.meta { "A to-be version answers the five change-impact questions." }
                } @else {
                    p.meta { "For to-be versions: set the version label to " code { "to-be" } " to answer them." }
                }
                @if to_be {
                    div.grid {
                        @for question in waymark_journey::CHANGE_QUESTIONS {
                            (field(checked, &format!("j.change.{}", question.key), question.question, draft.get(&format!("change.{}", question.key)), Input::Area, None))
                        }
                        (field(checked, "j.change.owner", "Who answers for the change", draft.get("change.owner"), Input::Text, None))
                        (field(checked, "j.change.date", "Date (YYYY-MM-DD)", draft.get("change.date"), Input::Text, None))
                    }
                }
            }
            section aria-labelledby="instances" {
                h2 id="instances" { "How the figures cut instances" }
                p.meta { "Optional. By default an instance starts at the first touchpoint events reach, ends at the last stage's touchpoints, and is over after 30 days without an event." }
                div.grid {
                    (field(checked, "j.instances.start", "Start again at (touchpoint ids)", get(j, "instances.start"), Input::Text, Some("comma-separated")))
                    (field(checked, "j.instances.end", "Complete at (touchpoint ids)", get(j, "instances.end"), Input::Text, Some("comma-separated")))
                    (field(checked, "j.instances.timeout", "Over after", get(j, "instances.timeout"), Input::Text, Some("e.g. 30d")))
                }
            }
            section aria-labelledby="events" {
                h2 id="events" { "Events" }
                @match &around.suggestions {
                    None => p.meta { "The collected events are being read; their names appear here when they are." },
                    Some(suggestions) if suggestions.names.is_empty() => p.meta { "No events are collected yet: rules name the events your systems will send." },
                    Some(_) if around.unbound.is_empty() => p.meta { "Every collected event belongs to a touchpoint." },
                    Some(_) => {
                        p { "Collected events no touchpoint binds yet:" }
                        ul.unbound {
                            @for (event, count) in around.unbound.iter().take(30) {
                                li {
                                    (event) " (" (count) (if *count == 1 { " event) " } else { " events) " })
                                    (button(id, &format!("bind:{event}"), "stages", "Add a touchpoint for it", Some("secondary")))
                                }
                            }
                        }
                    }
                }
            }
        }
        aside.preview id="preview" aria-live="polite" {
            h2 { "Check and map" }
            div id="preview-body" { (preview_part(checked)) }
        }
        }
    };
    page(&title, Some(signed), content)
}

fn shown(value: &str) -> Markup {
    html! {
        @if value.is_empty() { em { "(none)" } } @else { (value.replace('\u{1e}', "; ").replace('\u{1f}', " ")) }
    }
}

/// `GET /journeys/{id}/download?version=N`: the journey file as deployed.
#[derive(Debug, Deserialize)]
pub(crate) struct DownloadQuery {
    version: Option<i64>,
}

pub(crate) async fn download(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    if !crate::journeys::may_read(&signed) {
        return crate::journeys::refused(&signed);
    }
    let key = id.clone();
    match stored(&web, move |store| store.journey(&key, query.version)).await {
        Ok(Some(found)) => {
            let safe: String = found
                .id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/yaml; charset=utf-8".to_string(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{safe}-v{}.yaml\"", found.version),
                    ),
                ],
                found.source,
            )
                .into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "No such journey",
            &format!("No journey `{id}` (or no such version) is deployed."),
            Some(&signed),
        ),
        Err(page) => page,
    }
}

/// `GET /journeys/new`: start a journey from the universal stages, a copy, or the events.
pub(crate) async fn new_page(State(web): State<Web>, signed: Signed) -> Response {
    if !may_design(&signed) {
        return refused(&signed);
    }
    let deployed = match stored(&web, |store| store.journeys()).await {
        Ok(deployed) => deployed,
        Err(page) => return page,
    };
    let names = match snapshot(&web).await {
        Some(snapshot) => {
            let kept = web.suggestions.clone();
            tokio::task::spawn_blocking(move || {
                kept.of(&snapshot)
                    .names
                    .iter()
                    .take(crate::suggest::OFFERED)
                    .cloned()
                    .collect()
            })
            .await
            .unwrap_or_default()
        }
        None => Vec::new(),
    };
    new_form(&signed, &deployed, &names, None).into_response()
}

fn new_form(
    signed: &Signed,
    deployed: &[waymark_store::DeployedJourney],
    names: &[(String, usize)],
    error: Option<&str>,
) -> Html<String> {
    let content = html! {
        @if let Some(error) = error { p.notice.error role="alert" { (error) } }
        form method="post" action="/journeys/new" {
            input type="hidden" name="csrf" value=(signed.csrf);
            div.grid {
                div.field {
                    label for="new-id" { "Id" }
                    input #new-id type="text" name="id" required pattern="[A-Za-z0-9][A-Za-z0-9_.-]*" aria-describedby="new-id-hint";
                    small.meta #new-id-hint { "letters, digits and -, e.g. home-insurance-claim; it stays with every version" }
                }
                div.field {
                    label for="new-title" { "Title" }
                    input #new-title type="text" name="title" required;
                }
            }
            fieldset {
                legend { "Start from" }
                label.check { input type="radio" name="from" value="template" checked; " The universal stages (need, evaluate, decide, onboard, use, advocate)" }
                @if !deployed.is_empty() {
                    label.check { input type="radio" name="from" value="copy"; " A copy of another journey" }
                    div.field.indented {
                        label for="new-copy" { "The journey to copy" }
                        select #new-copy name="copy" {
                            @for d in deployed { option value=(d.id) { (d.id) " (" (d.label) ", version " (d.version) ")" } }
                        }
                    }
                }
                label.check { input type="radio" name="from" value="discover"; " A draft discovered from the collected events" }
                @if !names.is_empty() {
                    details.indented {
                        summary { "The events to discover from: all " (names.len().min(200)) " chosen" }
                        p.meta { "Leave out the events of other journeys. The draft binds every event chosen." }
                        ul.choices {
                            @for (name, count) in names.iter().take(200) {
                                li { label.check { input type="checkbox" name="only" value=(name) checked; " " (name) " (" (count) (if *count == 1 { " event)" } else { " events)" }) } }
                            }
                        }
                    }
                }
            }
            div.actions { button type="submit" { "Open in the editor" } }
        }
    };
    page("Start a journey", Some(signed), content)
}

/// `POST /journeys/new`: the editor on a new journey (nothing is saved until Save).
pub(crate) async fn create(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_design(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let field = |key: &str| {
        crate::work::form_field(&pairs, key)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let (id, title, from) = (field("id"), field("title"), field("from"));
    let only: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "only")
        .map(|(_, v)| v.clone())
        .collect();
    let deployed = match stored(&web, |store| store.journeys()).await {
        Ok(deployed) => deployed,
        Err(page) => return page,
    };
    let again = |message: &str| {
        let mut page = new_form(&signed, &deployed, &[], Some(message)).into_response();
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        page
    };
    let valid = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return again(
            "The id is made of letters, digits, `-`, `_` and `.`, starts with a letter or digit, and has at most 80 characters, e.g. home-insurance-claim.",
        );
    }
    if title.is_empty() {
        return again("Give the journey a title.");
    }
    if deployed.iter().any(|d| d.id == id) {
        return again(&format!(
            "A journey with the id `{id}` exists already: open it to edit it, or choose another id."
        ));
    }
    let mut journey = match from.as_str() {
        "copy" => {
            let copy = field("copy");
            match deployed
                .iter()
                .find(|d| d.id == copy)
                .and_then(|d| waymark_journey::check(&d.source).journey)
            {
                Some(journey) => journey,
                None => return again("Choose a journey to copy."),
            }
        }
        "discover" => {
            if only.is_empty() {
                return again("Choose the events to discover the journey from.");
            }
            if only.len() > waymark_analytics::discover::MAX_TOUCHPOINTS {
                return again(&format!(
                    "Choose at most {} events to discover a journey from.",
                    waymark_analytics::discover::MAX_TOUCHPOINTS
                ));
            }
            let Some(snapshot) = snapshot(&web).await else {
                return again(
                    "The collected events are still being read; try again in a few seconds.",
                );
            };
            let settings = waymark_analytics::discover::Settings {
                id: id.clone(),
                title: title.clone(),
                owner: signed
                    .user
                    .department
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| "Customer Experience".into()),
                stages: None,
                only,
            };
            match tokio::task::spawn_blocking(move || {
                waymark_analytics::discover::discover(&snapshot.log, &settings)
            })
            .await
            {
                Ok(Ok(found)) => found.journey,
                Ok(Err(error)) => return again(&format!("Nothing could be discovered: {error}.")),
                Err(error) => return failure(&error),
            }
        }
        _ => waymark_journey::template::universal(&id, &title),
    };
    journey.id = id.clone();
    journey.title = title;
    if from == "copy" {
        journey.version = "as-is".into();
    }
    let draft = Draft::of(&journey);
    let around = Around {
        base: 0,
        existing: false,
        notice: (from == "discover").then(|| html! {
            p.notice role="status" { "A draft discovered from the events: review the names, departments, actors and the experience, then save it." }
        }),
        ..Around::default()
    };
    answer(&web, &signed, &id, draft, around, None).await.0
}
