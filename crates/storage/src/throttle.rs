//! Failed-authentication throttling, shared by every server on the database.
//!
//! Per scope (an account, an address, a token), failures are counted in fixed windows; the
//! failure that reaches the limit blocks the scope for a while. One upsert per failure; a
//! check is one indexed read.

use caretaker_domain::clock::Timestamp;
use sqlx::{AnyConnection, Executor, Row};

use crate::StorageError;

/// How a scope is throttled.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed within one window before blocking.
    pub limit: i64,
    pub window_seconds: i64,
    pub block_seconds: i64,
}

/// When the scope is blocked until, if it is blocked now.
pub async fn blocked_until<'c, E>(executor: E, scope: &str, now: Timestamp) -> Result<Option<Timestamp>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query("SELECT blocked_until FROM auth_throttle WHERE scope = $1 AND blocked_until > $2")
                .bind(scope)
                .bind(now.unix_micros()),
        )
        .await?;
    row.map(|row| Ok(Timestamp::from_unix_micros(row.try_get(0)?))).transpose()
}

/// Counts a failure; returns the end of the block when this failure reached the limit (or
/// the scope was blocked already).
pub async fn record_failure(
    conn: &mut AnyConnection,
    scope: &str,
    policy: Policy,
    now: Timestamp,
) -> Result<Option<Timestamp>, StorageError> {
    Ok(record_failure_counted(conn, scope, policy, now).await?.1)
}

/// [`record_failure`], also returning the failures counted in the current window (so that
/// callers can log the first of a window and the block, not every failure).
pub async fn record_failure_counted(
    conn: &mut AnyConnection,
    scope: &str,
    policy: Policy,
    now: Timestamp,
) -> Result<(i64, Option<Timestamp>), StorageError> {
    let window_cutoff = now.plus_seconds(-policy.window_seconds).unix_micros();
    let block_end = now.plus_seconds(policy.block_seconds).unix_micros();
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO auth_throttle (scope, window_start, failures, blocked_until)
                 VALUES ($1, $2, 1, CASE WHEN 1 >= $5 THEN $4 ELSE 0 END)
                 ON CONFLICT (scope) DO UPDATE SET
                   failures = CASE WHEN auth_throttle.window_start <= $3 THEN 1 ELSE auth_throttle.failures + 1 END,
                   window_start = CASE WHEN auth_throttle.window_start <= $3 THEN $2 ELSE auth_throttle.window_start END,
                   blocked_until = CASE
                     WHEN auth_throttle.blocked_until > $2 THEN auth_throttle.blocked_until
                     WHEN (CASE WHEN auth_throttle.window_start <= $3 THEN 1 ELSE auth_throttle.failures + 1 END) >= $5 THEN $4
                     ELSE auth_throttle.blocked_until END
                 RETURNING failures, blocked_until",
            )
            .bind(scope)
            .bind(now.unix_micros())
            .bind(window_cutoff)
            .bind(block_end)
            .bind(policy.limit),
        )
        .await?;
    let failures: i64 = row.try_get(0)?;
    let until: i64 = row.try_get(1)?;
    Ok((failures, (until > now.unix_micros()).then(|| Timestamp::from_unix_micros(until))))
}

/// Forgets the scope's failures (after a success).
pub async fn clear(conn: &mut AnyConnection, scope: &str) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM auth_throttle WHERE scope = $1").bind(scope)).await?;
    Ok(())
}

/// Forgets scopes whose window and block both ended before `cutoff`.
pub async fn purge(conn: &mut AnyConnection, cutoff: Timestamp) -> Result<u64, StorageError> {
    let done = conn
        .execute(
            sqlx::query("DELETE FROM auth_throttle WHERE window_start < $1 AND blocked_until < $1")
                .bind(cutoff.unix_micros()),
        )
        .await?;
    Ok(done.rows_affected())
}
