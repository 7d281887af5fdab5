//! Transaction tests on virtual time: a base `Instant` plus durations, no sleeping.

mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{Request, Response, SipMessage};
use crate::parser::parse_message;

use super::{Transaction, TransactionAction as A, TransactionConfig, TransactionState};

pub(super) const UDP: bool = false;
pub(super) const TCP: bool = true;

/// A request as a UAC sends it, with two Route headers (and, to check the ACK keeps only the
/// top one, a second Via).
pub(super) fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKupstream\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy1.example.com;lr>\r\n\
         Route: <sip:proxy2.example.com;lr>\r\n\
         From: Alice <sip:alice@example.com>;tag=a1\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         Call-ID: call-1@192.0.2.10\r\n\
         CSeq: 314 {method}\r\n\
         Contact: <sip:alice@192.0.2.10>\r\n\
         Subject: transaction test\r\n\
         Content-Length: 0\r\n\r\n"
    );
    parse_request(text.as_bytes())
}

pub(super) fn parse_request(text: &[u8]) -> Request {
    match parse_message(Bytes::copy_from_slice(text)).expect("test request parses") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("expected a request"),
    }
}

/// A response to `req` with To tag `b1` (none on 100).
pub(super) fn response(req: &Request, status: u16) -> Response {
    Response::from_request(req, status, Some("b1"))
}

pub(super) fn config() -> TransactionConfig {
    TransactionConfig::default()
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn drain(tx: &mut impl Transaction) -> Vec<A> {
    std::iter::from_fn(|| tx.poll_action()).collect()
}

/// Asserts the next deadline is `at`, fires it and returns the actions.
pub(super) fn fire(tx: &mut impl Transaction, at: Instant) -> Vec<A> {
    assert_eq!(tx.next_deadline(), Some(at), "next deadline");
    tx.on_timeout(at);
    drain(tx)
}

pub(super) fn send_req(r: &Request) -> A {
    A::Send(SipMessage::Request(r.clone()))
}

pub(super) fn send_resp(r: &Response) -> A {
    A::Send(SipMessage::Response(r.clone()))
}

pub(super) fn deliver_req(r: &Request) -> A {
    A::Deliver(SipMessage::Request(r.clone()))
}

pub(super) fn deliver_resp(r: &Response) -> A {
    A::Deliver(SipMessage::Response(r.clone()))
}

pub(super) fn changed(from: TransactionState, to: TransactionState) -> A {
    A::StateChanged { from, to }
}

#[test]
fn defaults_follow_rfc_3261_and_17_2_1() {
    let c = TransactionConfig::default();
    assert_eq!(c.t1, ms(500));
    assert_eq!(c.t2, ms(4000));
    assert_eq!(c.t4, ms(5000));
    assert_eq!(c.trying_delay, ms(200));
    assert_eq!(c.timeout(), ms(32_000));
    assert_eq!(c.timer_d(UDP), ms(32_000));
    assert_eq!(c.timer_d(TCP), Duration::ZERO);
    assert_eq!(c.linger(UDP), ms(5000));
    assert_eq!(c.linger(TCP), Duration::ZERO);
    assert_eq!(c.timer_j(UDP), ms(32_000));
    assert_eq!(c.timer_j(TCP), Duration::ZERO);
}

#[test]
fn timer_d_is_at_least_32_seconds_even_with_a_small_t1() {
    let c = TransactionConfig {
        t1: ms(100),
        ..TransactionConfig::default()
    };
    assert_eq!(c.timeout(), ms(6400));
    assert_eq!(c.timer_d(UDP), ms(32_000));
}

#[test]
fn states_display_as_in_the_rfc_figures() {
    use TransactionState::*;
    let names: Vec<String> = [
        Calling, Trying, Proceeding, Completed, Confirmed, Accepted, Terminated,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "Calling",
            "Trying",
            "Proceeding",
            "Completed",
            "Confirmed",
            "Accepted",
            "Terminated"
        ]
    );
}
