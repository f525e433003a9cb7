//! Extractors for the web pages: the tenant of the path, the signed-in session, and the
//! checks every state-changing form passes (CSRF token).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::auth::{self, SessionContext};
use caretaker_app::{AppError, Principal, tokens};
use caretaker_domain::access::{Authorized, Holder, Marker};
use caretaker_storage::tenants::{self, Tenant};

use crate::AppState;
use crate::web::form::Fields;
use crate::web::page::{PageError, tenant_base};

/// The tenant named in the path (`/t/{tenant}/...`), in any case.
pub struct TenantCtx {
    pub tenant: Tenant,
    /// `/t/{tenant}` as links should start.
    pub base: String,
}

impl FromRequestParts<AppState> for TenantCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params =
            RawPathParams::from_request_parts(parts, state).await.map_err(|_| PageError::NotFound.into_response())?;
        let Some(name) = params.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.to_owned()) else {
            return Err(PageError::NotFound.into_response());
        };
        let tenant = tenants::find_by_name(state.app.db.read(), &name)
            .await
            .map_err(|err| PageError::from(AppError::from(err)).into_response())?
            .ok_or_else(|| PageError::NotFound.into_response())?;
        let base = tenant_base(tenant.name.as_str());
        Ok(TenantCtx { tenant, base })
    }
}

/// The cookie that carries a tenant's session (one per tenant, so a browser may be signed
/// in to several).
pub fn session_cookie_name(tenant: &Tenant) -> String {
    format!("caretaker_session_{}", tenant.id.0)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The client's address (the peer; no proxy headers are trusted).
pub fn client_address(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// A signed-in user on a tenant's pages.
pub struct Web {
    pub tenant: Tenant,
    pub base: String,
    pub session: SessionContext,
}

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let TenantCtx { tenant, base } = TenantCtx::from_request_parts(parts, state).await?;
        let sign_in = Redirect::to(&format!("{base}/sign-in")).into_response();
        let Some(value) = cookie(&parts.headers, &session_cookie_name(&tenant)) else {
            return Err(sign_in);
        };
        let Some(mut session) =
            auth::load_session(&state.app, &tenant, value).await.map_err(|err| PageError::from(err).into_response())?
        else {
            return Err(sign_in);
        };
        session.principal.source_address = client_address(parts);
        let path = parts.uri.path();
        if session.principal.must_change_password
            && !path.ends_with("/account/password")
            && !path.ends_with("/sign-out")
        {
            return Err(Redirect::to(&format!("{base}/account/password")).into_response());
        }
        Ok(Web { tenant, base, session })
    }
}

impl Web {
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    /// Proof that the user holds `P`, or a 403 page.
    pub fn authorize<P: Marker>(&self) -> Result<Authorized<'_, P, Principal>, PageError> {
        self.session.principal.authorize::<P>().ok_or(PageError::Forbidden)
    }

    /// Every state-changing form carries the session's CSRF token; a form without it (a
    /// cross-site post) changes nothing.
    pub fn check_csrf(&self, fields: &Fields) -> Result<(), PageError> {
        if tokens::constant_time_eq(fields.get("csrf"), &self.session.csrf_token) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }
}
