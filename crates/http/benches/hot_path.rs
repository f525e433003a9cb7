//! The per-request hot path without a socket: TCN authentication with a warm cache (one
//! indexed read on SQLite, cache hit, HMAC), the whole router for `GET /rest/users/{t}/me`
//! and a list of 50 tasks, and rendering a page of 50 tasks as JSON.
//!
//! `cargo bench -p caretaker-http --bench hot_path`. Compare with `caretaker bench`, whose
//! numbers add HTTP parsing, the network stack and the load generator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // set-up fails loudly

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use caretaker_app::api_auth::ApiRequest;
use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::task_json::TaskJson;
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::{App, MasterKey, Principal, credentials};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::task::{StatusType, TaskNumber, WorkflowType};
use caretaker_domain::tcn;
use caretaker_http::{AppState, router};
use caretaker_storage::audit::Actor;
use caretaker_storage::tasks::{self, NewTask, Task};
use caretaker_storage::testing::TestDb;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use tower::ServiceExt;

const TENANT: &str = "bench";

struct World {
    _db: TestDb,
    app: App,
    tenant: caretaker_domain::tenant::TenantId,
    token: String,
    secret: SecretString,
}

async fn world(task_count: i64) -> World {
    let db = TestDb::sqlite().await;
    let app = App::new(db.db.clone(), Arc::new(db.clock.clone()), MasterKey::generate());
    let created = tenants::create(
        &app,
        NewTenant { name: TENANT.into(), admin_email: "admin@bench.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    let tenant = created.tenant.id;
    let operator = Principal::operator(tenant, TENANT);
    let contractor = contractors::create(
        &app,
        &operator.authorize::<can::ContractorsWrite>().unwrap(),
        ContractorInput { name: "Bench FM".into(), code: Some("BENCH-FM".into()), ..ContractorInput::default() },
    )
    .await
    .unwrap();
    let site = sites::create(
        &app,
        &operator.authorize::<can::SitesWrite>().unwrap(),
        SiteInput { site_code: "S0001".into(), name: "Newcastle store".into(), ..SiteInput::default() },
    )
    .await
    .unwrap();
    let user = users::create(
        &app,
        &operator.authorize::<can::UsersWrite>().unwrap(),
        UserInput {
            email: "integration@bench.example".into(),
            name: "Integration".into(),
            user_type: "Management".into(),
            role_packages: vec!["REST API".into(), "Management User".into()],
            site_access: "all".into(),
            is_integration: true,
            password: Some(SecretString::from("a long enough password")),
            ..UserInput::default()
        },
    )
    .await
    .unwrap();
    let mut conn = app.db.read().acquire().await.unwrap();
    let principal = Principal::load(&mut conn, tenant, TENANT, user.id).await.unwrap().unwrap();
    drop(conn);
    let generated = credentials::generate(&app, &operator, &principal).await.unwrap();

    let mut tx = app.db.begin().await.unwrap();
    let workflow = caretaker_storage::workflows::list(&mut tx, tenant, Some(WorkflowType::Reactive), None)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.is_default)
        .unwrap();
    let accepted = workflow.status_named("Accepted").unwrap().id;
    let now = app.clock.now();
    for n in 0..task_count {
        let reference = TaskNumber(tasks::next_number(&mut tx, tenant).await.unwrap()).reference();
        let at = Timestamp::from_unix_micros(now.unix_micros() - (task_count - n) * 20_000_000);
        tasks::insert(
            &mut tx,
            &NewTask {
                tenant,
                reference: &reference,
                created_by: Some(user.id.0),
                external_identifier: Some(&format!("SEED-{n}")),
                request_hash: None,
                initiator_name: "Store manager",
                site: site.id.0,
                description: "Water coming through the roof above the till",
                defect_source: Some("Unknown"),
                matrix_code: "01-01",
                chargeability: None,
                workflow: workflow.id,
                status: accepted,
                contractor: Some(contractor.0),
                service_level: None,
                respond_by: Some(at.plus_seconds(3600)),
                complete_by: Some(at.plus_seconds(86_400)),
                is_asset_available: None,
                assets: &[],
                custom_fields: &[],
                relation: None,
                related_task: None,
            },
            at,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    World { _db: db, app, tenant, token: generated.token, secret: generated.secret }
}

fn signed(world: &World, method: &str, path: &str) -> (String, String) {
    let timestamp = tcn::format_timestamp(world.app.clock.now());
    let signed_path = path.split('?').next().unwrap();
    let authorization =
        tcn::sign(method, signed_path, &timestamp, &world.token, world.secret.expose_secret().as_bytes(), None);
    (authorization, timestamp)
}

fn hot_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let world = runtime.block_on(world(2_000));

    let me = format!("/rest/users/{TENANT}/me");
    let (authorization, timestamp) = signed(&world, "GET", &me);
    let request = ApiRequest {
        method: "GET",
        raw_path: &me,
        path_prefix: "",
        tenant_in_path: TENANT,
        authorization: Some(authorization.as_bytes()),
        timestamp: Some(timestamp.as_bytes()),
        nonce: None,
        content_sha256: None,
        body_sha256: None,
        address: Some("127.0.0.1"),
    };
    runtime.block_on(world.app.api_auth.authenticate(&world.app, request)).unwrap();
    c.bench_function("api_auth/authenticate, warm cache (SQLite stamp read + HMAC)", |b| {
        b.iter(|| runtime.block_on(world.app.api_auth.authenticate(&world.app, black_box(request))).is_ok())
    });

    let app = router(AppState::new(world.app.clone()));
    let call = |path: &str| {
        let (authorization, timestamp) = signed(&world, "GET", path);
        Request::get(path)
            .header("authorization", authorization)
            .header("x-timestamp", timestamp)
            .body(Body::empty())
            .unwrap()
    };
    let send = |request: Request<Body>| {
        runtime.block_on(async {
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap().to_bytes().len()
        })
    };
    c.bench_function("router/GET /rest/users/{t}/me (in process)", |b| {
        b.iter_batched(|| call(&me), send, BatchSize::SmallInput)
    });
    let list = format!("/rest/tasks/{TENANT}?Limit=50");
    c.bench_function("router/GET /rest/tasks/{t}?Limit=50 of 2,000 (in process, SQLite)", |b| {
        b.iter_batched(|| call(&list), send, BatchSize::SmallInput)
    });

    let db = &world.app.db;
    let workflow = runtime
        .block_on(caretaker_storage::workflows::default_id(db, world.tenant, WorkflowType::Reactive))
        .unwrap()
        .unwrap();
    c.bench_function("storage/workflows::get, the default reactive workflow (SQLite)", |b| {
        b.iter(|| runtime.block_on(caretaker_storage::workflows::get(db, world.tenant, black_box(workflow))).unwrap())
    });

    let page: Vec<Task> = (0..50).map(sample_task).collect();
    c.bench_function("render/page of 50 tasks (&Task -> TaskJson -> JSON)", |b| {
        b.iter(|| {
            // The shape the REST list writes (`ItemsWriter`).
            let mut out = Vec::with_capacity(64 + 50 * 768);
            out.extend_from_slice(b"{\"Items\":[");
            for (i, task) in page.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                TaskJson::from(task).write_json(&mut out);
            }
            out.extend_from_slice(b"],\"NextCursor\":null}");
            out.len()
        })
    });
}

fn sample_task(n: i64) -> Task {
    let at = Timestamp::from_unix_micros(1_750_000_000_000_000 + n * 20_000_000);
    Task {
        id: n,
        reference: TaskNumber(n).reference(),
        external_identifier: Some(format!("SEED-{n:06}")),
        request_hash: None,
        initiator_name: "Store manager".into(),
        site_id: 1,
        site_code: "S0001".into(),
        description: format!("Water coming through the roof above the till (seeded {n})"),
        defect_source: Some("Unknown".into()),
        matrix_code: "01-01".into(),
        chargeability: None,
        workflow_id: 1,
        workflow: "Reactive".into(),
        status_id: 4,
        status: "Accepted".into(),
        status_type: StatusType::Open,
        contractor_id: Some(1),
        supplier: Some("BENCH-FM".into()),
        service_level_id: Some(2),
        service_level: Some("Urgent".into()),
        respond_by: Some(at.plus_seconds(4 * 3600)),
        complete_by: Some(at.plus_seconds(86_400)),
        is_asset_available: None,
        assets: Vec::new(),
        custom_fields: vec![("Custom_Pump_Number".into(), "3".into())],
        relation: None,
        related_reference: None,
        created_by: Some(1),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = hot_path }
criterion_main!(benches);
