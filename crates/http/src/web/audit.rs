//! System > Audit Log, filterable by action, person or target, and dates.

use axum::extract::{Query, State};
use caretaker_app::audit_log;
use caretaker_domain::access::can;
use caretaker_domain::clock::Timestamp;
use caretaker_storage::audit::Filter;
use maud::html;
use time::{Date, format_description::well_known::Iso8601};

use crate::AppState;
use crate::web::context::Web;
use crate::web::page::{Page, PageError, PageResult, frame};

#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

const ACTIONS: &[(&str, &str)] = &[
    ("", "All events"),
    ("user.signed_in", "Sign-ins"),
    ("user.sign_in_failed", "Failed sign-ins"),
    ("user.created", "Users created"),
    ("user.changed", "Users changed"),
    ("user.disabled", "Users disabled"),
    ("user.enabled", "Users enabled"),
    ("user.package_", "Role packages granted or removed"),
    ("user.password", "Passwords"),
    ("contractor.", "Contractors"),
    ("api_credentials.", "API credentials"),
    ("api.authentication_failed", "Failed API authentications"),
    ("role_package.", "Role packages"),
    ("tenant.", "Tenant"),
];

/// A `YYYY-MM-DD` date as the start of that day (UTC).
fn day(text: &str) -> Result<Option<Timestamp>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = Date::parse(text, &Iso8601::DATE)
        .map_err(|_| PageError::BadRequest(format!("{text:?} is not a date (YYYY-MM-DD)")))?;
    Ok(Some(Timestamp::from_offset_date_time(date.midnight().assume_utc())))
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<AuditQuery>) -> PageResult {
    let can_read = web.authorize::<can::AuditLogRead>()?;
    let filter = Filter {
        action_prefix: Some(query.action.clone()).filter(|a| !a.is_empty()),
        search: Some(query.q.trim().to_owned()).filter(|q| !q.is_empty()),
        since: day(&query.since)?,
        // "until" includes that day.
        until: day(&query.until)?.map(|t| t.plus_seconds(86_400)),
    };
    let entries = audit_log::list(&state.app, &can_read, &filter, 500).await?;
    let body = html! {
        h1 { "Audit Log" }
        form.filters method="get" role="search" {
            select name="action" aria-label="Event" {
                @for (value, label) in ACTIONS { option value=(value) selected[query.action == *value] { (label) } }
            }
            input name="q" value=(query.q) placeholder="Person or target" aria-label="Person or target";
            label.inline { "From " input type="date" name="since" value=(query.since); }
            label.inline { "to " input type="date" name="until" value=(query.until); }
            button type="submit" { "Filter" }
        }
        table.list #audit-log {
            thead { tr { th { "When (UTC)" } th { "Who" } th { "From" } th { "Event" } th { "Target" } th { "Detail" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.occurred_at) }
                        td { (e.actor_email.as_deref().unwrap_or(&e.actor_kind)) }
                        td { (e.source_address.as_deref().unwrap_or("")) }
                        td { code { (e.action) } }
                        td { (e.target.as_deref().unwrap_or("")) }
                        td { (e.detail) }
                    }
                }
                @if entries.is_empty() { tr { td colspan="6" { "No events match." } } }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Audit Log", body)))
}
