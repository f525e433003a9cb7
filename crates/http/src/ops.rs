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

pub async fn not_found(uri: Uri) -> Response {
    let _ = uri;
    envelope(StatusCode::NOT_FOUND, &[BrokenRule::new("Request", "NotFound", "No such resource")])
}
