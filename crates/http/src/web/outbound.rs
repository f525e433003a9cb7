//! Account Settings > API > Outbound: the callback URL of each event, the Send Created and
//! Email Failures toggles, the token and secret Caretaker signs its calls with, and the
//! delivery history with Resend. System > Outbound Deliveries: the tenant's history and the
//! mail outbox, for administrators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::AppError;
use caretaker_app::outbound::{self, OutboundInput, OutboundView};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, can};
use caretaker_domain::outbound::OutboundEvent;
use caretaker_storage::outbound::{Delivery, Mail};
use maud::{Markup, html};
use secrecy::SecretString;

use crate::AppState;
use crate::web::account::tabs;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::page::{Page, PageError, frame, rules_box};

fn history_table(web: &Web, deliveries: &[Delivery], resend_base: &str, show_recipient: bool) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.muted #no-deliveries { "No deliveries yet." }
        } @else {
            table #deliveries {
                thead { tr {
                    th { "Event" } th { "Task" }
                    @if show_recipient { th { "Receiver" } }
                    th { "State" } th { "Attempts" } th { "Last status" } th { "Last error" } th { "Next attempt" } th {}
                } }
                tbody {
                    @for d in deliveries {
                        tr.delivery data-state=(d.state) {
                            td { (d.event) br; span.muted { (d.event_id) } }
                            td { a href={ (web.base) "/tasks/" (d.task_reference) } { (d.task_reference) } }
                            @if show_recipient { td { (d.recipient_email) br; span.muted { (d.url) } } }
                            td.state { (d.state) }
                            td { (d.attempts) }
                            td { (d.last_status.map(|s| s.to_string()).unwrap_or_default()) }
                            td { (d.last_error.clone().unwrap_or_default()) }
                            td { @if d.state == "pending" { (d.next_attempt_at) } }
                            td {
                                @if d.state == "failed" {
                                    form method="post" action={ (resend_base) "/" (d.id) "/resend" } {
                                        input type="hidden" name="csrf" value=(web.csrf());
                                        button.resend type="submit" { "Resend" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn page(web: &Web, view: &OutboundView, deliveries: &[Delivery], rules: &[BrokenRule], saved: bool) -> Markup {
    let base = &web.base;
    let body = html! {
        h1 { "Account Settings" }
        (tabs(web, "api"))
        p { a href={ (base) "/account/api" } { "API credentials" } " · " strong { "Outbound calls" } }
        (rules_box(rules))
        @if saved { p.notice role="status" #saved { "Saved." } }
        form #outbound method="post" action={ (base) "/account/api/outbound" } {
            input type="hidden" name="csrf" value=(web.csrf());
            fieldset {
                legend { "Call my integration when a task changes (POST, signed with TCN)" }
                @for event in OutboundEvent::ALL {
                    label for=(event.name()) { (event.label()) }
                    input type="url" id=(event.name()) name=(event.name()) placeholder="https://..."
                        value=(view.endpoints[event.index()].clone().unwrap_or_default());
                }
                label.inline { input type="checkbox" name="send_created" value="on" checked[view.send_created]; " Send Created (also for tasks I raise myself)" }
                label.inline { input type="checkbox" name="email_failures" value="on" checked[view.email_failures]; " E-mail me when a call finally fails" }
            }
            fieldset {
                legend { "How my integration checks the calls" }
                label for="api_token" { "API Token (yours)" }
                input #api_token name="api_token" autocomplete="off" value=(view.api_token.clone().unwrap_or_default());
                label for="api_secret" { "API Secret (yours; write-only)" }
                input #api_secret type="password" name="api_secret" autocomplete="new-password"
                    placeholder=(view.api_secret_last4.as_ref().map_or_else(|| String::from("not set"), |l| format!("…{l} (leave empty to keep)")));
            }
            button #save-outbound type="submit" { "Save" }
        }
        h2 { "Delivery history" }
        (history_table(web, deliveries, &format!("{base}/account/api/outbound/deliveries"), false))
    };
    frame(web.principal(), web.csrf(), "Outbound calls", body)
}

fn must_hold_rest_api(web: &Web) -> Result<(), PageError> {
    if web.principal().authorize::<can::RestApiUse>().is_some() { Ok(()) } else { Err(PageError::Forbidden) }
}

pub async fn show(State(state): State<AppState>, web: Web) -> Result<Page, PageError> {
    let proof = web.principal().authorize::<can::RestApiUse>().ok_or(PageError::Forbidden)?;
    let view = outbound::get(&state.app, &proof).await?;
    let deliveries = outbound::history(&state.app, web.principal(), None, None).await?;
    Ok(Page::ok(page(&web, &view, &deliveries, &[], false)))
}

pub async fn save(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Page, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.principal().authorize::<can::RestApiUse>().ok_or(PageError::Forbidden)?;
    let text = |name: &str| Some(fields.get(name).trim().to_owned()).filter(|v| !v.is_empty());
    let mut endpoints: [Option<String>; 6] = Default::default();
    for event in OutboundEvent::ALL {
        endpoints[event.index()] = text(event.name());
    }
    let input = OutboundInput {
        endpoints,
        send_created: fields.checked("send_created"),
        email_failures: fields.checked("email_failures"),
        api_token: text("api_token"),
        api_secret: text("api_secret").map(SecretString::from),
    };
    let deliveries = outbound::history(&state.app, web.principal(), None, None).await?;
    match outbound::save(&state.app, &proof, input).await {
        Ok(view) => Ok(Page::ok(page(&web, &view, &deliveries, &[], true))),
        Err(AppError::Invalid(rules)) => {
            let view = outbound::get(&state.app, &proof).await?;
            Ok(Page { status: StatusCode::BAD_REQUEST, markup: page(&web, &view, &deliveries, rules.rules(), false) })
        }
        Err(other) => Err(other.into()),
    }
}

/// Resend one of the caller's own failed deliveries.
pub async fn resend_own(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Response {
    let outcome = async {
        web.check_csrf(&fields)?;
        must_hold_rest_api(&web)?;
        outbound::resend(&state.app, web.principal(), None, id).await?;
        Ok::<_, PageError>(Redirect::to(&format!("{}/account/api/outbound", web.base)).into_response())
    }
    .await;
    outcome.unwrap_or_else(IntoResponse::into_response)
}

fn admin_page(web: &Web, deliveries: &[Delivery], mails: &[Mail]) -> Markup {
    let base = &web.base;
    let body = html! {
        h1 { "Outbound deliveries" }
        p.muted { "Every call Caretaker made (or will make) to integrations of this tenant, newest first." }
        (history_table(web, deliveries, &format!("{base}/system/outbound/deliveries"), true))
        h2 { "Mail outbox" }
        p.muted { "Failure notices. Without an SMTP relay configured they wait here unsent." }
        @if mails.is_empty() {
            p.muted #no-mail { "No mail." }
        } @else {
            table #mail-outbox {
                thead { tr { th { "To" } th { "Subject" } th { "Created" } th { "Sent" } } }
                tbody {
                    @for m in mails {
                        tr {
                            td { (m.to) }
                            td { details { summary { (m.subject) } pre { (m.body) } } }
                            td { (m.created_at) }
                            td { (m.sent_at.map(|t| t.to_string()).unwrap_or_else(|| String::from("not sent"))) }
                        }
                    }
                }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Outbound deliveries", body)
}

pub async fn admin(State(state): State<AppState>, web: Web) -> Result<Page, PageError> {
    let proof = web.principal().authorize::<can::ApiCredentialsAdminister>().ok_or(PageError::Forbidden)?;
    let deliveries = outbound::history(&state.app, web.principal(), Some(&proof), None).await?;
    let mails = outbound::mails(&state.app, &proof).await?;
    Ok(Page::ok(admin_page(&web, &deliveries, &mails)))
}

/// Resend any failed delivery of the tenant (administrators).
pub async fn resend_any(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Response {
    let outcome = async {
        web.check_csrf(&fields)?;
        let proof = web.principal().authorize::<can::ApiCredentialsAdminister>().ok_or(PageError::Forbidden)?;
        outbound::resend(&state.app, web.principal(), Some(&proof), id).await?;
        Ok::<_, PageError>(Redirect::to(&format!("{}/system/outbound", web.base)).into_response())
    }
    .await;
    outcome.unwrap_or_else(IntoResponse::into_response)
}
