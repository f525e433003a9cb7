//! The outbound API's tables: each user's callback settings, the outbox of deliveries
//! (claimed under a lease, in order per receiver and task), and the mail outbox.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::outbound::OutboundEvent;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::UserId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use crate::read::{Bind, Sql};
use crate::write::Writer;
use crate::{Backend, StorageError, flag};

/// The URL columns, in [`OutboundEvent::ALL`] order.
const URL_COLUMNS: [&str; 6] = [
    "task_created_url",
    "task_status_url",
    "task_note_url",
    "task_chased_url",
    "task_changed_url",
    "task_document_added_url",
];

/// A user's outbound configuration as stored (the secret still encrypted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// One URL per event, in [`OutboundEvent::ALL`] order.
    pub urls: [Option<String>; 6],
    pub send_created: bool,
    pub email_failures: bool,
    pub api_token: Option<String>,
    pub api_secret: Option<Vec<u8>>,
    pub api_secret_last4: Option<String>,
}

pub async fn settings<'c, E>(executor: E, user: UserId) -> Result<Option<Settings>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(&format!(
                "SELECT {}, send_created, email_failures, api_token, api_secret, api_secret_last4
                 FROM outbound_settings WHERE user_id = $1",
                URL_COLUMNS.join(", ")
            ))
            .bind(user.0),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut urls: [Option<String>; 6] = Default::default();
    for (slot, column) in urls.iter_mut().zip(URL_COLUMNS) {
        *slot = row.try_get(column)?;
    }
    Ok(Some(Settings {
        urls,
        send_created: row.try_get::<i64, _>("send_created")? != 0,
        email_failures: row.try_get::<i64, _>("email_failures")? != 0,
        api_token: row.try_get("api_token")?,
        api_secret: row.try_get("api_secret")?,
        api_secret_last4: row.try_get("api_secret_last4")?,
    }))
}

/// Writes a user's settings (replacing what was there).
pub async fn save_settings(
    conn: &mut AnyConnection,
    user: UserId,
    settings: &Settings,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM outbound_settings WHERE user_id = $1").bind(user.0)).await?;
    let mut query = sqlx::query(&INSERT_SETTINGS).bind(user.0);
    for url in &settings.urls {
        query = query.bind(url.as_deref());
    }
    conn.execute(
        query
            .bind(flag(settings.send_created))
            .bind(flag(settings.email_failures))
            .bind(settings.api_token.as_deref())
            .bind(settings.api_secret.clone())
            .bind(settings.api_secret_last4.as_deref())
            .bind(now.unix_micros()),
    )
    .await?;
    Ok(())
}

static INSERT_SETTINGS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO outbound_settings (user_id, {}, send_created, email_failures, api_token, api_secret,
            api_secret_last4, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        URL_COLUMNS.join(", ")
    )
});

/// A receiver of an event: the user and the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub user: i64,
    pub url: String,
    pub send_created: bool,
}

/// Who receives `event` for a task at `site`, dispatched to `contractor`, raised by
/// `creator`: the creator; Contractor users of the contractor or a contractor above it;
/// Management and Site users with access to the site or a site above it. Only active users
/// with a URL for the event.
pub async fn recipients<'w>(
    writer: impl Into<Writer<'w>>,
    tenant: TenantId,
    event: OutboundEvent,
    site: i64,
    contractor: Option<i64>,
    creator: Option<i64>,
) -> Result<Vec<Recipient>, StorageError> {
    let column = URL_COLUMNS[event.index()];
    let sql = Sql::new(format!(
        "WITH RECURSIVE up(id, parent_id, code_key, area, channel) AS (
                    SELECT id, parent_id, code_key, geographic_area_code, site_channel_code FROM sites WHERE id = $2
                    UNION
                    SELECT p.id, p.parent_id, p.code_key, p.geographic_area_code, p.site_channel_code
                    FROM sites p JOIN up ON p.id = up.parent_id),
                 supplier(id, parent_id) AS (
                    SELECT id, parent_id FROM contractors WHERE id = $3
                    UNION
                    SELECT c.id, c.parent_id FROM contractors c JOIN supplier s ON c.id = s.parent_id)
                 SELECT u.id, o.{column} AS url, o.send_created FROM users u
                 JOIN outbound_settings o ON o.user_id = u.id
                 WHERE u.tenant_id = $1 AND u.status = 'Active' AND o.{column} IS NOT NULL AND (
                    u.id = $4
                    OR (u.user_type = 'Contractor' AND u.contractor_id IN (SELECT id FROM supplier))
                    OR (u.user_type <> 'Contractor' AND (u.site_access = 'all' OR (u.site_access = 'some' AND EXISTS (
                        SELECT 1 FROM up JOIN user_site_access a ON a.user_id = u.id AND (
                            (a.kind = 'site' AND up.code_key = a.code)
                            OR (a.kind = 'area' AND (up.area = a.code OR up.area LIKE a.code || '-%'))
                            OR (a.kind = 'channel' AND (up.channel = a.code OR up.channel LIKE a.code || '-%'))))))))
                 ORDER BY u.id"
    ))
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Int(site))
    .bind(Bind::OptInt(contractor))
    .bind(Bind::OptInt(creator));
    writer.into().rows(&sql, |r| Ok(Recipient { user: r.int(0)?, url: r.text(1)?, send_created: r.int(2)? != 0 })).await
}

/// A delivery to queue.
#[derive(Debug)]
pub struct NewDelivery<'a> {
    pub tenant: TenantId,
    pub event_id: &'a str,
    pub event: OutboundEvent,
    pub task: i64,
    pub recipient: i64,
    pub url: &'a str,
    pub payload: &'a str,
}

pub async fn enqueue<'w>(
    writer: impl Into<Writer<'w>>,
    delivery: &NewDelivery<'_>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let sql = Sql::new(
        "INSERT INTO outbox (tenant_id, event_id, event, task_id, recipient_id, url, payload, occurred_at, state,
            next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $8)",
    )
    .bind(Bind::Int(delivery.tenant.0))
    .bind(Bind::Text(delivery.event_id.to_owned()))
    .bind(Bind::Text(delivery.event.name().to_owned()))
    .bind(Bind::Int(delivery.task))
    .bind(Bind::Int(delivery.recipient))
    .bind(Bind::Text(delivery.url.to_owned()))
    .bind(Bind::Text(delivery.payload.to_owned()))
    .bind(Bind::Int(now.unix_micros()));
    writer.into().execute(&sql).await?;
    Ok(())
}

/// A delivery claimed for sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub tenant: TenantId,
    pub event_id: String,
    pub recipient: i64,
    pub url: String,
    pub payload: String,
    pub attempts: i64,
}

/// Claims up to `limit` due deliveries for `worker` until `lease_until`: pending, due, not
/// leased by a live worker, and the oldest pending one of its receiver and task (so that
/// one task's deliveries to one receiver go out in order). On PostgreSQL rows another
/// server is claiming are skipped, not waited for.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<Claimed>, StorageError> {
    let skip_locked = match backend {
        Backend::Postgres => "FOR UPDATE OF o SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = conn
        .fetch_all(
            sqlx::query(&format!(
                "UPDATE outbox SET lease_until = $2, leased_by = $3
                 WHERE state = 'pending' AND next_attempt_at <= $1 AND lease_until < $1 AND id IN (
                    SELECT o.id FROM outbox o
                    WHERE o.state = 'pending' AND o.next_attempt_at <= $1 AND o.lease_until < $1
                      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.recipient_id = o.recipient_id
                          AND p.task_id = o.task_id AND p.state = 'pending' AND p.id < o.id)
                    ORDER BY o.id LIMIT $4 {skip_locked})
                 RETURNING id, tenant_id, event_id, recipient_id, url, payload, attempts"
            ))
            .bind(now.unix_micros())
            .bind(lease_until.unix_micros())
            .bind(worker)
            .bind(limit),
        )
        .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                tenant: TenantId(r.try_get(1)?),
                event_id: r.try_get(2)?,
                recipient: r.try_get(3)?,
                url: r.try_get(4)?,
                payload: r.try_get(5)?,
                attempts: r.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: i64,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<i64>,
        error: String,
        next_attempt_at: Timestamp,
    },
    /// No more attempts.
    Failed {
        status: Option<i64>,
        error: String,
    },
}

/// Records an attempt's outcome, if `worker` still holds the lease. `false`: the lease ran
/// out and another worker may have the row (nothing written).
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    worker: &str,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let (state, status, error, next, delivered) = match outcome {
        Outcome::Delivered { status } => ("delivered", Some(*status), None, now, Some(now.unix_micros())),
        Outcome::Retry { status, error, next_attempt_at } => {
            ("pending", *status, Some(error.as_str()), *next_attempt_at, None)
        }
        Outcome::Failed { status, error } => ("failed", *status, Some(error.as_str()), now, None),
    };
    let done = conn
        .execute(
            sqlx::query(
                "UPDATE outbox SET state = $3, attempts = attempts + 1, last_status = $4, last_error = $5,
                    next_attempt_at = $6, delivered_at = $7, lease_until = 0, leased_by = NULL
                 WHERE id = $1 AND leased_by = $2 AND state = 'pending'",
            )
            .bind(id)
            .bind(worker)
            .bind(state)
            .bind(status)
            .bind(error.map(|e| e.chars().take(500).collect::<String>()))
            .bind(next.unix_micros())
            .bind(delivered),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A delivery as listed in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub event: String,
    pub task_reference: String,
    pub recipient_email: String,
    pub url: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub occurred_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

fn delivery_from_row(r: &AnyRow) -> Result<Delivery, StorageError> {
    Ok(Delivery {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        event: r.try_get("event")?,
        task_reference: r.try_get("reference")?,
        recipient_email: r.try_get("email")?,
        url: r.try_get("url")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        occurred_at: Timestamp::from_unix_micros(r.try_get("occurred_at")?),
        next_attempt_at: Timestamp::from_unix_micros(r.try_get("next_attempt_at")?),
        delivered_at: r.try_get::<Option<i64>, _>("delivered_at")?.map(Timestamp::from_unix_micros),
    })
}

/// The statement of [`history`].
fn history_sql(tenant: TenantId, recipient: Option<i64>, before: Option<i64>, limit: i64) -> Sql {
    // Only what was asked narrows the statement: the cursor bounds the index range
    // (`$n IS NULL OR o.id < $n` would make every page read from the newest delivery).
    let mut sql = Sql::default();
    let mut conditions = format!("o.tenant_id = {}", sql.arg(Bind::Int(tenant.0)));
    if let Some(recipient) = recipient {
        conditions.push_str(&format!(" AND o.recipient_id = {}", sql.arg(Bind::Int(recipient))));
    }
    if let Some(before) = before {
        conditions.push_str(&format!(" AND o.id < {}", sql.arg(Bind::Int(before))));
    }
    let limit = sql.arg(Bind::Int(limit));
    sql.text = format!(
        "SELECT o.id, o.event_id, o.event, t.reference, u.email, o.url, o.state, o.attempts, o.last_status,
            o.last_error, o.occurred_at, o.next_attempt_at, o.delivered_at
         FROM outbox o JOIN tasks t ON t.id = o.task_id JOIN users u ON u.id = o.recipient_id
         WHERE {conditions} ORDER BY o.id DESC LIMIT {limit}"
    )
    .into();
    sql
}

/// The newest deliveries of the tenant (of one recipient when given), at most `limit`,
/// before id `before` when given.
pub async fn history<'c, E>(
    executor: E,
    tenant: TenantId,
    recipient: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Delivery>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let sql = history_sql(tenant, recipient, before, limit);
    let rows = executor.fetch_all(sql.query()).await?;
    rows.iter().map(delivery_from_row).collect()
}

/// Puts a failed delivery back in the queue (attempts start again). `false` when there is
/// no failed delivery with that id (of that recipient, when given) in the tenant.
pub async fn resend(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: i64,
    recipient: Option<i64>,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let done = conn
        .execute(
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $4, lease_until = 0,
                    leased_by = NULL
                 WHERE tenant_id = $1 AND id = $2 AND state = 'failed' AND ($3 IS NULL OR recipient_id = $3)",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(recipient)
            .bind(now.unix_micros()),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The tenant's attempt limit, if it set one.
pub async fn max_attempts<'c, E>(executor: E, tenant: TenantId) -> Result<Option<i64>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_one(sqlx::query("SELECT outbound_max_attempts FROM tenants WHERE id = $1").bind(tenant.0))
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn set_max_attempts(
    conn: &mut AnyConnection,
    tenant: TenantId,
    attempts: Option<i64>,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("UPDATE tenants SET outbound_max_attempts = $2 WHERE id = $1").bind(tenant.0).bind(attempts),
    )
    .await?;
    Ok(())
}

/// A mail waiting in (or sent from) the mail outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

pub async fn queue_mail(
    conn: &mut AnyConnection,
    tenant: TenantId,
    to: &str,
    subject: &str,
    body: &str,
    sent: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO mail_outbox (tenant_id, to_address, subject, body, created_at, sent_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.0)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now.unix_micros())
        .bind(sent.map(Timestamp::unix_micros)),
    )
    .await?;
    Ok(())
}

/// The tenant's newest mails.
pub async fn mails<'c, E>(executor: E, tenant: TenantId, limit: i64) -> Result<Vec<Mail>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT id, to_address, subject, body, created_at, sent_at FROM mail_outbox
                 WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(tenant.0)
            .bind(limit),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Mail {
                id: r.try_get(0)?,
                to: r.try_get(1)?,
                subject: r.try_get(2)?,
                body: r.try_get(3)?,
                created_at: Timestamp::from_unix_micros(r.try_get(4)?),
                sent_at: r.try_get::<Option<i64>, _>(5)?.map(Timestamp::from_unix_micros),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query_plan;
    use crate::testing::TestDb;

    /// A deep page of the delivery history costs what the first does.
    #[tokio::test]
    async fn a_history_page_starts_its_index_range_at_the_cursor() {
        let t = TestDb::sqlite().await;
        let plan = query_plan(&t.db, &history_sql(TenantId(1), None, Some(5_000), 50)).await;
        assert!(plan.contains("(tenant_id=? AND id<?)"), "{plan}");
    }
}
