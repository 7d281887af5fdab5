//! SDP cost per call: parsing a typical softphone offer, answering it, and both together
//! with writing the answer out, which is what the server does for every INVITE.
//!
//! Run with `cargo bench -p media --bench sdp`; criterion prints the time per iteration.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use media::sdp::{LocalMediaConfig, SessionDescription, negotiate_answer};

/// An Asterisk-like offer: six codecs, telephone-event, a=rtcp, ptime, direction.
const OFFER: &str = "v=0\r
o=- 1849246112 1849246112 IN IP4 203.0.113.5\r
s=Asterisk\r
c=IN IP4 203.0.113.5\r
t=0 0\r
m=audio 17234 RTP/AVP 9 18 0 8 3 101\r
a=rtpmap:9 G722/8000\r
a=rtpmap:18 G729/8000\r
a=fmtp:18 annexb=no\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:3 GSM/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=rtcp:17235\r
a=ptime:20\r
a=maxptime:150\r
a=sendrecv\r
";

fn sdp(c: &mut Criterion) {
    let config = LocalMediaConfig::new([198, 51, 100, 1].into(), vec![30000], 1000);
    let parsed = SessionDescription::parse(OFFER.as_bytes()).expect("offer parses");
    let mut group = c.benchmark_group("sdp");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| SessionDescription::parse(black_box(OFFER.as_bytes())))
    });
    group.bench_function("negotiate", |b| {
        b.iter(|| negotiate_answer(black_box(&parsed), &config))
    });
    group.bench_function("parse_negotiate_write", |b| {
        b.iter(|| {
            let offer = SessionDescription::parse(black_box(OFFER.as_bytes())).expect("parses");
            negotiate_answer(&offer, &config)
                .expect("answerable")
                .sdp
                .to_string()
        })
    });
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    sdp(&mut c);
    c.final_summary();
}
