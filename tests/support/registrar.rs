//! Helpers for the registrar's end-to-end tests: provisioning endpoints, a config file, and
//! reading what the server reports (registrations, events, metrics) over HTTP.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub use super::api::get_json;
use super::{Server, scratch_dir, switchboard_bin};

/// How long a helper waits for the server to report something.
pub const REPORT_WAIT: Duration = Duration::from_secs(15);

/// A scratch directory for a server whose endpoints are provisioned before it starts: its
/// `data/` becomes the `--data-dir`.
pub fn server_dir(label: &str) -> PathBuf {
    let dir = scratch_dir(label);
    fs::create_dir_all(dir.join("data"))
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs `switchboard ARGS --data-dir DIR/data` and returns its stdout; panics with its
/// output when it fails.
pub fn admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(switchboard_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run switchboard {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchboard {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Adds endpoints `(user, password, group)` to the store in `dir` with `switchboard endpoint
/// import`.
pub fn provision(dir: &Path, endpoints: &[(&str, &str, Option<&str>)]) {
    let mut csv = String::from("username,password,group\n");
    for (user, password, group) in endpoints {
        csv.push_str(&format!("{user},{password},{}\n", group.unwrap_or("")));
    }
    let file = dir.join("endpoints.csv");
    fs::write(&file, csv).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    let file = file.display().to_string();
    admin(dir, &["endpoint", "import", &file]);
}

/// Writes `toml` as the config file of the server in `dir`; returns its path.
pub fn write_config(dir: &Path, toml: &str) -> String {
    let path = dir.join("switchboard.toml");
    fs::write(&path, toml).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path.display().to_string()
}

/// Starts the server in `dir` with the config `toml`.
pub fn start(dir: &Path, toml: &str) -> Server {
    let config = write_config(dir, toml);
    Server::start_in(dir.to_path_buf(), &["--config", &config], &[])
}

/// The registrar's live bindings of `aor`.
pub fn registrations(server: &Server, aor: &str) -> Vec<serde_json::Value> {
    let v = get_json(server, &format!("/api/v1/registrations?aor={aor}"));
    v["registrations"].as_array().cloned().unwrap_or_default()
}

/// Polls `probe` every 100 ms until it gives a value, for at most `timeout`; panics with
/// `what` and the server log otherwise.
pub fn wait_for<T>(
    server: &Server,
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if Instant::now() >= deadline {
            server.fail(&format!("timed out after {timeout:?} waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The events of `kind` about address-of-record `aor` so far.
pub fn events(server: &Server, kind: &str, aor: &str) -> Vec<serde_json::Value> {
    let v = get_json(server, "/api/v1/events?limit=10000");
    v["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["kind"] == kind && e["detail"]["aor"] == aor)
        .collect()
}

/// Waits until an event of `kind` about `aor` has been published; returns the first.
pub fn wait_for_event(server: &Server, kind: &str, aor: &str) -> serde_json::Value {
    wait_for(
        server,
        REPORT_WAIT,
        &format!("a {kind} event for {aor}"),
        || events(server, kind, aor).into_iter().next(),
    )
}

/// The value of the metric line starting with `series` (name and labels exactly as
/// exposed), if present.
pub fn metric(server: &Server, series: &str) -> Option<f64> {
    let resp = server.http_get("/metrics", Duration::from_secs(5)).ok()?;
    resp.rest.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
