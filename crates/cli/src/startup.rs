//! From settings to a running application: logging, the data folder, the database, the
//! master key.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use caretaker_app::App;
use caretaker_app::master_key::MasterKey;
use caretaker_domain::clock::SystemClock;
use caretaker_storage::{Db, DbOptions};
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;

use crate::Failure;
use crate::args::LogFormat;
use crate::config::{MasterKeySource, Settings};

/// Logs go to stderr: human-readable by default, one JSON object per line with
/// `--log-format json`.
pub fn init_logging(settings: &Settings, default_filter: &str) {
    let filter = settings.log.as_deref().unwrap_or(default_filter);
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// Connects to the database and applies pending migrations.
pub async fn open_db(settings: &Settings) -> Result<Db, Failure> {
    let url = match &settings.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => {
            ensure_data_dir(&settings.data_dir)?;
            let path = std::fs::canonicalize(&settings.data_dir)
                .map_err(|err| Failure::refused(format!("data folder {}: {err}", settings.data_dir.display())))?
                .join("caretaker.db");
            Db::sqlite_url(&path)
        }
    };
    let db = Db::connect(&url, &DbOptions::default())
        .await
        .map_err(|err| Failure::refused(format!("cannot open the database: {err}")))?;
    db.migrate(&SystemClock).await.map_err(|err| Failure::refused(format!("cannot migrate the database: {err}")))?;
    Ok(db)
}

/// The database, migrated, and the master key, checked against it.
pub async fn open_app(settings: &Settings) -> Result<App, Failure> {
    let master_key = match &settings.master_key {
        MasterKeySource::File(path) => MasterKey::load(path),
        MasterKeySource::Inline(text) => MasterKey::parse(text.expose_secret()),
        MasterKeySource::DataDir => {
            ensure_data_dir(&settings.data_dir)?;
            MasterKey::load_or_generate(&settings.data_dir)
        }
    }
    .map_err(|err| Failure::usage(format!("master key: {err}")))?;
    let db = open_db(settings).await?;
    master_key.check_against(&db).await.map_err(|err| Failure::usage(format!("master key: {err}")))?;
    let mut app =
        App::new(db, Arc::new(SystemClock), master_key).with_outbound(caretaker_app::outbound::OutboundOptions {
            policy: caretaker_domain::outbound::ReceiverPolicy { allow_insecure: settings.outbound_allow_insecure },
            timeout: std::time::Duration::from_secs(10),
            retry_initial_ms: settings.outbound_retry_initial_ms,
            max_attempts: i64::from(settings.outbound_max_attempts),
        });
    if let Some(url) = &settings.smtp_url {
        let origin = match &settings.public_base_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", settings.listen),
        };
        let mailer = caretaker_app::mail::Mailer::new(url.expose_secret(), &settings.smtp_from, &origin)
            .map_err(|err| Failure::usage(format!("SMTP: {err}")))?;
        app = app.with_mailer(mailer);
    }
    caretaker_app::reference_data::ensure_defaults(&app)
        .await
        .map_err(|err| Failure::refused(format!("cannot write the default configuration: {err}")))?;
    caretaker_app::workflows::ensure_defaults(&app)
        .await
        .map_err(|err| Failure::refused(format!("cannot write the default workflows: {err}")))?;
    Ok(app)
}

/// Creates the data folder (owner-only) if it does not exist.
pub fn ensure_data_dir(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|err| Failure::refused(format!("cannot create the data folder {}: {err}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}
