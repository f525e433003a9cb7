//! The outbound API against a real HTTP receiver on loopback that checks every call's TCN
//! signature with the secret its user configured: who receives what, retries, terminal
//! failure with its mail, a worker that dies holding deliveries, two servers sharing one
//! queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::outbound::{self, Deliverer, OutboundInput, OutboundOptions};
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::tasks::{self, Dispatch, StatusChange, TaskInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::{App, AppError, MasterKey, Principal};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::outbound::{OutboundEvent, ReceiverPolicy};
use caretaker_domain::tcn;
use caretaker_storage::audit::Actor;
use caretaker_storage::testing::TestDb;
use caretaker_storage::{Backend, Db, DbOptions, both_backends};
use secrecy::SecretString;

/// What the receiver does with the next call to one hook.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    Fail,
    BodyOn200,
    Slow,
}

#[derive(Clone, Debug)]
struct Received {
    hook: String,
    event: String,
    event_id: String,
    /// The receiver acknowledged it (an empty 200).
    acknowledged: bool,
    body: serde_json::Value,
}

#[derive(Default)]
struct Receiver {
    /// hook -> (token, secret)
    credentials: HashMap<String, (String, String)>,
    script: HashMap<String, VecDeque<Answer>>,
    received: Vec<Received>,
    bad_signatures: usize,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (authorization, timestamp) = (header("authorization"), header("x-timestamp"));
    let answer = {
        let mut receiver = shared.lock().unwrap();
        let Some((token, secret)) = receiver.credentials.get(&name).cloned() else {
            return (StatusCode::NOT_FOUND, String::new());
        };
        let expected = tcn::sign("POST", &format!("/hook/{name}"), &timestamp, &token, secret.as_bytes(), None);
        if authorization != expected {
            receiver.bad_signatures += 1;
            return (StatusCode::UNAUTHORIZED, String::from("bad signature"));
        }
        receiver.script.get_mut(&name).and_then(VecDeque::pop_front).unwrap_or(Answer::Ok)
    };
    if let Answer::Slow = answer {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let acknowledged = matches!(answer, Answer::Ok);
    shared.lock().unwrap().received.push(Received {
        hook: name,
        event: parsed["Event"].as_str().unwrap_or("").to_owned(),
        event_id: parsed["EventId"].as_str().unwrap_or("").to_owned(),
        acknowledged,
        body: parsed,
    });
    match answer {
        Answer::Ok => (StatusCode::OK, String::new()),
        Answer::BodyOn200 => (StatusCode::OK, String::from("thanks")),
        Answer::Fail | Answer::Slow => (StatusCode::INTERNAL_SERVER_ERROR, String::from("down")),
    }
}

async fn start_receiver() -> (Shared, String) {
    let shared: Shared = Arc::default();
    let router = axum::Router::new().route("/hook/{name}", axum::routing::post(hook)).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (shared, format!("http://{address}"))
}

fn options() -> OutboundOptions {
    OutboundOptions {
        policy: ReceiverPolicy { allow_insecure: true },
        timeout: Duration::from_millis(600),
        retry_initial_ms: 1_000,
        max_attempts: 3,
    }
}

struct World {
    app: App,
    operator: Principal,
    users: HashMap<&'static str, Principal>,
    receiver: Shared,
}

impl World {
    fn user(&self, name: &str) -> &Principal {
        &self.users[name]
    }

    fn received(&self) -> Vec<Received> {
        self.receiver.lock().unwrap().received.clone()
    }

    fn script(&self, hook: &str, answers: &[Answer]) {
        self.receiver.lock().unwrap().script.insert(hook.to_owned(), answers.iter().copied().collect());
    }

    /// Delivers until nothing is due now.
    async fn deliver(&self, deliverer: &Deliverer) {
        while deliverer.deliver_due().await.unwrap() > 0 {}
    }
}

/// A tenant with contractors P (parent), C (child of P), U (unrelated); sites S1 (with child
/// S1a) and S2; integration users of every kind, each with a hook on the receiver.
async fn world(t: &TestDb) -> World {
    let app = App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()).with_outbound(options());
    let created = tenants::create(
        &app,
        NewTenant {
            name: "Acme".into(),
            admin_email: "admin@acme.example".into(),
            admin_password: Some(SecretString::from("a long enough password")),
        },
        Actor::Operator,
    )
    .await
    .unwrap();
    let tenant = created.tenant.id;
    let operator = Principal::operator(tenant, "Acme");
    let contractors_write = operator.authorize::<can::ContractorsWrite>().unwrap();
    for (code, parent) in [("P", None), ("C", Some("P")), ("U", None)] {
        let input = ContractorInput {
            name: format!("Contractor {code}"),
            code: Some(code.into()),
            parent: parent.map(String::from),
            email: String::new(),
            telephone: String::new(),
        };
        contractors::create(&app, &contractors_write, input).await.unwrap();
    }
    let sites_write = operator.authorize::<can::SitesWrite>().unwrap();
    for (code, parent) in [("S1", None), ("S1A", Some("S1")), ("S2", None)] {
        let input = SiteInput {
            site_code: code.into(),
            parent_code: parent.map(String::from),
            name: format!("Site {code}"),
            ..SiteInput::default()
        };
        sites::create(&app, &sites_write, input).await.unwrap();
    }
    let (receiver, base) = start_receiver().await;
    let users_write = operator.authorize::<can::UsersWrite>().unwrap();
    let mut users_by_name = HashMap::new();
    for (name, user_type, contractor, access, package) in [
        ("mgmt_all", "Management", None, "all", "Management User"),
        ("mgmt_s2", "Management", None, "S2", "Management User"),
        ("mgmt_s1", "Management", None, "S1", "Management User"),
        ("con_p", "Contractor", Some("P"), "none", "Contractor User"),
        ("con_c", "Contractor", Some("C"), "none", "Contractor User"),
        ("con_u", "Contractor", Some("U"), "none", "Contractor User"),
        ("quiet", "Management", None, "all", "Management User"),
    ] {
        let email = format!("{name}@acme.example");
        let input = UserInput {
            email: email.clone(),
            name: name.into(),
            user_type: user_type.into(),
            contractor: contractor.map(String::from),
            role_packages: vec!["REST API".into(), package.into()],
            site_access: access.into(),
            is_integration: true,
            password: Some(SecretString::from("a long enough password")),
        };
        let id = users::create(&app, &users_write, input).await.unwrap().id;
        let principal = Principal::load(&mut *t.conn().await, tenant, "Acme", id).await.unwrap().unwrap();
        if name != "quiet" {
            let (token, secret) = (format!("token-{name}"), format!("secret-{name}"));
            receiver.lock().unwrap().credentials.insert(name.to_owned(), (token.clone(), secret.clone()));
            let url = format!("{base}/hook/{name}");
            let proof = principal.authorize::<can::RestApiUse>().unwrap();
            let input = OutboundInput {
                endpoints: std::array::from_fn(|_| Some(url.clone())),
                send_created: true,
                email_failures: true,
                api_token: Some(token),
                api_secret: Some(SecretString::from(secret)),
            };
            outbound::save(&app, &proof, input).await.unwrap();
        }
        users_by_name.insert(name, principal);
    }
    World { app, operator, users: users_by_name, receiver }
}

fn task_at(site: &str, external: &str) -> TaskInput {
    TaskInput {
        external_identifier: Some(external.into()),
        initiator_name: "Monitor".into(),
        site_code: site.into(),
        description: "Door stuck".into(),
        matrix_item_code: "01-02".into(),
        ..TaskInput::default()
    }
}

async fn raise(w: &World, by: &str, site: &str, external: &str) -> String {
    let principal = w.user(by);
    let proof = principal.authorize::<can::TasksCreate>().unwrap();
    match tasks::raise(&w.app, &proof, task_at(site, external)).await.unwrap() {
        tasks::Raised::Created(task) => task.reference,
        tasks::Raised::Existing(task) => panic!("unexpected retry {}", task.reference),
    }
}

async fn dispatch(w: &World, reference: &str, supplier: &str) {
    let proof = w.operator.authorize::<can::TasksDispatch>().unwrap();
    let request = Dispatch { supplier: supplier.into(), service_level: None };
    tasks::dispatch(&w.app, &proof, reference, request).await.unwrap();
}

/// (hook, event) pairs acknowledged, sorted.
fn acknowledged(w: &World) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = w.received().into_iter().filter(|r| r.acknowledged).map(|r| (r.hook, r.event)).collect();
    pairs.sort();
    pairs
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = items.iter().map(|(h, e)| ((*h).to_owned(), (*e).to_owned())).collect();
    pairs.sort();
    pairs
}

both_backends!(
    each_event_reaches_exactly_its_recipients_signed,
    send_created_off_skips_ones_own_creations_only,
    retries_on_500_non_empty_200_and_timeouts_then_succeeds,
    terminal_failure_after_the_limit_mails_the_user_and_resend_delivers,
    a_worker_that_dies_holding_deliveries_loses_nothing_and_sends_each_once,
    refused_changes_queue_nothing,
    receiver_urls_must_be_https_and_public_unless_allowed,
    two_servers_share_one_queue_without_doubles,
    sites_follow_explicit_site_access,
);

/// (Not outbound, but this world has what it needs.) Sites are read and listed through the
/// caller's site access: a granted site brings its children; others are 404.
async fn sites_follow_explicit_site_access(t: TestDb) {
    let w = world(&t).await;
    let codes = |sites: Vec<caretaker_storage::sites::Site>| sites.into_iter().map(|s| s.code).collect::<Vec<_>>();
    let read = |name: &str| w.user(name).authorize::<can::SitesRead>().unwrap();
    let (all, _) = sites::list(&w.app, &read("mgmt_all"), None, 50).await.unwrap();
    assert_eq!(codes(all), ["S1", "S1A", "S2"]);
    let (granted, next) = sites::list(&w.app, &read("mgmt_s1"), None, 50).await.unwrap();
    assert_eq!((codes(granted), next), (vec!["S1".to_owned(), "S1A".to_owned()], None));
    // Paging through a sparse access: one site a page.
    let (first, next) = sites::list(&w.app, &read("mgmt_s2"), None, 1).await.unwrap();
    assert_eq!(codes(first), ["S2"]);
    if let Some(next) = next {
        let (rest, _) = sites::list(&w.app, &read("mgmt_s2"), Some(&next), 1).await.unwrap();
        assert!(rest.is_empty());
    }
    assert_eq!(sites::get(&w.app, &read("mgmt_s1"), "s1a").await.unwrap().code, "S1A");
    assert!(matches!(sites::get(&w.app, &read("mgmt_s1"), "S2").await, Err(AppError::NotFound)));
    assert!(matches!(sites::get(&w.app, &read("con_c"), "S1").await, Err(AppError::NotFound)));

    // Assets follow the same access: created only at sites one can see, read and listed so.
    let asset_at = |site: &str| caretaker_app::assets::AssetInput {
        site_code: site.into(),
        matrix_code: "01-01".into(),
        ..caretaker_app::assets::AssetInput::default()
    };
    let write = |name: &str| w.user(name).authorize::<can::AssetsWrite>().unwrap();
    let at_s2 = caretaker_app::assets::create(&w.app, &write("mgmt_s2"), asset_at("S2")).await.unwrap();
    let refused = caretaker_app::assets::create(&w.app, &write("mgmt_s2"), asset_at("S1")).await.unwrap_err();
    let AppError::Invalid(rules) = refused else { panic!("{refused:?}") };
    assert_eq!(rules.rules()[0].key, "BrokenRule_Asset_UnknownSite");
    let at_s1a = caretaker_app::assets::create(&w.app, &write("mgmt_all"), asset_at("S1A")).await.unwrap();
    let assets_read = |name: &str| w.user(name).authorize::<can::AssetsRead>().unwrap();
    let ids =
        |assets: Vec<caretaker_storage::assets::Asset>| assets.into_iter().map(|a| a.identifier).collect::<Vec<_>>();
    let (mine, _) = caretaker_app::assets::list(&w.app, &assets_read("mgmt_s1"), None, None, 50).await.unwrap();
    assert_eq!(ids(mine), std::slice::from_ref(&at_s1a.identifier));
    let (theirs, _) = caretaker_app::assets::list(&w.app, &assets_read("mgmt_s1"), Some("S2"), None, 50).await.unwrap();
    assert!(theirs.is_empty());
    let (everything, _) = caretaker_app::assets::list(&w.app, &assets_read("mgmt_all"), None, None, 50).await.unwrap();
    assert_eq!(everything.len(), 2);
    let read_s2 = caretaker_app::assets::get(&w.app, &assets_read("mgmt_s1"), &at_s2.identifier).await;
    assert!(matches!(read_s2, Err(AppError::NotFound)), "{read_s2:?}");
    assert_eq!(
        caretaker_app::assets::get(&w.app, &assets_read("mgmt_s2"), &at_s2.identifier).await.unwrap().site_code,
        "S2"
    );
}

async fn each_event_reaches_exactly_its_recipients_signed(t: TestDb) {
    let w = world(&t).await;
    let deliverer = Deliverer::new(w.app.clone()).unwrap();
    // Raised at S1A (a child of S1) by a Management user with all sites: not dispatched.
    let reference = raise(&w, "mgmt_all", "S1A", "E-1").await;
    w.deliver(&deliverer).await;
    assert_eq!(acknowledged(&w), pairs(&[("mgmt_all", "TaskCreated"), ("mgmt_s1", "TaskCreated")]));

    // Dispatched to C: its users, its parent P's users, and those with site access.
    dispatch(&w, &reference, "C").await;
    w.deliver(&deliverer).await;
    let changed: Vec<_> = acknowledged(&w).into_iter().filter(|(_, e)| e == "TaskChanged").collect();
    assert_eq!(
        changed,
        pairs(&[
            ("con_c", "TaskChanged"),
            ("con_p", "TaskChanged"),
            ("mgmt_all", "TaskChanged"),
            ("mgmt_s1", "TaskChanged")
        ])
    );

    let proof = w.user("con_c").authorize::<can::TasksUpdate>().unwrap();
    tasks::add_note(&w.app, &proof, &reference, "On our way").await.unwrap();
    let change = StatusChange { status: "Accepted".into(), ..StatusChange::default() };
    tasks::change_status(&w.app, &proof, &reference, change).await.unwrap();
    let chase = w.user("mgmt_all").authorize::<can::TasksUpdate>().unwrap();
    tasks::chase(&w.app, &chase, &reference, "Any news?").await.unwrap();
    w.deliver(&deliverer).await;

    let received = w.received();
    assert_eq!(w.receiver.lock().unwrap().bad_signatures, 0, "every call is signed with the user's secret");
    for event in ["TaskNote", "TaskStatus", "TaskChased"] {
        let mut hooks: Vec<_> = received.iter().filter(|r| r.event == event).map(|r| r.hook.clone()).collect();
        hooks.sort();
        assert_eq!(hooks, ["con_c", "con_p", "mgmt_all", "mgmt_s1"], "{event}");
    }
    assert!(!received.iter().any(|r| ["con_u", "mgmt_s2", "quiet"].contains(&r.hook.as_str())));
    // One EventId per event, shared by its copies; the body carries the task as REST shows it.
    let status: Vec<_> = received.iter().filter(|r| r.event == "TaskStatus").collect();
    assert!(status.iter().all(|r| r.event_id == status[0].event_id));
    let body = &status[0].body;
    assert_eq!(body["Tenant"], "Acme");
    assert_eq!(body["Task"]["Reference"], reference.as_str());
    assert_eq!(body["Task"]["Status"], "Accepted");
    assert_eq!(body["Task"]["Supplier"], "C");
    assert_eq!(body["StatusChange"]["FromStatus"], "Dispatched");
    assert_eq!(body["StatusChange"]["ToStatus"], "Accepted");
    let note = received.iter().find(|r| r.event == "TaskNote").unwrap();
    assert_eq!(note.body["Note"]["Text"], "On our way");
    // Per receiver, one task's deliveries arrive in the order of the changes.
    let order: Vec<_> = received.iter().filter(|r| r.hook == "con_p").map(|r| r.event.clone()).collect();
    assert_eq!(order, ["TaskChanged", "TaskNote", "TaskStatus", "TaskChased"]);
    assert_eq!(t.count("outbox WHERE state = 'delivered'").await, t.count("outbox").await);
}

async fn send_created_off_skips_ones_own_creations_only(t: TestDb) {
    let w = world(&t).await;
    let proof = w.user("mgmt_all").authorize::<can::RestApiUse>().unwrap();
    let mut current = outbound::get(&w.app, &proof).await.unwrap();
    current.send_created = false;
    let input = OutboundInput {
        endpoints: current.endpoints.clone(),
        send_created: false,
        email_failures: false,
        api_token: current.api_token.clone(),
        api_secret: None,
    };
    outbound::save(&w.app, &proof, input).await.unwrap();
    let deliverer = Deliverer::new(w.app.clone()).unwrap();
    raise(&w, "mgmt_all", "S1", "own").await;
    raise(&w, "mgmt_s1", "S1", "other").await;
    w.deliver(&deliverer).await;
    let created: Vec<_> = acknowledged(&w);
    assert_eq!(
        created,
        pairs(&[("mgmt_all", "TaskCreated"), ("mgmt_s1", "TaskCreated"), ("mgmt_s1", "TaskCreated")]),
        "mgmt_all hears of the other's task, not of its own"
    );
}

async fn retries_on_500_non_empty_200_and_timeouts_then_succeeds(t: TestDb) {
    let w = world(&t).await;
    let deliverer = Deliverer::new(w.app.clone()).unwrap();
    w.script("mgmt_s1", &[Answer::Fail, Answer::BodyOn200]);
    w.script("mgmt_all", &[Answer::Slow]);
    raise(&w, "mgmt_all", "S1", "R-1").await;
    w.deliver(&deliverer).await;
    assert_eq!(t.count("outbox WHERE state = 'pending' AND attempts = 1").await, 2);
    let errors: Vec<String> = sqlx_text(&t, "SELECT last_error FROM outbox ORDER BY recipient_id").await;
    assert!(errors.iter().any(|e| e == "timed out"), "{errors:?}");
    assert!(errors.iter().any(|e| e == "HTTP 500"), "{errors:?}");

    // Not before the retry interval...
    w.deliver(&deliverer).await;
    assert_eq!(t.count("outbox WHERE attempts = 1").await, 2);
    t.clock.advance_seconds(1);
    w.deliver(&deliverer).await;
    // mgmt_all now acknowledged; mgmt_s1 answered 200 with a body: not acknowledged.
    assert_eq!(t.count("outbox WHERE state = 'delivered'").await, 1);
    let pending: Vec<String> = sqlx_text(&t, "SELECT last_error FROM outbox WHERE state = 'pending'").await;
    assert_eq!(pending, ["200 with a body (only an empty 200 acknowledges)"]);
    t.clock.advance_seconds(2);
    w.deliver(&deliverer).await;
    assert_eq!(t.count("outbox WHERE state = 'delivered'").await, 2);
    assert_eq!(acknowledged(&w), pairs(&[("mgmt_all", "TaskCreated"), ("mgmt_s1", "TaskCreated")]));
    assert_eq!(t.count("mail_outbox").await, 0);
}

async fn sqlx_text(t: &TestDb, query: &str) -> Vec<String> {
    use sqlx::{Executor, Row};
    let rows = t.conn().await.fetch_all(sqlx::query(query)).await.unwrap();
    rows.iter().map(|r| r.try_get::<Option<String>, _>(0).unwrap().unwrap_or_default()).collect()
}

async fn terminal_failure_after_the_limit_mails_the_user_and_resend_delivers(t: TestDb) {
    let w = world(&t).await;
    let deliverer = Deliverer::new(w.app.clone()).unwrap();
    w.script("mgmt_s1", &[Answer::Fail, Answer::Fail, Answer::Fail]);
    raise(&w, "mgmt_all", "S1", "F-1").await;
    for _ in 0..3 {
        w.deliver(&deliverer).await;
        t.clock.advance_seconds(10);
    }
    assert_eq!(t.count("outbox WHERE state = 'failed' AND attempts = 3").await, 1);
    let to: Vec<String> = sqlx_text(&t, "SELECT to_address FROM mail_outbox").await;
    assert_eq!(to, ["mgmt_s1@acme.example"], "the failure is e-mailed (kept in the mail outbox without SMTP)");
    // Nothing more is tried.
    t.clock.advance_seconds(3600);
    w.deliver(&deliverer).await;
    assert_eq!(w.received().iter().filter(|r| r.hook == "mgmt_s1").count(), 3);

    // Resend: by the user themselves; another user cannot resend it.
    let id: Vec<String> = sqlx_text(&t, "SELECT CAST(id AS TEXT) FROM outbox WHERE state = 'failed'").await;
    let id: i64 = id[0].parse().unwrap();
    let other = outbound::resend(&w.app, w.user("mgmt_s2"), None, id).await;
    assert!(matches!(other, Err(AppError::NotFound)), "{other:?}");
    outbound::resend(&w.app, w.user("mgmt_s1"), None, id).await.unwrap();
    w.deliver(&deliverer).await;
    assert_eq!(t.count("outbox WHERE state = 'delivered'").await, 2);
    assert_eq!(acknowledged(&w), pairs(&[("mgmt_all", "TaskCreated"), ("mgmt_s1", "TaskCreated")]));
}

async fn a_worker_that_dies_holding_deliveries_loses_nothing_and_sends_each_once(t: TestDb) {
    let w = world(&t).await;
    w.script("mgmt_all", &[Answer::Fail]);
    for n in 0..3 {
        raise(&w, "mgmt_all", "S2", &format!("K-{n}")).await;
    }
    // The first server fails once (a retry is due later), then dies holding a fresh claim.
    let first = Deliverer::new(w.app.clone()).unwrap();
    first.deliver_due().await.unwrap();
    t.clock.advance_seconds(2);
    let mut tx = w.app.db.begin().await.unwrap();
    let held = caretaker_storage::outbound::claim(
        &mut tx,
        w.app.db.backend(),
        "dead-server",
        w.app.clock.now(),
        w.app.clock.now().plus_seconds(60),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!held.is_empty());
    drop(first);

    // A restarted server cannot take them while the lease runs...
    let second = Deliverer::new(w.app.clone()).unwrap();
    w.deliver(&second).await;
    let before = w.received().len();
    // ...and delivers every one once it has run out.
    t.clock.advance_seconds(61);
    w.deliver(&second).await;
    t.clock.advance_seconds(61);
    w.deliver(&second).await;
    assert!(w.received().len() > before);
    let mut ids: Vec<_> = w.received().into_iter().filter(|r| r.acknowledged).map(|r| (r.hook, r.event_id)).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no event acknowledged twice");
    assert_eq!(total, 6, "mgmt_all and mgmt_s2 (access to S2) each hear of the three tasks");
    assert_eq!(t.count("outbox WHERE state <> 'delivered'").await, 0);
}

async fn refused_changes_queue_nothing(t: TestDb) {
    let w = world(&t).await;
    let reference = raise(&w, "mgmt_all", "S1", "N-1").await;
    let before = t.count("outbox").await;
    let proof = w.user("mgmt_all").authorize::<can::TasksUpdate>().unwrap();
    let bad = StatusChange { status: "Closed".into(), ..StatusChange::default() };
    assert!(tasks::change_status(&w.app, &proof, &reference, bad).await.is_err());
    assert!(tasks::add_note(&w.app, &proof, &reference, "").await.is_err());
    // Invisible to the Management user of S2: 404, and nothing queued.
    let outsider = w.user("mgmt_s2").authorize::<can::TasksUpdate>().unwrap();
    assert!(matches!(tasks::add_note(&w.app, &outsider, &reference, "hi").await, Err(AppError::NotFound)));
    assert_eq!(t.count("outbox").await, before);
}

async fn receiver_urls_must_be_https_and_public_unless_allowed(t: TestDb) {
    let w = world(&t).await;
    let mut strict = w.app.clone();
    strict.outbound = OutboundOptions { policy: ReceiverPolicy { allow_insecure: false }, ..options() };
    let proof = w.user("quiet").authorize::<can::RestApiUse>().unwrap();
    let attempt = |url: &str| OutboundInput {
        endpoints: std::array::from_fn(|i| (i == OutboundEvent::TaskNote.index()).then(|| url.to_owned())),
        send_created: true,
        email_failures: false,
        api_token: Some("t".into()),
        api_secret: Some(SecretString::from("s")),
    };
    for url in ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://169.254.169.254/x", "https://[::1]/x"] {
        let err = outbound::save(&strict, &proof, attempt(url)).await.unwrap_err();
        let AppError::Invalid(rules) = err else { panic!("{url}: {err:?}") };
        assert_eq!(rules.rules()[0].key, "BrokenRule_Outbound_InvalidUrl", "{url}");
    }
    outbound::save(&strict, &proof, attempt("https://hooks.example.com/x")).await.unwrap();
    // A URL without the credentials to sign with is refused.
    let unsigned = OutboundInput { api_token: None, api_secret: None, ..attempt("https://hooks.example.com/y") };
    let err = outbound::save(&strict, &proof, unsigned).await.unwrap_err();
    let AppError::Invalid(rules) = err else { panic!("{err:?}") };
    assert_eq!(rules.rules()[0].key, "BrokenRule_Outbound_MissingCredentials");
    // The secret is stored encrypted and shown only as its last four characters.
    let view = outbound::get(&strict, &proof).await.unwrap();
    assert_eq!(view.api_secret_last4.as_deref(), Some("s"));
    assert_eq!(t.count("outbound_settings WHERE api_secret IS NOT NULL").await, 6 + 1);
}

async fn two_servers_share_one_queue_without_doubles(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return; // several servers share a PostgreSQL database; SQLite is one server's
    }
    let w = world(&t).await;
    let mut references = Vec::new();
    for n in 0..25 {
        references.push(raise(&w, "mgmt_all", "S2", &format!("M-{n}")).await);
    }
    // 25 tasks x 40 notes, each to mgmt_all and mgmt_s2 (access to S2): 2,050 deliveries in all.
    let proof = w.user("mgmt_all").authorize::<can::TasksUpdate>().unwrap();
    for n in 0..40 {
        for reference in &references {
            tasks::add_note(&w.app, &proof, reference, &format!("note {n}")).await.unwrap();
        }
    }
    assert_eq!(t.count("outbox").await, 2050);
    let other_db = Db::connect(&t.url, &DbOptions::default()).await.unwrap();
    let mut second_app = w.app.clone();
    second_app.db = other_db;
    let (a, b) = (Deliverer::new(w.app.clone()).unwrap(), Deliverer::new(second_app).unwrap());
    let pending = |db: Db| async move {
        use sqlx::{Executor, Row};
        let row = db.read().fetch_one("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").await.unwrap();
        row.try_get::<i64, _>(0).unwrap()
    };
    let run = |d: Deliverer, db: Db| async move {
        let mut attempted = 0;
        while pending(db.clone()).await > 0 {
            match d.deliver_due().await.unwrap() {
                0 => tokio::time::sleep(Duration::from_millis(5)).await,
                n => attempted += n,
            }
        }
        attempted
    };
    let (left, right) = tokio::join!(run(a, t.db.clone()), run(b, t.db.clone()));
    assert_eq!(left + right, 2050, "each delivery attempted once ({left} + {right})");
    let received = w.received();
    assert_eq!(received.len(), 2050);
    let mut ids: Vec<_> = received.iter().map(|r| (r.hook.clone(), r.event_id.clone())).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2050, "none doubled");
    // Per receiver and task, the notes arrive in order.
    for (hook, reference) in references.iter().flat_map(|r| [("mgmt_all", r), ("mgmt_s2", r)]) {
        let texts: Vec<_> = received
            .iter()
            .filter(|r| r.hook == hook && r.event == "TaskNote" && r.body["Task"]["Reference"] == reference.as_str())
            .map(|r| r.body["Note"]["Text"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<_> = (0..40).map(|n| format!("note {n}")).collect();
        assert_eq!(texts, expected);
    }
}
