//! The page frame (menus, person icon), shared bits of markup, and page errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use caretaker_app::{AppError, Principal};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::Permission;
use caretaker_domain::user::UserType;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// An HTML page as a response, with the headers every page gets.
pub struct Page {
    pub status: StatusCode,
    pub markup: Markup,
}

impl Page {
    pub fn ok(markup: Markup) -> Self {
        Self { status: StatusCode::OK, markup }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Set-password links carry their token in the path: never send it elsewhere.
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        response
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    Forbidden,
    NotFound,
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::NotFound => PageError::NotFound,
            AppError::Forbidden(_) => PageError::Forbidden,
            other => PageError::App(other),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::BadRequest(text) => (StatusCode::BAD_REQUEST, "Bad request", text),
            PageError::Forbidden => {
                (StatusCode::FORBIDDEN, "Not allowed", String::from("Your role packages do not allow this."))
            }
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found", String::from("There is nothing here.")),
            PageError::App(AppError::Unavailable(err)) => {
                tracing::warn!(error = %err, "database unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", String::from("Please try again in a moment."))
            }
            PageError::App(AppError::Internal(err)) => {
                tracing::error!(error = %err, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    String::from("Something went wrong on our side."),
                )
            }
            PageError::App(AppError::Invalid(rules) | AppError::Conflict(rules) | AppError::Forbidden(rules)) => {
                (StatusCode::BAD_REQUEST, "Not done", rules.to_string())
            }
            PageError::App(AppError::NotFound) => {
                (StatusCode::NOT_FOUND, "Not found", String::from("There is nothing here."))
            }
        };
        Page {
            status,
            markup: bare(title, html! { h1 { (title) } p { (text) } p { a href="/" { "Caretaker home" } } }),
        }
        .into_response()
    }
}

pub type PageResult = Result<Page, PageError>;

const PERSON_ICON: &str = r#"<svg aria-hidden="true" width="22" height="22" viewBox="0 0 24 24"><circle cx="12" cy="8" r="4" fill="currentColor"/><path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7" fill="currentColor"/></svg>"#;

/// A page without the application frame (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Caretaker" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body.bare { main.narrow { (body) } }
        }
    }
}

/// Where links of a tenant's pages start: `/t/{tenant}` with the name percent-encoded.
pub fn tenant_base(tenant_name: &str) -> String {
    format!("/t/{}", percent_encoding::utf8_percent_encode(tenant_name, percent_encoding::NON_ALPHANUMERIC))
}

/// Whether the System menu is shown: Management users with some administrative right or
/// who read the reference data. (Every page checks its own permission on the server too.)
pub fn sees_system_menu(principal: &Principal) -> bool {
    principal.user_type == UserType::Management
        && [
            Permission::UsersRead,
            Permission::RolePackagesWrite,
            Permission::AuditLogRead,
            Permission::ApiCredentialsAdminister,
            Permission::ReferenceDataRead,
        ]
        .iter()
        .any(|p| principal.permissions.contains(*p))
}

/// The permissions whose pages the Manage menu lists.
const MANAGE: [Permission; 5] = [
    Permission::TasksRead,
    Permission::SitesRead,
    Permission::AssetsRead,
    Permission::CompaniesRead,
    Permission::ContractorsRead,
];

/// A page inside the application frame.
pub fn frame(principal: &Principal, csrf: &str, title: &str, body: Markup) -> Markup {
    let base = tenant_base(&principal.tenant_name);
    let can = |p: Permission| principal.permissions.contains(p);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Caretaker" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.topbar {
                    a.brand href={ (base) "/" } { "Caretaker" }
                    span.tenant { (principal.tenant_name) }
                    nav.menus aria-label="Main" {
                        @if MANAGE.iter().any(|p| can(*p)) {
                            details.menu #menu-manage {
                                summary { "Manage" }
                                ul {
                                    @if can(Permission::TasksRead) {
                                        li { a href={ (base) "/manage/tasks" } { "Tasks" } }
                                    }
                                    @if can(Permission::SitesRead) {
                                        li { a href={ (base) "/manage/sites" } { "Sites" } }
                                    }
                                    @if can(Permission::AssetsRead) {
                                        li { a href={ (base) "/manage/assets" } { "Assets" } }
                                    }
                                    @if can(Permission::CompaniesRead) {
                                        li { a href={ (base) "/manage/companies" } { "Companies" } }
                                    }
                                    @if can(Permission::ContractorsRead) {
                                        li { a href={ (base) "/manage/contractors" } { "Contractors" } }
                                    }
                                }
                            }
                        }
                        @if sees_system_menu(principal) {
                            details.menu #menu-system {
                                summary { "System" }
                                ul {
                                    @if can(Permission::UsersRead) {
                                        li { a href={ (base) "/system/users" } { "Users" } }
                                        li { a href={ (base) "/system/role-packages" } { "Role Packages" } }
                                    }
                                    @if can(Permission::ApiCredentialsAdminister) {
                                        li { a href={ (base) "/system/api-credentials" } { "API Credentials" } }
                                        li { a href={ (base) "/system/outbound" } { "Outbound Deliveries" } }
                                    }
                                    @if can(Permission::ConfigurationWrite) {
                                        li { a href={ (base) "/system/settings" } { "Settings" } }
                                    }
                                    @if can(Permission::ReferenceDataRead) {
                                        li { a href={ (base) "/system/workflows" } { "Workflows" } }
                                        li { a href={ (base) "/system/service-levels" } { "Service Levels" } }
                                        li { a href={ (base) "/system/dispatch-rules" } { "Dispatch Rules" } }
                                        li { a href={ (base) "/system/matrices" } { "Matrices" } }
                                        li { a href={ (base) "/system/reference-lists" } { "Reference Lists" } }
                                        li { a href={ (base) "/system/custom-fields" } { "Custom Fields" } }
                                    }
                                    @if can(Permission::AuditLogRead) {
                                        li { a href={ (base) "/system/audit-log" } { "Audit Log" } }
                                    }
                                }
                            }
                        }
                    }
                    details.menu.person #person-menu {
                        summary aria-label="Account settings" title="Account settings" { (PreEscaped(PERSON_ICON)) }
                        ul.right {
                            li.who { (principal.name) br; small { (principal.email) } }
                            li { a href={ (base) "/account" } { "Account Settings" } }
                            li {
                                form method="post" action={ (base) "/sign-out" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The broken rules of a refused form, as a list above it.
pub fn rules_box(rules: &[BrokenRule]) -> Markup {
    html! {
        @if !rules.is_empty() {
            div.errors role="alert" {
                p { "Not saved:" }
                ul { @for rule in rules { li data-key=(rule.key) { (rule.value) } } }
            }
        }
    }
}

/// The Operations menu of list pages.
pub fn operations(items: Markup) -> Markup {
    html! {
        details.menu.operations #operations {
            summary { "Operations" }
            ul { (items) }
        }
    }
}

/// A refused write's broken rules with the status its form is shown again with (400 for
/// invalid input, 409 for a collision with stored state); any other error is the page's.
pub fn refused(err: AppError) -> Result<(StatusCode, Vec<BrokenRule>), PageError> {
    match err {
        AppError::Invalid(rules) => Ok((StatusCode::BAD_REQUEST, rules.into_rules())),
        AppError::Conflict(rules) => Ok((StatusCode::CONFLICT, rules.into_rules())),
        other => Err(other.into()),
    }
}

/// What a path segment or query value keeps unencoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// A value (a site code, which may hold `/`) as one path segment or query value. A site
/// coded `new` is written `%6Eew`, so that its link does not open the Create form.
pub fn segment(value: &str) -> String {
    let encoded = utf8_percent_encode(value, SEGMENT).to_string();
    if encoded == "new" { String::from("%6Eew") } else { encoded }
}

/// The depth class of a tree row (`depth-0` ... `depth-8`; deeper rows share the last).
pub fn depth_class(depth: usize) -> String {
    format!("depth-{}", depth.min(8))
}

/// A notice after a successful change (`?done=...`).
pub fn done_notice(done: &str) -> Markup {
    html! { @if !done.is_empty() { p.notice #done role="status" { "Done: " (done) "." } } }
}
