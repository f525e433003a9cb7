//! One module per subcommand family.

mod api;
mod bench;
mod contractor;
mod credentials;
mod demo;
mod import;
mod serve;
mod tenant;
mod user;

use crate::Failure;
use crate::args::Command;
use crate::config::Settings;
use crate::startup;

pub async fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Serve(_) => serve::run(&settings, None).await,
        Command::Demo(_) => demo::run(&settings).await,
        Command::Tenant(command) => tenant::run(command, &settings).await,
        Command::Import(args) => import::run(args, &settings).await,
        Command::Migrate => {
            let db = startup::open_db(&settings).await?;
            db.close().await;
            println!("The database is up to date.");
            Ok(())
        }
        Command::Contractor(command) => contractor::run(command, &settings).await,
        Command::User(command) => user::run(command, &settings).await,
        Command::Credentials(command) => credentials::run(command, &settings).await,
        Command::Api(args) => api::run(args).await,
        Command::Bench(args) => bench::run(args, settings).await,
    }
}

/// The operator acting in the tenant named `name` (any case).
pub(crate) async fn operator_in(app: &caretaker_app::App, name: &str) -> Result<caretaker_app::Principal, Failure> {
    let tenant = caretaker_storage::tenants::find_by_name(app.db.read(), name)
        .await
        .map_err(|err| Failure::from(caretaker_app::AppError::from(err)))?
        .ok_or_else(|| Failure::refused(format!("no tenant is named {name:?}")))?;
    Ok(caretaker_app::Principal::operator(tenant.id, tenant.name.as_str()))
}

/// Where the server says it can be reached, for links printed on the terminal.
pub(crate) fn public_origin(settings: &Settings) -> String {
    match &settings.public_base_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{}", settings.listen),
    }
}
