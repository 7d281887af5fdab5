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
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::time::{Duration, Instant};

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

/// How much of timer J one generation of the table covers (by deadline).
const GENERATION: Duration = Duration::from_secs(4);

/// Lingering transactions by key, with their deadlines in order.
///
/// A registrar keeps hundreds of thousands of them (two per registration, for 32 s). In one
/// map, each time it doubled its rehash moved every entry at once, a pause of a hundred
/// milliseconds and more (and a page fault per new page) in the middle of the traffic, enough
/// for clients to retransmit. So the table is cut into generations by deadline, each
/// [`GENERATION`] wide with its own map, sized like the previous generation: a generation
/// holds a few seconds' worth, and the oldest one is dropped whole once it has expired.
/// (Measured on the benchmark machine: one map of ~330-byte entries paused 110 ms growing
/// past 229,000 entries and 190 ms past 459,000.)
///
/// A key is hashed once per lookup, with one keyed SipHash for the whole table (keys come
/// from the network), and that hash serves every generation's map: a lookup that misses
/// probes all of them, which cost a SipHash each when every map had its own keys.
#[derive(Debug, Default)]
pub(crate) struct LingeringTable {
    /// Oldest first; deadlines never overlap between generations.
    generations: VecDeque<Generation>,
    /// Hashes keys for every generation.
    hasher: RandomState,
}

#[derive(Debug)]
struct Generation {
    /// The first deadline filed here; later ones up to `first + GENERATION` join it.
    first: Instant,
    entries: HashMap<HashedKey, Lingering, BuildHasherDefault<PrehashedHasher>>,
    /// Deadlines in insertion order; timer J is the same for every entry, so this is also
    /// deadline order. A key put in again keeps only its newest entry.
    order: VecDeque<(Instant, HashedKey)>,
}

/// A transaction key with its hash under the table's [`RandomState`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct HashedKey {
    hash: u64,
    key: TransactionKey,
}

impl Hash for HashedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes on the hash a [`HashedKey`] carries.
#[derive(Debug, Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `HashedKey`; fold anything else in rather than lose it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl LingeringTable {
    /// Files `entry` under `key` (replacing an older entry under the same key).
    pub(crate) fn insert(&mut self, key: TransactionKey, entry: Lingering) {
        let key = self.hashed(key);
        for g in &mut self.generations {
            if g.entries.remove(&key).is_some() {
                break;
            }
        }
        let deadline = entry.deadline;
        let fits = self
            .generations
            .back()
            .is_some_and(|g| deadline >= g.first && deadline < g.first + GENERATION);
        if !fits {
            // Sized like the one before, so a steady load never rehashes a generation.
            let size = self.generations.back().map_or(0, |g| g.order.len());
            self.generations.push_back(Generation {
                first: deadline,
                entries: HashMap::with_capacity_and_hasher(size, BuildHasherDefault::default()),
                order: VecDeque::with_capacity(size),
            });
        }
        if let Some(g) = self.generations.back_mut() {
            g.order.push_back((deadline, key.clone()));
            g.entries.insert(key, entry);
        }
    }

    /// The entry filed under `key`.
    pub(crate) fn get(&self, key: &TransactionKey) -> Option<&Lingering> {
        if self.generations.is_empty() {
            return None;
        }
        let key = self.hashed(key.clone());
        self.generations
            .iter()
            .rev()
            .find_map(|g| g.entries.get(&key))
    }

    fn hashed(&self, key: TransactionKey) -> HashedKey {
        HashedKey {
            hash: self.hasher.hash_one(&key),
            key,
        }
    }

    /// Removes and returns the entries whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(TransactionKey, Lingering)> {
        let mut out = Vec::new();
        while let Some(g) = self.generations.front_mut() {
            while let Some((deadline, _)) = g.order.front() {
                if *deadline > now {
                    return out;
                }
                let Some((deadline, key)) = g.order.pop_front() else {
                    break;
                };
                // Only the entry this deadline belongs to: a newer one under the same key
                // waits.
                if g.entries.get(&key).is_some_and(|e| e.deadline == deadline)
                    && let Some(entry) = g.entries.remove(&key)
                {
                    out.push((key.key, entry));
                }
            }
            self.generations.pop_front();
        }
        out
    }

    /// The entries, for listing.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TransactionKey, &Lingering)> {
        self.generations
            .iter()
            .flat_map(|g| g.entries.iter().map(|(k, e)| (&k.key, e)))
    }

    /// How many linger.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.generations.iter().map(|g| g.entries.len()).sum()
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
    fn entries_spread_over_generations_expire_in_order() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        for i in 0..20u64 {
            table.insert(key(&i.to_string()), entry(t0 + Duration::from_secs(i)));
        }
        assert!(table.generations.len() > 1);
        assert_eq!(table.len(), 20);
        assert!(table.get(&key("0")).is_some() && table.get(&key("19")).is_some());
        let gone = table.expire(t0 + Duration::from_secs(9));
        let names: Vec<TransactionKey> = gone.into_iter().map(|(k, _)| k).collect();
        let want: Vec<TransactionKey> = (0..10u64).map(|i| key(&i.to_string())).collect();
        assert_eq!(names, want);
        assert!(table.get(&key("9")).is_none() && table.get(&key("10")).is_some());
        assert_eq!(table.iter().count(), 10);
        // Filed again later: the older entry is gone, only the newer deadline counts.
        table.insert(key("10"), entry(t0 + Duration::from_secs(40)));
        assert_eq!(table.len(), 10);
        assert_eq!(table.expire(t0 + Duration::from_secs(30)).len(), 9);
        assert_eq!(table.expire(t0 + Duration::from_secs(40)).len(), 1);
        assert_eq!(table.len(), 0);
        assert!(table.generations.is_empty());
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
