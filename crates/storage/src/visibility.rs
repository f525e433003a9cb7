//! Who sees which rows: users' explicit site access (sites, geographic areas, site
//! channels; a site includes its children) and the [`Scope`] a query of tasks or sites is
//! narrowed to. The scope is decided above (from the principal); this module turns it into
//! SQL, so that every query of tasks filters the same way.

use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::{SiteGrants, UserId};
use sqlx::{AnyConnection, Executor, Row};

use crate::StorageError;

/// The rows a caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every site and task of the tenant.
    All,
    /// Sites granted to the user (and their children), tasks at them, tasks the user raised.
    Granted { user: i64 },
    /// Tasks dispatched to the contractor or its children, and tasks the user raised.
    Contractor { user: i64, contractor: i64 },
    /// Only tasks the user raised (no site access).
    Own { user: i64 },
}

/// Replaces a user's explicit grants.
pub async fn set_grants(conn: &mut AnyConnection, user: UserId, grants: &SiteGrants) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM user_site_access WHERE user_id = $1").bind(user.0)).await?;
    let kinds = [("site", &grants.sites), ("area", &grants.areas), ("channel", &grants.channels)];
    for (kind, codes) in kinds {
        for code in codes {
            let code = if kind == "site" { code.trim().to_ascii_lowercase() } else { code.trim().to_owned() };
            conn.execute(
                sqlx::query(
                    "INSERT INTO user_site_access (user_id, kind, code) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id, kind, code) DO NOTHING",
                )
                .bind(user.0)
                .bind(kind)
                .bind(code),
            )
            .await?;
        }
    }
    Ok(())
}

/// A user's explicit grants: sites by their code as stored, areas and channels by code.
pub async fn grants<'c, E>(executor: E, user: UserId) -> Result<SiteGrants, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT a.kind, COALESCE(s.code, a.code) FROM user_site_access a
                 LEFT JOIN users u ON u.id = a.user_id
                 LEFT JOIN sites s ON a.kind = 'site' AND s.tenant_id = u.tenant_id AND s.code_key = a.code
                 WHERE a.user_id = $1 ORDER BY a.kind, a.code",
            )
            .bind(user.0),
        )
        .await?;
    let mut grants = SiteGrants::default();
    for row in &rows {
        let kind: String = row.try_get(0)?;
        let code: String = row.try_get(1)?;
        match kind.as_str() {
            "site" => grants.sites.push(code),
            "area" => grants.areas.push(code),
            "channel" => grants.channels.push(code),
            other => return Err(StorageError::Corrupt(format!("site access kind {other:?}"))),
        }
    }
    Ok(grants)
}

/// The common table expression `granted(id)`: the ids of the sites user `$user` may see in
/// tenant `$tenant` (`user` and `tenant` are the placeholders, such as `$1`).
pub(crate) fn granted_sites_cte(user: &str, tenant: &str) -> String {
    format!(
        "granted(id) AS (
            SELECT s.id FROM sites s JOIN user_site_access a ON a.user_id = {user} AND (
                (a.kind = 'site' AND s.code_key = a.code)
                OR (a.kind = 'area' AND (s.geographic_area_code = a.code OR s.geographic_area_code LIKE a.code || '-%'))
                OR (a.kind = 'channel' AND (s.site_channel_code = a.code OR s.site_channel_code LIKE a.code || '-%')))
            WHERE s.tenant_id = {tenant}
            UNION
            SELECT c.id FROM sites c JOIN granted g ON c.parent_id = g.id)"
    )
}

/// The common table expression `mine(id)`: contractor `$contractor` and its descendants.
pub(crate) fn contractor_tree_cte(contractor: &str) -> String {
    format!(
        "mine(id) AS (
            SELECT id FROM contractors WHERE id = {contractor}
            UNION
            SELECT c.id FROM contractors c JOIN mine m ON c.parent_id = m.id)"
    )
}

/// Whether a user with `scope` may see the site (its own grants or a parent's).
pub async fn site_visible(
    conn: &mut AnyConnection,
    tenant: TenantId,
    scope: Scope,
    site: i64,
) -> Result<bool, StorageError> {
    match scope {
        Scope::All => Ok(true),
        Scope::Contractor { .. } | Scope::Own { .. } => Ok(false),
        Scope::Granted { user } => {
            let row = conn
                .fetch_optional(
                    sqlx::query(
                        "WITH RECURSIVE up(id, parent_id, code_key, area, channel) AS (
                            SELECT id, parent_id, code_key, geographic_area_code, site_channel_code
                            FROM sites WHERE id = $1 AND tenant_id = $3
                            UNION
                            SELECT p.id, p.parent_id, p.code_key, p.geographic_area_code, p.site_channel_code
                            FROM sites p JOIN up ON p.id = up.parent_id)
                         SELECT 1 FROM up JOIN user_site_access a ON a.user_id = $2 AND (
                            (a.kind = 'site' AND up.code_key = a.code)
                            OR (a.kind = 'area' AND (up.area = a.code OR up.area LIKE a.code || '-%'))
                            OR (a.kind = 'channel' AND (up.channel = a.code OR up.channel LIKE a.code || '-%')))
                         LIMIT 1",
                    )
                    .bind(site)
                    .bind(user)
                    .bind(tenant.0),
                )
                .await?;
            Ok(row.is_some())
        }
    }
}

/// Whether `ancestor` is the contractor itself or one of its ancestors.
pub async fn contractor_within(conn: &mut AnyConnection, ancestor: i64, contractor: i64) -> Result<bool, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("WITH RECURSIVE {} SELECT 1 FROM mine WHERE id = $2", contractor_tree_cte("$1")))
                .bind(ancestor)
                .bind(contractor),
        )
        .await?;
    Ok(row.is_some())
}

/// The ids of the sites a user with explicit grants may see (granted sites and their
/// children, and the sites of granted areas and channels).
pub async fn granted_site_ids(
    conn: &mut AnyConnection,
    tenant: TenantId,
    user: i64,
) -> Result<std::collections::HashSet<i64>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(&format!("WITH RECURSIVE {} SELECT id FROM granted", granted_sites_cte("$1", "$2")))
                .bind(user)
                .bind(tenant.0),
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
}

/// The code keys (ASCII lowercased codes) of the sites [`granted_site_ids`] names.
pub async fn granted_site_keys(
    conn: &mut AnyConnection,
    tenant: TenantId,
    user: i64,
) -> Result<std::collections::HashSet<String>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(&format!(
                "WITH RECURSIVE {} SELECT s.code_key FROM sites s WHERE s.id IN (SELECT id FROM granted)",
                granted_sites_cte("$1", "$2")
            ))
            .bind(user)
            .bind(tenant.0),
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
}
