//! G.711 throughput on one core (`media::codec`), in samples per second.
//!
//! - `frame/*`: one 20 ms frame (160 samples), the unit the media path handles per packet.
//! - `second/*`: one second of audio (8,000 samples) in one call, the slice loops' best case.
//!
//! Each group encodes (`encode_mu`, `encode_a`), decodes (`decode_mu`, `decode_a`) and
//! transcodes (`mu_to_a`, `a_to_mu`) into a buffer made outside the timing, so nothing is
//! allocated inside it. The input is a 440 Hz tone plus a little noise at about -10 dBFS,
//! which visits most segments.
//!
//! Run: `cargo bench -p media --bench codec -- --noplot`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use media::codec::{
    FRAME_SAMPLES, G711Law, SAMPLE_RATE, transcode_alaw_to_ulaw, transcode_ulaw_to_alaw,
};

/// `n` samples of the test signal.
fn signal(n: usize) -> Vec<i16> {
    let mut noise = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let t = i as f64 / f64::from(SAMPLE_RATE);
            let tone = (2.0 * std::f64::consts::PI * 440.0 * t).sin() * 10_000.0;
            (tone + f64::from((noise >> 24) as i8) * 8.0) as i16
        })
        .collect()
}

/// Benches every operation on `samples` samples under `group_name`.
fn bench_size(c: &mut Criterion, group_name: &str, samples: usize) {
    let pcm = signal(samples);
    let mut ulaw = vec![0u8; samples];
    let mut alaw = vec![0u8; samples];
    let mut bytes = vec![0u8; samples];
    let mut linear = vec![0i16; samples];
    G711Law::Mu.encode(&pcm, &mut ulaw).expect("sizes match");
    G711Law::A.encode(&pcm, &mut alaw).expect("sizes match");

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(samples as u64));
    for law in [G711Law::Mu, G711Law::A] {
        let suffix = if law == G711Law::Mu { "mu" } else { "a" };
        let codes = if law == G711Law::Mu { &ulaw } else { &alaw };
        group.bench_function(format!("encode_{suffix}"), |b| {
            b.iter(|| law.encode(black_box(&pcm), &mut bytes))
        });
        group.bench_function(format!("decode_{suffix}"), |b| {
            b.iter(|| law.decode(black_box(codes), &mut linear))
        });
    }
    group.bench_function("mu_to_a", |b| {
        b.iter(|| transcode_ulaw_to_alaw(black_box(&ulaw), &mut bytes))
    });
    group.bench_function("a_to_mu", |b| {
        b.iter(|| transcode_alaw_to_ulaw(black_box(&alaw), &mut bytes))
    });
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_size(&mut c, "frame", FRAME_SAMPLES);
    bench_size(&mut c, "second", SAMPLE_RATE as usize);
    c.final_summary();
}
