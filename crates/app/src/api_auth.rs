//! TCN authentication of REST calls: the hot path.
//!
//! Per request: parse two headers (no allocation for the common case), one indexed read
//! (`credentials::stamp`: credential version, user's access version and status, tenant
//! settings), then HMAC-SHA256 over one or two path forms per live secret.
//!
//! What is cached per token, in process: the decrypted secrets and the user's principal
//! (rights). Both are keyed by the versions in the stamp; every rotation, revocation,
//! package change or status change bumps a version in the database, so the next request,
//! on any server, sees a mismatch and reloads. Nothing that decides *whether* a request may
//! pass is cached without that check.
//!
//! Failed attempts are counted in the database per client address and per token (shared
//! by all servers); a blocked scope is remembered locally to answer `429` without a query.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use caretaker_domain::access::Permission;
use caretaker_domain::clock::Timestamp;
use caretaker_domain::tcn::{self, HeaderError, Strict};
use caretaker_storage::StorageError;
use caretaker_storage::audit::{self, Actor, Event};
use caretaker_storage::credentials::{self, CredentialId, Stamp};
use caretaker_storage::throttle::{self, Policy};
use secrecy::{ExposeSecret, SecretString};

use crate::principal::Principal;
use crate::{App, AppError};

/// The default skew window when the tenant is not known (an unknown token).
pub const DEFAULT_SKEW_SECONDS: i64 = 300;
/// Twenty failures from one address in five minutes block it for five minutes.
pub const ADDRESS_POLICY: Policy = Policy { limit: 20, window_seconds: 300, block_seconds: 300 };
/// Ten failures for one token in five minutes block the token for five minutes.
pub const TOKEN_POLICY: Policy = Policy { limit: 10, window_seconds: 300, block_seconds: 300 };
/// `last_used_at` is written at most this often per credential.
const TOUCH_EVERY_MICROS: i64 = 60_000_000;

/// What a request offers for authentication.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    /// The path as received, percent-encoding kept.
    pub raw_path: &'a str,
    /// The public base URL's path (`/maint` behind a proxy), prepended to what is signed.
    pub path_prefix: &'a str,
    /// The `{tenant}` segment of the path, as received.
    pub tenant_in_path: &'a str,
    pub authorization: Option<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
    pub nonce: Option<&'a [u8]>,
    pub content_sha256: Option<&'a [u8]>,
    /// Hex SHA-256 of the body, computed when `content_sha256` was sent.
    pub body_sha256: Option<&'a str>,
    pub address: Option<&'a str>,
}

/// Why a call was not authenticated. The messages tell clients what they can fix (headers,
/// clock), never whether a token exists or what its user may do.
#[derive(Debug, thiserror::Error)]
pub enum ApiAuthError {
    #[error("{0}")]
    Header(HeaderError),
    #[error("X-Timestamp is outside the allowed window of {window} seconds around the server's time {server_time}")]
    Skew { window: i64, server_time: String },
    #[error("this tenant requires strict signing: send X-Nonce and X-Content-SHA256 and sign them")]
    StrictRequired,
    #[error("the API Token or the signature is not valid")]
    Invalid,
    #[error("too many failed attempts; retry after {retry_after_seconds} seconds")]
    Throttled { retry_after_seconds: i64 },
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StorageError> for ApiAuthError {
    fn from(err: StorageError) -> Self {
        ApiAuthError::App(err.into())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub principal: Arc<Principal>,
    pub credential: CredentialId,
    pub credential_expires_at: Option<Timestamp>,
}

struct CachedSecret {
    secret: SecretString,
    live_until: Option<Timestamp>,
}

struct Cached {
    version: i64,
    access_version: i64,
    principal: Arc<Principal>,
    secrets: Vec<CachedSecret>,
    last_touch: AtomicI64,
}

/// The authenticator: one per server process.
#[derive(Default)]
pub struct ApiAuthenticator {
    cache: RwLock<HashMap<String, Arc<Cached>>>,
    /// Scopes known to be blocked, until when (mirrors the shared throttle table).
    blocked: Mutex<HashMap<String, Timestamp>>,
}

impl std::fmt::Debug for ApiAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiAuthenticator")
    }
}

fn address_scope(address: &str) -> String {
    format!("api-address:{address}")
}

fn token_scope(token: &str) -> String {
    format!("api-token:{token}")
}

impl ApiAuthenticator {
    fn locally_blocked(&self, scope: &str, now: Timestamp) -> Option<Timestamp> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match blocked.get(scope) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                blocked.remove(scope);
                None
            }
            None => None,
        }
    }

    fn remember_block(&self, scope: String, until: Timestamp) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocked.len() > 100_000 {
            blocked.clear();
        }
        blocked.insert(scope, until);
    }

    /// Authenticates one request.
    pub async fn authenticate(&self, app: &App, request: ApiRequest<'_>) -> Result<ApiCaller, ApiAuthError> {
        let now = app.clock.now();
        let address_key = request.address.map(address_scope);
        if let Some(until) = address_key.as_deref().and_then(|scope| self.locally_blocked(scope, now)) {
            return Err(throttled(until, now));
        }
        let header = request.authorization.ok_or(ApiAuthError::Header(HeaderError::MissingAuthorization))?;
        let authorization = tcn::parse_authorization(header).map_err(ApiAuthError::Header)?;
        let timestamp_bytes = request.timestamp.ok_or(ApiAuthError::Header(HeaderError::MissingTimestamp))?;
        let timestamp = tcn::parse_timestamp(timestamp_bytes).map_err(ApiAuthError::Header)?;
        let timestamp_text = std::str::from_utf8(timestamp_bytes).unwrap_or_default();
        let token = authorization.token;

        let stamp = credentials::stamp(&app.db, token).await?;
        let window = stamp.as_ref().map_or(DEFAULT_SKEW_SECONDS, |s| s.clock_skew_seconds);
        if (now.unix_micros() - timestamp.unix_micros()).abs() > window.saturating_mul(1_000_000) {
            return Err(ApiAuthError::Skew { window, server_time: tcn::format_timestamp(now) });
        }
        let strict = match (request.nonce, request.content_sha256) {
            (Some(nonce), Some(hash)) => match (std::str::from_utf8(nonce), std::str::from_utf8(hash)) {
                (Ok(nonce), Ok(hash)) if !nonce.is_empty() && nonce.len() <= 128 && hash.len() == 64 => {
                    Some(Strict { nonce, content_sha256: hash })
                }
                _ => return Err(ApiAuthError::Header(HeaderError::MalformedAuthorization)),
            },
            _ => None,
        };

        let verdict = match &stamp {
            Some(stamp) => self.check(app, &request, stamp, authorization, timestamp_text, strict, now).await?,
            None => None,
        };
        match verdict {
            Some(caller) => {
                if let (Some(stamp), Some(strict)) = (&stamp, strict) {
                    // The nonce is spent only once the signature is known good.
                    let expires = now.plus_seconds(stamp.clock_skew_seconds.max(1) * 2);
                    let mut tx = app.db.begin().await?;
                    let fresh = credentials::use_nonce(&mut tx, stamp.credential, strict.nonce, expires, now).await?;
                    tx.commit().await.map_err(StorageError::from)?;
                    if !fresh {
                        return Err(self.fail(app, &request, token, stamp.tenant.into(), now).await);
                    }
                }
                Ok(caller)
            }
            None => {
                // A blocked token answers 429 to failing attempts only: the token is not
                // secret, so blocking its correctly signed calls would let anyone stop an
                // integration.
                if let Some(until) = self.locally_blocked(&token_scope(token), now) {
                    return Err(throttled(until, now));
                }
                Err(self.fail(app, &request, token, stamp.map(|s| s.tenant), now).await)
            }
        }
    }

    /// `Some(caller)` when the credential is alive, its user may use the API, the tenant
    /// matches and a live secret signed the request.
    #[allow(clippy::too_many_arguments)]
    async fn check(
        &self,
        app: &App,
        request: &ApiRequest<'_>,
        stamp: &Stamp,
        authorization: tcn::Authorization<'_>,
        timestamp_text: &str,
        strict: Option<Strict<'_>>,
        now: Timestamp,
    ) -> Result<Option<ApiCaller>, ApiAuthError> {
        let too_old =
            stamp.max_credential_age_days.is_some_and(|days| stamp.created_at.plus_seconds(days * 86_400) <= now);
        let expired = stamp.expires_at.is_some_and(|at| at <= now);
        let tenant_matches = tenant_matches(request.tenant_in_path, &stamp.tenant_name);
        if stamp.revoked || !stamp.user_active || expired || too_old || !tenant_matches {
            return Ok(None);
        }
        let plain_only = stamp.require_strict_signing && strict.is_none();
        if let Some(strict) = strict
            && request.body_sha256.is_none_or(|body| !body.eq_ignore_ascii_case(strict.content_sha256))
        {
            return Ok(None);
        }
        let cached = self.cached(app, authorization.token, stamp).await?;
        if !cached.principal.permissions.contains(Permission::RestApiUse) {
            return Ok(None);
        }

        let (raw, decoded) = tcn::path_forms(request.raw_path);
        let prefix = request.path_prefix.trim_end_matches('/');
        let mut signed = false;
        'secrets: for secret in &cached.secrets {
            if secret.live_until.is_some_and(|until| until <= now) {
                continue;
            }
            let key = secret.secret.expose_secret().as_bytes();
            for path in std::iter::once(raw).chain(decoded.as_deref()) {
                let sts = if prefix.is_empty() {
                    tcn::string_to_sign(request.method, path, timestamp_text, strict)
                } else {
                    tcn::string_to_sign(request.method, &format!("{prefix}{path}"), timestamp_text, strict)
                };
                if tcn::verify(key, &sts, authorization.digest) {
                    signed = true;
                    break 'secrets;
                }
            }
        }
        if !signed {
            return Ok(None);
        }
        // Told only to a caller whose plain TCN signature is right: nobody else learns that
        // the token exists.
        if plain_only {
            return Err(ApiAuthError::StrictRequired);
        }

        let last = cached.last_touch.load(Ordering::Relaxed);
        if now.unix_micros() - last >= TOUCH_EVERY_MICROS
            && cached.last_touch.compare_exchange(last, now.unix_micros(), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let mut tx = app.db.begin().await?;
            credentials::touch(&mut tx, stamp.credential, now, request.address).await?;
            tx.commit().await.map_err(StorageError::from)?;
        }
        let by_age = stamp.max_credential_age_days.map(|days| stamp.created_at.plus_seconds(days * 86_400));
        let expires = match (stamp.expires_at, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Some(ApiCaller {
            principal: cached.principal.clone(),
            credential: stamp.credential,
            credential_expires_at: expires,
        }))
    }

    /// The cached secrets and rights of `token`, reloaded when a version moved.
    async fn cached(&self, app: &App, token: &str, stamp: &Stamp) -> Result<Arc<Cached>, ApiAuthError> {
        if let Some(hit) = self.cache.read().ok().and_then(|cache| cache.get(token).cloned())
            && hit.version == stamp.version
            && hit.access_version == stamp.access_version
        {
            return Ok(hit);
        }
        let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
        let principal = Principal::load(&mut conn, stamp.tenant, &stamp.tenant_name, stamp.user)
            .await?
            .ok_or(ApiAuthError::Invalid)?;
        let mut secrets = Vec::new();
        for stored in credentials::secrets(&mut conn, stamp.credential).await? {
            secrets.push(CachedSecret {
                secret: app.secret_cipher.decrypt(token, &stored.ciphertext)?,
                live_until: stored.live_until,
            });
        }
        let fresh = Arc::new(Cached {
            version: stamp.version,
            access_version: stamp.access_version,
            principal: Arc::new(principal),
            secrets,
            last_touch: AtomicI64::new(0),
        });
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(token.to_owned(), fresh.clone());
        }
        Ok(fresh)
    }

    /// Counts a failure for the address and the token (shared by every server), audits the
    /// first of each window and the block, and answers 401 or 429.
    async fn fail(
        &self,
        app: &App,
        request: &ApiRequest<'_>,
        token: &str,
        tenant: Option<caretaker_domain::tenant::TenantId>,
        now: Timestamp,
    ) -> ApiAuthError {
        match self.record(app, request, token, tenant, now).await {
            Ok(Some(until)) => throttled(until, now),
            Ok(None) => ApiAuthError::Invalid,
            Err(err) => err,
        }
    }

    async fn record(
        &self,
        app: &App,
        request: &ApiRequest<'_>,
        token: &str,
        tenant: Option<caretaker_domain::tenant::TenantId>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, ApiAuthError> {
        let mut scopes = vec![(token_scope(token), TOKEN_POLICY)];
        if let Some(address) = request.address {
            scopes.push((address_scope(address), ADDRESS_POLICY));
        }
        let mut tx = app.db.begin().await?;
        let mut blocked_until = None;
        for (scope, policy) in scopes {
            let (failures, until) = throttle::record_failure_counted(&mut tx, &scope, policy, now).await?;
            if let Some(until) = until {
                self.remember_block(scope.clone(), until);
                blocked_until = Some(blocked_until.map_or(until, |b: Timestamp| b.max(until)));
            }
            // A flood writes two lines per window and scope, not one per attempt.
            let detail = if failures == 1 {
                Some(String::from("first failed attempt in this window"))
            } else if failures == policy.limit {
                Some(format!("{failures} failed attempts: blocked for {} seconds", policy.block_seconds))
            } else {
                None
            };
            if let Some(detail) = detail {
                audit::record(
                    &mut tx,
                    &Event {
                        tenant,
                        actor: Actor::System,
                        source_address: request.address,
                        action: "api.authentication_failed",
                        target: Some(&scope),
                        detail: &detail,
                    },
                    now,
                )
                .await?;
            }
        }
        tx.commit().await.map_err(StorageError::from)?;
        Ok(blocked_until)
    }
}

fn throttled(until: Timestamp, now: Timestamp) -> ApiAuthError {
    ApiAuthError::Throttled { retry_after_seconds: ((until.unix_micros() - now.unix_micros()) / 1_000_000).max(1) }
}

/// The path's tenant segment names the credential's tenant (percent-decoded, any case).
fn tenant_matches(in_path: &str, tenant_name: &str) -> bool {
    let decoded = percent_encoding_decode(in_path);
    decoded.eq_ignore_ascii_case(tenant_name)
}

fn percent_encoding_decode(text: &str) -> String {
    match caretaker_domain::tcn::path_forms(text) {
        (_, Some(decoded)) => decoded,
        (raw, None) => raw.to_owned(),
    }
}
