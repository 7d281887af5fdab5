//! End-to-end: every RFC 4475 torture message is sent to the real binary over UDP and gets the
//! treatment the RFC (and `MANIFEST.tsv`) asks for, or no response where it must be dropped; the
//! server keeps answering OPTIONS afterwards.
//!
//! Responses to requests without `rport` go to the source address and the Via's sent-by port
//! (RFC 3261 §18.2.2, default 5060), so each message is sent from a loopback socket bound to
//! that port: that is also the test that Switchboard never answers to the host a Via names.

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{LOOPBACK, Server};

/// What the server must send back for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A final response with this status code.
    Status(u16),
    /// Nothing: responses are never answered, and what cannot be answered is dropped.
    Nothing,
    /// The RFC leaves it open (`test.dat`): any answer or none.
    Anything,
}

/// The answer Switchboard gives today, by file, with the MANIFEST expectation it must agree with.
/// A REGISTER without credentials gets the registrar's 401 challenge (no endpoint is provisioned
/// here; `e2e_registrar.rs` authenticates cparam01, cparam02 and regescrt and checks their
/// bindings), except unksm2, whose To names a scheme a registrar must refuse (400).
fn expectations() -> HashMap<&'static str, Expected> {
    use Expected::*;
    HashMap::from([
        // VALID requests are processed normally: no user exists yet, so INVITE gets 404 ...
        // ... except wsinv, whose To carries a tag: it names a dialog that does not exist,
        // and RFC 3261 §12.2.2 answers that 481.
        ("wsinv.dat", Status(481)),
        ("intmeth.dat", Status(501)),
        ("esc01.dat", Status(404)),
        ("escnull.dat", Status(401)),
        ("esc02.dat", Status(501)),
        ("lwsdisp.dat", Status(200)),
        ("longreq.dat", Status(404)),
        ("dblreq.dat", Status(401)),
        ("semiuri.dat", Status(200)),
        ("transports.dat", Status(200)),
        ("mpart01.dat", Status(405)),
        ("inv2543.dat", Status(404)),
        ("zeromf.dat", Status(200)),
        ("cparam01.dat", Status(401)),
        ("cparam02.dat", Status(401)),
        ("regescrt.dat", Status(401)),
        // VALID responses match no transaction and are dropped.
        ("unreason.dat", Nothing),
        ("noreason.dat", Nothing),
        // INVALID requests get 400 (505 for the unknown version); INVALID responses are dropped.
        ("badinv01.dat", Status(400)),
        ("clerr.dat", Status(400)),
        ("ncl.dat", Status(400)),
        ("scalar02.dat", Status(400)),
        ("scalarlg.dat", Nothing),
        ("quotbal.dat", Status(400)),
        ("ltgtruri.dat", Status(400)),
        ("lwsruri.dat", Status(400)),
        ("lwsstart.dat", Status(400)),
        ("trws.dat", Status(400)),
        ("escruri.dat", Status(400)),
        ("baddate.dat", Status(400)),
        ("regbadct.dat", Status(400)),
        ("badaspec.dat", Status(400)),
        ("baddn.dat", Status(400)),
        ("badvers.dat", Status(505)),
        ("mismatch01.dat", Status(400)),
        ("mismatch02.dat", Status(400)),
        ("bigcode.dat", Nothing),
        // VALID-SYNTAX: the semantic answer the RFC asks for.
        ("badbranch.dat", Status(200)),
        ("insuf.dat", Status(400)),
        ("unkscm.dat", Status(416)),
        ("novelsc.dat", Status(416)),
        ("unksm2.dat", Status(400)),
        ("bext01.dat", Status(420)),
        ("invut.dat", Status(415)),
        ("regaut01.dat", Status(401)),
        ("multi01.dat", Status(400)),
        ("bcast.dat", Nothing),
        ("sdp01.dat", Status(406)),
        // INVALID-FRAMING over UDP: an error response.
        ("mcl01.dat", Status(400)),
        ("test.dat", Anything),
    ])
}

/// The tests bind fixed reply ports (5060 and others), so they run one at a time.
static REPLY_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn data_dir() -> PathBuf {
    support::repo_root().join("services/sip/testdata/conformance/rfc4475")
}

/// The port the response must come back to: the top Via's `rport` asks for the source port,
/// otherwise its sent-by port or 5060. A Via that does not parse is answered to the source port.
fn reply_port(message: &[u8]) -> Option<u16> {
    let raw = sip::parse_raw(&bytes::Bytes::copy_from_slice(message)).ok()?;
    let via_line = raw.named(&sip::HeaderName::Via).next()?;
    let mut line = b"Via: ".to_vec();
    line.extend_from_slice(&via_line.value);
    match sip::Header::parse(&line) {
        Ok(sip::Header::Via(v)) if v[0].rport().is_none() => Some(v[0].port.unwrap_or(5060)),
        _ => None,
    }
}

fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The ACK a UAC sends for a non-2xx final `response` to `invite` (RFC 3261 §17.1.1.3): the
/// INVITE's Request-URI, the response's top Via, From, To (with the server's tag) and Call-ID,
/// and its CSeq number with method ACK. `None` when `invite` is not an INVITE.
fn ack_for(invite: &[u8], response: &[u8]) -> Option<Vec<u8>> {
    let invite = String::from_utf8_lossy(invite);
    let uri = invite.strip_prefix("INVITE ")?.split(' ').next()?;
    let response = String::from_utf8_lossy(response);
    let mut ack = format!("ACK {uri} SIP/2.0\r\n");
    let mut via_done = false;
    for line in response.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" if !via_done => {
                via_done = true;
                ack.push_str(line);
            }
            "from" | "to" | "call-id" => ack.push_str(line),
            "cseq" => {
                let number = line.split(':').nth(1)?.split_whitespace().next()?;
                ack.push_str(&format!("CSeq: {number} ACK"));
            }
            _ => continue,
        }
        ack.push_str("\r\n");
    }
    ack.push_str("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    Some(ack.into_bytes())
}

/// Sends `message` and returns every datagram the server sends back within `wait`. A non-2xx
/// final response to an INVITE is acknowledged, as a UAC would, so the server's INVITE
/// transaction stops retransmitting it (RFC 3261 §17.2.1) and no stray copy reaches the
/// next exchange on the same port.
fn exchange(server: SocketAddr, message: &[u8], wait: Duration) -> Vec<Vec<u8>> {
    let port = reply_port(message).unwrap_or(0);
    let socket = UdpSocket::bind((LOOPBACK, port))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:{port} to receive the response: {e}"));
    socket
        .send_to(message, server)
        .expect("send torture message");
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        socket.set_read_timeout(Some(left)).expect("set timeout");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == server => {
                got.push(buf[..n].to_vec());
                // One final response is all a request gets; stop early once it is here.
                if status_of(&buf[..n]).is_some_and(|s| s >= 200) {
                    if status_of(&buf[..n]).is_some_and(|s| s >= 300)
                        && let Some(ack) = ack_for(message, &buf[..n])
                    {
                        socket.send_to(&ack, server).expect("send ACK");
                    }
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

#[test]
fn every_torture_message_gets_the_answer_rfc4475_asks_for_and_the_server_survives() {
    let _ports = REPLY_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start();
    let manifest = std::fs::read_to_string(data_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let expectations = expectations();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, manifest_expectation) = (cols[0], cols[3]);
        let expected = *expectations
            .get(file)
            .unwrap_or_else(|| panic!("{file} is in MANIFEST.tsv but has no expected answer here"));
        // The table must agree with the MANIFEST's class of the message.
        match (manifest_expectation, expected) {
            ("INVALID", Expected::Status(s)) => {
                assert!(s == 400 || s == 505, "{file}: INVALID must get 400/505")
            }
            ("VALID", Expected::Status(s)) => assert!(s != 400, "{file}: VALID must not get 400"),
            _ => {}
        }
        let message = std::fs::read(data_dir().join("messages").join(file)).expect("message file");
        let wait = match expected {
            Expected::Status(_) => Duration::from_secs(5),
            Expected::Nothing | Expected::Anything => Duration::from_millis(700),
        };
        let replies = exchange(server.sip_addr, &message, wait);
        let finals: Vec<u16> = replies
            .iter()
            .filter_map(|r| status_of(r))
            .filter(|s| *s >= 200)
            .collect();
        let ok = match expected {
            Expected::Status(s) => finals == vec![s],
            Expected::Nothing => replies.is_empty(),
            Expected::Anything => true,
        };
        if !ok {
            failures.push(format!(
                "{file} ({manifest_expectation}): expected {expected:?}, got {:?}\n{}",
                finals,
                replies
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 50, "all 50 RFC 4475 messages were sent");
    if !failures.is_empty() {
        server.fail(&format!(
            "{} torture messages got the wrong answer:\n{}",
            failures.len(),
            failures.join("\n\n")
        ));
    }
    // Still alive and answering.
    let options = format!(
        "OPTIONS sip:switchboard@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKalive;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=a\r\nTo: <sip:switchboard@{addr}>\r\nCall-ID: alive-after-torture\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        addr = server.sip_addr
    );
    let replies = exchange(server.sip_addr, options.as_bytes(), Duration::from_secs(5));
    assert_eq!(
        replies
            .iter()
            .filter_map(|r| status_of(r))
            .collect::<Vec<_>>(),
        vec![200],
        "OPTIONS after the torture run"
    );
}

#[test]
fn unparsable_request_gets_400_with_the_reason_in_the_phrase() {
    let _ports = REPLY_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start();
    let message = std::fs::read(data_dir().join("messages/scalar02.dat")).expect("scalar02.dat");
    let replies = exchange(server.sip_addr, &message, Duration::from_secs(5));
    let first = replies
        .first()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .unwrap_or_default();
    let status_line = first.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("SIP/2.0 400 "), "got: {first}");
    assert!(
        status_line.contains("out of range"),
        "the reason phrase says why: {status_line}"
    );
    assert!(
        first.contains("Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32"),
        "the 400 copies Call-ID: {first}"
    );
}
