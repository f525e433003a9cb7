//! The connection loop: hyper's HTTP/1 server under the router, with the limits that keep
//! slow or numerous clients from holding the server's resources for ever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::AppState;

/// What the server allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// How long a client has to send a request's head (its line and headers) once the
    /// server waits for one, on a new connection or an idle kept-alive one; then the
    /// connection is closed without an answer.
    pub header_read: Duration,
    /// How long a request's body may take to arrive in full, counted from when its head
    /// arrived; a body still arriving then is answered `408`.
    pub body_read: Duration,
    /// The most connections served at once. Further clients wait in the kernel's accept
    /// queue until one closes.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    /// 60 s for a head (nginx's `client_header_timeout`); 60 s for a body, which at most
    /// 1 MiB is (16 KiB/s); 4,096 connections, well under the file-descriptor limit
    /// servers are given, and far above what keep-alive clients need.
    fn default() -> Self {
        Self { header_read: Duration::from_secs(60), body_read: Duration::from_secs(60), max_connections: 4096 }
    }
}

/// Serves the whole HTTP surface ([`crate::router`]) of `state` on `listener` with the
/// default [`ServeLimits`] until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, ServeLimits::default()).await
}

/// [`serve`] with other limits (tests).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let metrics = state.metrics.clone();
    let router: Router = crate::router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let body_read = limits.body_read;
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap, new connections stay in the kernel's queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(axum::extract::ConnectInfo(peer));
            let body = DeadlineBody { inner: body, deadline: Instant::now() + body_read, timer: None };
            router.clone().oneshot(axum::extract::Request::from_parts(parts, axum::body::Body::new(body)))
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        let metrics = metrics.clone();
        metrics.connection_opened();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            metrics.connection_closed();
            drop(slot);
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The error a request body gives when it did not arrive within [`ServeLimits::body_read`].
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body that ends in [`BodyTimedOut`] once its deadline passes. The timer is
/// made only when the body is waited for (most requests have none).
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
