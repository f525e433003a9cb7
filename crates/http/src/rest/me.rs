//! `GET /rest/users/{tenant}/me`: who am I; `GET`/`PUT /rest/users/{tenant}/me/outbound`: the
//! caller's outbound configuration.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use caretaker_app::outbound::{OutboundInput, OutboundView};
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_storage::contractors;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;
use crate::rest::common::missing;
use crate::rest::json::ApiJson;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Me {
    pub email: String,
    pub name: String,
    pub user_type: &'static str,
    pub contractor: Option<String>,
    pub role_packages: Vec<String>,
    pub permissions: Vec<&'static str>,
    pub tenant: String,
    pub credential_expires_at_utc: Option<String>,
}

pub async fn me(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Me>, ApiError> {
    let principal = &caller.principal;
    let contractor = match principal.contractor {
        Some(id) => contractors::get(state.app.db.read(), principal.tenant, id)
            .await
            .map_err(|err| ApiError(err.into()))?
            .map(|c| c.code),
        None => None,
    };
    Ok(Json(Me {
        email: principal.email.clone(),
        name: principal.name.clone(),
        user_type: principal.user_type.as_str(),
        contractor,
        role_packages: principal.role_packages.clone(),
        permissions: principal.permissions.iter().map(Permission::as_str).collect(),
        tenant: principal.tenant_name.clone(),
        credential_expires_at_utc: caller.credential_expires_at.map(|t| t.to_rfc3339()),
    }))
}

/// The six callback URLs, by event.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoints {
    task_created: Option<String>,
    task_status: Option<String>,
    task_note: Option<String>,
    task_chased: Option<String>,
    task_changed: Option<String>,
    task_document_added: Option<String>,
}

impl Endpoints {
    fn from_slots(slots: [Option<String>; 6]) -> Self {
        let [task_created, task_status, task_note, task_chased, task_changed, task_document_added] = slots;
        Endpoints { task_created, task_status, task_note, task_chased, task_changed, task_document_added }
    }

    fn into_slots(self) -> [Option<String>; 6] {
        [
            self.task_created,
            self.task_status,
            self.task_note,
            self.task_chased,
            self.task_changed,
            self.task_document_added,
        ]
    }
}

/// The caller's outbound configuration as shown: the secret never, only its last four.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutboundOut {
    endpoints: Endpoints,
    send_created: bool,
    email_failures: bool,
    api_token: Option<String>,
    api_secret_last4: Option<String>,
}

impl From<OutboundView> for OutboundOut {
    fn from(view: OutboundView) -> Self {
        OutboundOut {
            endpoints: Endpoints::from_slots(view.endpoints),
            send_created: view.send_created,
            email_failures: view.email_failures,
            api_token: view.api_token,
            api_secret_last4: view.api_secret_last4,
        }
    }
}

/// `PUT` body: every field as on the API tab; `ApiSecret` is write-only (left out or null:
/// the stored one is kept, unless the token changes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OutboundIn {
    endpoints: Endpoints,
    send_created: Option<bool>,
    email_failures: Option<bool>,
    api_token: Option<String>,
    api_secret: Option<String>,
}

pub async fn outbound(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<OutboundOut>, ApiError> {
    let proof = caller.principal.authorize::<can::RestApiUse>().ok_or_else(|| missing("rest_api.use"))?;
    Ok(Json(caretaker_app::outbound::get(&state.app, &proof).await?.into()))
}

pub async fn save_outbound(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Result<ApiJson<OutboundIn>, Response>,
) -> Response {
    let Some(proof) = caller.principal.authorize::<can::RestApiUse>() else {
        return missing("rest_api.use").into_response();
    };
    let ApiJson(body) = match body {
        Ok(body) => body,
        Err(rejection) => return rejection,
    };
    let input = OutboundInput {
        endpoints: body.endpoints.into_slots(),
        send_created: body.send_created.unwrap_or(true),
        email_failures: body.email_failures.unwrap_or(false),
        api_token: body.api_token,
        api_secret: body.api_secret.map(SecretString::from),
    };
    match caretaker_app::outbound::save(&state.app, &proof, input).await {
        Ok(view) => Json(OutboundOut::from(view)).into_response(),
        Err(err) => ApiError(err).into_response(),
    }
}
