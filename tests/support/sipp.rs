//! SIPp.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use super::net::free_port;
use super::{LOOPBACK, scratch_dir, tail, wait_timeout};

/// Absolute path of `sipp` on `PATH`; panics telling how to install it.
pub fn sipp_path() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("sipp not found: install Debian package sip-tester (scripts/test.sh does this)")
        })
}

/// SIPp transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippTransport {
    /// `-t u1`: UDP, one socket.
    Udp,
    /// `-t t1`: TCP, one connection.
    Tcp,
}

impl SippTransport {
    fn flag(self) -> &'static str {
        match self {
            SippTransport::Udp => "u1",
            SippTransport::Tcp => "t1",
        }
    }
}

/// A bounded SIPp run: `-m calls` makes it stop by itself, `-timeout` (with
/// `-timeout_error`) bounds it from inside, and a wall-clock watchdog kills
/// it from outside if it still has not exited.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: PathBuf,
    transport: SippTransport,
    calls: u32,
    timeout: Duration,
    extra_args: Vec<String>,
    local_port: Option<u16>,
}

/// A SIPp run in the background ([`Sipp::spawn`]); [`SippRun::wait`] collects it.
#[derive(Debug)]
pub struct SippRun {
    child: std::process::Child,
    dir: PathBuf,
    command: String,
    watchdog: Duration,
    /// The port SIPp's SIP socket is bound to.
    pub local_port: u16,
    /// SIPp's media port (`-mp`).
    pub media_port: u16,
}

/// What a SIPp run produced.
#[derive(Debug)]
pub struct SippOutcome {
    /// Exit status; `None` if the watchdog had to kill SIPp.
    pub status: Option<ExitStatus>,
    /// Exit code (0: all calls succeeded, 1: some failed, 99: no call
    /// processed, 255/254: fatal or socket bind error), if it exited normally.
    pub code: Option<i32>,
    /// Command line that was run.
    pub command: String,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Contents of the `-trace_err` file (unexpected messages), if any.
    pub errors: String,
    /// Contents of the `-trace_screen` file (final statistics), if any.
    pub screen: String,
}

impl SippOutcome {
    /// True if SIPp exited with code 0 (every call succeeded).
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A readable dump of everything SIPp produced.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "sipp command: {}", self.command);
        let _ = writeln!(
            out,
            "sipp exit: {}",
            match self.status {
                Some(s) => s.to_string(),
                None => "killed by watchdog (did not stop by itself)".to_owned(),
            }
        );
        for (name, text) in [
            ("errors (-trace_err)", &self.errors),
            ("stderr", &self.stderr),
            ("screen (-trace_screen)", &self.screen),
            ("stdout", &self.stdout),
        ] {
            let _ = writeln!(out, "--- sipp {name} ---\n{}", tail(text, 16 * 1024));
        }
        out
    }
}

impl Sipp {
    /// A run of `scenario` (see [`sipp_scenario`](super::sipp_scenario)) over
    /// UDP, 1 call, 20 s.
    pub fn new(scenario: impl Into<PathBuf>) -> Sipp {
        Sipp {
            scenario: scenario.into(),
            transport: SippTransport::Udp,
            calls: 1,
            timeout: Duration::from_secs(20),
            extra_args: Vec::new(),
            local_port: None,
        }
    }

    /// Sets the transport.
    pub fn transport(mut self, transport: SippTransport) -> Sipp {
        self.transport = transport;
        self
    }

    /// Sets how many calls (`-m`) to run before exiting.
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = calls;
        self
    }

    /// Sets SIPp's global timeout (`-timeout`), in whole seconds (min 1).
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        self
    }

    /// Adds raw SIPp arguments (e.g. `-key`, `-set`).
    pub fn arg(mut self, arg: impl Into<String>) -> Sipp {
        self.extra_args.push(arg.into());
        self
    }

    /// Binds SIPp's SIP socket to this port (`-p`) instead of a free one.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = Some(port);
        self
    }

    /// Runs the scenario against `target`, from `127.0.0.1` on a free port,
    /// writing SIPp's files into a scratch directory. Never blocks longer
    /// than the SIPp timeout plus 30 s.
    pub fn run(&self, target: SocketAddr) -> SippOutcome {
        self.spawn(target).wait()
    }

    /// Starts the scenario against `target` as [`Sipp::run`] does, without waiting.
    pub fn spawn(&self, target: SocketAddr) -> SippRun {
        let sipp = sipp_path();
        let dir = scratch_dir("sipp");
        let local_port = self.local_port.unwrap_or_else(free_port);
        let media_port = free_port();
        let timeout_secs = self.timeout.as_secs().max(1);
        let (errors_path, screen_path, stdout_path, stderr_path) = log_paths(&dir);

        let mut args: Vec<String> = vec![
            target.to_string(),
            "-sf".into(),
            self.scenario.display().to_string(),
            "-t".into(),
            self.transport.flag().into(),
            "-i".into(),
            LOOPBACK.to_string(),
            "-bind_local".into(),
            "-p".into(),
            local_port.to_string(),
            "-mp".into(),
            media_port.to_string(),
            "-m".into(),
            self.calls.to_string(),
            "-timeout".into(),
            format!("{timeout_secs}s"),
            "-timeout_error".into(),
            "-nostdin".into(),
            "-trace_err".into(),
            "-error_file".into(),
            errors_path.display().to_string(),
            "-trace_screen".into(),
            "-screen_file".into(),
            screen_path.display().to_string(),
        ];
        args.extend(self.extra_args.iter().cloned());
        let command = format!("{} {}", sipp.display(), args.join(" "));

        let stdout = File::create(&stdout_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stdout_path.display()));
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        let child = Command::new(&sipp)
            .args(&args)
            .current_dir(&dir)
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));

        SippRun {
            child,
            dir,
            command,
            watchdog: Duration::from_secs(timeout_secs + 30),
            local_port,
            media_port,
        }
    }
}

fn log_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (
        dir.join("errors.log"),
        dir.join("screen.log"),
        dir.join("stdout.log"),
        dir.join("stderr.log"),
    )
}

impl SippRun {
    /// Waits for SIPp to stop (killing it after its timeout plus 30 s) and collects what
    /// it wrote.
    pub fn wait(mut self) -> SippOutcome {
        let (errors_path, screen_path, stdout_path, stderr_path) = log_paths(&self.dir);
        let mut child = self.child;
        let dir = std::mem::take(&mut self.dir);
        let command = std::mem::take(&mut self.command);
        let status = match wait_timeout(&mut child, self.watchdog) {
            Ok(Some(status)) => Some(status),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        };
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let outcome = SippOutcome {
            status,
            code: status.and_then(|s| s.code()),
            command,
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            errors: read(&errors_path),
            screen: read(&screen_path),
        };
        if outcome.success() && !thread::panicking() {
            let _ = fs::remove_dir_all(&dir);
        }
        outcome
    }
}
