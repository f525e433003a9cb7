//! Account Settings > API > Outbound calls and System > Outbound Deliveries over HTTP: who
//! may see and change them, the write-only secret, the receiver rules, the delivery history
//! with Resend (one's own only; administrators any), CSRF.

use axum::http::StatusCode;
use caretaker_app::Principal;
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::tasks::{self, TaskInput};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::user::{UserId, UserType};
use caretaker_storage::both_backends;
use caretaker_storage::testing::TestDb;

use crate::web::{PASSWORD, World};

const ROBOT: &str = "robot@acme.example";
const OTHER: &str = "other.robot@acme.example";
const PAGE: &str = "/account/api/outbound";
const ADMIN_PAGE: &str = "/system/outbound";
const SECRET: &str = "receiver-secret-WXYZ";

both_backends!(
    outbound_settings_are_saved_with_a_write_only_secret_and_checked,
    only_rest_api_holders_have_the_page_and_csrf_is_required,
    resend_is_for_ones_own_failed_deliveries_and_for_administrators,
);

/// A write outside the use cases (to put a delivery in a state the test needs).
async fn write(w: &World, statement: &str) {
    use sqlx::Executor;
    let mut tx = w.t.db.begin().await.unwrap();
    tx.execute(statement).await.unwrap();
    tx.commit().await.unwrap();
}

async fn robot(w: &World, email: &str) -> UserId {
    w.user(&w.tenant, email, UserType::Management, None, &["Management User", "REST API"]).await
}

async fn principal(w: &World, id: UserId) -> Principal {
    Principal::load(&mut *w.t.conn().await, w.tenant.id, w.tenant.name.as_str(), id).await.unwrap().unwrap()
}

fn save_fields<'a>(url: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("TaskCreated", url),
        ("TaskNote", url),
        ("send_created", "on"),
        ("api_token", "their-token"),
        ("api_secret", secret),
    ]
}

async fn outbound_settings_are_saved_with_a_write_only_secret_and_checked(t: TestDb) {
    let w = World::new(t).await;
    robot(&w, ROBOT).await;
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    let page = c.get(&w.path(PAGE)).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains(r#"id="outbound""#), "{}", page.body);

    let saved = c.submit(&w.path(PAGE), &save_fields("https://hooks.example.com/caretaker", SECRET)).await;
    saved.assert_status(StatusCode::OK);
    assert!(saved.body.contains(r#"id="saved""#), "{}", saved.body);
    assert!(!saved.body.contains(SECRET), "the secret is never shown again");
    assert!(saved.body.contains("WXYZ"), "only its last four characters");
    assert_eq!(w.t.count("outbound_settings WHERE task_note_url = 'https://hooks.example.com/caretaker'").await, 1);
    assert_eq!(w.t.count("outbound_settings WHERE api_secret_last4 = 'WXYZ'").await, 1);

    // Saving again without the secret keeps it.
    let again = c.submit(&w.path(PAGE), &save_fields("https://hooks.example.com/v2", "")).await;
    again.assert_status(StatusCode::OK);
    assert_eq!(w.t.count("outbound_settings WHERE api_secret_last4 = 'WXYZ' AND api_secret IS NOT NULL").await, 1);

    // Refused receivers: plain http, the server's own networks. Nothing changes.
    for url in ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.5/x", "https://localhost/x"] {
        let refused = c.submit(&w.path(PAGE), &save_fields(url, SECRET)).await;
        refused.assert_status(StatusCode::BAD_REQUEST);
        assert!(refused.body.contains("BrokenRule_Outbound_InvalidUrl"), "{url}: {}", refused.body);
    }
    assert_eq!(w.t.count("outbound_settings WHERE task_note_url = 'https://hooks.example.com/v2'").await, 1);
}

async fn only_rest_api_holders_have_the_page_and_csrf_is_required(t: TestDb) {
    let w = World::new(t).await;
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut manager = w.signed_in("manager@acme.example", PASSWORD).await;
    manager.get(&w.path(PAGE)).await.assert_status(StatusCode::FORBIDDEN);
    manager
        .submit(&w.path(PAGE), &save_fields("https://hooks.example.com/x", SECRET))
        .await
        .assert_status(StatusCode::FORBIDDEN);
    manager.get(&w.path(ADMIN_PAGE)).await.assert_status(StatusCode::FORBIDDEN);

    robot(&w, ROBOT).await;
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    c.get(&w.path(ADMIN_PAGE)).await.assert_status(StatusCode::FORBIDDEN);
    let forged = c.post(&w.path(PAGE), &save_fields("https://hooks.example.com/x", SECRET)).await;
    forged.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(w.t.count("outbound_settings").await, 0, "nothing written");
}

async fn resend_is_for_ones_own_failed_deliveries_and_for_administrators(t: TestDb) {
    let w = World::new(t).await;
    let robot_id = robot(&w, ROBOT).await;
    robot(&w, OTHER).await;
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    c.get(&w.path(PAGE)).await;
    c.submit(&w.path(PAGE), &save_fields("https://hooks.example.com/caretaker", SECRET))
        .await
        .assert_status(StatusCode::OK);

    let me = principal(&w, robot_id).await;
    let site = SiteInput { site_code: "S1".into(), name: "One".into(), ..SiteInput::default() };
    sites::create(w.app(), &me.authorize::<can::SitesWrite>().unwrap(), site).await.unwrap();
    let task = TaskInput {
        initiator_name: "Monitor".into(),
        site_code: "S1".into(),
        description: "Door".into(),
        matrix_item_code: "01-02".into(),
        ..TaskInput::default()
    };
    tasks::raise(w.app(), &me.authorize::<can::TasksCreate>().unwrap(), task).await.unwrap();
    assert_eq!(w.t.count("outbox").await, 1, "TaskCreated for its creator");
    write(&w, "UPDATE outbox SET state = 'failed', attempts = 10, last_error = 'HTTP 500'").await;
    let id: i64 = {
        use sqlx::{Executor, Row};
        w.t.conn().await.fetch_one("SELECT id FROM outbox").await.unwrap().try_get(0).unwrap()
    };
    let history = c.get(&w.path(PAGE)).await;
    assert!(history.body.contains("HTTP 500") && history.body.contains("Resend"), "{}", history.body);

    // Another integration user cannot resend it (404), nor see it.
    let mut other = w.signed_in(OTHER, PASSWORD).await;
    let theirs = other.get(&w.path(PAGE)).await;
    assert!(theirs.body.contains(r#"id="no-deliveries""#), "{}", theirs.body);
    let resend = format!("{PAGE}/deliveries/{id}/resend");
    other.submit(&w.path(&resend), &[]).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.t.count("outbox WHERE state = 'failed'").await, 1);

    // Without the CSRF token: refused. With it: queued again, attempts from zero.
    c.post(&w.path(&resend), &[]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(w.t.count("outbox WHERE state = 'failed'").await, 1);
    let done = c.submit(&w.path(&resend), &[]).await;
    done.assert_see_other(&w.path(PAGE));
    assert_eq!(w.t.count("outbox WHERE state = 'pending' AND attempts = 0").await, 1);

    // The Administrator sees every delivery and the mail outbox, and may resend any.
    write(&w, "UPDATE outbox SET state = 'failed'").await;
    let mut admin = w.admin_client().await;
    let all = admin.get(&w.path(ADMIN_PAGE)).await;
    all.assert_status(StatusCode::OK);
    assert!(all.body.contains(ROBOT) && all.body.contains(r#"id="mail-outbox""#) || all.body.contains("no-mail"));
    let any = admin.submit(&w.path(&format!("{ADMIN_PAGE}/deliveries/{id}/resend")), &[]).await;
    any.assert_see_other(&w.path(ADMIN_PAGE));
    assert_eq!(w.t.count("outbox WHERE state = 'pending'").await, 1);
}
