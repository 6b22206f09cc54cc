//! A journey's versions: its activity (who saved each version, when, and what it changed) and
//! two versions compared, on the map (cards added or changed carry a badge) and as a table.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use waymark_journey::Journey;
use waymark_journey::diff::{JourneyDiff, diff};
use waymark_map::{Mark, Marks, Tone};
use waymark_store::{DeployedJourney, JourneyChange};

use crate::Web;
use crate::journeys::{may_read, refused};
use crate::layout::{page, problem, stored, when};
use crate::people::Names;
use crate::session::Signed;

/// Every version of a journey, the recorded changes, and the names of who made them.
type Read = (Vec<DeployedJourney>, Vec<JourneyChange>, Names);

/// [`Read`], read together on the blocking pool.
async fn read(web: &Web, id: &str) -> Result<Read, Response> {
    let key = id.to_string();
    stored(web, move |store| {
        let versions = store.journey_versions(&key)?;
        let changes = store.journey_changes(&key)?;
        let names = Names::read(store, changes.iter().map(|c| c.by.clone()))?;
        Ok((versions, changes, names))
    })
    .await
}

/// `GET /journeys/{id}/versions`: who saved each version, when, and what it changed.
pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let (versions, changes, names) = match read(&web, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(latest) = versions.last() else {
        return no_journey(&signed, &id);
    };
    let title = waymark_journey::check(&latest.source)
        .journey
        .map_or_else(|| id.clone(), |j| j.title);
    let content = html! {
        (crate::journeys::tabs(&id, "", "/versions"))
        p.meta { (versions.len()) (if versions.len() == 1 { " version" } else { " versions" }) ", newest first. Each save makes a new version; the ones before it stay." }
        ol.activity reversed {
            @for version in versions.iter().rev() {
                @let change = changes.iter().find(|c| c.version == version.version);
                li id=(format!("v{}", version.version)) {
                    p {
                        strong { "Version " (version.version) } " · " (version.label) " · " (when(version.deployed_us))
                        @if let Some(change) = change { " · by " (names.of(&change.by)) }
                    }
                    @if let Some(change) = change {
                        p { (change.summary) }
                    } @else {
                        p.meta { "Saved before changes were recorded." }
                    }
                    p.actions {
                        @if version.version > 1 {
                            a href=(format!("/journeys/{id}/compare?from={}&to={}", version.version - 1, version.version)) { "Compare with version " (version.version - 1) }
                            " · "
                        }
                        a href=(format!("/journeys/{id}/download?version={}", version.version)) download { "Download YAML" }
                    }
                }
            }
        }
    };
    page(&format!("{title}: versions"), Some(&signed), content).into_response()
}

fn no_journey(signed: &Signed, id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "No such journey",
        &format!("No journey `{id}` is deployed."),
        Some(signed),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct Compared {
    from: Option<i64>,
    to: Option<i64>,
}

/// Badges for the cards of `after` that `diff` found added or changed.
pub(crate) fn marks(compared: &JourneyDiff) -> Marks {
    let mut marks = Marks::new();
    for added in &compared.added {
        marks.insert(
            added.id.clone(),
            Mark {
                text: "added".into(),
                tone: Tone::Added,
            },
        );
    }
    for changed in &compared.changed {
        marks.insert(
            changed.touchpoint.id.clone(),
            Mark {
                text: "changed".into(),
                tone: Tone::Changed,
            },
        );
    }
    marks
}

/// `GET /journeys/{id}/compare?from=N&to=M`: two versions side by side (default: the latest and
/// the one before it).
pub(crate) async fn compare(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<Compared>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let (versions, _, _) = match read(&web, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(latest) = versions.last() else {
        return no_journey(&signed, &id);
    };
    let to = query.to.unwrap_or(latest.version);
    let from = query.from.unwrap_or(to.saturating_sub(1));
    let read_version = |v: i64| -> Option<Journey> {
        versions
            .iter()
            .find(|d| d.version == v)
            .and_then(|d| waymark_journey::check(&d.source).journey)
    };
    let picker = html! {
        form.builder method="get" action=(format!("/journeys/{id}/compare")) {
            div.grid {
                @for (name, label, chosen) in [("from", "Before", from), ("to", "After", to)] {
                    div.field {
                        label for=(format!("compare-{name}")) { (label) }
                        select id=(format!("compare-{name}")) name=(name) {
                            @for v in versions.iter().rev() {
                                option value=(v.version) selected[v.version == chosen] { "Version " (v.version) " (" (v.label) ", " (when(v.deployed_us)) ")" }
                            }
                        }
                    }
                }
            }
            button type="submit" { "Compare" }
        }
    };
    let (Some(before), Some(after)) = (read_version(from), read_version(to)) else {
        let content = html! {
            (crate::journeys::tabs(&id, "", "/versions"))
            (picker)
            p.notice { "Choose two versions to compare." }
        };
        return page("Compare versions", Some(&signed), content).into_response();
    };
    let mut compared = diff(&before, &after);
    // Two versions of one label (as-is against as-is) are told apart by their numbers.
    compared.before_version = format!("v{from} {}", before.version);
    compared.after_version = format!("v{to} {}", after.version);
    let map = waymark_map::svg_marked(&after, None, &marks(&compared));
    let content = html! {
        (crate::journeys::tabs(&id, "", "/versions"))
        (picker)
        ul.stats {
            li.stat { span.figure { (compared.added.len()) } span.label { "touchpoints added" } }
            li.stat { span.figure { (compared.removed.len()) } span.label { "removed" } }
            li.stat { span.figure { (compared.changed.len()) } span.label { "changed" } }
            li.stat { span.figure { (compared.unchanged) } span.label { "unchanged" } }
        }
        p { "In words: " (waymark_journey::diff::summary(Some(&before), &after)) "." }
        figure.map tabindex="0" role="group" aria-label=(format!("Version {to} of the journey map, with what changed since version {from} marked (scrolls sideways)")) {
            (PreEscaped(map))
            figcaption { "Version " (to) ": cards marked " strong { "added" } " or " strong { "changed" } " since version " (from) "." }
        }
        (table(&compared))
        (crate::design::effort(&compared))
    };
    page(
        &format!("{}: version {from} against {to}", after.title),
        Some(&signed),
        content,
    )
    .into_response()
}

fn table(compared: &JourneyDiff) -> Markup {
    html! {
        h2 { "Touchpoint by touchpoint" }
        @if compared.added.is_empty() && compared.removed.is_empty() && compared.changed.is_empty() {
            p { "No touchpoint changed." }
        } @else {
            table {
                caption.visually-hidden { "Touchpoints added, removed and changed" }
                thead { tr { th scope="col" { "Touchpoint" } th scope="col" { "Stage" } th scope="col" { "What" } } }
                tbody {
                    @for t in &compared.added {
                        tr { th scope="row" { (t.name) } td { (t.stage) } td { span.badge.done { "added" } } }
                    }
                    @for t in &compared.removed {
                        tr { th scope="row" { (t.name) } td { (t.stage) } td { span.badge.overdue { "removed" } } }
                    }
                    @for c in &compared.changed {
                        tr {
                            th scope="row" { (c.touchpoint.name) }
                            td { (c.touchpoint.stage) }
                            td {
                                ul {
                                    @for f in &c.changes {
                                        li { (f.field.replace('_', " ")) ": " (f.before) " → " (f.after) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
