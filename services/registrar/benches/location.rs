//! Location service costs over [`BINDINGS`] bindings on one core (`registrar::location`).
//!
//! The location service is filled with [`BINDINGS`] addresses-of-record, one UDP binding each
//! (a distinct Contact and source address per phone, a Path-less REGISTER with a User-Agent),
//! as a registrar with 100,000 phones holds.
//!
//! - `register_refresh`: a phone refreshes its binding (same Call-ID, next CSeq, same
//!   Contact): the §10.3 checks, the re-indexing of its expiry and qualify time, and the 200's
//!   headers (Contact with expires, Date, Supported). The phones take turns, so the whole
//!   table is touched. The request is prepared outside the timing (`iter_batched`): parsing
//!   is the sip crate's benchmark.
//! - `lookup`: the live bindings of one address-of-record, ordered, as a call to it needs.
//!
//! Before timing, the fill is checked (every REGISTER answered 200, [`BINDINGS`] bindings)
//! and one refresh is run and checked. The resident memory the fill added is printed per
//! binding (from `/proc/self/status`, Linux only): the target is under 2 KiB per binding
//! for the whole server.
//!
//! Run: `cargo bench -p registrar --bench location -- --noplot`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{BatchSize, Criterion, Throughput};
use registrar::UnixTime;
use registrar::location::{
    Binding, BindingFlow, ContactLimit, FlowTransport, LocationService, RegisterPolicy,
};
use sip::{Contact, Header, Host, NameAddr, Request, SipMessage, SipUri, Uri};

/// Bindings in the location service while the benchmark runs.
const BINDINGS: usize = 100_000;
const START: UnixTime = UnixTime(1_700_000_000_000);
const CALL_ID: &str = "a84b4c76e66710@bench.example.com";

fn policy() -> RegisterPolicy {
    RegisterPolicy {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 3600,
        max_contacts: 5,
        on_contact_limit: ContactLimit::Refuse,
    }
}

fn aor(k: usize) -> String {
    format!("{:07}", 1_000_000 + k)
}

/// Phone `k`'s public address, as its REGISTER arrives from behind NAT.
fn source(k: usize) -> SocketAddr {
    let k = u32::try_from(k).unwrap_or(u32::MAX);
    let ip = Ipv4Addr::from(0xC612_0000 | (k >> 8)); // 198.18.0.0/15
    SocketAddr::new(IpAddr::V4(ip), 20_000 + (k & 0xff) as u16)
}

fn flow(k: usize) -> BindingFlow {
    BindingFlow {
        transport: FlowTransport::Udp,
        local: SocketAddr::from(([192, 0, 2, 1], 5060)),
        source: source(k),
    }
}

/// Phone `k`'s Contact: its private address.
fn contact(k: usize) -> Uri {
    let k = u32::try_from(k).unwrap_or(u32::MAX);
    let ip = Ipv4Addr::from(0x0A00_0000 | k); // 10.0.0.0/8
    let mut uri = SipUri::new(Some(&aor(k as usize)), Host::Ipv4(ip), Some(5060));
    uri.params.set("transport", Some("udp"));
    Uri::Sip(uri)
}

/// A REGISTER template; `for_phone` sets its Contact and CSeq.
fn template() -> Request {
    let text = "REGISTER sip:bench.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnashds7;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1000000@bench.example.com>;tag=ja743ks76zlflH\r\n\
         To: <sip:1000000@bench.example.com>\r\n\
         Call-ID: a84b4c76e66710@bench.example.com\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:1000000@10.0.0.0:5060;transport=udp>;expires=3600\r\n\
         User-Agent: Yealink SIP-T46U 108.86.0.20\r\n\
         Content-Length: 0\r\n\r\n";
    match sip::parse_message(text.as_bytes().to_vec().into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("the benchmark REGISTER does not parse: {other:?}"),
    }
}

fn for_phone(template: &Request, k: usize, cseq: u32) -> Request {
    let mut request = template.clone();
    for h in request.headers.iter_mut() {
        match h {
            Header::CSeq(c) => c.seq = cseq,
            Header::Contact(c) => {
                let mut address = NameAddr::new(contact(k));
                address.params.set("expires", Some("3600"));
                *c = Contact::Addresses(vec![address]);
            }
            _ => {}
        }
    }
    request
}

/// Resident memory of this process in bytes (Linux), to show what the bindings cost.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn filled(template: &Request) -> LocationService {
    let mut loc = LocationService::new();
    for k in 0..BINDINGS {
        let out = loc.register(
            &aor(k),
            &for_phone(template, k, 1),
            flow(k),
            &policy(),
            START,
        );
        assert_eq!(out.reply.status, 200, "fill REGISTER {k}");
    }
    assert_eq!(loc.len(), BINDINGS);
    loc
}

fn benches(c: &mut Criterion) {
    let template = template();
    let before = resident_bytes();
    let mut loc = filled(&template);
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        println!(
            "location: {BINDINGS} bindings added {} bytes resident, {} bytes per binding \
             (size_of::<Binding>() = {})",
            after.saturating_sub(before),
            after.saturating_sub(before) / BINDINGS as u64,
            std::mem::size_of::<Binding>()
        );
    }

    // Checked once before timing: a refresh keeps the count and answers 200 with the Contact.
    let now = START.plus_secs(60);
    let out = loc.register(
        &aor(7),
        &for_phone(&template, 7, 2),
        flow(7),
        &policy(),
        now,
    );
    assert_eq!(out.reply.status, 200);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(loc.len(), BINDINGS);
    assert_eq!(loc.lookup(&aor(7), now).len(), 1);

    let names: Vec<String> = (0..BINDINGS).map(aor).collect();
    let mut group = c.benchmark_group("location");
    group.throughput(Throughput::Elements(1));

    let mut turn = 0usize;
    let mut cseq = 3u32;
    group.bench_function("register_refresh", |b| {
        b.iter_batched(
            || {
                turn = (turn + 1) % BINDINGS;
                cseq += 1;
                (turn, for_phone(&template, turn, cseq))
            },
            |(k, request)| {
                let out = loc.register(&names[k], &request, flow(k), &policy(), now);
                black_box(out)
            },
            BatchSize::SmallInput,
        );
    });
    assert_eq!(loc.len(), BINDINGS, "every timed REGISTER was a refresh");
    assert!(
        loc.bindings().all(|b| &*b.call_id == CALL_ID),
        "the same phones"
    );

    let mut turn = 0usize;
    group.bench_function("lookup", |b| {
        b.iter(|| {
            turn = (turn + 7919) % BINDINGS;
            black_box(loc.lookup(&names[turn], now).len())
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
