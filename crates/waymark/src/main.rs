//! The `waymark` command: parses arguments, calls the libraries, maps outcomes to exit codes.

use std::process::ExitCode;

use clap::Parser;

mod analyze;
mod cli;
mod config;
mod demo;
mod demo_plans;
mod journey;
mod keys;
mod kpi;
mod output;
mod process;
mod serve;

/// What a command reports back to `main`.
pub(crate) enum Outcome {
    /// Everything is fine: exit 0.
    Fine,
    /// The command ran and found problems (lint findings, a journey with errors): exit 1.
    Problems,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WAYMARK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Journey { command } => journey::run(command),
        cli::Command::Analyze { command } => analyze::run_analyze(*command),
        cli::Command::Log { command } => analyze::run_log(*command),
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Import {
            db,
            events: Some(events),
            stored: true,
            append,
            ..
        } => analyze::run_copy_stored(&db, &events, append),
        cli::Command::Import {
            files,
            read,
            events: Some(events),
            append,
            ..
        } => analyze::run_import_clickhouse(&files, &events, &read, append),
        cli::Command::Import {
            files,
            db,
            read,
            events: None,
            ..
        } => analyze::run_import(&files, &db, &read),
        cli::Command::Process { command } => process::run(command),
        cli::Command::Org { command } => process::org(command),
        cli::Command::Keys { command } => keys::run(command),
        cli::Command::Backup { db, to } => keys::backup(&db, &to),
        cli::Command::Copy { from, to } => keys::copy(&from, &to),
        cli::Command::Kpi { command } => kpi::run(*command),
        cli::Command::Alerts { command } => kpi::alerts(*command),
        cli::Command::Openapi => serde_json::to_string_pretty(&waymark_server::openapi())
            .map(|text| {
                println!("{text}");
                Outcome::Fine
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(Outcome::Fine) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
