//! The real binary, driven as an operator (and a script) would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod bench;
mod credentials;
mod import;
mod outbound;
mod support;

use std::time::Duration;

use caretaker_storage::testing::{TestDb, database_url};
use support::{Proxy, Server, caretaker, master_key_file};

#[test]
fn every_documented_subcommand_has_help() {
    let commands: &[&[&str]] = &[
        &["serve"],
        &["demo"],
        &["tenant", "create"],
        &["tenant", "list"],
        &["contractor", "create"],
        &["user", "create"],
        &["credentials", "generate"],
        &["credentials", "revoke"],
        &["api"],
        &["migrate"],
        &["bench"],
    ];
    for command in commands {
        let out = caretaker(None).args(*command).arg("--help").output().unwrap();
        assert!(out.status.success(), "{command:?} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: caretaker"), "{command:?}: {text}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("caretaker.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nlistne = \"oops\"\n").unwrap();
    let out = caretaker(Some(dir.path())).args(["tenant", "list", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("caretaker: config file"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!dir.path().join("caretaker-data").exists(), "nothing may be created before the settings are valid");

    let out =
        caretaker(Some(dir.path())).env("CARETAKER_OUTBOUND_MAX_ATTEMPTS", "lots").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("CARETAKER_OUTBOUND_MAX_ATTEMPTS"));
}

#[test]
fn postgres_without_a_master_key_and_a_malformed_key_are_start_up_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = caretaker(Some(dir.path()))
        .args(["tenant", "list", "--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("PostgreSQL needs a master key"));

    let key = dir.path().join("bad.key");
    std::fs::write(&key, "not a key").unwrap();
    let out = caretaker(Some(dir.path())).args(["tenant", "list", "--master-key-file"]).arg(&key).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("master key: the master key must be 32 random bytes in base64"), "{stderr}");
}

#[test]
fn tenant_create_and_list_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "a long enough password\n").unwrap();
    let out = caretaker(Some(dir.path()))
        .args([
            "tenant",
            "create",
            "Urgent SI",
            "--admin-email",
            "admin@urgent.example",
            "--json",
            "--admin-password-file",
        ])
        .arg(&password)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        created,
        serde_json::json!({"Tenant": "Urgent SI", "AdminEmail": "admin@urgent.example", "AdminPassword": null})
    );

    let out = caretaker(Some(dir.path()))
        .args(["tenant", "create", "urgent si", "--admin-email", "other@urgent.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("already exists"));

    let out = caretaker(Some(dir.path())).args(["tenant", "create", "a/b", "--admin-email", "x@y.z"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("may contain only letters, digits"));

    let out = caretaker(Some(dir.path())).args(["tenant", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Name"], "Urgent SI");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("caretaker-data/master.key");
        assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn serve_answers_logs_json_with_request_ids_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["serve", "--log-format", "json"], &[]).await;
    let client = reqwest::Client::new();
    let response =
        client.get(format!("{}/healthz", server.base)).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    assert_eq!(client.get(format!("{}/readyz", server.base)).send().await.unwrap().status(), 200);
    let metrics = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("caretaker_http_requests_total{route=\"/healthz\",status=\"200\"} 1"), "{metrics}");

    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM must end the server cleanly: {status:?}");
    let logs = server.stderr();
    let mut saw_request = false;
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if entry.to_string().contains("trace-me-123") {
            saw_request = true;
        }
    }
    assert!(saw_request, "the request id must be in the logs: {logs}");
}

#[tokio::test]
async fn demo_creates_its_tenant_once_and_prints_the_same_login_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path(), &["demo"], &[]).await;
    let banner = first.stdout_so_far();
    first.terminate().await;
    let password = banner
        .lines()
        .find_map(|line| line.trim().strip_prefix("Password:"))
        .map(|p| p.trim().to_owned())
        .expect("a password line");
    assert_eq!(password.len(), 20, "{banner}");
    assert!(banner.contains("admin@demo.caretaker.example"));

    let mut second = Server::start(dir.path(), &["demo"], &[]).await;
    let again = second.stdout_so_far();
    second.terminate().await;
    assert!(again.contains(&password), "{again}");

    let out = caretaker(Some(dir.path())).args(["tenant", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn readyz_goes_503_when_postgres_stops_and_200_when_it_returns() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let target = {
        let url = url::Url::parse(&db.url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    };
    let proxy = Proxy::start(&target).await;
    let proxied = {
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(proxy.port)).unwrap();
        url.to_string()
    };
    let _ = database_url; // (the harness builds the per-test database URL)
    let dir = tempfile::tempdir().unwrap();
    let key = master_key_file(dir.path());
    let mut server = Server::start(
        dir.path(),
        &["serve", "--database-url", &proxied, "--master-key-file", key.to_str().unwrap()],
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let ready = || async { client.get(format!("{}/readyz", server.base)).send().await.unwrap().status().as_u16() };
    assert_eq!(ready().await, 200);

    proxy.set_up(false);
    assert_eq!(ready().await, 503, "the database is gone");
    assert_eq!(
        client.get(format!("{}/healthz", server.base)).send().await.unwrap().status(),
        200,
        "alive all the same"
    );

    proxy.set_up(true);
    let mut status = 0;
    for _ in 0..50 {
        status = ready().await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "ready again without a restart");

    // Connections cut while the server is quiet: a connection that sat idle is checked before
    // it is handed out, so the first request after the pause is answered, not failed.
    proxy.set_up(false);
    proxy.set_up(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ready().await, 200, "a connection cut while idle is replaced, not used");
    server.terminate().await;
}
