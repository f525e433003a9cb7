//! System > Settings: the tenant's API signing settings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::AppError;
use caretaker_app::outbound;
use caretaker_app::tenant_settings::{self, SigningSettings};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::can;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, PageResult, frame, rules_box};

/// The tenant's limit on outbound attempts, and the server's.
type Attempts = (Option<i64>, i64);

fn page(web: &Web, settings: &SigningSettings, attempts: Attempts, rules: &[BrokenRule], saved: bool) -> Markup {
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
        form.card #outbound-settings method="post" action={ (web.base) "/system/settings/outbound" } {
            input type="hidden" name="csrf" value=(web.csrf());
            h2 { "Outbound calls" }
            label for="outbound_max_attempts" { "Attempts before a delivery fails (1 to " (attempts.1) "; empty: " (attempts.1) ")" }
            input #outbound_max_attempts type="number" name="outbound_max_attempts" min="1" max=(attempts.1) value=[attempts.0];
            div.actions { button #save-outbound type="submit" { "Save" } }
        }
    };
    frame(web.principal(), web.csrf(), "Settings", body)
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    let settings = tenant_settings::get(&state.app, &proof).await?;
    let attempts = outbound::max_attempts(&state.app, &proof).await?;
    Ok(Page::ok(page(&web, &settings, attempts, &[], false)))
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
        let attempts = outbound::max_attempts(&state.app, &proof).await?;
        match tenant_settings::update(&state.app, &proof, &settings).await {
            Ok(()) => Ok(Page::ok(page(&web, &settings, attempts, &[], true))),
            Err(AppError::Invalid(rules)) => Ok(Page {
                status: StatusCode::BAD_REQUEST,
                markup: page(&web, &settings, attempts, rules.rules(), false),
            }),
            Err(other) => Err(PageError::from(other)),
        }
    }
    .await;
    match outcome {
        Ok(page) => page.into_response(),
        Err(err) => err.into_response(),
    }
}

/// The tenant's outbound attempt limit.
pub async fn save_outbound(State(state): State<AppState>, web: Web, fields: Fields) -> Response {
    let outcome = async {
        web.check_csrf(&fields)?;
        let proof = web.authorize::<can::ConfigurationWrite>()?;
        let text = fields.get("outbound_max_attempts").trim();
        let wanted = match text {
            "" => None,
            text => {
                Some(text.parse::<i64>().map_err(|_| PageError::BadRequest("attempts must be a whole number".into()))?)
            }
        };
        let settings = tenant_settings::get(&state.app, &proof).await?;
        match outbound::set_max_attempts(&state.app, &proof, wanted).await {
            Ok(()) => {
                let attempts = outbound::max_attempts(&state.app, &proof).await?;
                Ok(Page::ok(page(&web, &settings, attempts, &[], true)))
            }
            Err(AppError::Invalid(rules)) => {
                let attempts = outbound::max_attempts(&state.app, &proof).await?;
                Ok(Page {
                    status: StatusCode::BAD_REQUEST,
                    markup: page(&web, &settings, attempts, rules.rules(), false),
                })
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
