//! The load generator: one tokio task per keep-alive HTTP/1.1 connection (hyper's
//! low-level client, no pool), each sending the next request of its [`Plan`] as soon as the
//! previous answer is read, until a shared deadline. Latency is from just before the
//! request is written to the last byte of the body.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use caretaker_domain::clock::{Clock, SystemClock};
use caretaker_domain::tcn;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;

/// Signs requests as one API user.
#[derive(Debug)]
pub struct Signer {
    pub token: String,
    pub secret: SecretString,
}

impl Signer {
    /// `(Authorization, X-Timestamp)` for a request.
    fn headers(&self, method: &Method, path: &str) -> (String, String) {
        let timestamp = tcn::format_timestamp(SystemClock.now());
        let path = path.split('?').next().unwrap_or(path);
        let authorization =
            tcn::sign(method.as_str(), path, &timestamp, &self.token, self.secret.expose_secret().as_bytes(), None);
        (authorization, timestamp)
    }
}

/// One request to send.
pub struct Planned {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub body: Option<Bytes>,
    pub signer: Option<Arc<Signer>>,
}

impl Planned {
    pub fn get(path: String, signer: Option<Arc<Signer>>) -> Self {
        Planned { method: Method::GET, path, body: None, signer }
    }
}

/// What one connection sends: the next request, and what became of it.
pub trait Plan: Send {
    fn next(&mut self) -> Planned;
    /// The answer's status (0 when the connection failed or timed out).
    fn done(&mut self, _status: u16) {}
}

/// What one scenario's connections saw, merged.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// 2xx answers.
    pub ok: u64,
    /// Errors by status code, or `io` / `timeout` / `connect`.
    pub errors: BTreeMap<String, u64>,
    /// The first error answer's status and body (for the report).
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, key: &str, detail: impl FnOnce() -> String) {
        *self.errors.entry(key.to_owned()).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(detail());
        }
    }
}

/// Opens a keep-alive connection.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request on `sender`: status and body.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    planned: Planned,
) -> Result<(u16, Bytes), hyper::Error> {
    let mut builder = Request::builder().method(planned.method.clone()).uri(&planned.path).header(HOST, host);
    if let Some(signer) = &planned.signer {
        let (authorization, timestamp) = signer.headers(&planned.method, &planned.path);
        builder = builder.header(AUTHORIZATION, authorization).header("x-timestamp", timestamp);
    }
    let body = match planned.body {
        Some(body) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Full::new(body)
        }
        None => Full::new(Bytes::new()),
    };
    let request = match builder.body(body) {
        Ok(request) => request,
        // Only a malformed path gets here; answer as the server would.
        Err(_) => return Ok((400, Bytes::new())),
    };
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a fresh connection (set-up work: readiness, walking the pages).
pub async fn once(addr: SocketAddr, planned: Planned) -> Result<(u16, Bytes), String> {
    let mut sender = connect(addr).await?;
    send(&mut sender, &addr.to_string(), planned).await.map_err(|e| e.to_string())
}

/// A client kept for a series of set-up requests.
pub struct Client {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn new(addr: SocketAddr) -> Result<Self, String> {
        Ok(Client { addr, sender: connect(addr).await? })
    }

    pub async fn send(&mut self, planned: Planned) -> Result<(u16, Bytes), String> {
        send(&mut self.sender, &self.addr.to_string(), planned).await.map_err(|e| e.to_string())
    }
}

/// Runs `plans` (one per connection) against `addr` for `duration`.
pub async fn run(addr: SocketAddr, plans: Vec<Box<dyn Plan>>, duration: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let host: Arc<str> = Arc::from(addr.to_string());
    let tasks: Vec<_> =
        plans.into_iter().map(|plan| tokio::spawn(connection(addr, host.clone(), plan, deadline))).collect();
    let mut outcome = Outcome::default();
    for task in tasks {
        if let Ok(part) = task.await {
            outcome.merge(part);
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

async fn connection(addr: SocketAddr, host: Arc<str>, mut plan: Box<dyn Plan>, deadline: Instant) -> Outcome {
    let mut outcome = Outcome { latencies_us: Vec::with_capacity(64 * 1024), ..Outcome::default() };
    let mut sender = None;
    // A request in flight at the deadline may take this long before it counts as a timeout.
    let grace = tokio::time::Instant::from_std(deadline + Duration::from_secs(10));
    while Instant::now() < deadline {
        let current = match &mut sender {
            Some(current) => current,
            None => match connect(addr).await {
                Ok(fresh) => sender.insert(fresh),
                Err(err) => {
                    outcome.error("connect", || format!("connect: {err}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let planned = plan.next();
        let began = Instant::now();
        match tokio::time::timeout_at(grace, send(current, &host, planned)).await {
            Ok(Ok((status, body))) => {
                let micros = began.elapsed().as_micros();
                outcome.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
                if (200..300).contains(&status) {
                    outcome.ok += 1;
                } else {
                    outcome.error(&status.to_string(), || {
                        format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(400)]))
                    });
                }
                plan.done(status);
            }
            Ok(Err(err)) => {
                outcome.error("io", || format!("io: {err}"));
                plan.done(0);
                sender = None;
            }
            Err(_) => {
                outcome.error("timeout", || String::from("timeout: no answer 10 s after the deadline"));
                plan.done(0);
                sender = None;
            }
        }
    }
    outcome
}
