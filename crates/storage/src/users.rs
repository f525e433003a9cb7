//! Users and the role packages they hold.

use caretaker_domain::access::BuiltinPackage;
use caretaker_domain::clock::Timestamp;
use caretaker_domain::contractor::ContractorId;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::{Email, UserId, UserStatus, UserType};
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::contractors::like_escape;
use crate::{StorageError, flag};

/// A role package's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    pub contractor: Option<ContractorId>,
    /// `none`, `all` or `some`.
    pub site_access: &'a str,
}

/// Inserts a user; [`StorageError::Conflict`] when the e-mail is taken in the tenant.
pub async fn insert(conn: &mut AnyConnection, user: &NewUser<'_>, now: Timestamp) -> Result<UserId, StorageError> {
    let id: i64 = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO users (tenant_id, email, email_key, name, user_type, status, is_integration,
                                    password_hash, must_change_password, contractor_id, site_access,
                                    created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
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
            .bind(user.contractor.map(|c| c.0))
            .bind(user.site_access)
            .bind(now.unix_micros()),
        )
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

/// Takes the package from `user`.
pub async fn revoke_package(
    conn: &mut AnyConnection,
    user: UserId,
    package: RolePackageId,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("DELETE FROM user_role_packages WHERE user_id = $1 AND role_package_id = $2")
            .bind(user.0)
            .bind(package.0),
    )
    .await?;
    Ok(())
}

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant: TenantId,
    pub email: String,
    pub name: String,
    pub user_type: UserType,
    pub status: UserStatus,
    pub is_integration: bool,
    pub must_change_password: bool,
    pub contractor: Option<ContractorId>,
    pub contractor_code: Option<String>,
    pub site_access: String,
    pub access_version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Names of the packages held, by name.
    pub role_packages: Vec<String>,
}

const SELECT: &str = "SELECT u.id, u.tenant_id, u.email, u.name, u.user_type, u.status, u.is_integration,
        u.must_change_password, u.contractor_id, c.code AS contractor_code, u.site_access,
        u.access_version, u.created_at, u.updated_at
    FROM users u LEFT JOIN contractors c ON c.id = u.contractor_id";

fn from_row(row: &AnyRow) -> Result<User, StorageError> {
    let user_type: String = row.try_get("user_type")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        tenant: TenantId(row.try_get("tenant_id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        user_type: user_type.parse().map_err(|_| StorageError::Corrupt(format!("user type {user_type:?}")))?,
        status: status.parse().map_err(|_| StorageError::Corrupt(format!("user status {status:?}")))?,
        is_integration: row.try_get::<i64, _>("is_integration")? != 0,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        contractor: row.try_get::<Option<i64>, _>("contractor_id")?.map(ContractorId),
        contractor_code: row.try_get("contractor_code")?,
        site_access: row.try_get("site_access")?,
        access_version: row.try_get("access_version")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_unix_micros(row.try_get("updated_at")?),
        role_packages: Vec::new(),
    })
}

async fn with_packages(conn: &mut AnyConnection, mut users: Vec<User>) -> Result<Vec<User>, StorageError> {
    if users.is_empty() {
        return Ok(users);
    }
    let tenant = users[0].tenant;
    let rows = conn
        .fetch_all(
            sqlx::query(
                "SELECT u.user_id, p.name FROM user_role_packages u
                 JOIN role_packages p ON p.id = u.role_package_id
                 WHERE p.tenant_id = $1 ORDER BY p.name_key",
            )
            .bind(tenant.0),
        )
        .await?;
    for row in rows {
        let user = UserId(row.try_get(0)?);
        let name: String = row.try_get(1)?;
        if let Some(found) = users.iter_mut().find(|u| u.id == user) {
            found.role_packages.push(name);
        }
    }
    Ok(users)
}

/// The tenant's user with that id (another tenant's id finds nothing), with its packages.
pub async fn get(conn: &mut AnyConnection, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE u.tenant_id = $1 AND u.id = $2")).bind(tenant.0).bind(id.0),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let user = from_row(&row)?;
    Ok(with_packages_one(conn, user).await?.into())
}

async fn with_packages_one(conn: &mut AnyConnection, mut user: User) -> Result<User, StorageError> {
    let rows = conn
        .fetch_all(
            sqlx::query(
                "SELECT p.name FROM user_role_packages u JOIN role_packages p ON p.id = u.role_package_id
                 WHERE u.user_id = $1 ORDER BY p.name_key",
            )
            .bind(user.id.0),
        )
        .await?;
    user.role_packages = rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?;
    Ok(user)
}

/// The user with that e-mail in the tenant, in any case, with its package names.
pub async fn find_by_email(
    conn: &mut AnyConnection,
    tenant: TenantId,
    email: &Email,
) -> Result<Option<User>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE u.tenant_id = $1 AND u.email_key = $2"))
                .bind(tenant.0)
                .bind(email.key()),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let user = from_row(&row)?;
    Ok(Some(with_packages_one(conn, user).await?))
}

/// Which users a list shows.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Matches e-mail or name, any case.
    pub search: Option<String>,
    pub user_type: Option<UserType>,
    pub status: Option<UserStatus>,
    pub contractor: Option<ContractorId>,
    pub integration_only: bool,
}

/// The tenant's users matching `filter`, by e-mail (at most 1,000).
pub async fn list(conn: &mut AnyConnection, tenant: TenantId, filter: &UserFilter) -> Result<Vec<User>, StorageError> {
    let pattern = filter.search.as_deref().map(|s| format!("%{}%", like_escape(&s.trim().to_lowercase())));
    let rows = conn
        .fetch_all(
            sqlx::query(&format!(
                "{SELECT} WHERE u.tenant_id = $1
                   AND ($2 IS NULL OR u.email_key LIKE $2 ESCAPE '\\' OR LOWER(u.name) LIKE $2 ESCAPE '\\')
                   AND ($3 IS NULL OR u.user_type = $3)
                   AND ($4 IS NULL OR u.status = $4)
                   AND ($5 IS NULL OR u.contractor_id = $5)
                   AND ($6 = 0 OR u.is_integration = 1)
                 ORDER BY u.email_key LIMIT 1000"
            ))
            .bind(tenant.0)
            .bind(pattern)
            .bind(filter.user_type.map(UserType::as_str))
            .bind(filter.status.map(UserStatus::as_str))
            .bind(filter.contractor.map(|c| c.0))
            .bind(flag(filter.integration_only)),
        )
        .await?;
    let users = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    with_packages(conn, users).await
}

/// Changes the details an administrator edits.
/// What an administrator edits of a user.
#[derive(Debug)]
pub struct Details<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub is_integration: bool,
    /// `none`, `all` or `some`.
    pub site_access: &'a str,
}

pub async fn update_details(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: UserId,
    details: &Details<'_>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let Details { email, name, is_integration, site_access } = *details;
    let done = conn
        .execute(
            sqlx::query(
                "UPDATE users SET email = $1, email_key = $2, name = $3, is_integration = $4, site_access = $5,
                        updated_at = $6, access_version = access_version + 1
                 WHERE tenant_id = $7 AND id = $8",
            )
            .bind(email.as_str())
            .bind(email.key())
            .bind(name)
            .bind(flag(is_integration))
            .bind(site_access)
            .bind(now.unix_micros())
            .bind(tenant.0)
            .bind(id.0),
        )
        .await?;
    if done.rows_affected() == 0 { Err(StorageError::NotFound) } else { Ok(()) }
}

/// Changes the user's own profile name.
pub async fn update_name(conn: &mut AnyConnection, id: UserId, name: &str, now: Timestamp) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE users SET name = $1, updated_at = $2, access_version = access_version + 1 WHERE id = $3")
            .bind(name)
            .bind(now.unix_micros())
            .bind(id.0),
    )
    .await?;
    Ok(())
}

/// Sets the status; bumps the access version (every cache of the user's rights is stale).
pub async fn set_status(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: UserId,
    status: UserStatus,
    now: Timestamp,
) -> Result<(), StorageError> {
    let done = conn
        .execute(
            sqlx::query(
                "UPDATE users SET status = $1, updated_at = $2, access_version = access_version + 1
                 WHERE tenant_id = $3 AND id = $4",
            )
            .bind(status.as_str())
            .bind(now.unix_micros())
            .bind(tenant.0)
            .bind(id.0),
        )
        .await?;
    if done.rows_affected() == 0 { Err(StorageError::NotFound) } else { Ok(()) }
}

/// Sets the password hash (and whether it must be changed at the next sign-in).
pub async fn set_password(
    conn: &mut AnyConnection,
    id: UserId,
    hash: &str,
    must_change: bool,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3,
                    access_version = access_version + 1
             WHERE id = $4",
        )
        .bind(hash)
        .bind(flag(must_change))
        .bind(now.unix_micros())
        .bind(id.0),
    )
    .await?;
    Ok(())
}

/// Marks the user's rights as changed (after package changes).
pub async fn bump_access_version(conn: &mut AnyConnection, id: UserId, now: Timestamp) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE users SET access_version = access_version + 1, updated_at = $1 WHERE id = $2")
            .bind(now.unix_micros())
            .bind(id.0),
    )
    .await?;
    Ok(())
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

/// How many active users of the tenant hold the built-in Administrator package, `except` one.
pub async fn count_active_administrators(
    conn: &mut AnyConnection,
    tenant: TenantId,
    except: UserId,
) -> Result<i64, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "SELECT COUNT(*) FROM users u
                 JOIN user_role_packages up ON up.user_id = u.id
                 JOIN role_packages p ON p.id = up.role_package_id
                 WHERE u.tenant_id = $1 AND u.status = 'Active' AND u.id <> $2
                   AND p.builtin = 1 AND p.name_key = 'administrator'",
            )
            .bind(tenant.0)
            .bind(except.0),
        )
        .await?;
    Ok(row.try_get(0)?)
}
