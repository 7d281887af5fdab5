//! Non-INVITE server transactions that have sent their final response over UDP, kept as
//! data rather than as actors while they linger for timer J (RFC 3261 §17.2.2: 64*T1, 32 s
//! by default).
//!
//! In Completed such a transaction only answers retransmissions of its request with the same
//! response and then ends. A registrar answers thousands of REGISTERs a second, and an actor
//! per finished transaction for 32 s cost about 13 KB each (the request, the response, the
//! machine, the mailbox, the timer); this entry is the response's bytes and where they go.
//! The transaction actor hands itself over ([`super::messages::Linger`]) once Completed, and
//! the layer answers retransmissions from here and ends the entry when J fires.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use sip::Method;
use sip::transaction::TransactionKey;

use crate::metrics::TransactionKind;
use crate::transport::Flow;

/// One lingering transaction.
#[derive(Debug, Clone)]
pub(crate) struct Lingering {
    /// The final response, serialized.
    pub(crate) response: Bytes,
    /// Its status.
    pub(crate) status: u16,
    /// Where it goes (RFC 3261 §18.2.2).
    pub(crate) destination: std::net::SocketAddr,
    /// The flow it goes out on.
    pub(crate) flow: Flow,
    /// When timer J fires.
    pub(crate) deadline: Instant,
    /// The request's Call-ID.
    pub(crate) call_id: String,
    /// The request's method.
    pub(crate) method: Method,
    /// The transaction kind (always non-INVITE server; kept for the metrics' label).
    pub(crate) kind: TransactionKind,
}

/// Lingering transactions by key, with their deadlines in order.
#[derive(Debug, Default)]
pub(crate) struct LingeringTable {
    entries: HashMap<TransactionKey, Lingering>,
    /// Deadlines in insertion order; timer J is the same for every entry, so this is also
    /// deadline order. A key put in again keeps only its newest deadline in `entries`.
    order: VecDeque<(Instant, TransactionKey)>,
}

impl LingeringTable {
    /// Files `entry` under `key`.
    pub(crate) fn insert(&mut self, key: TransactionKey, entry: Lingering) {
        self.order.push_back((entry.deadline, key.clone()));
        self.entries.insert(key, entry);
    }

    /// The entry filed under `key`.
    pub(crate) fn get(&self, key: &TransactionKey) -> Option<&Lingering> {
        self.entries.get(key)
    }

    /// Removes and returns the entries whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(TransactionKey, Lingering)> {
        let mut out = Vec::new();
        while let Some((deadline, _)) = self.order.front() {
            if *deadline > now {
                break;
            }
            let Some((deadline, key)) = self.order.pop_front() else {
                break;
            };
            // Only the entry this deadline belongs to: a newer one under the same key waits.
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.deadline == deadline)
                && let Some(entry) = self.entries.remove(&key)
            {
                out.push((key, entry));
            }
        }
        out
    }

    /// The entries, for listing.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TransactionKey, &Lingering)> {
        self.entries.iter()
    }

    /// How many linger.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transport::TransportKind;

    fn key(branch: &str) -> TransactionKey {
        let text = format!(
            "REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\n\
             From: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match sip::parse_message(Bytes::from(text)) {
            Ok(sip::SipMessage::Request(r)) => TransactionKey::from_request(&r).expect("key"),
            other => panic!("not a request: {other:?}"),
        }
    }

    fn entry(deadline: Instant) -> Lingering {
        let addr = "127.0.0.1:5070".parse().expect("addr");
        Lingering {
            response: Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
            status: 200,
            destination: addr,
            flow: Flow {
                transport: TransportKind::Udp,
                local: "127.0.0.1:5060".parse().expect("addr"),
                peer: addr,
            },
            deadline,
            call_id: "c".into(),
            method: Method::Register,
            kind: TransactionKind::NonInviteServer,
        }
    }

    #[test]
    fn entries_expire_in_deadline_order_and_only_once_due() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        table.insert(key("a"), entry(t0 + Duration::from_secs(32)));
        table.insert(key("b"), entry(t0 + Duration::from_secs(33)));
        assert!(table.expire(t0 + Duration::from_secs(31)).is_empty());
        assert!(table.get(&key("a")).is_some());
        let gone = table.expire(t0 + Duration::from_secs(32));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, key("a"));
        assert_eq!(table.len(), 1);
        assert_eq!(table.expire(t0 + Duration::from_secs(60)).len(), 1);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_key_filed_again_keeps_its_newer_deadline() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        table.insert(key("a"), entry(t0 + Duration::from_secs(1)));
        table.insert(key("a"), entry(t0 + Duration::from_secs(5)));
        assert!(table.expire(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(table.len(), 1);
        assert_eq!(table.expire(t0 + Duration::from_secs(5)).len(), 1);
    }
}
