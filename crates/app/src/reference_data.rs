//! Matrices and reference lists: the default configuration of a tenant, reading them, and
//! adding matrix items and reference values.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::contractor::display_name;
use caretaker_domain::matrix::{
    DEFAULT_CUSTOM_FIELDS, DEFAULT_MATRIX_ITEMS, DEFAULT_REFERENCE_VALUES, MatrixCode, MatrixType, ReferenceGroup,
};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::tenant::TenantId;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::custom_fields::{self, NewField};
use caretaker_storage::reference_data::{self, MatrixItem, ReferenceValue};
use caretaker_storage::{Conn, StorageError, tenants};

use crate::principal::Principal;
use crate::{App, AppError};

/// Writes the default matrices and reference lists of a new tenant (in the caller's
/// transaction), so that it can create sites, assets and tasks at once.
pub async fn seed_defaults(conn: &mut Conn, tenant: TenantId) -> Result<(), StorageError> {
    for (matrix_type, code, name) in DEFAULT_MATRIX_ITEMS {
        let parent = MatrixCode::parse(code).ok().and_then(|c| c.parent()).map(|p| p.as_str().to_owned());
        reference_data::insert_matrix_item(conn, tenant, *matrix_type, code, name, parent.as_deref()).await?;
    }
    for (order, (group, value)) in DEFAULT_REFERENCE_VALUES.iter().enumerate() {
        reference_data::insert_reference_value(conn, tenant, *group, value, order as i64).await?;
    }
    for (order, (target, code, name, question, mandatory, data_type, answers, parent)) in
        DEFAULT_CUSTOM_FIELDS.iter().enumerate()
    {
        let field = NewField {
            target: target.name(),
            matrix_code: code,
            name,
            question,
            is_mandatory: *mandatory,
            data_type,
            answers,
            parent: *parent,
            sort_order: order as i64,
        };
        custom_fields::insert(conn, tenant, &field).await?;
    }
    Ok(())
}

/// Gives tenants created before matrices existed their default configuration (at start).
pub async fn ensure_defaults(app: &App) -> Result<usize, AppError> {
    let mut seeded = 0;
    for tenant in tenants::list(&app.db).await? {
        if reference_data::matrix_item_count(app.db.read(), tenant.id).await? == 0 {
            let mut tx = app.db.begin().await?;
            tenants::lock(&mut tx, tenant.id).await?;
            if reference_data::matrix_item_count(&mut *tx, tenant.id).await? == 0 {
                seed_defaults(&mut tx, tenant.id).await?;
                seeded += 1;
            }
            tx.commit().await.map_err(StorageError::from)?;
        }
    }
    Ok(seeded)
}

/// The items of one matrix type.
pub async fn matrix(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    matrix_type: MatrixType,
) -> Result<Vec<MatrixItem>, AppError> {
    Ok(reference_data::matrix_items(app.db.read(), by.principal().tenant, matrix_type).await?)
}

/// The values of one reference list group.
pub async fn reference_list(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    group: ReferenceGroup,
) -> Result<Vec<ReferenceValue>, AppError> {
    Ok(reference_data::reference_values(app.db.read(), by.principal().tenant, group).await?)
}

/// Every matrix type with its items (by code), in the catalogue's order.
pub async fn matrices(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
) -> Result<Vec<(MatrixType, Vec<MatrixItem>)>, AppError> {
    let mut all = reference_data::all_matrix_items(app.db.read(), by.principal().tenant).await?;
    Ok(MatrixType::ALL
        .iter()
        .map(|t| {
            let items = all.extract_if(.., |(name, _)| name == t.name()).map(|(_, item)| item).collect();
            (*t, items)
        })
        .collect())
}

/// Every reference list group with its values (in their order).
pub async fn reference_lists(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
) -> Result<Vec<(ReferenceGroup, Vec<ReferenceValue>)>, AppError> {
    let mut all = reference_data::all_reference_values(app.db.read(), by.principal().tenant).await?;
    Ok(ReferenceGroup::ALL
        .iter()
        .map(|g| {
            let values = all.extract_if(.., |(name, _)| name == g.name()).map(|(_, value)| value).collect();
            (*g, values)
        })
        .collect())
}

/// The answer to a write that broke rules: every rule at once. Collisions with stored state
/// alone are a conflict (409); with any other broken rule, all of them are invalid (400).
pub(crate) fn verdict(check: RuleCheck, conflicts: Vec<BrokenRule>) -> Result<(), AppError> {
    let mut all = RuleCheck::new();
    match check.finish() {
        Ok(()) => {
            conflicts.into_iter().for_each(|rule| all.push(rule));
            all.finish().map_err(AppError::Conflict)
        }
        Err(rules) => {
            rules.into_rules().into_iter().chain(conflicts).for_each(|rule| all.push(rule));
            all.finish().map_err(AppError::Invalid)
        }
    }
}

/// A matrix item as typed: its type's name, its code and its name. The parent is the code
/// without its last group.
#[derive(Debug, Default, Clone)]
pub struct MatrixItemInput {
    pub matrix_type: String,
    pub code: String,
    pub name: String,
}

/// Adds an item to a matrix; the parent must exist and the code be new in the type.
pub async fn add_matrix_item(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataWrite, Principal>,
    input: &MatrixItemInput,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let matrix_type = MatrixType::parse(&input.matrix_type);
    if matrix_type.is_none() {
        check.push(BrokenRule::new(
            "Matrix",
            "UnknownType",
            format!("{:?} is not a matrix type", input.matrix_type.trim()),
        ));
    }
    let code = check.check(MatrixCode::parse(&input.code));
    let name = check.check(display_name("Matrix", &input.name, 200));
    let mut conflicts = Vec::new();
    let mut tx = app.db.begin().await?;
    if let (Some(matrix_type), Some(code)) = (matrix_type, &code) {
        if let Some(parent) = code.parent()
            && !reference_data::matrix_item_exists(&mut *tx, by.tenant, matrix_type, parent.as_str(), false).await?
        {
            check.push(BrokenRule::new(
                "Matrix",
                "UnknownParent",
                format!("{matrix_type} has no item {parent} to hold {code}"),
            ));
        }
        if reference_data::matrix_item_exists(&mut *tx, by.tenant, matrix_type, code.as_str(), false).await? {
            conflicts.push(duplicate_code(matrix_type, code));
        }
    }
    verdict(check, conflicts)?;
    let (Some(matrix_type), Some(code), Some(name)) = (matrix_type, code, name) else {
        return Err(AppError::internal("checked input missing"));
    };
    let parent = code.parent().map(|p| p.as_str().to_owned());
    match reference_data::insert_matrix_item(&mut tx, by.tenant, matrix_type, code.as_str(), &name, parent.as_deref())
        .await
    {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(AppError::conflict(duplicate_code(matrix_type, &code))),
        Err(other) => return Err(other.into()),
    }
    let target = format!("{matrix_type} {code}");
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "matrix_item.created",
            target: Some(&target),
            detail: &name,
        },
        app.clock.now(),
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

fn duplicate_code(matrix_type: MatrixType, code: &MatrixCode) -> BrokenRule {
    BrokenRule::new("Matrix", "DuplicateCode", format!("{matrix_type} already has an item {code}"))
}

/// Appends a value to a reference list group; values are unique in a group, ignoring case.
pub async fn add_reference_value(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataWrite, Principal>,
    group: &str,
    value: &str,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let parsed = ReferenceGroup::parse(group);
    if parsed.is_none() {
        check.push(BrokenRule::new(
            "ReferenceList",
            "UnknownGroup",
            format!(
                "{:?} is not a reference list group (task, document, Health and Safety, Asset Category)",
                group.trim()
            ),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        check.push(BrokenRule::new("ReferenceList", "MissingValue", "Value is required"));
    } else if value.chars().count() > 200 || value.chars().any(char::is_control) {
        check.push(BrokenRule::new(
            "ReferenceList",
            "InvalidValue",
            "Value must be 1-200 characters without control characters",
        ));
    }
    let duplicate = |g: ReferenceGroup| {
        BrokenRule::new("ReferenceList", "DuplicateValue", format!("{} already holds {value:?}", g.name()))
    };
    let mut conflicts = Vec::new();
    let mut tx = app.db.begin().await?;
    if let Some(group) = parsed
        && !value.is_empty()
        && reference_data::reference_value_exists(&mut *tx, by.tenant, group, value, false).await?
    {
        conflicts.push(duplicate(group));
    }
    verdict(check, conflicts)?;
    let Some(group) = parsed else { return Err(AppError::internal("checked input missing")) };
    let order = reference_data::next_reference_order(&mut *tx, by.tenant, group).await?;
    match reference_data::insert_reference_value(&mut tx, by.tenant, group, value, order).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(AppError::conflict(duplicate(group))),
        Err(other) => return Err(other.into()),
    }
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "reference_value.created",
            target: Some(group.name()),
            detail: value,
        },
        app.clock.now(),
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}
