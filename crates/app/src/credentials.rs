//! API credentials: generating, rotating (token or secret, with an optional grace period
//! for the old secret), revoking, and what Account Settings > API and the credential report
//! show. The plaintext secret leaves this module once, in [`Generated`], and never again.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, Permission, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::credential;
use caretaker_domain::user::UserId;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::credentials::{self, Credential};
use caretaker_storage::{Conn, StorageError};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::principal::Principal;
use crate::{App, AppError};

/// The longest grace period an old secret may keep working after a rotation.
pub const MAX_GRACE_SECONDS: i64 = 7 * 86_400;

/// A freshly generated pair: shown once, then only the token and the secret's last four.
#[derive(Debug)]
pub struct Generated {
    pub token: String,
    pub secret: SecretString,
}

/// A secret as pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    pub last_four: String,
    pub created_at: Timestamp,
    /// `None`: the current secret. Otherwise the end of its grace period.
    pub live_until: Option<Timestamp>,
}

/// A credential as Account Settings > API and the administrators' pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialView {
    pub credential: Credential,
    pub secrets: Vec<SecretInfo>,
    /// When it stops working: its own expiry or the tenant's maximum age, whichever is first.
    pub effective_expiry: Option<Timestamp>,
}

fn random_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(credential::secret_from_bytes(&bytes))
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn needs_rest_api(target: &Principal) -> Result<(), AppError> {
    if target.permissions.contains(Permission::RestApiUse) {
        Ok(())
    } else {
        Err(AppError::forbidden(BrokenRule::new(
            "ApiCredentials",
            "RestApiPackageRequired",
            "Only users holding the REST API role package have API credentials",
        )))
    }
}

fn created_by(by: &Principal) -> String {
    match by.user {
        Some(_) => by.email.clone(),
        None => String::from("operator"),
    }
}

fn event<'a>(by: &'a Principal, action: &'a str, target: &'a str, detail: &'a str) -> Event<'a> {
    Event {
        tenant: Some(by.tenant),
        actor: by.actor(),
        source_address: by.source_address.as_deref(),
        action,
        target: Some(target),
        detail,
    }
}

/// The longest expiry a credential may be given.
pub const MAX_EXPIRY_DAYS: i64 = 3650;

/// Generates (or regenerates) `target`'s token and secret. `by` is the target itself
/// (Account Settings) or the operator (the command line). The old pair dies at once.
pub async fn generate(app: &App, by: &Principal, target: &Principal) -> Result<Generated, AppError> {
    generate_expiring(app, by, target, None).await
}

/// [`generate`], with the credential expiring after `expires_in_days` (1 to 3,650).
pub async fn generate_expiring(
    app: &App,
    by: &Principal,
    target: &Principal,
    expires_in_days: Option<i64>,
) -> Result<Generated, AppError> {
    needs_rest_api(target)?;
    if expires_in_days.is_some_and(|days| !(1..=MAX_EXPIRY_DAYS).contains(&days)) {
        return Err(AppError::invalid(BrokenRule::new(
            "ApiCredentials",
            "InvalidExpiry",
            "A credential may expire after 1 to 3,650 days",
        )));
    }
    let Some(user) = target.user else { return Err(AppError::NotFound) };
    let token = new_token();
    let secret = random_secret();
    let ciphertext = app.secret_cipher.encrypt(&token, secret.expose_secret())?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let expires_at = expires_in_days.map(|days| now.plus_seconds(days * 86_400));
    let id = credentials::upsert(&mut tx, target.tenant, user, &token, &created_by(by), expires_at, now).await?;
    credentials::add_secret(&mut tx, id, &ciphertext, &credential::last_four(secret.expose_secret()), now, now).await?;
    audit::record(
        &mut tx,
        &event(by, "api_credentials.generated", &target.email, "new API Token and API Secret Key"),
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(Generated { token, secret })
}

async fn live_credential(conn: &mut Conn, user: UserId) -> Result<Credential, AppError> {
    match credentials::of_user(conn, user).await? {
        Some(found) if found.revoked_at.is_none() => Ok(found),
        _ => Err(AppError::invalid(BrokenRule::new(
            "ApiCredentials",
            "NoCredentials",
            "There are no API credentials yet: generate them first",
        ))),
    }
}

/// A new API Token for the signed-in user; the secret stays, the old token dies at once.
pub async fn rotate_token(app: &App, me: &Principal) -> Result<String, AppError> {
    needs_rest_api(me)?;
    let Some(user) = me.user else { return Err(AppError::NotFound) };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let current = live_credential(&mut tx, user).await?;
    // Lock the credential first (the bump takes its row lock on PostgreSQL): a concurrent
    // secret rotation then waits instead of sealing a secret under the old token.
    credentials::bump_version(&mut tx, current.id).await?;
    let current = live_credential(&mut tx, user).await?;
    let token = new_token();
    for secret in credentials::secrets(&mut tx, current.id).await? {
        let plain = app.secret_cipher.decrypt(&current.token, &secret.ciphertext)?;
        let sealed = app.secret_cipher.encrypt(&token, plain.expose_secret())?;
        credentials::reencrypt_secret(&mut tx, secret.id, &sealed).await?;
    }
    credentials::set_token(&mut tx, current.id, &token).await?;
    audit::record(&mut tx, &event(me, "api_credentials.token_rotated", &me.email, ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(token)
}

/// A new API Secret Key for the signed-in user. The old one dies at once, or after
/// `grace_seconds` (at most 7 days) so a running integration can move over.
pub async fn rotate_secret(app: &App, me: &Principal, grace_seconds: i64) -> Result<SecretString, AppError> {
    needs_rest_api(me)?;
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(AppError::invalid(BrokenRule::new(
            "ApiCredentials",
            "GracePeriodTooLong",
            "The old secret may stay valid for at most 7 days",
        )));
    }
    let Some(user) = me.user else { return Err(AppError::NotFound) };
    let now = app.clock.now();
    let secret = random_secret();
    let mut tx = app.db.begin().await?;
    let first = live_credential(&mut tx, user).await?;
    credentials::bump_version(&mut tx, first.id).await?;
    let current = live_credential(&mut tx, user).await?;
    let sealed = app.secret_cipher.encrypt(&current.token, secret.expose_secret())?;
    let last_four = credential::last_four(secret.expose_secret());
    credentials::add_secret(&mut tx, current.id, &sealed, &last_four, now.plus_seconds(grace_seconds), now).await?;
    let detail = if grace_seconds == 0 {
        String::from("old secret revoked at once")
    } else {
        format!("old secret valid for {grace_seconds} more seconds")
    };
    audit::record(&mut tx, &event(me, "api_credentials.secret_rotated", &me.email, &detail), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(secret)
}

/// Revokes `user`'s credentials: by an administrator of API credentials.
pub async fn revoke(
    app: &App,
    by: &Authorized<'_, can::ApiCredentialsAdminister, Principal>,
    user: UserId,
) -> Result<(), AppError> {
    let by = by.principal();
    revoke_as(app, by, user).await
}

/// Revokes the signed-in user's own credentials.
pub async fn revoke_own(app: &App, me: &Principal) -> Result<(), AppError> {
    let Some(user) = me.user else { return Err(AppError::NotFound) };
    revoke_as(app, me, user).await
}

async fn revoke_as(app: &App, by: &Principal, user: UserId) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let Some(found) = credentials::of_user(&mut tx, user).await? else { return Err(AppError::NotFound) };
    // Another tenant's, or already revoked: nothing to revoke (and nothing to audit twice).
    if found.tenant != by.tenant || found.revoked_at.is_some() {
        return Err(AppError::NotFound);
    }
    let Some(target) = caretaker_storage::users::get(&mut tx, by.tenant, user).await? else {
        return Err(AppError::NotFound);
    };
    credentials::revoke(&mut tx, found.id, now).await?;
    audit::record(&mut tx, &event(by, "api_credentials.revoked", &target.email, ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

async fn view_of(
    conn: &mut Conn,
    found: Credential,
    max_age_days: Option<i64>,
    now: Timestamp,
) -> Result<CredentialView, AppError> {
    let secrets = credentials::secrets(conn, found.id)
        .await?
        .into_iter()
        .filter(|s| s.live_until.is_none_or(|until| until > now))
        .map(|s| SecretInfo { last_four: s.last_four, created_at: s.created_at, live_until: s.live_until })
        .collect();
    let by_age = max_age_days.map(|days| found.created_at.plus_seconds(days * 86_400));
    let effective_expiry = match (found.expires_at, by_age) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(CredentialView { credential: found, secrets, effective_expiry })
}

/// The signed-in user's credential, if any (live or revoked).
pub async fn view_own(app: &App, me: &Principal) -> Result<Option<CredentialView>, AppError> {
    let Some(user) = me.user else { return Ok(None) };
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let Some(found) = credentials::of_user(&mut conn, user).await? else { return Ok(None) };
    let age = tenant_max_age(app, me).await?;
    Ok(Some(view_of(&mut conn, found, age, app.clock.now()).await?))
}

/// A user's credential, for an administrator.
pub async fn view_of_user(
    app: &App,
    by: &Authorized<'_, can::ApiCredentialsAdminister, Principal>,
    user: UserId,
) -> Result<Option<CredentialView>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let Some(found) = credentials::of_user(&mut conn, user).await? else { return Ok(None) };
    if found.tenant != by.principal().tenant {
        return Ok(None);
    }
    let age = tenant_max_age(app, by.principal()).await?;
    Ok(Some(view_of(&mut conn, found, age, app.clock.now()).await?))
}

/// The tenant's credential report: every credential with its user's e-mail.
pub async fn report(
    app: &App,
    by: &Authorized<'_, can::ApiCredentialsAdminister, Principal>,
) -> Result<Vec<(CredentialView, String)>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let age = tenant_max_age(app, by.principal()).await?;
    let now = app.clock.now();
    let mut out = Vec::new();
    for (found, email) in credentials::of_tenant(&mut conn, by.principal().tenant).await? {
        out.push((view_of(&mut conn, found, age, now).await?, email));
    }
    Ok(out)
}

async fn tenant_max_age(app: &App, principal: &Principal) -> Result<Option<i64>, AppError> {
    let tenant = caretaker_storage::tenants::find_by_name(app.db.read(), &principal.tenant_name).await?;
    Ok(tenant.and_then(|t| t.max_credential_age_days))
}
