//! Matrix items and reference list values.

use caretaker_domain::matrix::{MatrixType, ReferenceGroup};
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row};

use crate::read::{Bind, Reader, Sql};
use crate::{StorageError, flag};

/// A matrix item as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixItem {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub is_active: bool,
}

pub async fn insert_matrix_item(
    conn: &mut AnyConnection,
    tenant: TenantId,
    matrix_type: MatrixType,
    code: &str,
    name: &str,
    parent_code: Option<&str>,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO matrix_items (tenant_id, matrix_type, code, name, parent_code) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.0)
        .bind(matrix_type.name())
        .bind(code)
        .bind(name)
        .bind(parent_code),
    )
    .await?;
    Ok(())
}

/// The items of one matrix type, by code.
pub async fn matrix_items<'c, E>(
    executor: E,
    tenant: TenantId,
    matrix_type: MatrixType,
) -> Result<Vec<MatrixItem>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT code, name, parent_code, is_active FROM matrix_items
                 WHERE tenant_id = $1 AND matrix_type = $2 ORDER BY code",
            )
            .bind(tenant.0)
            .bind(matrix_type.name()),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(MatrixItem {
                code: row.try_get("code")?,
                name: row.try_get("name")?,
                parent_code: row.try_get("parent_code")?,
                is_active: row.try_get::<i64, _>("is_active")? != 0,
            })
        })
        .collect()
}

/// How many matrix items the tenant has (0: it has no configuration yet).
pub async fn matrix_item_count<'c, E>(executor: E, tenant: TenantId) -> Result<i64, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_one(sqlx::query("SELECT COUNT(*) FROM matrix_items WHERE tenant_id = $1").bind(tenant.0))
        .await?;
    Ok(row.try_get(0)?)
}

/// A reference list value as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceValue {
    pub value: String,
    pub is_active: bool,
}

pub async fn insert_reference_value(
    conn: &mut AnyConnection,
    tenant: TenantId,
    group: ReferenceGroup,
    value: &str,
    sort_order: i64,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO reference_values (tenant_id, list_group, value, value_key, is_active, sort_order)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.0)
        .bind(group.name())
        .bind(value)
        .bind(value.to_lowercase())
        .bind(flag(true))
        .bind(sort_order),
    )
    .await?;
    Ok(())
}

/// The values of one group, in their order.
pub async fn reference_values<'c, E>(
    executor: E,
    tenant: TenantId,
    group: ReferenceGroup,
) -> Result<Vec<ReferenceValue>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT value, is_active FROM reference_values WHERE tenant_id = $1 AND list_group = $2
                 ORDER BY sort_order, value_key",
            )
            .bind(tenant.0)
            .bind(group.name()),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ReferenceValue { value: row.try_get("value")?, is_active: row.try_get::<i64, _>("is_active")? != 0 })
        })
        .collect()
}

/// Every matrix item of the tenant: (matrix type name, item), by type and code.
pub async fn all_matrix_items<'c, E>(executor: E, tenant: TenantId) -> Result<Vec<(String, MatrixItem)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT matrix_type, code, name, parent_code, is_active FROM matrix_items
                 WHERE tenant_id = $1 ORDER BY matrix_type, code",
            )
            .bind(tenant.0),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("matrix_type")?,
                MatrixItem {
                    code: row.try_get("code")?,
                    name: row.try_get("name")?,
                    parent_code: row.try_get("parent_code")?,
                    is_active: row.try_get::<i64, _>("is_active")? != 0,
                },
            ))
        })
        .collect()
}

/// Whether the tenant has an item of that type with that code (only an active one when
/// `active_only`: what new records may refer to).
pub async fn matrix_item_exists<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    matrix_type: MatrixType,
    code: &str,
    active_only: bool,
) -> Result<bool, StorageError> {
    let sql = Sql::new(
        "SELECT COUNT(*) FROM matrix_items WHERE tenant_id = $1 AND matrix_type = $2 AND code = $3
           AND ($4 = 0 OR is_active = 1)",
    )
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Text(matrix_type.name().to_owned()))
    .bind(Bind::Text(code.to_owned()))
    .bind(Bind::Int(flag(active_only)));
    Ok(reader.into().first(&sql, |row| row.int(0)).await?.unwrap_or(0) > 0)
}

/// Every reference value of the tenant: (group name, value), by group and order.
pub async fn all_reference_values<'c, E>(
    executor: E,
    tenant: TenantId,
) -> Result<Vec<(String, ReferenceValue)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT list_group, value, is_active FROM reference_values WHERE tenant_id = $1
                 ORDER BY list_group, sort_order, value_key",
            )
            .bind(tenant.0),
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("list_group")?,
                ReferenceValue { value: row.try_get("value")?, is_active: row.try_get::<i64, _>("is_active")? != 0 },
            ))
        })
        .collect()
}

/// Whether the group holds `value`, in any case (only an active one when `active_only`:
/// what new records may refer to).
pub async fn reference_value_exists<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    group: ReferenceGroup,
    value: &str,
    active_only: bool,
) -> Result<bool, StorageError> {
    let sql = Sql::new(
        "SELECT COUNT(*) FROM reference_values WHERE tenant_id = $1 AND list_group = $2 AND value_key = $3
           AND ($4 = 0 OR is_active = 1)",
    )
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Text(group.name().to_owned()))
    .bind(Bind::Text(value.trim().to_lowercase()))
    .bind(Bind::Int(flag(active_only)));
    Ok(reader.into().first(&sql, |row| row.int(0)).await?.unwrap_or(0) > 0)
}

/// The sort order a value appended to the group gets.
pub async fn next_reference_order<'c, E>(
    executor: E,
    tenant: TenantId,
    group: ReferenceGroup,
) -> Result<i64, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_one(
            sqlx::query(
                "SELECT COALESCE(MAX(sort_order), -1) + 1 FROM reference_values WHERE tenant_id = $1 AND list_group = $2",
            )
            .bind(tenant.0)
            .bind(group.name()),
        )
        .await?;
    Ok(row.try_get(0)?)
}
