//! A task as integrations see it (PascalCase JSON): the REST API's task and the `Task` of
//! outbound calls are this one shape, borrowed from a [`Task`] or straight from a row of a
//! page ([`TaskRow`]), so a page is written without copying its rows.

use std::borrow::Cow;

use caretaker_domain::clock::Rfc3339;
use caretaker_storage::StorageError;
use caretaker_storage::tasks::{Task, TaskRow};

use crate::json_out::JsonObject;

/// `Relate` as shown.
#[derive(Debug, Clone)]
pub struct RelateJson<'a> {
    pub kind: &'a str,
    pub reference: &'a str,
}

/// A task as the REST API shows it, written as JSON by [`TaskJson::write_fields`] (the
/// one place its field names and order are set).
#[derive(Debug, Clone)]
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
    pub respond_by_utc: Option<Rfc3339>,
    pub complete_by_utc: Option<Rfc3339>,
    pub assets: Cow<'a, [String]>,
    pub is_asset_available: Option<bool>,
    /// `[{"Name": ..., "Value": ...}, ...]`
    pub custom_fields: Cow<'a, [(String, String)]>,
    pub relate: Option<RelateJson<'a>>,
    pub created_at_utc: Rfc3339,
    pub updated_at_utc: Rfc3339,
    pub version: i64,
}

impl TaskJson<'_> {
    /// The task's fields, in the documented order, into an object being written (an
    /// answer may add its own after them).
    pub fn write_fields(&self, o: &mut JsonObject<'_>) {
        o.str("Reference", self.reference);
        o.opt_str("ExternalIdentifier", self.external_identifier);
        o.str("InitiatorName", self.initiator_name);
        o.str("SiteCode", self.site_code);
        o.str("Description", self.description);
        o.opt_str("DefectSource", self.defect_source);
        o.str("MatrixItemCode", self.matrix_item_code);
        o.opt_str("Chargeability", self.chargeability);
        o.str("Workflow", self.workflow);
        o.str("Status", self.status);
        o.str("StatusType", self.status_type);
        o.opt_str("Supplier", self.supplier);
        o.opt_str("ServiceLevel", self.service_level);
        o.opt_str("RespondByUtc", self.respond_by_utc.as_ref().map(Rfc3339::as_str));
        o.opt_str("CompleteByUtc", self.complete_by_utc.as_ref().map(Rfc3339::as_str));
        o.strs("Assets", &self.assets);
        o.opt_bool("IsAssetAvailable", self.is_asset_available);
        o.objects("CustomFields", &self.custom_fields, |o, (name, value)| {
            o.str("Name", name);
            o.str("Value", value);
        });
        match &self.relate {
            Some(relate) => o.object("Relate", |o| {
                o.str("Type", relate.kind);
                o.str("Reference", relate.reference);
            }),
            None => o.null("Relate"),
        }
        o.str("CreatedAtUtc", self.created_at_utc.as_str());
        o.str("UpdatedAtUtc", self.updated_at_utc.as_str());
        o.int("Version", self.version);
    }

    /// The task as a JSON object appended to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::open(out);
        self.write_fields(&mut o);
        o.close();
    }

    /// The task as a JSON value (to place inside another, as outbound calls do).
    pub fn to_value(&self) -> serde_json::Value {
        let mut out = Vec::with_capacity(1024);
        self.write_json(&mut out);
        // What was just written is JSON.
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
    }
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
