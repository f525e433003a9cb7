//! The REST API under `/rest`: TCN authentication on every route except the OpenAPI
//! document and the docs, the Urgent `Messages` envelope for errors, PascalCase JSON.

mod assets;
mod auth;
mod common;
mod companies;
mod docs;
pub(crate) mod json;
mod me;
pub mod openapi;
mod reference;
mod sites;
mod tasks;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub use auth::Caller;

pub fn routes(state: AppState) -> Router<AppState> {
    let authenticated = Router::new()
        .route("/rest/users/{tenant}/me", get(me::me))
        .route("/rest/users/{tenant}/me/outbound", get(me::outbound).put(me::save_outbound))
        .route("/rest/matrices/{tenant}", get(reference::matrix_types))
        .route("/rest/matrices/{tenant}/{type}", get(reference::matrix_by_type))
        .route("/rest/referencelists/{tenant}/{group}", get(reference::reference_list))
        .route("/rest/customfields/{type}/{tenant}/{identifier}", get(reference::custom_fields))
        .route("/rest/sites/{tenant}", get(sites::list).post(sites::create))
        .route("/rest/sites/{tenant}/{site_code}", get(sites::read))
        .route("/rest/sites/workinghours/{tenant}", get(sites::working_hours))
        .route("/rest/companies/{tenant}", axum::routing::post(companies::create))
        .route("/rest/models/{tenant}", axum::routing::post(companies::create_model))
        .route("/rest/assets/{tenant}", get(assets::list).post(assets::create))
        .route("/rest/assets/{tenant}/{asset_id}", get(assets::read))
        .route("/rest/tasks/{tenant}", get(tasks::list).post(tasks::create))
        .route("/rest/tasks/{tenant}/{reference}", get(tasks::read))
        .route("/rest/tasks/{tenant}/{reference}/status", axum::routing::put(tasks::change_status))
        .route("/rest/tasks/{tenant}/{reference}/notes", axum::routing::post(tasks::add_note))
        .route("/rest/tasks/{tenant}/{reference}/chase", axum::routing::post(tasks::chase))
        .route("/rest/tasks/{tenant}/{reference}/dispatch", axum::routing::put(tasks::dispatch))
        .route("/rest/workflows/{tenant}/{workflow_type}", get(tasks::workflows))
        .route("/rest/workflows/{tenant}/{workflow_type}/{workflow}", get(tasks::workflow))
        .route_layer(axum::middleware::from_fn_with_state(state, auth::tcn));
    Router::new()
        .route("/rest/openapi.json", get(openapi::serve))
        .route("/rest/docs", get(docs::page))
        .merge(authenticated)
}
