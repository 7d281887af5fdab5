//! End-to-end: DTMF sent as SIP INFO within an echo call (RFC 6086, legacy INFO without an
//! Info-Package, as Cisco and Asterisk send it) is answered and reported once per key press,
//! in order, as Call-layer `dtmf` events with source `sip_info` on `GET /api/v1/events`.
//!
//! One test drives the call with raw SIP over UDP from a test socket (every answer, the
//! retransmission, the refusals); the other runs SIPp's `tests/sipp/echo_info_dtmf.xml`
//! (twelve digits as `application/dtmf-relay`). Everything binds and advertises 127.0.0.1
//! only; every wait is bounded.

mod support;

use support::api::events_of;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, SipMessage, Sipp};

/// How long one SIP answer, HTTP exchange or wait for events may take.
const WAIT: Duration = Duration::from_secs(5);

/// Starts a server whose echo extension answers after 100 ms.
fn start_server() -> Server {
    let dir = support::scratch_dir("config");
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, "[echo]\nanswer_delay_ms = 100\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let config = path.display().to_string();
    Server::start_with(&["--config", &config], &[])
}

/// The call's `dtmf` events once its dialog has ended (bounded wait): the BYE is answered
/// after every INFO before it, so by then all of them are published.
fn dtmf_events_after_bye(server: &Server, call_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = events_of(server, call_id);
        let ended = events
            .iter()
            .any(|e| e["layer"] == "dialog" && e["to_state"] == "terminated");
        if ended {
            return events.into_iter().filter(|e| e["kind"] == "dtmf").collect();
        }
        if Instant::now() >= deadline {
            server.fail(&format!(
                "the dialog of {call_id} never ended:\n{}",
                serde_json::to_string_pretty(&events).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks the `dtmf` events are exactly `expected` (digit, duration) in order, each a
/// Call-layer event of the call's dialog with source `sip_info`.
fn assert_dtmf_events(server: &Server, events: &[Value], expected: &[(&str, u64)]) {
    let got: Vec<(String, u64)> = events
        .iter()
        .map(|e| {
            (
                e["detail"]["digit"].as_str().unwrap_or("?").to_owned(),
                e["detail"]["duration_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = expected
        .iter()
        .map(|(d, ms)| ((*d).to_owned(), *ms))
        .collect();
    if got != want {
        server.fail(&format!(
            "dtmf events {got:?}, expected {want:?}:\n{}",
            serde_json::to_string_pretty(events).unwrap_or_default()
        ));
    }
    for e in events {
        assert_eq!(e["layer"], "call", "{e}");
        assert_eq!(e["detail"]["source"], "sip_info", "{e}");
        let dialog = e["dialog"].as_str().unwrap_or_default();
        assert!(
            dialog.starts_with(e["call_id"].as_str().unwrap_or("-")),
            "{e}"
        );
    }
}

/// A caller on a UDP socket of its own, in one echo call.
struct Caller {
    socket: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to_tag: String,
}

impl Caller {
    fn new(server: SocketAddr) -> Caller {
        Caller {
            socket: support::udp_socket(),
            server,
            call_id: format!("info-{}", support::unique_token()),
            from_tag: support::unique_token(),
            to_tag: String::new(),
        }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("local address")
    }

    /// A request in the call: `to_tag` none before the dialog exists.
    fn request(
        &self,
        method: &str,
        branch: &str,
        cseq: u32,
        to_tag: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let local = self.local();
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        format!(
            "{method} sip:echo@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@{local}>;tag={from}\r\n\
             To: <sip:echo@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{local}>\r\n\
             {extra}\
             Content-Length: {len}\r\n\r\n{body}",
            server = self.server,
            from = self.from_tag,
            call_id = self.call_id,
            len = body.len(),
        )
    }

    fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.server)
            .expect("send to the server");
    }

    /// Waits for the final response to `cseq method` (provisionals and other messages, such
    /// as 2xx retransmissions, are skipped).
    fn final_response(&self, cseq: u32, method: &str) -> SipMessage {
        let wanted = format!("{cseq} {method}");
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_535];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(!remaining.is_zero(), "no final response to {wanted}");
            self.socket
                .set_read_timeout(Some(remaining))
                .expect("set read timeout");
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let msg = SipMessage::parse(&buf[..n]);
            let is_final = msg.status().is_some_and(|s| s >= 200);
            if is_final && msg.header("CSeq") == Some(wanted.as_str()) {
                return msg;
            }
        }
    }

    /// INVITE echo, wait for the 200, ACK it: the dialog is confirmed.
    fn call(&mut self) {
        let sdp = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                   t=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                   a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
        let invite = self.request(
            "INVITE",
            &support::new_branch(),
            1,
            "",
            "Content-Type: application/sdp\r\n",
            sdp,
        );
        self.send(&invite);
        let ok = self.final_response(1, "INVITE");
        assert_eq!(ok.status(), Some(200), "{}", ok.raw);
        self.to_tag = SipMessage::param(ok.expect_header("To"), "tag")
            .expect("To tag in the 200")
            .to_owned();
        let ack = self.request("ACK", &support::new_branch(), 1, &self.to_tag, "", "");
        self.send(&ack);
    }

    /// Sends an INFO in the dialog (with `branch` and `cseq`) and returns its answer.
    fn info(&self, branch: &str, cseq: u32, content_type: &str, body: &str) -> SipMessage {
        let extra = if content_type.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {content_type}\r\n")
        };
        self.send(&self.request("INFO", branch, cseq, &self.to_tag, &extra, body));
        self.final_response(cseq, "INFO")
    }
}

#[test]
fn dtmf_by_sip_info_in_an_echo_call_is_answered_and_reported_once_per_digit_in_order() {
    let server = start_server();
    let mut caller = Caller::new(server.sip_addr);
    caller.call();
    let relay = "application/dtmf-relay";
    let mut cseq = 2;

    // Five digits as dtmf-relay, each with its own duration, and one as application/dtmf
    // (no duration in that form: the 250 ms default).
    let digits = [("1", 100), ("2", 160), ("3", 200), ("*", 250), ("#", 300)];
    for (i, (digit, ms)) in digits.iter().enumerate() {
        let branch = support::new_branch();
        let body = format!("Signal={digit}\r\nDuration={ms}\r\n");
        let ok = caller.info(&branch, cseq, relay, &body);
        assert_eq!(ok.status(), Some(200), "{digit}: {}", ok.raw);
        if i == 0 {
            // A retransmission (same branch and CSeq) is answered again, not reported again.
            let again = caller.info(&branch, cseq, relay, &body);
            assert_eq!(again.status(), Some(200), "{}", again.raw);
        }
        cseq += 1;
    }
    let ok = caller.info(&support::new_branch(), cseq, "application/dtmf", "9");
    assert_eq!(ok.status(), Some(200), "{}", ok.raw);
    cseq += 1;

    // An empty INFO is 200 and no digit.
    let ok = caller.info(&support::new_branch(), cseq, "", "");
    assert_eq!(ok.status(), Some(200), "{}", ok.raw);
    cseq += 1;

    // A body that is no digit: 400 saying why.
    let bad = caller.info(&support::new_branch(), cseq, relay, "Signal=X\r\n");
    assert_eq!(bad.status(), Some(400), "{}", bad.raw);
    assert!(
        bad.start_line.contains("is not a DTMF signal"),
        "{}",
        bad.start_line
    );
    cseq += 1;

    // Another content type: 415 with Accept naming the two DTMF types.
    let other = caller.info(&support::new_branch(), cseq, "text/plain", "5");
    assert_eq!(other.status(), Some(415), "{}", other.raw);
    let accept = other.header_all("Accept").join(",").to_ascii_lowercase();
    assert!(
        accept.contains("application/dtmf-relay") && accept.contains("application/dtmf"),
        "{}",
        other.raw
    );
    cseq += 1;

    // The dialog's CSeq rule applies: an INFO not above the last CSeq is 500.
    let stale = caller.info(&support::new_branch(), cseq - 1, relay, "Signal=7\r\n");
    assert_eq!(stale.status(), Some(500), "{}", stale.raw);

    // An INFO naming no dialog is 481, digit or not.
    let mut stranger = Caller::new(server.sip_addr);
    stranger.to_tag = "no-such-dialog".to_owned();
    let unknown = stranger.info(&support::new_branch(), 1, relay, "Signal=7\r\n");
    assert_eq!(unknown.status(), Some(481), "{}", unknown.raw);

    // BYE ends the call.
    let bye = caller.request("BYE", &support::new_branch(), cseq, &caller.to_tag, "", "");
    caller.send(&bye);
    let ok = caller.final_response(cseq, "BYE");
    assert_eq!(ok.status(), Some(200), "{}", ok.raw);

    let events = dtmf_events_after_bye(&server, &caller.call_id);
    assert_dtmf_events(
        &server,
        &events,
        &[
            ("1", 100),
            ("2", 160),
            ("3", 200),
            ("*", 250),
            ("#", 300),
            ("9", 250),
        ],
    );
    assert!(
        events_of(&server, &stranger.call_id)
            .iter()
            .all(|e| e["kind"] != "dtmf")
    );
}

#[test]
fn sipp_sends_twelve_digits_as_info_dtmf_relay_and_each_is_reported_once_in_order() {
    let server = start_server();
    let call_id = format!("sipp-info-{}", support::unique_token());
    let outcome = Sipp::new(support::sipp_scenario("echo_info_dtmf.xml"))
        .calls(1)
        .timeout(Duration::from_secs(30))
        .arg("-cid_str")
        .arg(&call_id)
        .run(server.sip_addr);
    if !outcome.success() {
        server.fail(&format!(
            "sipp echo_info_dtmf.xml did not complete its call\n{}",
            outcome.report()
        ));
    }
    let events = dtmf_events_after_bye(&server, &call_id);
    let expected: Vec<(&str, u64)> = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
        .iter()
        .map(|d| (*d, 160))
        .collect();
    assert_dtmf_events(&server, &events, &expected);
}
