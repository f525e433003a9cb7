//! The outbound API: Caretaker calls integrations when tasks change.
//!
//! A change records its deliveries in the outbox in its own transaction ([`record`]), so a
//! change never happens without its notifications and a notification never exists without
//! its change. Delivery workers ([`Deliverer`], one per server) claim due deliveries under a
//! lease, POST them TCN-signed with the receiver's token and secret, and count only `200`
//! with an empty body as acknowledged; anything else is retried with growing intervals up
//! to the tenant's limit, then marked failed (and e-mailed when the user asked for it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::outbound::{self as rules, OutboundEvent, ReceiverPolicy};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::tcn;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use caretaker_storage::outbound::{self, Claimed, Delivery, Outcome, Settings};
use caretaker_storage::tasks::Task;
use caretaker_storage::{StorageError, Writer, users};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::principal::Principal;
use crate::task_json::TaskJson;
use crate::{App, AppError};

/// How this server delivers: which receivers it allows, how long it waits for one, how
/// soon it retries and how often at most.
#[derive(Clone, Copy, Debug)]
pub struct OutboundOptions {
    pub policy: ReceiverPolicy,
    pub timeout: Duration,
    pub retry_initial_ms: u64,
    /// A tenant may lower it, never raise it.
    pub max_attempts: i64,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        Self {
            policy: ReceiverPolicy::default(),
            timeout: Duration::from_secs(10),
            retry_initial_ms: 30_000,
            max_attempts: 10,
        }
    }
}

/// A user's outbound configuration as shown (the secret never: only its last four).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundView {
    /// One URL per event, in [`OutboundEvent::ALL`] order.
    pub endpoints: [Option<String>; 6],
    pub send_created: bool,
    pub email_failures: bool,
    pub api_token: Option<String>,
    pub api_secret_last4: Option<String>,
}

/// The configuration as entered. `api_secret: None` keeps the stored secret.
#[derive(Debug, Default)]
pub struct OutboundInput {
    pub endpoints: [Option<String>; 6],
    pub send_created: bool,
    pub email_failures: bool,
    pub api_token: Option<String>,
    pub api_secret: Option<SecretString>,
}

fn view(settings: Option<Settings>) -> OutboundView {
    let settings = settings.unwrap_or(Settings { send_created: true, ..Settings::default() });
    OutboundView {
        endpoints: settings.urls,
        send_created: settings.send_created,
        email_failures: settings.email_failures,
        api_token: settings.api_token,
        api_secret_last4: settings.api_secret_last4,
    }
}

fn user_of(by: &Principal) -> Result<UserId, AppError> {
    by.user.ok_or_else(|| {
        AppError::forbidden(BrokenRule::new("Outbound", "NoUser", "The operator has no outbound configuration"))
    })
}

/// Associated data of an outbound secret: bound to its user and token, so that it cannot
/// be moved to another user or mistaken for an API secret.
fn associated(user: UserId, token: &str) -> String {
    format!("outbound:{}:{token}", user.0)
}

/// The caller's own configuration.
pub async fn get(app: &App, by: &Authorized<'_, can::RestApiUse, Principal>) -> Result<OutboundView, AppError> {
    let user = user_of(by.principal())?;
    Ok(view(outbound::settings(app.db.read(), user).await?))
}

/// Checks and stores the caller's configuration. URLs must be `https` to public addresses
/// (unless the operator allows otherwise); any URL needs the token and secret to sign with.
pub async fn save(
    app: &App,
    by: &Authorized<'_, can::RestApiUse, Principal>,
    input: OutboundInput,
) -> Result<OutboundView, AppError> {
    let by = by.principal();
    let user = user_of(by)?;
    let mut check = RuleCheck::new();
    let mut urls: [Option<String>; 6] = Default::default();
    for (slot, given) in urls.iter_mut().zip(&input.endpoints) {
        if let Some(url) = given.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            check.check(rules::check_receiver_url(url, app.outbound.policy));
            *slot = Some(url.to_owned());
        }
    }
    let token = input.api_token.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    if token.as_ref().is_some_and(|t| t.chars().count() > 200 || t.contains(':')) {
        check.push(BrokenRule::new("Outbound", "InvalidToken", "The API Token is at most 200 characters, without ':'"));
    }
    let secret = input.api_secret.as_ref().filter(|s| !s.expose_secret().is_empty());
    if secret.is_some_and(|s| s.expose_secret().len() > 500) {
        check.push(BrokenRule::new("Outbound", "InvalidSecret", "The API Secret is at most 500 characters"));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let stored = outbound::settings(&mut *tx, user).await?.unwrap_or_default();
    let token_changed = token != stored.api_token;
    let (api_secret, last4) = match (secret, &token) {
        (Some(secret), Some(token)) => (
            Some(app.secret_cipher.encrypt(&associated(user, token), secret.expose_secret())?),
            Some(secret.expose_secret().chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect()),
        ),
        (Some(_), None) => {
            check.push(BrokenRule::new("Outbound", "MissingToken", "An API Secret needs its API Token"));
            (None, None)
        }
        (None, _) if token_changed => (None, None),
        (None, _) => (stored.api_secret.clone(), stored.api_secret_last4.clone()),
    };
    if urls.iter().any(Option::is_some) && (token.is_none() || api_secret.is_none()) {
        check.push(BrokenRule::new(
            "Outbound",
            "MissingCredentials",
            "Enter the API Token and API Secret your receiver checks the calls with (a changed token needs its secret again)",
        ));
    }
    check.finish().map_err(AppError::Invalid)?;
    let settings = Settings {
        urls,
        send_created: input.send_created,
        email_failures: input.email_failures,
        api_token: token,
        api_secret,
        api_secret_last4: last4,
    };
    outbound::save_settings(&mut tx, user, &settings, now).await?;
    caretaker_storage::audit::record(
        &mut tx,
        &caretaker_storage::audit::Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "outbound.configured",
            target: Some(&by.email),
            detail: "",
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(view(Some(settings)))
}

/// Queues `event` for every recipient of the task, in the caller's transaction. `detail`
/// adds the note, status change or document concerned to the body.
pub async fn record<'w>(
    writer: impl Into<Writer<'w>>,
    tenant: TenantId,
    tenant_name: &str,
    task: &Task,
    event: OutboundEvent,
    detail: Option<(&str, Value)>,
    now: Timestamp,
) -> Result<usize, StorageError> {
    let mut writer = writer.into();
    let recipients =
        outbound::recipients(writer.again(), tenant, event, task.site_id, task.contractor_id, task.created_by).await?;
    if recipients.is_empty() {
        return Ok(0);
    }
    let event_id = uuid::Uuid::new_v4().to_string();
    let mut body = json!({
        "Event": event.name(),
        "EventId": event_id,
        "OccurredAtUtc": now.to_rfc3339(),
        "Tenant": tenant_name,
        "Task": TaskJson::from(task).to_value(),
    });
    if let (Some((key, value)), Some(object)) = (detail, body.as_object_mut()) {
        object.insert(key.to_owned(), value);
    }
    let payload = body.to_string();
    let mut queued = 0;
    for recipient in &recipients {
        let own_creation = event == OutboundEvent::TaskCreated && task.created_by == Some(recipient.user);
        if own_creation && !recipient.send_created {
            continue;
        }
        outbound::enqueue(
            writer.again(),
            &outbound::NewDelivery {
                tenant,
                event_id: &event_id,
                event,
                task: task.id,
                recipient: recipient.user,
                url: &recipient.url,
                payload: &payload,
            },
            now,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// The delivery history: the caller's own deliveries, or (`everyone`, for administrators
/// holding api_credentials.administer) the tenant's.
pub async fn history(
    app: &App,
    by: &Principal,
    everyone: Option<&Authorized<'_, can::ApiCredentialsAdminister, Principal>>,
    before: Option<i64>,
) -> Result<Vec<Delivery>, AppError> {
    let recipient = match everyone {
        Some(_) => None,
        None => Some(user_of(by)?.0),
    };
    Ok(outbound::history(app.db.read(), by.tenant, recipient, before, 100).await?)
}

/// The tenant's mail outbox (failure notices), newest first, for administrators.
pub async fn mails(
    app: &App,
    by: &Authorized<'_, can::ApiCredentialsAdminister, Principal>,
) -> Result<Vec<outbound::Mail>, AppError> {
    Ok(outbound::mails(app.db.read(), by.principal().tenant, 100).await?)
}

/// Puts a failed delivery back in the queue: the caller's own, or any of the tenant's for
/// administrators.
pub async fn resend(
    app: &App,
    by: &Principal,
    everyone: Option<&Authorized<'_, can::ApiCredentialsAdminister, Principal>>,
    id: i64,
) -> Result<(), AppError> {
    let recipient = match everyone {
        Some(_) => None,
        None => Some(user_of(by)?.0),
    };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if !outbound::resend(&mut tx, by.tenant, id, recipient, now).await? {
        return Err(AppError::NotFound);
    }
    caretaker_storage::audit::record(
        &mut tx,
        &caretaker_storage::audit::Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "outbound.resent",
            target: Some(&id.to_string()),
            detail: "",
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    app.outbound_wakeup.notify_one();
    Ok(())
}

/// Resolves receiver names, refusing private addresses unless the policy allows them (the
/// check happens on the addresses actually connected to, so a name cannot be re-pointed
/// into the server's own network between a check and the call).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| rules::is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A server's delivery worker.
pub struct Deliverer {
    app: App,
    client: reqwest::Client,
    worker: String,
}

impl Deliverer {
    pub fn new(app: App) -> Result<Self, AppError> {
        let options = app.outbound;
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Caretaker/", env!("CARGO_PKG_VERSION")));
        if !options.policy.allow_insecure {
            builder = builder.https_only(true).dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|err| AppError::internal(format!("HTTP client: {err}")))?;
        Ok(Self { app, client, worker: uuid::Uuid::new_v4().to_string() })
    }

    /// Delivers what is due now (one batch); returns how many deliveries were attempted.
    pub async fn deliver_due(&self) -> Result<usize, AppError> {
        let now = self.app.clock.now();
        // Longer than an attempt can take (the timeout covers the connection and the answer),
        // short enough that a server dying mid-delivery delays the delivery little.
        let lease = now.plus_seconds(i64::try_from(self.app.outbound.timeout.as_secs()).unwrap_or(10) * 2 + 5);
        let claimed = {
            let mut tx = self.app.db.begin().await?;
            let claimed = outbound::claim(&mut tx, self.app.db.backend(), &self.worker, now, lease, 32).await?;
            tx.commit().await.map_err(StorageError::from)?;
            claimed
        };
        let count = claimed.len();
        let mut running = tokio::task::JoinSet::new();
        for delivery in claimed {
            let this = self.clone_handle();
            running.spawn(async move { this.deliver(delivery).await });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "outbound delivery bookkeeping failed"),
                Err(err) => tracing::error!(error = %err, "outbound delivery task failed"),
            }
        }
        Ok(count)
    }

    fn clone_handle(&self) -> Self {
        Self { app: self.app.clone(), client: self.client.clone(), worker: self.worker.clone() }
    }

    /// Delivers until `shutdown` changes: whatever is due, then waits for new work (or a
    /// second, for retries coming due).
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let attempted = match self.deliver_due().await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = %err, "outbound delivery round failed");
                    0
                }
            };
            if attempted > 0 {
                continue;
            }
            tokio::select! {
                _ = self.app.outbound_wakeup.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn deliver(&self, delivery: Claimed) -> Result<(), AppError> {
        let attempt = self.attempt(&delivery).await;
        let now = self.app.clock.now();
        let attempts = delivery.attempts + 1;
        let outcome = match attempt {
            Ok(status) => Outcome::Delivered { status },
            Err((status, error)) => {
                let server_max = self.app.outbound.max_attempts;
                let tenant_max = outbound::max_attempts(self.app.db.read(), delivery.tenant).await?;
                if attempts >= tenant_max.map_or(server_max, |t| t.min(server_max)) {
                    Outcome::Failed { status, error }
                } else {
                    let delay = rules::retry_delay_ms(self.app.outbound.retry_initial_ms, attempts);
                    let micros = i64::try_from(delay).unwrap_or(i64::MAX / 2).saturating_mul(1000);
                    let next_attempt_at = Timestamp::from_unix_micros(now.unix_micros().saturating_add(micros));
                    Outcome::Retry { status, error, next_attempt_at }
                }
            }
        };
        let mut tx = self.app.db.begin().await?;
        let recorded = outbound::finish(&mut tx, delivery.id, &self.worker, &outcome, now).await?;
        tx.commit().await.map_err(StorageError::from)?;
        if !recorded {
            tracing::warn!(delivery = delivery.id, "outbound lease lost before the outcome was recorded");
            return Ok(());
        }
        if let Outcome::Failed { error, .. } = &outcome {
            self.report_failure(&delivery, error, now).await?;
        }
        Ok(())
    }

    /// One POST. `Ok(200)` when acknowledged; otherwise the status (if any) and why not.
    async fn attempt(&self, delivery: &Claimed) -> Result<i64, (Option<i64>, String)> {
        let settings = outbound::settings(self.app.db.read(), UserId(delivery.recipient))
            .await
            .map_err(|err| (None, format!("reading the receiver's settings: {err}")))?
            .unwrap_or_default();
        let (Some(token), Some(blob)) = (settings.api_token.as_deref(), settings.api_secret.as_deref()) else {
            return Err((None, String::from("the receiver has no API Token and Secret configured")));
        };
        let secret = self
            .app
            .secret_cipher
            .decrypt(&associated(UserId(delivery.recipient), token), blob)
            .map_err(|_| (None, String::from("the stored secret does not decrypt")))?;
        let url = reqwest::Url::parse(&delivery.url).map_err(|err| (None, format!("invalid URL: {err}")))?;
        if let Err(rule) = rules::check_receiver_url(url.as_str(), self.app.outbound.policy) {
            return Err((None, rule.value));
        }
        if !self.app.outbound.policy.allow_insecure
            && let Some(host) = url.host_str()
            && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && !rules::is_public(ip)
        {
            return Err((None, String::from("the receiver is in a private network")));
        }
        let timestamp = tcn::format_timestamp(self.app.clock.now());
        let authorization = tcn::sign("POST", url.path(), &timestamp, token, secret.expose_secret().as_bytes(), None);
        let response = self
            .client
            .post(url)
            .header("Authorization", authorization)
            .header("X-Timestamp", timestamp)
            .header("Content-Type", "application/json")
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|err| (None, describe(&err)))?;
        let status = i64::from(response.status().as_u16());
        let body = response.bytes().await.map_err(|err| (Some(status), describe(&err)))?;
        match (status, body.is_empty()) {
            (200, true) => Ok(status),
            (200, false) => Err((Some(status), String::from("200 with a body (only an empty 200 acknowledges)"))),
            _ => Err((Some(status), format!("HTTP {status}"))),
        }
    }

    /// A terminal failure: e-mailed to the receiver when asked for (through SMTP when
    /// configured, else kept in the mail outbox administrators can read).
    async fn report_failure(&self, delivery: &Claimed, error: &str, now: Timestamp) -> Result<(), AppError> {
        let settings = outbound::settings(self.app.db.read(), UserId(delivery.recipient)).await?.unwrap_or_default();
        if !settings.email_failures {
            return Ok(());
        }
        let mut conn = self.app.db.read().acquire().await.map_err(StorageError::from)?;
        let Some(user) = users::get(&mut conn, delivery.tenant, UserId(delivery.recipient)).await? else {
            return Ok(());
        };
        drop(conn);
        let subject = String::from("Caretaker could not deliver a task notification");
        let body = format!(
            "Caretaker gave up delivering event {} to {} after its last attempt failed: {error}.\n\
             You can resend it from Account Settings > API > Delivery history.\n",
            delivery.event_id, delivery.url
        );
        let sent = match &self.app.mailer {
            Some(mailer) => mailer.send(&user.email, &subject, body.clone()).await.is_ok().then_some(now),
            None => None,
        };
        let mut tx = self.app.db.begin().await?;
        outbound::queue_mail(&mut tx, delivery.tenant, &user.email, &subject, &body, sent, now).await?;
        tx.commit().await.map_err(StorageError::from)?;
        Ok(())
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        String::from("timed out")
    } else if err.is_connect() {
        String::from("could not connect")
    } else {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    }
}

/// The tenant's attempt limit (`None`: the server's) and the server's.
pub async fn max_attempts(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
) -> Result<(Option<i64>, i64), AppError> {
    Ok((outbound::max_attempts(app.db.read(), by.principal().tenant).await?, app.outbound.max_attempts))
}

/// The tenant's attempt limit (1 to the server's; `None`: the server's).
pub async fn set_max_attempts(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    attempts: Option<i64>,
) -> Result<(), AppError> {
    if attempts.is_some_and(|a| !(1..=app.outbound.max_attempts).contains(&a)) {
        return Err(AppError::invalid(BrokenRule::new(
            "Tenant",
            "InvalidOutboundAttempts",
            format!("Outbound deliveries are tried 1 to {} times", app.outbound.max_attempts),
        )));
    }
    let mut tx = app.db.begin().await?;
    outbound::set_max_attempts(&mut tx, by.principal().tenant, attempts).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}
