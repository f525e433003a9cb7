//! API credentials and their encrypted secrets. Nothing here sees a secret in clear.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::StorageError;
use crate::read::{Bind, Reader, Sql};

/// A credential's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CredentialId(pub i64);

/// A stored credential (without secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub id: CredentialId,
    pub tenant: TenantId,
    pub user: UserId,
    pub token: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_address: Option<String>,
}

/// An encrypted secret of a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSecret {
    pub id: i64,
    pub ciphertext: Vec<u8>,
    pub last_four: String,
    pub created_at: Timestamp,
    /// `None` for the current secret; the end of the grace period for the previous one.
    pub live_until: Option<Timestamp>,
}

const COLUMNS: &str = "c.id, c.tenant_id, c.user_id, c.token, c.version, c.created_at, c.created_by, c.expires_at,
    c.revoked_at, c.last_used_at, c.last_used_address";

fn ts(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, StorageError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp::from_unix_micros))
}

fn from_row(row: &AnyRow) -> Result<Credential, StorageError> {
    Ok(Credential {
        id: CredentialId(row.try_get("id")?),
        tenant: TenantId(row.try_get("tenant_id")?),
        user: UserId(row.try_get("user_id")?),
        token: row.try_get("token")?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        expires_at: ts(row, "expires_at")?,
        revoked_at: ts(row, "revoked_at")?,
        last_used_at: ts(row, "last_used_at")?,
        last_used_address: row.try_get("last_used_address")?,
    })
}

/// The user's credential, live or revoked.
pub async fn of_user(conn: &mut AnyConnection, user: UserId) -> Result<Option<Credential>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("SELECT {COLUMNS} FROM api_credentials c WHERE c.user_id = $1")).bind(user.0),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every credential of the tenant with its user's e-mail, for the credential report.
pub async fn of_tenant(conn: &mut AnyConnection, tenant: TenantId) -> Result<Vec<(Credential, String)>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(&format!(
                "SELECT {COLUMNS}, u.email FROM api_credentials c JOIN users u ON u.id = c.user_id
                 WHERE c.tenant_id = $1 ORDER BY u.email_key"
            ))
            .bind(tenant.0),
        )
        .await?;
    rows.iter().map(|row| Ok((from_row(row)?, row.try_get("email")?))).collect()
}

/// Creates the user's credential, or gives the existing row a new token (all old secrets
/// deleted) when there is one. Returns the credential's id.
pub async fn upsert(
    conn: &mut AnyConnection,
    tenant: TenantId,
    user: UserId,
    token: &str,
    created_by: &str,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<CredentialId, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO api_credentials (tenant_id, user_id, token, created_at, created_by, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (user_id) DO UPDATE SET token = $3, created_at = $4, created_by = $5, expires_at = $6,
                     revoked_at = NULL, last_used_at = NULL, last_used_address = NULL,
                     version = api_credentials.version + 1
                 RETURNING id",
            )
            .bind(tenant.0)
            .bind(user.0)
            .bind(token)
            .bind(now.unix_micros())
            .bind(created_by)
            .bind(expires_at.map(Timestamp::unix_micros)),
        )
        .await?;
    let id = CredentialId(row.try_get(0)?);
    conn.execute(sqlx::query("DELETE FROM api_secrets WHERE credential_id = $1").bind(id.0)).await?;
    Ok(id)
}

/// Changes the token (the secrets stay, re-encrypted by the caller).
pub async fn set_token(conn: &mut AnyConnection, id: CredentialId, token: &str) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE api_credentials SET token = $1, version = version + 1 WHERE id = $2")
            .bind(token)
            .bind(id.0),
    )
    .await?;
    Ok(())
}

/// Marks the credential's rights as changed (a secret rotated).
pub async fn bump_version(conn: &mut AnyConnection, id: CredentialId) -> Result<(), StorageError> {
    conn.execute(sqlx::query("UPDATE api_credentials SET version = version + 1 WHERE id = $1").bind(id.0)).await?;
    Ok(())
}

/// Revokes: the token stops working at once and the secrets are deleted.
pub async fn revoke(conn: &mut AnyConnection, id: CredentialId, now: Timestamp) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE api_credentials SET revoked_at = $1, version = version + 1 WHERE id = $2")
            .bind(now.unix_micros())
            .bind(id.0),
    )
    .await?;
    conn.execute(sqlx::query("DELETE FROM api_secrets WHERE credential_id = $1").bind(id.0)).await?;
    Ok(())
}

/// The credential's secrets, newest first.
pub async fn secrets(conn: &mut AnyConnection, id: CredentialId) -> Result<Vec<StoredSecret>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(
                "SELECT id, ciphertext, last_four, created_at, live_until FROM api_secrets
                 WHERE credential_id = $1 ORDER BY id DESC",
            )
            .bind(id.0),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredSecret {
                id: row.try_get("id")?,
                ciphertext: row.try_get("ciphertext")?,
                last_four: row.try_get("last_four")?,
                created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
                live_until: ts(row, "live_until")?,
            })
        })
        .collect()
}

/// Adds the new current secret. The previous current one lives until `previous_until`
/// (`now` kills it at once); any older one is deleted, so at most two are ever live.
pub async fn add_secret(
    conn: &mut AnyConnection,
    id: CredentialId,
    ciphertext: &[u8],
    last_four: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM api_secrets WHERE credential_id = $1 AND live_until IS NOT NULL").bind(id.0))
        .await?;
    conn.execute(
        sqlx::query("UPDATE api_secrets SET live_until = $1 WHERE credential_id = $2 AND live_until IS NULL")
            .bind(previous_until.unix_micros())
            .bind(id.0),
    )
    .await?;
    conn.execute(
        sqlx::query(
            "INSERT INTO api_secrets (credential_id, ciphertext, last_four, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(ciphertext)
        .bind(last_four)
        .bind(now.unix_micros()),
    )
    .await?;
    Ok(())
}

/// Replaces a secret's ciphertext (after the token, its associated data, changed).
pub async fn reencrypt_secret(conn: &mut AnyConnection, secret_id: i64, ciphertext: &[u8]) -> Result<(), StorageError> {
    conn.execute(sqlx::query("UPDATE api_secrets SET ciphertext = $1 WHERE id = $2").bind(ciphertext).bind(secret_id))
        .await?;
    Ok(())
}

/// What the hot path checks on every request: one indexed read that says whether cached
/// rights and secrets are still current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub credential: CredentialId,
    pub tenant: TenantId,
    pub tenant_name: String,
    pub user: UserId,
    pub version: i64,
    pub access_version: i64,
    pub user_active: bool,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub clock_skew_seconds: i64,
    pub require_strict_signing: bool,
    pub max_credential_age_days: Option<i64>,
}

pub async fn stamp<'r>(reader: impl Into<Reader<'r>>, token: &str) -> Result<Option<Stamp>, StorageError> {
    let sql = Sql::new(
        "SELECT c.id, c.tenant_id, t.name AS tenant_name, c.user_id, c.version, u.access_version, u.status,
                c.created_at, c.expires_at, c.revoked_at, t.clock_skew_seconds, t.require_strict_signing,
                t.max_credential_age_days
         FROM api_credentials c
         JOIN users u ON u.id = c.user_id
         JOIN tenants t ON t.id = c.tenant_id
         WHERE c.token = $1",
    )
    .bind(Bind::Text(token.to_owned()));
    reader
        .into()
        .first(&sql, |row| {
            Ok(Stamp {
                credential: CredentialId(row.int(0)?),
                tenant: TenantId(row.int(1)?),
                tenant_name: row.text(2)?,
                user: UserId(row.int(3)?),
                version: row.int(4)?,
                access_version: row.int(5)?,
                user_active: row.text(6)? == "Active",
                created_at: Timestamp::from_unix_micros(row.int(7)?),
                expires_at: row.opt_int(8)?.map(Timestamp::from_unix_micros),
                revoked: row.opt_int(9)?.is_some(),
                clock_skew_seconds: row.int(10)?,
                require_strict_signing: row.int(11)? != 0,
                max_credential_age_days: row.opt_int(12)?,
            })
        })
        .await
}

/// Records a use (at most about once a minute per credential; the caller decides).
pub async fn touch(
    conn: &mut AnyConnection,
    id: CredentialId,
    now: Timestamp,
    address: Option<&str>,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE api_credentials SET last_used_at = $1, last_used_address = $2 WHERE id = $3")
            .bind(now.unix_micros())
            .bind(address)
            .bind(id.0),
    )
    .await?;
    Ok(())
}

/// Uses a nonce up; `false` when it was used before within its window (a replay).
pub async fn use_nonce(
    conn: &mut AnyConnection,
    id: CredentialId,
    nonce: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StorageError> {
    conn.execute(sqlx::query("DELETE FROM api_nonces WHERE expires_at <= $1").bind(now.unix_micros())).await?;
    let done = conn
        .execute(
            sqlx::query(
                "INSERT INTO api_nonces (credential_id, nonce, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (credential_id, nonce) DO NOTHING",
            )
            .bind(id.0)
            .bind(nonce)
            .bind(expires_at.unix_micros()),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the tenant's signing settings.
pub async fn set_tenant_signing(
    conn: &mut AnyConnection,
    tenant: TenantId,
    clock_skew_seconds: i64,
    require_strict_signing: bool,
    max_credential_age_days: Option<i64>,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "UPDATE tenants SET clock_skew_seconds = $1, require_strict_signing = $2, max_credential_age_days = $3
             WHERE id = $4",
        )
        .bind(clock_skew_seconds)
        .bind(crate::flag(require_strict_signing))
        .bind(max_credential_age_days)
        .bind(tenant.0),
    )
    .await?;
    Ok(())
}

/// Deletes nonces whose window has passed.
pub async fn purge_nonces(conn: &mut AnyConnection, now: Timestamp) -> Result<u64, StorageError> {
    let done =
        conn.execute(sqlx::query("DELETE FROM api_nonces WHERE expires_at <= $1").bind(now.unix_micros())).await?;
    Ok(done.rows_affected())
}
