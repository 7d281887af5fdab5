//! DTMF costs on one core (`media::dtmf`).
//!
//! - `goertzel/1s`: the in-band detector over one second of 8 kHz audio (four keys with pauses
//!   between them), fed in 20 ms frames; throughput in samples per second.
//! - `goertzel/1s_silence`: the same second of silence (the common case on a live call).
//! - `rfc4733/packet`: one telephone-event packet through the receiver (an update packet of an
//!   event in progress, the bulk of the traffic).
//! - `rfc4733/event`: a whole 120 ms key press as sent (start, two updates, end ×3).
//! - `info/dtmf_relay`, `info/dtmf`: parsing an INFO body by content type.
//!
//! Before timing, each scenario is run once and its result checked.
//!
//! Run: `cargo bench -p media --bench dtmf -- --noplot`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use media::dtmf::info::parse_info;
use media::dtmf::{
    DtmfDigit, InBandDetector, InBandGenerator, SenderConfig, TelephoneEvent,
    TelephoneEventReceiver, TelephoneEventSender,
};

fn one_second_of_keys() -> Vec<i16> {
    let mut generator = InBandGenerator::new();
    for digit in [
        DtmfDigit::D1,
        DtmfDigit::D5,
        DtmfDigit::Pound,
        DtmfDigit::D0,
    ] {
        generator.push_digit(digit, 100, 150);
    }
    let mut samples = generator.drain_all();
    samples.resize(8000, 0);
    samples
}

fn detect(samples: &[i16], t0: Instant) -> usize {
    let mut detector = InBandDetector::default();
    let mut found = 0;
    for frame in samples.chunks(160) {
        found += detector.push(frame, t0).len();
    }
    found
}

fn goertzel(c: &mut Criterion) {
    let t0 = Instant::now();
    let keys = one_second_of_keys();
    let silence = vec![0i16; 8000];
    assert_eq!(detect(&keys, t0), 4);
    assert_eq!(detect(&silence, t0), 0);

    let mut group = c.benchmark_group("goertzel");
    group.throughput(Throughput::Elements(8000));
    group.bench_function("1s", |b| b.iter(|| detect(black_box(&keys), t0)));
    group.bench_function("1s_silence", |b| b.iter(|| detect(black_box(&silence), t0)));
    group.finish();
}

fn rfc4733(c: &mut Criterion) {
    let t0 = Instant::now();
    let update = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        duration: 400,
    }
    .encode();
    let packets = TelephoneEventSender::schedule(
        SenderConfig::default(),
        DtmfDigit::D7,
        Duration::from_millis(120),
        1000,
    );
    let press = |rx: &mut TelephoneEventReceiver, timestamp: u32| {
        let mut events = 0;
        for p in &packets {
            let payload = p.event.encode();
            let at = t0 + p.offset;
            events += rx
                .on_packet(timestamp, 0, p.marker, black_box(&payload), at)
                .map_or(0, |e| e.len());
        }
        events
    };
    let mut rx = TelephoneEventReceiver::default();
    assert_eq!(press(&mut rx, 1000), 1);

    let mut group = c.benchmark_group("rfc4733");
    group.throughput(Throughput::Elements(1));
    let mut rx = TelephoneEventReceiver::default();
    let _ = rx.on_packet(1000, 0, true, &update, t0);
    group.bench_function("packet", |b| {
        b.iter(|| rx.on_packet(1000, 1, false, black_box(&update), t0))
    });
    group.throughput(Throughput::Elements(packets.len() as u64));
    let mut rx = TelephoneEventReceiver::default();
    let mut timestamp = 0u32;
    group.bench_function("event", |b| {
        b.iter(|| {
            timestamp = timestamp.wrapping_add(8000);
            press(&mut rx, timestamp)
        })
    });
    group.finish();
}

fn info(c: &mut Criterion) {
    let relay = b"Signal=5\r\nDuration=160\r\n";
    assert!(parse_info("application/dtmf-relay", relay).is_ok());
    assert!(parse_info("application/dtmf", b"#").is_ok());
    let mut group = c.benchmark_group("info");
    group.throughput(Throughput::Elements(1));
    group.bench_function("dtmf_relay", |b| {
        b.iter(|| parse_info(black_box("application/dtmf-relay"), black_box(relay)))
    });
    group.bench_function("dtmf", |b| {
        b.iter(|| parse_info(black_box("application/dtmf"), black_box(b"#")))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    goertzel(&mut c);
    rfc4733(&mut c);
    info(&mut c);
    c.final_summary();
}
