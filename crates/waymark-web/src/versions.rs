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
use waymark_store::proposals::{Proposal, ProposalStatus};
use waymark_store::{DeployedJourney, JourneyChange};

use crate::Web;
use crate::journeys::{may_read, refused};
use crate::layout::{page, problem, stored, when};
use crate::people::Names;
use crate::session::Signed;

/// Every version of a journey, the recorded changes, its newest proposals, and the names of who
/// made them.
type Read = (
    Vec<DeployedJourney>,
    Vec<JourneyChange>,
    Vec<Proposal>,
    Names,
);

/// [`Read`], read together on the blocking pool.
async fn read(web: &Web, id: &str) -> Result<Read, Response> {
    let key = id.to_string();
    stored(web, move |store| {
        let versions = store.journey_versions(&key)?;
        let changes = store.journey_changes(&key)?;
        let proposals = store.proposals(Some(&key), 20)?;
        let names = Names::read(
            store,
            changes
                .iter()
                .map(|c| c.by.clone())
                .chain(proposals.iter().map(|p| p.proposed_by.clone()))
                .chain(proposals.iter().filter_map(|p| p.decided_by.clone())),
        )?;
        Ok((versions, changes, proposals, names))
    })
    .await
}

/// A proposal's status as a badge.
fn status_badge(status: ProposalStatus) -> Markup {
    let (class, text) = match status {
        ProposalStatus::Waiting => ("badge waiting", "waiting for approval"),
        ProposalStatus::Published => ("badge done", "approved and published"),
        ProposalStatus::SentBack => ("badge overdue", "sent back"),
        ProposalStatus::Withdrawn => ("badge", "replaced"),
        ProposalStatus::Stale => (
            "badge overdue",
            "approved, not published: the journey changed",
        ),
    };
    html! { span class=(class) { (text) } }
}

/// The proposals of a journey, newest first.
fn proposals_list(id: &str, proposals: &[Proposal], names: &Names) -> Markup {
    html! {
        @if !proposals.is_empty() {
            h2 { "Proposed versions" }
            p.meta { "A to-be version becomes current only once the journey's owner approves its five change-impact answers." }
            ul.activity {
                @for p in proposals {
                    li {
                        p {
                            a href=(format!("/journeys/{id}/proposals/{}", p.id)) { strong { "Proposal " (p.id) } }
                            " · " (p.label) " · by " (names.of(&p.proposed_by)) " · " (when(p.proposed_us)) " · "
                            (status_badge(p.status))
                        }
                    }
                }
            }
        }
    }
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
    let (versions, changes, proposals, names) = match read(&web, &id).await {
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
        (proposals_list(&id, &proposals, &names))
        @if !proposals.is_empty() { h2 { "Versions" } }
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
    let (versions, _, _, _) = match read(&web, &id).await {
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

/// `GET /journeys/{id}/proposals/{proposal}`: a proposed version, its five answers, where its
/// approval stands, and what it changes against the version it was proposed on.
pub(crate) async fn proposal(
    State(web): State<Web>,
    signed: Signed,
    Path((id, number)): Path<(String, String)>,
) -> Response {
    let missing = || {
        problem(
            StatusCode::NOT_FOUND,
            "No such proposal",
            &format!("Journey `{id}` has no proposal `{number}`; its versions page lists them."),
            Some(&signed),
        )
    };
    let Ok(wanted) = number.parse::<i64>() else {
        return missing();
    };
    let key = id.clone();
    let who = waymark_server::access::Caller::Person(signed.user.clone());
    let found = stored(&web, move |store| {
        // Its proposer and approver read it though they read no journeys; to others who read
        // none it is as unknown as a proposal that does not exist.
        let Some(p) = waymark_server::changes::readable_proposal(store, &who, &key, wanted)? else {
            return Ok(None);
        };
        let base = store.journey(&key, Some(p.base))?.filter(|_| p.base > 0);
        let names = Names::read(
            store,
            [Some(p.proposed_by.clone()), p.decided_by.clone()]
                .into_iter()
                .flatten(),
        )?;
        Ok(Some((p, base, names)))
    })
    .await;
    let (p, base, names) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return missing(),
        Err(page) => return page,
    };
    let Some(after) = waymark_journey::check(&p.source).journey else {
        return missing();
    };
    let before = base.and_then(|b| waymark_journey::check(&b.source).journey);
    let compared = before.as_ref().map(|b| {
        let mut compared = diff(b, &after);
        compared.before_version = format!("v{} {}", p.base, b.version);
        compared.after_version = format!("proposed {}", after.version);
        compared
    });
    let map = match &compared {
        Some(c) => waymark_map::svg_marked(&after, None, &marks(c)),
        None => waymark_map::svg(&after),
    };
    let content = html! {
        @if may_read(&signed) { (crate::journeys::tabs(&id, "", "/versions")) }
        p.meta {
            (status_badge(p.status)) " · proposed by " (names.of(&p.proposed_by)) " on " (when(p.proposed_us))
            @if let Some(by) = &p.decided_by { " · decided by " (names.of(by)) }
            @if let Some(at) = p.decided_us { " on " (when(at)) }
        }
        @if let Some(note) = &p.note { p.notice { (note) } }
        p.actions {
            @if let Some(version) = p.version {
                a href=(format!("/journeys/{id}?version={version}")) { "It is version " (version) ": see the live map" } " · "
            }
            @if let Some(request) = p.request {
                a href=(format!("/work/requests/{request}")) { "The approval request (" (request) ")" } " · "
            }
            @if p.status == ProposalStatus::Waiting || p.status == ProposalStatus::SentBack || p.status == ProposalStatus::Stale {
                a href=(format!("/journeys/{id}/edit?proposal={}", p.id)) { "Edit it and propose it again" }
            }
        }
        h2 { "The five questions" }
        @if let Some(change) = &after.change {
            dl.facts {
                @for (question, answer) in waymark_journey::CHANGE_QUESTIONS.iter().zip(change.answers()) {
                    dt { (question.question) }
                    dd { (answer.unwrap_or("(not answered)")) }
                }
                dt { "Answered by" }
                dd { (change.owner.as_deref().unwrap_or("?")) @if let Some(d) = change.date { " on " (d.to_string()) } }
            }
        }
        h2 { "What it changes" }
        @match &compared {
            Some(_) => {
                p { "Against version " (p.base) ", in words: " (waymark_journey::diff::summary(before.as_ref(), &after)) "." }
            }
            None => p { "The journey's first version." }
        }
        figure.map tabindex="0" role="group" aria-label="The proposed journey map, with what it changes marked (scrolls sideways)" {
            (PreEscaped(map))
            @if compared.is_some() {
                figcaption { "Cards marked " strong { "added" } " or " strong { "changed" } " against version " (p.base) "." }
            }
        }
        @if let Some(c) = &compared {
            (table(c))
            (crate::design::effort(c))
        }
    };
    page(
        &format!("{}: proposal {} ({})", after.title, p.id, after.version),
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
