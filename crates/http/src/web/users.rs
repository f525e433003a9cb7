//! System > Users: the list with its Operations menu, and the Create/Edit User window with
//! its Details, Security (role packages, two columns) and Site Access tabs.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::users::{self, UserInput};
use caretaker_app::{AppError, contractors, role_packages};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_domain::contractor::ContractorId;
use caretaker_domain::user::{SiteGrants, UserId, UserStatus, UserType};
use caretaker_storage::contractors::Contractor;
use caretaker_storage::role_packages::RolePackage;
use caretaker_storage::users::{User, UserFilter};
use caretaker_storage::visibility;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame, operations, rules_box};

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    user_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    integration: String,
    #[serde(default)]
    done: String,
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    let can_read = web.authorize::<can::UsersRead>()?;
    let filter = UserFilter {
        search: Some(query.q.trim().to_owned()).filter(|q| !q.is_empty()),
        user_type: query.user_type.parse().ok(),
        status: query.status.parse().ok(),
        contractor: None,
        integration_only: query.integration == "on",
    };
    let found = users::list(&state.app, &can_read, &filter).await?;
    let can_write = web.principal().permissions.contains(Permission::UsersWrite);
    let base = &web.base;
    let body = html! {
        div.titlebar {
            h1 { "Users" }
            @if can_write {
                (operations(html! {
                    li { a #op-create href={ (base) "/system/users/new" } { "Create" } }
                    li { button.link form="user-rows" type="submit" name="action" value="disable" { "Disable" } }
                    li { button.link form="user-rows" type="submit" name="action" value="enable" { "Enable" } }
                    li { button.link form="user-rows" type="submit" name="action" value="reset" { "Reset password" } }
                }))
            }
        }
        @if !query.done.is_empty() { p.notice role="status" { "Done: " (query.done) "." } }
        form.filters method="get" action={ (base) "/system/users" } role="search" {
            input name="q" value=(query.q) placeholder="Search e-mail or name" aria-label="Search";
            select name="type" aria-label="User type" {
                option value="" { "All types" }
                @for t in UserType::ALL { option value=(t.as_str()) selected[query.user_type == t.as_str()] { (t) } }
            }
            select name="status" aria-label="Status" {
                option value="" { "All statuses" }
                @for s in [UserStatus::Invited, UserStatus::Active, UserStatus::Disabled] {
                    option value=(s.as_str()) selected[query.status == s.as_str()] { (s.as_str()) }
                }
            }
            label.inline { input type="checkbox" name="integration" checked[query.integration == "on"]; " Integration accounts only" }
            button type="submit" { "Filter" }
        }
        (user_table(&web, &found, can_write))
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Users", body)))
}

/// The users table, inside the form the Operations menu submits.
fn user_table(web: &Web, rows: &[User], selectable: bool) -> Markup {
    let base = &web.base;
    html! {
        form #user-rows method="post" action={ (base) "/system/users/operations" } {
            input type="hidden" name="csrf" value=(web.csrf());
            table.list #users {
                thead { tr {
                    @if selectable { th { span.sr { "Select" } } }
                    th { "E-mail" } th { "Name" } th { "Type" } th { "Contractor" } th { "Status" } th { "Role packages" }
                } }
                tbody {
                    @for user in rows {
                        tr data-email=(user.email) {
                            @if selectable {
                                td { input type="checkbox" name="user" value=(user.id.0) aria-label={ "Select " (user.email) }; }
                            }
                            td {
                                a href={ (base) "/system/users/" (user.id.0) } { (user.email) }
                                @if user.is_integration { " " span.badge title="Integration account" { "API" } }
                            }
                            td { (user.name) }
                            td { (user.user_type) }
                            td { (user.contractor_code.as_deref().unwrap_or("")) }
                            td { span class={ "status " (user.status.as_str().to_lowercase()) } { (user.status.as_str()) } }
                            td.packages { (user.role_packages.join(", ")) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="7" { "No users match." } } }
                }
            }
        }
    }
}

pub async fn operations_post(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    match run_operation(&state, &web, &fields).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn run_operation(state: &AppState, web: &Web, fields: &Fields) -> Result<Response, PageError> {
    web.check_csrf(fields)?;
    let can_write = web.authorize::<can::UsersWrite>()?;
    let mut ids = Vec::new();
    for value in fields.all("user") {
        ids.push(UserId(value.parse().map_err(|_| PageError::BadRequest("Unknown user".into()))?));
    }
    if ids.is_empty() {
        return Ok(Redirect::to(&format!("{}/system/users?done=nothing+selected", web.base)).into_response());
    }
    let outcome = match fields.get("action") {
        "disable" => users::set_status(&state.app, &can_write, &ids, UserStatus::Disabled).await.map(|()| "disabled"),
        "enable" => users::set_status(&state.app, &can_write, &ids, UserStatus::Active).await.map(|()| "enabled"),
        "reset" => {
            // All or none: an unknown id, another tenant's, or one beyond the caller's
            // rights leaves every earlier link in place.
            let links: Vec<(String, String)> = users::reset_passwords(&state.app, &can_write, &ids)
                .await?
                .into_iter()
                .map(|(email, token)| (email, set_password_url(state, &web.base, &token)))
                .collect();
            let body = html! {
                h1 { "Set-password links" }
                p { "Give each person their link. It works once, for " (users::SET_PASSWORD_LINK_DAYS) " days; it is not shown again." }
                table.list { tbody { @for (email, link) in &links { tr { td { (email) } td { code.link-out { (link) } } } } } }
                p { a href={ (web.base) "/system/users" } { "Back to Users" } }
            };
            return Ok(Page::ok(frame(web.principal(), web.csrf(), "Set-password links", body)).into_response());
        }
        _ => return Err(PageError::BadRequest("Unknown operation".into())),
    };
    match outcome {
        Ok(done) => Ok(Redirect::to(&format!("{}/system/users?done={done}", web.base)).into_response()),
        Err(err) => {
            let Some(rules) = users::rules(&err) else {
                return Err(err.into());
            };
            // The same statuses as the window's: 400 invalid, 409 conflict, 403 refused.
            let status = status_of(&err);
            let body = html! {
                h1 { "Users" }
                (rules_box(rules.rules()))
                p { a href={ (web.base) "/system/users" } { "Back to Users" } }
            };
            Ok(Page { status, markup: frame(web.principal(), web.csrf(), "Users", body) }.into_response())
        }
    }
}

/// The link a new user sets their password with.
fn set_password_url(state: &AppState, base: &str, token: &str) -> String {
    let origin = state.public_base_url.as_deref().unwrap_or("").trim_end_matches('/');
    format!("{origin}{base}/set-password/{token}")
}

/// What the window shows in its fields.
#[derive(Debug, Default, Clone)]
struct Values {
    email: String,
    name: String,
    user_type: String,
    contractor: String,
    is_integration: bool,
    /// `none`, `all` or `some` (the chosen sites, areas and channels below).
    site_access: String,
    site_codes: String,
    area_codes: String,
    channel_codes: String,
    selected: Vec<String>,
}

/// Comma-separated codes, each with `prefix` (`area:`) unless it carries a kind already.
fn prefixed(codes: &str, prefix: &str) -> impl Iterator<Item = String> {
    codes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(move |c| if c.contains(':') || prefix.is_empty() { c.to_owned() } else { format!("{prefix}{c}") })
}

impl Values {
    fn from_fields(fields: &Fields) -> Self {
        Values {
            email: fields.get("email").to_owned(),
            name: fields.get("name").to_owned(),
            user_type: fields.get("user_type").to_owned(),
            contractor: fields.get("contractor").to_owned(),
            is_integration: fields.checked("is_integration"),
            site_access: fields.get("site_access").to_owned(),
            site_codes: fields.get("site_codes").to_owned(),
            area_codes: fields.get("area_codes").to_owned(),
            channel_codes: fields.get("channel_codes").to_owned(),
            selected: fields.all("role_packages"),
        }
    }

    /// A stored user's values; `grants` are the explicit sites, areas and channels of a
    /// user whose access is `some`.
    fn from_user(user: &User, grants: Option<&SiteGrants>) -> Self {
        let join = |codes: Option<&Vec<String>>| codes.map(|c| c.join(", ")).unwrap_or_default();
        Values {
            email: user.email.clone(),
            name: user.name.clone(),
            user_type: user.user_type.as_str().to_owned(),
            contractor: user.contractor_code.clone().unwrap_or_default(),
            is_integration: user.is_integration,
            site_access: user.site_access.clone(),
            site_codes: join(grants.map(|g| &g.sites)),
            area_codes: join(grants.map(|g| &g.areas)),
            channel_codes: join(grants.map(|g| &g.channels)),
            selected: user.role_packages.clone(),
        }
    }

    /// The `site_access` text of [`UserInput`]: `none`, `all`, or the chosen codes as
    /// `S1, area:01, channel:02`.
    fn site_access_text(&self) -> String {
        match self.site_access.as_str() {
            // `sites` is what the tab posted before areas and channels could be chosen.
            "some" | "sites" => {
                let chosen: Vec<String> = prefixed(&self.site_codes, "")
                    .chain(prefixed(&self.area_codes, "area:"))
                    .chain(prefixed(&self.channel_codes, "channel:"))
                    .collect();
                // "Chosen" with nothing chosen is refused by the use case, not saved as None.
                if chosen.is_empty() { String::from("some") } else { chosen.join(", ") }
            }
            other => other.to_owned(),
        }
    }

    fn to_input(&self) -> UserInput {
        UserInput {
            email: self.email.clone(),
            name: self.name.clone(),
            user_type: self.user_type.clone(),
            contractor: Some(self.contractor.clone()).filter(|c| !c.trim().is_empty()),
            role_packages: self.selected.clone(),
            site_access: self.site_access_text(),
            is_integration: self.is_integration,
            password: None,
        }
    }
}

/// The Create/Edit User window.
struct Window<'a> {
    title: &'a str,
    action: String,
    cancel: String,
    values: Values,
    packages: &'a [RolePackage],
    contractors: &'a [Contractor],
    /// Creating a Contractor user from a contractor's Users tab: type and contractor fixed.
    fixed_contractor: Option<&'a Contractor>,
    editing: bool,
    rules: &'a [BrokenRule],
    /// Shown under the window (the user's API credentials, for administrators).
    below: Option<Markup>,
}

fn window(web: &Web, w: &Window<'_>) -> Markup {
    let v = &w.values;
    let available: Vec<&RolePackage> = w.packages.iter().filter(|p| !v.selected.contains(&p.name)).collect();
    let selected: Vec<&RolePackage> = w.packages.iter().filter(|p| v.selected.contains(&p.name)).collect();
    let site_access = if v.site_access.is_empty() { "none" } else { v.site_access.as_str() };
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { (w.title) }
            (rules_box(w.rules))
            form #user-window method="post" action=(w.action) {
                input type="hidden" name="csrf" value=(web.csrf());
                div.tablist role="tablist" aria-label="User" {
                    button.tab #tab-details type="button" role="tab" aria-controls="panel-details" aria-selected="true" { "Details" }
                    button.tab #tab-security type="button" role="tab" aria-controls="panel-security" aria-selected="false" { "Security" }
                    button.tab #tab-site-access type="button" role="tab" aria-controls="panel-site-access" aria-selected="false" { "Site Access" }
                }
                section.panel #panel-details role="tabpanel" aria-labelledby="tab-details" {
                    label for="name" { "Name" }
                    input #name name="name" value=(v.name) required maxlength="200";
                    label for="email" { "E-mail" }
                    input #email type="email" name="email" value=(v.email) required maxlength="254";
                    @if let Some(contractor) = w.fixed_contractor {
                        input type="hidden" name="user_type" value="Contractor";
                        input type="hidden" name="contractor" value=(contractor.code);
                        label { "Type" } p #fixed-type { "Contractor" }
                        label { "Contractor" } p #fixed-contractor { (contractor.name) " (" (contractor.code) ")" }
                    } @else if w.editing {
                        input type="hidden" name="user_type" value=(v.user_type);
                        input type="hidden" name="contractor" value=(v.contractor);
                        label { "Type" } p { (v.user_type) }
                        @if !v.contractor.is_empty() { label { "Contractor" } p { (v.contractor) } }
                    } @else {
                        label for="user_type" { "Type" }
                        select #user_type name="user_type" {
                            @for t in UserType::ALL {
                                option value=(t.as_str()) selected[v.user_type.eq_ignore_ascii_case(t.as_str())] { (t) }
                            }
                        }
                        div #contractor-field {
                            label for="contractor" { "Contractor (Contractor users)" }
                            select #contractor name="contractor" {
                                option value="" { "(none)" }
                                @for c in w.contractors {
                                    option value=(c.code) selected[v.contractor.eq_ignore_ascii_case(&c.code)] { (c.name) " (" (c.code) ")" }
                                }
                            }
                        }
                    }
                    label.inline {
                        input #is_integration type="checkbox" name="is_integration" checked[v.is_integration];
                        " Integration account (used by a program, not a person)"
                    }
                }
                section.panel #panel-security role="tabpanel" aria-labelledby="tab-security" {
                    fieldset.picker {
                        legend { "Role Packages" }
                        div.column {
                            label for="available" { "Available" }
                            select #available multiple size="9" {
                                @for p in &available { option value=(p.name) title=(p.description) { (p.name) } }
                            }
                        }
                        div.picker-buttons {
                            button #move-add type="button" data-move="add" title="Move to Selected" aria-label="Move the chosen packages to Selected" { "›" }
                            button #move-add-all type="button" data-move="add-all" title="Move all to Selected" aria-label="Move all packages to Selected" { "»" }
                            button #move-remove type="button" data-move="remove" title="Move back to Available" aria-label="Move the chosen packages back to Available" { "‹" }
                            button #move-remove-all type="button" data-move="remove-all" title="Move all back to Available" aria-label="Move all packages back to Available" { "«" }
                        }
                        div.column {
                            label for="selected" { "Selected" }
                            select #selected name="role_packages" multiple size="9" {
                                @for p in &selected { option value=(p.name) title=(p.description) selected { (p.name) } }
                            }
                        }
                    }
                    p.muted { "Integrations need REST API and, usually, Management User. Grant only what the integration needs." }
                }
                section.panel #panel-site-access role="tabpanel" aria-labelledby="tab-site-access" {
                    fieldset #site-access {
                        legend { "Sites this user may see (Management and Site users)" }
                        label.inline { input #site_access_none type="radio" name="site_access" value="none" checked[site_access == "none"]; " None" }
                        label.inline { input #site_access_all type="radio" name="site_access" value="all" checked[site_access == "all"]; " All sites" }
                        label.inline { input #site_access_some type="radio" name="site_access" value="some" checked[site_access == "some" || site_access == "sites"]; " Chosen:" }
                        label for="site_codes" { "Sites (each with the sites under it)" }
                        input #site_codes name="site_codes" value=(v.site_codes) placeholder="Site codes, comma-separated";
                        label for="area_codes" { "Geographic areas" }
                        input #area_codes name="area_codes" value=(v.area_codes) placeholder="Geographic area codes, comma-separated";
                        label for="channel_codes" { "Site channels" }
                        input #channel_codes name="channel_codes" value=(v.channel_codes) placeholder="Site channel codes, comma-separated";
                        p.muted { "Chosen codes count only when Chosen is selected. Everyone also sees the tasks they raised; Contractor users see their contractor's tasks." }
                    }
                }
                div.actions {
                    button #save type="submit" { "Save" }
                    a href=(w.cancel) { "Cancel" }
                }
            }
        }
    };
    let body = html! { (body) @if let Some(below) = &w.below { (below) } };
    frame(web.principal(), web.csrf(), w.title, body)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewQuery {
    #[serde(default, rename = "type")]
    user_type: String,
}

async fn window_data(state: &AppState, web: &Web) -> Result<(Vec<RolePackage>, Vec<Contractor>), PageError> {
    let packages = role_packages::list(&state.app, &web.authorize::<can::UsersRead>()?).await?;
    let contractors = match web.principal().authorize::<can::ContractorsRead>() {
        Some(can_read) => contractors::list(&state.app, &can_read, None).await?,
        None => Vec::new(),
    };
    Ok((packages, contractors))
}

pub async fn new_page(State(state): State<AppState>, web: Web, Query(query): Query<NewQuery>) -> PageResult {
    web.authorize::<can::UsersWrite>()?;
    let (packages, contractors) = window_data(&state, &web).await?;
    let values = Values { user_type: query.user_type, ..Values::default() };
    Ok(Page::ok(window(
        &web,
        &Window {
            title: "Create User",
            action: format!("{}/system/users/new", web.base),
            cancel: format!("{}/system/users", web.base),
            values,
            packages: &packages,
            contractors: &contractors,
            fixed_contractor: None,
            editing: false,
            rules: &[],
            below: None,
        },
    )))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> PageResult {
    create_in(&state, &web, &fields, None).await
}

/// Creates from the window; on refusal shows it again with the rules and what was typed.
async fn create_in(state: &AppState, web: &Web, fields: &Fields, fixed: Option<&Contractor>) -> PageResult {
    web.check_csrf(fields)?;
    let can_write = web.authorize::<can::UsersWrite>()?;
    let mut values = Values::from_fields(fields);
    if let Some(contractor) = fixed {
        values.user_type = String::from("Contractor");
        values.contractor = contractor.code.clone();
    }
    match users::create(&state.app, &can_write, values.to_input()).await {
        Ok(created) => {
            let link = created.set_password_token.as_deref().map(|t| set_password_url(state, &web.base, t));
            let body = html! {
                h1 { "User created" }
                p #created { (values.email) " was created with " (values.selected.join(", ")) "." }
                @if let Some(link) = link {
                    p { "Give them this set-password link. It works once, for " (users::SET_PASSWORD_LINK_DAYS) " days, and is not shown again:" }
                    p { code.link-out #set-password-link { (link) } }
                    @if created.emailed { p #emailed { "It was also e-mailed to " (values.email) "." } }
                }
                p {
                    a #back-to-users href={ (web.base) "/system/users" } { "Back to Users" }
                    @if let Some(contractor) = fixed {
                        " · " a #back-to-contractor href={ (web.base) "/manage/contractors/" (contractor.id.0) "?tab=users" } { "Back to " (contractor.name) }
                    }
                }
            };
            Ok(Page { status: StatusCode::CREATED, markup: frame(web.principal(), web.csrf(), "User created", body) })
        }
        Err(err) => {
            let Some(rules) = users::rules(&err) else {
                return Err(err.into());
            };
            let status = status_of(&err);
            let (packages, contractors) = window_data(state, web).await?;
            let (action, cancel) = match fixed {
                Some(c) => (
                    format!("{}/manage/contractors/{}/users/new", web.base, c.id.0),
                    format!("{}/manage/contractors/{}?tab=users", web.base, c.id.0),
                ),
                None => (format!("{}/system/users/new", web.base), format!("{}/system/users", web.base)),
            };
            Ok(Page {
                status,
                markup: window(
                    web,
                    &Window {
                        title: "Create User",
                        action,
                        cancel,
                        values,
                        packages: &packages,
                        contractors: &contractors,
                        fixed_contractor: fixed,
                        editing: false,
                        rules: rules.rules(),
                        below: None,
                    },
                ),
            })
        }
    }
}

fn status_of(err: &AppError) -> StatusCode {
    match err {
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub async fn edit_page(State(state): State<AppState>, web: Web, Path((_, id)): Path<(String, i64)>) -> PageResult {
    let can_read = web.authorize::<can::UsersRead>()?;
    let user = users::get(&state.app, &can_read, UserId(id)).await?;
    let editable = web.principal().permissions.contains(Permission::UsersWrite);
    if !editable {
        return Ok(Page::ok(frame(
            web.principal(),
            web.csrf(),
            &user.email,
            html! {
                h1 { (user.email) }
                p { (user.name) " · " (user.user_type) " · " (user.status.as_str()) }
                p { "Role packages: " (user.role_packages.join(", ")) }
            },
        )));
    }
    let (packages, contractors) = window_data(&state, &web).await?;
    let below = credentials_card(&state, &web, user.id).await?;
    let grants = if user.site_access == "some" {
        Some(visibility::grants(state.app.db.read(), user.id).await.map_err(AppError::from)?)
    } else {
        None
    };
    Ok(Page::ok(window(
        &web,
        &Window {
            title: "Edit User",
            action: format!("{}/system/users/{}", web.base, id),
            cancel: format!("{}/system/users", web.base),
            values: Values::from_user(&user, grants.as_ref()),
            packages: &packages,
            contractors: &contractors,
            fixed_contractor: None,
            editing: true,
            rules: &[],
            below,
        },
    )))
}

pub async fn update(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Response {
    match update_inner(&state, &web, UserId(id), &fields).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn update_inner(state: &AppState, web: &Web, id: UserId, fields: &Fields) -> Result<Response, PageError> {
    web.check_csrf(fields)?;
    let can_write = web.authorize::<can::UsersWrite>()?;
    let values = Values::from_fields(fields);
    match users::update(&state.app, &can_write, id, values.to_input()).await {
        Ok(()) => Ok(Redirect::to(&format!("{}/system/users?done=saved", web.base)).into_response()),
        Err(err) => {
            let Some(rules) = users::rules(&err) else {
                return Err(err.into());
            };
            let (packages, contractors) = window_data(state, web).await?;
            Ok(Page {
                status: status_of(&err),
                markup: window(
                    web,
                    &Window {
                        title: "Edit User",
                        action: format!("{}/system/users/{}", web.base, id.0),
                        cancel: format!("{}/system/users", web.base),
                        values,
                        packages: &packages,
                        contractors: &contractors,
                        fixed_contractor: None,
                        editing: true,
                        rules: rules.rules(),
                        below: None,
                    },
                ),
            }
            .into_response())
        }
    }
}

/// Manage > Contractors > a contractor > Users > Operations > Create.
pub async fn new_contractor_user_page(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
) -> PageResult {
    web.authorize::<can::UsersWrite>()?;
    let contractor = contractors::get(&state.app, &web.authorize::<can::ContractorsRead>()?, ContractorId(id)).await?;
    let (packages, contractors) = window_data(&state, &web).await?;
    Ok(Page::ok(window(
        &web,
        &Window {
            title: "Create User",
            action: format!("{}/manage/contractors/{}/users/new", web.base, id),
            cancel: format!("{}/manage/contractors/{}?tab=users", web.base, id),
            values: Values {
                user_type: String::from("Contractor"),
                contractor: contractor.code.clone(),
                ..Values::default()
            },
            packages: &packages,
            contractors: &contractors,
            fixed_contractor: Some(&contractor),
            editing: false,
            rules: &[],
            below: None,
        },
    )))
}

pub async fn create_contractor_user(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> PageResult {
    let contractor = contractors::get(&state.app, &web.authorize::<can::ContractorsRead>()?, ContractorId(id)).await?;
    create_in(&state, &web, &fields, Some(&contractor)).await
}

/// The user's API credentials (token, ages, last use) with Revoke, for those who administer
/// credentials.
async fn credentials_card(state: &AppState, web: &Web, user: UserId) -> Result<Option<Markup>, PageError> {
    let Some(proof) = web.principal().authorize::<can::ApiCredentialsAdminister>() else { return Ok(None) };
    let view = caretaker_app::credentials::view_of_user(&state.app, &proof, user).await?;
    let base = &web.base;
    Ok(Some(html! {
        section.card #user-credentials {
            h2 { "API credentials" }
            @match &view {
                Some(view) => {
                    (crate::web::api_tab::credential_facts(view))
                    @if view.credential.revoked_at.is_none() {
                        form method="post" action={ (base) "/system/api-credentials/" (user.0) "/revoke" } {
                            input type="hidden" name="csrf" value=(web.csrf());
                            button.danger #revoke-credentials type="submit" { "Revoke" }
                        }
                    }
                }
                None => { p { "None: the user generates them in Account Settings > API." } }
            }
        }
    }))
}
