//! RFC 4733 payload, receiver and sender.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::dtmf::{
    DtmfDigit, DtmfSource, PayloadError, ReceiverConfig, SenderConfig, TelephoneEvent,
    TelephoneEventReceiver, TelephoneEventSender,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .encode()
}

#[test]
fn payload_parses_and_encodes() {
    let parsed = TelephoneEvent::parse(&[5, 0x8a, 0x05, 0x00]).expect("valid payload");
    assert_eq!(
        parsed,
        TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 1280
        }
    );
    assert_eq!(parsed.encode(), [5, 0x8a, 0x05, 0x00]);
    assert_eq!(parsed.digit(), Ok(DtmfDigit::D5));
    // The reserved R bit is ignored.
    let with_r = TelephoneEvent::parse(&[11, 0x40 | 0x0a, 0, 160]).expect("valid payload");
    assert!(!with_r.end);
    assert_eq!(with_r.volume, 10);
    assert_eq!(with_r.digit(), Ok(DtmfDigit::Pound));
}

#[test]
fn payload_errors_are_typed() {
    assert_eq!(TelephoneEvent::parse(&[]), Err(PayloadError::Short(0)));
    assert_eq!(
        TelephoneEvent::parse(&[1, 2, 3]),
        Err(PayloadError::Short(3))
    );
    let flash = TelephoneEvent::parse(&[16, 0, 0, 0]).expect("4 bytes");
    assert_eq!(flash.digit(), Err(PayloadError::NotDtmf(16)));
    let mut receiver = TelephoneEventReceiver::default();
    let now = Instant::now();
    assert_eq!(
        receiver.on_packet(1, 1, true, &[16, 0, 0, 0], now),
        Err(PayloadError::NotDtmf(16))
    );
    assert_eq!(
        receiver.on_packet(1, 1, true, &[16], now),
        Err(PayloadError::Short(1))
    );
    assert_eq!(receiver.in_progress(), None);
}

#[test]
fn redundant_end_packets_count_once() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::default();
    let ts = 48_000;
    assert!(
        rx.on_packet(ts, 1, true, &payload(5, false, 0), t0)
            .expect("ok")
            .is_empty()
    );
    assert_eq!(rx.in_progress(), Some(DtmfDigit::D5));
    for (i, d) in [400u16, 800, 1200].into_iter().enumerate() {
        let at = t0 + ms(50 * (i as u64 + 1));
        assert!(
            rx.on_packet(ts, 2 + i as u16, false, &payload(5, false, d), at)
                .expect("ok")
                .is_empty()
        );
    }
    let end = payload(5, true, 1280);
    let events = rx.on_packet(ts, 5, false, &end, t0 + ms(160)).expect("ok");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].digit, DtmfDigit::D5);
    assert_eq!(events[0].duration_ms, 160);
    assert_eq!(events[0].source, DtmfSource::Rfc4733);
    assert_eq!(events[0].started_at, t0);
    for seq in 6..8 {
        assert!(
            rx.on_packet(ts, seq, false, &end, t0 + ms(170))
                .expect("ok")
                .is_empty()
        );
    }
    assert_eq!(rx.poll(t0 + ms(1000)), None);
    assert_eq!(rx.next_deadline(), None);
}

#[test]
fn same_digit_with_new_timestamp_is_a_new_event() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::default();
    let mut events = Vec::new();
    for (k, ts) in [1000u32, 3000].into_iter().enumerate() {
        let base = t0 + ms(300 * k as u64);
        events.extend(
            rx.on_packet(ts, 0, true, &payload(5, false, 0), base)
                .expect("ok"),
        );
        for r in 0..3 {
            events.extend(
                rx.on_packet(ts, 0, false, &payload(5, true, 800), base + ms(100 + r))
                    .expect("ok"),
            );
        }
    }
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.digit == DtmfDigit::D5 && e.duration_ms == 100)
    );
    assert_eq!(events[1].started_at, t0 + ms(300));
}

#[test]
fn lost_end_packets_finish_after_the_timeout() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::new(ReceiverConfig {
        end_timeout: ms(200),
        ..ReceiverConfig::default()
    });
    rx.on_packet(7, 1, true, &payload(9, false, 0), t0)
        .expect("ok");
    rx.on_packet(7, 2, false, &payload(9, false, 400), t0 + ms(50))
        .expect("ok");
    assert_eq!(rx.next_deadline(), Some(t0 + ms(250)));
    assert_eq!(rx.poll(t0 + ms(249)), None);
    let event = rx.poll(t0 + ms(250)).expect("timed out");
    assert_eq!((event.digit, event.duration_ms), (DtmfDigit::D9, 50));
    // The end packets turning up late change nothing.
    assert!(
        rx.on_packet(7, 3, false, &payload(9, true, 800), t0 + ms(300))
            .expect("ok")
            .is_empty()
    );
    assert_eq!(rx.poll(t0 + ms(1000)), None);
}

#[test]
fn new_timestamp_ends_an_event_whose_end_was_lost() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::default();
    rx.on_packet(100, 1, true, &payload(1, false, 0), t0)
        .expect("ok");
    rx.on_packet(100, 2, false, &payload(1, false, 640), t0 + ms(80))
        .expect("ok");
    // Next key: only its end packet survives.
    let events = rx
        .on_packet(2000, 9, false, &payload(2, true, 960), t0 + ms(300))
        .expect("ok");
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].digit, events[0].duration_ms),
        (DtmfDigit::D1, 80)
    );
    assert_eq!(
        (events[1].digit, events[1].duration_ms),
        (DtmfDigit::D2, 120)
    );
    assert_eq!(events[1].started_at, t0 + ms(180));
}

#[test]
fn late_packets_of_an_earlier_event_are_ignored() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::default();
    rx.on_packet(5000, 1, true, &payload(3, true, 800), t0)
        .expect("ok");
    rx.on_packet(9000, 2, true, &payload(4, false, 0), t0 + ms(200))
        .expect("ok");
    assert!(
        rx.on_packet(5000, 1, false, &payload(3, false, 400), t0 + ms(210))
            .expect("ok")
            .is_empty()
    );
    assert_eq!(rx.in_progress(), Some(DtmfDigit::D4));
}

#[test]
fn timestamps_wrap_around() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::default();
    let first = rx
        .on_packet(u32::MAX - 10, 1, true, &payload(6, true, 800), t0)
        .expect("ok");
    let second = rx
        .on_packet(50, 2, true, &payload(6, true, 800), t0 + ms(300))
        .expect("ok");
    assert_eq!((first.len(), second.len()), (1, 1));
}

#[test]
fn duration_uses_the_clock_rate() {
    let t0 = Instant::now();
    let mut rx = TelephoneEventReceiver::new(ReceiverConfig {
        clock_rate: 16_000,
        ..ReceiverConfig::default()
    });
    let events = rx
        .on_packet(1, 1, true, &payload(0, true, 3200), t0 + ms(500))
        .expect("ok");
    assert_eq!(events[0].duration_ms, 200);
    assert_eq!(events[0].started_at, t0 + ms(300));
}

#[test]
fn sender_schedule_follows_rfc4733() {
    let packets =
        TelephoneEventSender::schedule(SenderConfig::default(), DtmfDigit::Pound, ms(200), 1234);
    let summary: Vec<_> = packets
        .iter()
        .map(|p| {
            (
                p.offset.as_millis(),
                p.marker,
                p.event.end,
                p.event.duration,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, true, false, 0),
            (50, false, false, 400),
            (100, false, false, 800),
            (150, false, false, 1200),
            (200, false, true, 1600),
            (220, false, true, 1600),
            (240, false, true, 1600),
        ]
    );
    assert!(
        packets
            .iter()
            .all(|p| p.timestamp == 1234 && p.event.event == 11 && p.event.volume == 10)
    );
}

#[test]
fn sender_paces_and_receiver_reports_once() {
    let t0 = Instant::now();
    let mut tx = TelephoneEventSender::new(SenderConfig::default(), DtmfDigit::D7, ms(120), 77, t0);
    let mut rx = TelephoneEventReceiver::default();
    assert_eq!(tx.next_deadline(), Some(t0));
    let mut events = Vec::new();
    let mut sent = 0;
    let mut now = t0;
    while !tx.is_done() {
        while let Some(packet) = tx.next_packet(now) {
            sent += 1;
            events.extend(
                rx.on_packet(
                    packet.timestamp,
                    sent,
                    packet.marker,
                    &packet.event.encode(),
                    now,
                )
                .expect("ok"),
            );
        }
        now = tx.next_deadline().unwrap_or(now);
    }
    assert_eq!(sent, 6); // start, 50, 100, end ×3
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].digit, events[0].duration_ms, events[0].started_at),
        (DtmfDigit::D7, 120, t0)
    );
}

#[test]
fn sender_clamps_long_events() {
    let packets =
        TelephoneEventSender::schedule(SenderConfig::default(), DtmfDigit::D1, ms(10_000), 0);
    assert_eq!(packets.last().map(|p| p.event.duration), Some(u16::MAX));
}

proptest! {
    #[test]
    fn receiver_never_panics_and_reports_a_timestamp_once(
        packets in proptest::collection::vec((0u32..8, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..8), 0u64..400), 0..64)
    ) {
        let t0 = Instant::now();
        let mut rx = TelephoneEventReceiver::default();
        let mut now = t0;
        let mut reported = 0usize;
        let mut timestamps = std::collections::HashSet::new();
        for (i, (ts, marker, bytes, step)) in packets.iter().enumerate() {
            now += ms(*step);
            reported += rx.poll(now).into_iter().count();
            if let Ok(events) = rx.on_packet(ts * 1000, i as u16, *marker, bytes, now) {
                reported += events.len();
            }
            timestamps.insert(ts);
        }
        reported += rx.poll(now + ms(10_000)).into_iter().count();
        prop_assert!(reported <= timestamps.len());
    }
}
