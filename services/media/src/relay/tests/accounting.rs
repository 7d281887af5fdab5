//! Timeouts, loss and jitter figures, malformed input, and proptests over random input.

use proptest::prelude::*;

use super::*;

#[test]
fn no_rtp_timeout_is_reported_once_and_not_while_on_hold() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let b = s.leg_config(LegId::B).clone();
    // B is held: it answered recvonly, so Switchboard's side of B is sendonly and B's
    // silence is expected.
    s.update_leg(
        LegId::B,
        LegConfig {
            direction: Direction::SendOnly,
            ..b
        },
        t0,
    );
    let timeout = RelayConfig::default().no_rtp_timeout;
    s.on_rtp(
        LegId::A,
        addr(A_SDP),
        &audio(1),
        t0 + Duration::from_secs(10),
    );
    assert_eq!(
        s.next_deadline(),
        Some(t0 + Duration::from_secs(10) + timeout)
    );
    assert!(s.poll(t0 + Duration::from_secs(39)).is_empty());
    let at = t0 + Duration::from_secs(40);
    assert_eq!(
        s.poll(at),
        vec![RelayAction::MediaTimeout { leg: LegId::A }]
    );
    assert!(s.poll(at + Duration::from_secs(60)).is_empty());
    assert_eq!(s.next_deadline(), None);
    // RTP again re-arms it.
    s.on_rtp(LegId::A, addr(A_SDP), &audio(2), at + ms(1));
    assert_eq!(s.next_deadline(), Some(at + ms(1) + timeout));
}

#[test]
fn loss_and_jitter_of_a_stream_with_known_gaps_and_jitter() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    // 200 packets from sequence 65436 (wrapping past 65535), every 20th lost; arrivals
    // alternate on time and 10 ms late, so every transit difference is 80 units.
    let mut sent_count = 0;
    for i in 0..200u32 {
        let seq = (65436 + i) as u16;
        if i % 20 == 7 {
            continue;
        }
        let late = if i % 2 == 1 { 10 } else { 0 };
        let at = t0 + ms(20 * u64::from(i) + late);
        let p = rtp(0, false, seq, 1000 + i * 160, 0x42, &[0xFF; 160]);
        s.on_rtp(LegId::A, addr(A_SDP), &p, at);
        sent_count += 1;
    }
    let a = s.stats(LegId::A);
    assert_eq!(a.packets_in, sent_count);
    assert_eq!(a.expected, 200);
    assert_eq!(a.lost, 10);
    assert!((a.loss_fraction() - 0.05).abs() < 1e-9);
    // Gaps make some differences 0 or 160; the estimate stays near 80 units (10 ms).
    assert!((a.jitter - 80.0).abs() < 8.0, "jitter {}", a.jitter);
    assert!((a.jitter_ms - a.jitter / 8.0).abs() < 1e-9);

    // A steady stream has no jitter.
    let mut s = pcmu_session(t0);
    for i in 0..50u32 {
        let p = rtp(0, false, i as u16, i * 160, 0x43, &[0xFF; 160]);
        s.on_rtp(LegId::B, addr(B_SDP), &p, t0 + ms(20 * u64::from(i)));
    }
    let b = s.stats(LegId::B);
    assert_eq!((b.expected, b.lost, b.jitter), (50, 0, 0.0));
}

#[test]
fn malformed_packets_are_counted_and_dropped() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let mut bad_version = audio(1);
    bad_version[0] = 0x40;
    let mut csrc_missing = audio(1)[..12].to_vec();
    csrc_missing[0] = 0x83;
    let mut bad_padding = audio(1);
    bad_padding[0] |= 0x20;
    let last = bad_padding.len() - 1;
    bad_padding[last] = 200;
    // A one-byte extension whose element claims 16 bytes in a 4-byte block: rtp 0.13 alone
    // would read past the block.
    let mut bad_extension = vec![0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1];
    bad_extension.extend_from_slice(&[0x1F, 0, 0, 0]);
    let mut truncated_extension = vec![0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 9];
    truncated_extension.extend_from_slice(&[0x10, 0]);
    for p in [
        &[][..],
        &[0x80, 0, 0][..],
        &bad_version[..],
        &csrc_missing[..],
        &bad_padding[..],
        &bad_extension[..],
        &truncated_extension[..],
    ] {
        assert!(s.on_rtp(LegId::A, addr(A_SDP), p, t0).is_empty());
    }
    let a = s.stats(LegId::A);
    assert_eq!((a.malformed, a.packets_in), (7, 0));
}

fn arb_source() -> impl Strategy<Value = SocketAddr> {
    prop::sample::select(vec![addr(A_SDP), addr(A_NAT), addr(STRAY), addr(B_SDP)])
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        datagrams in prop::collection::vec(
            (any::<bool>(), any::<bool>(), arb_source(), prop::collection::vec(any::<u8>(), 0..80)),
            0..60,
        )
    ) {
        let t0 = Instant::now();
        let mut s = pcmu_session(t0);
        for (i, (on_a, rtcp_socket, source, mut bytes)) in datagrams.into_iter().enumerate() {
            let leg = if on_a { LegId::A } else { LegId::B };
            let now = t0 + ms(7 * i as u64);
            // Half the time make it look like version 2 so the deeper checks are reached.
            if i % 2 == 0 && let Some(b) = bytes.first_mut() {
                *b = 0x80 | (*b & 0x3F);
            }
            if rtcp_socket {
                s.on_rtcp(leg, source, &bytes, now);
            } else {
                s.on_rtp(leg, source, &bytes, now);
            }
            s.poll(now);
        }
    }

    #[test]
    fn random_packet_sequences_never_panic_and_every_packet_is_accounted_for(
        packets in prop::collection::vec(
            (any::<bool>(), arb_source(), prop::sample::select(vec![0u8, 8, 13, 96, 101, 127]),
             any::<bool>(), any::<u16>(), any::<u32>(), 0u32..3, 0u64..400,
             prop::collection::vec(any::<u8>(), 0..8)),
            0..120,
        )
    ) {
        let t0 = Instant::now();
        let mut s = RelaySession::new(
            RelayConfig::default(),
            leg(10000, A_SDP, Codec::pcmu(), 0, Some(101)),
            leg(10002, B_SDP, Codec::pcma(), 8, Some(96)),
            t0,
        );
        let mut now = t0;
        let mut fed = [0u64; 2];
        for (on_a, source, pt, marker, seq, ts, ssrc, gap, payload) in packets {
            now += ms(gap);
            let leg = if on_a { LegId::A } else { LegId::B };
            fed[leg.index()] += 1;
            s.on_rtp(leg, source, &rtp(pt, marker, seq, ts, ssrc, &payload), now);
            if gap > 300 {
                s.poll(now);
            }
        }
        for leg in [LegId::A, LegId::B] {
            let st = s.stats(leg);
            prop_assert_eq!(st.packets_in + st.foreign + st.malformed, fed[leg.index()]);
            prop_assert_eq!(st.malformed, 0);
            prop_assert!(st.lost <= st.expected);
            let out = s.stats(leg.other()).packets_out;
            prop_assert_eq!(out + st.dropped, st.packets_in);
        }
    }
}

/// Why `packet::parse_rtp` walks extension blocks itself: the `rtp` crate alone panics on an
/// element that overruns a block at the end of the datagram. If this starts failing, rtp has
/// fixed it and the walk could go.
#[test]
fn the_rtp_crate_alone_panics_on_an_overlong_extension_element() {
    use webrtc_util::marshal::Unmarshal;
    let mut bad = vec![0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1];
    bad.extend_from_slice(&[0x1F, 0, 0, 0]);
    let outcome = std::panic::catch_unwind(|| {
        let mut buf = &bad[..];
        rtp::packet::Packet::unmarshal(&mut buf).is_ok()
    });
    assert!(outcome.is_err(), "rtp 0.13 no longer panics here");
    assert!(crate::relay::packet::parse_rtp(&bad).is_err());
}
