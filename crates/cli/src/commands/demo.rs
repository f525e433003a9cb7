//! `caretaker demo`: the one command a newcomer runs.

use std::io::Write;
use std::path::Path;

use caretaker_app::contractors::{self, ContractorInput};
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::tasks::{self, Dispatch, StatusChange, TaskInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::workflows::{self, RuleInput};
use caretaker_app::{App, AppError, Principal, credentials, password};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::user::Email;
use caretaker_storage::StorageError;
use caretaker_storage::audit::Actor;
use caretaker_storage::tenants as stored_tenants;
use secrecy::{ExposeSecret, SecretString};

use super::serve;
use crate::Failure;
use crate::config::Settings;
use crate::startup;

pub const DEMO_TENANT: &str = "Demo";
pub const DEMO_ADMIN: &str = "admin@demo.caretaker.example";
pub const DEMO_CONTRACTOR_USER: &str = "technician@demo-facilities.example";
pub const DEMO_INTEGRATION: &str = "api.integration@demo.caretaker.example";
const LOGIN_FILE: &str = "demo-login.txt";
const API_TOKEN_FILE: &str = "demo-api-token.txt";
const API_SECRET_FILE: &str = "demo-api-secret.txt";

/// Creates the demo tenant once, prints how to sign in, then serves.
pub async fn run(settings: &Settings) -> Result<(), Failure> {
    let app = startup::open_app(settings).await?;
    let login_file = settings.data_dir.join(LOGIN_FILE);
    let existing = stored_tenants::find_by_name(app.db.read(), DEMO_TENANT).await.map_err(AppError::from)?;
    if existing.is_none() {
        // The demo chooses the password itself (so it need not be changed at first sign-in:
        // it is kept in the data folder and printed at every start).
        let chosen = password::generate();
        let request = NewTenant {
            name: DEMO_TENANT.into(),
            admin_email: DEMO_ADMIN.into(),
            admin_password: Some(SecretString::from(chosen.expose_secret().to_owned())),
        };
        match tenants::create(&app, request, Actor::Operator).await {
            Ok(created) => {
                let admin_password = chosen.expose_secret().to_owned();
                let operator = Principal::operator(created.tenant.id, created.tenant.name.as_str());
                let (logins, generated) = seed(&app, &operator).await?;
                startup::ensure_data_dir(&settings.data_dir)?;
                save_private(&settings.data_dir.join(API_TOKEN_FILE), &generated.token)?;
                save_private(&settings.data_dir.join(API_SECRET_FILE), generated.secret.expose_secret())?;
                let mut lines = vec![(DEMO_ADMIN.to_owned(), admin_password)];
                lines.extend(logins);
                save_logins(&login_file, &lines)?;
            }
            // Another demo process won the race: fine, the tenant exists.
            Err(AppError::Conflict(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let logins = std::fs::read_to_string(&login_file).unwrap_or_default();

    let listener = serve::bind(settings).await?;
    let bound = listener.local_addr().map_err(|err| Failure::refused(format!("listening socket: {err}")))?;
    let host = match bound.ip() {
        ip if ip.is_unspecified() => String::from("127.0.0.1"),
        ip => ip.to_string(),
    };
    println!();
    println!("  Caretaker demo");
    println!("  URL:        http://{host}:{}{}/sign-in", bound.port(), caretaker_http::tenant_path(DEMO_TENANT));
    println!("  Tenant:     {DEMO_TENANT}");
    let mut first = true;
    for line in logins.lines() {
        if let Some((email, password)) = line.split_once(' ') {
            let role = if first {
                "Administrator"
            } else if email == DEMO_INTEGRATION {
                "Integration"
            } else {
                "Contractor"
            };
            println!("  {role:<13} {email}");
            if first {
                println!("  Password:   {password}");
            } else {
                println!("    password: {password}");
            }
            first = false;
        }
    }
    if first {
        println!("  Sign in as: {DEMO_ADMIN} (with the password printed when the demo was first created)");
    }
    println!("  (logins kept in {} for the next start)", login_file.display());
    let token = std::fs::read_to_string(settings.data_dir.join(API_TOKEN_FILE)).unwrap_or_default();
    // Absolute, so the printed command works from any folder.
    let secret_file =
        std::fs::canonicalize(&settings.data_dir).unwrap_or_else(|_| settings.data_dir.clone()).join(API_SECRET_FILE);
    if let (false, Ok(secret)) = (token.trim().is_empty(), std::fs::read_to_string(&secret_file)) {
        println!();
        println!("  Integration user's API credentials ({DEMO_INTEGRATION}):");
        println!("  API Token:      {}", token.trim());
        println!("  API Secret Key: {}", secret.trim());
        println!("  Try a signed call:");
        println!(
            "  cargo run --release -- api --base-url http://{host}:{} --token {} --secret-file {} GET /rest/users/{}/me",
            bound.port(),
            token.trim(),
            secret_file.display(),
            DEMO_TENANT.to_lowercase()
        );
    }
    println!();
    serve::run_on(settings, app, listener).await
}

/// Sample data: contractors (a parent with children, and an unrelated one), a contractor
/// user, an integration user with API credentials, sites, dispatch rules and tasks.
async fn seed(app: &App, operator: &Principal) -> Result<(Vec<(String, String)>, credentials::Generated), Failure> {
    let contractors_write =
        operator.authorize::<can::ContractorsWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
    contractors::create(
        app,
        &contractors_write,
        ContractorInput {
            name: "Demo Facilities Ltd".into(),
            code: Some("DEMO-FM".into()),
            parent: None,
            email: "dispatch@demo-facilities.example".into(),
            telephone: "+44 20 7946 0000".into(),
        },
    )
    .await?;
    contractors::create(
        app,
        &contractors_write,
        ContractorInput {
            name: "Demo Plumbing".into(),
            code: Some("DEMO-PLUMB".into()),
            parent: Some("DEMO-FM".into()),
            email: "jobs@demo-plumbing.example".into(),
            telephone: String::new(),
        },
    )
    .await?;

    let users_write = operator.authorize::<can::UsersWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
    let mut logins = Vec::new();
    for (email, name, user_type, contractor, packages, integration) in [
        (DEMO_CONTRACTOR_USER, "Dana Technician", "Contractor", Some("DEMO-FM"), vec!["Contractor User"], false),
        (
            DEMO_INTEGRATION,
            "Tank Monitoring Integration",
            "Management",
            None,
            vec!["REST API", "Management User"],
            true,
        ),
    ] {
        let chosen = password::generate();
        users::create(
            app,
            &users_write,
            UserInput {
                email: email.into(),
                name: name.into(),
                user_type: user_type.into(),
                contractor: contractor.map(String::from),
                role_packages: packages.into_iter().map(String::from).collect(),
                site_access: if user_type == "Management" { "all".into() } else { "none".into() },
                is_integration: integration,
                password: Some(SecretString::from(chosen.expose_secret().to_owned())),
            },
        )
        .await?;
        logins.push((email.to_owned(), chosen.expose_secret().to_owned()));
    }
    let integration = {
        let mut conn =
            app.db.read().acquire().await.map_err(|e| Failure::from(AppError::from(StorageError::from(e))))?;
        let email = Email::parse(DEMO_INTEGRATION).map_err(|rule| Failure::refused(rule.value))?;
        let user = caretaker_storage::users::find_by_email(&mut conn, operator.tenant, &email)
            .await
            .map_err(|e| Failure::from(AppError::from(e)))?
            .ok_or_else(|| Failure::refused("the demo integration user is missing"))?;
        Principal::load(&mut conn, operator.tenant, &operator.tenant_name, user.id)
            .await
            .map_err(|e| Failure::from(AppError::from(e)))?
            .ok_or_else(|| Failure::refused("the demo integration user is not active"))?
    };
    let generated = credentials::generate(app, operator, &integration).await?;
    seed_work(app, operator).await?;
    Ok((logins, generated))
}

/// Sites in areas and channels (some with child sites), dispatch rules, and a few hundred
/// tasks in every kind of status, raised and moved through the same use cases as real ones.
async fn seed_work(app: &App, operator: &Principal) -> Result<(), Failure> {
    let refused = || Failure::refused("not allowed");
    let contractors_write = operator.authorize::<can::ContractorsWrite>().ok_or_else(refused)?;
    for (name, code, parent) in
        [("Demo Electrical", "DEMO-ELEC", Some("DEMO-FM")), ("Forecourt Fuel Services", "FUEL-SVC", None)]
    {
        contractors::create(
            app,
            &contractors_write,
            ContractorInput {
                name: name.into(),
                code: Some(code.into()),
                parent: parent.map(String::from),
                email: String::new(),
                telephone: String::new(),
            },
        )
        .await?;
    }

    let sites_write = operator.authorize::<can::SitesWrite>().ok_or_else(refused)?;
    let towns = [
        ("NE", "01-01", "Newcastle"),
        ("NE", "01-01", "Sunderland"),
        ("NE", "01-01", "Durham"),
        ("NW", "01-02", "Manchester"),
        ("NW", "01-02", "Liverpool"),
        ("NW", "01-02", "Preston"),
        ("S", "02", "Brighton"),
        ("S", "02", "Southampton"),
        ("S", "02", "Portsmouth"),
    ];
    let mut site_codes = Vec::new();
    for (index, (prefix, area, town)) in towns.iter().enumerate() {
        for (suffix, channel, kind) in [("F", "01-01", "Forecourt"), ("C", "02", "Depot")] {
            let code = format!("{prefix}-{town}-{suffix}").to_uppercase().replace(' ', "");
            sites::create(
                app,
                &sites_write,
                SiteInput {
                    site_code: code.clone(),
                    name: format!("{town} {kind}"),
                    address: [
                        format!("{} High Street", index + 1),
                        String::new(),
                        String::new(),
                        (*town).to_owned(),
                        String::new(),
                        "United Kingdom".into(),
                        String::new(),
                    ],
                    geographic_area: Some((*area).to_owned()),
                    site_channel: Some(channel.to_owned()),
                    hazards: if suffix == "F" { vec!["Flammable vapours".into()] } else { Vec::new() },
                    ..SiteInput::default()
                },
            )
            .await?;
            site_codes.push(code.clone());
            if suffix == "F" {
                let shop = format!("{code}-SHOP");
                sites::create(
                    app,
                    &sites_write,
                    SiteInput {
                        site_code: shop.clone(),
                        parent_code: Some(code),
                        name: format!("{town} Forecourt Shop"),
                        geographic_area: Some((*area).to_owned()),
                        site_channel: Some("01".into()),
                        ..SiteInput::default()
                    },
                )
                .await?;
                site_codes.push(shop);
            }
        }
    }

    let configure = operator.authorize::<can::ConfigurationWrite>().ok_or_else(refused)?;
    for rule in [
        RuleInput {
            matrix_code: Some("02".into()),
            supplier: Some("FUEL-SVC".into()),
            service_level: Some("Emergency".into()),
            ..RuleInput::default()
        },
        RuleInput {
            geographic_area: Some("01".into()),
            supplier: Some("DEMO-FM".into()),
            service_level: Some("Urgent".into()),
            ..RuleInput::default()
        },
        RuleInput {
            geographic_area: Some("01".into()),
            matrix_code: Some("01-03".into()),
            supplier: Some("DEMO-ELEC".into()),
            service_level: Some("Routine".into()),
            ..RuleInput::default()
        },
        RuleInput {
            matrix_code: Some("03".into()),
            supplier: Some("DEMO-PLUMB".into()),
            service_level: Some("Urgent".into()),
            ..RuleInput::default()
        },
    ] {
        workflows::add_rule(app, &configure, rule).await?;
    }

    let raise = operator.authorize::<can::TasksCreate>().ok_or_else(refused)?;
    let update = operator.authorize::<can::TasksUpdate>().ok_or_else(refused)?;
    let dispatch = operator.authorize::<can::TasksDispatch>().ok_or_else(refused)?;
    let categories = [
        ("01-01", "Water coming through the roof above the till"),
        ("01-02", "Automatic door stuck open"),
        ("01-03", "Canopy lights flickering"),
        ("02-01", "Dispenser not authorising"),
        ("02-02-01", "Tank high level alarm"),
        ("03-01", "Chiller cabinet reading 9 degrees"),
    ];
    // The journeys a task takes: the statuses it passes after being raised.
    let journeys: [&[&str]; 7] = [
        &[],
        &["Accepted"],
        &["Accepted", "On Site"],
        &["Accepted", "On Site", "Completed"],
        &["Accepted", "On Site", "Completed", "Closed"],
        &["Rejected"],
        &["Cancelled"],
    ];
    let mut random = 0x2545_f491_u64;
    let mut next = |bound: usize| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        usize::try_from(random % bound as u64).unwrap_or(0)
    };
    for n in 0..300 {
        let (category, description) = categories[next(categories.len())];
        let site = &site_codes[next(site_codes.len())];
        let fuel = category.starts_with("02");
        let raised = tasks::raise(
            app,
            &raise,
            TaskInput {
                external_identifier: Some(format!("DEMO-{n:04}")),
                initiator_name: if fuel { "Tank monitoring".into() } else { "Store manager".into() },
                site_code: site.clone(),
                description: description.into(),
                defect_source: Some("Unknown".into()),
                matrix_item_code: category.into(),
                custom_fields: if fuel {
                    vec![
                        ("Custom_Pump_Number".into(), (1 + next(8)).to_string()),
                        ("Custom_Is_Leaking".into(), "false".into()),
                    ]
                } else {
                    Vec::new()
                },
                ..TaskInput::default()
            },
        )
        .await?;
        let tasks::Raised::Created(task) = raised else { continue };
        if task.supplier.is_none() && next(3) > 0 {
            let request = Dispatch { supplier: "DEMO-PLUMB".into(), service_level: Some("Routine".into()) };
            tasks::dispatch(app, &dispatch, &task.reference, request).await?;
        } else if task.supplier.is_none() {
            continue;
        }
        for status in journeys[next(journeys.len())] {
            let completing = *status == "Completed";
            let change = StatusChange {
                status: (*status).into(),
                resolution_cause: completing.then(|| "01".into()),
                resolution_remedy: completing.then(|| "01".into()),
                note: (*status == "On Site").then(|| "Engineer arrived on site".into()),
                ..StatusChange::default()
            };
            tasks::change_status(app, &update, &task.reference, change).await?;
        }
    }
    Ok(())
}

/// A file only the owner can read (demo credentials).
fn save_private(path: &Path, text: &str) -> Result<(), Failure> {
    save_lines(path, &[text])
}

fn save_lines(path: &Path, lines: &[&str]) -> Result<(), Failure> {
    let fail = |err: std::io::Error| Failure::refused(format!("cannot write {}: {err}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    for line in lines {
        writeln!(file, "{line}").map_err(fail)?;
    }
    Ok(())
}

/// The generated demo passwords, owner-readable only, so later starts print them again.
fn save_logins(path: &Path, logins: &[(String, String)]) -> Result<(), Failure> {
    let lines: Vec<String> = logins.iter().map(|(email, password)| format!("{email} {password}")).collect();
    save_lines(path, &lines.iter().map(String::as_str).collect::<Vec<_>>())
}
