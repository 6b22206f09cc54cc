//! The one place errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error as clients see it: a status, a stable code, a message, and the field it is about (a
/// JSON pointer into the request body, or a header name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Events of a batch that were stored although the batch had a bad one.
    pub accepted: Option<usize>,
}

impl ApiError {
    pub fn bad_request(
        code: &'static str,
        message: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            field: Some(field.into()),
            accepted: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
            field: Some("Authorization".to_string()),
            accepted: None,
        }
    }

    /// A failure inside the server. The details go to the log (with the request id), never to
    /// the client; nothing was changed.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "the server failed to do this and changed nothing; the failure is logged under this response's x-request-id".to_string(),
            field: None,
            accepted: None,
        }
    }

    /// For the collection API, where clients retry: an internal failure says that nothing was
    /// acknowledged and the events should be sent again. Other errors pass unchanged.
    pub fn retry(self) -> Self {
        if self.status != StatusCode::INTERNAL_SERVER_ERROR {
            return self;
        }
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the events could not be stored; nothing was acknowledged, send them again"
                .to_string(),
            ..self
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::openapi::ErrorBody {
            error: crate::openapi::ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
            accepted: self.accepted,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<crate::changes::ChangeError> for ApiError {
    fn from(error: crate::changes::ChangeError) -> ApiError {
        use crate::changes::ChangeError;
        match error {
            ChangeError::Unanswered {
                message,
                location,
                hint,
            } => ApiError::bad_request(
                "change_impact_unanswered",
                format!("{message}; {hint}"),
                location,
            ),
            ChangeError::NoApprover(message) => ApiError {
                status: StatusCode::CONFLICT,
                code: "no_approver",
                message,
                field: Some("owner".to_string()),
                accepted: None,
            },
            other => ApiError::internal(&other),
        }
    }
}
