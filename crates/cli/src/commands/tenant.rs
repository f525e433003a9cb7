//! `caretaker tenant create|list`.

use caretaker_app::tenants::{self, NewTenant};
use caretaker_storage::audit::Actor;
use secrecy::{ExposeSecret, SecretString};

use crate::Failure;
use crate::args::TenantCommand;
use crate::config::{Settings, read_secret_file};
use crate::startup;

pub async fn run(command: TenantCommand, settings: &Settings) -> Result<(), Failure> {
    match command {
        TenantCommand::Create { name, admin_email, admin_password_file, json } => {
            let admin_password = admin_password_file
                .map(|path| read_secret_file(&path, "password file").map(SecretString::from))
                .transpose()
                .map_err(|err| Failure::usage(err.0))?;
            let app = startup::open_app(settings).await?;
            let created = tenants::create(&app, NewTenant { name, admin_email, admin_password }, Actor::Operator).await;
            app.db.close().await;
            let created = created?;
            let password = created.generated_password.as_ref().map(|p| p.expose_secret().to_owned());
            if json {
                let out = serde_json::json!({
                    "Tenant": created.tenant.name.as_str(),
                    "AdminEmail": created.admin_email.as_str(),
                    "AdminPassword": password,
                });
                println!("{out}");
            } else {
                println!("Created tenant {:?}.", created.tenant.name.as_str());
                println!("Administrator: {}", created.admin_email);
                if let Some(password) = password {
                    println!("Password:      {password}");
                    println!("(shown once; it must be changed at the first sign-in)");
                }
            }
            Ok(())
        }
        TenantCommand::List { json } => {
            let app = startup::open_app(settings).await?;
            let all = tenants::list(&app).await;
            app.db.close().await;
            let all = all?;
            if json {
                let items: Vec<_> = all
                    .iter()
                    .map(|t| serde_json::json!({ "Name": t.name.as_str(), "CreatedAtUtc": t.created_at.to_rfc3339() }))
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else if all.is_empty() {
                println!("No tenants yet: create one with `caretaker tenant create NAME --admin-email EMAIL`.");
            } else {
                for tenant in all {
                    println!("{}\t(created {})", tenant.name, tenant.created_at);
                }
            }
            Ok(())
        }
    }
}
