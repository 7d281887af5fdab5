//! The admin subcommands: `switchboard migrate`, `endpoint`, `agent` and `queue`. Each opens
//! the store named by `--database-url` or `--data-dir` (as `serve` does), makes one change
//! (`endpoint import`: one batch, all or none) or prints one list, and ends; every change is
//! written to the audit log by the store.

mod args;
pub mod demo;
mod table;

use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use store::agents::NewAgent;
use store::endpoints::NewEndpoint;
use store::queues::{NewQueue, Strategy};
use store::{Location, Store, StoreError};

pub use args::{
    AgentAdd, AgentCommand, DbArgs, EndpointAdd, EndpointCommand, EndpointImport, Named, QueueAdd,
    QueueCommand,
};
use table::{Table, or_dash, time_or_dash, yes_no};

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
                dtmf_mode: a.dtmf_mode,
            };
            let e = store.add_endpoint(&new, &actor()).await?;
            println!("endpoint {} added (realm {})", e.username, e.realm);
            Ok(())
        }),
        EndpointCommand::List(db) => with_store(db, async |store| {
            // USER AGENT last: it is the one column whose values hold spaces.
            let mut t = Table::new(&[
                "USERNAME",
                "REALM",
                "GROUP",
                "DISPLAY NAME",
                "ENABLED",
                "DTMF",
                "STATUS",
                "BINDINGS",
                "LAST SEEN",
                "SOURCE",
                "USER AGENT",
            ]);
            for e in store.endpoint_statuses(store::now_utc()).await? {
                t.row(vec![
                    e.username,
                    e.realm,
                    e.group.unwrap_or_default(),
                    e.display_name.unwrap_or_default(),
                    yes_no(e.enabled),
                    e.dtmf_mode.to_string(),
                    e.status.to_string(),
                    e.bindings.to_string(),
                    time_or_dash(e.last_seen),
                    or_dash(e.source),
                    or_dash(e.user_agent),
                ]);
            }
            print!("{t}");
            Ok(())
        }),
        EndpointCommand::Groups(db) => with_store(db, async |store| {
            let mut t = Table::new(&["NAME", "ENDPOINTS", "REGISTERED", "UNREACHABLE", "OFFLINE"]);
            for g in store.endpoint_group_summaries(store::now_utc()).await? {
                t.row(vec![
                    g.group.unwrap_or_else(|| NO_GROUP.to_string()),
                    g.endpoints.to_string(),
                    g.registered.to_string(),
                    g.unreachable.to_string(),
                    g.offline.to_string(),
                ]);
            }
            print!("{t}");
            Ok(())
        }),
        EndpointCommand::Import(a) => import_endpoints(a),
        EndpointCommand::Remove(n) => with_store(&n.db, async |store| {
            store.remove_endpoint(&n.name, &actor()).await?;
            println!("endpoint {} removed", n.name);
            Ok(())
        }),
    }
}

/// The `endpoint groups` row for endpoints in no group (not a valid group name, so it cannot
/// clash with one).
const NO_GROUP: &str = "(none)";

/// `switchboard endpoint import FILE.csv`: reads every record, then hands them to the store in
/// one all-or-nothing import; errors name the file line.
fn import_endpoints(a: &EndpointImport) -> anyhow::Result<()> {
    let from_stdin = a.file.as_os_str() == "-";
    let label = if from_stdin {
        "<stdin>".to_string()
    } else {
        a.file.display().to_string()
    };
    let mut data = Vec::new();
    if from_stdin {
        std::io::stdin().lock().read_to_end(&mut data)
    } else {
        std::fs::File::open(&a.file).and_then(|mut f| f.read_to_end(&mut data))
    }
    .with_context(|| format!("cannot read {label}"))?;
    let rows = read_import(&data, &a.realm, &label)?;
    let (lines, endpoints): (Vec<u64>, Vec<NewEndpoint>) = rows.into_iter().unzip();
    with_store(&a.db, async |store| {
        let report = match store.import_endpoints(&endpoints, &actor()).await {
            Ok(report) => report,
            Err(StoreError::Row { index, error }) => {
                let line = index
                    .checked_sub(1)
                    .and_then(|i| lines.get(i))
                    .map_or_else(|| format!("row {index}"), |l| format!("line {l}"));
                bail!("{label} {line}: {error}; nothing imported");
            }
            Err(e) => return Err(e.into()),
        };
        let plural = if report.imported == 1 { "" } else { "s" };
        if report.groups_created.is_empty() {
            println!("imported {} endpoint{plural} from {label}", report.imported);
        } else {
            println!(
                "imported {} endpoint{plural} from {label} (new groups: {})",
                report.imported,
                report.groups_created.join(", ")
            );
        }
        Ok(())
    })
}

/// Parses `username,password[,group[,display_name[,dtmf_mode]]]` records (RFC 4180 quoting;
/// blank lines ignored); a first record `username,password,...` is a header and skipped.
/// Empty group and display name fields mean none, an empty DTMF mode `rfc4733`. Returns each
/// endpoint with the line its record starts on.
fn read_import(data: &[u8], realm: &str, label: &str) -> anyhow::Result<Vec<(u64, NewEndpoint)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut lines = LineCounter::default();
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(data, p));
            anyhow!("{label} line {line}: {}", csv_reason(&e))
        })?;
        let line = record.position().map_or(0, |p| lines.line_at(data, p));
        let field = |i: usize| record.get(i).filter(|f| !f.is_empty()).map(str::to_string);
        if n == 0
            && record
                .get(0)
                .is_some_and(|f| f.trim().eq_ignore_ascii_case("username"))
            && record
                .get(1)
                .is_some_and(|f| f.trim().eq_ignore_ascii_case("password"))
        {
            continue;
        }
        if !(2..=5).contains(&record.len()) {
            bail!(
                "{label} line {line}: expected \
                 username,password[,group[,display_name[,dtmf_mode]]], found {} field{}",
                record.len(),
                if record.len() == 1 { "" } else { "s" }
            );
        }
        rows.push((
            line,
            NewEndpoint {
                username: record.get(0).unwrap_or_default().to_string(),
                password: record.get(1).unwrap_or_default().to_string(),
                realm: realm.to_string(),
                group: field(2),
                display_name: field(3),
                dtmf_mode: match field(4) {
                    None => store::DtmfMode::default(),
                    Some(mode) => mode
                        .parse()
                        .map_err(|e| anyhow!("{label} line {line}: {e}; nothing imported"))?,
                },
            },
        ));
    }
    Ok(rows)
}

/// Line numbers of record starts, counted incrementally (records come in order).
#[derive(Default)]
struct LineCounter {
    byte: usize,
    line: u64,
}

impl LineCounter {
    /// The 1-based line where the record at `pos` starts. csv's own line number is where it
    /// began reading, before the blank lines it skipped, so those are skipped here too.
    fn line_at(&mut self, data: &[u8], pos: &csv::Position) -> u64 {
        let mut start = usize::try_from(pos.byte())
            .unwrap_or(data.len())
            .min(data.len());
        while data.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        if start < self.byte {
            self.byte = 0;
            self.line = 0;
        }
        let newlines = data[self.byte..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.line += u64::try_from(newlines).unwrap_or(u64::MAX);
        self.byte = start;
        self.line + 1
    }
}

/// What is wrong with a record, without the position (the caller names the line).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Vec<(u64, NewEndpoint)>> {
        read_import(text.as_bytes(), "switchboard", "phones.csv")
    }

    #[test]
    fn records_are_numbered_by_the_line_they_start_on() {
        let text = "\n\n1001,\"multi\nline\"\r\n\r\n1002,pw\n";
        let lines: Vec<u64> = parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|(line, _)| *line)
            .collect();
        assert_eq!(lines, [3, 6]);
    }

    #[test]
    fn import_files_take_quoted_commas_optional_columns_and_a_header() {
        let rows = parse(
            "username,password,group,display_name\n\
             1001,s3cret\n\
             \n\
             1002,\"pa,ss \"\"x\"\"\",sales\n\
             1003,pw,,\"Front desk\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<_> = rows
            .iter()
            .map(|(line, e)| {
                (
                    *line,
                    e.username.as_str(),
                    e.password.as_str(),
                    e.group.as_deref(),
                    e.display_name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "1001", "s3cret", None, None),
                (4, "1002", "pa,ss \"x\"", Some("sales"), None),
                (5, "1003", "pw", None, Some("Front desk")),
            ]
        );
        assert!(rows.iter().all(|(_, e)| e.realm == "switchboard"));
        assert!(
            rows.iter()
                .all(|(_, e)| e.dtmf_mode == store::DtmfMode::Rfc4733)
        );
        let modes: Vec<store::DtmfMode> =
            parse("1001,pw,,,info\n1002,pw,sales,Desk,INBAND\n1003,pw,,,\n")
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|(_, e)| e.dtmf_mode)
                .collect();
        assert_eq!(
            modes,
            [
                store::DtmfMode::Info,
                store::DtmfMode::Inband,
                store::DtmfMode::Rfc4733
            ]
        );
        // Without a header the first line is data.
        assert_eq!(parse("1001,pw\n").map(|r| r.len()).ok(), Some(1));
    }

    #[test]
    fn import_file_errors_name_the_line() {
        let err = |text: &str| parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err("1001,pw\n1002\n"),
            "phones.csv line 2: expected username,password[,group[,display_name[,dtmf_mode]]], \
             found 1 field"
        );
        assert!(err("1001,pw\n1002,pw,g,d,info,extra\n").starts_with("phones.csv line 2: "));
        assert_eq!(
            err("1001,pw\n\n1002,pw,,,rfc2833\n"),
            "phones.csv line 3: invalid dtmf_mode: 'rfc2833' is not one of rfc4733, info, inband; \
             nothing imported"
        );
        assert_eq!(
            read_import(b"1001,pw\n\n1002,\xff\n", "r", "x.csv")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "x.csv line 3: not valid UTF-8"
        );
    }
}
