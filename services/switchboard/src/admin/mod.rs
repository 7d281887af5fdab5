//! The admin subcommands: `switchboard migrate`, `endpoint`, `agent` and `queue`. Each opens
//! the store named by `--database-url` or `--data-dir` (as `serve` does), makes one change or
//! prints one list, and ends; every change is written to the audit log by the store.

mod args;
pub mod demo;
mod table;

use std::path::Path;

use anyhow::Context as _;
use store::agents::NewAgent;
use store::endpoints::NewEndpoint;
use store::queues::{NewQueue, Strategy};
use store::{Location, Store};

pub use args::{
    AgentAdd, AgentCommand, DbArgs, EndpointAdd, EndpointCommand, Named, QueueAdd, QueueCommand,
};
use table::{Table, yes_no};

/// Opens (and migrates) the store for `database_url`, or the SQLite file in `data_dir`.
pub async fn open_store(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
    let location = Location::resolve(database_url, data_dir)?;
    Store::open(&location)
        .await
        .with_context(|| format!("cannot open the database {location}"))
}

/// Who the audit log names for a command-line change: `cli:$USER`.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    if user.is_empty() {
        "cli".to_string()
    } else {
        format!("cli:{user}")
    }
}

/// Runs `f` with the store on a single-threaded runtime.
fn with_store<T>(
    db: &DbArgs,
    f: impl AsyncFnOnce(&Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = open_store(db.database_url.as_deref(), &db.data_dir).await?;
        let result = f(&store).await;
        store.close().await;
        result
    })
}

/// `switchboard migrate`: applies pending migrations and reports the schema version.
pub fn migrate(db: &DbArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let location = Location::resolve(db.database_url.as_deref(), &db.data_dir)?;
        let store = Store::connect(&location)
            .await
            .with_context(|| format!("cannot open the database {location}"))?;
        let report = store
            .migrate()
            .await
            .with_context(|| format!("cannot migrate the database {location}"));
        store.close().await;
        let report = report?;
        if report.before == report.after {
            println!(
                "schema at version {} on {location}: up to date",
                report.after
            );
        } else {
            println!(
                "schema at version {} on {location} (was {})",
                report.after, report.before
            );
        }
        Ok(())
    })
}

/// `switchboard endpoint ...`
pub fn endpoint(cmd: &EndpointCommand) -> anyhow::Result<()> {
    match cmd {
        EndpointCommand::Add(a) => with_store(&a.db, async |store| {
            let new = NewEndpoint {
                username: a.username.clone(),
                password: a.password.clone(),
                realm: a.realm.clone(),
                group: a.group.clone(),
                display_name: a.display_name.clone(),
            };
            let e = store.add_endpoint(&new, &actor()).await?;
            println!("endpoint {} added (realm {})", e.username, e.realm);
            Ok(())
        }),
        EndpointCommand::List(db) => with_store(db, async |store| {
            let mut t = Table::new(&["USERNAME", "REALM", "GROUP", "DISPLAY NAME", "ENABLED"]);
            for e in store.list_endpoints().await? {
                t.row(vec![
                    e.username,
                    e.realm,
                    e.group_name.unwrap_or_default(),
                    e.display_name.unwrap_or_default(),
                    yes_no(e.enabled),
                ]);
            }
            print!("{t}");
            Ok(())
        }),
        EndpointCommand::Remove(n) => with_store(&n.db, async |store| {
            store.remove_endpoint(&n.name, &actor()).await?;
            println!("endpoint {} removed", n.name);
            Ok(())
        }),
    }
}

/// `switchboard agent ...`
pub fn agent(cmd: &AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Add(a) => with_store(&a.db, async |store| {
            let skills = a
                .skills
                .iter()
                .map(|s| store::validate::skill_spec(s))
                .collect::<Result<Vec<_>, _>>()?;
            let new = NewAgent {
                name: a.name.clone(),
                display_name: a.display_name.clone(),
                extension: a.extension.clone(),
                max_calls: a.max_calls,
                skills,
            };
            let agent = store.add_agent(&new, &actor()).await?;
            println!("agent {} added", agent.name);
            Ok(())
        }),
        AgentCommand::List(db) => with_store(db, async |store| {
            let mut t = Table::new(&["NAME", "EXTENSION", "MAX CALLS", "SKILLS", "DISPLAY NAME"]);
            for a in store.list_agents().await? {
                t.row(vec![
                    a.name,
                    a.extension.unwrap_or_default(),
                    a.max_calls.to_string(),
                    table::skills(&a.skills),
                    a.display_name.unwrap_or_default(),
                ]);
            }
            print!("{t}");
            Ok(())
        }),
        AgentCommand::Remove(n) => with_store(&n.db, async |store| {
            store.remove_agent(&n.name, &actor()).await?;
            println!("agent {} removed", n.name);
            Ok(())
        }),
    }
}

/// `switchboard queue ...`
pub fn queue(cmd: &QueueCommand) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::Add(a) => with_store(&a.db, async |store| {
            let required_skills = a
                .skills
                .iter()
                .map(|s| {
                    if s.contains(':') {
                        store::validate::skill_spec(s)
                    } else {
                        store::validate::skill_spec(&format!("{s}:1"))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let new = NewQueue {
                name: a.name.clone(),
                strategy: a.strategy.parse::<Strategy>()?,
                required_skills,
                max_waiting: a.max_waiting,
                max_wait_secs: a.max_wait,
                wrap_up_secs: a.wrap_up,
                overflow: a.overflow.clone(),
            };
            let q = store.add_queue(&new, &actor()).await?;
            println!("queue {} added (strategy {})", q.name, q.strategy);
            Ok(())
        }),
        QueueCommand::List(db) => with_store(db, async |store| {
            let mut t = Table::new(&[
                "NAME",
                "STRATEGY",
                "SKILLS",
                "MAX WAITING",
                "MAX WAIT",
                "WRAP-UP",
                "OVERFLOW",
            ]);
            let opt = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
            for q in store.list_queues().await? {
                t.row(vec![
                    q.name,
                    q.strategy,
                    table::skills(&q.required_skills),
                    opt(q.max_waiting),
                    opt(q.max_wait_secs),
                    q.wrap_up_secs.to_string(),
                    q.overflow.unwrap_or_default(),
                ]);
            }
            print!("{t}");
            Ok(())
        }),
        QueueCommand::Remove(n) => with_store(&n.db, async |store| {
            store.remove_queue(&n.name, &actor()).await?;
            println!("queue {} removed", n.name);
            Ok(())
        }),
    }
}
