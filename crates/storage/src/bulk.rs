//! Set-at-a-time reads for the bulk import: what many rows refer to, found with one
//! statement per few hundred keys instead of one per row.
//!
//! Each function answers for the keys it was given and returns only what exists; a key that
//! is not in the answer does not exist. Keys are compared exactly as the one-row lookups
//! compare them (the same folded `*_key` columns), so both paths agree on what is found.

use std::collections::{HashMap, HashSet};

use caretaker_domain::matrix::{MatrixType, ReferenceGroup};
use caretaker_domain::site::SiteId;
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row};

use crate::StorageError;

/// How many parameters one statement should bind on this connection's database. SQLite
/// finds a parameter's name by a linear scan of the statement's names, and sqlx asks for
/// the name of every parameter it binds, so binding costs grow with the square of their
/// number: there small statements are fastest (measured: 2,000 parameters a statement spent
/// most of an import in that scan). PostgreSQL pays a round trip per statement instead, so
/// there large ones are; both stay far below the backends' limits (SQLite 32,766,
/// PostgreSQL 65,535).
pub(crate) fn parameter_budget(conn: &AnyConnection) -> usize {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") { 250 } else { 10_000 }
}

/// How many items of `per_item` parameters (after `fixed` shared ones) one statement takes.
pub(crate) fn items_per_statement(conn: &AnyConnection, fixed: usize, per_item: usize) -> usize {
    (parameter_budget(conn).saturating_sub(fixed) / per_item.max(1)).max(1)
}

/// `$first, $first+1, ...`: `count` numbered parameters.
pub(crate) fn parameters(first: usize, count: usize) -> String {
    let mut list = String::with_capacity(count * 6);
    for i in first..first + count {
        if i > first {
            list.push_str(", ");
        }
        list.push('$');
        list.push_str(&i.to_string());
    }
    list
}

/// The tenant's sites among `code_keys` (folded codes): code key to id.
pub async fn site_ids(
    conn: &mut AnyConnection,
    tenant: TenantId,
    code_keys: &[String],
) -> Result<HashMap<String, SiteId>, StorageError> {
    let mut found = HashMap::new();
    for keys in code_keys.chunks(items_per_statement(conn, 1, 1)) {
        let sql = format!(
            "SELECT code_key, id FROM sites WHERE tenant_id = $1 AND code_key IN ({})",
            parameters(2, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.0);
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?, SiteId(row.try_get(1)?));
        }
    }
    Ok(found)
}

/// The tenant's assets among `identifiers` (folded GUIDs): GUID to (id, site).
pub async fn assets(
    conn: &mut AnyConnection,
    tenant: TenantId,
    identifiers: &[String],
) -> Result<HashMap<String, (i64, SiteId)>, StorageError> {
    let mut found = HashMap::new();
    for keys in identifiers.chunks(items_per_statement(conn, 1, 1)) {
        let sql = format!(
            "SELECT identifier, id, site_id FROM assets WHERE tenant_id = $1 AND identifier IN ({})",
            parameters(2, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.0);
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?, (row.try_get(1)?, SiteId(row.try_get(2)?)));
        }
    }
    Ok(found)
}

/// Which of `codes` are active items of the tenant's `matrix_type` (what new records may
/// refer to; as [`crate::reference_data::matrix_item_exists`] with `active_only`).
pub async fn active_matrix_codes(
    conn: &mut AnyConnection,
    tenant: TenantId,
    matrix_type: MatrixType,
    codes: &[String],
) -> Result<HashSet<String>, StorageError> {
    let mut found = HashSet::new();
    for keys in codes.chunks(items_per_statement(conn, 2, 1)) {
        let sql = format!(
            "SELECT code FROM matrix_items WHERE tenant_id = $1 AND matrix_type = $2 AND is_active = 1
               AND code IN ({})",
            parameters(3, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.0).bind(matrix_type.name());
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?);
        }
    }
    Ok(found)
}

/// Which of `value_keys` (values trimmed and lowercased) are active values of the group
/// (as [`crate::reference_data::reference_value_exists`] with `active_only`).
pub async fn active_reference_keys(
    conn: &mut AnyConnection,
    tenant: TenantId,
    group: ReferenceGroup,
    value_keys: &[String],
) -> Result<HashSet<String>, StorageError> {
    let mut found = HashSet::new();
    for keys in value_keys.chunks(items_per_statement(conn, 2, 1)) {
        let sql = format!(
            "SELECT value_key FROM reference_values WHERE tenant_id = $1 AND list_group = $2 AND is_active = 1
               AND value_key IN ({})",
            parameters(3, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.0).bind(group.name());
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?);
        }
    }
    Ok(found)
}

/// The tenant's companies among `name_keys` (names trimmed and lowercased): name key to
/// (id, company types), as [`crate::companies::find_by_name`] finds them.
pub async fn companies(
    conn: &mut AnyConnection,
    tenant: TenantId,
    name_keys: &[String],
) -> Result<HashMap<String, (i64, String)>, StorageError> {
    let mut found = HashMap::new();
    for keys in name_keys.chunks(items_per_statement(conn, 1, 1)) {
        let sql = format!(
            "SELECT name_key, id, company_types FROM companies WHERE tenant_id = $1 AND name_key IN ({})",
            parameters(2, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.0);
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(found)
}

/// A company's models among `name_keys` (names trimmed and lowercased): name key to id, as
/// [`crate::companies::find_model`] finds them.
pub async fn models(
    conn: &mut AnyConnection,
    company: i64,
    name_keys: &[String],
) -> Result<HashMap<String, i64>, StorageError> {
    let mut found = HashMap::new();
    for keys in name_keys.chunks(items_per_statement(conn, 1, 1)) {
        let sql = format!(
            "SELECT name_key, id FROM manufacturer_models WHERE company_id = $1 AND name_key IN ({})",
            parameters(2, keys.len())
        );
        let mut query = sqlx::query(&sql).bind(company);
        for key in keys {
            query = query.bind(key.as_str());
        }
        for row in conn.fetch_all(query).await? {
            found.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(found)
}
