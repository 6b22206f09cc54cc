//! Adding and changing a person in the directory, for administrators: their name, email,
//! department, manager and roles. Every change is in the access trail with who made it and the
//! roles before and after (`Directory::put_user_by`). Nobody takes the `admin` role from
//! themselves (another administrator does), so an installation never loses its last one by a
//! slip.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_store::workflow::User;

use crate::Web;
use crate::layout::{failure, page};
use crate::session::{Signed, check_csrf};

/// The roles the access rules know, offered as boxes; others (groups tasks are routed to) are
/// typed.
const ROLES: [(&str, &str); 7] = [
    (
        "admin",
        "Administrator: the directory, keys, deployments, every request",
    ),
    ("cx", "CX lead: journeys, analyses, Customer 360"),
    ("journey-owner", "Journey owner: reads and deploys journeys"),
    ("analyst", "Analyst: journeys, analyses, Customer 360"),
    ("agent", "Agent: Customer 360"),
    ("manager", "Manager (a group approvals can go to)"),
    ("finance", "Finance (a group payments can go to)"),
];

/// What the form sends.
#[derive(Debug, Default)]
struct Asked {
    id: String,
    name: String,
    email: String,
    department: String,
    manager: String,
    roles: Vec<String>,
    other: String,
}

impl Asked {
    fn read(pairs: &[(String, String)]) -> Asked {
        let one = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        Asked {
            id: one("id"),
            name: one("name"),
            email: one("email"),
            department: one("department"),
            manager: one("manager"),
            roles: pairs
                .iter()
                .filter(|(k, _)| k == "role")
                .map(|(_, v)| v.trim().to_string())
                .collect(),
            other: one("other"),
        }
    }

    fn of(user: &User) -> Asked {
        let known = |r: &String| ROLES.iter().any(|(k, _)| k.eq_ignore_ascii_case(r));
        Asked {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone().unwrap_or_default(),
            department: user.department.clone().unwrap_or_default(),
            manager: user.manager.clone().unwrap_or_default(),
            roles: user.roles.iter().filter(|r| known(r)).cloned().collect(),
            other: user
                .roles
                .iter()
                .filter(|r| !known(r))
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A word people and rules use as an id: lowercase letters, digits, `-`, `_` and `.`.
fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// The person the form describes, or the problems, each at its field.
fn checked(
    asked: &Asked,
    known: &[User],
    editing: Option<&User>,
    by: &str,
) -> Result<User, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    if editing.is_none() {
        if !is_word(&asked.id) {
            problems.push(("id", "Write an id of lowercase letters, digits, - or _ (at most 64), like maria or j.lee.".to_string()));
        } else if known.iter().any(|u| u.id == asked.id) {
            problems.push((
                "id",
                format!("Someone already has the id {}; choose another.", asked.id),
            ));
        }
    }
    if asked.name.is_empty() || asked.name.chars().count() > 120 {
        problems.push((
            "name",
            "Write their name (at most 120 characters).".to_string(),
        ));
    }
    let email = asked.email.trim();
    if !email.is_empty()
        && (!email.contains('@') || email.contains(char::is_whitespace) || email.len() > 254)
    {
        problems.push((
            "email",
            format!("`{email}` is not an email address; write it like maria@example.com."),
        ));
    }
    if !asked.department.is_empty() && !is_word(&asked.department) {
        problems.push(("department", "Write the department as an id of lowercase letters, digits and -, like customer-success.".to_string()));
    }
    let id = editing.map_or(asked.id.as_str(), |u| u.id.as_str());
    if !asked.manager.is_empty() {
        if asked.manager == id {
            problems.push((
                "manager",
                "Nobody is their own manager; choose someone else or nobody.".to_string(),
            ));
        } else if !known.iter().any(|u| u.id == asked.manager) {
            problems.push((
                "manager",
                format!("Nobody with the id {} is in the directory.", asked.manager),
            ));
        }
    }
    let mut roles: Vec<String> = asked
        .roles
        .iter()
        .filter(|r| ROLES.iter().any(|(k, _)| k == r))
        .cloned()
        .collect();
    for other in asked
        .other
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let other = other.to_lowercase();
        if !is_word(&other) {
            problems.push((
                "other",
                format!(
                    "`{other}` is not a role or group name; use lowercase letters, digits and -."
                ),
            ));
        } else if !roles.contains(&other) {
            roles.push(other);
        }
    }
    if id == by
        && editing.is_some_and(|u| u.has_role("admin"))
        && !roles.iter().any(|r| r == "admin")
    {
        problems.push((
            "role-admin",
            "You cannot take the administrator role from yourself; ask another administrator."
                .to_string(),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let optional = |text: &str| Some(text.to_string()).filter(|t| !t.is_empty());
    Ok(User {
        id: id.to_string(),
        name: asked.name.clone(),
        email: optional(email),
        department: optional(&asked.department),
        manager: optional(&asked.manager),
        roles,
    })
}

fn form(
    signed: &Signed,
    asked: &Asked,
    known: &[User],
    editing: bool,
    problems: &[(&'static str, String)],
) -> Markup {
    let error = |field: &str| problems.iter().find(|(f, _)| *f == field).map(|(_, m)| m);
    let action = if editing {
        format!("/admin/people/{}", asked.id)
    } else {
        "/admin/people".to_string()
    };
    html! {
        @if !problems.is_empty() {
            div.summary role="alert" aria-labelledby="problems" tabindex="-1" {
                h2 #problems { "There is a problem" }
                ul { @for (field, message) in problems { li { a href=(format!("#person-{field}")) { (message) } } } }
            }
        }
        form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if !editing {
                div.field.invalid[error("id").is_some()] {
                    label for="person-id" { "Id" }
                    p.hint #person-id-hint { "How Waymark and other systems know them; it cannot change later." }
                    @if let Some(m) = error("id") { p.error { (m) } }
                    input #person-id type="text" name="id" value=(asked.id) aria-describedby="person-id-hint" autocomplete="off";
                }
            }
            div.field.invalid[error("name").is_some()] {
                label for="person-name" { "Name" }
                @if let Some(m) = error("name") { p.error { (m) } }
                input #person-name type="text" name="name" value=(asked.name) autocomplete="off";
            }
            div.field.invalid[error("email").is_some()] {
                label for="person-email" { "Email (for sign-in links and their tasks)" }
                @if let Some(m) = error("email") { p.error { (m) } }
                input #person-email type="email" name="email" value=(asked.email) autocomplete="off";
            }
            div.field.invalid[error("department").is_some()] {
                label for="person-department" { "Department" }
                p.hint #person-department-hint { "An id like customer-success: steps routed to the department reach them." }
                @if let Some(m) = error("department") { p.error { (m) } }
                input #person-department type="text" name="department" value=(asked.department) aria-describedby="person-department-hint";
            }
            div.field.invalid[error("manager").is_some()] {
                label for="person-manager" { "Manager" }
                p.hint #person-manager-hint { "Their approvals go to this person." }
                @if let Some(m) = error("manager") { p.error { (m) } }
                select #person-manager name="manager" aria-describedby="person-manager-hint" {
                    option value="" selected[asked.manager.is_empty()] { "(nobody)" }
                    @for u in known.iter().filter(|u| u.id != asked.id) {
                        option value=(u.id) selected[asked.manager == u.id] { (u.name) }
                    }
                }
            }
            fieldset.field #person-role-admin {
                legend { "Roles" }
                @if let Some(m) = error("role-admin") { p.error { (m) } }
                @for (role, words) in ROLES {
                    div.choice {
                        input type="checkbox" name="role" value=(role) id=(format!("role-{role}")) checked[asked.roles.iter().any(|r| r == role)];
                        label for=(format!("role-{role}")) { (words) }
                    }
                }
            }
            div.field.invalid[error("other").is_some()] {
                label for="person-other" { "Other roles or groups" }
                p.hint #person-other-hint { "Separated by commas, e.g. hr-admin, it-support" }
                @if let Some(m) = error("other") { p.error { (m) } }
                input #person-other type="text" name="other" value=(asked.other) aria-describedby="person-other-hint";
            }
            button type="submit" { @if editing { "Save the changes" } @else { "Add to the directory" } }
        }
        p { a href="/admin/people" { "Back to the directory" } }
    }
}

async fn directory(web: &Web) -> Result<Vec<User>, Response> {
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || store.users()).await {
        Ok(Ok(people)) => Ok(people),
        Ok(Err(error)) => Err(failure(&error)),
        Err(error) => Err(failure(&error)),
    }
}

fn nobody(signed: &Signed) -> Response {
    crate::layout::problem(
        StatusCode::NOT_FOUND,
        "No such person",
        "Nobody active in the directory has that id.",
        Some(signed),
    )
}

/// `GET /admin/people/new`
pub(crate) async fn new(State(web): State<Web>, signed: Signed) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "People in the directory");
    }
    let known = match directory(&web).await {
        Ok(known) => known,
        Err(page) => return page,
    };
    let content = form(&signed, &Asked::default(), &known, false, &[]);
    page("Add a person", Some(&signed), content).into_response()
}

/// `GET /admin/people/{id}`
pub(crate) async fn edit(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "People in the directory");
    }
    let known = match directory(&web).await {
        Ok(known) => known,
        Err(page) => return page,
    };
    let Some(person) = known.iter().find(|u| u.id == id) else {
        return nobody(&signed);
    };
    let content = form(&signed, &Asked::of(person), &known, true, &[]);
    page(&person.name, Some(&signed), content).into_response()
}

/// `POST /admin/people` (a new person) and `POST /admin/people/{id}` (a change).
async fn save(
    web: Web,
    signed: Signed,
    id: Option<String>,
    pairs: Vec<(String, String)>,
) -> Response {
    if !crate::admin::may_administer(&signed) {
        return crate::admin::refused(&signed, "People in the directory");
    }
    if let Some(refused) = check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let known = match directory(&web).await {
        Ok(known) => known,
        Err(page) => return page,
    };
    let editing = match &id {
        Some(id) => match known.iter().find(|u| &u.id == id) {
            Some(person) => Some(person.clone()),
            None => return nobody(&signed),
        },
        None => None,
    };
    let mut asked = Asked::read(&pairs);
    if let Some(person) = &editing {
        asked.id = person.id.clone();
    }
    let user = match checked(&asked, &known, editing.as_ref(), &signed.user.id) {
        Ok(user) => user,
        Err(problems) => {
            let title = editing.as_ref().map_or("Add a person", |p| p.name.as_str());
            let content = form(&signed, &asked, &known, editing.is_some(), &problems);
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                page(title, Some(&signed), content),
            )
                .into_response();
        }
    };
    let (store, by, now) = (
        web.app.store.clone(),
        signed.user.id.clone(),
        web.app.clock.now_us(),
    );
    let saved = user.id.clone();
    match tokio::task::spawn_blocking(move || store.put_user_by(&user, &by, now)).await {
        Ok(Ok(())) => {
            tracing::info!(person = %saved, "the directory was changed in the browser");
            Redirect::to(&format!(
                "/admin/people?saved={}",
                crate::session::form_urlencoded(&saved)
            ))
            .into_response()
        }
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

pub(crate) async fn add(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    save(web, signed, None, pairs).await
}

pub(crate) async fn change(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    save(web, signed, Some(id), pairs).await
}
