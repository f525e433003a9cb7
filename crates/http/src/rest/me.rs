//! `GET /rest/users/{tenant}/me`: who am I.

use axum::Json;
use axum::extract::State;
use caretaker_domain::access::Permission;
use caretaker_storage::contractors;
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;

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
