//! Prompt and recording costs on one core (`media::prompt`, `media::recording`).
//!
//! - `resample/48k_10s`, `resample/44k1_10s`, `resample/16k_10s`: loading a 10 s mono WAV
//!   from memory at that rate, converted to 8 kHz (done once per prompt file, not per call).
//! - `player/10s`: a 10 s prompt played out: 500 packets G.711-encoded and built.
//! - `recorder/stereo_10s`: 10 s of both legs (20 ms frames) written as a stereo WAV to memory.
//!
//! Before timing, each scenario is run once and its result checked.
//!
//! Run: `cargo bench -p media --bench prompt -- --noplot`.

use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use media::codec::G711Law;
use media::prompt::{PlayerConfig, Prompt, PromptPlayer};
use media::recording::{CallRecorder, Leg, RecordingMode};

fn wav(rate: u32, seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("writer");
    for i in 0..rate * seconds {
        let x = (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / f64::from(rate)).sin();
        writer.write_sample((x * 10_000.0) as i16).expect("sample");
    }
    writer.finalize().expect("finalize");
    cursor.into_inner()
}

fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    for (label, rate) in [
        ("48k_10s", 48_000),
        ("44k1_10s", 44_100),
        ("16k_10s", 16_000),
    ] {
        let bytes = wav(rate, 10);
        let check = Prompt::from_wav("bench.wav", Cursor::new(&bytes)).expect("load");
        assert_eq!(check.samples().len(), 80_000);
        group.throughput(Throughput::Elements(u64::from(rate) * 10));
        group.bench_function(label, |b| {
            b.iter(|| Prompt::from_wav("bench.wav", Cursor::new(black_box(&bytes[..]))))
        });
    }
    group.finish();
}

fn play(prompt: &Prompt) -> usize {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::Mu, 1, 0, 0));
    player.play(vec![prompt.clone()], &[], start);
    player.poll(start + Duration::from_secs(11)).len()
}

fn player(c: &mut Criterion) {
    let prompt = Prompt::from_pcm("bench", vec![1000; 80_000]).expect("prompt");
    assert_eq!(play(&prompt), 500);
    let mut group = c.benchmark_group("player");
    group.throughput(Throughput::Elements(500));
    group.bench_function("10s", |b| b.iter(|| play(black_box(&prompt))));
    group.finish();
}

fn record(frame: &[i16]) -> u64 {
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 80_000 * 4));
    let mut recorder = CallRecorder::new(&mut cursor, RecordingMode::Stereo).expect("recorder");
    for n in 0..500u64 {
        recorder.push(Leg::A, n * 160, frame).expect("push");
        recorder.push(Leg::B, n * 160, frame).expect("push");
    }
    recorder.stop().expect("stop").samples
}

fn recorder(c: &mut Criterion) {
    let frame = [1234i16; 160];
    assert_eq!(record(&frame), 80_000);
    let mut group = c.benchmark_group("recorder");
    group.throughput(Throughput::Elements(80_000));
    group.bench_function("stereo_10s", |b| b.iter(|| record(black_box(&frame))));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    resample(&mut c);
    player(&mut c);
    recorder(&mut c);
    c.final_summary();
}
