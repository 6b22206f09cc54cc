//! Analyses saved under a name and shared by link. A funnel, flow or conformance view is its
//! query string, so saving keeps that string; `/analyses/{id}` is the link to share, and opens
//! the view as it stands now (the figures are measured again, on today's events) for anyone who
//! may read journeys. The list shows everyone's, so a team finds what colleagues saved; only
//! the one who saved a view, or an administrator, removes it.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_store::views::{NewView, SavedView};

use crate::Web;
use crate::journeys::{may_read, refused};
use crate::layout::{failure, page, problem, when};
use crate::session::Signed;

/// The kinds of view, as their paths under `/journeys/{id}/`, and how people call them.
const KINDS: [(&str, &str); 3] = [
    ("funnel", "Funnel"),
    ("flow", "Flow"),
    ("conformance", "Designed against actual"),
];
/// The longest name, in characters.
const NAME: usize = 120;
/// The longest query string kept.
const QUERY: usize = 4_000;
/// Views listed at once.
const LISTED: usize = 200;

fn kind_name(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind, |(_, name)| name)
}

/// Where a saved view opens.
fn target(view: &SavedView) -> String {
    let v = &view.view;
    let mut query = v.query.clone();
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&format!("saved={}", view.id));
    format!(
        "/journeys/{}/{}?{query}",
        crate::session::form_urlencoded(&v.journey),
        v.kind
    )
}

/// The query string of a page without the `saved` marker: what saving keeps.
pub(crate) fn query_of(pairs: &[(String, String)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "saved") {
        out.append_pair(k, v);
    }
    out.finish()
}

/// The form under a view that saves it under a name.
pub(crate) fn save_form(signed: &Signed, kind: &str, journey: &str, query: &str) -> Markup {
    html! {
        details.delegate.save {
            summary { "Save this " (kind_name(kind).to_lowercase()) " to share it" }
            form method="post" action="/analyses" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="kind" value=(kind);
                input type="hidden" name="journey" value=(journey);
                input type="hidden" name="query" value=(query);
                div.field {
                    label for="view-name" { "Name" }
                    p.hint #view-name-hint { "Everyone who reads journeys will see it under this name, with a link to share." }
                    input #view-name type="text" name="name" required maxlength=(NAME) aria-describedby="view-name-hint";
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// The banner over a view opened from a saved one (`saved=ID` in its query string).
pub(crate) async fn banner(web: &Web, pairs: &[(String, String)]) -> Markup {
    let Some(id) = pairs
        .iter()
        .find(|(k, _)| k == "saved")
        .and_then(|(_, v)| v.parse::<i64>().ok())
    else {
        return html! {};
    };
    let store = web.app.store.clone();
    let Ok(Ok(Some(view))) = tokio::task::spawn_blocking(move || {
        let view = store.saved_view(id)?;
        let owner = match &view {
            Some(v) => store.user(&v.view.owner)?.map(|u| u.name),
            None => None,
        };
        Ok::<_, waymark_store::StoreError>(view.map(|v| (v, owner)))
    })
    .await
    else {
        return html! {};
    };
    let (view, owner) = view;
    html! {
        div.notice.saved role="status" {
            p { strong { (view.view.name) } " · saved by " (owner.unwrap_or_else(|| view.view.owner.clone()))
                " on " (when(view.view.created_us)) ". Measured again on today's events." }
            p { "Link to share: " a href=(format!("/analyses/{}", view.id)) { "/analyses/" (view.id) } }
        }
    }
}

/// `GET /analyses/{id}`: the shared link, opening the view.
pub(crate) async fn open(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let Ok(id) = id.parse::<i64>() else {
        return missing(&signed);
    };
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || store.saved_view(id)).await {
        Ok(Ok(Some(view))) => Redirect::to(&target(&view)).into_response(),
        Ok(Ok(None)) => missing(&signed),
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

fn missing(signed: &Signed) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "No such analysis",
        "Nothing is saved under this link: it may have been removed. The saved analyses are listed under Analyses.",
        Some(signed),
    )
}

/// `GET /analyses`: every saved view, newest first.
pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let store = web.app.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        let views = store.saved_views(None, LISTED)?;
        let people = store.users()?;
        Ok::<_, waymark_store::StoreError>((views, people))
    })
    .await;
    let (views, people) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let name = |id: &str| {
        people
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.name.clone())
    };
    let admin = crate::admin::may_administer(&signed);
    let content = html! {
        p { "Funnels, flows and conformance views saved by everyone who reads journeys. Each opens measured on today's events; its link can be shared. To save one, open it from a journey and choose “Save”." }
        @if views.is_empty() {
            p.notice { "Nothing saved yet." }
        } @else {
            table {
                caption.visually-hidden { "Saved analyses" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "What" } th scope="col" { "Saved by" } th scope="col" { "On" } th scope="col" { span.visually-hidden { "Action" } } } }
                tbody {
                    @for v in &views {
                        tr {
                            td { a href=(format!("/analyses/{}", v.id)) { (v.view.name) } }
                            td { (kind_name(&v.view.kind)) " of " code { (v.view.journey) } }
                            td { @if v.view.owner == signed.user.id { "you" } @else { (name(&v.view.owner)) } }
                            td { (when(v.view.created_us)) }
                            td {
                                @if v.view.owner == signed.user.id || admin {
                                    form.inline method="post" action=(format!("/analyses/{}/delete", v.id)) {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        button.secondary type="submit" aria-label=(format!("Remove {}", v.view.name)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Saved analyses", Some(&signed), content).into_response()
}

/// The analyses `owner` saved, newest first, for their home page.
pub(crate) fn mine(store: &dyn waymark_store::Store, owner: &str) -> Vec<SavedView> {
    store.saved_views(Some(owner), 10).unwrap_or_default()
}

/// A link to a saved view, for lists.
pub(crate) fn link(view: &SavedView) -> Markup {
    html! {
        a href=(format!("/analyses/{}", view.id)) { (view.view.name) }
        " " span.meta { "(" (kind_name(&view.view.kind)) " of " (view.view.journey) ")" }
    }
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    crate::work::form_field(pairs, key).unwrap_or("")
}

/// `POST /analyses`: saves a view, then opens it from its link.
pub(crate) async fn save(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let name = field(&pairs, "name").trim().to_string();
    let kind = field(&pairs, "kind").to_string();
    let journey = field(&pairs, "journey").trim().to_string();
    // Kept as it is read back: pairs, encoded again (nothing else reaches the link it opens).
    let query = {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(field(&pairs, "query").as_bytes()) {
            if k != "saved" {
                out.append_pair(&k, &v);
            }
        }
        out.finish()
    };
    let problem_with = if name.is_empty() {
        Some("Give the analysis a name, so that others can find it.".to_string())
    } else if name.chars().count() > NAME {
        Some(format!(
            "The name is longer than {NAME} characters; shorten it."
        ))
    } else if !KINDS.iter().any(|(k, _)| *k == kind) {
        Some("Only a funnel, a flow or a conformance view can be saved.".into())
    } else if journey.is_empty() || journey.len() > 200 || query.len() > QUERY {
        Some("This view cannot be saved: open it again from its journey and save it there.".into())
    } else {
        None
    };
    if let Some(sentence) = problem_with {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The analysis was not saved",
            &sentence,
            Some(&signed),
        );
    }
    let view = NewView {
        owner: signed.user.id.clone(),
        name,
        kind,
        journey,
        query,
        created_us: web.app.clock.now_us(),
    };
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || store.save_view(&view)).await {
        Ok(Ok(id)) => {
            tracing::info!(view = id, "an analysis was saved");
            Redirect::to(&format!("/analyses/{id}")).into_response()
        }
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

/// `POST /analyses/{id}/delete`: by the one who saved it, or an administrator.
pub(crate) async fn delete(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return missing(&signed);
    };
    let store = web.app.store.clone();
    let (me, admin) = (
        signed.user.id.clone(),
        crate::admin::may_administer(&signed),
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let Some(view) = store.saved_view(id)? else {
            return Ok(None);
        };
        if view.view.owner != me && !admin {
            return Ok(Some(false));
        }
        store.delete_view(id).map(Some)
    })
    .await;
    match outcome {
        Ok(Ok(Some(true))) => Redirect::to("/analyses").into_response(),
        Ok(Ok(Some(false))) => problem(
            StatusCode::FORBIDDEN,
            "Not yours to remove",
            "Only the person who saved an analysis, or an administrator, removes it.",
            Some(&signed),
        ),
        Ok(Ok(None)) => missing(&signed),
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}
