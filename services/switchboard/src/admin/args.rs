//! Command-line arguments of the admin subcommands (`migrate`, `endpoint`, `agent`, `queue`).
//!
//! Values that need checking (skills, strategies, overflow targets) are taken as text and
//! checked by the store, so a bad value ends in one line naming the field.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::DEFAULT_DATA_DIR;

/// Where the database is, as for `serve`.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB); default: SQLite in the data
    /// directory
    #[arg(long, value_name = "URL", env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for local state (the SQLite database, the writer's spool)
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

/// `switchboard endpoint ...`
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Add a SIP endpoint (only the digest HA1 values of its password are stored).
    Add(EndpointAdd),
    /// List endpoints with their registration status (live bindings, last seen, user agent
    /// and source of the latest binding).
    List(DbArgs),
    /// Count endpoints per group: registered, unreachable, offline.
    Groups(DbArgs),
    /// Add endpoints from a CSV file, all or none:
    /// username,password[,group[,display_name[,dtmf_mode]]] per line, an optional header
    /// line, `-` for standard input.
    Import(EndpointImport),
    /// Remove an endpoint and its registrations.
    Remove(Named),
}

/// `switchboard endpoint import`
#[derive(Debug, Args)]
pub struct EndpointImport {
    /// CSV file: username,password[,group[,display_name[,dtmf_mode]]] (dtmf_mode rfc4733,
    /// info or inband; empty: rfc4733); quote a field that holds a comma or a quote
    /// ("pa,ss" or "say ""hi"""); `-` reads standard input
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Digest realm of every imported endpoint
    #[arg(long, default_value = store::endpoints::DEFAULT_REALM)]
    pub realm: String,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `switchboard endpoint add`
#[derive(Debug, Args)]
pub struct EndpointAdd {
    /// SIP user name, e.g. 1001
    pub username: String,
    /// Password for digest authentication
    #[arg(long)]
    pub password: String,
    /// Digest realm
    #[arg(long, default_value = store::endpoints::DEFAULT_REALM)]
    pub realm: String,
    /// Endpoint group (created if new)
    #[arg(long)]
    pub group: Option<String>,
    /// Name shown to people
    #[arg(long)]
    pub display_name: Option<String>,
    /// How DTMF is sent to it: rfc4733, info or inband
    #[arg(long, default_value = "rfc4733", value_parser = parse_dtmf_mode)]
    pub dtmf_mode: store::DtmfMode,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}

fn parse_dtmf_mode(s: &str) -> Result<store::DtmfMode, String> {
    s.parse().map_err(|e: store::StoreError| e.to_string())
}

/// A subcommand naming one entity.
#[derive(Debug, Args)]
pub struct Named {
    /// The name (user name for endpoints)
    pub name: String,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `switchboard agent ...`
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Add an agent.
    Add(AgentAdd),
    /// List agents with their skills.
    List(DbArgs),
    /// Remove an agent.
    Remove(Named),
}

/// `switchboard agent add`
#[derive(Debug, Args)]
pub struct AgentAdd {
    /// Agent name (login), e.g. alice
    pub name: String,
    /// Skill and level 1-100, e.g. sales:80 (repeatable)
    #[arg(long = "skill", value_name = "NAME:LEVEL")]
    pub skills: Vec<String>,
    /// Extension callers can dial
    #[arg(long)]
    pub extension: Option<String>,
    /// Calls the agent may have at once
    #[arg(long, default_value_t = 1)]
    pub max_calls: i32,
    /// Name shown to people
    #[arg(long)]
    pub display_name: Option<String>,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `switchboard queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Add a queue.
    Add(QueueAdd),
    /// List queues.
    List(DbArgs),
    /// Remove a queue.
    Remove(Named),
}

/// `switchboard queue add`
#[derive(Debug, Args)]
pub struct QueueAdd {
    /// Queue name, e.g. support
    pub name: String,
    /// ring_all, longest_idle, round_robin, fewest_calls, skills_based or random
    #[arg(long, default_value = "longest_idle")]
    pub strategy: String,
    /// Required skill with minimum level, e.g. support:50 (NAME alone means level 1;
    /// repeatable)
    #[arg(long = "skill", value_name = "NAME[:LEVEL]")]
    pub skills: Vec<String>,
    /// Most callers waiting at once
    #[arg(long)]
    pub max_waiting: Option<i32>,
    /// Longest wait in seconds before overflow
    #[arg(long, value_name = "SECONDS")]
    pub max_wait: Option<i32>,
    /// Seconds an agent is left alone after a call
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wrap_up: i32,
    /// Where callers go when the queue is full, closed or waited out: queue:NAME,
    /// extension:EXT, ivr:FLOW, voicemail:BOX or hangup
    #[arg(long, value_name = "TARGET")]
    pub overflow: Option<String>,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}
