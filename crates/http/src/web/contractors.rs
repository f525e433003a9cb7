//! Manage > Contractors: the list, Operations > Create, and a contractor's page with its
//! Details and Users tabs.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::{AppError, users};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_domain::contractor::ContractorId;
use caretaker_storage::users::UserFilter;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame, operations, rules_box};

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    let can_read = web.authorize::<can::ContractorsRead>()?;
    let search = Some(query.q.trim()).filter(|q| !q.is_empty());
    let rows = contractors::list(&state.app, &can_read, search).await?;
    let base = &web.base;
    let body = html! {
        div.titlebar {
            h1 { "Contractors" }
            @if web.principal().permissions.contains(Permission::ContractorsWrite) {
                (operations(html! { li { a #op-create href={ (base) "/manage/contractors/new" } { "Create" } } }))
            }
        }
        form.filters method="get" role="search" {
            input name="q" value=(query.q) placeholder="Search code or name" aria-label="Search";
            button type="submit" { "Filter" }
        }
        table.list #contractors {
            thead { tr { th { "Code" } th { "Name" } th { "Parent" } th { "E-mail" } th { "Telephone" } } }
            tbody {
                @for c in &rows {
                    tr {
                        td { a href={ (base) "/manage/contractors/" (c.id.0) } { (c.code) } }
                        td { a href={ (base) "/manage/contractors/" (c.id.0) } { (c.name) } }
                        td { (c.parent_code.as_deref().unwrap_or("")) }
                        td { (c.email) }
                        td { (c.telephone) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="5" { "No contractors yet." } } }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Contractors", body)))
}

fn form_page(web: &Web, fields: &Fields, rules: &[BrokenRule]) -> Markup {
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Create Contractor" }
            (rules_box(rules))
            form.card method="post" action={ (web.base) "/manage/contractors/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                label for="name" { "Name" }
                input #name name="name" value=(fields.get("name")) required maxlength="200";
                label for="code" { "Code (default: the name in capitals, spaces as dashes)" }
                input #code name="code" value=(fields.get("code")) maxlength="50";
                label for="parent" { "Parent contractor's code (optional)" }
                input #parent name="parent" value=(fields.get("parent")) maxlength="50";
                label for="email" { "E-mail" }
                input #email type="email" name="email" value=(fields.get("email")) maxlength="254";
                label for="telephone" { "Telephone" }
                input #telephone name="telephone" value=(fields.get("telephone")) maxlength="50";
                div.actions { button #save type="submit" { "Save" } a href={ (web.base) "/manage/contractors" } { "Cancel" } }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Create Contractor", body)
}

pub async fn new_page(web: Web) -> PageResult {
    web.authorize::<can::ContractorsWrite>()?;
    Ok(Page::ok(form_page(&web, &Fields::default(), &[])))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    if let Err(err) = web.check_csrf(&fields) {
        return err.into_response();
    }
    let can_write = match web.authorize::<can::ContractorsWrite>() {
        Ok(proof) => proof,
        Err(err) => return err.into_response(),
    };
    let input = ContractorInput {
        name: fields.get("name").to_owned(),
        code: Some(fields.get("code").to_owned()),
        parent: Some(fields.get("parent").to_owned()),
        email: fields.get("email").to_owned(),
        telephone: fields.get("telephone").to_owned(),
    };
    match contractors::create(&state.app, &can_write, input).await {
        Ok(id) => Redirect::to(&format!("{}/manage/contractors/{}", web.base, id.0)).into_response(),
        Err(AppError::Invalid(rules)) => {
            Page { status: StatusCode::BAD_REQUEST, markup: form_page(&web, &fields, rules.rules()) }.into_response()
        }
        Err(AppError::Conflict(rules)) => {
            Page { status: StatusCode::CONFLICT, markup: form_page(&web, &fields, rules.rules()) }.into_response()
        }
        Err(other) => PageError::from(other).into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    tab: String,
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<ShowQuery>,
) -> PageResult {
    let can_read = web.authorize::<can::ContractorsRead>()?;
    let contractor = contractors::get(&state.app, &can_read, ContractorId(id)).await?;
    let users_tab = query.tab == "users";
    let base = &web.base;
    let here = format!("{base}/manage/contractors/{id}");
    let user_rows = match (users_tab, web.principal().authorize::<can::UsersRead>()) {
        (true, Some(can_users)) => {
            let filter = UserFilter { contractor: Some(contractor.id), ..UserFilter::default() };
            Some(users::list(&state.app, &can_users, &filter).await?)
        }
        _ => None,
    };
    let body = html! {
        h1 { (contractor.name) " " small { "(" (contractor.code) ")" } }
        nav.tabs aria-label="Contractor" {
            a.tab.active[!users_tab] #tab-details href=(here) aria-current=[(!users_tab).then_some("page")] { "Details" }
            a.tab.active[users_tab] #tab-users href={ (here) "?tab=users" } aria-current=[users_tab.then_some("page")] { "Users" }
        }
        @if users_tab {
            @match &user_rows {
                Some(rows) => {
                    div.titlebar {
                        h2 { "Users" }
                        @if web.principal().permissions.contains(Permission::UsersWrite) {
                            (operations(html! { li { a #op-create href={ (here) "/users/new" } { "Create" } } }))
                        }
                    }
                    table.list #users {
                        thead { tr { th { "E-mail" } th { "Name" } th { "Status" } th { "Role packages" } } }
                        tbody {
                            @for user in rows {
                                tr data-email=(user.email) {
                                    td { a href={ (base) "/system/users/" (user.id.0) } { (user.email) }
                                         @if user.is_integration { " " span.badge title="Integration account" { "API" } } }
                                    td { (user.name) }
                                    td { (user.status.as_str()) }
                                    td.packages { (user.role_packages.join(", ")) }
                                }
                            }
                            @if rows.is_empty() { tr { td colspan="4" { "No users yet." } } }
                        }
                    }
                }
                None => { p { "Your role packages do not show users." } }
            }
        } @else {
            dl.details {
                dt { "Code" } dd { (contractor.code) }
                dt { "Name" } dd { (contractor.name) }
                dt { "Parent" } dd { (contractor.parent_code.as_deref().unwrap_or("(none)")) }
                dt { "E-mail" } dd { (contractor.email) }
                dt { "Telephone" } dd { (contractor.telephone) }
                dt { "Created" } dd { (contractor.created_at) }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), &contractor.name, body)))
}
