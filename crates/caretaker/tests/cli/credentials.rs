//! `caretaker credentials generate|revoke` and the signing client `caretaker api`, against
//! the real server on the same data folder.

use std::path::{Path, PathBuf};
use std::process::Output;

use caretaker_storage::audit::{self, Filter};
use caretaker_storage::{Db, DbOptions, tenants};

use crate::support::{Server, caretaker, free_port};

const PASSWORD: &str = "a long enough password\n";

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs `caretaker ARGS` in `dir` and waits for it.
fn run(dir: &Path, args: &[&str]) -> Output {
    caretaker(Some(dir)).args(args).output().unwrap()
}

fn succeeded(out: &Output) {
    assert!(out.status.success(), "exit {:?}: {}{}", out.status, stdout(out), stderr(out));
}

/// A refusal as CLI.md describes it: non-zero, one line on stderr, nothing on stdout.
fn refused(out: &Output, mentions: &str) {
    assert!(!out.status.success(), "should have been refused: {}", stdout(out));
    assert_eq!(stdout(out), "", "nothing on stdout when refused");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert!(err.starts_with("caretaker: "), "{err}");
    assert!(err.contains(mentions), "expected {mentions:?} in {err}");
}

fn password_file(dir: &Path) -> PathBuf {
    let path = dir.join("pw");
    std::fs::write(&path, PASSWORD).unwrap();
    path
}

fn create_tenant(dir: &Path, name: &str) {
    let password = password_file(dir);
    let admin = format!("admin@{}.example", name.to_lowercase().replace(' ', "-"));
    let out = caretaker(Some(dir))
        .args(["tenant", "create", name, "--admin-email", &admin, "--admin-password-file"])
        .arg(&password)
        .output()
        .unwrap();
    succeeded(&out);
}

/// A Management user with all sites and `packages`, active with a password.
fn create_user(dir: &Path, tenant: &str, email: &str, packages: &[&str]) {
    let password = password_file(dir);
    let mut command = caretaker(Some(dir));
    command.args(["user", "create", "--tenant", tenant, "--email", email, "--type", "management"]);
    for package in packages {
        command.args(["--role-package", package]);
    }
    command.args(["--site-access", "all", "--password-file"]).arg(&password);
    succeeded(&command.output().unwrap());
}

/// A GUID in the 8-4-4-4-12 form.
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `credentials generate`, checked to print exactly one line of JSON with the pair.
fn generate(dir: &Path, tenant: &str, email: &str) -> (String, String) {
    let out = run(dir, &["credentials", "generate", "--tenant", tenant, "--email", email]);
    succeeded(&out);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "exactly one line: {text}");
    assert!(text.ends_with('\n'));
    let json: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), 2, "{json}");
    let token = object["ApiToken"].as_str().unwrap().to_owned();
    let secret = object["ApiSecretKey"].as_str().unwrap().to_owned();
    assert!(is_guid(&token), "{token}");
    assert!(secret.starts_with("ctsk_"), "{secret}");
    assert_eq!(secret.len(), 54, "{secret}");
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{secret}");
    (token, secret)
}

fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

/// `caretaker api --base-url BASE --token TOKEN --secret-file FILE [extra] GET PATH`.
fn api(dir: &Path, base: &str, token: &str, secret: &Path, extra: &[&str], path: &str) -> Output {
    caretaker(Some(dir))
        .args(["api", "--base-url", base, "--token", token, "--secret-file"])
        .arg(secret)
        .args(extra)
        .args(["GET", path])
        .output()
        .unwrap()
}

/// A successful `api` call: `200 OK`, then the body, whose `Email` is returned.
fn answered_200(out: &Output) -> serde_json::Value {
    succeeded(out);
    let text = stdout(out);
    let (status, body) = text.split_once('\n').unwrap();
    assert_eq!(status, "200 OK", "{text}");
    serde_json::from_str(body.trim_end()).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// A refused `api` call: non-zero and `401` on stdout.
fn answered_401(out: &Output) {
    assert!(!out.status.success(), "should have been refused: {}", stdout(out));
    let text = stdout(out);
    assert!(text.starts_with("401 "), "{text}");
    assert!(stderr(out).contains("401"), "{}", stderr(out));
}

#[test]
fn generate_prints_the_pair_once_as_one_line_of_json() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), "Acme");
    create_user(dir.path(), "Acme", "robot@acme.example", &["REST API", "Management User"]);
    let (token, secret) = generate(dir.path(), "Acme", "robot@acme.example");

    // The tenant and the e-mail are matched ignoring case; a second pair is a new pair.
    let (again, other) = generate(dir.path(), "acme", "Robot@Acme.Example");
    assert_ne!(again, token);
    assert_ne!(other, secret);
}

#[test]
fn generate_is_refused_without_the_rest_api_package_an_unknown_user_or_an_unknown_tenant() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), "Acme");
    create_user(dir.path(), "Acme", "person@acme.example", &["Management User"]);

    let out = run(dir.path(), &["credentials", "generate", "--tenant", "Acme", "--email", "person@acme.example"]);
    refused(&out, "REST API");
    let out = run(dir.path(), &["credentials", "generate", "--tenant", "Acme", "--email", "nobody@acme.example"]);
    refused(&out, "nobody@acme.example");
    let out = run(dir.path(), &["credentials", "generate", "--tenant", "Nowhere", "--email", "person@acme.example"]);
    refused(&out, "Nowhere");
    let out = run(dir.path(), &["credentials", "revoke", "--tenant", "Nowhere", "--email", "person@acme.example"]);
    refused(&out, "Nowhere");
}

#[tokio::test]
async fn api_signs_requests_the_server_accepts_and_refuses_a_wrong_or_mistyped_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    create_tenant(dir, "Acme");
    create_tenant(dir, "Urgent SI");
    create_user(dir, "Acme", "robot@acme.example", &["REST API", "Management User"]);
    create_user(dir, "Urgent SI", "robot@urgent.example", &["REST API", "Management User"]);
    let (acme_token, acme_secret) = generate(dir, "Acme", "robot@acme.example");
    let (token, secret) = generate(dir, "Urgent SI", "robot@urgent.example");
    let acme_file = secret_file(dir, "acme.secret", &acme_secret);
    let file = secret_file(dir, "urgent.secret", &secret);
    let mut server = Server::start(dir, &["serve"], &[]).await;

    let me = answered_200(&api(dir, &server.base, &acme_token, &acme_file, &[], "/rest/users/acme/me"));
    assert_eq!(me["Email"], "robot@acme.example");
    assert_eq!(me["Tenant"], "Acme");

    // A tenant name with a space, percent-encoded in the path.
    let me = answered_200(&api(dir, &server.base, &token, &file, &[], "/rest/users/urgent%20si/me"));
    assert_eq!(me["Email"], "robot@urgent.example");
    assert_eq!(me["Tenant"], "Urgent SI");

    // --print-headers: the two headers, nothing else, and they work from another client.
    let path = "/rest/users/urgent%20si/me";
    let out = api(dir, &server.base, &token, &file, &["--print-headers"], path);
    succeeded(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let authorization = lines[0].strip_prefix("Authorization: ").unwrap_or_else(|| panic!("{text}"));
    let digest = authorization.strip_prefix(&format!("TCN {token}:")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(digest.len(), 44, "base64 of 32 bytes: {digest}");
    let timestamp = lines[1].strip_prefix("X-Timestamp: ").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(timestamp.len(), 20, "{timestamp}");
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T', "{timestamp}");
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .header("Authorization", authorization)
        .header("X-Timestamp", timestamp)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["Email"], "robot@urgent.example");

    // Headers for the other tenant's path do not open this one.
    let response = reqwest::Client::new()
        .get(format!("{}/rest/users/acme/me", server.base))
        .header("Authorization", authorization)
        .header("X-Timestamp", timestamp)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // A wrong secret: sent, and refused by the server.
    let wrong = secret_file(dir, "wrong.secret", "not-the-secret");
    answered_401(&api(dir, &server.base, &token, &wrong, &[], path));
    // Another user's (well-formed) secret with this token.
    answered_401(&api(dir, &server.base, &token, &acme_file, &[], path));

    // A mistyped secret (one character changed) fails its checksum before anything is sent.
    let mut typo = secret.clone().into_bytes();
    typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
    let typo = secret_file(dir, "typo.secret", std::str::from_utf8(&typo).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let nowhere = format!("http://{}", listener.local_addr().unwrap());
    let out = api(dir, &nowhere, &token, &typo, &[], path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
    assert!(listener.accept().is_err(), "nothing may be sent with a mistyped secret");
    let out = api(dir, &server.base, &token, &typo, &[], path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A secret cut short fails the same way.
    let short = secret_file(dir, "short.secret", &secret[..secret.len() - 1]);
    let out = api(dir, &server.base, &token, &short, &[], path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));

    // The right pair still works after the failures.
    answered_200(&api(dir, &server.base, &token, &file, &[], path));
    assert!(server.terminate().await.success(), "{}", server.stderr());
}

#[tokio::test]
async fn revoke_kills_the_pair_and_a_new_pair_works_while_the_old_stays_dead() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    create_tenant(dir, "Acme");
    create_user(dir, "Acme", "robot@acme.example", &["REST API", "Management User"]);
    let (token, secret) = generate(dir, "Acme", "robot@acme.example");
    let file = secret_file(dir, "old.secret", &secret);
    let mut server = Server::start(dir, &["serve"], &[]).await;
    let path = "/rest/users/acme/me";
    answered_200(&api(dir, &server.base, &token, &file, &[], path));

    let out = run(dir, &["credentials", "revoke", "--tenant", "Acme", "--email", "robot@acme.example"]);
    succeeded(&out);
    assert!(stdout(&out).contains("Revoked"), "{}", stdout(&out));
    answered_401(&api(dir, &server.base, &token, &file, &[], path));

    let (new_token, new_secret) = generate(dir, "Acme", "robot@acme.example");
    assert_ne!(new_token, token);
    let new_file = secret_file(dir, "new.secret", &new_secret);
    let me = answered_200(&api(dir, &server.base, &new_token, &new_file, &[], path));
    assert_eq!(me["Email"], "robot@acme.example");
    answered_401(&api(dir, &server.base, &token, &file, &[], path));
    answered_401(&api(dir, &server.base, &token, &new_file, &[], path));
    answered_401(&api(dir, &server.base, &new_token, &file, &[], path));

    // Revoking a user who has no credentials is refused in one line.
    create_user(dir, "Acme", "other@acme.example", &["REST API", "Management User"]);
    let out = run(dir, &["credentials", "revoke", "--tenant", "Acme", "--email", "other@acme.example"]);
    refused(&out, "not found");
    assert!(server.terminate().await.success(), "{}", server.stderr());
}

#[tokio::test]
async fn generating_again_kills_the_old_pair_at_once_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    create_tenant(dir, "Acme");
    create_user(dir, "Acme", "robot@acme.example", &["REST API", "Management User"]);
    let mut server = Server::start(dir, &["serve"], &[]).await;
    let path = "/rest/users/acme/me";

    // Generated while the server runs, and used (so the server has it cached).
    let (first_token, first_secret) = generate(dir, "Acme", "robot@acme.example");
    let first = secret_file(dir, "first.secret", &first_secret);
    answered_200(&api(dir, &server.base, &first_token, &first, &[], path));
    answered_200(&api(dir, &server.base, &first_token, &first, &[], path));

    let (second_token, second_secret) = generate(dir, "Acme", "robot@acme.example");
    let second = secret_file(dir, "second.secret", &second_secret);
    answered_401(&api(dir, &server.base, &first_token, &first, &[], path));
    let me = answered_200(&api(dir, &server.base, &second_token, &second, &[], path));
    assert_eq!(me["Email"], "robot@acme.example");
    answered_401(&api(dir, &server.base, &second_token, &first, &[], path));
    answered_401(&api(dir, &server.base, &first_token, &second, &[], path));
    assert!(server.terminate().await.success(), "{}", server.stderr());
}

#[tokio::test]
async fn generate_and_revoke_are_audited_as_done_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    create_tenant(dir, "Urgent SI");
    create_user(dir, "Urgent SI", "robot@urgent.example", &["REST API", "Management User"]);
    let (token, _) = generate(dir, "urgent si", "robot@urgent.example");
    succeeded(&run(dir, &["credentials", "revoke", "--tenant", "Urgent SI", "--email", "robot@urgent.example"]));

    let url = Db::sqlite_url(&dir.join("caretaker-data").join("caretaker.db"));
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
    let tenant = tenants::find_by_name(db.read(), "Urgent SI").await.unwrap().unwrap();
    let filter = Filter { action_prefix: Some("api_credentials.".into()), ..Filter::default() };
    let entries = audit::list(&db, tenant.id, &filter, 10).await.unwrap();
    db.close().await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["api_credentials.revoked", "api_credentials.generated"], "{entries:?}");
    for entry in &entries {
        assert_eq!(entry.actor_kind, "operator", "{entry:?}");
        assert_eq!(entry.actor_email, None, "{entry:?}");
        assert_eq!(entry.target.as_deref(), Some("robot@urgent.example"), "{entry:?}");
        assert!(!entry.detail.contains("ctsk_"), "never a secret in the audit log: {entry:?}");
        assert!(!entry.detail.contains(&token), "{entry:?}");
    }
}

/// The banner's `API Token:` (or other) value.
fn banner_value<'a>(banner: &'a str, label: &str) -> &'a str {
    banner
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in the banner: {banner}"))
}

#[tokio::test]
async fn demo_prints_the_integration_users_pair_and_a_command_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // A fixed port, so that the printed command names the port the server really uses.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut demo = Server::start(dir, &["demo", "--listen", &listen], &[]).await;
    assert_eq!(demo.base, format!("http://{listen}"));
    let banner = demo.stdout_so_far();
    let token = banner_value(&banner, "API Token:").to_owned();
    let secret = banner_value(&banner, "API Secret Key:").to_owned();
    assert!(is_guid(&token), "{banner}");
    assert!(secret.starts_with("ctsk_") && secret.len() == 54, "{banner}");
    assert!(banner.contains("api.integration@demo.caretaker.example"), "{banner}");

    let command = banner
        .lines()
        .map(str::trim)
        .find(|line| line.contains(" api "))
        .unwrap_or_else(|| panic!("no ready-to-paste command: {banner}"));
    let args = command.strip_prefix("cargo run --release -- ").unwrap_or_else(|| panic!("{command}"));
    assert!(args.contains(&token), "{command}");
    let words: Vec<&str> = args.split_whitespace().collect();
    let out = caretaker(Some(dir)).args(&words).output().unwrap();
    let me = answered_200(&out);
    assert_eq!(me["Email"], "api.integration@demo.caretaker.example", "{me}");
    assert_eq!(me["Tenant"], "Demo");
    assert!(demo.terminate().await.success(), "{}", demo.stderr());

    // A second start prints the same pair (nothing is regenerated), and it still works.
    let mut again = Server::start(dir, &["demo", "--listen", &listen], &[]).await;
    let second = again.stdout_so_far();
    assert_eq!(banner_value(&second, "API Token:"), token, "{second}");
    assert_eq!(banner_value(&second, "API Secret Key:"), secret, "{second}");
    let out = caretaker(Some(dir)).args(&words).output().unwrap();
    assert_eq!(answered_200(&out)["Email"], "api.integration@demo.caretaker.example");
    assert!(again.terminate().await.success(), "{}", again.stderr());
}

/// The server logs every request (at the most verbose level, as JSON), yet no secret ever
/// reaches its logs: not on success, not on failure, not on rotation.
#[tokio::test]
async fn no_secret_reaches_the_server_logs_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    create_tenant(dir, "Acme");
    create_user(dir, "Acme", "robot@acme.example", &["REST API", "Management User"]);
    let mut server = Server::start(dir, &["serve", "--log", "trace", "--log-format", "json"], &[]).await;
    let path = "/rest/users/acme/me";
    let (token, secret) = generate(dir, "Acme", "robot@acme.example");
    let good = secret_file(dir, "good.secret", &secret);
    answered_200(&api(dir, &server.base, &token, &good, &[], path));
    let wrong = secret_file(dir, "wrong.secret", "not the secret at all");
    answered_401(&api(dir, &server.base, &token, &wrong, &[], path));
    let (token2, secret2) = generate(dir, "Acme", "robot@acme.example");
    let rotated = secret_file(dir, "rotated.secret", &secret2);
    answered_200(&api(dir, &server.base, &token2, &rotated, &[], path));
    assert!(server.terminate().await.success());

    let logs = server.stderr();
    assert!(logs.contains("/rest/users/acme/me"), "requests are logged: {logs}");
    for secret in [&secret, &secret2] {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
        assert!(!logs.contains(&secret[5..25]), "part of a secret reached the logs");
    }
    assert!(!logs.contains(PASSWORD.trim()), "a password reached the logs");
}
