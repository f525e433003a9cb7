//! Workflows with their statuses and destinations, service levels, dispatch rules: the
//! configuration tasks move through.

use std::sync::LazyLock;

use caretaker_domain::clock::Timestamp;
use caretaker_domain::task::{DispatchRule, Status, StatusFlags, StatusType, Workflow, WorkflowType};
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row};

use crate::read::{Bind, Columns, Reader, Sql};
use crate::{StorageError, flag};

/// A status to insert: name, type, flags.
#[derive(Debug, Clone)]
pub struct NewStatus<'a> {
    pub name: &'a str,
    pub status_type: StatusType,
    pub flags: StatusFlags,
}

/// A workflow to insert: its statuses in order, and its destinations by status name
/// (from, to), in the order they are offered.
#[derive(Debug, Clone)]
pub struct NewWorkflow<'a> {
    pub name: &'a str,
    pub workflow_type: WorkflowType,
    pub is_default: bool,
    pub statuses: &'a [NewStatus<'a>],
    pub destinations: &'a [(&'a str, &'a str)],
}

/// Inserts a workflow with its statuses and destinations; returns its id.
pub async fn insert(
    conn: &mut AnyConnection,
    tenant: TenantId,
    workflow: &NewWorkflow<'_>,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let NewWorkflow { name, workflow_type, is_default, statuses, destinations } = *workflow;
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO workflows (tenant_id, workflow_type, name, name_key, is_active, is_default, created_at)
                 VALUES ($1, $2, $3, $4, 1, $5, $6) RETURNING id",
            )
            .bind(tenant.0)
            .bind(workflow_type.name())
            .bind(name)
            .bind(name.trim().to_lowercase())
            .bind(flag(is_default))
            .bind(now.unix_micros()),
        )
        .await?;
    let workflow: i64 = row.try_get(0)?;
    let mut ids = Vec::with_capacity(statuses.len());
    for (position, status) in statuses.iter().enumerate() {
        ids.push((status.name, insert_status(conn, workflow, position as i64, status).await?));
    }
    for (position, (from, to)) in destinations.iter().enumerate() {
        let find = |name: &str| ids.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, id)| *id);
        if let (Some(from), Some(to)) = (find(from), find(to)) {
            add_destination(conn, from, to, position as i64).await?;
        }
    }
    Ok(workflow)
}

/// Adds a status at `position`; [`StorageError::Conflict`] when the name is taken.
pub async fn insert_status(
    conn: &mut AnyConnection,
    workflow: i64,
    position: i64,
    status: &NewStatus<'_>,
) -> Result<i64, StorageError> {
    let f = status.flags;
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO workflow_statuses (workflow_id, position, name, name_key, status_type,
                    is_quotation_enabled, is_manual_date_enabled, is_eligible_to_invoice,
                    is_resolution_cause_enabled, is_resolution_remedy_enabled, update_asset_condition,
                    supplier_on_site)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(workflow)
            .bind(position)
            .bind(status.name)
            .bind(status.name.trim().to_lowercase())
            .bind(status.status_type.name())
            .bind(flag(f.quotation_enabled))
            .bind(flag(f.manual_date_enabled))
            .bind(flag(f.eligible_to_invoice))
            .bind(flag(f.resolution_cause_enabled))
            .bind(flag(f.resolution_remedy_enabled))
            .bind(flag(f.update_asset_condition))
            .bind(flag(f.supplier_on_site)),
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn add_destination(conn: &mut AnyConnection, from: i64, to: i64, position: i64) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("INSERT INTO workflow_destinations (status_id, destination_id, position) VALUES ($1, $2, $3)")
            .bind(from)
            .bind(to)
            .bind(position),
    )
    .await?;
    Ok(())
}

/// Replaces a status's type, flags and destinations.
pub async fn update_status(
    conn: &mut AnyConnection,
    status: i64,
    status_type: StatusType,
    flags: StatusFlags,
    destinations: &[i64],
) -> Result<(), StorageError> {
    let f = flags;
    conn.execute(
        sqlx::query(
            "UPDATE workflow_statuses SET status_type = $2, is_quotation_enabled = $3, is_manual_date_enabled = $4,
                is_eligible_to_invoice = $5, is_resolution_cause_enabled = $6, is_resolution_remedy_enabled = $7,
                update_asset_condition = $8, supplier_on_site = $9
             WHERE id = $1",
        )
        .bind(status)
        .bind(status_type.name())
        .bind(flag(f.quotation_enabled))
        .bind(flag(f.manual_date_enabled))
        .bind(flag(f.eligible_to_invoice))
        .bind(flag(f.resolution_cause_enabled))
        .bind(flag(f.resolution_remedy_enabled))
        .bind(flag(f.update_asset_condition))
        .bind(flag(f.supplier_on_site)),
    )
    .await?;
    conn.execute(sqlx::query("DELETE FROM workflow_destinations WHERE status_id = $1").bind(status)).await?;
    for (position, to) in destinations.iter().enumerate() {
        add_destination(conn, status, *to, position as i64).await?;
    }
    Ok(())
}

/// Sets whether a workflow is active and whether it is its type's default (one default
/// per type: setting it clears the others').
pub async fn set_state(
    conn: &mut AnyConnection,
    tenant: TenantId,
    workflow: i64,
    is_active: bool,
    is_default: bool,
) -> Result<(), StorageError> {
    if is_default {
        conn.execute(
            sqlx::query(
                "UPDATE workflows SET is_default = 0 WHERE tenant_id = $1 AND workflow_type =
                    (SELECT workflow_type FROM workflows WHERE id = $2)",
            )
            .bind(tenant.0)
            .bind(workflow),
        )
        .await?;
    }
    conn.execute(
        sqlx::query("UPDATE workflows SET is_active = $3, is_default = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(workflow)
            .bind(flag(is_active))
            .bind(flag(is_default)),
    )
    .await?;
    Ok(())
}

fn status_type(text: &str) -> Result<StatusType, StorageError> {
    StatusType::from_name(text).ok_or_else(|| StorageError::Corrupt(format!("status type {text:?}")))
}

/// Workflows of the tenant (of one type, or all), with statuses and destinations, by
/// type and name. `name` narrows to one workflow (any case).
pub async fn list<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    workflow_type: Option<WorkflowType>,
    name: Option<&str>,
) -> Result<Vec<Workflow>, StorageError> {
    select(reader.into(), tenant, &Narrow { workflow_type, name, id: None }).await
}

/// Which workflows [`select`] reads (all of the tenant's when every field is `None`).
#[derive(Debug, Default)]
struct Narrow<'a> {
    workflow_type: Option<WorkflowType>,
    name: Option<&'a str>,
    id: Option<i64>,
}

async fn select(mut reader: Reader<'_>, tenant: TenantId, narrow: &Narrow<'_>) -> Result<Vec<Workflow>, StorageError> {
    let Narrow { workflow_type, name, id } = *narrow;
    // One statement: each workflow with its statuses in order, each status with its
    // destinations in order (one row per destination, one for a status without any, one for
    // a workflow without statuses). Narrowed only by what was asked: `$n IS NULL OR ...`
    // would keep SQLite from reading one workflow by its key.
    let mut sql = Sql::default();
    let mut conditions = format!("w.tenant_id = {}", sql.arg(Bind::Int(tenant.0)));
    if let Some(workflow_type) = workflow_type {
        let arg = sql.arg(Bind::Text(workflow_type.name().to_owned()));
        conditions.push_str(&format!(" AND w.workflow_type = {arg}"));
    }
    if let Some(name) = name {
        let arg = sql.arg(Bind::Text(name.trim().to_lowercase()));
        conditions.push_str(&format!(" AND w.name_key = {arg}"));
    }
    if let Some(id) = id {
        let arg = sql.arg(Bind::Int(id));
        conditions.push_str(&format!(" AND w.id = {arg}"));
    }
    sql.text = format!(
        "SELECT w.id, w.name, w.workflow_type, w.is_active, w.is_default, {STATUS_COLUMNS}, t.id
         FROM workflows w
         LEFT JOIN workflow_statuses s ON s.workflow_id = w.id
         LEFT JOIN workflow_destinations d ON d.status_id = s.id
         LEFT JOIN workflow_statuses t ON t.id = d.destination_id
         WHERE {conditions}
         ORDER BY w.workflow_type, w.name_key, w.id, s.position, s.id, d.position, t.position, t.id"
    )
    .into();
    let mut workflows: Vec<Workflow> = Vec::new();
    reader
        .rows(&sql, |row| {
            let workflow_id = row.int(0)?;
            if workflows.last().is_none_or(|w| w.id != workflow_id) {
                let kind = row.str(2)?;
                workflows.push(Workflow {
                    id: workflow_id,
                    name: row.text(1)?,
                    workflow_type: WorkflowType::from_name(kind)
                        .ok_or_else(|| StorageError::Corrupt(format!("workflow type {kind:?}")))?,
                    is_active: row.int(3)? != 0,
                    is_default: row.int(4)? != 0,
                    statuses: Vec::new(),
                });
            }
            let Some(workflow) = workflows.last_mut() else { return Ok(()) };
            let Some(status_id) = row.opt_int(5)? else { return Ok(()) };
            if workflow.statuses.last().is_none_or(|s| s.id != status_id) {
                workflow.statuses.push(status_at(row, 5)?);
            }
            if let (Some(to), Some(status)) = (row.opt_int(15)?, workflow.statuses.last_mut()) {
                status.destinations.push(to);
            }
            Ok(())
        })
        .await?;
    Ok(workflows)
}

/// The columns of a status (`s`) that [`status_at`] reads.
const STATUS_COLUMNS: &str = "s.id, s.name, s.status_type, s.is_quotation_enabled, s.is_manual_date_enabled,
    s.is_eligible_to_invoice, s.is_resolution_cause_enabled, s.is_resolution_remedy_enabled,
    s.update_asset_condition, s.supplier_on_site";

/// The status whose [`STATUS_COLUMNS`] start at column `first`, without its destinations.
fn status_at(row: &dyn Columns, first: usize) -> Result<Status, StorageError> {
    let on = |i: usize| row.int(first + i).map(|v| v != 0);
    Ok(Status {
        id: row.int(first)?,
        name: row.text(first + 1)?,
        status_type: status_type(row.str(first + 2)?)?,
        flags: StatusFlags {
            quotation_enabled: on(3)?,
            manual_date_enabled: on(4)?,
            eligible_to_invoice: on(5)?,
            resolution_cause_enabled: on(6)?,
            resolution_remedy_enabled: on(7)?,
            update_asset_condition: on(8)?,
            supplier_on_site: on(9)?,
        },
        destinations: Vec::new(),
    })
}

/// The statuses a task in status `from` of workflow `workflow` (the tenant's) may move to,
/// in the order they are offered: what [`Workflow::destinations_of`] answers for it, in one
/// statement that reads only them (their own destinations are not read).
pub async fn destinations_of<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    workflow: i64,
    from: i64,
) -> Result<Vec<Status>, StorageError> {
    // The destination status is `s` here, for STATUS_COLUMNS; the text is built once.
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {STATUS_COLUMNS} FROM workflow_destinations d
             JOIN workflow_statuses s ON s.id = d.destination_id AND s.workflow_id = $2
             JOIN workflow_statuses f ON f.id = d.status_id AND f.workflow_id = $2
             JOIN workflows w ON w.id = $2 AND w.tenant_id = $3
             WHERE d.status_id = $1
             ORDER BY d.position, s.position, s.id"
        )
    });
    let sql = Sql::new(TEXT.as_str()).bind(Bind::Int(from)).bind(Bind::Int(workflow)).bind(Bind::Int(tenant.0));
    reader.into().rows(&sql, |row| status_at(row, 0)).await
}

/// One workflow by id, in the tenant.
pub async fn get<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    id: i64,
) -> Result<Option<Workflow>, StorageError> {
    Ok(select(reader.into(), tenant, &Narrow { id: Some(id), ..Narrow::default() }).await?.into_iter().next())
}

/// The id of the tenant's workflow named `name` (any case) of `workflow_type`.
pub async fn id_by_name<'c, E>(
    executor: E,
    tenant: TenantId,
    workflow_type: WorkflowType,
    name: &str,
) -> Result<Option<(i64, bool)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query(
                "SELECT id, is_active FROM workflows WHERE tenant_id = $1 AND workflow_type = $2 AND name_key = $3",
            )
            .bind(tenant.0)
            .bind(workflow_type.name())
            .bind(name.trim().to_lowercase()),
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0))).transpose()
}

/// The default workflow of a type: the active one marked default, else the oldest active.
pub async fn default_id<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    workflow_type: WorkflowType,
) -> Result<Option<i64>, StorageError> {
    let sql = Sql::new(
        "SELECT id FROM workflows WHERE tenant_id = $1 AND workflow_type = $2 AND is_active = 1
         ORDER BY is_default DESC, id LIMIT 1",
    )
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Text(workflow_type.name().to_owned()));
    reader.into().first(&sql, |row| row.int(0)).await
}

/// A service level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLevel {
    pub id: i64,
    pub name: String,
    pub respond_minutes: i64,
    pub complete_minutes: i64,
    pub is_active: bool,
}

/// Inserts; [`StorageError::Conflict`] when the name is taken.
pub async fn insert_service_level(
    conn: &mut AnyConnection,
    tenant: TenantId,
    name: &str,
    respond_minutes: i64,
    complete_minutes: i64,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO service_levels (tenant_id, name, name_key, respond_minutes, complete_minutes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(tenant.0)
            .bind(name.trim())
            .bind(name.trim().to_lowercase())
            .bind(respond_minutes)
            .bind(complete_minutes)
            .bind(now.unix_micros()),
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_service_level(
    conn: &mut AnyConnection,
    tenant: TenantId,
    id: i64,
    respond_minutes: i64,
    complete_minutes: i64,
    is_active: bool,
) -> Result<bool, StorageError> {
    let done = conn
        .execute(
            sqlx::query(
                "UPDATE service_levels SET respond_minutes = $3, complete_minutes = $4, is_active = $5
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(respond_minutes)
            .bind(complete_minutes)
            .bind(flag(is_active)),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A row of `id, name, respond_minutes, complete_minutes, is_active`.
fn service_level_from_row(row: &dyn Columns) -> Result<ServiceLevel, StorageError> {
    Ok(ServiceLevel {
        id: row.int(0)?,
        name: row.text(1)?,
        respond_minutes: row.int(2)?,
        complete_minutes: row.int(3)?,
        is_active: row.int(4)? != 0,
    })
}

/// The tenant's service levels, by name.
pub async fn service_levels<'c, E>(executor: E, tenant: TenantId) -> Result<Vec<ServiceLevel>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT id, name, respond_minutes, complete_minutes, is_active FROM service_levels
                 WHERE tenant_id = $1 ORDER BY name_key",
            )
            .bind(tenant.0),
        )
        .await?;
    rows.iter().map(|row| service_level_from_row(row)).collect()
}

/// One service level by id or by name (any case).
pub async fn service_level<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    id: Option<i64>,
    name: Option<&str>,
) -> Result<Option<ServiceLevel>, StorageError> {
    let sql = Sql::new(
        "SELECT id, name, respond_minutes, complete_minutes, is_active FROM service_levels
         WHERE tenant_id = $1 AND ($2 IS NULL OR id = $2) AND ($3 IS NULL OR name_key = $3)
         ORDER BY id LIMIT 1",
    )
    .bind(Bind::Int(tenant.0))
    .bind(Bind::OptInt(id))
    .bind(Bind::OptText(name.map(|n| n.trim().to_lowercase())));
    reader.into().first(&sql, service_level_from_row).await
}

/// A dispatch rule as listed: the rule and the names of what it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRule {
    pub rule: DispatchRule,
    pub site_code: Option<String>,
    pub contractor_code: Option<String>,
    pub service_level: Option<String>,
    pub workflow: Option<String>,
}

pub async fn insert_rule(
    conn: &mut AnyConnection,
    tenant: TenantId,
    rule: &DispatchRule,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO dispatch_rules (tenant_id, site_id, geographic_area_code, site_channel_code, matrix_code,
                    contractor_id, service_level_id, workflow_id, chargeability, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(tenant.0)
            .bind(rule.site)
            .bind(rule.geographic_area.as_deref())
            .bind(rule.site_channel.as_deref())
            .bind(rule.matrix_code.as_deref())
            .bind(rule.contractor)
            .bind(rule.service_level)
            .bind(rule.workflow)
            .bind(rule.chargeability.as_deref())
            .bind(now.unix_micros()),
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn delete_rule(conn: &mut AnyConnection, tenant: TenantId, id: i64) -> Result<bool, StorageError> {
    let done = conn
        .execute(sqlx::query("DELETE FROM dispatch_rules WHERE tenant_id = $1 AND id = $2").bind(tenant.0).bind(id))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The tenant's dispatch rules, oldest first, with the names they refer to.
pub async fn rules<'r>(reader: impl Into<Reader<'r>>, tenant: TenantId) -> Result<Vec<ListedRule>, StorageError> {
    let sql = Sql::new(
        "SELECT r.id, r.site_id, r.geographic_area_code, r.site_channel_code, r.matrix_code, r.contractor_id,
            r.service_level_id, r.workflow_id, r.chargeability, s.code AS site_code, c.code AS contractor_code,
            l.name AS service_level, w.name AS workflow
         FROM dispatch_rules r
         LEFT JOIN sites s ON s.id = r.site_id
         LEFT JOIN contractors c ON c.id = r.contractor_id
         LEFT JOIN service_levels l ON l.id = r.service_level_id
         LEFT JOIN workflows w ON w.id = r.workflow_id
         WHERE r.tenant_id = $1 ORDER BY r.id",
    )
    .bind(Bind::Int(tenant.0));
    reader
        .into()
        .rows(&sql, |row| {
            Ok(ListedRule {
                rule: DispatchRule {
                    id: row.int(0)?,
                    site: row.opt_int(1)?,
                    geographic_area: row.opt_text(2)?,
                    site_channel: row.opt_text(3)?,
                    matrix_code: row.opt_text(4)?,
                    contractor: row.opt_int(5)?,
                    service_level: row.opt_int(6)?,
                    workflow: row.opt_int(7)?,
                    chargeability: row.opt_text(8)?,
                },
                site_code: row.opt_text(9)?,
                contractor_code: row.opt_text(10)?,
                service_level: row.opt_text(11)?,
                workflow: row.opt_text(12)?,
            })
        })
        .await
}
