//! The server under test.

use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{HttpResponse, http_get};
use super::net::free_port;
use super::netns::{TestNetns, http_get_in, tcp_connects_in};
use super::{
    LOOPBACK, SHUTDOWN_GRACE, STARTUP_TIMEOUT, scratch_dir, switchboard_bin, tail, wait_timeout,
};

/// A running `switchboard serve` process, stopped when dropped.
pub struct Server {
    child: Option<Child>,
    /// SIP listen address (UDP and TCP).
    pub sip_addr: SocketAddr,
    /// HTTP (health/metrics/admin) listen address.
    pub http_addr: SocketAddr,
    /// Scratch directory: `data/` is the `--data-dir`, `server.log` the output.
    pub dir: PathBuf,
    /// File receiving the process' stdout and stderr.
    pub log_path: PathBuf,
    /// The network namespace it runs in ([`Server::start_in_netns`]), if any:
    /// its addresses are only reachable from inside (see [`Server::http_get`]).
    pub netns: Option<String>,
}

impl Server {
    /// Starts `switchboard serve` on free loopback ports and waits until it is
    /// healthy. Panics (with the server log) if that takes longer than
    /// [`STARTUP_TIMEOUT`] or the process exits.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// Like [`Server::start`], with extra command-line arguments (appended
    /// after the standard ones) and extra environment variables.
    pub fn start_with(extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        Server::start_in(scratch_dir("server"), extra_args, extra_env)
    }

    /// Like [`Server::start_with`], in the scratch directory `dir` (its `data/` is the
    /// `--data-dir`): endpoints can be provisioned there first, and a second server started
    /// there after the first stopped finds what the first stored.
    pub fn start_in(dir: PathBuf, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        Server::launch(dir, None, extra_args, extra_env)
    }

    /// Like [`Server::start_in`], inside `netns` (`ip netns exec`), for
    /// tests with peers that cannot use loopback (baresip): SIP on
    /// `netns.server_ip:5060`, HTTP on `127.0.0.1:8080` of the namespace.
    /// Use [`Server::http_get`] (or [`TestNetns::http_get`]) for HTTP and
    /// [`TestNetns::udp_exchange`] for raw SIP.
    pub fn start_in_netns(
        netns: &TestNetns,
        dir: PathBuf,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Server {
        Server::launch(dir, Some(netns), extra_args, extra_env)
    }

    fn launch(
        dir: PathBuf,
        netns: Option<&TestNetns>,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Server {
        let data_dir = dir.join("data");
        fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
        // A restart in the same directory keeps the earlier run's log.
        let log_path = (1..)
            .map(|n| match n {
                1 => dir.join("server.log"),
                n => dir.join(format!("server-{n}.log")),
            })
            .find(|p| !p.exists())
            .unwrap_or_else(|| dir.join("server.log"));
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log file handle: {e}"));

        let (sip_addr, http_addr) = match netns {
            // A fresh namespace: every port is free.
            Some(ns) => (
                ns.server_addr(5060),
                SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            ),
            None => (
                SocketAddr::from((LOOPBACK, free_port())),
                SocketAddr::from((LOOPBACK, free_port())),
            ),
        };

        let mut cmd = match netns {
            Some(ns) => ns.command(switchboard_bin()),
            None => Command::new(switchboard_bin()),
        };
        cmd.arg("serve")
            .arg("--sip-listen")
            .arg(sip_addr.to_string())
            .arg("--http-listen")
            .arg(http_addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra_args)
            .current_dir(&dir)
            // Never let the developer's environment change what is tested.
            .env_remove("SWITCHBOARD_SIP_LISTEN")
            .env_remove("SWITCHBOARD_HTTP_LISTEN")
            .env_remove("SWITCHBOARD_DATA_DIR")
            .env_remove("SWITCHBOARD_CONFIG")
            .env_remove("SWITCHBOARD_LOG_FORMAT")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("RUST_LOG", "debug")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        for (key, value) in extra_env {
            cmd.env(key, value);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", switchboard_bin()));

        let mut server = Server {
            child: Some(child),
            sip_addr,
            http_addr,
            dir,
            log_path,
            netns: netns.map(|ns| ns.name().to_owned()),
        };
        server.wait_until_ready();
        server
    }

    /// Polls `GET /health` until it answers 200, then checks the SIP TCP
    /// listener accepts connections.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.fail(&format!("switchboard exited during startup with {status}"));
            }
            let last_error = match self.http_get("/health", Duration::from_secs(2)) {
                Ok(resp) if resp.status == 200 => break,
                Ok(resp) => format!("GET /health answered {}", resp.status_line),
                Err(e) => format!("GET /health failed: {e}"),
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "switchboard not healthy within {STARTUP_TIMEOUT:?} ({last_error})"
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
        // Health is up; the SIP TCP listener must be too.
        if let Some(netns) = &self.netns {
            if !tcp_connects_in(netns, self.sip_addr, Duration::from_secs(5)) {
                self.fail(&format!(
                    "healthy, but SIP TCP listener {} (netns {netns}) refuses connections",
                    self.sip_addr
                ));
            }
            return;
        }
        loop {
            match TcpStream::connect_timeout(&self.sip_addr, Duration::from_secs(1)) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => self.fail(&format!(
                    "healthy, but SIP TCP listener {} refuses connections: {e}",
                    self.sip_addr
                )),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// `GET path` on the HTTP listener, from inside the namespace when the
    /// server runs in one.
    pub fn http_get(&self, path: &str, timeout: Duration) -> io::Result<HttpResponse> {
        match &self.netns {
            Some(netns) => http_get_in(netns, self.http_addr, path, timeout),
            None => http_get(self.http_addr, path, timeout),
        }
    }

    /// Everything the server has written to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// Panics with `msg` and the tail of the server log.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- switchboard log ({}) ---\n{}\n--- end of switchboard log ---",
            self.log_path.display(),
            tail(&self.log(), 64 * 1024)
        );
    }

    /// The server process' id while it runs (outside a network namespace it is the
    /// switchboard process itself).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server: SIGTERM, up to [`SHUTDOWN_GRACE`] to exit, then
    /// SIGKILL. Returns the exit status, or `None` if it had to be killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let termed = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if termed && let Ok(Some(status)) = wait_timeout(&mut child, SHUTDOWN_GRACE) {
            return Some(status);
        }
        // SIGKILL; errors mean it already exited.
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
        if thread::panicking() {
            eprintln!(
                "switchboard scratch dir kept for inspection: {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
