//! End-to-end: the admin subcommands (`endpoint`, `agent`, `queue` add/list/remove,
//! `endpoint import` and `endpoint groups`, and `migrate`) through the real binary, on SQLite (the default, in `--data-dir`) and on
//! PostgreSQL (`--database-url`, a fresh database on the cluster of scripts/test.sh); and
//! `serve --demo` seeding the demo set, idempotently, on both.

mod support;

use std::io::Write as _;
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

/// Runs `switchboard ARGS DB...` with `input` on its standard input; must succeed.
fn ok_with_input(args: &[&str], db: &[String], input: &str) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(db.iter().map(String::as_str));
    let mut child = Command::new(switchboard_bin())
        .args(&all)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run switchboard {all:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to switchboard's stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("switchboard {all:?}: {e}"));
    assert!(
        out.status.success(),
        "switchboard {all:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
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

fn admin_commands_work(db: &[String], dir: &Path) {
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
            "--dtmf-mode",
            "info",
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
    let header: Vec<&str> = list
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "USERNAME", "REALM", "GROUP", "DISPLAY", "NAME", "ENABLED", "DTMF", "STATUS",
            "BINDINGS", "LAST", "SEEN", "SOURCE", "USER", "AGENT"
        ],
        "{list}"
    );
    // No registrar runs here: every endpoint is offline, never seen.
    assert_eq!(
        rows(&list),
        [
            vec![
                "1001",
                "switchboard",
                "sales",
                "yes",
                "info",
                "offline",
                "0",
                "-",
                "-",
                "-"
            ],
            vec![
                "1002",
                "example.com",
                "yes",
                "rfc4733",
                "offline",
                "0",
                "-",
                "-",
                "-"
            ]
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

    endpoint_import_and_groups_work(db, dir);
}

/// `endpoint import` (a file and stdin, all or nothing, errors by file line) and `endpoint
/// groups`, after `admin_commands_work` left endpoint 1002 (no group) and the group `sales`
/// (now empty).
fn endpoint_import_and_groups_work(db: &[String], dir: &Path) {
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path.display().to_string()
    };
    let phones = write(
        "phones.csv",
        "username,password,group,display_name\n\
         2001,\"pa,ss\",floor-1,Front desk,inband\n\
         \n\
         2002,\"multi\nline \"\"pw\"\"\",floor-1\n\
         2003,pw3\n",
    );
    let out = ok(&["endpoint", "import", &phones], db);
    assert_eq!(
        out.trim(),
        format!("imported 3 endpoints from {phones} (new groups: floor-1)")
    );

    // Nothing is imported from a file with a bad row, and the error names its line.
    let cases = [
        (
            "bad-group.csv",
            "2004,pw\n2005,pw,bad group\n",
            "line 2: invalid group: ",
        ),
        (
            "exists.csv",
            "2004,pw\n\n2001,pw\n",
            "line 3: endpoint '2001' already exists",
        ),
        (
            "repeat.csv",
            "2004,pw\n2004,pw2\n",
            "line 2: endpoint '2004' already exists",
        ),
        (
            "no-password.csv",
            "username,password\n2004\n",
            "line 2: expected username,password",
        ),
        ("empty-password.csv", "2004,\n", "line 1: invalid password"),
        (
            "bad-dtmf.csv",
            "2004,pw\n2005,pw,,,rfc2833\n",
            "line 2: invalid dtmf_mode: 'rfc2833' is not one of rfc4733, info, inband",
        ),
    ];
    for (name, content, expected) in cases {
        let path = write(name, content);
        fails(
            &["endpoint", "import", &path],
            db,
            &format!("{path} {expected}"),
        );
    }
    fails(
        &[
            "endpoint",
            "import",
            &dir.join("missing.csv").display().to_string(),
        ],
        db,
        "cannot read",
    );
    let out = ok_with_input(&["endpoint", "import", "-"], db, "2004,pw4,floor-2\n");
    assert_eq!(
        out.trim(),
        "imported 1 endpoint from <stdin> (new groups: floor-2)"
    );

    let list = rows(&ok(&["endpoint", "list"], db));
    let users: Vec<&str> = list.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(users, ["1002", "2001", "2002", "2003", "2004"]);
    assert_eq!(
        list[1],
        [
            "2001",
            "switchboard",
            "floor-1",
            "Front",
            "desk",
            "yes",
            "inband",
            "offline",
            "0",
            "-",
            "-",
            "-"
        ]
    );
    assert!(list.iter().all(|r| r.contains(&"offline".to_string())));

    let groups = ok(&["endpoint", "groups"], db);
    let header: Vec<&str> = groups
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "ENDPOINTS", "REGISTERED", "UNREACHABLE", "OFFLINE"]
    );
    assert_eq!(
        rows(&groups),
        [
            ["floor-1", "2", "0", "0", "2"],
            ["floor-2", "1", "0", "0", "1"],
            ["sales", "0", "0", "0", "0"],
            ["(none)", "2", "0", "0", "2"],
        ]
    );
}

#[test]
fn admin_commands_on_sqlite() {
    let dir = scratch_dir("admin-sqlite");
    admin_commands_work(&sqlite_db(&dir), &dir);
    assert!(dir.join("data").join("switchboard.db").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_commands_on_postgres() {
    let dir = scratch_dir("admin-postgres");
    admin_commands_work(&postgres_db(), &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A binding written as the registrar writes it shows in `endpoint list` and `endpoint
/// groups` (the row is inserted with psql: no registrar runs here).
#[test]
fn endpoint_list_shows_a_stored_binding() {
    let db = postgres_db();
    ok(
        &[
            "endpoint",
            "add",
            "1001",
            "--password",
            "pw",
            "--group",
            "sales",
        ],
        &db,
    );
    ok(
        &[
            "endpoint",
            "add",
            "1002",
            "--password",
            "pw",
            "--group",
            "sales",
        ],
        &db,
    );
    psql(
        &db[1],
        "INSERT INTO registrations (endpoint_id, aor, contact_uri, source_address, source_port, \
         local_address, transport, user_agent, call_id, cseq, expires_at, created_at, updated_at, \
         reachability, registered_at, refreshed_at, last_seen_at) \
         SELECT id, '1001', 'sip:1001@192.0.2.7:5060', '192.0.2.7', 5060, '192.0.2.1:5060', \
         'udp', 'Yealink SIP-T46S 66.86', 'c1', 1, '2999-01-01T00:00:00Z', now(), now(), \
         'reachable', now(), now(), '2030-01-02T03:04:05.678Z' FROM endpoints \
         WHERE username = '1001'",
    );
    let list = rows(&ok(&["endpoint", "list"], &db));
    assert_eq!(
        list,
        [
            vec![
                "1001",
                "switchboard",
                "sales",
                "yes",
                "rfc4733",
                "registered",
                "1",
                "2030-01-02T03:04:05Z",
                "udp:192.0.2.7:5060",
                "Yealink",
                "SIP-T46S",
                "66.86"
            ],
            vec![
                "1002",
                "switchboard",
                "sales",
                "yes",
                "rfc4733",
                "offline",
                "0",
                "-",
                "-",
                "-"
            ],
        ]
    );
    assert_eq!(
        rows(&ok(&["endpoint", "groups"], &db)),
        [["sales", "2", "1", "0", "1"]]
    );
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
