//! A task as integrations see it (PascalCase JSON): the REST API's task and the `Task` of
//! outbound calls are this one shape, borrowed from a [`Task`] or straight from a row of a
//! page ([`TaskRow`]), so a page is written without copying its rows.

use std::borrow::Cow;

use caretaker_domain::clock::Rfc3339;
use caretaker_storage::StorageError;
use caretaker_storage::tasks::{Task, TaskRow};
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// `Relate` as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RelateJson<'a> {
    #[serde(rename = "Type")]
    pub kind: &'a str,
    pub reference: &'a str,
}

/// A task as the REST API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskJson<'a> {
    pub reference: &'a str,
    pub external_identifier: Option<&'a str>,
    pub initiator_name: &'a str,
    pub site_code: &'a str,
    pub description: &'a str,
    pub defect_source: Option<&'a str>,
    pub matrix_item_code: &'a str,
    pub chargeability: Option<&'a str>,
    pub workflow: &'a str,
    pub status: &'a str,
    pub status_type: &'static str,
    pub supplier: Option<&'a str>,
    pub service_level: Option<&'a str>,
    #[serde(rename = "RespondByUtc")]
    pub respond_by_utc: Option<Rfc3339>,
    #[serde(rename = "CompleteByUtc")]
    pub complete_by_utc: Option<Rfc3339>,
    pub assets: Cow<'a, [String]>,
    pub is_asset_available: Option<bool>,
    /// `[{"Name": ..., "Value": ...}, ...]`
    #[serde(serialize_with = "custom_fields")]
    pub custom_fields: Cow<'a, [(String, String)]>,
    pub relate: Option<RelateJson<'a>>,
    #[serde(rename = "CreatedAtUtc")]
    pub created_at_utc: Rfc3339,
    #[serde(rename = "UpdatedAtUtc")]
    pub updated_at_utc: Rfc3339,
    pub version: i64,
}

fn custom_fields<S: Serializer>(fields: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer<'a> {
        name: &'a str,
        value: &'a str,
    }
    let mut seq = serializer.serialize_seq(Some(fields.len()))?;
    for (name, value) in fields.iter() {
        seq.serialize_element(&Answer { name, value })?;
    }
    seq.end()
}

fn relate<'a>(relation: Option<&'a str>, reference: Option<&'a str>) -> Option<RelateJson<'a>> {
    match (relation, reference) {
        (Some(kind), Some(reference)) => Some(RelateJson { kind, reference }),
        _ => None,
    }
}

impl<'a> From<&'a Task> for TaskJson<'a> {
    fn from(t: &'a Task) -> Self {
        TaskJson {
            reference: &t.reference,
            external_identifier: t.external_identifier.as_deref(),
            initiator_name: &t.initiator_name,
            site_code: &t.site_code,
            description: &t.description,
            defect_source: t.defect_source.as_deref(),
            matrix_item_code: &t.matrix_code,
            chargeability: t.chargeability.as_deref(),
            workflow: &t.workflow,
            status: &t.status,
            status_type: t.status_type.name(),
            supplier: t.supplier.as_deref(),
            service_level: t.service_level.as_deref(),
            respond_by_utc: t.respond_by.map(|t| t.rfc3339()),
            complete_by_utc: t.complete_by.map(|t| t.rfc3339()),
            assets: Cow::Borrowed(&t.assets),
            is_asset_available: t.is_asset_available,
            custom_fields: Cow::Borrowed(&t.custom_fields),
            relate: relate(t.relation.as_deref(), t.related_reference.as_deref()),
            created_at_utc: t.created_at.rfc3339(),
            updated_at_utc: t.updated_at.rfc3339(),
            version: t.version,
        }
    }
}

impl<'a> TryFrom<&TaskRow<'a>> for TaskJson<'a> {
    type Error = StorageError;

    /// Assets and custom fields are read from their JSON only when there are any.
    fn try_from(t: &TaskRow<'a>) -> Result<Self, StorageError> {
        const NONE: &str = "[]";
        Ok(TaskJson {
            reference: t.reference,
            external_identifier: t.external_identifier,
            initiator_name: t.initiator_name,
            site_code: t.site_code,
            description: t.description,
            defect_source: t.defect_source,
            matrix_item_code: t.matrix_code,
            chargeability: t.chargeability,
            workflow: t.workflow,
            status: t.status,
            status_type: t.status_type.name(),
            supplier: t.supplier,
            service_level: t.service_level,
            respond_by_utc: t.respond_by.map(|t| t.rfc3339()),
            complete_by_utc: t.complete_by.map(|t| t.rfc3339()),
            assets: if t.assets_json == NONE { Cow::Borrowed(&[]) } else { Cow::Owned(t.assets()?) },
            is_asset_available: t.is_asset_available,
            custom_fields: if t.custom_fields_json == NONE {
                Cow::Borrowed(&[])
            } else {
                Cow::Owned(t.custom_fields()?)
            },
            relate: relate(t.relation, t.related_reference),
            created_at_utc: t.created_at.rfc3339(),
            updated_at_utc: t.updated_at.rfc3339(),
            version: t.version,
        })
    }
}
