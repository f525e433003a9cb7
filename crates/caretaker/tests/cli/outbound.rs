//! The outbound API through the real binary: a server killed (SIGKILL) while deliveries
//! are being retried loses nothing when it starts again, and sends each event once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use caretaker_domain::clock::{Clock, SystemClock};
use caretaker_domain::tcn;

use crate::support::{Server, caretaker};

#[derive(Default)]
struct Receiver {
    /// Answer 500 while true.
    failing: bool,
    calls: usize,
    bad_signatures: usize,
    /// EventId -> times acknowledged.
    acknowledged: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Receiver>>;

const OUT_TOKEN: &str = "receiver-token";
const OUT_SECRET: &str = "receiver-secret-42";

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let expected = tcn::sign("POST", "/hook", &header("x-timestamp"), OUT_TOKEN, OUT_SECRET.as_bytes(), None);
    let mut receiver = shared.lock().unwrap();
    receiver.calls += 1;
    if header("authorization") != expected {
        receiver.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if receiver.failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    *receiver.acknowledged.entry(event["EventId"].as_str().unwrap().to_owned()).or_default() += 1;
    StatusCode::OK
}

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = caretaker(Some(dir)).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn signed(base: &str, token: &str, secret: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let timestamp = tcn::format_timestamp(SystemClock.now());
    let authorization = tcn::sign(method, path, &timestamp, token, secret.as_bytes(), None);
    let client = reqwest::Client::new();
    let request = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("Authorization", authorization)
        .header("X-Timestamp", timestamp)
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_server_killed_mid_retry_delivers_everything_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("pw"), "a long enough password\n").unwrap();
    let pw = path.join("pw");
    let pw = pw.to_str().unwrap();
    run_ok(path, &["tenant", "create", "Acme", "--admin-email", "admin@acme.example", "--admin-password-file", pw]);
    run_ok(
        path,
        &[
            "user",
            "create",
            "--tenant",
            "Acme",
            "--email",
            "hook@acme.example",
            "--type",
            "management",
            "--role-package",
            "REST API",
            "--role-package",
            "Management User",
            "--site-access",
            "all",
            "--password-file",
            pw,
        ],
    );
    let generated = run_ok(path, &["credentials", "generate", "--tenant", "Acme", "--email", "hook@acme.example"]);
    let generated: serde_json::Value = serde_json::from_str(generated.trim()).unwrap();
    let (token, secret) =
        (generated["ApiToken"].as_str().unwrap().to_owned(), generated["ApiSecretKey"].as_str().unwrap().to_owned());

    let shared: Shared = Arc::new(Mutex::new(Receiver { failing: true, ..Receiver::default() }));
    let router = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let args = ["serve", "--outbound-allow-insecure", "--outbound-retry-initial-ms", "100"];
    let mut server = Server::start(path, &args, &[]).await;
    let base = server.base.clone();
    let config = serde_json::json!({
        "Endpoints": { "TaskCreated": hook_url, "TaskNote": hook_url },
        "ApiToken": OUT_TOKEN,
        "ApiSecret": OUT_SECRET,
    });
    let (status, body) =
        signed(&base, &token, &secret, "PUT", "/rest/users/acme/me/outbound", &config.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        signed(&base, &token, &secret, "POST", "/rest/sites/acme", r#"{"SiteCode":"S1","Name":"One"}"#).await;
    assert_eq!(status, 201, "{body}");
    for n in 0..5 {
        let task = serde_json::json!({
            "ExternalIdentifier": format!("K-{n}"), "InitiatorName": "Monitor", "SiteCode": "S1",
            "Description": "Door stuck", "MatrixItemCode": "01-02",
        });
        let (status, body) = signed(&base, &token, &secret, "POST", "/rest/tasks/acme", &task.to_string()).await;
        assert_eq!(status, 201, "{body}");
    }

    // The receiver refuses; the server retries every few hundred milliseconds...
    for _ in 0..100 {
        if shared.lock().unwrap().calls >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shared.lock().unwrap().calls >= 10, "the server retries");
    // ...and dies without warning.
    server.kill();
    shared.lock().unwrap().failing = false;

    let _restarted = Server::start(path, &args, &[]).await;
    // (Normally at once; if the kill caught a delivery in flight, its lease must run out
    // first: the delivery timeout twice and five seconds.)
    for _ in 0..400 {
        if shared.lock().unwrap().acknowledged.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer: nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let receiver = shared.lock().unwrap();
    assert_eq!(receiver.bad_signatures, 0);
    assert_eq!(receiver.acknowledged.len(), 5, "every TaskCreated arrives: {:?}", receiver.acknowledged);
    assert!(receiver.acknowledged.values().all(|n| *n == 1), "each exactly once: {:?}", receiver.acknowledged);
}
