//! Tasks over REST: raise (`POST /rest/tasks/{tenant}`, the Urgent fields), read, list,
//! change status, notes, chase, dispatch. The permission is checked before the body is
//! looked at; a task the caller may not see answers 404 on every path.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::json_out::JsonObject;
use caretaker_app::task_json::TaskJson;
use caretaker_app::tasks::{self, Dispatch, ListFilter, Raised, StatusChange, TaskDetail, TaskInput};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::task::Workflow;
use caretaker_storage::tasks::{HistoryEntry, Note};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;
use crate::rest::common::{Created, CustomFieldIn, bad_query, missing};
use crate::rest::json::{ApiJson, ItemsWriter, OptionalJson};

/// `Relate` of Create Task: link the new task to an existing one.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RelateIn {
    #[serde(rename = "Type")]
    kind: Option<String>,
    reference: Option<String>,
}

/// Create Task as the Urgent API defines it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateTask {
    external_identifier: Option<String>,
    initiator_name: Option<String>,
    site_code: Option<String>,
    description: Option<String>,
    defect_source: Option<String>,
    matrix_item_code: Option<String>,
    chargeability: Option<String>,
    workflow: Option<String>,
    service_level: Option<String>,
    supplier: Option<String>,
    assets: Option<Vec<String>>,
    is_asset_available: Option<bool>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    relate: Option<RelateIn>,
}

impl From<CreateTask> for TaskInput {
    fn from(body: CreateTask) -> Self {
        let text = |v: Option<String>| v.unwrap_or_default();
        TaskInput {
            external_identifier: body.external_identifier,
            initiator_name: text(body.initiator_name),
            site_code: text(body.site_code),
            description: text(body.description),
            defect_source: body.defect_source,
            matrix_item_code: text(body.matrix_item_code),
            chargeability: body.chargeability,
            workflow: body.workflow,
            service_level: body.service_level,
            supplier: body.supplier,
            assets: body.assets.unwrap_or_default(),
            is_asset_available: body.is_asset_available,
            custom_fields: crate::rest::common::answers(body.custom_fields),
            relate: body.relate.map(|r| (text(r.kind), text(r.reference))),
        }
    }
}

/// A note or chase as shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoteOut {
    id: i64,
    /// `Note` or `Chase`.
    kind: &'static str,
    text: String,
    author: String,
    #[serde(rename = "CreatedAtUtc")]
    created_at_utc: String,
}

impl From<Note> for NoteOut {
    fn from(n: Note) -> Self {
        NoteOut {
            id: n.id,
            kind: if n.kind == "chase" { "Chase" } else { "Note" },
            text: n.text,
            author: n.author,
            created_at_utc: n.created_at.to_rfc3339(),
        }
    }
}

/// A line of history as shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryOut {
    #[serde(rename = "OccurredAtUtc")]
    occurred_at_utc: String,
    /// `Created`, `StatusChanged`, `Dispatched`, `NoteAdded`, `Chased`.
    event: &'static str,
    actor: String,
    from_status: Option<String>,
    to_status: Option<String>,
    #[serde(rename = "StatusChangeDateTimeUtc")]
    status_change_date_time_utc: Option<String>,
    detail: String,
}

impl From<HistoryEntry> for HistoryOut {
    fn from(h: HistoryEntry) -> Self {
        HistoryOut {
            occurred_at_utc: h.occurred_at.to_rfc3339(),
            event: match h.event.as_str() {
                "created" => "Created",
                "status" => "StatusChanged",
                "dispatched" => "Dispatched",
                "chased" => "Chased",
                _ => "NoteAdded",
            },
            actor: h.actor,
            from_status: h.from_status,
            to_status: h.to_status,
            status_change_date_time_utc: h.status_date.map(Timestamp::to_rfc3339),
            detail: h.detail,
        }
    }
}

/// One task with its notes, history and the statuses it may move to next: the task's
/// fields, then `NextStatuses`, `Notes`, `History`.
#[derive(Debug)]
pub struct TaskDetailOut<'a> {
    task: TaskJson<'a>,
    next_statuses: Vec<&'a str>,
    notes: Vec<NoteOut>,
    history: Vec<HistoryOut>,
}

impl TaskDetailOut<'_> {
    fn write_fields(&self, o: &mut JsonObject<'_>) -> serde_json::Result<()> {
        self.task.write_fields(o);
        o.serde("NextStatuses", &self.next_statuses)?;
        o.serde("Notes", &self.notes)?;
        o.serde("History", &self.history)
    }
}

impl<'a> From<&'a TaskDetail> for TaskDetailOut<'a> {
    fn from(detail: &'a TaskDetail) -> Self {
        TaskDetailOut {
            task: TaskJson::from(&detail.task),
            next_statuses: detail.next_statuses.iter().map(|s| s.name.as_str()).collect(),
            notes: detail.notes.iter().cloned().map(NoteOut::from).collect(),
            history: detail.history.iter().cloned().map(HistoryOut::from).collect(),
        }
    }
}

/// An answer about one task: its fields (and what follows them), written straight into a
/// buffer of about `capacity` bytes; with `"Messages": null` after them for creates and
/// updates, as Urgent answers them.
fn task_answer(
    status: StatusCode,
    capacity: usize,
    messages: bool,
    fields: impl FnOnce(&mut JsonObject<'_>) -> serde_json::Result<()>,
) -> Response {
    let mut buffer = Vec::with_capacity(capacity);
    let mut o = JsonObject::open(&mut buffer);
    if let Err(err) = fields(&mut o) {
        return failed(caretaker_app::AppError::internal(format!("an answer could not be written as JSON: {err}")));
    }
    if messages {
        o.null("Messages");
    }
    o.close();
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], buffer).into_response()
}

fn detail_answer(status: StatusCode, detail: &TaskDetail, messages: bool) -> Response {
    task_answer(status, 4096, messages, |o| TaskDetailOut::from(detail).write_fields(o))
}

/// The item with `"Messages": null`, as Urgent answers creates and updates.
fn answer<T: Serialize>(status: StatusCode, item: T) -> Response {
    (status, Json(Created { item, messages: None })).into_response()
}

/// The permission's 403 as a response, for handlers that answer `Result<Response, Response>`
/// (the permission is proved before the body is looked at).
fn refused(permission: &str) -> Response {
    missing(permission).into_response()
}

fn failed(err: caretaker_app::AppError) -> Response {
    ApiError(err).into_response()
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Result<ApiJson<CreateTask>, Response>,
) -> Result<Response, Response> {
    let proof = caller.principal.authorize::<can::TasksCreate>().ok_or_else(|| refused("tasks.create"))?;
    let ApiJson(body) = body?;
    let (status, task) = match tasks::raise(&state.app, &proof, body.into()).await.map_err(failed)? {
        Raised::Created(task) => (StatusCode::CREATED, task),
        Raised::Existing(task) => (StatusCode::OK, task),
    };
    Ok(task_answer(status, 1024, true, |o| {
        TaskJson::from(&task).write_fields(o);
        Ok(())
    }))
}

pub async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, reference)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let proof = caller.principal.authorize::<can::TasksRead>().ok_or_else(|| missing("tasks.read"))?;
    let detail = tasks::get(&state.app, &proof, &reference).await?;
    Ok(detail_answer(StatusCode::OK, &detail, false))
}

/// Query of the task list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TaskQuery {
    #[serde(rename = "Limit", alias = "limit")]
    limit: Option<i64>,
    #[serde(rename = "Cursor", alias = "cursor")]
    cursor: Option<String>,
    #[serde(rename = "Status", alias = "status")]
    status: Option<String>,
    #[serde(rename = "StatusType", alias = "statusType")]
    status_type: Option<String>,
    #[serde(rename = "SiteCode", alias = "siteCode")]
    site_code: Option<String>,
    #[serde(rename = "Supplier", alias = "supplier")]
    supplier: Option<String>,
    #[serde(rename = "UpdatedSince", alias = "updatedSince")]
    updated_since: Option<String>,
    #[serde(rename = "ExternalIdentifier", alias = "externalIdentifier")]
    external_identifier: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let proof = caller.principal.authorize::<can::TasksRead>().ok_or_else(|| missing("tasks.read"))?;
    let Query(query) = query.map_err(|_| bad_query("Limit must be a whole number; the filters are text"))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("Limit must be 1 to 200"));
    }
    let filter = ListFilter {
        status: query.status,
        status_type: query.status_type,
        site_code: query.site_code,
        supplier: query.supplier,
        updated_since: query.updated_since,
        external_identifier: query.external_identifier,
    };
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    // About 700 bytes a task as integrations usually fill them; each task's JSON is copied
    // from what an earlier page wrote of it when it has not changed since.
    let mut page = ItemsWriter::with_capacity(64 + limit.unsigned_abs() as usize * 768);
    let next_cursor =
        tasks::list_json(&state.app, &proof, &filter, cursor, limit, |json| page.item().extend_from_slice(json))
            .await?;
    Ok(page.finish(next_cursor.as_deref()))
}

/// Change Status body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeStatusIn {
    status: Option<String>,
    note: Option<String>,
    #[serde(rename = "StatusChangeDateTimeUtc")]
    status_change_date_time_utc: Option<String>,
    resolution_cause_code: Option<String>,
    resolution_remedy_code: Option<String>,
    version: Option<i64>,
}

pub async fn change_status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, reference)): Path<(String, String)>,
    body: Result<ApiJson<ChangeStatusIn>, Response>,
) -> Result<Response, Response> {
    let proof = caller.principal.authorize::<can::TasksUpdate>().ok_or_else(|| refused("tasks.update"))?;
    let ApiJson(body) = body?;
    let change = StatusChange {
        status: body.status.unwrap_or_default(),
        note: body.note,
        status_date: body.status_change_date_time_utc,
        resolution_cause: body.resolution_cause_code,
        resolution_remedy: body.resolution_remedy_code,
        version: body.version,
    };
    let detail = tasks::change_status(&state.app, &proof, &reference, change).await.map_err(failed)?;
    Ok(detail_answer(StatusCode::OK, &detail, true))
}

/// A note's body (`Note` accepted for `Text`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NoteIn {
    #[serde(alias = "Note")]
    text: Option<String>,
}

pub async fn add_note(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, reference)): Path<(String, String)>,
    body: Result<ApiJson<NoteIn>, Response>,
) -> Result<Response, Response> {
    let proof = caller.principal.authorize::<can::TasksUpdate>().ok_or_else(|| refused("tasks.update"))?;
    let ApiJson(body) = body?;
    let note = tasks::add_note(&state.app, &proof, &reference, body.text.as_deref().unwrap_or_default())
        .await
        .map_err(failed)?;
    Ok(answer(StatusCode::CREATED, NoteOut::from(note)))
}

pub async fn chase(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, reference)): Path<(String, String)>,
    body: Result<OptionalJson<NoteIn>, Response>,
) -> Result<Response, Response> {
    let proof = caller.principal.authorize::<can::TasksUpdate>().ok_or_else(|| refused("tasks.update"))?;
    let OptionalJson(body) = body?;
    let note =
        tasks::chase(&state.app, &proof, &reference, body.text.as_deref().unwrap_or_default()).await.map_err(failed)?;
    Ok(answer(StatusCode::CREATED, NoteOut::from(note)))
}

/// Dispatch body: the contractor's code and, optionally, a service level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchIn {
    supplier: Option<String>,
    service_level: Option<String>,
}

pub async fn dispatch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, reference)): Path<(String, String)>,
    body: Result<ApiJson<DispatchIn>, Response>,
) -> Result<Response, Response> {
    let proof = caller.principal.authorize::<can::TasksDispatch>().ok_or_else(|| refused("tasks.dispatch"))?;
    let ApiJson(body) = body?;
    let request = Dispatch { supplier: body.supplier.unwrap_or_default(), service_level: body.service_level };
    let detail = tasks::dispatch(&state.app, &proof, &reference, request).await.map_err(failed)?;
    Ok(detail_answer(StatusCode::OK, &detail, true))
}

/// A status of a workflow, as the Urgent workflow read shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusOut {
    name: String,
    status_type: &'static str,
    is_quotation_enabled: bool,
    is_manual_date_enabled: bool,
    is_eligible_to_invoice: bool,
    destinations: Vec<String>,
    is_task_resolution_cause_enabled: bool,
    is_task_resolution_remedy_enabled: bool,
    update_asset_condition: bool,
    supplier_on_site: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkflowOut {
    name: String,
    workflow_type: &'static str,
    is_active: bool,
    is_default: bool,
    statuses: Vec<StatusOut>,
}

impl From<Workflow> for WorkflowOut {
    fn from(w: Workflow) -> Self {
        let statuses = w
            .statuses
            .iter()
            .map(|s| StatusOut {
                name: s.name.clone(),
                status_type: s.status_type.name(),
                is_quotation_enabled: s.flags.quotation_enabled,
                is_manual_date_enabled: s.flags.manual_date_enabled,
                is_eligible_to_invoice: s.flags.eligible_to_invoice,
                destinations: w.destinations_of(s).map(|d| d.name.clone()).collect(),
                is_task_resolution_cause_enabled: s.flags.resolution_cause_enabled,
                is_task_resolution_remedy_enabled: s.flags.resolution_remedy_enabled,
                update_asset_condition: s.flags.update_asset_condition,
                supplier_on_site: s.flags.supplier_on_site,
            })
            .collect();
        WorkflowOut {
            name: w.name,
            workflow_type: w.workflow_type.name(),
            is_active: w.is_active,
            is_default: w.is_default,
            statuses,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflows {
    workflows: Vec<WorkflowOut>,
}

fn workflow_type(segment: &str) -> Result<caretaker_domain::task::WorkflowType, ApiError> {
    caretaker_domain::task::WorkflowType::from_path(segment).ok_or(ApiError(caretaker_app::AppError::NotFound))
}

/// `GET /rest/workflows/{tenant}/{type}`: `reactive`, `scheduled` or `invoicing`.
pub async fn workflows(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, kind)): Path<(String, String)>,
) -> Result<Json<Workflows>, ApiError> {
    let proof = caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    let kind = workflow_type(&kind)?;
    let found = caretaker_app::workflows::list(&state.app, &proof, Some(kind), None).await?;
    Ok(Json(Workflows { workflows: found.into_iter().map(WorkflowOut::from).collect() }))
}

/// `GET /rest/workflows/{tenant}/{type}/{workflow}`: one workflow by name, in the same
/// `Workflows` wrapper; 404 when there is none.
pub async fn workflow(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, kind, name)): Path<(String, String, String)>,
) -> Result<Json<Workflows>, ApiError> {
    let proof = caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    let kind = workflow_type(&kind)?;
    let found = caretaker_app::workflows::list(&state.app, &proof, Some(kind), Some(&name)).await?;
    if found.is_empty() {
        return Err(ApiError(caretaker_app::AppError::NotFound));
    }
    Ok(Json(Workflows { workflows: found.into_iter().map(WorkflowOut::from).collect() }))
}
