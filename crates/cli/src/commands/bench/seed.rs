//! The bench tenant: configuration (contractors, sites, users, dispatch rules, credentials)
//! through the same use cases as real ones, then the tasks straight through storage in one
//! transaction (raising 100,000 through the use case would take longer than the bench).

use std::time::{Duration, Instant};

use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::workflows::{self, RuleInput};
use caretaker_app::{App, AppError, Principal, credentials, password};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::task::{TaskNumber, WorkflowType};
use caretaker_domain::tenant::TenantId;
use caretaker_storage::audit::Actor;
use caretaker_storage::tasks::{self as stored_tasks, HistoryEntry, NewTask};
use caretaker_storage::workflows as stored_workflows;
use caretaker_storage::{Backend, StorageError};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Executor;

use crate::Failure;

/// Reactive matrix codes the seeded and created tasks use, with a description.
pub const CATEGORIES: [(&str, &str); 4] = [
    ("01-01", "Water coming through the roof above the till"),
    ("01-02", "Automatic door stuck open"),
    ("01-03", "Canopy lights flickering"),
    ("03-01", "Chiller cabinet reading 9 degrees"),
];

/// The contractor the Contractor bench user belongs to: the root of a small tree.
const FM: &str = "BENCH-FM";
/// Its descendants (the Contractor user sees their tasks too).
const FM_TREE: [(&str, &str, &str); 3] = [
    ("Bench Plumbing", "BENCH-PLUMB", FM),
    ("Bench Electrical", "BENCH-ELEC", FM),
    ("Bench Refrigeration", "BENCH-COLD", "BENCH-PLUMB"),
];
/// Unrelated contractors (their tasks are invisible to the Contractor user).
const OTHERS: [&str; 6] = ["NORTH-FM", "SOUTH-FM", "FUEL-SVC", "LIFTS-LTD", "GLAZING-CO", "PEST-CTRL"];
/// Sites in the tenant (a tenth of them also have a child site).
const SITES: usize = 300;
/// Management users without credentials: realistic user counts for the user lookups.
const MORE_USERS: usize = 20;

/// One user's API Token and API Secret Key.
#[derive(Clone, Debug)]
pub struct Credential {
    pub token: String,
    pub secret: SecretString,
}

/// What the scenarios need to know about the seeded tenant.
#[derive(Debug)]
pub struct Seeded {
    pub tenant: String,
    pub manager: Credential,
    pub contractor: Credential,
    /// Every seeded task's reference (reads pick among them).
    pub references: Vec<String>,
    /// Tasks seeded On Site and dispatched, for toggling On Site <-> Completed.
    pub toggles: Vec<String>,
    pub site_codes: Vec<String>,
    /// Seeded tasks visible to the Contractor user.
    pub contractor_visible: u64,
    pub took: Duration,
}

fn storage(err: StorageError) -> Failure {
    AppError::from(err).into()
}

/// A small deterministic generator: the same data on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound.max(1) as u64).unwrap_or(0)
    }
}

/// Creates the tenant `name` and everything the scenarios use, with `task_count` tasks.
pub async fn seed(app: &App, name: &str, task_count: u64) -> Result<Seeded, Failure> {
    let started = Instant::now();
    let refused = || Failure::refused("the operator lacks a permission it should have");
    let created = tenants::create(
        app,
        NewTenant { name: name.into(), admin_email: "admin@bench.caretaker.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await?;
    let tenant = created.tenant.id;
    let operator = Principal::operator(tenant, created.tenant.name.as_str());

    let contractors_write = operator.authorize::<can::ContractorsWrite>().ok_or_else(refused)?;
    let mut all_contractors = vec![("Bench Facilities", FM, None)];
    all_contractors.extend(FM_TREE.iter().map(|(n, c, p)| (*n, *c, Some(*p))));
    all_contractors.extend(OTHERS.iter().map(|c| (*c, *c, None)));
    for (contractor_name, code, parent) in all_contractors {
        contractors::create(
            app,
            &contractors_write,
            ContractorInput {
                name: contractor_name.into(),
                code: Some(code.into()),
                parent: parent.map(String::from),
                email: format!("jobs@{}.example", code.to_lowercase()),
                telephone: "+44 20 7946 0000".into(),
            },
        )
        .await?;
    }

    let site_codes = seed_sites(app, &operator).await?;

    let configure = operator.authorize::<can::ConfigurationWrite>().ok_or_else(refused)?;
    for (area, matrix, supplier, level) in [
        (Some("01"), None, FM, "Urgent"),
        (Some("01"), Some("01-03"), "BENCH-ELEC", "Routine"),
        (None, Some("03"), "BENCH-PLUMB", "Urgent"),
        (Some("02"), None, "SOUTH-FM", "Routine"),
    ] {
        workflows::add_rule(
            app,
            &configure,
            RuleInput {
                geographic_area: area.map(String::from),
                matrix_code: matrix.map(String::from),
                supplier: Some(supplier.into()),
                service_level: Some(level.into()),
                ..RuleInput::default()
            },
        )
        .await?;
    }

    let users_write = operator.authorize::<can::UsersWrite>().ok_or_else(refused)?;
    let new_user = async |email: &str, user_type: &str, contractor: Option<&str>, packages: &[&str], api: bool| {
        users::create(
            app,
            &users_write,
            UserInput {
                email: email.into(),
                name: email.split('@').next().unwrap_or(email).replace('.', " "),
                user_type: user_type.into(),
                contractor: contractor.map(String::from),
                role_packages: packages.iter().map(|p| (*p).to_owned()).collect(),
                site_access: if user_type == "Management" { "all".into() } else { "none".into() },
                is_integration: api,
                // Active at once (only the two API users need to be; the rest wait for a link).
                password: api.then(|| SecretString::from(password::generate().expose_secret().to_owned())),
            },
        )
        .await
    };
    let manager =
        new_user("integration@bench.caretaker.example", "Management", None, &["REST API", "Management User"], true)
            .await?;
    let technician =
        new_user("technician@bench-fm.example", "Contractor", Some(FM), &["REST API", "Contractor User"], true).await?;
    for n in 0..MORE_USERS {
        new_user(&format!("manager.{n:02}@bench.caretaker.example"), "Management", None, &["Management User"], false)
            .await?;
    }
    let credential_of = async |user: caretaker_domain::user::UserId| -> Result<Credential, Failure> {
        let mut conn = app.db.read().acquire().await.map_err(|e| storage(StorageError::from(e)))?;
        let principal = Principal::load(&mut conn, tenant, &operator.tenant_name, user)
            .await
            .map_err(storage)?
            .ok_or_else(|| Failure::refused("a bench user is not active"))?;
        drop(conn);
        let generated = credentials::generate(app, &operator, &principal).await?;
        Ok(Credential { token: generated.token, secret: generated.secret })
    };
    let manager_credential = credential_of(manager.id).await?;
    let contractor_credential = credential_of(technician.id).await?;

    let (references, toggles, contractor_visible) =
        seed_tasks(app, tenant, manager.id.0, &site_codes, task_count).await?;
    Ok(Seeded {
        tenant: created.tenant.name.as_str().to_owned(),
        manager: manager_credential,
        contractor: contractor_credential,
        references,
        toggles,
        site_codes,
        contractor_visible,
        took: started.elapsed(),
    })
}

/// Sites spread over the geographic areas and channels of the default configuration.
async fn seed_sites(app: &App, operator: &Principal) -> Result<Vec<String>, Failure> {
    let sites_write =
        operator.authorize::<can::SitesWrite>().ok_or_else(|| Failure::refused("the operator may not add sites"))?;
    let areas = ["01-01", "01-02", "02"];
    let channels = ["01-01", "02", "01"];
    let towns = ["Newcastle", "Manchester", "Brighton", "Leeds", "Bristol", "Norwich", "York", "Exeter"];
    let mut codes = Vec::with_capacity(SITES + SITES / 10);
    for n in 0..SITES {
        let code = format!("S{n:04}");
        let town = towns[n % towns.len()];
        let area = areas[n % areas.len()];
        let input = SiteInput {
            site_code: code.clone(),
            name: format!("{town} store {n}"),
            address: [
                format!("{} High Street", n + 1),
                String::new(),
                String::new(),
                town.to_owned(),
                String::new(),
                "United Kingdom".into(),
                String::new(),
            ],
            geographic_area: Some(area.to_owned()),
            site_channel: Some(channels[(n / areas.len()) % channels.len()].to_owned()),
            ..SiteInput::default()
        };
        sites::create(app, &sites_write, input).await?;
        codes.push(code.clone());
        if n % 10 == 0 {
            let child = format!("{code}-SHOP");
            let input = SiteInput {
                site_code: child.clone(),
                parent_code: Some(code),
                name: format!("{town} store {n} shop"),
                geographic_area: Some(area.to_owned()),
                site_channel: Some("01".into()),
                ..SiteInput::default()
            };
            sites::create(app, &sites_write, input).await?;
            codes.push(child);
        }
    }
    Ok(codes)
}

/// `count` tasks in one transaction, changed every 20 seconds back from now (so pages walk
/// distinct times), each with its "created" history line. About a tenth are undispatched,
/// about a third are the Contractor user's (its contractor's tree), the rest other
/// contractors'; one in twelve is On Site with the Contractor user's contractor, for the
/// status scenario.
async fn seed_tasks(
    app: &App,
    tenant: TenantId,
    created_by: i64,
    site_codes: &[String],
    count: u64,
) -> Result<(Vec<String>, Vec<String>, u64), Failure> {
    let mut tx = app.db.begin().await.map_err(storage)?;
    let workflow = stored_workflows::list(&mut tx, tenant, Some(WorkflowType::Reactive), None)
        .await
        .map_err(storage)?
        .into_iter()
        .find(|w| w.is_default)
        .ok_or_else(|| Failure::refused("the bench tenant has no default Reactive workflow"))?;
    let status = |name: &str| {
        workflow
            .status_named(name)
            .map(|s| (s.id, s.name.clone()))
            .ok_or_else(|| Failure::refused(format!("the default workflow has no status {name}")))
    };
    let logged = status("Logged")?;
    let dispatched_statuses =
        [status("Dispatched")?, status("Accepted")?, status("On Site")?, status("Completed")?, status("Closed")?];
    let on_site = status("On Site")?;
    let levels = stored_workflows::service_levels(&mut *tx, tenant).await.map_err(storage)?;
    let mut contractor_ids = Vec::new();
    for code in std::iter::once(FM).chain(FM_TREE.iter().map(|(_, c, _)| *c)).chain(OTHERS) {
        let found = caretaker_storage::contractors::find_by_code(&mut *tx, tenant, code)
            .await
            .map_err(storage)?
            .ok_or_else(|| Failure::refused(format!("contractor {code} is missing")))?;
        contractor_ids.push(found.id.0);
    }
    let tree = 1 + FM_TREE.len();
    let mut site_ids = Vec::with_capacity(site_codes.len());
    for code in site_codes {
        let id = caretaker_storage::sites::id_by_code(&mut *tx, tenant, code)
            .await
            .map_err(storage)?
            .ok_or_else(|| Failure::refused(format!("site {code} is missing")))?;
        site_ids.push(id.0);
    }

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let now = app.clock.now();
    let count_i64 = i64::try_from(count).unwrap_or(i64::MAX);
    let mut references = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut toggles = Vec::new();
    let mut visible = 0;
    let no_assets: Vec<String> = Vec::new();
    for n in 0..count_i64 {
        let at = Timestamp::from_unix_micros(now.unix_micros() - (count_i64 - n) * 20_000_000);
        let (category, description) = CATEGORIES[rng.below(CATEGORIES.len())];
        let site = site_ids[rng.below(site_ids.len())];
        let toggle = n % 12 == 5;
        let contractor = if toggle {
            Some(contractor_ids[0])
        } else {
            match rng.below(10) {
                0 => None,
                1..=3 => Some(contractor_ids[rng.below(tree)]),
                _ => Some(contractor_ids[tree + rng.below(contractor_ids.len() - tree)]),
            }
        };
        let status = match contractor {
            _ if toggle => &on_site,
            None => &logged,
            Some(_) => &dispatched_statuses[rng.below(dispatched_statuses.len())],
        };
        let level = contractor.and_then(|_| levels.get(rng.below(levels.len())));
        if contractor.is_some_and(|c| contractor_ids[..tree].contains(&c)) {
            visible += 1;
        }
        let reference = TaskNumber(stored_tasks::next_number(&mut tx, tenant).await.map_err(storage)?).reference();
        let external = format!("SEED-{n:06}");
        let description = format!("{description} (seeded {n})");
        let id = stored_tasks::insert(
            &mut tx,
            &NewTask {
                tenant,
                reference: &reference,
                created_by: Some(created_by),
                external_identifier: (n % 3 != 0).then_some(external.as_str()),
                request_hash: None,
                initiator_name: "Store manager",
                site,
                description: &description,
                defect_source: Some("Unknown"),
                matrix_code: category,
                chargeability: None,
                workflow: workflow.id,
                status: status.0,
                contractor,
                service_level: level.map(|l| l.id),
                respond_by: level.map(|l| at.plus_seconds(l.respond_minutes * 60)),
                complete_by: level.map(|l| at.plus_seconds(l.complete_minutes * 60)),
                is_asset_available: None,
                assets: &no_assets,
                custom_fields: &[],
                relation: None,
                related_task: None,
            },
            at,
        )
        .await
        .map_err(storage)?;
        stored_tasks::add_history(
            &mut tx,
            id,
            &HistoryEntry {
                occurred_at: at,
                actor_id: Some(created_by),
                actor: "integration bench".into(),
                event: "created".into(),
                from_status: None,
                to_status: Some(logged.1.clone()),
                status_date: None,
                detail: "Raised by the bench".into(),
            },
        )
        .await
        .map_err(storage)?;
        if toggle {
            toggles.push(reference.clone());
        }
        references.push(reference);
    }
    tx.commit().await.map_err(|e| storage(StorageError::from(e)))?;
    if app.db.backend() == Backend::Postgres {
        // PostgreSQL plans from statistics, which autovacuum gathers within a minute or so
        // of a bulk load, and probes the newest index entries while planning, which is slow
        // until a vacuum has marked the dead ones (5 ms instead of 0.5 ms to plan a page);
        // the bench does not wait for autovacuum. Outside a transaction: VACUUM refuses one.
        let pool = app.db.read();
        for statement in ["VACUUM (ANALYZE) tasks", "ANALYZE"] {
            pool.execute(sqlx::raw_sql(statement)).await.map_err(|e| storage(StorageError::from(e)))?;
        }
    }
    Ok((references, toggles, visible))
}
