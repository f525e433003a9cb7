//! Manage > Tasks: the list of the tasks the user may see (the use case's scope decides:
//! a Contractor user sees its contractor's tasks, a Site user those of its sites), Raise
//! Task, and a task's page with its status buttons, notes, chase and dispatch forms.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::tasks::{self, Dispatch, ListFilter, Raised, StatusChange, TaskDetail, TaskInput};
use caretaker_app::{Principal, contractors, custom_fields, reference_data, workflows};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixType, ReferenceGroup};
use caretaker_domain::task::{Status, StatusType, WorkflowType};
use caretaker_domain::user::UserType;
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::reference_data::MatrixItem;
use caretaker_storage::tasks::Task;
use caretaker_storage::workflows::ServiceLevel;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::{DoneQuery, Fields};
use crate::web::inputs::{self, custom_field_inputs, matrix_label, matrix_options, text};
use crate::web::page::{Page, PageError, PageResult, done_notice, frame, operations, refused, rules_box, segment};

/// Tasks per list page.
const PAGE: i64 = 50;

/// A time as the pages show it: `2024-05-01 14:30` (UTC).
pub(crate) fn when(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    text.get(..16).map_or(text.clone(), |s| s.replace('T', " "))
}

fn when_opt(t: Option<Timestamp>) -> String {
    t.map(when).unwrap_or_default()
}

/// Whether the task should have been completed by now and is still New or Open.
fn is_overdue(task: &Task, now: Timestamp) -> bool {
    !task.status_type.is_finished() && task.complete_by.is_some_and(|due| due < now)
}

/// The link of a task's page.
fn task_link(base: &str, reference: &str) -> String {
    format!("{base}/tasks/{}", segment(reference))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    supplier: String,
    #[serde(default)]
    after: String,
}

impl ListQuery {
    /// The filters as a query string (without the cursor), for the Next page link.
    fn query_string(&self) -> String {
        [
            ("status_type", &self.status_type),
            ("status", &self.status),
            ("site", &self.site),
            ("supplier", &self.supplier),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", segment(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// The status names of the tenant's Reactive workflows (for the filter's suggestions; empty
/// without `reference_data.read`).
async fn status_names(state: &AppState, web: &Web) -> Result<Vec<String>, PageError> {
    let Some(proof) = web.principal().authorize::<can::ReferenceDataRead>() else { return Ok(Vec::new()) };
    let mut names: Vec<String> = workflows::list(&state.app, &proof, Some(WorkflowType::Reactive), None)
        .await?
        .into_iter()
        .flat_map(|w| w.statuses.into_iter().map(|s| s.name))
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    Ok(names)
}

pub async fn list(
    State(state): State<AppState>,
    web: Web,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let proof = web.authorize::<can::TasksRead>()?;
    let filter = ListFilter {
        status: text_of(&query.status),
        status_type: text_of(&query.status_type),
        site_code: text_of(&query.site),
        supplier: text_of(&query.supplier),
        ..ListFilter::default()
    };
    let after = Some(query.after.trim()).filter(|a| !a.is_empty());
    let (rows, next, rules) = match tasks::list(&state.app, &proof, &filter, after, PAGE).await {
        Ok((rows, next)) => (rows, next, Vec::new()),
        Err(err) => {
            let (_, rules) = refused(err)?;
            (Vec::new(), None, rules)
        }
    };
    let status = if rules.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let statuses = status_names(&state, &web).await?;
    let now = state.app.clock.now();
    let base = &web.base;
    let filters = query.query_string();
    let body = html! {
        div.titlebar {
            h1 { "Tasks" }
            @if web.principal().permissions.contains(Permission::TasksCreate) {
                (operations(html! { li { a #op-raise href={ (base) "/manage/tasks/new" } { "Raise Task" } } }))
            }
        }
        (rules_box(&rules))
        form.filters #task-filters method="get" action={ (base) "/manage/tasks" } role="search" {
            select name="status_type" aria-label="Status type" {
                option value="" { "All status types" }
                @for t in StatusType::ALL {
                    option value=(t.name()) selected[query.status_type.eq_ignore_ascii_case(t.name())] { (t.name()) }
                }
            }
            input name="status" value=(query.status) placeholder="Status" aria-label="Status" list="status-names";
            datalist #status-names { @for name in &statuses { option value=(name) {} } }
            input name="site" value=(query.site) placeholder="Site code" aria-label="Site code";
            input name="supplier" value=(query.supplier) placeholder="Supplier (contractor code)" aria-label="Supplier";
            button type="submit" { "Filter" }
            @if !filters.is_empty() { a href={ (base) "/manage/tasks" } { "Clear" } }
        }
        table.list #tasks {
            thead { tr {
                th { "Reference" } th { "Site" } th { "Description" } th { "Status" } th { "Supplier" }
                th { "Respond by" } th { "Complete by" } th { "Updated" }
            } }
            tbody {
                @for task in &rows {
                    @let overdue = is_overdue(task, now);
                    tr.overdue[overdue] data-reference=(task.reference) data-overdue=(overdue) {
                        td.code { a href=(task_link(base, &task.reference)) { (task.reference) } }
                        td { (task.site_code) }
                        td { (task.description) }
                        td { span.status title=(task.status_type.name()) { (task.status) } }
                        td { (task.supplier.as_deref().unwrap_or("")) }
                        td { (when_opt(task.respond_by)) }
                        td {
                            (when_opt(task.complete_by))
                            @if overdue { " " span.badge.warning.overdue title="Past its complete-by time" { "Overdue" } }
                        }
                        td { (when(task.updated_at)) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="8" { "No tasks match." } } }
            }
        }
        @if after.is_some() || next.is_some() {
            nav.pager aria-label="More tasks" {
                @if after.is_some() { a #first-page href={ (base) "/manage/tasks?" (filters) } { "First page" } }
                @if let Some(next) = &next {
                    @let sep = if filters.is_empty() { "" } else { "&" };
                    a #next-page href={ (base) "/manage/tasks?" (filters) (sep) "after=" (segment(next)) } {
                        "Next page"
                    }
                }
            }
        }
    };
    Ok(Page { status, markup: frame(web.principal(), web.csrf(), "Tasks", body) }.into_response())
}

fn text_of(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------
// Raise Task
// ---------------------------------------------------------------------------------------

/// What the Raise Task window offers (lists empty without the read permission they need,
/// when the codes are typed instead).
#[derive(Default)]
struct RaiseChoices {
    readable: bool,
    categories: Vec<MatrixItem>,
    defect_sources: Vec<String>,
    fields: Vec<CustomField>,
    sites: Vec<String>,
    restricted: bool,
    workflows: Vec<String>,
    service_levels: Vec<String>,
    contractors: Vec<(String, String)>,
}

async fn raise_choices(state: &AppState, web: &Web) -> Result<RaiseChoices, PageError> {
    let app = &state.app;
    let principal = web.principal();
    let mut c = RaiseChoices::default();
    if let Some(proof) = principal.authorize::<can::SitesRead>() {
        c.sites = crate::web::sites::load_window(state, &proof, None).await?.0.into_iter().map(|s| s.code).collect();
    }
    if let Some(proof) = principal.authorize::<can::ReferenceDataRead>() {
        c.readable = true;
        c.categories = reference_data::matrix(app, &proof, MatrixType::Reactive).await?;
        c.defect_sources = reference_data::reference_list(app, &proof, ReferenceGroup::TaskDefectSource)
            .await?
            .into_iter()
            .filter(|v| v.is_active)
            .map(|v| v.value)
            .collect();
        c.fields = custom_fields::all(app, &proof)
            .await?
            .into_iter()
            .filter(|(target, _)| *target == CustomFieldTarget::Task)
            .map(|(_, field)| field)
            .collect();
        if principal.permissions.contains(Permission::TasksSetRestrictedFields) {
            c.workflows = workflows::list(app, &proof, Some(WorkflowType::Reactive), None)
                .await?
                .into_iter()
                .filter(|w| w.is_active)
                .map(|w| w.name)
                .collect();
            c.service_levels = workflows::service_levels(app, &proof)
                .await?
                .into_iter()
                .filter(|l| l.is_active)
                .map(|l| l.name)
                .collect();
        }
    }
    c.restricted = principal.permissions.contains(Permission::TasksSetRestrictedFields);
    if c.restricted
        && let Some(proof) = principal.authorize::<can::ContractorsRead>()
    {
        c.contractors = contractors::list(app, &proof, None).await?.into_iter().map(|c| (c.code, c.name)).collect();
    }
    Ok(c)
}

/// A select of names (with an empty first choice), or a text input when there is no list.
fn name_select(id: &str, names: &[String], typed: &str, empty: &str) -> Markup {
    html! {
        @if names.is_empty() {
            input #(id) name=(id) value=(typed) placeholder=(empty);
        } @else {
            select #(id) name=(id) {
                option value="" { (empty) }
                @for name in names { option value=(name) selected[name.eq_ignore_ascii_case(typed.trim())] { (name) } }
            }
        }
    }
}

fn raise_window(web: &Web, f: &Fields, c: &RaiseChoices, rules: &[BrokenRule]) -> Markup {
    let base = &web.base;
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Raise Task" }
            (rules_box(rules))
            form #task-window method="post" action={ (base) "/manage/tasks/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                div.tablist role="tablist" aria-label="Task" {
                    button.tab #tab-details type="button" role="tab" aria-controls="panel-details" aria-selected="true" { "Details" }
                    button.tab #tab-custom type="button" role="tab" aria-controls="panel-custom" aria-selected="false" { "Custom Fields" }
                    @if c.restricted {
                        button.tab #tab-dispatch type="button" role="tab" aria-controls="panel-dispatch" aria-selected="false" { "Dispatch" }
                    }
                }
                section.panel #panel-details role="tabpanel" aria-labelledby="tab-details" {
                    label for="site_code" { "Site code" }
                    input #site_code name="site_code" value=(f.get("site_code")) required maxlength="50" list="site-codes";
                    datalist #site-codes { @for code in &c.sites { option value=(code) {} } }
                    label for="description" { "Description" }
                    textarea #description name="description" rows="4" required maxlength="4000" { (f.get("description")) }
                    label for="initiator_name" { "Initiator name" }
                    input #initiator_name name="initiator_name" value=(f.get("initiator_name")) required maxlength="200";
                    label for="matrix_item_code" { "Category (Reactive matrix)" }
                    @if c.readable {
                        select #matrix_item_code name="matrix_item_code" required {
                            (matrix_options(&c.categories, f.get("matrix_item_code"), Some("(choose)")))
                        }
                    } @else {
                        input #matrix_item_code name="matrix_item_code" value=(f.get("matrix_item_code")) required placeholder="Matrix code such as 01-02";
                    }
                    label for="defect_source" { "Defect source" }
                    (name_select("defect_source", &c.defect_sources, f.get("defect_source"), "(none)"))
                    label for="assets" { "Assets (identifiers, comma-separated; optional)" }
                    input #assets name="assets" value=(f.get("assets"));
                    label for="is_asset_available" { "Is the asset available?" }
                    select #is_asset_available name="is_asset_available" {
                        option value="" { "(not said)" }
                        option value="true" selected[f.get("is_asset_available") == "true"] { "Yes" }
                        option value="false" selected[f.get("is_asset_available") == "false"] { "No" }
                    }
                }
                section.panel #panel-custom role="tabpanel" aria-labelledby="tab-custom" {
                    (custom_field_inputs(&c.fields, f, "category"))
                }
                @if c.restricted {
                    section.panel #panel-dispatch role="tabpanel" aria-labelledby="tab-dispatch" {
                        p.muted { "Leave these empty to let the dispatch rules decide." }
                        label for="workflow" { "Workflow" }
                        (name_select("workflow", &c.workflows, f.get("workflow"), "(default)"))
                        label for="service_level" { "Service level" }
                        (name_select("service_level", &c.service_levels, f.get("service_level"), "(by the rules)"))
                        label for="supplier" { "Supplier (contractor)" }
                        @if c.contractors.is_empty() {
                            input #supplier name="supplier" value=(f.get("supplier")) placeholder="Contractor code";
                        } @else {
                            select #supplier name="supplier" {
                                option value="" { "(by the rules)" }
                                @for (code, name) in &c.contractors {
                                    option value=(code) selected[code.eq_ignore_ascii_case(f.get("supplier").trim())] { (name) " (" (code) ")" }
                                }
                            }
                        }
                        label for="chargeability" { "Chargeability" }
                        input #chargeability name="chargeability" value=(f.get("chargeability")) maxlength="50";
                    }
                }
                div.actions {
                    button #save type="submit" { "Raise Task" }
                    a href={ (base) "/manage/tasks" } { "Cancel" }
                }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Raise Task", body)
}

/// Raise Task from the window's fields. The restricted fields are offered only to users who
/// may set them; posted by anyone else, they reach the use case, which refuses them by name.
fn raise_input(f: &Fields) -> TaskInput {
    let restricted_text = |name: &str| text(f, name);
    TaskInput {
        initiator_name: f.get("initiator_name").to_owned(),
        site_code: f.get("site_code").to_owned(),
        description: f.get("description").to_owned(),
        defect_source: text(f, "defect_source"),
        matrix_item_code: f.get("matrix_item_code").to_owned(),
        chargeability: restricted_text("chargeability"),
        workflow: restricted_text("workflow"),
        service_level: restricted_text("service_level"),
        supplier: restricted_text("supplier"),
        assets: f.get("assets").split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect(),
        is_asset_available: match f.get("is_asset_available") {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        custom_fields: inputs::answers(f),
        ..TaskInput::default()
    }
}

fn initiator(principal: &Principal) -> String {
    if principal.name.is_empty() { principal.email.clone() } else { principal.name.clone() }
}

pub async fn new_page(State(state): State<AppState>, web: Web) -> PageResult {
    web.authorize::<can::TasksCreate>()?;
    let choices = raise_choices(&state, &web).await?;
    let typed = Fields(vec![("initiator_name".into(), initiator(web.principal()))]);
    Ok(Page::ok(raise_window(&web, &typed, &choices, &[])))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let can_create = web.authorize::<can::TasksCreate>()?;
    let input = raise_input(&fields);
    match tasks::raise(&state.app, &can_create, input).await {
        Ok(Raised::Created(task) | Raised::Existing(task)) => {
            Ok(Redirect::to(&format!("{}?done=raised", task_link(&web.base, &task.reference))).into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            let choices = raise_choices(&state, &web).await?;
            Ok(Page { status, markup: raise_window(&web, &fields, &choices, &rules) }.into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------
// A task's page
// ---------------------------------------------------------------------------------------

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, reference)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let proof = web.authorize::<can::TasksRead>()?;
    let detail = tasks::get(&state.app, &proof, &reference).await?;
    Ok(Page::ok(task_page(&state, &web, &detail, &query.done, None).await?))
}

/// A refused form of the task page: which one, what was typed, why.
struct Refusal<'a> {
    form: &'a str,
    fields: &'a Fields,
    rules: &'a [BrokenRule],
}

/// What the status and dispatch forms offer.
#[derive(Default)]
struct TaskChoices {
    causes: Vec<MatrixItem>,
    remedies: Vec<MatrixItem>,
    service_levels: Vec<ServiceLevel>,
    contractors: Vec<(String, String)>,
    categories: Vec<MatrixItem>,
}

async fn task_choices(state: &AppState, web: &Web) -> Result<TaskChoices, PageError> {
    let app = &state.app;
    let mut c = TaskChoices::default();
    if let Some(proof) = web.principal().authorize::<can::ReferenceDataRead>() {
        c.causes = reference_data::matrix(app, &proof, MatrixType::TaskResolutionCause).await?;
        c.remedies = reference_data::matrix(app, &proof, MatrixType::TaskResolutionRemedy).await?;
        c.service_levels = workflows::service_levels(app, &proof).await?.into_iter().filter(|l| l.is_active).collect();
        c.categories = reference_data::matrix(app, &proof, MatrixType::Reactive).await?;
    }
    if web.principal().permissions.contains(Permission::TasksDispatch)
        && let Some(proof) = web.principal().authorize::<can::ContractorsRead>()
    {
        c.contractors = contractors::list(app, &proof, None).await?.into_iter().map(|c| (c.code, c.name)).collect();
    }
    Ok(c)
}

/// A matrix code select for a status change, or a text input without the matrix.
fn code_input(id: &str, name: &str, items: &[MatrixItem], typed: &str, required: bool) -> Markup {
    html! {
        @if items.is_empty() {
            input #(id) name=(name) value=(typed) required[required] placeholder="Matrix code";
        } @else {
            select #(id) name=(name) required[required] { (matrix_options(items, typed, Some("(choose)"))) }
        }
    }
}

/// One small form per status the task may move to.
fn status_form(
    web: &Web,
    here: &str,
    task: &Task,
    to: &Status,
    c: &TaskChoices,
    refusal: Option<&Refusal<'_>>,
) -> Markup {
    let typed = refusal.filter(|r| r.form == "status" && r.fields.get("status").eq_ignore_ascii_case(&to.name));
    let get = |name: &str| typed.map_or("", |r| r.fields.get(name));
    let slug: String =
        to.name.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch.to_ascii_lowercase() } else { '-' }).collect();
    html! {
        form.status-change id={ "status-" (slug) } method="post" action={ (here) "/status" } data-status=(to.name) {
            input type="hidden" name="csrf" value=(web.csrf());
            input type="hidden" name="status" value=(to.name);
            input type="hidden" name="version" value=(task.version);
            @if to.flags.resolution_cause_enabled {
                label for={ "cause-" (slug) } { "Resolution cause" }
                (code_input(&format!("cause-{slug}"), "resolution_cause", &c.causes, get("resolution_cause"), true))
            }
            @if to.flags.resolution_remedy_enabled {
                label for={ "remedy-" (slug) } { "Resolution remedy" }
                (code_input(&format!("remedy-{slug}"), "resolution_remedy", &c.remedies, get("resolution_remedy"), true))
            }
            @if to.flags.manual_date_enabled {
                label for={ "date-" (slug) } { "When it happened (UTC, optional)" }
                input id={ "date-" (slug) } type="datetime-local" name="status_date" value=(get("status_date"));
            }
            label for={ "note-" (slug) } { "Note (optional)" }
            textarea id={ "note-" (slug) } name="note" rows="1" maxlength="4000" { (get("note")) }
            button type="submit" { "Move to " (to.name) }
        }
    }
}

async fn task_page(
    state: &AppState,
    web: &Web,
    detail: &TaskDetail,
    done: &str,
    refusal: Option<Refusal<'_>>,
) -> Result<Markup, PageError> {
    let task = &detail.task;
    let principal = web.principal();
    let can = |p: Permission| principal.permissions.contains(p);
    let c = task_choices(state, web).await?;
    let base = &web.base;
    let here = task_link(base, &task.reference);
    let now = state.app.clock.now();
    let overdue = is_overdue(task, now);
    let finished = task.status_type.is_finished();
    let next = detail.next_statuses.as_slice();
    let typed = |form: &str, name: &str| -> String {
        refusal.as_ref().filter(|r| r.form == form).map(|r| r.fields.get(name).to_owned()).unwrap_or_default()
    };
    let no_rules: &[BrokenRule] = &[];
    let rules = refusal.as_ref().map_or(no_rules, |r| r.rules);
    let title = format!("Task {}", task.reference);
    let body = html! {
        div.titlebar {
            h1 { "Task " (task.reference) " " small #task-status data-status-type=(task.status_type.name()) { (task.status) } }
            @if overdue { span.badge.warning.overdue #overdue title="Past its complete-by time" { "Overdue" } }
        }
        (done_notice(done))
        div #task-rules { (rules_box(rules)) }
        dl.details #task-details {
            dt { "Reference" } dd #task-reference { (task.reference) }
            dt { "Site" } dd #task-site {
                @if can(Permission::SitesRead) {
                    a href={ (base) "/manage/sites/" (segment(&task.site_code)) } { (task.site_code) }
                } @else { (task.site_code) }
            }
            dt { "Description" } dd #task-description { (task.description) }
            dt { "Initiator" } dd { (task.initiator_name) }
            dt { "Category" } dd #task-category { (matrix_label(&c.categories, &task.matrix_code)) }
            dt { "Defect source" } dd { (task.defect_source.as_deref().unwrap_or("")) }
            dt { "Chargeability" } dd { (task.chargeability.as_deref().unwrap_or("")) }
            dt { "Workflow" } dd #task-workflow { (task.workflow) }
            dt { "Status" } dd { (task.status) " (" (task.status_type.name()) ")" }
            dt { "Supplier" } dd #task-supplier { (task.supplier.as_deref().unwrap_or("(not dispatched)")) }
            dt { "Service level" } dd #task-service-level { (task.service_level.as_deref().unwrap_or("")) }
            dt { "Respond by" } dd #task-respond-by { (when_opt(task.respond_by)) }
            dt { "Complete by" } dd #task-complete-by {
                (when_opt(task.complete_by))
                @if overdue { " (overdue)" }
            }
            @if let Some(available) = task.is_asset_available {
                dt { "Asset available" } dd { @if available { "Yes" } @else { "No" } }
            }
            @if let (Some(relation), Some(related)) = (&task.relation, &task.related_reference) {
                dt { "Related" } dd { (relation) " " a href=(task_link(base, related)) { (related) } }
            }
            dt { "Raised" } dd { (when(task.created_at)) }
            dt { "Updated" } dd { (when(task.updated_at)) }
        }
        section.card #task-assets {
            h2 { "Assets" }
            @if task.assets.is_empty() {
                p.muted { "No assets." }
            } @else {
                ul { @for asset in &task.assets { li data-asset=(asset) { (asset) } } }
            }
        }
        section.card #task-custom-fields {
            h2 { "Custom fields" }
            @if task.custom_fields.is_empty() {
                p.muted { "No answers." }
            } @else {
                dl.details { @for (name, value) in &task.custom_fields { dt { (name) } dd data-field=(name) { (value) } } }
            }
        }
        @if can(Permission::TasksUpdate) {
            section.card #task-status-changes {
                h2 { "Change status" }
                @if next.is_empty() {
                    p.muted { "A task in status " (task.status) " cannot change status." }
                }
                @for to in next { (status_form(web, &here, task, to, &c, refusal.as_ref())) }
            }
        }
        @if can(Permission::TasksDispatch) && !finished {
            section.card #task-dispatch {
                h2 { @if task.contractor_id.is_some() { "Re-dispatch" } @else { "Dispatch" } }
                form #dispatch method="post" action={ (here) "/dispatch" } {
                    input type="hidden" name="csrf" value=(web.csrf());
                    label for="dispatch-supplier" { "Contractor" }
                    @let chosen = typed("dispatch", "supplier");
                    @if c.contractors.is_empty() {
                        input #dispatch-supplier name="supplier" value=(chosen) required placeholder="Contractor code";
                    } @else {
                        select #dispatch-supplier name="supplier" required {
                            option value="" { "(choose)" }
                            @for (code, name) in &c.contractors {
                                option value=(code) selected[code.eq_ignore_ascii_case(chosen.trim())] { (name) " (" (code) ")" }
                            }
                        }
                    }
                    label for="dispatch-service-level" { "Service level (optional: sets new due dates)" }
                    @let level = typed("dispatch", "service_level");
                    @if c.service_levels.is_empty() {
                        input #dispatch-service-level name="service_level" value=(level);
                    } @else {
                        select #dispatch-service-level name="service_level" {
                            option value="" { "(keep)" }
                            @for l in &c.service_levels {
                                option value=(l.name) selected[l.name.eq_ignore_ascii_case(level.trim())] { (l.name) }
                            }
                        }
                    }
                    div.actions { button #dispatch-save type="submit" { "Dispatch" } }
                }
            }
        }
        section.card #task-notes {
            h2 { "Notes" }
            @if detail.notes.is_empty() {
                p.muted { "No notes." }
            } @else {
                table.list {
                    thead { tr { th { "When" } th { "Who" } th { "Note" } } }
                    tbody {
                        @for note in &detail.notes {
                            tr.warning[note.kind == "chase"] data-kind=(note.kind) {
                                td { (when(note.created_at)) }
                                td { (note.author) }
                                td {
                                    @if note.kind == "chase" { span.badge.warning { "Chase" } " " }
                                    (note.text)
                                }
                            }
                        }
                    }
                }
            }
            @if can(Permission::TasksUpdate) {
                form #add-note method="post" action={ (here) "/notes" } {
                    h3 { "Add note" }
                    input type="hidden" name="csrf" value=(web.csrf());
                    label for="note_text" { "Text" }
                    textarea #note_text name="text" rows="3" maxlength="4000" required { (typed("note", "text")) }
                    div.actions { button #add-note-save type="submit" { "Add note" } }
                }
                @if principal.user_type != UserType::Contractor && !finished && task.contractor_id.is_some() {
                    form #chase method="post" action={ (here) "/chase" } {
                        h3 { "Chase the contractor" }
                        input type="hidden" name="csrf" value=(web.csrf());
                        label for="chase_text" { "Message (optional)" }
                        textarea #chase_text name="text" rows="2" maxlength="4000" { (typed("chase", "text")) }
                        div.actions { button #chase-save type="submit" { "Chase" } }
                    }
                }
            }
        }
        section.card #task-history {
            h2 { "History" }
            table.list {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "From" } th { "To" } th { "Date given" } th { "Detail" } } }
                tbody {
                    @for entry in &detail.history {
                        tr data-event=(entry.event) {
                            td { (when(entry.occurred_at)) }
                            td { (entry.actor) }
                            td { (event_name(&entry.event)) }
                            td { (entry.from_status.as_deref().unwrap_or("")) }
                            td { (entry.to_status.as_deref().unwrap_or("")) }
                            td { (when_opt(entry.status_date)) }
                            td { (entry.detail) }
                        }
                    }
                }
            }
        }
        p { a href={ (base) "/manage/tasks" } { "Back to Tasks" } }
    };
    Ok(frame(principal, web.csrf(), &title, body))
}

fn event_name(event: &str) -> &'static str {
    match event {
        "created" => "Raised",
        "status" => "Status changed",
        "dispatched" => "Dispatched",
        "chased" => "Chased",
        _ => "Note added",
    }
}

/// A `datetime-local` value (`2024-05-01T14:30`, taken as UTC) as RFC 3339; other text is
/// passed on for the use case to judge.
fn manual_date(f: &Fields) -> Option<String> {
    let typed = text(f, "status_date")?;
    let bare = typed.len() == 16 && typed.as_bytes().get(10) == Some(&b'T') && !typed.ends_with('Z');
    Some(if bare { format!("{typed}:00Z") } else { typed })
}

/// Shows the task page again with a refused form's rules (or the error's page).
async fn refused_page(
    state: &AppState,
    web: &Web,
    reference: &str,
    form: &str,
    fields: &Fields,
    err: caretaker_app::AppError,
) -> Result<Response, PageError> {
    let (status, rules) = match err {
        caretaker_app::AppError::Forbidden(rules) => (StatusCode::FORBIDDEN, rules.into_rules()),
        other => refused(other)?,
    };
    let proof = web.authorize::<can::TasksRead>()?;
    let detail = tasks::get(&state.app, &proof, reference).await?;
    let markup = task_page(state, web, &detail, "", Some(Refusal { form, fields, rules: &rules })).await?;
    Ok(Page { status, markup }.into_response())
}

fn done(base: &str, reference: &str, what: &str) -> Response {
    Redirect::to(&format!("{}?done={what}", task_link(base, reference))).into_response()
}

pub async fn change_status(
    State(state): State<AppState>,
    web: Web,
    Path((_, reference)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::TasksUpdate>()?;
    let change = StatusChange {
        status: fields.get("status").to_owned(),
        note: text(&fields, "note"),
        status_date: manual_date(&fields),
        resolution_cause: text(&fields, "resolution_cause"),
        resolution_remedy: text(&fields, "resolution_remedy"),
        version: text(&fields, "version").and_then(|v| v.parse().ok()),
    };
    match tasks::change_status(&state.app, &proof, &reference, change).await {
        Ok(detail) => Ok(done(&web.base, &detail.task.reference, "status%20changed")),
        Err(err) => refused_page(&state, &web, &reference, "status", &fields, err).await,
    }
}

pub async fn add_note(
    State(state): State<AppState>,
    web: Web,
    Path((_, reference)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::TasksUpdate>()?;
    match tasks::add_note(&state.app, &proof, &reference, fields.get("text")).await {
        Ok(_) => Ok(done(&web.base, &reference, "note%20added")),
        Err(err) => refused_page(&state, &web, &reference, "note", &fields, err).await,
    }
}

pub async fn chase(
    State(state): State<AppState>,
    web: Web,
    Path((_, reference)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::TasksUpdate>()?;
    match tasks::chase(&state.app, &proof, &reference, fields.get("text")).await {
        Ok(_) => Ok(done(&web.base, &reference, "chased")),
        Err(err) => refused_page(&state, &web, &reference, "chase", &fields, err).await,
    }
}

pub async fn dispatch(
    State(state): State<AppState>,
    web: Web,
    Path((_, reference)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::TasksDispatch>()?;
    let request =
        Dispatch { supplier: fields.get("supplier").to_owned(), service_level: text(&fields, "service_level") };
    match tasks::dispatch(&state.app, &proof, &reference, request).await {
        Ok(detail) => Ok(done(&web.base, &detail.task.reference, "dispatched")),
        Err(err) => refused_page(&state, &web, &reference, "dispatch", &fields, err).await,
    }
}
