//! End-to-end: recording an echo call (issue #6) against the real binary. A call is recorded
//! from `POST /api/v1/calls/{call_id}/recording` to `DELETE` (or to its BYE) while the test
//! sends a 440 Hz tone as PCMU RTP; the WAV file must be 8 kHz 16-bit, of the right layout
//! and length, non-silent on both sides (the caller left, the echo right), and listed by
//! `GET /api/v1/recordings` with the file's SHA-256. Unknown calls get 404, a second start 409.
//!
//! The SIP side is raw text over UDP, the minimum of tests/e2e_echo_media.rs copied; the WAV
//! file is read with a small RIFF walker of the test's own. Everything binds 127.0.0.1 only;
//! every wait is bounded.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use media::codec::G711Law;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::Server;
use support::api::{events_of, request};
use support::echo_call::EchoCall;
use support::wav::Wav;

/// How long one exchange, or waiting for an event, may take.
const WAIT: Duration = Duration::from_secs(5);

/// A port range of two RTP/RTCP pairs of its own (tests run in parallel, as do the echo
/// tests, whose ranges start at 20 000: these start at 40 000).
fn port_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 50;
    let base = 40_000 + (std::process::id() % 40) as u16 * 500 + slot * 10;
    (base, base + 3)
}

/// A server answering echo calls at once, recording into a scratch directory (returned).
fn start_server() -> (Server, PathBuf) {
    let dir = support::scratch_dir("recording");
    let recordings = dir.join("recordings");
    start_server_recording_to(&dir, recordings)
}

/// A server answering echo calls at once, its config in `dir`, recording into `recordings`.
fn start_server_recording_to(dir: &Path, recordings: PathBuf) -> (Server, PathBuf) {
    let (min, max) = port_range();
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            "[echo]\nanswer_delay_ms = 0\n\n[media]\nrtp_port_min = {min}\nrtp_port_max = {max}\n\
             recordings_dir = \"{}\"\n",
            recordings.display()
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let config = path.display().to_string();
    (Server::start_with(&["--config", &config], &[]), recordings)
}

/// Waits (bounded) for the Call-ID's first event of `kind`.
fn wait_for_kind(server: &Server, call_id: &str, kind: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = events_of(server, call_id);
        if let Some(e) = events.iter().find(|e| e["kind"] == kind) {
            return e.clone();
        }
        if Instant::now() >= deadline {
            server.fail(&format!(
                "{call_id}: no {kind} event in\n{}",
                serde_json::to_string_pretty(&events).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls echo offering PCMU, and ACKs the 200.
fn start_call(server: &Server) -> EchoCall {
    let call_id = format!("recording-{}@127.0.0.1", support::unique_token());
    EchoCall::start(server, call_id, "0", "")
}

/// Sends `seconds` of a 440 Hz tone as PCMU on `call`, 20 ms packets at 50 per second, in
/// real time; the echoes are left in the socket's buffer (a few tens of kB).
fn send_tone(call: &EchoCall, seconds: u32) {
    send_tone_ms(call, seconds * 1000);
}

/// Sends `ms` (a multiple of 20) of the tone, as [`send_tone`].
fn send_tone_ms(call: &EchoCall, ms: u32) {
    let start = Instant::now();
    let mut pcm = [0i16; 160];
    let mut payload = [0u8; 160];
    for i in 0..ms / 20 {
        for (k, s) in pcm.iter_mut().enumerate() {
            let n = f64::from(i * 160) + k as f64;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n / 8000.0).sin()) as i16;
        }
        G711Law::Mu.encode(&pcm, &mut payload).expect("encode");
        let mut p = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&(i * 160).to_be_bytes());
        p.extend_from_slice(&0x5eed_1234u32.to_be_bytes());
        p.extend_from_slice(&payload);
        let due = start + Duration::from_millis(20 * u64::from(i));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        call.send_rtp(&p);
    }
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store's rows for the SIP Call-ID.
fn listed(server: &Server, call_id: &str) -> Vec<Value> {
    let (status, body) = request(
        server,
        "GET",
        &format!("/api/v1/recordings?call_id={call_id}"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    body["recordings"].as_array().cloned().unwrap_or_default()
}

/// Checks the stopped recording of `call` against its file and its store row; returns the WAV.
fn check_recording(server: &Server, call: &EchoCall, file: &str) -> Wav {
    let stopped = wait_for_kind(server, &call.call_id, "recording_stopped");
    assert_eq!(stopped["detail"]["file"], file, "{stopped}");
    let path = Path::new(file);
    let sha = sha256_hex(path);
    assert_eq!(stopped["detail"]["sha256"], sha.as_str(), "{stopped}");
    let rows = listed(server, &call.call_id);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["file_path"], file);
    assert_eq!(row["format"], "wav");
    assert_eq!(
        row["sha256"],
        sha.as_str(),
        "the store row has the file's SHA-256"
    );
    assert_eq!(row["sip_call_id"], call.call_id.as_str());
    let size = std::fs::metadata(path).expect("metadata").len();
    assert_eq!(row["size_bytes"].as_u64(), Some(size));
    let wav = Wav::read(path);
    assert_eq!((wav.rate, wav.bits), (8000, 16));
    let ms = (wav.seconds() * 1000.0) as i64;
    assert!(
        (row["duration_ms"].as_i64().unwrap_or(-1) - ms).abs() <= 1,
        "{row} vs {ms} ms"
    );
    wav
}

#[test]
fn a_stereo_recording_is_non_silent_on_both_sides_and_of_the_right_length() {
    let (server, dir) = start_server();
    let call = start_call(&server);
    let path = format!("/api/v1/calls/{}/recording", call.call_id);
    let (status, started) = request(&server, "POST", &path, "");
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["mode"], "stereo");
    let file = started["file"].as_str().expect("file").to_owned();
    assert!(file.starts_with(&dir.display().to_string()), "{file}");
    assert!(file.ends_with("-1.wav"), "{file}");
    let (status, again) = request(&server, "POST", &path, "{\"mode\":\"mixed\"}");
    assert_eq!(status, 409, "a second start: {again}");
    assert!(again["error"].as_str().is_some(), "{again}");

    send_tone(&call, 3);
    let (status, stopped) = request(&server, "DELETE", &path, "");
    assert_eq!(status, 202, "{stopped}");
    assert_eq!(stopped["file"], file.as_str());
    let wav = check_recording(&server, &call, &file);
    assert_eq!(wav.channels, 2);
    assert!(
        (wav.seconds() - 3.0).abs() <= 0.2,
        "3 s of tone recorded as {} s",
        wav.seconds()
    );
    // A 440 Hz sine of amplitude 8000 has an RMS of ~5650; G.711 keeps it within a few %.
    for (c, side) in [(0, "left (caller)"), (1, "right (echo)")] {
        let rms = wav.rms(c);
        assert!(rms > 4000.0, "{side} channel RMS {rms}");
    }
    wait_for_kind(&server, &call.call_id, "recording_started");
    let (status, body) = request(&server, "DELETE", &path, "");
    assert_eq!(status, 404, "stopping again: {body}");
    call.hang_up(&server);
}

#[test]
fn a_mixed_recording_is_mono_and_stops_at_bye() {
    let (server, _dir) = start_server();
    let call = start_call(&server);
    let path = format!("/api/v1/calls/{}/recording", call.call_id);
    let (status, started) = request(&server, "POST", &path, "{\"mode\":\"mixed\"}");
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["mode"], "mixed");
    let file = started["file"].as_str().expect("file").to_owned();
    send_tone(&call, 1);
    call.hang_up(&server);
    let wav = check_recording(&server, &call, &file);
    assert_eq!(wav.channels, 1);
    assert!(wav.seconds() > 0.8, "{} s", wav.seconds());
    assert!(wav.rms(0) > 4000.0, "mixed RMS {}", wav.rms(0));
    let (status, body) = request(&server, "POST", &path, "");
    assert_eq!(status, 404, "the call ended: {body}");
}

#[test]
fn unknown_calls_and_bad_requests_get_json_errors() {
    let (server, _dir) = start_server();
    for (method, body, want) in [
        ("POST", "", 404),
        ("DELETE", "", 404),
        ("POST", "{\"mode\":\"quad\"}", 400),
        ("POST", "not json", 400),
    ] {
        let (status, answer) = request(&server, method, "/api/v1/calls/nobody/recording", body);
        assert_eq!(status, want, "{method} {body:?}: {answer}");
        assert!(answer["error"].as_str().is_some(), "{answer}");
    }
    assert!(listed(&server, "nobody").is_empty());
}

#[test]
fn a_recordings_directory_that_cannot_be_made_fails_the_start_not_the_call() {
    let dir = support::scratch_dir("recording-bad");
    // A file where the directory should be: mkdir fails as on a read-only or full disk.
    let blocked = dir.join("not-a-directory");
    std::fs::write(&blocked, b"x").expect("write");
    let (server, _) = start_server_recording_to(&dir, blocked);
    let call = start_call(&server);
    let path = format!("/api/v1/calls/{}/recording", call.call_id);
    let (status, body) = request(&server, "POST", &path, "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot create")),
        "{body}"
    );
    let failed = wait_for_kind(&server, &call.call_id, "recording_failed");
    assert!(failed["detail"]["error"].as_str().is_some(), "{failed}");
    // The call goes on: RTP is still echoed, and it hangs up normally.
    send_tone_ms(&call, 100);
    let mut buf = [0u8; 2048];
    call.rtp.set_read_timeout(Some(WAIT)).expect("timeout");
    let (n, from) = call
        .rtp
        .recv_from(&mut buf)
        .expect("RTP echoed after the failure");
    assert_eq!((from, n), (call.media, 172));
    call.hang_up(&server);
    wait_for_kind(&server, &call.call_id, "media_ended");
    assert!(listed(&server, &call.call_id).is_empty());
}
