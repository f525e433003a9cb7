//! One module per subcommand family.

mod demo;
mod serve;
mod tenant;

use crate::Failure;
use crate::args::Command;
use crate::config::Settings;
use crate::startup;

pub async fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Serve(_) => serve::run(&settings, None).await,
        Command::Demo(_) => demo::run(&settings).await,
        Command::Tenant(command) => tenant::run(command, &settings).await,
        Command::Migrate => {
            let db = startup::open_db(&settings).await?;
            db.close().await;
            println!("The database is up to date.");
            Ok(())
        }
        Command::Contractor(_) => not_yet("contractor create"),
        Command::User(_) => not_yet("user create"),
        Command::Credentials(_) => not_yet("credentials"),
        Command::Api(_) => not_yet("api"),
        Command::Bench(_) => not_yet("bench"),
    }
}

/// Subcommands whose issue has not landed yet exist (with their `--help`) and say so.
fn not_yet(name: &str) -> Result<(), Failure> {
    Err(Failure::usage(format!(
        "`caretaker {name}` is not yet available in this version"
    )))
}
