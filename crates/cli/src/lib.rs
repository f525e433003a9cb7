//! Caretaker's command line: parses arguments and settings, opens the application, and runs
//! one subcommand. Each subcommand is a thin shell over a use case of caretaker-app, so the
//! command line and the web application never disagree about the rules.

mod args;
mod commands;
pub mod config;
mod startup;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::config::Layer;

/// A command's failure: one line for stderr and an exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// The request was refused or could not be done (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 1 }
    }

    /// Bad settings or usage (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 2 }
    }
}

impl From<caretaker_app::AppError> for Failure {
    fn from(err: caretaker_app::AppError) -> Self {
        use caretaker_app::AppError;
        match err {
            AppError::Invalid(rules) | AppError::Conflict(rules) | AppError::Forbidden(rules) => {
                Failure::refused(rules.to_string())
            }
            AppError::NotFound => Failure::refused("not found"),
            AppError::Unavailable(source) => Failure::refused(format!("the database is unavailable: {source}")),
            AppError::Internal(source) => Failure::refused(format!("internal error: {source}")),
        }
    }
}

/// Runs the command line; returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve(serve) | Command::Demo(serve) => serve.listen.clone(),
        _ => None,
    };
    let settings = match config::load(Layer::from_flags(&cli.global, listen), cli.global.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => return exit(&Failure::usage(err.0)),
    };
    let is_server = matches!(cli.command, Command::Serve(_) | Command::Demo(_));
    startup::init_logging(&settings, if is_server { "info" } else { "warn" });

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            return exit(&Failure::refused(format!("cannot start the async runtime: {err}")));
        }
    };
    let outcome = runtime.block_on(commands::run(cli.command, settings));
    // The command is done: background tasks left (a pool's maintenance, say) get a moment
    // to stop, then the process exits whatever they do.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => exit(&failure),
    }
}

fn exit(failure: &Failure) -> ExitCode {
    let line = failure.message.replace('\n', " ");
    eprintln!("caretaker: {line}");
    ExitCode::from(failure.code)
}
