//! The directory in the browser, for administrators: every active person with their department,
//! manager and roles, by name; and taking someone out of it (a leaver): their tokens are revoked,
//! their sessions end and the links sent to them stop working, as through the API. Nobody takes
//! themselves out. Bringing someone back stays with `waymark org enable` and the API.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::Web;
use crate::layout::{failure, page, problem};
use crate::session::Signed;
use crate::work::department_name;

/// People's names by directory id, for pages that say who did something.
#[derive(Debug, Default)]
pub(crate) struct Names(std::collections::HashMap<String, String>);

impl Names {
    /// The names of the people `ids` name, each looked up once; ids nobody has are left out.
    pub(crate) fn read(
        store: &dyn waymark_store::Store,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<Names, waymark_store::StoreError> {
        let mut names = std::collections::HashMap::new();
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            if let Some(user) = store.user(&id)? {
                names.insert(id, user.name);
            }
        }
        Ok(Names(names))
    }

    /// The name of the person `id` names, when there is one.
    pub(crate) fn get(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// The name of the person `id` names, else the id itself.
    pub(crate) fn of(&self, id: &str) -> String {
        self.get(id).unwrap_or(id).to_string()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Listing {
    page: Option<usize>,
    disabled: Option<String>,
    saved: Option<String>,
}

/// `GET /admin/people`
pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    Query(listing): Query<Listing>,
) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "People in the directory");
    }
    let store = web.app.store.clone();
    let people = match tokio::task::spawn_blocking(move || store.users()).await {
        Ok(Ok(people)) => people,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let name = |id: &str| {
        people
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.name.clone())
    };
    let (shown, pager) = crate::work::paged(&people, listing.page, "/admin/people?");
    let content = html! {
        @if let Some(id) = &listing.saved {
            @if people.iter().any(|u| &u.id == id) {
                p.notice.ok role="status" { (name(id)) " is saved in the directory; the change is in the access trail." }
            }
        }
        @if let Some(id) = &listing.disabled {
            p.notice role="status" { code { (id) } " was taken out of the directory: their tokens are revoked and their sessions ended." }
        }
        p { (people.len()) " people in the directory. " a href="/admin/people/new" { "Add a person" } ", or upload the whole directory with " code { "waymark org import" } " or " code { "POST /v1/directory/users" } "." }
        table {
            caption.visually-hidden { "Everyone in the directory" }
            thead { tr {
                th scope="col" { "Name" } th scope="col" { "Department" } th scope="col" { "Manager" }
                th scope="col" { "Roles" } th scope="col" { span.visually-hidden { "Action" } }
            } }
            tbody {
                @for person in shown {
                    tr {
                        td { a href=(format!("/admin/people/{}", person.id)) { (person.name) } br; span.meta { code { (person.id) } @if let Some(email) = &person.email { " · " (email) } } }
                        td { @if let Some(d) = &person.department { (department_name(d)) } }
                        td { @if let Some(m) = &person.manager { (name(m)) } }
                        td { (person.roles.join(", ")) }
                        td {
                            @if person.id != signed.user.id {
                                details.delegate {
                                    summary { "Take out…" }
                                    form method="post" action=(format!("/admin/people/{}/disable", person.id)) {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        p { "Revokes " (person.name) "'s tokens and ends their sessions; their history stays." }
                                        button.secondary type="submit" { "Take " (person.name) " out of the directory" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager)
    };
    page("People", Some(&signed), content).into_response()
}

/// `POST /admin/people/{id}/disable`
pub(crate) async fn disable(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let yourself = id == signed.user.id;
    let acted = crate::admin::Acted {
        what: "People in the directory",
        back: "/admin/people?disabled=",
        missing: (
            "No such person",
            "Nobody active in the directory has that id.",
        ),
    };
    crate::admin::act_on(
        &web,
        &signed,
        id,
        &pairs,
        || {
            yourself.then(|| {
                problem(
                    StatusCode::CONFLICT,
                    "Not yourself",
                    "You cannot take yourself out of the directory; ask another administrator.",
                    Some(&signed),
                )
            })
        },
        |store, id, by, now| store.disable_user(id, by, now),
        acted,
    )
    .await
}
