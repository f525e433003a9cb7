//! Account Settings > API: the API Token (always visible, with a rotate button) and the API
//! Secret Key (shown exactly once after generation, then only its last four characters),
//! when each was created and last used, and the expiry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::AppError;
use caretaker_app::credentials::{self, CredentialView, MAX_GRACE_SECONDS};
use caretaker_domain::access::Permission;
use caretaker_domain::clock::Timestamp;
use maud::{Markup, html};
use secrecy::{ExposeSecret, SecretString};

use crate::AppState;
use crate::web::account::tabs;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, frame, rules_box};

/// What to show once, right after it was made.
enum Fresh<'a> {
    None,
    Secret(&'a SecretString),
    Token,
}

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| String::from("never"), |t| t.to_rfc3339())
}

pub(crate) fn credential_facts(view: &CredentialView) -> Markup {
    let c = &view.credential;
    html! {
        dl.details #credential {
            dt { "API Token" } dd { code #api-token { (c.token) } }
            dt { "Status" } dd #credential-status { @if c.revoked_at.is_some() { "Revoked " (when(c.revoked_at)) } @else { "Active" } }
            dt { "Created" } dd { (c.created_at) " by " (c.created_by) }
            dt { "Last used" } dd #last-used { (when(c.last_used_at)) @if let Some(address) = &c.last_used_address { " from " (address) } }
            dt { "Expires" } dd { (when(view.effective_expiry).replace("never", "no expiry")) }
            dt { "API Secret Key" }
            dd {
                @for secret in &view.secrets {
                    span.secret-tail { "…" (secret.last_four) }
                    @if let Some(until) = secret.live_until { " (previous secret, valid until " (until) ")" } @else { " (current)" }
                    br;
                }
                @if view.secrets.is_empty() { "none" }
            }
        }
    }
}

fn page(web: &Web, view: Option<&CredentialView>, fresh: Fresh<'_>, rules: &[caretaker_domain::BrokenRule]) -> Markup {
    let base = &web.base;
    let csrf = web.csrf();
    let live = view.is_some_and(|v| v.credential.revoked_at.is_none());
    let body = html! {
        h1 { "Account Settings" }
        (tabs(web, "api"))
        (rules_box(rules))
        @match fresh {
            Fresh::Secret(secret) => {
                div.once role="alert" #new-secret {
                    p { strong { "Copy the API Secret Key now." } " This is the only time it is shown: afterwards only its last four characters are. Store it in your integration's secret store, never in e-mail or chat." }
                    p { code #api-secret { (secret.expose_secret()) } " " button #copy-secret type="button" data-copy="api-secret" { "Copy" } }
                }
            }
            Fresh::Token => { p.notice role="status" { "A new API Token is in place; the old one no longer works." } }
            Fresh::None => {}
        }
        @if let Some(view) = view { (credential_facts(view)) } @else { p #no-credentials { "You have no API credentials yet." } }
        section.card {
            @if live {
                form method="post" action={ (base) "/account/api/rotate-token" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button #rotate-token type="submit" { "Rotate API Token" }
                    span.muted { " The old token stops working at once." }
                }
                form method="post" action={ (base) "/account/api/rotate-secret" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label.inline for="grace" { "Keep the old secret valid for" }
                    select #grace name="grace" {
                        option value="0" selected { "no time: revoke it at once" }
                        option value="3600" { "1 hour" }
                        option value="86400" { "1 day" }
                        option value=(MAX_GRACE_SECONDS) { "7 days" }
                    }
                    " "
                    button #rotate-secret type="submit" { "Rotate API Secret Key" }
                }
                form method="post" action={ (base) "/account/api/revoke" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.danger #revoke type="submit" { "Revoke my credentials" }
                }
            } @else {
                form method="post" action={ (base) "/account/api/generate" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label.inline for="expires" { "Expires" }
                    select #expires name="expires" {
                        option value="" selected { "never (unless the tenant limits credential age)" }
                        option value="30" { "after 30 days" }
                        option value="90" { "after 90 days" }
                        option value="365" { "after a year" }
                    }
                    " "
                    button #generate type="submit" { "Generate API Token and API Secret Key" }
                }
            }
        }
        p.muted { "Sign each REST call with these: see " a href="/rest/docs" { "the API documentation" } "." }
        p { a #outbound-link href={ (base) "/account/api/outbound" } { "Outbound calls: the URLs Caretaker calls when tasks change, and the delivery history" } }
    };
    frame(web.principal(), csrf, "API", body)
}

fn must_hold_rest_api(web: &Web) -> Result<(), PageError> {
    if web.principal().permissions.contains(Permission::RestApiUse) { Ok(()) } else { Err(PageError::Forbidden) }
}

pub async fn show(State(state): State<AppState>, web: Web) -> Result<Page, PageError> {
    must_hold_rest_api(&web)?;
    let view = credentials::view_own(&state.app, web.principal()).await?;
    Ok(Page::ok(page(&web, view.as_ref(), Fresh::None, &[])))
}

/// The actions of the tab; each answers with the tab itself.
pub async fn act(State(state): State<AppState>, web: Web, action: &'static str, fields: Fields) -> Response {
    match act_inner(&state, &web, action, &fields).await {
        Ok(page) => page.into_response(),
        Err(err) => err.into_response(),
    }
}

async fn act_inner(state: &AppState, web: &Web, action: &str, fields: &Fields) -> Result<Page, PageError> {
    web.check_csrf(fields)?;
    must_hold_rest_api(web)?;
    let me = web.principal();
    let outcome: Result<Option<SecretString>, AppError> = match action {
        "generate" => {
            // A stale form or a double submit must not replace a pair a running integration
            // uses: regenerating live credentials is what the rotate buttons are for.
            let live = credentials::view_own(&state.app, me).await?.is_some_and(|v| v.credential.revoked_at.is_none());
            if live {
                Err(AppError::conflict(caretaker_domain::BrokenRule::new(
                    "ApiCredentials",
                    "AlreadyGenerated",
                    "You already have API credentials: rotate the token or the secret instead",
                )))
            } else {
                let expires = match fields.get("expires").trim() {
                    "" => None,
                    days => Some(days.parse::<i64>().map_err(|_| PageError::BadRequest("Unknown expiry".into()))?),
                };
                credentials::generate_expiring(&state.app, me, me, expires)
                    .await
                    .map(|generated| Some(generated.secret))
            }
        }
        "rotate-token" => credentials::rotate_token(&state.app, me).await.map(|_| None),
        "rotate-secret" => {
            let grace =
                fields.get("grace").parse::<i64>().map_err(|_| PageError::BadRequest("Unknown grace period".into()))?;
            credentials::rotate_secret(&state.app, me, grace).await.map(Some)
        }
        "revoke" => credentials::revoke_own(&state.app, me).await.map(|()| None),
        _ => return Err(PageError::NotFound),
    };
    match outcome {
        Ok(secret) => {
            let view = credentials::view_own(&state.app, me).await?;
            let fresh = match (&secret, action) {
                (Some(secret), _) => Fresh::Secret(secret),
                (None, "rotate-token") => Fresh::Token,
                _ => Fresh::None,
            };
            Ok(Page::ok(page(web, view.as_ref(), fresh, &[])))
        }
        Err(AppError::Invalid(rules) | AppError::Forbidden(rules) | AppError::Conflict(rules)) => {
            let view = credentials::view_own(&state.app, me).await?;
            Ok(Page { status: StatusCode::BAD_REQUEST, markup: page(web, view.as_ref(), Fresh::None, rules.rules()) })
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn generate(state: State<AppState>, web: Web, fields: Fields) -> Response {
    act(state, web, "generate", fields).await
}

pub async fn rotate_token(state: State<AppState>, web: Web, fields: Fields) -> Response {
    act(state, web, "rotate-token", fields).await
}

pub async fn rotate_secret(state: State<AppState>, web: Web, fields: Fields) -> Response {
    act(state, web, "rotate-secret", fields).await
}

pub async fn revoke(state: State<AppState>, web: Web, fields: Fields) -> Response {
    act(state, web, "revoke", fields).await
}
