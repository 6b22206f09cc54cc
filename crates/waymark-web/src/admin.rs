//! The administrators' view of process instances: every request, by status and process, paged,
//! each opening its steps and the whole audit trail. Open to the directory role `admin`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::Web;
use crate::layout::{failure, page, problem, when};
use crate::session::Signed;
use crate::work::status_words;

/// Whether the person administers Waymark (directory role or department `admin`).
pub(crate) fn is_admin(signed: &Signed) -> bool {
    waymark_server::access::person_may(
        &signed.user,
        waymark_server::access::Capability::ReadAllRequests,
    )
}

/// Whether the person administers keys, tokens and the directory (directory role `admin`).
pub(crate) fn may_administer(signed: &Signed) -> bool {
    waymark_server::access::person_may(&signed.user, waymark_server::access::Capability::Administer)
}

/// The page an administrators' page answers anyone else, saying what `what` is.
pub(crate) fn refused(signed: &Signed, what: &str) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "This is for administrators",
        &format!(
            "{what} are managed by Waymark's administrators. Ask one if you need something changed."
        ),
        Some(signed),
    )
}

/// What an administrator's action on one thing by its id ends in.
pub(crate) struct Acted {
    /// What the page is about, for the refusal (`Keys and tokens`).
    pub(crate) what: &'static str,
    /// The page to go back to; the id is added after it.
    pub(crate) back: &'static str,
    /// What is said when nothing live had that id: a title and a sentence.
    pub(crate) missing: (&'static str, &'static str),
}

/// An administrator's action on one thing by its id (revoking a key, taking a person out):
/// checks who asks and the form's token, then `refuse` (a reason to stop, or none), runs `act`
/// on the store (false: nothing live had that id), and sends back to `acted.back` with the id.
pub(crate) async fn act_on(
    web: &crate::Web,
    signed: &Signed,
    id: String,
    pairs: &[(String, String)],
    refuse: impl FnOnce() -> Option<Response>,
    act: impl FnOnce(
        &dyn waymark_store::Store,
        &str,
        &str,
        i64,
    ) -> Result<bool, waymark_store::StoreError>
    + Send
    + 'static,
    acted: Acted,
) -> Response {
    if !may_administer(signed) {
        return refused(signed, acted.what);
    }
    if let Some(refused) = crate::session::check_csrf(signed, crate::work::csrf_of(pairs)) {
        return refused;
    }
    if let Some(refused) = refuse() {
        return refused;
    }
    let (store, by, now) = (
        web.app.store.clone(),
        signed.user.id.clone(),
        web.app.clock.now_us(),
    );
    let target = id.clone();
    match tokio::task::spawn_blocking(move || act(store.as_ref(), &target, &by, now)).await {
        Ok(Ok(true)) => {
            tracing::info!(id = %id, back = acted.back, "done by an administrator in the browser");
            axum::response::Redirect::to(&format!(
                "{}{}",
                acted.back,
                crate::session::form_urlencoded(&id)
            ))
            .into_response()
        }
        Ok(Ok(false)) => problem(
            StatusCode::NOT_FOUND,
            acted.missing.0,
            acted.missing.1,
            Some(signed),
        ),
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

/// Who a signed-in person looks at requests as: an administrator sees every request.
pub(crate) fn viewer(signed: &Signed) -> waymark_server::work::Viewer {
    if is_admin(signed) {
        waymark_server::work::Viewer::Admin
    } else {
        waymark_server::work::Viewer::Person(signed.user.clone())
    }
}

/// Requests per page.
const PAGE: usize = 25;

#[derive(Debug, Deserialize)]
pub(crate) struct Filter {
    status: Option<String>,
    process: Option<String>,
    /// Show requests older than this id (the next page).
    before: Option<i64>,
}

const STATUSES: [&str; 5] = ["running", "completed", "terminated", "cancelled", "failed"];

/// `GET /admin/requests?status=&process=&before=`
pub(crate) async fn requests(
    State(web): State<Web>,
    signed: Signed,
    Query(filter): Query<Filter>,
) -> Response {
    if !is_admin(&signed) {
        return problem(
            StatusCode::FORBIDDEN,
            "This is for administrators",
            "The list of every request is open to Waymark's administrators only. Your own requests are under “My requests”.",
            Some(&signed),
        );
    }
    let status = filter
        .status
        .clone()
        .filter(|s| STATUSES.contains(&s.as_str()));
    let process = filter.process.clone().filter(|p| !p.trim().is_empty());
    let store = web.app.store.clone();
    let (s2, p2) = (status.clone(), process.clone());
    let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let list = store
            .instance_list(s2.as_deref(), p2.as_deref(), filter.before, PAGE + 1)
            .map_err(|e| e.to_string())?;
        let counts = store.instance_counts().map_err(|e| e.to_string())?;
        let processes = store.startable().map_err(|e| e.to_string())?;
        let mut people = std::collections::HashMap::new();
        for row in &list {
            if let Some(user) = store.user(&row.requester).map_err(|e| e.to_string())? {
                people.insert(row.requester.clone(), user.name);
            }
        }
        Ok((list, counts, processes, people))
    })
    .await;
    let (mut list, counts, processes, people) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let more = list.len() > PAGE;
    list.truncate(PAGE);
    let next = list.last().map(|row| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &status {
            q.append_pair("status", s);
        }
        if let Some(p) = &process {
            q.append_pair("process", p);
        }
        q.append_pair("before", &row.id.to_string());
        format!("/admin/requests?{}", q.finish())
    });
    let content = html! {
        p { @for (n, (s, count)) in counts.iter().enumerate() {
            @if n > 0 { " · " }
            (status_words(s)) ": " strong { (count) }
        } }
        form.builder method="get" action="/admin/requests" {
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" selected[status.is_none()] { "(any)" }
                    @for s in STATUSES { option value=(s) selected[status.as_deref() == Some(s)] { (status_words(s)) } }
                }
            }
            div.field {
                label for="process" { "Process" }
                select #process name="process" {
                    option value="" selected[process.is_none()] { "(any)" }
                    @for (id, name, _) in &processes { option value=(id) selected[process.as_deref() == Some(id.as_str())] { (name) } }
                }
            }
            button type="submit" { "Show" }
        }
        @if list.is_empty() {
            p.notice { "No request matches." }
        } @else {
            table.wide {
                caption.visually-hidden { "Requests, newest first" }
                thead { tr { th scope="col" { "Request" } th scope="col" { "Process" } th scope="col" { "Requested by" }
                    th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "Last change" } } }
                tbody {
                    @for row in &list {
                        tr {
                            td { a href=(format!("/work/requests/{}", row.id)) { (row.id) } }
                            td { (row.process) " v" (row.version) }
                            td { (people.get(&row.requester).cloned().unwrap_or_else(|| row.requester.clone())) }
                            td { (status_words(&row.status)) }
                            td { (when(row.started_us)) }
                            td { (when(row.updated_us)) }
                        }
                    }
                }
            }
            @if more {
                @if let Some(next) = &next {
                    nav.pager aria-label="Pages" { a rel="next" href=(next) { "Older requests →" } }
                }
            }
        }
    };
    page("All requests", Some(&signed), content).into_response()
}
