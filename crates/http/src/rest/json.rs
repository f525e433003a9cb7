//! JSON bodies of REST calls: `application/json` only (415), at most 1 MiB (413), and a
//! body that does not fit the request's shape is a `400` naming the field, never a `500`.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use caretaker_domain::BrokenRule;
use serde::de::DeserializeOwned;

use crate::error::envelope;

/// The largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// A request's whole body, at most `limit` bytes: `413` when it is longer, `408` when it
/// did not arrive within the server's time limit (`ServeLimits::body_read`), `400` when the
/// client broke off; each with the envelope.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    to_bytes(body, limit).await.map_err(|err| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let (status, problem, message) = loop {
            match cause {
                Some(e) if e.is::<crate::server::BodyTimedOut>() => {
                    break (
                        StatusCode::REQUEST_TIMEOUT,
                        "BodyTimeout",
                        "The request body did not arrive in time".to_owned(),
                    );
                }
                Some(e) if e.is::<http_body_util::LengthLimitError>() => {
                    break (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "BodyTooLarge",
                        format!("The body must be at most {limit} bytes"),
                    );
                }
                Some(e) => cause = e.source(),
                None => break (StatusCode::BAD_REQUEST, "BodyIncomplete", "The request body ended early".to_owned()),
            }
        };
        envelope(status, &[BrokenRule::new("Request", problem, message)])
    })
}

/// A parsed JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let is_json =
            content_type.split(';').next().is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(envelope(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &[BrokenRule::new(
                    "Request",
                    "UnsupportedContentType",
                    "Send the body as Content-Type: application/json",
                )],
            ));
        }
        let bytes = read_body(request.into_body(), MAX_JSON_BYTES).await?;
        let invalid = |message: String| {
            envelope(StatusCode::BAD_REQUEST, &[BrokenRule::new("Request", "InvalidJson", message)]).into_response()
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if path.is_empty() || path == "." {
                invalid(format!("The body is not valid JSON for this call: {inner}"))
            } else {
                invalid(format!("{path}: {inner}"))
            }
        })?;
        deserializer.end().map_err(|err| invalid(format!("Unexpected data after the JSON value: {err}")))?;
        Ok(ApiJson(value))
    }
}

/// A JSON body that may be left out: no body at all (no `Content-Type`, no length) reads as
/// `T::default()`; any body is held to [`ApiJson`]'s rules.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers();
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let chunked = headers.get(header::TRANSFER_ENCODING).is_some();
        if headers.get(header::CONTENT_TYPE).is_none() && !chunked && length.unwrap_or(0_u64) == 0 {
            return Ok(OptionalJson(T::default()));
        }
        ApiJson::from_request(request, state).await.map(|ApiJson(value)| OptionalJson(value))
    }
}

/// `{"Items": [...], "NextCursor": ...}` written item by item as the rows are read, into a
/// buffer sized up front (a page of tasks is tens of kilobytes, which a buffer starting
/// small reaches through a string of reallocations and copies).
pub struct ItemsWriter {
    buffer: Vec<u8>,
    items: usize,
}

impl ItemsWriter {
    const START: &'static [u8] = b"{\"Items\":[";

    pub fn with_capacity(capacity: usize) -> Self {
        let mut buffer = Vec::with_capacity(capacity);
        buffer.extend_from_slice(Self::START);
        Self { buffer, items: 0 }
    }

    /// The buffer to write the next item into (after a comma when it is not the first).
    pub fn item(&mut self) -> &mut Vec<u8> {
        if self.items > 0 {
            self.buffer.push(b',');
        }
        self.items += 1;
        &mut self.buffer
    }

    pub fn finish(mut self, next_cursor: Option<&str>) -> Response {
        self.buffer.extend_from_slice(b"],\"NextCursor\":");
        match next_cursor {
            Some(cursor) => caretaker_app::json_out::write_str(&mut self.buffer, cursor),
            None => self.buffer.extend_from_slice(b"null"),
        }
        self.buffer.push(b'}');
        ([(header::CONTENT_TYPE, "application/json")], self.buffer).into_response()
    }
}
