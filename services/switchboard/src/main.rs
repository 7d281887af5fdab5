//! The `switchboard` binary: parses the command line and runs the server.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};
use switchboard::config::Settings;
use switchboard::{logging, server};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::from_args(&args)?;
            logging::init(settings.log_format)?;
            actix_rt::System::new().block_on(server::run(settings))
        }
        Command::CheckConfig(args) => {
            let settings = Settings::from_args(&args)?;
            println!("{}", serde_json::to_string_pretty(&settings)?);
            Ok(())
        }
    }
}
