//! Account Settings > API and System > API Credentials over HTTP: who sees the tab, the
//! secret shown exactly once, rotation of the token and of the secret (with and without a
//! grace period), revocation by the user and by an Administrator, CSRF, the last use, and
//! the credential report across tenants. Every refusal is checked to have written nothing,
//! and every TCN-signed call goes through the real router.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use caretaker_app::Principal;
use caretaker_app::credentials as app_credentials;
use caretaker_domain::clock::{Clock, Timestamp};
use caretaker_domain::tcn;
use caretaker_domain::user::{UserId, UserType};
use caretaker_http::router;
use caretaker_storage::both_backends;
use caretaker_storage::credentials::{self, Credential, StoredSecret};
use caretaker_storage::tenants::Tenant;
use caretaker_storage::testing::TestDb;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use tower::ServiceExt;

use crate::web::{
    ADMIN_EMAIL, ADMIN_PASSWORD, BASE, Client, PASSWORD, PEER, Reply, World, audit_rows, data_keys, has_row,
    hidden_csrf,
};

/// A Management user holding the REST API package.
const ROBOT: &str = "robot@acme.example";
/// Another one.
const SECOND: &str = "second.robot@acme.example";
/// The address REST calls come from (distinct from the browser's [`PEER`]).
const REST_PEER: &str = "198.51.100.9";
/// `/rest/users/{tenant}/me` for the test tenant, encoded as clients send (and sign) it.
const ME: &str = "/rest/users/acme%20fuel/me";
const OTHER_TENANT: &str = "Other Co";
const OTHER_ME: &str = "/rest/users/other%20co/me";
const OTHER_ROBOT: &str = "robot@other.example";

const TAB: &str = "/account/api";
const GENERATE: &str = "/account/api/generate";
const ROTATE_TOKEN: &str = "/account/api/rotate-token";
const ROTATE_SECRET: &str = "/account/api/rotate-secret";
const REVOKE: &str = "/account/api/revoke";
const REPORT: &str = "/system/api-credentials";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A Management user holding the REST API package (password [`PASSWORD`]).
async fn rest_user(w: &World, tenant: &Tenant, email: &str) -> UserId {
    w.user(tenant, email, UserType::Management, None, &["Management User", "REST API"]).await
}

/// The text inside the element with this id (`<x id="...">text</x>`), if there is one.
fn element_text(body: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}""#);
    let at = body.find(&marker)?;
    let start = at + body[at..].find('>')? + 1;
    let end = start + body[start..].find('<')?;
    Some(body[start..end].to_owned())
}

fn has_id(body: &str, id: &str) -> bool {
    body.contains(&format!(r#"id="{id}""#))
}

/// The report's row of `email` (from its `<tr>` to its `</tr>`).
#[track_caller]
fn report_row<'b>(body: &'b str, email: &str) -> &'b str {
    let marker = format!(r#"data-email="{email}""#);
    let start = body.find(&marker).unwrap_or_else(|| panic!("no row for {email}: {body}"));
    let end = start + body[start..].find("</tr>").unwrap();
    &body[start..end]
}

/// What Generate (or Rotate API Secret Key) showed once.
#[track_caller]
fn shown_secret(reply: &Reply) -> String {
    reply.assert_status(StatusCode::OK);
    let secret = element_text(&reply.body, "api-secret").unwrap_or_else(|| panic!("no secret shown: {}", reply.body));
    assert!(secret.starts_with("ctsk_"), "{secret}");
    assert_eq!(secret.len(), 54, "{secret}");
    assert!(
        reply.body.contains(r#"<button id="copy-secret" type="button" data-copy="api-secret">Copy</button>"#),
        "the copy button: {}",
        reply.body
    );
    assert!(reply.body.contains("This is the only time it is shown"), "the warning: {}", reply.body);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store", "a page with a secret is never cached");
    secret
}

#[track_caller]
fn shown_token(reply: &Reply) -> String {
    element_text(&reply.body, "api-token").unwrap_or_else(|| panic!("no token shown: {}", reply.body))
}

/// Asserts the page contains neither the secret nor a good part of it.
#[track_caller]
fn assert_secret_absent(body: &str, secret: &str, what: &str) {
    assert!(!body.contains(secret), "{what} shows the secret");
    assert!(!body.contains(&secret[5..25]), "{what} shows part of the secret");
    assert!(!body.contains(r#"id="api-secret""#) && !body.contains(r#"id="new-secret""#), "{what}: {body}");
}

/// Signs in `email` and posts Generate; the token and the secret the page showed.
async fn generate_on_the_tab(w: &World, email: &str) -> (Client, String, String) {
    let mut c = w.signed_in(email, PASSWORD).await;
    let reply = c.submit(&w.path(GENERATE), &[]).await;
    let secret = shown_secret(&reply);
    let token = shown_token(&reply);
    (c, token, secret)
}

/// A TCN-signed `GET path` (the .NET style: seconds, the encoded path) from [`REST_PEER`].
async fn signed_get(w: &World, path: &str, token: &str, secret: &str) -> (StatusCode, String) {
    let ts = tcn::format_timestamp(w.t.clock.now());
    let mut request = Request::get(path)
        .header(header::AUTHORIZATION, tcn::sign("GET", path, &ts, token, secret.as_bytes(), None))
        .header("x-timestamp", ts)
        .body(Body::empty())
        .unwrap();
    let peer: SocketAddr = format!("{REST_PEER}:50000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router(w.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, body)
}

/// The status of a signed `GET /rest/users/acme%20fuel/me`.
async fn me(w: &World, token: &str, secret: &str) -> StatusCode {
    signed_get(w, ME, token, secret).await.0
}

/// A user's stored credential and its secrets (ciphertexts included).
async fn stored(t: &TestDb, user: UserId) -> (Option<Credential>, Vec<StoredSecret>) {
    let mut conn = t.conn().await;
    let credential = credentials::of_user(&mut conn, user).await.unwrap();
    let secrets = match &credential {
        Some(c) => credentials::secrets(&mut conn, c.id).await.unwrap(),
        None => Vec::new(),
    };
    (credential, secrets)
}

/// Everything a refused call must leave alone: [`World::snapshot`] plus every credential
/// and secret of every user given.
async fn everything(w: &World, users: &[UserId]) -> String {
    let mut out = w.snapshot().await;
    for what in ["api_credentials", "api_secrets", "api_credentials WHERE revoked_at IS NULL"] {
        out.push_str(&format!("{what}: {}\n", w.t.count(what).await));
    }
    for user in users {
        out.push_str(&format!("{:?}\n", stored(&w.t, *user).await));
    }
    out
}

/// Another tenant with a REST API user holding credentials (made as the command line does).
async fn other_tenant_with_credentials(w: &World) -> (Tenant, UserId, String, String) {
    let (tenant, _) = w.other_tenant(OTHER_TENANT, "admin@other.example").await;
    let user = rest_user(w, &tenant, OTHER_ROBOT).await;
    let operator = Principal::operator(tenant.id, tenant.name.as_str());
    let target = {
        let mut conn = w.t.conn().await;
        Principal::load(&mut conn, tenant.id, tenant.name.as_str(), user).await.unwrap().unwrap()
    };
    let generated = app_credentials::generate(w.app(), &operator, &target).await.unwrap();
    (tenant, user, generated.token, generated.secret.expose_secret().to_owned())
}

both_backends!(
    the_api_tab_is_only_for_rest_api_holders,
    generate_shows_the_secret_once_and_it_signs_rest_calls,
    rotating_the_token_kills_the_old_one_at_once_and_keeps_the_secret,
    rotating_the_secret_with_and_without_a_grace_period,
    revoking_on_the_tab_and_generating_again,
    api_tab_posts_without_the_csrf_token_change_nothing,
    the_last_use_is_shown_after_a_signed_call,
    the_credential_report_shows_the_tenants_credentials_to_administrators_only,
    administrators_revoke_credentials_from_the_report,
    no_page_after_the_first_display_contains_the_secret,
    the_settings_page_sets_the_signing_rules_for_administrators_only,
    generate_with_an_expiry_on_the_tab,
);

async fn the_settings_page_sets_the_signing_rules_for_administrators_only(t: TestDb) {
    use caretaker_storage::tenants as stored_tenants;
    let w = World::new(t).await;
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut manager = w.signed_in("manager@acme.example", PASSWORD).await;
    manager.get(&w.path("/system/settings")).await.assert_status(StatusCode::FORBIDDEN);
    let reply = manager.submit(&w.path("/system/settings"), &[("clock_skew_seconds", "60")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let mut admin = w.admin_client().await;
    let page = admin.get(&w.path("/system/settings")).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains(r#"value="300""#), "the default window");
    // Without the CSRF token: refused.
    let reply = admin.post(&w.path("/system/settings"), &[("clock_skew_seconds", "60")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Out of range: 400, nothing stored.
    let reply = admin
        .submit(&w.path("/system/settings"), &[("clock_skew_seconds", "5"), ("max_credential_age_days", "0")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        data_keys(&reply.body),
        ["BrokenRule_Tenant_InvalidClockSkew", "BrokenRule_Tenant_InvalidMaxCredentialAge"]
    );
    let reply = admin.submit(&w.path("/system/settings"), &[("clock_skew_seconds", "soon")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let stored = stored_tenants::find_by_name(w.t.db.read(), "Acme Fuel").await.unwrap().unwrap();
    assert_eq!(
        (stored.clock_skew_seconds, stored.require_strict_signing, stored.max_credential_age_days),
        (300, false, None)
    );

    let reply = admin
        .submit(
            &w.path("/system/settings"),
            &[("clock_skew_seconds", "120"), ("require_strict_signing", "on"), ("max_credential_age_days", "90")],
        )
        .await;
    reply.assert_status(StatusCode::OK);
    let stored = stored_tenants::find_by_name(w.t.db.read(), "Acme Fuel").await.unwrap().unwrap();
    assert_eq!(
        (stored.clock_skew_seconds, stored.require_strict_signing, stored.max_credential_age_days),
        (120, true, Some(90))
    );
    let log = admin.get(&w.path("/system/audit-log")).await;
    assert!(audit_rows(&log.body).iter().any(|row| row.contains("tenant.settings_changed")));
}

async fn generate_with_an_expiry_on_the_tab(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    c.get(&w.path(TAB)).await.assert_status(StatusCode::OK);
    let reply = c.submit(&w.path(GENERATE), &[("expires", "30")]).await;
    reply.assert_status(StatusCode::OK);
    let stored = credentials::of_user(&mut *w.t.conn().await, robot).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, Some(w.t.clock.now().plus_seconds(30 * 86_400)));
    let before = credentials::of_user(&mut *w.t.conn().await, robot).await.unwrap();
    // Generating again while live is refused (rotate instead), and so is a bad expiry.
    assert_eq!(c.submit(&w.path(GENERATE), &[]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(credentials::of_user(&mut *w.t.conn().await, robot).await.unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// Account Settings > API
// ---------------------------------------------------------------------------------------

async fn the_api_tab_is_only_for_rest_api_holders(t: TestDb) {
    let w = World::new(t).await;
    let manager = w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;

    // The Administrator (every right but rest_api.use) and a Management user without the
    // package: no tab, 403 on the page and on every action, nothing written.
    let admin_client = w.admin_client().await;
    let manager_client = w.signed_in("manager@acme.example", PASSWORD).await;
    for (who, mut c) in [("administrator", admin_client), ("manager", manager_client)] {
        let account = c.get(&w.path("/account")).await;
        account.assert_status(StatusCode::OK);
        assert!(!has_id(&account.body, "tab-api"), "{who} sees no API tab: {}", account.body);
        assert!(!account.body.contains(&format!(r#"href="{BASE}/account/api""#)), "{who}");
        c.get(&w.path(TAB)).await.assert_status(StatusCode::FORBIDDEN);

        let before = everything(&w, &[manager, robot]).await;
        for (action, fields) in [
            (GENERATE, vec![]),
            (ROTATE_TOKEN, vec![]),
            (ROTATE_SECRET, vec![("grace", "0")]),
            (ROTATE_SECRET, vec![("grace", "3600")]),
            (REVOKE, vec![]),
        ] {
            let reply = c.submit(&w.path(action), &fields).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} {action}: {}", reply.body);
            assert!(!has_id(&reply.body, "api-secret") && !reply.body.contains("ctsk_"), "{who} {action}");
        }
        assert_eq!(everything(&w, &[manager, robot]).await, before, "{who}: nothing written");
    }
    assert_eq!(w.t.count("api_credentials").await, 0);
    assert!(w.audit().await.iter().all(|e| !e.action.starts_with("api_credentials.")));

    // A REST API holder sees the tab, without credentials yet: only Generate is offered.
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    let account = c.get(&w.path("/account")).await;
    assert!(has_id(&account.body, "tab-api"), "{}", account.body);
    assert!(account.body.contains(&format!(r#"id="tab-api" href="{BASE}/account/api""#)), "{}", account.body);
    let tab = c.get(&w.path(TAB)).await;
    tab.assert_status(StatusCode::OK);
    assert!(tab.body.contains(r#"aria-current="page""#) && has_id(&tab.body, "tab-api"));
    assert!(has_id(&tab.body, "no-credentials") && has_id(&tab.body, "generate"), "{}", tab.body);
    for absent in ["rotate-token", "rotate-secret", "revoke", "api-token", "api-secret"] {
        assert!(!has_id(&tab.body, absent), "{absent} before any credential: {}", tab.body);
    }
    assert_eq!(hidden_csrf(&tab.body), c.csrf, "the tab's forms carry the session's token");
    assert_eq!(stored(&w.t, robot).await, (None, Vec::new()));
}

async fn generate_shows_the_secret_once_and_it_signs_rest_calls(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let mut c = w.signed_in(ROBOT, PASSWORD).await;

    let reply = c.submit(&w.path(GENERATE), &[]).await;
    let secret = shown_secret(&reply);
    let token = shown_token(&reply);
    assert!(reply.body.contains(r#"id="new-secret""#) && reply.body.contains("Copy the API Secret Key now."));
    assert_eq!(reply.body.matches(secret.as_str()).count(), 1, "the secret appears exactly once on the page");
    assert!(has_id(&reply.body, "rotate-token") && has_id(&reply.body, "revoke") && !has_id(&reply.body, "generate"));

    // Stored: the token in the clear, the secret only encrypted with its last four.
    let (credential, secrets) = stored(&w.t, robot).await;
    let credential = credential.expect("a credential");
    assert_eq!(credential.token, token);
    assert_eq!((credential.revoked_at, credential.last_used_at), (None, None));
    assert_eq!(credential.created_by, ROBOT);
    assert_eq!(credential.created_at, w.t.clock.now());
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].last_four, secret[secret.len() - 4..]);
    assert_eq!(secrets[0].live_until, None);
    assert!(!secrets[0].ciphertext.windows(secret.len()).any(|window| window == secret.as_bytes()));
    let generated = w.audit_of("api_credentials.generated").await;
    assert_eq!(generated.len(), 1);
    assert_eq!(
        (generated[0].actor_email.as_deref(), generated[0].target.as_deref(), generated[0].source_address.as_deref()),
        (Some(ROBOT), Some(ROBOT), Some(PEER))
    );

    // Shown once: the tab now has the token and the secret's last four only.
    let tab = c.get(&w.path(TAB)).await;
    tab.assert_status(StatusCode::OK);
    assert_eq!(shown_token(&tab), token);
    assert_secret_absent(&tab.body, &secret, "the tab");
    assert!(tab.body.contains(&format!("…{}</span> (current)", &secret[secret.len() - 4..])), "{}", tab.body);
    assert_eq!(element_text(&tab.body, "credential-status").as_deref(), Some("Active"));
    assert_eq!(element_text(&tab.body, "last-used").as_deref(), Some("never"));

    // The pair signs REST calls.
    let (status, body) = signed_get(&w, ME, &token, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let described: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(described["Email"], ROBOT);
    assert_eq!(described["Tenant"], "Acme Fuel");
    assert_eq!(me(&w, &token, "ctsk_not_the_secret").await, StatusCode::UNAUTHORIZED);
}

async fn rotating_the_token_kills_the_old_one_at_once_and_keeps_the_secret(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, old_token, secret) = generate_on_the_tab(&w, ROBOT).await;
    assert_eq!(me(&w, &old_token, &secret).await, StatusCode::OK);
    let (before, before_secrets) = stored(&w.t, robot).await;

    let reply = c.submit(&w.path(ROTATE_TOKEN), &[]).await;
    reply.assert_status(StatusCode::OK);
    assert!(reply.body.contains("A new API Token is in place; the old one no longer works."), "{}", reply.body);
    let new_token = shown_token(&reply);
    assert_ne!(new_token, old_token);
    assert!(!reply.body.contains(&old_token), "the old token is gone from the page");
    assert_secret_absent(&reply.body, &secret, "the rotate-token answer");

    // The old token answers 401 at once; the new one works with the same secret.
    assert_eq!(me(&w, &old_token, &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&w, &new_token, &secret).await, StatusCode::OK);

    let (after, after_secrets) = stored(&w.t, robot).await;
    let (before, after) = (before.unwrap(), after.unwrap());
    assert_eq!(after.token, new_token);
    assert_eq!((after.id, after.created_at, after.revoked_at), (before.id, before.created_at, None));
    assert!(after.version > before.version);
    assert_eq!(after_secrets.len(), 1);
    assert_eq!(
        (after_secrets[0].id, &after_secrets[0].last_four),
        (before_secrets[0].id, &before_secrets[0].last_four),
        "the secret stays"
    );
    assert_ne!(after_secrets[0].ciphertext, before_secrets[0].ciphertext, "re-encrypted under the new token");
    let rotated = w.audit_of("api_credentials.token_rotated").await;
    assert_eq!(rotated.len(), 1);
    assert_eq!((rotated[0].actor_email.as_deref(), rotated[0].target.as_deref()), (Some(ROBOT), Some(ROBOT)));

    // A later visit shows the new token.
    let tab = c.get(&w.path(TAB)).await;
    assert_eq!(shown_token(&tab), new_token);
    assert!(!tab.body.contains("A new API Token is in place"));
}

async fn rotating_the_secret_with_and_without_a_grace_period(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, token, first) = generate_on_the_tab(&w, ROBOT).await;
    assert_eq!(me(&w, &token, &first).await, StatusCode::OK);

    // No grace: the old secret answers 401 at once.
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "0")]).await;
    let second = shown_secret(&reply);
    assert_ne!(second, first);
    assert_eq!(shown_token(&reply), token, "the token stays");
    assert!(!reply.body.contains("previous secret"), "{}", reply.body);
    assert_eq!(me(&w, &token, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&w, &token, &second).await, StatusCode::OK);

    // An hour's grace: both work until the hour has passed.
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "3600")]).await;
    let third = shown_secret(&reply);
    let until = w.t.clock.now().plus_seconds(3600);
    assert!(
        reply.body.contains(&format!("…{}</span> (previous secret, valid until {until})", &second[second.len() - 4..])),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(&format!("…{}</span> (current)", &third[third.len() - 4..])), "{}", reply.body);
    assert_eq!(me(&w, &token, &second).await, StatusCode::OK, "old secret within its grace");
    assert_eq!(me(&w, &token, &third).await, StatusCode::OK);
    let (_, secrets) = stored(&w.t, robot).await;
    let lives: Vec<Option<Timestamp>> = secrets.iter().map(|s| s.live_until).collect();
    assert_eq!(lives, [None, Some(until)], "the current secret and the previous one with its end");

    // Refused: more than 7 days, a negative or non-numeric grace. Nothing changes.
    let before = everything(&w, &[robot]).await;
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "700000")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_ApiCredentials_GracePeriodTooLong"]);
    assert!(!reply.body.contains("ctsk_") && !has_id(&reply.body, "api-secret"), "{}", reply.body);
    assert_eq!(shown_token(&reply), token, "the refused form shows the tab again");
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "604801")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_ApiCredentials_GracePeriodTooLong"]);
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "-1")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    for grace in ["soon", "", "1.5", "3600s"] {
        let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", grace)]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "grace {grace:?}: {}", reply.body);
        assert!(!reply.body.contains("ctsk_"), "grace {grace:?}");
    }
    c.submit(&w.path(ROTATE_SECRET), &[]).await.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(everything(&w, &[robot]).await, before, "refused rotations write nothing");

    let audit_before = w.audit_of("api_credentials.secret_rotated").await;
    assert_eq!(
        audit_before.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        ["old secret valid for 3600 more seconds", "old secret revoked at once"]
    );

    // The clock passes the hour: the old secret stops, the new one goes on.
    w.t.clock.advance_seconds(3599);
    assert_eq!(me(&w, &token, &second).await, StatusCode::OK, "one second of grace left");
    w.t.clock.advance_seconds(1);
    assert_eq!(me(&w, &token, &second).await, StatusCode::UNAUTHORIZED, "grace over");
    assert_eq!(me(&w, &token, &third).await, StatusCode::OK);
    assert_eq!(me(&w, &token, &first).await, StatusCode::UNAUTHORIZED);

    // The tab (a new session: the old one idled out) shows only the current secret.
    let mut c = w.signed_in(ROBOT, PASSWORD).await;
    let tab = c.get(&w.path(TAB)).await;
    tab.assert_status(StatusCode::OK);
    assert!(!tab.body.contains("previous secret"), "{}", tab.body);
    for secret in [&first, &second, &third] {
        assert_secret_absent(&tab.body, secret, "the tab after rotations");
    }

    // Seven days (the longest the form offers) is accepted.
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "604800")]).await;
    let fourth = shown_secret(&reply);
    assert_eq!(me(&w, &token, &third).await, StatusCode::OK);
    assert_eq!(me(&w, &token, &fourth).await, StatusCode::OK);
}

async fn revoking_on_the_tab_and_generating_again(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, token, secret) = generate_on_the_tab(&w, ROBOT).await;
    assert_eq!(me(&w, &token, &secret).await, StatusCode::OK);

    let reply = c.submit(&w.path(REVOKE), &[]).await;
    reply.assert_status(StatusCode::OK);
    assert!(element_text(&reply.body, "credential-status").unwrap().starts_with("Revoked "), "{}", reply.body);
    assert!(has_id(&reply.body, "generate"), "Generate is offered again: {}", reply.body);
    for absent in ["rotate-token", "rotate-secret", "revoke", "api-secret"] {
        assert!(!has_id(&reply.body, absent), "{absent} after revocation");
    }
    assert_eq!(me(&w, &token, &secret).await, StatusCode::UNAUTHORIZED, "revoked at once");
    let (credential, secrets) = stored(&w.t, robot).await;
    assert_eq!(credential.unwrap().revoked_at, Some(w.t.clock.now()));
    assert!(secrets.is_empty(), "revocation deletes the secrets");
    let revoked = w.audit_of("api_credentials.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (revoked[0].actor_email.as_deref(), revoked[0].target.as_deref(), revoked[0].source_address.as_deref()),
        (Some(ROBOT), Some(ROBOT), Some(PEER))
    );
    let tab = c.get(&w.path(TAB)).await;
    assert!(has_id(&tab.body, "generate") && !has_id(&tab.body, "rotate-token"), "{}", tab.body);

    // Rotating a revoked credential is refused with the tab's rules, and writes nothing.
    let before = everything(&w, &[robot]).await;
    for (action, fields) in [(ROTATE_TOKEN, vec![]), (ROTATE_SECRET, vec![("grace", "0")])] {
        let reply = c.submit(&w.path(action), &fields).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(data_keys(&reply.body), ["BrokenRule_ApiCredentials_NoCredentials"], "{action}");
        assert!(!reply.body.contains("ctsk_"), "{action}");
    }
    assert_eq!(everything(&w, &[robot]).await, before);

    // Generating again gives a new pair that works; the old pair stays dead.
    let reply = c.submit(&w.path(GENERATE), &[]).await;
    let new_secret = shown_secret(&reply);
    let new_token = shown_token(&reply);
    assert_ne!((&new_token, &new_secret), (&token, &secret));
    assert_eq!(element_text(&reply.body, "credential-status").as_deref(), Some("Active"));
    assert_eq!(me(&w, &new_token, &new_secret).await, StatusCode::OK);
    assert_eq!(me(&w, &token, &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&w, &new_token, &secret).await, StatusCode::UNAUTHORIZED);
    let (credential, secrets) = stored(&w.t, robot).await;
    assert_eq!(credential.unwrap().revoked_at, None);
    assert_eq!(secrets.len(), 1);
    assert_eq!(w.audit_of("api_credentials.generated").await.len(), 2);
}

async fn api_tab_posts_without_the_csrf_token_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, token, secret) = generate_on_the_tab(&w, ROBOT).await;
    // A valid token, but of another session (another REST API holder's).
    rest_user(&w, &w.tenant, SECOND).await;
    let other = w.signed_in(SECOND, PASSWORD).await;
    assert_ne!(other.csrf, c.csrf);
    let before = everything(&w, &[robot]).await;

    for (action, fields) in [
        (GENERATE, vec![]),
        (ROTATE_TOKEN, vec![]),
        (ROTATE_SECRET, vec![("grace", "0")]),
        (ROTATE_SECRET, vec![("grace", "3600")]),
        (REVOKE, vec![]),
    ] {
        let reply = c.post(&w.path(action), &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{action} without csrf: {}", reply.body);
        assert!(!reply.body.contains("ctsk_") && !reply.body.contains(&token), "{action}");
        let mut forged = vec![("csrf", other.csrf.as_str())];
        forged.extend_from_slice(&fields);
        let reply = c.post(&w.path(action), &forged).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{action} with another session's csrf");
        let mut empty = vec![("csrf", "")];
        empty.extend_from_slice(&fields);
        c.post(&w.path(action), &empty).await.assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(everything(&w, &[robot]).await, before, "nothing changed");
    assert_eq!(me(&w, &token, &secret).await, StatusCode::OK, "the pair still works");
}

async fn the_last_use_is_shown_after_a_signed_call(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, token, secret) = generate_on_the_tab(&w, ROBOT).await;
    let mut admin = w.admin_client().await;
    let row = admin.get(&w.path(REPORT)).await;
    assert!(report_row(&row.body, ROBOT).contains("<td>never</td>"), "{}", row.body);

    w.t.clock.advance_seconds(90);
    let used_at = w.t.clock.now();
    assert_eq!(me(&w, &token, &secret).await, StatusCode::OK);
    let (credential, _) = stored(&w.t, robot).await;
    let credential = credential.unwrap();
    assert_eq!(credential.last_used_at, Some(used_at));
    assert_eq!(credential.last_used_address.as_deref(), Some(REST_PEER));

    let tab = c.get(&w.path(TAB)).await;
    assert_eq!(
        element_text(&tab.body, "last-used").as_deref(),
        Some(format!("{} from {REST_PEER}", used_at.to_rfc3339()).as_str()),
        "{}",
        tab.body
    );
    let report = admin.get(&w.path(REPORT)).await;
    let row = report_row(&report.body, ROBOT);
    assert!(row.contains(&format!("{} from {REST_PEER}", used_at.to_rfc3339())), "{row}");
}

// ---------------------------------------------------------------------------------------
// System > API Credentials
// ---------------------------------------------------------------------------------------

async fn the_credential_report_shows_the_tenants_credentials_to_administrators_only(t: TestDb) {
    let w = World::new(t).await;
    rest_user(&w, &w.tenant, ROBOT).await;
    rest_user(&w, &w.tenant, SECOND).await;
    // A REST API holder who never generated credentials has no row.
    rest_user(&w, &w.tenant, "idle.robot@acme.example").await;
    let (_, robot_token, robot_secret) = generate_on_the_tab(&w, ROBOT).await;
    let (_, second_token, second_secret) = generate_on_the_tab(&w, SECOND).await;
    let (_, _, other_token, other_secret) = other_tenant_with_credentials(&w).await;
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;

    let mut admin = w.admin_client().await;
    let home = admin.get(&w.path("/")).await;
    assert!(home.body.contains(&format!(r#"href="{BASE}/system/api-credentials""#)), "the System menu links it");
    let report = admin.get(&w.path(REPORT)).await;
    report.assert_status(StatusCode::OK);
    assert!(has_id(&report.body, "credential-report"));
    assert!(has_row(&report.body, ROBOT) && has_row(&report.body, SECOND), "{}", report.body);
    assert_eq!(report.body.matches("<tr data-email=").count(), 2, "one row per credential: {}", report.body);
    assert!(!has_row(&report.body, "idle.robot@acme.example"));
    assert!(!has_row(&report.body, OTHER_ROBOT) && !report.body.contains(&other_token), "another tenant's");
    let row = report_row(&report.body, ROBOT);
    assert!(row.contains(&format!("<code>{robot_token}</code>")) && row.contains("<td>Active</td>"), "{row}");
    assert!(row.contains(&format!(r#"action="{BASE}/system/api-credentials/"#)) && row.contains("Revoke"));
    assert!(report_row(&report.body, SECOND).contains(&second_token));
    for secret in [&robot_secret, &second_secret, &other_secret] {
        assert_secret_absent(&report.body, secret, "the report");
    }

    // The other tenant's Administrator sees only theirs.
    let mut other_admin = w.client();
    let other_base = caretaker_http::tenant_path(OTHER_TENANT);
    let form = other_admin.get(&format!("{other_base}/sign-in")).await;
    let csrf = hidden_csrf(&form.body);
    other_admin
        .post(
            &format!("{other_base}/sign-in"),
            &[("csrf", &csrf), ("email", "admin@other.example"), ("password", ADMIN_PASSWORD)],
        )
        .await
        .assert_see_other(&format!("{other_base}/"));
    let theirs = other_admin.get(&format!("{other_base}{REPORT}")).await;
    theirs.assert_status(StatusCode::OK);
    assert!(has_row(&theirs.body, OTHER_ROBOT) && !has_row(&theirs.body, ROBOT) && !has_row(&theirs.body, SECOND));

    // Management users without the Administrator package, with or without REST API: 403.
    for (email, password) in [("manager@acme.example", PASSWORD), (ROBOT, PASSWORD)] {
        let mut c = w.signed_in(email, password).await;
        let home = c.get(&w.path("/")).await;
        assert!(!home.body.contains("/system/api-credentials"), "{email} has no link");
        let reply = c.get(&w.path(REPORT)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{email}");
        assert!(!reply.body.contains(&robot_token), "{email}");
    }
}

async fn administrators_revoke_credentials_from_the_report(t: TestDb) {
    let w = World::new(t).await;
    let robot = rest_user(&w, &w.tenant, ROBOT).await;
    let second = rest_user(&w, &w.tenant, SECOND).await;
    let manager = w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    let (_, robot_token, robot_secret) = generate_on_the_tab(&w, ROBOT).await;
    let (_, second_token, second_secret) = generate_on_the_tab(&w, SECOND).await;
    let (_, other_user, other_token, other_secret) = other_tenant_with_credentials(&w).await;
    let all = [robot, second, other_user];
    let revoke = |user: UserId| w.path(&format!("/system/api-credentials/{}/revoke", user.0));
    let mut admin = w.admin_client().await;

    let mut manager_client = w.signed_in("manager@acme.example", PASSWORD).await;
    let mut robot_client = w.signed_in(ROBOT, PASSWORD).await;

    // Refused: a Management user without Administrator (even with a valid token), no csrf,
    // another tenant's user, an unknown id, a user without credentials. Nothing changes.
    let before = everything(&w, &all).await;
    manager_client.submit(&revoke(robot), &[]).await.assert_status(StatusCode::FORBIDDEN);
    robot_client.submit(&revoke(second), &[]).await.assert_status(StatusCode::FORBIDDEN);
    admin.post(&revoke(robot), &[]).await.assert_status(StatusCode::FORBIDDEN);
    admin.post(&revoke(robot), &[("csrf", &manager_client.csrf)]).await.assert_status(StatusCode::FORBIDDEN);
    let reply = admin.submit(&revoke(other_user), &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "another tenant's user: {}", reply.body);
    admin.submit(&w.path("/system/api-credentials/999999/revoke"), &[]).await.assert_status(StatusCode::NOT_FOUND);
    admin.submit(&revoke(manager), &[]).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(everything(&w, &all).await, before, "refused revocations change nothing");
    assert!(w.audit_of("api_credentials.revoked").await.is_empty());
    assert_eq!(me(&w, &robot_token, &robot_secret).await, StatusCode::OK);
    assert_eq!(signed_get(&w, OTHER_ME, &other_token, &other_secret).await.0, StatusCode::OK, "other tenant's works");

    // Revoked: 303 back to the report, 401 at once, audited; the other credential lives.
    let (robot_before, _) = stored(&w.t, robot).await;
    admin.submit(&revoke(robot), &[]).await.assert_see_other(&format!("{BASE}/system/api-credentials"));
    assert_eq!(me(&w, &robot_token, &robot_secret).await, StatusCode::UNAUTHORIZED, "revoked at once");
    assert_eq!(me(&w, &second_token, &second_secret).await, StatusCode::OK);
    let (robot_after, secrets) = stored(&w.t, robot).await;
    let (robot_before, robot_after) = (robot_before.unwrap(), robot_after.unwrap());
    assert_eq!(robot_after.revoked_at, Some(w.t.clock.now()));
    assert_eq!(robot_after.token, robot_before.token);
    assert!(secrets.is_empty());
    let revoked = w.audit_of("api_credentials.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (revoked[0].actor_email.as_deref(), revoked[0].target.as_deref(), revoked[0].source_address.as_deref()),
        (Some(ADMIN_EMAIL), Some(ROBOT), Some(PEER))
    );
    let log = admin.get(&w.path("/system/audit-log?q=robot%40acme")).await;
    assert_eq!(audit_rows(&log.body).first().map(String::as_str), Some("api_credentials.revoked"), "{}", log.body);

    // The report shows it revoked, without a Revoke button; the user's tab offers Generate.
    let report = admin.get(&w.path(REPORT)).await;
    let row = report_row(&report.body, ROBOT);
    assert!(row.contains("<td>Revoked</td>") && !row.contains("/revoke"), "{row}");
    assert!(report_row(&report.body, SECOND).contains("/revoke"));
    let tab = robot_client.get(&w.path(TAB)).await;
    assert!(has_id(&tab.body, "generate") && !has_id(&tab.body, "rotate-token"), "{}", tab.body);

    // The other tenant's credential was never touched.
    assert_eq!(signed_get(&w, OTHER_ME, &other_token, &other_secret).await.0, StatusCode::OK);
    let (other_credential, other_secrets) = stored(&w.t, other_user).await;
    assert_eq!((other_credential.unwrap().revoked_at, other_secrets.len()), (None, 1));
}

async fn no_page_after_the_first_display_contains_the_secret(t: TestDb) {
    let w = World::new(t).await;
    rest_user(&w, &w.tenant, ROBOT).await;
    let (mut c, token, first) = generate_on_the_tab(&w, ROBOT).await;
    let reply = c.submit(&w.path(ROTATE_SECRET), &[("grace", "86400")]).await;
    let second = shown_secret(&reply);
    assert!(!reply.body.contains(&first), "the rotation shows only the new secret");
    assert_eq!(me(&w, &token, &first).await, StatusCode::OK);
    assert_eq!(me(&w, &token, &second).await, StatusCode::OK);
    let reply = c.submit(&w.path(ROTATE_TOKEN), &[]).await;
    let token = shown_token(&reply);
    let mut pages = vec![("the rotate-token answer", reply.body)];

    for path in [TAB, "/account", "/account/password", "/"] {
        let reply = c.get(&w.path(path)).await;
        reply.assert_status(StatusCode::OK);
        pages.push((path, reply.body));
    }
    let mut admin = w.admin_client().await;
    for path in [REPORT, "/system/audit-log", "/system/audit-log?q=robot", "/system/users"] {
        let reply = admin.get(&w.path(path)).await;
        reply.assert_status(StatusCode::OK);
        pages.push((path, reply.body));
    }
    let log = &pages.iter().find(|(p, _)| *p == "/system/audit-log").unwrap().1;
    let rows = audit_rows(log);
    for action in ["api_credentials.generated", "api_credentials.secret_rotated", "api_credentials.token_rotated"] {
        assert!(rows.iter().any(|r| r == action), "{action} in {rows:?}");
    }
    for (what, body) in &pages {
        for secret in [&first, &second] {
            assert_secret_absent(body, secret, what);
        }
    }
    assert!(pages[1].1.contains(&token), "the tab shows the token");
    for entry in w.audit().await {
        assert!(!entry.detail.contains(&first[5..]) && !entry.detail.contains(&second[5..]), "{entry:?}");
    }
}
