//! `caretaker serve`.

use std::io::Write;

use caretaker_app::App;
use caretaker_http::AppState;
use tokio::net::TcpListener;
use tracing::info;

use crate::Failure;
use crate::config::Settings;
use crate::startup;

/// Opens the application (unless given one), listens, and serves until SIGTERM or SIGINT.
pub async fn run(settings: &Settings, app: Option<App>) -> Result<(), Failure> {
    let app = match app {
        Some(app) => app,
        None => startup::open_app(settings).await?,
    };
    run_on(settings, app, bind(settings).await?).await
}

/// Opens the listening socket (before anything is printed that names its port).
pub async fn bind(settings: &Settings) -> Result<TcpListener, Failure> {
    TcpListener::bind(settings.listen)
        .await
        .map_err(|err| Failure::refused(format!("cannot listen on {}: {err}", settings.listen)))
}

/// Serves `app` on an open socket until SIGTERM or SIGINT.
pub async fn run_on(settings: &Settings, app: App, listener: TcpListener) -> Result<(), Failure> {
    let address = listener.local_addr().map_err(|err| Failure::refused(format!("listening socket: {err}")))?;
    info!(%address, backend = app.db.backend().name(), "listening");
    // One line on stdout that scripts (and tests) can wait for; with port 0 it names the
    // port the system chose.
    println!("Caretaker listening on http://{address}/");
    let _ = std::io::stdout().flush();

    let db = app.db.clone();
    // Housekeeping: expired sessions, old throttle counters and spent nonces, every ten
    // minutes (and once at start).
    let janitor = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(err) = caretaker_app::purge_expired(&app).await {
                    tracing::warn!(error = %err, "housekeeping failed");
                }
            }
        })
    };
    // Outbound deliveries: this server's worker shares the queue with every other server.
    let (stop_deliveries, deliveries_stopped) = tokio::sync::watch::channel(false);
    let deliverer = caretaker_app::outbound::Deliverer::new(app.clone())
        .map_err(|err| Failure::refused(format!("outbound delivery: {err}")))?;
    let deliveries = tokio::spawn(deliverer.run(deliveries_stopped));
    let public_base_url = settings.public_base_url.as_ref().map(|url| url.as_str().trim_end_matches('/').to_owned());
    let state = AppState::new(app).with_public_base_url(public_base_url);
    caretaker_http::serve(listener, state, shutdown_signal())
        .await
        .map_err(|err| Failure::refused(format!("server error: {err}")))?;
    janitor.abort();
    let _ = stop_deliveries.send(true);
    let _ = deliveries.await;
    db.close().await;
    info!("stopped");
    Ok(())
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    info!("shutting down: finishing in-flight requests");
}
