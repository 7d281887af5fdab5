//! DTMF between legs of different modes, on virtual time: every pair of forms, each digit
//! reported once, and the packets the relay makes fitting the stream relayed to the leg.

use crate::codec::G711Law;
use crate::dtmf::{
    DtmfDigit, DtmfEvent, DtmfMode, DtmfSource, InBandDetector, TelephoneEvent,
    TelephoneEventReceiver, ToneSpec,
};

use super::*;

const A_SSRC: u32 = 0x1111;

fn session(a: DtmfMode, b: DtmfMode, b_law: G711Law, t0: Instant) -> RelaySession {
    let (codec, pt) = match b_law {
        G711Law::Mu => (Codec::pcmu(), 0),
        G711Law::A => (Codec::pcma(), 8),
    };
    RelaySession::new(
        RelayConfig::default(),
        LegConfig {
            dtmf_mode: a,
            ..leg(10000, A_SDP, Codec::pcmu(), 0, Some(101))
        },
        LegConfig {
            dtmf_mode: b,
            ..leg(10002, B_SDP, codec, pt, Some(96))
        },
        t0,
    )
}

/// A's 20 ms PCMU packet number `n` carrying `pcm` (silence-like fill when `None`).
fn a_audio(n: u16, pcm: Option<&[i16]>) -> Vec<u8> {
    let mut payload = [0xFFu8; 160];
    if let Some(pcm) = pcm {
        G711Law::Mu.encode(pcm, &mut payload).expect("160 samples");
    }
    rtp(0, false, n, u32::from(n) * 160, A_SSRC, &payload)
}

fn key(event: u8, end: bool, duration: u16) -> Vec<u8> {
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .encode()
    .to_vec()
}

/// Everything the session did, with when.
#[derive(Default)]
struct Log {
    actions: Vec<(Instant, RelayAction)>,
}

impl Log {
    fn take(&mut self, at: Instant, actions: Vec<RelayAction>) {
        self.actions.extend(actions.into_iter().map(|a| (at, a)));
    }

    /// The digits reported, as (leg, digit, source).
    fn digits(&self) -> Vec<(LegId, DtmfDigit, DtmfSource)> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                RelayAction::Dtmf { leg, event } => Some((*leg, event.digit, event.source)),
                _ => None,
            })
            .collect()
    }

    fn infos(&self) -> Vec<(LegId, DtmfEvent)> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                RelayAction::SendInfo { leg, event } => Some((*leg, *event)),
                _ => None,
            })
            .collect()
    }

    /// The RTP sent to leg B, in order, with when.
    fn to_b(&self) -> Vec<(Instant, Vec<u8>)> {
        self.actions
            .iter()
            .filter_map(|(t, a)| match a {
                RelayAction::SendRtp {
                    from_leg: LegId::B,
                    bytes,
                    ..
                } => Some((*t, bytes.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Runs the session from `t0` for `steps` of 20 ms: before each step's packet, every poll
/// due; `packet(n)` is what leg A sends at step `n`, if anything.
fn drive(
    s: &mut RelaySession,
    t0: Instant,
    steps: u16,
    mut packet: impl FnMut(u16) -> Option<Vec<u8>>,
    log: &mut Log,
) {
    for n in 0..steps {
        let t = t0 + ms(20 * u64::from(n));
        poll_until(s, t, log);
        if let Some(p) = packet(n) {
            log.take(t, s.on_rtp(LegId::A, addr(A_SDP), &p, t));
        }
    }
}

fn poll_until(s: &mut RelaySession, t: Instant, log: &mut Log) {
    while let Some(d) = s.next_deadline().filter(|d| *d <= t) {
        log.take(d, s.poll(d));
    }
}

fn seq(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[2], p[3]])
}

fn ts(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

fn ssrc(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[8], p[9], p[10], p[11]])
}

fn pt(p: &[u8]) -> u8 {
    p[1] & 0x7F
}

/// Sequence numbers go up by one from packet to packet.
fn assert_gapless(packets: &[(Instant, Vec<u8>)]) {
    for pair in packets.windows(2) {
        assert_eq!(
            seq(&pair[1].1),
            seq(&pair[0].1).wrapping_add(1),
            "sequence numbers to B are gapless"
        );
    }
}

/// A's telephone-events for key `code`: start at step 10, updates, three ends (160 ms).
fn a_key_packet(n: u16, code: u8) -> Option<Vec<u8>> {
    let event_ts = 10 * 160;
    match n {
        10 => Some(rtp(101, true, n, event_ts, A_SSRC, &key(code, false, 0))),
        11..=17 => Some(rtp(
            101,
            false,
            n,
            event_ts,
            A_SSRC,
            &key(code, false, (n - 10) * 160),
        )),
        18..=20 => Some(rtp(101, false, n, event_ts, A_SSRC, &key(code, true, 1280))),
        _ => Some(a_audio(n, None)),
    }
}

#[test]
fn rfc4733_to_rfc4733_relays_the_event_packets_unchanged_but_for_the_payload_type() {
    let t0 = Instant::now();
    let mut s = session(DtmfMode::Rfc4733, DtmfMode::Rfc4733, G711Law::Mu, t0);
    let mut log = Log::default();
    let mut sent_by_a = Vec::new();
    drive(
        &mut s,
        t0,
        40,
        |n| {
            let p = a_key_packet(n, 5);
            sent_by_a.extend(p.clone());
            p
        },
        &mut log,
    );
    let to_b = log.to_b();
    assert_eq!(
        to_b.len(),
        sent_by_a.len(),
        "every packet relayed, none made"
    );
    for ((_, out), sent) in to_b.iter().zip(&sent_by_a) {
        assert_eq!(
            out[2..],
            sent[2..],
            "SSRC, sequence, timestamp, payload kept"
        );
        let expected_pt = if pt(sent) == 101 { 96 } else { 0 };
        assert_eq!(pt(out), expected_pt);
    }
    assert_eq!(
        log.digits(),
        vec![(LegId::A, DtmfDigit::D5, DtmfSource::Rfc4733)]
    );
    assert!(log.infos().is_empty());
    assert_eq!(s.stats(LegId::B).dtmf_generated, 0);
}

#[test]
fn rfc4733_to_info_sends_one_info_at_the_digit_end_and_no_event_packets() {
    let t0 = Instant::now();
    let mut s = session(DtmfMode::Rfc4733, DtmfMode::Info, G711Law::Mu, t0);
    let mut log = Log::default();
    drive(&mut s, t0, 40, |n| a_key_packet(n, 11), &mut log);
    let infos = log.infos();
    assert_eq!(infos.len(), 1, "one INFO per digit, not per end packet");
    let (leg, event) = infos[0];
    assert_eq!(leg, LegId::B);
    assert_eq!(event.digit, DtmfDigit::Pound);
    assert_eq!(event.duration_ms, 160);
    assert_eq!(event.source, DtmfSource::Rfc4733);
    let info_at = log
        .actions
        .iter()
        .find(|(_, a)| matches!(a, RelayAction::SendInfo { .. }))
        .map(|(t, _)| *t);
    assert_eq!(info_at, Some(t0 + ms(18 * 20)), "at the first end packet");
    let to_b = log.to_b();
    assert!(
        to_b.iter().all(|(_, p)| pt(p) == 0),
        "no telephone-event reaches the INFO leg"
    );
    assert_eq!(to_b.len(), 40 - 11, "the audio is relayed");
    assert_gapless(&to_b);
    assert_eq!(
        log.digits(),
        vec![(LegId::A, DtmfDigit::Pound, DtmfSource::Rfc4733)]
    );
}

/// Decodes the G.711 payloads of `packets` (all audio) in order, as one signal.
fn decode_all(packets: &[(Instant, Vec<u8>)], law: G711Law) -> Vec<i16> {
    let mut pcm = Vec::new();
    for (_, p) in packets {
        let mut frame = vec![0i16; p.len() - 12];
        law.decode(&p[12..], &mut frame).expect("decode");
        pcm.extend(frame);
    }
    pcm
}

/// Goertzel power of `hz` in `samples` at 8 kHz, normalised by the block length.
fn goertzel(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

#[test]
fn rfc4733_to_inband_plays_the_digit_as_tones_in_place_of_the_audio() {
    let t0 = Instant::now();
    // B is PCMA: the tones are made in B's law.
    let mut s = session(DtmfMode::Rfc4733, DtmfMode::Inband, G711Law::A, t0);
    let mut log = Log::default();
    drive(&mut s, t0, 60, |n| a_key_packet(n, 9), &mut log);
    let to_b = log.to_b();
    assert!(to_b.iter().all(|(_, p)| pt(p) == 8), "only PCMA reaches B");
    assert!(to_b.iter().all(|(_, p)| ssrc(p) == A_SSRC), "in A's stream");
    assert_gapless(&to_b);
    let made = s.stats(LegId::B).dtmf_generated;
    // 160 ms of tone and 60 ms of pause: 11 frames of 20 ms.
    assert_eq!(made, 11);

    // The frames made: from the end of the key (step 18) on, 20 ms apart.
    let start = to_b
        .iter()
        .position(|(t, _)| *t == t0 + ms(18 * 20))
        .expect("tones start at the digit's end");
    let tones = &to_b[start..start + 11];
    for (i, (t, p)) in tones.iter().enumerate() {
        assert_eq!(*t, t0 + ms(18 * 20 + 20 * i as u64), "paced every 20 ms");
        if i > 0 {
            assert_eq!(ts(p), ts(&tones[i - 1].1).wrapping_add(160));
        }
    }
    let pcm = decode_all(&tones[..8], G711Law::A);
    let (low, high) = DtmfDigit::D9.frequencies();
    let power = |hz| goertzel(&pcm, hz);
    let tone = power(low).min(power(high));
    for other in [697.0, 770.0, 941.0, 1209.0, 1336.0, 1633.0] {
        assert!(
            tone > 100.0 * power(other),
            "{other} Hz is far below the key's pair"
        );
    }
    // A Q.24 detector hears exactly that key once, in the tones and the pause.
    let mut detector = InBandDetector::default();
    let mut heard = detector.push(&decode_all(tones, G711Law::A), t0);
    heard.extend(detector.finish());
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].digit, DtmfDigit::D9);
    assert!(heard[0].duration_ms >= 140, "{}", heard[0].duration_ms);
    let pause = decode_all(&tones[8..], G711Law::A);
    assert!(pause.iter().all(|x| x.abs() < 16), "silence after the tone");

    // Afterwards A's audio is relayed again, gapless after the frames made.
    let after = &to_b[start + 11..];
    assert!(!after.is_empty());
    assert!(
        after
            .iter()
            .all(|(_, p)| p[12..] == [G711Law::Mu.transcode_sample(G711Law::A, 0xFF); 160])
    );
    assert_eq!(
        log.digits(),
        vec![(LegId::A, DtmfDigit::D9, DtmfSource::Rfc4733)]
    );
}

#[test]
fn info_to_rfc4733_sends_telephone_events_in_the_audio_stream_to_the_other_leg() {
    let t0 = Instant::now();
    let mut s = session(DtmfMode::Info, DtmfMode::Rfc4733, G711Law::Mu, t0);
    let mut log = Log::default();
    drive(&mut s, t0, 5, |n| Some(a_audio(n, None)), &mut log);
    let at = t0 + ms(5 * 20);
    let info = DtmfEvent {
        digit: DtmfDigit::D7,
        duration_ms: 200,
        source: DtmfSource::SipInfo,
        started_at: at,
    };
    log.take(at, s.on_info_digit(LegId::A, info, at));
    drive(&mut s, at, 20, |n| Some(a_audio(n + 5, None)), &mut log);
    poll_until(&mut s, at + Duration::from_secs(2), &mut log);

    assert_eq!(
        log.digits(),
        vec![(LegId::A, DtmfDigit::D7, DtmfSource::SipInfo)]
    );
    assert!(log.infos().is_empty());
    let to_b = log.to_b();
    assert!(to_b.iter().all(|(_, p)| ssrc(p) == A_SSRC), "A's SSRC");
    let mut seqs: Vec<u16> = to_b.iter().map(|(_, p)| seq(p)).collect();
    assert_eq!(
        seqs.len(),
        25 + to_b.iter().filter(|(_, p)| pt(p) == 96).count()
    );
    seqs.dedup();
    assert_eq!(
        seqs,
        (0..to_b.len() as u16).collect::<Vec<_>>(),
        "one gapless sequence"
    );

    let events: Vec<_> = to_b.iter().filter(|(_, p)| pt(p) == 96).collect();
    assert!(events.len() >= 5, "start, updates, three ends");
    assert!(events[0].1[1] & 0x80 != 0, "marker on the first");
    assert!(events[1..].iter().all(|(_, p)| p[1] & 0x80 == 0));
    let event_ts = ts(&events[0].1);
    assert!(
        events.iter().all(|(_, p)| ts(p) == event_ts),
        "one timestamp"
    );
    // The event starts where A's audio stream stood: its last packet's timestamp (step 4)
    // plus 20 ms.
    assert_eq!(event_ts, 4 * 160 + 160);
    assert_eq!(events[0].0, at);
    let ends: Vec<_> = events
        .iter()
        .map(|(_, p)| TelephoneEvent::parse(&p[12..]).expect("event"))
        .filter(|e| e.end)
        .collect();
    assert_eq!(ends.len(), 3);
    assert!(ends.iter().all(|e| e.duration == 1600 && e.event == 7));

    // B's receiver makes one 200 ms 7 of them.
    let mut rx = TelephoneEventReceiver::default();
    let mut got = Vec::new();
    for (t, p) in &events {
        got.extend(
            rx.on_packet(ts(p), seq(p), p[1] & 0x80 != 0, &p[12..], *t)
                .expect("event"),
        );
    }
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].digit, got[0].duration_ms), (DtmfDigit::D7, 200));
}

#[test]
fn inband_to_rfc4733_detects_the_tones_and_sends_telephone_events() {
    let t0 = Instant::now();
    let mut s = session(DtmfMode::Inband, DtmfMode::Rfc4733, G711Law::Mu, t0);
    let mut tones = crate::dtmf::InBandGenerator::new();
    tones.push_tone(ToneSpec::digit(DtmfDigit::D3, 0, 200));
    tones.push_digit(DtmfDigit::D3, 120, 400);
    let signal = tones.drain_all();
    let mut log = Log::default();
    drive(
        &mut s,
        t0,
        60,
        |n| {
            let at = usize::from(n) * 160;
            let frame = signal.get(at..at + 160);
            Some(a_audio(n, frame))
        },
        &mut log,
    );
    poll_until(&mut s, t0 + Duration::from_secs(3), &mut log);
    assert_eq!(
        log.digits(),
        vec![(LegId::A, DtmfDigit::D3, DtmfSource::InBand)]
    );
    let to_b = log.to_b();
    let events: Vec<_> = to_b.iter().filter(|(_, p)| pt(p) == 96).collect();
    assert!(!events.is_empty(), "telephone-events made for B");
    let mut rx = TelephoneEventReceiver::default();
    let mut got = Vec::new();
    for (t, p) in &events {
        assert_eq!(ssrc(p), A_SSRC);
        got.extend(
            rx.on_packet(ts(p), seq(p), false, &p[12..], *t)
                .expect("event"),
        );
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].digit, DtmfDigit::D3);
    assert!(
        (100..=140).contains(&got[0].duration_ms),
        "{}",
        got[0].duration_ms
    );
    assert_gapless(&to_b);
}

#[test]
fn tones_on_an_rfc4733_leg_are_not_searched_for() {
    let t0 = Instant::now();
    let mut s = session(DtmfMode::Rfc4733, DtmfMode::Rfc4733, G711Law::Mu, t0);
    let mut tones = crate::dtmf::InBandGenerator::new();
    tones.push_digit(DtmfDigit::D3, 200, 400);
    let signal = tones.drain_all();
    let mut log = Log::default();
    drive(
        &mut s,
        t0,
        40,
        |n| {
            let at = usize::from(n) * 160;
            Some(a_audio(n, signal.get(at..at + 160)))
        },
        &mut log,
    );
    assert!(log.digits().is_empty());
    assert_eq!(log.to_b().len(), 40, "the audio, tones and all, relayed");
}

#[test]
fn info_to_info_and_to_an_rfc4733_leg_without_telephone_event_falls_back_to_tones() {
    let t0 = Instant::now();
    let event = DtmfEvent {
        digit: DtmfDigit::Star,
        duration_ms: 100,
        source: DtmfSource::SipInfo,
        started_at: t0,
    };
    let mut s = session(DtmfMode::Info, DtmfMode::Info, G711Law::Mu, t0);
    let actions = s.on_info_digit(LegId::B, event, t0);
    assert!(matches!(
        actions.as_slice(),
        [RelayAction::Dtmf { leg: LegId::B, .. }, RelayAction::SendInfo { leg: LegId::A, event: e }]
            if e.digit == DtmfDigit::Star
    ));

    let mut s = RelaySession::new(
        RelayConfig::default(),
        leg(10000, A_SDP, Codec::pcmu(), 0, None),
        LegConfig {
            dtmf_mode: DtmfMode::Info,
            ..leg(10002, B_SDP, Codec::pcmu(), 0, Some(101))
        },
        t0,
    );
    let mut log = Log::default();
    log.take(t0, s.on_info_digit(LegId::B, event, t0));
    poll_until(&mut s, t0 + Duration::from_secs(1), &mut log);
    let to_a: Vec<_> = log
        .actions
        .iter()
        .filter_map(|(_, a)| match a {
            RelayAction::SendRtp {
                from_leg: LegId::A,
                bytes,
                ..
            } => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    // 100 ms of tone, 60 ms of pause.
    assert_eq!(to_a.len(), 8);
    assert!(to_a.iter().all(|p| pt(p) == 0), "tones as PCMU audio");
    let mut pcm = Vec::new();
    for p in &to_a {
        let mut frame = [0i16; 160];
        G711Law::Mu.decode(&p[12..], &mut frame).expect("decode");
        pcm.extend(frame);
    }
    let mut detector = InBandDetector::default();
    let mut heard = detector.push(&pcm, t0);
    heard.extend(detector.finish());
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].digit, DtmfDigit::Star);
}

proptest::proptest! {
    /// Whatever mixes of modes, packets, INFO digits and polls: no panic, the sequence numbers
    /// to each leg never repeat a packet's, and the relay only makes packets in the form the
    /// receiving leg asked for.
    #[test]
    fn random_traffic_between_any_modes_never_panics_or_breaks_the_form(
        modes in (0usize..3, 0usize..3),
        steps in proptest::collection::vec(
            (0u8..5, proptest::bool::ANY, 0u8..16, 0u16..600, 1u64..60),
            0..150,
        )
    ) {
        let t0 = Instant::now();
        let (a, b) = (DtmfMode::ALL[modes.0], DtmfMode::ALL[modes.1]);
        let mut s = session(a, b, G711Law::A, t0);
        let mut now = t0;
        let mut sent_seq = [0u16; 2];
        let mut log = Log::default();
        for (kind, on_a, code, duration, gap) in steps {
            now += ms(gap);
            let leg = if on_a { LegId::A } else { LegId::B };
            let (source, pt_audio, pt_event) = match leg {
                LegId::A => (addr(A_SDP), 0, 101),
                LegId::B => (addr(B_SDP), 8, 96),
            };
            let n = &mut sent_seq[leg.index()];
            *n = n.wrapping_add(1);
            let ts = u32::from(*n) * 160;
            let actions = match kind {
                0 | 1 => s.on_rtp(leg, source, &rtp(pt_audio, false, *n, ts, 7, &[0x55; 160]), now),
                2 => s.on_rtp(
                    leg,
                    source,
                    &rtp(pt_event, kind == 2, *n, ts / 800 * 800, 7, &key(code, duration % 3 == 0, duration)),
                    now,
                ),
                3 => {
                    let digit = DtmfDigit::from_event_code(code).unwrap_or(DtmfDigit::D1);
                    s.on_info_digit(
                        leg,
                        DtmfEvent { digit, duration_ms: u32::from(duration), source: DtmfSource::SipInfo, started_at: now },
                        now,
                    )
                }
                _ => s.poll(now),
            };
            log.take(now, actions);
            if let Some(d) = s.next_deadline().filter(|d| *d <= now) {
                log.take(d, s.poll(d));
            }
        }
        let mut seen = [std::collections::HashSet::new(), std::collections::HashSet::new()];
        for (_, action) in &log.actions {
            if let RelayAction::SendRtp { from_leg, bytes, .. } = action {
                proptest::prop_assert!(
                    seen[from_leg.index()].insert((ssrc(bytes), seq(bytes))),
                    "a sequence number sent twice to {:?}", from_leg
                );
                let (mode, te) = match from_leg {
                    LegId::A => (a, 101),
                    LegId::B => (b, 96),
                };
                if mode != DtmfMode::Rfc4733 {
                    proptest::prop_assert_ne!(pt(bytes), te, "telephone-events only to RFC 4733 legs");
                }
            }
            if let RelayAction::SendInfo { leg, .. } = action {
                let mode = if *leg == LegId::A { a } else { b };
                proptest::prop_assert_eq!(mode, DtmfMode::Info);
            }
        }
    }
}
