//! Custom fields: which questions apply to a matrix code (fields defined on the code or any
//! of its ancestors), checking the answers a create body carries, and defining fields.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::matrix::{CUSTOM_FIELD_TYPES, CustomFieldTarget, MatrixCode, answer_fits};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::tenant::TenantId;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::custom_fields::{self, CustomField, NewField};
use caretaker_storage::{Reader, StorageError, reference_data};

use crate::principal::Principal;
use crate::{App, AppError};

/// `01-02-03`, `01-02`, `01`.
fn code_and_ancestors(code: &str) -> Vec<String> {
    let mut codes = Vec::new();
    let mut current = MatrixCode::parse(code).ok();
    while let Some(code) = current {
        codes.push(code.as_str().to_owned());
        current = code.parent();
    }
    codes
}

/// The fields that apply to `code` for `target`.
pub async fn applicable<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    target: CustomFieldTarget,
    code: &str,
) -> Result<Vec<CustomField>, StorageError> {
    custom_fields::for_codes(reader, tenant, target.name(), &code_and_ancestors(code)).await
}

/// The custom fields of a matrix code, for `GET /rest/customfields/{type}/{tenant}/{code}`.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    target: CustomFieldTarget,
    code: &str,
) -> Result<Vec<CustomField>, AppError> {
    if MatrixCode::parse(code).is_err() {
        return Err(AppError::invalid(BrokenRule::new(
            "CustomField",
            "InvalidMatrixCode",
            format!("{code:?} is not a matrix code"),
        )));
    }
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(applicable(&mut conn, by.principal().tenant, target, code).await?)
}

/// Checks `given` answers against `fields`; returns the answers to store. `entity` names the
/// entity in the rule keys (`Site`, `Asset`, `Task`).
pub fn check_answers(
    entity: &str,
    fields: &[CustomField],
    given: &[(String, String)],
    check: &mut RuleCheck,
) -> Vec<(String, String)> {
    let answer_of = |name: &str| {
        given.iter().find(|(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    };
    for (name, _) in given {
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(name.trim())) {
            check.push(BrokenRule::new(entity, "UnknownCustomField", format!("{name:?} is not a custom field here")));
        }
    }
    let mut keep = Vec::new();
    for field in fields {
        let applies = match &field.parent {
            None => true,
            Some((parent, trigger)) => answer_of(parent).is_some_and(|a| a.eq_ignore_ascii_case(trigger)),
        };
        match (answer_of(&field.name), applies) {
            (None, true) if field.is_mandatory => check.push(BrokenRule::new(
                entity,
                "MissingCustomField",
                format!("{} ({}) is required", field.question, field.name),
            )),
            (None, _) => {}
            (Some(_), false) => check.push(BrokenRule::new(
                entity,
                "CustomFieldNotApplicable",
                format!(
                    "{} applies only when {} is {}",
                    field.name,
                    field.parent.as_ref().map_or("", |p| &p.0),
                    field.parent.as_ref().map_or("", |p| &p.1)
                ),
            )),
            (Some(answer), true) if !answer_fits(&field.data_type, &field.answers, answer) => {
                check.push(BrokenRule::new(
                    entity,
                    "InvalidCustomField",
                    format!("{}: {answer:?} is not a {} answer", field.name, field.data_type),
                ))
            }
            (Some(answer), true) => keep.push((field.name.clone(), answer.to_owned())),
        }
    }
    keep
}

/// Every custom field of the tenant with its target, by target, matrix code and order.
pub async fn all(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
) -> Result<Vec<(CustomFieldTarget, CustomField)>, AppError> {
    let fields = custom_fields::all(app.db.read(), by.principal().tenant).await?;
    Ok(fields.into_iter().filter_map(|(target, field)| Some((CustomFieldTarget::parse(&target)?, field))).collect())
}

/// A custom field as typed.
#[derive(Debug, Default, Clone)]
pub struct CustomFieldInput {
    /// `task`, `asset`, `site` or `compliance`.
    pub target: String,
    pub matrix_code: String,
    pub name: String,
    pub question: String,
    pub is_mandatory: bool,
    /// Boolean, Text, Number, Date or List.
    pub data_type: String,
    /// The answers of a List field.
    pub answers: Vec<String>,
    /// The field whose answer decides whether this one is asked, and that answer.
    pub parent: Option<String>,
    pub trigger_value: Option<String>,
}

fn rule(problem: &str, value: impl Into<String>) -> BrokenRule {
    BrokenRule::new("CustomField", problem, value)
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Defines a custom field. Its name is unique per target (ignoring case), its matrix code
/// must exist in the target's matrix, and a parent field must apply wherever this one does
/// (be defined on the same code or an ancestor).
pub async fn add(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataWrite, Principal>,
    input: &CustomFieldInput,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let target = CustomFieldTarget::parse(&input.target);
    if target.is_none() {
        check.push(rule("UnknownTarget", format!("{:?} is not task, asset, site or compliance", input.target.trim())));
    }
    let code = match MatrixCode::parse(&input.matrix_code) {
        Ok(code) => Some(code),
        Err(_) => {
            check.push(rule(
                "InvalidMatrixCode",
                format!("{:?} is not a matrix code such as 01-02-03", input.matrix_code.trim()),
            ));
            None
        }
    };
    let name = input.name.trim();
    if name.is_empty() {
        check.push(rule("MissingName", "Name is required"));
    } else if name.len() > 100 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        check.push(rule("InvalidName", "Name must be 1-100 letters, digits or '_' (such as Custom_Pump_Number)"));
    }
    let question = input.question.trim();
    if question.is_empty() {
        check.push(rule("MissingQuestion", "Question is required"));
    } else if question.chars().count() > 500 || question.chars().any(char::is_control) {
        check.push(rule("InvalidQuestion", "Question must be 1-500 characters without control characters"));
    }
    let data_type = CUSTOM_FIELD_TYPES.iter().find(|t| t.eq_ignore_ascii_case(input.data_type.trim())).copied();
    if data_type.is_none() {
        check.push(rule(
            "InvalidDataType",
            format!("{:?} is not a data type ({})", input.data_type.trim(), CUSTOM_FIELD_TYPES.join(", ")),
        ));
    }
    let mut answers: Vec<&str> = Vec::new();
    for answer in input.answers.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        if answer.chars().count() > 200 || answer.chars().any(char::is_control) {
            check.push(rule("InvalidAnswer", format!("{answer:?}: answers must be 1-200 characters")));
        } else if answers.iter().any(|a| a.eq_ignore_ascii_case(answer)) {
            check.push(rule("DuplicateAnswer", format!("{answer:?} is in the answer list twice")));
        } else {
            answers.push(answer);
        }
    }
    match data_type {
        Some("List") if answers.is_empty() => check.push(rule("MissingAnswerList", "A List field needs its answers")),
        Some(t) if t != "List" && !answers.is_empty() => {
            check.push(rule("AnswerListNotAllowed", "Only List fields have an answer list"))
        }
        _ => {}
    }
    let parent_name = present(&input.parent);
    let trigger = present(&input.trigger_value);
    match (parent_name, trigger) {
        (Some(_), None) => {
            check.push(rule("MissingTriggerValue", "A parent field needs the answer that asks this one"))
        }
        (None, Some(_)) => check.push(rule("TriggerWithoutParent", "A trigger value needs a parent field")),
        _ => {}
    }

    let mut conflicts = Vec::new();
    let mut tx = app.db.begin().await?;
    if let (Some(target), Some(code)) = (target, &code) {
        let matrix_type = target.matrix_type();
        if !reference_data::matrix_item_exists(&mut *tx, by.tenant, matrix_type, code.as_str(), false).await? {
            check.push(rule("UnknownMatrixCode", format!("{code} is not a {matrix_type} matrix code")));
        }
        if let Some(parent_name) = parent_name {
            match custom_fields::find(&mut *tx, by.tenant, target.name(), parent_name).await? {
                Some(parent) if code_and_ancestors(code.as_str()).contains(&parent.matrix_code) => {
                    if let Some(trigger) = trigger
                        && !answer_fits(&parent.data_type, &parent.answers, trigger)
                    {
                        check.push(rule(
                            "InvalidTriggerValue",
                            format!("{trigger:?} is not a {} answer of {}", parent.data_type, parent.name),
                        ));
                    }
                }
                Some(parent) => check.push(rule(
                    "ParentNotApplicable",
                    format!("{} is asked for {}, not for {code}", parent.name, parent.matrix_code),
                )),
                None => check
                    .push(rule("UnknownParent", format!("No {} custom field is named {parent_name:?}", target.name()))),
            }
        }
    }
    if let Some(target) = target
        && !name.is_empty()
        && custom_fields::find(&mut *tx, by.tenant, target.name(), name).await?.is_some()
    {
        conflicts.push(duplicate_name(target, name));
    }
    crate::reference_data::verdict(check, conflicts)?;
    let (Some(target), Some(code), Some(data_type)) = (target, code, data_type) else {
        return Err(AppError::internal("checked input missing"));
    };
    let parent = match (parent_name, trigger) {
        (Some(parent_name), Some(trigger)) => {
            // Stored with the parent's own spelling, as the answers are matched.
            let stored = custom_fields::find(&mut *tx, by.tenant, target.name(), parent_name).await?;
            stored.map(|p| (p.name, trigger.to_owned()))
        }
        _ => None,
    };
    let sort_order = custom_fields::next_sort_order(&mut *tx, by.tenant).await?;
    let field = NewField {
        target: target.name(),
        matrix_code: code.as_str(),
        name,
        question,
        is_mandatory: input.is_mandatory,
        data_type,
        answers: &answers,
        parent: parent.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        sort_order,
    };
    match custom_fields::insert(&mut tx, by.tenant, &field).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => return Err(AppError::conflict(duplicate_name(target, name))),
        Err(other) => return Err(other.into()),
    }
    let audit_target = format!("{} {code} {name}", target.name());
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "custom_field.created",
            target: Some(&audit_target),
            detail: question,
        },
        app.clock.now(),
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

fn duplicate_name(target: CustomFieldTarget, name: &str) -> BrokenRule {
    rule("DuplicateName", format!("A {} custom field named {name:?} already exists", target.name()))
}
