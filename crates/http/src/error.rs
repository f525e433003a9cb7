//! The one mapping from errors to HTTP answers: the Urgent `Messages` envelope.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use caretaker_app::AppError;
use caretaker_domain::BrokenRule;
use serde::Serialize;

/// `{"Messages":[{"Key":"BrokenRule_...","Value":"..."}]}`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "Messages")]
    pub messages: &'a [BrokenRule],
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        ApiError(err)
    }
}

/// A response with `status` and the envelope around `rules`.
pub fn envelope(status: StatusCode, rules: &[BrokenRule]) -> Response {
    (status, Json(Envelope { messages: rules })).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            AppError::Invalid(rules) => envelope(StatusCode::BAD_REQUEST, rules.rules()),
            AppError::Conflict(rules) => envelope(StatusCode::CONFLICT, rules.rules()),
            AppError::Forbidden(rules) => envelope(StatusCode::FORBIDDEN, rules.rules()),
            AppError::NotFound => {
                envelope(StatusCode::NOT_FOUND, &[BrokenRule::new("Request", "NotFound", "Not found")])
            }
            AppError::Unavailable(err) => {
                tracing::warn!(error = %err, "database unavailable");
                let mut response = envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &[BrokenRule::new("Server", "Unavailable", "The service is unavailable; try again shortly")],
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            AppError::Internal(err) => {
                // The detail goes to the log (with the request id of the span), never out.
                tracing::error!(error = %err, "internal error");
                envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &[BrokenRule::new("Server", "InternalError", "Something went wrong on our side")],
                )
            }
        }
    }
}
