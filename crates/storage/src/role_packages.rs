//! Role packages: the built-in ones (permissions from the code) and custom ones (permissions
//! stored).

use caretaker_domain::access::{BuiltinPackage, Permission, PermissionSet};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::{AnyConnection, Executor, Row};

use crate::StorageError;
use crate::users::RolePackageId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolePackage {
    pub id: RolePackageId,
    pub name: String,
    pub builtin: Option<BuiltinPackage>,
    pub description: String,
    pub permissions: PermissionSet,
    pub users: i64,
}

/// The tenant's packages, built-ins first in their canonical order, then custom by name.
pub async fn list(conn: &mut AnyConnection, tenant: TenantId) -> Result<Vec<RolePackage>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(
                "SELECT p.id, p.name, p.builtin, p.description,
                        (SELECT COUNT(*) FROM user_role_packages u WHERE u.role_package_id = p.id) AS users
                 FROM role_packages p WHERE p.tenant_id = $1 ORDER BY p.name_key",
            )
            .bind(tenant.0),
        )
        .await?;
    let custom_permissions = conn
        .fetch_all(
            sqlx::query(
                "SELECT rp.role_package_id, rp.permission FROM role_package_permissions rp
                 JOIN role_packages p ON p.id = rp.role_package_id WHERE p.tenant_id = $1",
            )
            .bind(tenant.0),
        )
        .await?;
    let mut packages = Vec::with_capacity(rows.len());
    for row in rows {
        let id = RolePackageId(row.try_get("id")?);
        let name: String = row.try_get("name")?;
        let builtin = if row.try_get::<i64, _>("builtin")? != 0 { BuiltinPackage::from_name(&name) } else { None };
        let permissions = match builtin {
            Some(package) => package.permissions(),
            None => permissions_from_rows(&custom_permissions, id)?,
        };
        let description: String = row.try_get("description")?;
        packages.push(RolePackage {
            id,
            description: builtin.map_or(description, |b| b.description().to_owned()),
            name,
            builtin,
            permissions,
            users: row.try_get("users")?,
        });
    }
    packages.sort_by_key(|p| {
        (
            p.builtin.map_or(usize::MAX, |b| BuiltinPackage::ALL.iter().position(|x| *x == b).unwrap_or(0)),
            p.name.to_lowercase(),
        )
    });
    Ok(packages)
}

fn permissions_from_rows(rows: &[sqlx::any::AnyRow], id: RolePackageId) -> Result<PermissionSet, StorageError> {
    let mut set = PermissionSet::EMPTY;
    for row in rows {
        if row.try_get::<i64, _>(0)? == id.0 {
            let name: String = row.try_get(1)?;
            // A permission the code no longer knows grants nothing.
            if let Ok(permission) = name.parse::<Permission>() {
                set = set.with(permission);
            }
        }
    }
    Ok(set)
}

/// Inserts a custom package; [`StorageError::Conflict`] when the name is taken.
pub async fn insert_custom(
    conn: &mut AnyConnection,
    tenant: TenantId,
    name: &str,
    description: &str,
    permissions: PermissionSet,
    now: Timestamp,
) -> Result<RolePackageId, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO role_packages (tenant_id, name, name_key, builtin, description, created_at)
                 VALUES ($1, $2, $3, 0, $4, $5) RETURNING id",
            )
            .bind(tenant.0)
            .bind(name)
            .bind(name.to_lowercase())
            .bind(description)
            .bind(now.unix_micros()),
        )
        .await?;
    let id = RolePackageId(row.try_get(0)?);
    for permission in permissions.iter() {
        conn.execute(
            sqlx::query("INSERT INTO role_package_permissions (role_package_id, permission) VALUES ($1, $2)")
                .bind(id.0)
                .bind(permission.as_str()),
        )
        .await?;
    }
    Ok(id)
}

/// The packages a user holds, with their names: (id, name, builtin, permissions).
pub async fn of_user(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<Vec<(RolePackageId, String, PermissionSet)>, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(
                "SELECT p.id, p.name, p.builtin, rp.permission
                 FROM user_role_packages u
                 JOIN role_packages p ON p.id = u.role_package_id
                 LEFT JOIN role_package_permissions rp ON rp.role_package_id = p.id AND p.builtin = 0
                 WHERE u.user_id = $1 ORDER BY p.name_key",
            )
            .bind(user.0),
        )
        .await?;
    let mut packages: Vec<(RolePackageId, String, PermissionSet)> = Vec::new();
    for row in rows {
        let id = RolePackageId(row.try_get("id")?);
        let name: String = row.try_get("name")?;
        let builtin = row.try_get::<i64, _>("builtin")? != 0;
        let permission: Option<String> = row.try_get("permission")?;
        let index = match packages.iter().position(|(existing, _, _)| *existing == id) {
            Some(index) => index,
            None => {
                let base = if builtin {
                    BuiltinPackage::from_name(&name).map_or(PermissionSet::EMPTY, BuiltinPackage::permissions)
                } else {
                    PermissionSet::EMPTY
                };
                packages.push((id, name, base));
                packages.len() - 1
            }
        };
        if let Some(permission) = permission.and_then(|p| p.parse::<Permission>().ok()) {
            packages[index].2 = packages[index].2.with(permission);
        }
    }
    Ok(packages)
}
