//! The audit log: security-relevant events, written in the same transaction as the change
//! they record.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::{AnyConnection, Executor, Row};

use crate::{Db, StorageError};

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Someone at the server's command line.
    Operator,
    /// The server itself (expiry, scheduled work).
    System,
    User(UserId),
}

impl Actor {
    fn kind(self) -> &'static str {
        match self {
            Actor::Operator => "operator",
            Actor::System => "system",
            Actor::User(_) => "user",
        }
    }
}

/// One event to record.
#[derive(Debug)]
pub struct Event<'a> {
    pub tenant: Option<TenantId>,
    pub actor: Actor,
    pub source_address: Option<&'a str>,
    /// Dotted verb, e.g. `tenant.created`, `user.signed_in`.
    pub action: &'a str,
    pub target: Option<&'a str>,
    /// Free text for people; never a secret.
    pub detail: &'a str,
}

pub async fn record(
    conn: &mut AnyConnection,
    event: &Event<'_>,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn
    .execute(sqlx::query(
        "INSERT INTO audit_log (tenant_id, occurred_at, actor_kind, actor_user_id, source_address, action, target, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(event.tenant.map(|t| t.0))
    .bind(now.unix_micros())
    .bind(event.actor.kind())
    .bind(match event.actor {
        Actor::User(id) => Some(id.0),
        _ => None,
    })
    .bind(event.source_address)
    .bind(event.action)
    .bind(event.target)
    .bind(event.detail))
    .await?;
    Ok(())
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub occurred_at: Timestamp,
    pub actor_kind: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

/// The newest `limit` events of a tenant, newest first.
pub async fn recent(db: &Db, tenant: TenantId, limit: i64) -> Result<Vec<Entry>, StorageError> {
    let rows = db
        .read()
        .fetch_all(
            sqlx::query(
                "SELECT occurred_at, actor_kind, action, target, detail FROM audit_log
         WHERE tenant_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
            )
            .bind(tenant.0)
            .bind(limit),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Entry {
                occurred_at: Timestamp::from_unix_micros(row.try_get("occurred_at")?),
                actor_kind: row.try_get("actor_kind")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                detail: row.try_get("detail")?,
            })
        })
        .collect()
}
