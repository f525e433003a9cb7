//! System > API Credentials: the tenant's credential report (user, age, last use, expiry)
//! with Revoke.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::credentials;
use caretaker_domain::access::can;
use caretaker_domain::user::UserId;
use maud::html;

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame};

pub async fn report(State(state): State<AppState>, web: Web) -> PageResult {
    let proof = web.authorize::<can::ApiCredentialsAdminister>()?;
    let rows = credentials::report(&state.app, &proof).await?;
    let now = state.app.clock.now();
    let base = &web.base;
    let body = html! {
        h1 { "API Credentials" }
        p.muted { "Every integration account's credential: review old and unused ones, revoke what is no longer needed." }
        table.list #credential-report {
            thead { tr { th { "User" } th { "API Token" } th { "Age (days)" } th { "Created by" } th { "Last used" } th { "Expires" } th { "Status" } th {} } }
            tbody {
                @for (view, email) in &rows {
                    @let c = &view.credential;
                    tr data-email=(email) {
                        td { (email) }
                        td { code { (c.token) } }
                        td { ((now.unix_micros() - c.created_at.unix_micros()) / 86_400_000_000) }
                        td { (c.created_by) }
                        td { (c.last_used_at.map_or_else(|| String::from("never"), |t| t.to_rfc3339()))
                             @if let Some(a) = &c.last_used_address { " from " (a) } }
                        td { (view.effective_expiry.map_or_else(|| String::from("no expiry"), |t| t.to_rfc3339())) }
                        td { @if c.revoked_at.is_some() { "Revoked" } @else { "Active" } }
                        td {
                            @if c.revoked_at.is_none() {
                                form method="post" action={ (base) "/system/api-credentials/" (c.user.0) "/revoke" } {
                                    input type="hidden" name="csrf" value=(web.csrf());
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="8" { "No API credentials in this tenant." } } }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "API Credentials", body)))
}

pub async fn revoke(
    State(state): State<AppState>,
    web: Web,
    Path((_, user)): Path<(String, i64)>,
    fields: Fields,
) -> Response {
    let outcome = async {
        web.check_csrf(&fields)?;
        let proof = web.authorize::<can::ApiCredentialsAdminister>()?;
        credentials::revoke(&state.app, &proof, UserId(user)).await?;
        Ok::<_, PageError>(())
    }
    .await;
    match outcome {
        Ok(()) => Redirect::to(&format!("{}/system/api-credentials", web.base)).into_response(),
        Err(err) => err.into_response(),
    }
}
