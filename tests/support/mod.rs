//! Shared end-to-end test harness.
//!
//! Every end-to-end test in the repository-root `tests/` directory is compiled
//! as an integration test of the `switchboard` package (see the `[[test]]`
//! entries in `services/switchboard/Cargo.toml`), so
//! `env!("CARGO_BIN_EXE_switchboard")` is the real, freshly built binary.
//!
//! The harness only uses `std` (plus the `md-5` and `sha2` digests), one
//! concern per module, re-exported here so tests write `support::X` (the
//! netns, baresip and digest client modules are public: `support::netns::X`):
//!
//! * [`Server`] (`server.rs`) starts `switchboard serve` on free loopback
//!   ports with a private data directory, waits for `GET /health` to answer
//!   200 and stops the process (SIGTERM, then SIGKILL) when dropped.
//! * [`Sipp`] (`sipp.rs`) runs a SIPp scenario against a server, bounded in
//!   time.
//! * [`udp_exchange`] / [`tcp_exchange`] (`net.rs`) send raw bytes and read
//!   one reply; [`free_port`] hands out loopback ports.
//! * [`SipMessage`] (`sip_text.rs`) is a deliberately tiny, independent parser
//!   used to make assertions about what the server sent (it must not share
//!   code with the parser under test).
//! * [`http_get`] (`http.rs`) is a minimal HTTP/1.1 client.
//! * [`netns::TestNetns`] (`netns.rs`) is a private network namespace with a
//!   veth pair, for peers that cannot use loopback; [`baresip::Baresip`]
//!   (`baresip.rs`) runs the baresip softphone headless inside one.
//! * [`digest_client::DigestClient`] (`digest_client.rs`) is a REGISTER
//!   client with MD5 / SHA-256 digest authentication written from the RFCs.
//! * [`registrar`] (`registrar.rs`) provisions endpoints and reads the
//!   registrar's registrations, events and metrics over HTTP.
//! * [`rtp_sink::RtpSink`] (`rtp_sink.rs`) records the RTP sent to a
//!   loopback port (arrival instants, headers, payloads) and checks its
//!   pacing and sequence; pair it with `tests/sipp/uas_prompt_sink.xml`.
//! * [`wav::Wav`] (`wav.rs`) reads the WAV files of recordings.
//!
//! Rules every test must follow: bind and advertise only `127.0.0.1`, and stop
//! by itself (every wait in here is bounded).

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

pub mod api;
pub mod baresip;
pub mod digest_client;
pub mod echo_call;
mod http;
mod net;
pub mod netns;
pub mod registrar;
pub mod rtp_sink;
mod server;
mod sip_text;
mod sipp;
pub mod wav;

// The same subset problem applies to the re-exports, which are linted as
// unused imports; the allow is kept to them so stray `use`s still warn.
#[allow(unused_imports)]
pub use http::{HttpResponse, http_get};
#[allow(unused_imports)]
pub use net::{
    free_port, read_sip_message, tcp_connect, tcp_exchange, tcp_send_and_read, udp_exchange,
    udp_socket,
};
#[allow(unused_imports)]
pub use server::Server;
#[allow(unused_imports)]
pub use sip_text::{SipMessage, new_branch, unique_token};
#[allow(unused_imports)]
pub use sipp::{Sipp, SippOutcome, SippRun, SippTransport, sipp_path};

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The only address tests may bind to or advertise.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// How long [`Server::start`] waits for `GET /health` to answer 200.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Server`]'s `Drop` waits after SIGTERM before sending SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Path of the `switchboard` binary cargo built for this test run.
pub fn switchboard_bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

/// The repository root (the directory holding `tests/sipp`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("tests").join("sipp").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no ancestor of {} contains tests/sipp; is the repository layout intact?",
                manifest_dir.display()
            )
        })
        .to_path_buf()
}

/// Path of a SIPp scenario in `tests/sipp/`.
pub fn sipp_scenario(name: &str) -> PathBuf {
    let path = repo_root().join("tests").join("sipp").join(name);
    assert!(
        path.is_file(),
        "SIPp scenario {} does not exist",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------
// Scratch directories and small helpers shared by the modules
// ---------------------------------------------------------------------------

/// A fresh, unique scratch directory under cargo's target tmp directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", dir.display()));
    dir
}

/// Waits for `child` to exit, for at most `limit`.
fn wait_timeout(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last `max` bytes of a text (on a char boundary), for panic messages.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
