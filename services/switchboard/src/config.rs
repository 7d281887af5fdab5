//! Configuration: the TOML file's shape and how flags, environment, file and defaults combine
//! (precedence: flag > environment > file > default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sip::FramingLimits;

use crate::cli::{LogFormat, ServeArgs};
use crate::registrar::{RegistrarFileConfig, RegistrarSettings};
pub use crate::rtp::settings::{MediaFileConfig, MediaSettings};
use crate::transport::TransportSettings;

/// Default SIP listen address (UDP and TCP).
pub const DEFAULT_SIP_LISTEN: &str = "0.0.0.0:5060";
/// Default HTTP listen address.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default TCP idle timeout, in seconds.
pub const DEFAULT_TCP_IDLE_TIMEOUT_SECS: u64 = 300;
/// Default T1 (RFC 3261 §17.1.1.1: the round-trip estimate), in milliseconds.
pub const DEFAULT_T1_MS: u64 = 500;
/// Default T2 (the cap on retransmission intervals), in milliseconds.
pub const DEFAULT_T2_MS: u64 = 4_000;
/// Default T4 (how long a message may linger in the network), in milliseconds.
pub const DEFAULT_T4_MS: u64 = 5_000;

/// The config file as written; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory for local state.
    pub data_dir: Option<PathBuf>,
    /// `[sip]`
    #[serde(default)]
    pub sip: SipFileConfig,
    /// `[http]`
    #[serde(default)]
    pub http: HttpFileConfig,
    /// `[log]`
    #[serde(default)]
    pub log: LogFileConfig,
    /// `[echo]`
    #[serde(default)]
    pub echo: EchoFileConfig,
    /// `[registrar]`
    #[serde(default)]
    pub registrar: RegistrarFileConfig,
    /// `[media]`
    #[serde(default)]
    pub media: MediaFileConfig,
    /// `[calls]`
    #[serde(default)]
    pub calls: CallsFileConfig,
}

/// The `[calls]` table: calls between extensions (the B2BUA).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsFileConfig {
    /// Seconds a callee may ring before the caller gets 480 "No Answer".
    pub ring_timeout_secs: Option<u64>,
    /// Whether a media timeout hangs the call up.
    pub hangup_on_media_timeout: Option<bool>,
}

/// The `[echo]` table: the echo extension (`sip:echo@<Switchboard>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoFileConfig {
    /// Milliseconds between the 180 Ringing and the 200 OK.
    pub answer_delay_ms: Option<u64>,
}

/// The `[sip]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipFileConfig {
    /// Listen addresses (UDP and TCP on each).
    pub listen: Option<Vec<SocketAddr>>,
    /// Seconds without traffic after which a TCP connection is closed.
    pub tcp_idle_timeout_secs: Option<u64>,
    /// Largest TCP message header section, in bytes.
    pub max_header_bytes: Option<usize>,
    /// Largest TCP message body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// SIP worker threads: shards of the transaction layer (default 1).
    pub workers: Option<usize>,
    /// `[sip.timers]`
    #[serde(default)]
    pub timers: TimersFileConfig,
}

/// The `[sip.timers]` table: RFC 3261 timer base values, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersFileConfig {
    /// T1.
    pub t1_ms: Option<u64>,
    /// T2.
    pub t2_ms: Option<u64>,
    /// T4.
    pub t4_ms: Option<u64>,
}

/// The `[http]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
}

/// The `[log]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFileConfig {
    /// `text` or `json`.
    pub format: Option<LogFormat>,
}

impl FileConfig {
    /// Parses config file text.
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        Ok(toml::from_str(text)?)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        FileConfig::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The effective settings the server runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// SIP listen addresses (UDP and TCP on each).
    pub sip_listen: Vec<SocketAddr>,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Directory for local state.
    pub data_dir: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// TCP idle timeout, in seconds.
    pub tcp_idle_timeout_secs: u64,
    /// Largest TCP message header section, in bytes.
    pub max_header_bytes: usize,
    /// Largest TCP message body, in bytes.
    pub max_body_bytes: usize,
    /// RFC 3261 timer base values.
    pub sip_timers: SipTimers,
    /// SIP worker threads (`[sip] workers`): the transaction layer runs as this many shards,
    /// each on an arbiter of its own, owning the Call-IDs that hash to it.
    pub sip_workers: usize,
    /// Milliseconds between the 180 Ringing and the 200 OK of an echo call.
    pub echo_answer_delay_ms: u64,
    /// RTP ports, codecs, DTMF detection, no-RTP timeout.
    pub media: MediaSettings,
    /// PostgreSQL URL; none means SQLite in the data directory. Shown without its password.
    #[serde(serialize_with = "serialize_redacted")]
    pub database_url: Option<String>,
    /// Seed the demo data set at start.
    pub demo: bool,
    /// The registrar.
    pub registrar: RegistrarSettings,
    /// Seconds a callee may ring.
    pub ring_timeout_secs: u64,
    /// Whether a media timeout hangs a call up.
    pub hangup_on_media_timeout: bool,
}

fn serialize_redacted<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => s.serialize_some(&store::redact(url)),
        None => s.serialize_none(),
    }
}

/// T1, T2 and T4 in milliseconds (RFC 3261 §17.1.1.1, appendix A). Every transaction timer
/// derives from them: retransmissions start at T1 and double up to T2; timers B, F, H, J and
/// the 2xx give-up are 64*T1; I and K are T4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SipTimers {
    /// T1, the round-trip estimate.
    pub t1_ms: u64,
    /// T2, the cap on retransmission intervals.
    pub t2_ms: u64,
    /// T4, how long a message may linger in the network.
    pub t4_ms: u64,
}

impl Default for SipTimers {
    fn default() -> Self {
        SipTimers {
            t1_ms: DEFAULT_T1_MS,
            t2_ms: DEFAULT_T2_MS,
            t4_ms: DEFAULT_T4_MS,
        }
    }
}

impl SipTimers {
    /// The transaction timer configuration (the 100 Trying delay stays at RFC 3261's 200 ms).
    pub fn transaction_config(&self) -> sip::transaction::TransactionConfig {
        sip::transaction::TransactionConfig {
            t1: Duration::from_millis(self.t1_ms),
            t2: Duration::from_millis(self.t2_ms),
            t4: Duration::from_millis(self.t4_ms),
            ..Default::default()
        }
    }

    /// The dialog timer configuration (2xx retransmissions).
    pub fn dialog_config(&self) -> sip::dialog::DialogConfig {
        sip::dialog::DialogConfig {
            t1: Duration::from_millis(self.t1_ms),
            t2: Duration::from_millis(self.t2_ms),
        }
    }
}

/// The most SIP worker threads `[sip] workers` may ask for.
pub const MAX_SIP_WORKERS: usize = 256;

/// The default number of SIP worker threads: one. On the two-core benchmark machine (SIPp on
/// the same cores) two shards cost more CPU per registration than they gained (see
/// docs/PERFORMANCE.md, "Registrar"); `[sip] workers` is there for machines with cores to
/// spare.
pub fn default_sip_workers() -> usize {
    1
}

fn parse_default(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.parse()
        .with_context(|| format!("bad built-in default address {addr}"))
}

impl Settings {
    /// Loads the config file named by `args` (if any) and resolves the settings.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Settings::resolve(args, &file)
    }

    /// Combines command line (flags and environment, already merged by clap), file and defaults.
    pub fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Settings> {
        let limits = FramingLimits::default();
        let sip_listen = if !args.sip_listen.is_empty() {
            args.sip_listen.clone()
        } else if let Some(listen) = &file.sip.listen {
            listen.clone()
        } else {
            vec![parse_default(DEFAULT_SIP_LISTEN)?]
        };
        let settings = Settings {
            sip_listen,
            http_listen: match args.http_listen.or(file.http.listen) {
                Some(a) => a,
                None => parse_default(DEFAULT_HTTP_LISTEN)?,
            },
            data_dir: args
                .data_dir
                .clone()
                .or_else(|| file.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            log_format: args.log_format.or(file.log.format).unwrap_or_default(),
            tcp_idle_timeout_secs: file
                .sip
                .tcp_idle_timeout_secs
                .unwrap_or(DEFAULT_TCP_IDLE_TIMEOUT_SECS),
            max_header_bytes: file.sip.max_header_bytes.unwrap_or(limits.max_header_bytes),
            max_body_bytes: file.sip.max_body_bytes.unwrap_or(limits.max_body_bytes),
            sip_timers: SipTimers {
                t1_ms: file.sip.timers.t1_ms.unwrap_or(DEFAULT_T1_MS),
                t2_ms: file.sip.timers.t2_ms.unwrap_or(DEFAULT_T2_MS),
                t4_ms: file.sip.timers.t4_ms.unwrap_or(DEFAULT_T4_MS),
            },
            sip_workers: file.sip.workers.unwrap_or_else(default_sip_workers),
            echo_answer_delay_ms: file
                .echo
                .answer_delay_ms
                .unwrap_or(crate::echo::DEFAULT_ANSWER_DELAY_MS),
            media: MediaSettings::resolve(&file.media)?,
            database_url: args.database_url.clone(),
            demo: args.demo,
            registrar: RegistrarSettings::resolve(&file.registrar)?,
            ring_timeout_secs: file
                .calls
                .ring_timeout_secs
                .unwrap_or(crate::call::DEFAULT_RING_TIMEOUT_SECS),
            hangup_on_media_timeout: file.calls.hangup_on_media_timeout.unwrap_or(true),
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.sip_listen.is_empty() {
            bail!("sip.listen must name at least one address");
        }
        let mut seen = std::collections::HashSet::new();
        for addr in &self.sip_listen {
            if !seen.insert(addr) {
                bail!("SIP listen address {addr} is given twice");
            }
        }
        if self.tcp_idle_timeout_secs == 0 {
            bail!("sip.tcp_idle_timeout_secs must be at least 1");
        }
        if self.max_header_bytes < 256 {
            bail!("sip.max_header_bytes must be at least 256");
        }
        let t = self.sip_timers;
        if t.t1_ms == 0 || t.t4_ms == 0 {
            bail!("sip.timers.t1_ms and t4_ms must be at least 1");
        }
        if t.t2_ms < t.t1_ms {
            bail!("sip.timers.t2_ms must not be below t1_ms");
        }
        if !(1..=MAX_SIP_WORKERS).contains(&self.sip_workers) {
            bail!("sip.workers must be between 1 and {MAX_SIP_WORKERS}");
        }
        if !(1..=3_600).contains(&self.ring_timeout_secs) {
            bail!("calls.ring_timeout_secs must be between 1 and 3600");
        }
        if self.echo_answer_delay_ms > 600_000 {
            bail!("echo.answer_delay_ms must be at most 600000 (10 minutes)");
        }
        // 64*T1 must stay a sane duration (timers B, F, H, J).
        if t.t1_ms > 60_000 || t.t2_ms > 600_000 || t.t4_ms > 600_000 {
            bail!("sip.timers: t1_ms at most 60000, t2_ms and t4_ms at most 600000");
        }
        Ok(())
    }

    /// The echo extension's settings.
    pub fn echo(&self) -> crate::echo::EchoConfig {
        crate::echo::EchoConfig {
            answer_delay: Duration::from_millis(self.echo_answer_delay_ms),
            media: self.media.config(),
        }
    }

    /// How calls behave.
    pub fn calls(&self) -> crate::call::CallConfig {
        crate::call::CallConfig {
            ring_timeout: Duration::from_secs(self.ring_timeout_secs),
            hangup_on_media_timeout: self.hangup_on_media_timeout,
        }
    }

    /// The transport tunables these settings give.
    pub fn transport(&self) -> TransportSettings {
        TransportSettings {
            limits: FramingLimits {
                max_header_bytes: self.max_header_bytes,
                max_body_bytes: self.max_body_bytes,
            },
            idle_timeout: Duration::from_secs(self.tcp_idle_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let mut full = vec!["switchboard", "serve"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("arguments parse").command {
            Command::Serve(a) | Command::CheckConfig(a) => a,
            other => panic!("not a serve command: {other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address parses")
    }

    const FILE: &str = r#"
        data_dir = "/var/lib/switchboard"
        [sip]
        listen = ["127.0.0.1:5070", "[::1]:5070"]
        tcp_idle_timeout_secs = 60
        max_header_bytes = 8192
        max_body_bytes = 1024
        [sip.timers]
        t1_ms = 250
        t2_ms = 2000
        t4_ms = 3000
        [http]
        listen = "127.0.0.1:9090"
        [log]
        format = "json"
        [echo]
        answer_delay_ms = 150
    "#;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = Settings::resolve(&ServeArgs::default(), &FileConfig::default()).expect("valid");
        assert_eq!(s.sip_listen, vec![addr("0.0.0.0:5060")]);
        assert_eq!(s.http_listen, addr("127.0.0.1:8080"));
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.transport().idle_timeout, Duration::from_secs(300));
        assert_eq!(s.transport().limits, FramingLimits::default());
        assert_eq!(
            s.sip_timers.transaction_config(),
            sip::transaction::TransactionConfig::default()
        );
        assert_eq!(s.echo().answer_delay, Duration::from_secs(1));
    }

    #[test]
    fn the_file_beats_the_defaults() {
        let file = FileConfig::parse(FILE).expect("example parses");
        let s = Settings::resolve(&ServeArgs::default(), &file).expect("valid");
        assert_eq!(
            s.sip_listen,
            vec![addr("127.0.0.1:5070"), addr("[::1]:5070")]
        );
        assert_eq!(s.http_listen, addr("127.0.0.1:9090"));
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/switchboard"));
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.transport().idle_timeout, Duration::from_secs(60));
        assert_eq!(s.max_header_bytes, 8192);
        assert_eq!(s.max_body_bytes, 1024);
        assert_eq!(
            s.sip_timers,
            SipTimers {
                t1_ms: 250,
                t2_ms: 2000,
                t4_ms: 3000
            }
        );
        let tx = s.sip_timers.transaction_config();
        assert_eq!(tx.t1, Duration::from_millis(250));
        assert_eq!(tx.timeout(), Duration::from_secs(16));
        assert_eq!(s.sip_timers.dialog_config().t2, Duration::from_secs(2));
        assert_eq!(s.echo().answer_delay, Duration::from_millis(150));
    }

    #[test]
    fn flags_beat_the_file() {
        let file = FileConfig::parse(FILE).expect("example parses");
        let args = serve_args(&[
            "--sip-listen",
            "127.0.0.1:6000",
            "--sip-listen",
            "127.0.0.1:6001,127.0.0.1:6002",
            "--http-listen",
            "127.0.0.1:7000",
            "--data-dir",
            "/tmp/sb",
            "--log-format",
            "text",
        ]);
        let s = Settings::resolve(&args, &file).expect("valid");
        assert_eq!(
            s.sip_listen,
            vec![
                addr("127.0.0.1:6000"),
                addr("127.0.0.1:6001"),
                addr("127.0.0.1:6002")
            ]
        );
        assert_eq!(s.http_listen, addr("127.0.0.1:7000"));
        assert_eq!(s.data_dir, PathBuf::from("/tmp/sb"));
        assert_eq!(s.log_format, LogFormat::Text);
        // Keys without a flag still come from the file.
        assert_eq!(s.max_body_bytes, 1024);
    }

    #[test]
    fn unset_flags_leave_the_file_values() {
        let file = FileConfig::parse(FILE).expect("example parses");
        let s = Settings::resolve(&serve_args(&["--data-dir", "/x"]), &file).expect("valid");
        assert_eq!(s.http_listen, addr("127.0.0.1:9090"));
        assert_eq!(s.sip_listen.len(), 2);
        assert_eq!(s.data_dir, PathBuf::from("/x"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(FileConfig::parse("[sip]\nlisten_on = []\n").is_err());
        assert!(FileConfig::parse("[http]\nlisten = \"localhost\"\n").is_err());
        assert!(FileConfig::parse("[log]\nformat = \"xml\"\n").is_err());
        let empty = FileConfig::parse("[sip]\nlisten = []\n").expect("parses");
        assert!(Settings::resolve(&ServeArgs::default(), &empty).is_err());
        let zero = FileConfig::parse("[sip]\ntcp_idle_timeout_secs = 0\n").expect("parses");
        assert!(Settings::resolve(&ServeArgs::default(), &zero).is_err());
        for bad in [
            "[sip.timers]\nt1_ms = 0\n",
            "[sip.timers]\nt1_ms = 5000\nt2_ms = 4000\n",
            "[sip.timers]\nt4_ms = 0\n",
        ] {
            let file = FileConfig::parse(bad).expect("parses");
            assert!(
                Settings::resolve(&ServeArgs::default(), &file).is_err(),
                "{bad}"
            );
        }
        assert!(FileConfig::parse("[sip.timers]\nt3_ms = 1\n").is_err());
        assert!(FileConfig::parse("[echo]\ndelay = 1\n").is_err());
        let slow = FileConfig::parse("[echo]\nanswer_delay_ms = 600001\n").expect("parses");
        assert!(Settings::resolve(&ServeArgs::default(), &slow).is_err());
        for (workers, ok) in [(0, false), (1, true), (2, true), (256, true), (257, false)] {
            let file = FileConfig::parse(&format!("[sip]\nworkers = {workers}\n")).expect("parses");
            let resolved = Settings::resolve(&ServeArgs::default(), &file);
            assert_eq!(resolved.is_ok(), ok, "workers = {workers}");
            if let Ok(s) = resolved {
                assert_eq!(s.sip_workers, workers);
            }
        }
    }

    #[test]
    fn the_example_config_documents_every_key_and_parses() {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/switchboard.example.toml");
        let file = FileConfig::load(&path).expect("example config loads");
        let s = Settings::resolve(&ServeArgs::default(), &file).expect("example is valid");
        // The example spells out the defaults.
        assert_eq!(
            s,
            Settings::resolve(&ServeArgs::default(), &FileConfig::default()).expect("defaults")
        );
        let text = std::fs::read_to_string(&path).expect("example readable");
        for key in [
            "data_dir",
            "[sip]",
            "listen",
            "tcp_idle_timeout_secs",
            "max_header_bytes",
            "max_body_bytes",
            "workers",
            "[sip.timers]",
            "t1_ms",
            "t2_ms",
            "t4_ms",
            "[http]",
            "[log]",
            "format",
            "[echo]",
            "answer_delay_ms",
            "[registrar]",
            "realm",
            "min_expires",
            "max_expires",
            "default_expires",
            "max_contacts",
            "on_contact_limit",
            "nonce_lifetime_secs",
            "digest_algorithms",
            "qualify_interval_secs",
            "qualify_timeout_secs",
            "qualify_failures",
            "[registrar.lockout]",
            "max_failures",
            "window_secs",
            "lockout_secs",
            "[media]",
            "rtp_port_min",
            "rtp_port_max",
            "rtp_timeout_secs",
            "codecs",
            "dtmf_inband",
            "recordings_dir",
            "recording_mode",
        ] {
            assert!(text.contains(key), "example config lacks {key}");
        }
    }

    #[test]
    fn media_table_defaults_and_checks() {
        let media = |text: &str| {
            let file = FileConfig::parse(text).expect("parses");
            Settings::resolve(&ServeArgs::default(), &file).map(|s| s.media)
        };
        let d = media("").expect("defaults");
        assert_eq!(
            (d.rtp_port_min, d.rtp_port_max, d.rtp_timeout_secs),
            (20000, 29999, 30)
        );
        assert_eq!(d.codecs, ["PCMU", "PCMA"]);
        assert!(d.dtmf_inband);
        let c = media(
            "[media]\nrtp_port_min = 30000\nrtp_port_max = 30099\nrtp_timeout_secs = 2\n\
             codecs = [\"pcma\"]\ndtmf_inband = false\n",
        )
        .expect("valid")
        .config();
        assert_eq!(c.codecs, [media::codec::G711Law::A]);
        assert_eq!(c.rtp_timeout, Duration::from_secs(2));
        assert!(!c.dtmf_inband);
        for bad in [
            "rtp_port_min = 30001",
            "rtp_port_min = 30000\nrtp_port_max = 30000",
            "rtp_port_min = 30000\nrtp_port_max = 30002",
            "rtp_port_min = 1000",
            "rtp_timeout_secs = 0",
            "codecs = []",
            "codecs = [\"G729\"]",
            "recording_mode = \"quad\"",
            "recordings_dir = \"\"",
            "port = 1",
        ] {
            assert!(
                FileConfig::parse(&format!("[media]\n{bad}\n"))
                    .and_then(|f| Settings::resolve(&ServeArgs::default(), &f))
                    .is_err(),
                "{bad} accepted"
            );
        }
    }
}
