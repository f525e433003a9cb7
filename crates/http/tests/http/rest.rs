//! TCN authentication through the real router: the sample clients' signing styles, skew,
//! rotation, grace periods, revocation, rights changes, strict mode, rate limits, and two
//! servers sharing one database.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use caretaker_app::credentials::{self, Generated};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::{App, MasterKey, Principal};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::tcn::{self, Strict};
use caretaker_domain::user::{Email, UserId, UserStatus};
use caretaker_http::{AppState, router};
use caretaker_storage::audit::Actor;
use caretaker_storage::testing::TestDb;
use caretaker_storage::{both_backends, credentials as stored_credentials, users as stored_users};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use tower::ServiceExt;

const TENANT: &str = "Urgent SI";
const ME: &str = "/rest/users/urgent%20si/me";

struct World {
    t: TestDb,
    app: App,
    state: AppState,
    operator: Principal,
    user: UserId,
    creds: Generated,
}

impl World {
    async fn new(t: TestDb) -> World {
        World::with_key(t, MasterKey::parse("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").unwrap()).await
    }

    async fn with_key(t: TestDb, key: MasterKey) -> World {
        let app = App::new(t.db.clone(), Arc::new(t.clock.clone()), key);
        let created = tenants::create(
            &app,
            NewTenant {
                name: TENANT.into(),
                admin_email: "admin@urgent.example".into(),
                admin_password: Some(SecretString::from("a long enough password")),
            },
            Actor::Operator,
        )
        .await
        .unwrap();
        let operator = Principal::operator(created.tenant.id, created.tenant.name.as_str());
        let user = users::create(
            &app,
            &operator.authorize::<can::UsersWrite>().unwrap(),
            UserInput {
                email: "api.integration@urgent.example".into(),
                name: "API".into(),
                user_type: "Management".into(),
                role_packages: vec!["REST API".into(), "Management User".into()],
                site_access: "all".into(),
                is_integration: true,
                password: Some(SecretString::from("another long password")),
                ..UserInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        let creds = credentials::generate(&app, &operator, &principal(&app, &operator, user).await).await.unwrap();
        let state = AppState::new(app.clone());
        World { t, app, state, operator, user, creds }
    }

    fn now(&self) -> Timestamp {
        use caretaker_domain::clock::Clock;
        self.t.clock.now()
    }

    fn seconds_ts(&self) -> String {
        tcn::format_timestamp(self.now())
    }

    async fn me(&self) -> Principal {
        principal(&self.app, &self.operator, self.user).await
    }
}

async fn principal(app: &App, operator: &Principal, user: UserId) -> Principal {
    let mut conn = app.db.read().acquire().await.unwrap();
    Principal::load(&mut conn, operator.tenant, &operator.tenant_name, user).await.unwrap().unwrap()
}

/// Sends a request with exactly these headers to `state`'s router.
async fn send(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (StatusCode, String, Option<String>, Option<String>) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = router(state.clone()).oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let www = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, body, www, retry)
}

/// Signs like the .NET sample: seconds, the encoded path.
fn dotnet_headers(token: &str, secret: &str, method: &str, path: &str, ts: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", tcn::sign(method, path, ts, token, secret.as_bytes(), None)), ("x-timestamp", ts.to_owned())]
}

async fn get_me(w: &World, token: &str, secret: &str) -> (StatusCode, String) {
    let (status, body, _, _) =
        send(&w.state, "GET", ME, &dotnet_headers(token, secret, "GET", ME, &w.seconds_ts()), "").await;
    (status, body)
}

fn key(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["Messages"][0]["Key"].as_str().unwrap().to_owned()
}

both_backends!(
    the_dotnet_and_postman_styles_both_work,
    me_describes_the_caller,
    failures_answer_401_with_the_envelope_and_never_tell_tokens_apart,
    skew_inside_and_outside_the_window,
    rotating_the_token_or_the_secret_locks_out_the_old_pair_at_once,
    a_grace_period_keeps_the_old_secret_until_it_ends,
    revocation_disabling_and_removing_rest_api_take_effect_on_the_next_request,
    the_tenant_in_the_path_must_be_the_credentials_tenant,
    strict_mode_refuses_replays_and_tampered_bodies,
    failed_attempts_are_rate_limited_and_audited_in_aggregate,
    two_servers_on_one_database_see_a_rotation_at_once,
    the_reverse_proxy_prefix_is_part_of_the_signed_path,
    matrices_and_reference_lists_of_the_default_configuration,
    reference_data_needs_its_permission,
    credential_expiry_and_the_tenants_signing_settings,
    create_a_site_with_every_field_then_read_list_and_working_hours,
    a_site_breaking_rules_gets_all_of_them_and_nothing_is_written,
    site_codes_are_unique_in_any_case_even_under_concurrency,
    malformed_bodies_get_400_415_413_never_500,
    who_sees_and_creates_sites,
    companies_as_urgent_documents_them,
    manufacturer_models_belong_to_manufacturers,
    assets_with_every_field_parents_and_every_broken_rule,
    custom_fields_are_listed_by_matrix_code_and_their_answers_checked,
    hostile_text_and_oversized_lists_are_refused_never_500,
    contractors_and_other_tenants_cannot_touch_assets_or_companies,
);

async fn the_dotnet_and_postman_styles_both_work(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (&w.creds.token, w.creds.secret.expose_secret());
    // .NET: yyyy-MM-ddTHH:mm:ssZ over Uri.AbsolutePath.ToLower() (encoding kept).
    let (status, body) = get_me(&w, token, secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Postman: toISOString() (milliseconds) over the decoded path.
    let ts = format!("{}.123Z", w.seconds_ts().trim_end_matches('Z'));
    let headers = vec![
        ("authorization", tcn::sign("GET", "/rest/users/urgent si/me", &ts, token, secret.as_bytes(), None)),
        ("x-timestamp", ts),
    ];
    let (status, body, _, _) = send(&w.state, "GET", ME, &headers, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The tenant in any case, the method in lower case when signing.
    let upper = "/rest/users/URGENT%20SI/me";
    let (status, _, _, _) =
        send(&w.state, "GET", upper, &dotnet_headers(token, secret, "get", upper, &w.seconds_ts()), "").await;
    assert_eq!(status, StatusCode::OK);
}

async fn me_describes_the_caller(t: TestDb) {
    let w = World::new(t).await;
    let (status, body) = get_me(&w, &w.creds.token, w.creds.secret.expose_secret()).await;
    assert_eq!(status, StatusCode::OK);
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["Email"], "api.integration@urgent.example");
    assert_eq!(me["UserType"], "Management");
    assert_eq!(me["Tenant"], TENANT);
    assert_eq!(me["Contractor"], serde_json::Value::Null);
    assert_eq!(me["RolePackages"], serde_json::json!(["Management User", "REST API"]));
    assert!(me["Permissions"].as_array().unwrap().iter().any(|p| p == "rest_api.use"));
    assert_eq!(me["CredentialExpiresAtUtc"], serde_json::Value::Null);
}

async fn failures_answer_401_with_the_envelope_and_never_tell_tokens_apart(t: TestDb) {
    let w = World::new(t).await;
    let ts = w.seconds_ts();
    let (status, body, www, _) = send(&w.state, "GET", ME, &[], "").await;
    assert_eq!((status, www.as_deref()), (StatusCode::UNAUTHORIZED, Some("TCN")));
    assert_eq!(key(&body), "BrokenRule_Authentication_MissingHeader");
    let (status, body, _, _) =
        send(&w.state, "GET", ME, &[("authorization", "Basic abc".into()), ("x-timestamp", ts.clone())], "").await;
    assert_eq!((status, key(&body).as_str()), (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_MalformedHeader"));
    let (status, body, _, _) = send(
        &w.state,
        "GET",
        ME,
        &[("authorization", format!("TCN {}:abc=", w.creds.token)), ("x-timestamp", "yesterday".into())],
        "",
    )
    .await;
    assert_eq!((status, key(&body).as_str()), (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_MalformedHeader"));

    // An unknown token and a wrong digest read exactly the same.
    let (unknown_status, unknown_body) =
        get_me(&w, "00000000-0000-4000-8000-000000000000", w.creds.secret.expose_secret()).await;
    let (wrong_status, wrong_body) = get_me(&w, &w.creds.token, "not the secret").await;
    assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
    assert_eq!((unknown_status, unknown_body.clone()), (wrong_status, wrong_body));
    assert_eq!(key(&unknown_body), "BrokenRule_Authentication_InvalidCredentials");
    assert!(!unknown_body.contains(w.creds.secret.expose_secret()));
}

async fn skew_inside_and_outside_the_window(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (&w.creds.token, w.creds.secret.expose_secret());
    for (offset, expected) in [
        (-299, StatusCode::OK),
        (299, StatusCode::OK),
        (-301, StatusCode::UNAUTHORIZED),
        (301, StatusCode::UNAUTHORIZED),
    ] {
        let ts = tcn::format_timestamp(w.now().plus_seconds(offset));
        let (status, body, _, _) = send(&w.state, "GET", ME, &dotnet_headers(token, secret, "GET", ME, &ts), "").await;
        assert_eq!(status, expected, "offset {offset}: {body}");
        if expected != StatusCode::OK {
            assert_eq!(key(&body), "BrokenRule_Authentication_TimestampOutsideWindow");
        }
    }
}

async fn rotating_the_token_or_the_secret_locks_out_the_old_pair_at_once(t: TestDb) {
    let w = World::new(t).await;
    let old_token = w.creds.token.clone();
    let secret = w.creds.secret.expose_secret().to_owned();
    assert_eq!(get_me(&w, &old_token, &secret).await.0, StatusCode::OK);

    let new_token = credentials::rotate_token(&w.app, &w.me().await).await.unwrap();
    assert_ne!(new_token, old_token);
    assert_eq!(get_me(&w, &old_token, &secret).await.0, StatusCode::UNAUTHORIZED, "old token dead");
    assert_eq!(get_me(&w, &new_token, &secret).await.0, StatusCode::OK, "the secret stays");

    let new_secret = credentials::rotate_secret(&w.app, &w.me().await, 0).await.unwrap();
    assert_eq!(get_me(&w, &new_token, &secret).await.0, StatusCode::UNAUTHORIZED, "old secret dead");
    assert_eq!(get_me(&w, &new_token, new_secret.expose_secret()).await.0, StatusCode::OK);

    // Regenerating (as the command line does) replaces both.
    let again = credentials::generate(&w.app, &w.operator, &w.me().await).await.unwrap();
    assert_eq!(get_me(&w, &new_token, new_secret.expose_secret()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get_me(&w, &again.token, again.secret.expose_secret()).await.0, StatusCode::OK);
}

async fn a_grace_period_keeps_the_old_secret_until_it_ends(t: TestDb) {
    let w = World::new(t).await;
    let token = w.creds.token.clone();
    let old = w.creds.secret.expose_secret().to_owned();
    assert!(credentials::rotate_secret(&w.app, &w.me().await, 7 * 86_400 + 1).await.is_err(), "at most 7 days");
    let new = credentials::rotate_secret(&w.app, &w.me().await, 3600).await.unwrap();
    assert_eq!(get_me(&w, &token, &old).await.0, StatusCode::OK, "old secret within grace");
    assert_eq!(get_me(&w, &token, new.expose_secret()).await.0, StatusCode::OK);
    w.t.clock.advance_seconds(3601);
    assert_eq!(get_me(&w, &token, &old).await.0, StatusCode::UNAUTHORIZED, "grace over");
    assert_eq!(get_me(&w, &token, new.expose_secret()).await.0, StatusCode::OK);

    // At most two live secrets: a third rotation kills the first at once.
    let third = credentials::rotate_secret(&w.app, &w.me().await, 3600).await.unwrap();
    let fourth = credentials::rotate_secret(&w.app, &w.me().await, 3600).await.unwrap();
    assert_eq!(get_me(&w, &token, new.expose_secret()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get_me(&w, &token, third.expose_secret()).await.0, StatusCode::OK);
    assert_eq!(get_me(&w, &token, fourth.expose_secret()).await.0, StatusCode::OK);
}

async fn revocation_disabling_and_removing_rest_api_take_effect_on_the_next_request(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let admin_of_users = w.operator.authorize::<can::UsersWrite>().unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::OK);

    // The package removed.
    let input = |packages: Vec<&str>| UserInput {
        email: "api.integration@urgent.example".into(),
        name: "API".into(),
        user_type: "Management".into(),
        role_packages: packages.into_iter().map(String::from).collect(),
        site_access: "all".into(),
        is_integration: true,
        ..UserInput::default()
    };
    users::update(&w.app, &admin_of_users, w.user, input(vec!["Management User"])).await.unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::UNAUTHORIZED, "REST API removed");
    users::update(&w.app, &admin_of_users, w.user, input(vec!["Management User", "REST API"])).await.unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::OK, "granted again");

    // The user disabled.
    users::set_status(&w.app, &admin_of_users, &[w.user], UserStatus::Disabled).await.unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::UNAUTHORIZED, "disabled");
    users::set_status(&w.app, &admin_of_users, &[w.user], UserStatus::Active).await.unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::OK, "enabled");

    // Revoked by an administrator.
    credentials::revoke(&w.app, &w.operator.authorize::<can::ApiCredentialsAdminister>().unwrap(), w.user)
        .await
        .unwrap();
    assert_eq!(get_me(&w, &token, &secret).await.0, StatusCode::UNAUTHORIZED, "revoked");
    let mut conn = w.t.conn().await;
    let stored = stored_credentials::of_user(&mut conn, w.user).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
    assert!(
        stored_credentials::secrets(&mut conn, stored.id).await.unwrap().is_empty(),
        "revocation deletes the secrets"
    );
}

async fn the_tenant_in_the_path_must_be_the_credentials_tenant(t: TestDb) {
    let w = World::new(t).await;
    tenants::create(
        &w.app,
        NewTenant { name: "Other".into(), admin_email: "a@other.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    for path in ["/rest/users/other/me", "/rest/users/nobody/me"] {
        let headers = dotnet_headers(&w.creds.token, w.creds.secret.expose_secret(), "GET", path, &w.seconds_ts());
        let (status, body, _, _) = send(&w.state, "GET", path, &headers, "").await;
        assert_eq!(
            (status, key(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_InvalidCredentials")
        );
    }
}

fn sha256_hex(body: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn strict_mode_refuses_replays_and_tampered_bodies(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (&w.creds.token, w.creds.secret.expose_secret());
    let strict_headers = |nonce: &str, body: &str| {
        let ts = w.seconds_ts();
        let hash = sha256_hex(body);
        let strict = Strict { nonce, content_sha256: &hash };
        vec![
            ("authorization", tcn::sign("GET", ME, &ts, token, secret.as_bytes(), Some(strict))),
            ("x-timestamp", ts),
            ("x-nonce", nonce.to_owned()),
            ("x-content-sha256", hash.clone()),
        ]
    };
    let headers = strict_headers("nonce-1", "");
    assert_eq!(send(&w.state, "GET", ME, &headers, "").await.0, StatusCode::OK);
    assert_eq!(send(&w.state, "GET", ME, &headers, "").await.0, StatusCode::UNAUTHORIZED, "a nonce works once");
    let tampered = strict_headers("nonce-2", "{\"a\":1}");
    assert_eq!(send(&w.state, "GET", ME, &tampered, "{\"a\":2}").await.0, StatusCode::UNAUTHORIZED, "body changed");

    // A tenant that requires strict signing refuses plain TCN.
    let mut conn = w.t.db.begin().await.unwrap();
    stored_credentials::set_tenant_signing(&mut conn, w.operator.tenant, 300, true, None).await.unwrap();
    conn.commit().await.unwrap();
    let (status, body) = get_me(&w, token, secret).await;
    assert_eq!(
        (status, key(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_StrictSigningRequired")
    );
    // Only a caller whose plain signature is right learns that strict signing is required:
    // a wrong digest or an unknown token reads as invalid credentials, as always.
    let (status, body) = get_me(&w, token, "wrong").await;
    assert_eq!(
        (status, key(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_InvalidCredentials")
    );
    let (status, body) = get_me(&w, "00000000-0000-4000-8000-000000000000", secret).await;
    assert_eq!(
        (status, key(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_InvalidCredentials")
    );
    assert_eq!(send(&w.state, "GET", ME, &strict_headers("nonce-3", ""), "").await.0, StatusCode::OK);
}

async fn failed_attempts_are_rate_limited_and_audited_in_aggregate(t: TestDb) {
    let w = World::new(t).await;
    for _ in 0..9 {
        assert_eq!(get_me(&w, &w.creds.token, "wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    // The failure that reaches the limit already answers 429.
    assert_eq!(get_me(&w, &w.creds.token, "wrong").await.0, StatusCode::TOO_MANY_REQUESTS);
    // The token is blocked now for failing attempts (429 with Retry-After)...
    let (status, _, _, retry) =
        send(&w.state, "GET", ME, &dotnet_headers(&w.creds.token, "wrong", "GET", ME, &w.seconds_ts()), "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.unwrap().parse::<i64>().unwrap() > 0);
    // ...but the token is no secret: correctly signed calls still pass, so nobody can stop an
    // integration by failing on purpose with its token.
    assert_eq!(get_me(&w, &w.creds.token, w.creds.secret.expose_secret()).await.0, StatusCode::OK);
    // Another server (no local memory of the block) refuses it too: the count is shared.
    let other = AppState::new(App::new(
        w.t.db.clone(),
        Arc::new(w.t.clock.clone()),
        MasterKey::parse("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").unwrap(),
    ));
    let (status, _, _, _) =
        send(&other, "GET", ME, &dotnet_headers(&w.creds.token, "wrong", "GET", ME, &w.seconds_ts()), "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Eleven failures, two audit lines (the first of the window and the block).
    assert_eq!(w.t.count("audit_log WHERE action = 'api.authentication_failed'").await, 2);
    w.t.clock.advance_seconds(301);
    assert_eq!(get_me(&w, &w.creds.token, "wrong").await.0, StatusCode::UNAUTHORIZED, "the block ends");
}

async fn two_servers_on_one_database_see_a_rotation_at_once(t: TestDb) {
    let w = World::new(t).await;
    let key = || MasterKey::parse("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=").unwrap();
    // A second server: its own pool and its own cache, the same database.
    let db_b = caretaker_storage::Db::connect(&w.t.url, &caretaker_storage::DbOptions::default()).await.unwrap();
    let app_b = App::new(db_b, Arc::new(w.t.clock.clone()), key());
    let server_b = AppState::new(app_b.clone());
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let on = |state: &AppState, token: &str, secret: &str| {
        let headers = dotnet_headers(token, secret, "GET", ME, &w.seconds_ts());
        let state = state.clone();
        async move { send(&state, "GET", ME, &headers, "").await.0 }
    };
    assert_eq!(on(&w.state, &token, &secret).await, StatusCode::OK);
    assert_eq!(on(&server_b, &token, &secret).await, StatusCode::OK, "both caches warm");

    let me_on_b = principal(&app_b, &w.operator, w.user).await;
    let new_secret = credentials::rotate_secret(&app_b, &me_on_b, 0).await.unwrap();
    assert_eq!(
        on(&w.state, &token, &secret).await,
        StatusCode::UNAUTHORIZED,
        "server A refuses the old secret at once"
    );
    assert_eq!(on(&w.state, &token, new_secret.expose_secret()).await, StatusCode::OK);
    assert_eq!(on(&server_b, &token, &secret).await, StatusCode::UNAUTHORIZED);
}

async fn the_reverse_proxy_prefix_is_part_of_the_signed_path(t: TestDb) {
    let w = World::new(t).await;
    let behind_proxy = w.state.clone().with_public_base_url(Some("https://maint.example.com/caretaker".into()));
    let ts = w.seconds_ts();
    let signed = format!("/caretaker{ME}");
    let headers = dotnet_headers(&w.creds.token, w.creds.secret.expose_secret(), "GET", &signed, &ts);
    assert_eq!(send(&behind_proxy, "GET", ME, &headers, "").await.0, StatusCode::OK);
    let unprefixed = dotnet_headers(&w.creds.token, w.creds.secret.expose_secret(), "GET", ME, &ts);
    assert_eq!(send(&behind_proxy, "GET", ME, &unprefixed, "").await.0, StatusCode::UNAUTHORIZED);
}

/// (That no secret reaches the logs is shown against the real binary, whose logging is
/// process-wide: crates/caretaker/tests/cli/credentials.rs.)
#[tokio::test]
async fn the_secret_is_absent_from_the_database_file() {
    let t = TestDb::sqlite().await;
    let path = t.url.trim_start_matches("sqlite://").to_owned();
    let w = World::new(t).await;
    let secret = w.creds.secret.expose_secret().to_owned();
    assert_eq!(get_me(&w, &w.creds.token, &secret).await.0, StatusCode::OK);
    assert_eq!(get_me(&w, &w.creds.token, "wrong").await.0, StatusCode::UNAUTHORIZED);
    let rotated = credentials::rotate_secret(&w.app, &w.me().await, 60).await.unwrap();

    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    for secret in [secret.as_str(), rotated.expose_secret()] {
        assert!(
            !bytes.windows(secret.len()).any(|window| window == secret.as_bytes()),
            "a secret is in the database file"
        );
        assert!(
            !bytes.windows(20).any(|window| window == &secret.as_bytes()[5..25]),
            "part of a secret is in the database file"
        );
    }
    let audit = caretaker_storage::audit::recent(&w.t.db, w.operator.tenant, 100).await.unwrap();
    assert!(audit.iter().all(|e| !e.detail.contains(&secret)));
    let email = Email::parse("api.integration@urgent.example").unwrap();
    let user = stored_users::find_by_email(&mut *w.t.conn().await, w.operator.tenant, &email).await.unwrap().unwrap();
    assert!(user.is_integration);
}

/// The OpenAPI document is kept honest by a snapshot: a change to the API shows up as a
/// change to `openapi.snapshot.json` in review. `UPDATE_SNAPSHOTS=1` rewrites it.
#[tokio::test]
async fn the_openapi_document_matches_its_snapshot_and_needs_no_authentication() {
    let t = TestDb::sqlite().await;
    let state = AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()));
    let (status, body, _, _) = send(&state, "GET", "/rest/openapi.json", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["components"]["securitySchemes"]["TCN"]["name"], "Authorization");
    assert_eq!(document["paths"]["/rest/users/{tenant}/me"]["get"]["security"], serde_json::json!([{ "TCN": [] }]));
    let pretty = serde_json::to_string_pretty(&document).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/http/openapi.snapshot.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(expected == pretty, "the OpenAPI document changed: review it and run with UPDATE_SNAPSHOTS=1\n{pretty}");
}

/// A known path with a method it does not take answers 405 in the envelope.
#[tokio::test]
async fn a_wrong_method_answers_405_in_the_envelope() {
    let t = TestDb::sqlite().await;
    let state = AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()));
    let (status, body, _, _) = send(&state, "DELETE", "/rest/openapi.json", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["Messages"][0]["Key"], "BrokenRule_Request_MethodNotAllowed");
}

/// Every operation the document describes is served: unsigned, an authenticated one answers
/// 401 (never 404 or 405, which would mean the route is missing or the method differs).
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let t = TestDb::sqlite().await;
    let state = AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()));
    let document = caretaker_http::rest::openapi::document();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let concrete = path
                .replace("{tenant}", "acme")
                .replace("{reference}", "T000001")
                .replace("{workflow_type}", "reactive")
                .replace('{', "x")
                .replace('}', "");
            let (status, _, _, _) = send(&state, &method.to_uppercase(), &concrete, &[], "").await;
            let expected =
                if operation["security"] == serde_json::json!([]) { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
            assert_eq!(status, expected, "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} operations");
}

#[tokio::test]
async fn the_docs_page_is_self_contained_and_explains_signing() {
    let t = TestDb::sqlite().await;
    let state = AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()));
    let (status, body, www, _) = send(&state, "GET", "/rest/docs", &[], "").await;
    assert_eq!((status, www), (StatusCode::OK, None));
    assert!(body.contains("GET /rest/users/{tenant}/me"));
    assert!(body.contains("MYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60="), "the known-answer vector");
    for example in ["Python", "JavaScript", "C#", "Shell"] {
        assert!(body.contains(example), "{example} example");
    }
    // Nothing is loaded from elsewhere: scripts and styles come from this server.
    assert!(!body.contains("src=\"http") && !body.contains("href=\"http"), "external asset in the docs");
}

async fn signed_get(w: &World, token: &str, secret: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let (status, body, _, _) =
        send(&w.state, "GET", path, &dotnet_headers(token, secret, "GET", path, &w.seconds_ts()), "").await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

async fn matrices_and_reference_lists_of_the_default_configuration(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let (status, types) = signed_get(&w, &token, &secret, "/rest/matrices/urgent%20si").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        types["MatrixTypes"].as_array().unwrap().iter().map(|t| t["Name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 13);
    assert!(names.contains(&"Geographic Area") && names.contains(&"Task Resolution Remedy"));

    for spelled in ["Geographic%20Area", "geographic-area", "GEOGRAPHICAREA"] {
        let (status, matrix) = signed_get(&w, &token, &secret, &format!("/rest/matrices/urgent%20si/{spelled}")).await;
        assert_eq!(status, StatusCode::OK, "{spelled}");
        assert_eq!(matrix["MatrixType"], "Geographic Area");
        assert_eq!(
            matrix["Items"][1],
            serde_json::json!({"Code": "01-01", "Name": "North East", "ParentCode": "01", "IsActive": true})
        );
    }
    let (status, reactive) = signed_get(&w, &token, &secret, "/rest/matrices/urgent%20si/reactive").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        reactive["Items"].as_array().unwrap().iter().any(|i| i["Code"] == "02-02-01" && i["ParentCode"] == "02-02")
    );
    let (status, unknown) = signed_get(&w, &token, &secret, "/rest/matrices/urgent%20si/colours").await;
    assert_eq!(
        (status, unknown["Messages"][0]["Key"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BrokenRule_Matrix_UnknownType"))
    );

    let (status, task) = signed_get(&w, &token, &secret, "/rest/referencelists/urgent%20si/task").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["Group"], "task");
    assert_eq!(task["Values"][0], serde_json::json!({"Value": "Damage - Known Source", "IsActive": true}));
    let (status, hazards) =
        signed_get(&w, &token, &secret, "/rest/referencelists/urgent%20si/Health%20and%20Safety").await;
    assert_eq!(status, StatusCode::OK);
    assert!(hazards["Values"].as_array().unwrap().iter().any(|v| v["Value"] == "Working at height"));
    let (status, unknown) = signed_get(&w, &token, &secret, "/rest/referencelists/urgent%20si/colours").await;
    assert_eq!(
        (status, unknown["Messages"][0]["Key"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BrokenRule_ReferenceList_UnknownGroup"))
    );
    // Each tenant has its own configuration: one tenant's credential never reads another's.
    assert_eq!(w.t.count(&format!("matrix_items WHERE tenant_id = {}", w.operator.tenant.0)).await, 33);
}

async fn reference_data_needs_its_permission(t: TestDb) {
    let w = World::new(t).await;
    let only_api = users::create(
        &w.app,
        &w.operator.authorize::<can::UsersWrite>().unwrap(),
        UserInput {
            email: "bare.api@urgent.example".into(),
            name: "Bare".into(),
            user_type: "Management".into(),
            role_packages: vec!["REST API".into()],
            site_access: "none".into(),
            password: Some(SecretString::from("another long password")),
            ..UserInput::default()
        },
    )
    .await
    .unwrap()
    .id;
    let creds =
        credentials::generate(&w.app, &w.operator, &principal(&w.app, &w.operator, only_api).await).await.unwrap();
    let (status, body) =
        signed_get(&w, &creds.token, creds.secret.expose_secret(), "/rest/matrices/urgent%20si/reactive").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["Messages"][0]["Key"], "BrokenRule_Authorization_MissingPermission");
    let (status, _) = signed_get(&w, &creds.token, creds.secret.expose_secret(), ME).await;
    assert_eq!(status, StatusCode::OK, "who-am-I needs only REST API");
}

async fn credential_expiry_and_the_tenants_signing_settings(t: TestDb) {
    use caretaker_app::tenant_settings::{self, SigningSettings};
    let w = World::new(t).await;
    let me = w.me().await;
    let expiring = credentials::generate_expiring(&w.app, &w.operator, &me, Some(30)).await.unwrap();
    assert!(credentials::generate_expiring(&w.app, &w.operator, &me, Some(0)).await.is_err());
    assert!(credentials::generate_expiring(&w.app, &w.operator, &me, Some(3651)).await.is_err());
    // The refused calls changed nothing: the expiring pair still works.
    let (status, body) = signed_get(&w, &expiring.token, expiring.secret.expose_secret(), ME).await;
    assert_eq!(status, StatusCode::OK);
    let expected_expiry = w.now().plus_seconds(30 * 86_400).to_rfc3339();
    assert_eq!(body["CredentialExpiresAtUtc"], expected_expiry.as_str());
    w.t.clock.advance_seconds(30 * 86_400 - 10);
    assert_eq!(signed_get(&w, &expiring.token, expiring.secret.expose_secret(), ME).await.0, StatusCode::OK);
    w.t.clock.advance_seconds(20);
    assert_eq!(
        signed_get(&w, &expiring.token, expiring.secret.expose_secret(), ME).await.0,
        StatusCode::UNAUTHORIZED,
        "expired"
    );

    // The tenant's maximum age applies to credentials without an expiry of their own.
    let can_configure = w.operator.authorize::<can::ConfigurationWrite>().unwrap();
    let fresh = credentials::generate(&w.app, &w.operator, &me).await.unwrap();
    let limited =
        SigningSettings { clock_skew_seconds: 300, require_strict_signing: false, max_credential_age_days: Some(3) };
    tenant_settings::update(&w.app, &can_configure, &limited).await.unwrap();
    let (status, body) = signed_get(&w, &fresh.token, fresh.secret.expose_secret(), ME).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["CredentialExpiresAtUtc"], w.now().plus_seconds(3 * 86_400).to_rfc3339().as_str());
    w.t.clock.advance_seconds(3 * 86_400 + 1);
    assert_eq!(
        signed_get(&w, &fresh.token, fresh.secret.expose_secret(), ME).await.0,
        StatusCode::UNAUTHORIZED,
        "too old"
    );

    // A narrower skew window applies at once.
    let fresh = credentials::generate(&w.app, &w.operator, &me).await.unwrap();
    let narrow =
        SigningSettings { clock_skew_seconds: 60, require_strict_signing: false, max_credential_age_days: None };
    tenant_settings::update(&w.app, &can_configure, &narrow).await.unwrap();
    let late = tcn::format_timestamp(w.now().plus_seconds(-100));
    let headers = dotnet_headers(&fresh.token, fresh.secret.expose_secret(), "GET", ME, &late);
    let (status, body, _, _) = send(&w.state, "GET", ME, &headers, "").await;
    assert_eq!(
        (status, key(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_TimestampOutsideWindow")
    );
    assert!(body.contains("60 seconds"), "{body}");

    // Out-of-range settings are refused and change nothing.
    let bad = SigningSettings { clock_skew_seconds: 5, require_strict_signing: true, max_credential_age_days: Some(0) };
    let err = tenant_settings::update(&w.app, &can_configure, &bad).await.unwrap_err();
    let caretaker_app::AppError::Invalid(rules) = err else { panic!("expected broken rules") };
    let keys: Vec<_> = rules.rules().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["BrokenRule_Tenant_InvalidClockSkew", "BrokenRule_Tenant_InvalidMaxCredentialAge"]);
    assert_eq!(tenant_settings::get(&w.app, &can_configure).await.unwrap(), narrow);
}

const SITES: &str = "/rest/sites/urgent%20si";

async fn post_json(w: &World, token: &str, secret: &str, path: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let mut headers = dotnet_headers(token, secret, "POST", path, &w.seconds_ts());
    headers.push(("content-type", "application/json".into()));
    let (status, body, _, _) = send(&w.state, "POST", path, &headers, body).await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

fn keys(body: &serde_json::Value) -> Vec<String> {
    body["Messages"]
        .as_array()
        .map_or_else(Vec::new, |m| m.iter().map(|m| m["Key"].as_str().unwrap().to_owned()).collect())
}

fn full_site(code: &str) -> serde_json::Value {
    serde_json::json!({
        "SiteCode": code, "ParentCode": null, "Name": "Station One",
        "Address": { "Line1": "1 High Street", "Line2": "", "Line3": "", "Town": "Leeds", "County": "West Yorkshire",
                     "Country": "United Kingdom", "PostalCode": "LS1 1AA" },
        "Location": { "Latitude": 53.8, "Longitude": -1.55 },
        "Email": "station1@example.com", "Telephone": "+44 113 000 0000",
        "GeographicAreaMatrixItemCode": "01-01", "SiteChannelMatrixItemCode": "01-01",
        "Hazards": ["Working at height", "asbestos"],
        "Notes": [
            { "StartDate": "2024-01-01", "EndDate": "2024-12-31", "IsWarningNote": true, "Text": "Gate code 1234" },
            { "IsWarningNote": false, "Text": "Deliveries before 7am" }
        ],
        "WorkingHours": [ { "Day": "Monday", "Opens": "06:00", "Closes": "22:00" }, { "Day": "Sunday", "Opens": "08:00", "Closes": "20:00" } ]
    })
}

async fn create_a_site_with_every_field_then_read_list_and_working_hours(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let (status, created) = post_json(&w, &token, &secret, SITES, &full_site("S-001").to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["Messages"], serde_json::Value::Null);
    assert!(created.as_object().unwrap().contains_key("Messages"));
    assert_eq!(created["SiteCode"], "S-001");
    assert_eq!(created["Address"]["PostalCode"], "LS1 1AA");
    assert_eq!(created["Location"], serde_json::json!({"Latitude": 53.8, "Longitude": -1.55}));
    assert_eq!(created["Hazards"], serde_json::json!(["Working at height", "asbestos"]));
    assert_eq!(
        created["Notes"][0],
        serde_json::json!({"StartDate": "2024-01-01", "EndDate": "2024-12-31", "IsWarningNote": true, "Text": "Gate code 1234"})
    );
    assert_eq!(created["Notes"][1]["StartDate"], serde_json::Value::Null);

    // A room inside it.
    let room = serde_json::json!({ "SiteCode": "S-001/R1", "ParentCode": "s-001", "Name": "Shop floor" });
    let (status, body) = post_json(&w, &token, &secret, SITES, &room.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ParentCode"], "S-001");
    assert_eq!(body["Location"], serde_json::Value::Null);

    let (status, read) = signed_get(&w, &token, &secret, "/rest/sites/urgent%20si/s-001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["Name"], "Station One");
    assert_eq!(read["Notes"].as_array().unwrap().len(), 2);
    let (status, _) = signed_get(&w, &token, &secret, "/rest/sites/urgent%20si/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for i in 2..=5 {
        let mut body = serde_json::json!({ "SiteCode": format!("S-00{i}"), "Name": format!("Station {i}") });
        if i == 3 {
            body["Hazards"] = serde_json::json!(["Working at height"]);
            body["Notes"] = serde_json::json!([{ "IsWarningNote": false, "Text": "Ring twice" }]);
        }
        let (status, answer) = post_json(&w, &token, &secret, SITES, &body.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Following NextCursor visits every site once, in code order, each with its own hazards
    // and notes (read for the whole page at once).
    let mut seen = Vec::new();
    let mut listed = Vec::new();
    let mut path = format!("{SITES}?Limit=2");
    loop {
        let signed_path = path.split('?').next().unwrap().to_owned();
        let headers = dotnet_headers(&token, &secret, "GET", &signed_path, &w.seconds_ts());
        let (status, body, _, _) = send(&w.state, "GET", &path, &headers, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = page["Items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["SiteCode"].as_str().unwrap().to_owned()));
        listed.extend(items.iter().cloned());
        match page["NextCursor"].as_str() {
            Some(cursor) => path = format!("{SITES}?Limit=2&Cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["S-001", "S-001/R1", "S-002", "S-003", "S-004", "S-005"]);
    assert_eq!(listed[0], read, "a listed site is the site as read alone");
    let details: Vec<(usize, usize)> = listed
        .iter()
        .map(|site| (site["Hazards"].as_array().unwrap().len(), site["Notes"].as_array().unwrap().len()))
        .collect();
    assert_eq!(details, [(2, 2), (0, 0), (0, 0), (1, 1), (0, 0), (0, 0)]);
    assert_eq!(listed[3]["Hazards"], serde_json::json!(["Working at height"]));
    assert_eq!(listed[3]["Notes"][0]["Text"], "Ring twice");

    let (status, hours) = signed_get(&w, &token, &secret, "/rest/sites/workinghours/urgent%20si").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        hours,
        serde_json::json!({"Sites": [{"SiteCode": "S-001", "WorkingHours": [
            {"Day": "Monday", "Opens": "06:00", "Closes": "22:00"}, {"Day": "Sunday", "Opens": "08:00", "Closes": "20:00"}]}]})
    );
    assert_eq!(w.t.count("audit_log WHERE action = 'site.created'").await, 6);
}

async fn a_site_breaking_rules_gets_all_of_them_and_nothing_is_written(t: TestDb) {
    let w = World::new(t).await;
    let body = serde_json::json!({
        "SiteCode": "bad code", "ParentCode": "MISSING", "Name": "  ",
        "Location": { "Latitude": 91.0, "Longitude": 0.0 },
        "Email": "not-an-email",
        "GeographicAreaMatrixItemCode": "09-09", "SiteChannelMatrixItemCode": "xx",
        "Hazards": ["Dragons"],
        "Notes": [ { "StartDate": "2024-01-01", "Text": "half a window" }, { "StartDate": "2024-02-01", "EndDate": "2024-01-01", "Text": "backwards" } ],
        "WorkingHours": [ { "Day": "Funday", "Opens": "09:00", "Closes": "17:00" } ]
    });
    let (status, answer) =
        post_json(&w, &w.creds.token, w.creds.secret.expose_secret(), SITES, &body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&answer),
        [
            "BrokenRule_Site_InvalidSiteCode",
            "BrokenRule_Site_MissingName",
            "BrokenRule_Site_InvalidLatitude",
            "BrokenRule_Site_InvalidEmail",
            "BrokenRule_Site_NoteDatesTogether",
            "BrokenRule_Site_NoteEndsBeforeItStarts",
            "BrokenRule_Site_InvalidWorkingHours",
            "BrokenRule_Site_UnknownParent",
            "BrokenRule_Site_UnknownGeographicArea",
            "BrokenRule_Site_UnknownSiteChannel",
            "BrokenRule_Site_UnknownHazard",
        ]
    );
    assert!(answer["Messages"][0]["Value"].as_str().unwrap().contains("bad code"));
    for table in
        ["sites", "site_notes", "site_hazards", "site_working_hours", "audit_log WHERE action = 'site.created'"]
    {
        assert_eq!(w.t.count(table).await, 0, "{table}");
    }
}

async fn site_codes_are_unique_in_any_case_even_under_concurrency(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let first = serde_json::json!({ "SiteCode": "Depot-1", "Name": "Depot" });
    assert_eq!(post_json(&w, &token, &secret, SITES, &first.to_string()).await.0, StatusCode::CREATED);
    let again = serde_json::json!({ "SiteCode": "DEPOT-1", "Name": "Depot again", "Notes": [{ "Text": "x" }] });
    let (status, body) = post_json(&w, &token, &secret, SITES, &again.to_string()).await;
    assert_eq!((status, keys(&body)), (StatusCode::CONFLICT, vec![String::from("BrokenRule_Site_DuplicateSiteCode")]));
    assert_eq!(w.t.count("site_notes").await, 0, "the refused site's note was not written");

    let w = Arc::new(w);
    let mut racers = Vec::new();
    for i in 0..6 {
        let w = w.clone();
        let (token, secret) = (token.clone(), secret.clone());
        racers.push(tokio::spawn(async move {
            let code = if i % 2 == 0 { "race" } else { "RACE" };
            let body = serde_json::json!({ "SiteCode": code, "Name": format!("Racer {i}") });
            post_json(&w, &token, &secret, SITES, &body.to_string()).await.0
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    assert_eq!(w.t.count("sites WHERE code_key = 'race'").await, 1);
}

async fn malformed_bodies_get_400_415_413_never_500(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let (status, body) = post_json(&w, &token, &secret, SITES, "{ not json").await;
    assert_eq!((status, keys(&body)), (StatusCode::BAD_REQUEST, vec![String::from("BrokenRule_Request_InvalidJson")]));
    let (status, body) = post_json(&w, &token, &secret, SITES, r#"{"SiteCode": "S-9", "Name": 5}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["Messages"][0]["Value"].as_str().unwrap().starts_with("Name:"), "{body}");
    let (status, body) =
        post_json(&w, &token, &secret, SITES, r#"{"SiteCode": "S-9", "Name": "x", "Location": {"Latitude": "north"}}"#)
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["Messages"][0]["Value"].as_str().unwrap().starts_with("Location.Latitude:"), "{body}");
    let (status, _) = post_json(&w, &token, &secret, SITES, "[1, 2, 3]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_json(&w, &token, &secret, SITES, r#"{"SiteCode": "S-9", "Name": "x"} trailing"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let headers = dotnet_headers(&token, &secret, "POST", SITES, &w.seconds_ts());
    let (status, body, _, _) = send(&w.state, "POST", SITES, &headers, r#"{"SiteCode":"S-9","Name":"x"}"#).await;
    assert_eq!(
        (status, key(&body).as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "BrokenRule_Request_UnsupportedContentType")
    );
    let huge = format!(r#"{{"SiteCode":"S-9","Name":"{}"}}"#, "x".repeat(1_100_000));
    let (status, _) = post_json(&w, &token, &secret, SITES, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let long_name = serde_json::json!({ "SiteCode": "S-9", "Name": "x".repeat(201) });
    let (status, body) = post_json(&w, &token, &secret, SITES, &long_name.to_string()).await;
    assert_eq!((status, keys(&body)), (StatusCode::BAD_REQUEST, vec![String::from("BrokenRule_Site_InvalidName")]));
    let headers = dotnet_headers(&token, &secret, "GET", SITES, &w.seconds_ts());
    for query in ["?Limit=0", "?Limit=201", "?Limit=many", "?Cursor=%%%"] {
        let (status, _, _, _) = send(&w.state, "GET", &format!("{SITES}{query}"), &headers, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    assert_eq!(w.t.count("sites").await, 0);
}

async fn who_sees_and_creates_sites(t: TestDb) {
    let w = World::new(t).await;
    let site = serde_json::json!({ "SiteCode": "S-1", "Name": "One" });
    assert_eq!(
        post_json(&w, &w.creds.token, w.creds.secret.expose_secret(), SITES, &site.to_string()).await.0,
        StatusCode::CREATED
    );
    let can_write = w.operator.authorize::<can::UsersWrite>().unwrap();
    caretaker_app::contractors::create(
        &w.app,
        &w.operator.authorize::<can::ContractorsWrite>().unwrap(),
        caretaker_app::contractors::ContractorInput { name: "Fixers".into(), ..Default::default() },
    )
    .await
    .unwrap();
    let mut pairs = Vec::new();
    for (email, user_type, contractor, packages, access) in [
        ("contractor.api@urgent.example", "Contractor", Some("FIXERS"), vec!["Contractor User", "REST API"], "none"),
        ("blind.api@urgent.example", "Management", None, vec!["Management User", "REST API"], "none"),
    ] {
        let id = users::create(
            &w.app,
            &can_write,
            UserInput {
                email: email.into(),
                name: "Robot".into(),
                user_type: user_type.into(),
                contractor: contractor.map(String::from),
                role_packages: packages.into_iter().map(String::from).collect(),
                site_access: access.into(),
                password: Some(SecretString::from("another long password")),
                ..UserInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        pairs
            .push(credentials::generate(&w.app, &w.operator, &principal(&w.app, &w.operator, id).await).await.unwrap());
    }
    for creds in &pairs {
        let (token, secret) = (&creds.token, creds.secret.expose_secret());
        let (status, list) = signed_get(&w, token, secret, SITES).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["Items"], serde_json::json!([]), "no site is visible");
        assert_eq!(list["NextCursor"], serde_json::Value::Null);
        assert_eq!(signed_get(&w, token, secret, "/rest/sites/urgent%20si/S-1").await.0, StatusCode::NOT_FOUND);
    }
    // A Contractor User cannot create sites at all; a Management User with no site access can.
    let other = serde_json::json!({ "SiteCode": "S-2", "Name": "Two" });
    let (status, body) =
        post_json(&w, &pairs[0].token, pairs[0].secret.expose_secret(), SITES, &other.to_string()).await;
    assert_eq!(
        (status, keys(&body)),
        (StatusCode::FORBIDDEN, vec![String::from("BrokenRule_Authorization_MissingPermission")])
    );
    assert_eq!(w.t.count("sites").await, 1);
    // Another tenant's path: not even authenticated.
    tenants::create(
        &w.app,
        NewTenant { name: "Other".into(), admin_email: "a@o.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    assert_eq!(
        signed_get(&w, &w.creds.token, w.creds.secret.expose_secret(), "/rest/sites/other").await.0,
        StatusCode::UNAUTHORIZED
    );
}

const COMPANIES: &str = "/rest/companies/urgent%20si";
const MODELS: &str = "/rest/models/urgent%20si";
const ASSETS: &str = "/rest/assets/urgent%20si";

fn company(name: &str, types: &[&str]) -> String {
    serde_json::json!({
        "Name": name, "EmailAddress": "ops@example.com", "TelephoneNumber": "+44 20 0000 0000",
        "AddressLine1": "1 Works Road", "Country": "United Kingdom", "CompanyTypes": types
    })
    .to_string()
}

async fn companies_as_urgent_documents_them(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let (status, body) =
        post_json(&w, &token, &secret, COMPANIES, &company("Acme Pumps", &["AssetManufacturer", "AssetSeller"])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["Messages"], serde_json::Value::Null);
    assert!(caretaker_domain::credential::is_guid(body["CompanyIdentifier"].as_str().unwrap()));

    // The documented failure, word for word, with every other rule in the same answer.
    let (status, body) = post_json(&w, &token, &secret, COMPANIES, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["Messages"][0],
        serde_json::json!({"Key": "BrokenRule_Company_MissingCompanyName", "Value": "Company Name is required"})
    );
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Company_MissingCompanyName",
            "BrokenRule_Company_MissingEmailAddress",
            "BrokenRule_Company_MissingTelephoneNumber",
            "BrokenRule_Company_MissingAddressLine1",
            "BrokenRule_Company_MissingCountry",
            "BrokenRule_Company_MissingCompanyType",
        ]
    );
    assert!(body["Messages"].as_array().unwrap().contains(
        &serde_json::json!({"Key": "BrokenRule_Company_MissingCompanyType", "Value": "Company Type is required"})
    ));
    let (status, body) = post_json(&w, &token, &secret, COMPANIES, &company("Other", &["Plumber"])).await;
    assert_eq!(
        (status, keys(&body)),
        (StatusCode::BAD_REQUEST, vec![String::from("BrokenRule_Company_InvalidCompanyType")])
    );
    let (status, body) = post_json(&w, &token, &secret, COMPANIES, &company("ACME PUMPS", &["AssetSeller"])).await;
    assert_eq!((status, keys(&body)), (StatusCode::CONFLICT, vec![String::from("BrokenRule_Company_DuplicateName")]));
    assert_eq!(w.t.count("companies").await, 1);
}

async fn manufacturer_models_belong_to_manufacturers(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    post_json(&w, &token, &secret, COMPANIES, &company("Acme Pumps", &["AssetManufacturer"])).await;
    post_json(&w, &token, &secret, COMPANIES, &company("Resellers Ltd", &["AssetSeller"])).await;
    let model =
        |manufacturer: &str, name: &str| serde_json::json!({ "Manufacturer": manufacturer, "Name": name }).to_string();
    let (status, body) = post_json(&w, &token, &secret, MODELS, &model("acme pumps", "X1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, serde_json::json!({"Manufacturer": "acme pumps", "Name": "X1", "Messages": null}));
    for (manufacturer, name, status, key) in [
        ("Acme Pumps", "x1", StatusCode::CONFLICT, "BrokenRule_Model_DuplicateName"),
        ("Resellers Ltd", "R1", StatusCode::BAD_REQUEST, "BrokenRule_Model_NotAManufacturer"),
        ("Nobody", "N1", StatusCode::BAD_REQUEST, "BrokenRule_Model_UnknownManufacturer"),
        ("Acme Pumps", " ", StatusCode::BAD_REQUEST, "BrokenRule_Model_InvalidName"),
    ] {
        let (got, body) = post_json(&w, &token, &secret, MODELS, &model(manufacturer, name)).await;
        assert_eq!((got, keys(&body)), (status, vec![String::from(key)]), "{manufacturer} {name}");
    }
    assert_eq!(w.t.count("manufacturer_models").await, 1);
}

async fn assets_with_every_field_parents_and_every_broken_rule(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    for site in ["S-1", "S-2"] {
        post_json(&w, &token, &secret, SITES, &serde_json::json!({ "SiteCode": site, "Name": site }).to_string()).await;
    }
    post_json(&w, &token, &secret, COMPANIES, &company("Acme Pumps", &["AssetManufacturer"])).await;
    post_json(
        &w,
        &token,
        &secret,
        MODELS,
        &serde_json::json!({ "Manufacturer": "Acme Pumps", "Name": "X1" }).to_string(),
    )
    .await;
    let full = serde_json::json!({
        "ParentAssetIdentifier": "", "SiteCode": "s-1", "MatrixCode": "01-01", "Manufacturer": "Acme Pumps", "Model": "x1",
        "SerialNumber": "SN-1", "AssetTag": "T-1", "Description": "Pump 1", "Quantity": 2,
        "InstallationDate": "2024-01-31T15:45:00Z", "PurchaseDate": "2024-01-01", "PurchaseValue": 1200.5, "CurrentValue": 900,
        "YearOfManufacture": 2023, "LifeSpan": { "Value": 20, "Unit": "years" }, "Category": "Fuel dispenser"
    });
    let (status, asset) = post_json(&w, &token, &secret, ASSETS, &full.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{asset}");
    let id = asset["AssetIdentifier"].as_str().unwrap().to_owned();
    assert!(caretaker_domain::credential::is_guid(&id));
    assert_eq!(asset["Messages"], serde_json::Value::Null);
    assert_eq!(asset["InstallationDate"], "2024-01-31", "the time part is ignored");
    assert_eq!(asset["SiteCode"], "S-1");
    assert_eq!(asset["Manufacturer"], "Acme Pumps");
    assert_eq!(asset["Model"], "X1");
    assert_eq!(asset["LifeSpan"], serde_json::json!({"Value": 20, "Unit": "Years"}));
    assert_eq!(asset["PurchaseValue"], 1200.5);

    let child = serde_json::json!({ "ParentAssetIdentifier": id, "SiteCode": "S-1", "MatrixCode": "01-02" });
    let (status, body) = post_json(&w, &token, &secret, ASSETS, &child.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ParentAssetIdentifier"], id.as_str());
    assert_eq!(body["Quantity"], 1);
    let (status, read) = signed_get(&w, &token, &secret, &format!("{ASSETS}/{id}")).await;
    assert_eq!((status, read["SerialNumber"].as_str()), (StatusCode::OK, Some("SN-1")));
    let headers = dotnet_headers(&token, &secret, "GET", ASSETS, &w.seconds_ts());
    let (status, page, _, _) = send(&w.state, "GET", &format!("{ASSETS}?SiteCode=S-1&Limit=1"), &headers, "").await;
    assert_eq!(status, StatusCode::OK);
    let page: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["Items"].as_array().unwrap().len(), 1);
    assert!(page["NextCursor"].is_string());
    let (status, page, _, _) = send(&w.state, "GET", &format!("{ASSETS}?SiteCode=S-2"), &headers, "").await;
    assert_eq!(
        (status, serde_json::from_str::<serde_json::Value>(&page).unwrap()["Items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    let broken = serde_json::json!({
        "ParentAssetIdentifier": id, "SiteCode": "S-2", "MatrixCode": "99-99", "Manufacturer": "Acme Pumps", "Model": "Z9",
        "Quantity": 0, "InstallationDate": "31/01/2024", "PurchaseValue": -1, "YearOfManufacture": 99,
        "LifeSpan": { "Value": 20, "Unit": "Decades" }, "Category": "Spaceship"
    });
    let (status, body) = post_json(&w, &token, &secret, ASSETS, &broken.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Asset_InvalidDate",
            "BrokenRule_Asset_InvalidQuantity",
            "BrokenRule_Asset_InvalidValue",
            "BrokenRule_Asset_InvalidYearOfManufacture",
            "BrokenRule_Asset_InvalidLifeSpan",
            "BrokenRule_Asset_UnknownMatrixCode",
            "BrokenRule_Asset_UnknownModel",
            "BrokenRule_Asset_UnknownCategory",
            "BrokenRule_Asset_ParentAtAnotherSite",
        ]
    );
    let (status, body) =
        post_json(&w, &token, &secret, ASSETS, r#"{"SiteCode": "NOPE", "MatrixCode": "", "Model": "X1"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&body),
        ["BrokenRule_Asset_UnknownSite", "BrokenRule_Asset_MissingMatrixCode", "BrokenRule_Asset_MissingManufacturer"]
    );
    assert_eq!(w.t.count("assets").await, 2, "refused assets were not written");
    let (status, _) = signed_get(&w, &token, &secret, &format!("{ASSETS}/00000000-0000-4000-8000-000000000000")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn custom_fields_are_listed_by_matrix_code_and_their_answers_checked(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    // A task category inherits the questions of its parents.
    let (status, fields) = signed_get(&w, &token, &secret, "/rest/customfields/task/urgent%20si/02-02-01").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        fields["CustomFields"].as_array().unwrap().iter().map(|f| f["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Custom_Pump_Number", "Custom_Is_Leaking", "Custom_Leak_Volume"]);
    assert_eq!(
        fields["CustomFields"][2],
        serde_json::json!({"Name": "Custom_Leak_Volume", "Text": "Roughly how many litres have leaked?", "IsMandatory": true,
            "Parent": {"Name": "Custom_Is_Leaking", "TriggerValue": "true"}, "Answer": {"DataType": "Number"}, "AnswerList": []})
    );
    let (status, none) = signed_get(&w, &token, &secret, "/rest/customfields/task/urgent%20si/01").await;
    assert_eq!((status, none["CustomFields"].as_array().unwrap().len()), (StatusCode::OK, 0));
    let (status, list) = signed_get(&w, &token, &secret, "/rest/customfields/asset/urgent%20si/01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["CustomFields"][0]["AnswerList"], serde_json::json!(["Unleaded", "Diesel", "Super"]));
    assert_eq!(
        signed_get(&w, &token, &secret, "/rest/customfields/colour/urgent%20si/01").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        signed_get(&w, &token, &secret, "/rest/customfields/task/urgent%20si/1-2").await.0,
        StatusCode::BAD_REQUEST
    );

    // Site answers, by the site's channel.
    let site = serde_json::json!({ "SiteCode": "S-1", "Name": "One", "SiteChannelMatrixItemCode": "01-01",
        "CustomFields": [ { "Name": "custom_store_manager", "Value": "Dana" } ] });
    let (status, body) = post_json(&w, &token, &secret, SITES, &site.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["CustomFields"], serde_json::json!([{"Name": "Custom_Store_Manager", "Value": "Dana"}]));
    let stray = serde_json::json!({ "SiteCode": "S-2", "Name": "Two", "CustomFields": [ { "Name": "Custom_Store_Manager", "Value": "x" } ] });
    let (status, body) = post_json(&w, &token, &secret, SITES, &stray.to_string()).await;
    assert_eq!(
        (status, keys(&body)),
        (StatusCode::BAD_REQUEST, vec![String::from("BrokenRule_Site_UnknownCustomField")])
    );

    // Asset answers, by the asset's matrix code (01-01 also gets 01's question).
    let asset = |fields: serde_json::Value| {
        serde_json::json!({ "SiteCode": "S-1", "MatrixCode": "01-01", "CustomFields": fields }).to_string()
    };
    let (status, body) = post_json(
        &w,
        &token,
        &secret,
        ASSETS,
        &asset(serde_json::json!([
        { "Name": "Custom_Hose_Count", "Value": 4 }, { "Name": "Custom_Fuel_Grade", "Value": "diesel" } ])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["CustomFields"],
        serde_json::json!([{"Name": "Custom_Fuel_Grade", "Value": "diesel"}, {"Name": "Custom_Hose_Count", "Value": "4"}])
    );
    let (status, body) = post_json(&w, &token, &secret, ASSETS, &asset(serde_json::json!([
        { "Name": "Custom_Hose_Count", "Value": "many" }, { "Name": "Custom_Fuel_Grade", "Value": "Kerosene" }, { "Name": "Custom_Nope", "Value": 1 } ]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Asset_UnknownCustomField",
            "BrokenRule_Asset_InvalidCustomField",
            "BrokenRule_Asset_InvalidCustomField"
        ]
    );
    assert_eq!(w.t.count("assets").await, 1);
    assert_eq!(w.t.count("custom_answers").await, 3);
}

async fn hostile_text_and_oversized_lists_are_refused_never_500(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    // NUL characters (refused as data by PostgreSQL) in paths, cursors and bodies.
    for path in ["/rest/sites/urgent%20si/%00", "/rest/assets/urgent%20si/%00"] {
        let status = signed_get(&w, &token, &secret, path).await.0;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND, "{path}: {status}");
    }
    let headers = dotnet_headers(&token, &secret, "GET", SITES, &w.seconds_ts());
    let (status, _, _, _) = send(&w.state, "GET", &format!("{SITES}?Cursor=AA"), &headers, "").await;
    assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status}");
    let body = serde_json::json!({ "SiteCode": "S-1", "Name": "Nul\u{0}name", "Address": { "Town": "a\u{0}b" } });
    let (status, _) = post_json(&w, &token, &secret, SITES, &body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _, _) = send(&w.state, "GET", "/t/%00/sign-in", &[], "").await;
    assert!(status.is_client_error(), "{status}");
    let too_many = serde_json::json!({ "SiteCode": "S-2", "Name": "Two", "Hazards": vec!["Asbestos"; 101] });
    let (status, body) = post_json(&w, &token, &secret, SITES, &too_many.to_string()).await;
    assert_eq!((status, keys(&body)), (StatusCode::BAD_REQUEST, vec![String::from("BrokenRule_Site_TooManyItems")]));
    assert_eq!(w.t.count("sites").await, 0);
}

async fn contractors_and_other_tenants_cannot_touch_assets_or_companies(t: TestDb) {
    let w = World::new(t).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    post_json(&w, &token, &secret, SITES, &serde_json::json!({ "SiteCode": "S-1", "Name": "One" }).to_string()).await;
    let (_, asset) = post_json(&w, &token, &secret, ASSETS, r#"{"SiteCode": "S-1", "MatrixCode": "01"}"#).await;
    let asset_id = asset["AssetIdentifier"].as_str().unwrap().to_owned();
    caretaker_app::contractors::create(
        &w.app,
        &w.operator.authorize::<can::ContractorsWrite>().unwrap(),
        caretaker_app::contractors::ContractorInput { name: "Fixers".into(), ..Default::default() },
    )
    .await
    .unwrap();
    let fixer = users::create(
        &w.app,
        &w.operator.authorize::<can::UsersWrite>().unwrap(),
        UserInput {
            email: "fixer.api@urgent.example".into(),
            name: "Fixer".into(),
            user_type: "Contractor".into(),
            contractor: Some("FIXERS".into()),
            role_packages: vec!["Contractor User".into(), "REST API".into()],
            site_access: "none".into(),
            password: Some(SecretString::from("another long password")),
            ..UserInput::default()
        },
    )
    .await
    .unwrap()
    .id;
    let creds = credentials::generate(&w.app, &w.operator, &principal(&w.app, &w.operator, fixer).await).await.unwrap();
    let (ft, fs) = (creds.token.clone(), creds.secret.expose_secret().to_owned());
    let before = (w.t.count("assets").await, w.t.count("companies").await, w.t.count("manufacturer_models").await);
    // Writes: refused for lack of the permission.
    for (path, body) in [
        (ASSETS, r#"{"SiteCode": "S-1", "MatrixCode": "01"}"#.to_owned()),
        (COMPANIES, company("Sneaky Ltd", &["AssetSeller"])),
        (MODELS, r#"{"Manufacturer": "x", "Name": "y"}"#.to_owned()),
    ] {
        let (status, body) = post_json(&w, &ft, &fs, path, &body).await;
        assert_eq!(
            (status, keys(&body)),
            (StatusCode::FORBIDDEN, vec![String::from("BrokenRule_Authorization_MissingPermission")]),
            "{path}"
        );
    }
    // Reads: the asset is at a site the contractor cannot see.
    assert_eq!(signed_get(&w, &ft, &fs, &format!("{ASSETS}/{asset_id}")).await.0, StatusCode::NOT_FOUND);
    let (status, list) = signed_get(&w, &ft, &fs, ASSETS).await;
    assert_eq!((status, list["Items"].as_array().unwrap().len()), (StatusCode::OK, 0));
    assert_eq!(
        (w.t.count("assets").await, w.t.count("companies").await, w.t.count("manufacturer_models").await),
        before
    );
    // Another tenant's credential does not even authenticate on this tenant's paths.
    tenants::create(
        &w.app,
        NewTenant { name: "Other".into(), admin_email: "a@o.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    for path in [format!("/rest/assets/other/{asset_id}"), String::from("/rest/assets/other")] {
        assert_eq!(signed_get(&w, &token, &secret, &path).await.0, StatusCode::UNAUTHORIZED);
    }
}

/// Over a real socket: a body that has not arrived in full within the limit is answered
/// `408` with the envelope, whether authentication reads it first (to hash it) or the
/// handler does, and nothing is written; a body that arrives in time is not held to it.
#[tokio::test]
async fn a_request_body_that_does_not_arrive_in_time_is_answered_408() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;

    let w = World::new(TestDb::sqlite().await).await;
    let (token, secret) = (w.creds.token.clone(), w.creds.secret.expose_secret().to_owned());
    let limit = Duration::from_millis(300);
    let limits = caretaker_http::ServeLimits { body_read: limit, ..Default::default() };
    let served = crate::Served::start(w.state.clone(), limits).await;
    let address = served.address;
    let site = r#"{"SiteCode":"S-1","Name":"Depot"}"#;
    let head = |length: usize, hashed: bool| {
        let mut head = format!("POST {SITES} HTTP/1.1\r\nHost: caretaker\r\nContent-Type: application/json\r\n");
        for (name, value) in dotnet_headers(&token, &secret, "POST", SITES, &w.seconds_ts()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if hashed {
            head.push_str(&format!("X-Content-SHA256: {}\r\n", sha256_hex(site)));
        }
        head + &format!("Content-Length: {length}\r\n\r\n")
    };
    let timed_out =
        r#"{"Messages":[{"Key":"BrokenRule_Request_BodyTimeout","Value":"The request body did not arrive in time"}]}"#;

    for hashed in [false, true] {
        // Ten bytes of the body, then nothing.
        let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
        slow.write_all(format!("{}{}", head(site.len(), hashed), &site[..10]).as_bytes()).await.unwrap();
        let started = Instant::now();
        let (answer, _) = crate::read_answer(&mut slow, Duration::from_secs(5)).await;
        let after = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "hashed {hashed}: {answer}");
        assert!(answer.ends_with(timed_out), "hashed {hashed}: {answer}");
        assert!(after >= limit - Duration::from_millis(50) && after < Duration::from_secs(3), "after {after:?}");
    }
    assert_eq!(w.t.count("sites").await, 0);

    // The whole body in time: created.
    let mut whole = tokio::net::TcpStream::connect(address).await.unwrap();
    whole.write_all(format!("{}{site}", head(site.len(), true)).as_bytes()).await.unwrap();
    let (answer, _) = crate::read_answer(&mut whole, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
    assert_eq!(w.t.count("sites").await, 1);

    served.stop().await;
}
