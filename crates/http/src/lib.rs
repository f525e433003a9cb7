//! Caretaker over HTTP: the router, its middleware (request ids, logs, metrics) and the
//! operational endpoints. Handlers are thin: extract, authenticate, call one use case of
//! caretaker-app, map the result (errors through [`error::ApiError`]).

pub mod error;
mod metrics;
mod ops;
pub mod rest;
mod server;
mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use caretaker_app::App;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use metrics::Metrics;
pub use server::{ServeLimits, serve, serve_with};

/// `/t/{tenant}` with the tenant's name percent-encoded: where its pages live.
pub fn tenant_path(tenant_name: &str) -> String {
    web::page::tenant_base(tenant_name)
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub app: App,
    pub metrics: Arc<Metrics>,
    /// Cookies get `Secure` (the server is reached over https).
    pub secure_cookies: bool,
    /// How clients reach the server (`https://maint.example.com`), for absolute links.
    pub public_base_url: Option<String>,
    /// The public base URL's path (`/maint` behind a proxy): clients sign it as part of
    /// every REST path.
    pub path_prefix: String,
}

impl AppState {
    pub fn new(app: App) -> Self {
        Self {
            app,
            metrics: Arc::new(Metrics::default()),
            secure_cookies: false,
            public_base_url: None,
            path_prefix: String::new(),
        }
    }

    /// Sets the public base URL; an `https` one turns on `Secure` cookies.
    pub fn with_public_base_url(mut self, url: Option<String>) -> Self {
        self.secure_cookies = url.as_deref().is_some_and(|u| u.starts_with("https://"));
        self.path_prefix = url
            .as_deref()
            .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].trim_end_matches('/').to_owned()))
            .unwrap_or_default();
        self.public_base_url = url;
        self
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .merge(web::routes())
        .merge(rest::routes(state.clone()))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                            // The path only: query strings may carry things that do not
                            // belong in logs.
                            tracing::info_span!(
                                "request",
                                request_id = %id,
                                method = %request.method(),
                                path = %loggable_path(request.uri().path()),
                            )
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

/// The path as logged: one-time set-password tokens (which are credentials) are cut out.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.find("/set-password/") {
        Some(at) => std::borrow::Cow::Owned(format!("{}/set-password/[redacted]", &path[..at])),
        None => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn set_password_tokens_never_reach_the_logs() {
        assert_eq!(loggable_path("/t/Acme/set-password/abcDEF123"), "/t/Acme/set-password/[redacted]");
        assert_eq!(loggable_path("/rest/users/acme/me"), "/rest/users/acme/me");
    }
}
