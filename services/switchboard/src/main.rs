//! The `switchboard` binary: parses the command line and runs the server.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};
use switchboard::config::Settings;
use switchboard::{admin, logging, server};

/// mimalloc instead of the system allocator: SIP handling allocates and frees many small
/// objects per message (see docs/PERFORMANCE.md, "Registrar").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    without_transparent_huge_pages();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Turns transparent huge pages off for this process: on the benchmark VM the first touch of
/// a 2 MiB page took about 1.7 ms, and as lingering transactions grew the heap those faults
/// were a sixth of the server's CPU and its p99 latency (docs/PERFORMANCE.md, "Registrar",
/// "Transparent huge pages off"). Failing is harmless: only speed is lost.
fn without_transparent_huge_pages() {
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("switchboard: warning: cannot turn transparent huge pages off: {e}");
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
        Command::Migrate(db) => admin::migrate(&db),
        Command::Endpoint(cmd) => admin::endpoint(&cmd),
        Command::Agent(cmd) => admin::agent(&cmd),
        Command::Queue(cmd) => admin::queue(&cmd),
    }
}

/// The error and its causes on one line, `a: b: c`, leaving out a cause whose text the
/// previous one already shows (libraries often repeat their source in their message).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out.replace('\n', " ")
}
