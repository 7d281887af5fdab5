//! End-to-end: calls between extensions through the B2BUA, with SIPp on both sides.
//!
//! The callee is a SIPp UAS registered as `bob`: `register_auth.xml` registers from a port
//! P, then the UAS scenario listens on P, so Switchboard's INVITE reaches it where the
//! REGISTER came from (symmetric routing). The caller is a SIPp UAC dialling `bob`.

mod support;

use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::api::{get_json, request};
use support::echo_call::{final_response, sdp_offer};
use support::registrar::{provision, server_dir, start, wait_for};
use support::rtp_sink::{RtpSink, pacing};
use support::wav::Wav;
use support::{Server, Sipp, free_port, new_branch, sipp_scenario, udp_socket};

/// The endpoints every test provisions: the caller, the callee, and one never registered.
const USERS: [(&str, &str, Option<&str>); 3] = [
    ("alice", "Alice-pass-1", None),
    ("bob", "Bob-pass-2", None),
    ("carol", "Carol-pass-3", None),
];

const WAIT: Duration = Duration::from_secs(15);

/// The pacing check measures wall-clock arrival times: it runs alone (write lock) while the
/// other tests of this binary share the read lock.
static PACING: RwLock<()> = RwLock::new(());

/// Holds the shared side of [`PACING`] for a test that does not measure time.
fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    PACING
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Four RTP/RTCP pairs per server: below the echo tests' ranges (from 20 000) and below
/// the kernel's ephemeral ports (from 32 768), where SIPp's and the tests' own free ports
/// come from.
fn port_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 50;
    let base = 12_000 + (std::process::id() % 10) as u16 * 700 + slot * 10;
    (base, base + 7)
}

/// A server with alice, bob and carol, qualify off (the SIPp callee would take an OPTIONS
/// for an unexpected message), calls ringing at most `ring_secs`.
fn start_server(label: &str, ring_secs: u64) -> Server {
    start_server_in(&server_dir(label), ring_secs, 30)
}

/// [`start_server`] in `dir` (prompts under `dir/prompts`), a leg silent for
/// `rtp_timeout_secs` ending its call.
fn start_server_in(dir: &Path, ring_secs: u64, rtp_timeout_secs: u64) -> Server {
    let dir = dir.to_path_buf();
    if !dir.join("data/switchboard.db").exists() {
        provision(&dir, &USERS);
    }
    let (min, max) = port_range();
    start(
        &dir,
        &format!(
            "[registrar]\ndigest_algorithms = [\"MD5\", \"SHA-256\"]\nqualify_interval_secs = 0\n\n\
             [media]\nrtp_port_min = {min}\nrtp_port_max = {max}\nprompts_dir = \"{}\"\n\
             rtp_timeout_secs = {rtp_timeout_secs}\n\n\
             [calls]\nring_timeout_secs = {ring_secs}\n",
            dir.join("prompts").display()
        ),
    )
}

/// Registers `user` from 127.0.0.1:`port` with SIPp (MD5 digest).
fn register_from(server: &Server, user: &str, password: &str, port: u16) {
    let dir = support::scratch_dir("call-users");
    let csv = dir.join("users.csv");
    fs::write(
        &csv,
        format!(
            "SEQUENTIAL\n{user};{password};[authentication username={user} password={password}];x\n"
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", csv.display()));
    let outcome = Sipp::new(sipp_scenario("register_auth.xml"))
        .local_port(port)
        .arg("-inf")
        .arg(csv.display().to_string())
        .arg("-default_behaviors")
        .arg("all,-bye")
        .run(server.sip_addr);
    assert!(outcome.success(), "register {user}: {}", outcome.report());
}

/// A SIPp callee `scenario` registered as bob and listening, in the background.
fn callee(server: &Server, scenario: &str, extra: &[&str]) -> support::SippRun {
    let port = free_port();
    register_from(server, "bob", "Bob-pass-2", port);
    let mut sipp = Sipp::new(sipp_scenario(scenario))
        .local_port(port)
        .timeout(Duration::from_secs(40));
    for a in extra {
        sipp = sipp.arg(*a);
    }
    sipp.spawn(server.sip_addr)
}

/// A SIPp caller dialling `user`.
fn caller(scenario: &str, user: &str) -> Sipp {
    Sipp::new(sipp_scenario(scenario))
        .timeout(Duration::from_secs(40))
        .arg("-s")
        .arg(user)
}

/// The Call-layer events of the server so far.
fn call_events(server: &Server) -> Vec<Value> {
    let v = get_json(server, "/api/v1/events?limit=10000");
    v["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["layer"] == "call")
        .collect()
}

/// The Call-ID (the caller's) of the one call to `callee` so far.
fn the_call(server: &Server, callee: &str) -> String {
    wait_for(server, WAIT, "the call's created event", || {
        call_events(server)
            .into_iter()
            .find(|e| e["kind"] == "created" && e["detail"]["callee"] == callee)
            .and_then(|e| e["call_id"].as_str().map(str::to_owned))
    })
}

/// The states the call went through, in order (`to_state` of its state events).
fn states(server: &Server, call_id: &str) -> Vec<String> {
    call_events(server)
        .into_iter()
        .filter(|e| e["call_id"] == call_id && (e["kind"] == "state" || e["kind"] == "created"))
        .filter_map(|e| e["to_state"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the call reaches `state`; returns its state list.
fn wait_for_state(server: &Server, call_id: &str, state: &str) -> Vec<String> {
    wait_for(server, WAIT, &format!("call state {state}"), || {
        let s = states(server, call_id);
        s.iter().any(|x| x == state).then_some(s)
    })
}

#[test]
fn a_call_between_registered_phones_is_relayed_both_ways_recorded_and_ends_with_bye() {
    let _shared = shared();
    let server = start_server("call-relay", 60);
    let bob = callee(&server, "call_callee.xml", &["-rtp_echo"]);
    let alice = caller("call_caller.xml", "bob").spawn(server.sip_addr);

    // Record the call from its answer on (stereo: the caller left, the callee right).
    let call_id = the_call(&server, "bob");
    wait_for_state(&server, &call_id, "confirmed");
    let (status, started) = request(
        &server,
        "POST",
        &format!("/api/v1/calls/{call_id}/recording"),
        "{\"mode\":\"stereo\"}",
    );
    assert_eq!(status, 201, "{started}");

    let alice = alice.wait();
    let bob = bob.wait();
    assert!(alice.success(), "caller: {}", alice.report());
    assert!(bob.success(), "callee: {}", bob.report());

    let s = wait_for_state(&server, &call_id, "disconnected");
    assert_eq!(
        s,
        ["calling", "ringing", "confirmed", "disconnected"],
        "{s:?}"
    );
    let ended = wait_for(&server, WAIT, "media_ended", || {
        call_events(&server)
            .into_iter()
            .find(|e| e["call_id"] == call_id && e["kind"] == "media_ended")
    });
    // The caller's ~7 s of A-law went to bob (as PCMU) and came back (SIPp's -rtp_echo).
    let detail = &ended["detail"];
    let count = |leg: &str, dir: &str| detail[leg][dir].as_u64().unwrap_or(0);
    assert!(count("a", "packets_in") >= 200, "{detail}");
    assert!(count("b", "packets_out") >= 200, "{detail}");
    assert!(
        count("b", "packets_in") >= 150,
        "the echo came back: {detail}"
    );
    assert!(
        count("a", "packets_out") >= 150,
        "and reached the caller: {detail}"
    );
    let bye = call_events(&server)
        .into_iter()
        .find(|e| e["call_id"] == call_id && e["to_state"] == "disconnected")
        .unwrap_or_default();
    assert_eq!(bye["cause"], "BYE from the caller", "{bye}");

    // The BYE stopped the recording: both sides are in it, about as long as the audio.
    let stopped = wait_for(&server, WAIT, "recording_stopped", || {
        call_events(&server)
            .into_iter()
            .find(|e| e["call_id"] == call_id && e["kind"] == "recording_stopped")
    });
    let file = stopped["detail"]["file"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(started["file"], file.as_str());
    let wav = Wav::read(Path::new(&file));
    assert_eq!((wav.channels, wav.rate, wav.bits), (2, 8000, 16));
    assert!(
        (5.0..12.0).contains(&wav.seconds()),
        "{} s recorded",
        wav.seconds()
    );
    assert!(wav.rms(0) > 100.0, "the caller's side: rms {}", wav.rms(0));
    assert!(wav.rms(1) > 100.0, "the callee's side: rms {}", wav.rms(1));
    let (status, listed) = request(
        &server,
        "GET",
        &format!("/api/v1/recordings?call_id={call_id}"),
        "",
    );
    assert_eq!(status, 200);
    let rows = listed["recordings"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["file_path"], file.as_str());
}

/// An INVITE from a test socket to `user`; the final response's status.
fn invite_status(server: &Server, user: &str) -> (u16, String) {
    let sip: UdpSocket = udp_socket();
    let local = sip.local_addr().expect("local");
    let to = server.sip_addr;
    let sdp = sdp_offer(free_port(), "0", "");
    let request = format!(
        "INVITE sip:{user}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=t1\r\n\
         To: <sip:{user}@{to}>\r\nCall-ID: {}@127.0.0.1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        new_branch(),
        support::unique_token(),
        sdp.len()
    );
    sip.send_to(request.as_bytes(), to).expect("send INVITE");
    let response = final_response(server, &sip);
    let status = response.status().unwrap_or(0);
    let warning = response.header("Warning").unwrap_or_default().to_owned();
    (status, warning)
}

#[test]
fn unknown_and_unregistered_extensions_are_refused() {
    let _shared = shared();
    let server = start_server("call-refused", 60);
    let (status, _) = invite_status(&server, "nobody");
    assert_eq!(status, 404);
    let (status, warning) = invite_status(&server, "carol");
    assert_eq!(status, 480);
    assert!(warning.contains("no registered device"), "{warning}");
}

#[test]
fn a_busy_callee_makes_the_caller_hear_busy() {
    let _shared = shared();
    let server = start_server("call-busy", 60);
    let bob = callee(&server, "call_callee_busy.xml", &[]);
    let (status, _) = invite_status(&server, "bob");
    assert_eq!(status, 486);
    let bob = bob.wait();
    assert!(bob.success(), "callee: {}", bob.report());
    let call_id = the_call(&server, "bob");
    let s = wait_for_state(&server, &call_id, "failed");
    assert_eq!(s, ["calling", "failed"]);
}

#[test]
fn a_callers_cancel_reaches_the_ringing_callee() {
    let _shared = shared();
    let server = start_server("call-cancel", 60);
    let bob = callee(&server, "call_callee_no_answer.xml", &[]);
    let alice = caller("call_caller_cancel.xml", "bob").run(server.sip_addr);
    let bob = bob.wait();
    assert!(alice.success(), "caller: {}", alice.report());
    assert!(bob.success(), "callee got the CANCEL: {}", bob.report());
    let call_id = the_call(&server, "bob");
    let s = wait_for_state(&server, &call_id, "disconnected");
    assert_eq!(s, ["calling", "ringing", "disconnected"]);
}

#[test]
fn an_unanswered_call_rings_out_with_480_and_cancels_the_callee() {
    let _shared = shared();
    let server = start_server("call-ring-out", 2);
    let started = Instant::now();
    let bob = callee(&server, "call_callee_no_answer.xml", &[]);
    let alice = caller("call_caller_unanswered.xml", "bob").run(server.sip_addr);
    let bob = bob.wait();
    assert!(alice.success(), "caller got 480: {}", alice.report());
    assert!(bob.success(), "callee got the CANCEL: {}", bob.report());
    let call_id = the_call(&server, "bob");
    let s = wait_for_state(&server, &call_id, "timeout");
    assert_eq!(s, ["calling", "ringing", "timeout"]);
    assert!(started.elapsed() >= Duration::from_secs(2));
}

/// Writes a `seconds` long 440 Hz tone, 8 kHz mono 16-bit, as `dir/name`.
fn write_tone(dir: &Path, name: &str, seconds: u32) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let path = dir.join(name);
    let mut wav =
        hound::WavWriter::create(&path, spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for n in 0..8000 * seconds {
        let x = (2.0 * std::f64::consts::PI * 440.0 * f64::from(n) / 8000.0).sin();
        wav.write_sample((x * 8000.0) as i16).expect("sample");
    }
    wav.finalize().expect("finalize");
}

#[test]
fn an_announcement_plays_its_prompts_to_a_sipp_uas_paced_at_20_ms_then_hangs_up() {
    let _alone = PACING
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = server_dir("call-announce");
    write_tone(&dir.join("prompts"), "tone.wav", 1);
    write_tone(&dir.join("prompts/queue"), "second.wav", 1);
    let server = start_server_in(&dir, 60, 30);

    // Arrival times on a loaded 2-core machine can be thrown off by a descheduled process
    // (ours or the server's); an announcement whose every interval is in 20 ms +- 2 ms must
    // come within three tries, and each try must be complete and in order.
    let mut reports = Vec::new();
    for attempt in 1..=3 {
        let (call_id, packets) = announce_to_sink(&server);
        assert_eq!(packets.len(), 100, "2 s of prompts: 100 packets of 20 ms");
        let ssrc = packets[0].header.ssrc;
        for pair in packets.windows(2) {
            assert_eq!(pair[1].header.ssrc, ssrc);
            assert_eq!(
                pair[1].header.sequence,
                pair[0].header.sequence.wrapping_add(1)
            );
            assert_eq!(
                pair[1].header.timestamp,
                pair[0].header.timestamp.wrapping_add(160)
            );
            assert_eq!(pair[1].header.payload_type, 0, "PCMU, as the UAS answered");
        }
        let s = wait_for_state(&server, &call_id, "disconnected");
        assert_eq!(s, ["calling", "ringing", "confirmed", "disconnected"]);
        let finished = wait_for(&server, WAIT, "announcement_finished", || {
            call_events(&server)
                .into_iter()
                .find(|e| e["call_id"] == call_id && e["kind"] == "announcement_finished")
        });
        assert_eq!(finished["detail"]["outcome"], "played_all", "{finished}");
        let report = pacing(
            &packets,
            Duration::from_millis(20),
            Duration::from_millis(2),
        );
        if report.ok() {
            return;
        }
        eprintln!("attempt {attempt}: pacing off: {report:?}");
        reports.push(report);
    }
    panic!("no announcement paced at 20 ms +- 2 ms in three tries: {reports:#?}");
}

/// Places an announcement of tone.wav and queue/second.wav to a SIPp UAS registered as bob
/// whose SDP names a test RTP sink; returns the Call-ID and what the sink received, once the
/// UAS has had its BYE.
fn announce_to_sink(server: &Server) -> (String, Vec<support::rtp_sink::RtpArrival>) {
    let sink = RtpSink::bind().expect("bind an RTP sink");
    let sink_port = sink.port().to_string();
    let uas = callee(
        server,
        "uas_prompt_sink.xml",
        &["-set", "sink_port", &sink_port],
    );
    let recording = sink.spawn(Duration::from_secs(10), Duration::from_millis(500));
    let (status, placed) = request(
        server,
        "POST",
        "/api/v1/calls",
        r#"{"extension":"bob","prompts":["tone.wav","queue/second.wav"]}"#,
    );
    assert_eq!(status, 202, "{placed}");
    let call_id = placed["call_id"].as_str().unwrap_or_default().to_owned();
    let packets = recording.join().expect("the sink thread");
    let uas = uas.wait();
    assert!(uas.success(), "the UAS got its BYE: {}", uas.report());
    (call_id, packets)
}

#[test]
fn announcements_with_bad_prompts_are_refused_with_the_reason() {
    let _shared = shared();
    let dir = server_dir("call-announce-bad");
    let prompts = dir.join("prompts");
    fs::create_dir_all(&prompts).expect("prompts dir");
    // Not audio at all: the reason names the file and what is wrong with it.
    fs::write(prompts.join("notes.wav"), "not audio").expect("write");
    let server = start_server_in(&dir, 60, 30);
    for (body, needle) in [
        (
            r#"{"extension":"bob","prompts":["missing.wav"]}"#,
            "missing.wav",
        ),
        (
            r#"{"extension":"bob","prompts":["notes.wav"]}"#,
            "not a WAV file",
        ),
        (r#"{"extension":"bob","prompts":["../x.wav"]}"#, "relative"),
        (r#"{"extension":"bob","prompts":[]}"#, "prompts"),
        (
            r#"{"extension":"bob","prompts":["a.wav"],"stop_on_digits":"x"}"#,
            "DTMF",
        ),
        ("not json", "invalid body"),
    ] {
        let (status, answer) = request(&server, "POST", "/api/v1/calls", body);
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{body}: {error}");
    }
}

#[test]
fn keys_pressed_as_rfc4733_reach_a_callee_that_wants_sip_info_as_info() {
    let _shared = shared();
    let dir = server_dir("call-dtmf-info");
    // bob's endpoint takes DTMF as SIP INFO (the import's fifth column).
    let csv = dir.join("endpoints.csv");
    fs::write(
        &csv,
        "username,password,group,display_name,dtmf_mode\n\
         alice,Alice-pass-1,,,rfc4733\nbob,Bob-pass-2,,,info\ncarol,Carol-pass-3,,,\n",
    )
    .expect("write the endpoints");
    support::registrar::admin(&dir, &["endpoint", "import", &csv.display().to_string()]);
    let server = start_server_in(&dir, 60, 30);

    let bob = callee(&server, "call_callee_info.xml", &[]);
    let alice = caller("call_caller_dtmf.xml", "bob").run(server.sip_addr);
    let bob = bob.wait();
    assert!(alice.success(), "caller: {}", alice.report());
    assert!(
        bob.success(),
        "callee got both keys as INFO: {}",
        bob.report()
    );

    // Each key is reported once, as the caller sent it.
    let call_id = the_call(&server, "bob");
    let digits: Vec<(String, String)> = call_events(&server)
        .into_iter()
        .filter(|e| e["call_id"] == call_id && e["kind"] == "dtmf")
        .map(|e| {
            (
                e["detail"]["digit"].as_str().unwrap_or_default().to_owned(),
                e["detail"]["source"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        digits,
        [
            ("1".to_owned(), "rfc4733".to_owned()),
            ("#".to_owned(), "rfc4733".to_owned())
        ]
    );
}

#[test]
fn a_call_whose_media_stops_is_hung_up_on_both_sides() {
    let _shared = shared();
    let server = start_server_in(&server_dir("call-media-timeout"), 60, 2);
    // Neither side sends RTP: after 2 s Switchboard sends BYE both ways.
    let bob = callee(&server, "call_callee.xml", &[]);
    let alice = caller("call_caller_silent.xml", "bob").run(server.sip_addr);
    let bob = bob.wait();
    assert!(alice.success(), "caller got the BYE: {}", alice.report());
    assert!(bob.success(), "callee got the BYE: {}", bob.report());
    let call_id = the_call(&server, "bob");
    let s = wait_for_state(&server, &call_id, "disconnected");
    assert_eq!(s, ["calling", "ringing", "confirmed", "disconnected"]);
    let events = call_events(&server);
    assert!(
        events
            .iter()
            .any(|e| e["call_id"] == call_id && e["kind"] == "media_timeout"),
        "{events:?}"
    );
    let end = events
        .iter()
        .find(|e| e["call_id"] == call_id && e["to_state"] == "disconnected")
        .cloned()
        .unwrap_or_default();
    assert_eq!(end["cause"], "media timeout", "{end}");
}
