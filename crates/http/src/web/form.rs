//! Submitted HTML forms as ordered (name, value) pairs, so repeated names (the Selected
//! role packages) survive.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};

use crate::web::page::PageError;

/// A submitted `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        matches!(self.opt(name), Some("on" | "true" | "1" | "yes"))
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<Vec<(String, String)>>::from_request(request, state).await {
            Ok(axum::Form(pairs)) => Ok(Fields(pairs)),
            Err(_) => Err(PageError::BadRequest("The form could not be read".into()).into_response()),
        }
    }
}

/// `?done=...`: what the page says was just done (after a redirect from a form).
#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: String,
}
