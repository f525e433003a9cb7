//! The TCN middleware: authenticates every request of the routes it wraps and hands the
//! handler an [`ApiCaller`].

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use caretaker_app::AppError;
use caretaker_app::api_auth::{ApiAuthError, ApiRequest};
use caretaker_domain::BrokenRule;
use caretaker_domain::tcn::HeaderError;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, envelope};

/// The largest body a strict-signed request may have hashed (the JSON limit; documents,
/// when they come, will stream their own hash).
const MAX_HASHED_BODY: usize = crate::rest::json::MAX_JSON_BYTES;

use caretaker_app::api_auth::ApiCaller;

/// The authenticated caller of a REST handler (put there by [`tcn`]).
pub struct Caller(pub ApiCaller);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ApiCaller>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError(AppError::internal("a REST route without TCN authentication")).into_response())
    }
}

pub async fn tcn(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let tenant = match RawPathParams::from_request_parts(&mut parts, &state).await {
        Ok(params) => params.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.to_owned()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
    let headers = &parts.headers;
    let content_sha256 = headers.get("x-content-sha256").map(HeaderValue::as_bytes);
    let (body, body_sha256) = if content_sha256.is_some() {
        match crate::rest::json::read_body(body, MAX_HASHED_BODY).await {
            Ok(bytes) => {
                let hash = Sha256::digest(&bytes);
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                (Body::from(bytes), Some(hex))
            }
            Err(refused) => return refused,
        }
    } else {
        (body, None)
    };
    let request = ApiRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        path_prefix: &state.path_prefix,
        tenant_in_path: &tenant,
        authorization: headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
        timestamp: headers.get("x-timestamp").map(HeaderValue::as_bytes),
        nonce: headers.get("x-nonce").map(HeaderValue::as_bytes),
        content_sha256,
        body_sha256: body_sha256.as_deref(),
        address: address.as_deref(),
    };
    match state.app.api_auth.authenticate(&state.app, request).await {
        Ok(caller) => {
            let mut request = Request::from_parts(parts, body);
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => refusal(err),
    }
}

/// 401 with `WWW-Authenticate: TCN` (or 429 with `Retry-After`) and the envelope.
fn refusal(err: ApiAuthError) -> Response {
    let message = err.to_string();
    let (status, problem) = match &err {
        ApiAuthError::Header(HeaderError::MissingAuthorization | HeaderError::MissingTimestamp) => {
            (StatusCode::UNAUTHORIZED, "MissingHeader")
        }
        ApiAuthError::Header(_) => (StatusCode::UNAUTHORIZED, "MalformedHeader"),
        ApiAuthError::Skew { .. } => (StatusCode::UNAUTHORIZED, "TimestampOutsideWindow"),
        ApiAuthError::StrictRequired => (StatusCode::UNAUTHORIZED, "StrictSigningRequired"),
        ApiAuthError::Invalid => (StatusCode::UNAUTHORIZED, "InvalidCredentials"),
        ApiAuthError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyFailedAttempts"),
        ApiAuthError::App(_) => {
            let ApiAuthError::App(app) = err else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            return ApiError(app).into_response();
        }
    };
    let mut response = envelope(status, &[BrokenRule::new("Authentication", problem, message)]);
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("TCN"));
    if let ApiAuthError::Throttled { retry_after_seconds } = err
        && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
    {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}
