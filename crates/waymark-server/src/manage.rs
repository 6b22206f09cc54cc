//! What administrators do to requests that are stuck: cancel one, hand a step to someone else,
//! call a failed webhook again. Each needs a reason, kept in the request's audit trail with who
//! gave it. Whether the caller may do this at all is `crate::access` (`Administer`); here are
//! the rules of each action, shared by the API and the pages:
//! - nobody acts on their own request (an administrator who asked for something has another
//!   administrator move it, as a person never decides on their own request);
//! - a step that decides on a request is never given to its requester.

use waymark_store::prelude::*;
use waymark_workflow::engine::Command;

use crate::work::{TaskId, WorkError};

/// The longest reason, in characters.
pub const REASON: usize = 500;

fn bad(code: &'static str, message: impl Into<String>, field: &str) -> WorkError {
    WorkError::Bad {
        code,
        message: message.into(),
        field: field.to_string(),
    }
}

/// The reason given, trimmed: required, and not an essay.
fn reason_of(text: &str) -> Result<&str, WorkError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(bad(
            "missing_reason",
            "say why: the reason is kept in the request's history",
            "reason",
        ));
    }
    if text.chars().count() > REASON {
        return Err(bad(
            "reason_too_long",
            format!("the reason is longer than {REASON} characters; shorten it"),
            "reason",
        ));
    }
    Ok(text)
}

/// Refuses an administrator's action on their own request, and audits the attempt.
fn not_own(
    store: &dyn Store,
    instance: i64,
    requester: &str,
    by: &str,
    what: &str,
    now: i64,
) -> Result<(), WorkError> {
    if requester != by {
        return Ok(());
    }
    let _ = store.audit_refusal(instance, by, &format!("{what} on their own request"), now);
    Err(WorkError::NotAllowed(
        "this is your own request: another administrator must do this".into(),
    ))
}

/// Cancels a running request: its open steps, timers and waits end, and it takes no more
/// steps.
pub fn cancel(
    store: &dyn Store,
    by: &str,
    instance: i64,
    reason: &str,
    now: i64,
) -> Result<(), WorkError> {
    let reason = reason_of(reason)?;
    let row = store
        .instance(instance)?
        .ok_or_else(|| WorkError::NotFound(format!("there is no request {instance}")))?;
    not_own(store, instance, &row.requester, by, "cancel", now)?;
    if row.status != "running" {
        return Err(WorkError::Conflict(format!(
            "request {instance} has already ended ({})",
            row.status
        )));
    }
    store.advance(
        instance,
        Command::Cancel {
            reason: reason.to_string(),
        },
        by,
        now,
    )?;
    tracing::info!(instance, "a request was cancelled by an administrator");
    Ok(())
}

/// Gives an open step to someone else in the directory, whoever it was for: the way out when
/// the person it waits on has left or is away. Never to the requester of a step that decides on
/// her request.
pub fn reassign(
    store: &dyn Store,
    by: &str,
    id: TaskId,
    to: &str,
    reason: &str,
    now: i64,
) -> Result<(), WorkError> {
    let reason = reason_of(reason)?;
    let task = store
        .task(id.instance, id.task)?
        .filter(|t| t.kind == "user")
        .ok_or_else(|| WorkError::NotFound(format!("there is no step {id} for a person")))?;
    not_own(
        store,
        id.instance,
        &task.requester,
        by,
        "reassign a step",
        now,
    )?;
    if task.status != "open" {
        return Err(WorkError::Conflict(format!("step {id} is no longer open")));
    }
    let to = to.trim();
    if to.is_empty() {
        return Err(bad("missing_to", "say who takes it over", "to"));
    }
    let Some(target) = store.user(to)? else {
        return Err(bad(
            "unknown_user",
            format!("nobody with the id `{to}` is in the directory"),
            "to",
        ));
    };
    if task.decides_on_own_request(&target) {
        return Err(WorkError::NotAllowed(format!(
            "{} asked for this request, so they cannot decide on it; choose someone else",
            target.name
        )));
    }
    if !store.assign_task(
        id.instance,
        id.task,
        &target.id,
        by,
        "reassign",
        Some(reason),
        now,
    )? {
        return Err(WorkError::Conflict(format!("step {id} is no longer open")));
    }
    Ok(())
}

/// Calls a webhook step again now, instead of at its next try.
pub fn retry_webhook(
    store: &dyn Store,
    by: &str,
    id: TaskId,
    reason: &str,
    now: i64,
) -> Result<(), WorkError> {
    let reason = reason_of(reason)?;
    let task = store
        .task(id.instance, id.task)?
        .ok_or_else(|| WorkError::NotFound(format!("there is no step {id}")))?;
    not_own(
        store,
        id.instance,
        &task.requester,
        by,
        "retry a webhook",
        now,
    )?;
    if !store.retry_webhook(id.instance, id.task, by, reason, now)? {
        return Err(WorkError::Conflict(format!(
            "step {id} is not a webhook call waiting to be made"
        )));
    }
    Ok(())
}
