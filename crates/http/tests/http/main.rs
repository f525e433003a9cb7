//! The HTTP surface, driven through the real router (no socket needed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod rest;
mod rest_tasks;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use caretaker_app::{App, MasterKey};
use caretaker_http::{AppState, ServeLimits, router};
use caretaker_storage::testing::TestDb;
use http_body_util::BodyExt;
use tower::ServiceExt;

mod web;
mod web_api;
mod web_outbound;
mod web_sites;
mod web_tasks;

fn state(t: &TestDb) -> AppState {
    AppState::new(App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()))
}

async fn get(state: &AppState, path: &str, request_id: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(path);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = router(state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), id)
}

#[tokio::test]
async fn healthz_answers_and_every_response_carries_a_request_id() {
    let t = TestDb::sqlite().await;
    let state = state(&t);
    let (status, body, id) = get(&state, "/healthz", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let id = id.expect("a generated request id");
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);

    let (_, _, echoed) = get(&state, "/healthz", Some("client-chosen-42")).await;
    assert_eq!(echoed.as_deref(), Some("client-chosen-42"));
}

#[tokio::test]
async fn readyz_follows_the_database() {
    let t = TestDb::sqlite().await;
    let state = state(&t);
    let (status, body, _) = get(&state, "/readyz", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));

    t.db.close().await;
    let (status, body, _) = get(&state, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        r#"{"Messages":[{"Key":"BrokenRule_Server_DatabaseUnavailable","Value":"The database does not answer"}]}"#
    );
}

#[tokio::test]
async fn unknown_paths_answer_404_in_the_envelope() {
    let t = TestDb::sqlite().await;
    let (status, body, _) = get(&state(&t), "/rest/nothing/here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"Messages":[{"Key":"BrokenRule_Request_NotFound","Value":"No such resource"}]}"#);
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_and_status() {
    let t = TestDb::sqlite().await;
    let state = state(&t);
    for _ in 0..3 {
        get(&state, "/healthz", None).await;
    }
    get(&state, "/no/such/path/1", None).await;
    get(&state, "/no/such/path/2", None).await;
    let (status, text, _) = get(&state, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("caretaker_http_requests_total{route=\"/healthz\",status=\"200\"} 3\n"), "{text}");
    // Raw paths never become labels: both misses share one series.
    assert!(text.contains("caretaker_http_requests_total{route=\"unmatched\",status=\"404\"} 2\n"), "{text}");
    assert!(!text.contains("/no/such/path"));
    assert!(text.contains("caretaker_http_request_duration_seconds_count{route=\"/healthz\",status=\"200\"} 3\n"));
}

/// Over a real socket: a client that sends a request's head too slowly, or leaves a kept-alive
/// connection idle, is cut off after the time limit; complete requests are answered;
/// shutdown lets the server return.
#[tokio::test]
async fn the_server_closes_connections_whose_request_head_does_not_arrive_in_time() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let t = TestDb::sqlite().await;
    let limit = Duration::from_millis(300);
    let served = Served::start(state(&t), ServeLimits { header_read: limit, ..Default::default() }).await;
    let address = served.address;
    // Reads until the server closes the connection (or 5 s pass): what came, and when.
    async fn until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0_u8; 4096];
        while started.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            }
        }
        (String::from_utf8_lossy(&seen).into_owned(), started.elapsed())
    }

    // Half a request head, then nothing: closed after the limit, without an answer.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: caretaker\r\n").await.unwrap();
    let (answer, after) = until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "an incomplete head gets no answer: {answer}");
    assert!(after >= limit - Duration::from_millis(50) && after < Duration::from_secs(3), "closed after {after:?}");

    // A whole request is answered; the connection then stays open for the next one only as
    // long as the limit.
    let mut kept = tokio::net::TcpStream::connect(address).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: caretaker\r\n\r\n").await.unwrap();
    let (answer, after) = until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"), "{answer}");
    assert!(after < Duration::from_secs(3), "an idle kept-alive connection is closed too ({after:?})");

    served.stop().await;
}

/// The real connection loop on a loopback socket, for tests of what clients may hold.
struct Served {
    address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(state: AppState, limits: ServeLimits) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            stopped.await.ok();
        };
        let server = tokio::spawn(caretaker_http::serve_with(listener, state, shutdown, limits));
        Served { address, stop, server }
    }

    /// Shuts the server down; it must return within 5 s.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), self.server).await;
        stopped.expect("the server stops").unwrap().unwrap();
    }
}

/// Reads until the server closes the connection, `within` passes, or (with `one_answer`) a
/// whole answer with a body has come: what came, and when.
async fn read_answer(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> (String, std::time::Duration) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    while let Some(left) = within.checked_sub(started.elapsed()) {
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
        }
        let text = String::from_utf8_lossy(&seen);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|length| body.len() >= length) {
                break;
            }
        }
    }
    (String::from_utf8_lossy(&seen).into_owned(), started.elapsed())
}

/// Over a real socket: at the connection cap, a new client waits (unanswered, in the
/// kernel's queue) until a connection closes, then is served.
#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    let t = TestDb::sqlite().await;
    let served = Served::start(state(&t), ServeLimits { max_connections: 1, ..Default::default() }).await;
    let address = served.address;
    let request = b"GET /healthz HTTP/1.1\r\nHost: caretaker\r\n\r\n";

    let mut first = tokio::net::TcpStream::connect(address).await.unwrap();
    first.write_all(request).await.unwrap();
    let (answer, _) = read_answer(&mut first, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"), "{answer}");

    // The first connection stays open (kept alive): the second is not served.
    let mut second = tokio::net::TcpStream::connect(address).await.unwrap();
    second.write_all(request).await.unwrap();
    let (answer, _) = read_answer(&mut second, Duration::from_millis(400)).await;
    assert_eq!(answer, "", "no answer while the cap is reached");

    // Once the first closes, the second is served.
    drop(first);
    let (answer, _) = read_answer(&mut second, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"), "{answer}");

    served.stop().await;
}

/// Over a real socket: `/metrics` counts the client connections open now and accepted in
/// all, and an open connection is counted until it closes.
#[tokio::test]
async fn metrics_count_open_and_accepted_connections() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    let t = TestDb::sqlite().await;
    let served = Served::start(state(&t), ServeLimits::default()).await;
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: caretaker\r\n\r\n";
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(served.address).await.unwrap();
        stream.write_all(healthz).await.unwrap();
        let (answer, _) = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        kept.push(stream);
    }
    let mut watcher = tokio::net::TcpStream::connect(served.address).await.unwrap();
    assert_eq!(connections_counted(&mut watcher).await, (3, 3), "two kept-alive connections and this one");

    drop(kept);
    let mut now = connections_counted(&mut watcher).await;
    for _ in 0..50 {
        if now.0 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        now = connections_counted(&mut watcher).await;
    }
    assert_eq!(now, (1, 3), "the closed connections are no longer open; none was accepted since");
    drop(watcher);
    served.stop().await;
}

/// `(open, accepted)` connections as `/metrics` on `stream` counts them.
async fn connections_counted(stream: &mut tokio::net::TcpStream) -> (u64, u64) {
    use tokio::io::AsyncWriteExt;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: caretaker\r\n\r\n").await.unwrap();
    let (answer, _) = read_answer(stream, std::time::Duration::from_secs(5)).await;
    let value = |name: &str| {
        answer.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok()).unwrap()
    };
    (value("caretaker_http_connections_open"), value("caretaker_http_connections_total"))
}
