//! Operational endpoints: liveness, readiness, metrics, and a landing page.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use caretaker_domain::BrokenRule;

use crate::AppState;
use crate::error::envelope;

/// 200 while the process runs: no database, no authentication.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 while the database answers within two seconds, 503 otherwise. Checked on every
/// call, so it recovers by itself when the database returns.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.app.db.ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
        outcome => {
            let why = match outcome {
                Ok(Err(err)) => err.to_string(),
                _ => String::from("timed out"),
            };
            tracing::warn!(reason = %why, "not ready: the database does not answer");
            envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                &[BrokenRule::new("Server", "DatabaseUnavailable", "The database does not answer")],
            )
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

/// A path that exists, with a method it does not take: the envelope, not axum's empty 405.
pub async fn method_not_allowed() -> Response {
    envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        &[BrokenRule::new("Request", "MethodNotAllowed", "This resource does not take that method")],
    )
}

pub async fn not_found(uri: Uri) -> Response {
    let _ = uri;
    envelope(StatusCode::NOT_FOUND, &[BrokenRule::new("Request", "NotFound", "No such resource")])
}
