//! Tasks: raise (with dispatch rules, idempotent by ExternalIdentifier), read, list, change
//! status along the workflow, notes, chases, dispatch by hand.
//!
//! Every read and write is narrowed to what the caller may see ([`Principal::scope`]): a
//! task outside it answers [`AppError::NotFound`], exactly as a task that does not exist.

use std::collections::HashMap;
use std::sync::Arc;

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, Holder, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, MatrixType, ReferenceGroup};
use caretaker_domain::outbound::OutboundEvent;
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::task::{self, ChangeData, DispatchRule, Relation, StatusType, TaskNumber, WorkflowType};
use caretaker_domain::user::UserType;
use caretaker_storage::tasks::{self, Change, HistoryEntry, Note, Task, TaskCursor, TaskFilter, TaskStamp};
use caretaker_storage::visibility::{self, Scope};
use caretaker_storage::{ReadSession, Reader, StorageError, assets, contractors, reference_data, sites, workflows};
use sha2::{Digest, Sha256};

use crate::principal::Principal;
use crate::task_json::TaskJson;
use crate::{App, AppError, custom_fields, outbound};

/// Raise Task, as sent (the Urgent fields).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct TaskInput {
    pub external_identifier: Option<String>,
    pub initiator_name: String,
    pub site_code: String,
    pub description: String,
    pub defect_source: Option<String>,
    pub matrix_item_code: String,
    pub chargeability: Option<String>,
    pub workflow: Option<String>,
    pub service_level: Option<String>,
    pub supplier: Option<String>,
    pub assets: Vec<String>,
    pub is_asset_available: Option<bool>,
    pub custom_fields: Vec<(String, String)>,
    /// (Type, Reference).
    pub relate: Option<(String, String)>,
}

/// What raising a task did.
#[derive(Debug)]
pub enum Raised {
    Created(Task),
    /// The same request with the same ExternalIdentifier came before: this is its task.
    Existing(Task),
}

/// A task with its notes, history and the statuses it may move to now (for the status
/// buttons; their own destinations are not read).
#[derive(Debug)]
pub struct TaskDetail {
    pub task: Task,
    pub notes: Vec<Note>,
    pub history: Vec<HistoryEntry>,
    pub next_statuses: Vec<task::Status>,
}

/// Change Status, as sent.
#[derive(Debug, Default, Clone)]
pub struct StatusChange {
    pub status: String,
    pub note: Option<String>,
    /// RFC 3339 text.
    pub status_date: Option<String>,
    pub resolution_cause: Option<String>,
    pub resolution_remedy: Option<String>,
    pub version: Option<i64>,
}

/// Dispatch by hand: the contractor's code and, optionally, a service level's name.
#[derive(Debug, Default, Clone)]
pub struct Dispatch {
    pub supplier: String,
    pub service_level: Option<String>,
}

const ENTITY: &str = "Task";

fn rule(problem: &str, text: impl Into<String>) -> BrokenRule {
    BrokenRule::new(ENTITY, problem, text)
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn text_field(check: &mut RuleCheck, field: &str, value: &str, required: bool, max: usize) {
    let value = value.trim();
    if required && value.is_empty() {
        check.push(rule(&format!("Missing{field}"), format!("{field} is required")));
    } else if value.chars().count() > max {
        check.push(rule("FieldTooLong", format!("{field} must be at most {max} characters")));
    }
}

/// The SHA-256 of the request as understood: what an idempotent retry must repeat.
fn request_hash(input: &TaskInput) -> String {
    let canonical = serde_json::to_vec(input).unwrap_or_default();
    Sha256::digest(canonical).iter().map(|b| format!("{b:02x}")).collect()
}

fn actor_name(by: &Principal) -> String {
    if by.name.is_empty() { by.email.clone() } else { by.name.clone() }
}

/// Raises a task. Nothing is written unless every rule holds; a retry of the same request
/// with the same ExternalIdentifier returns the task it made, a different request with
/// that identifier is a conflict.
pub async fn raise(
    app: &App,
    by: &Authorized<'_, can::TasksCreate, Principal>,
    input: TaskInput,
) -> Result<Raised, AppError> {
    let by = by.principal();
    let hash = request_hash(&input);
    let external = given(&input.external_identifier).map(str::to_owned);
    let mut check = RuleCheck::new();
    if let Some(external) = &external {
        text_field(&mut check, "ExternalIdentifier", external, false, 100);
    }
    text_field(&mut check, "InitiatorName", &input.initiator_name, true, 200);
    text_field(&mut check, "SiteCode", &input.site_code, true, 50);
    text_field(&mut check, "Description", &input.description, true, 4000);
    text_field(&mut check, "MatrixItemCode", &input.matrix_item_code, true, 50);
    if input.assets.len() > 100 {
        check.push(rule("TooManyAssets", "At most 100 assets per task"));
    }
    let restricted = [
        ("Chargeability", &input.chargeability),
        ("Workflow", &input.workflow),
        ("ServiceLevel", &input.service_level),
        ("Supplier", &input.supplier),
    ];
    let may_restrict = by.authorize::<can::TasksSetRestrictedFields>().is_some();
    for (field, value) in restricted {
        if given(value).is_some() && !may_restrict {
            check.push(rule(
                &format!("{field}NotAllowed"),
                format!("You may not set {field}: send null and let the dispatch rules decide"),
            ));
        }
    }
    if let Some(chargeability) = given(&input.chargeability) {
        text_field(&mut check, "Chargeability", chargeability, false, 50);
    }
    let now = app.clock.now();

    // What the request names is resolved on a read connection, before the write transaction,
    // so the single SQLite writer is held only for the writes. What could change in between
    // is guarded by the database: a second task with the ExternalIdentifier by the unique
    // constraint (answered below as a retry), vanished rows by foreign keys.
    let mut reads = ReadSession::new(&app.db);
    if let Some(external) = &external
        && let Some(existing) =
            tasks::by_external_identifier(reads.reader().await?, by.tenant, by.user.map(|u| u.0), external).await?
    {
        return same_request(existing, &hash);
    }
    let resolved = resolve(&mut reads, by, &input, may_restrict, &mut check).await?;
    check.finish().map_err(AppError::Invalid)?;
    let Some(mut resolved) = resolved else {
        return Err(AppError::internal("task checks passed without values"));
    };
    dispatch_by_rules(&mut reads, by.tenant, &input.matrix_item_code, &mut resolved).await?;
    let workflow_id = match resolved.workflow {
        Some(id) => id,
        None => workflows::default_id(reads.reader().await?, by.tenant, WorkflowType::Reactive)
            .await?
            .ok_or_else(|| AppError::invalid(rule("NoWorkflow", "The tenant has no active Reactive workflow")))?,
    };
    let workflow = workflows::get(reads.reader().await?, by.tenant, workflow_id).await?.ok_or(AppError::NotFound)?;
    let initial = workflow
        .initial()
        .ok_or_else(|| AppError::invalid(rule("NoWorkflow", format!("Workflow {} has no statuses", workflow.name))))?;
    let start = match (resolved.contractor, workflow.dispatched()) {
        (Some(_), Some(dispatched)) => dispatched,
        _ => initial,
    };
    let service_level = match resolved.service_level {
        Some(id) => workflows::service_level(reads.reader().await?, by.tenant, Some(id), None).await?,
        None => None,
    };
    // Released before the writer is waited for: on PostgreSQL both come from one pool.
    drop(reads);
    let mut tx = app.db.begin_write().await?;
    let due = service_level.as_ref().map(|l| task::due_dates(now, l.respond_minutes, l.complete_minutes));
    let reference = TaskNumber(tasks::next_number(&mut tx, by.tenant).await?).reference();
    let assets: Vec<String> = resolved.assets.clone();
    let inserted = tasks::insert(
        &mut tx,
        &tasks::NewTask {
            tenant: by.tenant,
            reference: &reference,
            created_by: by.user.map(|u| u.0),
            external_identifier: external.as_deref(),
            request_hash: Some(&hash),
            initiator_name: input.initiator_name.trim(),
            site: resolved.site,
            description: input.description.trim(),
            defect_source: resolved.defect_source.as_deref(),
            matrix_code: input.matrix_item_code.trim(),
            chargeability: resolved.chargeability.as_deref(),
            workflow: workflow.id,
            status: start.id,
            contractor: resolved.contractor,
            service_level: resolved.service_level,
            respond_by: due.map(|d| d.0),
            complete_by: due.map(|d| d.1),
            is_asset_available: input.is_asset_available,
            assets: &assets,
            custom_fields: &resolved.answers,
            relation: resolved.relation.map(|(r, _)| r.as_str()),
            related_task: resolved.relation.map(|(_, id)| id),
        },
        now,
    )
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => {
            // Another request with this ExternalIdentifier won the race: answer as a retry.
            drop(tx);
            let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
            let external = external.as_deref().unwrap_or_default();
            let existing = tasks::by_external_identifier(&mut conn, by.tenant, by.user.map(|u| u.0), external)
                .await?
                .ok_or_else(|| AppError::internal("task conflict without a task"))?;
            return same_request(existing, &hash);
        }
        Err(other) => return Err(other.into()),
    };
    let actor = actor_name(by);
    let history = |event: &str, to: &str, detail: String| HistoryEntry {
        occurred_at: now,
        actor_id: by.user.map(|u| u.0),
        actor: actor.clone(),
        event: event.to_owned(),
        from_status: None,
        to_status: Some(to.to_owned()),
        status_date: None,
        detail,
    };
    tasks::add_history(&mut tx, id, &history("created", &initial.name, format!("Raised by {actor}"))).await?;
    if start.id != initial.id {
        let mut dispatched = history("dispatched", &start.name, resolved.dispatch_note.clone());
        dispatched.from_status = Some(initial.name.clone());
        tasks::add_history(&mut tx, id, &dispatched).await?;
    }
    let task = tasks::get(&mut tx, by.tenant, Scope::All, &reference).await?.ok_or(AppError::NotFound)?;
    let queued =
        outbound::record(&mut tx, by.tenant, &by.tenant_name, &task, OutboundEvent::TaskCreated, None, now).await?;
    tx.commit().await?;
    wake_deliverer(app, queued);
    Ok(Raised::Created(task))
}

fn same_request(existing: Task, hash: &str) -> Result<Raised, AppError> {
    if existing.request_hash.as_deref() == Some(hash) {
        Ok(Raised::Existing(existing))
    } else {
        Err(AppError::conflict(rule(
            "DuplicateExternalIdentifier",
            format!(
                "You already raised task {} with this ExternalIdentifier and a different request",
                existing.reference
            ),
        )))
    }
}

/// What the request named, resolved to stored ids.
#[derive(Debug, Default)]
struct Resolved {
    site: i64,
    defect_source: Option<String>,
    chargeability: Option<String>,
    workflow: Option<i64>,
    service_level: Option<i64>,
    contractor: Option<i64>,
    assets: Vec<String>,
    answers: Vec<(String, String)>,
    relation: Option<(Relation, i64)>,
    dispatch_note: String,
}

async fn resolve(
    reads: &mut ReadSession<'_>,
    by: &Principal,
    input: &TaskInput,
    may_restrict: bool,
    check: &mut RuleCheck,
) -> Result<Option<Resolved>, AppError> {
    let tenant = by.tenant;
    let mut resolved =
        Resolved { chargeability: given(&input.chargeability).map(str::to_owned), ..Resolved::default() };
    let mut complete = true;

    let site_code = input.site_code.trim();
    let site =
        if site_code.is_empty() { None } else { sites::id_by_code(reads.reader().await?, tenant, site_code).await? };
    let site = match site {
        Some(site) if may_raise_at(reads, by, site.0).await? => Some(site.0),
        Some(_) | None if !site_code.is_empty() => {
            check.push(rule("UnknownSite", format!("No site you can access has the code {site_code:?}")));
            None
        }
        _ => None,
    };
    match site {
        Some(site) => resolved.site = site,
        None => complete = false,
    }

    let code = input.matrix_item_code.trim();
    if !code.is_empty() {
        let known = MatrixCode::parse(code).is_ok()
            && reference_data::matrix_item_exists(reads.reader().await?, tenant, MatrixType::Reactive, code, true)
                .await?;
        if known {
            let fields =
                custom_fields::applicable(reads.reader().await?, tenant, CustomFieldTarget::Task, code).await?;
            resolved.answers = custom_fields::check_answers(ENTITY, &fields, &input.custom_fields, check);
        } else {
            check.push(rule("UnknownMatrixItemCode", format!("{code:?} is not an active Reactive matrix code")));
        }
    }

    if let Some(source) = given(&input.defect_source) {
        let group = ReferenceGroup::TaskDefectSource;
        if reference_data::reference_value_exists(reads.reader().await?, tenant, group, source, true).await? {
            resolved.defect_source = Some(source.to_owned());
        } else {
            check.push(rule("UnknownDefectSource", format!("{source:?} is not a defect source (reference list task)")));
        }
    }

    if may_restrict {
        if let Some(name) = given(&input.workflow) {
            match workflows::id_by_name(reads.conn().await?, tenant, WorkflowType::Reactive, name).await? {
                Some((id, true)) => resolved.workflow = Some(id),
                _ => check.push(rule("UnknownWorkflow", format!("{name:?} is not an active Reactive workflow"))),
            }
        }
        if let Some(name) = given(&input.service_level) {
            match workflows::service_level(reads.reader().await?, tenant, None, Some(name)).await? {
                Some(level) if level.is_active => resolved.service_level = Some(level.id),
                _ => check.push(rule("UnknownServiceLevel", format!("{name:?} is not an active service level"))),
            }
        }
        if let Some(code) = given(&input.supplier) {
            match contractors::find_by_code(reads.conn().await?, tenant, code).await? {
                Some(contractor) => {
                    resolved.contractor = Some(contractor.id.0);
                    resolved.dispatch_note = format!("Dispatched to {} as the request asked", contractor.code);
                }
                None => check.push(rule("UnknownSupplier", format!("No contractor has the code {code:?}"))),
            }
        }
    }

    for identifier in &input.assets {
        let identifier = identifier.trim();
        if resolved.assets.iter().any(|a| a.eq_ignore_ascii_case(identifier)) {
            continue;
        }
        let found = assets::find(reads.conn().await?, tenant, identifier).await?;
        let at_site = match (found, site) {
            (Some((_, asset_site)), Some(site)) => {
                tasks::site_chain(reads.reader().await?, asset_site.0).await?.sites.iter().any(|(id, _, _)| *id == site)
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        if at_site {
            resolved.assets.push(identifier.to_ascii_lowercase());
        } else {
            check.push(rule("UnknownAsset", format!("No asset {identifier:?} at this site")));
        }
    }

    if let Some((kind, reference)) = &input.relate {
        let relation = Relation::parse(kind);
        if relation.is_none() {
            check.push(rule("InvalidRelateType", "Relate.Type must be child or related"));
        }
        let other = tasks::get(reads.reader().await?, tenant, by.scope(), reference).await?;
        match (relation, other) {
            (Some(relation), Some(other)) => resolved.relation = Some((relation, other.id)),
            (_, None) => check.push(rule("UnknownRelatedTask", format!("No task {reference:?} that you can see"))),
            _ => {}
        }
    }
    Ok(complete.then_some(resolved))
}

/// Management and Site users raise tasks at sites they can access; a Contractor user
/// holding tasks.create may raise them at any site of the tenant (the task is theirs to
/// see through having raised it).
async fn may_raise_at(reads: &mut ReadSession<'_>, by: &Principal, site: i64) -> Result<bool, StorageError> {
    match by.scope() {
        Scope::Contractor { .. } | Scope::All => Ok(true),
        scope => visibility::site_visible(reads.conn().await?, by.tenant, scope, site).await,
    }
}

/// Fills what the request left to the rules: contractor, service level, workflow,
/// chargeability, from the best-fitting dispatch rule.
async fn dispatch_by_rules(
    reads: &mut ReadSession<'_>,
    tenant: caretaker_domain::tenant::TenantId,
    matrix_code: &str,
    resolved: &mut Resolved,
) -> Result<(), StorageError> {
    let rules: Vec<DispatchRule> =
        workflows::rules(reads.reader().await?, tenant).await?.into_iter().map(|r| r.rule).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let chain = tasks::site_chain(reads.reader().await?, resolved.site).await?;
    let Some(chosen) = task::choose_rule(&rules, &chain, matrix_code.trim()) else {
        return Ok(());
    };
    if resolved.contractor.is_none()
        && let Some(contractor) = chosen.contractor
    {
        resolved.contractor = Some(contractor);
        resolved.dispatch_note = format!("Dispatched by dispatch rule {}", chosen.id);
    }
    resolved.service_level = resolved.service_level.or(chosen.service_level);
    resolved.workflow = resolved.workflow.or(chosen.workflow);
    if resolved.chargeability.is_none() {
        resolved.chargeability.clone_from(&chosen.chargeability);
    }
    Ok(())
}

/// One task the caller may see, with notes, history and its workflow.
pub async fn get(
    app: &App,
    by: &Authorized<'_, can::TasksRead, Principal>,
    reference: &str,
) -> Result<TaskDetail, AppError> {
    let by = by.principal();
    if TaskNumber::parse(reference).is_none() {
        return Err(AppError::NotFound);
    }
    // One state of the database for the task and what comes with it (on SQLite).
    let mut reads = ReadSession::new(&app.db);
    let mut reader = reads.reader().await?;
    let task = tasks::get(reader.again(), by.tenant, by.scope(), reference).await?.ok_or(AppError::NotFound)?;
    detail(reader, by, task).await
}

/// The task with its notes, history and workflow, read where `reader` reads.
async fn detail<'r>(reader: impl Into<Reader<'r>>, by: &Principal, task: Task) -> Result<TaskDetail, AppError> {
    let mut reader = reader.into();
    let notes = tasks::notes(reader.again(), task.id).await?;
    let history = tasks::history(reader.again(), task.id).await?;
    let next_statuses = workflows::destinations_of(reader, by.tenant, task.workflow_id, task.status_id).await?;
    Ok(TaskDetail { task, notes, history, next_statuses })
}

/// List filters as sent.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: Option<String>,
    pub status_type: Option<String>,
    pub site_code: Option<String>,
    pub supplier: Option<String>,
    /// RFC 3339 text.
    pub updated_since: Option<String>,
    pub external_identifier: Option<String>,
}

/// A page of the tasks the caller may see, newest change first; the next page's cursor.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::TasksRead, Principal>,
    filter: &ListFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Task>, Option<String>), AppError> {
    let by = by.principal();
    let (task_filter, cursor) = page_filter(filter, cursor)?;
    let (scope, limit, now) = (by.scope(), limit.clamp(1, 200), app.clock.now());
    let mut tasks = Vec::new();
    let next = tasks::page_each(&app.db, by.tenant, scope, &task_filter, cursor, limit, now, |row| {
        tasks.push(row.to_task()?);
        Ok(())
    })
    .await?;
    Ok((tasks, next.map(|c| c.encode())))
}

/// [`list`] as the REST API writes it: each task's JSON handed to `each` in page order,
/// copied from what an earlier page wrote of it when the task has not changed since
/// ([`rendered`](crate::rendered)), otherwise read and written now (and kept).
pub async fn list_json(
    app: &App,
    by: &Authorized<'_, can::TasksRead, Principal>,
    filter: &ListFilter,
    cursor: Option<&str>,
    limit: i64,
    mut each: impl FnMut(&[u8]),
) -> Result<Option<String>, AppError> {
    let by = by.principal();
    let (task_filter, cursor) = page_filter(filter, cursor)?;
    let (scope, limit, now) = (by.scope(), limit.clamp(1, 200), app.clock.now());
    let cache = &app.rendered;
    let mut kept: Vec<Option<Arc<[u8]>>> = Vec::new();
    let mut fresh: HashMap<i64, Arc<[u8]>> = HashMap::new();
    let mut buffer = Vec::with_capacity(1024);
    let (stamps, next) = tasks::page_stamped(
        &app.db,
        by.tenant,
        scope,
        &task_filter,
        cursor,
        limit,
        now,
        |stamp| {
            let copy = cache.get(stamp);
            let current = copy.is_some();
            kept.push(copy);
            current
        },
        |row| {
            buffer.clear();
            TaskJson::try_from(row)?.write_json(&mut buffer);
            let json: Arc<[u8]> = Arc::from(buffer.as_slice());
            let stamp = TaskStamp { id: row.id, version: row.version, status_type: row.status_type };
            cache.put(stamp, Arc::clone(&json));
            fresh.insert(row.id, json);
            Ok(())
        },
    )
    .await?;
    // In page order; a task its reader could no longer see by the second read is left out.
    for (stamp, copy) in stamps.iter().zip(&kept) {
        if let Some(json) = copy.as_ref().or_else(|| fresh.get(&stamp.id)) {
            each(json);
        }
    }
    Ok(next.map(|c| c.encode()))
}

/// A list's filters and cursor as storage takes them; every malformed one reported at once.
fn page_filter<'f>(
    filter: &'f ListFilter,
    cursor: Option<&str>,
) -> Result<(TaskFilter<'f>, Option<TaskCursor>), AppError> {
    let mut check = RuleCheck::new();
    let status_type = given(&filter.status_type).and_then(|t| {
        let parsed = StatusType::from_name(t);
        if parsed.is_none() {
            check.push(rule("InvalidStatusType", "StatusType must be New, Open, Closed or Cancelled"));
        }
        parsed
    });
    let updated_since = given(&filter.updated_since).and_then(|t| {
        let parsed = Timestamp::parse_rfc3339(t);
        if parsed.is_none() {
            check.push(rule("InvalidUpdatedSince", "UpdatedSince must be an ISO 8601 UTC time"));
        }
        parsed
    });
    let cursor = match cursor {
        Some(text) => {
            let parsed = TaskCursor::decode(text);
            if parsed.is_none() {
                check.push(BrokenRule::new("Request", "InvalidQuery", "Cursor is not one this server gave out"));
            }
            parsed
        }
        None => None,
    };
    check.finish().map_err(AppError::Invalid)?;
    let task_filter = TaskFilter {
        status: given(&filter.status),
        status_type,
        site_code: given(&filter.site_code),
        supplier: given(&filter.supplier),
        updated_since,
        external_identifier: given(&filter.external_identifier),
    };
    Ok((task_filter, cursor))
}

/// Reads the task for a change (inside the transaction, or before it on the read side when
/// the write is guarded by what was read); NotFound when not visible.
async fn visible_task<'r>(reader: impl Into<Reader<'r>>, by: &Principal, reference: &str) -> Result<Task, AppError> {
    if TaskNumber::parse(reference).is_none() {
        return Err(AppError::NotFound);
    }
    tasks::get(reader, by.tenant, by.scope(), reference).await?.ok_or(AppError::NotFound)
}

/// Wakes the outbound deliverer when a change queued calls. Not otherwise: its claim is a
/// write transaction, which on SQLite would end the writers' group commit early.
fn wake_deliverer(app: &App, queued: usize) {
    if queued > 0 {
        app.outbound_wakeup.notify_one();
    }
}

fn stale() -> AppError {
    AppError::conflict(rule("Changed", "The task was changed by someone else meanwhile: read it again and retry"))
}

/// How often a change the caller did not pin to a Version is read and tried again after
/// another write (a note, a chase) got in between its read and its write.
const ATTEMPTS: usize = 5;

/// Moves a task to a destination of its current status, with what the target requires.
/// With a `Version`, a task changed meanwhile is a conflict; without one, the change is
/// checked again against the task as it is now (another status change may make it invalid).
pub async fn change_status(
    app: &App,
    by: &Authorized<'_, can::TasksUpdate, Principal>,
    reference: &str,
    change: StatusChange,
) -> Result<TaskDetail, AppError> {
    for _ in 0..ATTEMPTS {
        if let Some(detail) = try_change_status(app, by.principal(), reference, &change).await? {
            return Ok(detail);
        }
        if change.version.is_some() {
            break;
        }
    }
    Err(stale())
}

/// One attempt; `None` when another write changed the task between the read and the write
/// (nothing was written).
async fn try_change_status(
    app: &App,
    by: &Principal,
    reference: &str,
    change: &StatusChange,
) -> Result<Option<TaskDetail>, AppError> {
    let now = app.clock.now();
    // Everything is checked on the read side, before the write transaction: the change is
    // guarded by the status (or Version) it was checked against, so the single SQLite writer
    // is held only for the writes.
    let mut reads = ReadSession::new(&app.db);
    let task = visible_task(reads.reader().await?, by, reference).await?;
    if change.version.is_some_and(|v| v != task.version) {
        return Err(stale());
    }
    let workflow =
        workflows::get(reads.reader().await?, by.tenant, task.workflow_id).await?.ok_or(AppError::NotFound)?;
    let mut check = RuleCheck::new();
    let target_name = change.status.trim();
    let from = workflow.status(task.status_id).ok_or_else(|| AppError::internal("task status outside its workflow"))?;
    let to = workflow.status_named(target_name);
    if target_name.is_empty() {
        check.push(rule("MissingStatus", "Status is required"));
    } else if to.is_none() {
        check.push(rule("UnknownStatus", format!("Workflow {} has no status {target_name:?}", workflow.name)));
    }
    let status_date = match given(&change.status_date) {
        Some(text) => match Timestamp::parse_rfc3339(text) {
            Some(date) if date > now.plus_seconds(300) => {
                check.push(rule("InvalidStatusChangeDate", "StatusChangeDateTimeUtc cannot be in the future"));
                None
            }
            Some(date) if date < task.created_at => {
                check.push(rule(
                    "InvalidStatusChangeDate",
                    "StatusChangeDateTimeUtc cannot be before the task was raised",
                ));
                None
            }
            Some(date) => Some(date),
            None => {
                check.push(rule("InvalidStatusChangeDate", "StatusChangeDateTimeUtc must be an ISO 8601 UTC time"));
                None
            }
        },
        None => None,
    };
    let note = given(&change.note);
    if let Some(note) = note
        && note.chars().count() > 4000
    {
        check.push(rule("FieldTooLong", "Note must be at most 4000 characters"));
    }
    for (field, matrix, value) in [
        ("ResolutionCauseCode", MatrixType::TaskResolutionCause, given(&change.resolution_cause)),
        ("ResolutionRemedyCode", MatrixType::TaskResolutionRemedy, given(&change.resolution_remedy)),
    ] {
        if let Some(code) = value
            && !reference_data::matrix_item_exists(reads.reader().await?, by.tenant, matrix, code, true).await?
        {
            check.push(rule(
                &format!("Unknown{}", field.trim_end_matches("Code")),
                format!("{code:?} is not an active {} matrix code", matrix.name()),
            ));
        }
    }
    if let Some(to) = to {
        let data = ChangeData {
            has_manual_date: given(&change.status_date).is_some(),
            has_resolution_cause: given(&change.resolution_cause).is_some(),
            has_resolution_remedy: given(&change.resolution_remedy).is_some(),
            has_contractor: task.contractor_id.is_some(),
        };
        for broken in task::check_transition(&workflow, from, to, &data) {
            check.push(broken);
        }
    }
    check.finish().map_err(AppError::Invalid)?;
    let Some(to) = to else { return Err(AppError::internal("status checks passed without a status")) };
    // Pinned to the Version the caller sent, or else to the status the change was checked
    // against (notes and chases in between do not make it stale).
    let changed = Change {
        version: change.version.map(|_| task.version),
        from_status: Some(task.status_id),
        status: Some(to.id),
        ..Change::default()
    };
    // Released before the writer is waited for (see `ReadSession`).
    drop(reads);
    let mut tx = app.db.begin_write().await?;
    if !tasks::change(&mut tx, task.id, &changed, now).await? {
        return Ok(None);
    }
    let mut detail = Vec::new();
    if let Some(cause) = given(&change.resolution_cause) {
        detail.push(format!("cause {cause}"));
    }
    if let Some(remedy) = given(&change.resolution_remedy) {
        detail.push(format!("remedy {remedy}"));
    }
    let actor = actor_name(by);
    if let Some(note) = note {
        tasks::add_note(&mut tx, task.id, "note", by.user.map(|u| u.0), &actor, note, now).await?;
    }
    tasks::add_history(
        &mut tx,
        task.id,
        &HistoryEntry {
            occurred_at: now,
            actor_id: by.user.map(|u| u.0),
            actor,
            event: String::from("status"),
            from_status: Some(from.name.clone()),
            to_status: Some(to.name.clone()),
            status_date,
            detail: detail.join("; "),
        },
    )
    .await?;
    let task = tasks::get(&mut tx, by.tenant, Scope::All, &task.reference).await?.ok_or(AppError::NotFound)?;
    let status_change = serde_json::json!({
        "FromStatus": from.name,
        "ToStatus": to.name,
        "StatusChangeDateTimeUtc": status_date.map(Timestamp::to_rfc3339),
        "ResolutionCauseCode": given(&change.resolution_cause),
        "ResolutionRemedyCode": given(&change.resolution_remedy),
        "Note": note,
    });
    let event = Some(("StatusChange", status_change));
    let queued =
        outbound::record(&mut tx, by.tenant, &by.tenant_name, &task, OutboundEvent::TaskStatus, event, now).await?;
    tx.commit().await?;
    wake_deliverer(app, queued);
    // The answer's notes and history are read after the commit, on the read side.
    let mut reads = ReadSession::new(&app.db);
    let notes = tasks::notes(reads.reader().await?, task.id).await?;
    let history = tasks::history(reads.reader().await?, task.id).await?;
    drop(reads);
    let next_statuses = match workflow.status(task.status_id) {
        Some(current) => workflow.destinations_of(current).cloned().collect(),
        None => Vec::new(),
    };
    Ok(Some(TaskDetail { task, notes, history, next_statuses }))
}

/// Adds a note (1 to 4,000 characters).
pub async fn add_note(
    app: &App,
    by: &Authorized<'_, can::TasksUpdate, Principal>,
    reference: &str,
    text: &str,
) -> Result<Note, AppError> {
    note_or_chase(app, by.principal(), reference, text, false).await
}

/// Chases the contractor of an open, dispatched task (a note of kind `chase`).
pub async fn chase(
    app: &App,
    by: &Authorized<'_, can::TasksUpdate, Principal>,
    reference: &str,
    text: &str,
) -> Result<Note, AppError> {
    note_or_chase(app, by.principal(), reference, text, true).await
}

async fn note_or_chase(app: &App, by: &Principal, reference: &str, text: &str, chase: bool) -> Result<Note, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let task = visible_task(&mut tx, by, reference).await?;
    let text = text.trim();
    let mut check = RuleCheck::new();
    if chase {
        if by.user_type == UserType::Contractor {
            return Err(AppError::forbidden(rule("ChaseNotAllowed", "Contractor users do not chase tasks")));
        }
        if task.status_type.is_finished() {
            check.push(rule("Finished", format!("Task {} is {} and cannot be chased", task.reference, task.status)));
        } else if task.contractor_id.is_none() {
            check.push(rule("NotDispatched", "The task has no contractor to chase yet"));
        }
        if text.chars().count() > 4000 {
            check.push(rule("FieldTooLong", "Note must be at most 4000 characters"));
        }
    } else if text.is_empty() {
        check.push(rule("MissingText", "Text is required"));
    } else if text.chars().count() > 4000 {
        check.push(rule("FieldTooLong", "Text must be at most 4000 characters"));
    }
    check.finish().map_err(AppError::Invalid)?;
    let text = if chase && text.is_empty() { "Chased" } else { text };
    let kind = if chase { "chase" } else { "note" };
    let actor = actor_name(by);
    tasks::change(&mut tx, task.id, &Change::default(), now).await?;
    let id = tasks::add_note(&mut tx, task.id, kind, by.user.map(|u| u.0), &actor, text, now).await?;
    tasks::add_history(
        &mut tx,
        task.id,
        &HistoryEntry {
            occurred_at: now,
            actor_id: by.user.map(|u| u.0),
            actor: actor.clone(),
            event: String::from(if chase { "chased" } else { "note" }),
            from_status: None,
            to_status: None,
            status_date: None,
            detail: String::new(),
        },
    )
    .await?;
    let note = Note { id, kind: kind.to_owned(), author: actor, text: text.to_owned(), created_at: now };
    let changed = tasks::get(&mut tx, by.tenant, Scope::All, &task.reference).await?.ok_or(AppError::NotFound)?;
    let body = serde_json::json!({
        "Id": note.id,
        "Kind": if chase { "Chase" } else { "Note" },
        "Text": note.text,
        "Author": note.author,
        "CreatedAtUtc": now.to_rfc3339(),
    });
    let event = if chase { OutboundEvent::TaskChased } else { OutboundEvent::TaskNote };
    let queued =
        outbound::record(&mut tx, by.tenant, &by.tenant_name, &changed, event, Some(("Note", body)), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    wake_deliverer(app, queued);
    Ok(note)
}

/// Dispatches (or re-dispatches) a task by hand. Management users may choose any
/// contractor; a Contractor user only its own contractor or one below it, for tasks of
/// its own contractor tree. The task moves to its workflow's dispatched status.
pub async fn dispatch(
    app: &App,
    by: &Authorized<'_, can::TasksDispatch, Principal>,
    reference: &str,
    request: Dispatch,
) -> Result<TaskDetail, AppError> {
    // Dispatching names no Version: a note or a status change in between is read again.
    for _ in 0..ATTEMPTS {
        if let Some(detail) = try_dispatch(app, by.principal(), reference, &request).await? {
            return Ok(detail);
        }
    }
    Err(stale())
}

async fn try_dispatch(
    app: &App,
    by: &Principal,
    reference: &str,
    request: &Dispatch,
) -> Result<Option<TaskDetail>, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let task = visible_task(&mut tx, by, reference).await?;
    let mut check = RuleCheck::new();
    if task.status_type.is_finished() {
        check.push(rule("Finished", format!("Task {} is {} and cannot be dispatched", task.reference, task.status)));
    }
    let code = request.supplier.trim();
    let contractor = if code.is_empty() {
        check.push(rule("MissingSupplier", "Supplier (a contractor code) is required"));
        None
    } else {
        contractors::find_by_code(&mut *tx, by.tenant, code).await?
    };
    if contractor.is_none() && !code.is_empty() {
        check.push(rule("UnknownSupplier", format!("No contractor has the code {code:?}")));
    }
    if let (Scope::Contractor { contractor: own, .. }, Some(target)) = (by.scope(), &contractor) {
        let current_ok = match task.contractor_id {
            Some(current) => visibility::contractor_within(&mut tx, own, current).await?,
            None => false,
        };
        if !current_ok || !visibility::contractor_within(&mut tx, own, target.id.0).await? {
            return Err(AppError::forbidden(rule(
                "DispatchNotAllowed",
                "Contractor users re-dispatch only their own contractor's tasks, to it or its child contractors",
            )));
        }
    }
    let level = match given(&request.service_level) {
        Some(name) => match workflows::service_level(&mut *tx, by.tenant, None, Some(name)).await? {
            Some(level) if level.is_active => Some(level),
            _ => {
                check.push(rule("UnknownServiceLevel", format!("{name:?} is not an active service level")));
                None
            }
        },
        None => None,
    };
    check.finish().map_err(AppError::Invalid)?;
    let Some(contractor) = contractor else { return Err(AppError::internal("dispatch checks passed without values")) };
    let workflow = workflows::get(&mut tx, by.tenant, task.workflow_id).await?.ok_or(AppError::NotFound)?;
    let target = workflow.dispatched().filter(|s| s.id != task.status_id);
    let changed = Change {
        version: Some(task.version),
        from_status: None,
        status: target.map(|s| s.id),
        contractor: Some(contractor.id.0),
        service_level: level.as_ref().map(|l| l.id),
        due: level.as_ref().map(|l| task::due_dates(now, l.respond_minutes, l.complete_minutes)),
    };
    if !tasks::change(&mut tx, task.id, &changed, now).await? {
        return Ok(None);
    }
    tasks::add_history(
        &mut tx,
        task.id,
        &HistoryEntry {
            occurred_at: now,
            actor_id: by.user.map(|u| u.0),
            actor: actor_name(by),
            event: String::from("dispatched"),
            from_status: target.map(|_| task.status.clone()),
            to_status: target.map(|s| s.name.clone()),
            status_date: None,
            detail: match &level {
                Some(level) => format!("Dispatched to {} with service level {}", contractor.code, level.name),
                None => format!("Dispatched to {}", contractor.code),
            },
        },
    )
    .await?;
    let task = tasks::get(&mut tx, by.tenant, Scope::All, &task.reference).await?.ok_or(AppError::NotFound)?;
    let change = serde_json::json!({
        "Supplier": contractor.code,
        "ServiceLevel": level.as_ref().map(|l| l.name.clone()),
        "Status": task.status,
    });
    let queued = outbound::record(
        &mut tx,
        by.tenant,
        &by.tenant_name,
        &task,
        OutboundEvent::TaskChanged,
        Some(("Change", change)),
        now,
    )
    .await?;
    let detail = detail(&mut tx, by, task).await?;
    tx.commit().await.map_err(StorageError::from)?;
    wake_deliverer(app, queued);
    Ok(Some(detail))
}
