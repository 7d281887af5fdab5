//! Transaction throughput through the sans-IO layer (`sip::transaction`).
//!
//! Each iteration runs one whole transaction, from the first byte received to `Terminated`,
//! the way a transaction layer drives the machines: parse, derive the key, look it up in the
//! table of live transactions (a `HashMap`, pre-filled with [`BACKGROUND`] other live
//! transactions, as a busy server holds while timer J or L runs), create the transaction on a
//! miss, drain its actions after every input (serializing every `Send`), answer as the core
//! would, fire the lingering timer on virtual time and remove the entry on `Terminated`.
//! Everything runs over "UDP" (unreliable), so the lingering timers are not zero.
//!
//! - `server_options_200`: a non-INVITE server transaction (RFC 3261 figure 8). OPTIONS
//!   bytes in, 200 OK (with Allow, Accept, Supported, Server, as the UA core answers) out,
//!   timer J (64*T1) fires.
//! - `server_invite_100_180_200_ack`: an INVITE server transaction (figure 7, RFC 6026). An
//!   INVITE with an SDP offer arrives; the core is slow (like the echo extension ringing),
//!   so the 200 ms timer sends 100 Trying; the core then sends 180 Ringing and a 200 OK with
//!   an SDP answer (Accepted); the ACK arrives as bytes, is parsed and keyed and, having its
//!   own branch as RFC 3261 §17.1.1.3 wants for an ACK to a 2xx, matches no transaction and
//!   goes to the core (dialog layer); timer L (64*T1) fires.
//! - `client_options_200`: a non-INVITE client transaction (figure 6). The core builds an
//!   OPTIONS with `RequestBuilder`, the transaction sends it (serialized), the 200 OK comes
//!   back as bytes, is parsed, keyed with `TransactionKey::from_response`, matched and
//!   delivered; timer K (T4) fires.
//!
//! Messages cycle through [`POOL`] distinct branches and Call-IDs. Throughput is
//! `Throughput::Elements(1)`: criterion's `elem/s` is transactions per second on one core.
//! Before any timing every scenario is run once and checked (every message sent, the
//! expected states, `Terminated`, the table back to its background size); after timing the
//! table size is checked again, which shows every timed iteration reached `Terminated`.
//!
//! Run: `cargo bench -p sip --bench transactions -- --noplot`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use criterion::{Criterion, Throughput};
use sip::transaction::{
    InviteServerTransaction, NonInviteClientTransaction, NonInviteServerTransaction, Transaction,
    TransactionAction, TransactionConfig, TransactionKey, TransactionState,
};
use sip::{
    Header, Host, MediaType, Method, NameAddr, Request, RequestBuilder, Response, SipMessage,
    SipUri, Transport, Uri, Via, parse_message,
};

/// Distinct branches and Call-IDs the messages cycle through.
const POOL: usize = 1024;
/// Other live transactions in the table while the benchmark runs: roughly what 300
/// transactions per second leave behind with timer J at 32 s.
const BACKGROUND: usize = 10_000;
/// Unreliable transport: timers E, G, J, K run.
const UDP: bool = false;

const SDP_OFFER: &str = "v=0\r
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r
s=-\r
c=IN IP4 192.0.2.10\r
t=0 0\r
m=audio 49170 RTP/AVP 0 8 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=sendrecv\r
";

const SDP_ANSWER: &str = "v=0\r
o=switchboard 1718912 1718912 IN IP4 198.51.100.20\r
s=Switchboard\r
c=IN IP4 198.51.100.20\r
t=0 0\r
m=audio 30000 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=sendrecv\r
";

/// An OPTIONS as sipp sends it (see `tests/sipp/options_uac.xml`).
fn options_bytes(i: usize) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:198.51.100.20:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-opt-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"sipp\" <sip:sipp@192.0.2.10:5061>;tag={i}SIPpTag01\r\n\
         To: <sip:198.51.100.20:5060>\r\n\
         Call-ID: {i}-opt@192.0.2.10\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:sipp@192.0.2.10:5061;transport=udp>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: SIPp bench\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

/// An INVITE to `echo` with an SDP offer, and the ACK for the 2xx (its own branch, the To
/// tag the core answered with).
fn invite_and_ack_bytes(i: usize) -> (Bytes, Bytes) {
    let invite = format!(
        "INVITE sip:echo@198.51.100.20:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-inv-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@192.0.2.10:5061>;tag={i}SIPpTag01\r\n\
         To: <sip:echo@198.51.100.20:5060>\r\n\
         Call-ID: {i}-inv@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5061;transport=udp>\r\n\
         User-Agent: SIPp bench\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{SDP_OFFER}",
        len = SDP_OFFER.len()
    );
    let ack = format!(
        "ACK sip:echo@198.51.100.20:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-ack-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@192.0.2.10:5061>;tag={i}SIPpTag01\r\n\
         To: <sip:echo@198.51.100.20:5060>;tag={TO_TAG}\r\n\
         Call-ID: {i}-inv@192.0.2.10\r\n\
         CSeq: 1 ACK\r\n\
         Contact: <sip:alice@192.0.2.10:5061;transport=udp>\r\n\
         User-Agent: SIPp bench\r\n\
         Content-Length: 0\r\n\r\n"
    );
    (Bytes::from(invite), Bytes::from(ack))
}

/// The To tag the "core" answers with.
const TO_TAG: &str = "sb7f3a91c2";

fn sip_uri(user: Option<&str>, host: [u8; 4], port: u16) -> Uri {
    Uri::Sip(SipUri::new(user, Host::Ipv4(host.into()), Some(port)))
}

fn tagged(uri: Uri, tag: &str) -> NameAddr {
    let mut a = NameAddr::new(uri);
    a.params.set("tag", Some(tag));
    a
}

fn sdp() -> MediaType {
    MediaType::new("application", "sdp")
}

/// What the drained actions of one input amounted to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Drained {
    /// `Send` actions (each serialized).
    sent: u32,
    /// Bytes serialized for the transport.
    sent_bytes: usize,
    /// `Deliver` actions handed to the core.
    delivered: u32,
    /// `StateChanged` actions (the event log's input).
    state_changes: u32,
    /// `Timeout` or `TransportError`: never expected here.
    failures: u32,
    /// `Terminated` was seen.
    terminated: bool,
}

impl Drained {
    fn add(&mut self, other: Drained) {
        self.sent += other.sent;
        self.sent_bytes += other.sent_bytes;
        self.delivered += other.delivered;
        self.state_changes += other.state_changes;
        self.failures += other.failures;
        self.terminated |= other.terminated;
    }
}

/// Carries out every queued action as a transaction layer would: `Send` is serialized for
/// the transport, `Deliver` goes to the core (which consumes the message), `StateChanged`
/// would be an event.
fn drain(tx: &mut impl Transaction) -> Drained {
    let mut d = Drained::default();
    while let Some(action) = tx.poll_action() {
        match action {
            TransactionAction::Send(m) => {
                let bytes = m.to_bytes();
                d.sent += 1;
                d.sent_bytes += bytes.len();
                black_box(bytes);
            }
            TransactionAction::Deliver(m) => {
                d.delivered += 1;
                black_box(m);
            }
            TransactionAction::StateChanged { from, to } => {
                d.state_changes += 1;
                black_box((from, to));
            }
            TransactionAction::Timeout | TransactionAction::TransportError => d.failures += 1,
            TransactionAction::Terminated => d.terminated = true,
        }
    }
    d
}

/// Fires the transaction's next timer at its deadline (virtual time) and drains.
fn fire_next(tx: &mut impl Transaction) -> Drained {
    let at = tx.next_deadline().expect("a timer is running");
    tx.on_timeout(at);
    drain(tx)
}

fn parse_request(bytes: &Bytes) -> Request {
    match parse_message(bytes.clone()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn parse_response(bytes: &Bytes) -> Response {
    match parse_message(bytes.clone()) {
        Ok(SipMessage::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// (a) non-INVITE server: OPTIONS → 200 → timer J

struct OptionsServer {
    config: TransactionConfig,
    t0: Instant,
    requests: Vec<Bytes>,
    table: HashMap<TransactionKey, NonInviteServerTransaction>,
    server: ByteString,
}

impl OptionsServer {
    fn new() -> OptionsServer {
        let config = TransactionConfig::default();
        let t0 = Instant::now();
        let mut table = HashMap::with_capacity(BACKGROUND + 1);
        for i in 0..BACKGROUND {
            // Live transactions in Completed, waiting for timer J.
            let req = parse_request(&options_bytes(POOL + i));
            let mut tx = NonInviteServerTransaction::new(req.clone(), config, UDP, t0)
                .expect("background transaction");
            tx.send_response(Response::from_request(&req, 200, Some(TO_TAG)), t0)
                .expect("background 200");
            drain(&mut tx);
            table.insert(tx.key().clone(), tx);
        }
        OptionsServer {
            config,
            t0,
            requests: (0..POOL).map(options_bytes).collect(),
            table,
            server: ByteString::from_static("Switchboard/0.1"),
        }
    }

    /// The UA core's answer to OPTIONS.
    fn core_answer(server: &ByteString, req: &Request) -> Response {
        Response::from_request(req, 200, Some(TO_TAG))
            .with_header(Header::Allow(vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
            ]))
            .with_header(Header::Accept(vec![sdp()]))
            .with_header(Header::Supported(Vec::new()))
            .with_header(Header::Server(server.clone()))
    }

    /// One OPTIONS transaction, first byte to `Terminated`.
    fn run(&mut self, i: usize) -> Drained {
        let now = self.t0;
        let req = parse_request(&self.requests[i % POOL]);
        let key = TransactionKey::from_request(&req).expect("server key");
        let mut total = Drained::default();
        let tx = match self.table.entry(key.clone()) {
            // A retransmission: absorbed or answered again (never happens here).
            Entry::Occupied(e) => {
                let tx = e.into_mut();
                tx.on_request(req, now);
                total.add(drain(tx));
                return total;
            }
            Entry::Vacant(v) => v.insert(
                NonInviteServerTransaction::new(req, self.config, UDP, now)
                    .expect("server transaction"),
            ),
        };
        // Deliver(OPTIONS) to the core.
        total.add(drain(tx));
        let answer = Self::core_answer(&self.server, tx.request());
        tx.send_response(answer, now).expect("200 allowed");
        // Send(200), Trying → Completed; timer J runs.
        total.add(drain(tx));
        // Timer J: Completed → Terminated.
        total.add(fire_next(tx));
        if total.terminated {
            self.table.remove(&key);
        }
        total
    }
}

// ---------------------------------------------------------------------------------------
// (b) INVITE server: INVITE → 100 (timer) → 180 → 200 (Accepted) → ACK (to the core) → timer L

struct InviteServer {
    config: TransactionConfig,
    t0: Instant,
    messages: Vec<(Bytes, Bytes)>,
    table: HashMap<TransactionKey, InviteServerTransaction>,
    contact: Header,
    answer: Bytes,
    acks_to_core: u64,
}

impl InviteServer {
    fn new() -> InviteServer {
        let config = TransactionConfig::default();
        let t0 = Instant::now();
        let mut table = HashMap::with_capacity(BACKGROUND + 1);
        for i in 0..BACKGROUND {
            // Live transactions in Accepted, waiting for timer L.
            let (invite, _) = invite_and_ack_bytes(POOL + i);
            let req = parse_request(&invite);
            let mut tx = InviteServerTransaction::new(req.clone(), config, UDP, t0)
                .expect("background transaction");
            tx.send_response(Response::from_request(&req, 200, Some(TO_TAG)), t0)
                .expect("background 200");
            drain(&mut tx);
            table.insert(tx.key().clone(), tx);
        }
        InviteServer {
            config,
            t0,
            messages: (0..POOL).map(invite_and_ack_bytes).collect(),
            table,
            contact: Header::Contact(sip::Contact::Addresses(vec![NameAddr::new(sip_uri(
                Some("echo"),
                [198, 51, 100, 20],
                5060,
            ))])),
            answer: Bytes::from_static(SDP_ANSWER.as_bytes()),
            acks_to_core: 0,
        }
    }

    /// One INVITE transaction, first byte to `Terminated`.
    fn run(&mut self, i: usize) -> Drained {
        let t0 = self.t0;
        let (invite, ack) = &self.messages[i % POOL];
        let req = parse_request(invite);
        let key = TransactionKey::from_request(&req).expect("server key");
        let mut total = Drained::default();
        let tx = match self.table.entry(key.clone()) {
            Entry::Occupied(e) => {
                let tx = e.into_mut();
                tx.on_request(req, t0);
                total.add(drain(tx));
                return total;
            }
            Entry::Vacant(v) => v.insert(
                InviteServerTransaction::new(req, self.config, UDP, t0)
                    .expect("server transaction"),
            ),
        };
        // Deliver(INVITE) to the core.
        total.add(drain(tx));
        // The core has not answered within 200 ms: the Trying timer sends 100 Trying.
        total.add(fire_next(tx));
        let now = t0 + Duration::from_millis(200);
        let ringing = Response::from_request(tx.request(), 180, Some(TO_TAG))
            .with_header(self.contact.clone());
        tx.send_response(ringing, now).expect("180 allowed");
        total.add(drain(tx));
        let ok = Response::from_request(tx.request(), 200, Some(TO_TAG))
            .with_header(self.contact.clone())
            .with_body(sdp(), self.answer.clone());
        tx.send_response(ok, now).expect("200 allowed");
        // Send(200), Proceeding → Accepted; timer L runs.
        total.add(drain(tx));
        // The ACK for the 2xx has its own branch: it matches no transaction and goes to the
        // core (the dialog layer).
        let ack = parse_request(ack);
        let ack_key = TransactionKey::from_request(&ack).expect("ACK key");
        match self.table.get_mut(&ack_key) {
            Some(tx) => {
                tx.on_request(ack, now);
                total.add(drain(tx));
            }
            None => {
                self.acks_to_core += 1;
                black_box(ack);
            }
        }
        // Timer L: Accepted → Terminated.
        let tx = self.table.get_mut(&key).expect("still live");
        total.add(fire_next(tx));
        if total.terminated {
            self.table.remove(&key);
        }
        total
    }
}

// ---------------------------------------------------------------------------------------
// (c) non-INVITE client: OPTIONS out → 200 in → timer K

struct OptionsClient {
    config: TransactionConfig,
    t0: Instant,
    branches: Vec<String>,
    call_ids: Vec<String>,
    responses: Vec<Bytes>,
    table: HashMap<TransactionKey, NonInviteClientTransaction>,
}

impl OptionsClient {
    fn new() -> OptionsClient {
        let config = TransactionConfig::default();
        let t0 = Instant::now();
        let branches: Vec<String> = (0..POOL + BACKGROUND)
            .map(|i| format!("z9hG4bK-sb-{i:08x}"))
            .collect();
        let call_ids: Vec<String> = (0..POOL + BACKGROUND)
            .map(|i| format!("sb-{i:08x}@198.51.100.20"))
            .collect();
        let mut table = HashMap::with_capacity(BACKGROUND + 1);
        for i in POOL..POOL + BACKGROUND {
            // Live transactions in Trying, waiting for their response.
            let req = Self::build(&branches[i], &call_ids[i]);
            let mut tx = NonInviteClientTransaction::new(req, config, UDP, t0)
                .expect("background transaction");
            drain(&mut tx);
            table.insert(tx.key().clone(), tx);
        }
        // The 200 OK the peer sends back for each pooled request, as bytes.
        let responses = (0..POOL)
            .map(|i| {
                let req = Self::build(&branches[i], &call_ids[i]);
                let mut ok = Response::from_request(&req, 200, Some("peer-tag-1"));
                if let Some(via) = ok.headers.top_via_mut() {
                    via.params.set("received", Some("198.51.100.20"));
                }
                ok.to_bytes()
            })
            .collect();
        OptionsClient {
            config,
            t0,
            branches,
            call_ids,
            responses,
            table,
        }
    }

    /// The OPTIONS the core sends (a keep-alive to a trunk or phone).
    fn build(branch: &str, call_id: &str) -> Request {
        let me = sip_uri(Some("switchboard"), [198, 51, 100, 20], 5060);
        RequestBuilder::new(Method::Options, sip_uri(None, [192, 0, 2, 10], 5061))
            .via(Via::new(
                Transport::Udp,
                Host::Ipv4([198, 51, 100, 20].into()),
                Some(5060),
                branch,
            ))
            .from(tagged(me.clone(), "sb-local-1"))
            .to(NameAddr::new(sip_uri(None, [192, 0, 2, 10], 5061)))
            .call_id(call_id)
            .cseq(1)
            .contact(NameAddr::new(me))
            .header(Header::Accept(vec![sdp()]))
            .build()
    }

    /// One OPTIONS client transaction, request built to `Terminated`.
    fn run(&mut self, i: usize) -> Drained {
        let now = self.t0;
        let k = i % POOL;
        let req = Self::build(&self.branches[k], &self.call_ids[k]);
        let tx = NonInviteClientTransaction::new(req, self.config, UDP, now)
            .expect("client transaction");
        let key = tx.key().clone();
        let mut total = Drained::default();
        let tx = match self.table.entry(key) {
            Entry::Vacant(v) => v.insert(tx),
            Entry::Occupied(_) => panic!("branch reused while live"),
        };
        // Send(OPTIONS).
        total.add(drain(tx));
        // The 200 OK arrives.
        let ok = parse_response(&self.responses[k]);
        let key = TransactionKey::from_response(&ok).expect("response key");
        let Some(tx) = self.table.get_mut(&key) else {
            // A stray response: dropped.
            return total;
        };
        tx.on_response(ok, now);
        // Deliver(200), Trying → Completed; timer K runs.
        total.add(drain(tx));
        // Timer K: Completed → Terminated.
        total.add(fire_next(tx));
        if total.terminated {
            self.table.remove(&key);
        }
        total
    }
}

// ---------------------------------------------------------------------------------------

/// Runs each scenario once and checks it did what the benchmark claims.
fn check_scenarios() {
    let mut s = OptionsServer::new();
    let d = s.run(0);
    let expected = Drained {
        sent: 1,
        sent_bytes: d.sent_bytes,
        delivered: 1,
        state_changes: 2, // Trying → Completed → Terminated
        failures: 0,
        terminated: true,
    };
    assert_eq!(d, expected, "server OPTIONS transaction");
    assert_eq!(s.table.len(), BACKGROUND, "server OPTIONS entry removed");
    // The 200 sent parses back and answers the OPTIONS.
    let req = parse_request(&s.requests[0]);
    let mut tx = NonInviteServerTransaction::new(req.clone(), s.config, UDP, s.t0)
        .expect("server transaction");
    drain(&mut tx);
    tx.send_response(OptionsServer::core_answer(&s.server, &req), s.t0)
        .expect("200 allowed");
    match tx.poll_action() {
        Some(TransactionAction::Send(SipMessage::Response(r))) => {
            let back = parse_response(&r.to_bytes());
            assert_eq!(back.status, 200);
            assert_eq!(
                back.headers.cseq().map(|c| &c.method),
                Some(&Method::Options)
            );
            assert_eq!(back.headers.to().and_then(|t| t.tag()), Some(TO_TAG));
        }
        other => panic!("expected Send(200), got {other:?}"),
    }
    assert_eq!(
        tx.next_deadline(),
        Some(s.t0 + s.config.timer_j(UDP)),
        "timer J"
    );

    let mut s = InviteServer::new();
    let d = s.run(0);
    let expected = Drained {
        sent: 3, // 100, 180, 200
        sent_bytes: d.sent_bytes,
        delivered: 1,     // the INVITE
        state_changes: 2, // Proceeding → Accepted → Terminated
        failures: 0,
        terminated: true,
    };
    assert_eq!(d, expected, "server INVITE transaction");
    assert_eq!(s.acks_to_core, 1, "the ACK for the 2xx went to the core");
    assert_eq!(s.table.len(), BACKGROUND, "server INVITE entry removed");
    // Timer L, not a retransmission timer, ends Accepted.
    let (invite, _) = &s.messages[1];
    let mut tx = InviteServerTransaction::new(parse_request(invite), s.config, UDP, s.t0)
        .expect("server transaction");
    tx.on_timeout(s.t0 + s.config.trying_delay);
    let ok = Response::from_request(tx.request(), 200, Some(TO_TAG));
    tx.send_response(ok, s.t0).expect("200 allowed");
    assert_eq!(tx.state(), TransactionState::Accepted);
    assert_eq!(
        tx.next_deadline(),
        Some(s.t0 + s.config.timeout()),
        "timer L"
    );

    let mut s = OptionsClient::new();
    let d = s.run(0);
    let expected = Drained {
        sent: 1,
        sent_bytes: d.sent_bytes,
        delivered: 1,     // the 200
        state_changes: 2, // Trying → Completed → Terminated
        failures: 0,
        terminated: true,
    };
    assert_eq!(d, expected, "client OPTIONS transaction");
    assert_eq!(s.table.len(), BACKGROUND, "client OPTIONS entry removed");
    let sent = OptionsClient::build(&s.branches[0], &s.call_ids[0]).to_bytes();
    assert!(matches!(parse_message(sent), Ok(SipMessage::Request(_))));
}

fn transactions(c: &mut Criterion) {
    check_scenarios();
    eprintln!(
        "sip_transactions: one element = one transaction from its first byte to Terminated, \
         over UDP timers on virtual time, with {BACKGROUND} other live transactions in the table"
    );

    let mut group = c.benchmark_group("sip_transactions");
    group.throughput(Throughput::Elements(1));

    let mut server = OptionsServer::new();
    let mut i = 0usize;
    group.bench_function("server_options_200", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(server.run(black_box(i)))
        })
    });
    assert_eq!(
        server.table.len(),
        BACKGROUND,
        "every OPTIONS server transaction terminated"
    );

    let mut invite = InviteServer::new();
    let mut i = 0usize;
    group.bench_function("server_invite_100_180_200_ack", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(invite.run(black_box(i)))
        })
    });
    assert_eq!(
        invite.table.len(),
        BACKGROUND,
        "every INVITE server transaction terminated"
    );

    let mut client = OptionsClient::new();
    let mut i = 0usize;
    group.bench_function("client_options_200", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(client.run(black_box(i)))
        })
    });
    assert_eq!(
        client.table.len(),
        BACKGROUND,
        "every OPTIONS client transaction terminated"
    );

    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    transactions(&mut c);
    c.final_summary();
}
