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

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashTable;
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
}

/// What every lingering transaction is (its method is its key's).
pub(crate) const LINGERING_KIND: TransactionKind = TransactionKind::NonInviteServer;

/// How much of timer J one generation of the table covers (by deadline).
const GENERATION: Duration = Duration::from_secs(4);

/// Lingering transactions by key, with their deadlines in order.
///
/// A registrar keeps hundreds of thousands of them (two per registration, for 32 s). The
/// entries are kept in generations by deadline, each [`GENERATION`] wide, in deadline
/// order, in lists that grow a chunk at a time: the oldest generation is dropped whole once
/// it has expired. One index over all generations finds an entry
/// by its key's hash (one keyed SipHash for the table: keys come from the network). An index
/// slot is 16 bytes and carries its hash, so growing the index moves slots without reading
/// the entries or hashing a key again.
///
/// History, measured on the benchmark machine: one map of ~330-byte entries paused the stack
/// 110 ms growing past 229,000 entries and 190 ms past 459,000; then a map per generation
/// (keyed by the 120-byte transaction key, with a queue of keys for the deadlines) kept
/// each key three times, about 600 of the 1,400 bytes an entry cost, and a request that
/// matched nothing (every new REGISTER) probed every generation's map, a cache miss each.
#[derive(Debug, Default)]
pub(crate) struct LingeringTable {
    /// Oldest first; deadlines never overlap between generations.
    generations: VecDeque<Generation>,
    /// The sequence number of the oldest generation; the next ones follow it.
    oldest: u32,
    /// Where each live entry is.
    index: HashTable<Slot>,
    /// Hashes keys.
    hasher: RandomState,
}

/// One live entry's place.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    generation: u32,
    position: u32,
}

#[derive(Debug)]
struct Generation {
    /// The first deadline filed here; later ones up to `first + GENERATION` join it.
    first: Instant,
    /// Entries in insertion order, which is deadline order (timer J is the same for every
    /// entry); `None` once expired, or replaced by a newer entry under the same key.
    entries: ChunkedList,
    /// Entries before this one have expired.
    expired: usize,
}

/// Entries per chunk of a generation's list (about 350 KiB).
const CHUNK: usize = 1024;

/// A list that grows a chunk at a time: a growing `Vec` of a generation's entries moved
/// (and wrote to fresh pages) everything it held each time it doubled, under a rising load
/// tens of megabytes at once, and kept up to twice the room it needed. Chunks whose entries
/// have all expired are freed before their generation ends.
#[derive(Debug, Default)]
struct ChunkedList {
    chunks: Vec<Vec<Option<Filed>>>,
    len: usize,
}

impl ChunkedList {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, filed: Filed) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(Some(filed));
            self.len += 1;
        }
    }

    fn get(&self, position: usize) -> Option<&Filed> {
        self.chunks
            .get(position / CHUNK)?
            .get(position % CHUNK)?
            .as_ref()
    }

    fn get_mut(&mut self, position: usize) -> Option<&mut Option<Filed>> {
        self.chunks
            .get_mut(position / CHUNK)?
            .get_mut(position % CHUNK)
    }

    /// Frees the chunk holding `position` (every entry in it has gone).
    fn release_chunk_of(&mut self, position: usize) {
        if let Some(chunk) = self.chunks.get_mut(position / CHUNK) {
            *chunk = Vec::new();
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Filed> {
        self.chunks.iter().flatten().flatten()
    }
}

#[derive(Debug)]
struct Filed {
    hash: u64,
    key: TransactionKey,
    entry: Lingering,
}

impl LingeringTable {
    /// The entry a slot points at.
    fn filed(&self, slot: &Slot) -> Option<&Filed> {
        let g = slot.generation.wrapping_sub(self.oldest) as usize;
        self.generations.get(g)?.entries.get(slot.position as usize)
    }

    /// The slot of the live entry filed under `key`.
    fn slot(&self, hash: u64, key: &TransactionKey) -> Option<Slot> {
        self.index
            .find(hash, |s| self.filed(s).is_some_and(|f| f.key == *key))
            .copied()
    }

    /// Takes the entry at `position` of generation `generation` out of the list and the
    /// index.
    fn take(&mut self, generation: u32, position: usize) -> Option<Filed> {
        let g = generation.wrapping_sub(self.oldest) as usize;
        let filed = self
            .generations
            .get_mut(g)?
            .entries
            .get_mut(position)?
            .take()?;
        if let Ok(found) = self.index.find_entry(filed.hash, |s| {
            s.generation == generation && s.position as usize == position
        }) {
            found.remove();
        }
        Some(filed)
    }

    /// Files `entry` under `key` (replacing an older entry under the same key).
    pub(crate) fn insert(&mut self, key: TransactionKey, entry: Lingering) {
        let hash = self.hasher.hash_one(&key);
        if let Some(old) = self.slot(hash, &key) {
            self.take(old.generation, old.position as usize);
        }
        let deadline = entry.deadline;
        let fits = self
            .generations
            .back()
            .is_some_and(|g| deadline >= g.first && deadline < g.first + GENERATION);
        if !fits {
            if self.generations.is_empty() {
                // Sequence numbers only need to be consecutive among the live generations.
                self.oldest = 0;
            }
            self.generations.push_back(Generation {
                first: deadline,
                entries: ChunkedList::default(),
                expired: 0,
            });
        }
        let newest = self.generations.len().saturating_sub(1);
        let Some(g) = self.generations.back_mut() else {
            return;
        };
        let (Ok(generation), Ok(position)) =
            (u32::try_from(newest), u32::try_from(g.entries.len()))
        else {
            // Four billion entries in four seconds cannot happen; if it did, the entry would
            // only be unfindable: it still expires with its generation.
            g.entries.push(Filed { hash, key, entry });
            return;
        };
        g.entries.push(Filed { hash, key, entry });
        let slot = Slot {
            hash,
            generation: self.oldest.wrapping_add(generation),
            position,
        };
        self.index.insert_unique(hash, slot, |s| s.hash);
    }

    /// The entry filed under `key`.
    pub(crate) fn get(&self, key: &TransactionKey) -> Option<&Lingering> {
        if self.index.is_empty() {
            return None;
        }
        let hash = self.hasher.hash_one(key);
        let slot = self.slot(hash, key)?;
        self.filed(&slot).map(|f| &f.entry)
    }

    /// Removes and returns the entries whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(TransactionKey, Lingering)> {
        let mut out = Vec::new();
        while let Some(g) = self.generations.front() {
            if g.expired == g.entries.len() {
                self.generations.pop_front();
                self.oldest = self.oldest.wrapping_add(1);
                continue;
            }
            let position = g.expired;
            if g.entries
                .get(position)
                .is_some_and(|f| f.entry.deadline > now)
            {
                return out;
            }
            if let Some(filed) = self.take(self.oldest, position) {
                out.push((filed.key, filed.entry));
            }
            if let Some(g) = self.generations.front_mut() {
                g.expired += 1;
                if g.expired.is_multiple_of(CHUNK) {
                    g.entries.release_chunk_of(position);
                }
            }
        }
        out
    }

    /// The entries, for listing.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TransactionKey, &Lingering)> {
        self.generations
            .iter()
            .flat_map(|g| g.entries.iter().map(|f| (&f.key, &f.entry)))
    }

    /// How many linger.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
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

    #[test]
    fn a_key_filed_again_in_the_same_generation_is_found_once_with_its_newer_entry() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        table.insert(key("a"), entry(t0 + Duration::from_secs(1)));
        table.insert(key("b"), entry(t0 + Duration::from_secs(1)));
        table.insert(key("a"), entry(t0 + Duration::from_secs(2)));
        assert_eq!(table.generations.len(), 1);
        assert_eq!(table.len(), 2);
        assert_eq!(table.iter().count(), 2);
        let a = table.get(&key("a")).map(|e| e.deadline);
        assert_eq!(a, Some(t0 + Duration::from_secs(2)));
        let gone = table.expire(t0 + Duration::from_secs(1));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, key("b"));
        assert!(table.get(&key("a")).is_some());
        assert_eq!(table.expire(t0 + Duration::from_secs(2)).len(), 1);
        assert!(table.generations.is_empty());
    }

    #[test]
    fn thousands_of_entries_are_each_found_until_they_expire() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        for i in 0..5_000u64 {
            table.insert(
                key(&i.to_string()),
                entry(t0 + Duration::from_millis(i * 4)),
            );
        }
        assert_eq!(table.len(), 5_000);
        assert!((0..5_000u64).all(|i| table.get(&key(&i.to_string())).is_some()));
        assert!(table.get(&key("x")).is_none());
        let gone = table.expire(t0 + Duration::from_millis(9_996));
        assert_eq!(gone.len(), 2_500);
        assert!((0..2_500u64).all(|i| table.get(&key(&i.to_string())).is_none()));
        assert!((2_500..5_000u64).all(|i| table.get(&key(&i.to_string())).is_some()));
    }

    #[test]
    fn a_generation_spanning_several_chunks_frees_them_as_they_expire() {
        let t0 = Instant::now();
        let mut table = LingeringTable::default();
        let n = 3 * CHUNK as u64;
        for i in 0..n {
            table.insert(
                key(&i.to_string()),
                entry(t0 + Duration::from_micros(i * 1000)),
            );
        }
        assert_eq!(table.generations.len(), 1);
        let cut = 2 * CHUNK as u64 + 100;
        let gone = table.expire(t0 + Duration::from_micros((cut - 1) * 1000));
        assert_eq!(gone.len() as u64, cut);
        let chunks = &table.generations[0].entries.chunks;
        assert!(chunks[0].capacity() == 0 && chunks[1].capacity() == 0);
        assert!(chunks[2].capacity() > 0);
        assert!((0..cut).all(|i| table.get(&key(&i.to_string())).is_none()));
        assert!((cut..n).all(|i| table.get(&key(&i.to_string())).is_some()));
        assert_eq!(table.iter().count() as u64, n - cut);
        assert_eq!(
            table.expire(t0 + Duration::from_secs(4)).len() as u64,
            n - cut
        );
        assert!(table.generations.is_empty() && table.len() == 0);
    }
}
