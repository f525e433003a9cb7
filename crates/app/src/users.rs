//! Users: create, change, disable, enable, reset a password; and the rules on who may
//! grant which role package.

use caretaker_domain::access::{Authorized, BuiltinPackage, Permission, PermissionSet, can};
use caretaker_domain::contractor::{ContractorId, display_name};
use caretaker_domain::matrix::MatrixType;
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::user::{Email, SiteAccess, UserId, UserStatus, UserType};
use caretaker_domain::{BrokenRule, BrokenRules};
use caretaker_storage::audit::{self, Event};
use caretaker_storage::role_packages::{self, RolePackage};
use caretaker_storage::users::{self, User, UserFilter};
use caretaker_storage::{Conn, StorageError, contractors, reference_data, sessions, visibility};
use secrecy::SecretString;

use crate::principal::Principal;
use crate::{App, AppError, password, tokens};

/// How long a set-password link works.
pub const SET_PASSWORD_LINK_DAYS: i64 = 7;

/// What the Create User window (or `caretaker user create`) sends, as typed.
#[derive(Debug, Default)]
pub struct UserInput {
    pub email: String,
    pub name: String,
    pub user_type: String,
    /// The contractor's code (Contractor users only).
    pub contractor: Option<String>,
    /// Role package names.
    pub role_packages: Vec<String>,
    /// `all`, `none`, or site codes, `area:CODE` and `channel:CODE`, comma-separated.
    pub site_access: String,
    pub is_integration: bool,
    /// Only from the command line: the user is active at once.
    pub password: Option<SecretString>,
}

/// A created user; `set_password_token` when the user must choose a password first.
#[derive(Debug)]
pub struct CreatedUser {
    pub id: UserId,
    pub set_password_token: Option<String>,
    /// The link was also e-mailed to the user (SMTP configured and the relay took it).
    pub emailed: bool,
}

/// Values that passed their checks.
struct Checked {
    email: Email,
    name: String,
    user_type: UserType,
    site_access: SiteAccess,
}

/// Each value that passed its check, kept apart: the rules that depend on one value (the
/// contractor on the type, the sites on the site access) still run when another value
/// failed, so that every broken rule is reported at once.
struct Parsed {
    email: Option<Email>,
    name: Option<String>,
    user_type: Option<UserType>,
    site_access: Option<SiteAccess>,
}

impl Parsed {
    fn complete(self) -> Option<Checked> {
        Some(Checked {
            email: self.email?,
            name: self.name?,
            user_type: self.user_type?,
            site_access: self.site_access?,
        })
    }
}

fn check_input(input: &UserInput, check: &mut RuleCheck) -> Parsed {
    let email = check.check(Email::parse(&input.email));
    let name = check.check(display_name("User", &input.name, 200));
    let user_type = check.check(input.user_type.parse::<UserType>());
    let site_access = check.check(SiteAccess::parse(&input.site_access));
    if let Some(chosen) = &input.password {
        check.check(password::check_rules(chosen));
    }
    Parsed { email, name, user_type, site_access }
}

/// Resolves the contractor of a user of `user_type`.
async fn resolve_contractor(
    conn: &mut Conn,
    by: &Principal,
    user_type: Option<UserType>,
    code: Option<&str>,
    check: &mut RuleCheck,
) -> Result<Option<ContractorId>, StorageError> {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    match (user_type, code) {
        (Some(UserType::Contractor), None) => {
            check.push(BrokenRule::new("User", "MissingContractor", "A Contractor user must belong to a contractor"));
            Ok(None)
        }
        (Some(UserType::Contractor), Some(code)) => {
            match contractors::find_by_code(&mut *conn, by.tenant, code).await? {
                Some(contractor) => Ok(Some(contractor.id)),
                None => {
                    check.push(BrokenRule::new(
                        "User",
                        "UnknownContractor",
                        format!("No contractor has the code {code:?}"),
                    ));
                    Ok(None)
                }
            }
        }
        (Some(_), Some(_)) => {
            check.push(BrokenRule::new(
                "User",
                "ContractorOnlyForContractorUsers",
                "Only Contractor users belong to a contractor",
            ));
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Granted sites must exist, areas and channels must be codes of their matrices.
async fn check_site_access(
    conn: &mut Conn,
    tenant: caretaker_domain::tenant::TenantId,
    site_access: &SiteAccess,
    check: &mut RuleCheck,
) -> Result<(), StorageError> {
    let SiteAccess::Some(grants) = site_access else { return Ok(()) };
    for code in &grants.sites {
        if caretaker_storage::sites::id_by_code(&mut *conn, tenant, code).await?.is_none() {
            check.push(BrokenRule::new("User", "UnknownSite", format!("No site has the code {code:?}")));
        }
    }
    for (codes, matrix, problem) in [
        (&grants.areas, MatrixType::GeographicArea, "UnknownGeographicArea"),
        (&grants.channels, MatrixType::SiteChannel, "UnknownSiteChannel"),
    ] {
        for code in codes {
            if !reference_data::matrix_item_exists(&mut *conn, tenant, matrix, code, false).await? {
                check.push(BrokenRule::new("User", problem, format!("{code:?} is not a {} code", matrix.name())));
            }
        }
    }
    Ok(())
}

/// The tenant's packages named in `names` (any case); unknown names are broken rules.
fn resolve_packages<'p>(all: &'p [RolePackage], names: &[String], check: &mut RuleCheck) -> Vec<&'p RolePackage> {
    let mut chosen: Vec<&RolePackage> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match all.iter().find(|p| p.name.eq_ignore_ascii_case(name)) {
            Some(package) if !chosen.iter().any(|c| c.id == package.id) => chosen.push(package),
            Some(_) => {}
            None => {
                check.push(BrokenRule::new("User", "UnknownRolePackage", format!("No role package is named {name:?}")))
            }
        }
    }
    chosen
}

/// Who may give or take which package:
/// - nobody changes their own packages;
/// - only an Administrator gives or takes Administrator and REST API;
/// - anyone else gives or takes only packages whose permissions they hold themselves;
/// - REST API is for Management and Contractor users (the seed's integration accounts).
fn check_grants(
    by: &Principal,
    target: Option<UserId>,
    target_type: UserType,
    added: &[&RolePackage],
    removed: &[&RolePackage],
) -> Result<(), AppError> {
    let mut forbidden = RuleCheck::new();
    if (target.is_some() && target == by.user) && (!added.is_empty() || !removed.is_empty()) {
        forbidden.push(BrokenRule::new(
            "User",
            "CannotChangeOwnRolePackages",
            "Nobody can change their own role packages; ask another Administrator",
        ));
    }
    for package in added.iter().chain(removed) {
        let privileged = package.builtin.is_some_and(BuiltinPackage::is_privileged);
        if privileged && !by.is_admin {
            forbidden.push(BrokenRule::new(
                "User",
                "PrivilegedRolePackage",
                format!("Only an Administrator may grant or remove {}", package.name),
            ));
        } else if !privileged && !by.is_admin && !by.permissions.covers(package.permissions) {
            forbidden.push(BrokenRule::new(
                "User",
                "RolePackageExceedsOwnRights",
                format!("{} holds permissions you do not have", package.name),
            ));
        }
    }
    forbidden.finish().map_err(AppError::Forbidden)?;
    // Running the tenant (users, packages, configuration, the audit log, credentials) is
    // for Management users: a Contractor or Site user with such rights could reach beyond
    // their contractor or sites.
    let administrative = [
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::RolePackagesWrite,
        Permission::ConfigurationWrite,
        Permission::AuditLogRead,
        Permission::ApiCredentialsAdminister,
    ];
    if target_type != UserType::Management
        && added.iter().any(|p| {
            p.builtin != Some(BuiltinPackage::Administrator)
                && administrative.iter().any(|a| p.permissions.contains(*a))
        })
    {
        return Err(AppError::invalid(BrokenRule::new(
            "User",
            "AdministrativeRightsOnlyForManagementUsers",
            "Packages that manage users, packages, settings, credentials or the audit log are for Management users",
        )));
    }
    if target_type != UserType::Management && added.iter().any(|p| p.builtin == Some(BuiltinPackage::Administrator)) {
        return Err(AppError::invalid(BrokenRule::new(
            "User",
            "AdministratorOnlyForManagementUsers",
            "Administrator is for Management users",
        )));
    }
    if target_type == UserType::Site && added.iter().any(|p| p.builtin == Some(BuiltinPackage::RestApi)) {
        return Err(AppError::invalid(BrokenRule::new(
            "User",
            "RestApiNotForSiteUsers",
            "REST API is for Management and Contractor users",
        )));
    }
    Ok(())
}

fn audit_event<'a>(by: &'a Principal, action: &'a str, target: &'a str, detail: &'a str) -> Event<'a> {
    Event {
        tenant: Some(by.tenant),
        actor: by.actor(),
        source_address: by.source_address.as_deref(),
        action,
        target: Some(target),
        detail,
    }
}

fn duplicate_email(email: &Email) -> AppError {
    AppError::conflict(BrokenRule::new(
        "User",
        "DuplicateEmail",
        format!("A user with the e-mail {email} already exists in this tenant"),
    ))
}

/// Creates a user with its packages; without a password the user is invited and gets a
/// one-time set-password link.
pub async fn create(
    app: &App,
    by: &Authorized<'_, can::UsersWrite, Principal>,
    input: UserInput,
) -> Result<CreatedUser, AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let parsed = check_input(&input, &mut check);
    let password_hash = match &input.password {
        Some(chosen) if password::check_rules(chosen).is_ok() => Some(crate::hash_off_thread(chosen.clone()).await?),
        _ => None,
    };

    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let contractor = resolve_contractor(&mut tx, by, parsed.user_type, input.contractor.as_deref(), &mut check).await?;
    if let Some(site_access) = &parsed.site_access {
        check_site_access(&mut tx, by.tenant, site_access, &mut check).await?;
    }
    let all_packages = role_packages::list(&mut tx, by.tenant).await?;
    let chosen = resolve_packages(&all_packages, &input.role_packages, &mut check);
    check.finish().map_err(AppError::Invalid)?;
    let Some(checked) = parsed.complete() else {
        return Err(AppError::internal("checked input missing"));
    };
    check_grants(by, None, checked.user_type, &chosen, &[])?;
    guard_site_access(&mut tx, by, &checked.site_access).await?;

    let status = if password_hash.is_some() { UserStatus::Active } else { UserStatus::Invited };
    let id = match users::insert(
        &mut tx,
        &users::NewUser {
            tenant: by.tenant,
            email: &checked.email,
            name: &checked.name,
            user_type: checked.user_type,
            status,
            is_integration: input.is_integration,
            password_hash: password_hash.as_deref(),
            must_change_password: false,
            contractor,
            site_access: checked.site_access.kind(),
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => return Err(duplicate_email(&checked.email)),
        Err(other) => return Err(other.into()),
    };
    if let SiteAccess::Some(grants) = &checked.site_access {
        visibility::set_grants(&mut tx, id, grants).await?;
    }
    let target = checked.email.as_str();
    let detail = format!(
        "{} user{}{}",
        checked.user_type,
        if input.is_integration { ", integration account" } else { "" },
        input.contractor.as_deref().map(|c| format!(", contractor {c}")).unwrap_or_default()
    );
    audit::record(&mut tx, &audit_event(by, "user.created", target, &detail), now).await?;
    for package in &chosen {
        users::grant_package(&mut tx, id, package.id, by.user, now).await?;
        audit::record(&mut tx, &audit_event(by, "user.package_granted", target, &package.name), now).await?;
    }
    let set_password_token = if password_hash.is_none() {
        let token = tokens::random_token();
        let expires = now.plus_seconds(SET_PASSWORD_LINK_DAYS * 86_400);
        sessions::insert_set_password_link(&mut tx, &tokens::hash_token(&token), id, now, expires).await?;
        Some(token)
    } else {
        None
    };
    tx.commit().await.map_err(StorageError::from)?;
    let emailed = match (&app.mailer, &set_password_token) {
        (Some(mailer), Some(token)) => {
            mailer.send_set_password_link(checked.email.as_str(), &by.tenant_name, token).await
        }
        _ => false,
    };
    Ok(CreatedUser { id, set_password_token, emailed })
}

/// Changes a user's details and packages (the same window as Create).
pub async fn update(
    app: &App,
    by: &Authorized<'_, can::UsersWrite, Principal>,
    id: UserId,
    input: UserInput,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let parsed = check_input(&UserInput { password: None, ..input_clone(&input) }, &mut check);
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let Some(existing) = users::get(&mut tx, by.tenant, id).await? else {
        return Err(AppError::NotFound);
    };
    if parsed.user_type.is_some_and(|user_type| user_type != existing.user_type) {
        check.push(BrokenRule::new("User", "TypeCannotChange", "A user's type cannot change; create a new user"));
    }
    let asked_contractor = input.contractor.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if asked_contractor
        .is_some_and(|code| !existing.contractor_code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(code)))
    {
        check.push(BrokenRule::new(
            "User",
            "ContractorCannotChange",
            "A user's contractor cannot change; create a new user",
        ));
    }
    if let Some(site_access) = &parsed.site_access {
        check_site_access(&mut tx, by.tenant, site_access, &mut check).await?;
    }
    let all_packages = role_packages::list(&mut tx, by.tenant).await?;
    let chosen = resolve_packages(&all_packages, &input.role_packages, &mut check);
    check.finish().map_err(AppError::Invalid)?;
    let Some(checked) = parsed.complete() else {
        return Err(AppError::internal("checked input missing"));
    };

    let held: Vec<&RolePackage> = all_packages.iter().filter(|p| existing.role_packages.contains(&p.name)).collect();
    let added: Vec<&RolePackage> = chosen.iter().copied().filter(|p| !held.iter().any(|h| h.id == p.id)).collect();
    let removed: Vec<&RolePackage> = held.iter().copied().filter(|h| !chosen.iter().any(|p| p.id == h.id)).collect();
    guard_privileged_target(by, &held)?;
    check_grants(by, Some(id), existing.user_type, &added, &removed)?;
    guard_site_access(&mut tx, by, &checked.site_access).await?;
    if removed.iter().any(|p| p.builtin == Some(BuiltinPackage::Administrator)) {
        guard_last_administrator(&mut tx, by, id).await?;
    }

    let details = users::Details {
        email: &checked.email,
        name: &checked.name,
        is_integration: input.is_integration,
        site_access: checked.site_access.kind(),
    };
    match users::update_details(&mut tx, by.tenant, id, &details, now).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(duplicate_email(&checked.email)),
        Err(other) => return Err(other.into()),
    }
    let grants = match &checked.site_access {
        SiteAccess::Some(grants) => grants.clone(),
        _ => Default::default(),
    };
    visibility::set_grants(&mut tx, id, &grants).await?;
    let target = checked.email.as_str();
    audit::record(&mut tx, &audit_event(by, "user.changed", target, ""), now).await?;
    for package in &added {
        users::grant_package(&mut tx, id, package.id, by.user, now).await?;
        audit::record(&mut tx, &audit_event(by, "user.package_granted", target, &package.name), now).await?;
    }
    for package in &removed {
        users::revoke_package(&mut tx, id, package.id).await?;
        audit::record(&mut tx, &audit_event(by, "user.package_removed", target, &package.name), now).await?;
    }
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

fn input_clone(input: &UserInput) -> UserInput {
    UserInput {
        email: input.email.clone(),
        name: input.name.clone(),
        user_type: input.user_type.clone(),
        contractor: input.contractor.clone(),
        role_packages: input.role_packages.clone(),
        site_access: input.site_access.clone(),
        is_integration: input.is_integration,
        password: None,
    }
}

/// Nobody but an Administrator gives site access wider than their own: all sites only
/// with all sites; explicit sites only those one can see; areas and channels only those one
/// holds oneself.
async fn guard_site_access(conn: &mut Conn, by: &Principal, wanted: &SiteAccess) -> Result<(), AppError> {
    let wider = || {
        AppError::forbidden(BrokenRule::new(
            "User",
            "SiteAccessExceedsOwn",
            "You cannot give access to sites beyond your own",
        ))
    };
    if by.is_admin || by.site_access == "all" {
        return Ok(());
    }
    match wanted {
        SiteAccess::None => Ok(()),
        SiteAccess::All => Err(wider()),
        SiteAccess::Some(grants) => {
            let own = match by.user {
                Some(user) => visibility::grants(&mut *conn, user).await?,
                None => return Ok(()),
            };
            let holds = |list: &[String], code: &String| list.iter().any(|c| c.eq_ignore_ascii_case(code));
            if grants.areas.iter().any(|c| !holds(&own.areas, c))
                || grants.channels.iter().any(|c| !holds(&own.channels, c))
            {
                return Err(wider());
            }
            for code in &grants.sites {
                let visible = match caretaker_storage::sites::id_by_code(&mut *conn, by.tenant, code).await? {
                    Some(site) => visibility::site_visible(conn, by.tenant, by.scope(), site.0).await?,
                    None => true,
                };
                if !visible {
                    return Err(wider());
                }
            }
            Ok(())
        }
    }
}

/// Acting on a user who holds a privileged package takes an Administrator; acting on a
/// user with rights beyond one's own (a password reset is a way into their account) is
/// refused to non-administrators too.
fn guard_privileged_target(by: &Principal, held: &[&RolePackage]) -> Result<(), AppError> {
    if by.is_admin {
        return Ok(());
    }
    if held.iter().any(|p| p.builtin.is_some_and(BuiltinPackage::is_privileged)) {
        return Err(AppError::forbidden(BrokenRule::new(
            "User",
            "PrivilegedUser",
            "Only an Administrator may change a user who holds Administrator or REST API",
        )));
    }
    let theirs = held.iter().fold(caretaker_domain::access::PermissionSet::EMPTY, |set, p| set.union(p.permissions));
    if !by.permissions.covers(theirs) {
        return Err(AppError::forbidden(BrokenRule::new(
            "User",
            "UserExceedsOwnRights",
            "That user holds permissions you do not have; ask an Administrator",
        )));
    }
    Ok(())
}

/// The tenant keeps at least one active Administrator.
async fn guard_last_administrator(conn: &mut Conn, by: &Principal, leaving: UserId) -> Result<(), AppError> {
    // Serialise demotions in the tenant: two concurrent ones must not each count the other.
    caretaker_storage::tenants::lock(conn, by.tenant).await?;
    let admins = users::count_active_administrators(conn, by.tenant, leaving).await?;
    if admins == 0 {
        return Err(AppError::conflict(BrokenRule::new(
            "User",
            "LastAdministrator",
            "The tenant must keep at least one active Administrator",
        )));
    }
    Ok(())
}

/// Disables or enables users. Disabling ends their sessions at once.
pub async fn set_status(
    app: &App,
    by: &Authorized<'_, can::UsersWrite, Principal>,
    ids: &[UserId],
    status: UserStatus,
) -> Result<(), AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let all_packages = role_packages::list(&mut tx, by.tenant).await?;
    for id in ids {
        let Some(user) = users::get(&mut tx, by.tenant, *id).await? else {
            return Err(AppError::NotFound);
        };
        let held: Vec<&RolePackage> = all_packages.iter().filter(|p| user.role_packages.contains(&p.name)).collect();
        guard_privileged_target(by, &held)?;
        if status == UserStatus::Disabled {
            if Some(*id) == by.user {
                return Err(AppError::invalid(BrokenRule::new(
                    "User",
                    "CannotDisableSelf",
                    "You cannot disable yourself",
                )));
            }
            if held.iter().any(|p| p.builtin == Some(BuiltinPackage::Administrator)) {
                guard_last_administrator(&mut tx, by, *id).await?;
            }
        }
        if user.status == status {
            continue;
        }
        // An invited user stays invited when "enabled": only a set password activates.
        let next = if status == UserStatus::Active && !user_has_password(&mut tx, *id).await? {
            UserStatus::Invited
        } else {
            status
        };
        if next == user.status {
            continue;
        }
        users::set_status(&mut tx, by.tenant, *id, next, now).await?;
        if status == UserStatus::Disabled {
            sessions::delete_for_user(&mut tx, *id, None).await?;
        }
        let action = if status == UserStatus::Disabled { "user.disabled" } else { "user.enabled" };
        audit::record(&mut tx, &audit_event(by, action, &user.email, ""), now).await?;
    }
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

async fn user_has_password(conn: &mut Conn, id: UserId) -> Result<bool, StorageError> {
    Ok(users::password_hash(&mut *conn, id).await?.is_some())
}

/// A new one-time set-password link for the user (earlier links stop working).
pub async fn reset_password(
    app: &App,
    by: &Authorized<'_, can::UsersWrite, Principal>,
    id: UserId,
) -> Result<String, AppError> {
    let mut links = reset_passwords(app, by, &[id]).await?;
    links.pop().map(|(_, token)| token).ok_or(AppError::NotFound)
}

/// New set-password links for several users, all or none: `(e-mail, token)` in order.
pub async fn reset_passwords(
    app: &App,
    by: &Authorized<'_, can::UsersWrite, Principal>,
    ids: &[UserId],
) -> Result<Vec<(String, String)>, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let all_packages = role_packages::list(&mut tx, by.tenant).await?;
    let mut targets = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(user) = users::get(&mut tx, by.tenant, *id).await? else {
            return Err(AppError::NotFound);
        };
        let held: Vec<&RolePackage> = all_packages.iter().filter(|p| user.role_packages.contains(&p.name)).collect();
        guard_privileged_target(by, &held)?;
        targets.push(user);
    }
    let mut links = Vec::with_capacity(targets.len());
    for user in targets {
        let token = tokens::random_token();
        let expires = now.plus_seconds(SET_PASSWORD_LINK_DAYS * 86_400);
        sessions::insert_set_password_link(&mut tx, &tokens::hash_token(&token), user.id, now, expires).await?;
        audit::record(&mut tx, &audit_event(by, "user.password_reset", &user.email, "set-password link issued"), now)
            .await?;
        links.push((user.email, token));
    }
    tx.commit().await.map_err(StorageError::from)?;
    if let Some(mailer) = &app.mailer {
        for (email, token) in &links {
            mailer.send_set_password_link(email, &by.tenant_name, token).await;
        }
    }
    Ok(links)
}

/// The tenant's users.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::UsersRead, Principal>,
    filter: &UserFilter,
) -> Result<Vec<User>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(users::list(&mut conn, by.principal().tenant, filter).await?)
}

/// One of the tenant's users; another tenant's id is [`AppError::NotFound`].
pub async fn get(app: &App, by: &Authorized<'_, can::UsersRead, Principal>, id: UserId) -> Result<User, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    users::get(&mut conn, by.principal().tenant, id).await?.ok_or(AppError::NotFound)
}

/// The permissions the packages named give together (for showing).
pub fn permissions_of(packages: &[RolePackage], names: &[String]) -> PermissionSet {
    packages.iter().filter(|p| names.contains(&p.name)).fold(PermissionSet::EMPTY, |set, p| set.union(p.permissions))
}

/// Rules broken, for callers that collect more before answering.
pub fn rules(err: &AppError) -> Option<&BrokenRules> {
    match err {
        AppError::Invalid(rules) | AppError::Conflict(rules) | AppError::Forbidden(rules) => Some(rules),
        _ => None,
    }
}
