//! `caretaker bench`: seeds a fresh tenant, starts the real server as a child process and
//! drives it over loopback with TCN-signed requests, one scenario at a time, for a fixed
//! time at a fixed concurrency. Reports requests per second, latency percentiles, errors by
//! status, the server's CPU time per request and its peak resident memory.
//!
//! The load generator shares the machine with the server: its own CPU time per request is
//! reported beside the server's, so a reader can tell which side ran out of cores.

mod load;
mod report;
mod seed;
mod server;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use caretaker_domain::clock::{Clock, SystemClock};
use hyper::Method;

use self::load::{Plan, Planned, Signer};
use self::report::{Report, ScenarioResult};
use self::seed::Seeded;
use self::server::ServerProcess;
use crate::Failure;
use crate::args::BenchArgs;
use crate::config::Settings;
use crate::startup;

/// The scenarios: number, short name, what each request does.
pub const SCENARIOS: [(u8, &str, &str); 8] = [
    (1, "healthz", "GET /healthz: no authentication, no database (the ceiling)"),
    (2, "me", "GET /rest/users/{tenant}/me: TCN authentication only"),
    (3, "list", "GET /rest/tasks/{tenant}?Limit=50 as a Management user with all sites"),
    (4, "list-contractor", "GET /rest/tasks/{tenant}?Limit=50 as a Contractor user (visibility filter)"),
    (5, "read", "GET /rest/tasks/{tenant}/{reference} of a random seeded task"),
    (6, "create", "POST /rest/tasks/{tenant} with a unique ExternalIdentifier"),
    (7, "status", "PUT /rest/tasks/{tenant}/{reference}/status, On Site <-> Completed"),
    (8, "list-deep", "GET /rest/tasks/{tenant}?Limit=50&Cursor=... 200 pages deep"),
];

/// Pages walked before scenario 8 hammers the cursor.
const DEEP_PAGES: usize = 200;

/// What a run was asked to do, defaults resolved.
struct BenchPlan {
    tasks: u64,
    connections: usize,
    seconds: f64,
    warm_up: Duration,
    scenarios: Vec<u8>,
    server_log: String,
}

pub async fn run(args: BenchArgs, mut settings: Settings) -> Result<(), Failure> {
    let plan = resolve(&args)?;
    let json_to_stdout = matches!(args.json, Some(None));
    // With JSON on stdout, the table and progress go to stderr.
    let mut out: Box<dyn Write> =
        if json_to_stdout { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };

    let temp = tempfile::Builder::new()
        .prefix("caretaker-bench-")
        .tempdir()
        .map_err(|err| Failure::refused(format!("cannot create a temporary folder: {err}")))?;
    settings.data_dir = temp.path().join("data");
    let backend = if settings.uses_postgres { "postgres" } else { "sqlite" };
    let now = SystemClock.now();
    let stamp = caretaker_domain::tcn::format_timestamp(now).replace([':', '-'], "").replace('T', "-");
    let tenant_name =
        format!("bench-{}-{}", stamp.trim_end_matches('Z'), &uuid::Uuid::new_v4().simple().to_string()[..6]);

    progress(&format!("caretaker bench: {backend}, {} tasks, tenant {tenant_name}", plan.tasks));
    let app = startup::open_app(&settings).await?;
    let seeded = seed::seed(&app, &tenant_name, plan.tasks).await?;
    app.db.close().await;
    drop(app);
    progress(&format!(
        "seeded {} tasks ({} visible to the Contractor user), {} sites, in {:.1} s",
        seeded.references.len(),
        seeded.contractor_visible,
        seeded.site_codes.len(),
        seeded.took.as_secs_f64()
    ));

    let load_before = report::load_average();
    let server =
        ServerProcess::start(&settings, &settings.data_dir, &plan.server_log, temp.path().join("server.log")).await?;
    let outcome = drive(&plan, &seeded, &server).await;
    let peak_rss = server.peak_rss();
    let load_after = report::load_average();
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    server.stop().await;
    let results = outcome?;
    let warnings = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).count();
    if warnings > 0 {
        progress(&format!("the server logged {warnings} warnings or errors during the run"));
    }

    let report = Report {
        backend,
        date: now.to_rfc3339(),
        tasks: plan.tasks,
        seed_seconds: seeded.took.as_secs_f64(),
        connections: plan.connections,
        seconds_per_scenario: plan.seconds,
        server_log: plan.server_log.clone(),
        load_average_before: load_before,
        load_average_after: load_after,
        server_peak_rss_bytes: peak_rss,
        scenarios: results,
        targets: Vec::new(),
    }
    .with_targets();
    report.print_table(&mut out).map_err(|err| Failure::refused(format!("cannot print: {err}")))?;
    match &args.json {
        None => {}
        Some(None) => {
            println!("{}", report.to_json()?);
        }
        Some(Some(path)) => {
            std::fs::write(path, report.to_json()? + "\n")
                .map_err(|err| Failure::refused(format!("cannot write {}: {err}", path.display())))?;
        }
    }
    let failed: u64 = report.scenarios.iter().map(|s| s.errors.values().sum::<u64>()).sum();
    if failed > 0 {
        return Err(Failure::refused(format!("{failed} requests failed (see the errors column)")));
    }
    Ok(())
}

fn progress(line: &str) {
    eprintln!("{line}");
}

fn resolve(args: &BenchArgs) -> Result<BenchPlan, Failure> {
    let quick = args.quick;
    let tasks = args.tasks.unwrap_or(if quick { 2_000 } else { 100_000 });
    let connections = args.connections.unwrap_or(if quick { 8 } else { 32 });
    let seconds = args.seconds.unwrap_or(if quick { 2.0 } else { 10.0 });
    if tasks == 0 || tasks > 10_000_000 {
        return Err(Failure::usage("--tasks must be 1 to 10000000"));
    }
    if connections == 0 || connections > 4096 {
        return Err(Failure::usage("--connections must be 1 to 4096"));
    }
    if !(0.1..=3600.0).contains(&seconds) {
        return Err(Failure::usage("--seconds must be 0.1 to 3600"));
    }
    let mut scenarios = if args.scenarios.is_empty() { (1..=8).collect() } else { args.scenarios.clone() };
    scenarios.sort_unstable();
    scenarios.dedup();
    if let Some(bad) = scenarios.iter().find(|n| !(1..=8).contains(*n)) {
        return Err(Failure::usage(format!("there is no scenario {bad}: they are numbered 1 to 8")));
    }
    Ok(BenchPlan {
        tasks,
        connections: connections as usize,
        seconds,
        warm_up: Duration::from_secs_f64((seconds / 5.0).min(1.0)),
        scenarios,
        server_log: args.server_log.clone().unwrap_or_else(|| String::from("info")),
    })
}

/// Waits for `/readyz`, then runs each scenario: a short unmeasured warm-up, then the
/// measured run between two readings of the server's CPU time.
async fn drive(plan: &BenchPlan, seeded: &Seeded, server: &ServerProcess) -> Result<Vec<ScenarioResult>, Failure> {
    let addr = server.addr;
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        match load::once(addr, Planned::get("/readyz".into(), None)).await {
            Ok((200, _)) => break,
            _ if Instant::now() > ready_by => return Err(Failure::refused("the server never became ready")),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    progress(&format!("server pid ready on {addr}, {:.1} MiB resident", server.rss() as f64 / 1048576.0));

    let tenant = seeded.tenant.to_lowercase();
    let manager = Arc::new(Signer { token: seeded.manager.token.clone(), secret: seeded.manager.secret.clone() });
    let technician =
        Arc::new(Signer { token: seeded.contractor.token.clone(), secret: seeded.contractor.secret.clone() });
    let toggled: Arc<Vec<AtomicBool>> = Arc::new(seeded.toggles.iter().map(|_| AtomicBool::new(false)).collect());
    let shared = Shared {
        tenant,
        manager,
        technician,
        references: Arc::new(seeded.references.clone()),
        toggles: Arc::new(seeded.toggles.clone()),
        toggled,
        sites: Arc::new(seeded.site_codes.clone()),
        deep_cursor: None,
    };
    let mut shared = shared;
    let mut results = Vec::new();
    for &number in &plan.scenarios {
        let (_, name, what) = SCENARIOS[usize::from(number - 1)];
        let mut note = String::new();
        if number == 7 && shared.toggles.is_empty() {
            return Err(Failure::usage("scenario 7 needs at least 6 seeded tasks"));
        }
        if number == 8 {
            let (cursor, depth) = walk_pages(addr, &shared).await?;
            note = format!("cursor after {depth} pages of 50");
            shared.deep_cursor = Some(cursor);
        }
        let connections = match number {
            7 => plan.connections.min(shared.toggles.len()).max(1),
            _ => plan.connections,
        };
        if connections != plan.connections {
            note = format!("{connections} connections (one per {} toggled tasks)", shared.toggles.len() / connections);
        }
        progress(&format!("scenario {number} ({name}): {what}"));
        if !plan.warm_up.is_zero() {
            load::run(addr, plans(number, connections, &shared, "w"), plan.warm_up).await;
        }
        let server_before = server.cpu_time();
        let client_before = server::cpu_time_of("self");
        let outcome = load::run(addr, plans(number, connections, &shared, "m"), secs(plan.seconds)).await;
        let server_cpu = server.cpu_time().saturating_sub(server_before);
        let client_cpu = server::cpu_time_of("self").saturating_sub(client_before);
        if let Some(first) = &outcome.first_error {
            progress(&format!("  first error: {first}"));
        }
        let result = ScenarioResult::new(number, connections, outcome, server_cpu, client_cpu, note);
        progress(&format!("  {:.0} requests/s, p99 {:.2} ms", result.requests_per_second, result.p99_ms));
        results.push(result);
    }
    Ok(results)
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// What every scenario's plans draw on.
struct Shared {
    tenant: String,
    manager: Arc<Signer>,
    technician: Arc<Signer>,
    references: Arc<Vec<String>>,
    toggles: Arc<Vec<String>>,
    /// Whether each toggled task is Completed now (else On Site).
    toggled: Arc<Vec<AtomicBool>>,
    sites: Arc<Vec<String>>,
    deep_cursor: Option<String>,
}

/// One plan per connection for scenario `number`; `run` keeps ExternalIdentifiers of the
/// warm-up and the measured run apart.
fn plans(number: u8, connections: usize, shared: &Shared, run: &str) -> Vec<Box<dyn Plan>> {
    let tenant = &shared.tenant;
    (0..connections)
        .map(|conn| -> Box<dyn Plan> {
            match number {
                1 => Box::new(Fixed(Planned::get("/healthz".into(), None))),
                2 => Box::new(Fixed(Planned::get(format!("/rest/users/{tenant}/me"), Some(shared.manager.clone())))),
                3 => Box::new(Fixed(Planned::get(
                    format!("/rest/tasks/{tenant}?Limit=50"),
                    Some(shared.manager.clone()),
                ))),
                4 => Box::new(Fixed(Planned::get(
                    format!("/rest/tasks/{tenant}?Limit=50"),
                    Some(shared.technician.clone()),
                ))),
                5 => Box::new(Reads {
                    tenant: tenant.clone(),
                    signer: shared.manager.clone(),
                    references: shared.references.clone(),
                    rng: Rng::new(conn),
                }),
                6 => Box::new(Creates {
                    tenant: tenant.clone(),
                    signer: shared.manager.clone(),
                    sites: shared.sites.clone(),
                    prefix: format!("BENCH-{}-{run}{conn}-", &shared.tenant[shared.tenant.len() - 6..]),
                    next: 0,
                    rng: Rng::new(conn),
                }),
                7 => Box::new(Toggles {
                    tenant: tenant.clone(),
                    signer: shared.manager.clone(),
                    references: shared.toggles.clone(),
                    completed: shared.toggled.clone(),
                    mine: (conn..shared.toggles.len()).step_by(connections).collect(),
                    at: 0,
                    last: None,
                }),
                _ => Box::new(Fixed(Planned::get(
                    format!("/rest/tasks/{tenant}?Limit=50&Cursor={}", shared.deep_cursor.as_deref().unwrap_or("")),
                    Some(shared.manager.clone()),
                ))),
            }
        })
        .collect()
}

/// Walks up to [`DEEP_PAGES`] pages of the Management user's list: the cursor of the next
/// page and how many pages were walked.
async fn walk_pages(addr: std::net::SocketAddr, shared: &Shared) -> Result<(String, usize), Failure> {
    let failed = |err: String| Failure::refused(format!("walking the pages: {err}"));
    let mut client = load::Client::new(addr).await.map_err(failed)?;
    let mut cursor: Option<String> = None;
    let mut depth = 0;
    while depth < DEEP_PAGES {
        let path = match &cursor {
            Some(c) => format!("/rest/tasks/{}?Limit=50&Cursor={c}", shared.tenant),
            None => format!("/rest/tasks/{}?Limit=50", shared.tenant),
        };
        let (status, body) = client.send(Planned::get(path, Some(shared.manager.clone()))).await.map_err(failed)?;
        if status != 200 {
            return Err(failed(format!("page {} answered {status}: {}", depth + 1, String::from_utf8_lossy(&body))));
        }
        let page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?;
        match page.get("NextCursor").and_then(|c| c.as_str()) {
            Some(next) => {
                cursor = Some(next.to_owned());
                depth += 1;
            }
            None => break,
        }
    }
    Ok((cursor.unwrap_or_default(), depth))
}

/// The same request every time.
struct Fixed(Planned);

impl Plan for Fixed {
    fn next(&mut self) -> Planned {
        Planned {
            method: self.0.method.clone(),
            path: self.0.path.clone(),
            body: self.0.body.clone(),
            signer: self.0.signer.clone(),
        }
    }
}

/// xorshift, seeded per connection.
struct Rng(u64);

impl Rng {
    fn new(conn: usize) -> Self {
        Rng(0x9e37_79b9_7f4a_7c15 ^ (conn as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d))
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound.max(1) as u64).unwrap_or(0)
    }
}

struct Reads {
    tenant: String,
    signer: Arc<Signer>,
    references: Arc<Vec<String>>,
    rng: Rng,
}

impl Plan for Reads {
    fn next(&mut self) -> Planned {
        let reference = &self.references[self.rng.below(self.references.len())];
        Planned::get(format!("/rest/tasks/{}/{reference}", self.tenant), Some(self.signer.clone()))
    }
}

struct Creates {
    tenant: String,
    signer: Arc<Signer>,
    sites: Arc<Vec<String>>,
    prefix: String,
    next: u64,
    rng: Rng,
}

impl Plan for Creates {
    fn next(&mut self) -> Planned {
        self.next += 1;
        let (matrix, description) = seed::CATEGORIES[self.rng.below(seed::CATEGORIES.len())];
        let body = serde_json::json!({
            "ExternalIdentifier": format!("{}{}", self.prefix, self.next),
            "InitiatorName": "Bench store manager",
            "SiteCode": self.sites[self.rng.below(self.sites.len())],
            "Description": description,
            "DefectSource": "Unknown",
            "MatrixItemCode": matrix,
        });
        Planned {
            method: Method::POST,
            path: format!("/rest/tasks/{}", self.tenant),
            body: Some(Bytes::from(body.to_string())),
            signer: Some(self.signer.clone()),
        }
    }
}

/// Moves this connection's share of the toggled tasks round robin: On Site -> Completed
/// (with a resolution cause and remedy) and back.
struct Toggles {
    tenant: String,
    signer: Arc<Signer>,
    references: Arc<Vec<String>>,
    completed: Arc<Vec<AtomicBool>>,
    mine: Vec<usize>,
    at: usize,
    last: Option<usize>,
}

impl Plan for Toggles {
    fn next(&mut self) -> Planned {
        let index = self.mine[self.at % self.mine.len().max(1)];
        self.at += 1;
        self.last = Some(index);
        let body = if self.completed[index].load(Ordering::Relaxed) {
            serde_json::json!({"Status": "On Site"})
        } else {
            serde_json::json!({"Status": "Completed", "ResolutionCauseCode": "01", "ResolutionRemedyCode": "01"})
        };
        Planned {
            method: Method::PUT,
            path: format!("/rest/tasks/{}/{}/status", self.tenant, self.references[index]),
            body: Some(Bytes::from(body.to_string())),
            signer: Some(self.signer.clone()),
        }
    }

    fn done(&mut self, status: u16) {
        // A 400 means our idea of the status was wrong (a lost answer): flip it too.
        if let Some(index) = self.last.take()
            && (status == 200 || status == 400)
        {
            self.completed[index].fetch_xor(true, Ordering::Relaxed);
        }
    }
}
