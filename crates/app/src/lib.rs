//! Caretaker's application services: each public function is one use case (create a
//! tenant, sign in, rotate a credential, ...), called alike by the web pages, the REST API
//! and the command line. A use case parses nothing (it receives domain types or raw text it
//! parses through the domain), opens the transaction, calls storage, records the audit
//! event in the same transaction, and commits.
//!
//! This crate knows no HTTP and no terminal.

pub mod api_auth;
pub mod assets;
pub mod audit_log;
pub mod auth;
pub mod companies;
pub mod contractors;
pub mod credentials;
pub mod custom_fields;
pub mod error;
pub mod import;
pub mod json_out;
pub mod mail;
pub mod master_key;
pub mod outbound;
pub mod password;
pub mod principal;
pub mod reference_data;
pub mod rendered;
pub mod role_packages;
pub mod sites;
pub mod task_json;
pub mod tasks;
pub mod tenant_settings;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod workflows;

use std::sync::Arc;

use caretaker_domain::clock::Clock;
use caretaker_storage::Db;

pub use error::AppError;
pub use master_key::MasterKey;
pub use principal::Principal;

/// Everything a use case needs: the database, the clock, the master key.
#[derive(Clone, Debug)]
pub struct App {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub master_key: Arc<MasterKey>,
    pub secret_cipher: Arc<master_key::SecretCipher>,
    /// The REST API's authenticator and its per-process cache.
    pub api_auth: Arc<api_auth::ApiAuthenticator>,
    /// `Some` when SMTP is configured.
    pub mailer: Option<Arc<mail::Mailer>>,
    /// Which receivers outbound calls may go to, and how long to wait for them.
    pub outbound: outbound::OutboundOptions,
    /// Woken after a change queued outbound deliveries, so the worker sends them at once.
    pub outbound_wakeup: Arc<tokio::sync::Notify>,
    /// Tasks as last written to a page of the REST list.
    pub rendered: Arc<rendered::RenderedTasks>,
}

impl App {
    pub fn new(db: Db, clock: Arc<dyn Clock>, master_key: MasterKey) -> Self {
        let secret_cipher = Arc::new(master_key::SecretCipher::new(&master_key));
        Self {
            db,
            clock,
            master_key: Arc::new(master_key),
            secret_cipher,
            api_auth: Arc::new(api_auth::ApiAuthenticator::default()),
            mailer: None,
            outbound: outbound::OutboundOptions::default(),
            outbound_wakeup: Arc::new(tokio::sync::Notify::new()),
            rendered: Arc::default(),
        }
    }

    /// Delivers outbound calls with these options.
    pub fn with_outbound(mut self, options: outbound::OutboundOptions) -> Self {
        self.outbound = options;
        self
    }

    /// Sends e-mail through `mailer` (set-password links).
    pub fn with_mailer(mut self, mailer: mail::Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }
}

/// At most this many Argon2 computations (19 MiB and tens of milliseconds each) run at
/// once; the rest wait their turn, so a flood of sign-ins cannot exhaust memory.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Argon2 takes tens of milliseconds of CPU: keep it off the async workers, a few at a time.
pub(crate) async fn hash_off_thread(password: secrecy::SecretString) -> Result<String, AppError> {
    let _slot = ARGON2_SLOTS.acquire().await.map_err(|_| AppError::internal("password slots closed"))?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|err| AppError::internal(format!("password hashing task: {err}")))?
}

/// [`password::verify`] off the async workers, through the same slots as hashing.
pub(crate) async fn verify_off_thread(password: secrecy::SecretString, hash: String) -> Result<bool, AppError> {
    let _slot = ARGON2_SLOTS.acquire().await.map_err(|_| AppError::internal("password slots closed"))?;
    tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .map_err(|err| AppError::internal(format!("password check task: {err}")))
}

/// Removes what has expired: sessions past their idle or absolute end, throttle counters of
/// past windows, spent nonces. Every server runs it now and then; it is idempotent.
pub async fn purge_expired(app: &App) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    caretaker_storage::sessions::delete_expired(&mut tx, now, now.plus_seconds(-auth::IDLE_SECONDS)).await?;
    caretaker_storage::throttle::purge(&mut tx, now.plus_seconds(-86_400)).await?;
    caretaker_storage::credentials::purge_nonces(&mut tx, now).await?;
    tx.commit().await.map_err(caretaker_storage::StorageError::from)?;
    Ok(())
}
