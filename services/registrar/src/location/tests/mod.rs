//! Location service tests, on virtual time: REGISTER rules (`register.rs`,
//! `address_of_record.rs`), RFC 4475 registrar cases (`conformance.rs`), reachability and
//! expiry (`reachability.rs`), and the indexes staying consistent under random operations
//! (`indexes.rs`).

use std::net::SocketAddr;

use sip::{Header, Request, SipMessage};

use super::*;

mod address_of_record;
mod conformance;
mod indexes;
mod reachability;
mod register;

/// A wall-clock instant `secs` seconds into the test (2023-11-14, well after the epoch).
fn at(secs: u64) -> UnixTime {
    UnixTime(1_700_000_000_000).plus_secs(secs)
}

fn policy() -> RegisterPolicy {
    RegisterPolicy {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 600,
        max_contacts: 3,
        on_contact_limit: ContactLimit::Refuse,
    }
}

fn qualify_policy() -> QualifyPolicy {
    QualifyPolicy {
        interval_ms: 30_000,
        failures_before_unreachable: 3,
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address parses")
}

fn flow(transport: FlowTransport, source: &str) -> BindingFlow {
    BindingFlow {
        transport,
        local: addr("192.0.2.1:5060"),
        source: addr(source),
    }
}

fn udp(source: &str) -> BindingFlow {
    flow(FlowTransport::Udp, source)
}

fn parse_request(text: &str) -> Request {
    match sip::parse_message(text.as_bytes().to_vec().into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("test REGISTER does not parse: {other:?}"),
    }
}

/// A REGISTER for alice with `Call-ID` and `CSeq`, plus extra header lines.
struct Register {
    call_id: String,
    cseq: u32,
    lines: Vec<String>,
}

fn register(call_id: &str, cseq: u32) -> Register {
    Register {
        call_id: call_id.to_string(),
        cseq,
        lines: Vec::new(),
    }
}

impl Register {
    fn contact(mut self, value: &str) -> Self {
        self.lines.push(format!("Contact: {value}"));
        self
    }

    fn header(mut self, line: &str) -> Self {
        self.lines.push(line.to_string());
        self
    }

    fn build(&self) -> Request {
        let mut text = format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=a1\r\n\
             To: <sip:alice@example.com>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n",
            call_id = self.call_id,
            cseq = self.cseq
        );
        for line in &self.lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        parse_request(&text)
    }
}

/// Registers for alice from `source` over UDP with the default policy.
fn register_alice(
    loc: &mut LocationService,
    request: &Register,
    source: &str,
    now: UnixTime,
) -> RegisterOutcome {
    loc.register("alice", &request.build(), udp(source), &policy(), now)
}

/// The reply's Contact header as it would be written, if any.
fn contact_line(reply: &RegisterReply) -> Option<String> {
    reply
        .headers
        .iter()
        .find(|h| matches!(h, Header::Contact(_)))
        .map(|h| h.to_string())
}

fn saved(changes: &[BindingChange]) -> Vec<&Binding> {
    changes
        .iter()
        .filter_map(|c| match c {
            BindingChange::Saved(b) => Some(b),
            BindingChange::Removed { .. } => None,
        })
        .collect()
}

fn removed(changes: &[BindingChange]) -> Vec<(&str, RemovalCause)> {
    changes
        .iter()
        .filter_map(|c| match c {
            BindingChange::Removed { binding, cause } => Some((&*binding.contact, *cause)),
            BindingChange::Saved(_) => None,
        })
        .collect()
}

fn contacts_of(loc: &LocationService, aor: &str, now: UnixTime) -> Vec<String> {
    loc.lookup(aor, now)
        .iter()
        .map(|b| b.contact.to_string())
        .collect()
}

/// Checks that every index agrees with the slab.
fn assert_indexes_consistent(loc: &LocationService) {
    let mut count = 0;
    for (k, slot) in loc.slots.iter().enumerate() {
        let s = Slot::try_from(k).expect("slot fits");
        let Some(b) = slot else {
            assert!(loc.free.contains(&s), "free slot {s} is listed as free");
            continue;
        };
        count += 1;
        assert!(!loc.free.contains(&s), "used slot {s} is not free");
        assert!(loc.by_aor.get(&*b.aor).is_some_and(|l| l.contains(&s)));
        assert!(
            loc.by_flow
                .get(&(b.flow.transport, b.flow.source))
                .is_some_and(|l| l.contains(&s))
        );
        assert!(loc.expiry.contains(&(b.expires_at, s)));
        match b.qualify.interval_from {
            Some(from) => assert!(loc.qualify_queue.contains(&(from, s))),
            None => assert!(!loc.qualify_queue.iter().any(|&(_, q)| q == s)),
        }
    }
    assert_eq!(count, loc.len());
    assert_eq!(loc.expiry.len(), loc.len());
    assert_eq!(loc.by_aor.values().map(Vec::len).sum::<usize>(), loc.len());
    assert_eq!(loc.by_flow.values().map(Vec::len).sum::<usize>(), loc.len());
    assert!(loc.by_aor.values().all(|l| !l.is_empty()));
    assert!(loc.by_flow.values().all(|l| !l.is_empty()));
    assert!(loc.qualify_queue.len() <= loc.len());
}
