//! Tasks over REST (issue #6), on both backends: raising with every field, idempotent
//! retries, concurrency, restricted fields, broken rules, dispatch rules and dispatching by
//! hand, the workflow's status changes, notes and chases, the keyset list, who sees what
//! (the isolation matrix), and the workflow reads.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::credentials;
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::workflows::{self, RuleInput};
use caretaker_app::{App, MasterKey, Principal};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::{Clock, Timestamp};
use caretaker_domain::tcn;
use caretaker_http::{AppState, router};
use caretaker_storage::audit::Actor;
use caretaker_storage::both_backends;
use caretaker_storage::testing::TestDb;
use caretaker_storage::visibility::Scope;
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tower::ServiceExt;

const TASKS: &str = "/rest/tasks/urgent%20si";

/// A signing client: one user's API Token and Secret Key.
#[derive(Clone)]
struct Api {
    token: String,
    secret: String,
}

/// Who calls: a REST client, or a principal calling the use cases directly.
enum Who {
    Rest(Api),
    App(Principal),
}

/// One tenant with its operator.
struct Tenant {
    operator: Principal,
}

struct World {
    t: TestDb,
    app: App,
    state: AppState,
    a: Tenant,
    /// Management User with access to every site (the integration).
    admin: Api,
}

impl World {
    async fn new(t: TestDb) -> World {
        let app = App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate());
        let a = tenant(&app, "Urgent SI", "admin@urgent.example").await;
        let state = AppState::new(app.clone());
        let mut w = World { t, app, state, a, admin: Api { token: String::new(), secret: String::new() } };
        w.admin = w.user("integration@urgent.example", "Management", None, &["Management User"], "all").await;
        w
    }

    fn now(&self) -> Timestamp {
        self.t.clock.now()
    }

    /// A user of tenant A with REST API and these packages; their credentials.
    async fn user(
        &self,
        email: &str,
        user_type: &str,
        contractor: Option<&str>,
        packages: &[&str],
        access: &str,
    ) -> Api {
        user_in(&self.app, &self.a.operator, email, user_type, contractor, packages, access).await
    }

    async fn package(&self, name: &str, permissions: &[&str]) {
        let permissions: Vec<String> = permissions.iter().map(|p| String::from(*p)).collect();
        caretaker_app::role_packages::create_custom(
            &self.app,
            &self.a.operator.authorize::<can::RolePackagesWrite>().unwrap(),
            name,
            "",
            &permissions,
        )
        .await
        .unwrap();
    }

    /// Calls as `who`: over REST, or (Site users, who may not hold REST API) through the use
    /// cases the handlers call, answered as the handlers would.
    async fn act(&self, who: &Who, method: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        match who {
            Who::Rest(api) => self.call(api, method, path, body).await,
            Who::App(principal) => self.act_in_app(principal, method, path, body).await,
        }
    }

    async fn act_in_app(&self, by: &Principal, method: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        use caretaker_app::AppError;
        use caretaker_app::tasks::{self, Dispatch, ListFilter, StatusChange};
        let rest = path.strip_prefix(TASKS).unwrap();
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let text = |field: &str| body.and_then(|b| b[field].as_str()).unwrap_or_default().to_owned();
        let missing =
            || (StatusCode::FORBIDDEN, json!({"Messages": [{"Key": "BrokenRule_Authorization_MissingPermission"}]}));
        let answer = |result: Result<(StatusCode, Value), AppError>| match result {
            Ok(ok) => ok,
            Err(err) => {
                let (status, rules) = match err {
                    AppError::Invalid(rules) => (StatusCode::BAD_REQUEST, Some(rules)),
                    AppError::Conflict(rules) => (StatusCode::CONFLICT, Some(rules)),
                    AppError::Forbidden(rules) => (StatusCode::FORBIDDEN, Some(rules)),
                    AppError::NotFound => (StatusCode::NOT_FOUND, None),
                    other => panic!("{other:?}"),
                };
                let keys: Vec<Value> = match rules {
                    Some(rules) => rules.rules().iter().map(|r| json!({"Key": r.key})).collect(),
                    None => vec![json!({"Key": "BrokenRule_Request_NotFound"})],
                };
                (status, json!({ "Messages": keys }))
            }
        };
        match (method, parts.as_slice()) {
            ("GET", [query]) if query.starts_with('?') || query.is_empty() => {
                let Some(proof) = by.authorize::<can::TasksRead>() else { return missing() };
                answer(tasks::list(&self.app, &proof, &ListFilter::default(), None, 200).await.map(|(items, _)| {
                    let items: Vec<Value> = items.iter().map(|t| json!({"Reference": t.reference})).collect();
                    (StatusCode::OK, json!({ "Items": items }))
                }))
            }
            ("GET", [reference]) => {
                let Some(proof) = by.authorize::<can::TasksRead>() else { return missing() };
                answer(
                    tasks::get(&self.app, &proof, reference)
                        .await
                        .map(|d| (StatusCode::OK, json!({"Reference": d.task.reference}))),
                )
            }
            ("POST", [reference, kind]) => {
                let Some(proof) = by.authorize::<can::TasksUpdate>() else { return missing() };
                let result = if *kind == "notes" {
                    tasks::add_note(&self.app, &proof, reference, &text("Text")).await
                } else {
                    tasks::chase(&self.app, &proof, reference, &text("Text")).await
                };
                answer(result.map(|n| (StatusCode::CREATED, json!({"Text": n.text}))))
            }
            ("PUT", [reference, "status"]) => {
                let Some(proof) = by.authorize::<can::TasksUpdate>() else { return missing() };
                let change = StatusChange { status: text("Status"), ..StatusChange::default() };
                answer(
                    tasks::change_status(&self.app, &proof, reference, change)
                        .await
                        .map(|d| (StatusCode::OK, json!({"Status": d.task.status}))),
                )
            }
            ("PUT", [reference, "dispatch"]) => {
                let Some(proof) = by.authorize::<can::TasksDispatch>() else { return missing() };
                let request = Dispatch { supplier: text("Supplier"), service_level: None };
                answer(
                    tasks::dispatch(&self.app, &proof, reference, request)
                        .await
                        .map(|d| (StatusCode::OK, json!({"Supplier": d.task.supplier}))),
                )
            }
            other => panic!("no such call {other:?}"),
        }
    }

    async fn contractor(&self, name: &str, code: &str, parent: Option<&str>) {
        contractors::create(
            &self.app,
            &self.a.operator.authorize::<can::ContractorsWrite>().unwrap(),
            ContractorInput {
                name: name.into(),
                code: Some(code.into()),
                parent: parent.map(String::from),
                ..ContractorInput::default()
            },
        )
        .await
        .unwrap();
    }

    async fn site(&self, code: &str, parent: Option<&str>, area: Option<&str>, channel: Option<&str>) {
        let body = json!({ "SiteCode": code, "ParentCode": parent, "Name": format!("Site {code}"),
            "GeographicAreaMatrixItemCode": area, "SiteChannelMatrixItemCode": channel });
        let (status, answer) = self.call(&self.admin, "POST", "/rest/sites/urgent%20si", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    async fn asset(&self, site: &str) -> String {
        let body = json!({ "SiteCode": site, "MatrixCode": "01" });
        let (status, answer) = self.call(&self.admin, "POST", "/rest/assets/urgent%20si", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["AssetIdentifier"].as_str().unwrap().to_owned()
    }

    async fn rule(&self, input: RuleInput) {
        workflows::add_rule(&self.app, &self.a.operator.authorize::<can::ConfigurationWrite>().unwrap(), input)
            .await
            .unwrap();
    }

    /// Signs and sends; the query string (after `?`) is not signed.
    async fn call(&self, api: &Api, method: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let text = body.map(Value::to_string);
        self.raw(api, method, path, text.as_deref(), body.is_some()).await
    }

    async fn raw(&self, api: &Api, method: &str, path: &str, body: Option<&str>, json: bool) -> (StatusCode, Value) {
        send(&self.state, api, &tcn::format_timestamp(self.now()), method, path, body, json).await
    }

    async fn get(&self, api: &Api, path: &str) -> (StatusCode, Value) {
        self.call(api, "GET", path, None).await
    }

    /// Raises a task as `api` at `site` (matrix 01-01) with `extra` fields.
    async fn raise(&self, api: &Api, site: &str, extra: Value) -> (StatusCode, Value) {
        self.call(api, "POST", TASKS, Some(&task_body(site, extra))).await
    }

    /// Raises a task that must be created; its reference.
    async fn raised(&self, api: &Api, site: &str, extra: Value) -> String {
        let (status, body) = self.raise(api, site, extra).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["Reference"].as_str().unwrap().to_owned()
    }

    /// The stored task row (any visibility) of tenant A.
    async fn stored(&self, reference: &str) -> caretaker_storage::tasks::Task {
        let mut conn = self.t.conn().await;
        caretaker_storage::tasks::get(&mut conn, self.a.operator.tenant, Scope::All, reference).await.unwrap().unwrap()
    }

    /// What must not move when a call is refused: the row and its notes and history.
    async fn snapshot(&self, reference: &str) -> (i64, Timestamp, String, Option<String>, i64, i64) {
        let task = self.stored(reference).await;
        let notes = self.t.count(&format!("task_notes WHERE task_id = {}", task.id)).await;
        let history = self.t.count(&format!("task_history WHERE task_id = {}", task.id)).await;
        (task.version, task.updated_at, task.status, task.supplier, notes, history)
    }

    async fn set_status(&self, reference: &str, status: &str) {
        let (got, body) = self
            .call(&self.admin, "PUT", &format!("{TASKS}/{reference}/status"), Some(&json!({"Status": status})))
            .await;
        assert_eq!(got, StatusCode::OK, "{status}: {body}");
    }
}

async fn tenant(app: &App, name: &str, admin_email: &str) -> Tenant {
    let created = tenants::create(
        app,
        NewTenant {
            name: name.into(),
            admin_email: admin_email.into(),
            admin_password: Some(SecretString::from("a long enough password")),
        },
        Actor::Operator,
    )
    .await
    .unwrap();
    Tenant { operator: Principal::operator(created.tenant.id, created.tenant.name.as_str()) }
}

async fn user_in(
    app: &App,
    operator: &Principal,
    email: &str,
    user_type: &str,
    contractor: Option<&str>,
    packages: &[&str],
    access: &str,
) -> Api {
    let mut role_packages: Vec<String> = packages.iter().map(|p| String::from(*p)).collect();
    role_packages.push("REST API".into());
    let id = users::create(
        app,
        &operator.authorize::<can::UsersWrite>().unwrap(),
        UserInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            user_type: user_type.into(),
            contractor: contractor.map(String::from),
            role_packages,
            site_access: access.into(),
            is_integration: true,
            password: Some(SecretString::from("another long password")),
        },
    )
    .await
    .unwrap()
    .id;
    let principal = {
        let mut conn = app.db.read().acquire().await.unwrap();
        Principal::load(&mut conn, operator.tenant, &operator.tenant_name, id).await.unwrap().unwrap()
    };
    let creds = credentials::generate(app, operator, &principal).await.unwrap();
    Api { token: creds.token.clone(), secret: creds.secret.expose_secret().to_owned() }
}

/// A Site user (Site users may not hold REST API): the principal, to call the use cases.
async fn site_user(w: &World, email: &str, access: &str) -> Principal {
    let operator = &w.a.operator;
    let id = users::create(
        &w.app,
        &operator.authorize::<can::UsersWrite>().unwrap(),
        UserInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            user_type: "Site".into(),
            role_packages: vec!["Site User".into()],
            site_access: access.into(),
            password: Some(SecretString::from("another long password")),
            ..UserInput::default()
        },
    )
    .await
    .unwrap()
    .id;
    let mut conn = w.app.db.read().acquire().await.unwrap();
    Principal::load(&mut conn, operator.tenant, &operator.tenant_name, id).await.unwrap().unwrap()
}

async fn send(
    state: &AppState,
    api: &Api,
    ts: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    json: bool,
) -> (StatusCode, Value) {
    let signed = path.split('?').next().unwrap();
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", tcn::sign(method, signed, ts, &api.token, api.secret.as_bytes(), None))
        .header("x-timestamp", ts);
    if json {
        request = request.header("content-type", "application/json");
    }
    let body = Body::from(body.unwrap_or_default().to_owned());
    let response = router(state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn task_body(site: &str, extra: Value) -> Value {
    let mut body = json!({ "InitiatorName": "Dana at the till", "SiteCode": site,
        "Description": "Roof leaking over the shop floor", "MatrixItemCode": "01-01" });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

fn keys(body: &Value) -> Vec<String> {
    body["Messages"]
        .as_array()
        .map_or_else(Vec::new, |m| m.iter().map(|m| m["Key"].as_str().unwrap().to_owned()).collect())
}

fn refused(status: StatusCode, key: &str) -> (StatusCode, Vec<String>) {
    (status, vec![String::from(key)])
}

fn events(detail: &Value) -> Vec<String> {
    detail["History"].as_array().unwrap().iter().map(|h| h["Event"].as_str().unwrap().to_owned()).collect()
}

/// The names in a JSON array of strings, sorted: the order of a status's destinations is not
/// kept as configured (`workflow_destinations` has no position), so only the set is checked.
fn names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

fn minutes_after(t: Timestamp, minutes: i64) -> String {
    t.plus_seconds(minutes * 60).to_rfc3339()
}

both_backends!(
    create_with_every_field_then_read_it_back,
    idempotent_retries_and_conflicting_external_identifiers,
    concurrent_creates_get_distinct_references_and_one_task_per_external_identifier,
    restricted_fields_need_their_permission,
    every_broken_rule_of_create_at_once_and_malformed_bodies,
    dispatch_rules_pick_contractor_service_level_and_start_status,
    dispatching_by_hand_and_contractor_trees,
    status_changes_follow_the_workflow,
    concurrent_status_changes_one_wins_and_nothing_is_lost,
    notes_chases_and_history_in_order,
    list_filters_limits_and_the_keyset_walk,
    contractor_pages_merge_the_tree_and_the_users_own_tasks,
    isolation_matrix,
    workflows_as_urgent_documents_them,
    a_listed_task_is_never_older_than_what_was_written,
    a_contractor_users_pages_see_contractors_added_since,
);

async fn create_with_every_field_then_read_it_back(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, Some("01-01"), Some("01")).await;
    w.site("S1a", Some("S1"), None, None).await;
    w.site("S2", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    let asset = w.asset("S1").await;
    let child_asset = w.asset("S1a").await;
    let created = w.now();

    // The least a task needs: no rules, so it waits in the workflow's first status.
    let (status, first) = w.raise(&w.admin, "S1", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["Reference"], "T000001");
    assert_eq!(first["Messages"], Value::Null);
    assert!(first.as_object().unwrap().contains_key("Messages"));
    assert_eq!((first["Status"].as_str(), first["StatusType"].as_str()), (Some("Logged"), Some("New")));
    assert_eq!(first["Workflow"], "Reactive");
    for absent in
        ["Supplier", "ServiceLevel", "RespondByUtc", "CompleteByUtc", "DefectSource", "Relate", "ExternalIdentifier"]
    {
        assert_eq!(first[absent], Value::Null, "{absent}");
    }
    assert_eq!(first["Version"], 1);

    // Quotes, a backslash, a line break, a tab and non-ASCII: escaped in every answer.
    const LEAKING: &str = "Pump \"P-3\" is leaking\nunder C:\\plant\tsince 8:00 \u{2014} d\u{e9}j\u{e0} vu";
    let full = json!({
        "ExternalIdentifier": "EXT-42", "InitiatorName": "Dana at the till", "SiteCode": "s1",
        "Description": LEAKING, "DefectSource": "Wear and Tear", "MatrixItemCode": "02-02-01",
        "Chargeability": "Chargeable", "Workflow": "reactive", "ServiceLevel": "Urgent", "Supplier": "fixers",
        "Assets": [asset.to_uppercase(), child_asset], "IsAssetAvailable": false,
        "CustomFields": [ { "Name": "Custom_Pump_Number", "Value": 3 }, { "Name": "custom_is_leaking", "Value": "true" },
                          { "Name": "Custom_Leak_Volume", "Value": "20" } ],
        "Relate": { "Type": "Child", "Reference": "t000001" }
    });
    let (status, task) = w.call(&w.admin, "POST", TASKS, Some(&full)).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["Reference"], "T000002");
    assert_eq!(task["Messages"], Value::Null);
    assert_eq!(task["ExternalIdentifier"], "EXT-42");
    assert_eq!(task["Description"], LEAKING, "text that needs escaping comes back as sent");
    assert_eq!(task["SiteCode"], "S1");
    assert_eq!(task["DefectSource"], "Wear and Tear");
    assert_eq!(task["MatrixItemCode"], "02-02-01");
    assert_eq!(task["Chargeability"], "Chargeable");
    assert_eq!(task["Workflow"], "Reactive");
    assert_eq!((task["Status"].as_str(), task["StatusType"].as_str()), (Some("Dispatched"), Some("Open")));
    assert_eq!(task["Supplier"], "FIXERS");
    assert_eq!(task["ServiceLevel"], "Urgent");
    assert_eq!(task["RespondByUtc"], minutes_after(created, 4 * 60).as_str());
    assert_eq!(task["CompleteByUtc"], minutes_after(created, 24 * 60).as_str());
    assert_eq!(task["Assets"], json!([asset.to_lowercase(), child_asset.to_lowercase()]));
    assert_eq!(task["IsAssetAvailable"], false);
    assert_eq!(
        task["CustomFields"],
        json!([{"Name": "Custom_Pump_Number", "Value": "3"}, {"Name": "Custom_Is_Leaking", "Value": "true"},
               {"Name": "Custom_Leak_Volume", "Value": "20"}])
    );
    assert_eq!(task["Relate"], json!({"Type": "child", "Reference": "T000001"}));
    assert_eq!(task["CreatedAtUtc"], created.to_rfc3339().as_str());
    assert_eq!(task["Version"], 1);

    let (status, read) = w.get(&w.admin, &format!("{TASKS}/t000002")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["Reference"], "T000002");
    assert_eq!(names(&read["NextStatuses"]), ["Accepted", "Cancelled", "Rejected"]);
    assert_eq!(read["Notes"], json!([]));
    assert_eq!(events(&read), ["Created", "Dispatched"]);
    assert_eq!(read["History"][1]["FromStatus"], "Logged");
    assert_eq!(read["History"][1]["ToStatus"], "Dispatched");
    assert!(read["History"][1]["Detail"].as_str().unwrap().contains("FIXERS"), "{read}");
    assert!(read.get("Messages").is_none(), "reads carry no Messages");

    // Related (not child) is the other relation; a Relate to a related task works too.
    let (status, related) =
        w.raise(&w.admin, "S2", json!({ "Relate": { "Type": "related", "Reference": "T000002" } })).await;
    assert_eq!(status, StatusCode::CREATED, "{related}");
    assert_eq!(related["Relate"], json!({"Type": "related", "Reference": "T000002"}));
    assert_eq!(related["IsAssetAvailable"], Value::Null);

    // A page writes each task straight from its row, not from the task the create and the
    // read answer with: field for field the same.
    let (status, page) = w.get(&w.admin, &format!("{TASKS}?Limit=3")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["Items"].as_array().unwrap();
    let references: Vec<&str> = items.iter().map(|i| i["Reference"].as_str().unwrap()).collect();
    assert_eq!(references, ["T000003", "T000002", "T000001"]);
    for item in items {
        let (_, mut read) = w.get(&w.admin, &format!("{TASKS}/{}", item["Reference"].as_str().unwrap())).await;
        let read = read.as_object_mut().unwrap();
        for detail in ["NextStatuses", "Notes", "History"] {
            read.remove(detail).unwrap();
        }
        assert_eq!(item.as_object().unwrap(), read);
    }
    let mut answered = task.as_object().unwrap().clone();
    answered.remove("Messages").unwrap();
    assert_eq!(items[1].as_object().unwrap(), &answered, "the list shows what the create answered");

    let stored = w.stored("T000002").await;
    assert_eq!(stored.request_hash.as_deref().map(str::len), Some(64));
    assert_eq!(w.t.count("tasks").await, 3);
    assert_eq!(w.t.count("task_history").await, 4);
    assert_eq!(w.t.count("task_notes").await, 0);
}

async fn idempotent_retries_and_conflicting_external_identifiers(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    let body = json!({ "ExternalIdentifier": "EXT-1" });
    let (status, first) = w.raise(&w.admin, "S1", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["Reference"], "T000001");

    w.t.clock.advance_seconds(30);
    let (status, again) = w.raise(&w.admin, "S1", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "a retry: {again}");
    assert_eq!(again, first, "the same task, the same answer");
    assert_eq!((w.t.count("tasks").await, w.t.count("task_history").await), (1, 1));

    let (status, clash) =
        w.raise(&w.admin, "S1", json!({ "ExternalIdentifier": "EXT-1", "Description": "Other" })).await;
    assert_eq!((status, keys(&clash)), refused(StatusCode::CONFLICT, "BrokenRule_Task_DuplicateExternalIdentifier"));
    assert!(clash["Messages"][0]["Value"].as_str().unwrap().contains("T000001"));
    assert_eq!((w.t.count("tasks").await, w.t.count("task_history").await), (1, 1));
    assert_eq!(w.stored("T000001").await.description, "Roof leaking over the shop floor");
    // Nor did the refusal use up a number.
    let other = w.raised(&w.admin, "S1", json!({})).await;
    assert_eq!(other, "T000002");

    // The same identifier from another user is another user's task.
    let colleague = w.user("colleague@urgent.example", "Management", None, &["Management User"], "all").await;
    let (status, theirs) = w.raise(&colleague, "S1", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_eq!(theirs["Reference"], "T000003");
    let (status, retry) = w.raise(&colleague, "S1", body).await;
    assert_eq!((status, retry["Reference"].as_str()), (StatusCode::OK, Some("T000003")));
    assert_eq!(w.t.count("tasks WHERE external_identifier = 'EXT-1'").await, 2);
    let (status, page) = w.get(&w.admin, &format!("{TASKS}?ExternalIdentifier=EXT-1")).await;
    assert_eq!(status, StatusCode::OK);
    let found: BTreeSet<&str> =
        page["Items"].as_array().unwrap().iter().map(|i| i["Reference"].as_str().unwrap()).collect();
    assert_eq!(found, BTreeSet::from(["T000001", "T000003"]));
}

async fn concurrent_creates_get_distinct_references_and_one_task_per_external_identifier(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    let w = Arc::new(w);
    let mut racers = Vec::new();
    for i in 0..20 {
        let w = w.clone();
        racers.push(tokio::spawn(async move {
            let admin = w.admin.clone();
            w.raise(&admin, "S1", json!({ "Description": format!("Racer {i}") })).await
        }));
    }
    let mut references = BTreeSet::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        references.insert(body["Reference"].as_str().unwrap().to_owned());
    }
    let expected: BTreeSet<String> = (1..=20).map(|n| format!("T{n:06}")).collect();
    assert_eq!(references, expected);
    assert_eq!(w.t.count("tasks").await, 20);

    let mut racers = Vec::new();
    for _ in 0..8 {
        let w = w.clone();
        racers.push(tokio::spawn(async move {
            let admin = w.admin.clone();
            w.raise(&admin, "S1", json!({ "ExternalIdentifier": "RACE" })).await
        }));
    }
    let mut answers = Vec::new();
    for racer in racers {
        answers.push(racer.await.unwrap());
    }
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::OK), "{answers:?}");
    let winners: BTreeSet<&str> = answers.iter().map(|(_, b)| b["Reference"].as_str().unwrap()).collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(w.t.count("tasks WHERE external_identifier = 'RACE'").await, 1);
    assert_eq!(w.t.count("tasks").await, 21);
    assert_eq!(w.t.count("task_history").await, 21);
}

async fn restricted_fields_need_their_permission(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    // Site users hold the same task permissions, but may not hold REST API: a custom package.
    w.package("Raiser", &["tasks.read", "tasks.create", "tasks.update"]).await;
    let site_user = w.user("raiser@urgent.example", "Management", None, &["Raiser"], "S1").await;
    let restricted = json!({ "Workflow": "Reactive", "ServiceLevel": "Urgent", "Supplier": "FIXERS", "Chargeability": "Chargeable" });
    let (status, body) = w.raise(&site_user, "S1", restricted).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Task_ChargeabilityNotAllowed",
            "BrokenRule_Task_WorkflowNotAllowed",
            "BrokenRule_Task_ServiceLevelNotAllowed",
            "BrokenRule_Task_SupplierNotAllowed",
        ]
    );
    for field in ["Workflow", "ServiceLevel", "Supplier", "Chargeability"] {
        let (status, body) = w.raise(&site_user, "S1", json!({ field: "x" })).await;
        assert_eq!(
            (status, keys(&body)),
            refused(StatusCode::BAD_REQUEST, &format!("BrokenRule_Task_{field}NotAllowed"))
        );
    }
    assert_eq!((w.t.count("tasks").await, w.t.count("task_counters").await), (0, 0));
    // Null (or blank) lets the rules decide.
    let (status, body) = w
        .raise(
            &site_user,
            "S1",
            json!({ "Workflow": null, "ServiceLevel": "", "Supplier": null, "Chargeability": null }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["Supplier"].clone(), body["Status"].clone()), (Value::Null, json!("Logged")));
    // The Management User holds the permission.
    let (status, body) = w.raise(&w.admin, "S1", json!({ "Supplier": "FIXERS", "Chargeability": "Chargeable" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["Supplier"].as_str(), body["Chargeability"].as_str()), (Some("FIXERS"), Some("Chargeable")));
}

async fn every_broken_rule_of_create_at_once_and_malformed_bodies(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.site("S2", None, None, None).await;
    let elsewhere = w.asset("S2").await;
    let everything = json!({
        "ExternalIdentifier": "x".repeat(101), "InitiatorName": " ", "SiteCode": "NOPE", "Description": "",
        "MatrixItemCode": "99-99", "DefectSource": "Aliens", "Assets": ["00000000-0000-4000-8000-000000000000"],
        "Relate": { "Type": "sibling", "Reference": "T999999" },
        "Workflow": "Nope", "ServiceLevel": "Nope", "Supplier": "NOPE"
    });
    let (status, body) = w.call(&w.admin, "POST", TASKS, Some(&everything)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Task_FieldTooLong",
            "BrokenRule_Task_MissingInitiatorName",
            "BrokenRule_Task_MissingDescription",
            "BrokenRule_Task_UnknownSite",
            "BrokenRule_Task_UnknownMatrixItemCode",
            "BrokenRule_Task_UnknownDefectSource",
            "BrokenRule_Task_UnknownWorkflow",
            "BrokenRule_Task_UnknownServiceLevel",
            "BrokenRule_Task_UnknownSupplier",
            "BrokenRule_Task_UnknownAsset",
            "BrokenRule_Task_InvalidRelateType",
            "BrokenRule_Task_UnknownRelatedTask",
        ]
    );
    let (status, body) = w.call(&w.admin, "POST", TASKS, Some(&json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Task_MissingInitiatorName",
            "BrokenRule_Task_MissingSiteCode",
            "BrokenRule_Task_MissingDescription",
            "BrokenRule_Task_MissingMatrixItemCode",
        ]
    );
    // An asset at another site; the custom fields of the category.
    let custom = json!({ "MatrixItemCode": "02-01", "Assets": [elsewhere],
        "CustomFields": [ { "Name": "Custom_Is_Leaking", "Value": "maybe" }, { "Name": "Custom_Leak_Volume", "Value": 5 },
                          { "Name": "Custom_Nope", "Value": 1 } ] });
    let (status, body) = w.raise(&w.admin, "S1", custom).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        keys(&body),
        [
            "BrokenRule_Task_UnknownCustomField",
            "BrokenRule_Task_MissingCustomField",
            "BrokenRule_Task_InvalidCustomField",
            "BrokenRule_Task_CustomFieldNotApplicable",
            "BrokenRule_Task_UnknownAsset",
        ]
    );
    // An inactive-free matrix code that is not Reactive's; a Relate to a task one cannot see.
    let (status, body) = w.raise(&w.admin, "S1", json!({ "MatrixItemCode": "1-2" })).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_UnknownMatrixItemCode"));

    // Malformed bodies: 400 naming the field, never 500; 415 without the JSON content type.
    for (text, field) in [
        (r#"{"InitiatorName": 5}"#, Some("InitiatorName:")),
        (r#"{"Assets": "abc"}"#, Some("Assets:")),
        (r#"{"IsAssetAvailable": "yes"}"#, Some("IsAssetAvailable:")),
        (r#"{"Relate": "child"}"#, Some("Relate:")),
        (r#"{"CustomFields": {"Name": "x"}}"#, Some("CustomFields:")),
        ("{ not json", None),
        ("[1, 2]", None),
        (r#"{"SiteCode": "S1"} trailing"#, None),
        ("", None),
    ] {
        let (status, body) = w.raw(&w.admin, "POST", TASKS, Some(text), true).await;
        assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Request_InvalidJson"), "{text}");
        if let Some(field) = field {
            assert!(body["Messages"][0]["Value"].as_str().unwrap().starts_with(field), "{text}: {body}");
        }
    }
    let valid = task_body("S1", json!({})).to_string();
    let (status, body) = w.raw(&w.admin, "POST", TASKS, Some(&valid), false).await;
    assert_eq!(
        (status, keys(&body)),
        refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "BrokenRule_Request_UnsupportedContentType")
    );
    let (status, body) = w.raise(&w.admin, "S1", json!({ "Assets": vec!["x"; 101] })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body)[0], "BrokenRule_Task_TooManyAssets");
    let (status, body) = w.raise(&w.admin, "S1", json!({ "Description": "nul\u{0}byte" })).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::CREATED, "{status}: {body}");
    if status == StatusCode::CREATED {
        assert_eq!(w.t.count("tasks").await, 1);
    } else {
        assert_eq!(w.t.count("tasks").await, 0);
    }
    assert_eq!(w.t.count("task_history").await, w.t.count("tasks").await);
}

async fn dispatch_rules_pick_contractor_service_level_and_start_status(t: TestDb) {
    let w = World::new(t).await;
    w.site("R", None, Some("01-01"), Some("01-01")).await;
    w.site("Ra", Some("R"), None, None).await;
    w.site("X", None, Some("02"), Some("02")).await;
    w.site("Z", None, None, Some("01-01")).await;
    w.site("W", None, None, None).await;
    for code in ["SITEFIX", "CHILLFIX", "AREAFIX", "CHANFIX", "FUELFIX"] {
        w.contractor(code, code, None).await;
    }
    workflows::add_service_level(
        &w.app,
        &w.a.operator.authorize::<can::ConfigurationWrite>().unwrap(),
        "Swift",
        30,
        90,
    )
    .await
    .unwrap();
    let rule = |site: Option<&str>,
                area: Option<&str>,
                channel: Option<&str>,
                matrix: Option<&str>,
                supplier: &str,
                level: &str| {
        RuleInput {
            site_code: site.map(String::from),
            geographic_area: area.map(String::from),
            site_channel: channel.map(String::from),
            matrix_code: matrix.map(String::from),
            supplier: Some(supplier.into()),
            service_level: Some(level.into()),
            ..RuleInput::default()
        }
    };
    w.rule(rule(Some("R"), None, None, None, "SITEFIX", "Emergency")).await;
    w.rule(rule(Some("Ra"), None, None, Some("03"), "CHILLFIX", "Swift")).await;
    w.rule(rule(None, Some("02"), None, None, "AREAFIX", "Urgent")).await;
    w.rule(rule(None, None, Some("01"), None, "CHANFIX", "Routine")).await;
    let mut by_category = rule(None, None, None, Some("02"), "FUELFIX", "Swift");
    by_category.chargeability = Some("Chargeable".into());
    w.rule(by_category).await;

    let levels = [("Emergency", 60, 240), ("Swift", 30, 90), ("Urgent", 240, 1440), ("Routine", 4320, 14400)];
    for (site, matrix, supplier, level) in [
        ("R", "01-01", "SITEFIX", "Emergency"),  // the site's own rule
        ("Ra", "01-01", "SITEFIX", "Emergency"), // the parent site's rule
        ("Ra", "03-01", "CHILLFIX", "Swift"),    // the site itself beats its parent
        ("X", "01-01", "AREAFIX", "Urgent"),     // the geographic area
        ("X", "02-01", "AREAFIX", "Urgent"),     // the place counts before the category
        ("Z", "01-01", "CHANFIX", "Routine"),    // the site channel (01 covers 01-01)
        ("W", "02-02-01", "FUELFIX", "Swift"),   // the category (02 covers 02-02-01)
    ] {
        w.t.clock.advance_seconds(60);
        let now = w.now();
        let mut extra = json!({ "MatrixItemCode": matrix });
        if matrix.starts_with("02") {
            extra["CustomFields"] =
                json!([{ "Name": "Custom_Pump_Number", "Value": 1 }, { "Name": "Custom_Is_Leaking", "Value": false }]);
        }
        let (status, task) = w.raise(&w.admin, site, extra).await;
        assert_eq!(status, StatusCode::CREATED, "{site} {matrix}: {task}");
        let (_, respond, complete) = levels.iter().find(|l| l.0 == level).copied().unwrap();
        assert_eq!(
            (
                task["Supplier"].as_str(),
                task["ServiceLevel"].as_str(),
                task["Status"].as_str(),
                task["StatusType"].as_str()
            ),
            (Some(supplier), Some(level), Some("Dispatched"), Some("Open")),
            "{site} {matrix}"
        );
        assert_eq!(task["RespondByUtc"], minutes_after(now, respond).as_str(), "{site} {matrix}");
        assert_eq!(task["CompleteByUtc"], minutes_after(now, complete).as_str(), "{site} {matrix}");
        if supplier == "FUELFIX" {
            assert_eq!(task["Chargeability"], "Chargeable");
        }
        let (_, read) = w.get(&w.admin, &format!("{TASKS}/{}", task["Reference"].as_str().unwrap())).await;
        assert_eq!(events(&read), ["Created", "Dispatched"]);
        assert!(read["History"][1]["Detail"].as_str().unwrap().starts_with("Dispatched by dispatch rule"), "{read}");
    }
    // No rule fits: Logged, no contractor, no due dates.
    let (status, task) = w.raise(&w.admin, "W", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((task["Status"].as_str(), task["StatusType"].as_str()), (Some("Logged"), Some("New")));
    assert_eq!((task["Supplier"].clone(), task["RespondByUtc"].clone()), (Value::Null, Value::Null));
    let (_, read) = w.get(&w.admin, &format!("{TASKS}/{}", task["Reference"].as_str().unwrap())).await;
    assert_eq!(events(&read), ["Created"]);
    // What the request names beats the rule.
    let (status, task) = w.raise(&w.admin, "R", json!({ "Supplier": "CHANFIX" })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((task["Supplier"].as_str(), task["ServiceLevel"].as_str()), (Some("CHANFIX"), Some("Emergency")));
}

async fn dispatching_by_hand_and_contractor_trees(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Parent Co", "P", None).await;
    w.contractor("Child Co", "C", Some("P")).await;
    w.contractor("Unrelated Co", "U", None).await;
    caretaker_app::role_packages::create_custom(
        &w.app,
        &w.a.operator.authorize::<can::RolePackagesWrite>().unwrap(),
        "Contractor Dispatcher",
        "",
        &["tasks.dispatch".into()],
    )
    .await
    .unwrap();
    let p_user = w
        .user("p@urgent.example", "Contractor", Some("P"), &["Contractor User", "Contractor Dispatcher"], "none")
        .await;
    let c_user = w
        .user("c@urgent.example", "Contractor", Some("C"), &["Contractor User", "Contractor Dispatcher"], "none")
        .await;
    let c_plain = w.user("c.plain@urgent.example", "Contractor", Some("C"), &["Contractor User"], "none").await;
    w.package("Raiser", &["tasks.read", "tasks.create", "tasks.update"]).await;
    let site_user = w.user("raiser@urgent.example", "Management", None, &["Raiser"], "S1").await;

    // Management: Logged -> Dispatched, with a service level's due dates from now.
    let logged = w.raised(&w.admin, "S1", json!({})).await;
    w.t.clock.advance_seconds(600);
    let path = format!("{TASKS}/{logged}/dispatch");
    let (status, task) =
        w.call(&w.admin, "PUT", &path, Some(&json!({ "Supplier": "p", "ServiceLevel": "Emergency" }))).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["Messages"], Value::Null);
    assert_eq!((task["Status"].as_str(), task["Supplier"].as_str()), (Some("Dispatched"), Some("P")));
    assert_eq!(task["RespondByUtc"], minutes_after(w.now(), 60).as_str());
    assert_eq!(task["Version"], 2);
    assert_eq!(events(&task), ["Created", "Dispatched"]);
    assert_eq!(task["History"][1]["Detail"], "Dispatched to P with service level Emergency");

    // Refusals change nothing.
    let before = w.snapshot(&logged).await;
    for (api, body, expected) in [
        (&w.admin, json!({}), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_MissingSupplier")),
        (&w.admin, json!({ "Supplier": "NOPE" }), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_UnknownSupplier")),
        (
            &w.admin,
            json!({ "Supplier": "P", "ServiceLevel": "Never" }),
            refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_UnknownServiceLevel"),
        ),
        (
            &c_plain,
            json!({ "Supplier": "C" }),
            refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission"),
        ),
        (
            &site_user,
            json!({ "Supplier": "C" }),
            refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission"),
        ),
        // The child contractor cannot take over its parent's task, nor see it.
        (&c_user, json!({ "Supplier": "C" }), refused(StatusCode::NOT_FOUND, "BrokenRule_Request_NotFound")),
        // The parent's user cannot hand its task to an unrelated contractor.
        (&p_user, json!({ "Supplier": "U" }), refused(StatusCode::FORBIDDEN, "BrokenRule_Task_DispatchNotAllowed")),
    ] {
        let (status, body) = w.call(api, "PUT", &path, Some(&body)).await;
        assert_eq!((status, keys(&body)), expected);
    }
    assert_eq!(w.snapshot(&logged).await, before);

    // The parent's user re-dispatches to its child; the task stays Dispatched.
    let (status, task) = w.call(&p_user, "PUT", &path, Some(&json!({ "Supplier": "C" }))).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!((task["Status"].as_str(), task["Supplier"].as_str()), (Some("Dispatched"), Some("C")));
    assert_eq!(task["ServiceLevel"], "Emergency", "kept when none is sent");
    assert_eq!(
        task["History"][2],
        json!({"OccurredAtUtc": w.now().to_rfc3339(), "Event": "Dispatched", "Actor": "p",
        "FromStatus": null, "ToStatus": null, "StatusChangeDateTimeUtc": null, "Detail": "Dispatched to C"})
    );
    // The child's user may not push it up to the parent or across to an unrelated one.
    let before = w.snapshot(&logged).await;
    for supplier in ["P", "U"] {
        let (status, body) = w.call(&c_user, "PUT", &path, Some(&json!({ "Supplier": supplier }))).await;
        assert_eq!(
            (status, keys(&body)),
            refused(StatusCode::FORBIDDEN, "BrokenRule_Task_DispatchNotAllowed"),
            "{supplier}"
        );
    }
    assert_eq!(w.snapshot(&logged).await, before);
    // ... but may keep it (C is within C); the parent may take it back.
    assert_eq!(w.call(&c_user, "PUT", &path, Some(&json!({ "Supplier": "C" }))).await.0, StatusCode::OK);
    let (status, task) = w.call(&p_user, "PUT", &path, Some(&json!({ "Supplier": "P" }))).await;
    assert_eq!((status, task["Supplier"].as_str()), (StatusCode::OK, Some("P")));

    // A task of an unrelated contractor is invisible to P's user: 404, not 403.
    let other = w.raised(&w.admin, "S1", json!({ "Supplier": "U" })).await;
    let before = w.snapshot(&other).await;
    let (status, body) =
        w.call(&p_user, "PUT", &format!("{TASKS}/{other}/dispatch"), Some(&json!({ "Supplier": "P" }))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::NOT_FOUND, "BrokenRule_Request_NotFound"));
    assert_eq!(w.snapshot(&other).await, before);

    // A Rejected task goes back to Dispatched when re-dispatched; a finished one cannot be.
    w.set_status(&other, "Rejected").await;
    let (status, task) =
        w.call(&w.admin, "PUT", &format!("{TASKS}/{other}/dispatch"), Some(&json!({ "Supplier": "C" }))).await;
    assert_eq!(
        (status, task["Status"].as_str(), task["Supplier"].as_str()),
        (StatusCode::OK, Some("Dispatched"), Some("C"))
    );
    assert_eq!(task["History"].as_array().unwrap().last().unwrap()["FromStatus"], "Rejected");
    w.set_status(&other, "Cancelled").await;
    let before = w.snapshot(&other).await;
    let (status, body) =
        w.call(&w.admin, "PUT", &format!("{TASKS}/{other}/dispatch"), Some(&json!({ "Supplier": "P" }))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_Finished"));
    assert_eq!(w.snapshot(&other).await, before);
}

async fn status_changes_follow_the_workflow(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    let raised_at = w.now();
    let task = w.raised(&w.admin, "S1", json!({ "Supplier": "FIXERS" })).await;
    let path = format!("{TASKS}/{task}/status");
    w.t.clock.advance_seconds(7200);
    let put = |body: Value| {
        let path = path.clone();
        let w = &w;
        async move { w.call(&w.admin, "PUT", &path, Some(&body)).await }
    };

    let before = w.snapshot(&task).await;
    for (body, expected) in [
        (json!({ "Status": "Closed" }), vec!["BrokenRule_Task_InvalidStatusChange"]),
        (json!({ "Status": "Flying" }), vec!["BrokenRule_Task_UnknownStatus"]),
        (json!({}), vec!["BrokenRule_Task_MissingStatus"]),
        (
            json!({ "Status": "Accepted", "StatusChangeDateTimeUtc": minutes_after(raised_at, 10) }),
            vec!["BrokenRule_Task_ManualDateNotAllowed"],
        ),
        (
            json!({ "Status": "Accepted", "ResolutionCauseCode": "01" }),
            vec!["BrokenRule_Task_ResolutionCauseNotAllowed"],
        ),
        (json!({ "Status": "Accepted", "Note": "n".repeat(4001) }), vec!["BrokenRule_Task_FieldTooLong"]),
        (json!({ "Status": "Accepted", "Version": 7 }), vec!["BrokenRule_Task_Changed"]),
    ] {
        let (status, answer) = put(body.clone()).await;
        let want =
            if expected[0] == "BrokenRule_Task_Changed" { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
        assert_eq!((status, keys(&answer)), (want, expected.iter().map(|k| String::from(*k)).collect()), "{body}");
    }
    let (status, answer) = w.raw(&w.admin, "PUT", &path, Some(r#"{"Status": 3}"#), true).await;
    assert_eq!((status, keys(&answer)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Request_InvalidJson"));
    let (status, _) = w.raw(&w.admin, "PUT", &path, Some(r#"{"Status": "Accepted"}"#), false).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(w.snapshot(&task).await, before, "refusals changed nothing");

    let (status, accepted) = put(json!({ "Status": "accepted", "Version": 1, "Note": "On our way" })).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["Messages"], Value::Null);
    assert_eq!((accepted["Status"].as_str(), accepted["Version"].as_i64()), (Some("Accepted"), Some(2)));
    assert_eq!(names(&accepted["NextStatuses"]), ["Cancelled", "On Site"]);
    assert_eq!(accepted["Notes"][0]["Text"], "On our way");
    // The same Version again is stale now.
    let (status, stale) = put(json!({ "Status": "On Site", "Version": 1 })).await;
    assert_eq!((status, keys(&stale)), refused(StatusCode::CONFLICT, "BrokenRule_Task_Changed"));

    // Manual dates: not in the future (beyond the skew), not before the task was raised.
    for date in
        [w.now().plus_seconds(3600).to_rfc3339(), raised_at.plus_seconds(-60).to_rfc3339(), String::from("yesterday")]
    {
        let (status, body) = put(json!({ "Status": "On Site", "StatusChangeDateTimeUtc": date })).await;
        assert_eq!(
            (status, keys(&body)),
            refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_InvalidStatusChangeDate"),
            "{date}"
        );
    }
    let on_site_at = minutes_after(raised_at, 90);
    let (status, on_site) = put(json!({ "Status": "On Site", "StatusChangeDateTimeUtc": on_site_at })).await;
    assert_eq!(status, StatusCode::OK, "{on_site}");
    assert_eq!(on_site["History"].as_array().unwrap().last().unwrap()["StatusChangeDateTimeUtc"], on_site_at.as_str());

    // Completed needs both resolution codes, and real ones.
    let before = w.snapshot(&task).await;
    let (status, body) = put(json!({ "Status": "Completed" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["BrokenRule_Task_MissingResolutionCause", "BrokenRule_Task_MissingResolutionRemedy"]);
    let (status, body) =
        put(json!({ "Status": "Completed", "ResolutionCauseCode": "99", "ResolutionRemedyCode": "98" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&body), ["BrokenRule_Task_UnknownResolutionCause", "BrokenRule_Task_UnknownResolutionRemedy"]);
    let (status, body) = put(json!({ "Status": "Completed", "ResolutionCauseCode": "01" })).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_MissingResolutionRemedy"));
    assert_eq!(w.snapshot(&task).await, before);
    let (status, done) =
        put(json!({ "Status": "Completed", "ResolutionCauseCode": "01", "ResolutionRemedyCode": "02" })).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["History"].as_array().unwrap().last().unwrap()["Detail"], "cause 01; remedy 02");
    // Back to On Site is allowed from Completed; then forward again and Closed.
    assert_eq!(put(json!({ "Status": "On Site" })).await.0, StatusCode::OK);
    assert_eq!(
        put(json!({ "Status": "Completed", "ResolutionCauseCode": "03", "ResolutionRemedyCode": "03" })).await.0,
        StatusCode::OK
    );
    let (status, closed) = put(json!({ "Status": "Closed" })).await;
    assert_eq!((status, closed["StatusType"].as_str()), (StatusCode::OK, Some("Closed")));
    assert_eq!(closed["NextStatuses"], json!([]));
    let (status, body) = put(json!({ "Status": "On Site" })).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_InvalidStatusChange"));
    assert!(body["Messages"][0]["Value"].as_str().unwrap().contains("cannot change status"));

    let (_, read) = w.get(&w.admin, &format!("{TASKS}/{task}")).await;
    let moves: Vec<(String, String)> = read["History"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["Event"] == "StatusChanged")
        .map(|h| (h["FromStatus"].as_str().unwrap().to_owned(), h["ToStatus"].as_str().unwrap().to_owned()))
        .collect();
    let pairs = [
        ("Dispatched", "Accepted"),
        ("Accepted", "On Site"),
        ("On Site", "Completed"),
        ("Completed", "On Site"),
        ("On Site", "Completed"),
        ("Completed", "Closed"),
    ];
    assert_eq!(moves, pairs.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(read["Version"], 7);

    // An undispatched task cannot open.
    let logged = w.raised(&w.admin, "S1", json!({})).await;
    let (status, body) =
        w.call(&w.admin, "PUT", &format!("{TASKS}/{logged}/status"), Some(&json!({ "Status": "Dispatched" }))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_NotDispatched"));
    let (status, body) =
        w.call(&w.admin, "PUT", &format!("{TASKS}/{logged}/status"), Some(&json!({ "Status": "Cancelled" }))).await;
    assert_eq!((status, body["StatusType"].as_str()), (StatusCode::OK, Some("Cancelled")));
    // Unknown and malformed references read as not found.
    for reference in ["T999999", "nonsense", "T0"] {
        let (status, body) =
            w.call(&w.admin, "PUT", &format!("{TASKS}/{reference}/status"), Some(&json!({ "Status": "Closed" }))).await;
        assert_eq!((status, keys(&body)), refused(StatusCode::NOT_FOUND, "BrokenRule_Request_NotFound"), "{reference}");
    }
}

async fn concurrent_status_changes_one_wins_and_nothing_is_lost(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    let w = Arc::new(w);
    for round in 0..6 {
        let task = w.raised(&w.admin, "S1", json!({ "Supplier": "FIXERS" })).await;
        // Even rounds name the Version they read; odd rounds do not.
        let with_version = round % 2 == 0;
        let mut racers = Vec::new();
        for target in ["Accepted", "Rejected"] {
            let (w, task) = (w.clone(), task.clone());
            racers.push(tokio::spawn(async move {
                let mut body = json!({ "Status": target, "Note": format!("to {target}") });
                if with_version {
                    body["Version"] = json!(1);
                }
                let admin = w.admin.clone();
                let (status, answer) = w.call(&admin, "PUT", &format!("{TASKS}/{task}/status"), Some(&body)).await;
                (target, status, answer)
            }));
        }
        let mut results = Vec::new();
        for racer in racers {
            results.push(racer.await.unwrap());
        }
        let winners: Vec<&str> = results.iter().filter(|r| r.1 == StatusCode::OK).map(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find(|r| r.1 != StatusCode::OK).unwrap();
        if with_version {
            assert_eq!(
                (loser.1, keys(&loser.2)),
                refused(StatusCode::CONFLICT, "BrokenRule_Task_Changed"),
                "round {round}"
            );
        } else {
            // Without a Version the loser either lost the race on the row (409) or read the
            // winner's status, from which its target is no move (400).
            let got = (loser.1, keys(&loser.2));
            assert!(
                got == refused(StatusCode::CONFLICT, "BrokenRule_Task_Changed")
                    || got == refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_InvalidStatusChange"),
                "round {round}: {got:?}"
            );
        }
        let stored = w.stored(&task).await;
        assert_eq!((stored.status.as_str(), stored.version), (winners[0], 2), "round {round}");
        let id = stored.id;
        assert_eq!(w.t.count(&format!("task_history WHERE task_id = {id} AND event = 'status'")).await, 1);
        assert_eq!(w.t.count(&format!("task_notes WHERE task_id = {id}")).await, 1, "the loser's note was not kept");
        let (_, read) = w.get(&w.admin, &format!("{TASKS}/{task}")).await;
        assert_eq!(read["Notes"][0]["Text"], format!("to {}", winners[0]));
    }

    // Notes written while a status changes are all kept (they do not need a Version).
    let task = w.raised(&w.admin, "S1", json!({ "Supplier": "FIXERS" })).await;
    let mut racers = Vec::new();
    for i in 0..6 {
        let (w, task) = (w.clone(), task.clone());
        racers.push(tokio::spawn(async move {
            let admin = w.admin.clone();
            if i == 0 {
                w.call(&admin, "PUT", &format!("{TASKS}/{task}/status"), Some(&json!({ "Status": "Accepted" }))).await.0
            } else {
                w.call(&admin, "POST", &format!("{TASKS}/{task}/notes"), Some(&json!({ "Text": format!("note {i}") })))
                    .await
                    .0
            }
        }));
    }
    for (i, racer) in racers.into_iter().enumerate() {
        let expected = if i == 0 { StatusCode::OK } else { StatusCode::CREATED };
        assert_eq!(racer.await.unwrap(), expected);
    }
    let stored = w.stored(&task).await;
    assert_eq!((stored.status.as_str(), stored.version), ("Accepted", 7));
    assert_eq!(w.t.count(&format!("task_notes WHERE task_id = {}", stored.id)).await, 5);
    assert_eq!(w.t.count(&format!("task_history WHERE task_id = {}", stored.id)).await, 2 + 1 + 5);
}

async fn notes_chases_and_history_in_order(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    let fixer = w.user("fixer@urgent.example", "Contractor", Some("FIXERS"), &["Contractor User"], "none").await;
    let logged = w.raised(&w.admin, "S1", json!({})).await;
    let task = w.raised(&w.admin, "S1", json!({ "Supplier": "FIXERS" })).await;
    let notes = format!("{TASKS}/{task}/notes");
    let chase = format!("{TASKS}/{task}/chase");

    let before = w.snapshot(&task).await;
    for (body, expected) in [
        (json!({ "Text": "" }), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_MissingText")),
        (json!({ "Text": "   " }), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_MissingText")),
        (json!({}), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_MissingText")),
        (json!({ "Text": "x".repeat(4001) }), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_FieldTooLong")),
        (json!({ "Text": 12 }), refused(StatusCode::BAD_REQUEST, "BrokenRule_Request_InvalidJson")),
    ] {
        let (status, body) = w.call(&w.admin, "POST", &notes, Some(&body)).await;
        assert_eq!((status, keys(&body)), expected);
    }
    let (status, _) = w.raw(&w.admin, "POST", &notes, Some(r#"{"Text": "x"}"#), false).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Chasing: not an undispatched task, not by a Contractor user.
    let (status, body) = w.call(&w.admin, "POST", &format!("{TASKS}/{logged}/chase"), None).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_NotDispatched"));
    let (status, body) = w.call(&fixer, "POST", &chase, Some(&json!({ "Text": "hurry" }))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::FORBIDDEN, "BrokenRule_Task_ChaseNotAllowed"));
    let (status, body) = w.call(&w.admin, "POST", &chase, Some(&json!({ "Text": "x".repeat(4001) }))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_FieldTooLong"));
    assert_eq!(w.snapshot(&task).await, before);
    assert_eq!(w.t.count("task_notes").await, 0);

    w.t.clock.advance_seconds(60);
    let longest = "é".repeat(4000);
    let (status, note) = w.call(&w.admin, "POST", &notes, Some(&json!({ "Text": longest }))).await;
    assert_eq!(status, StatusCode::CREATED, "4,000 characters (not bytes) fit");
    assert_eq!(note["Text"].as_str().unwrap().chars().count(), 4000);
    assert_eq!((note["Kind"].as_str(), note["Author"].as_str()), (Some("Note"), Some("integration")));
    assert_eq!(note["CreatedAtUtc"], w.now().to_rfc3339().as_str());
    assert_eq!(note["Messages"], Value::Null);
    w.t.clock.advance_seconds(60);
    let (status, note) = w.call(&fixer, "POST", &notes, Some(&json!({ "Note": "Parts ordered" }))).await;
    assert_eq!((status, note["Author"].as_str()), (StatusCode::CREATED, Some("fixer")), "{note}");
    w.t.clock.advance_seconds(60);
    let (status, chased) = w.call(&w.admin, "POST", &chase, None).await;
    assert_eq!(
        (status, chased["Kind"].as_str(), chased["Text"].as_str()),
        (StatusCode::CREATED, Some("Chase"), Some("Chased"))
    );
    let (status, chased) = w.call(&w.admin, "POST", &chase, Some(&json!({ "Text": "Any news?" }))).await;
    assert_eq!((status, chased["Text"].as_str()), (StatusCode::CREATED, Some("Any news?")));
    w.set_status(&task, "Accepted").await;
    w.set_status(&task, "Cancelled").await;
    let before = w.snapshot(&task).await;
    let (status, body) = w.call(&w.admin, "POST", &chase, None).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_Finished"));
    assert_eq!(w.snapshot(&task).await, before);
    // Notes are still welcome on a finished task.
    assert_eq!(
        w.call(&w.admin, "POST", &notes, Some(&json!({ "Text": "Closing remark" }))).await.0,
        StatusCode::CREATED
    );

    let (_, read) = w.get(&w.admin, &format!("{TASKS}/{task}")).await;
    assert_eq!(
        events(&read),
        [
            "Created",
            "Dispatched",
            "NoteAdded",
            "NoteAdded",
            "Chased",
            "Chased",
            "StatusChanged",
            "StatusChanged",
            "NoteAdded"
        ]
    );
    let kinds: Vec<(&str, &str)> = read["Notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["Kind"].as_str().unwrap(), n["Author"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Note", "integration"),
            ("Note", "fixer"),
            ("Chase", "integration"),
            ("Chase", "integration"),
            ("Note", "integration")
        ]
    );
    let times: Vec<&str> =
        read["History"].as_array().unwrap().iter().map(|h| h["OccurredAtUtc"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
    assert_eq!(read["Version"], 8);
}

async fn list_filters_limits_and_the_keyset_walk(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.site("S2", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    w.contractor("Menders", "MENDERS", None).await;
    let mut made = Vec::new();
    let mut times = Vec::new();
    for (site, supplier, external) in [
        ("S1", Some("FIXERS"), Some("E-1")),
        ("S1", None, None),
        ("S2", Some("MENDERS"), None),
        ("S2", Some("FIXERS"), Some("E-4")),
        ("S1", Some("MENDERS"), None),
        ("S2", None, None),
        ("S1", Some("FIXERS"), None),
    ] {
        w.t.clock.advance_seconds(60);
        times.push(w.now());
        made.push(w.raised(&w.admin, site, json!({ "Supplier": supplier, "ExternalIdentifier": external })).await);
    }
    w.t.clock.advance_seconds(60);
    w.set_status(&made[6], "Accepted").await;
    let list = |query: String| {
        let w = &w;
        async move {
            let (status, page) = w.get(&w.admin, &format!("{TASKS}{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            page["Items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["Reference"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let r = |indexes: &[usize]| indexes.iter().map(|i| made[*i].clone()).collect::<Vec<_>>();
    // Newest change first.
    assert_eq!(list(String::new()).await, r(&[6, 5, 4, 3, 2, 1, 0]));
    assert_eq!(list("?Status=logged".into()).await, r(&[5, 1]));
    assert_eq!(list("?Status=Accepted".into()).await, r(&[6]));
    assert_eq!(list("?StatusType=Open".into()).await, r(&[6, 4, 3, 2, 0]));
    assert_eq!(list("?StatusType=New".into()).await, r(&[5, 1]));
    assert_eq!(list("?SiteCode=s2".into()).await, r(&[5, 3, 2]));
    assert_eq!(list("?Supplier=fixers".into()).await, r(&[6, 3, 0]));
    assert_eq!(list("?Supplier=FIXERS&SiteCode=S2".into()).await, r(&[3]));
    assert_eq!(list(format!("?UpdatedSince={}", times[4].to_rfc3339())).await, r(&[6, 5, 4]));
    assert_eq!(list("?ExternalIdentifier=E-4".into()).await, r(&[3]));
    assert_eq!(list("?Supplier=NOBODY".into()).await, Vec::<String>::new());
    for query in [
        "?Limit=0",
        "?Limit=201",
        "?Limit=-1",
        "?Limit=many",
        "?Cursor=garbage",
        "?Cursor=t1.1.2.3.4",
        "?StatusType=Pending",
        "?UpdatedSince=yesterday",
    ] {
        let (status, body) = w.get(&w.admin, &format!("{TASKS}{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(keys(&body)[0].starts_with("BrokenRule_"), "{body}");
    }
    let (status, page) = w.get(&w.admin, &format!("{TASKS}?Limit=200")).await;
    assert_eq!((status, page["Items"].as_array().unwrap().len()), (StatusCode::OK, 7));
    assert_eq!(page["NextCursor"], Value::Null);

    // A walk with Limit=2 visits every task once; one changed during the walk (not yet
    // visited) comes in the catch-up tail, with its new version.
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut path = format!("{TASKS}?Limit=2");
    let mut pages = 0;
    loop {
        let (status, page) = w.get(&w.admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["Items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items.iter().map(|i| (i["Reference"].as_str().unwrap().to_owned(), i["Version"].as_i64().unwrap())),
        );
        pages += 1;
        if pages == 1 {
            // Change the oldest task (last in the walk's order), then move on.
            w.t.clock.advance_seconds(60);
            let (status, _) = w
                .call(&w.admin, "POST", &format!("{TASKS}/{}/notes", made[0]), Some(&json!({ "Text": "meanwhile" })))
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        match page["NextCursor"].as_str() {
            Some(cursor) => path = format!("{TASKS}?Limit=2&Cursor={cursor}"),
            None => break,
        }
        assert!(pages < 20, "the walk must end");
    }
    let references: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
    let expected: Vec<String> = r(&[6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(references, expected, "each once, the changed one last");
    assert_eq!(seen.last().unwrap().1, 2, "the changed task as it is now");
}

/// A Contractor user's pages: the tasks of its contractor and every contractor below it and
/// the tasks it raised, each once, newest change first, with filters and the cursor, through
/// the per-contractor index ranges and (a tree of more than 16) the row-by-row filter alike.
async fn contractor_pages_merge_the_tree_and_the_users_own_tasks(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.site("S2", None, None, None).await;
    w.contractor("Parent Co", "P", None).await;
    w.contractor("Child Co", "C", Some("P")).await;
    w.contractor("Grandchild Co", "G", Some("C")).await;
    w.contractor("Unrelated Co", "U", None).await;
    w.package("Contractor Raiser", &["tasks.create"]).await;
    let cp =
        w.user("cp@urgent.example", "Contractor", Some("P"), &["Contractor User", "Contractor Raiser"], "none").await;
    let cc = w.user("cc@urgent.example", "Contractor", Some("C"), &["Contractor User"], "none").await;
    // 600 older tasks of the unrelated contractor, so that P's tasks are few among the latest
    // changes: its pages then merge one index range per contractor (with 18 contractors
    // below, further down, they filter the tenant's changes row by row).
    let template = w.raised(&w.admin, "S1", json!({ "Supplier": "U" })).await;
    let mut tx = w.t.db.begin().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
         INSERT INTO tasks (tenant_id, reference, created_by, external_identifier, request_hash, initiator_name,
            site_id, description, defect_source, matrix_code, chargeability, workflow_id, status_id,
            contractor_id, service_level_id, respond_by, complete_by, is_asset_available, assets,
            custom_fields, relation, related_task_id, created_at, updated_at, version)
         SELECT tenant_id, 'OLD' || i, created_by, NULL, NULL, initiator_name, site_id, description, defect_source,
            matrix_code, chargeability, workflow_id, status_id, contractor_id, service_level_id, respond_by,
            complete_by, is_asset_available, assets, custom_fields, relation, related_task_id, i, i, 1
         FROM tasks, n WHERE reference = $1",
    )
    .bind(&template)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // (who raises, site, supplier): 0-8 by the administrator, 9-11 by P's user.
    let mut made = Vec::new();
    for (by_cp, site, supplier) in [
        (false, "S1", Some("P")),
        (false, "S2", Some("U")),
        (false, "S1", Some("G")),
        (false, "S2", None),
        (false, "S2", Some("C")),
        (false, "S1", Some("U")),
        (false, "S2", Some("P")),
        (false, "S1", Some("G")),
        (false, "S2", Some("C")),
        (true, "S1", None),
        (true, "S2", None),
        (true, "S1", None),
    ] {
        w.t.clock.advance_seconds(60);
        let api = if by_cp { &cp } else { &w.admin };
        made.push(w.raised(api, site, json!({ "Supplier": supplier })).await);
    }
    // P's user's own tasks: one dispatched into its tree (two ranges hold it), one outside.
    for (index, supplier) in [(9, "P"), (10, "U")] {
        w.t.clock.advance_seconds(60);
        let path = format!("{TASKS}/{}/dispatch", made[index]);
        let (status, body) = w.call(&w.admin, "PUT", &path, Some(&json!({ "Supplier": supplier }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let r = |indexes: &[usize]| indexes.iter().map(|i| made[*i].clone()).collect::<Vec<_>>();
    let walk = |api: Api, query: &'static str, limit: usize| {
        let w = &w;
        async move {
            let mut seen = Vec::new();
            let mut path = format!("{TASKS}?Limit={limit}{query}");
            for _ in 0..20 {
                let (status, page) = w.get(&api, &path).await;
                assert_eq!(status, StatusCode::OK, "{path}: {page}");
                let items = page["Items"].as_array().unwrap();
                assert!(items.len() <= limit);
                seen.extend(items.iter().map(|i| i["Reference"].as_str().unwrap().to_owned()));
                match page["NextCursor"].as_str() {
                    Some(cursor) => path = format!("{TASKS}?Limit={limit}{query}&Cursor={cursor}"),
                    None => return seen,
                }
            }
            panic!("the walk must end: {seen:?}");
        }
    };
    let everything_of_p = r(&[10, 9, 11, 8, 7, 6, 4, 2, 0]);
    for round in ["three contractors", "eighteen contractors"] {
        for limit in [1, 2, 3, 50] {
            assert_eq!(walk(cp.clone(), "", limit).await, everything_of_p, "{round}, Limit={limit}");
        }
        assert_eq!(walk(cp.clone(), "&SiteCode=s1", 2).await, r(&[9, 11, 7, 2, 0]), "{round}");
        assert_eq!(walk(cp.clone(), "&Supplier=g", 1).await, r(&[7, 2]), "{round}");
        assert_eq!(walk(cp.clone(), "&Supplier=U", 1).await, r(&[10]), "{round}");
        assert_eq!(walk(cp.clone(), "&Status=Logged", 2).await, r(&[11]), "{round}");
        assert_eq!(walk(cp.clone(), "&StatusType=Open&SiteCode=S2", 2).await, r(&[10, 8, 6, 4]), "{round}");
        // The child's user sees its own subtree only.
        assert_eq!(walk(cc.clone(), "", 2).await, r(&[8, 7, 4, 2]), "{round}");
        if round == "three contractors" {
            // Fifteen more contractors below C: the tree is now too large for one range each.
            for n in 0..15 {
                w.contractor(&format!("Sub {n}"), &format!("SUB{n}"), Some("C")).await;
            }
        }
    }
    // A change during a walk brings the task back in the catch-up tail, once.
    let mut seen = Vec::new();
    let mut path = format!("{TASKS}?Limit=2");
    for page_number in 0.. {
        let (status, page) = w.get(&cp, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(page["Items"].as_array().unwrap().iter().map(|i| i["Reference"].as_str().unwrap().to_owned()));
        if page_number == 0 {
            w.t.clock.advance_seconds(60);
            w.set_status(&made[0], "Accepted").await;
        }
        match page["NextCursor"].as_str() {
            Some(cursor) => path = format!("{TASKS}?Limit=2&Cursor={cursor}"),
            None => break,
        }
        assert!(page_number < 20, "the walk must end");
    }
    assert_eq!(seen, r(&[10, 9, 11, 8, 7, 6, 4, 2, 0]));
}

/// Who sees what: every user against every task, for every operation.
async fn isolation_matrix(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, Some("01-01"), Some("01-01")).await;
    w.site("S1a", Some("S1"), None, None).await;
    w.site("S2", None, Some("02"), Some("02")).await;
    w.site("S3", None, Some("01-02"), Some("02")).await;
    w.contractor("Parent Co", "P", None).await;
    w.contractor("Child Co", "C", Some("P")).await;
    w.contractor("Unrelated Co", "U", None).await;
    caretaker_app::role_packages::create_custom(
        &w.app,
        &w.a.operator.authorize::<can::RolePackagesWrite>().unwrap(),
        "Contractor Raiser",
        "",
        &["tasks.create".into(), "tasks.dispatch".into()],
    )
    .await
    .unwrap();
    let other = tenant(&w.app, "Other", "admin@other.example").await;
    let b = user_in(&w.app, &other.operator, "b@other.example", "Management", None, &["Management User"], "all").await;

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Management,
        Site,
        Contractor,
        OtherTenant,
    }
    let rest = |api: Api| Who::Rest(api);
    let users: Vec<(&str, Kind, Who)> = vec![
        ("all", Kind::Management, rest(w.admin.clone())),
        (
            "s1",
            Kind::Management,
            rest(w.user("s1@urgent.example", "Management", None, &["Management User"], "S1").await),
        ),
        (
            "area01",
            Kind::Management,
            rest(w.user("area@urgent.example", "Management", None, &["Management User"], "area:01").await),
        ),
        (
            "chan02",
            Kind::Management,
            rest(w.user("chan@urgent.example", "Management", None, &["Management User"], "channel:02").await),
        ),
        ("site2", Kind::Site, Who::App(site_user(&w, "site2@urgent.example", "S2").await)),
        (
            "cp",
            Kind::Contractor,
            rest(
                w.user("cp@urgent.example", "Contractor", Some("P"), &["Contractor User", "Contractor Raiser"], "none")
                    .await,
            ),
        ),
        (
            "cc",
            Kind::Contractor,
            rest(w.user("cc@urgent.example", "Contractor", Some("C"), &["Contractor User"], "none").await),
        ),
        (
            "cu",
            Kind::Contractor,
            rest(w.user("cu@urgent.example", "Contractor", Some("U"), &["Contractor User"], "none").await),
        ),
        ("b", Kind::OtherTenant, rest(b.clone())),
    ];
    let api = |name: &str| match &users.iter().find(|u| u.0 == name).unwrap().2 {
        Who::Rest(api) => api.clone(),
        Who::App(_) => unreachable!(),
    };
    let t1 = w.raised(&w.admin, "S1", json!({ "Supplier": "C" })).await;
    let t2 = w.raised(&w.admin, "S1a", json!({ "Supplier": "U" })).await;
    let t3 = w.raised(&w.admin, "S2", json!({})).await;
    let t4 = w.raised(&w.admin, "S2", json!({ "Supplier": "P" })).await;
    let t5 = w.raised(&w.admin, "S3", json!({ "Supplier": "C" })).await;
    // Raised by P's user: theirs to see although nobody dispatched it to them.
    let t6 = w.raised(&api("cp"), "S3", json!({})).await;
    let tasks = [t1.clone(), t2.clone(), t3.clone(), t4.clone(), t5.clone(), t6.clone()];
    let visible: Vec<(&str, Vec<&String>)> = vec![
        ("all", tasks.iter().collect()),
        ("s1", vec![&t1, &t2]),
        ("area01", vec![&t1, &t2, &t5, &t6]),
        ("chan02", vec![&t3, &t4, &t5, &t6]),
        ("site2", vec![&t3, &t4]),
        ("cp", vec![&t1, &t4, &t5, &t6]),
        ("cc", vec![&t1, &t5]),
        ("cu", vec![&t2]),
        ("b", vec![]),
    ];
    let sees = |user: &str, task: &String| visible.iter().find(|v| v.0 == user).unwrap().1.contains(&task);
    let tenant_path = |kind: Kind| if kind == Kind::OtherTenant { "/rest/tasks/other" } else { TASKS };
    // A Site user's call goes through the use cases; its path names tenant A like the others.
    let not_found = refused(StatusCode::NOT_FOUND, "BrokenRule_Request_NotFound");
    let no_permission = refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission");

    // Reads and lists.
    for (name, kind, who) in &users {
        let base = tenant_path(*kind);
        let (status, page) = w.act(who, "GET", &format!("{base}?Limit=200"), None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let listed: BTreeSet<String> =
            page["Items"].as_array().unwrap().iter().map(|i| i["Reference"].as_str().unwrap().to_owned()).collect();
        let expected: BTreeSet<String> = tasks.iter().filter(|t| sees(name, t)).cloned().collect();
        assert_eq!(listed, expected, "{name} lists");
        for task in &tasks {
            let (status, body) = w.act(who, "GET", &format!("{base}/{task}"), None).await;
            if sees(name, task) {
                assert_eq!(
                    (status, body["Reference"].as_str()),
                    (StatusCode::OK, Some(task.as_str())),
                    "{name} reads {task}"
                );
            } else {
                assert_eq!((status, keys(&body)), not_found, "{name} reads {task}");
            }
        }
        // An invisible task reads exactly as one that does not exist.
        let (status, body) = w.act(who, "GET", &format!("{base}/T999999"), None).await;
        assert_eq!((status, keys(&body)), not_found);
    }

    // Writes: a note, a chase, a status change, a dispatch; refused ones change nothing.
    for (name, kind, who) in &users {
        let base = tenant_path(*kind);
        for task in &tasks {
            let seen = sees(name, task);
            let before = w.snapshot(task).await;
            let stored = w.stored(task).await;
            let dispatched = stored.supplier.is_some();

            let (status, body) = w
                .act(who, "POST", &format!("{base}/{task}/notes"), Some(&json!({ "Text": format!("from {name}") })))
                .await;
            if seen {
                assert_eq!(status, StatusCode::CREATED, "{name} notes {task}: {body}");
            } else {
                assert_eq!((status, keys(&body)), not_found, "{name} notes {task}");
            }

            let (status, body) = w.act(who, "POST", &format!("{base}/{task}/chase"), None).await;
            let chase_expected = if !seen {
                Some(not_found.clone())
            } else if *kind == Kind::Contractor {
                Some(refused(StatusCode::FORBIDDEN, "BrokenRule_Task_ChaseNotAllowed"))
            } else if !dispatched {
                Some(refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_NotDispatched"))
            } else {
                None
            };
            match &chase_expected {
                Some(expected) => assert_eq!(&(status, keys(&body)), expected, "{name} chases {task}"),
                None => assert_eq!(status, StatusCode::CREATED, "{name} chases {task}: {body}"),
            }

            let current = w.stored(task).await.status;
            let target = match (dispatched, current.as_str()) {
                (false, _) => "Dispatched",
                (true, "Dispatched") => "Rejected",
                (true, _) => "Dispatched",
            };
            let (status, body) =
                w.act(who, "PUT", &format!("{base}/{task}/status"), Some(&json!({ "Status": target }))).await;
            if !seen {
                assert_eq!((status, keys(&body)), not_found, "{name} moves {task}");
            } else if !dispatched {
                assert_eq!(
                    (status, keys(&body)),
                    refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_NotDispatched"),
                    "{name} moves {task}"
                );
            } else {
                assert_eq!(
                    (status, body["Status"].as_str()),
                    (StatusCode::OK, Some(target)),
                    "{name} moves {task}: {body}"
                );
            }

            let supplier = stored.supplier.clone().unwrap_or_else(|| String::from("NOPE"));
            let (status, body) =
                w.act(who, "PUT", &format!("{base}/{task}/dispatch"), Some(&json!({ "Supplier": supplier }))).await;
            let may_dispatch = matches!(*kind, Kind::Management | Kind::OtherTenant) || *name == "cp";
            if !may_dispatch {
                // The permission is checked before the task is looked up: the same answer
                // for every reference, so it tells nothing about the task.
                assert_eq!((status, keys(&body)), no_permission.clone(), "{name} dispatches {task}");
            } else if !seen {
                assert_eq!((status, keys(&body)), not_found, "{name} dispatches {task}");
            } else if !dispatched {
                assert_eq!(
                    (status, keys(&body)),
                    refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_UnknownSupplier"),
                    "{name} dispatches {task}"
                );
            } else {
                assert_eq!(
                    (status, body["Supplier"].as_str()),
                    (StatusCode::OK, Some(supplier.as_str())),
                    "{name} dispatches {task}: {body}"
                );
            }

            let after = w.snapshot(task).await;
            if seen {
                // The note, the chase (if allowed), the status change (if allowed) and the dispatch (if allowed).
                let writes = 1
                    + i64::from(chase_expected.is_none())
                    + i64::from(dispatched)
                    + i64::from(dispatched && may_dispatch);
                assert_eq!(after.0, before.0 + writes, "{name} on {task}: version");
                assert!(after.1 > before.1, "{name} on {task}: updated_at");
                assert_eq!(after.4, before.4 + 1 + i64::from(chase_expected.is_none()), "{name} on {task}: notes");
            } else {
                assert_eq!(after, before, "{name} changed {task} it cannot see");
            }
        }
    }

    // Tenant B's credentials do not authenticate on tenant A's paths, whatever the reference.
    for (method, suffix, body) in [
        ("GET", String::new(), None),
        ("GET", format!("/{t1}"), None),
        ("POST", format!("/{t1}/notes"), Some(json!({ "Text": "x" }))),
        ("PUT", format!("/{t1}/status"), Some(json!({ "Status": "Accepted" }))),
    ] {
        let (status, answer) = w.call(&b, method, &format!("{TASKS}{suffix}"), body.as_ref()).await;
        assert_eq!(
            (status, keys(&answer)),
            refused(StatusCode::UNAUTHORIZED, "BrokenRule_Authentication_InvalidCredentials")
        );
        let (status, _) = w.call(&w.admin, method, &format!("/rest/tasks/other{suffix}"), body.as_ref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Numbering is per tenant: B's first task is also T000001, and each sees its own.
    let (status, theirs) = w.call(&b, "POST", "/rest/tasks/other", Some(&task_body("B1", json!({})))).await;
    assert_eq!(
        (status, keys(&theirs)),
        refused(StatusCode::BAD_REQUEST, "BrokenRule_Task_UnknownSite"),
        "A's sites are not B's"
    );
    let (status, body) =
        w.call(&b, "POST", "/rest/sites/other", Some(&json!({ "SiteCode": "S1", "Name": "B's S1" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, theirs) =
        w.call(&b, "POST", "/rest/tasks/other", Some(&task_body("S1", json!({ "Description": "B's own" })))).await;
    assert_eq!((status, theirs["Reference"].as_str()), (StatusCode::CREATED, Some("T000001")), "{theirs}");
    let (_, mine) = w.get(&w.admin, &format!("{TASKS}/T000001")).await;
    assert_eq!(mine["Description"], "Roof leaking over the shop floor");
    let (_, read) = w.get(&b, "/rest/tasks/other/T000001").await;
    assert_eq!(read["Description"], "B's own");
    assert_eq!(read["Notes"], json!([]), "none of A's notes");
}

async fn workflows_as_urgent_documents_them(t: TestDb) {
    let w = World::new(t).await;
    let (status, body) = w.get(&w.admin, "/rest/workflows/urgent%20si/reactive").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reactive = &body["Workflows"][0];
    assert_eq!(body["Workflows"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            reactive["Name"].as_str(),
            reactive["WorkflowType"].as_str(),
            reactive["IsActive"].as_bool(),
            reactive["IsDefault"].as_bool()
        ),
        (Some("Reactive"), Some("Reactive"), Some(true), Some(true))
    );
    let mut fields: Vec<&String> = reactive.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["IsActive", "IsDefault", "Name", "Statuses", "WorkflowType"]);
    assert_eq!(
        reactive["Statuses"][0],
        json!({"Name": "Logged", "StatusType": "New", "IsQuotationEnabled": false, "IsManualDateEnabled": false,
               "IsEligibleToInvoice": false, "Destinations": ["Dispatched", "Cancelled"],
               "IsTaskResolutionCauseEnabled": false, "IsTaskResolutionRemedyEnabled": false,
               "UpdateAssetCondition": false, "SupplierOnSite": false})
    );
    let statuses: Vec<(&str, &str)> = reactive["Statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Name"].as_str().unwrap(), s["StatusType"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("Logged", "New"),
            ("Dispatched", "Open"),
            ("Rejected", "Open"),
            ("Accepted", "Open"),
            ("On Site", "Open"),
            ("Completed", "Open"),
            ("Closed", "Closed"),
            ("Cancelled", "Cancelled"),
        ]
    );
    let mut completed = reactive["Statuses"][5].clone();
    assert_eq!(names(&completed["Destinations"]), ["Closed", "On Site"]);
    completed["Destinations"] = json!("checked above");
    assert_eq!(
        completed,
        json!({"Name": "Completed", "StatusType": "Open", "IsQuotationEnabled": false, "IsManualDateEnabled": true,
                "IsEligibleToInvoice": true, "Destinations": "checked above",
                "IsTaskResolutionCauseEnabled": true, "IsTaskResolutionRemedyEnabled": true,
                "UpdateAssetCondition": false, "SupplierOnSite": false})
    );
    assert_eq!(reactive["Statuses"][4]["SupplierOnSite"], true);
    assert_eq!(reactive["Statuses"][3]["IsQuotationEnabled"], true);

    for (kind, name, workflow_type, first) in [
        ("scheduled", "Planned Maintenance", "Scheduled", "Scheduled"),
        ("invoicing", "Invoice Approval", "Invoice", "Submitted"),
        ("Reactive", "Reactive", "Reactive", "Logged"),
    ] {
        let (status, body) = w.get(&w.admin, &format!("/rest/workflows/urgent%20si/{kind}")).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        let workflow = &body["Workflows"][0];
        assert_eq!(
            (workflow["Name"].as_str(), workflow["WorkflowType"].as_str(), workflow["Statuses"][0]["Name"].as_str()),
            (Some(name), Some(workflow_type), Some(first)),
            "{kind}"
        );
    }
    let (status, one) = w.get(&w.admin, "/rest/workflows/urgent%20si/scheduled/planned%20maintenance").await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["Workflows"].as_array().unwrap().len(), 1);
    assert_eq!(one["Workflows"][0]["Name"], "Planned Maintenance");
    for path in [
        "/rest/workflows/urgent%20si/preventive",
        "/rest/workflows/urgent%20si/reactive/Nope",
        "/rest/workflows/urgent%20si/reactive/Planned%20Maintenance",
    ] {
        let (status, body) = w.get(&w.admin, path).await;
        assert_eq!((status, keys(&body)), refused(StatusCode::NOT_FOUND, "BrokenRule_Request_NotFound"), "{path}");
    }
    let bare = w.user("bare@urgent.example", "Management", None, &[], "none").await;
    let (status, body) = w.get(&bare, "/rest/workflows/urgent%20si/reactive").await;
    assert_eq!((status, keys(&body)), refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission"));
    // Nor may it touch tasks.
    let (status, body) = w.get(&bare, TASKS).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission"));
    let (status, body) = w.call(&bare, "POST", TASKS, Some(&task_body("S1", json!({})))).await;
    assert_eq!((status, keys(&body)), refused(StatusCode::FORBIDDEN, "BrokenRule_Authorization_MissingPermission"));
    assert_eq!(w.t.count("tasks").await, 0);
}

/// The REST list copies a task's JSON from what an earlier page wrote of it while the task
/// is unchanged: a change through this server, through another server on the same database,
/// and a workflow edit that changes a status's type without touching the task all show on
/// the very next page, which is byte for byte what a server that kept nothing answers.
async fn a_listed_task_is_never_older_than_what_was_written(t: TestDb) {
    use caretaker_app::tasks::StatusChange;
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Fixers", "FIXERS", None).await;
    let first = w.raised(&w.admin, "S1", json!({ "Supplier": "FIXERS" })).await;
    let second = w.raised(&w.admin, "S1", json!({})).await;
    let list = || async {
        let (status, page) = w.call(&w.admin, "GET", &format!("{TASKS}?Limit=10"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    };
    let item = |page: &Value, reference: &str| -> Value {
        page["Items"].as_array().unwrap().iter().find(|i| i["Reference"] == reference).unwrap().clone()
    };
    // What a server that kept nothing answers: the application with an empty cache.
    let cold = || async {
        let mut other = w.app.clone();
        other.rendered = Arc::default();
        let state = AppState::new(other);
        let (status, page) =
            send(&state, &w.admin, &tcn::format_timestamp(w.now()), "GET", &format!("{TASKS}?Limit=10"), None, false)
                .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    };

    let page = list().await;
    assert!(w.app.rendered.bytes() > 0, "the page's tasks are kept");
    assert_eq!(list().await, page, "a page read again from what was kept");
    assert_eq!(cold().await, page);
    assert_eq!(
        (item(&page, &first)["Status"].as_str(), item(&page, &first)["Version"].as_i64()),
        (Some("Dispatched"), Some(1))
    );

    // Through this server.
    let (status, _) =
        w.call(&w.admin, "PUT", &format!("{TASKS}/{first}/status"), Some(&json!({ "Status": "Accepted" }))).await;
    assert_eq!(status, StatusCode::OK);
    let page = list().await;
    assert_eq!(
        (item(&page, &first)["Status"].as_str(), item(&page, &first)["Version"].as_i64()),
        (Some("Accepted"), Some(2))
    );
    assert_eq!(cold().await, page);

    // Through another server on the same database (this one's copy is now stale).
    let elsewhere = App::new(w.t.db.clone(), Arc::new(w.t.clock.clone()), MasterKey::generate());
    let proof = w.a.operator.authorize::<can::TasksUpdate>().unwrap();
    let change = StatusChange { status: "On Site".into(), ..StatusChange::default() };
    caretaker_app::tasks::change_status(&elsewhere, &proof, &first, change).await.unwrap();
    let page = list().await;
    assert_eq!(
        (item(&page, &first)["Status"].as_str(), item(&page, &first)["Version"].as_i64()),
        (Some("On Site"), Some(3))
    );
    assert_eq!(cold().await, page);

    // A workflow edit: the second task's status changes type, the task itself does not.
    let before = item(&page, &second);
    let mut tx = w.t.db.begin().await.unwrap();
    sqlx::query(
        "UPDATE workflow_statuses SET status_type = 'Cancelled'
         WHERE id = (SELECT status_id FROM tasks WHERE reference = $1)",
    )
    .bind(&second)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let page = list().await;
    let after = item(&page, &second);
    assert_eq!((before["StatusType"].as_str(), after["StatusType"].as_str()), (Some("New"), Some("Cancelled")));
    assert_eq!(after["Version"], before["Version"]);
    assert_eq!(cold().await, page);
}

/// A Contractor user's pages keep its contractor tree between them (SQLite): a contractor
/// added below it by anyone (here by a statement, as another server or command would) is
/// on the next page, and one added elsewhere in the tenant changes nothing.
async fn a_contractor_users_pages_see_contractors_added_since(t: TestDb) {
    let w = World::new(t).await;
    w.site("S1", None, None, None).await;
    w.contractor("Parent Co", "P", None).await;
    w.contractor("Unrelated Co", "U", None).await;
    let cp = w.user("cp@urgent.example", "Contractor", Some("P"), &["Contractor User"], "none").await;
    let cu = w.user("cu@urgent.example", "Contractor", Some("U"), &["Contractor User"], "none").await;
    let listed = |api| {
        let w = &w;
        async move {
            let (status, page) = w.call(api, "GET", &format!("{TASKS}?Limit=10"), None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let mut references: Vec<String> =
                page["Items"].as_array().unwrap().iter().map(|i| i["Reference"].as_str().unwrap().to_owned()).collect();
            references.sort();
            references
        }
    };
    let added = |code: &'static str, parent: &'static str| {
        let w = &w;
        async move {
            let mut tx = w.t.db.begin().await.unwrap();
            sqlx::query(
                "INSERT INTO contractors (tenant_id, code, code_key, name, parent_id, created_at)
                 SELECT tenant_id, $1, $2, $1, id, 0 FROM contractors WHERE code_key = $3",
            )
            .bind(code)
            .bind(code.to_ascii_lowercase())
            .bind(parent.to_ascii_lowercase())
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    };
    let p_task = w.raised(&w.admin, "S1", json!({ "Supplier": "P" })).await;
    let u_task = w.raised(&w.admin, "S1", json!({ "Supplier": "U" })).await;
    assert_eq!(listed(&cp).await, std::slice::from_ref(&p_task));
    assert_eq!(listed(&cp).await, std::slice::from_ref(&p_task), "read again with the tree kept");

    // A child of P, then a grandchild below it, each with a task: on P's next page.
    added("N", "P").await;
    let n_task = w.raised(&w.admin, "S1", json!({ "Supplier": "N" })).await;
    let mut expected = vec![p_task.clone(), n_task.clone()];
    expected.sort();
    assert_eq!(listed(&cp).await, expected);
    added("NN", "N").await;
    let nn_task = w.raised(&w.admin, "S1", json!({ "Supplier": "NN" })).await;
    expected.push(nn_task.clone());
    expected.sort();
    assert_eq!(listed(&cp).await, expected);

    // A contractor below U: P's page is unchanged, U's shows its task.
    added("UN", "U").await;
    let un_task = w.raised(&w.admin, "S1", json!({ "Supplier": "UN" })).await;
    assert_eq!(listed(&cp).await, expected);
    let mut theirs = vec![u_task, un_task];
    theirs.sort();
    assert_eq!(listed(&cu).await, theirs);
}
