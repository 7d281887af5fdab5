//! Parser throughput: Switchboard's `sip` crate against `rsip` on the same call-flow mix.
//!
//! One iteration parses six messages (INVITE with SDP, REGISTER with Digest credentials,
//! 180 Ringing, 200 OK with SDP, ACK, BYE) and reads the headers Switchboard acts on: top Via
//! branch, From and To tags, Call-ID, CSeq number and method, Max-Forwards, Contact URI,
//! Content-Length, and the Authorization nonce and response. `rsip` keeps header values as
//! strings until asked, so it is made to type each of those headers with its own typed
//! accessors; neither side gets away with a lazy parse.
//!
//! Run with `bench/parser.sh` (repository root) for a messages-per-second summary.

use std::convert::TryFrom;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use rsip::headers::ToTypedHeader;
use rsip::headers::UntypedHeader;
use rsip::message::HeadersExt;

const SDP_OFFER: &str = "v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0 8 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
";

const SDP_ANSWER: &str = "v=0
o=switchboard 1718912 1718912 IN IP4 198.51.100.20
s=Switchboard
c=IN IP4 198.51.100.20
t=0 0
m=audio 30000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
";

const INVITE: &str = "INVITE sip:+15551234567@switchboard.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
From: \"Alice Agent\" <sip:alice@example.com>;tag=1928301774
To: \"Support Queue\" <sip:+15551234567@switchboard.example.com>
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5060;transport=udp>
User-Agent: Yealink SIP-T46S 66.85.0.5
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE, PRACK
Supported: replaces, timer, 100rel
Content-Type: application/sdp
Content-Length: {len}

";

const REGISTER: &str = "REGISTER sip:switchboard.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport
Max-Forwards: 70
From: \"Alice Agent\" <sip:alice@switchboard.example.com>;tag=ja743ks76zlflH
To: \"Alice Agent\" <sip:alice@switchboard.example.com>
Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10
CSeq: 2 REGISTER
Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600
Authorization: Digest username=\"alice\", realm=\"switchboard.example.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:switchboard.example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001
User-Agent: Yealink SIP-T46S 66.85.0.5
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE, PRACK
Supported: path, gruu, outbound
Expires: 3600
Content-Length: {len}

";

const RINGING: &str = "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10
Record-Route: <sip:switchboard.example.com;lr>
From: \"Alice Agent\" <sip:alice@example.com>;tag=1928301774
To: \"Support Queue\" <sip:+15551234567@switchboard.example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:+15551234567@198.51.100.20:5060>
User-Agent: Switchboard/0.1
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE
Supported: replaces, timer
Content-Length: {len}

";

const OK_INVITE: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10
Record-Route: <sip:switchboard.example.com;lr>
From: \"Alice Agent\" <sip:alice@example.com>;tag=1928301774
To: \"Support Queue\" <sip:+15551234567@switchboard.example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:+15551234567@198.51.100.20:5060>
User-Agent: Switchboard/0.1
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE
Supported: replaces, timer
Content-Type: application/sdp
Content-Length: {len}

";

const ACK: &str = "ACK sip:+15551234567@198.51.100.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport
Route: <sip:switchboard.example.com;lr>
Max-Forwards: 70
From: \"Alice Agent\" <sip:alice@example.com>;tag=1928301774
To: \"Support Queue\" <sip:+15551234567@switchboard.example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 ACK
Contact: <sip:alice@192.0.2.10:5060;transport=udp>
User-Agent: Yealink SIP-T46S 66.85.0.5
Content-Length: {len}

";

const BYE: &str = "BYE sip:+15551234567@198.51.100.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds9;rport
Route: <sip:switchboard.example.com;lr>
Max-Forwards: 70
From: \"Alice Agent\" <sip:alice@example.com>;tag=1928301774
To: \"Support Queue\" <sip:+15551234567@switchboard.example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314160 BYE
User-Agent: Yealink SIP-T46S 66.85.0.5
Content-Length: {len}

";

/// Builds a wire message: CRLF line endings and a true Content-Length.
fn wire(head: &str, body: &str) -> Bytes {
    let body = body.replace('\n', "\r\n");
    let head = head
        .replace("{len}", &body.len().to_string())
        .replace('\n', "\r\n");
    Bytes::from(format!("{head}{body}"))
}

fn mix() -> Vec<Bytes> {
    vec![
        wire(INVITE, SDP_OFFER),
        wire(REGISTER, ""),
        wire(RINGING, ""),
        wire(OK_INVITE, SDP_ANSWER),
        wire(ACK, ""),
        wire(BYE, ""),
    ]
}

/// What both parsers must agree on for every message of the mix.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    branch: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    call_id: String,
    cseq: (u32, String),
    max_forwards: Option<u32>,
    contact: Option<String>,
    content_length: Option<u32>,
    nonce: Option<String>,
    response: Option<String>,
}

fn switchboard_fields(input: &Bytes) -> Fields {
    let m = sip::parse_message(input.clone()).expect("switchboard parses the message");
    let h = m.headers();
    let auth = h.iter().find_map(|x| match x {
        sip::Header::Authorization(a) => Some(a),
        _ => None,
    });
    let cseq = h.cseq().expect("CSeq");
    Fields {
        branch: h
            .top_via()
            .and_then(|v| v.branch())
            .expect("branch")
            .to_owned(),
        from_tag: h.from().expect("From").tag().map(str::to_owned),
        to_tag: h.to().expect("To").tag().map(str::to_owned),
        call_id: h.call_id().expect("Call-ID").to_string(),
        cseq: (cseq.seq, cseq.method.to_string()),
        max_forwards: h.max_forwards().map(u32::from),
        contact: h.contacts().next().map(|c| {
            let u = c.uri.as_sip().expect("sip contact");
            let port = u.port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}@{}{port}", u.user.as_deref().unwrap_or(""), u.host)
        }),
        content_length: h.content_length(),
        nonce: auth.and_then(|a| a.param("nonce")),
        response: auth.and_then(|a| a.param("response")),
    }
}

fn rsip_fields(input: &Bytes) -> Fields {
    let m = rsip::SipMessage::try_from(&input[..]).expect("rsip parses the message");
    let via = m.via_header().expect("Via").typed().expect("typed Via");
    let cseq = m.cseq_header().expect("CSeq").typed().expect("typed CSeq");
    let auth = m
        .authorization_header()
        .map(|a| a.typed().expect("typed Authorization"));
    Fields {
        branch: via.branch().expect("branch").to_string(),
        from_tag: m
            .from_header()
            .expect("From")
            .typed()
            .expect("typed From")
            .tag()
            .map(ToString::to_string),
        to_tag: m
            .to_header()
            .expect("To")
            .typed()
            .expect("typed To")
            .tag()
            .map(ToString::to_string),
        call_id: m.call_id_header().expect("Call-ID").value().to_owned(),
        cseq: (cseq.seq, cseq.method.to_string()),
        max_forwards: m
            .max_forwards_header()
            .ok()
            .map(|mf| mf.num().expect("Max-Forwards number")),
        contact: m.contact_header().ok().map(|c| {
            let uri = c.typed().expect("typed Contact").uri;
            format!("{}@{}", uri.user().unwrap_or(""), uri.host_with_port)
        }),
        content_length: rsip_content_length(&m).map(|c| c.length().expect("Content-Length")),
        nonce: auth.as_ref().map(|a| a.nonce.clone()),
        response: auth.as_ref().map(|a| a.response.clone()),
    }
}

fn rsip_content_length(m: &rsip::SipMessage) -> Option<&rsip::headers::ContentLength> {
    use rsip::message::HasHeaders;
    m.headers().iter().find_map(|h| match h {
        rsip::Header::ContentLength(c) => Some(c),
        _ => None,
    })
}

/// Parses with Switchboard's parser and reads what Switchboard reads.
fn switchboard_parse_and_read(input: &Bytes) {
    let m = sip::parse_message(input.clone()).expect("switchboard parses the message");
    let h = m.headers();
    black_box(h.top_via().and_then(|v| v.branch()));
    black_box(h.from().and_then(|a| a.tag()));
    black_box(h.to().and_then(|a| a.tag()));
    black_box(h.call_id());
    black_box(h.cseq().map(|c| (c.seq, &c.method)));
    black_box(h.max_forwards());
    black_box(h.contacts().next().map(|c| &c.uri));
    black_box(h.content_length());
    for header in h.iter() {
        if let sip::Header::Authorization(a) = header {
            black_box(a.param("nonce"));
            black_box(a.param("response"));
        }
    }
    black_box(&m);
}

/// Parses with rsip and types the same headers with its typed accessors.
fn rsip_parse_and_read(input: &Bytes) {
    let m = rsip::SipMessage::try_from(&input[..]).expect("rsip parses the message");
    let via = m.via_header().and_then(|v| v.typed()).expect("typed Via");
    black_box(via.branch());
    let from = m.from_header().and_then(|f| f.typed()).expect("typed From");
    black_box(from.tag());
    let to = m.to_header().and_then(|t| t.typed()).expect("typed To");
    black_box(to.tag());
    black_box(m.call_id_header().map(|c| c.value()).expect("Call-ID"));
    let cseq = m.cseq_header().and_then(|c| c.typed()).expect("typed CSeq");
    black_box((cseq.seq, &cseq.method));
    if let Ok(mf) = m.max_forwards_header() {
        black_box(mf.num().expect("Max-Forwards number"));
    }
    if let Ok(c) = m.contact_header() {
        black_box(c.typed().expect("typed Contact").uri);
    }
    if let Some(cl) = rsip_content_length(&m) {
        black_box(cl.length().expect("Content-Length"));
    }
    if let Some(a) = m.authorization_header() {
        let a = a.typed().expect("typed Authorization");
        black_box((&a.nonce, &a.response));
    }
    black_box(&m);
}

fn parse(c: &mut Criterion) {
    let messages = mix();
    // Both parsers must succeed on every message and read the same values before any timing.
    for m in &messages {
        let ours = switchboard_fields(m);
        let theirs = rsip_fields(m);
        assert_eq!(
            ours,
            theirs,
            "parsers disagree on\n{}",
            String::from_utf8_lossy(m)
        );
    }
    let register = switchboard_fields(&messages[1]);
    assert_eq!(
        register.nonce.as_deref(),
        Some("dcd98b7102dd2f0e8b11d0f600bfb0c093")
    );
    assert_eq!(
        register.response.as_deref(),
        Some("6629fae49393a05397450978507c4ef1")
    );

    let elements = messages.len() as u64;
    let mut group = c.benchmark_group("switchboard_sip");
    group.throughput(Throughput::Elements(elements));
    group.bench_function("parse_mix", |b| {
        b.iter(|| {
            for m in &messages {
                switchboard_parse_and_read(black_box(m));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("rsip");
    group.throughput(Throughput::Elements(elements));
    group.bench_function("parse_mix", |b| {
        b.iter(|| {
            for m in &messages {
                rsip_parse_and_read(black_box(m));
            }
        })
    });
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    parse(&mut c);
    c.final_summary();
}
