//! The demo's stand-in for other systems: on a request waiting for an event (the learning
//! system's "Training Completed"), its requester or an administrator can send that event as
//! the other system would. The event goes through the collection path a server key uses: it is
//! stored, put in the message outbox in the same transaction, and handed to the workflow.
//! Only `waymark demo` serves this.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use waymark_server::work::{self as ops, WorkError};

use crate::Web;
use crate::layout::{failure, problem};
use crate::session::{Signed, check_csrf};

#[derive(Debug, Deserialize)]
pub(crate) struct Send {
    csrf: Option<String>,
    message: String,
}

/// `POST /demo/requests/{id}/send`: sends the event request `id` waits for.
pub(crate) async fn send(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<Send>,
) -> Response {
    if !web.demo {
        return problem(
            StatusCode::NOT_FOUND,
            "Page not found",
            "Sending events by hand is part of `waymark demo` only.",
            Some(&signed),
        );
    }
    if let Some(refused) = check_csrf(&signed, form.csrf.as_deref()) {
        return refused;
    }
    let admin = crate::admin::is_admin(&signed);
    let viewer = crate::admin::viewer(&signed);
    let now = web.app.clock.now_us();
    let store = web.app.store.clone();
    let message = form.message.clone();
    let person = signed.user.id.clone();
    let sent = tokio::task::spawn_blocking(move || -> Result<Result<(), String>, WorkError> {
        let request = ops::request(store.as_ref(), &viewer, id, now)?;
        if !admin && request.instance.requester != person {
            return Ok(Err(
                "only the person who asked, or an administrator, can send it".into(),
            ));
        }
        if !store.awaited_by(id)?.contains(&message) {
            return Ok(Err(format!("this request is not waiting for “{message}”")));
        }
        let requester = request.instance.requester;
        let message_id = format!("demo-{id}-{}", message.replace(' ', "-"));
        let body = serde_json::json!({
            "type": "track",
            "event": message,
            "userId": requester,
            "messageId": message_id,
            "timestamp": waymark_eventlog::time::format_micros(now),
            "properties": { "request": id },
            "context": { "channel": "system", "source": "waymark demo" },
        });
        store.append_driving(vec![waymark_store::NewEvent {
            message_id,
            kind: "track".into(),
            name: Some(message),
            user_id: Some(requester),
            anonymous_id: None,
            timestamp_us: now,
            received_us: now,
            body: body.to_string(),
        }])?;
        waymark_server::automation::drain_outbox(store.as_ref(), now);
        Ok(Ok(()))
    })
    .await;
    match sent {
        Ok(Ok(Ok(()))) => Redirect::to(&format!(
            "/work/requests/{id}?sent={}",
            crate::session::form_urlencoded(&form.message)
        ))
        .into_response(),
        Ok(Ok(Err(why))) => problem(StatusCode::CONFLICT, "Not sent", &why, Some(&signed)),
        Ok(Err(WorkError::NotFound(_) | WorkError::Refused)) => problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such request among yours.",
            Some(&signed),
        ),
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}
