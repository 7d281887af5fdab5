//! The jitter buffer under virtual time: one base `Instant` plus offsets.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

/// 160 timestamp units: one 20 ms G.711 frame.
const FRAME: u32 = 160;

/// A packet of SSRC 1, PT 0, whose payload names its sequence number.
fn packet(sequence: u16, timestamp: u32) -> Packet {
    Packet {
        sequence,
        timestamp,
        ssrc: 1,
        marker: false,
        payload_type: 0,
        payload: sequence.to_be_bytes().to_vec(),
    }
}

/// `n` packets of one stream from `seq0`/`ts0`, each arriving `offset_ms(i)` after its send
/// time `20 × i` ms.
fn stream(n: u16, seq0: u16, ts0: u32, offset_ms: impl Fn(u16) -> u64) -> Vec<(u64, Packet)> {
    (0..n)
        .map(|i| {
            let p = packet(seq0.wrapping_add(i), ts0.wrapping_add(u32::from(i) * FRAME));
            (u64::from(i) * 20 + offset_ms(i), p)
        })
        .collect()
}

/// Drives `buffer`: pops every 20 ms from 0 to `until_ms`, pushing before each pop the
/// packets that have arrived by then (stable in the given order).
fn run(buffer: &mut JitterBuffer, mut arrivals: Vec<(u64, Packet)>, until_ms: u64) -> Vec<Frame> {
    let base = Instant::now();
    arrivals.sort_by_key(|(at, _)| *at);
    let mut arrivals = arrivals.into_iter().peekable();
    let mut frames = Vec::new();
    for tick in (0..=until_ms).step_by(20) {
        while let Some((at, _)) = arrivals.peek() {
            if *at > tick {
                break;
            }
            let (at, p) = arrivals.next().expect("peeked");
            buffer.push(base + Duration::from_millis(at), p);
        }
        frames.push(buffer.pop(base + Duration::from_millis(tick)));
    }
    frames
}

/// Sequence numbers of the audio frames, `None` for gaps; leading `Empty`s left out.
fn played(frames: &[Frame]) -> Vec<Option<u16>> {
    frames
        .iter()
        .skip_while(|f| **f == Frame::Empty)
        .map(|f| match f {
            Frame::Audio(a) => Some(a.sequence),
            _ => None,
        })
        .collect()
}

fn buffer() -> JitterBuffer {
    JitterBuffer::new(JitterConfig::default()).expect("default config is valid")
}

fn fixed() -> JitterBuffer {
    JitterBuffer::new(JitterConfig {
        adaptive: false,
        ..JitterConfig::default()
    })
    .expect("valid")
}

#[test]
fn in_order_flow_plays_every_packet_after_the_target_delay() {
    let mut b = buffer();
    let frames = run(&mut b, stream(100, 0, 0, |_| 5), 2100);
    // First packet at 5 ms, 40 ms target: Empty at 0, 20 and 40 ms, audio from 60 ms.
    assert_eq!(&frames[..3], &[Frame::Empty, Frame::Empty, Frame::Empty]);
    let seqs = played(&frames);
    let expected: Vec<Option<u16>> = (0..100).map(Some).collect();
    assert_eq!(&seqs[..100], expected.as_slice());
    assert!(seqs[100..].iter().all(Option::is_none), "the stream ended");
    let s = b.stats();
    assert_eq!(
        (s.received, s.played, s.lost, s.late, s.duplicate),
        (100, 100, 0, 0, 0)
    );
    assert_eq!((s.stretched, s.skipped, s.resyncs), (0, 0, 0));
    assert_eq!(s.target_delay_ms, 40.0);
    assert!(s.jitter_ms < 0.01);
    if let Frame::Audio(a) = &frames[3] {
        assert_eq!(
            (a.sequence, a.timestamp, a.payload.as_slice()),
            (0, 0, &[0u8, 0][..])
        );
    } else {
        panic!("audio expected at 60 ms, got {:?}", frames[3]);
    }
}

#[test]
fn reordered_packets_come_out_in_order() {
    let mut b = fixed();
    // Pairs swapped: odd packets 1 ms early, even ones 15 ms late.
    let frames = run(
        &mut b,
        stream(60, 0, 0, |i| if i % 2 == 0 { 16 } else { 0 }),
        1500,
    );
    let expected: Vec<Option<u16>> = (0..60).map(Some).collect();
    assert_eq!(&played(&frames)[..60], expected.as_slice());
    assert_eq!(b.stats().late, 0);
}

#[test]
fn loss_becomes_missing_frames_and_is_counted() {
    let mut b = fixed();
    let arrivals = stream(50, 0, 0, |_| 3)
        .into_iter()
        .filter(|(_, p)| !matches!(p.sequence, 10 | 11 | 30));
    let frames = run(&mut b, arrivals.collect(), 1100);
    let seqs = played(&frames);
    let expected: Vec<Option<u16>> = (0..50)
        .map(|i| (!matches!(i, 10 | 11 | 30)).then_some(i))
        .collect();
    assert_eq!(&seqs[..50], expected.as_slice());
    let s = b.stats();
    assert_eq!((s.played, s.lost), (47, 3));
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut b = fixed();
    let mut arrivals = stream(30, 0, 0, |_| 2);
    arrivals.extend(stream(30, 0, 0, |_| 12));
    let frames = run(&mut b, arrivals, 800);
    let expected: Vec<Option<u16>> = (0..30).map(Some).collect();
    assert_eq!(&played(&frames)[..30], expected.as_slice());
    let s = b.stats();
    // Each copy arrives 10 ms after the original: most are still buffered (duplicates),
    // the first one's has just been played (late).
    assert_eq!(s.duplicate + s.late, 30);
    assert!(s.duplicate >= 28, "{s:?}");
    assert_eq!(s.played, 30);
}

#[test]
fn late_packets_are_dropped_and_their_frame_is_missing() {
    let mut b = fixed();
    // Packet 20 arrives 150 ms late, after its frame (40 ms of delay) has gone out.
    let frames = run(
        &mut b,
        stream(40, 0, 0, |i| if i == 20 { 150 } else { 1 }),
        900,
    );
    let seqs = played(&frames);
    assert_eq!(seqs[20], None);
    assert_eq!(seqs[21], Some(21));
    let s = b.stats();
    assert_eq!((s.late, s.lost, s.played), (1, 1, 39));
}

#[test]
fn sequence_and_timestamp_wrap_around_are_seamless() {
    let mut b = buffer();
    let ts0 = u32::MAX - 30 * FRAME + 1;
    let frames = run(&mut b, stream(100, 65_500, ts0, |i| u64::from(i % 3)), 2200);
    let expected: Vec<Option<u16>> = (0..100u16)
        .map(|i| Some(65_500u16.wrapping_add(i)))
        .collect();
    assert_eq!(&played(&frames)[..100], expected.as_slice());
    let s = b.stats();
    assert_eq!(
        (s.played, s.lost, s.late, s.resyncs, s.discarded),
        (100, 0, 0, 0, 0)
    );
}

#[test]
fn ssrc_change_resynchronises() {
    let mut b = fixed();
    let mut arrivals = stream(50, 100, 5000, |_| 1);
    // A new source takes over at 1,000 ms with unrelated numbers.
    for (at, mut p) in stream(50, 40_000, 9_000_000, |_| 1) {
        p.ssrc = 2;
        arrivals.push((at + 1000, p));
    }
    let frames = run(&mut b, arrivals, 2200);
    let audio: Vec<u16> = frames
        .iter()
        .filter_map(|f| {
            if let Frame::Audio(a) = f {
                Some(a.sequence)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(&audio[..2], &[100, 101]);
    assert!(audio.contains(&40_000) && audio.contains(&40_049));
    let s = b.stats();
    assert_eq!(s.resyncs, 1);
    assert_eq!(s.played + s.flushed, 100, "{s:?}");
    // Buffering afresh shows as Empty frames between the two streams.
    let first_new = audio.iter().position(|&q| q == 40_000).expect("played");
    assert!(audio[first_new..].windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn a_lone_sequence_jump_is_discarded_and_a_confirmed_one_resyncs() {
    let mut b = fixed();
    let base = Instant::now();
    let at = |ms: u64| base + Duration::from_millis(ms);
    for i in 0..10u16 {
        assert_eq!(
            b.push(at(u64::from(i) * 20), packet(i, u32::from(i) * FRAME)),
            PushOutcome::Accepted
        );
        b.pop(at(u64::from(i) * 20));
    }
    // One stray packet far ahead: discarded, and the stream goes on.
    assert_eq!(
        b.push(at(200), packet(20_000, 10 * FRAME)),
        PushOutcome::Discarded
    );
    assert_eq!(
        b.push(at(200), packet(10, 10 * FRAME)),
        PushOutcome::Accepted
    );
    // Two consecutive packets far ahead: the second confirms the jump.
    assert_eq!(
        b.push(at(220), packet(30_000, 11 * FRAME)),
        PushOutcome::Discarded
    );
    assert_eq!(
        b.push(at(240), packet(30_001, 12 * FRAME)),
        PushOutcome::Resynced
    );
    assert_eq!(
        b.push(at(260), packet(30_002, 13 * FRAME)),
        PushOutcome::Accepted
    );
    let s = b.stats();
    assert_eq!((s.discarded, s.resyncs), (2, 1));
    assert!(!b.is_playing(), "buffering afresh");
}

#[test]
fn a_timestamp_leap_resynchronises() {
    let mut b = fixed();
    let mut arrivals = stream(20, 0, 0, |_| 1);
    // Sequence numbers carry on; timestamps leap by an hour.
    arrivals.extend(
        stream(20, 20, 8000 * 3600, |_| 1)
            .into_iter()
            .map(|(at, p)| (at + 400, p)),
    );
    let frames = run(&mut b, arrivals, 1200);
    let s = b.stats();
    assert_eq!(s.resyncs, 1);
    let audio = played(&frames).into_iter().flatten().collect::<Vec<_>>();
    assert!(audio.contains(&39), "the new timeline plays: {audio:?}");
}

#[test]
fn silence_suppression_gaps_play_as_missing_without_loss() {
    let mut b = fixed();
    let mut arrivals = stream(20, 0, 0, |_| 1);
    // After a second of silence the sender resumes: sequence numbers continue, the
    // timestamp has advanced by the silence, the marker bit is set.
    for (at, mut p) in stream(20, 20, 20 * FRAME + 8000, |_| 1) {
        p.marker = p.sequence == 20;
        arrivals.push((at + 400 + 1000, p));
    }
    let frames = run(&mut b, arrivals, 2400);
    let seqs = played(&frames);
    let resume = seqs
        .iter()
        .position(|&q| q == Some(20))
        .expect("talkspurt played");
    assert_eq!(resume, 20 + 50, "50 missing frames of silence");
    let s = b.stats();
    assert_eq!((s.played, s.lost, s.late, s.resyncs), (40, 0, 0, 0));
}

#[test]
fn a_sender_that_pauses_its_clock_is_resynchronised_after_a_run_of_late_packets() {
    let mut b = fixed();
    let mut arrivals = stream(20, 0, 0, |_| 1);
    // Held for 600 ms, then the same timeline resumes: everything now arrives "late".
    arrivals.extend(
        stream(60, 20, 20 * FRAME, |_| 1)
            .into_iter()
            .map(|(at, p)| (at + 400 + 600, p)),
    );
    let frames = run(&mut b, arrivals, 3000);
    let s = b.stats();
    assert_eq!(s.resyncs, 1);
    assert_eq!(s.late, 24);
    assert!(played(&frames).contains(&Some(79)));
}

/// A small deterministic generator (xorshift64*), for reproducible jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn adaptive_delay_follows_measured_jitter() {
    // Network delay uniform in 0..160 ms, so ±80 ms about its mean: the mean |D| between
    // packets, which the estimate tracks, is 160/3 ≈ 53 ms.
    let mut rng = Rng(0x5eed);
    let offsets: Vec<u64> = (0..1500).map(|_| rng.next() % 160).collect();
    let arrivals = || stream(1500, 0, 0, |i| offsets[usize::from(i)]);
    let mut adaptive = buffer();
    let frames = run(&mut adaptive, arrivals(), 30_400);
    let s = adaptive.stats();
    assert!((45.0..62.0).contains(&s.jitter_ms), "jitter {s:?}");
    assert!(
        s.target_delay_ms >= 160.0 && s.target_delay_ms <= 200.0,
        "target {s:?}"
    );
    assert_eq!(s.target_delay_ms % 20.0, 0.0);
    assert!(s.stretched > 0, "the delay grew from 40 ms");
    // Once the delay has grown, hardly a frame is missing.
    let gaps = played(&frames[100..1500])
        .iter()
        .filter(|q| q.is_none())
        .count();
    assert!(gaps < 30, "{gaps} gaps; {s:?}");

    // The same arrivals through a fixed 40 ms delay: a quarter are late.
    let mut fixed = fixed();
    run(&mut fixed, arrivals(), 30_400);
    let f = fixed.stats();
    assert!(
        f.late > 200 && f.late > 10 * s.late.max(1),
        "fixed {f:?} vs adaptive {s:?}"
    );
    assert_eq!(f.target_delay_ms, 40.0);
}

#[test]
fn low_jitter_keeps_the_minimum_delay() {
    let mut rng = Rng(7);
    let offsets: Vec<u64> = (0..500).map(|_| rng.next() % 3).collect();
    let mut b = buffer();
    run(
        &mut b,
        stream(500, 0, 0, |i| offsets[usize::from(i)]),
        10_400,
    );
    let s = b.stats();
    assert_eq!(s.target_delay_ms, 40.0, "{s:?}");
    assert_eq!((s.late, s.lost, s.played), (0, 0, 500));
    assert!(s.jitter_timestamp_units < 16.0, "{s:?}");
}

#[test]
fn overflow_drops_the_oldest() {
    let mut b = JitterBuffer::new(JitterConfig {
        capacity: 8,
        ..JitterConfig::default()
    })
    .expect("valid");
    let now = Instant::now();
    for i in 0..20u16 {
        assert_eq!(
            b.push(now, packet(i, u32::from(i) * FRAME)),
            PushOutcome::Accepted
        );
    }
    let s = b.stats();
    assert_eq!((s.overflow, s.depth_packets), (12, 8));
    assert_eq!(s.depth_ms, 160.0);
    // Twenty packets in one instant also look like jitter: the target grew past 40 ms.
    match b.pop(now + Duration::from_millis(200)) {
        Frame::Audio(a) => assert_eq!(a.sequence, 12),
        other => panic!("expected audio, got {other:?}"),
    }
}

#[test]
fn payload_type_filter_keeps_telephone_events_out() {
    let mut b = JitterBuffer::new(JitterConfig {
        payload_type: Some(0),
        ..JitterConfig::default()
    })
    .expect("valid");
    let now = Instant::now();
    let mut dtmf = packet(0, 0);
    dtmf.payload_type = 101;
    assert_eq!(b.push(now, dtmf), PushOutcome::Filtered);
    assert_eq!(b.push(now, packet(1, FRAME)), PushOutcome::Accepted);
    assert_eq!((b.stats().filtered, b.stats().depth_packets), (1, 1));
}

#[test]
fn empty_before_any_packet_and_bad_configs_are_refused() {
    let mut b = buffer();
    assert_eq!(b.pop(Instant::now()), Frame::Empty);
    assert!(!b.is_playing());
    let bad = |c: JitterConfig| JitterBuffer::new(c).err();
    let d = JitterConfig::default;
    assert_eq!(
        bad(JitterConfig {
            clock_rate: 0,
            ..d()
        }),
        Some(JitterConfigError::ZeroClockRate)
    );
    assert_eq!(
        bad(JitterConfig { capacity: 0, ..d() }),
        Some(JitterConfigError::ZeroCapacity)
    );
    assert_eq!(
        bad(JitterConfig {
            min_delay: Duration::from_millis(300),
            ..d()
        }),
        Some(JitterConfigError::BadDelays)
    );
    assert!(matches!(
        bad(JitterConfig {
            frame: Duration::ZERO,
            ..d()
        }),
        Some(JitterConfigError::BadFrame(_))
    ));
}

/// One step of a random scenario.
#[derive(Debug, Clone)]
enum Op {
    Push {
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        payload_type: u8,
        len: usize,
    },
    Pop,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u32>(),
            0u32..3,
            prop_oneof![Just(0u8), Just(8), Just(101)],
            0usize..200
        )
            .prop_map(|(sequence, timestamp, ssrc, payload_type, len)| Op::Push {
                sequence,
                timestamp,
                ssrc,
                payload_type,
                len
            }),
        // Mostly a stream that nearly follows the rules, so that deep states are reached.
        (0u16..8, 0u32..4).prop_map(|(s, t)| Op::Push {
            sequence: s,
            timestamp: t * FRAME,
            ssrc: 1,
            payload_type: 0,
            len: 160
        }),
        Just(Op::Pop),
        (0u64..200).prop_map(Op::Advance),
    ]
}

proptest! {
    #[test]
    fn no_input_sequence_panics_or_breaks_the_invariants(
        ops in prop::collection::vec(op(), 0..400),
        capacity in 1usize..20,
        adaptive in any::<bool>(),
    ) {
        let config = JitterConfig { capacity, adaptive, ..JitterConfig::default() };
        let mut b = JitterBuffer::new(config).expect("valid");
        let base = Instant::now();
        let mut now = base;
        let mut next_seq = 0u16;
        for op in ops {
            match op {
                Op::Push { sequence, timestamp, ssrc, payload_type, len } => {
                    // Small sequence numbers are offsets from a running stream.
                    let sequence = if sequence < 8 { next_seq.wrapping_add(sequence) } else { sequence };
                    next_seq = next_seq.wrapping_add(1);
                    let p = Packet { sequence, timestamp, ssrc, marker: false, payload_type, payload: vec![0; len] };
                    b.push(now, p);
                }
                Op::Pop => { b.pop(now); }
                Op::Advance(ms) => now += Duration::from_millis(ms),
            }
            let s = b.stats();
            prop_assert!(s.depth_packets <= capacity);
            prop_assert!(s.played <= s.received);
            prop_assert!(s.depth_ms >= 0.0 && s.jitter_ms >= 0.0);
            prop_assert!((40.0..=200.0).contains(&s.target_delay_ms));
        }
    }
}
