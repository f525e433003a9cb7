//! System > Workflows (by type; a workflow's statuses with their type, flags and
//! destinations, editable, and Add status), System > Service Levels and System > Dispatch
//! Rules. Reading needs `reference_data.read`; changing workflows `reference_data.write`,
//! service levels and dispatch rules `configuration.write`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::workflows::{self, RuleInput, StatusEdit};
use caretaker_app::{contractors, reference_data};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_domain::matrix::MatrixType;
use caretaker_domain::task::{StatusFlags, StatusType, Workflow, WorkflowType};
use caretaker_storage::reference_data::MatrixItem;
use caretaker_storage::workflows::{ListedRule, ServiceLevel};
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::inputs::{matrix_label, matrix_options, text, whole};
use crate::web::page::{Page, PageError, PageResult, done_notice, frame, refused, rules_box};

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

// ---------------------------------------------------------------------------------------
// Status flags
// ---------------------------------------------------------------------------------------

/// The flags by form key and label, with their values.
fn flags_of(f: &StatusFlags) -> [(&'static str, &'static str, bool); 7] {
    [
        ("quotation", "Quotation", f.quotation_enabled),
        ("manual_date", "Manual date", f.manual_date_enabled),
        ("eligible_to_invoice", "Eligible to invoice", f.eligible_to_invoice),
        ("resolution_cause", "Resolution cause", f.resolution_cause_enabled),
        ("resolution_remedy", "Resolution remedy", f.resolution_remedy_enabled),
        ("update_asset_condition", "Update asset condition", f.update_asset_condition),
        ("supplier_on_site", "Supplier on site", f.supplier_on_site),
    ]
}

/// Flags from the keys of the checked boxes.
fn flags_from(keys: &[String]) -> StatusFlags {
    let on = |key: &str| keys.iter().any(|k| k == key);
    StatusFlags {
        quotation_enabled: on("quotation"),
        manual_date_enabled: on("manual_date"),
        eligible_to_invoice: on("eligible_to_invoice"),
        resolution_cause_enabled: on("resolution_cause"),
        resolution_remedy_enabled: on("resolution_remedy"),
        update_asset_condition: on("update_asset_condition"),
        supplier_on_site: on("supplier_on_site"),
    }
}

// ---------------------------------------------------------------------------------------
// Workflows
// ---------------------------------------------------------------------------------------

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<DoneQuery>) -> PageResult {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let all = workflows::list(&state.app, &proof, None, None).await?;
    let base = &web.base;
    let body = html! {
        div.titlebar { h1 { "Workflows" } }
        (done_notice(&query.done))
        @for kind in WorkflowType::ALL {
            section.card id={ "workflows-" (kind.name().to_lowercase()) } {
                h2 { (kind.name()) }
                table.list {
                    thead { tr { th { "Name" } th { "Active" } th { "Default" } th { "Statuses" } } }
                    tbody {
                        @for w in all.iter().filter(|w| w.workflow_type == kind) {
                            tr data-workflow=(w.name) {
                                td { a href={ (base) "/system/workflows/" (w.id) } { (w.name) } }
                                td { @if w.is_active { "Yes" } @else { "No" } }
                                td { @if w.is_default { "Yes" } @else { "" } }
                                td { (w.statuses.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Workflows", body)))
}

async fn workflow_by_id(state: &AppState, web: &Web, id: i64) -> Result<Workflow, PageError> {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    workflows::list(&state.app, &proof, None, None).await?.into_iter().find(|w| w.id == id).ok_or(PageError::NotFound)
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let workflow = workflow_by_id(&state, &web, id).await?;
    Ok(Page::ok(workflow_page(&web, &workflow, &query.done, &[], &Fields::default())))
}

/// The workflow as the edit form would leave it (for showing a refused form again) and
/// the edits to send: only statuses whose type field was posted are changed.
fn edits(workflow: &Workflow, f: &Fields) -> (Workflow, Vec<(String, StatusEdit)>) {
    let mut shown = workflow.clone();
    let mut edits = Vec::new();
    for status in &mut shown.statuses {
        let Some(status_type) = f.opt(&format!("type:{}", status.id)) else { continue };
        let flags = flags_from(&f.all(&format!("flags:{}", status.id)));
        let destinations = f.all(&format!("dest:{}", status.id));
        edits.push((
            status.name.clone(),
            StatusEdit { status_type: status_type.to_owned(), flags, destinations: destinations.clone() },
        ));
        if let Some(kind) = StatusType::from_name(status_type) {
            status.status_type = kind;
        }
        status.flags = flags;
        status.destinations = workflow
            .statuses
            .iter()
            .filter(|s| destinations.iter().any(|d| d.eq_ignore_ascii_case(&s.name)))
            .map(|s| s.id)
            .collect();
    }
    if f.opt("type_form").is_some() {
        shown.is_active = f.checked("is_active");
        shown.is_default = f.checked("is_default");
    }
    (shown, edits)
}

fn workflow_page(web: &Web, w: &Workflow, done: &str, rules: &[BrokenRule], add: &Fields) -> Markup {
    let base = &web.base;
    let writable = web.principal().permissions.contains(Permission::ReferenceDataWrite);
    let here = format!("{base}/system/workflows/{}", w.id);
    let name_of = |id: &i64| w.status(*id).map_or(String::new(), |s| s.name.clone());
    let body = html! {
        div.titlebar { h1 { (w.name) " " small { "(" (w.workflow_type.name()) ")" } } }
        (done_notice(done))
        (rules_box(rules))
        @if writable {
            form #workflow-edit method="post" action=(here) {
                input type="hidden" name="csrf" value=(web.csrf());
                input type="hidden" name="type_form" value="1";
                label.inline { input #is_active type="checkbox" name="is_active" checked[w.is_active]; " Active" }
                label.inline { input #is_default type="checkbox" name="is_default" checked[w.is_default]; " Default for its type" }
                table.list #statuses {
                    thead { tr { th { "Status" } th { "Type" } th { "Flags" } th { "May move to" } } }
                    tbody {
                        @for s in &w.statuses {
                            tr data-status=(s.name) {
                                td { (s.name) }
                                td {
                                    select name={ "type:" (s.id) } aria-label={ (s.name) " type" } {
                                        @for t in StatusType::ALL {
                                            option value=(t.name()) selected[t == s.status_type] { (t.name()) }
                                        }
                                    }
                                }
                                td {
                                    @for (key, label, on) in flags_of(&s.flags) {
                                        label.inline {
                                            input type="checkbox" name={ "flags:" (s.id) } value=(key) checked[on];
                                            " " (label)
                                        }
                                    }
                                }
                                td {
                                    @for d in w.statuses.iter().filter(|d| d.id != s.id) {
                                        label.inline {
                                            input type="checkbox" name={ "dest:" (s.id) } value=(d.name) checked[s.destinations.contains(&d.id)];
                                            " " (d.name)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                div.actions { button #save type="submit" { "Save" } }
            }
            form.card #add-status method="post" action={ (here) "/statuses" } {
                h2 { "Add status" }
                input type="hidden" name="csrf" value=(web.csrf());
                label for="status_name" { "Name" }
                input #status_name name="name" value=(add.get("name")) required maxlength="50";
                label for="status_type" { "Type" }
                select #status_type name="status_type" {
                    @for t in StatusType::ALL { option value=(t.name()) selected[add.get("status_type") == t.name()] { (t.name()) } }
                }
                p.muted { "A new status has no destinations: tick where it may move to (and which statuses move to it) above." }
                div.actions { button #add-status-save type="submit" { "Add status" } }
            }
        } @else {
            p { "Active: " @if w.is_active { "Yes" } @else { "No" } " · Default: " @if w.is_default { "Yes" } @else { "No" } }
            table.list #statuses {
                thead { tr { th { "Status" } th { "Type" } th { "Flags" } th { "May move to" } } }
                tbody {
                    @for s in &w.statuses {
                        tr data-status=(s.name) {
                            td { (s.name) }
                            td { (s.status_type.name()) }
                            td { (flags_of(&s.flags).iter().filter(|f| f.2).map(|f| f.1).collect::<Vec<_>>().join(", ")) }
                            td { (s.destinations.iter().map(name_of).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
        p { a href={ (base) "/system/workflows" } { "Back to Workflows" } }
    };
    frame(web.principal(), web.csrf(), &w.name, body)
}

pub async fn save(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ReferenceDataWrite>()?;
    let workflow = workflow_by_id(&state, &web, id).await?;
    let (shown, edits) = edits(&workflow, &fields);
    let (is_active, is_default) = (fields.checked("is_active"), fields.checked("is_default"));
    match workflows::edit(&state.app, &proof, workflow.id, is_active, is_default, &edits).await {
        Ok(_) => Ok(Redirect::to(&format!("{}/system/workflows/{}?done=saved", web.base, workflow.id)).into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(Page { status, markup: workflow_page(&web, &shown, "", &rules, &Fields::default()) }.into_response())
        }
    }
}

pub async fn add_status(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ReferenceDataWrite>()?;
    let workflow = workflow_by_id(&state, &web, id).await?;
    match workflows::add_status(&state.app, &proof, workflow.id, fields.get("name"), fields.get("status_type")).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}/system/workflows/{}?done=status%20added", web.base, workflow.id))
                .into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(Page { status, markup: workflow_page(&web, &workflow, "", &rules, &fields) }.into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Service levels
// ---------------------------------------------------------------------------------------

/// Minutes as a person reads them: `90 min (1 h 30 min)`, `4320 min (3 d)`.
fn duration(minutes: i64) -> String {
    let (days, rest) = (minutes / (24 * 60), minutes % (24 * 60));
    let (hours, mins) = (rest / 60, rest % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "min")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if minutes >= 60 { format!("{minutes} min ({})", parts.join(" ")) } else { format!("{minutes} min") }
}

/// A refused service level form: which (`new` or the level's id), what was typed, why.
struct LevelRefusal<'a> {
    form: String,
    fields: &'a Fields,
    rules: &'a [BrokenRule],
}

async fn levels_page(
    state: &AppState,
    web: &Web,
    done: &str,
    refusal: Option<LevelRefusal<'_>>,
) -> Result<Markup, PageError> {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let levels = workflows::service_levels(&state.app, &proof).await?;
    let writable = web.principal().permissions.contains(Permission::ConfigurationWrite);
    let base = &web.base;
    let typed = |form: &str, name: &str, stored: String| -> String {
        match &refusal {
            Some(r) if r.form == form => r.fields.get(name).to_owned(),
            _ => stored,
        }
    };
    let no_rules: &[BrokenRule] = &[];
    let rules = refusal.as_ref().map_or(no_rules, |r| r.rules);
    let body = html! {
        div.titlebar { h1 { "Service Levels" } }
        (done_notice(done))
        (rules_box(rules))
        table.list #service-levels {
            thead { tr { th { "Name" } th { "Respond within" } th { "Complete within" } th { "Active" } @if writable { th { "Change" } } } }
            tbody {
                @for level in &levels {
                    @let form = level.id.to_string();
                    tr data-level=(level.name) {
                        td { (level.name) }
                        td { (duration(level.respond_minutes)) }
                        td { (duration(level.complete_minutes)) }
                        td { @if level.is_active { "Yes" } @else { "No" } }
                        @if writable {
                            td {
                                form.inline-form id={ "level-" (level.id) } method="post" action={ (base) "/system/service-levels/" (level.id) } {
                                    input type="hidden" name="csrf" value=(web.csrf());
                                    input name="respond_minutes" value=(typed(&form, "respond_minutes", level.respond_minutes.to_string())) inputmode="numeric" aria-label={ (level.name) " respond within (minutes)" };
                                    input name="complete_minutes" value=(typed(&form, "complete_minutes", level.complete_minutes.to_string())) inputmode="numeric" aria-label={ (level.name) " complete within (minutes)" };
                                    @let active = match &refusal { Some(r) if r.form == form => r.fields.checked("is_active"), _ => level.is_active };
                                    label.inline { input type="checkbox" name="is_active" checked[active]; " Active" }
                                    button type="submit" { "Save" }
                                }
                            }
                        }
                    }
                }
                @if levels.is_empty() { tr { td colspan="5" { "No service levels." } } }
            }
        }
        @if writable {
            form.card #add-level method="post" action={ (base) "/system/service-levels" } {
                h2 { "Add service level" }
                input type="hidden" name="csrf" value=(web.csrf());
                label for="level_name" { "Name" }
                input #level_name name="name" value=(typed("new", "name", String::new())) required maxlength="50";
                label for="respond_minutes" { "Respond within (minutes)" }
                input #respond_minutes name="respond_minutes" value=(typed("new", "respond_minutes", String::new())) required inputmode="numeric";
                label for="complete_minutes" { "Complete within (minutes)" }
                input #complete_minutes name="complete_minutes" value=(typed("new", "complete_minutes", String::new())) required inputmode="numeric";
                div.actions { button #add-level-save type="submit" { "Add" } }
            }
        }
        p.muted { "Times apply to tasks raised or dispatched after the change." }
    };
    Ok(frame(web.principal(), web.csrf(), "Service Levels", body))
}

pub async fn levels(State(state): State<AppState>, web: Web, Query(query): Query<DoneQuery>) -> PageResult {
    Ok(Page::ok(levels_page(&state, &web, &query.done, None).await?))
}

/// A typed number of minutes; text that is not one becomes 0, which the use case refuses.
fn minutes(f: &Fields, name: &str) -> i64 {
    whole(f, name, 0).unwrap_or(0)
}

pub async fn add_level(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    let (respond, complete) = (minutes(&fields, "respond_minutes"), minutes(&fields, "complete_minutes"));
    match workflows::add_service_level(&state.app, &proof, fields.get("name"), respond, complete).await {
        Ok(()) => Ok(Redirect::to(&format!("{}/system/service-levels?done=added", web.base)).into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            let refusal = LevelRefusal { form: String::from("new"), fields: &fields, rules: &rules };
            Ok(Page { status, markup: levels_page(&state, &web, "", Some(refusal)).await? }.into_response())
        }
    }
}

pub async fn edit_level(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    let (respond, complete) = (minutes(&fields, "respond_minutes"), minutes(&fields, "complete_minutes"));
    let active = fields.checked("is_active");
    match workflows::edit_service_level(&state.app, &proof, id, respond, complete, active).await {
        Ok(()) => Ok(Redirect::to(&format!("{}/system/service-levels?done=saved", web.base)).into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            let refusal = LevelRefusal { form: id.to_string(), fields: &fields, rules: &rules };
            Ok(Page { status, markup: levels_page(&state, &web, "", Some(refusal)).await? }.into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dispatch rules
// ---------------------------------------------------------------------------------------

/// What the Add rule form offers.
#[derive(Default)]
struct RuleChoices {
    areas: Vec<MatrixItem>,
    channels: Vec<MatrixItem>,
    categories: Vec<MatrixItem>,
    levels: Vec<ServiceLevel>,
    workflows: Vec<Workflow>,
    contractors: Vec<(String, String)>,
}

async fn rules_page(
    state: &AppState,
    web: &Web,
    done: &str,
    typed: &Fields,
    broken: &[BrokenRule],
) -> Result<Markup, PageError> {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let app = &state.app;
    let rules = workflows::rules(app, &proof).await?;
    let c = RuleChoices {
        areas: reference_data::matrix(app, &proof, MatrixType::GeographicArea).await?,
        channels: reference_data::matrix(app, &proof, MatrixType::SiteChannel).await?,
        categories: reference_data::matrix(app, &proof, MatrixType::Reactive).await?,
        levels: workflows::service_levels(app, &proof).await?,
        workflows: workflows::list(app, &proof, Some(WorkflowType::Reactive), None).await?,
        contractors: match web.principal().authorize::<can::ContractorsRead>() {
            Some(read) => contractors::list(app, &read, None).await?.into_iter().map(|c| (c.code, c.name)).collect(),
            None => Vec::new(),
        },
    };
    let writable = web.principal().permissions.contains(Permission::ConfigurationWrite);
    let base = &web.base;
    let matches = |r: &ListedRule| -> String {
        let mut parts = Vec::new();
        if let Some(site) = &r.site_code {
            parts.push(format!("site {site}"));
        }
        if let Some(area) = &r.rule.geographic_area {
            parts.push(format!("area {}", matrix_label(&c.areas, area)));
        }
        if let Some(channel) = &r.rule.site_channel {
            parts.push(format!("channel {}", matrix_label(&c.channels, channel)));
        }
        if let Some(code) = &r.rule.matrix_code {
            parts.push(format!("category {}", matrix_label(&c.categories, code)));
        }
        if parts.is_empty() { String::from("every task") } else { parts.join(", ") }
    };
    let decides = |r: &ListedRule| -> String {
        let mut parts = Vec::new();
        if let Some(code) = &r.contractor_code {
            parts.push(format!("contractor {code}"));
        }
        if let Some(level) = &r.service_level {
            parts.push(format!("service level {level}"));
        }
        if let Some(workflow) = &r.workflow {
            parts.push(format!("workflow {workflow}"));
        }
        if let Some(chargeability) = &r.rule.chargeability {
            parts.push(format!("chargeability {chargeability}"));
        }
        parts.join(", ")
    };
    let select_names = |id: &str, names: Vec<&str>| {
        html! {
            select #(id) name=(id) {
                option value="" { "(any)" }
                @for name in names { option value=(name) selected[typed.get(id).eq_ignore_ascii_case(name)] { (name) } }
            }
        }
    };
    let body = html! {
        div.titlebar { h1 { "Dispatch Rules" } }
        (done_notice(done))
        (rules_box(broken))
        p.muted { "When a task is raised without a contractor, the rule that fits it most closely (its site before its area or channel, the longest category code) decides." }
        table.list #dispatch-rules {
            thead { tr { th { "Rule" } th { "Matches" } th { "Decides" } @if writable { th { span.sr { "Remove" } } } } }
            tbody {
                @for r in &rules {
                    tr data-rule=(r.rule.id) {
                        td { (r.rule.id) }
                        td.matches { (matches(r)) }
                        td.decides { (decides(r)) }
                        @if writable {
                            td {
                                form.inline-form method="post" action={ (base) "/system/dispatch-rules/" (r.rule.id) "/remove" } {
                                    input type="hidden" name="csrf" value=(web.csrf());
                                    button.danger type="submit" id={ "remove-" (r.rule.id) } { "Remove" }
                                }
                            }
                        }
                    }
                }
                @if rules.is_empty() { tr { td colspan="4" { "No dispatch rules: tasks are left for dispatching by hand." } } }
            }
        }
        @if writable {
            form.card #add-rule method="post" action={ (base) "/system/dispatch-rules" } {
                h2 { "Add rule" }
                input type="hidden" name="csrf" value=(web.csrf());
                fieldset {
                    legend { "Matches (leave empty for any)" }
                    label for="site_code" { "Site code (and its children)" }
                    input #site_code name="site_code" value=(typed.get("site_code")) maxlength="50";
                    label for="geographic_area" { "Geographic area" }
                    select #geographic_area name="geographic_area" { (matrix_options(&c.areas, typed.get("geographic_area"), Some("(any)"))) }
                    label for="site_channel" { "Site channel" }
                    select #site_channel name="site_channel" { (matrix_options(&c.channels, typed.get("site_channel"), Some("(any)"))) }
                    label for="matrix_code" { "Category (and the codes under it)" }
                    select #matrix_code name="matrix_code" { (matrix_options(&c.categories, typed.get("matrix_code"), Some("(any)"))) }
                }
                fieldset {
                    legend { "Decides (at least one)" }
                    label for="supplier" { "Contractor" }
                    @if c.contractors.is_empty() {
                        input #supplier name="supplier" value=(typed.get("supplier")) placeholder="Contractor code";
                    } @else {
                        select #supplier name="supplier" {
                            option value="" { "(none)" }
                            @for (code, name) in &c.contractors {
                                option value=(code) selected[typed.get("supplier").eq_ignore_ascii_case(code)] { (name) " (" (code) ")" }
                            }
                        }
                    }
                    label for="service_level" { "Service level" }
                    (select_names("service_level", c.levels.iter().filter(|l| l.is_active).map(|l| l.name.as_str()).collect()))
                    label for="workflow" { "Workflow" }
                    (select_names("workflow", c.workflows.iter().filter(|w| w.is_active).map(|w| w.name.as_str()).collect()))
                    label for="chargeability" { "Chargeability" }
                    input #chargeability name="chargeability" value=(typed.get("chargeability")) maxlength="50";
                }
                div.actions { button #add-rule-save type="submit" { "Add rule" } }
            }
        }
    };
    Ok(frame(web.principal(), web.csrf(), "Dispatch Rules", body))
}

pub async fn rules(State(state): State<AppState>, web: Web, Query(query): Query<DoneQuery>) -> PageResult {
    Ok(Page::ok(rules_page(&state, &web, &query.done, &Fields::default(), &[]).await?))
}

pub async fn add_rule(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    let input = RuleInput {
        site_code: text(&fields, "site_code"),
        geographic_area: text(&fields, "geographic_area"),
        site_channel: text(&fields, "site_channel"),
        matrix_code: text(&fields, "matrix_code"),
        supplier: text(&fields, "supplier"),
        service_level: text(&fields, "service_level"),
        workflow: text(&fields, "workflow"),
        chargeability: text(&fields, "chargeability"),
    };
    match workflows::add_rule(&state.app, &proof, input).await {
        Ok(_) => Ok(Redirect::to(&format!("{}/system/dispatch-rules?done=added", web.base)).into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(Page { status, markup: rules_page(&state, &web, "", &fields, &rules).await? }.into_response())
        }
    }
}

pub async fn remove_rule(
    State(state): State<AppState>,
    web: Web,
    Path((_, id)): Path<(String, i64)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let proof = web.authorize::<can::ConfigurationWrite>()?;
    workflows::remove_rule(&state.app, &proof, id).await?;
    Ok(Redirect::to(&format!("{}/system/dispatch-rules?done=removed", web.base)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_days_hours_and_minutes() {
        assert_eq!(duration(45), "45 min");
        assert_eq!(duration(90), "90 min (1 h 30 min)");
        assert_eq!(duration(3 * 24 * 60), "4320 min (3 d)");
    }

    #[test]
    fn flags_round_trip_through_their_form_keys() {
        let flags =
            StatusFlags { manual_date_enabled: true, resolution_remedy_enabled: true, ..StatusFlags::default() };
        let keys: Vec<String> =
            flags_of(&flags).iter().filter(|(_, _, on)| *on).map(|(key, _, _)| (*key).to_owned()).collect();
        assert_eq!(keys, ["manual_date", "resolution_remedy"]);
        assert_eq!(flags_from(&keys), flags);
    }
}
