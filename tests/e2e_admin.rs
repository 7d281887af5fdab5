//! End-to-end: the admin subcommands (`endpoint`, `agent`, `queue` add/list/remove, and
//! `migrate`) through the real binary, on SQLite (the default, in `--data-dir`) and on
//! PostgreSQL (`--database-url`, a fresh database on the cluster of scripts/test.sh); and
//! `serve --demo` seeding the demo set, idempotently, on both.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{Server, scratch_dir, switchboard_bin};

/// Runs `switchboard ARGS` with a clean environment for the database settings.
fn run(args: &[&str]) -> Output {
    Command::new(switchboard_bin())
        .args(args)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run switchboard {args:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `switchboard ARGS DB...` must succeed; returns stdout.
fn ok(args: &[&str], db: &[String]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(db.iter().map(String::as_str));
    let out = run(&all);
    assert!(
        out.status.success(),
        "switchboard {all:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `switchboard ARGS DB...` must fail with exit status 1 and one line on stderr containing
/// `expected`.
fn fails(args: &[&str], db: &[String], expected: &str) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(db.iter().map(String::as_str));
    let out = run(&all);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "switchboard {all:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.starts_with("switchboard: error: ") && stderr.contains(expected),
        "switchboard {all:?}: expected {expected:?} in {stderr:?}"
    );
}

/// The lines of a `list` output after its header.
fn rows(list: &str) -> Vec<Vec<String>> {
    list.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// A fresh PostgreSQL database on the test cluster, as `--database-url` arguments.
fn postgres_db() -> Vec<String> {
    let base = std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_DATABASE_URL is not set: run ./scripts/test.sh (it starts a \
             throwaway PostgreSQL cluster), or set it to a server where tests may create databases"
        )
    });
    let name = format!(
        "e2e_admin_{}_{}",
        std::process::id(),
        support::unique_token()
    );
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    psql(&base, &format!("CREATE DATABASE {name}"));
    let root = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(root, _)| root);
    vec!["--database-url".into(), format!("{root}/{name}")]
}

/// Runs one SQL statement with psql, which must succeed.
fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (Debian package postgresql-client): {e}"));
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        text(&out.stderr)
    );
}

fn sqlite_db(dir: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.join("data").display().to_string()]
}

fn admin_commands_work(db: &[String]) {
    assert!(ok(&["migrate"], db).contains("schema at version"));

    // Endpoints.
    let out = ok(
        &[
            "endpoint",
            "add",
            "1001",
            "--password",
            "s3cret",
            "--group",
            "sales",
        ],
        db,
    );
    assert_eq!(out.trim(), "endpoint 1001 added (realm switchboard)");
    ok(
        &[
            "endpoint",
            "add",
            "1002",
            "--password",
            "pw",
            "--realm",
            "example.com",
        ],
        db,
    );
    fails(
        &["endpoint", "add", "1001", "--password", "x"],
        db,
        "endpoint '1001' already exists",
    );
    fails(
        &["endpoint", "add", "bad user", "--password", "x"],
        db,
        "invalid username",
    );
    fails(
        &["endpoint", "add", "1003", "--password", ""],
        db,
        "invalid password",
    );
    let list = ok(&["endpoint", "list"], db);
    assert!(list.starts_with("USERNAME"), "{list}");
    assert_eq!(
        rows(&list),
        [
            vec!["1001", "switchboard", "sales", "yes"],
            vec!["1002", "example.com", "yes"]
        ]
    );
    assert!(!list.contains("s3cret"));

    // Agents.
    ok(
        &[
            "agent",
            "add",
            "alice",
            "--skill",
            "support:90",
            "--skill",
            "sales:40",
        ],
        &[
            db,
            &[
                "--extension".into(),
                "2001".into(),
                "--max-calls".into(),
                "2".into(),
            ],
        ]
        .concat(),
    );
    fails(
        &["agent", "add", "alice"],
        db,
        "agent 'alice' already exists",
    );
    fails(
        &["agent", "add", "bob", "--extension", "2001"],
        db,
        "extension '2001' already exists",
    );
    fails(
        &["agent", "add", "bob", "--skill", "sales:0"],
        db,
        "invalid skill level",
    );
    fails(
        &["agent", "add", "bob", "--skill", "sales"],
        db,
        "invalid skill",
    );
    fails(&["agent", "remove", "carol"], db, "no agent 'carol'");
    let list = ok(&["agent", "list"], db);
    assert_eq!(
        rows(&list),
        [vec!["alice", "2001", "2", "sales:40,support:90"]]
    );

    // Queues.
    ok(
        &[
            "queue",
            "add",
            "support",
            "--strategy",
            "skills_based",
            "--skill",
            "support:50",
        ],
        &[
            db,
            &[
                "--overflow".into(),
                "extension:1003".into(),
                "--max-wait".into(),
                "120".into(),
            ],
        ]
        .concat(),
    );
    fails(
        &["queue", "add", "support"],
        db,
        "queue 'support' already exists",
    );
    fails(
        &["queue", "add", "q2", "--strategy", "fastest"],
        db,
        "invalid strategy",
    );
    fails(
        &["queue", "add", "q2", "--overflow", "pstn:1"],
        db,
        "invalid overflow",
    );
    let list = ok(&["queue", "list"], db);
    assert_eq!(
        rows(&list),
        [vec![
            "support",
            "skills_based",
            "support:50",
            "120",
            "0",
            "extension:1003"
        ]]
    );

    // Removal.
    assert_eq!(
        ok(&["endpoint", "remove", "1001"], db).trim(),
        "endpoint 1001 removed"
    );
    fails(&["endpoint", "remove", "1001"], db, "no endpoint '1001'");
    ok(&["agent", "remove", "alice"], db);
    ok(&["queue", "remove", "support"], db);
    assert_eq!(rows(&ok(&["endpoint", "list"], db)).len(), 1);
    assert!(rows(&ok(&["agent", "list"], db)).is_empty());
    assert!(rows(&ok(&["queue", "list"], db)).is_empty());
}

#[test]
fn admin_commands_on_sqlite() {
    let dir = scratch_dir("admin-sqlite");
    admin_commands_work(&sqlite_db(&dir));
    assert!(dir.join("data").join("switchboard.db").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_commands_on_postgres() {
    admin_commands_work(&postgres_db());
}

#[test]
fn a_bad_database_url_is_one_clear_line() {
    fails(
        &["endpoint", "list", "--database-url", "mysql://u:pw@h/db"],
        &[],
        "unsupported database URL 'mysql://u:***@h/db'",
    );
}

/// `serve --demo` seeds the demo set; a second start finds it and changes nothing.
fn demo_is_seeded(extra_env: &[(&str, &str)], db: impl Fn(&Server) -> Vec<String>) {
    for round in 0..2 {
        let mut server = Server::start_with(&["--demo"], extra_env);
        let log = server.log();
        let db = db(&server);
        assert!(log.contains("demo data set seeded"), "round {round}: {log}");
        let expected = if round == 0 {
            "created=7 existing=0"
        } else {
            "created=0 existing=7"
        };
        assert!(
            log.contains(expected),
            "round {round}: expected {expected}: {log}"
        );
        let endpoints: Vec<String> = rows(&ok(&["endpoint", "list"], &db))
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(endpoints, ["1001", "1002", "1003"]);
        let agents = rows(&ok(&["agent", "list"], &db));
        assert_eq!(agents.len(), 2);
        assert_eq!(
            agents[0][..4],
            ["alice", "1001", "1", "sales:40,support:90"]
        );
        assert_eq!(
            agents[1][..4],
            ["bob", "1002", "2", "billing:80,support:60"]
        );
        let queues = rows(&ok(&["queue", "list"], &db));
        assert_eq!(queues[0][..3], ["support", "skills_based", "support:50"]);
        assert_eq!(server.stop().map(|s| s.success()), Some(true), "clean exit");
        if extra_env.is_empty() {
            // SQLite: the next round must use the same data directory.
            break;
        }
    }
}

#[test]
fn serve_demo_seeds_sqlite() {
    demo_is_seeded(&[], |s| {
        vec![
            "--data-dir".into(),
            s.dir.join("data").display().to_string(),
        ]
    });
}

#[test]
fn serve_demo_seeds_postgres_idempotently() {
    let db = postgres_db();
    let url = db[1].clone();
    demo_is_seeded(&[("SWITCHBOARD_DATABASE_URL", &url)], |_| db.clone());
}

/// A database migrated by a newer Switchboard: every command, and `serve`, refuses it with
/// one clear line and exit status 1.
#[test]
fn a_newer_schema_is_refused_by_every_command() {
    let db = postgres_db();
    assert!(ok(&["migrate"], &db).contains("(was 0)"));
    psql(
        &db[1],
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    );
    let newer = "newer than this Switchboard knows";
    fails(&["migrate"], &db, newer);
    fails(&["endpoint", "list"], &db, newer);
    let dir = scratch_dir("admin-newer");
    let data = dir.join("data").display().to_string();
    let out = run(&[
        "serve",
        "--sip-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--database-url",
        &db[1],
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "serve must refuse: {stderr}");
    assert!(
        stderr.contains(newer) && stderr.contains("99990101000000"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
