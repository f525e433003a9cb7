//! Custom fields and their answers.

use std::collections::HashMap;

use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row};

use crate::read::{Bind, Columns, Reader, Sql};
use crate::{StorageError, flag};

/// A custom field as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomField {
    pub matrix_code: String,
    pub name: String,
    pub question: String,
    pub is_mandatory: bool,
    pub data_type: String,
    pub answers: Vec<String>,
    pub parent: Option<(String, String)>,
}

/// A field to insert.
#[derive(Debug)]
pub struct NewField<'a> {
    pub target: &'a str,
    pub matrix_code: &'a str,
    pub name: &'a str,
    pub question: &'a str,
    pub is_mandatory: bool,
    pub data_type: &'a str,
    pub answers: &'a [&'a str],
    pub parent: Option<(&'a str, &'a str)>,
    pub sort_order: i64,
}

pub async fn insert(conn: &mut AnyConnection, tenant: TenantId, field: &NewField<'_>) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO custom_fields (tenant_id, target, matrix_code, name, question, is_mandatory, data_type,
                answer_list, parent_name, trigger_value, sort_order)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(tenant.0)
        .bind(field.target)
        .bind(field.matrix_code)
        .bind(field.name)
        .bind(field.question)
        .bind(flag(field.is_mandatory))
        .bind(field.data_type)
        .bind(field.answers.join("\n"))
        .bind(field.parent.map(|(name, _)| name))
        .bind(field.parent.map(|(_, value)| value))
        .bind(field.sort_order),
    )
    .await?;
    Ok(())
}

/// The fields of `target` defined on any of `codes` (a matrix code and its ancestors).
pub async fn for_codes<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    target: &str,
    codes: &[String],
) -> Result<Vec<CustomField>, StorageError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..codes.len()).map(|i| format!("${}", i + 3)).collect();
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS} FROM custom_fields WHERE tenant_id = $1 AND target = $2 AND matrix_code IN ({})
         ORDER BY LENGTH(matrix_code), sort_order, name",
        placeholders.join(", ")
    ))
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Text(target.to_owned()));
    for code in codes {
        sql = sql.bind(Bind::Text(code.clone()));
    }
    reader.into().rows(&sql, from_row).await
}

/// A row of [`COLUMNS`] (the target, at 0, is not part of the field).
fn from_row(r: &dyn Columns) -> Result<CustomField, StorageError> {
    let answers = r.text(6)?;
    Ok(CustomField {
        matrix_code: r.text(1)?,
        name: r.text(2)?,
        question: r.text(3)?,
        is_mandatory: r.int(4)? != 0,
        data_type: r.text(5)?,
        answers: answers.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        parent: r.opt_text(7)?.zip(r.opt_text(8)?),
    })
}

const COLUMNS: &str =
    "target, matrix_code, name, question, is_mandatory, data_type, answer_list, parent_name, trigger_value";

/// Every custom field of the tenant: (target, field), by target, matrix code and order.
pub async fn all<'c, E>(executor: E, tenant: TenantId) -> Result<Vec<(String, CustomField)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM custom_fields WHERE tenant_id = $1 ORDER BY target, matrix_code, sort_order, name"
            ))
            .bind(tenant.0),
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get("target")?, from_row(r)?))).collect()
}

/// The field of `target` named `name` (ASCII case ignored).
pub async fn find<'c, E>(
    executor: E,
    tenant: TenantId,
    target: &str,
    name: &str,
) -> Result<Option<CustomField>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM custom_fields WHERE tenant_id = $1 AND target = $2 AND LOWER(name) = $3"
            ))
            .bind(tenant.0)
            .bind(target)
            .bind(name.trim().to_ascii_lowercase()),
        )
        .await?;
    row.as_ref().map(|row| from_row(row)).transpose()
}

/// The sort order a field appended to the tenant's fields gets.
pub async fn next_sort_order<'c, E>(executor: E, tenant: TenantId) -> Result<i64, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_one(
            sqlx::query("SELECT COALESCE(MAX(sort_order), -1) + 1 FROM custom_fields WHERE tenant_id = $1")
                .bind(tenant.0),
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn set_answer(
    conn: &mut AnyConnection,
    target: &str,
    owner: i64,
    name: &str,
    value: &str,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("INSERT INTO custom_answers (target, owner_id, name, value) VALUES ($1, $2, $3, $4)")
            .bind(target)
            .bind(owner)
            .bind(name)
            .bind(value),
    )
    .await?;
    Ok(())
}

/// Deletes every answer of one owner (before they are written again).
pub async fn delete_answers(conn: &mut AnyConnection, target: &str, owner: i64) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("DELETE FROM custom_answers WHERE target = $1 AND owner_id = $2").bind(target).bind(owner),
    )
    .await?;
    Ok(())
}

/// The answers of many owners (a page of sites or assets), each owner's by name: one
/// statement per few hundred owners instead of one per owner.
pub(crate) async fn answers_of(
    conn: &mut AnyConnection,
    target: &str,
    owners: &[i64],
) -> Result<HashMap<i64, Vec<(String, String)>>, StorageError> {
    let mut found: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for chunk in owners.chunks(crate::bulk::items_per_statement(conn, 1, 1)) {
        let sql = format!(
            "SELECT owner_id, name, value FROM custom_answers WHERE target = $1 AND owner_id IN ({})
             ORDER BY owner_id, name",
            crate::bulk::parameters(2, chunk.len())
        );
        let query = chunk.iter().fold(sqlx::query(&sql).bind(target), |q, owner| q.bind(*owner));
        for row in conn.fetch_all(query).await? {
            found.entry(row.try_get(0)?).or_default().push((row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(found)
}

pub async fn answers<'c, E>(executor: E, target: &str, owner: i64) -> Result<Vec<(String, String)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query("SELECT name, value FROM custom_answers WHERE target = $1 AND owner_id = $2 ORDER BY name")
                .bind(target)
                .bind(owner),
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
