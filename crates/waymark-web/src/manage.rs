//! Administrators' actions on a request, in the browser: cancel it, hand a step to someone
//! else, call a failed webhook again, each with a reason kept in its history. The rules are
//! `waymark_server::manage`'s, shared with the API; the section on the request page offers only
//! what applies.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use waymark_server::work::TaskId;
use waymark_store::workflow::{InstanceRow, TaskRow, User};

use crate::Web;
use crate::session::Signed;
use crate::work::{blocking, csrf_of, refusal};

/// What the section needs besides the request: the directory, and the failed webhook calls
/// (task, attempts, last error).
pub(crate) struct Offer {
    pub(crate) people: Vec<User>,
    pub(crate) failing: Vec<(u64, i64, String)>,
}

/// Reads what [`section`] offers, for administrators.
pub(crate) fn offer(
    store: &dyn waymark_store::Store,
    tasks: &[TaskRow],
) -> Result<Offer, waymark_server::work::WorkError> {
    let mut failing = Vec::new();
    for task in tasks.iter().filter(|t| {
        t.status == "open"
            && t.topic
                .as_deref()
                .is_some_and(|t| t.starts_with("webhook:"))
    }) {
        if let Some((attempts, error)) = store.webhook_attempts(task.instance, task.task)? {
            failing.push((task.task, attempts, error));
        }
    }
    Ok(Offer {
        people: store.users()?,
        failing,
    })
}

fn reason_field(id: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { "Reason" }
            p.hint #(format!("{id}-hint")) { "Kept in the request's history, with your name." }
            textarea #(id) name="reason" rows="2" required maxlength=(waymark_server::manage::REASON) aria-describedby=(format!("{id}-hint")) {}
        }
    }
}

/// The administrators' section of a request page.
pub(crate) fn section(
    signed: &Signed,
    row: &InstanceRow,
    tasks: &[TaskRow],
    offer: &Offer,
) -> Markup {
    if row.requester == signed.user.id {
        return html! {
            section aria-labelledby="administer" {
                h2 #administer { "Administer" }
                p.notice { "This is your own request: another administrator cancels it or moves its steps." }
            }
        };
    }
    let running = row.status == "running";
    let open: Vec<&TaskRow> = tasks
        .iter()
        .filter(|t| t.status == "open" && t.kind == "user")
        .collect();
    html! {
        section aria-labelledby="administer" {
            h2 #administer { "Administer" }
            @if !running {
                p { "The request has ended; nothing is left to move." }
            }
            @for task in &open {
                @let id = TaskId::of(task).to_string();
                details.delegate {
                    summary { "Give “" (task.name) "” to someone else…" }
                    form method="post" action=(format!("/admin/tasks/{id}/reassign")) {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        div.field {
                            label for=(format!("to-{id}")) { "To" }
                            select #(format!("to-{id}")) name="to" required {
                                option value="" { "(choose a person)" }
                                @for person in offer.people.iter().filter(|p| !task.decides_on_own_request(p)) {
                                    option value=(person.id) selected[task.assignee.as_deref() == Some(person.id.as_str())] { (person.name) }
                                }
                            }
                        }
                        (reason_field(&format!("reassign-{id}")))
                        button type="submit" { "Give it to them" }
                    }
                }
            }
            @for (task, attempts, error) in &offer.failing {
                @let id = TaskId { instance: row.id, task: *task }.to_string();
                @let name = tasks.iter().find(|t| t.task == *task).map(|t| t.name.clone()).unwrap_or_default();
                details.delegate {
                    summary { "Call “" (name) "” again now…" }
                    p.meta { "Tried " (attempts) @if *attempts == 1 { " time" } @else { " times" } "; last: " (error) }
                    form method="post" action=(format!("/admin/tasks/{id}/retry")) {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        (reason_field(&format!("retry-{id}")))
                        button type="submit" { "Call it again now" }
                    }
                }
            }
            @if running {
                details.delegate {
                    summary { "Cancel the request…" }
                    form method="post" action=(format!("/admin/requests/{}/cancel", row.id)) {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        p { "Its open steps end and nobody can act on it any more. This cannot be undone." }
                        (reason_field("cancel"))
                        button.secondary type="submit" { "Cancel request " (row.id) }
                    }
                }
            }
        }
    }
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    crate::work::form_field(pairs, key).unwrap_or("")
}

/// Checks who asks and the form's token; then runs `act` and goes back to the request.
async fn act(
    web: &Web,
    signed: &Signed,
    pairs: &[(String, String)],
    instance: i64,
    done: &'static str,
    act: impl FnOnce(
        &dyn waymark_store::Store,
        &str,
        i64,
    ) -> Result<(), waymark_server::work::WorkError>
    + Send
    + 'static,
) -> Response {
    if !crate::admin::may_administer(signed) {
        return crate::admin::refused(signed, "Requests");
    }
    if let Some(refused) = crate::session::check_csrf(signed, csrf_of(pairs)) {
        return refused;
    }
    let (by, now) = (signed.user.id.clone(), web.app.clock.now_us());
    match blocking(web, move |store| act(store, &by, now)).await {
        Ok(()) => Redirect::to(&format!("/work/requests/{instance}?{done}=1")).into_response(),
        Err(error) => refusal(error, signed),
    }
}

/// `POST /admin/requests/{id}/cancel`
pub(crate) async fn cancel(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let reason = field(&pairs, "reason").to_string();
    act(
        &web,
        &signed,
        &pairs,
        id,
        "cancelled",
        move |store, by, now| waymark_server::manage::cancel(store, by, id, &reason, now),
    )
    .await
}

/// `POST /admin/tasks/{id}/reassign`
pub(crate) async fn reassign(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let id: TaskId = match id.parse() {
        Ok(id) => id,
        Err(error) => return refusal(error, &signed),
    };
    let (to, reason) = (
        field(&pairs, "to").to_string(),
        field(&pairs, "reason").to_string(),
    );
    act(
        &web,
        &signed,
        &pairs,
        id.instance,
        "reassigned",
        move |store, by, now| waymark_server::manage::reassign(store, by, id, &to, &reason, now),
    )
    .await
}

/// `POST /admin/tasks/{id}/retry`
pub(crate) async fn retry(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let id: TaskId = match id.parse() {
        Ok(id) => id,
        Err(error) => return refusal(error, &signed),
    };
    let reason = field(&pairs, "reason").to_string();
    act(
        &web,
        &signed,
        &pairs,
        id.instance,
        "retried",
        move |store, by, now| waymark_server::manage::retry_webhook(store, by, id, &reason, now),
    )
    .await
}
