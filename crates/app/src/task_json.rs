//! A task as integrations see it (PascalCase JSON): the REST API's task and the `Task` of
//! outbound calls are this one shape.

use caretaker_domain::clock::Timestamp;
use caretaker_storage::tasks::Task;
use serde::Serialize;

/// A custom field answer as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomFieldJson {
    pub name: String,
    pub value: String,
}

/// `Relate` as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RelateJson {
    #[serde(rename = "Type")]
    pub kind: String,
    pub reference: String,
}

/// A task as the REST API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskJson {
    pub reference: String,
    pub external_identifier: Option<String>,
    pub initiator_name: String,
    pub site_code: String,
    pub description: String,
    pub defect_source: Option<String>,
    pub matrix_item_code: String,
    pub chargeability: Option<String>,
    pub workflow: String,
    pub status: String,
    pub status_type: &'static str,
    pub supplier: Option<String>,
    pub service_level: Option<String>,
    #[serde(rename = "RespondByUtc")]
    pub respond_by_utc: Option<String>,
    #[serde(rename = "CompleteByUtc")]
    pub complete_by_utc: Option<String>,
    pub assets: Vec<String>,
    pub is_asset_available: Option<bool>,
    pub custom_fields: Vec<CustomFieldJson>,
    pub relate: Option<RelateJson>,
    #[serde(rename = "CreatedAtUtc")]
    pub created_at_utc: String,
    #[serde(rename = "UpdatedAtUtc")]
    pub updated_at_utc: String,
    pub version: i64,
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

impl From<Task> for TaskJson {
    fn from(t: Task) -> Self {
        TaskJson {
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
            respond_by_utc: time(t.respond_by),
            complete_by_utc: time(t.complete_by),
            assets: t.assets,
            is_asset_available: t.is_asset_available,
            custom_fields: t.custom_fields.into_iter().map(|(name, value)| CustomFieldJson { name, value }).collect(),
            relate: match (t.relation, t.related_reference) {
                (Some(kind), Some(reference)) => Some(RelateJson { kind, reference }),
                _ => None,
            },
            created_at_utc: t.created_at.to_rfc3339(),
            updated_at_utc: t.updated_at.to_rfc3339(),
            version: t.version,
        }
    }
}
