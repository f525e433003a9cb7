//! The OpenAPI 3.1 document, built from the route table below: one entry per operation,
//! next to the schemas its handler reads and writes.

use axum::Json;
use serde_json::{Value, json};

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    description: &'static str,
    authenticated: bool,
    /// `(status, description, schema name or None)`.
    responses: &'static [(u16, &'static str, Option<&'static str>)],
}

/// The request body schema of the operations that take one: `(method, path, schema)`.
const REQUEST_BODIES: &[(&str, &str, &str)] = &[
    ("put", "/rest/users/{tenant}/me/outbound", "Outbound"),
    ("post", "/rest/sites/{tenant}", "Site"),
    ("post", "/rest/assets/{tenant}", "Asset"),
    ("post", "/rest/tasks/{tenant}", "CreateTask"),
    ("put", "/rest/tasks/{tenant}/{reference}/status", "ChangeStatus"),
    ("post", "/rest/tasks/{tenant}/{reference}/notes", "NewNote"),
    ("post", "/rest/tasks/{tenant}/{reference}/chase", "NewNote"),
    ("put", "/rest/tasks/{tenant}/{reference}/dispatch", "Dispatch"),
];

const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/rest/users/{tenant}/me",
        summary: "Who am I",
        description: "The calling user: type, contractor, role packages, effective permissions and when the credential expires.",
        authenticated: true,
        responses: &[
            (200, "The caller", Some("Me")),
            (401, "Not authenticated", Some("Messages")),
            (429, "Too many failed attempts", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/users/{tenant}/me/outbound",
        summary: "Outbound configuration",
        description: "The caller's callback URLs by event, the Send Created and Email Failures toggles, and the token the calls are signed with (the secret only as its last four characters). Needs the REST API package.",
        authenticated: true,
        responses: &[(200, "The configuration", Some("Outbound")), (401, "Not authenticated", Some("Messages"))],
    },
    Operation {
        method: "put",
        path: "/rest/users/{tenant}/me/outbound",
        summary: "Change the outbound configuration",
        description: "Replaces the configuration. URLs must be https to public addresses (unless the operator allows http and private networks); any URL needs ApiToken and ApiSecret, which Caretaker signs its calls with (TCN, over the receiver's path). ApiSecret is write-only: leave it out to keep the stored one (a changed token needs it again). Needs the REST API package.",
        authenticated: true,
        responses: &[
            (200, "The configuration as stored", Some("Outbound")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/matrices/{tenant}",
        summary: "Matrix types",
        description: "The matrix types; their names feed Matrix By Type. Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The types", Some("MatrixTypes")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/matrices/{tenant}/{type}",
        summary: "Matrix By Type",
        description: "The items of one matrix type (Reactive, Asset, Geographic Area, Site Channel, ...; any case, spaces or hyphens): hierarchical codes such as 01-01-01. Re-read about weekly. Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The items", Some("Matrix")),
            (400, "Unknown type", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/referencelists/{tenant}/{group}",
        summary: "Reference list",
        description: "The values of a reference list group: task (defect sources), document (document categories), Health and Safety (hazards), Asset Category. Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The values", Some("ReferenceList")),
            (400, "Unknown group", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/customfields/{type}/{tenant}/{identifier}",
        summary: "Custom fields",
        description: "The questions for a matrix code and its parents: type task (Reactive code), asset (Asset code), site (Site Channel code) or compliance. Answer them in create bodies as CustomFields: [{Name, Value}]. Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The fields", Some("CustomFields")),
            (400, "Unknown type or not a matrix code", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/sites/{tenant}",
        summary: "Create Site",
        description: "Creates a site (SiteCode unique per tenant, any case). Every broken rule is reported at once and nothing is written. Needs sites.write.",
        authenticated: true,
        responses: &[
            (201, "The site, with \"Messages\": null", Some("Site")),
            (400, "Broken rules, or a body that is not the right JSON", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (409, "The SiteCode is taken", Some("Messages")),
            (413, "Body too large", Some("Messages")),
            (415, "Not application/json", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/sites/{tenant}",
        summary: "List sites",
        description: "The sites visible to the caller, by SiteCode. Query: Limit (1-200, default 50), Cursor (the previous page's NextCursor). Needs sites.read.",
        authenticated: true,
        responses: &[
            (200, "A page of sites", Some("SitePage")),
            (400, "Bad Limit or Cursor", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/sites/{tenant}/{site_code}",
        summary: "Read a site",
        description: "One site with its hazards and notes. 404 when it does not exist or is not visible to the caller. Needs sites.read.",
        authenticated: true,
        responses: &[
            (200, "The site", Some("Site")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/sites/workinghours/{tenant}",
        summary: "Site working hours",
        description: "The working hours of the sites visible to the caller. Needs sites.read.",
        authenticated: true,
        responses: &[
            (200, "Working hours by site", Some("WorkingHours")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/companies/{tenant}",
        summary: "Create Company",
        description: "Name, EmailAddress, TelephoneNumber, AddressLine1, Country and CompanyTypes (AssetManufacturer, AssetSeller, AssetServiceFirm) are required; AddressLine2, AddressLine3, Town, County, Postcode optional. Company names are unique per tenant. Needs companies.write.",
        authenticated: true,
        responses: &[
            (201, "{\"CompanyIdentifier\": GUID, \"Messages\": null}", Some("CompanyCreated")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (409, "The name is taken", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/models/{tenant}",
        summary: "Create a manufacturer model",
        description: "Body: Manufacturer (a company of type AssetManufacturer) and Name. Create Asset needs both to exist. Needs companies.write.",
        authenticated: true,
        responses: &[
            (201, "The model, with \"Messages\": null", None),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (409, "The manufacturer has a model of that name", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/assets/{tenant}",
        summary: "Create Asset",
        description: "Creates an asset at a site (optionally inside a parent asset at the same site) and returns its GUID (AssetIdentifier). Manufacturer and Model must exist; dates ignore any time part; LifeSpan.Unit is Days, Months or Years; Category is an Asset Category value. Needs assets.write.",
        authenticated: true,
        responses: &[
            (201, "The asset, with \"Messages\": null", Some("Asset")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/assets/{tenant}",
        summary: "List assets",
        description: "The assets of the sites visible to the caller, by GUID. Query: SiteCode (optional), Limit (1-200, default 50), Cursor. Needs assets.read.",
        authenticated: true,
        responses: &[
            (200, "A page of assets", Some("AssetPage")),
            (400, "Bad Limit or Cursor", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/assets/{tenant}/{asset_id}",
        summary: "Read an asset",
        description: "One asset by its GUID. Needs assets.read.",
        authenticated: true,
        responses: &[
            (200, "The asset", Some("Asset")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/tasks/{tenant}",
        summary: "Create Task",
        description: "Raises a reactive task. Send Chargeability, Workflow, ServiceLevel and Supplier as null to let the dispatch rules decide; a user without tasks.set_restricted_fields who sends a value gets BrokenRule_Task_<Field>NotAllowed. The same ExternalIdentifier from the same user with the same body returns the existing task (200, a safe retry); with a different body, 409. Needs tasks.create; the site must be one the caller can access.",
        authenticated: true,
        responses: &[
            (201, "The task, with \"Messages\": null", Some("Task")),
            (200, "A retry: the task this request made before, with \"Messages\": null", Some("Task")),
            (400, "Broken rules, or a body that is not the right JSON", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (409, "The ExternalIdentifier was used with a different request", Some("Messages")),
            (413, "Body too large", Some("Messages")),
            (415, "Not application/json", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/tasks/{tenant}",
        summary: "List tasks",
        description: "The tasks visible to the caller, newest change first. Query: Limit (1-200, default 50), Cursor (the previous page's NextCursor), Status (a status name), StatusType (New, Open, Closed, Cancelled), SiteCode, Supplier (a contractor code), UpdatedSince (ISO 8601 UTC), ExternalIdentifier. Following NextCursor until null visits every task once; a task changed during the walk comes again at the end (oldest change first) with its new state. Needs tasks.read.",
        authenticated: true,
        responses: &[
            (200, "A page of tasks", Some("TaskPage")),
            (400, "Bad Limit, Cursor, StatusType or UpdatedSince", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/tasks/{tenant}/{reference}",
        summary: "Read a task",
        description: "One task with NextStatuses, Notes and History. 404 when it does not exist or the caller may not see it (the two are never told apart). Needs tasks.read.",
        authenticated: true,
        responses: &[
            (200, "The task", Some("TaskDetail")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
        ],
    },
    Operation {
        method: "put",
        path: "/rest/tasks/{tenant}/{reference}/status",
        summary: "Change Status",
        description: "Moves the task to a destination of its current status. ResolutionCauseCode / ResolutionRemedyCode (Task Resolution Cause / Remedy matrix codes) when the target status requires them; StatusChangeDateTimeUtc only where the target status allows a manual date (not in the future, not before the task was raised); Version, if given, must be the task's current one. Of two concurrent changes one wins, the other gets 409. Needs tasks.update.",
        authenticated: true,
        responses: &[
            (200, "The task after the change, with \"Messages\": null", Some("TaskDetail")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
            (409, "The task changed meanwhile", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/tasks/{tenant}/{reference}/notes",
        summary: "Add a note",
        description: "Text: 1 to 4,000 characters. Needs tasks.update.",
        authenticated: true,
        responses: &[
            (201, "The note, with \"Messages\": null", Some("Note")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
        ],
    },
    Operation {
        method: "post",
        path: "/rest/tasks/{tenant}/{reference}/chase",
        summary: "Chase the contractor",
        description: "Records a chase (optional body {\"Text\": ...}) on a dispatched task that is neither Closed nor Cancelled. Not for Contractor users. Needs tasks.update.",
        authenticated: true,
        responses: &[
            (201, "The chase, with \"Messages\": null", Some("Note")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
        ],
    },
    Operation {
        method: "put",
        path: "/rest/tasks/{tenant}/{reference}/dispatch",
        summary: "Dispatch a task",
        description: "Dispatches or re-dispatches the task to a contractor (Supplier: its code) with an optional ServiceLevel (due dates then run from now); the task moves to its workflow's dispatched status. Management users may choose any contractor; users of a parent contractor only their own contractor or its children, for tasks of their contractor tree. Needs tasks.dispatch.",
        authenticated: true,
        responses: &[
            (200, "The task after the change, with \"Messages\": null", Some("TaskDetail")),
            (400, "Broken rules", Some("Messages")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Not found", Some("Messages")),
            (409, "The task changed meanwhile", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/workflows/{tenant}/{workflow_type}",
        summary: "Workflows of a type",
        description: "workflow_type is reactive, scheduled or invoicing (the body says Invoice). Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The workflows with their statuses", Some("Workflows")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Unknown type", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/workflows/{tenant}/{workflow_type}/{workflow}",
        summary: "One workflow",
        description: "One workflow by name (any case), in the same Workflows wrapper. Needs reference_data.read.",
        authenticated: true,
        responses: &[
            (200, "The workflow", Some("Workflows")),
            (401, "Not authenticated", Some("Messages")),
            (403, "Not allowed", Some("Messages")),
            (404, "Unknown type or workflow", Some("Messages")),
        ],
    },
    Operation {
        method: "get",
        path: "/rest/openapi.json",
        summary: "This document",
        description: "The OpenAPI 3.1 description of the REST API. No authentication.",
        authenticated: false,
        responses: &[(200, "The document", None)],
    },
    Operation {
        method: "get",
        path: "/rest/docs",
        summary: "Readable API documentation",
        description: "HTML documentation with the signing guide. No authentication.",
        authenticated: false,
        responses: &[(200, "An HTML page", None)],
    },
];

fn schemas() -> Value {
    let mut all = general_schemas();
    if let (Some(all), Value::Object(tasks)) = (all.as_object_mut(), task_schemas()) {
        all.extend(tasks);
    }
    all
}

/// The schemas of tasks and workflows.
fn task_schemas() -> Value {
    json!({
        "CreateTask": {
            "type": "object",
            "required": ["InitiatorName", "SiteCode", "Description", "MatrixItemCode"],
            "properties": {
                "ExternalIdentifier": { "type": ["string", "null"], "maxLength": 100, "description": "Your reference; unique per user: the idempotency key" },
                "InitiatorName": { "type": "string", "maxLength": 200 },
                "SiteCode": { "type": "string" },
                "Description": { "type": "string", "maxLength": 4000 },
                "DefectSource": { "type": ["string", "null"], "description": "A value of the task reference list" },
                "MatrixItemCode": { "type": "string", "description": "A Reactive matrix code", "examples": ["02-02-01"] },
                "Chargeability": { "type": ["string", "null"] },
                "Workflow": { "type": ["string", "null"] },
                "ServiceLevel": { "type": ["string", "null"] },
                "Supplier": { "type": ["string", "null"], "description": "A contractor code" },
                "Assets": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                "IsAssetAvailable": { "type": ["boolean", "null"] },
                "CustomFields": { "$ref": "#/components/schemas/CustomFieldAnswers" },
                "Relate": { "type": ["object", "null"], "properties": {
                    "Type": { "type": "string", "enum": ["child", "related"] },
                    "Reference": { "type": "string", "examples": ["T000123"] } } }
            }
        },
        "Task": {
            "type": "object",
            "properties": {
                "Reference": { "type": "string", "examples": ["T000123"] },
                "ExternalIdentifier": { "type": ["string", "null"] },
                "InitiatorName": { "type": "string" },
                "SiteCode": { "type": "string" },
                "Description": { "type": "string" },
                "DefectSource": { "type": ["string", "null"] },
                "MatrixItemCode": { "type": "string" },
                "Chargeability": { "type": ["string", "null"] },
                "Workflow": { "type": "string" },
                "Status": { "type": "string" },
                "StatusType": { "type": "string", "enum": ["New", "Open", "Closed", "Cancelled"] },
                "Supplier": { "type": ["string", "null"] },
                "ServiceLevel": { "type": ["string", "null"] },
                "RespondByUtc": { "type": ["string", "null"], "format": "date-time" },
                "CompleteByUtc": { "type": ["string", "null"], "format": "date-time" },
                "Assets": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                "IsAssetAvailable": { "type": ["boolean", "null"] },
                "CustomFields": { "$ref": "#/components/schemas/CustomFieldAnswers" },
                "Relate": { "type": ["object", "null"], "properties": {
                    "Type": { "type": "string" }, "Reference": { "type": "string" } } },
                "CreatedAtUtc": { "type": "string", "format": "date-time" },
                "UpdatedAtUtc": { "type": "string", "format": "date-time" },
                "Version": { "type": "integer", "description": "Send it back in Change Status to refuse a stale change" },
                "Messages": { "type": "null", "description": "On create: null" }
            }
        },
        "TaskDetail": {
            "allOf": [
                { "$ref": "#/components/schemas/Task" },
                { "type": "object", "properties": {
                    "NextStatuses": { "type": "array", "items": { "type": "string" } },
                    "Notes": { "type": "array", "items": { "$ref": "#/components/schemas/Note" } },
                    "History": { "type": "array", "items": { "type": "object", "properties": {
                        "OccurredAtUtc": { "type": "string", "format": "date-time" },
                        "Event": { "type": "string", "enum": ["Created", "StatusChanged", "Dispatched", "NoteAdded", "Chased"] },
                        "Actor": { "type": "string" },
                        "FromStatus": { "type": ["string", "null"] },
                        "ToStatus": { "type": ["string", "null"] },
                        "StatusChangeDateTimeUtc": { "type": ["string", "null"], "format": "date-time" },
                        "Detail": { "type": "string" } } } } } }
            ]
        },
        "TaskPage": {
            "type": "object",
            "properties": {
                "Items": { "type": "array", "items": { "$ref": "#/components/schemas/Task" } },
                "NextCursor": { "type": ["string", "null"] }
            }
        },
        "ChangeStatus": {
            "type": "object",
            "required": ["Status"],
            "properties": {
                "Status": { "type": "string", "description": "The target status's name" },
                "Note": { "type": ["string", "null"], "maxLength": 4000 },
                "StatusChangeDateTimeUtc": { "type": ["string", "null"], "format": "date-time" },
                "ResolutionCauseCode": { "type": ["string", "null"] },
                "ResolutionRemedyCode": { "type": ["string", "null"] },
                "Version": { "type": ["integer", "null"] }
            }
        },
        "NewNote": {
            "type": "object",
            "properties": { "Text": { "type": "string", "minLength": 1, "maxLength": 4000 } }
        },
        "Note": {
            "type": "object",
            "properties": {
                "Id": { "type": "integer" },
                "Kind": { "type": "string", "enum": ["Note", "Chase"] },
                "Text": { "type": "string" },
                "Author": { "type": "string" },
                "CreatedAtUtc": { "type": "string", "format": "date-time" }
            }
        },
        "Dispatch": {
            "type": "object",
            "required": ["Supplier"],
            "properties": {
                "Supplier": { "type": "string", "description": "A contractor code" },
                "ServiceLevel": { "type": ["string", "null"] }
            }
        },
        "Outbound": {
            "type": "object",
            "properties": {
                "Endpoints": { "type": "object", "properties": {
                    "TaskCreated": { "type": ["string", "null"], "format": "uri" },
                    "TaskStatus": { "type": ["string", "null"], "format": "uri" },
                    "TaskNote": { "type": ["string", "null"], "format": "uri" },
                    "TaskChased": { "type": ["string", "null"], "format": "uri" },
                    "TaskChanged": { "type": ["string", "null"], "format": "uri" },
                    "TaskDocumentAdded": { "type": ["string", "null"], "format": "uri" } } },
                "SendCreated": { "type": "boolean" },
                "EmailFailures": { "type": "boolean" },
                "ApiToken": { "type": ["string", "null"] },
                "ApiSecret": { "type": ["string", "null"], "writeOnly": true },
                "ApiSecretLast4": { "type": ["string", "null"], "readOnly": true }
            }
        },
        "Workflows": {
            "type": "object",
            "properties": { "Workflows": { "type": "array", "items": { "type": "object", "properties": {
                "Name": { "type": "string" },
                "WorkflowType": { "type": "string", "enum": ["Reactive", "Scheduled", "Invoice"] },
                "IsActive": { "type": "boolean" },
                "IsDefault": { "type": "boolean" },
                "Statuses": { "type": "array", "items": { "type": "object", "properties": {
                    "Name": { "type": "string" },
                    "StatusType": { "type": "string", "enum": ["New", "Open", "Closed", "Cancelled"] },
                    "IsQuotationEnabled": { "type": "boolean" },
                    "IsManualDateEnabled": { "type": "boolean" },
                    "IsEligibleToInvoice": { "type": "boolean" },
                    "Destinations": { "type": "array", "items": { "type": "string" } },
                    "IsTaskResolutionCauseEnabled": { "type": "boolean" },
                    "IsTaskResolutionRemedyEnabled": { "type": "boolean" },
                    "UpdateAssetCondition": { "type": "boolean" },
                    "SupplierOnSite": { "type": "boolean" } } } } } } } }
        }
    })
}

fn general_schemas() -> Value {
    json!({
        "Messages": {
            "type": "object",
            "description": "The Urgent envelope: one message per broken rule.",
            "required": ["Messages"],
            "properties": {
                "Messages": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "required": ["Key", "Value"],
                        "properties": {
                            "Key": { "type": "string", "examples": ["BrokenRule_Authentication_InvalidCredentials"] },
                            "Value": { "type": "string" }
                        }
                    }
                }
            }
        },
        "Site": {
            "type": "object",
            "required": ["SiteCode", "Name"],
            "properties": {
                "SiteCode": { "type": "string", "maxLength": 50 },
                "ParentCode": { "type": ["string", "null"] },
                "Name": { "type": "string", "maxLength": 200 },
                "Address": { "type": "object", "properties": {
                    "Line1": { "type": "string" }, "Line2": { "type": "string" }, "Line3": { "type": "string" },
                    "Town": { "type": "string" }, "County": { "type": "string" }, "Country": { "type": "string" },
                    "PostalCode": { "type": "string" } } },
                "Location": { "type": ["object", "null"], "properties": {
                    "Latitude": { "type": "number", "minimum": -90, "maximum": 90 },
                    "Longitude": { "type": "number", "minimum": -180, "maximum": 180 } } },
                "Email": { "type": "string" },
                "Telephone": { "type": "string" },
                "GeographicAreaMatrixItemCode": { "type": ["string", "null"], "examples": ["01-01-01"] },
                "SiteChannelMatrixItemCode": { "type": ["string", "null"], "examples": ["01-01-01"] },
                "Hazards": { "type": "array", "items": { "type": "string" }, "description": "Values of the Health and Safety reference list" },
                "Notes": { "type": "array", "items": { "type": "object", "properties": {
                    "StartDate": { "type": ["string", "null"], "format": "date" },
                    "EndDate": { "type": ["string", "null"], "format": "date" },
                    "IsWarningNote": { "type": "boolean" },
                    "Text": { "type": "string", "maxLength": 4000 } } } },
                "WorkingHours": { "type": "array", "description": "On create only (ours)", "items": { "type": "object", "properties": {
                    "Day": { "type": "string", "examples": ["Monday"] },
                    "Opens": { "type": "string", "examples": ["08:00"] },
                    "Closes": { "type": "string", "examples": ["18:00"] } } } },
                "CustomFields": { "$ref": "#/components/schemas/CustomFieldAnswers" },
                "CreatedAtUtc": { "type": "string", "format": "date-time", "readOnly": true },
                "Messages": { "type": "null", "description": "On create: null" }
            }
        },
        "CustomFields": {
            "type": "object",
            "properties": { "CustomFields": { "type": "array", "items": { "type": "object", "properties": {
                "Name": { "type": "string", "description": "The name to send back" },
                "Text": { "type": "string", "description": "The question" },
                "IsMandatory": { "type": "boolean" },
                "Parent": { "type": ["object", "null"], "properties": {
                    "Name": { "type": "string" }, "TriggerValue": { "type": "string" } } },
                "Answer": { "type": "object", "properties": {
                    "DataType": { "type": "string", "enum": ["Boolean", "Text", "Number", "Date", "List"] } } },
                "AnswerList": { "type": "array", "items": { "type": "string" } } } } } }
        },
        "CustomFieldAnswers": {
            "type": "array",
            "items": { "type": "object", "properties": {
                "Name": { "type": "string" }, "Value": { "type": ["string", "number", "boolean"] } } }
        },
        "CompanyCreated": {
            "type": "object",
            "properties": { "CompanyIdentifier": { "type": "string", "format": "uuid" }, "Messages": { "type": "null" } }
        },
        "Asset": {
            "type": "object",
            "required": ["SiteCode", "MatrixCode"],
            "properties": {
                "AssetIdentifier": { "type": "string", "format": "uuid", "readOnly": true },
                "ParentAssetIdentifier": { "type": ["string", "null"], "format": "uuid" },
                "SiteCode": { "type": "string" },
                "MatrixCode": { "type": "string", "examples": ["01-01"] },
                "Manufacturer": { "type": ["string", "null"] },
                "Model": { "type": ["string", "null"] },
                "SerialNumber": { "type": "string" },
                "AssetTag": { "type": "string" },
                "Description": { "type": "string" },
                "Quantity": { "type": "integer", "minimum": 1 },
                "InstallationDate": { "type": ["string", "null"], "format": "date" },
                "PurchaseDate": { "type": ["string", "null"], "format": "date" },
                "PurchaseValue": { "type": ["number", "null"], "minimum": 0 },
                "CurrentValue": { "type": ["number", "null"], "minimum": 0 },
                "YearOfManufacture": { "type": ["integer", "null"] },
                "LifeSpan": { "type": ["object", "null"], "properties": {
                    "Value": { "type": "integer", "minimum": 1 },
                    "Unit": { "type": "string", "enum": ["Days", "Months", "Years"] } } },
                "Category": { "type": ["string", "null"] },
                "CustomFields": { "$ref": "#/components/schemas/CustomFieldAnswers" },
                "Messages": { "type": "null", "description": "On create: null" }
            }
        },
        "AssetPage": {
            "type": "object",
            "properties": {
                "Items": { "type": "array", "items": { "$ref": "#/components/schemas/Asset" } },
                "NextCursor": { "type": ["string", "null"] }
            }
        },
        "SitePage": {
            "type": "object",
            "properties": {
                "Items": { "type": "array", "items": { "$ref": "#/components/schemas/Site" } },
                "NextCursor": { "type": ["string", "null"] }
            }
        },
        "WorkingHours": {
            "type": "object",
            "properties": { "Sites": { "type": "array", "items": { "type": "object", "properties": {
                "SiteCode": { "type": "string" },
                "WorkingHours": { "type": "array", "items": { "type": "object", "properties": {
                    "Day": { "type": "string" }, "Opens": { "type": "string" }, "Closes": { "type": "string" } } } } } } } }
        },
        "MatrixTypes": {
            "type": "object",
            "properties": { "MatrixTypes": { "type": "array", "items": {
                "type": "object", "properties": { "Name": { "type": "string" }, "UsedFor": { "type": "string" } } } } }
        },
        "Matrix": {
            "type": "object",
            "properties": {
                "MatrixType": { "type": "string" },
                "Items": { "type": "array", "items": { "type": "object", "properties": {
                    "Code": { "type": "string", "examples": ["01-02-03"] },
                    "Name": { "type": "string" },
                    "ParentCode": { "type": ["string", "null"] },
                    "IsActive": { "type": "boolean" } } } }
            }
        },
        "ReferenceList": {
            "type": "object",
            "properties": {
                "Group": { "type": "string" },
                "Values": { "type": "array", "items": { "type": "object", "properties": {
                    "Value": { "type": "string" }, "IsActive": { "type": "boolean" } } } }
            }
        },
        "Me": {
            "type": "object",
            "required": ["Email", "Name", "UserType", "RolePackages", "Permissions", "Tenant"],
            "properties": {
                "Email": { "type": "string" },
                "Name": { "type": "string" },
                "UserType": { "type": "string", "enum": ["Management", "Contractor", "Site"] },
                "Contractor": { "type": ["string", "null"], "description": "The contractor's code (Contractor users)" },
                "RolePackages": { "type": "array", "items": { "type": "string" } },
                "Permissions": { "type": "array", "items": { "type": "string" } },
                "Tenant": { "type": "string" },
                "CredentialExpiresAtUtc": { "type": ["string", "null"], "format": "date-time" }
            }
        }
    })
}

const TCN_DESCRIPTION: &str = "The TCN HMAC scheme of the Titan/Urgent API. Send `Authorization: TCN {ApiToken}:{Digest}` \
and `X-Timestamp: {Timestamp}` (UTC ISO-8601, e.g. 2021-03-10T14:23:23Z, within the tenant's window, default 300 s). \
StringToSign = UPPER(method) + \"+\" + LOWER(path) + \"+\" + Timestamp, where path is the request path from the host root \
as sent (percent-encoding kept, no query). Digest = Base64(HMAC-SHA256(UTF-8 bytes of the API Secret Key, StringToSign)). \
Optional strict signing: X-Nonce and X-Content-SHA256 (hex SHA-256 of the body) appended as \"+\" + nonce + \"+\" + hash.";

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPERATIONS {
        let mut responses = serde_json::Map::new();
        for (status, description, schema) in op.responses {
            let mut response = json!({ "description": description });
            if let Some(schema) = schema {
                response["content"] =
                    json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } });
            }
            responses.insert(status.to_string(), response);
        }
        let mut operation = json!({
            "summary": op.summary,
            "description": op.description,
            "responses": responses,
        });
        let mut parameters = Vec::new();
        for (name, description) in [
            ("tenant", "The tenant's name (any case; percent-encode spaces)"),
            ("type", "A matrix type's name"),
            ("group", "A reference list group"),
            ("site_code", "A site's SiteCode (any case)"),
            ("asset_id", "An asset's GUID"),
            ("identifier", "A matrix code such as 01-02-03"),
            ("reference", "A task reference such as T000123 (any case)"),
            ("workflow_type", "reactive, scheduled or invoicing"),
            ("workflow", "A workflow's name (any case)"),
        ] {
            if op.path.contains(&format!("{{{name}}}")) {
                parameters.push(json!({
                    "name": name, "in": "path", "required": true, "description": description,
                    "schema": { "type": "string" }
                }));
            }
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some((_, _, schema)) = REQUEST_BODIES.iter().find(|(m, p, _)| *m == op.method && *p == op.path) {
            operation["requestBody"] = json!({
                "required": op.method != "post" || !op.path.ends_with("/chase"),
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            });
        }
        if op.authenticated {
            operation["security"] = json!([{ "TCN": [] }]);
        } else {
            operation["security"] = json!([]);
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Caretaker REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Compatible with the Titan Maintenance (Urgent) REST API: TCN-signed calls, PascalCase JSON, the Messages envelope for errors."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "TCN": { "type": "apiKey", "in": "header", "name": "Authorization", "description": TCN_DESCRIPTION }
            }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
