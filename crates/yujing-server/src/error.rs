//! API errors: a status and a JSON body `{"error": {"code": …, "message": …}}` that says what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use yujing_engine::{OrderError, PipelineError};
use yujing_workorder::CommandError;

/// An error the API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`wrong_state`, `out_of_scope`…).
    pub code: &'static str,
    /// What went wrong and what would work.
    pub message: String,
    /// For a failure inside yujing: what failed, redacted. Logged and shown by `/health`, never in the answer.
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// 404 for an unknown resource.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no {what} {id}"),
        )
    }

    /// 500, logged; the message names no internals.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        let detail = yujing_feeds::pii::redact(&error.to_string());
        tracing::error!(error = %detail, "internal error");
        ApiError {
            detail: Some(detail),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "yujing could not complete the request; see its log",
            )
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> ApiError {
        match error {
            PipelineError::Orders(OrderError::Unknown(id)) => ApiError::not_found("work order", &id),
            PipelineError::Orders(OrderError::Refused(refused)) => refused.into(),
            other => ApiError::internal(error_chain(&other)),
        }
    }
}

pub(crate) use yujing_engine::error_chain;

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> ApiError {
        let (status, code) = match &error {
            CommandError::WrongState { .. } => (StatusCode::CONFLICT, "wrong_state"),
            CommandError::NotAllowed { .. } => (StatusCode::FORBIDDEN, "not_allowed"),
            CommandError::ReasonRequired { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "reason_required"),
            CommandError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_command"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}
