//! Tenants.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::{TenantId, TenantName};
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::{Db, StorageError};

/// A stored tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
    pub clock_skew_seconds: i64,
    pub require_strict_signing: bool,
    /// Credentials older than this stop working (a tenant setting; `None`: no limit).
    pub max_credential_age_days: Option<i64>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, name, clock_skew_seconds, require_strict_signing, max_credential_age_days, created_at";

fn from_row(row: &AnyRow) -> Result<Tenant, StorageError> {
    let name: String = row.try_get("name")?;
    Ok(Tenant {
        id: TenantId(row.try_get("id")?),
        name: TenantName::parse(&name)
            .map_err(|rule| StorageError::Corrupt(format!("tenant name {name:?}: {rule}")))?,
        clock_skew_seconds: row.try_get("clock_skew_seconds")?,
        require_strict_signing: row.try_get::<i64, _>("require_strict_signing")? != 0,
        max_credential_age_days: row.try_get("max_credential_age_days")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

/// Inserts a tenant; [`StorageError::Conflict`] when the name is taken, in any case.
pub async fn insert(conn: &mut AnyConnection, name: &TenantName, now: Timestamp) -> Result<Tenant, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(&format!(
                "INSERT INTO tenants (name, name_key, created_at) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
            ))
            .bind(name.as_str())
            .bind(name.key())
            .bind(now.unix_micros()),
        )
        .await?;
    from_row(&row)
}

/// All tenants, by name.
pub async fn list(db: &Db) -> Result<Vec<Tenant>, StorageError> {
    let rows = db.read().fetch_all(sqlx::query(&format!("SELECT {COLUMNS} FROM tenants ORDER BY name_key"))).await?;
    rows.iter().map(from_row).collect()
}

/// The tenant of that name, in any case.
pub async fn find_by_name<'c, E>(executor: E, name: &str) -> Result<Option<Tenant>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE name_key = $1")).bind(name.to_ascii_lowercase()),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Holds the tenant's row until the transaction ends: serialises changes that must see
/// each other (e.g. keeping one active Administrator). Works alike on both databases.
pub async fn lock(conn: &mut sqlx::AnyConnection, tenant: TenantId) -> Result<(), StorageError> {
    conn.execute(sqlx::query("UPDATE tenants SET name = name WHERE id = $1").bind(tenant.0)).await?;
    Ok(())
}
