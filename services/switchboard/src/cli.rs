//! Command-line interface (clap). Every serve option can also come from an environment
//! variable; flags beat environment variables, which beat the config file and the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::admin::{AgentCommand, DbArgs, EndpointCommand, QueueCommand};

/// The Switchboard contact-center server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: SIP over UDP and TCP, and the HTTP endpoints.
    Serve(ServeArgs),
    /// Print the effective configuration (after flags, environment and file) and exit.
    CheckConfig(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage SIP endpoints (add, list, groups, import, remove).
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Manage agents and their skills (add, list, remove).
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage queues (add, list, remove).
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// Options of `serve`; unset ones fall back to the config file, then to the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (see deploy/switchboard.example.toml).
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,

    /// SIP listen address, UDP and TCP (repeatable; env: comma-separated) [default: 0.0.0.0:5060]
    #[arg(
        long = "sip-listen",
        value_name = "ADDR",
        env = "SWITCHBOARD_SIP_LISTEN",
        value_delimiter = ',',
        action = ArgAction::Append
    )]
    pub sip_listen: Vec<SocketAddr>,

    /// HTTP listen address for /health [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", env = "SWITCHBOARD_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// Directory for local state, created if missing [default: ./data]
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log format; the level comes from RUST_LOG (default info) [default: text]
    #[arg(
        long,
        value_name = "FORMAT",
        env = "SWITCHBOARD_LOG_FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,

    /// PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB) [default: SQLite at DIR/switchboard.db]
    #[arg(long, value_name = "URL", env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Seed a demo data set (endpoints, agents, a queue, an IVR flow) where missing
    #[arg(long)]
    pub demo: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
