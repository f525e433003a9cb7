//! Users and the role packages they hold.

use caretaker_domain::access::BuiltinPackage;
use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::{Email, UserId, UserStatus, UserType};
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::{StorageError, flag};

/// A role package's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RolePackageId(pub i64);

/// Creates the built-in role packages of a new tenant; returns their ids in
/// [`BuiltinPackage::ALL`] order.
pub async fn insert_builtin_packages(
    conn: &mut AnyConnection,
    tenant: TenantId,
    now: Timestamp,
) -> Result<Vec<(BuiltinPackage, RolePackageId)>, StorageError> {
    let mut ids = Vec::with_capacity(BuiltinPackage::ALL.len());
    for package in BuiltinPackage::ALL {
        let id: i64 = conn
            .fetch_one(
                sqlx::query(
                    "INSERT INTO role_packages (tenant_id, name, name_key, builtin, created_at)
             VALUES ($1, $2, $3, 1, $4) RETURNING id",
                )
                .bind(tenant.0)
                .bind(package.name())
                .bind(package.name().to_lowercase())
                .bind(now.unix_micros()),
            )
            .await?
            .try_get(0)?;
        ids.push((package, RolePackageId(id)));
    }
    Ok(ids)
}

/// A user to insert.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub tenant: TenantId,
    pub email: &'a Email,
    pub name: &'a str,
    pub user_type: UserType,
    pub status: UserStatus,
    pub is_integration: bool,
    /// A PHC string (Argon2id); `None` until the user sets a password.
    pub password_hash: Option<&'a str>,
    pub must_change_password: bool,
}

/// Inserts a user; [`StorageError::Conflict`] when the e-mail is taken in the tenant.
pub async fn insert(
    conn: &mut AnyConnection,
    user: &NewUser<'_>,
    now: Timestamp,
) -> Result<UserId, StorageError> {
    let id: i64 = conn
    .fetch_one(sqlx::query(
        "INSERT INTO users (tenant_id, email, email_key, name, user_type, status, is_integration,
                            password_hash, must_change_password, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(user.tenant.0)
    .bind(user.email.as_str())
    .bind(user.email.key())
    .bind(user.name)
    .bind(user.user_type.as_str())
    .bind(user.status.as_str())
    .bind(flag(user.is_integration))
    .bind(user.password_hash)
    .bind(flag(user.must_change_password))
    .bind(now.unix_micros()))
    .await?
    .try_get(0)?;
    Ok(UserId(id))
}

/// Gives `user` the package (idempotent).
pub async fn grant_package(
    conn: &mut AnyConnection,
    user: UserId,
    package: RolePackageId,
    granted_by: Option<UserId>,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO user_role_packages (user_id, role_package_id, granted_at, granted_by)
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, role_package_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(package.0)
        .bind(now.unix_micros())
        .bind(granted_by.map(|id| id.0)),
    )
    .await?;
    Ok(())
}

/// A user as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: String,
    pub name: String,
    pub user_type: UserType,
    pub status: UserStatus,
    pub is_integration: bool,
    pub must_change_password: bool,
    pub role_packages: Vec<String>,
}

fn summary_from_row(row: &AnyRow) -> Result<UserSummary, StorageError> {
    let user_type: String = row.try_get("user_type")?;
    let status: String = row.try_get("status")?;
    Ok(UserSummary {
        id: UserId(row.try_get("id")?),
        tenant: TenantId(row.try_get("tenant_id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        user_type: user_type
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("user type {user_type:?}")))?,
        status: status
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("user status {status:?}")))?,
        is_integration: row.try_get::<i64, _>("is_integration")? != 0,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        role_packages: Vec::new(),
    })
}

/// The user with that e-mail in the tenant, in any case, with its package names.
pub async fn find_by_email<'c, E>(
    executor: E,
    tenant: TenantId,
    email: &Email,
) -> Result<Option<UserSummary>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any> + Copy,
{
    let row = executor
    .fetch_optional(sqlx::query(
        "SELECT id, tenant_id, email, name, user_type, status, is_integration, must_change_password
         FROM users WHERE tenant_id = $1 AND email_key = $2",
    )
    .bind(tenant.0)
    .bind(email.key()))
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut user = summary_from_row(&row)?;
    let names = executor
    .fetch_all(sqlx::query(
        "SELECT p.name FROM user_role_packages u JOIN role_packages p ON p.id = u.role_package_id
         WHERE u.user_id = $1 ORDER BY p.name_key",
    )
    .bind(user.id.0))
    .await?;
    user.role_packages = names
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(Some(user))
}

/// The stored password hash of a user (for sign-in).
pub async fn password_hash<'c, E>(executor: E, user: UserId) -> Result<Option<String>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    Ok(executor
        .fetch_optional(sqlx::query("SELECT password_hash FROM users WHERE id = $1").bind(user.0))
        .await?
        .map(|row| row.try_get::<Option<String>, _>("password_hash"))
        .transpose()?
        .flatten())
}
