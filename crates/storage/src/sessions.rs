//! Web sessions and one-time set-password links. Only hashes of their secrets are stored.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::{AnyConnection, Executor, Row};

use crate::StorageError;

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub tenant: TenantId,
    pub user: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert(
    conn: &mut AnyConnection,
    id_hash: &str,
    session: &Session,
    source_address: Option<&str>,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO sessions (id_hash, tenant_id, user_id, csrf_token, created_at, last_seen_at, expires_at, source_address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id_hash)
        .bind(session.tenant.0)
        .bind(session.user.0)
        .bind(&session.csrf_token)
        .bind(session.created_at.unix_micros())
        .bind(session.last_seen_at.unix_micros())
        .bind(session.expires_at.unix_micros())
        .bind(source_address),
    )
    .await?;
    Ok(())
}

pub async fn find<'c, E>(executor: E, id_hash: &str) -> Result<Option<Session>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(
                "SELECT tenant_id, user_id, csrf_token, created_at, last_seen_at, expires_at
                 FROM sessions WHERE id_hash = $1",
            )
            .bind(id_hash),
        )
        .await?;
    row.map(|row| {
        Ok(Session {
            tenant: TenantId(row.try_get("tenant_id")?),
            user: UserId(row.try_get("user_id")?),
            csrf_token: row.try_get("csrf_token")?,
            created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
            last_seen_at: Timestamp::from_unix_micros(row.try_get("last_seen_at")?),
            expires_at: Timestamp::from_unix_micros(row.try_get("expires_at")?),
        })
    })
    .transpose()
}

pub async fn touch(conn: &mut AnyConnection, id_hash: &str, now: Timestamp) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2").bind(now.unix_micros()).bind(id_hash),
    )
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id_hash: &str) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash)).await?;
    Ok(())
}

/// Ends every session of the user, except `keep` (the one changing its own password).
pub async fn delete_for_user(conn: &mut AnyConnection, user: UserId, keep: Option<&str>) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)")
            .bind(user.0)
            .bind(keep),
    )
    .await?;
    Ok(())
}

/// Removes sessions past their absolute or idle expiry.
pub async fn delete_expired(
    conn: &mut AnyConnection,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StorageError> {
    let done = conn
        .execute(
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now.unix_micros())
                .bind(idle_cutoff.unix_micros()),
        )
        .await?;
    Ok(done.rows_affected())
}

/// Records a set-password link; earlier unused links of the user stop working.
pub async fn insert_set_password_link(
    conn: &mut AnyConnection,
    token_hash: &str,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE set_password_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(now.unix_micros())
            .bind(user.0),
    )
    .await?;
    conn.execute(
        sqlx::query(
            "INSERT INTO set_password_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now.unix_micros())
        .bind(expires_at.unix_micros()),
    )
    .await?;
    Ok(())
}

/// The user of an unused, unexpired link.
pub async fn find_set_password_link<'c, E>(
    executor: E,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<UserId>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(
                "SELECT user_id FROM set_password_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now.unix_micros()),
        )
        .await?;
    row.map(|row| Ok(UserId(row.try_get(0)?))).transpose()
}

/// Uses the link up; `false` if it was already used (a concurrent use won).
pub async fn use_set_password_link(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let done = conn
        .execute(
            sqlx::query("UPDATE set_password_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                .bind(now.unix_micros())
                .bind(token_hash),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}
