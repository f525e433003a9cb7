//! Tasks: numbering, insert, reads narrowed to a [`Scope`], keyset pages, notes, history,
//! and the version-checked updates (status, dispatch, touch) that make concurrent changes
//! of one task safe: a change names the version it read; a stale one changes nothing.

use std::sync::Arc;

use caretaker_domain::clock::Timestamp;
use caretaker_domain::task::{SiteChain, StatusType};
use caretaker_domain::tenant::TenantId;
use sqlx::{Executor, Row};

use crate::read::{Bind, Columns, Reader, Sql};
use crate::visibility::{Scope, contractor_tree_cte, granted_sites_cte};
use crate::write::Writer;
use crate::{Db, StorageError};

/// A task as stored, with the names of what it points at.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id: i64,
    pub reference: String,
    pub external_identifier: Option<String>,
    pub request_hash: Option<String>,
    pub initiator_name: String,
    pub site_id: i64,
    pub site_code: String,
    pub description: String,
    pub defect_source: Option<String>,
    pub matrix_code: String,
    pub chargeability: Option<String>,
    pub workflow_id: i64,
    pub workflow: String,
    pub status_id: i64,
    pub status: String,
    pub status_type: StatusType,
    pub contractor_id: Option<i64>,
    pub supplier: Option<String>,
    pub service_level_id: Option<i64>,
    pub service_level: Option<String>,
    pub respond_by: Option<Timestamp>,
    pub complete_by: Option<Timestamp>,
    pub is_asset_available: Option<bool>,
    pub assets: Vec<String>,
    pub custom_fields: Vec<(String, String)>,
    pub relation: Option<String>,
    pub related_reference: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// A task to insert.
#[derive(Debug)]
pub struct NewTask<'a> {
    pub tenant: TenantId,
    pub reference: &'a str,
    pub created_by: Option<i64>,
    pub external_identifier: Option<&'a str>,
    pub request_hash: Option<&'a str>,
    pub initiator_name: &'a str,
    pub site: i64,
    pub description: &'a str,
    pub defect_source: Option<&'a str>,
    pub matrix_code: &'a str,
    pub chargeability: Option<&'a str>,
    pub workflow: i64,
    pub status: i64,
    pub contractor: Option<i64>,
    pub service_level: Option<i64>,
    pub respond_by: Option<Timestamp>,
    pub complete_by: Option<Timestamp>,
    pub is_asset_available: Option<bool>,
    pub assets: &'a [String],
    pub custom_fields: &'a [(String, String)],
    pub relation: Option<&'a str>,
    pub related_task: Option<i64>,
}

/// A note or a chase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub id: i64,
    pub kind: String,
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// One line of a task's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub occurred_at: Timestamp,
    pub actor_id: Option<i64>,
    pub actor: String,
    /// `created`, `status`, `dispatched`, `note`, `chased`.
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub status_date: Option<Timestamp>,
    pub detail: String,
}

/// What a list narrows to (all optional, combined with AND).
#[derive(Clone, Debug, Default)]
pub struct TaskFilter<'a> {
    pub status: Option<&'a str>,
    pub status_type: Option<StatusType>,
    pub site_code: Option<&'a str>,
    pub supplier: Option<&'a str>,
    pub updated_since: Option<Timestamp>,
    pub external_identifier: Option<&'a str>,
}

/// Where a walk through the pages stands. A walk goes newest change first over the tasks
/// changed up to its start (`started`); then, oldest first, over those changed since, so
/// that a task changed during the walk is not missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskCursor {
    pub started: i64,
    pub catching_up: bool,
    pub updated_at: i64,
    pub id: i64,
}

impl TaskCursor {
    pub fn encode(&self) -> String {
        format!("t1.{}.{}.{}.{}", self.started, u8::from(self.catching_up), self.updated_at, self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("t1.")?.split('.');
        let mut next = || parts.next()?.parse::<i64>().ok();
        let cursor = TaskCursor {
            started: next()?,
            catching_up: match next()? {
                0 => false,
                1 => true,
                _ => return None,
            },
            updated_at: next()?,
            id: next()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// The columns [`from_row`] reads, and the joins that name what a task points at: written
/// once, used whole ([`SELECT`]) and around a page's picked rows ([`phase_sql`]).
macro_rules! columns {
    () => {
        "SELECT t.id, t.reference, t.external_identifier, t.request_hash, t.initiator_name, t.site_id,
        s.code AS site_code, t.description, t.defect_source, t.matrix_code, t.chargeability, t.workflow_id,
        w.name AS workflow, t.status_id, st.name AS status, st.status_type, t.contractor_id, c.code AS supplier,
        t.service_level_id, sl.name AS service_level, t.respond_by, t.complete_by, t.is_asset_available, t.assets,
        t.custom_fields, t.relation, rt.reference AS related_reference, t.created_by, t.created_at, t.updated_at,
        t.version"
    };
}
macro_rules! joins {
    () => {
        "    JOIN sites s ON s.id = t.site_id
    JOIN workflows w ON w.id = t.workflow_id
    JOIN workflow_statuses st ON st.id = t.status_id
    LEFT JOIN contractors c ON c.id = t.contractor_id
    LEFT JOIN service_levels sl ON sl.id = t.service_level_id
    LEFT JOIN tasks rt ON rt.id = t.related_task_id"
    };
}

const SELECT: &str = concat!(columns!(), " FROM tasks t ", joins!());

/// A task as a row of [`SELECT`] holds it: its text borrowed from the row, assets and custom
/// fields as the JSON stored. A page is written out from these without copying a row into
/// a [`Task`] first ([`page_each`]).
#[derive(Clone, Copy)]
pub struct TaskRow<'r> {
    pub id: i64,
    pub reference: &'r str,
    pub external_identifier: Option<&'r str>,
    pub initiator_name: &'r str,
    pub site_code: &'r str,
    pub description: &'r str,
    pub defect_source: Option<&'r str>,
    pub matrix_code: &'r str,
    pub chargeability: Option<&'r str>,
    pub workflow: &'r str,
    pub status: &'r str,
    pub status_type: StatusType,
    pub supplier: Option<&'r str>,
    pub service_level: Option<&'r str>,
    pub respond_by: Option<Timestamp>,
    pub complete_by: Option<Timestamp>,
    pub is_asset_available: Option<bool>,
    /// `["guid", ...]`
    pub assets_json: &'r str,
    /// `[["Name", "Value"], ...]`
    pub custom_fields_json: &'r str,
    pub relation: Option<&'r str>,
    pub related_reference: Option<&'r str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
    /// The row itself, for what is read only to build a [`Task`] ([`TaskKeys`]).
    row: &'r dyn Columns,
}

/// What a row of [`SELECT`] holds besides what a [`TaskRow`] shows: the ids it refers to
/// and the request's hash. Read only where a [`Task`] is built; a page, which writes out what
/// is shown, leaves these columns unread (seven fewer column reads a row).
#[derive(Clone, Copy, Debug)]
struct TaskKeys<'r> {
    request_hash: Option<&'r str>,
    site_id: i64,
    workflow_id: i64,
    status_id: i64,
    contractor_id: Option<i64>,
    service_level_id: Option<i64>,
    created_by: Option<i64>,
}

impl std::fmt::Debug for TaskRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRow").field("id", &self.id).field("reference", &self.reference).finish_non_exhaustive()
    }
}

impl TaskRow<'_> {
    /// The task, owned, with the ids it refers to (read from the row now).
    pub fn to_task(&self) -> Result<Task, StorageError> {
        Task::from_parts(self, &task_keys(self.row)?)
    }

    /// The assets, read from their JSON.
    pub fn assets(&self) -> Result<Vec<String>, StorageError> {
        serde_json::from_str(self.assets_json).map_err(|e| StorageError::Corrupt(format!("task assets: {e}")))
    }

    /// The custom field answers `(name, value)`, read from their JSON.
    pub fn custom_fields(&self) -> Result<Vec<(String, String)>, StorageError> {
        serde_json::from_str(self.custom_fields_json)
            .map_err(|e| StorageError::Corrupt(format!("task custom fields: {e}")))
    }
}

/// A row of [`SELECT`], by position (the columns in the order written there).
fn task_row(row: &dyn Columns) -> Result<TaskRow<'_>, StorageError> {
    let time = |i: usize| row.opt_int(i).map(|v| v.map(Timestamp::from_unix_micros));
    let status_type = row.str(15)?;
    Ok(TaskRow {
        id: row.int(0)?,
        reference: row.str(1)?,
        external_identifier: row.opt_str(2)?,
        initiator_name: row.str(4)?,
        site_code: row.str(6)?,
        description: row.str(7)?,
        defect_source: row.opt_str(8)?,
        matrix_code: row.str(9)?,
        chargeability: row.opt_str(10)?,
        workflow: row.str(12)?,
        status: row.str(14)?,
        status_type: StatusType::from_name(status_type)
            .ok_or_else(|| StorageError::Corrupt(format!("status type {status_type:?}")))?,
        supplier: row.opt_str(17)?,
        service_level: row.opt_str(19)?,
        respond_by: time(20)?,
        complete_by: time(21)?,
        is_asset_available: row.opt_int(22)?.map(|v| v != 0),
        assets_json: row.str(23)?,
        custom_fields_json: row.str(24)?,
        relation: row.opt_str(25)?,
        related_reference: row.opt_str(26)?,
        created_at: Timestamp::from_unix_micros(row.int(28)?),
        updated_at: Timestamp::from_unix_micros(row.int(29)?),
        version: row.int(30)?,
        row,
    })
}

fn task_keys(row: &dyn Columns) -> Result<TaskKeys<'_>, StorageError> {
    Ok(TaskKeys {
        request_hash: row.opt_str(3)?,
        site_id: row.int(5)?,
        workflow_id: row.int(11)?,
        status_id: row.int(13)?,
        contractor_id: row.opt_int(16)?,
        service_level_id: row.opt_int(18)?,
        created_by: row.opt_int(27)?,
    })
}

impl Task {
    fn from_parts(row: &TaskRow<'_>, keys: &TaskKeys<'_>) -> Result<Self, StorageError> {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        Ok(Task {
            id: row.id,
            reference: row.reference.to_owned(),
            external_identifier: owned(row.external_identifier),
            request_hash: owned(keys.request_hash),
            initiator_name: row.initiator_name.to_owned(),
            site_id: keys.site_id,
            site_code: row.site_code.to_owned(),
            description: row.description.to_owned(),
            defect_source: owned(row.defect_source),
            matrix_code: row.matrix_code.to_owned(),
            chargeability: owned(row.chargeability),
            workflow_id: keys.workflow_id,
            workflow: row.workflow.to_owned(),
            status_id: keys.status_id,
            status: row.status.to_owned(),
            status_type: row.status_type,
            contractor_id: keys.contractor_id,
            supplier: owned(row.supplier),
            service_level_id: keys.service_level_id,
            service_level: owned(row.service_level),
            respond_by: row.respond_by,
            complete_by: row.complete_by,
            is_asset_available: row.is_asset_available,
            assets: row.assets()?,
            custom_fields: row.custom_fields()?,
            relation: owned(row.relation),
            related_reference: owned(row.related_reference),
            created_by: keys.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

fn from_row(row: &dyn Columns) -> Result<Task, StorageError> {
    task_row(row)?.to_task()
}

/// The next task number of the tenant. The counter row stays locked until the caller's
/// transaction ends, so concurrent creates get distinct numbers on both backends.
pub async fn next_number<'w>(writer: impl Into<Writer<'w>>, tenant: TenantId) -> Result<i64, StorageError> {
    let sql = Sql::new(
        "INSERT INTO task_counters (tenant_id, last_number) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET last_number = task_counters.last_number + 1
         RETURNING last_number",
    )
    .bind(Bind::Int(tenant.0));
    writer.into().first(&sql, |row| row.int(0)).await?.ok_or(StorageError::NotFound)
}

/// Inserts; [`StorageError::Conflict`] when the creator already used the ExternalIdentifier.
pub async fn insert<'w>(
    writer: impl Into<Writer<'w>>,
    task: &NewTask<'_>,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let json = |value: serde_json::Result<String>| value.map_err(|e| StorageError::Corrupt(e.to_string()));
    let assets = json(serde_json::to_string(task.assets))?;
    let custom_fields = json(serde_json::to_string(task.custom_fields))?;
    let time = |t: Option<Timestamp>| Bind::OptInt(t.map(Timestamp::unix_micros));
    let text = |t: Option<&str>| Bind::OptText(t.map(str::to_owned));
    let sql = Sql::new(
        "INSERT INTO tasks (tenant_id, reference, created_by, external_identifier, request_hash, initiator_name,
            site_id, description, defect_source, matrix_code, chargeability, workflow_id, status_id,
            contractor_id, service_level_id, respond_by, complete_by, is_asset_available, assets,
            custom_fields, relation, related_task_id, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
            $21, $22, $23, $23, 1)
         RETURNING id",
    )
    .bind(Bind::Int(task.tenant.0))
    .bind(Bind::Text(task.reference.to_owned()))
    .bind(Bind::OptInt(task.created_by))
    .bind(text(task.external_identifier))
    .bind(text(task.request_hash))
    .bind(Bind::Text(task.initiator_name.to_owned()))
    .bind(Bind::Int(task.site))
    .bind(Bind::Text(task.description.to_owned()))
    .bind(text(task.defect_source))
    .bind(Bind::Text(task.matrix_code.to_owned()))
    .bind(text(task.chargeability))
    .bind(Bind::Int(task.workflow))
    .bind(Bind::Int(task.status))
    .bind(Bind::OptInt(task.contractor))
    .bind(Bind::OptInt(task.service_level))
    .bind(time(task.respond_by))
    .bind(time(task.complete_by))
    .bind(Bind::OptInt(task.is_asset_available.map(i64::from)))
    .bind(Bind::Text(assets))
    .bind(Bind::Text(custom_fields))
    .bind(text(task.relation))
    .bind(Bind::OptInt(task.related_task))
    .bind(Bind::Int(now.unix_micros()));
    writer.into().first(&sql, |row| row.int(0)).await?.ok_or(StorageError::NotFound)
}

/// The condition that narrows `t` (a task) to `scope`, and the common table expression it
/// needs, if any.
fn scope_condition(sql: &mut Sql, scope: Scope, tenant: &str) -> (Option<String>, String) {
    match scope {
        Scope::All => (None, String::from("1 = 1")),
        Scope::Own { user } => {
            let user = sql.arg(Bind::Int(user));
            (None, format!("t.created_by = {user}"))
        }
        Scope::Granted { user } => {
            let user = sql.arg(Bind::Int(user));
            let cte = granted_sites_cte(&user, tenant);
            (Some(cte), format!("(t.site_id IN (SELECT id FROM granted) OR t.created_by = {user})"))
        }
        Scope::Contractor { user, contractor } => {
            let user = sql.arg(Bind::Int(user));
            let contractor = sql.arg(Bind::Int(contractor));
            let cte = contractor_tree_cte(&contractor);
            (Some(cte), format!("(t.contractor_id IN (SELECT id FROM mine) OR t.created_by = {user})"))
        }
    }
}

fn with_cte(cte: Option<String>, statement: String) -> String {
    match cte {
        Some(cte) => format!("WITH RECURSIVE {cte} {statement}"),
        None => statement,
    }
}

/// One task by reference (any case), if `scope` lets its holder see it. On `&Db` it is read
/// on the read side (SQLite's fast readers); on a transaction it sees the transaction's writes.
pub async fn get<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    scope: Scope,
    reference: &str,
) -> Result<Option<Task>, StorageError> {
    let mut sql = Sql::default();
    let tenant = sql.arg(Bind::Int(tenant.0));
    let reference = sql.arg(Bind::Text(reference.trim().to_ascii_uppercase()));
    let (cte, visible) = scope_condition(&mut sql, scope, &tenant);
    sql.text =
        with_cte(cte, format!("{SELECT} WHERE t.tenant_id = {tenant} AND t.reference = {reference} AND {visible}"))
            .into();
    reader.into().first(&sql, from_row).await
}

/// The task the user created with that ExternalIdentifier, whoever may see it now.
pub async fn by_external_identifier<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    created_by: Option<i64>,
    external_identifier: &str,
) -> Result<Option<Task>, StorageError> {
    let sql = Sql::new(format!(
        "{SELECT} WHERE t.tenant_id = $1 AND t.external_identifier = $2
            AND (t.created_by = $3 OR (t.created_by IS NULL AND $3 IS NULL))"
    ))
    .bind(Bind::Int(tenant.0))
    .bind(Bind::Text(external_identifier.to_owned()))
    .bind(Bind::OptInt(created_by));
    reader.into().first(&sql, from_row).await
}

/// A page of the tasks `scope` lets its holder see, newest change first (see
/// [`TaskCursor`]), each handed to `each` as its row is read (no [`Task`] is built); the
/// cursor of the next page when there may be more.
#[allow(clippy::too_many_arguments)]
pub async fn page_each<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    scope: Scope,
    filter: &TaskFilter<'_>,
    cursor: Option<TaskCursor>,
    limit: i64,
    now: Timestamp,
    mut each: impl FnMut(&TaskRow<'_>) -> Result<(), StorageError>,
) -> Result<Option<TaskCursor>, StorageError> {
    let mut reader = reader.into();
    let narrowing = narrowing(reader.again(), tenant, scope).await?;
    let page = Page { tenant, narrowing: &narrowing, filter, columns: PageColumns::Rows };
    page.walk(reader, cursor, limit, now, &mut |row| {
        let task = task_row(row)?;
        each(&task)?;
        Ok((task.updated_at.unix_micros(), task.id))
    })
    .await
}

/// What a page's first statement reads of a task: where it is in the page, and what a
/// rendered copy of it must match to be current (its version, and its status's type, which
/// a workflow's edit may change without touching the task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskStamp {
    pub id: i64,
    pub version: i64,
    pub status_type: StatusType,
}

/// The same page as [`page_each`] in two steps: its tasks' stamps (the change index, the
/// task's version and its status's type: no other join, no other column), in page order;
/// then, in one more statement, the rows of those `current` says are not (any order, each
/// handed to `each`). For a caller that keeps what it wrote of each task: a page it has
/// seen costs a fraction of reading it. A task changed between the two statements is read
/// as it is now, or not at all if its holder may no longer see it.
#[allow(clippy::too_many_arguments)]
pub async fn page_stamped<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    scope: Scope,
    filter: &TaskFilter<'_>,
    cursor: Option<TaskCursor>,
    limit: i64,
    now: Timestamp,
    mut current: impl FnMut(&TaskStamp) -> bool,
    mut each: impl FnMut(&TaskRow<'_>) -> Result<(), StorageError>,
) -> Result<(Vec<TaskStamp>, Option<TaskCursor>), StorageError> {
    let mut reader = reader.into();
    let narrowing = narrowing(reader.again(), tenant, scope).await?;
    let page = Page { tenant, narrowing: &narrowing, filter, columns: PageColumns::Stamps };
    let mut stamps = Vec::with_capacity(usize::try_from(limit.clamp(1, 1000)).unwrap_or(0));
    let next = page
        .walk(reader.again(), cursor, limit, now, &mut |row| {
            let status_type = row.str(3)?;
            stamps.push(TaskStamp {
                id: row.int(0)?,
                version: row.int(2)?,
                status_type: StatusType::from_name(status_type)
                    .ok_or_else(|| StorageError::Corrupt(format!("status type {status_type:?}")))?,
            });
            Ok((row.int(1)?, row.int(0)?))
        })
        .await?;
    let wanted: Vec<i64> = stamps.iter().filter(|stamp| !current(stamp)).map(|stamp| stamp.id).collect();
    if !wanted.is_empty() {
        let sql = rows_sql(tenant, &narrowing, &wanted);
        reader.rows(&sql, |row| each(&task_row(row)?)).await?;
    }
    Ok((stamps, next))
}

/// The rows of tasks `ids` of the tenant that the page's narrowing still lets its reader see.
fn rows_sql(tenant: TenantId, narrowing: &Narrowing, ids: &[i64]) -> Sql {
    let mut sql = Sql::default();
    let tenant_arg = sql.arg(Bind::Int(tenant.0));
    let ids: Vec<String> = ids.iter().map(|id| sql.arg(Bind::Int(*id))).collect();
    let (cte, visible) = match narrowing {
        Narrowing::Rows(scope) => scope_condition(&mut sql, *scope, &tenant_arg),
        Narrowing::ContractorRows { user, tree } | Narrowing::ContractorRanges { user, tree } => {
            (None, contractor_condition(&mut sql, *user, tree))
        }
    };
    sql.text = with_cte(
        cte,
        format!("{SELECT} WHERE t.tenant_id = {tenant_arg} AND t.id IN ({}) AND {visible}", ids.join(", ")),
    )
    .into();
    sql
}

/// What a page's statements select: whole rows ([`SELECT`]), or stamps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageColumns {
    Rows,
    /// `t.id, t.updated_at, t.version, st.status_type`, with only the joins the filter needs.
    Stamps,
}

/// One page's walk: the statements of its phases.
struct Page<'a> {
    tenant: TenantId,
    narrowing: &'a Narrowing,
    filter: &'a TaskFilter<'a>,
    columns: PageColumns,
}

impl Page<'_> {
    /// Hands each row of the page to `handle`, which answers the row's `(updated_at, id)`;
    /// the cursor of the next page when there may be more.
    async fn walk(
        &self,
        mut reader: Reader<'_>,
        cursor: Option<TaskCursor>,
        limit: i64,
        now: Timestamp,
        handle: &mut impl FnMut(&dyn Columns) -> Result<(i64, i64), StorageError>,
    ) -> Result<Option<TaskCursor>, StorageError> {
        // (A limit under one would read every row on SQLite, where `LIMIT -1` has no limit.)
        let limit = limit.max(1);
        let started = cursor.map_or(now.unix_micros(), |c| c.started);
        let mut phase = Phase { given: 0, more: false, last: None };
        if !cursor.is_some_and(|c| c.catching_up) {
            // (A cursor past the start, which this server never gives out, is held to it.)
            let after = cursor.map(|c| (c.updated_at, c.id).min((started, i64::MAX)));
            let sql = self.phase_sql(started, false, after, limit + 1);
            phase.read(reader.again(), &sql, limit, handle).await?;
            if phase.more {
                let (updated_at, id) = phase.last.unwrap_or_default();
                return Ok(Some(TaskCursor { started, catching_up: false, updated_at, id }));
            }
        }
        // The walk has seen everything changed up to its start: now what changed since.
        let after = match cursor {
            Some(c) if c.catching_up => (c.updated_at, c.id).max((started, i64::MAX)),
            _ => (started, i64::MAX),
        };
        let room = limit - phase.given;
        let sql = self.phase_sql(started, true, Some(after), room + 1);
        phase.read(reader.again(), &sql, room, handle).await?;
        Ok(match phase.last {
            Some((updated_at, id)) if phase.more => Some(TaskCursor { started, catching_up: true, updated_at, id }),
            _ => None,
        })
    }

    fn phase_sql(&self, started: i64, catching_up: bool, after: Option<(i64, i64)>, limit: i64) -> Sql {
        phase_sql(self.tenant, self.narrowing, self.filter, self.columns, started, catching_up, after, limit)
    }
}

/// What the phases of a page have handed out.
struct Phase {
    given: i64,
    more: bool,
    /// `(updated_at, id)` of the last row handed out, in either phase.
    last: Option<(i64, i64)>,
}

impl Phase {
    /// Hands out at most `room` rows of `sql`, which reads one row more to know whether
    /// there are more.
    async fn read(
        &mut self,
        mut reader: Reader<'_>,
        sql: &Sql,
        mut room: i64,
        handle: &mut impl FnMut(&dyn Columns) -> Result<(i64, i64), StorageError>,
    ) -> Result<(), StorageError> {
        reader
            .rows(sql, |row| {
                if room == 0 {
                    self.more = true;
                    return Ok(());
                }
                self.last = Some(handle(row)?);
                room -= 1;
                self.given += 1;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// How a page narrows the tenant's tasks to what its reader may see.
enum Narrowing {
    /// The scope's condition on each row of the tenant's change index.
    Rows(Scope),
    /// A Contractor user: its contractor tree (ids) or the tasks it raised, on each row of
    /// the tenant's change index (its covering columns, before a row is fetched).
    ContractorRows { user: i64, tree: Arc<[i64]> },
    /// A Contractor user whose tasks are few among the tenant's: one index range per
    /// contractor of the tree and one of the tasks it raised, merged (see [`phase_sql`]).
    ContractorRanges { user: i64, tree: Arc<[i64]> },
}

/// The most contractors a Contractor user's page reads as one index range each.
const MAX_CONTRACTOR_RANGES: usize = 16;
/// How many of the tenant's latest changes are sampled to choose a Contractor user's walk.
const WALK_SAMPLE: i64 = 512;
/// Pages served with a choice before the sample is taken again.
const WALK_PAGES: u32 = 1024;

/// What a Contractor user's pages keep between them, per (tenant, contractor). Each only
/// ever changes speed, never what a page holds.
#[derive(Debug, Default)]
pub(crate) struct WalkChoices(std::sync::Mutex<std::collections::HashMap<(i64, i64), Walk>>);

#[derive(Debug, Default)]
struct Walk {
    /// The walk chosen (rows: `true`) and the pages left before it is chosen again.
    choice: Option<(bool, u32)>,
    /// The contractor's tree (SQLite only).
    tree: Option<KeptTree>,
}

/// A contractor tree and the newest contractor id when it was read. Contractors are only
/// ever added, never moved or removed (no statement updates or deletes one), so the tree
/// is current while no newer contractor exists.
#[derive(Clone, Debug)]
struct KeptTree {
    newest: i64,
    ids: Arc<[i64]>,
}

impl WalkChoices {
    /// The remembered choice (rows: `true`), counting the page against it, and the tree
    /// kept with the newest contractor id it was read under.
    fn take(&self, key: (i64, i64)) -> (Option<bool>, Option<KeptTree>) {
        let mut walks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(walk) = walks.get_mut(&key) else {
            return (None, None);
        };
        let choice = walk.choice.as_mut().and_then(|(rows, left)| {
            *left = left.checked_sub(1)?;
            Some(*rows)
        });
        (choice, walk.tree.clone())
    }

    fn remember(&self, key: (i64, i64), rows: bool) {
        let mut walks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        walks.entry(key).or_default().choice = Some((rows, WALK_PAGES));
    }

    fn remember_tree(&self, key: (i64, i64), tree: KeptTree) {
        let mut walks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        walks.entry(key).or_default().tree = Some(tree);
    }
}

/// Chooses how a page is narrowed. For a Contractor user: filtering the tenant's change
/// index costs a few index entries per row kept when its tasks are a fair share of the
/// tenant's (cheapest then), but a hundred when they are 1%; merging one index range per
/// contractor costs the same whatever the share. The share is sampled from the tenant's
/// latest changes (at most [`WALK_SAMPLE`] index entries) and the choice kept for
/// [`WALK_PAGES`] pages.
async fn narrowing(mut reader: Reader<'_>, tenant: TenantId, scope: Scope) -> Result<Narrowing, StorageError> {
    let Scope::Contractor { user, contractor } = scope else {
        return Ok(Narrowing::Rows(scope));
    };
    let choices = reader.db().map(Db::walks);
    // SQLite answers in process: the tree read apart costs microseconds, and comparing each
    // row with its few ids costs less than looking them up in the table SQLite would build
    // for `IN (SELECT id FROM mine)`. On PostgreSQL a statement apart is a round trip.
    let in_process = reader.db().is_some_and(|db| db.sqlite_readers().is_some());
    let key = (tenant.0, contractor);
    let (remembered, kept) = choices.map(|c| c.take(key)).unwrap_or_default();
    if remembered == Some(true) && !in_process {
        // Filtered: the tree is a common table expression of the page's one statement.
        return Ok(Narrowing::Rows(scope));
    }
    let tree = match choices.filter(|_| in_process) {
        // The tree is kept while no contractor newer than those it was read under exists:
        // one look at the end of the primary key instead of a recursive statement. (On
        // SQLite ids rise with each committed insert; PostgreSQL's sequence may commit out
        // of order, so it reads the tree.)
        Some(choices) => {
            let newest = newest_contractor(reader.again()).await?;
            match kept {
                Some(tree) if tree.newest == newest => tree.ids,
                _ => {
                    let ids: Arc<[i64]> = contractor_tree(reader.again(), contractor).await?.into();
                    choices.remember_tree(key, KeptTree { newest, ids: Arc::clone(&ids) });
                    ids
                }
            }
        }
        None => contractor_tree(reader.again(), contractor).await?.into(),
    };
    if tree.len() > MAX_CONTRACTOR_RANGES || remembered == Some(true) {
        return Ok(Narrowing::ContractorRows { user, tree });
    }
    if remembered == Some(false) {
        return Ok(Narrowing::ContractorRanges { user, tree });
    }
    let mut sql = Sql::default();
    let tenant_arg = sql.arg(Bind::Int(tenant.0));
    let visible = contractor_condition(&mut sql, user, &tree);
    sql.text = format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {visible} THEN 1 ELSE 0 END), 0) FROM (
            SELECT t.contractor_id, t.created_by FROM tasks t WHERE t.tenant_id = {tenant_arg}
            ORDER BY t.updated_at DESC, t.id DESC LIMIT {WALK_SAMPLE}) t"
    )
    .into();
    let (sampled, seen) = reader.first(&sql, |row| Ok((row.int(0)?, row.int(1)?))).await?.unwrap_or_default();
    // A small tenant is read whole either way; otherwise rows while at most about eight
    // index entries are read per row kept.
    let rows = sampled < WALK_SAMPLE || seen * 8 >= sampled;
    if let Some(choices) = choices {
        choices.remember(key, rows);
    }
    Ok(if rows { Narrowing::ContractorRows { user, tree } } else { Narrowing::ContractorRanges { user, tree } })
}

/// `t` is a task of one of the contractors of `tree` or one `user` raised. A small tree is
/// one comparison per id: SQLite builds a lookup table for an `IN (...)` list of more than
/// two, which costs more than a few comparisons per row.
fn contractor_condition(sql: &mut Sql, user: i64, tree: &[i64]) -> String {
    let user = sql.arg(Bind::Int(user));
    let ids = tree.iter().map(|id| sql.arg(Bind::Int(*id)));
    if tree.len() > MAX_CONTRACTOR_RANGES {
        return format!("(t.contractor_id IN ({}) OR t.created_by = {user})", ids.collect::<Vec<_>>().join(", "));
    }
    let mut condition = String::from("(");
    for id in ids {
        condition.push_str("t.contractor_id = ");
        condition.push_str(&id);
        condition.push_str(" OR ");
    }
    condition.push_str("t.created_by = ");
    condition.push_str(&user);
    condition.push(')');
    condition
}

/// The statement of one phase of a page: at most `limit` rows of [`SELECT`].
#[allow(clippy::too_many_arguments)]
fn phase_sql(
    tenant: TenantId,
    narrowing: &Narrowing,
    filter: &TaskFilter<'_>,
    columns: PageColumns,
    started: i64,
    catching_up: bool,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Sql {
    let mut sql = Sql::default();
    let tenant_arg = sql.arg(Bind::Int(tenant.0));
    // The conditions besides the tenant and the scope, and the joins they need.
    let mut conditions = Vec::new();
    let (mut on_status, mut on_site, mut on_contractor) = (false, false, false);
    if let Some(status) = filter.status {
        conditions.push(format!("st.name_key = {}", sql.arg(Bind::Text(status.trim().to_lowercase()))));
        on_status = true;
    }
    if let Some(status_type) = filter.status_type {
        conditions.push(format!("st.status_type = {}", sql.arg(Bind::Text(status_type.name().to_owned()))));
        on_status = true;
    }
    if let Some(site) = filter.site_code {
        conditions.push(format!("s.code_key = {}", sql.arg(Bind::Text(site.trim().to_ascii_lowercase()))));
        on_site = true;
    }
    if let Some(supplier) = filter.supplier {
        conditions.push(format!("c.code_key = {}", sql.arg(Bind::Text(supplier.trim().to_ascii_lowercase()))));
        on_contractor = true;
    }
    if let Some(since) = filter.updated_since {
        conditions.push(format!("t.updated_at >= {}", sql.arg(Bind::Int(since.unix_micros()))));
    }
    if let Some(external) = filter.external_identifier {
        conditions.push(format!("t.external_identifier = {}", sql.arg(Bind::Text(external.to_owned()))));
    }
    let order = if catching_up {
        // The cursor's row was changed after the start, so it bounds the range alone (SQLite
        // takes only one of two bounds on a column for the index range).
        match after {
            Some((updated_at, id)) => {
                let (u, i) = (sql.arg(Bind::Int(updated_at)), sql.arg(Bind::Int(id)));
                conditions.push(format!("(t.updated_at, t.id) > ({u}, {i})"));
            }
            None => conditions.push(format!("t.updated_at > {}", sql.arg(Bind::Int(started)))),
        }
        "ORDER BY t.updated_at, t.id"
    } else {
        match after {
            // A row-value comparison: one index range on both backends (the OR form makes
            // PostgreSQL read and drop every row before the cursor). The cursor's row was
            // changed before the start, so it bounds the range alone: SQLite takes only one of
            // two upper bounds on a column, and with `updated_at <= started` beside it read
            // every row before the cursor (10,000 index entries 200 pages deep).
            Some((updated_at, id)) => {
                let (u, i) = (sql.arg(Bind::Int(updated_at)), sql.arg(Bind::Int(id)));
                conditions.push(format!("(t.updated_at, t.id) < ({u}, {i})"));
            }
            None => conditions.push(format!("t.updated_at <= {}", sql.arg(Bind::Int(started)))),
        }
        "ORDER BY t.updated_at DESC, t.id DESC"
    };
    let rest: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    // Only the joins the conditions need (and, for stamps, the status's type).
    let status_join = " JOIN workflow_statuses st ON st.id = t.status_id";
    let joins = |status: bool| {
        let join = |needed: bool, join: &'static str| if needed { join } else { "" };
        [
            join(status, status_join),
            join(on_site, " JOIN sites s ON s.id = t.site_id"),
            join(on_contractor, " LEFT JOIN contractors c ON c.id = t.contractor_id"),
        ]
        .concat()
    };
    let (cte, visible) = match narrowing {
        Narrowing::Rows(scope) => scope_condition(&mut sql, *scope, &tenant_arg),
        Narrowing::ContractorRows { user, tree } => (None, contractor_condition(&mut sql, *user, tree)),
        Narrowing::ContractorRanges { user, tree } => {
            let from = format!("tasks t{} WHERE t.tenant_id = {tenant_arg}", joins(on_status));
            let picked = merged_ranges(&mut sql, *user, tree, &from, &rest, order, catching_up, limit);
            sql.text = match columns {
                PageColumns::Rows => {
                    format!("{} FROM ({picked}) p JOIN tasks t ON t.id = p.id {} {order}", columns!(), joins!())
                }
                PageColumns::Stamps => {
                    format!("{STAMP_COLUMNS} FROM ({picked}) p JOIN tasks t ON t.id = p.id{status_join} {order}")
                }
            }
            .into();
            return sql;
        }
    };
    // The limit is written into the text, not bound: PostgreSQL's generic plan of a prepared
    // statement cannot see a bound LIMIT and planned for a tenth of the table (a sort of
    // every task of the tenant per page). It is a number this code computed (at most 201).
    let select = match columns {
        PageColumns::Rows => String::from(SELECT),
        PageColumns::Stamps => format!("{STAMP_COLUMNS} FROM tasks t{}", joins(true)),
    };
    sql.text =
        with_cte(cte, format!("{select} WHERE t.tenant_id = {tenant_arg} AND {visible}{rest} {order} LIMIT {limit}"))
            .into();
    sql
}

/// A page's stamp of each task ([`TaskStamp`], and its `updated_at` for the cursor).
const STAMP_COLUMNS: &str = "SELECT t.id, t.updated_at, t.version, st.status_type";

/// The `(updated_at, id)` of a Contractor user's page with few of the tenant's tasks: each
/// contractor's slice of `tasks_contractor_changed`, and the user's slice of
/// `tasks_creator_changed` (less what those hold), is an ordered index range read up to the
/// limit (`from` and `rest`: the tasks and the page's other conditions); the ranges are
/// merged (PostgreSQL: Merge Append; without each range's own LIMIT it sorted the
/// contractor's every task). The page then fetches and joins only the rows kept, and costs
/// the same whatever the share.
#[allow(clippy::too_many_arguments)]
fn merged_ranges(
    sql: &mut Sql,
    user: i64,
    tree: &[i64],
    from: &str,
    rest: &str,
    order: &str,
    catching_up: bool,
    limit: i64,
) -> String {
    let tree: Vec<String> = tree.iter().map(|id| sql.arg(Bind::Int(*id))).collect();
    let own = format!(
        "t.created_by = {} AND (t.contractor_id IS NULL OR t.contractor_id NOT IN ({}))",
        sql.arg(Bind::Int(user)),
        tree.join(", ")
    );
    let arms: Vec<String> = tree
        .iter()
        .map(|id| format!("t.contractor_id = {id}"))
        .chain(std::iter::once(own))
        .enumerate()
        .map(|(n, owner)| {
            format!("SELECT updated_at, id FROM (SELECT t.updated_at, t.id FROM {from} AND {owner}{rest} {order} LIMIT {limit}) r{n}")
        })
        .collect();
    let direction = if catching_up { "" } else { " DESC" };
    format!("{} ORDER BY 1{direction}, 2{direction} LIMIT {limit}", arms.join(" UNION ALL "))
}

/// The newest contractor's id (0 when there is none), of any tenant.
async fn newest_contractor(mut reader: Reader<'_>) -> Result<i64, StorageError> {
    let sql = Sql::new("SELECT COALESCE(MAX(id), 0) FROM contractors");
    Ok(reader.first(&sql, |row| row.int(0)).await?.unwrap_or_default())
}

/// Contractor `contractor` and the contractors below it.
async fn contractor_tree(mut reader: Reader<'_>, contractor: i64) -> Result<Vec<i64>, StorageError> {
    let mut sql = Sql::default();
    let arg = sql.arg(Bind::Int(contractor));
    sql.text = format!("WITH RECURSIVE {} SELECT id FROM mine ORDER BY id", contractor_tree_cte(&arg)).into();
    reader.rows(&sql, |row| row.int(0)).await
}

/// Notes and chases of a task, oldest first.
pub async fn notes<'r>(reader: impl Into<Reader<'r>>, task: i64) -> Result<Vec<Note>, StorageError> {
    let sql = Sql::new("SELECT id, kind, author_name, text, created_at FROM task_notes WHERE task_id = $1 ORDER BY id")
        .bind(Bind::Int(task));
    reader
        .into()
        .rows(&sql, |r| {
            Ok(Note {
                id: r.int(0)?,
                kind: r.text(1)?,
                author: r.text(2)?,
                text: r.text(3)?,
                created_at: Timestamp::from_unix_micros(r.int(4)?),
            })
        })
        .await
}

/// A task's history, oldest first.
pub async fn history<'r>(reader: impl Into<Reader<'r>>, task: i64) -> Result<Vec<HistoryEntry>, StorageError> {
    let sql = Sql::new(
        "SELECT occurred_at, actor_id, actor_name, event, from_status, to_status, status_date, detail
         FROM task_history WHERE task_id = $1 ORDER BY id",
    )
    .bind(Bind::Int(task));
    reader
        .into()
        .rows(&sql, |r| {
            Ok(HistoryEntry {
                occurred_at: Timestamp::from_unix_micros(r.int(0)?),
                actor_id: r.opt_int(1)?,
                actor: r.text(2)?,
                event: r.text(3)?,
                from_status: r.opt_text(4)?,
                to_status: r.opt_text(5)?,
                status_date: r.opt_int(6)?.map(Timestamp::from_unix_micros),
                detail: r.text(7)?,
            })
        })
        .await
}

pub async fn add_history<'w>(
    writer: impl Into<Writer<'w>>,
    task: i64,
    entry: &HistoryEntry,
) -> Result<(), StorageError> {
    let sql = Sql::new(
        "INSERT INTO task_history (task_id, occurred_at, actor_id, actor_name, event, from_status, to_status,
            status_date, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Bind::Int(task))
    .bind(Bind::Int(entry.occurred_at.unix_micros()))
    .bind(Bind::OptInt(entry.actor_id))
    .bind(Bind::Text(entry.actor.clone()))
    .bind(Bind::Text(entry.event.clone()))
    .bind(Bind::OptText(entry.from_status.clone()))
    .bind(Bind::OptText(entry.to_status.clone()))
    .bind(Bind::OptInt(entry.status_date.map(Timestamp::unix_micros)))
    .bind(Bind::Text(entry.detail.clone()));
    writer.into().execute(&sql).await?;
    Ok(())
}

/// Adds a note (`kind` `note` or `chase`); returns its id.
pub async fn add_note<'w>(
    writer: impl Into<Writer<'w>>,
    task: i64,
    kind: &str,
    author_id: Option<i64>,
    author: &str,
    text: &str,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let sql = Sql::new(
        "INSERT INTO task_notes (task_id, kind, author_id, author_name, text, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(Bind::Int(task))
    .bind(Bind::Text(kind.to_owned()))
    .bind(Bind::OptInt(author_id))
    .bind(Bind::Text(author.to_owned()))
    .bind(Bind::Text(text.to_owned()))
    .bind(Bind::Int(now.unix_micros()));
    writer.into().first(&sql, |row| row.int(0)).await?.ok_or(StorageError::NotFound)
}

/// What [`change`] sets (each `Some` field) on a task row.
#[derive(Debug, Default)]
pub struct Change {
    /// `None`: whatever the version (notes and chases never collide).
    pub version: Option<i64>,
    /// Only if the task is still in this status (what an unpinned change was checked
    /// against: a note in between does not matter, another status change does).
    pub from_status: Option<i64>,
    pub status: Option<i64>,
    pub contractor: Option<i64>,
    pub service_level: Option<i64>,
    /// New due dates (respond by, complete by).
    pub due: Option<(Timestamp, Timestamp)>,
}

/// A version-checked change of the task row: only if it is still at `change.version` (when
/// given). Bumps the version and the change time (strictly increasing). `false`: someone
/// else changed the task first; nothing was written.
pub async fn change<'w>(
    writer: impl Into<Writer<'w>>,
    task: i64,
    change: &Change,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let due = |pick: fn(&(Timestamp, Timestamp)) -> Timestamp| {
        Bind::OptInt(change.due.as_ref().map(|d| pick(d).unix_micros()))
    };
    let sql = Sql::new(
        "UPDATE tasks SET status_id = COALESCE($3, status_id), contractor_id = COALESCE($4, contractor_id),
            service_level_id = COALESCE($5, service_level_id), respond_by = COALESCE($7, respond_by),
            complete_by = COALESCE($8, complete_by), version = version + 1,
            updated_at = CASE WHEN updated_at >= $6 THEN updated_at + 1 ELSE $6 END
         WHERE id = $1 AND ($2 IS NULL OR version = $2) AND ($9 IS NULL OR status_id = $9)",
    )
    .bind(Bind::Int(task))
    .bind(Bind::OptInt(change.version))
    .bind(Bind::OptInt(change.status))
    .bind(Bind::OptInt(change.contractor))
    .bind(Bind::OptInt(change.service_level))
    .bind(Bind::Int(now.unix_micros()))
    .bind(due(|d| d.0))
    .bind(due(|d| d.1))
    .bind(Bind::OptInt(change.from_status));
    Ok(writer.into().execute(&sql).await? == 1)
}

/// The task's site and its ancestors, nearest first, with their area and channel codes.
pub async fn site_chain<'r>(reader: impl Into<Reader<'r>>, site: i64) -> Result<SiteChain, StorageError> {
    let sql = Sql::new(
        "WITH RECURSIVE up(id, parent_id, area, channel, depth) AS (
            SELECT id, parent_id, geographic_area_code, site_channel_code, 0 FROM sites WHERE id = $1
            UNION
            SELECT p.id, p.parent_id, p.geographic_area_code, p.site_channel_code, up.depth + 1
            FROM sites p JOIN up ON p.id = up.parent_id WHERE up.depth < 100)
         SELECT id, area, channel FROM up ORDER BY depth",
    )
    .bind(Bind::Int(site));
    let sites = reader.into().rows(&sql, |r| Ok((r.int(0)?, r.opt_text(1)?, r.opt_text(2)?))).await?;
    Ok(SiteChain { sites })
}

/// How many tasks the tenant has (for the demo and the pages' counts).
pub async fn count<'c, E>(executor: E, tenant: TenantId) -> Result<i64, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor.fetch_one(sqlx::query("SELECT COUNT(*) FROM tasks WHERE tenant_id = $1").bind(tenant.0)).await?;
    Ok(row.try_get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query_plan;
    use crate::testing::TestDb;

    /// A page of stamps reads the tenant's change index and the statuses, never a task's
    /// row: as a Management user, and as a Contractor user (filtered on the index's own
    /// columns), on the first page and past a cursor.
    #[tokio::test]
    async fn a_page_of_stamps_reads_no_task_row() {
        let t = TestDb::sqlite().await;
        let filter = TaskFilter::default();
        let contractor = Narrowing::ContractorRows { user: 1, tree: Arc::from([2, 3]) };
        for narrowing in [Narrowing::Rows(Scope::All), contractor] {
            for after in [None, Some((900, 7))] {
                let sql = phase_sql(TenantId(1), &narrowing, &filter, PageColumns::Stamps, 1_000, false, after, 51);
                let plan = query_plan(&t.db, &sql).await;
                assert!(plan.contains("USING COVERING INDEX tasks_changed_stamp"), "{plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
        }
    }
}
