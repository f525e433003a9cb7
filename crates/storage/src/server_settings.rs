//! Server-wide settings kept in the database (not per tenant).

use sqlx::{AnyConnection, Executor, Row};

use crate::{Db, StorageError};

/// The value of a setting.
pub async fn get(db: &Db, name: &str) -> Result<Option<String>, StorageError> {
    let row =
        db.read().fetch_optional(sqlx::query("SELECT value FROM server_settings WHERE name = $1").bind(name)).await?;
    Ok(row.map(|row| row.try_get("value")).transpose()?)
}

/// Sets the value only if the setting is absent; returns the value that is stored now
/// (so that two servers racing to set it agree on one).
pub async fn get_or_insert(conn: &mut AnyConnection, name: &str, value: &str) -> Result<String, StorageError> {
    conn.execute(
        sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value),
    )
    .await?;
    let row = conn.fetch_one(sqlx::query("SELECT value FROM server_settings WHERE name = $1").bind(name)).await?;
    Ok(row.try_get("value")?)
}
