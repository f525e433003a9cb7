//! The web pages, driven through the real router in-process (`oneshot`, no socket): signing
//! in and out, sessions, CSRF, who may see and do what, the Create User window, the Users
//! operations, set-password links, contractors, role packages and the audit log.
//!
//! Each test gets a fresh database; most run on SQLite and PostgreSQL (`both_backends!`).
//! Refused calls are checked to have changed nothing through [`World::snapshot`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use caretaker_app::contractors::{self as app_contractors, ContractorInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self as app_users, UserInput};
use caretaker_app::{App, MasterKey, Principal, role_packages as app_role_packages};
use caretaker_domain::access::{BuiltinPackage, Holder, can};
use caretaker_domain::contractor::ContractorId;
use caretaker_domain::user::{Email, UserId, UserStatus, UserType};
use caretaker_http::{AppState, router, tenant_path};
use caretaker_storage::audit::{self, Actor, Entry};
use caretaker_storage::tenants::Tenant;
use caretaker_storage::testing::TestDb;
use caretaker_storage::users::{RolePackageId, User, UserFilter};
use caretaker_storage::{both_backends, contractors, role_packages, users};
use http_body_util::BodyExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use tower::ServiceExt;

pub(crate) const TENANT: &str = "Acme Fuel";
/// `tenant_path(TENANT)`, spelled out once so the encoding itself is checked.
pub(crate) const BASE: &str = "/t/Acme%20Fuel";
pub(crate) const ADMIN_EMAIL: &str = "admin@acme.example";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub(crate) const PASSWORD: &str = "a user's long enough password";
const NEW_PASSWORD: &str = "an entirely new passphrase";
/// The peer address the test client claims (as `ConnectInfo`, which a real server sets).
pub(crate) const PEER: &str = "203.0.113.7";

// ---------------------------------------------------------------------------------------
// The client: a cookie jar over the real router
// ---------------------------------------------------------------------------------------

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
            .to_str()
            .unwrap()
    }

    /// The whole `Set-Cookie` header that sets `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.split_once('=').is_some_and(|(k, _)| k == name))
    }

    /// Asserts a 303 to `to`.
    #[track_caller]
    pub(crate) fn assert_see_other(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "expected a redirect to {to}: {}", self.body);
        assert_eq!(self.location(), to);
    }

    #[track_caller]
    pub(crate) fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
    }
}

/// A browser without JavaScript that follows nothing by itself: it keeps cookies (dropping
/// those set empty or with `Max-Age=0`) and the session's CSRF token once told to read it.
pub(crate) struct Client {
    state: AppState,
    jar: BTreeMap<String, String>,
    peer: Option<SocketAddr>,
    pub(crate) csrf: String,
}

fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Client {
    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if !self.jar.is_empty() {
            let cookies = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            builder = builder.header(header::COOKIE, cookies);
        }
        let body = match form {
            Some(fields) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(encode(fields))
            }
            None => Body::empty(),
        };
        let mut request = builder.body(body).unwrap();
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            let expired = text.split(';').any(|attr| attr.trim().eq_ignore_ascii_case("Max-Age=0"));
            if value.is_empty() || expired {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// Posts exactly `fields` (no CSRF token added).
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, path, Some(fields)).await
    }

    /// Posts `fields` with the session's CSRF token, as the page's own form would.
    pub(crate) async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf.clone();
        assert!(!csrf.is_empty(), "read the CSRF token from a signed-in page first");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// Opens the sign-in form (which sets the pre-session CSRF cookie) and posts it.
    async fn sign_in(&mut self, base: &str, email: &str, password: &str) -> Reply {
        let page = self.get(&format!("{base}/sign-in")).await;
        page.assert_status(StatusCode::OK);
        let csrf = hidden_csrf(&page.body);
        self.post(&format!("{base}/sign-in"), &[("csrf", &csrf), ("email", email), ("password", password)]).await
    }

    /// Reads the session's CSRF token from a signed-in page.
    async fn read_csrf(&mut self, path: &str) {
        let page = self.get(path).await;
        page.assert_status(StatusCode::OK);
        self.csrf = hidden_csrf(&page.body);
    }

    fn session_cookie(&self, tenant: &Tenant) -> Option<String> {
        self.jar.get(&session_cookie_name(tenant)).cloned()
    }
}

fn session_cookie_name(tenant: &Tenant) -> String {
    format!("caretaker_session_{}", tenant.id.0)
}

// ---------------------------------------------------------------------------------------
// Reading pages
// ---------------------------------------------------------------------------------------

/// The value of the first hidden `csrf` field.
#[track_caller]
pub(crate) fn hidden_csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).unwrap_or_else(|| panic!("no csrf field in {body}")) + marker.len();
    let end = start + body[start..].find('"').unwrap();
    body[start..end].to_owned()
}

/// The broken-rule keys shown above a refused form.
pub(crate) fn data_keys(body: &str) -> Vec<String> {
    body.match_indices(r#"data-key=""#)
        .map(|(i, m)| {
            let start = i + m.len();
            body[start..start + body[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

/// Every set-password link (path, or absolute URL) on the page.
fn set_password_links(body: &str) -> Vec<String> {
    body.match_indices("/set-password/")
        .map(|(i, _)| {
            let start = body[..i].rfind(['>', '"']).unwrap() + 1;
            let end = i + body[i..].find(['<', '"']).unwrap();
            body[start..end].to_owned()
        })
        .collect()
}

/// The single set-password link of a page.
#[track_caller]
fn the_link(body: &str) -> String {
    let links = set_password_links(body);
    assert_eq!(links.len(), 1, "exactly one set-password link expected: {body}");
    links.into_iter().next().unwrap()
}

/// The actions listed in the Audit Log table, top to bottom.
pub(crate) fn audit_rows(body: &str) -> Vec<String> {
    let table = &body[body.find(r#"id="audit-log""#).expect("the audit log table")..];
    table
        .match_indices("<code>")
        .map(|(i, m)| {
            let start = i + m.len();
            table[start..start + table[start..].find('<').unwrap()].to_owned()
        })
        .collect()
}

pub(crate) fn has_row(body: &str, email: &str) -> bool {
    body.contains(&format!(r#"data-email="{email}""#))
}

fn sees_system_menu(body: &str) -> bool {
    body.contains(r#"id="menu-system""#)
}

// ---------------------------------------------------------------------------------------
// The world: a tenant with its Administrator, and helpers that go through the use cases
// ---------------------------------------------------------------------------------------

pub(crate) struct World {
    pub(crate) t: TestDb,
    pub(crate) state: AppState,
    pub(crate) tenant: Tenant,
    pub(crate) base: String,
    admin: UserId,
}

async fn create_tenant(
    app: &App,
    t: &TestDb,
    name: &str,
    admin_email: &str,
    password: Option<&str>,
) -> (Tenant, UserId, Option<SecretString>) {
    let created = tenants::create(
        app,
        NewTenant {
            name: name.into(),
            admin_email: admin_email.into(),
            admin_password: password.map(SecretString::from),
        },
        Actor::Operator,
    )
    .await
    .unwrap();
    let admin = users::find_by_email(&mut *t.conn().await, created.tenant.id, &Email::parse(admin_email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    (created.tenant, admin, created.generated_password)
}

impl World {
    pub(crate) async fn new(t: TestDb) -> World {
        let state = AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()));
        let (tenant, admin, _) = create_tenant(&state.app, &t, TENANT, ADMIN_EMAIL, Some(ADMIN_PASSWORD)).await;
        let base = tenant_path(tenant.name.as_str());
        assert_eq!(base, BASE);
        World { t, state, tenant, base, admin }
    }

    pub(crate) fn app(&self) -> &App {
        &self.state.app
    }

    pub(crate) fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }

    /// Another tenant with an Administrator who chose a password.
    pub(crate) async fn other_tenant(&self, name: &str, admin_email: &str) -> (Tenant, UserId) {
        let (tenant, admin, _) = create_tenant(self.app(), &self.t, name, admin_email, Some(ADMIN_PASSWORD)).await;
        (tenant, admin)
    }

    /// An active user (password [`PASSWORD`]) made by the operator.
    pub(crate) async fn user(
        &self,
        tenant: &Tenant,
        email: &str,
        user_type: UserType,
        contractor: Option<&str>,
        packages: &[&str],
    ) -> UserId {
        let operator = Principal::operator(tenant.id, tenant.name.as_str());
        let input = UserInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            user_type: user_type.as_str().into(),
            contractor: contractor.map(Into::into),
            role_packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            site_access: if user_type == UserType::Contractor { "none" } else { "all" }.into(),
            is_integration: false,
            password: Some(SecretString::from(PASSWORD)),
        };
        let created = app_users::create(self.app(), &operator.authorize::<can::UsersWrite>().unwrap(), input)
            .await
            .unwrap_or_else(|err| panic!("create {email}: {err:?}"));
        assert!(created.set_password_token.is_none());
        created.id
    }

    async fn disable(&self, tenant: &Tenant, id: UserId) {
        let operator = Principal::operator(tenant.id, tenant.name.as_str());
        app_users::set_status(
            self.app(),
            &operator.authorize::<can::UsersWrite>().unwrap(),
            &[id],
            UserStatus::Disabled,
        )
        .await
        .unwrap();
    }

    pub(crate) async fn contractor(&self, tenant: &Tenant, name: &str, code: &str) -> ContractorId {
        let operator = Principal::operator(tenant.id, tenant.name.as_str());
        let input = ContractorInput {
            name: name.into(),
            code: Some(code.into()),
            parent: None,
            email: String::new(),
            telephone: String::new(),
        };
        app_contractors::create(self.app(), &operator.authorize::<can::ContractorsWrite>().unwrap(), input)
            .await
            .unwrap()
    }

    async fn custom_package(&self, name: &str, permissions: &[&str]) -> RolePackageId {
        let operator = Principal::operator(self.tenant.id, self.tenant.name.as_str());
        let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        app_role_packages::create_custom(
            self.app(),
            &operator.authorize::<can::RolePackagesWrite>().unwrap(),
            name,
            "",
            &permissions,
        )
        .await
        .unwrap()
    }

    async fn package_id(&self, tenant: &Tenant, name: &str) -> RolePackageId {
        role_packages::list(&mut *self.t.conn().await, tenant.id)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no package {name}"))
            .id
    }

    async fn stored(&self, id: UserId) -> User {
        users::get(&mut *self.t.conn().await, self.tenant.id, id).await.unwrap().expect("a user of the tenant")
    }

    async fn find(&self, email: &str) -> Option<User> {
        users::find_by_email(&mut *self.t.conn().await, self.tenant.id, &Email::parse(email).unwrap()).await.unwrap()
    }

    /// The tenant's audit log, newest first.
    pub(crate) async fn audit(&self) -> Vec<Entry> {
        audit::recent(&self.t.db, self.tenant.id, 1000).await.unwrap()
    }

    pub(crate) async fn audit_of(&self, action: &str) -> Vec<Entry> {
        self.audit().await.into_iter().filter(|e| e.action == action).collect()
    }

    async fn sessions_of(&self, id: UserId) -> i64 {
        self.t.count(&format!("sessions WHERE user_id = {}", id.0)).await
    }

    /// A client that has not signed in, calling from [`PEER`].
    pub(crate) fn client(&self) -> Client {
        Client {
            state: self.state.clone(),
            jar: BTreeMap::new(),
            peer: Some(format!("{PEER}:40000").parse().unwrap()),
            csrf: String::new(),
        }
    }

    /// A client signed in to the tenant, with its CSRF token read from the home page.
    pub(crate) async fn signed_in(&self, email: &str, password: &str) -> Client {
        let mut client = self.client();
        let reply = client.sign_in(&self.base, email, password).await;
        reply.assert_see_other(&self.path("/"));
        client.read_csrf(&self.path("/")).await;
        client
    }

    pub(crate) async fn admin_client(&self) -> Client {
        self.signed_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Everything a refused call must not have changed: row counts of every table that
    /// matters, and every tenant's users with their packages, status and timestamps.
    pub(crate) async fn snapshot(&self) -> String {
        let mut out = String::new();
        for what in [
            "tenants",
            "users",
            "users WHERE status = 'Active'",
            "user_role_packages",
            "role_packages",
            "role_package_permissions",
            "contractors",
            "sessions",
            "set_password_links",
            "set_password_links WHERE used_at IS NULL",
            "audit_log",
            "auth_throttle",
        ] {
            out.push_str(&format!("{what}: {}\n", self.t.count(what).await));
        }
        for tenant in tenants::list(self.app()).await.unwrap() {
            let all = users::list(&mut *self.t.conn().await, tenant.id, &UserFilter::default()).await.unwrap();
            for user in all {
                out.push_str(&format!("{user:?}\n"));
                let hash = users::password_hash(self.t.db.read(), user.id).await.unwrap();
                out.push_str(&format!("  password hash: {hash:?}\n"));
            }
        }
        out
    }
}

/// The Create/Edit User window's fields.
fn user_form<'a>(
    name: &'a str,
    email: &'a str,
    user_type: &'a str,
    site_access: &'a str,
    packages: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("name", name),
        ("email", email),
        ("user_type", user_type),
        ("contractor", ""),
        ("site_access", site_access),
    ];
    fields.extend(packages.iter().map(|p| ("role_packages", *p)));
    fields
}

both_backends!(
    sign_in_sets_an_http_only_lax_session_cookie_and_goes_home,
    wrong_password_answers_401_with_the_form_again,
    sign_in_without_its_csrf_cookie_and_field_is_forbidden,
    five_failures_lock_the_account_with_retry_after,
    a_session_is_dead_after_sign_out_and_after_its_time,
    a_generated_password_must_be_changed_before_anything_else,
    administrative_pages_refuse_a_contractor_user,
    administrative_pages_refuse_management_users_without_the_package,
    a_users_reader_sees_users_but_changes_nothing,
    cross_site_posts_change_nothing,
    another_tenants_ids_are_not_found,
    an_administrator_cannot_grant_themselves_rest_api,
    a_user_manager_without_administrator_cannot_grant_privileged_packages,
    creating_a_management_user_gives_a_one_time_set_password_link,
    creating_a_contractor_user_from_the_contractor_page,
    refused_create_user_windows_show_the_rules_and_write_nothing,
    disabling_ends_the_users_sessions_and_enabling_lets_them_back,
    reset_password_shows_a_new_link_that_replaces_the_password,
    the_audit_log_page_filters_by_action_and_person,
    the_audit_log_records_who_did_what_and_from_where,
    administrators_use_every_page,
    account_settings_change_the_name_and_the_password,
);

// ---------------------------------------------------------------------------------------
// Signing in
// ---------------------------------------------------------------------------------------

async fn sign_in_sets_an_http_only_lax_session_cookie_and_goes_home(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.client();
    let page = c.get(&w.path("/sign-in")).await;
    page.assert_status(StatusCode::OK);
    let pre = page.set_cookie("caretaker_signin").expect("the sign-in CSRF cookie");
    let attrs: Vec<&str> = pre.split(';').map(str::trim).skip(1).collect();
    assert_eq!(attrs, ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=3600"]);
    let csrf = hidden_csrf(&page.body);
    assert_eq!(c.jar.get("caretaker_signin"), Some(&csrf), "the form's field is the cookie's value");
    assert!(page.body.contains(&format!(r#"action="{BASE}/sign-in""#)), "{}", page.body);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");

    // The e-mail in any case.
    let reply = c
        .post(&w.path("/sign-in"), &[("csrf", &csrf), ("email", "Admin@ACME.example"), ("password", ADMIN_PASSWORD)])
        .await;
    reply.assert_see_other(&format!("{BASE}/"));
    let session = reply.set_cookie(&session_cookie_name(&w.tenant)).expect("a session cookie");
    let attrs: Vec<&str> = session.split(';').map(str::trim).skip(1).collect();
    assert_eq!(attrs, ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"], "{session}");
    let value = c.session_cookie(&w.tenant).unwrap();
    assert_eq!(value.len(), 43);
    assert!(reply.set_cookie("caretaker_signin").unwrap().contains("Max-Age=0"), "the sign-in cookie is cleared");
    assert!(!c.jar.contains_key("caretaker_signin"));

    // One session, stored as a hash only.
    assert_eq!(w.sessions_of(w.admin).await, 1);
    assert_eq!(w.t.count(&format!("sessions WHERE id_hash = '{value}'")).await, 0);

    let home = c.get(&format!("{BASE}/")).await;
    home.assert_status(StatusCode::OK);
    assert!(home.body.contains("Welcome, Administrator"), "{}", home.body);
    assert!(home.body.contains(ADMIN_EMAIL));
    assert_eq!(hidden_csrf(&home.body).len(), 43, "signed-in pages carry the session's CSRF token");
    // Without the trailing slash, and with the tenant's name in another case.
    c.get(BASE).await.assert_status(StatusCode::OK);
    c.get("/t/ACME%20FUEL/").await.assert_status(StatusCode::OK);

    let signed_in = w.audit_of("user.signed_in").await;
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].target.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(signed_in[0].actor_email.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(signed_in[0].source_address.as_deref(), Some(PEER));
}

async fn wrong_password_answers_401_with_the_form_again(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.client();
    let reply = c.sign_in(&w.base, ADMIN_EMAIL, "not the password at all").await;
    reply.assert_status(StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("The e-mail address or password is wrong."), "{}", reply.body);
    assert!(reply.body.contains(&format!(r#"value="{ADMIN_EMAIL}""#)), "the e-mail is kept: {}", reply.body);
    let csrf = hidden_csrf(&reply.body);
    assert_eq!(c.jar.get("caretaker_signin"), Some(&csrf), "the form again, with the same token");
    assert!(reply.set_cookie(&session_cookie_name(&w.tenant)).is_none());
    assert!(!reply.body.contains(ADMIN_PASSWORD));

    // An unknown e-mail reads the same.
    let unknown = c.sign_in(&w.base, "nobody@acme.example", ADMIN_PASSWORD).await;
    unknown.assert_status(StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("The e-mail address or password is wrong."));
    assert_eq!(w.t.count("sessions").await, 0);

    let failed = w.audit_of("user.sign_in_failed").await;
    let targets: Vec<_> = failed.iter().map(|e| e.target.as_deref().unwrap()).collect();
    assert_eq!(targets, ["nobody@acme.example", ADMIN_EMAIL]);

    // The re-shown form works (with the token of the latest form: each GET of the sign-in
    // page sets a new cookie).
    let csrf = hidden_csrf(&unknown.body);
    assert_eq!(c.jar.get("caretaker_signin"), Some(&csrf));
    let reply =
        c.post(&w.path("/sign-in"), &[("csrf", &csrf), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    reply.assert_see_other(&w.path("/"));
}

async fn sign_in_without_its_csrf_cookie_and_field_is_forbidden(t: TestDb) {
    let w = World::new(t).await;
    let before = w.snapshot().await;
    let credentials = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let path = w.path("/sign-in");

    // Neither cookie nor field.
    let mut c = w.client();
    c.post(&path, &credentials).await.assert_status(StatusCode::FORBIDDEN);
    // A field but no cookie (a cross-site form cannot set the cookie).
    let token = "x".repeat(43);
    c.post(&path, &[("csrf", &token), credentials[0], credentials[1]]).await.assert_status(StatusCode::FORBIDDEN);
    // The cookie but no field, and a field that differs from the cookie.
    c.get(&path).await.assert_status(StatusCode::OK);
    assert!(c.jar.contains_key("caretaker_signin"));
    c.post(&path, &credentials).await.assert_status(StatusCode::FORBIDDEN);
    c.post(&path, &[("csrf", &token), credentials[0], credentials[1]]).await.assert_status(StatusCode::FORBIDDEN);
    // An empty cookie and an empty field do not match each other.
    c.jar.insert("caretaker_signin".into(), String::new());
    c.post(&path, &[("csrf", ""), credentials[0], credentials[1]]).await.assert_status(StatusCode::FORBIDDEN);

    assert_eq!(w.snapshot().await, before, "no session, no audit entry, no throttle count");
}

async fn five_failures_lock_the_account_with_retry_after(t: TestDb) {
    let w = World::new(t).await;
    let other = w.user(&w.tenant, "other@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.client();
    for i in 0..5 {
        let reply = c.sign_in(&w.base, ADMIN_EMAIL, &format!("wrong password number {i}")).await;
        reply.assert_status(StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, in any case of the e-mail.
    for email in [ADMIN_EMAIL, "ADMIN@acme.example"] {
        let locked = c.sign_in(&w.base, email, ADMIN_PASSWORD).await;
        locked.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(locked.headers[header::RETRY_AFTER], "900");
        assert!(locked.body.contains("Too many failed sign-ins. Try again in 15 minute(s)."), "{}", locked.body);
        assert!(locked.set_cookie(&session_cookie_name(&w.tenant)).is_none());
    }
    assert_eq!(w.sessions_of(w.admin).await, 0);
    let failed = w.audit_of("user.sign_in_failed").await;
    assert_eq!(failed.len(), 5, "a throttled attempt is not checked at all");
    assert_eq!(failed[0].detail, "sign-ins blocked for a while");

    // Other accounts are not locked.
    w.signed_in("other@acme.example", PASSWORD).await;
    assert_eq!(w.sessions_of(other).await, 1);

    // Later, the time is up.
    w.t.clock.advance_seconds(600);
    let still = c.sign_in(&w.base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    still.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(still.headers[header::RETRY_AFTER], "300");
    w.t.clock.advance_seconds(301);
    c.sign_in(&w.base, ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_see_other(&w.path("/"));
}

#[tokio::test]
async fn unknown_tenants_are_not_found_and_the_landing_page_leads_to_sign_in() {
    let w = World::new(TestDb::sqlite().await).await;
    let mut c = w.client();
    for path in ["/t/Nobody/sign-in", "/t/Nobody/", "/t/Nobody", "/t/Nobody/system/users", "/t/Nobody/account"] {
        c.get(path).await.assert_status(StatusCode::NOT_FOUND);
    }
    let fields = [("csrf", "x"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    c.post("/t/Nobody/sign-in", &fields).await.assert_status(StatusCode::NOT_FOUND);
    c.post("/t/Nobody/set-password/abc", &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert!(c.jar.is_empty(), "an unknown tenant sets no cookie");

    let landing = c.get("/").await;
    landing.assert_status(StatusCode::OK);
    assert!(landing.body.contains(r#"name="tenant""#));
    c.get("/?tenant=Acme+Fuel").await.assert_see_other(&format!("{BASE}/sign-in"));
    c.get("/assets/app.css").await.assert_status(StatusCode::OK);
    c.get("/assets/app.js").await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn an_https_public_url_makes_cookies_secure_and_links_absolute() {
    let t = TestDb::sqlite().await;
    let mut w = World::new(t).await;
    w.state = w.state.clone().with_public_base_url(Some("https://maint.example.com".into()));
    let mut c = w.client();
    let page = c.get(&w.path("/sign-in")).await;
    assert!(page.set_cookie("caretaker_signin").unwrap().ends_with("; Secure"));
    let csrf = hidden_csrf(&page.body);
    let reply =
        c.post(&w.path("/sign-in"), &[("csrf", &csrf), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    reply.assert_see_other(&w.path("/"));
    assert!(reply.set_cookie(&session_cookie_name(&w.tenant)).unwrap().ends_with("; Secure"));

    c.read_csrf(&w.path("/")).await;
    let created = c
        .submit(
            &w.path("/system/users/new"),
            &user_form("New Person", "new@acme.example", "Management", "all", &["Management User"]),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    let link = the_link(&created.body);
    assert!(link.starts_with(&format!("https://maint.example.com{BASE}/set-password/")), "{link}");
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

async fn a_session_is_dead_after_sign_out_and_after_its_time(t: TestDb) {
    let w = World::new(t).await;
    // No cookie at all: every page sends to sign-in.
    let mut stranger = w.client();
    for path in ["/", "/account", "/system/users", "/manage/contractors"] {
        stranger.get(&w.path(path)).await.assert_see_other(&w.path("/sign-in"));
    }

    let mut c = w.admin_client().await;
    let name = session_cookie_name(&w.tenant);
    let old = c.session_cookie(&w.tenant).unwrap();
    let csrf = c.csrf.clone();
    let reply = c.submit(&w.path("/sign-out"), &[]).await;
    reply.assert_see_other(&w.path("/sign-in"));
    assert!(reply.set_cookie(&name).unwrap().contains("Max-Age=0"));
    assert!(c.session_cookie(&w.tenant).is_none());
    assert_eq!(w.t.count("sessions").await, 0);
    assert_eq!(w.audit_of("user.signed_out").await.len(), 1);

    // The old cookie, replayed, opens nothing; not even with its CSRF token.
    c.jar.insert(name.clone(), old);
    c.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));
    c.get(&w.path("/system/users")).await.assert_see_other(&w.path("/sign-in"));
    let before = w.snapshot().await;
    let fields = user_form("Ghost", "ghost@acme.example", "Management", "all", &[]);
    let mut with_csrf = vec![("csrf", csrf.as_str())];
    with_csrf.extend(fields);
    c.post(&w.path("/system/users/new"), &with_csrf).await.assert_see_other(&w.path("/sign-in"));
    c.post(&w.path("/sign-out"), &[("csrf", &csrf)]).await.assert_see_other(&w.path("/sign-in"));
    assert_eq!(w.snapshot().await, before);

    // Idle for an hour: dead.
    let mut c = w.admin_client().await;
    w.t.clock.advance_seconds(3599);
    c.get(&w.path("/")).await.assert_status(StatusCode::OK);
    w.t.clock.advance_seconds(3599);
    c.get(&w.path("/")).await.assert_status(StatusCode::OK);
    w.t.clock.advance_seconds(3600);
    c.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));

    // Busy for twelve hours: dead too.
    let mut c = w.admin_client().await;
    for _ in 0..14 {
        w.t.clock.advance_seconds(3000);
        c.get(&w.path("/")).await.assert_status(StatusCode::OK);
    }
    w.t.clock.advance_seconds(3000); // 45,000 s > 12 h
    c.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));
}

async fn a_generated_password_must_be_changed_before_anything_else(t: TestDb) {
    let w = World::new(t).await;
    let (globex, boss, generated) = create_tenant(w.app(), &w.t, "Globex", "boss@globex.example", None).await;
    let generated = generated.expect("a generated password");
    let base = tenant_path("Globex");
    let mut c = w.client();
    let reply = c.sign_in(&base, "boss@globex.example", generated.expose_secret()).await;
    reply.assert_see_other(&format!("{base}/account/password"));
    assert!(c.session_cookie(&globex).is_some());

    for path in ["/", "", "/account", "/system/users", "/system/users/new", "/system/audit-log", "/manage/contractors"]
    {
        c.get(&format!("{base}{path}")).await.assert_see_other(&format!("{base}/account/password"));
    }
    let page = c.get(&format!("{base}/account/password")).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains("Choose a new password before you continue."));
    c.csrf = hidden_csrf(&page.body);

    // Forms elsewhere are not processed either.
    let before = w.snapshot().await;
    c.submit(
        &format!("{base}/system/users/new"),
        &user_form("Early Bird", "early@globex.example", "Management", "all", &["Management User"]),
    )
    .await
    .assert_see_other(&format!("{base}/account/password"));
    assert_eq!(w.snapshot().await, before);

    let path = format!("{base}/account/password");
    let wrong =
        c.submit(&path, &[("current", "not it at all"), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)]).await;
    wrong.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&wrong.body), ["BrokenRule_User_WrongPassword"]);
    let bad =
        c.submit(&path, &[("current", generated.expose_secret()), ("password", "short"), ("confirm", "other")]).await;
    bad.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&bad.body), ["BrokenRule_User_PasswordTooShort", "BrokenRule_User_PasswordsDiffer"]);
    assert_eq!(w.snapshot().await, before);

    let done = c
        .submit(&path, &[("current", generated.expose_secret()), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)])
        .await;
    done.assert_see_other(&format!("{base}/"));
    let stored = users::get(&mut *w.t.conn().await, globex.id, boss).await.unwrap().unwrap();
    assert!(!stored.must_change_password);
    c.get(&format!("{base}/")).await.assert_status(StatusCode::OK);
    c.get(&format!("{base}/system/users")).await.assert_status(StatusCode::OK);

    let mut fresh = w.client();
    fresh
        .sign_in(&base, "boss@globex.example", generated.expose_secret())
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    fresh.sign_in(&base, "boss@globex.example", NEW_PASSWORD).await.assert_see_other(&format!("{base}/"));
    let log = audit::recent(&w.t.db, globex.id, 100).await.unwrap();
    assert!(log.iter().any(|e| e.action == "user.password_changed"), "{log:?}");
}

// ---------------------------------------------------------------------------------------
// Who may see and do what
// ---------------------------------------------------------------------------------------

/// The ids the administrative requests act on.
struct Targets {
    user: UserId,
    dormant: UserId,
    contractor: ContractorId,
    package: RolePackageId,
}

async fn targets(w: &World) -> Targets {
    let contractor = w.contractor(&w.tenant, "Pipe Works", "PIPES").await;
    let user = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let dormant = w.user(&w.tenant, "dormant@acme.example", UserType::Management, None, &["Management User"]).await;
    w.disable(&w.tenant, dormant).await;
    let package = w.package_id(&w.tenant, "Read Only").await;
    Targets { user, dormant, contractor, package }
}

/// Form fields that own their values.
type OwnedForm = Vec<(&'static str, String)>;

/// One administrative request: method, path, form fields, and whether `contractors.read`
/// alone is enough for it.
type AdminRequest = (Method, String, OwnedForm, bool);

/// Every administrative page and action.
fn admin_requests(base: &str, ids: &Targets) -> Vec<AdminRequest> {
    let s = |v: &str| v.to_owned();
    let user = ids.user.0;
    let contractor = ids.contractor.0;
    let create_user = vec![
        ("name", s("Sneaky")),
        ("email", s("sneaky@acme.example")),
        ("user_type", s("Management")),
        ("site_access", s("all")),
        ("role_packages", s("Administrator")),
    ];
    let edit_user = vec![
        ("name", s("Renamed")),
        ("email", s("target@acme.example")),
        ("user_type", s("Management")),
        ("site_access", s("all")),
        ("role_packages", s("Management User")),
        ("role_packages", s("Administrator")),
    ];
    vec![
        (Method::GET, format!("{base}/system/users"), vec![], false),
        (Method::GET, format!("{base}/system/users?q=target&status=Active"), vec![], false),
        (Method::GET, format!("{base}/system/users/new"), vec![], false),
        (Method::POST, format!("{base}/system/users/new"), create_user, false),
        (Method::GET, format!("{base}/system/users/{user}"), vec![], false),
        (Method::POST, format!("{base}/system/users/{user}"), edit_user, false),
        (
            Method::POST,
            format!("{base}/system/users/operations"),
            vec![("action", s("disable")), ("user", user.to_string())],
            false,
        ),
        (
            Method::POST,
            format!("{base}/system/users/operations"),
            vec![("action", s("enable")), ("user", ids.dormant.0.to_string())],
            false,
        ),
        (
            Method::POST,
            format!("{base}/system/users/operations"),
            vec![("action", s("reset")), ("user", user.to_string())],
            false,
        ),
        (Method::GET, format!("{base}/system/role-packages"), vec![], false),
        (Method::GET, format!("{base}/system/role-packages/new"), vec![], false),
        (
            Method::POST,
            format!("{base}/system/role-packages/new"),
            vec![("name", s("Sneaky")), ("permission", s("users.write"))],
            false,
        ),
        (Method::GET, format!("{base}/system/role-packages/{}", ids.package.0), vec![], false),
        (Method::GET, format!("{base}/system/audit-log"), vec![], false),
        (Method::GET, format!("{base}/system/audit-log?action=user."), vec![], false),
        (Method::GET, format!("{base}/manage/contractors"), vec![], true),
        (Method::GET, format!("{base}/manage/contractors/new"), vec![], false),
        (
            Method::POST,
            format!("{base}/manage/contractors/new"),
            vec![("name", s("Sneaky Ltd")), ("code", s("SNEAKY"))],
            false,
        ),
        (Method::GET, format!("{base}/manage/contractors/{contractor}"), vec![], true),
        (Method::GET, format!("{base}/manage/contractors/{contractor}?tab=users"), vec![], true),
        (Method::GET, format!("{base}/manage/contractors/{contractor}/users/new"), vec![], false),
        (
            Method::POST,
            format!("{base}/manage/contractors/{contractor}/users/new"),
            vec![("name", s("Sneaky")), ("email", s("sneaky@acme.example")), ("role_packages", s("Contractor User"))],
            false,
        ),
    ]
}

/// Sends every administrative request (with a valid CSRF token) and checks the answers:
/// 403, except the contractor pages when `reads_contractors`; nothing changes.
async fn assert_refused_everything(w: &World, c: &mut Client, ids: &Targets, reads_contractors: bool) {
    let before = w.snapshot().await;
    for (method, path, fields, contractors_read_suffices) in admin_requests(&w.base, ids) {
        let reply = if method == Method::POST {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.submit(&path, &fields).await
        } else {
            c.get(&path).await
        };
        let expected =
            if contractors_read_suffices && reads_contractors { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
        if expected == StatusCode::OK {
            assert!(!reply.body.contains(r#"id="op-create""#), "no Create for a reader: {path}");
            assert!(!reply.body.contains("sneaky"));
        }
        if path.ends_with("?tab=users") && expected == StatusCode::OK {
            assert!(reply.body.contains("Your role packages do not show users."));
        }
    }
    assert_eq!(w.snapshot().await, before, "refused calls changed nothing");
    let home = c.get(&w.path("/")).await;
    home.assert_status(StatusCode::OK);
    // The System menu may list the reference data (Matrices, ...) for those who read it,
    // but none of the administrative pages.
    for link in
        ["/system/users", "/system/role-packages", "/system/audit-log", "/system/api-credentials", "/system/settings"]
    {
        assert!(!home.body.contains(&format!(r#"href="{BASE}{link}""#)), "{link}");
    }
}

async fn administrative_pages_refuse_a_contractor_user(t: TestDb) {
    let w = World::new(t).await;
    let ids = targets(&w).await;
    w.user(&w.tenant, "fitter@pipes.example", UserType::Contractor, Some("PIPES"), &["Contractor User"]).await;
    let mut c = w.signed_in("fitter@pipes.example", PASSWORD).await;
    assert_refused_everything(&w, &mut c, &ids, false).await;
}

async fn administrative_pages_refuse_management_users_without_the_package(t: TestDb) {
    let w = World::new(t).await;
    let ids = targets(&w).await;
    // Management User reads contractors but administers nothing.
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.signed_in("manager@acme.example", PASSWORD).await;
    assert_refused_everything(&w, &mut c, &ids, true).await;
    // Invoicing does not even read contractors.
    w.user(&w.tenant, "clerk@acme.example", UserType::Management, None, &["Invoicing"]).await;
    let mut c = w.signed_in("clerk@acme.example", PASSWORD).await;
    assert_refused_everything(&w, &mut c, &ids, false).await;
}

async fn a_users_reader_sees_users_but_changes_nothing(t: TestDb) {
    let w = World::new(t).await;
    w.custom_package("User Readers", &["users.read"]).await;
    w.user(&w.tenant, "reader@acme.example", UserType::Management, None, &["User Readers"]).await;
    let target = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.signed_in("reader@acme.example", PASSWORD).await;

    let list = c.get(&w.path("/system/users")).await;
    list.assert_status(StatusCode::OK);
    assert!(has_row(&list.body, "target@acme.example") && has_row(&list.body, ADMIN_EMAIL));
    assert!(!list.body.contains(r#"id="operations""#), "no Operations menu for a reader");
    assert!(!list.body.contains(r#"name="user""#), "no selection boxes for a reader");
    let page = c.get(&w.path(&format!("/system/users/{}", target.0))).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains("Role packages: Management User"));
    assert!(!page.body.contains(r#"id="user-window""#), "read-only: no Edit User window");
    let packages = c.get(&w.path("/system/role-packages")).await;
    packages.assert_status(StatusCode::OK);
    assert!(!packages.body.contains(r#"id="op-create""#));

    let before = w.snapshot().await;
    c.get(&w.path("/system/users/new")).await.assert_status(StatusCode::FORBIDDEN);
    c.get(&w.path("/system/role-packages/new")).await.assert_status(StatusCode::FORBIDDEN);
    c.get(&w.path("/system/audit-log")).await.assert_status(StatusCode::FORBIDDEN);
    let edit = user_form("Renamed", "target@acme.example", "Management", "all", &["Management User"]);
    c.submit(&w.path(&format!("/system/users/{}", target.0)), &edit).await.assert_status(StatusCode::FORBIDDEN);
    let create = user_form("New", "new@acme.example", "Management", "all", &[]);
    c.submit(&w.path("/system/users/new"), &create).await.assert_status(StatusCode::FORBIDDEN);
    let id = target.0.to_string();
    for action in ["disable", "reset"] {
        let reply = c.submit(&w.path("/system/users/operations"), &[("action", action), ("user", &id)]).await;
        reply.assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn only_management_users_with_an_administrative_right_see_the_system_menu() {
    let w = World::new(TestDb::sqlite().await).await;
    w.contractor(&w.tenant, "Pipe Works", "PIPES").await;
    w.custom_package("Auditors", &["audit_log.read"]).await;
    // (e-mail, type, contractor, packages, sees the System menu)
    type Person<'a> = (&'a str, UserType, Option<&'a str>, &'a [&'a str], bool);
    let people: [Person<'_>; 6] = [
        // Never for Contractor and Site users, whatever they hold: their packages read the
        // reference data, and administrative packages are refused to them.
        ("fitter@pipes.example", UserType::Contractor, Some("PIPES"), &["Contractor User"], false),
        ("site@acme.example", UserType::Site, None, &["Site User"], false),
        // Management users who read the reference data see System > Matrices and the like.
        ("manager@acme.example", UserType::Management, None, &["Management User"], true),
        ("clerk@acme.example", UserType::Management, None, &["Invoicing"], false),
        ("auditor@acme.example", UserType::Management, None, &["Auditors"], true),
        ("second-admin@acme.example", UserType::Management, None, &["Administrator"], true),
    ];
    for (email, user_type, contractor, packages, sees) in people {
        w.user(&w.tenant, email, user_type, contractor, packages).await;
        let mut c = w.signed_in(email, PASSWORD).await;
        for path in ["/", "/account"] {
            let page = c.get(&w.path(path)).await;
            page.assert_status(StatusCode::OK);
            assert_eq!(sees_system_menu(&page.body), sees, "{email} on {path}");
        }
    }

    let mut admin = w.admin_client().await;
    let home = admin.get(&w.path("/")).await;
    assert!(sees_system_menu(&home.body));
    for link in [
        "/system/users",
        "/system/role-packages",
        "/system/audit-log",
        "/system/matrices",
        "/system/reference-lists",
        "/system/custom-fields",
        "/manage/sites",
        "/manage/assets",
        "/manage/companies",
        "/manage/contractors",
    ] {
        assert!(home.body.contains(&format!(r#"href="{BASE}{link}""#)), "{link}");
    }
    let mut manager = w.signed_in("manager@acme.example", PASSWORD).await;
    let home = manager.get(&w.path("/")).await;
    assert!(home.body.contains(&format!(r#"href="{BASE}/system/matrices""#)));
    assert!(!home.body.contains(&format!(r#"href="{BASE}/system/users""#)));
    let mut auditor = w.signed_in("auditor@acme.example", PASSWORD).await;
    let home = auditor.get(&w.path("/")).await;
    assert!(home.body.contains(&format!(r#"href="{BASE}/system/audit-log""#)));
    assert!(!home.body.contains(&format!(r#"href="{BASE}/system/users""#)));
    auditor.get(&w.path("/system/audit-log")).await.assert_status(StatusCode::OK);
    auditor.get(&w.path("/system/users")).await.assert_status(StatusCode::FORBIDDEN);
}

async fn cross_site_posts_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    let ids = targets(&w).await;
    let mut admin = w.admin_client().await;
    // A valid token, but of another session.
    let other = w.signed_in("target@acme.example", PASSWORD).await;
    let before = w.snapshot().await;

    let user = ids.user.0.to_string();
    let create = user_form("Forged", "forged@acme.example", "Management", "all", &["Administrator"]);
    let disable = vec![("action", "disable"), ("user", user.as_str())];
    let edit = user_form("Forged", "target@acme.example", "Management", "all", &["Administrator", "Management User"]);
    let profile = vec![("name", "Forged")];
    let password = vec![("current", ADMIN_PASSWORD), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)];
    let contractor = vec![("name", "Forged Ltd")];
    let package = vec![("name", "Forged"), ("permission", "users.write")];
    let contractor_user = vec![("name", "Forged"), ("email", "forged@acme.example")];
    let nothing: Vec<(&str, &str)> = Vec::new();
    let posts: Vec<(String, &[(&str, &str)])> = vec![
        (w.path("/system/users/new"), create.as_slice()),
        (w.path("/system/users/operations"), disable.as_slice()),
        (w.path("/sign-out"), nothing.as_slice()),
        (w.path(&format!("/system/users/{user}")), edit.as_slice()),
        (w.path("/account"), profile.as_slice()),
        (w.path("/account/password"), password.as_slice()),
        (w.path("/manage/contractors/new"), contractor.as_slice()),
        (w.path("/system/role-packages/new"), package.as_slice()),
        (w.path(&format!("/manage/contractors/{}/users/new", ids.contractor.0)), contractor_user.as_slice()),
    ];
    let forged = "A".repeat(43);
    for csrf in [None, Some(""), Some(forged.as_str()), Some(other.csrf.as_str())] {
        for (path, fields) in &posts {
            let mut all: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
            all.extend_from_slice(fields);
            let reply = admin.post(path, &all).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path} with csrf {csrf:?}: {}", reply.body);
        }
    }
    // The token in the query string instead of the form does not count either.
    let reply = admin.post(&format!("{}?csrf={}", w.path("/system/users/new"), admin.csrf), &create).await;
    reply.assert_status(StatusCode::FORBIDDEN);

    assert_eq!(w.snapshot().await, before, "forged posts changed nothing");
    admin.get(&w.path("/")).await.assert_status(StatusCode::OK);
    // The real token still works.
    admin.submit(&w.path("/system/users/new"), &create).await.assert_status(StatusCode::CREATED);
}

async fn another_tenants_ids_are_not_found(t: TestDb) {
    let w = World::new(t).await;
    let ours = w.user(&w.tenant, "ours@acme.example", UserType::Management, None, &["Management User"]).await;
    let (globex, globex_admin) = w.other_tenant("Globex", "boss@globex.example").await;
    let theirs = w.user(&globex, "worker@globex.example", UserType::Management, None, &["Management User"]).await;
    let their_contractor = w.contractor(&globex, "Globex Pipes", "PIPES").await;
    let their_package = w.package_id(&globex, "Read Only").await;
    let mut c = w.admin_client().await;
    let before = w.snapshot().await;

    for id in [theirs, globex_admin, UserId(999_999)] {
        c.get(&w.path(&format!("/system/users/{}", id.0))).await.assert_status(StatusCode::NOT_FOUND);
        let edit = user_form("Taken Over", "worker@globex.example", "Management", "all", &["Management User"]);
        c.submit(&w.path(&format!("/system/users/{}", id.0)), &edit).await.assert_status(StatusCode::NOT_FOUND);
        for action in ["disable", "enable", "reset"] {
            let id = id.0.to_string();
            let reply = c.submit(&w.path("/system/users/operations"), &[("action", action), ("user", &id)]).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{action}: {}", reply.body);
        }
    }
    // One of ours and one of theirs together: all or nothing.
    let (ours_text, theirs_text) = (ours.0.to_string(), theirs.0.to_string());
    for action in ["disable", "reset"] {
        let both = [("action", action), ("user", ours_text.as_str()), ("user", theirs_text.as_str())];
        let reply = c.submit(&w.path("/system/users/operations"), &both).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{action}: {}", reply.body);
    }

    let contractor = their_contractor.0;
    for path in [
        format!("/manage/contractors/{contractor}"),
        format!("/manage/contractors/{contractor}?tab=users"),
        format!("/manage/contractors/{contractor}/users/new"),
        format!("/system/role-packages/{}", their_package.0),
    ] {
        c.get(&w.path(&path)).await.assert_status(StatusCode::NOT_FOUND);
    }
    let fields = [("name", "Planted"), ("email", "planted@globex.example"), ("role_packages", "Contractor User")];
    c.submit(&w.path(&format!("/manage/contractors/{contractor}/users/new")), &fields)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.snapshot().await, before, "nothing changed in either tenant");
    assert_eq!(w.stored(ours).await.status, UserStatus::Active);

    // Our session under their cookie name opens nothing there.
    let mut intruder = w.client();
    intruder.jar.insert(session_cookie_name(&globex), c.session_cookie(&w.tenant).unwrap());
    intruder.get("/t/Globex/system/users").await.assert_see_other("/t/Globex/sign-in");
    intruder.get("/t/Globex/").await.assert_see_other("/t/Globex/sign-in");
}

async fn an_administrator_cannot_grant_themselves_rest_api(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let own = w.path(&format!("/system/users/{}", w.admin.0));
    let page = c.get(&own).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains("Edit User"));
    let before = w.snapshot().await;

    let grant =
        user_form("Administrator", ADMIN_EMAIL, "Management", "all", &["Administrator", "Management User", "REST API"]);
    let reply = c.submit(&own, &grant).await;
    reply.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_CannotChangeOwnRolePackages"]);
    assert!(reply.body.contains("Edit User"), "the window again");
    // Nor drop their own Administrator.
    let drop = user_form("Administrator", ADMIN_EMAIL, "Management", "all", &["Management User"]);
    c.submit(&own, &drop).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(w.snapshot().await, before);
    assert_eq!(w.stored(w.admin).await.role_packages, ["Administrator", "Management User"]);

    // Their own details with the same packages are fine.
    let rename = user_form("The Boss", ADMIN_EMAIL, "Management", "all", &["Administrator", "Management User"]);
    c.submit(&own, &rename).await.assert_see_other(&w.path("/system/users?done=saved"));
    let stored = w.stored(w.admin).await;
    assert_eq!((stored.name.as_str(), stored.role_packages.len()), ("The Boss", 2));
}

async fn a_user_manager_without_administrator_cannot_grant_privileged_packages(t: TestDb) {
    let w = World::new(t).await;
    w.custom_package("User Managers", &["users.read", "users.write"]).await;
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User", "User Managers"]).await;
    let target = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.signed_in("manager@acme.example", PASSWORD).await;
    let home = c.get(&w.path("/")).await;
    assert!(sees_system_menu(&home.body));
    let before = w.snapshot().await;

    let new = w.path("/system/users/new");
    let api = user_form("Robot", "robot@acme.example", "Management", "all", &["REST API", "Management User"]);
    let reply = c.submit(&new, &api).await;
    reply.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_PrivilegedRolePackage"]);
    let admin = user_form("Usurper", "usurper@acme.example", "Management", "all", &["Administrator"]);
    c.submit(&new, &admin).await.assert_status(StatusCode::FORBIDDEN);

    let edit = w.path(&format!("/system/users/{}", target.0));
    let api = user_form("target", "target@acme.example", "Management", "all", &["Management User", "REST API"]);
    let reply = c.submit(&edit, &api).await;
    reply.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_PrivilegedRolePackage"]);
    let more = user_form("target", "target@acme.example", "Management", "all", &["Management User", "Invoicing"]);
    let reply = c.submit(&edit, &more).await;
    reply.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_RolePackageExceedsOwnRights"]);

    // An Administrator is out of reach altogether.
    let admin_id = w.admin.0.to_string();
    for action in ["disable", "reset"] {
        let reply = c.submit(&w.path("/system/users/operations"), &[("action", action), ("user", &admin_id)]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{action}: {}", reply.body);
    }
    let rename = user_form("Renamed", ADMIN_EMAIL, "Management", "all", &["Administrator", "Management User"]);
    let reply = c.submit(&w.path(&format!("/system/users/{}", w.admin.0)), &rename).await;
    reply.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_PrivilegedUser"]);
    assert_eq!(w.snapshot().await, before, "refusals changed nothing");

    // What they hold themselves they may give.
    let fine = user_form("Helper", "helper@acme.example", "Management", "all", &["Management User", "User Managers"]);
    c.submit(&new, &fine).await.assert_status(StatusCode::CREATED);
    assert_eq!(w.find("helper@acme.example").await.unwrap().role_packages, ["Management User", "User Managers"]);
}

// ---------------------------------------------------------------------------------------
// Creating users
// ---------------------------------------------------------------------------------------

async fn creating_a_management_user_gives_a_one_time_set_password_link(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let window = c.get(&w.path("/system/users/new")).await;
    window.assert_status(StatusCode::OK);
    assert!(window.body.contains("Create User"));
    assert!(window.body.contains(r#"id="available""#) && window.body.contains(r#"id="selected""#));
    assert!(window.body.contains(r#"<option value="REST API""#), "REST API is offered to an Administrator");

    let mut fields =
        user_form("Integration Robot", "Robot@Acme.example", "Management", "all", &["REST API", "Management User"]);
    fields.push(("is_integration", "on"));
    let created = c.submit(&w.path("/system/users/new"), &fields).await;
    created.assert_status(StatusCode::CREATED);
    assert!(created.body.contains("User created"));
    assert!(created.body.contains(r#"id="set-password-link""#), "{}", created.body);
    let link = the_link(&created.body);
    assert!(link.starts_with(&format!("{BASE}/set-password/")), "{link}");

    let user = w.find("robot@acme.example").await.expect("the user is stored");
    assert_eq!(user.email, "Robot@Acme.example");
    assert_eq!(user.name, "Integration Robot");
    assert_eq!(user.user_type, UserType::Management);
    assert_eq!(user.status, UserStatus::Invited);
    assert!(user.is_integration);
    assert_eq!(user.site_access, "all");
    assert_eq!(user.role_packages, ["Management User", "REST API"]);
    assert_eq!(w.t.count(&format!("user_role_packages WHERE user_id = {}", user.id.0)).await, 2);
    assert_eq!(users::password_hash(w.t.db.read(), user.id).await.unwrap(), None);

    // The list shows the invitation.
    let list = c.get(&w.path("/system/users")).await;
    assert!(has_row(&list.body, "Robot@Acme.example"));

    // Not yet able to sign in.
    w.client().sign_in(&w.base, "robot@acme.example", NEW_PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);

    // The link: its form, a refused attempt (the link survives it), then once only.
    let mut visitor = w.client();
    let form = visitor.get(&link).await;
    form.assert_status(StatusCode::OK);
    assert!(form.body.contains("Set your password"));
    assert_eq!(form.headers[header::REFERRER_POLICY], "no-referrer");
    let differ = visitor.post(&link, &[("password", NEW_PASSWORD), ("confirm", "something else entirely")]).await;
    differ.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&differ.body), ["BrokenRule_User_PasswordsDiffer"]);
    let short = visitor.post(&link, &[("password", "short"), ("confirm", "short")]).await;
    short.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&short.body), ["BrokenRule_User_PasswordTooShort"]);
    assert_eq!(w.find("robot@acme.example").await.unwrap().status, UserStatus::Invited);

    let set = visitor.post(&link, &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)]).await;
    set.assert_status(StatusCode::OK);
    assert!(set.body.contains("Password set"));
    assert!(visitor.jar.is_empty(), "a set-password link signs nobody in");
    let user = w.find("robot@acme.example").await.unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert!(!user.must_change_password);

    let before = w.snapshot().await;
    let again = [("password", "yet another long password"), ("confirm", "yet another long password")];
    visitor.post(&link, &again).await.assert_status(StatusCode::NOT_FOUND);
    visitor.get(&link).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.snapshot().await, before);

    let mut robot = w.signed_in("robot@acme.example", NEW_PASSWORD).await;
    let home = robot.get(&w.path("/")).await;
    assert!(home.body.contains("Welcome, Integration Robot"));
    assert!(home.body.contains("Management User, REST API"));

    let created = w.audit_of("user.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].target.as_deref(), Some("Robot@Acme.example"));
    assert_eq!(created[0].actor_email.as_deref(), Some(ADMIN_EMAIL));
    let granted: Vec<_> = w.audit_of("user.package_granted").await.into_iter().map(|e| e.detail).collect();
    assert_eq!(granted.len(), 2);
    assert!(granted.contains(&"REST API".to_owned()) && granted.contains(&"Management User".to_owned()));
    assert_eq!(w.audit_of("user.password_set").await.len(), 1);
}

async fn creating_a_contractor_user_from_the_contractor_page(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;

    // The contractor, through its own window.
    let window = c.get(&w.path("/manage/contractors/new")).await;
    window.assert_status(StatusCode::OK);
    let made = c.submit(&w.path("/manage/contractors/new"), &[("name", "Pipe Works Ltd"), ("email", "")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let page = made.location().to_owned();
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(page, w.path(&format!("/manage/contractors/{id}")));
    let contractor = contractors::get(w.t.db.read(), w.tenant.id, ContractorId(id)).await.unwrap().unwrap();
    assert_eq!(contractor.code, "PIPE-WORKS-LTD");
    let details = c.get(&page).await;
    details.assert_status(StatusCode::OK);
    assert!(details.body.contains("PIPE-WORKS-LTD"));

    let users_tab = format!("{page}?tab=users");
    let empty = c.get(&users_tab).await;
    empty.assert_status(StatusCode::OK);
    assert!(empty.body.contains("No users yet."));
    assert!(empty.body.contains(&format!(r#"href="{page}/users/new""#)));

    let window = c.get(&format!("{page}/users/new")).await;
    window.assert_status(StatusCode::OK);
    assert!(window.body.contains(r#"id="fixed-contractor""#));
    assert!(window.body.contains(&format!(r#"action="{page}/users/new""#)));

    // The contractor is fixed by the page, whatever the form says.
    let fields = [
        ("name", "Fitter One"),
        ("email", "fitter@pipes.example"),
        ("user_type", "Management"),
        ("contractor", ""),
        ("site_access", "none"),
        ("role_packages", "Contractor User"),
    ];
    let created = c.submit(&format!("{page}/users/new"), &fields).await;
    created.assert_status(StatusCode::CREATED);
    assert!(created.body.contains(&format!(r#"href="{users_tab}""#)), "a way back to the contractor");
    the_link(&created.body);

    let user = w.find("fitter@pipes.example").await.unwrap();
    assert_eq!(user.user_type, UserType::Contractor);
    assert_eq!(user.contractor, Some(ContractorId(id)));
    assert_eq!(user.contractor_code.as_deref(), Some("PIPE-WORKS-LTD"));
    assert_eq!(user.role_packages, ["Contractor User"]);
    assert_eq!(user.status, UserStatus::Invited);

    let tab = c.get(&users_tab).await;
    tab.assert_status(StatusCode::OK);
    assert!(has_row(&tab.body, "fitter@pipes.example"), "{}", tab.body);
    assert!(!has_row(&tab.body, ADMIN_EMAIL));
    let details = c.get(&page).await;
    assert!(!has_row(&details.body, "fitter@pipes.example"), "the Details tab lists no users");
    let list = c.get(&w.path("/system/users?type=Contractor")).await;
    assert!(has_row(&list.body, "fitter@pipes.example"));
    assert!(!has_row(&list.body, ADMIN_EMAIL));

    // A refused contractor user shows the fixed window again.
    let before = w.snapshot().await;
    let refused = c.submit(&format!("{page}/users/new"), &[("name", ""), ("email", "fitter2@pipes.example")]).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&refused.body), ["BrokenRule_User_MissingName"]);
    assert!(refused.body.contains(r#"id="fixed-contractor""#));
    assert!(refused.body.contains(&format!(r#"action="{page}/users/new""#)));
    assert_eq!(w.snapshot().await, before);
}

async fn refused_create_user_windows_show_the_rules_and_write_nothing(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let new = w.path("/system/users/new");
    let before = w.snapshot().await;

    let reply = c.submit(&new, &user_form("", "not-an-email", "Management", "all", &["Management User"])).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_InvalidEmail", "BrokenRule_User_MissingName"]);
    assert!(reply.body.contains("Create User"), "the window again");
    assert!(reply.body.contains(r#"value="not-an-email""#), "what was typed is kept");
    let selected = format!(
        r#"<option value="Management User" title="{}" selected>"#,
        BuiltinPackage::ManagementUser.description()
    );
    assert!(reply.body.contains(&selected), "the chosen packages stay selected: {}", reply.body);
    assert_eq!(w.snapshot().await, before);

    let reply =
        c.submit(&new, &user_form("Someone", "someone@acme.example", "Janitor", "all", &["No Such Package"])).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_InvalidUserType", "BrokenRule_User_UnknownRolePackage"]);
    let reply = c.submit(&new, &user_form("Fitter", "fitter@acme.example", "Contractor", "none", &[])).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_MissingContractor"]);
    let reply =
        c.submit(&new, &user_form("Site", "site@acme.example", "Site", "all", &["Site User", "REST API"])).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_RestApiNotForSiteUsers"]);
    assert_eq!(w.snapshot().await, before);

    // The same e-mail in another case.
    let reply = c.submit(&new, &user_form("Twin", "ADMIN@acme.example", "Management", "all", &[])).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_DuplicateEmail"]);
    assert!(reply.body.contains("Create User"));
    assert_eq!(w.snapshot().await, before, "the refused user left nothing behind");

    // And the same on a second, real user.
    c.submit(&new, &user_form("First", "first@acme.example", "Management", "all", &[]))
        .await
        .assert_status(StatusCode::CREATED);
    let after_first = w.snapshot().await;
    c.submit(&new, &user_form("Second", "First@Acme.Example", "Management", "all", &["Management User"]))
        .await
        .assert_status(StatusCode::CONFLICT);
    assert_eq!(w.snapshot().await, after_first);
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

async fn disabling_ends_the_users_sessions_and_enabling_lets_them_back(t: TestDb) {
    let w = World::new(t).await;
    let target = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut theirs = w.signed_in("target@acme.example", PASSWORD).await;
    let mut c = w.admin_client().await;
    let ops = w.path("/system/users/operations");
    let id = target.0.to_string();

    // Nothing selected.
    c.submit(&ops, &[("action", "disable")]).await.assert_see_other(&w.path("/system/users?done=nothing+selected"));
    c.submit(&ops, &[("action", "explode"), ("user", &id)]).await.assert_status(StatusCode::BAD_REQUEST);
    c.submit(&ops, &[("action", "disable"), ("user", "abc")]).await.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(w.stored(target).await.status, UserStatus::Active);

    let reply = c.submit(&ops, &[("action", "disable"), ("user", &id)]).await;
    reply.assert_see_other(&w.path("/system/users?done=disabled"));
    assert_eq!(w.stored(target).await.status, UserStatus::Disabled);
    assert_eq!(w.sessions_of(target).await, 0);
    theirs.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));
    theirs.submit(&w.path("/account"), &[("name", "Still Here")]).await.assert_see_other(&w.path("/sign-in"));
    w.client().sign_in(&w.base, "target@acme.example", PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);

    let list = c.get(&w.path("/system/users?status=Disabled&done=disabled")).await;
    assert!(list.body.contains("Done: disabled."));
    assert!(has_row(&list.body, "target@acme.example"));
    assert!(!has_row(&list.body, ADMIN_EMAIL));

    let disabled = w.audit_of("user.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].target.as_deref(), Some("target@acme.example"));
    assert_eq!(disabled[0].actor_email.as_deref(), Some(ADMIN_EMAIL));
    let page = c.get(&w.path("/system/audit-log?action=user.disabled")).await;
    assert_eq!(audit_rows(&page.body), ["user.disabled"]);
    assert!(page.body.contains("target@acme.example"));

    // Nobody disables themselves.
    let before = w.snapshot().await;
    let own = w.admin.0.to_string();
    let reply = c.submit(&ops, &[("action", "disable"), ("user", &own)]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_CannotDisableSelf"]);
    assert_eq!(w.snapshot().await, before);

    c.submit(&ops, &[("action", "enable"), ("user", &id)])
        .await
        .assert_see_other(&w.path("/system/users?done=enabled"));
    assert_eq!(w.stored(target).await.status, UserStatus::Active);
    assert_eq!(w.audit_of("user.enabled").await.len(), 1);
    w.signed_in("target@acme.example", PASSWORD).await;
}

async fn reset_password_shows_a_new_link_that_replaces_the_password(t: TestDb) {
    let w = World::new(t).await;
    let first = w.user(&w.tenant, "first@acme.example", UserType::Management, None, &["Management User"]).await;
    let second = w.user(&w.tenant, "second@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.admin_client().await;
    let ops = w.path("/system/users/operations");
    let (a, b) = (first.0.to_string(), second.0.to_string());
    let reply = c.submit(&ops, &[("action", "reset"), ("user", &a), ("user", &b)]).await;
    reply.assert_status(StatusCode::OK);
    assert!(reply.body.contains("Set-password links"));
    assert!(reply.body.contains("first@acme.example") && reply.body.contains("second@acme.example"));
    let links = set_password_links(&reply.body);
    assert_eq!(links.len(), 2, "{}", reply.body);
    assert!(links.iter().all(|l| l.starts_with(&format!("{BASE}/set-password/"))), "{links:?}");
    let (first_link, second_link) = (links[0].clone(), links[1].clone());
    let reset = w.audit_of("user.password_reset").await;
    assert_eq!(reset.len(), 2);
    assert_eq!(reset[0].target.as_deref(), Some("second@acme.example"));
    assert_eq!(reset[1].target.as_deref(), Some("first@acme.example"));
    // The old password works until a link is used.
    let mut old_session = w.signed_in("first@acme.example", PASSWORD).await;

    // Another reset: the earlier link stops working.
    let reply = c.submit(&ops, &[("action", "reset"), ("user", &a)]).await;
    reply.assert_status(StatusCode::OK);
    let newer = the_link(&reply.body);
    assert_ne!(newer, first_link);
    let mut visitor = w.client();
    visitor.get(&first_link).await.assert_status(StatusCode::NOT_FOUND);
    let fields = [("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)];
    visitor.post(&first_link, &fields).await.assert_status(StatusCode::NOT_FOUND);

    visitor.get(&newer).await.assert_status(StatusCode::OK);
    visitor.post(&newer, &fields).await.assert_status(StatusCode::OK);
    assert_eq!(w.sessions_of(first).await, 0, "setting a password ends the user's sessions");
    old_session.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));
    w.client().sign_in(&w.base, "first@acme.example", PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);
    w.signed_in("first@acme.example", NEW_PASSWORD).await;
    visitor.post(&newer, &fields).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.stored(first).await.status, UserStatus::Active);

    // A disabled user's link does nothing.
    w.disable(&w.tenant, second).await;
    let before = w.snapshot().await;
    visitor.get(&second_link).await.assert_status(StatusCode::NOT_FOUND);
    visitor.post(&second_link, &fields).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.snapshot().await, before);
    assert_eq!(w.stored(second).await.status, UserStatus::Disabled);

    // Links expire after seven days; made-up ones find nothing.
    let reply = c.submit(&ops, &[("action", "reset"), ("user", &a)]).await;
    let link = the_link(&reply.body);
    w.t.clock.advance_seconds(7 * 86_400);
    visitor.get(&link).await.assert_status(StatusCode::NOT_FOUND);
    visitor.post(&link, &fields).await.assert_status(StatusCode::NOT_FOUND);
    visitor.get(&w.path("/set-password/made-up-token")).await.assert_status(StatusCode::NOT_FOUND);
    visitor.post(&w.path("/set-password/made-up-token"), &fields).await.assert_status(StatusCode::NOT_FOUND);
    w.signed_in("first@acme.example", NEW_PASSWORD).await;
}

// ---------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------

async fn the_audit_log_page_filters_by_action_and_person(t: TestDb) {
    let w = World::new(t).await;
    w.client().sign_in(&w.base, "target@acme.example", "wrong password here").await;
    let target = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.admin_client().await;
    let id = target.0.to_string();
    c.submit(&w.path("/system/users/operations"), &[("action", "disable"), ("user", &id)]).await;
    c.submit(&w.path("/system/users/operations"), &[("action", "enable"), ("user", &id)]).await;

    let all = c.get(&w.path("/system/audit-log")).await;
    all.assert_status(StatusCode::OK);
    assert_eq!(
        audit_rows(&all.body),
        [
            "user.enabled",
            "user.disabled",
            "user.signed_in",
            "user.package_granted",
            "user.created",
            "user.sign_in_failed",
            "tenant.created"
        ]
    );
    let only = |action: &str| w.path(&format!("/system/audit-log?action={action}"));
    assert_eq!(audit_rows(&c.get(&only("user.disabled")).await.body), ["user.disabled"]);
    assert_eq!(audit_rows(&c.get(&only("user.sign_in_failed")).await.body), ["user.sign_in_failed"]);
    assert_eq!(audit_rows(&c.get(&only("user.signed_in")).await.body), ["user.signed_in"]);
    assert_eq!(audit_rows(&c.get(&only("user.package_")).await.body), ["user.package_granted"]);
    assert_eq!(audit_rows(&c.get(&only("tenant.")).await.body), ["tenant.created"]);
    let page = c.get(&only("user.disabled")).await;
    assert!(page.body.contains(r#"<option value="user.disabled" selected>"#), "{}", page.body);

    // By person or target.
    let page = c.get(&w.path("/system/audit-log?q=TARGET%40acme")).await;
    assert_eq!(
        audit_rows(&page.body),
        ["user.enabled", "user.disabled", "user.package_granted", "user.created", "user.sign_in_failed"]
    );
    // By day (the test clock is on 2021-03-10).
    let page = c.get(&w.path("/system/audit-log?since=2021-03-10&until=2021-03-10")).await;
    assert_eq!(audit_rows(&page.body).len(), 7);
    let page = c.get(&w.path("/system/audit-log?since=2021-03-11")).await;
    assert!(audit_rows(&page.body).is_empty());
    assert!(page.body.contains("No events match."));
    c.get(&w.path("/system/audit-log?since=yesterday")).await.assert_status(StatusCode::BAD_REQUEST);
}

async fn the_audit_log_records_who_did_what_and_from_where(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.client();
    c.sign_in(&w.base, ADMIN_EMAIL, "wrong password here").await.assert_status(StatusCode::UNAUTHORIZED);
    let mut c = w.admin_client().await;
    let created = c
        .submit(
            &w.path("/system/users/new"),
            &user_form("New Person", "new@acme.example", "Management", "all", &["Management User"]),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    let link = the_link(&created.body);
    c.submit(
        &w.path("/account/password"),
        &[("current", ADMIN_PASSWORD), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
    )
    .await
    .assert_see_other(&w.path("/"));
    // A client whose address is unknown (oneshot without ConnectInfo).
    let mut anonymous = w.client();
    anonymous.peer = None;
    anonymous.post(&link, &[("password", PASSWORD), ("confirm", PASSWORD)]).await.assert_status(StatusCode::OK);
    anonymous.sign_in(&w.base, "new@acme.example", PASSWORD).await.assert_see_other(&w.path("/"));

    let log = w.audit().await;
    // (action, who, target, from where)
    type Seen<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let seen: Vec<Seen<'_>> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor_email.as_deref(), e.target.as_deref(), e.source_address.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("user.signed_in", Some("new@acme.example"), Some("new@acme.example"), None),
            ("user.password_set", Some("new@acme.example"), Some("new@acme.example"), None),
            ("user.password_changed", Some(ADMIN_EMAIL), Some(ADMIN_EMAIL), Some(PEER)),
            ("user.package_granted", Some(ADMIN_EMAIL), Some("new@acme.example"), Some(PEER)),
            ("user.created", Some(ADMIN_EMAIL), Some("new@acme.example"), Some(PEER)),
            ("user.signed_in", Some(ADMIN_EMAIL), Some(ADMIN_EMAIL), Some(PEER)),
            ("user.sign_in_failed", Some(ADMIN_EMAIL), Some(ADMIN_EMAIL), Some(PEER)),
            ("tenant.created", None, Some(TENANT), None),
        ]
    );
    assert_eq!(log[3].detail, "Management User");
    assert_eq!(log[4].detail, "Management user");
    assert_eq!(log[7].actor_kind, "operator");
    assert!(log.iter().all(|e| !e.detail.contains(PASSWORD) && !e.detail.contains(NEW_PASSWORD)));

    // The page shows the address.
    let mut c = w.signed_in(ADMIN_EMAIL, NEW_PASSWORD).await;
    let page = c.get(&w.path("/system/audit-log?action=user.password_changed")).await;
    assert_eq!(audit_rows(&page.body), ["user.password_changed"]);
    assert!(page.body.contains(&format!("<td>{PEER}</td>")), "{}", page.body);
}

// ---------------------------------------------------------------------------------------
// The pages an Administrator uses
// ---------------------------------------------------------------------------------------

async fn administrators_use_every_page(t: TestDb) {
    let w = World::new(t).await;
    let target = w.user(&w.tenant, "target@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut c = w.admin_client().await;

    // Users: list, filters, edit.
    let list = c.get(&w.path("/system/users")).await;
    list.assert_status(StatusCode::OK);
    assert!(has_row(&list.body, ADMIN_EMAIL) && has_row(&list.body, "target@acme.example"));
    assert!(list.body.contains(r#"id="op-create""#));
    let found = c.get(&w.path("/system/users?q=TARGET")).await;
    assert!(has_row(&found.body, "target@acme.example") && !has_row(&found.body, ADMIN_EMAIL));
    let none = c.get(&w.path("/system/users?status=Invited")).await;
    assert!(none.body.contains("No users match."));
    let edit = c.get(&w.path(&format!("/system/users/{}", target.0))).await;
    edit.assert_status(StatusCode::OK);
    assert!(edit.body.contains("Edit User") && edit.body.contains(r#"value="target@acme.example""#));
    let fields =
        user_form("Renamed Target", "renamed@acme.example", "Management", "none", &["Management User", "REST API"]);
    c.submit(&w.path(&format!("/system/users/{}", target.0)), &fields)
        .await
        .assert_see_other(&w.path("/system/users?done=saved"));
    let stored = w.stored(target).await;
    assert_eq!(
        (stored.name.as_str(), stored.email.as_str(), stored.site_access.as_str()),
        ("Renamed Target", "renamed@acme.example", "none")
    );
    assert_eq!(stored.role_packages, ["Management User", "REST API"]);
    // A type cannot change, and an e-mail cannot collide.
    let before = w.snapshot().await;
    let retype = user_form("Renamed Target", "renamed@acme.example", "Site", "none", &["Management User", "REST API"]);
    let reply = c.submit(&w.path(&format!("/system/users/{}", target.0)), &retype).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_TypeCannotChange"]);
    let collide = user_form("Renamed Target", ADMIN_EMAIL, "Management", "none", &["Management User", "REST API"]);
    let reply = c.submit(&w.path(&format!("/system/users/{}", target.0)), &collide).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_User_DuplicateEmail"]);
    assert_eq!(w.snapshot().await, before);

    // Role packages: list, show, create.
    let list = c.get(&w.path("/system/role-packages")).await;
    list.assert_status(StatusCode::OK);
    for name in ["Administrator", "Management User", "REST API", "Read Only"] {
        assert!(list.body.contains(&format!(">{name}</a>")), "{name}");
    }
    let read_only = w.package_id(&w.tenant, "Read Only").await;
    let show = c.get(&w.path(&format!("/system/role-packages/{}", read_only.0))).await;
    show.assert_status(StatusCode::OK);
    assert!(show.body.contains("<code>contractors.read</code>"));
    c.get(&w.path("/system/role-packages/999999")).await.assert_status(StatusCode::NOT_FOUND);
    let form = c.get(&w.path("/system/role-packages/new")).await;
    form.assert_status(StatusCode::OK);
    assert!(!form.body.contains(r#"value="rest_api.use""#), "rest_api.use is not offered");
    let made = c
        .submit(
            &w.path("/system/role-packages/new"),
            &[("name", "Auditors"), ("description", "Read the log"), ("permission", "audit_log.read")],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let auditors = w.package_id(&w.tenant, "Auditors").await;
    assert_eq!(made.location(), w.path(&format!("/system/role-packages/{}", auditors.0)));
    let show = c.get(made.location()).await;
    assert!(show.body.contains("<code>audit_log.read</code>") && show.body.contains("Custom package."));
    let before = w.snapshot().await;
    let reply =
        c.submit(&w.path("/system/role-packages/new"), &[("name", "Sneaky"), ("permission", "rest_api.use")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_RolePackage_RestApiOnlyBuiltin"]);
    let reply =
        c.submit(&w.path("/system/role-packages/new"), &[("name", "AUDITORS"), ("permission", "users.read")]).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_RolePackage_DuplicateName"]);
    let reply = c.submit(&w.path("/system/role-packages/new"), &[("name", "Empty")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_RolePackage_NoPermissions"]);
    assert_eq!(w.snapshot().await, before);

    // Contractors: list, create, refusals.
    let list = c.get(&w.path("/manage/contractors")).await;
    list.assert_status(StatusCode::OK);
    assert!(list.body.contains("No contractors yet.") && list.body.contains(r#"id="op-create""#));
    let made = c.submit(&w.path("/manage/contractors/new"), &[("name", "Pipe Works"), ("code", "PIPES")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let child = c
        .submit(
            &w.path("/manage/contractors/new"),
            &[("name", "Pipe Works North"), ("code", "PIPES-N"), ("parent", "pipes")],
        )
        .await;
    assert_eq!(child.status, StatusCode::SEE_OTHER, "{}", child.body);
    let list = c.get(&w.path("/manage/contractors?q=north")).await;
    assert!(list.body.contains("PIPES-N") && !list.body.contains(">PIPES</a>"));
    let before = w.snapshot().await;
    let reply = c.submit(&w.path("/manage/contractors/new"), &[("name", "Other"), ("code", "PIPES")]).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(data_keys(&reply.body), ["BrokenRule_Contractor_DuplicateCode"]);
    let reply = c.submit(&w.path("/manage/contractors/new"), &[("name", ""), ("parent", "NOPE")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    let keys = data_keys(&reply.body);
    assert!(keys.contains(&"BrokenRule_Contractor_MissingName".to_owned()), "{keys:?}");
    assert!(keys.contains(&"BrokenRule_Contractor_UnknownParent".to_owned()), "{keys:?}");
    assert_eq!(w.snapshot().await, before);
    c.get(&w.path("/manage/contractors/999999")).await.assert_status(StatusCode::NOT_FOUND);
}

async fn account_settings_change_the_name_and_the_password(t: TestDb) {
    let w = World::new(t).await;
    let user = w.user(&w.tenant, "person@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut other_device = w.signed_in("person@acme.example", PASSWORD).await;
    let mut c = w.signed_in("person@acme.example", PASSWORD).await;
    let page = c.get(&w.path("/account")).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains("Account Settings") && page.body.contains("Management User"));

    let saved = c.submit(&w.path("/account"), &[("name", "  Pat Person  ")]).await;
    saved.assert_status(StatusCode::OK);
    assert!(saved.body.contains("Saved."));
    assert_eq!(w.stored(user).await.name, "Pat Person");
    let before = w.snapshot().await;
    let refused = c.submit(&w.path("/account"), &[("name", "   ")]).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(data_keys(&refused.body), ["BrokenRule_User_MissingName"]);
    assert_eq!(w.snapshot().await, before);

    c.get(&w.path("/account/password")).await.assert_status(StatusCode::OK);
    c.submit(
        &w.path("/account/password"),
        &[("current", PASSWORD), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
    )
    .await
    .assert_see_other(&w.path("/"));
    // This session lives on; the other device's ends.
    c.get(&w.path("/")).await.assert_status(StatusCode::OK);
    other_device.get(&w.path("/")).await.assert_see_other(&w.path("/sign-in"));
    assert_eq!(w.sessions_of(user).await, 1);
    w.client().sign_in(&w.base, "person@acme.example", PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);
    w.signed_in("person@acme.example", NEW_PASSWORD).await;
    let changed = w.audit_of("user.password_changed").await;
    assert_eq!((changed.len(), changed[0].source_address.as_deref()), (1, Some(PEER)));
    assert_eq!(w.audit_of("user.profile_changed").await.len(), 1);
}
