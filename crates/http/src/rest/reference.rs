//! Matrices and reference lists over REST.

use axum::Json;
use axum::extract::{Path, State};
use caretaker_app::AppError;
use caretaker_app::reference_data;
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, can};
use caretaker_domain::matrix::{CustomFieldTarget, MatrixType, ReferenceGroup};
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;
use crate::rest::common::missing;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatrixTypeInfo {
    pub name: &'static str,
    pub used_for: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatrixTypes {
    pub matrix_types: Vec<MatrixTypeInfo>,
}

/// `GET /rest/matrices/{tenant}`: the matrix types (their names feed the next method).
pub async fn matrix_types(Caller(caller): Caller) -> Result<Json<MatrixTypes>, ApiError> {
    caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    Ok(Json(MatrixTypes {
        matrix_types: MatrixType::ALL
            .iter()
            .map(|t| MatrixTypeInfo { name: t.name(), used_for: t.used_for() })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatrixItemOut {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub is_active: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Matrix {
    pub matrix_type: &'static str,
    pub items: Vec<MatrixItemOut>,
}

/// `GET /rest/matrices/{tenant}/{type}`: the items of one type (`Reactive`,
/// `Geographic Area`, `geographic-area`, ...).
pub async fn matrix_by_type(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Matrix>, ApiError> {
    let proof = caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    let matrix_type = MatrixType::parse(&name).ok_or_else(|| {
        ApiError(AppError::invalid(BrokenRule::new(
            "Matrix",
            "UnknownType",
            format!("{name:?} is not a matrix type; GET /rest/matrices/{{tenant}} lists them"),
        )))
    })?;
    let items = reference_data::matrix(&state.app, &proof, matrix_type).await?;
    Ok(Json(Matrix {
        matrix_type: matrix_type.name(),
        items: items
            .into_iter()
            .map(|i| MatrixItemOut { code: i.code, name: i.name, parent_code: i.parent_code, is_active: i.is_active })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReferenceValueOut {
    pub value: String,
    pub is_active: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReferenceList {
    pub group: &'static str,
    pub values: Vec<ReferenceValueOut>,
}

/// `GET /rest/referencelists/{tenant}/{group}`: `task` (defect sources), `document`
/// (document categories), `Health and Safety` (hazards), `Asset Category`.
pub async fn reference_list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<ReferenceList>, ApiError> {
    let proof = caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    let group = ReferenceGroup::parse(&name).ok_or_else(|| {
        ApiError(AppError::invalid(BrokenRule::new(
            "ReferenceList",
            "UnknownGroup",
            format!("{name:?} is not a reference list group (task, document, Health and Safety, Asset Category)"),
        )))
    })?;
    let values = reference_data::reference_list(&state.app, &proof, group).await?;
    Ok(Json(ReferenceList {
        group: group.name(),
        values: values.into_iter().map(|v| ReferenceValueOut { value: v.value, is_active: v.is_active }).collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParentOut {
    pub name: String,
    pub trigger_value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnswerOut {
    pub data_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomFieldDef {
    pub name: String,
    pub text: String,
    pub is_mandatory: bool,
    pub parent: Option<ParentOut>,
    pub answer: AnswerOut,
    pub answer_list: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomFields {
    pub custom_fields: Vec<CustomFieldDef>,
}

/// `GET /rest/customfields/{type}/{tenant}/{identifier}`: the questions for a matrix code
/// (`task`: Reactive, `asset`: Asset, `site`: Site Channel), including those of its parents.
pub async fn custom_fields(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((kind, _, code)): Path<(String, String, String)>,
) -> Result<Json<CustomFields>, ApiError> {
    let proof = caller.principal.authorize::<can::ReferenceDataRead>().ok_or_else(|| missing("reference_data.read"))?;
    let target = CustomFieldTarget::parse(&kind).ok_or_else(|| {
        ApiError(AppError::invalid(BrokenRule::new(
            "CustomField",
            "UnknownType",
            format!("{kind:?} is not task, asset, site or compliance"),
        )))
    })?;
    let fields = caretaker_app::custom_fields::list(&state.app, &proof, target, &code).await?;
    Ok(Json(CustomFields {
        custom_fields: fields
            .into_iter()
            .map(|f| CustomFieldDef {
                name: f.name,
                text: f.question,
                is_mandatory: f.is_mandatory,
                parent: f.parent.map(|(name, trigger_value)| ParentOut { name, trigger_value }),
                answer: AnswerOut { data_type: f.data_type },
                answer_list: f.answers,
            })
            .collect(),
    }))
}
