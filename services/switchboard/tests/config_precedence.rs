//! Config precedence through the real binary: flag > environment > config file > default.
//!
//! `switchboard check-config` prints the resolved settings as JSON, so the environment can be
//! set per process (tests cannot safely change their own environment).

use std::path::PathBuf;
use std::process::Command;

fn example_file(label: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("target tmp dir");
    let path = dir.join(format!(
        "config-precedence-{label}-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        "data_dir = \"/from/file\"\n\
         [sip]\nlisten = [\"127.0.0.1:5999\"]\ntcp_idle_timeout_secs = 42\n\
         [http]\nlisten = \"127.0.0.1:9000\"\n\
         [log]\nformat = \"json\"\n",
    )
    .expect("write config file");
    path
}

/// Runs `check-config` with `args` and `env` (and no inherited SWITCHBOARD_* variables).
fn check_config(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("check-config").args(args);
    for var in [
        "SWITCHBOARD_CONFIG",
        "SWITCHBOARD_SIP_LISTEN",
        "SWITCHBOARD_HTTP_LISTEN",
        "SWITCHBOARD_DATA_DIR",
        "SWITCHBOARD_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run switchboard check-config");
    assert!(
        out.status.success(),
        "check-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check-config prints JSON")
}

#[test]
fn defaults_without_file_flags_or_environment() {
    let s = check_config(&[], &[]);
    assert_eq!(s["sip_listen"], serde_json::json!(["0.0.0.0:5060"]));
    assert_eq!(s["http_listen"], "127.0.0.1:8080");
    assert_eq!(s["data_dir"], "./data");
    assert_eq!(s["log_format"], "text");
    assert_eq!(s["tcp_idle_timeout_secs"], 300);
}

#[test]
fn file_beats_defaults_and_is_found_through_the_environment() {
    let file = example_file("file");
    let path = file.to_str().expect("utf-8 path");
    let s = check_config(&[], &[("SWITCHBOARD_CONFIG", path)]);
    assert_eq!(s["sip_listen"], serde_json::json!(["127.0.0.1:5999"]));
    assert_eq!(s["http_listen"], "127.0.0.1:9000");
    assert_eq!(s["data_dir"], "/from/file");
    assert_eq!(s["log_format"], "json");
    assert_eq!(s["tcp_idle_timeout_secs"], 42);
}

#[test]
fn environment_beats_file() {
    let file = example_file("env");
    let path = file.to_str().expect("utf-8 path");
    let s = check_config(
        &["--config", path],
        &[
            ("SWITCHBOARD_SIP_LISTEN", "127.0.0.1:6000,[::1]:6000"),
            ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:7001"),
            ("SWITCHBOARD_DATA_DIR", "/from/env"),
            ("SWITCHBOARD_LOG_FORMAT", "text"),
        ],
    );
    assert_eq!(
        s["sip_listen"],
        serde_json::json!(["127.0.0.1:6000", "[::1]:6000"])
    );
    assert_eq!(s["http_listen"], "127.0.0.1:7001");
    assert_eq!(s["data_dir"], "/from/env");
    assert_eq!(s["log_format"], "text");
    // Keys with no environment variable still come from the file.
    assert_eq!(s["tcp_idle_timeout_secs"], 42);
}

#[test]
fn flags_beat_environment() {
    let file = example_file("flags");
    let path = file.to_str().expect("utf-8 path");
    let s = check_config(
        &[
            "--config",
            path,
            "--sip-listen",
            "127.0.0.1:6100",
            "--http-listen",
            "127.0.0.1:7002",
            "--data-dir",
            "/from/flag",
            "--log-format",
            "json",
        ],
        &[
            ("SWITCHBOARD_SIP_LISTEN", "127.0.0.1:6000"),
            ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:7001"),
            ("SWITCHBOARD_DATA_DIR", "/from/env"),
            ("SWITCHBOARD_LOG_FORMAT", "text"),
        ],
    );
    assert_eq!(s["sip_listen"], serde_json::json!(["127.0.0.1:6100"]));
    assert_eq!(s["http_listen"], "127.0.0.1:7002");
    assert_eq!(s["data_dir"], "/from/flag");
    assert_eq!(s["log_format"], "json");
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("config-precedence-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "[sip]\nlisten_typo = []\n").expect("write bad config");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run switchboard");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid config file"), "{err}");
    assert!(err.contains("listen_typo"), "{err}");
}
