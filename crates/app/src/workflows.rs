//! Workflows, service levels and dispatch rules: the defaults of a new tenant, reading
//! them, and the administrator's changes (System > Workflows, Service Levels, Dispatch
//! Rules).

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::matrix::{MatrixCode, MatrixType};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::task::{
    DEFAULT_SERVICE_LEVELS, DEFAULT_WORKFLOWS, DispatchRule, StatusFlags, StatusType, Workflow, WorkflowType,
};
use caretaker_domain::tenant::TenantId;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::workflows::{self, ListedRule, NewStatus, ServiceLevel};
use caretaker_storage::{Conn, StorageError, contractors, reference_data, sites};

use crate::principal::Principal;
use crate::{App, AppError};

/// Writes the default workflows and service levels of a new tenant.
pub async fn seed_defaults(conn: &mut Conn, tenant: TenantId, now: Timestamp) -> Result<(), StorageError> {
    for workflow in DEFAULT_WORKFLOWS {
        let statuses: Vec<NewStatus<'_>> = workflow
            .statuses
            .iter()
            .map(|s| NewStatus { name: s.name, status_type: s.status_type, flags: s.flags })
            .collect();
        let destinations: Vec<(&str, &str)> =
            workflow.statuses.iter().flat_map(|s| s.destinations.iter().map(move |d| (s.name, *d))).collect();
        let new = workflows::NewWorkflow {
            name: workflow.name,
            workflow_type: workflow.workflow_type,
            is_default: true,
            statuses: &statuses,
            destinations: &destinations,
        };
        workflows::insert(conn, tenant, &new, now).await?;
    }
    for (name, respond, complete) in DEFAULT_SERVICE_LEVELS {
        workflows::insert_service_level(conn, tenant, name, *respond, *complete, now).await?;
    }
    Ok(())
}

/// Gives tenants made before workflows existed the defaults (run at start-up; idempotent).
pub async fn ensure_defaults(app: &App) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    for tenant in caretaker_storage::tenants::list(&app.db).await? {
        if workflows::list(&mut tx, tenant.id, None, None).await?.is_empty() {
            seed_defaults(&mut tx, tenant.id, now).await?;
        }
    }
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// The workflows of a type (or one by name), for `GET /rest/workflows/...` and the pages.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    workflow_type: Option<WorkflowType>,
    name: Option<&str>,
) -> Result<Vec<Workflow>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(workflows::list(&mut conn, by.principal().tenant, workflow_type, name).await?)
}

fn audit_event<'a>(by: &'a Principal, action: &'a str, target: &'a str, detail: &'a str) -> Event<'a> {
    Event {
        tenant: Some(by.tenant),
        actor: by.actor(),
        source_address: by.source_address.as_deref(),
        action,
        target: Some(target),
        detail,
    }
}

/// A status's settings, as edited.
#[derive(Debug, Clone, Default)]
pub struct StatusEdit {
    pub status_type: String,
    pub flags: StatusFlags,
    /// Names of the destination statuses.
    pub destinations: Vec<String>,
}

/// Changes a workflow: active and default, and each status's type, flags, destinations.
pub async fn edit(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataWrite, Principal>,
    workflow_id: i64,
    is_active: bool,
    is_default: bool,
    statuses: &[(String, StatusEdit)],
) -> Result<Workflow, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let workflow = workflows::get(&mut tx, by.tenant, workflow_id).await?.ok_or(AppError::NotFound)?;
    let mut check = RuleCheck::new();
    let mut planned = Vec::new();
    for (name, edit) in statuses {
        let Some(status) = workflow.status_named(name) else {
            check.push(BrokenRule::new(
                "Workflow",
                "UnknownStatus",
                format!("{name:?} is not a status of this workflow"),
            ));
            continue;
        };
        let Some(status_type) = StatusType::from_name(&edit.status_type) else {
            check.push(BrokenRule::new(
                "Workflow",
                "InvalidStatusType",
                format!("{name}: the type must be New, Open, Closed or Cancelled"),
            ));
            continue;
        };
        let mut destinations = Vec::new();
        for destination in &edit.destinations {
            match workflow.status_named(destination) {
                Some(d) if d.id == status.id => check.push(BrokenRule::new(
                    "Workflow",
                    "DestinationIsItself",
                    format!("{name} cannot move to itself"),
                )),
                Some(d) if !destinations.contains(&d.id) => destinations.push(d.id),
                Some(_) => {}
                None => check.push(BrokenRule::new(
                    "Workflow",
                    "UnknownDestination",
                    format!("{destination:?} is not a status of this workflow"),
                )),
            }
        }
        planned.push((status.id, status_type, edit.flags, destinations));
    }
    if is_default && !is_active {
        check.push(BrokenRule::new("Workflow", "InactiveDefault", "The default workflow must be active"));
    }
    check.finish().map_err(AppError::Invalid)?;
    workflows::set_state(&mut tx, by.tenant, workflow.id, is_active, is_default).await?;
    for (status, status_type, flags, destinations) in &planned {
        workflows::update_status(&mut tx, *status, *status_type, *flags, destinations).await?;
    }
    audit::record(&mut tx, &audit_event(by, "workflow.changed", &workflow.name, ""), now).await?;
    let changed = workflows::get(&mut tx, by.tenant, workflow.id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(changed)
}

/// Adds a status to a workflow (no destinations yet: edit them after).
pub async fn add_status(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataWrite, Principal>,
    workflow_id: i64,
    name: &str,
    status_type: &str,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        check.push(BrokenRule::new("Workflow", "InvalidStatusName", "A status name has 1 to 50 characters"));
    }
    let kind = StatusType::from_name(status_type);
    if kind.is_none() {
        check.push(BrokenRule::new("Workflow", "InvalidStatusType", "The type must be New, Open, Closed or Cancelled"));
    }
    check.finish().map_err(AppError::Invalid)?;
    let Some(kind) = kind else { return Err(AppError::internal("checked status type missing")) };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let workflow = workflows::get(&mut tx, by.tenant, workflow_id).await?.ok_or(AppError::NotFound)?;
    let status = NewStatus { name, status_type: kind, flags: StatusFlags::default() };
    match workflows::insert_status(&mut tx, workflow.id, workflow.statuses.len() as i64, &status).await {
        Ok(_) => {}
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "Workflow",
                "DuplicateStatus",
                format!("{} already has a status named {name:?}", workflow.name),
            )));
        }
        Err(other) => return Err(other.into()),
    }
    audit::record(&mut tx, &audit_event(by, "workflow.status_added", &workflow.name, name), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// The tenant's service levels.
pub async fn service_levels(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
) -> Result<Vec<ServiceLevel>, AppError> {
    Ok(workflows::service_levels(app.db.read(), by.principal().tenant).await?)
}

fn check_minutes(check: &mut RuleCheck, respond: i64, complete: i64) {
    const YEAR: i64 = 366 * 24 * 60;
    if !(1..=YEAR).contains(&respond) || !(1..=YEAR).contains(&complete) {
        check.push(BrokenRule::new(
            "ServiceLevel",
            "InvalidTime",
            "Respond and complete times are 1 minute to 366 days",
        ));
    } else if complete < respond {
        check.push(BrokenRule::new(
            "ServiceLevel",
            "CompleteBeforeRespond",
            "Complete-within cannot be shorter than respond-within",
        ));
    }
}

/// Adds a service level (times in minutes).
pub async fn add_service_level(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    name: &str,
    respond_minutes: i64,
    complete_minutes: i64,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        check.push(BrokenRule::new("ServiceLevel", "InvalidName", "A service level name has 1 to 50 characters"));
    }
    check_minutes(&mut check, respond_minutes, complete_minutes);
    check.finish().map_err(AppError::Invalid)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    match workflows::insert_service_level(&mut tx, by.tenant, name, respond_minutes, complete_minutes, now).await {
        Ok(_) => {}
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "ServiceLevel",
                "DuplicateName",
                format!("A service level named {name:?} exists"),
            )));
        }
        Err(other) => return Err(other.into()),
    }
    let detail = format!("respond {respond_minutes} min, complete {complete_minutes} min");
    audit::record(&mut tx, &audit_event(by, "service_level.created", name, &detail), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// Changes a service level's times and whether it is active (new tasks only).
pub async fn edit_service_level(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    id: i64,
    respond_minutes: i64,
    complete_minutes: i64,
    is_active: bool,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    check_minutes(&mut check, respond_minutes, complete_minutes);
    check.finish().map_err(AppError::Invalid)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let level = workflows::service_level(&mut *tx, by.tenant, Some(id), None).await?.ok_or(AppError::NotFound)?;
    workflows::update_service_level(&mut tx, by.tenant, id, respond_minutes, complete_minutes, is_active).await?;
    let detail = format!("respond {respond_minutes} min, complete {complete_minutes} min, active {is_active}");
    audit::record(&mut tx, &audit_event(by, "service_level.changed", &level.name, &detail), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// The tenant's dispatch rules.
pub async fn rules(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
) -> Result<Vec<ListedRule>, AppError> {
    Ok(workflows::rules(&app.db, by.principal().tenant).await?)
}

/// A dispatch rule as typed: where and what it matches, what it decides.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub site_code: Option<String>,
    pub geographic_area: Option<String>,
    pub site_channel: Option<String>,
    pub matrix_code: Option<String>,
    pub supplier: Option<String>,
    pub service_level: Option<String>,
    pub workflow: Option<String>,
    pub chargeability: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Adds a dispatch rule; every name must exist, and the rule must decide something.
pub async fn add_rule(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    input: RuleInput,
) -> Result<i64, AppError> {
    let by = by.principal();
    let tenant = by.tenant;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut check = RuleCheck::new();
    let broken = |problem: &str, text: String| BrokenRule::new("DispatchRule", problem, text);
    let mut rule = DispatchRule::default();
    if let Some(code) = given(&input.site_code) {
        match sites::id_by_code(&mut *tx, tenant, code).await? {
            Some(site) => rule.site = Some(site.0),
            None => check.push(broken("UnknownSite", format!("No site has the code {code:?}"))),
        }
    }
    for (value, matrix, slot, problem) in [
        (given(&input.geographic_area), MatrixType::GeographicArea, &mut rule.geographic_area, "UnknownGeographicArea"),
        (given(&input.site_channel), MatrixType::SiteChannel, &mut rule.site_channel, "UnknownSiteChannel"),
        (given(&input.matrix_code), MatrixType::Reactive, &mut rule.matrix_code, "UnknownMatrixItemCode"),
    ] {
        if let Some(code) = value {
            if MatrixCode::parse(code).is_ok()
                && reference_data::matrix_item_exists(&mut *tx, tenant, matrix, code, false).await?
            {
                *slot = Some(code.to_owned());
            } else {
                check.push(broken(problem, format!("{code:?} is not a {} matrix code", matrix.name())));
            }
        }
    }
    if let Some(code) = given(&input.supplier) {
        match contractors::find_by_code(&mut *tx, tenant, code).await? {
            Some(contractor) => rule.contractor = Some(contractor.id.0),
            None => check.push(broken("UnknownSupplier", format!("No contractor has the code {code:?}"))),
        }
    }
    if let Some(name) = given(&input.service_level) {
        match workflows::service_level(&mut *tx, tenant, None, Some(name)).await? {
            Some(level) => rule.service_level = Some(level.id),
            None => check.push(broken("UnknownServiceLevel", format!("No service level is named {name:?}"))),
        }
    }
    if let Some(name) = given(&input.workflow) {
        match workflows::id_by_name(&mut *tx, tenant, WorkflowType::Reactive, name).await? {
            Some((id, _)) => rule.workflow = Some(id),
            None => check.push(broken("UnknownWorkflow", format!("No Reactive workflow is named {name:?}"))),
        }
    }
    if let Some(chargeability) = given(&input.chargeability) {
        if chargeability.chars().count() > 50 {
            check.push(broken("FieldTooLong", String::from("Chargeability must be at most 50 characters")));
        }
        rule.chargeability = Some(chargeability.to_owned());
    }
    if [&input.supplier, &input.service_level, &input.workflow, &input.chargeability].iter().all(|v| given(v).is_none())
    {
        check.push(broken(
            "DecidesNothing",
            String::from("A rule must set a contractor, a service level, a workflow or a chargeability"),
        ));
    }
    check.finish().map_err(AppError::Invalid)?;
    let id = workflows::insert_rule(&mut tx, tenant, &rule, now).await?;
    audit::record(&mut tx, &audit_event(by, "dispatch_rule.created", &id.to_string(), ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(id)
}

/// Removes a dispatch rule.
pub async fn remove_rule(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    id: i64,
) -> Result<(), AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if !workflows::delete_rule(&mut tx, by.tenant, id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(&mut tx, &audit_event(by, "dispatch_rule.removed", &id.to_string(), ""), now).await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}
