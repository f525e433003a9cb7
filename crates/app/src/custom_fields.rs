//! Custom fields: which questions apply to a matrix code (fields defined on the code or any
//! of its ancestors), and checking the answers a create body carries.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, answer_fits};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::tenant::TenantId;
use caretaker_storage::custom_fields::{self, CustomField};
use caretaker_storage::{Conn, StorageError};

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
pub async fn applicable(
    conn: &mut Conn,
    tenant: TenantId,
    target: CustomFieldTarget,
    code: &str,
) -> Result<Vec<CustomField>, StorageError> {
    custom_fields::for_codes(conn, tenant, target.name(), &code_and_ancestors(code)).await
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
