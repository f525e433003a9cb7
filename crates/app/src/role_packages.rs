//! Role packages: the built-ins and the custom ones administrators compose.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, Permission, PermissionSet, can};
use caretaker_domain::contractor::display_name;
use caretaker_domain::rules::RuleCheck;
use caretaker_storage::StorageError;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::role_packages::{self, RolePackage};
use caretaker_storage::users::RolePackageId;

use crate::principal::Principal;
use crate::{App, AppError};

/// The tenant's packages (anyone who may see users may see what packages mean).
pub async fn list(app: &App, by: &Authorized<'_, can::UsersRead, Principal>) -> Result<Vec<RolePackage>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(role_packages::list(&mut conn, by.principal().tenant).await?)
}

/// Composes a custom package from the catalogue. REST API stays the only package that
/// carries `rest_api.use`, so "holds REST API" keeps meaning what the seed says.
pub async fn create_custom(
    app: &App,
    by: &Authorized<'_, can::RolePackagesWrite, Principal>,
    name: &str,
    description: &str,
    permissions: &[String],
) -> Result<RolePackageId, AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let name = check.check(display_name("RolePackage", name, 100));
    let mut set = PermissionSet::EMPTY;
    for text in permissions {
        if let Some(permission) = check.check(text.parse::<Permission>()) {
            set = set.with(permission);
        }
    }
    if set.contains(Permission::RestApiUse) {
        check.push(BrokenRule::new(
            "RolePackage",
            "RestApiOnlyBuiltin",
            "rest_api.use comes only with the built-in REST API package",
        ));
    }
    if set.is_empty() {
        check.push(BrokenRule::new("RolePackage", "NoPermissions", "Choose at least one permission"));
    }
    if description.chars().count() > 500 {
        check.push(BrokenRule::new("RolePackage", "DescriptionTooLong", "Description must be at most 500 characters"));
    }
    check.finish().map_err(AppError::Invalid)?;
    let Some(name) = name else {
        return Err(AppError::internal("checked input missing"));
    };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let id = match role_packages::insert_custom(&mut tx, by.tenant, &name, description.trim(), set, now).await {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "RolePackage",
                "DuplicateName",
                format!("A role package named {name:?} already exists"),
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let detail = set.iter().map(Permission::as_str).collect::<Vec<_>>().join(", ");
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "role_package.created",
            target: Some(&name),
            detail: &detail,
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(id)
}
