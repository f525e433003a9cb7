//! The landing page, signing in and out, setting a password through a link, and home.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::auth::{self, SignInError};
use caretaker_app::{AppError, tokens};
use maud::{Markup, html};
use secrecy::SecretString;

use crate::AppState;
use crate::web::context::{TenantCtx, Web, client_address, cookie, session_cookie_name};
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, bare, frame, rules_box, tenant_base};

const SIGN_IN_CSRF_COOKIE: &str = "caretaker_signin";

/// The address of the request, for handlers that take `Parts`-level data.
pub struct ClientAddress(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(parts)))
    }
}

#[derive(serde::Deserialize)]
pub struct GoQuery {
    tenant: Option<String>,
}

/// `/`: asks which tenant to sign in to.
pub async fn landing(Query(query): Query<GoQuery>) -> Response {
    if let Some(tenant) = query.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        return Redirect::to(&format!("{}/sign-in", tenant_base(tenant))).into_response();
    }
    Page::ok(bare(
        "Welcome",
        html! {
            h1 { "Caretaker" }
            p { "Maintenance management for organisations with many sites." }
            form.card method="get" action="/" {
                label for="tenant" { "Tenant" }
                input #tenant name="tenant" required autocomplete="organization";
                button type="submit" { "Continue to sign in" }
            }
            p.muted { a href="/healthz" { "health" } " · " a href="/readyz" { "readiness" } " · " a href="/metrics" { "metrics" } }
        },
    ))
    .into_response()
}

fn secure_attribute(state: &AppState) -> &'static str {
    if state.secure_cookies { "; Secure" } else { "" }
}

fn sign_in_form(ctx: &TenantCtx, csrf: &str, email: &str, message: Option<&str>) -> Markup {
    bare(
        "Sign in",
        html! {
            h1 { "Sign in to " (ctx.tenant.name) }
            @if let Some(message) = message { div.errors role="alert" { p { (message) } } }
            form.card method="post" action={ (ctx.base) "/sign-in" } {
                input type="hidden" name="csrf" value=(csrf);
                label for="email" { "E-mail" }
                input #email type="email" name="email" value=(email) required autocomplete="username";
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="current-password";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The sign-in form; sets the pre-session CSRF cookie it is checked against.
pub async fn sign_in_page(State(state): State<AppState>, ctx: TenantCtx) -> Response {
    let csrf = tokens::random_token();
    let mut response = Page::ok(sign_in_form(&ctx, &csrf, "", None)).into_response();
    set_cookie(
        &mut response,
        &format!(
            "{SIGN_IN_CSRF_COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            secure_attribute(&state)
        ),
    );
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ClientAddress(address): ClientAddress,
    headers: axum::http::HeaderMap,
    fields: Fields,
) -> Response {
    let expected = cookie(&headers, SIGN_IN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !tokens::constant_time_eq(expected, fields.get("csrf")) {
        return PageError::Forbidden.into_response();
    }
    let email = fields.get("email").to_owned();
    let password = SecretString::from(fields.get("password").to_owned());
    match auth::sign_in(&state.app, &ctx.tenant, &email, password, address.as_deref()).await {
        Ok(session) => {
            use secrecy::ExposeSecret;
            let target = if session.must_change_password { "/account/password" } else { "/" };
            let mut response = Redirect::to(&format!("{}{target}", ctx.base)).into_response();
            set_cookie(
                &mut response,
                &format!(
                    "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                    session_cookie_name(&ctx.tenant),
                    session.id.expose_secret(),
                    auth::ABSOLUTE_SECONDS,
                    secure_attribute(&state)
                ),
            );
            set_cookie(&mut response, &format!("{SIGN_IN_CSRF_COOKIE}=; Path=/; Max-Age=0"));
            response
        }
        Err(SignInError::Invalid) => Page {
            status: StatusCode::UNAUTHORIZED,
            markup: sign_in_form(&ctx, expected, &email, Some("The e-mail address or password is wrong.")),
        }
        .into_response(),
        Err(SignInError::Throttled { retry_after_seconds }) => {
            let minutes = (retry_after_seconds + 59) / 60;
            let mut response = Page {
                status: StatusCode::TOO_MANY_REQUESTS,
                markup: sign_in_form(
                    &ctx,
                    expected,
                    &email,
                    Some(&format!("Too many failed sign-ins. Try again in {minutes} minute(s).")),
                ),
            }
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(SignInError::App(err)) => PageError::from(err).into_response(),
    }
}

pub async fn sign_out(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    if let Err(err) = web.check_csrf(&fields) {
        return err.into_response();
    }
    if let Err(err) = auth::sign_out(&state.app, &web.session).await {
        return PageError::from(err).into_response();
    }
    let mut response = Redirect::to(&format!("{}/sign-in", web.base)).into_response();
    set_cookie(&mut response, &format!("{}=; Path=/; Max-Age=0", session_cookie_name(&web.tenant)));
    response
}

/// After signing in.
pub async fn home(web: Web) -> PageResult {
    let principal = web.principal();
    Ok(Page::ok(frame(
        principal,
        web.csrf(),
        "Home",
        html! {
            h1 { "Welcome, " (principal.name) }
            p { "Signed in as " (principal.email) " (" (principal.user_type) " user)." }
            p { "Role packages: " (principal.role_packages.join(", ")) }
        },
    )))
}

fn set_password_form(ctx: &TenantCtx, token: &str, rules: &[caretaker_domain::BrokenRule]) -> Markup {
    bare(
        "Set your password",
        html! {
            h1 { "Set your password" }
            p { "For " (ctx.tenant.name) ". At least 12 characters." }
            (rules_box(rules))
            form.card method="post" action={ (ctx.base) "/set-password/" (token) } {
                label for="password" { "New password" }
                input #password type="password" name="password" required minlength="12" autocomplete="new-password";
                label for="confirm" { "Confirm the new password" }
                input #confirm type="password" name="confirm" required minlength="12" autocomplete="new-password";
                button type="submit" { "Set password" }
            }
        },
    )
}

pub async fn set_password_page(
    State(state): State<AppState>,
    ctx: TenantCtx,
    Path((_, token)): Path<(String, String)>,
) -> PageResult {
    if !auth::set_password_link_is_valid(&state.app, &ctx.tenant, &token).await? {
        return Err(PageError::NotFound);
    }
    Ok(Page::ok(set_password_form(&ctx, &token, &[])))
}

/// The link itself is the proof (a 256-bit one-time secret), so this form needs no session.
pub async fn set_password(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ClientAddress(address): ClientAddress,
    Path((_, token)): Path<(String, String)>,
    fields: Fields,
) -> PageResult {
    let password = SecretString::from(fields.get("password").to_owned());
    let confirm = SecretString::from(fields.get("confirm").to_owned());
    match auth::set_password_with_link(&state.app, &ctx.tenant, &token, password, confirm, address.as_deref()).await {
        Ok(()) => Ok(Page::ok(bare(
            "Password set",
            html! {
                h1 { "Password set" }
                p { a href={ (ctx.base) "/sign-in" } { "Sign in" } }
            },
        ))),
        Err(AppError::Invalid(rules)) => {
            Ok(Page { status: StatusCode::BAD_REQUEST, markup: set_password_form(&ctx, &token, rules.rules()) })
        }
        Err(other) => Err(other.into()),
    }
}
