//! The web application for people: server-rendered pages, a little plain JavaScript, and
//! assets embedded in the binary. Every page checks its permission on the server (through
//! `Web::authorize`), whatever the menus show.

pub(crate) mod account;
mod api_credentials;
pub(crate) mod api_tab;
mod assets;
mod audit;
mod companies;
pub mod context;
mod contractors;
mod custom_fields;
mod form;
mod inputs;
mod outbound;
pub(crate) mod page;
mod reference_data;
mod role_packages;
mod settings;
mod sign_in;
mod sites;
mod tasks;
mod users;
mod workflows;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    let t = |path: &str| format!("/t/{{tenant}}{path}");
    Router::new()
        .route("/", get(sign_in::landing))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route(&t("/sign-in"), get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route(&t("/sign-out"), axum::routing::post(sign_in::sign_out))
        .route(&t("/set-password/{token}"), get(sign_in::set_password_page).post(sign_in::set_password))
        .route(&t("/"), get(sign_in::home))
        .route(&t(""), get(sign_in::home))
        .route(&t("/account"), get(account::profile).post(account::update_profile))
        .route(&t("/account/password"), get(account::password).post(account::change_password))
        .route(&t("/account/api"), get(api_tab::show))
        .route(&t("/account/api/generate"), axum::routing::post(api_tab::generate))
        .route(&t("/account/api/rotate-token"), axum::routing::post(api_tab::rotate_token))
        .route(&t("/account/api/rotate-secret"), axum::routing::post(api_tab::rotate_secret))
        .route(&t("/account/api/revoke"), axum::routing::post(api_tab::revoke))
        .route(&t("/account/api/outbound"), get(outbound::show).post(outbound::save))
        .route(&t("/account/api/outbound/deliveries/{id}/resend"), axum::routing::post(outbound::resend_own))
        .route(&t("/system/outbound"), get(outbound::admin))
        .route(&t("/system/outbound/deliveries/{id}/resend"), axum::routing::post(outbound::resend_any))
        .route(&t("/system/api-credentials"), get(api_credentials::report))
        .route(&t("/system/api-credentials/{user}/revoke"), axum::routing::post(api_credentials::revoke))
        .route(&t("/system/users"), get(users::list))
        .route(&t("/system/users/operations"), axum::routing::post(users::operations_post))
        .route(&t("/system/users/new"), get(users::new_page).post(users::create))
        .route(&t("/system/users/{id}"), get(users::edit_page).post(users::update))
        .route(&t("/system/role-packages"), get(role_packages::list))
        .route(&t("/system/role-packages/new"), get(role_packages::new_page).post(role_packages::create))
        .route(&t("/system/role-packages/{id}"), get(role_packages::show))
        .route(&t("/system/audit-log"), get(audit::list))
        .route(&t("/system/settings"), get(settings::show).post(settings::save))
        .route(&t("/system/settings/outbound"), axum::routing::post(settings::save_outbound))
        .route(&t("/system/matrices"), get(reference_data::matrices).post(reference_data::add_matrix_item))
        .route(
            &t("/system/reference-lists"),
            get(reference_data::reference_lists).post(reference_data::add_reference_value),
        )
        .route(&t("/system/custom-fields"), get(custom_fields::list))
        .route(&t("/system/custom-fields/new"), get(custom_fields::new_page).post(custom_fields::create))
        .route(&t("/system/workflows"), get(workflows::list))
        .route(&t("/system/workflows/{id}"), get(workflows::show).post(workflows::save))
        .route(&t("/system/workflows/{id}/statuses"), axum::routing::post(workflows::add_status))
        .route(&t("/system/service-levels"), get(workflows::levels).post(workflows::add_level))
        .route(&t("/system/service-levels/{id}"), axum::routing::post(workflows::edit_level))
        .route(&t("/system/dispatch-rules"), get(workflows::rules).post(workflows::add_rule))
        .route(&t("/system/dispatch-rules/{id}/remove"), axum::routing::post(workflows::remove_rule))
        .route(&t("/manage/tasks"), get(tasks::list))
        .route(&t("/manage/tasks/new"), get(tasks::new_page).post(tasks::create))
        .route(&t("/tasks/{reference}"), get(tasks::show))
        .route(&t("/tasks/{reference}/status"), axum::routing::post(tasks::change_status))
        .route(&t("/tasks/{reference}/notes"), axum::routing::post(tasks::add_note))
        .route(&t("/tasks/{reference}/chase"), axum::routing::post(tasks::chase))
        .route(&t("/tasks/{reference}/dispatch"), axum::routing::post(tasks::dispatch))
        .route(&t("/manage/sites"), get(sites::list))
        .route(&t("/manage/sites/new"), get(sites::new_page).post(sites::create))
        .route(&t("/manage/sites/{code}"), get(sites::show))
        .route(&t("/manage/sites/{code}/edit"), get(sites::edit_page).post(sites::update))
        .route(&t("/manage/sites/{code}/notes"), axum::routing::post(sites::add_note))
        .route(&t("/manage/assets"), get(assets::list))
        .route(&t("/manage/assets/new"), get(assets::new_page).post(assets::create))
        .route(&t("/manage/assets/{id}"), get(assets::show))
        .route(&t("/manage/companies"), get(companies::list))
        .route(&t("/manage/companies/new"), get(companies::new_page).post(companies::create))
        .route(&t("/manage/companies/{id}"), get(companies::show))
        .route(&t("/manage/companies/{id}/models"), axum::routing::post(companies::add_model))
        .route(&t("/manage/contractors"), get(contractors::list))
        .route(&t("/manage/contractors/new"), get(contractors::new_page).post(contractors::create))
        .route(&t("/manage/contractors/{id}"), get(contractors::show))
        .route(
            &t("/manage/contractors/{id}/users/new"),
            get(users::new_contractor_user_page).post(users::create_contractor_user),
        )
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../assets/app.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../assets/app.js"),
    )
}
