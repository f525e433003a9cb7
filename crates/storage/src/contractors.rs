//! Contractors.
//!
//! Contractors are only ever added: no statement moves (re-parents) or removes one. A
//! Contractor user's pages keep its contractor tree on that ground (`tasks::KeptTree`,
//! checked by the newest contractor id); a path that moves or removes a contractor must
//! change what that check reads. A test below fails when such a statement appears.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::contractor::{ContractorCode, ContractorId};
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::StorageError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contractor {
    pub id: ContractorId,
    pub tenant: TenantId,
    pub code: String,
    pub name: String,
    pub parent: Option<ContractorId>,
    pub parent_code: Option<String>,
    pub email: String,
    pub telephone: String,
    pub created_at: Timestamp,
}

const SELECT: &str = "SELECT c.id, c.tenant_id, c.code, c.name, c.parent_id, p.code AS parent_code,
        c.email, c.telephone, c.created_at
    FROM contractors c LEFT JOIN contractors p ON p.id = c.parent_id";

fn from_row(row: &AnyRow) -> Result<Contractor, StorageError> {
    Ok(Contractor {
        id: ContractorId(row.try_get("id")?),
        tenant: TenantId(row.try_get("tenant_id")?),
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        parent: row.try_get::<Option<i64>, _>("parent_id")?.map(ContractorId),
        parent_code: row.try_get("parent_code")?,
        email: row.try_get("email")?,
        telephone: row.try_get("telephone")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

/// A contractor to insert.
#[derive(Debug)]
pub struct NewContractor<'a> {
    pub tenant: TenantId,
    pub code: &'a ContractorCode,
    pub name: &'a str,
    pub parent: Option<ContractorId>,
    pub email: &'a str,
    pub telephone: &'a str,
}

/// Inserts; [`StorageError::Conflict`] when the code is taken in the tenant.
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewContractor<'_>,
    now: Timestamp,
) -> Result<ContractorId, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO contractors (tenant_id, code, code_key, name, parent_id, email, telephone, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(new.tenant.0)
            .bind(new.code.as_str())
            .bind(new.code.key())
            .bind(new.name)
            .bind(new.parent.map(|p| p.0))
            .bind(new.email)
            .bind(new.telephone)
            .bind(now.unix_micros()),
        )
        .await?;
    Ok(ContractorId(row.try_get(0)?))
}

/// The tenant's contractor with that code (any case).
pub async fn find_by_code<'c, E>(executor: E, tenant: TenantId, code: &str) -> Result<Option<Contractor>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE c.tenant_id = $1 AND c.code_key = $2"))
                .bind(tenant.0)
                .bind(code.trim().to_ascii_lowercase()),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The tenant's contractor with that id: another tenant's id finds nothing.
pub async fn get<'c, E>(executor: E, tenant: TenantId, id: ContractorId) -> Result<Option<Contractor>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE c.tenant_id = $1 AND c.id = $2")).bind(tenant.0).bind(id.0),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The tenant's contractors by code; `search` matches code or name (any case).
pub async fn list<'c, E>(executor: E, tenant: TenantId, search: Option<&str>) -> Result<Vec<Contractor>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let pattern = search.map(|s| format!("%{}%", like_escape(&s.trim().to_lowercase())));
    let rows = executor
        .fetch_all(
            sqlx::query(&format!(
                "{SELECT} WHERE c.tenant_id = $1
                   AND ($2 IS NULL OR c.code_key LIKE $2 ESCAPE '\\' OR LOWER(c.name) LIKE $2 ESCAPE '\\')
                 ORDER BY c.code_key LIMIT 1000"
            ))
            .bind(tenant.0)
            .bind(pattern),
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// `%`, `_` and `\` taken literally in a LIKE pattern (with `ESCAPE '\'`).
pub(crate) fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The ground of `tasks::KeptTree`: no source file of the workspace updates or deletes
    /// a contractor.
    #[test]
    fn no_statement_moves_or_removes_a_contractor() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let forbidden = [["update", "contractors"].join(" "), ["delete from", "contractors"].join(" ")];
        let mut stack = vec![crates];
        let mut read = 0;
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name == "target") {
                    continue;
                }
                stack.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
            } else if path.extension().is_some_and(|ext| ext == "rs" || ext == "sql") {
                let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                for statement in &forbidden {
                    assert!(!text.contains(statement.as_str()), "{} has {statement:?}", path.display());
                }
                read += 1;
            }
        }
        assert!(read > 50, "the workspace's sources were found ({read} files)");
    }
}
