//! The location service (RFC 3261 §10.3): address-of-record → bindings, REGISTER processing,
//! expiry, and reachability (qualify with OPTIONS, TCP keep-alives and closes).
//!
//! CONTRACT SKELETON: bodies to be written; signatures are what the switchboard shell uses.

use std::net::SocketAddr;

use sip::{Header, Request};

use crate::UnixTime;

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
    next_at: Option<UnixTime>,
    in_flight: bool,
    failures: u32,
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
    pub fn destination(&self) -> SocketAddr {
        todo!()
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

/// The address-of-record of a REGISTER: the To URI's user part, unescaped. A To URI that is
/// not sip/sips gets 400 (RFC 4475 unksm2); one without a user part gets 404.
pub fn address_of_record(request: &Request) -> Result<String, RegisterReply> {
    let _ = request;
    todo!()
}

/// Address-of-record → bindings.
#[derive(Debug, Default)]
pub struct LocationService {}

impl LocationService {
    /// An empty location service.
    pub fn new() -> Self {
        LocationService::default()
    }

    /// Processes an (authenticated) REGISTER for `aor` that arrived on `flow` (RFC 3261 §10.3
    /// steps 6 to 8).
    pub fn register(
        &mut self,
        aor: &str,
        request: &Request,
        flow: BindingFlow,
        policy: &RegisterPolicy,
        now: UnixTime,
    ) -> RegisterOutcome {
        let _ = (aor, request, flow, policy, now);
        todo!()
    }

    /// The live bindings of `aor`, by q-value (highest first) and then most recently refreshed.
    pub fn lookup(&self, aor: &str, now: UnixTime) -> Vec<&Binding> {
        let _ = (aor, now);
        todo!()
    }

    /// Puts back a binding loaded from the store; false (and nothing kept) when it has expired.
    pub fn restore(&mut self, binding: Binding, now: UnixTime) -> bool {
        let _ = (binding, now);
        todo!()
    }

    /// Removes and returns the bindings expired at `now`.
    pub fn expire(&mut self, now: UnixTime) -> Vec<Binding> {
        let _ = now;
        todo!()
    }

    /// When the next binding expires.
    pub fn next_expiry(&self) -> Option<UnixTime> {
        todo!()
    }

    /// The bindings due for a qualify at `now` (each marked in flight until its result).
    pub fn qualify_due(&mut self, policy: &QualifyPolicy, now: UnixTime) -> Vec<QualifyTarget> {
        let _ = (policy, now);
        todo!()
    }

    /// The result of a qualify: answered (any response) or not (timeout, transport error).
    pub fn qualify_result(
        &mut self,
        key: &BindingKey,
        answered: bool,
        policy: &QualifyPolicy,
        now: UnixTime,
    ) -> Option<ReachabilityChange> {
        let _ = (key, answered, policy, now);
        todo!()
    }

    /// Something arrived on a flow (a request, a CRLF keep-alive): its bindings were seen.
    pub fn flow_alive(
        &mut self,
        transport: FlowTransport,
        source: SocketAddr,
        now: UnixTime,
    ) -> Vec<ReachabilityChange> {
        let _ = (transport, source, now);
        todo!()
    }

    /// A connection-oriented flow closed: its bindings cannot be reached until they register
    /// again.
    pub fn flow_closed(
        &mut self,
        transport: FlowTransport,
        source: SocketAddr,
        now: UnixTime,
    ) -> Vec<ReachabilityChange> {
        let _ = (transport, source, now);
        todo!()
    }

    /// Every binding.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        std::iter::empty()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
