//! The location service (RFC 3261 §10.3): address-of-record → bindings, REGISTER processing,
//! expiry, and reachability (qualify with OPTIONS, TCP keep-alives and closes).
//!
//! - `register.rs`: the address-of-record of a REGISTER and its processing (§10.3 steps 6 to 8,
//!   RFC 3327 Path, RFC 5626 instance and reg-id).
//! - `reply.rs`: the headers of the 200 (Contact list, Date, Path, Supported).
//! - `qualify.rs`: qualify scheduling, results, flow keep-alives and closes.
//! - `uri_equiv.rs`: RFC 3261 §19.1.4 URI equivalence, which decides whether a Contact names an
//!   existing binding.
//!
//! Bindings live in a slab indexed by address-of-record, by flow, by expiry time and by the
//! start of their qualify interval, so that a location service of 100,000+ bindings answers
//! `expire`, `next_expiry` and `qualify_due` from the front of an ordered set instead of
//! scanning every binding on every tick.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use sip::Header;

use crate::UnixTime;

mod qualify;
mod register;
mod reply;
mod uri_equiv;

#[cfg(test)]
mod tests;

pub use register::address_of_record;

/// The transport a binding's flow runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
    /// WebSocket.
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl FlowTransport {
    /// Lowercase name, as stored (`udp`, `tcp`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FlowTransport::Udp => "udp",
            FlowTransport::Tcp => "tcp",
            FlowTransport::Tls => "tls",
            FlowTransport::Ws => "ws",
            FlowTransport::Wss => "wss",
        }
    }

    /// Whether the flow is a connection (TCP, TLS, WS, WSS), which can close.
    pub fn is_connection(self) -> bool {
        !matches!(self, FlowTransport::Udp)
    }
}

/// The flow a REGISTER arrived on: requests to the binding go back on it (RFC 3581, RFC 5626).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BindingFlow {
    /// Transport.
    pub transport: FlowTransport,
    /// Our address the REGISTER arrived at.
    pub local: SocketAddr,
    /// The address it came from (the UDP source or TCP remote end).
    pub source: SocketAddr,
}

/// Whether a binding answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reachability {
    /// Not yet qualified.
    #[default]
    Unknown,
    /// Answered its last qualify (or sent something recently).
    Reachable,
    /// Stopped answering.
    Unreachable,
}

impl Reachability {
    /// `unknown`, `reachable` or `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Unknown => "unknown",
            Reachability::Reachable => "reachable",
            Reachability::Unreachable => "unreachable",
        }
    }
}

/// Identifies one binding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingKey {
    /// The address-of-record (the endpoint's user name).
    pub aor: Box<str>,
    /// The Contact URI as stored.
    pub contact: Box<str>,
}

/// Qualify bookkeeping of one binding (owned by the location service).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QualifyState {
    /// When the running qualify interval started (registration, restore or the last result):
    /// the next OPTIONS is due one interval later. `None` while a qualify is in flight, and for
    /// contacts that are not sip/sips (never qualified). Keeping the start rather than the due
    /// time lets the interval come from the policy passed to `qualify_due`.
    interval_from: Option<UnixTime>,
    in_flight: bool,
    failures: u32,
}

impl QualifyState {
    /// Whether an OPTIONS to the binding awaits its result.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Unanswered qualifies in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A fresh schedule: the first qualify one interval after `now` (none for a contact that
    /// is not sip/sips).
    fn starting(contact: &str, now: UnixTime) -> QualifyState {
        QualifyState {
            interval_from: is_sip_contact(contact).then_some(now),
            in_flight: false,
            failures: 0,
        }
    }
}

/// One binding of an address-of-record to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Address-of-record: the endpoint's user name (To user part, unescaped).
    pub aor: Box<str>,
    /// Contact URI as received, parameters and escaped headers kept.
    pub contact: Box<str>,
    /// q-value × 1000, when the Contact had one.
    pub q_milli: Option<u16>,
    /// When the binding expires.
    pub expires_at: UnixTime,
    /// Call-ID of the REGISTER that last refreshed it.
    pub call_id: Box<str>,
    /// Its CSeq number.
    pub cseq: u32,
    /// Path header URIs (RFC 3327), in order.
    pub path: Vec<Box<str>>,
    /// User-Agent header of the REGISTER.
    pub user_agent: Option<Box<str>>,
    /// `+sip.instance` (RFC 5626).
    pub instance_id: Option<Box<str>>,
    /// `reg-id` (RFC 5626).
    pub reg_id: Option<u32>,
    /// The flow it was registered over.
    pub flow: BindingFlow,
    /// When it was first registered.
    pub registered_at: UnixTime,
    /// When it was last refreshed.
    pub refreshed_at: UnixTime,
    /// Whether it answers.
    pub reachability: Reachability,
    /// When something last arrived from it (REGISTER, qualify answer, keep-alive).
    pub last_seen: UnixTime,
    /// Qualify bookkeeping.
    pub qualify: QualifyState,
}

impl Binding {
    /// Its key.
    pub fn key(&self) -> BindingKey {
        BindingKey {
            aor: self.aor.clone(),
            contact: self.contact.clone(),
        }
    }

    /// Seconds until it expires (rounded up), 0 once expired.
    pub fn remaining_secs(&self, now: UnixTime) -> u64 {
        now.secs_until(self.expires_at)
    }

    /// Where requests to it are sent: the Contact's address when it is reachable directly,
    /// else the flow's source (symmetric routing, RFC 3581; always over TCP/TLS/WS).
    ///
    /// Over a connection the only way to reach the phone is the connection it registered on
    /// (its remote end, `flow.source`): a phone behind NAT or a firewall accepts nothing else.
    /// Over UDP the Contact is followed only when it names exactly the address the REGISTER
    /// came from (IP literal equal to the source IP, port, default 5060, equal to the source
    /// port); and then that address is the source. Any other Contact (a private address
    /// behind NAT, a host name, another port) is not trusted: the NAT's public side, where
    /// the REGISTER came from, is the address that keeps a pinhole open, and Switchboard never
    /// sends to a host only because a message names it (no resolution, no reflection). So the
    /// answer is always the flow's source, in the form the socket reported it.
    pub fn destination(&self) -> SocketAddr {
        self.flow.source
    }

    /// The address the Contact URI names, when it is a sip/sips URI with an IP literal host
    /// (port 5060 when absent).
    pub fn contact_address(&self) -> Option<SocketAddr> {
        let uri = sip::Uri::parse(&self.contact).ok()?;
        let sip = uri.as_sip()?;
        Some(SocketAddr::new(sip.host.ip()?, sip.port.unwrap_or(5060)))
    }

    /// Whether it has not expired at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.expires_at > now
    }
}

/// Registration rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterPolicy {
    /// Shortest expiry accepted (423 with Min-Expires below it; RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longest expiry granted (longer requests are clamped).
    pub max_expires: u32,
    /// Expiry when the request names none.
    pub default_expires: u32,
    /// Bindings allowed per address-of-record.
    pub max_contacts: usize,
    /// What happens when a REGISTER would go past `max_contacts`.
    pub on_contact_limit: ContactLimit,
}

/// What to do past the per-AOR contact limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactLimit {
    /// Drop the least recently refreshed bindings.
    ReplaceOldest,
    /// Refuse the REGISTER with 403.
    Refuse,
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalCause {
    /// Expires 0 (or `Contact: *`).
    Unregistered,
    /// Not refreshed in time.
    Expired,
    /// Pushed out by the contact limit.
    Replaced,
}

/// A change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Added or refreshed.
    Saved(Binding),
    /// Removed.
    Removed {
        /// The binding as it was.
        binding: Binding,
        /// Why.
        cause: RemovalCause,
    },
}

/// The response a REGISTER gets, without the headers every response has (Via, From, To with
/// tag, Call-ID, CSeq, Server), which the caller adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterReply {
    /// Status code.
    pub status: u16,
    /// Reason phrase when it should say more than the standard one.
    pub reason: Option<String>,
    /// Headers to add: Contact (every current binding with its expires), Date, Path,
    /// Supported, Min-Expires, …
    pub headers: Vec<Header>,
}

impl RegisterReply {
    /// A refusal with `status` and a reason phrase saying why.
    fn refusal(status: u16, reason: impl Into<String>) -> RegisterReply {
        RegisterReply {
            status,
            reason: Some(reason.into()),
            headers: Vec::new(),
        }
    }
}

/// The result of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// What to answer.
    pub reply: RegisterReply,
    /// What changed (empty on refusal or query).
    pub changes: Vec<BindingChange>,
}

/// Qualify rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualifyPolicy {
    /// Time between OPTIONS to a binding, in milliseconds.
    pub interval_ms: u64,
    /// Unanswered qualifies in a row before a binding is unreachable.
    pub failures_before_unreachable: u32,
}

/// One OPTIONS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifyTarget {
    /// The binding.
    pub key: BindingKey,
    /// Request-URI (the Contact URI).
    pub contact: Box<str>,
    /// Where to send it.
    pub destination: SocketAddr,
    /// On which flow.
    pub flow: BindingFlow,
}

/// A binding changed reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachabilityChange {
    /// The binding, after the change.
    pub binding: Binding,
    /// What it was before.
    pub previous: Reachability,
}

/// Whether a stored Contact is a sip/sips URI (only those are qualified with OPTIONS).
fn is_sip_contact(contact: &str) -> bool {
    let scheme = contact.split_once(':').map_or("", |(s, _)| s);
    scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
}

/// Slot of a binding in the slab.
type Slot = u32;

/// The flows a binding can be found by: transport and remote address (our local address is
/// not part of it, as keep-alives and closes are reported by remote end).
type FlowId = (FlowTransport, SocketAddr);

/// Address-of-record → bindings.
///
/// Every binding sits in one slot of a slab; the indexes hold slot numbers (4 bytes), not
/// copies of the key strings, to keep a binding's whole footprint small. Each index is kept
/// exact on every change (no lazy tombstones): removals from an ordered set are O(log n).
#[derive(Debug, Default)]
pub struct LocationService {
    /// The bindings; `None` marks a free slot.
    slots: Vec<Option<Binding>>,
    /// Free slots, reused before the slab grows.
    free: Vec<Slot>,
    /// Bindings of each address-of-record.
    by_aor: HashMap<Box<str>, Vec<Slot>>,
    /// Bindings registered over each flow.
    by_flow: HashMap<FlowId, Vec<Slot>>,
    /// Every binding by expiry time.
    expiry: BTreeSet<(UnixTime, Slot)>,
    /// Bindings with a scheduled qualify, by the start of their qualify interval.
    qualify_queue: BTreeSet<(UnixTime, Slot)>,
    /// Number of bindings.
    len: usize,
}

impl LocationService {
    /// An empty location service.
    pub fn new() -> Self {
        LocationService::default()
    }

    /// The live bindings of `aor`, by q-value (highest first) and then most recently refreshed.
    ///
    /// A binding without q ranks as q=1.0 (1000): RFC 3261 leaves an absent q to local policy,
    /// and a phone that says nothing is taken as wanting its calls. Remaining ties go to the
    /// most recently registered, then by Contact text, so the order is deterministic.
    pub fn lookup(&self, aor: &str, now: UnixTime) -> Vec<&Binding> {
        let mut found: Vec<&Binding> = self
            .aor_slots(aor)
            .iter()
            .filter_map(|&s| self.get(s))
            .filter(|b| b.is_live(now))
            .collect();
        found.sort_by(|a, b| {
            let qa = a.q_milli.unwrap_or(1000);
            let qb = b.q_milli.unwrap_or(1000);
            qb.cmp(&qa)
                .then(b.refreshed_at.cmp(&a.refreshed_at))
                .then(b.registered_at.cmp(&a.registered_at))
                .then(a.contact.cmp(&b.contact))
        });
        found
    }

    /// The binding with `key`, live or not yet swept.
    pub fn get_binding(&self, key: &BindingKey) -> Option<&Binding> {
        self.find(&key.aor, &key.contact).and_then(|s| self.get(s))
    }

    /// Puts back a binding loaded from the store; false (and nothing kept) when it has expired.
    ///
    /// A binding with the same key is replaced. The qualify schedule starts afresh (first
    /// qualify one interval from `now`); the stored reachability is kept until a qualify or
    /// keep-alive says otherwise.
    pub fn restore(&mut self, mut binding: Binding, now: UnixTime) -> bool {
        if !binding.is_live(now) {
            return false;
        }
        if let Some(old) = self.find(&binding.aor, &binding.contact) {
            self.remove_slot(old);
        }
        binding.qualify = QualifyState::starting(&binding.contact, now);
        self.insert(binding);
        true
    }

    /// Removes and returns the bindings expired at `now`.
    pub fn expire(&mut self, now: UnixTime) -> Vec<Binding> {
        let due: Vec<Slot> = self
            .expiry
            .range(..=(now, Slot::MAX))
            .map(|&(_, s)| s)
            .collect();
        due.into_iter()
            .filter_map(|s| self.remove_slot(s))
            .collect()
    }

    /// When the next binding expires.
    pub fn next_expiry(&self) -> Option<UnixTime> {
        self.expiry.first().map(|&(t, _)| t)
    }

    /// Every binding.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.slots.iter().flatten()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Slab and index upkeep. Every change to a binding's expiry, qualify interval or flow goes
    // through `insert`, `remove_slot` or `modify`, which keep the indexes exact.

    fn get(&self, slot: Slot) -> Option<&Binding> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn aor_slots(&self, aor: &str) -> &[Slot] {
        self.by_aor.get(aor).map_or(&[], Vec::as_slice)
    }

    fn find(&self, aor: &str, contact: &str) -> Option<Slot> {
        self.aor_slots(aor)
            .iter()
            .copied()
            .find(|&s| self.get(s).is_some_and(|b| &*b.contact == contact))
    }

    fn insert(&mut self, binding: Binding) -> Slot {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                // A slab past u32::MAX slots would need 4 billion bindings: not a real risk,
                // and a saturated slot number would only alias the last slot.
                let s = Slot::try_from(self.slots.len()).unwrap_or(Slot::MAX);
                self.slots.push(None);
                s
            }
        };
        self.by_aor
            .entry(binding.aor.clone())
            .or_default()
            .push(slot);
        self.by_flow
            .entry(flow_id(&binding.flow))
            .or_default()
            .push(slot);
        self.expiry.insert((binding.expires_at, slot));
        if let Some(from) = binding.qualify.interval_from {
            self.qualify_queue.insert((from, slot));
        }
        self.slots[slot as usize] = Some(binding);
        self.len += 1;
        slot
    }

    fn remove_slot(&mut self, slot: Slot) -> Option<Binding> {
        let binding = self.slots.get_mut(slot as usize)?.take()?;
        if let Some(list) = self.by_aor.get_mut(&*binding.aor) {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                self.by_aor.remove(&*binding.aor);
            }
        }
        unindex_flow(&mut self.by_flow, flow_id(&binding.flow), slot);
        self.expiry.remove(&(binding.expires_at, slot));
        if let Some(from) = binding.qualify.interval_from {
            self.qualify_queue.remove(&(from, slot));
        }
        self.free.push(slot);
        self.len -= 1;
        Some(binding)
    }

    /// Changes the binding in `slot` and re-indexes what moved (expiry, qualify interval,
    /// flow). The address-of-record and Contact must not change: they are the key.
    fn modify<R>(&mut self, slot: Slot, change: impl FnOnce(&mut Binding) -> R) -> Option<R> {
        let binding = self.slots.get_mut(slot as usize)?.as_mut()?;
        let before = (
            binding.expires_at,
            binding.qualify.interval_from,
            flow_id(&binding.flow),
        );
        let result = change(binding);
        let after = (
            binding.expires_at,
            binding.qualify.interval_from,
            flow_id(&binding.flow),
        );
        if before.0 != after.0 {
            self.expiry.remove(&(before.0, slot));
            self.expiry.insert((after.0, slot));
        }
        if before.1 != after.1 {
            if let Some(from) = before.1 {
                self.qualify_queue.remove(&(from, slot));
            }
            if let Some(from) = after.1 {
                self.qualify_queue.insert((from, slot));
            }
        }
        if before.2 != after.2 {
            unindex_flow(&mut self.by_flow, before.2, slot);
            self.by_flow.entry(after.2).or_default().push(slot);
        }
        Some(result)
    }
}

fn flow_id(flow: &BindingFlow) -> FlowId {
    (flow.transport, flow.source)
}

fn unindex_flow(by_flow: &mut HashMap<FlowId, Vec<Slot>>, id: FlowId, slot: Slot) {
    if let Some(list) = by_flow.get_mut(&id) {
        list.retain(|&s| s != slot);
        if list.is_empty() {
            by_flow.remove(&id);
        }
    }
}
