//! Tenants: creating one (with its built-in role packages and first Administrator) and
//! listing them. Operator use cases: the command line calls them.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::BuiltinPackage;
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::tenant::TenantName;
use caretaker_domain::user::{Email, UserStatus, UserType};
use caretaker_storage::audit::{self, Actor};
use caretaker_storage::tenants::{self, Tenant};
use caretaker_storage::{StorageError, users};
use secrecy::SecretString;

use crate::{App, AppError, password};

/// What `tenant create` asks for, as typed.
#[derive(Debug)]
pub struct NewTenant {
    pub name: String,
    pub admin_email: String,
    /// `None`: a password is generated and returned once.
    pub admin_password: Option<SecretString>,
}

/// A created tenant and how its administrator signs in.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub admin_email: Email,
    /// Set when the password was generated; shown once, never stored in clear.
    pub generated_password: Option<SecretString>,
}

/// Creates a tenant with its built-in role packages and its first Administrator, in one
/// transaction: either all of it exists afterwards or none of it.
pub async fn create(app: &App, request: NewTenant, actor: Actor) -> Result<CreatedTenant, AppError> {
    let mut check = RuleCheck::new();
    let name = check.check(TenantName::parse(&request.name));
    let email = check.check(Email::parse(&request.admin_email));
    if let Some(chosen) = &request.admin_password {
        check.check(password::check_rules(chosen));
    }
    check.finish().map_err(AppError::Invalid)?;
    let (Some(name), Some(email)) = (name, email) else {
        return Err(AppError::internal("rule check passed without values"));
    };

    let generated = request.admin_password.is_none();
    let password = request.admin_password.unwrap_or_else(password::generate);
    let hash = crate::hash_off_thread(password.clone()).await?;

    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let tenant = match tenants::insert(&mut tx, &name, now).await {
        Ok(tenant) => tenant,
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "Tenant",
                "DuplicateName",
                format!("A tenant named {:?} already exists (names are compared ignoring case)", name.as_str()),
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let packages = users::insert_builtin_packages(&mut tx, tenant.id, now).await?;
    crate::reference_data::seed_defaults(&mut tx, tenant.id).await?;
    crate::workflows::seed_defaults(&mut tx, tenant.id, now).await?;
    let admin = users::insert(
        &mut tx,
        &users::NewUser {
            tenant: tenant.id,
            email: &email,
            name: "Administrator",
            user_type: UserType::Management,
            status: UserStatus::Active,
            is_integration: false,
            password_hash: Some(&hash),
            // A generated password has been on a terminal: the first sign-in replaces it.
            must_change_password: generated,
            contractor: None,
            site_access: "all",
        },
        now,
    )
    .await?;
    for (package, id) in &packages {
        if matches!(package, BuiltinPackage::Administrator | BuiltinPackage::ManagementUser) {
            users::grant_package(&mut tx, admin, *id, None, now).await?;
        }
    }
    audit::record(
        &mut tx,
        &audit::Event {
            tenant: Some(tenant.id),
            actor,
            source_address: None,
            action: "tenant.created",
            target: Some(tenant.name.as_str()),
            detail: &format!("first Administrator {email}"),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;

    Ok(CreatedTenant { tenant, admin_email: email, generated_password: generated.then_some(password) })
}

/// All tenants, by name.
pub async fn list(app: &App) -> Result<Vec<Tenant>, AppError> {
    Ok(tenants::list(&app.db).await?)
}
