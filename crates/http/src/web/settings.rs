//! System > Settings: the tenant's API signing settings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::AppError;
use caretaker_app::tenant_settings::{self, SigningSettings};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::can;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame, rules_box};

fn page(web: &Web, settings: &SigningSettings, rules: &[BrokenRule], saved: bool) -> Markup {
    let body = html! {
        h1 { "Settings" }
        @if saved { p.notice role="status" { "Saved. The settings apply to the next REST call." } }
        (rules_box(rules))
        form.card #signing-settings method="post" action={ (web.base) "/system/settings" } {
            input type="hidden" name="csrf" value=(web.csrf());
            h2 { "REST API signing" }
            label for="clock_skew_seconds" { "Clock-skew window (seconds; X-Timestamp must be this close to the server's clock)" }
            input #clock_skew_seconds type="number" name="clock_skew_seconds" min="30" max="3600" value=(settings.clock_skew_seconds) required;
            label.inline {
                input #require_strict_signing type="checkbox" name="require_strict_signing" checked[settings.require_strict_signing];
                " Require strict signing (X-Nonce and X-Content-SHA256 on every call)"
            }
            label for="max_credential_age_days" { "Maximum age of API credentials (days; empty for none)" }
            input #max_credential_age_days type="number" name="max_credential_age_days" min="1" max="3650"
                value=[settings.max_credential_age_days];
            div.actions { button #save type="submit" { "Save" } }
        }
    };
    frame(web.principal(), web.csrf(), "Settings", body)
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    let settings = tenant_settings::get(&state.app, &proof).await?;
    Ok(Page::ok(page(&web, &settings, &[], false)))
}

pub async fn save(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    let outcome = async {
        web.check_csrf(&fields)?;
        let proof = web.authorize::<can::ConfigurationWrite>()?;
        let number = |name: &str| -> Result<Option<i64>, PageError> {
            let text = fields.get(name).trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| PageError::BadRequest(format!("{name} must be a whole number")))
        };
        let settings = SigningSettings {
            clock_skew_seconds: number("clock_skew_seconds")?.unwrap_or(300),
            require_strict_signing: fields.checked("require_strict_signing"),
            max_credential_age_days: number("max_credential_age_days")?,
        };
        match tenant_settings::update(&state.app, &proof, &settings).await {
            Ok(()) => Ok(Page::ok(page(&web, &settings, &[], true))),
            Err(AppError::Invalid(rules)) => {
                Ok(Page { status: StatusCode::BAD_REQUEST, markup: page(&web, &settings, rules.rules(), false) })
            }
            Err(other) => Err(PageError::from(other)),
        }
    }
    .await;
    match outcome {
        Ok(page) => page.into_response(),
        Err(err) => err.into_response(),
    }
}
