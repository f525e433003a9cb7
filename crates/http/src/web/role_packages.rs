//! System > Role Packages: the built-ins (read-only) and custom packages composed from the
//! permission catalogue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::{AppError, role_packages};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Permission, can};
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame, operations, rules_box};

pub async fn list(State(state): State<AppState>, web: Web) -> PageResult {
    let packages = role_packages::list(&state.app, &web.authorize::<can::UsersRead>()?).await?;
    let base = &web.base;
    let body = html! {
        div.titlebar {
            h1 { "Role Packages" }
            @if web.principal().permissions.contains(Permission::RolePackagesWrite) {
                (operations(html! { li { a #op-create href={ (base) "/system/role-packages/new" } { "Create" } } }))
            }
        }
        table.list #role-packages {
            thead { tr { th { "Name" } th { "Kind" } th { "Description" } th { "Permissions" } th { "Users" } } }
            tbody {
                @for p in &packages {
                    tr {
                        td { a href={ (base) "/system/role-packages/" (p.id.0) } { (p.name) } }
                        td { @if p.builtin.is_some() { "Built-in" } @else { "Custom" } }
                        td { (p.description) }
                        td { (p.permissions.iter().count()) }
                        td { (p.users) }
                    }
                }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Role Packages", body)))
}

pub async fn show(State(state): State<AppState>, web: Web, Path((_, id)): Path<(String, i64)>) -> PageResult {
    let packages = role_packages::list(&state.app, &web.authorize::<can::UsersRead>()?).await?;
    let package = packages.iter().find(|p| p.id.0 == id).ok_or(PageError::NotFound)?;
    let body = html! {
        h1 { (package.name) }
        p { @if package.builtin.is_some() { "Built-in package: its permissions come with Caretaker." } @else { "Custom package." } }
        p { (package.description) }
        table.list #permissions {
            thead { tr { th { "Permission" } th { "Allows" } } }
            tbody { @for permission in package.permissions.iter() { tr { td { code { (permission.as_str()) } } td { (permission.description()) } } } }
        }
        p { a href={ (web.base) "/system/role-packages" } { "Back to Role Packages" } }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), &package.name, body)))
}

fn form_page(web: &Web, fields: &Fields, rules: &[BrokenRule]) -> Markup {
    let chosen = fields.all("permission");
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Create Role Package" }
            (rules_box(rules))
            form.card method="post" action={ (web.base) "/system/role-packages/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                label for="name" { "Name" }
                input #name name="name" value=(fields.get("name")) required maxlength="100";
                label for="description" { "Description" }
                input #description name="description" value=(fields.get("description")) maxlength="500";
                fieldset.permissions {
                    legend { "Permissions" }
                    @for permission in Permission::ALL.iter().filter(|p| **p != Permission::RestApiUse) {
                        label.inline {
                            input type="checkbox" name="permission" value=(permission.as_str())
                                checked[chosen.iter().any(|c| c == permission.as_str())];
                            " " code { (permission.as_str()) } " " span.muted { (permission.description()) }
                        }
                    }
                }
                div.actions { button #save type="submit" { "Save" } a href={ (web.base) "/system/role-packages" } { "Cancel" } }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Create Role Package", body)
}

pub async fn new_page(web: Web) -> PageResult {
    web.authorize::<can::RolePackagesWrite>()?;
    Ok(Page::ok(form_page(&web, &Fields::default(), &[])))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    if let Err(err) = web.check_csrf(&fields) {
        return err.into_response();
    }
    let can_write = match web.authorize::<can::RolePackagesWrite>() {
        Ok(proof) => proof,
        Err(err) => return err.into_response(),
    };
    let permissions = fields.all("permission");
    match role_packages::create_custom(
        &state.app,
        &can_write,
        fields.get("name"),
        fields.get("description"),
        &permissions,
    )
    .await
    {
        Ok(id) => Redirect::to(&format!("{}/system/role-packages/{}", web.base, id.0)).into_response(),
        Err(AppError::Invalid(rules)) => {
            Page { status: StatusCode::BAD_REQUEST, markup: form_page(&web, &fields, rules.rules()) }.into_response()
        }
        Err(AppError::Conflict(rules)) => {
            Page { status: StatusCode::CONFLICT, markup: form_page(&web, &fields, rules.rules()) }.into_response()
        }
        Err(other) => PageError::from(other).into_response(),
    }
}
