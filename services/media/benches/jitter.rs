//! Jitter buffer cost per packet on one core (`media::jitter`).
//!
//! Streams of 50 packets/s (20 ms G.711 with 160-byte payloads), each packet pushed and one
//! frame popped per 20 ms tick, under virtual time:
//! - `in_order`: every packet arrives 5 ms after it was sent.
//! - `jittery`: arrival delays uniform in 0..80 ms (deterministic), so packets reorder and
//!   the adaptive delay moves.
//!
//! An iteration is one second of one stream (50 pushes and 50 pops, after a warm-up second
//! made outside the timing), so the figure per packet is the time divided by 50; criterion
//! reports it as packets/s via `Throughput::Elements(50)`. Payload buffers are made
//! outside the timing (the RTP receiver allocates them anyway) and freed inside it, as the
//! consumer of the frames would.
//!
//! Run: `cargo bench -p media --bench jitter -- --noplot`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use media::jitter::{Frame, JitterBuffer, JitterConfig, Packet};

/// Packets per second of a 20 ms stream.
const PACKETS: u32 = 50;

/// One second of packets, the `second`-th of the stream, in arrival order with their
/// arrival offsets from the stream's start.
fn second_of(second: u32, delay_ms: impl Fn(u32) -> u64) -> Vec<(Duration, Packet)> {
    let mut packets: Vec<(Duration, Packet)> = (0..PACKETS)
        .map(|k| {
            let i = second * PACKETS + k;
            let sent = u64::from(i) * 20;
            let packet = Packet {
                sequence: i as u16,
                timestamp: i * 160,
                ssrc: 0x5157_0001,
                marker: false,
                payload_type: 0,
                payload: vec![0xFF; 160],
            };
            (Duration::from_millis(sent + delay_ms(i)), packet)
        })
        .collect();
    packets.sort_by_key(|(at, _)| *at);
    packets
}

/// Pushes `packets` into `buffer` and pops one frame per 20 ms tick of `second`.
fn play_second(
    buffer: &mut JitterBuffer,
    base: Instant,
    second: u32,
    packets: Vec<(Duration, Packet)>,
) -> u32 {
    let mut audio = 0;
    let mut packets = packets.into_iter().peekable();
    for k in 0..PACKETS {
        let tick = Duration::from_millis(u64::from(second * PACKETS + k) * 20);
        while let Some((at, _)) = packets.peek() {
            if *at > tick {
                break;
            }
            if let Some((at, packet)) = packets.next() {
                buffer.push(base + at, packet);
            }
        }
        if matches!(buffer.pop(base + tick), Frame::Audio(_)) {
            audio += 1;
        }
    }
    // Stragglers past the second's last tick go in at their time too.
    for (at, packet) in packets {
        buffer.push(base + at, packet);
    }
    audio
}

/// Benches one stream shape.
fn bench_stream(c: &mut Criterion, name: &str, delay_ms: fn(u32) -> u64) {
    let base = Instant::now();
    let warm = || {
        let mut buffer = JitterBuffer::new(JitterConfig::default()).expect("default is valid");
        play_second(&mut buffer, base, 0, second_of(0, delay_ms));
        buffer
    };
    // Check once that the scenario plays audio.
    let mut check = warm();
    let audio = play_second(&mut check, base, 1, second_of(1, delay_ms));
    assert!(
        audio >= 45,
        "{name}: {audio} audio frames of 50; {:?}",
        check.stats()
    );

    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(u64::from(PACKETS)));
    group.bench_function(name, |b| {
        b.iter_batched(
            || (warm(), second_of(1, delay_ms)),
            |(mut buffer, packets)| {
                black_box(play_second(&mut buffer, base, 1, packets));
                buffer
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Deterministic arrival delays in 0..80 ms.
fn jitter_ms(i: u32) -> u64 {
    u64::from(i.wrapping_mul(2_654_435_761) >> 16) % 80
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_stream(&mut c, "in_order", |_| 5);
    bench_stream(&mut c, "jittery", jitter_ms);
    c.final_summary();
}
