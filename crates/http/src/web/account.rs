//! Account Settings (the person icon): Profile, Password, and, for users holding the
//! REST API package, API (the API Token and API Secret Key).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::AppError;
use caretaker_app::auth;
use caretaker_domain::BrokenRule;
use maud::{Markup, html};
use secrecy::SecretString;

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, frame, rules_box};

pub(crate) fn tabs(web: &Web, active: &str) -> Markup {
    let base = &web.base;
    let api = web.principal().permissions.contains(caretaker_domain::access::Permission::RestApiUse);
    html! {
        nav.tabs aria-label="Account Settings" {
            a.tab.active[active == "profile"] href={ (base) "/account" } aria-current=[(active == "profile").then_some("page")] { "Profile" }
            a.tab.active[active == "password"] href={ (base) "/account/password" } aria-current=[(active == "password").then_some("page")] { "Password" }
            @if api {
                a.tab.active[active == "api"] #tab-api href={ (base) "/account/api" } aria-current=[(active == "api").then_some("page")] { "API" }
            }
        }
    }
}

fn profile_page(web: &Web, name: &str, rules: &[BrokenRule], saved: bool) -> Markup {
    let principal = web.principal();
    frame(
        principal,
        web.csrf(),
        "Account Settings",
        html! {
            h1 { "Account Settings" }
            (tabs(web, "profile"))
            @if saved { p.notice role="status" { "Saved." } }
            (rules_box(rules))
            form.card method="post" action={ (web.base) "/account" } {
                input type="hidden" name="csrf" value=(web.csrf());
                label for="name" { "Name" }
                input #name name="name" value=(name) required maxlength="200";
                label { "E-mail" }
                p { (principal.email) }
                label { "User type" }
                p { (principal.user_type) }
                label { "Role packages" }
                p { (principal.role_packages.join(", ")) }
                button type="submit" { "Save" }
            }
        },
    )
}

pub async fn profile(web: Web) -> Page {
    let name = web.principal().name.clone();
    Page::ok(profile_page(&web, &name, &[], false))
}

pub async fn update_profile(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Page, PageError> {
    web.check_csrf(&fields)?;
    match auth::update_profile(&state.app, &web.session, fields.get("name")).await {
        Ok(()) => Ok(Page::ok(profile_page(&web, fields.get("name").trim(), &[], true))),
        Err(AppError::Invalid(rules)) => Ok(Page {
            status: StatusCode::BAD_REQUEST,
            markup: profile_page(&web, fields.get("name"), rules.rules(), false),
        }),
        Err(other) => Err(other.into()),
    }
}

fn password_page(web: &Web, rules: &[BrokenRule]) -> Markup {
    frame(
        web.principal(),
        web.csrf(),
        "Password",
        html! {
            h1 { "Account Settings" }
            (tabs(web, "password"))
            @if web.principal().must_change_password {
                p.notice role="status" { "Choose a new password before you continue." }
            }
            (rules_box(rules))
            form.card method="post" action={ (web.base) "/account/password" } {
                input type="hidden" name="csrf" value=(web.csrf());
                label for="current" { "Current password" }
                input #current type="password" name="current" required autocomplete="current-password";
                label for="password" { "New password (at least 12 characters)" }
                input #password type="password" name="password" required minlength="12" autocomplete="new-password";
                label for="confirm" { "Confirm the new password" }
                input #confirm type="password" name="confirm" required minlength="12" autocomplete="new-password";
                button type="submit" { "Change password" }
            }
        },
    )
}

pub async fn password(web: Web) -> Page {
    Page::ok(password_page(&web, &[]))
}

pub async fn change_password(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    if let Err(err) = web.check_csrf(&fields) {
        return err.into_response();
    }
    let secret = |name: &str| SecretString::from(fields.get(name).to_owned());
    match auth::change_password(&state.app, &web.session, secret("current"), secret("password"), secret("confirm"))
        .await
    {
        Ok(()) => Redirect::to(&format!("{}/", web.base)).into_response(),
        Err(AppError::Invalid(rules)) => {
            Page { status: StatusCode::BAD_REQUEST, markup: password_page(&web, rules.rules()) }.into_response()
        }
        Err(other) => PageError::from(other).into_response(),
    }
}
