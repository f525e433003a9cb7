//! Use-case tests, each on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::sync::Arc;

use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::{App, AppError, MasterKey, password};
use caretaker_domain::user::{Email, UserStatus, UserType};
use caretaker_storage::audit::{self, Actor};
use caretaker_storage::testing::TestDb;
use caretaker_storage::{both_backends, users};
use secrecy::{ExposeSecret, SecretString};

mod import;
mod mail;
mod outbound;
mod people;

fn app(t: &TestDb) -> App {
    App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate())
}

fn request(name: &str, email: &str, password: Option<&str>) -> NewTenant {
    NewTenant { name: name.into(), admin_email: email.into(), admin_password: password.map(SecretString::from) }
}

both_backends!(
    create_tenant_makes_an_administrator_with_packages_and_an_audit_entry,
    create_tenant_refuses_a_taken_name_in_any_case_and_writes_nothing,
    create_tenant_reports_every_broken_rule_at_once,
    concurrent_tenant_creation_has_exactly_one_winner,
    master_key_fingerprint_refuses_another_key,
);

async fn create_tenant_makes_an_administrator_with_packages_and_an_audit_entry(t: TestDb) {
    let app = app(&t);
    let created =
        tenants::create(&app, request("Acme Fuel", "Admin@Acme.example", None), Actor::Operator).await.unwrap();
    assert_eq!(created.tenant.name.as_str(), "Acme Fuel");
    let generated = created.generated_password.expect("a generated password");
    assert_eq!(generated.expose_secret().len(), 20);

    let admin =
        users::find_by_email(&mut *t.conn().await, created.tenant.id, &Email::parse("admin@acme.example").unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(admin.user_type, UserType::Management);
    assert_eq!(admin.status, UserStatus::Active);
    assert!(admin.must_change_password, "a generated password must be replaced at first sign-in");
    assert_eq!(admin.role_packages, vec!["Administrator", "Management User"]);
    let hash = users::password_hash(t.db.read(), admin.id).await.unwrap().unwrap();
    assert!(password::verify(&generated, &hash));

    let packages: i64 =
        t.count(&format!("role_packages WHERE tenant_id = {} AND builtin = 1", created.tenant.id.0)).await;
    assert_eq!(packages, 7);

    let log = audit::recent(&t.db, created.tenant.id, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "tenant.created");
    assert_eq!(log[0].actor_kind, "operator");
    assert!(!log[0].detail.contains(generated.expose_secret()));
}

async fn create_tenant_refuses_a_taken_name_in_any_case_and_writes_nothing(t: TestDb) {
    let app = app(&t);
    tenants::create(&app, request("Acme", "a@acme.example", Some("a long enough password")), Actor::Operator)
        .await
        .unwrap();
    let err = tenants::create(&app, request("ACME", "b@acme.example", None), Actor::Operator).await.unwrap_err();
    let AppError::Conflict(rules) = err else { panic!("expected a conflict, got {err:?}") };
    assert_eq!(rules.rules()[0].key, "BrokenRule_Tenant_DuplicateName");

    let users: i64 = t.count("users").await;
    let packages: i64 = t.count("role_packages").await;
    let audit: i64 = t.count("audit_log").await;
    assert_eq!((users, packages, audit), (1, 7, 1), "the refused tenant left nothing behind");
}

async fn create_tenant_reports_every_broken_rule_at_once(t: TestDb) {
    let app = app(&t);
    let err =
        tenants::create(&app, request("bad/name", "not-an-email", Some("short")), Actor::Operator).await.unwrap_err();
    let AppError::Invalid(rules) = err else { panic!("expected broken rules, got {err:?}") };
    let keys: Vec<_> = rules.rules().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["BrokenRule_Tenant_InvalidName", "BrokenRule_User_InvalidEmail", "BrokenRule_User_PasswordTooShort"]
    );
    assert!(tenants::list(&app).await.unwrap().is_empty());
}

async fn concurrent_tenant_creation_has_exactly_one_winner(t: TestDb) {
    let app = app(&t);
    let mut racers = Vec::new();
    for i in 0..6 {
        let app = app.clone();
        racers.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "Storm" } else { "STORM" };
            tenants::create(&app, request(name, &format!("admin{i}@storm.example"), None), Actor::Operator).await
        }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => winners += 1,
            Err(AppError::Conflict(_)) => {}
            Err(other) => panic!("losers must see a conflict, got {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let users: i64 = t.count("users").await;
    assert_eq!(users, 1, "losers must not leave administrators behind");
}

async fn master_key_fingerprint_refuses_another_key(t: TestDb) {
    let key = MasterKey::generate();
    key.check_against(&t.db).await.unwrap();
    key.check_against(&t.db).await.unwrap();
    let other = MasterKey::generate();
    assert!(matches!(other.check_against(&t.db).await, Err(caretaker_app::master_key::MasterKeyError::Mismatch)));
}
