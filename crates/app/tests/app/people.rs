//! People and access: users, grant rules, custom role packages, contractors, sign-in,
//! sessions, set-password links and passwords. Each test runs on SQLite and PostgreSQL.

use std::sync::Arc;

use caretaker_app::auth::{self, NewSession, SessionContext, SignInError};
use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, CreatedUser, UserInput};
use caretaker_app::{App, AppError, MasterKey, Principal, password, role_packages};
use caretaker_domain::access::{BuiltinPackage, Holder, Permission, PermissionSet, can};
use caretaker_domain::clock::Clock;
use caretaker_domain::contractor::ContractorId;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::{Email, UserId, UserStatus, UserType};
use caretaker_storage::audit::{self, Actor, Entry};
use caretaker_storage::tenants::Tenant;
use caretaker_storage::testing::TestDb;
use caretaker_storage::users::{User, UserFilter};
use caretaker_storage::{both_backends, sessions, users as stored_users};
use secrecy::{ExposeSecret, SecretString};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const USER_PASSWORD: &str = "a user's long enough password";
const NEW_PASSWORD: &str = "an entirely new passphrase";

// ---------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------

fn app(t: &TestDb) -> App {
    App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate())
}

/// A tenant with its first Administrator (who chose a password), loaded as a principal.
struct Fixture {
    app: App,
    tenant: Tenant,
    admin: Principal,
    admin_id: UserId,
    admin_email: String,
}

async fn fixture(t: &TestDb, name: &str) -> Fixture {
    let app = app(t);
    let admin_email = format!("admin@{}.example", name.to_lowercase().replace(' ', "-"));
    let created = tenants::create(
        &app,
        NewTenant {
            name: name.into(),
            admin_email: admin_email.clone(),
            admin_password: Some(SecretString::from(ADMIN_PASSWORD)),
        },
        Actor::Operator,
    )
    .await
    .unwrap();
    let admin_id = user_id_of(t, created.tenant.id, &admin_email).await;
    let admin = principal(t, &created.tenant, admin_id).await;
    assert!(admin.is_admin);
    Fixture { app, tenant: created.tenant, admin, admin_id, admin_email }
}

async fn user_id_of(t: &TestDb, tenant: TenantId, email: &str) -> UserId {
    stored_users::find_by_email(&mut *t.conn().await, tenant, &Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {email}"))
        .id
}

/// The active user's principal, as a signed-in request would build it.
async fn principal(t: &TestDb, tenant: &Tenant, id: UserId) -> Principal {
    try_principal(t, tenant, id).await.expect("an active user of the tenant")
}

async fn try_principal(t: &TestDb, tenant: &Tenant, id: UserId) -> Option<Principal> {
    Principal::load(&mut *t.conn().await, tenant.id, tenant.name.as_str(), id).await.unwrap()
}

async fn stored(t: &TestDb, tenant: TenantId, id: UserId) -> User {
    stored_users::get(&mut *t.conn().await, tenant, id).await.unwrap().expect("a stored user")
}

fn input(email: &str, user_type: &str, packages: &[&str]) -> UserInput {
    UserInput {
        email: email.into(),
        name: String::from("Someone"),
        user_type: user_type.into(),
        contractor: None,
        role_packages: packages.iter().map(|p| (*p).to_owned()).collect(),
        site_access: String::from("all"),
        is_integration: false,
        password: None,
    }
}

fn with_password(mut input: UserInput, password: &str) -> UserInput {
    input.password = Some(SecretString::from(password));
    input
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

async fn create_user(app: &App, by: &Principal, input: UserInput) -> CreatedUser {
    let can = by.authorize::<can::UsersWrite>().expect("users.write");
    users::create(app, &can, input).await.unwrap()
}

async fn try_create(app: &App, by: &Principal, input: UserInput) -> Result<CreatedUser, AppError> {
    let can = by.authorize::<can::UsersWrite>().expect("users.write");
    users::create(app, &can, input).await
}

async fn try_update(app: &App, by: &Principal, id: UserId, input: UserInput) -> Result<(), AppError> {
    let can = by.authorize::<can::UsersWrite>().expect("users.write");
    users::update(app, &can, id, input).await
}

async fn try_set_status(app: &App, by: &Principal, ids: &[UserId], status: UserStatus) -> Result<(), AppError> {
    let can = by.authorize::<can::UsersWrite>().expect("users.write");
    users::set_status(app, &can, ids, status).await
}

/// An active user with a password and the packages named; returns its id.
async fn active_user(f: &Fixture, email: &str, packages: &[&str]) -> UserId {
    create_user(&f.app, &f.admin, with_password(input(email, "Management", packages), USER_PASSWORD)).await.id
}

/// A non-administrator who holds exactly `users.read` and `users.write` (through the
/// custom package "User Clerks"), as a principal.
async fn clerk(t: &TestDb, f: &Fixture) -> Principal {
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(
        &f.app,
        &can,
        "User Clerks",
        "Keep the user list",
        &[String::from("users.read"), String::from("users.write")],
    )
    .await
    .unwrap();
    let id = active_user(f, "clerk@example.com", &["User Clerks"]).await;
    let clerk = principal(t, &f.tenant, id).await;
    assert!(!clerk.is_admin);
    assert_eq!(clerk.permissions, PermissionSet::of(&[Permission::UsersRead, Permission::UsersWrite]));
    clerk
}

/// The broken-rule keys of an error of the expected kind.
#[track_caller]
fn keys_of(err: &AppError) -> Vec<String> {
    users::rules(err)
        .unwrap_or_else(|| panic!("expected broken rules, got {err:?}"))
        .rules()
        .iter()
        .map(|r| r.key.clone())
        .collect()
}

#[track_caller]
fn invalid(err: AppError) -> Vec<String> {
    assert!(matches!(err, AppError::Invalid(_)), "expected Invalid, got {err:?}");
    keys_of(&err)
}

#[track_caller]
fn conflict(err: AppError) -> Vec<String> {
    assert!(matches!(err, AppError::Conflict(_)), "expected Conflict, got {err:?}");
    keys_of(&err)
}

#[track_caller]
fn forbidden(err: AppError) -> Vec<String> {
    assert!(matches!(err, AppError::Forbidden(_)), "expected Forbidden, got {err:?}");
    keys_of(&err)
}

#[track_caller]
fn not_found<T: std::fmt::Debug>(result: Result<T, AppError>) {
    match result {
        Err(AppError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Row counts of every people-and-access table: equal before and after means nothing was
/// written.
async fn snapshot(t: &TestDb) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "tenants",
        "users",
        "role_packages",
        "role_package_permissions",
        "user_role_packages",
        "contractors",
        "sessions",
        "set_password_links",
        "auth_throttle",
        "audit_log",
    ] {
        counts.push((table, t.count(table).await));
    }
    counts
}

/// The tenant's audit log, oldest first.
async fn trail(t: &TestDb, tenant: TenantId) -> Vec<Entry> {
    let mut entries = audit::recent(&t.db, tenant, 1000).await.unwrap();
    entries.reverse();
    entries
}

/// (action, target, detail) of the entries after the first `skip`.
fn summary(entries: &[Entry], skip: usize) -> Vec<(String, String, String)> {
    entries
        .iter()
        .skip(skip)
        .map(|e| (e.action.clone(), e.target.clone().unwrap_or_default(), e.detail.clone()))
        .collect()
}

fn row(action: &str, target: &str, detail: &str) -> (String, String, String) {
    (action.into(), target.into(), detail.into())
}

async fn sign_in(f: &Fixture, email: &str, password: &str) -> Result<NewSession, SignInError> {
    auth::sign_in(&f.app, &f.tenant, email, secret(password), None).await
}

async fn session(f: &Fixture, new: &NewSession) -> Option<SessionContext> {
    auth::load_session(&f.app, &f.tenant, new.id.expose_secret()).await.unwrap()
}

#[track_caller]
fn assert_invalid_sign_in(result: Result<NewSession, SignInError>) {
    match result {
        Err(SignInError::Invalid) => {}
        other => panic!("expected SignInError::Invalid, got {other:?}"),
    }
}

#[track_caller]
fn assert_throttled(result: Result<NewSession, SignInError>, retry_after: i64) {
    match result {
        Err(SignInError::Throttled { retry_after_seconds }) => assert_eq!(retry_after_seconds, retry_after),
        other => panic!("expected SignInError::Throttled, got {other:?}"),
    }
}

async fn new_contractor(f: &Fixture, name: &str, code: Option<&str>, parent: Option<&str>) -> ContractorId {
    try_contractor(f, name, code, parent).await.unwrap()
}

async fn try_contractor(
    f: &Fixture,
    name: &str,
    code: Option<&str>,
    parent: Option<&str>,
) -> Result<ContractorId, AppError> {
    let can = f.admin.authorize::<can::ContractorsWrite>().unwrap();
    contractors::create(
        &f.app,
        &can,
        ContractorInput {
            name: name.into(),
            code: code.map(str::to_owned),
            parent: parent.map(str::to_owned),
            email: String::new(),
            telephone: String::new(),
        },
    )
    .await
}

both_backends!(
    // users::create
    administrator_is_only_for_management_users,
    administrative_packages_are_only_for_management_users,
    nobody_but_administrators_gives_more_site_access_than_they_have,
    create_management_user_with_rest_api_is_invited_with_a_set_password_link,
    create_with_a_password_makes_an_active_user_without_a_link,
    create_refuses_a_duplicate_email_in_any_case_and_writes_nothing,
    create_contractor_user_needs_a_known_contractor_of_the_tenant,
    create_refuses_a_contractor_for_other_user_types,
    create_refuses_an_unknown_role_package,
    create_reports_every_broken_rule_at_once,
    create_refuses_rest_api_for_site_users,
    concurrent_creation_of_one_email_has_exactly_one_winner,
    // grant rules
    non_administrator_cannot_grant_privileged_packages,
    non_administrator_cannot_grant_beyond_own_rights,
    non_administrator_cannot_act_on_privileged_users,
    nobody_changes_their_own_role_packages,
    last_active_administrator_cannot_be_disabled,
    last_active_administrator_cannot_lose_administrator,
    nobody_can_disable_themselves,
    concurrent_disabling_keeps_one_active_administrator,
    concurrent_removal_of_administrator_keeps_one,
    a_principal_without_the_permission_gets_no_proof,
    // users::update, get, set_status
    update_changes_packages_and_records_grants_and_removals,
    update_refuses_a_type_change_and_a_taken_email,
    users_of_another_tenant_are_not_found,
    disabling_ends_sessions_and_enabling_restores_sign_in,
    // custom role packages
    custom_role_package_is_stored_with_its_permissions_and_audited,
    custom_role_package_refuses_rest_api_use,
    custom_role_package_refuses_a_taken_name_in_any_case,
    custom_role_package_needs_known_permissions_and_a_name,
    // contractors
    contractor_code_defaults_from_the_name,
    contractor_codes_are_unique_in_any_case,
    contractor_parent_must_be_a_contractor_of_the_tenant,
    contractor_child_names_its_parent,
    contractors_of_another_tenant_are_not_found,
    // set-password links
    set_password_link_activates_an_invited_user_once,
    set_password_link_checks_the_new_password_before_using_the_link,
    set_password_link_has_one_winner_under_concurrent_use,
    reset_password_replaces_earlier_links_and_ends_sessions,
    set_password_link_of_another_tenant_is_not_found_and_not_used_up,
    set_password_link_expires_after_seven_days,
    // sign-in
    sign_in_succeeds_with_the_right_password_in_any_email_case,
    sign_in_failures_are_one_indistinguishable_error,
    five_failures_lock_the_account_for_fifteen_minutes,
    thirty_failures_from_one_address_block_the_address,
    sign_ins_are_audited_and_passwords_never_are,
    // sessions
    load_session_returns_the_principal_until_sign_out,
    session_ends_after_an_hour_without_requests,
    session_ends_after_twelve_hours_whatever_the_activity,
    session_of_a_disabled_user_or_another_tenant_is_not_loaded,
    // passwords
    change_password_requires_the_current_password_and_ends_other_sessions,
    generated_admin_password_must_be_changed_at_first_sign_in,
    update_profile_changes_only_the_name,
);

// ---------------------------------------------------------------------------------------
// users::create
// ---------------------------------------------------------------------------------------

async fn create_management_user_with_rest_api_is_invited_with_a_set_password_link(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = trail(&t, f.tenant.id).await.len();
    let created = create_user(
        &f.app,
        &f.admin,
        UserInput {
            is_integration: true,
            ..input("Api.Integration@Company.com", "management", &["REST API", "management user"])
        },
    )
    .await;

    let token = created.set_password_token.expect("an invited user gets a set-password link");
    assert_eq!(token.len(), 43);
    let user = stored(&t, f.tenant.id, created.id).await;
    assert_eq!(user.email, "Api.Integration@Company.com");
    assert_eq!(user.name, "Someone");
    assert_eq!(user.user_type, UserType::Management);
    assert_eq!(user.status, UserStatus::Invited);
    assert!(user.is_integration);
    assert!(!user.must_change_password);
    assert_eq!(user.contractor, None);
    assert_eq!(user.site_access, "all");
    assert_eq!(user.role_packages, ["Management User", "REST API"]);
    assert_eq!(
        stored_users::password_hash(t.db.read(), created.id).await.unwrap(),
        None,
        "an invited user has no password"
    );
    assert_eq!(t.count(&format!("set_password_links WHERE user_id = {} AND used_at IS NULL", created.id.0)).await, 1);
    assert_eq!(
        t.count(&format!("user_role_packages WHERE user_id = {} AND granted_by = {}", created.id.0, f.admin_id.0))
            .await,
        2,
        "the grants name who made them"
    );
    // Only the hash of the link is stored.
    assert_eq!(t.count(&format!("set_password_links WHERE token_hash = '{token}'")).await, 0);
    assert!(auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());

    let log = trail(&t, f.tenant.id).await;
    assert_eq!(
        summary(&log, before),
        [
            row("user.created", "Api.Integration@Company.com", "Management user, integration account"),
            row("user.package_granted", "Api.Integration@Company.com", "REST API"),
            row("user.package_granted", "Api.Integration@Company.com", "Management User"),
        ]
    );
    for entry in &log[before..] {
        assert_eq!(entry.actor_kind, "user");
        assert_eq!(entry.actor_email.as_deref(), Some(f.admin_email.as_str()));
        assert!(!entry.detail.contains(&token));
    }

    // The invited user cannot sign in until a password is set.
    assert_invalid_sign_in(sign_in(&f, "api.integration@company.com", "").await);
}

async fn create_with_a_password_makes_an_active_user_without_a_link(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let created =
        create_user(&f.app, &f.admin, with_password(input("ann@example.com", "Site", &["Site User"]), USER_PASSWORD))
            .await;
    assert!(created.set_password_token.is_none());
    let user = stored(&t, f.tenant.id, created.id).await;
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.user_type, UserType::Site);
    assert_eq!(user.role_packages, ["Site User"]);
    let hash = stored_users::password_hash(t.db.read(), created.id).await.unwrap().unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(password::verify(&secret(USER_PASSWORD), &hash));
    assert_eq!(t.count("set_password_links").await, 0);
    let log = trail(&t, f.tenant.id).await;
    assert!(
        log.iter()
            .all(|e| !e.detail.contains(USER_PASSWORD) && !e.target.clone().unwrap_or_default().contains(USER_PASSWORD))
    );
    sign_in(&f, "ann@example.com", USER_PASSWORD).await.unwrap();
}

async fn create_refuses_a_duplicate_email_in_any_case_and_writes_nothing(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    create_user(&f.app, &f.admin, input("Ann@Example.com", "Management", &["Management User"])).await;
    let before = snapshot(&t).await;

    for email in ["ann@EXAMPLE.com", " ANN@example.com ", "Admin@Acme.Example"] {
        let err = try_create(
            &f.app,
            &f.admin,
            with_password(input(email, "Management", &["Management User", "Read Only"]), USER_PASSWORD),
        )
        .await
        .unwrap_err();
        assert_eq!(conflict(err), ["BrokenRule_User_DuplicateEmail"], "{email}");
        assert_eq!(snapshot(&t).await, before, "{email}: nothing is written");
    }

    // Another tenant may use the address.
    let other = fixture(&t, "Globex").await;
    create_user(&other.app, &other.admin, input("ann@example.com", "Management", &[])).await;
}

async fn create_contractor_user_needs_a_known_contractor_of_the_tenant(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let other = fixture(&t, "Globex").await;
    let plumbing = new_contractor(&f, "Acme Plumbing", None, None).await;
    new_contractor(&other, "Globex Roofing", None, None).await;
    let before = snapshot(&t).await;

    // No contractor at all (a blank code counts as none).
    for code in [None, Some("   ")] {
        let err = try_create(
            &f.app,
            &f.admin,
            UserInput {
                contractor: code.map(str::to_owned),
                ..input("bob@plumbing.example", "Contractor", &["Contractor User"])
            },
        )
        .await
        .unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_User_MissingContractor"]);
    }
    // Unknown, and another tenant's contractor.
    for code in ["NOPE", "GLOBEX-ROOFING"] {
        let err = try_create(
            &f.app,
            &f.admin,
            UserInput {
                contractor: Some(code.into()),
                ..input("bob@plumbing.example", "Supplier", &["Contractor User"])
            },
        )
        .await
        .unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_User_UnknownContractor"], "{code}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");

    // The code is found in any case.
    let created = create_user(
        &f.app,
        &f.admin,
        UserInput {
            contractor: Some(" acme-plumbing ".into()),
            ..input("bob@plumbing.example", "Contractor", &["Contractor User"])
        },
    )
    .await;
    let user = stored(&t, f.tenant.id, created.id).await;
    assert_eq!(user.user_type, UserType::Contractor);
    assert_eq!(user.contractor, Some(plumbing));
    assert_eq!(user.contractor_code.as_deref(), Some("ACME-PLUMBING"));
    let listed = {
        let can = f.admin.authorize::<can::UsersRead>().unwrap();
        users::list(&f.app, &can, &UserFilter { contractor: Some(plumbing), ..UserFilter::default() }).await.unwrap()
    };
    assert_eq!(listed.iter().map(|u| u.id).collect::<Vec<_>>(), [created.id]);
}

async fn create_refuses_a_contractor_for_other_user_types(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    new_contractor(&f, "Acme Plumbing", None, None).await;
    let before = snapshot(&t).await;
    for user_type in ["Management", "Site"] {
        let err = try_create(
            &f.app,
            &f.admin,
            UserInput { contractor: Some("ACME-PLUMBING".into()), ..input("carl@example.com", user_type, &[]) },
        )
        .await
        .unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_User_ContractorOnlyForContractorUsers"]);
    }
    assert_eq!(snapshot(&t).await, before);
}

async fn create_refuses_an_unknown_role_package(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = snapshot(&t).await;
    let err = try_create(&f.app, &f.admin, input("dora@example.com", "Management", &["Management User", "Super User"]))
        .await
        .unwrap_err();
    let AppError::Invalid(rules) = &err else { panic!("expected Invalid, got {err:?}") };
    assert_eq!(rules.rules().len(), 1);
    assert_eq!(rules.rules()[0].key, "BrokenRule_User_UnknownRolePackage");
    assert!(rules.rules()[0].value.contains("Super User"));
    assert_eq!(snapshot(&t).await, before);

    // Another tenant's custom package is unknown here too.
    let other = fixture(&t, "Globex").await;
    let can = other.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(&other.app, &can, "Globex Only", "", &["tasks.read".into()]).await.unwrap();
    let before = snapshot(&t).await;
    let err =
        try_create(&f.app, &f.admin, input("dora@example.com", "Management", &["Globex Only"])).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_UnknownRolePackage"]);
    assert_eq!(snapshot(&t).await, before);
}

async fn create_reports_every_broken_rule_at_once(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = snapshot(&t).await;
    let err = try_create(
        &f.app,
        &f.admin,
        UserInput {
            email: "not-an-email".into(),
            name: "   ".into(),
            user_type: "Contractor".into(),
            contractor: None,
            role_packages: vec!["Nope".into(), "Read Only".into()],
            site_access: "NORTH, SOUTH".into(),
            is_integration: false,
            password: Some(secret("short")),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        invalid(err),
        [
            "BrokenRule_User_InvalidEmail",
            "BrokenRule_User_MissingName",
            "BrokenRule_User_PasswordTooShort",
            "BrokenRule_User_MissingContractor",
            "BrokenRule_User_UnknownSite",
            "BrokenRule_User_UnknownSite",
            "BrokenRule_User_UnknownRolePackage",
        ]
    );

    let err =
        try_create(&f.app, &f.admin, UserInput { name: String::new(), ..input("", "Robot", &[]) }).await.unwrap_err();
    assert_eq!(
        invalid(err),
        ["BrokenRule_User_MissingEmail", "BrokenRule_User_MissingName", "BrokenRule_User_InvalidUserType",]
    );
    assert_eq!(snapshot(&t).await, before);
}

async fn create_refuses_rest_api_for_site_users(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = snapshot(&t).await;
    let err =
        try_create(&f.app, &f.admin, input("site@example.com", "Site", &["Site User", "REST API"])).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_RestApiNotForSiteUsers"]);
    assert_eq!(snapshot(&t).await, before);

    // Contractor users may hold it (the seed's integration accounts).
    new_contractor(&f, "Acme Plumbing", None, None).await;
    let created = create_user(
        &f.app,
        &f.admin,
        UserInput {
            contractor: Some("ACME-PLUMBING".into()),
            ..input("api@plumbing.example", "Contractor", &["REST API"])
        },
    )
    .await;
    assert_eq!(stored(&t, f.tenant.id, created.id).await.role_packages, ["REST API"]);
}

async fn concurrent_creation_of_one_email_has_exactly_one_winner(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let mut racers = Vec::new();
    for i in 0..6 {
        let app = f.app.clone();
        let admin = f.admin.clone();
        racers.push(tokio::spawn(async move {
            let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
            let can = admin.authorize::<can::UsersWrite>().unwrap();
            users::create(&app, &can, input(email, "Management", &["Read Only"])).await
        }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => winners += 1,
            Err(err) => assert_eq!(conflict(err), ["BrokenRule_User_DuplicateEmail"]),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(t.count("users WHERE email_key = 'race@example.com'").await, 1);
    assert_eq!(t.count("set_password_links").await, 1);
    assert_eq!(t.count("audit_log WHERE action = 'user.created'").await, 1);
}

// ---------------------------------------------------------------------------------------
// Grant rules
// ---------------------------------------------------------------------------------------

async fn non_administrator_cannot_grant_privileged_packages(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let clerk = clerk(&t, &f).await;
    let target = active_user(&f, "plain@example.com", &["User Clerks"]).await;
    let before = snapshot(&t).await;

    for package in ["REST API", "Administrator", "administrator"] {
        let err = try_create(&f.app, &clerk, input("new@example.com", "Management", &[package])).await.unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedRolePackage"], "{package}");
        let err =
            try_update(&f.app, &clerk, target, input("plain@example.com", "Management", &["User Clerks", package]))
                .await
                .unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedRolePackage"], "{package}");
    }
    // Both at once: one rule each.
    let err = try_create(&f.app, &clerk, input("new@example.com", "Management", &["Administrator", "REST API"]))
        .await
        .unwrap_err();
    assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedRolePackage", "BrokenRule_User_PrivilegedRolePackage"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    assert_eq!(stored(&t, f.tenant.id, target).await.role_packages, ["User Clerks"]);
}

async fn non_administrator_cannot_grant_beyond_own_rights(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let clerk = clerk(&t, &f).await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(&f.app, &can, "User Viewers", "", &["users.read".into()]).await.unwrap();
    role_packages::create_custom(&f.app, &can, "User Auditors", "", &["users.read".into(), "audit_log.read".into()])
        .await
        .unwrap();
    let target = active_user(&f, "viewer@example.com", &["Read Only"]).await;
    let before = snapshot(&t).await;

    for package in ["Management User", "Read Only", "User Auditors"] {
        let err = try_create(&f.app, &clerk, input("new@example.com", "Management", &["User Viewers", package]))
            .await
            .unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_RolePackageExceedsOwnRights"], "{package}");
    }
    // A user whose rights go beyond one's own cannot be changed at all (taking their
    // package away included): a non-administrator could otherwise reset their password.
    let err = try_update(&f.app, &clerk, target, input("viewer@example.com", "Management", &["User Viewers"]))
        .await
        .unwrap_err();
    assert_eq!(forbidden(err), ["BrokenRule_User_UserExceedsOwnRights"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");

    // Packages within one's own rights may be given.
    let created =
        create_user(&f.app, &clerk, input("new@example.com", "Management", &["User Viewers", "User Clerks"])).await;
    assert_eq!(stored(&t, f.tenant.id, created.id).await.role_packages, ["User Clerks", "User Viewers"]);
}

async fn non_administrator_cannot_act_on_privileged_users(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let clerk = clerk(&t, &f).await;
    let integration = create_user(&f.app, &f.admin, input("api@example.com", "Management", &["REST API"])).await.id;
    let before = snapshot(&t).await;
    let admin_before = stored(&t, f.tenant.id, f.admin_id).await;

    for target in [f.admin_id, integration] {
        let email = stored(&t, f.tenant.id, target).await.email;
        let packages = stored(&t, f.tenant.id, target).await.role_packages;
        let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
        // Even a change of name only.
        let err = try_update(
            &f.app,
            &clerk,
            target,
            UserInput { name: "Renamed".into(), ..input(&email, "Management", &packages) },
        )
        .await
        .unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedUser"]);
        let err = try_set_status(&f.app, &clerk, &[target], UserStatus::Disabled).await.unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedUser"]);
        let can = clerk.authorize::<can::UsersWrite>().unwrap();
        let err = users::reset_password(&f.app, &can, target).await.unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_PrivilegedUser"]);
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await, admin_before);
}

async fn nobody_changes_their_own_role_packages(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let clerk = clerk(&t, &f).await;
    let clerk_id = clerk.user.unwrap();
    let before = snapshot(&t).await;
    let admin_before = stored(&t, f.tenant.id, f.admin_id).await;

    // An administrator adding REST API to themselves, or dropping a package.
    for packages in [&["Administrator", "Management User", "REST API"][..], &["Administrator"][..]] {
        let err =
            try_update(&f.app, &f.admin, f.admin_id, input(&f.admin_email, "Management", packages)).await.unwrap_err();
        assert_eq!(forbidden(err), ["BrokenRule_User_CannotChangeOwnRolePackages"], "{packages:?}");
    }
    // A clerk removing their own package, or adding one (beyond their rights, too).
    let err = try_update(&f.app, &clerk, clerk_id, input("clerk@example.com", "Management", &[])).await.unwrap_err();
    assert_eq!(forbidden(err), ["BrokenRule_User_CannotChangeOwnRolePackages"]);
    let err =
        try_update(&f.app, &clerk, clerk_id, input("clerk@example.com", "Management", &["User Clerks", "Read Only"]))
            .await
            .unwrap_err();
    assert_eq!(
        forbidden(err),
        ["BrokenRule_User_CannotChangeOwnRolePackages", "BrokenRule_User_RolePackageExceedsOwnRights"]
    );
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await, admin_before);
    let grants_before = t.count("audit_log WHERE action LIKE 'user.package%'").await;

    // The rest of one's own details may change.
    try_update(
        &f.app,
        &f.admin,
        f.admin_id,
        UserInput {
            name: "Ada Admin".into(),
            ..input(&f.admin_email, "Management", &["management user", "ADMINISTRATOR"])
        },
    )
    .await
    .unwrap();
    let after = stored(&t, f.tenant.id, f.admin_id).await;
    assert_eq!(after.name, "Ada Admin");
    assert_eq!(after.role_packages, ["Administrator", "Management User"]);
    assert_eq!(
        t.count("audit_log WHERE action LIKE 'user.package%'").await,
        grants_before,
        "the same packages in another case change nothing"
    );
}

async fn last_active_administrator_cannot_be_disabled(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let operator = Principal::operator(f.tenant.id, f.tenant.name.as_str());
    // An invited Administrator does not count: they cannot sign in.
    let invited_admin =
        create_user(&f.app, &f.admin, input("second@example.com", "Management", &["Administrator"])).await.id;
    let before = snapshot(&t).await;

    let err = try_set_status(&f.app, &operator, &[f.admin_id], UserStatus::Disabled).await.unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]);
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await.status, UserStatus::Active);

    // With a second active Administrator the first may go, but not both at once.
    let second_admin = active_user(&f, "third@example.com", &["Administrator"]).await;
    let before = snapshot(&t).await;
    let err = try_set_status(&f.app, &operator, &[f.admin_id, second_admin], UserStatus::Disabled).await.unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]);
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(
        stored(&t, f.tenant.id, f.admin_id).await.status,
        UserStatus::Active,
        "the first half of a refused batch is rolled back"
    );

    try_set_status(&f.app, &operator, &[f.admin_id], UserStatus::Disabled).await.unwrap();
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await.status, UserStatus::Disabled);
    let second = principal(&t, &f.tenant, second_admin).await;
    let err = try_set_status(&f.app, &operator, &[second_admin], UserStatus::Disabled).await.unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]);
    // Disabling the invited one is fine: it is not the last active one.
    try_set_status(&f.app, &second, &[invited_admin], UserStatus::Disabled).await.unwrap();
    let log = trail(&t, f.tenant.id).await;
    let disabled: Vec<_> = log
        .iter()
        .filter(|e| e.action == "user.disabled")
        .map(|e| (e.target.clone().unwrap(), e.actor_kind.clone()))
        .collect();
    assert_eq!(
        disabled,
        [(f.admin_email.clone(), String::from("operator")), (String::from("second@example.com"), String::from("user")),]
    );
}

async fn last_active_administrator_cannot_lose_administrator(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let operator = Principal::operator(f.tenant.id, f.tenant.name.as_str());
    let before = snapshot(&t).await;
    let err = try_update(&f.app, &operator, f.admin_id, input(&f.admin_email, "Management", &["Management User"]))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]);
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await.role_packages, ["Administrator", "Management User"]);

    // Once another Administrator is active, the first may lose the package.
    let second = active_user(&f, "second@example.com", &["Administrator"]).await;
    let second = principal(&t, &f.tenant, second).await;
    try_update(&f.app, &second, f.admin_id, input(&f.admin_email, "Management", &["Management User"])).await.unwrap();
    assert_eq!(stored(&t, f.tenant.id, f.admin_id).await.role_packages, ["Management User"]);
    let reloaded = principal(&t, &f.tenant, f.admin_id).await;
    assert!(!reloaded.is_admin);
    assert!(reloaded.authorize::<can::UsersWrite>().is_none());
    // And now the second is the last one.
    let err = try_update(&f.app, &operator, second.user.unwrap(), input("second@example.com", "Management", &[]))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]);
}

/// Active users holding Administrator in the tenant.
async fn active_administrators(t: &TestDb, tenant: TenantId) -> usize {
    stored_users::list(
        &mut *t.conn().await,
        tenant,
        &UserFilter { status: Some(UserStatus::Active), ..UserFilter::default() },
    )
    .await
    .unwrap()
    .iter()
    .filter(|u| u.role_packages.iter().any(|p| p == "Administrator"))
    .count()
}

#[derive(Clone, Copy, Debug)]
enum Demotion {
    Disable,
    TakeAdministrator,
}

/// Demotes every Administrator of a fresh tenant at once (the operator, one request per
/// Administrator), several times over: each time all but one must succeed, the last must be
/// refused, and exactly one active Administrator must remain.
async fn race_to_demote_every_administrator(t: &TestDb, how: Demotion) {
    for round in 0..5 {
        let f = fixture(t, &format!("Race {round}")).await;
        let mut admins = vec![(f.admin_id, f.admin_email.clone())];
        for i in 0..5 {
            let email = format!("admin{i}@example.com");
            admins.push((active_user(&f, &email, &["Administrator"]).await, email));
        }
        let operator = Principal::operator(f.tenant.id, f.tenant.name.as_str());
        let mut racers = Vec::new();
        for (id, email) in admins.clone() {
            let app = f.app.clone();
            let operator = operator.clone();
            racers.push(tokio::spawn(async move {
                let can = operator.authorize::<can::UsersWrite>().unwrap();
                match how {
                    Demotion::Disable => users::set_status(&app, &can, &[id], UserStatus::Disabled).await,
                    Demotion::TakeAdministrator => {
                        users::update(&app, &can, id, input(&email, "Management", &["Management User"])).await
                    }
                }
            }));
        }
        let mut demoted = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(()) => demoted += 1,
                Err(err) => assert_eq!(conflict(err), ["BrokenRule_User_LastAdministrator"]),
            }
        }
        assert_eq!(
            active_administrators(t, f.tenant.id).await,
            1,
            "{how:?}, round {round}: the tenant keeps one active Administrator"
        );
        assert_eq!(demoted, admins.len() - 1, "{how:?}, round {round}");
    }
}

async fn concurrent_disabling_keeps_one_active_administrator(t: TestDb) {
    race_to_demote_every_administrator(&t, Demotion::Disable).await;
}

async fn concurrent_removal_of_administrator_keeps_one(t: TestDb) {
    race_to_demote_every_administrator(&t, Demotion::TakeAdministrator).await;
}

async fn nobody_can_disable_themselves(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let clerk = clerk(&t, &f).await;
    // A second Administrator, so that "last Administrator" is not what refuses.
    active_user(&f, "second@example.com", &["Administrator"]).await;
    let before = snapshot(&t).await;
    for who in [&f.admin, &clerk] {
        let err = try_set_status(&f.app, who, &[who.user.unwrap()], UserStatus::Disabled).await.unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_User_CannotDisableSelf"]);
        assert_eq!(stored(&t, f.tenant.id, who.user.unwrap()).await.status, UserStatus::Active);
    }
    assert_eq!(snapshot(&t).await, before);
}

async fn a_principal_without_the_permission_gets_no_proof(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let reader = active_user(&f, "reader@example.com", &["Read Only"]).await;
    let reader = principal(&t, &f.tenant, reader).await;
    assert!(!reader.is_admin);
    assert_eq!(reader.role_packages, ["Read Only"]);
    assert_eq!(reader.permissions, BuiltinPackage::ReadOnly.permissions());
    assert!(reader.authorize::<can::UsersWrite>().is_none());
    assert!(reader.authorize::<can::UsersRead>().is_none());
    assert!(reader.authorize::<can::ContractorsWrite>().is_none());
    assert!(reader.authorize::<can::RolePackagesWrite>().is_none());
    assert!(reader.authorize::<can::ContractorsRead>().is_some());

    // The REST API package grants rest_api.use and nothing else; Administrator never does.
    assert!(f.admin.authorize::<can::RestApiUse>().is_none());
    let api = create_user(
        &f.app,
        &f.admin,
        with_password(input("api@example.com", "Management", &["REST API"]), USER_PASSWORD),
    )
    .await;
    let api = principal(&t, &f.tenant, api.id).await;
    assert_eq!(api.permissions, PermissionSet::of(&[Permission::RestApiUse]));
    assert!(!api.is_admin);

    // The operator holds everything an Administrator does.
    let operator = Principal::operator(f.tenant.id, f.tenant.name.as_str());
    assert_eq!(operator.permissions, f.admin.permissions);
    assert_eq!(operator.actor(), Actor::Operator);
}

// ---------------------------------------------------------------------------------------
// users::update, get, set_status
// ---------------------------------------------------------------------------------------

async fn update_changes_packages_and_records_grants_and_removals(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let id = create_user(&f.app, &f.admin, input("eve@example.com", "Management", &["Management User"])).await.id;
    let before_user = stored(&t, f.tenant.id, id).await;
    let before = trail(&t, f.tenant.id).await.len();
    t.clock.advance_seconds(10);

    try_update(
        &f.app,
        &f.admin,
        id,
        UserInput {
            name: "Eve Example".into(),
            email: "Eve@Example.com".into(),
            is_integration: true,
            ..input("", "MANAGEMENT", &["Read Only", "Invoicing", "read only"])
        },
    )
    .await
    .unwrap();

    let after = stored(&t, f.tenant.id, id).await;
    assert_eq!(after.name, "Eve Example");
    assert_eq!(after.email, "Eve@Example.com");
    assert!(after.is_integration);
    assert_eq!(after.role_packages, ["Invoicing", "Read Only"]);
    assert!(after.access_version > before_user.access_version);
    assert_eq!(after.updated_at, before_user.updated_at.plus_seconds(10));
    assert_eq!(
        summary(&trail(&t, f.tenant.id).await, before),
        [
            row("user.changed", "Eve@Example.com", ""),
            row("user.package_granted", "Eve@Example.com", "Read Only"),
            row("user.package_granted", "Eve@Example.com", "Invoicing"),
            row("user.package_removed", "Eve@Example.com", "Management User"),
        ]
    );
    assert!(try_principal(&t, &f.tenant, id).await.is_none(), "an invited user has no principal");

    // The same packages again: nothing granted or removed.
    let before = trail(&t, f.tenant.id).await.len();
    try_update(&f.app, &f.admin, id, input("eve@example.com", "Management", &["Invoicing", "Read Only"]))
        .await
        .unwrap();
    assert_eq!(summary(&trail(&t, f.tenant.id).await, before), [row("user.changed", "eve@example.com", "")]);

    // Unknown users are not found.
    not_found(try_update(&f.app, &f.admin, UserId(999_999), input("x@example.com", "Management", &[])).await);
}

async fn update_refuses_a_type_change_and_a_taken_email(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let id = create_user(&f.app, &f.admin, input("fay@example.com", "Management", &["Read Only"])).await.id;
    let user_before = stored(&t, f.tenant.id, id).await;
    let before = snapshot(&t).await;

    let err =
        try_update(&f.app, &f.admin, id, input("fay@example.com", "Site", &["Read Only", "Nope"])).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_TypeCannotChange", "BrokenRule_User_UnknownRolePackage"]);
    let err = try_update(&f.app, &f.admin, id, input(&f.admin_email.to_uppercase(), "Management", &["Invoicing"]))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), ["BrokenRule_User_DuplicateEmail"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    assert_eq!(stored(&t, f.tenant.id, id).await, user_before);
}

async fn users_of_another_tenant_are_not_found(t: TestDb) {
    let acme = fixture(&t, "Acme").await;
    let globex = fixture(&t, "Globex").await;
    let stranger = active_user(&globex, "stranger@globex.example", &["Read Only"]).await;
    let before = snapshot(&t).await;

    let read = acme.admin.authorize::<can::UsersRead>().unwrap();
    for id in [stranger, globex.admin_id, UserId(999_999)] {
        not_found(users::get(&acme.app, &read, id).await);
        not_found(try_update(&acme.app, &acme.admin, id, input("stranger@globex.example", "Management", &[])).await);
        not_found(try_set_status(&acme.app, &acme.admin, &[id], UserStatus::Disabled).await);
        let write = acme.admin.authorize::<can::UsersWrite>().unwrap();
        not_found(users::reset_password(&acme.app, &write, id).await);
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    let listed = users::list(&acme.app, &read, &UserFilter::default()).await.unwrap();
    assert_eq!(listed.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), [acme.admin_email.as_str()]);
    // One's own user is found, with its packages.
    let own = users::get(&acme.app, &read, acme.admin_id).await.unwrap();
    assert_eq!(own.role_packages, ["Administrator", "Management User"]);
    // A principal cannot be loaded across tenants either.
    assert!(try_principal(&t, &acme.tenant, stranger).await.is_none());
    // Another tenant's packages are not listed.
    let packages = role_packages::list(&acme.app, &read).await.unwrap();
    assert_eq!(packages.len(), 7);
}

async fn disabling_ends_sessions_and_enabling_restores_sign_in(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let id = active_user(&f, "gus@example.com", &["Read Only"]).await;
    let invited = create_user(&f.app, &f.admin, input("ivy@example.com", "Management", &["Read Only"])).await.id;
    let first = sign_in(&f, "gus@example.com", USER_PASSWORD).await.unwrap();
    let second = sign_in(&f, "gus@example.com", USER_PASSWORD).await.unwrap();
    let admin_session = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 2);

    try_set_status(&f.app, &f.admin, &[id, invited], UserStatus::Disabled).await.unwrap();
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Disabled);
    assert_eq!(stored(&t, f.tenant.id, invited).await.status, UserStatus::Disabled);
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 0);
    assert!(session(&f, &first).await.is_none());
    assert!(session(&f, &second).await.is_none());
    assert!(session(&f, &admin_session).await.is_some(), "other users' sessions live on");
    assert_invalid_sign_in(sign_in(&f, "gus@example.com", USER_PASSWORD).await);

    // Disabling again changes and records nothing.
    let audit_before = t.count("audit_log").await;
    try_set_status(&f.app, &f.admin, &[id], UserStatus::Disabled).await.unwrap();
    assert_eq!(t.count("audit_log").await, audit_before);

    try_set_status(&f.app, &f.admin, &[id, invited], UserStatus::Active).await.unwrap();
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Active);
    assert_eq!(
        stored(&t, f.tenant.id, invited).await.status,
        UserStatus::Invited,
        "only a set password activates an invited user"
    );
    sign_in(&f, "gus@example.com", USER_PASSWORD).await.unwrap();

    let log = trail(&t, f.tenant.id).await;
    let changes: Vec<_> = log
        .iter()
        .filter(|e| e.action == "user.disabled" || e.action == "user.enabled")
        .map(|e| (e.action.as_str(), e.target.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        changes,
        [
            ("user.disabled", "gus@example.com"),
            ("user.disabled", "ivy@example.com"),
            ("user.enabled", "gus@example.com"),
            ("user.enabled", "ivy@example.com"),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Custom role packages
// ---------------------------------------------------------------------------------------

async fn custom_role_package_is_stored_with_its_permissions_and_audited(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    let before = trail(&t, f.tenant.id).await.len();
    let id = role_packages::create_custom(
        &f.app,
        &can,
        "  Help Desk  ",
        "  Answers the phone ",
        &["users.write".into(), "tasks.read".into(), "users.write".into()],
    )
    .await
    .unwrap();
    let read = f.admin.authorize::<can::UsersRead>().unwrap();
    let packages = role_packages::list(&f.app, &read).await.unwrap();
    assert_eq!(packages.len(), 8);
    let custom = packages.last().unwrap();
    assert_eq!(custom.id, id);
    assert_eq!(custom.name, "Help Desk");
    assert_eq!(custom.description, "Answers the phone");
    assert_eq!(custom.builtin, None);
    assert_eq!(custom.permissions, PermissionSet::of(&[Permission::TasksRead, Permission::UsersWrite]));
    assert_eq!(custom.users, 0);
    assert_eq!(t.count(&format!("role_package_permissions WHERE role_package_id = {}", id.0)).await, 2);
    assert_eq!(
        summary(&trail(&t, f.tenant.id).await, before),
        [row("role_package.created", "Help Desk", "tasks.read, users.write")]
    );

    // A holder gets exactly those permissions.
    let holder = active_user(&f, "desk@example.com", &["help desk"]).await;
    let holder = principal(&t, &f.tenant, holder).await;
    assert_eq!(holder.role_packages, ["Help Desk"]);
    assert_eq!(holder.permissions, PermissionSet::of(&[Permission::TasksRead, Permission::UsersWrite]));
    assert!(!holder.is_admin);
}

async fn custom_role_package_refuses_rest_api_use(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    let before = snapshot(&t).await;
    for permissions in
        [vec![String::from("rest_api.use")], vec![String::from("tasks.read"), String::from("rest_api.use")]]
    {
        let err = role_packages::create_custom(&f.app, &can, "Integrators", "", &permissions).await.unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_RolePackage_RestApiOnlyBuiltin"], "{permissions:?}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

async fn custom_role_package_refuses_a_taken_name_in_any_case(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(&f.app, &can, "Auditors", "", &["audit_log.read".into()]).await.unwrap();
    let before = snapshot(&t).await;
    for name in ["Auditors", "AUDITORS", " auditors ", "read only", "ADMINISTRATOR", "rest api"] {
        let err = role_packages::create_custom(&f.app, &can, name, "", &["tasks.read".into()]).await.unwrap_err();
        assert_eq!(conflict(err), ["BrokenRule_RolePackage_DuplicateName"], "{name}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");

    // Names are per tenant.
    let other = fixture(&t, "Globex").await;
    let can = other.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(&other.app, &can, "Auditors", "", &["audit_log.read".into()]).await.unwrap();
}

async fn custom_role_package_needs_known_permissions_and_a_name(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    let before = snapshot(&t).await;

    let err = role_packages::create_custom(&f.app, &can, "Empty", "", &[]).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_RolePackage_NoPermissions"]);

    let err = role_packages::create_custom(&f.app, &can, "Fliers", "", &["tasks.fly".into()]).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_RolePackage_UnknownPermission", "BrokenRule_RolePackage_NoPermissions"]);

    let err =
        role_packages::create_custom(&f.app, &can, "  ", &"x".repeat(501), &["tasks.read".into(), "Tasks.Read".into()])
            .await
            .unwrap_err();
    assert_eq!(
        invalid(err),
        [
            "BrokenRule_RolePackage_MissingName",
            "BrokenRule_RolePackage_UnknownPermission",
            "BrokenRule_RolePackage_DescriptionTooLong"
        ]
    );
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

// ---------------------------------------------------------------------------------------
// Contractors
// ---------------------------------------------------------------------------------------

async fn contractor_code_defaults_from_the_name(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = trail(&t, f.tenant.id).await.len();
    let can = f.admin.authorize::<can::ContractorsWrite>().unwrap();
    let id = contractors::create(
        &f.app,
        &can,
        ContractorInput {
            name: "  O'Brien & Sons Plumbing ".into(),
            code: Some("   ".into()),
            parent: None,
            email: " office@obrien.example ".into(),
            telephone: " 01234 567890 ".into(),
        },
    )
    .await
    .unwrap();
    let read = f.admin.authorize::<can::ContractorsRead>().unwrap();
    let stored = contractors::get(&f.app, &read, id).await.unwrap();
    assert_eq!(stored.code, "OBRIEN--SONS-PLUMBING");
    assert_eq!(stored.name, "O'Brien & Sons Plumbing");
    assert_eq!(stored.email, "office@obrien.example");
    assert_eq!(stored.telephone, "01234 567890");
    assert_eq!(stored.parent, None);
    assert_eq!(stored.tenant, f.tenant.id);
    assert_eq!(
        summary(&trail(&t, f.tenant.id).await, before),
        [row("contractor.created", "OBRIEN--SONS-PLUMBING", "O'Brien & Sons Plumbing")]
    );

    // A given code is kept as typed.
    let id = new_contractor(&f, "Acme Roofing", Some(" roof-1 "), None).await;
    assert_eq!(contractors::get(&f.app, &read, id).await.unwrap().code, "roof-1");

    // A name without a usable character needs a code.
    let before = snapshot(&t).await;
    let err = try_contractor(&f, "&&&", None, None).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_Contractor_MissingCode"]);
    let err = try_contractor(&f, "", Some("bad code!"), None).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_Contractor_MissingName", "BrokenRule_Contractor_InvalidCode"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

async fn contractor_codes_are_unique_in_any_case(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    new_contractor(&f, "Acme Plumbing", None, None).await;
    let before = snapshot(&t).await;
    for (name, code) in [
        ("Acme Plumbing", None),
        ("ACME plumbing", None),
        ("Someone Else", Some("acme-plumbing")),
        ("Someone Else", Some("Acme-Plumbing")),
    ] {
        let err = try_contractor(&f, name, code, None).await.unwrap_err();
        assert_eq!(conflict(err), ["BrokenRule_Contractor_DuplicateCode"], "{name} {code:?}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    // Codes are per tenant.
    let other = fixture(&t, "Globex").await;
    new_contractor(&other, "Acme Plumbing", None, None).await;
}

async fn contractor_parent_must_be_a_contractor_of_the_tenant(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let other = fixture(&t, "Globex").await;
    new_contractor(&other, "Globex Holdings", None, None).await;
    let before = snapshot(&t).await;
    for parent in ["NOPE", "GLOBEX-HOLDINGS"] {
        let err = try_contractor(&f, "Child Co", None, Some(parent)).await.unwrap_err();
        assert_eq!(invalid(err), ["BrokenRule_Contractor_UnknownParent"], "{parent}");
    }
    // Every broken rule at once.
    let err = try_contractor(&f, "  ", Some("no spaces allowed"), Some("NOPE")).await.unwrap_err();
    assert_eq!(
        invalid(err),
        [
            "BrokenRule_Contractor_MissingName",
            "BrokenRule_Contractor_InvalidCode",
            "BrokenRule_Contractor_UnknownParent"
        ]
    );
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

async fn contractor_child_names_its_parent(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let parent = new_contractor(&f, "Big Holdings", Some("BIG"), None).await;
    let child = new_contractor(&f, "Little Branch", None, Some(" big ")).await;
    let read = f.admin.authorize::<can::ContractorsRead>().unwrap();
    let stored = contractors::get(&f.app, &read, child).await.unwrap();
    assert_eq!(stored.code, "LITTLE-BRANCH");
    assert_eq!(stored.parent, Some(parent));
    assert_eq!(stored.parent_code.as_deref(), Some("BIG"));
    let parent_row = contractors::get(&f.app, &read, parent).await.unwrap();
    assert_eq!(parent_row.parent, None);

    let all = contractors::list(&f.app, &read, None).await.unwrap();
    assert_eq!(all.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(), ["BIG", "LITTLE-BRANCH"]);
    let found = contractors::list(&f.app, &read, Some("branch")).await.unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [child]);
}

async fn contractors_of_another_tenant_are_not_found(t: TestDb) {
    let acme = fixture(&t, "Acme").await;
    let globex = fixture(&t, "Globex").await;
    let theirs = new_contractor(&globex, "Globex Roofing", None, None).await;
    let read = acme.admin.authorize::<can::ContractorsRead>().unwrap();
    not_found(contractors::get(&acme.app, &read, theirs).await);
    not_found(contractors::get(&acme.app, &read, ContractorId(999_999)).await);
    assert!(contractors::list(&acme.app, &read, None).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Set-password links
// ---------------------------------------------------------------------------------------

async fn invited(f: &Fixture, email: &str) -> (UserId, String) {
    let created = create_user(&f.app, &f.admin, input(email, "Management", &["Read Only"])).await;
    (created.id, created.set_password_token.unwrap())
}

async fn set_password_link_activates_an_invited_user_once(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let (id, token) = invited(&f, "hal@example.com").await;
    let before = trail(&t, f.tenant.id).await.len();
    t.clock.advance_seconds(60);

    auth::set_password_with_link(
        &f.app,
        &f.tenant,
        &token,
        secret(USER_PASSWORD),
        secret(USER_PASSWORD),
        Some("198.51.100.4"),
    )
    .await
    .unwrap();
    let user = stored(&t, f.tenant.id, id).await;
    assert_eq!(user.status, UserStatus::Active);
    assert!(!user.must_change_password);
    let hash = stored_users::password_hash(t.db.read(), id).await.unwrap().unwrap();
    assert!(password::verify(&secret(USER_PASSWORD), &hash));
    assert_eq!(t.count(&format!("set_password_links WHERE user_id = {} AND used_at IS NULL", id.0)).await, 0);
    let log = trail(&t, f.tenant.id).await;
    assert_eq!(summary(&log, before), [row("user.password_set", "hal@example.com", "through a set-password link")]);
    assert_eq!(log[before].actor_email.as_deref(), Some("hal@example.com"));
    assert_eq!(log[before].source_address.as_deref(), Some("198.51.100.4"));
    assert!(!auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());

    // The link works once.
    let snapshot_before = snapshot(&t).await;
    not_found(
        auth::set_password_with_link(&f.app, &f.tenant, &token, secret(NEW_PASSWORD), secret(NEW_PASSWORD), None).await,
    );
    assert_eq!(snapshot(&t).await, snapshot_before);
    let hash_after = stored_users::password_hash(t.db.read(), id).await.unwrap().unwrap();
    assert_eq!(hash_after, hash, "the second use changed nothing");

    // An unknown link is not found either.
    not_found(
        auth::set_password_with_link(&f.app, &f.tenant, "not-a-link", secret(NEW_PASSWORD), secret(NEW_PASSWORD), None)
            .await,
    );

    let new = sign_in(&f, "HAL@example.com", USER_PASSWORD).await.unwrap();
    let context = session(&f, &new).await.unwrap();
    assert_eq!(context.principal.user, Some(id));
    assert_invalid_sign_in(sign_in(&f, "hal@example.com", NEW_PASSWORD).await);
}

async fn set_password_link_checks_the_new_password_before_using_the_link(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let (id, token) = invited(&f, "ida@example.com").await;
    let before = snapshot(&t).await;
    let err = auth::set_password_with_link(&f.app, &f.tenant, &token, secret("short"), secret("different"), None)
        .await
        .unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_PasswordTooShort", "BrokenRule_User_PasswordsDiffer"]);
    assert_eq!(snapshot(&t).await, before, "the link is not used up");
    assert!(auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Invited);

    // A disabled user's link does nothing.
    try_set_status(&f.app, &f.admin, &[id], UserStatus::Disabled).await.unwrap();
    assert!(!auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());
    let before = snapshot(&t).await;
    not_found(
        auth::set_password_with_link(&f.app, &f.tenant, &token, secret(USER_PASSWORD), secret(USER_PASSWORD), None)
            .await,
    );
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Disabled);
    assert_eq!(stored_users::password_hash(t.db.read(), id).await.unwrap(), None);
}

async fn set_password_link_has_one_winner_under_concurrent_use(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let (id, token) = invited(&f, "jo@example.com").await;
    let mut racers = Vec::new();
    for i in 0..4 {
        let app = f.app.clone();
        let tenant = f.tenant.clone();
        let token = token.clone();
        racers.push(tokio::spawn(async move {
            let chosen = format!("racer number {i} password");
            let result =
                auth::set_password_with_link(&app, &tenant, &token, secret(&chosen), secret(&chosen), None).await;
            (chosen, result)
        }));
    }
    let mut winners = Vec::new();
    for racer in racers {
        let (chosen, result) = racer.await.unwrap();
        match result {
            Ok(()) => winners.push(chosen),
            Err(AppError::NotFound) => {}
            Err(other) => panic!("losers must see NotFound, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let hash = stored_users::password_hash(t.db.read(), id).await.unwrap().unwrap();
    assert!(password::verify(&secret(&winners[0]), &hash));
    assert_eq!(t.count("audit_log WHERE action = 'user.password_set'").await, 1);
}

async fn reset_password_replaces_earlier_links_and_ends_sessions(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let (id, first) = invited(&f, "kim@example.com").await;
    let write = f.admin.authorize::<can::UsersWrite>().unwrap();
    let second = users::reset_password(&f.app, &write, id).await.unwrap();
    assert_ne!(first, second);
    assert!(
        !auth::set_password_link_is_valid(&f.app, &f.tenant, &first).await.unwrap(),
        "the earlier link stops working"
    );
    not_found(
        auth::set_password_with_link(&f.app, &f.tenant, &first, secret(USER_PASSWORD), secret(USER_PASSWORD), None)
            .await,
    );
    auth::set_password_with_link(&f.app, &f.tenant, &second, secret(USER_PASSWORD), secret(USER_PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Active);

    // A reset of an active user: setting the new password ends the user's sessions.
    let live = sign_in(&f, "kim@example.com", USER_PASSWORD).await.unwrap();
    let third = users::reset_password(&f.app, &write, id).await.unwrap();
    assert!(session(&f, &live).await.is_some(), "issuing a link alone ends nothing");
    auth::set_password_with_link(&f.app, &f.tenant, &third, secret(NEW_PASSWORD), secret(NEW_PASSWORD), None)
        .await
        .unwrap();
    assert!(session(&f, &live).await.is_none());
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 0);
    assert_invalid_sign_in(sign_in(&f, "kim@example.com", USER_PASSWORD).await);
    sign_in(&f, "kim@example.com", NEW_PASSWORD).await.unwrap();

    let log = trail(&t, f.tenant.id).await;
    let resets: Vec<_> = log.iter().filter(|e| e.action == "user.password_reset").map(|e| e.detail.as_str()).collect();
    assert_eq!(resets, ["set-password link issued"; 2]);
    for entry in &log {
        for token in [&first, &second, &third] {
            assert!(!entry.detail.contains(token.as_str()));
        }
    }
}

async fn set_password_link_of_another_tenant_is_not_found_and_not_used_up(t: TestDb) {
    let acme = fixture(&t, "Acme").await;
    let globex = fixture(&t, "Globex").await;
    let (id, token) = invited(&globex, "lou@globex.example").await;
    assert!(!auth::set_password_link_is_valid(&acme.app, &acme.tenant, &token).await.unwrap());
    let before = snapshot(&t).await;
    not_found(
        auth::set_password_with_link(
            &acme.app,
            &acme.tenant,
            &token,
            secret(USER_PASSWORD),
            secret(USER_PASSWORD),
            None,
        )
        .await,
    );
    assert_eq!(snapshot(&t).await, before);
    // Its own tenant can still use it.
    auth::set_password_with_link(
        &globex.app,
        &globex.tenant,
        &token,
        secret(USER_PASSWORD),
        secret(USER_PASSWORD),
        None,
    )
    .await
    .unwrap();
    assert_eq!(stored(&t, globex.tenant.id, id).await.status, UserStatus::Active);
}

async fn set_password_link_expires_after_seven_days(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let (id, token) = invited(&f, "max@example.com").await;
    t.clock.advance_seconds(users::SET_PASSWORD_LINK_DAYS * 86_400 - 1);
    assert!(auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());
    t.clock.advance_seconds(1);
    assert!(!auth::set_password_link_is_valid(&f.app, &f.tenant, &token).await.unwrap());
    not_found(
        auth::set_password_with_link(&f.app, &f.tenant, &token, secret(USER_PASSWORD), secret(USER_PASSWORD), None)
            .await,
    );
    assert_eq!(stored(&t, f.tenant.id, id).await.status, UserStatus::Invited);
}

// ---------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------

async fn sign_in_succeeds_with_the_right_password_in_any_email_case(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before_sessions = t.count("sessions").await;
    let new = auth::sign_in(
        &f.app,
        &f.tenant,
        &format!("  {}  ", f.admin_email.to_uppercase()),
        secret(ADMIN_PASSWORD),
        Some("192.0.2.10"),
    )
    .await
    .unwrap();
    assert!(!new.must_change_password);
    assert_eq!(new.id.expose_secret().len(), 43);
    assert_eq!(new.csrf_token.len(), 43);
    assert_ne!(new.id.expose_secret(), &new.csrf_token);
    assert_eq!(t.count("sessions").await, before_sessions + 1);
    // Only the hash of the session id is stored.
    assert_eq!(t.count(&format!("sessions WHERE id_hash = '{}'", new.id.expose_secret())).await, 0);
    let stored_session =
        sessions::find(t.db.read(), &caretaker_app::tokens::hash_token(new.id.expose_secret())).await.unwrap().unwrap();
    assert_eq!(stored_session.user, f.admin_id);
    assert_eq!(stored_session.tenant, f.tenant.id);
    assert_eq!(stored_session.csrf_token, new.csrf_token);
    assert_eq!(stored_session.expires_at, stored_session.created_at.plus_seconds(auth::ABSOLUTE_SECONDS));

    let log = trail(&t, f.tenant.id).await;
    let last = log.last().unwrap();
    assert_eq!(last.action, "user.signed_in");
    assert_eq!(last.target.as_deref(), Some(f.admin_email.as_str()));
    assert_eq!(last.actor_email.as_deref(), Some(f.admin_email.as_str()));
    assert_eq!(last.source_address.as_deref(), Some("192.0.2.10"));

    // Each sign-in is a session of its own.
    let again = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    assert_ne!(again.id.expose_secret(), new.id.expose_secret());
    assert_eq!(t.count("sessions").await, before_sessions + 2);

    // The e-mail of one tenant does not sign in to another.
    let other = fixture(&t, "Globex").await;
    assert_invalid_sign_in(sign_in(&other, &f.admin_email, ADMIN_PASSWORD).await);
}

async fn sign_in_failures_are_one_indistinguishable_error(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let disabled = active_user(&f, "ned@example.com", &["Read Only"]).await;
    try_set_status(&f.app, &f.admin, &[disabled], UserStatus::Disabled).await.unwrap();
    invited(&f, "ola@example.com").await;
    let sessions_before = t.count("sessions").await;
    let audit_before = trail(&t, f.tenant.id).await.len();

    let attempts: [(&str, &str); 6] = [
        (&f.admin_email, "the wrong password entirely"),
        (&f.admin_email, ""),
        ("nobody@example.com", ADMIN_PASSWORD),
        ("not an e-mail", ADMIN_PASSWORD),
        ("ned@example.com", USER_PASSWORD),
        ("ola@example.com", ""),
    ];
    for (email, password) in attempts {
        let err = sign_in(&f, email, password).await.unwrap_err();
        assert!(matches!(err, SignInError::Invalid), "{email}: expected Invalid, got {err:?}");
        assert_eq!(err.to_string(), "the e-mail address or password is wrong", "{email}");
    }
    assert_eq!(t.count("sessions").await, sessions_before, "no session");

    let log = trail(&t, f.tenant.id).await;
    let failures: Vec<_> = log[audit_before..]
        .iter()
        .map(|e| {
            (e.action.as_str(), e.target.as_deref().unwrap_or(""), e.actor_kind.as_str(), e.actor_email.as_deref())
        })
        .collect();
    let admin = Some(f.admin_email.as_str());
    assert_eq!(
        failures,
        [
            ("user.sign_in_failed", f.admin_email.as_str(), "user", admin),
            ("user.sign_in_failed", f.admin_email.as_str(), "user", admin),
            ("user.sign_in_failed", "nobody@example.com", "system", None),
            ("user.sign_in_failed", "(not an e-mail address: not...)", "system", None),
            ("user.sign_in_failed", "ned@example.com", "user", Some("ned@example.com")),
            ("user.sign_in_failed", "ola@example.com", "user", Some("ola@example.com")),
        ]
    );
    // Failures count against each account.
    assert_eq!(t.count("auth_throttle WHERE scope LIKE 'signin-account:%'").await, 5);
}

async fn five_failures_lock_the_account_for_fifteen_minutes(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let bystander = active_user(&f, "pat@example.com", &["Read Only"]).await;
    for _ in 0..auth::ACCOUNT_POLICY.limit {
        assert_invalid_sign_in(sign_in(&f, &f.admin_email, "not the password").await);
    }
    let audit_before = t.count("audit_log").await;
    let sessions_before = t.count("sessions").await;
    // The sixth attempt is refused before the password is looked at, right or wrong.
    assert_throttled(sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await, 900);
    assert_throttled(sign_in(&f, &f.admin_email.to_uppercase(), "not the password").await, 900);
    assert_eq!(t.count("sessions").await, sessions_before);
    assert_eq!(t.count("audit_log").await, audit_before);
    let log = trail(&t, f.tenant.id).await;
    let failures: Vec<_> =
        log.iter().filter(|e| e.action == "user.sign_in_failed").map(|e| e.detail.as_str()).collect();
    assert_eq!(
        failures,
        ["", "", "", "", "sign-ins blocked for a while"],
        "the failure that reaches the limit says so"
    );

    // Other accounts are not affected.
    let other = sign_in(&f, "pat@example.com", USER_PASSWORD).await.unwrap();
    assert_eq!(session(&f, &other).await.unwrap().principal.user, Some(bystander));

    t.clock.advance_seconds(899);
    assert_throttled(sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await, 1);
    t.clock.advance_seconds(2);
    let new = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    assert!(session(&f, &new).await.is_some());
    // A success forgets the account's failures: one more failure does not block.
    assert_invalid_sign_in(sign_in(&f, &f.admin_email, "not the password").await);
    sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
}

async fn thirty_failures_from_one_address_block_the_address(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let address = Some("203.0.113.7");
    for i in 0..auth::ADDRESS_POLICY.limit {
        let result = auth::sign_in(
            &f.app,
            &f.tenant,
            &format!("guess{i}@example.com"),
            secret("a guess at a password"),
            address,
        )
        .await;
        assert_invalid_sign_in(result);
    }
    let sessions_before = t.count("sessions").await;
    match auth::sign_in(&f.app, &f.tenant, &f.admin_email, secret(ADMIN_PASSWORD), address).await {
        Err(SignInError::Throttled { retry_after_seconds }) => assert_eq!(retry_after_seconds, 900),
        other => panic!("expected the address to be blocked, got {other:?}"),
    }
    assert_eq!(t.count("sessions").await, sessions_before);
    // The account itself is fine, from another address.
    auth::sign_in(&f.app, &f.tenant, &f.admin_email, secret(ADMIN_PASSWORD), Some("203.0.113.8")).await.unwrap();
    t.clock.advance_seconds(901);
    auth::sign_in(&f.app, &f.tenant, &f.admin_email, secret(ADMIN_PASSWORD), address).await.unwrap();
}

async fn sign_ins_are_audited_and_passwords_never_are(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let wrong = "Tr0ub4dor&3 wrong password";
    let address = Some("192.0.2.55");
    assert_invalid_sign_in(auth::sign_in(&f.app, &f.tenant, &f.admin_email, secret(wrong), address).await);
    assert_invalid_sign_in(
        auth::sign_in(&f.app, &f.tenant, "ghost@example.com", secret(ADMIN_PASSWORD), address).await,
    );
    let new = auth::sign_in(&f.app, &f.tenant, &f.admin_email, secret(ADMIN_PASSWORD), address).await.unwrap();
    let context = session(&f, &new).await.unwrap();
    auth::change_password(&f.app, &context, secret(ADMIN_PASSWORD), secret(NEW_PASSWORD), secret(NEW_PASSWORD))
        .await
        .unwrap();
    auth::sign_out(&f.app, &context).await.unwrap();

    let log = trail(&t, f.tenant.id).await;
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant.created",
            "user.sign_in_failed",
            "user.sign_in_failed",
            "user.signed_in",
            "user.password_changed",
            "user.signed_out",
        ]
    );
    for entry in &log[1..4] {
        assert_eq!(entry.source_address.as_deref(), address);
    }
    for entry in &log {
        for password in [wrong, ADMIN_PASSWORD, NEW_PASSWORD] {
            assert!(
                !entry.detail.contains(password) && !entry.target.as_deref().unwrap_or("").contains(password),
                "{entry:?} shows a password"
            );
        }
        assert!(!entry.detail.contains(new.id.expose_secret()));
        assert!(!entry.detail.contains(&new.csrf_token));
    }
    // Nor is a password stored anywhere in clear.
    let hash = stored_users::password_hash(t.db.read(), f.admin_id).await.unwrap().unwrap();
    assert!(!hash.contains(NEW_PASSWORD));
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

async fn load_session_returns_the_principal_until_sign_out(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let new = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    let context = session(&f, &new).await.unwrap();
    assert_eq!(context.principal.user, Some(f.admin_id));
    assert_eq!(context.principal.tenant, f.tenant.id);
    assert_eq!(context.principal.email, f.admin_email);
    assert!(context.principal.is_admin);
    assert_eq!(context.principal.permissions, f.admin.permissions);
    assert_eq!(context.principal.role_packages, ["Administrator", "Management User"]);
    assert_eq!(context.csrf_token, new.csrf_token);
    assert_eq!(context.id_hash, caretaker_app::tokens::hash_token(new.id.expose_secret()));

    // A later request sees a rights change at once.
    let other = active_user(&f, "quinn@example.com", &["Read Only"]).await;
    let theirs = sign_in(&f, "quinn@example.com", USER_PASSWORD).await.unwrap();
    assert!(session(&f, &theirs).await.unwrap().principal.authorize::<can::InvoicesWrite>().is_none());
    try_update(&f.app, &f.admin, other, input("quinn@example.com", "Management", &["Read Only", "Invoicing"]))
        .await
        .unwrap();
    assert!(session(&f, &theirs).await.unwrap().principal.authorize::<can::InvoicesWrite>().is_some());

    // Unknown cookie values find nothing.
    assert!(auth::load_session(&f.app, &f.tenant, "made-up").await.unwrap().is_none());
    assert!(
        auth::load_session(&f.app, &f.tenant, &context.id_hash).await.unwrap().is_none(),
        "the stored hash is not a session id"
    );

    let before = trail(&t, f.tenant.id).await.len();
    auth::sign_out(&f.app, &context).await.unwrap();
    assert!(session(&f, &new).await.is_none());
    assert!(session(&f, &theirs).await.is_some(), "only that session ends");
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", f.admin_id.0)).await, 0);
    assert_eq!(summary(&trail(&t, f.tenant.id).await, before), [row("user.signed_out", &f.admin_email, "")]);
}

async fn session_ends_after_an_hour_without_requests(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let idle = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    let busy = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    // A request every 50 minutes keeps a session alive past the hour.
    for _ in 0..3 {
        t.clock.advance_seconds(3000);
        assert!(session(&f, &busy).await.is_some());
    }
    assert!(session(&f, &idle).await.is_none(), "9000 s idle");

    let fresh = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    t.clock.advance_seconds(auth::IDLE_SECONDS - 1);
    assert!(session(&f, &fresh).await.is_some());
    t.clock.advance_seconds(auth::IDLE_SECONDS + 1);
    assert!(session(&f, &fresh).await.is_none(), "3601 s idle");

    let exact = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    t.clock.advance_seconds(auth::IDLE_SECONDS);
    assert!(session(&f, &exact).await.is_none(), "3600 s idle");
}

async fn session_ends_after_twelve_hours_whatever_the_activity(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let new = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    let mut elapsed = 0;
    while elapsed + 3000 < auth::ABSOLUTE_SECONDS {
        t.clock.advance_seconds(3000);
        elapsed += 3000;
        assert!(session(&f, &new).await.is_some(), "after {elapsed} s");
    }
    t.clock.advance_seconds(auth::ABSOLUTE_SECONDS - elapsed - 1);
    assert!(session(&f, &new).await.is_some(), "one second before the end");
    t.clock.advance_seconds(1);
    assert!(session(&f, &new).await.is_none(), "twelve hours");
}

async fn session_of_a_disabled_user_or_another_tenant_is_not_loaded(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let other = fixture(&t, "Globex").await;
    let id = active_user(&f, "rae@example.com", &["Read Only"]).await;
    let new = sign_in(&f, "rae@example.com", USER_PASSWORD).await.unwrap();

    // Another tenant does not see the session, which lives on in its own tenant.
    assert!(auth::load_session(&other.app, &other.tenant, new.id.expose_secret()).await.unwrap().is_none());
    assert!(session(&f, &new).await.is_some());

    // A user disabled behind the use case's back (its session row still there) is refused.
    let mut tx = t.db.begin().await.unwrap();
    stored_users::set_status(&mut tx, f.tenant.id, id, UserStatus::Disabled, t.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 1);
    assert!(session(&f, &new).await.is_none());

    // Through the use case the session is gone as well.
    try_set_status(&f.app, &f.admin, &[id], UserStatus::Active).await.unwrap();
    assert!(session(&f, &new).await.is_some());
    try_set_status(&f.app, &f.admin, &[id], UserStatus::Disabled).await.unwrap();
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 0);
    assert!(session(&f, &new).await.is_none());
}

// ---------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------

async fn change_password_requires_the_current_password_and_ends_other_sessions(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let id = active_user(&f, "sam@example.com", &["Read Only"]).await;
    let here = sign_in(&f, "sam@example.com", USER_PASSWORD).await.unwrap();
    let elsewhere = sign_in(&f, "sam@example.com", USER_PASSWORD).await.unwrap();
    let admin = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    let context = session(&f, &here).await.unwrap();
    let before = snapshot(&t).await;
    let hash_before = stored_users::password_hash(t.db.read(), id).await.unwrap();

    let err = auth::change_password(
        &f.app,
        &context,
        secret("not my password at all"),
        secret(NEW_PASSWORD),
        secret(NEW_PASSWORD),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_WrongPassword"]);
    let err =
        auth::change_password(&f.app, &context, secret("wrong"), secret("short"), secret("shorter")).await.unwrap_err();
    assert_eq!(
        invalid(err),
        ["BrokenRule_User_WrongPassword", "BrokenRule_User_PasswordTooShort", "BrokenRule_User_PasswordsDiffer"]
    );
    let err = auth::change_password(
        &f.app,
        &context,
        secret(USER_PASSWORD),
        secret(NEW_PASSWORD),
        secret("an entirely new passphrasE"),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_PasswordsDiffer"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    assert_eq!(stored_users::password_hash(t.db.read(), id).await.unwrap(), hash_before);

    let audit_before = trail(&t, f.tenant.id).await.len();
    auth::change_password(&f.app, &context, secret(USER_PASSWORD), secret(NEW_PASSWORD), secret(NEW_PASSWORD))
        .await
        .unwrap();
    assert!(session(&f, &here).await.is_some(), "the current session stays");
    assert!(session(&f, &elsewhere).await.is_none(), "other sessions end");
    assert!(session(&f, &admin).await.is_some(), "other users' sessions live on");
    assert_eq!(t.count(&format!("sessions WHERE user_id = {}", id.0)).await, 1);
    assert_eq!(
        summary(&trail(&t, f.tenant.id).await, audit_before),
        [row("user.password_changed", "sam@example.com", "")]
    );
    assert_invalid_sign_in(sign_in(&f, "sam@example.com", USER_PASSWORD).await);
    sign_in(&f, "sam@example.com", NEW_PASSWORD).await.unwrap();
}

async fn generated_admin_password_must_be_changed_at_first_sign_in(t: TestDb) {
    let app = app(&t);
    let created = tenants::create(
        &app,
        NewTenant { name: "Initech".into(), admin_email: "boss@initech.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    let generated = created.generated_password.unwrap();
    let new = auth::sign_in(&app, &created.tenant, "boss@initech.example", generated.clone(), None).await.unwrap();
    assert!(new.must_change_password);
    let context = auth::load_session(&app, &created.tenant, new.id.expose_secret()).await.unwrap().unwrap();
    assert!(context.principal.must_change_password);
    auth::change_password(&app, &context, generated.clone(), secret(NEW_PASSWORD), secret(NEW_PASSWORD)).await.unwrap();
    let context = auth::load_session(&app, &created.tenant, new.id.expose_secret()).await.unwrap().unwrap();
    assert!(!context.principal.must_change_password);
    let again = auth::sign_in(&app, &created.tenant, "boss@initech.example", secret(NEW_PASSWORD), None).await.unwrap();
    assert!(!again.must_change_password);
    let log = audit::recent(&t.db, created.tenant.id, 100).await.unwrap();
    for entry in &log {
        assert!(!entry.detail.contains(generated.expose_secret()));
    }
}

async fn update_profile_changes_only_the_name(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let new = sign_in(&f, &f.admin_email, ADMIN_PASSWORD).await.unwrap();
    let context = session(&f, &new).await.unwrap();
    let before = snapshot(&t).await;
    for (name, key) in [("   ", "BrokenRule_User_MissingName"), ("a\u{7}b", "BrokenRule_User_InvalidName")] {
        let err = auth::update_profile(&f.app, &context, name).await.unwrap_err();
        assert_eq!(invalid(err), [key]);
    }
    let err = auth::update_profile(&f.app, &context, &"x".repeat(201)).await.unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_InvalidName"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");

    let user_before = stored(&t, f.tenant.id, f.admin_id).await;
    let audit_before = trail(&t, f.tenant.id).await.len();
    auth::update_profile(&f.app, &context, "  Ada Lovelace ").await.unwrap();
    let after = stored(&t, f.tenant.id, f.admin_id).await;
    assert_eq!(after.name, "Ada Lovelace");
    // Only the name changes (and the access version, so cached principals show the new name).
    assert_eq!(after.access_version, user_before.access_version + 1);
    assert_eq!(
        User { name: user_before.name.clone(), access_version: user_before.access_version, ..after },
        user_before,
        "only the name changes"
    );
    assert_eq!(summary(&trail(&t, f.tenant.id).await, audit_before), [row("user.profile_changed", &f.admin_email, "")]);
    assert_eq!(session(&f, &new).await.unwrap().principal.name, "Ada Lovelace");
}

async fn administrator_is_only_for_management_users(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let before = snapshot(&t).await;
    let err = try_create(&f.app, &f.admin, input("site@example.com", "Site", &["Site User", "Administrator"]))
        .await
        .unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_AdministratorOnlyForManagementUsers"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

async fn administrative_packages_are_only_for_management_users(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let _ = clerk(&t, &f).await; // creates the "User Clerks" package (users.read, users.write)
    let before = snapshot(&t).await;
    for user_type in ["Contractor", "Site"] {
        let mut request = input("x@example.com", user_type, &["User Clerks"]);
        if user_type == "Contractor" {
            request.contractor = None;
        }
        let err = try_create(&f.app, &f.admin, request).await.unwrap_err();
        let keys = invalid(err);
        assert!(
            keys.contains(&String::from("BrokenRule_User_AdministrativeRightsOnlyForManagementUsers"))
                || user_type == "Contractor",
            "{keys:?}"
        );
    }
    let err = try_create(&f.app, &f.admin, input("site@example.com", "Site", &["Site User", "User Clerks"]))
        .await
        .unwrap_err();
    assert_eq!(invalid(err), ["BrokenRule_User_AdministrativeRightsOnlyForManagementUsers"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
}

async fn nobody_but_administrators_gives_more_site_access_than_they_have(t: TestDb) {
    let f = fixture(&t, "Acme").await;
    let can = f.admin.authorize::<can::RolePackagesWrite>().unwrap();
    role_packages::create_custom(
        &f.app,
        &can,
        "Site Clerks",
        "",
        &[String::from("users.read"), String::from("users.write")],
    )
    .await
    .unwrap();
    let mut request = with_password(input("narrow@example.com", "Management", &["Site Clerks"]), USER_PASSWORD);
    request.site_access = String::from("none");
    let narrow = create_user(&f.app, &f.admin, request).await.id;
    let narrow = principal(&t, &f.tenant, narrow).await;
    let before = snapshot(&t).await;
    let err = try_create(&f.app, &narrow, input("wide@example.com", "Management", &[])).await.unwrap_err();
    assert_eq!(forbidden(err), ["BrokenRule_User_SiteAccessExceedsOwn"]);
    assert_eq!(snapshot(&t).await, before, "nothing is written");
    let mut ok = input("also-narrow@example.com", "Management", &[]);
    ok.site_access = String::from("none");
    create_user(&f.app, &narrow, ok).await;
}
