//! Signing in to the web application: sessions, passwords, set-password links, and the
//! throttle on failed sign-ins (per account and per address, shared by all servers).

use std::sync::OnceLock;

use caretaker_domain::BrokenRule;
use caretaker_domain::clock::Timestamp;
use caretaker_domain::contractor::display_name;
use caretaker_domain::user::{Email, UserStatus};
use caretaker_storage::audit::{self, Actor, Event};
use caretaker_storage::tenants::Tenant;
use caretaker_storage::throttle::{self, Policy};
use caretaker_storage::{StorageError, sessions, users};
use secrecy::{ExposeSecret, SecretString};

use crate::principal::Principal;
use crate::{App, AppError, password, tokens};

/// A session ends after this long without a request...
pub const IDLE_SECONDS: i64 = 60 * 60;
/// ...and after this long whatever the activity.
pub const ABSOLUTE_SECONDS: i64 = 12 * 60 * 60;
/// `last_seen_at` is written at most this often (not on every request).
const TOUCH_EVERY_SECONDS: i64 = 60;

/// Five wrong passwords for one account in 15 minutes lock it for 15 minutes.
pub const ACCOUNT_POLICY: Policy = Policy { limit: 5, window_seconds: 900, block_seconds: 900 };
/// Thirty failures from one address in 15 minutes block the address for 15 minutes.
pub const ADDRESS_POLICY: Policy = Policy { limit: 30, window_seconds: 900, block_seconds: 900 };

/// Why a sign-in did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown e-mail, wrong password, or an account that may not sign in: never told apart.
    #[error("the e-mail address or password is wrong")]
    Invalid,
    #[error("too many failed sign-ins; try again in {retry_after_seconds} seconds")]
    Throttled { retry_after_seconds: i64 },
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StorageError> for SignInError {
    fn from(err: StorageError) -> Self {
        SignInError::App(err.into())
    }
}

/// A new session: the cookie value (shown to the browser only) and its CSRF token.
#[derive(Debug)]
pub struct NewSession {
    pub id: SecretString,
    pub csrf_token: String,
    pub must_change_password: bool,
}

/// A session in use.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub principal: Principal,
    pub csrf_token: String,
    pub id_hash: String,
}

fn account_scope(tenant: &Tenant, email_key: &str) -> String {
    format!("signin-account:{}:{email_key}", tenant.id.0)
}

fn address_scope(address: &str) -> String {
    format!("signin-address:{address}")
}

/// A hash to verify against when the account does not exist, so that an unknown e-mail
/// costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| password::hash(&password::generate()).unwrap_or_default())
}

fn retry_after(until: Timestamp, now: Timestamp) -> i64 {
    ((until.unix_micros() - now.unix_micros()) / 1_000_000).max(1)
}

/// Signs in with e-mail and password.
pub async fn sign_in(
    app: &App,
    tenant: &Tenant,
    email: &str,
    password: SecretString,
    address: Option<&str>,
) -> Result<NewSession, SignInError> {
    let now = app.clock.now();
    let email_key = email.trim().to_lowercase();
    let account = account_scope(tenant, &email_key);
    let by_address = address.map(address_scope);
    for scope in std::iter::once(&account).chain(by_address.as_ref()) {
        if let Some(until) = throttle::blocked_until(app.db.read(), scope, now).await? {
            return Err(SignInError::Throttled { retry_after_seconds: retry_after(until, now) });
        }
    }

    let user = match Email::parse(email) {
        Ok(parsed) => {
            let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
            users::find_by_email(&mut conn, tenant.id, &parsed).await?
        }
        Err(_) => None,
    };
    let stored_hash = match &user {
        Some(user) => users::password_hash(app.db.read(), user.id).await?,
        None => None,
    };
    let hash = stored_hash.clone().unwrap_or_else(|| decoy_hash().to_owned());
    let candidate = password.clone();
    let matches = crate::verify_off_thread(candidate, hash).await?;

    let user = match user {
        Some(user) if matches && stored_hash.is_some() && user.status == UserStatus::Active => user,
        other => {
            let mut tx = app.db.begin().await?;
            let mut blocked = throttle::record_failure(&mut tx, &account, ACCOUNT_POLICY, now).await?;
            if let Some(scope) = &by_address {
                blocked = blocked.or(throttle::record_failure(&mut tx, scope, ADDRESS_POLICY, now).await?);
            }
            audit::record(
                &mut tx,
                &Event {
                    tenant: Some(tenant.id),
                    actor: other.as_ref().map_or(Actor::System, |u| Actor::User(u.id)),
                    source_address: address,
                    action: "user.sign_in_failed",
                    // What was typed, bounded: a password typed into the e-mail box must not
                    // be stored whole.
                    target: Some(&bounded_target(email)),
                    detail: if blocked.is_some() { "sign-ins blocked for a while" } else { "" },
                },
                now,
            )
            .await?;
            tx.commit().await.map_err(StorageError::from)?;
            return Err(SignInError::Invalid);
        }
    };

    let id = tokens::random_token();
    let csrf_token = tokens::random_token();
    let mut tx = app.db.begin().await?;
    sessions::insert(
        &mut tx,
        &tokens::hash_token(&id),
        &sessions::Session {
            tenant: tenant.id,
            user: user.id,
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now.plus_seconds(ABSOLUTE_SECONDS),
        },
        address,
    )
    .await?;
    throttle::clear(&mut tx, &account).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(tenant.id),
            actor: Actor::User(user.id),
            source_address: address,
            action: "user.signed_in",
            target: Some(&user.email),
            detail: "",
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(NewSession { id: SecretString::from(id), csrf_token, must_change_password: user.must_change_password })
}

/// The session behind a cookie value, if it is alive and its user may still act.
pub async fn load_session(app: &App, tenant: &Tenant, session_id: &str) -> Result<Option<SessionContext>, AppError> {
    let now = app.clock.now();
    let id_hash = tokens::hash_token(session_id);
    let Some(session) = sessions::find(app.db.read(), &id_hash).await? else {
        return Ok(None);
    };
    let idle_cutoff = now.plus_seconds(-IDLE_SECONDS);
    if session.tenant != tenant.id || session.expires_at <= now || session.last_seen_at <= idle_cutoff {
        return Ok(None);
    }
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let principal = Principal::load(&mut conn, tenant.id, tenant.name.as_str(), session.user).await?;
    drop(conn);
    let Some(principal) = principal else {
        return Ok(None);
    };
    if session.last_seen_at <= now.plus_seconds(-TOUCH_EVERY_SECONDS) {
        let mut tx = app.db.begin().await?;
        sessions::touch(&mut tx, &id_hash, now).await?;
        tx.commit().await.map_err(StorageError::from)?;
    }
    Ok(Some(SessionContext { principal, csrf_token: session.csrf_token, id_hash }))
}

/// Ends the session.
pub async fn sign_out(app: &App, session: &SessionContext) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    sessions::delete(&mut tx, &session.id_hash).await?;
    audit::record(&mut tx, &user_event(&session.principal, "user.signed_out", ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

fn user_event<'a>(principal: &'a Principal, action: &'a str, detail: &'a str) -> Event<'a> {
    Event {
        tenant: Some(principal.tenant),
        actor: principal.actor(),
        source_address: principal.source_address.as_deref(),
        action,
        target: Some(&principal.email),
        detail,
    }
}

/// Changes the signed-in user's password; other sessions of the user end.
pub async fn change_password(
    app: &App,
    session: &SessionContext,
    current: SecretString,
    new: SecretString,
    confirm: SecretString,
) -> Result<(), AppError> {
    let Some(user) = session.principal.user else {
        return Err(AppError::NotFound);
    };
    let stored = users::password_hash(app.db.read(), user).await?.unwrap_or_else(|| decoy_hash().to_owned());
    let matches = crate::verify_off_thread(current, stored).await?;
    let mut check = caretaker_domain::rules::RuleCheck::new();
    if !matches {
        check.push(BrokenRule::new("User", "WrongPassword", "The current password is wrong"));
    }
    check.check(password::check_rules(&new));
    if new.expose_secret() != confirm.expose_secret() {
        check.push(BrokenRule::new("User", "PasswordsDiffer", "The new password and its confirmation differ"));
    }
    check.finish().map_err(AppError::Invalid)?;
    let hash = crate::hash_off_thread(new).await?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    users::set_password(&mut tx, user, &hash, false, now).await?;
    sessions::delete_for_user(&mut tx, user, Some(&session.id_hash)).await?;
    audit::record(&mut tx, &user_event(&session.principal, "user.password_changed", ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// Whether a set-password link is usable (for showing its form).
pub async fn set_password_link_is_valid(app: &App, tenant: &Tenant, token: &str) -> Result<bool, AppError> {
    let now = app.clock.now();
    let Some(user) = sessions::find_set_password_link(app.db.read(), &tokens::hash_token(token), now).await? else {
        return Ok(false);
    };
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(users::get(&mut conn, tenant.id, user).await?.is_some_and(|u| u.status != UserStatus::Disabled))
}

/// Sets a password through a one-time link; an invited user becomes active.
pub async fn set_password_with_link(
    app: &App,
    tenant: &Tenant,
    token: &str,
    new: SecretString,
    confirm: SecretString,
    address: Option<&str>,
) -> Result<(), AppError> {
    let mut check = caretaker_domain::rules::RuleCheck::new();
    check.check(password::check_rules(&new));
    if new.expose_secret() != confirm.expose_secret() {
        check.push(BrokenRule::new("User", "PasswordsDiffer", "The new password and its confirmation differ"));
    }
    check.finish().map_err(AppError::Invalid)?;
    let now = app.clock.now();
    let token_hash = tokens::hash_token(token);
    // Only a live link earns an (expensive) password hash: guessing links costs nothing.
    if sessions::find_set_password_link(app.db.read(), &token_hash, now).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let hash = crate::hash_off_thread(new).await?;
    let mut tx = app.db.begin().await?;
    let Some(user_id) = sessions::find_set_password_link(&mut *tx, &token_hash, now).await? else {
        return Err(AppError::NotFound);
    };
    let Some(user) = users::get(&mut tx, tenant.id, user_id).await? else {
        return Err(AppError::NotFound);
    };
    if user.status == UserStatus::Disabled || !sessions::use_set_password_link(&mut tx, &token_hash, now).await? {
        return Err(AppError::NotFound);
    }
    users::set_password(&mut tx, user.id, &hash, false, now).await?;
    if user.status == UserStatus::Invited {
        users::set_status(&mut tx, tenant.id, user.id, UserStatus::Active, now).await?;
    }
    sessions::delete_for_user(&mut tx, user.id, None).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(tenant.id),
            actor: Actor::User(user.id),
            source_address: address,
            action: "user.password_set",
            target: Some(&user.email),
            detail: "through a set-password link",
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// Changes the signed-in user's display name.
pub async fn update_profile(app: &App, session: &SessionContext, name: &str) -> Result<(), AppError> {
    let Some(user) = session.principal.user else {
        return Err(AppError::NotFound);
    };
    let name = display_name("User", name, 200).map_err(AppError::invalid)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    users::update_name(&mut tx, user, &name, now).await?;
    audit::record(&mut tx, &user_event(&session.principal, "user.profile_changed", ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// The e-mail as typed, for the audit log: a valid address whole, anything else cut short.
fn bounded_target(typed: &str) -> String {
    match Email::parse(typed) {
        Ok(email) => email.as_str().to_owned(),
        Err(_) => {
            let cut: String = typed.trim().chars().take(3).collect();
            format!("(not an e-mail address: {cut}...)")
        }
    }
}
