//! `GET /rest/docs`: the API documentation as one HTML page, from the OpenAPI document and
//! the integrators' guide; nothing loaded from elsewhere.

use axum::response::IntoResponse;
use maud::html;

use crate::rest::openapi::document;
use crate::web::page::{Page, bare};

const GUIDE: &str = include_str!("../../../../docs/INTEGRATING.md");

pub async fn page() -> impl IntoResponse {
    let doc = document();
    let mut operations = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, methods) in paths {
            if let Some(methods) = methods.as_object() {
                for (method, op) in methods {
                    operations.push((method.to_uppercase(), path.clone(), op.clone()));
                }
            }
        }
    }
    Page::ok(bare(
        "REST API",
        html! {
            h1 { "Caretaker REST API" }
            p { "The machine-readable description is " a href="/rest/openapi.json" { "/rest/openapi.json" } " (OpenAPI 3.1)." }
            h2 { "Operations" }
            @for (method, path, op) in &operations {
                section.card {
                    h3 { code { (method) " " (path) } }
                    p { (op["summary"].as_str().unwrap_or("")) ". " (op["description"].as_str().unwrap_or("")) }
                    @if op["security"].as_array().is_some_and(|s| !s.is_empty()) { p.muted { "Signed with TCN." } }
                    ul {
                        @if let Some(responses) = op["responses"].as_object() {
                            @for (status, response) in responses {
                                li { code { (status) } " " (response["description"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            h2 { "Signing requests" }
            pre.guide { (GUIDE) }
        },
    ))
}
