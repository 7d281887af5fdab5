//! End-to-end: the echo extension terminates media (issue #6): the real binary answers an
//! echo call on a real RTP port, echoes the caller's RTP back, reports DTMF (RFC 4733 and
//! in-band) as `dtmf` events on `/api/v1/events`, releases its ports at BYE and reports a
//! silent caller (`media_timeout`). SIPp plays sip-tester's DTMF and G.711 pcaps to it.
//!
//! The SIP side is raw text over a test UDP socket (like the other e2e tests); RTP packets
//! are made by hand, in-band tones with the media crate's generator and G.711 encoder.
//! Everything binds and advertises 127.0.0.1 only; every wait is bounded.

mod support;

use support::api::{events_of, get_ok};

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use media::codec::G711Law;
use media::dtmf::{DtmfDigit, InBandGenerator, TelephoneEvent};
use serde_json::Value;
use support::echo_call::{EchoCall, TELEPHONE_EVENT, invite, response_where, sdp_offer};
use support::{Server, SipMessage, Sipp};

/// How long one exchange, or waiting for an event, may take.
const WAIT: Duration = Duration::from_secs(5);

/// A port range of `pairs` RTP/RTCP pairs (at most 5) of its own: tests run in parallel, and
/// a test that counts on round-robin must not find its ports bound by another test's server.
fn port_range(pairs: u16) -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 50;
    let base = 20_000 + (std::process::id() % 80) as u16 * 500 + slot * 10;
    (base, base + 2 * pairs.min(5) - 1)
}

/// Starts a server answering echo calls at once, with this `[media]` table.
fn start_server(media: &str) -> Server {
    start_server_delayed(0, media)
}

/// Starts a server answering echo calls after `answer_delay_ms`, with this `[media]` table.
fn start_server_delayed(answer_delay_ms: u64, media: &str) -> Server {
    let dir = support::scratch_dir("config");
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!("[echo]\nanswer_delay_ms = {answer_delay_ms}\n\n[media]\n{media}\n"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let config = path.display().to_string();
    Server::start_with(&["--config", &config], &[])
}

/// `[media]` with a small range of its own.
fn media_table(pairs: u16, extra: &str) -> String {
    let (min, max) = port_range(pairs);
    format!("rtp_port_min = {min}\nrtp_port_max = {max}\n{extra}")
}

/// The events of `kind` for the Call-ID.
fn of_kind(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Waits (bounded by `within`) until the Call-ID has `count` events of `kind`.
fn wait_for_kind(
    server: &Server,
    call_id: &str,
    kind: &str,
    count: usize,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let found = of_kind(&events_of(server, call_id), kind);
        if found.len() >= count {
            return found;
        }
        if Instant::now() >= deadline {
            server.fail(&format!(
                "{call_id}: {} {kind} events, waited for {count}:\n{}",
                found.len(),
                serde_json::to_string_pretty(&events_of(server, call_id)).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `(digit, source)` of each `dtmf` event.
fn digits(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["detail"]["digit"].as_str().unwrap_or("?").to_owned(),
                e["detail"]["source"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// Calls echo offering PCMU and telephone-event, and ACKs the 200.
fn start_call(server: &Server) -> EchoCall {
    let call_id = format!("echo-media-{}", support::unique_token());
    EchoCall::start(server, call_id, "0 101", TELEPHONE_EVENT)
}

fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5eed_1234u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ssrc_of(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]])
}

#[test]
fn echo_answers_sendrecv_on_a_real_port_and_echoes_rtp_to_its_sender() {
    let server = start_server(&media_table(4, ""));
    let call = start_call(&server);
    let body = String::from_utf8_lossy(&call.answer.body).into_owned();
    assert!(body.contains("a=sendrecv"), "{body}");
    assert!(
        body.contains("m=audio ") && body.contains(" RTP/AVP 0 101"),
        "{body}"
    );
    assert_ne!(call.media.port(), 9, "{body}");

    let mut ssrcs = Vec::new();
    for i in 0..5u16 {
        let payload: Vec<u8> = (0..160).map(|k| (k as u8).wrapping_add(i as u8)).collect();
        call.send_rtp(&rtp_packet(
            0,
            i == 0,
            100 + i,
            160 * u32::from(i),
            &payload,
        ));
        let back = call
            .recv_rtp(WAIT)
            .unwrap_or_else(|| server.fail(&format!("RTP packet {i} not echoed")));
        assert_eq!(&back[12..], &payload[..], "packet {i}: payload changed");
        assert_eq!(back[1] & 0x7f, 0, "payload type kept");
        ssrcs.push(ssrc_of(&back));
    }
    assert!(
        ssrcs.iter().all(|&s| s == ssrcs[0] && s != 0x5eed_1234),
        "{ssrcs:x?}"
    );

    call.hang_up(&server);
    let ended = wait_for_kind(&server, &call.call_id, "media_ended", 1, WAIT);
    assert_eq!(ended[0]["detail"]["packets_out"], 5, "{ended:?}");
    assert_eq!(ended[0]["layer"], "call", "{ended:?}");
}

#[test]
fn rfc4733_digits_are_reported_once_each_in_order() {
    let server = start_server(&media_table(4, ""));
    let call = start_call(&server);
    let mut seq = 0u16;
    for (i, digit) in [DtmfDigit::D1, DtmfDigit::D2, DtmfDigit::D3]
        .into_iter()
        .enumerate()
    {
        let ts = 8000 * (i as u32 + 1);
        // Start (marked), two updates, then the end packet three times (RFC 4733 §2.5.1.4).
        for (k, end) in [
            (0u16, false),
            (1, false),
            (2, false),
            (3, true),
            (3, true),
            (3, true),
        ] {
            let event = TelephoneEvent {
                event: digit.event_code(),
                end,
                volume: 10,
                duration: 400 * (k + 1),
            };
            call.send_rtp(&rtp_packet(101, k == 0 && !end, seq, ts, &event.encode()));
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let found = wait_for_kind(&server, &call.call_id, "dtmf", 3, WAIT);
    // Late copies or the end-packet timeout must not add digits.
    std::thread::sleep(Duration::from_millis(600));
    let found_later = of_kind(&events_of(&server, &call.call_id), "dtmf");
    assert_eq!(found.len(), found_later.len(), "{found_later:?}");
    let rfc = |d: &str| (d.to_owned(), "rfc4733".to_owned());
    assert_eq!(digits(&found_later), [rfc("1"), rfc("2"), rfc("3")]);
    assert_eq!(
        found_later[0]["detail"]["duration_ms"], 200,
        "{found_later:?}"
    );
    assert_eq!(found_later[0]["layer"], "call");
    let dialog = found_later[0]["dialog"].as_str().unwrap_or_default();
    assert!(dialog.starts_with(&call.call_id), "{found_later:?}");
    call.hang_up(&server);
}

#[test]
fn inband_tones_are_reported_as_inband_digits() {
    let server = start_server(&media_table(4, ""));
    let call = start_call(&server);
    let mut tones = InBandGenerator::new();
    for d in [DtmfDigit::D4, DtmfDigit::D7, DtmfDigit::Pound] {
        tones.push_digit(d, 100, 100);
    }
    let mut pcm = tones.drain_all();
    pcm.extend(std::iter::repeat_n(0i16, 800));
    for (i, frame) in pcm.chunks(160).enumerate() {
        let mut payload = vec![0u8; frame.len()];
        G711Law::Mu.encode(frame, &mut payload).expect("encode");
        call.send_rtp(&rtp_packet(0, i == 0, i as u16, 160 * i as u32, &payload));
        std::thread::sleep(Duration::from_millis(20));
    }
    let found = wait_for_kind(&server, &call.call_id, "dtmf", 3, WAIT);
    let inband = |d: &str| (d.to_owned(), "inband".to_owned());
    assert_eq!(digits(&found), [inband("4"), inband("7"), inband("#")]);
    call.hang_up(&server);
}

#[test]
fn bye_releases_the_ports_for_later_calls() {
    // Two pairs: the third call can only have a port if the first call's was released.
    let table = media_table(2, "");
    let server = start_server(&table);
    let mut ports = Vec::new();
    for n in 0..3 {
        let call = start_call(&server);
        call.send_rtp(&rtp_packet(0, true, 1, 0, &[0xff; 160]));
        if call.recv_rtp(WAIT).is_none() {
            server.fail(&format!(
                "call {n} on port {}: RTP not echoed",
                call.media.port()
            ));
        }
        ports.push(call.media.port());
        call.hang_up(&server);
        wait_for_kind(&server, &call.call_id, "media_ended", 1, WAIT);
    }
    assert_eq!(ports[0], ports[2], "round-robin over two pairs: {ports:?}");
    assert_ne!(ports[0], ports[1], "{ports:?}");
}

#[test]
fn a_call_when_every_port_is_taken_gets_503() {
    let server = start_server(&media_table(2, ""));
    let a = start_call(&server);
    let b = start_call(&server);
    let sip = support::udp_socket();
    let sdp = sdp_offer(4000, "0", "");
    let refused = invite(
        &server,
        &sip,
        &format!("full-{}", support::unique_token()),
        "t",
        &sdp,
    );
    assert_eq!(refused.status(), Some(503), "{}", refused.raw);
    assert!(
        refused
            .header("Warning")
            .is_some_and(|w| w.contains("no RTP port free")),
        "{}",
        refused.raw
    );
    a.hang_up(&server);
    b.hang_up(&server);
}

#[test]
fn an_offer_without_g711_gets_488_with_the_reason() {
    let server = start_server(&media_table(2, ""));
    let sip = support::udp_socket();
    let sdp = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let refused = invite(
        &server,
        &sip,
        &format!("g729-{}", support::unique_token()),
        "t",
        sdp,
    );
    assert_eq!(refused.status(), Some(488), "{}", refused.raw);
    let warning = refused.header("Warning").unwrap_or_default();
    assert!(
        warning.starts_with("399 ") && warning.contains("no common audio codec"),
        "{warning}"
    );
}

#[test]
fn a_silent_caller_gets_a_media_timeout_event() {
    let server = start_server(&media_table(2, "rtp_timeout_secs = 1\n"));
    let call = start_call(&server);
    let found = wait_for_kind(&server, &call.call_id, "media_timeout", 1, WAIT);
    assert_eq!(found[0]["detail"]["timeout_secs"], 1, "{found:?}");
    call.hang_up(&server);
}

/// Runs a SIPp scenario for one call with Call-ID `call_id` (SIPp's media on 127.0.0.1).
fn run_sipp(server: &Server, scenario: &str, call_id: &str) {
    let outcome = Sipp::new(support::sipp_scenario(scenario))
        .calls(1)
        .timeout(Duration::from_secs(60))
        .arg("-cid_str")
        .arg(call_id)
        .run(server.sip_addr);
    if !outcome.success() {
        server.fail(&format!(
            "sipp {scenario} did not complete its call\n{}",
            outcome.report()
        ));
    }
}

#[test]
fn sipp_dtmf_pcaps_are_reported_once_each_in_order() {
    let server = start_server(&media_table(4, ""));
    let call_id = format!("sipp-dtmf-{}", support::unique_token());
    run_sipp(&server, "echo_rtp_dtmf.xml", &call_id);
    let found = wait_for_kind(&server, &call_id, "dtmf", 12, WAIT);
    let got: Vec<String> = digits(&found)
        .into_iter()
        .map(|(d, s)| format!("{d}/{s}"))
        .collect();
    let want: Vec<String> = "0123456789*#"
        .chars()
        .map(|d| format!("{d}/rfc4733"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn sipp_g711a_pcap_is_echoed() {
    let server = start_server(&media_table(4, ""));
    let call_id = format!("sipp-g711-{}", support::unique_token());
    run_sipp(&server, "echo_rtp_g711a.xml", &call_id);
    let ended = wait_for_kind(&server, &call_id, "media_ended", 1, WAIT);
    let detail = &ended[0]["detail"];
    let (inn, out) = (
        detail["packets_in"].as_u64(),
        detail["packets_out"].as_u64(),
    );
    assert!(inn.is_some_and(|n| n >= 100), "{detail}");
    assert_eq!(inn, out, "every packet echoed: {detail}");
    let text = get_ok(&server, "/metrics");
    assert!(
        text.contains("rtp_packets_total{direction=\"out\"}"),
        "{text}"
    );
}

#[test]
fn a_cancelled_call_releases_its_ports() {
    let server = start_server_delayed(3000, &media_table(2, ""));
    let sip = support::udp_socket();
    let local = sip.local_addr().expect("local");
    let to = server.sip_addr;
    let call_id = format!("cancel-{}", support::unique_token());
    let branch = support::new_branch();
    let sdp = sdp_offer(4000, "0", "");
    let headers = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:echo@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag=c1\r\n\
             To: <sip:echo@{to}>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
        )
    };
    let invite = format!(
        "{}Contact: <sip:tester@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        headers("INVITE", ""),
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), to).expect("INVITE");
    response_where(&server, &sip, |m| m.status() == Some(180));
    let cancel = format!("{}Content-Length: 0\r\n\r\n", headers("CANCEL", ""));
    sip.send_to(cancel.as_bytes(), to).expect("CANCEL");
    let terminated = response_where(&server, &sip, |m| m.status() == Some(487));
    let tag = SipMessage::param(terminated.expect_header("To"), "tag").unwrap_or_default();
    let ack = format!(
        "{}Content-Length: 0\r\n\r\n",
        headers("ACK", &format!(";tag={tag}"))
    );
    sip.send_to(ack.as_bytes(), to).expect("ACK");
    let ended = wait_for_kind(&server, &call_id, "media_ended", 1, WAIT);
    assert_eq!(ended[0]["detail"]["packets_in"], 0, "{ended:?}");
}
