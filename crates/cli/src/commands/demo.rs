//! `caretaker demo`: the one command a newcomer runs.

use std::io::Write;
use std::path::Path;

use caretaker_app::AppError;
use caretaker_app::tenants::{self, NewTenant};
use caretaker_storage::audit::Actor;
use caretaker_storage::tenants as stored_tenants;
use secrecy::ExposeSecret;

use super::serve;
use crate::Failure;
use crate::config::Settings;
use crate::startup;

pub const DEMO_TENANT: &str = "Demo";
pub const DEMO_ADMIN: &str = "admin@demo.caretaker.example";
const LOGIN_FILE: &str = "demo-login.txt";

/// Creates the demo tenant once, prints how to sign in, then serves.
pub async fn run(settings: &Settings) -> Result<(), Failure> {
    let app = startup::open_app(settings).await?;
    let login_file = settings.data_dir.join(LOGIN_FILE);
    let existing = stored_tenants::find_by_name(app.db.read(), DEMO_TENANT)
        .await
        .map_err(AppError::from)?;
    if existing.is_none() {
        let request = NewTenant {
            name: DEMO_TENANT.into(),
            admin_email: DEMO_ADMIN.into(),
            admin_password: None,
        };
        match tenants::create(&app, request, Actor::Operator).await {
            Ok(created) => {
                if let Some(password) = &created.generated_password {
                    startup::ensure_data_dir(&settings.data_dir)?;
                    save_login(&login_file, password.expose_secret())?;
                }
            }
            // Another demo process won the race: fine, the tenant exists.
            Err(AppError::Conflict(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let password = std::fs::read_to_string(&login_file)
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| String::from("(the one printed when the demo was first created)"));

    let host = match settings.listen.ip() {
        ip if ip.is_unspecified() => String::from("127.0.0.1"),
        ip => ip.to_string(),
    };
    println!();
    println!("  Caretaker demo");
    println!("  URL:        http://{host}:{}/", settings.listen.port());
    println!("  Tenant:     {DEMO_TENANT}");
    println!("  Sign in as: {DEMO_ADMIN}");
    println!("  Password:   {password}");
    println!("  (kept in {} for the next start)", login_file.display());
    println!();
    serve::run(settings, Some(app)).await
}

/// The generated demo password, owner-readable only, so later starts can print it again.
fn save_login(path: &Path, password: &str) -> Result<(), Failure> {
    let fail =
        |err: std::io::Error| Failure::refused(format!("cannot write {}: {err}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    writeln!(file, "{password}").map_err(fail)
}
