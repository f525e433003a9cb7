//! The audit log: security-relevant events, written in the same transaction as the change
//! they record.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::{AnyConnection, Executor, Row};

use crate::read::{Bind, Sql};
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

pub async fn record(conn: &mut AnyConnection, event: &Event<'_>, now: Timestamp) -> Result<(), StorageError> {
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
    /// The acting user's e-mail, when a user acted.
    pub actor_email: Option<String>,
    pub source_address: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

/// Which events a list shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Actions starting with this (`user.` matches `user.created`, `user.disabled`, ...).
    pub action_prefix: Option<String>,
    /// Matches the acting user's e-mail or the target, any case.
    pub search: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// The statement of [`list`]: only the conditions asked for, so a time window bounds the
/// index range (`$n IS NULL OR occurred_at < $n` made a window in the past read every
/// newer event first).
fn list_sql(tenant: TenantId, filter: &Filter, limit: i64) -> Sql {
    let mut sql = Sql::default();
    let mut conditions = format!("a.tenant_id = {}", sql.arg(Bind::Int(tenant.0)));
    if let Some(prefix) = &filter.action_prefix {
        let pattern = format!("{}%", crate::contractors::like_escape(prefix.trim()));
        conditions.push_str(&format!(" AND a.action LIKE {} ESCAPE '\\'", sql.arg(Bind::Text(pattern))));
    }
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", crate::contractors::like_escape(&search.trim().to_lowercase()));
        let arg = sql.arg(Bind::Text(pattern));
        conditions.push_str(&format!(
            " AND (LOWER(COALESCE(u.email, '')) LIKE {arg} ESCAPE '\\' OR LOWER(COALESCE(a.target, '')) LIKE {arg} ESCAPE '\\')"
        ));
    }
    if let Some(since) = filter.since {
        conditions.push_str(&format!(" AND a.occurred_at >= {}", sql.arg(Bind::Int(since.unix_micros()))));
    }
    if let Some(until) = filter.until {
        conditions.push_str(&format!(" AND a.occurred_at < {}", sql.arg(Bind::Int(until.unix_micros()))));
    }
    let limit = sql.arg(Bind::Int(limit));
    sql.text = format!(
        "SELECT a.occurred_at, a.actor_kind, u.email AS actor_email, a.source_address, a.action, a.target, a.detail
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id
         WHERE {conditions}
         ORDER BY a.occurred_at DESC, a.id DESC LIMIT {limit}"
    )
    .into();
    sql
}

/// The tenant's events matching `filter`, newest first.
pub async fn list(db: &Db, tenant: TenantId, filter: &Filter, limit: i64) -> Result<Vec<Entry>, StorageError> {
    let rows = db.read().fetch_all(list_sql(tenant, filter, limit).query()).await?;
    rows.iter().map(entry_from_row).collect()
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<Entry, StorageError> {
    Ok(Entry {
        occurred_at: Timestamp::from_unix_micros(row.try_get("occurred_at")?),
        actor_kind: row.try_get("actor_kind")?,
        actor_email: row.try_get("actor_email")?,
        source_address: row.try_get("source_address")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        detail: row.try_get("detail")?,
    })
}

/// The newest `limit` events of a tenant, newest first.
pub async fn recent(db: &Db, tenant: TenantId, limit: i64) -> Result<Vec<Entry>, StorageError> {
    list(db, tenant, &Filter::default(), limit).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query_plan;
    use crate::testing::TestDb;

    /// A window in the past starts its index range at the window's end.
    #[tokio::test]
    async fn a_time_window_bounds_the_index_range() {
        let t = TestDb::sqlite().await;
        let until = Timestamp::from_unix_micros(1_700_000_000_000_000);
        let filter = Filter { until: Some(until), ..Filter::default() };
        let plan = query_plan(&t.db, &list_sql(TenantId(1), &filter, 500)).await;
        assert!(plan.contains("(tenant_id=? AND occurred_at<?)"), "{plan}");
        let filter = Filter { since: Some(until), until: Some(until.plus_seconds(86_400)), ..Filter::default() };
        let plan = query_plan(&t.db, &list_sql(TenantId(1), &filter, 500)).await;
        assert!(plan.contains("(tenant_id=? AND occurred_at>? AND occurred_at<?)"), "{plan}");
    }
}
