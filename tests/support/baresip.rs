//! baresip, a real softphone, run headless inside a [`TestNetns`].
//!
//! [`Baresip::start`] writes a config directory (the `cons` module on its own
//! UDP port inside the namespace for commands, g711, aufile as the
//! microphone, an `accounts` file), starts `baresip -4 -s -f DIR` in the
//! namespace with stdout and stderr in `baresip.log` (`-s` adds a trace of
//! every SIP message sent and received), and stops it on drop.
//!
//! What baresip 1.0.0 (Debian, libre 1.1.0) does as a registering phone, as
//! observed against Kamailio 5.6 (see `tests/e2e_harness_peers.rs`):
//!
//! * `User-Agent: baresip v1.0.0 (x86_64/linux)`; Via with `rport`; the
//!   Contact user is `<user>-0x<hex>` (an in-memory address), e.g.
//!   `<sip:alice-0x55975c7040b0@10.X.Y.2:5601>;expires=60`, with no
//!   `+sip.instance` or `reg-id` unless [`BaresipAccount::outbound`] is set.
//! * It never reuses a nonce: every REGISTER (first, refresh, unregister)
//!   goes out without credentials, gets a 401, and is re-sent with nc=1.
//!   Its Authorization has no `algorithm` parameter.
//! * **It cannot register when any challenge says `algorithm=SHA-256`**,
//!   even if an MD5 one is also offered (before or after): it logs
//!   `Register: Function not implemented` and sends nothing more.
//! * It refreshes at 90% of the granted expiry; it unregisters (Contact
//!   with `expires=0`) on SIGTERM ([`Baresip::stop`]), not on SIGKILL
//!   ([`Baresip::kill`]).
//! * On 403 it logs `reg: <aor>: 403 Forbidden` and tries again about 30 to
//!   60 s later.
//! * It answers OPTIONS whose Request-URI user is the Contact user or the
//!   AOR user with 200 (with SDP); any other user gets 404.
//! * No keep-alives unless outbound (RFC 5626) is on and the registrar
//!   answers `Require: outbound`: then STUN binding requests to the
//!   registrar over UDP, CRLFCRLF over TCP.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::{PEER_IF, TestNetns, command_in, udp_collect_in};
use super::sip_text::SipMessage;
use super::{SHUTDOWN_GRACE, scratch_dir, tail, wait_timeout};

/// Where Debian's baresip package puts its modules.
pub const MODULE_PATH: &str = "/usr/lib/baresip/modules";

/// SIP transport of a baresip account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaresipTransport {
    /// UDP (the default).
    Udp,
    /// TCP (`;transport=tcp` on the registrar URI).
    Tcp,
}

/// One account (one line of baresip's `accounts` file).
#[derive(Debug, Clone)]
pub struct BaresipAccount {
    /// The user: the AOR is `sip:user@registrar`.
    pub user: String,
    /// The digest password (`auth_pass`); must not contain `;` or `>`.
    pub password: String,
    /// The registrar's address; also the AOR's host part.
    pub registrar: SocketAddr,
    /// Registration interval in seconds (the Expires baresip asks for);
    /// 0 disables registration.
    pub regint: u32,
    /// The transport.
    pub transport: BaresipTransport,
    /// RFC 5626 outbound: loads `uuid.so` (a `+sip.instance`), sets
    /// `sipnat=outbound` (a `reg-id=1`) and the registrar as outbound proxy
    /// (a `Route` header in every request).
    pub outbound: bool,
    /// `answermode` (`auto` answers calls at once, `manual` rings).
    pub answermode: String,
    /// Appended verbatim to the account line (e.g. `;mwi=no`).
    pub extra_params: String,
    /// An 8 kHz mono 16-bit WAV played as the microphone; `None` writes a
    /// 5 s 440 Hz tone into the config directory.
    pub audio_source: Option<PathBuf>,
    /// Record calls (`sndfile.so`) into [`Baresip::dump_dir`].
    pub record: bool,
    /// baresip quits by itself after this long (`-t`), so it never outlives
    /// a test process that died.
    pub lifetime: Duration,
}

impl Default for BaresipAccount {
    /// `alice` / `secret` at `127.0.0.1:5060`, `regint=60`, UDP, auto
    /// answer: set at least `registrar`.
    fn default() -> BaresipAccount {
        BaresipAccount {
            user: "alice".to_owned(),
            password: "secret".to_owned(),
            registrar: SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)),
            regint: 60,
            transport: BaresipTransport::Udp,
            outbound: false,
            answermode: "auto".to_owned(),
            extra_params: String::new(),
            audio_source: None,
            record: false,
            lifetime: Duration::from_secs(300),
        }
    }
}

impl BaresipAccount {
    /// The account for `user`/`password` at `registrar`, defaults elsewhere.
    pub fn new(user: &str, password: &str, registrar: SocketAddr) -> BaresipAccount {
        BaresipAccount {
            user: user.to_owned(),
            password: password.to_owned(),
            registrar,
            ..BaresipAccount::default()
        }
    }

    /// The registrar URI (`sip:host:port[;transport=tcp]`).
    pub fn registrar_uri(&self) -> String {
        match self.transport {
            BaresipTransport::Udp => format!("sip:{}", self.registrar),
            BaresipTransport::Tcp => format!("sip:{};transport=tcp", self.registrar),
        }
    }

    /// The address-of-record, `sip:user@registrar`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.registrar)
    }

    /// The `accounts` file line.
    pub fn accounts_line(&self) -> String {
        assert!(
            !self.password.contains([';', '>', '"']) && !self.user.contains([';', '>', '@']),
            "baresip account user/password must not contain ; > \" or @"
        );
        let transport = match self.transport {
            BaresipTransport::Udp => "",
            BaresipTransport::Tcp => ";transport=tcp",
        };
        let mut line = format!(
            "<sip:{}@{}{transport}>;auth_pass={};regint={};answermode={}",
            self.user, self.registrar, self.password, self.regint, self.answermode
        );
        if self.outbound {
            line.push_str(&format!(
                ";sipnat=outbound;outbound=\"{}\"",
                self.registrar_uri()
            ));
        }
        line.push_str(&self.extra_params);
        line
    }
}

/// A running baresip, killed when dropped.
pub struct Baresip {
    child: Option<Child>,
    netns: String,
    /// The account it runs.
    pub account: BaresipAccount,
    /// Scratch directory: `config/` (the `-f` directory), `baresip.log`,
    /// `dumps/`.
    pub dir: PathBuf,
    /// The `-f` configuration directory.
    pub config_dir: PathBuf,
    /// stdout and stderr of the process.
    pub log_path: PathBuf,
    /// Where baresip listens for SIP (UDP and TCP), inside the namespace.
    pub sip_addr: SocketAddr,
    /// The `cons` command port (UDP on 127.0.0.1 inside the namespace).
    pub cons_addr: SocketAddr,
}

impl Baresip {
    /// Writes the configuration and starts baresip inside `netns`,
    /// listening on `netns.peer_ip`. Returns once the process runs (not
    /// once registered: see [`Baresip::wait_registered`]). Panics if the
    /// `baresip` binary is missing or exits at once.
    pub fn start(netns: &TestNetns, account: BaresipAccount) -> Baresip {
        let binary = find_on_path("baresip").unwrap_or_else(|| {
            panic!(
                "baresip not found on PATH: install the Debian package baresip \
                 (apt-get install -y baresip; scripts/test.sh does)"
            )
        });
        assert!(
            Path::new(MODULE_PATH).join("cons.so").is_file(),
            "{MODULE_PATH}/cons.so missing: install the Debian package baresip (baresip-core)"
        );
        let dir = scratch_dir(&format!("baresip-{}", account.user));
        let config_dir = dir.join("config");
        let dump_dir = dir.join("dumps");
        for d in [&config_dir, &dump_dir] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        // SIP takes two ports (baresip may open TCP on the next one).
        let sip_addr = SocketAddr::from((netns.peer_ip, netns.alloc_ports(2)));
        let cons_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, netns.alloc_ports(1)));
        let rtp_first = netns.alloc_ports(100);

        let audio_source = match &account.audio_source {
            Some(path) => path.clone(),
            None => {
                let path = config_dir.join("tone-440hz.wav");
                write_tone_wav(&path, 440.0, Duration::from_secs(5));
                path
            }
        };
        let mut config = format!(
            "poll_method\tepoll\n\
             sip_listen\t{sip_addr}\n\
             net_interface\t{PEER_IF}\n\
             module_path\t{MODULE_PATH}\n\
             module\tcons.so\n\
             cons_listen\t{cons_addr}\n\
             module\tg711.so\n\
             module\taufile.so\n\
             audio_source\taufile,{source}\n\
             audio_alert\taufile,/dev/null\n\
             rtp_ports\t{rtp_first}-{rtp_last}\n",
            source = audio_source.display(),
            rtp_last = rtp_first + 99,
        );
        if account.record {
            config.push_str(&format!(
                "module\tsndfile.so\nsnd_path\t{}\n",
                dump_dir.display()
            ));
        }
        if account.outbound {
            config.push_str("module\tuuid.so\n");
        }
        config.push_str("module_app\taccount.so\nmodule_app\tmenu.so\n");
        write_file(&config_dir.join("config"), &config);
        write_file(
            &config_dir.join("accounts"),
            &format!("{}\n", account.accounts_line()),
        );

        let log_path = dir.join("baresip.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log file handle: {e}"));
        let mut cmd = command_in(netns.name(), &binary);
        cmd.arg("-4")
            .arg("-s")
            .arg("-f")
            .arg(&config_dir)
            .arg("-t")
            .arg(account.lifetime.as_secs().max(1).to_string())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `ip netns exec {} baresip`: {e}", netns.name()));
        let mut baresip = Baresip {
            child: Some(child),
            netns: netns.name().to_owned(),
            account,
            dir,
            config_dir,
            log_path,
            sip_addr,
            cons_addr,
        };
        baresip.wait_for_log("baresip is ready", Duration::from_secs(10));
        baresip
    }

    /// The process id (baresip's own: `ip netns exec` execs it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Where call recordings go when [`BaresipAccount::record`] is set.
    pub fn dump_dir(&self) -> PathBuf {
        self.dir.join("dumps")
    }

    /// Everything baresip printed so far, terminal colour codes removed.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| strip_ansi(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// How many lines of the log contain `pattern`.
    pub fn count_in_log(&self, pattern: &str) -> usize {
        self.log().lines().filter(|l| l.contains(pattern)).count()
    }

    /// Waits until a log line contains `pattern` and returns that line;
    /// panics with the log after `timeout`.
    #[track_caller]
    pub fn wait_for_log(&mut self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_log_count(pattern, 1, timeout)
    }

    /// Waits until `count` log lines contain `pattern`; returns the last.
    #[track_caller]
    pub fn wait_for_log_count(&mut self, pattern: &str, count: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            let hits: Vec<&str> = log.lines().filter(|l| l.contains(pattern)).collect();
            if hits.len() >= count {
                return hits[count - 1].to_owned();
            }
            if !self.is_running() {
                self.fail(&format!(
                    "baresip exited while waiting for {count} x {pattern:?} in its log"
                ));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "{count} x {pattern:?} not in baresip's log within {timeout:?} (found {})",
                    hits.len()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `200 OK ... [N binding(s)]` (registered) and returns the line.
    #[track_caller]
    pub fn wait_registered(&mut self, timeout: Duration) -> String {
        self.wait_for_log(" binding", timeout)
    }

    /// Every SIP message in baresip's trace (`-s`), sent and received, in
    /// order.
    pub fn sip_trace(&self) -> Vec<TracedMessage> {
        parse_trace(&self.log())
    }

    /// How many 200 responses to REGISTER listing a Contact baresip has
    /// received: the first registration and every refresh (baresip logs
    /// `[1 binding]` only for the first).
    pub fn registrations(&self) -> usize {
        self.sip_trace()
            .iter()
            .filter(|t| {
                t.message.status() == Some(200)
                    && t.message
                        .header("CSeq")
                        .is_some_and(|c| c.ends_with("REGISTER"))
                    && t.message.header("Contact").is_some()
            })
            .count()
    }

    /// Waits until [`Baresip::registrations`] reaches `count`.
    #[track_caller]
    pub fn wait_for_registrations(&mut self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.registrations();
            if seen >= count {
                return;
            }
            if !self.is_running() || Instant::now() >= deadline {
                self.fail(&format!(
                    "{count} successful REGISTERs expected within {timeout:?}, saw {seen}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The Contact header value of the last REGISTER baresip sent (from its
    /// SIP trace), e.g. `<sip:alice-0x55..@10.X.Y.2:20000>;expires=60`.
    pub fn registered_contact(&self) -> Option<String> {
        self.sip_trace()
            .iter()
            .rev()
            .find(|t| t.message.start_line.starts_with("REGISTER "))
            .and_then(|t| t.message.header("Contact").map(str::to_owned))
    }

    /// The Contact URI of the last REGISTER (inside the angle brackets).
    pub fn contact_uri(&self) -> Option<String> {
        let contact = self.registered_contact()?;
        let start = contact.find('<')? + 1;
        let end = contact[start..].find('>')? + start;
        Some(contact[start..end].to_owned())
    }

    /// Sends `command` (e.g. `/reginfo`, `/dial sip:x@y`, `/hangup`) to the
    /// `cons` port and returns what baresip answered within 1 s (its line
    /// editor echoes the keys, then the output).
    pub fn send_command(&self, command: &str) -> String {
        let payload = format!("{command}\n");
        let reply = udp_collect_in(
            &self.netns,
            self.cons_addr,
            payload.as_bytes(),
            Duration::from_secs(1),
        );
        strip_ansi(&String::from_utf8_lossy(&reply))
    }

    /// SIGKILL: the phone drops off abnormally (no unregister). Waits for
    /// the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: baresip unregisters (Contact `;expires=0`) and exits. Waits
    /// up to [`SHUTDOWN_GRACE`], then SIGKILL. Returns the exit status, or
    /// `None` if it had to be killed.
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
            .is_ok_and(|s| s.success());
        if termed && let Ok(Some(status)) = wait_timeout(&mut child, SHUTDOWN_GRACE) {
            return Some(status);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Panics with `msg` and the tail of baresip's log.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- baresip log ({}) ---\n{}\n--- end of baresip log ---",
            self.log_path.display(),
            tail(&self.log(), 32 * 1024)
        );
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "baresip scratch dir kept for inspection: {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// One message of baresip's SIP trace.
#[derive(Debug, Clone)]
pub struct TracedMessage {
    /// The trace's route line, e.g. `UDP 10.X.Y.2:20000 -> 10.X.Y.1:5060`.
    pub route: String,
    /// The message.
    pub message: SipMessage,
}

/// Splits a baresip log into the messages of its SIP trace: each is a `#`
/// line, a route line, then the message (CRLF lines, body by
/// Content-Length).
fn parse_trace(log: &str) -> Vec<TracedMessage> {
    let mut out = Vec::new();
    let mut rest = log;
    while let Some(mark) = rest.find("#\n") {
        let after_mark = &rest[mark + 2..];
        let Some(route_end) = after_mark.find('\n') else {
            break;
        };
        let route = after_mark[..route_end].trim().to_owned();
        let message = &after_mark[route_end + 1..];
        let Some(head_end) = message.find("\r\n\r\n") else {
            break;
        };
        let body_len = SipMessage::content_length_of(&message[..head_end]).unwrap_or(0);
        let end = (head_end + 4 + body_len).min(message.len());
        if route.contains(" -> ") {
            out.push(TracedMessage {
                route,
                message: SipMessage::parse(&message.as_bytes()[..end]),
            });
        }
        rest = &message[end..];
    }
    out
}

/// Removes terminal escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `name` as an executable file in a directory of `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Writes an 8 kHz mono 16-bit PCM WAV of a sine at half amplitude.
pub fn write_tone_wav(path: &Path, frequency: f64, length: Duration) {
    const RATE: u32 = 8000;
    let samples = (f64::from(RATE) * length.as_secs_f64()) as u32;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let t = f64::from(n) / f64::from(RATE);
        let v =
            (0.5 * f64::from(i16::MAX) * (2.0 * std::f64::consts::PI * frequency * t).sin()) as i16;
        wav.extend_from_slice(&v.to_le_bytes());
    }
    fs::write(path, wav).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
