//! What is relayed where: byte preservation, latching, transcoding, telephone-events, hold,
//! RTCP and re-INVITE updates.

use super::*;
use crate::codec::{alaw_to_ulaw, ulaw_to_alaw};
use crate::dtmf::{DtmfDigit, TelephoneEvent};

#[test]
fn relay_preserves_ssrc_sequence_timestamp_and_payload() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let payload: Vec<u8> = (0..160u16).map(|i| i as u8).collect();
    let packet = rtp(0, true, 4242, 0xDEAD_BEEF, 0x1234_5678, &payload);
    let out = sent(&s.on_rtp(LegId::A, addr(A_SDP), &packet, t0));
    assert_eq!(out, vec![(LegId::B, addr(B_SDP), packet.clone())]);

    // Through the rtp crate, with CSRCs, a one-byte extension and padding: all kept.
    use webrtc_util::marshal::Marshal;
    let mut header = rtp::header::Header {
        version: 2,
        padding: true,
        payload_type: 0,
        sequence_number: 7,
        timestamp: 1120,
        ssrc: 99,
        csrc: vec![1, 2],
        ..Default::default()
    };
    header
        .set_extension(3, bytes::Bytes::from_static(&[9, 9]))
        .expect("extension");
    let packet = rtp::packet::Packet {
        header,
        payload: bytes::Bytes::from(payload.clone()),
    }
    .marshal()
    .expect("marshal")
    .to_vec();
    let out = sent(&s.on_rtp(LegId::B, addr(B_SDP), &packet, t0 + ms(20)));
    assert_eq!(out, vec![(LegId::A, addr(A_SDP), packet)]);
    assert_eq!(s.stats(LegId::A).packets_out, 1);
    assert_eq!(s.stats(LegId::B).packets_in, 1);
}

#[test]
fn latches_to_the_real_source_when_sdp_gives_a_private_address() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    // Before A has sent anything, A's media goes to its SDP address.
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(1), t0);
    assert_eq!(dest_of(&to_a), Some(addr(A_SDP)));

    let mut latched = Vec::new();
    for i in 0..3u16 {
        let actions = s.on_rtp(LegId::A, addr(A_NAT), &audio(i), t0 + ms(20 * u64::from(i)));
        assert_eq!(sent(&actions).len(), 1, "learning packets are relayed");
        latched.extend(
            actions
                .into_iter()
                .filter(|a| matches!(a, RelayAction::Latched { .. })),
        );
    }
    assert_eq!(
        latched,
        vec![RelayAction::Latched {
            leg: LegId::A,
            addr: addr(A_NAT)
        }]
    );
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(2), t0 + ms(60));
    assert_eq!(dest_of(&to_a), Some(addr(A_NAT)));
    assert_eq!(s.stats(LegId::A).latched_rtp, Some(addr(A_NAT)));
}

#[test]
fn stray_single_packets_from_another_source_do_not_hijack() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    latch_a(&mut s, t0);
    // While A streams, a stray source sends: not relayed, not latched.
    let actions = s.on_rtp(LegId::A, addr(STRAY), &audio(50), t0 + ms(50));
    assert!(actions.is_empty());
    // Even after A has been silent long enough, single stray packets between A's packets
    // (and two in a row) never make three in a row.
    let later = t0 + Duration::from_secs(5);
    for k in 0..2u64 {
        assert!(
            s.on_rtp(LegId::A, addr(STRAY), &audio(60), later + ms(k))
                .is_empty()
        );
    }
    s.on_rtp(LegId::A, addr(A_NAT), &audio(3), later + ms(10));
    assert!(
        s.on_rtp(LegId::A, addr(STRAY), &audio(61), later + ms(11))
            .is_empty()
    );
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(1), later + ms(20));
    assert_eq!(dest_of(&to_a), Some(addr(A_NAT)));
    let stats = s.stats(LegId::A);
    assert_eq!(stats.foreign, 4);
    assert_eq!(stats.latched_rtp, Some(addr(A_NAT)));
}

#[test]
fn a_new_source_relatches_only_after_the_latched_one_falls_silent() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    latch_a(&mut s, t0);
    let moved = addr("203.0.113.5:42000");
    // A steady new source while the latched one is live (within relatch_after): refused.
    for i in 0..5u16 {
        assert!(
            s.on_rtp(LegId::A, moved, &audio(10 + i), t0 + ms(41 + u64::from(i)))
                .is_empty()
        );
    }
    // The NAT rebinds: the old source falls silent, the new one keeps sending.
    let t1 = t0 + ms(40) + RelayConfig::default().relatch_after;
    let mut latched = false;
    for i in 0..3u16 {
        let actions = s.on_rtp(LegId::A, moved, &audio(20 + i), t1 + ms(20 * u64::from(i)));
        latched |= actions.contains(&RelayAction::Latched {
            leg: LegId::A,
            addr: moved,
        });
        if i == 2 {
            assert_eq!(sent(&actions).len(), 1, "the latching packet is relayed");
        }
    }
    assert!(latched);
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(1), t1 + ms(100));
    assert_eq!(dest_of(&to_a), Some(moved));
}

#[test]
fn pcmu_to_pcma_transcoding_is_exact_against_the_codec_tables() {
    let t0 = Instant::now();
    let mut s = RelaySession::new(
        RelayConfig::default(),
        leg(10000, A_SDP, Codec::pcmu(), 0, None),
        leg(10002, B_SDP, Codec::pcma(), 8, None),
        t0,
    );
    let codes: Vec<u8> = (0..=255u8).collect();
    let packet = rtp(0, true, 1, 160, 0xABCD, &codes);
    let out = sent(&s.on_rtp(LegId::A, addr(A_SDP), &packet, t0));
    let (from, to, bytes) = &out[0];
    assert_eq!((*from, *to), (LegId::B, addr(B_SDP)));
    let expected: Vec<u8> = codes.iter().map(|&c| ulaw_to_alaw(c)).collect();
    assert_eq!(bytes[..12], rtp(8, true, 1, 160, 0xABCD, &[])[..]);
    assert_eq!(bytes[12..], expected[..]);

    let packet = rtp(8, false, 9, 320, 0x7777, &codes);
    let out = sent(&s.on_rtp(LegId::B, addr(B_SDP), &packet, t0));
    let expected: Vec<u8> = codes.iter().map(|&c| alaw_to_ulaw(c)).collect();
    assert_eq!(out[0].2[..12], rtp(0, false, 9, 320, 0x7777, &[])[..]);
    assert_eq!(out[0].2[12..], expected[..]);
}

#[test]
fn codecs_that_cannot_be_transcoded_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut s = RelaySession::new(
        RelayConfig::default(),
        leg(10000, A_SDP, Codec::pcmu(), 0, None),
        leg(
            10002,
            B_SDP,
            Codec::new(crate::sdp::Encoding::G729, 8000),
            18,
            None,
        ),
        t0,
    );
    assert!(s.on_rtp(LegId::A, addr(A_SDP), &audio(1), t0).is_empty());
    assert_eq!(s.stats(LegId::A).dropped, 1);
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

#[test]
fn telephone_events_get_the_other_legs_pt_and_each_key_is_reported_once() {
    let t0 = Instant::now();
    let mut s = RelaySession::new(
        RelayConfig::default(),
        leg(10000, A_SDP, Codec::pcmu(), 0, Some(101)),
        leg(10002, B_SDP, Codec::pcma(), 8, Some(96)),
        t0,
    );
    let ts = 8000;
    let packets = [
        rtp(101, true, 10, ts, 5, &key(5, false, 400)),
        rtp(101, false, 11, ts, 5, &key(5, false, 800)),
        rtp(101, false, 12, ts, 5, &key(5, true, 960)),
        rtp(101, false, 13, ts, 5, &key(5, true, 960)),
        rtp(101, false, 14, ts, 5, &key(5, true, 960)),
    ];
    let mut digits = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let actions = s.on_rtp(LegId::A, addr(A_SDP), p, t0 + ms(50 * i as u64));
        let out = sent(&actions);
        assert_eq!(out.len(), 1, "every event packet is relayed");
        assert_eq!(out[0].2[1], 96 | (p[1] & 0x80), "PT remapped, marker kept");
        assert_eq!(
            out[0].2[12..],
            p[12..],
            "event payload untouched by transcoding"
        );
        for a in actions {
            if let RelayAction::Dtmf { leg, event } = a {
                digits.push((leg, event.digit, event.duration_ms));
            }
        }
    }
    assert_eq!(digits, vec![(LegId::A, DtmfDigit::D5, 120)]);
    assert!(s.poll(t0 + Duration::from_secs(1)).is_empty());
}

#[test]
fn a_lost_end_packet_still_gives_the_digit_through_poll() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    s.on_rtp(
        LegId::B,
        addr(B_SDP),
        &rtp(101, true, 1, 0, 5, &key(11, false, 400)),
        t0,
    );
    let deadline = s.next_deadline().expect("end timeout pending");
    assert!(deadline <= t0 + ms(200));
    let actions = s.poll(deadline);
    assert!(matches!(
        actions.as_slice(),
        [RelayAction::Dtmf { leg: LegId::B, event }] if event.digit == DtmfDigit::Pound
    ));
}

#[test]
fn hold_stops_forwarding_in_that_direction_only() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let b = s.leg_config(LegId::B).clone();
    // B answered a hold re-offer with recvonly: Switchboard sends nothing to B.
    s.update_leg(
        LegId::B,
        LegConfig {
            direction: Direction::RecvOnly,
            ..b.clone()
        },
        t0,
    );
    assert!(s.on_rtp(LegId::A, addr(A_SDP), &audio(1), t0).is_empty());
    assert_eq!(
        dest_of(&s.on_rtp(LegId::B, addr(B_SDP), &audio(1), t0)),
        Some(addr(A_SDP))
    );
    // The RFC 2543 hold (c=0.0.0.0) likewise.
    s.update_leg(
        LegId::B,
        LegConfig {
            remote_rtp: RemoteEndpoint::OnHold,
            ..b.clone()
        },
        t0,
    );
    assert!(
        s.on_rtp(LegId::A, addr(A_SDP), &audio(2), t0 + ms(20))
            .is_empty()
    );
    // Resume: forwarding again, counters kept.
    s.update_leg(LegId::B, b, t0 + ms(40));
    assert_eq!(
        dest_of(&s.on_rtp(LegId::A, addr(A_SDP), &audio(3), t0 + ms(40))),
        Some(addr(B_SDP))
    );
    let a = s.stats(LegId::A);
    assert_eq!((a.packets_in, a.dropped), (3, 2));
    assert_eq!(s.stats(LegId::B).packets_out, 1);
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

#[test]
fn rtcp_is_forwarded_to_the_sdp_then_the_latched_rtcp_address() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let rr = rtcp_rr(0x1111);
    let actions = s.on_rtcp(LegId::B, addr(B_SDP_RTCP), &rr, t0);
    assert_eq!(
        actions,
        vec![RelayAction::SendRtcp {
            from_leg: LegId::A,
            to: addr(A_SDP_RTCP),
            bytes: rr.clone()
        }]
    );
    // A sends from behind NAT: RTP latches, then its RTCP source latches too.
    latch_a(&mut s, t0);
    let a_rtcp = addr("203.0.113.5:31001");
    let to_b = s.on_rtcp(LegId::A, a_rtcp, &rr, t0 + ms(60));
    assert!(
        matches!(to_b.as_slice(), [RelayAction::SendRtcp { to, .. }] if *to == addr(B_SDP_RTCP))
    );
    let to_a = s.on_rtcp(LegId::B, addr(B_SDP_RTCP), &rr, t0 + ms(70));
    assert!(matches!(to_a.as_slice(), [RelayAction::SendRtcp { to, .. }] if *to == a_rtcp));
    // RTCP from another host than the latched RTP source is refused; garbage is counted.
    assert!(
        s.on_rtcp(LegId::A, addr(STRAY), &rr, t0 + ms(80))
            .is_empty()
    );
    assert!(
        s.on_rtcp(LegId::A, a_rtcp, &[0x80, 0, 0], t0 + ms(80))
            .is_empty()
    );
    assert!(
        s.on_rtcp(LegId::A, a_rtcp, &audio(1), t0 + ms(80))
            .is_empty()
    );
    let a = s.stats(LegId::A);
    assert_eq!(
        (a.rtcp_in, a.rtcp_out, a.foreign, a.malformed),
        (1, 2, 1, 2)
    );
}

#[test]
fn update_leg_keeps_counters_and_a_new_address_drops_the_latch() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    latch_a(&mut s, t0);
    let a = s.leg_config(LegId::A).clone();
    let moved = addr("203.0.113.77:5000");
    s.update_leg(
        LegId::A,
        LegConfig {
            remote_rtp: RemoteEndpoint::Addr(moved),
            ..a
        },
        t0 + ms(100),
    );
    let stats = s.stats(LegId::A);
    assert_eq!((stats.packets_in, stats.latched_rtp), (3, None));
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(1), t0 + ms(120));
    assert_eq!(dest_of(&to_a), Some(moved));
}

#[test]
fn rtcp_multiplexed_on_the_rtp_port_is_relayed_as_rtcp() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    let rr = rtcp_rr(0x2222);
    let actions = s.on_rtp(LegId::B, addr(B_SDP), &rr, t0);
    assert_eq!(
        actions,
        vec![RelayAction::SendRtcp {
            from_leg: LegId::A,
            to: addr(A_SDP_RTCP),
            bytes: rr
        }]
    );
    let b = s.stats(LegId::B);
    assert_eq!((b.packets_in, b.rtcp_in, b.expected), (0, 1, 0));
}

/// From SDP to relay: an offer from a phone behind NAT (private `c=`, `a=rtcp`) negotiated
/// by the sdp core, its stream made a leg, and the phone's real source latched.
#[test]
fn a_leg_from_a_negotiated_offer_with_a_private_address_latches_its_nat_source() {
    use crate::sdp::{LocalMediaConfig, SessionDescription, negotiate_answer};
    let offer = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n\
                 t=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                 a=rtcp:4009\r\na=sendrecv\r\n";
    let offer = SessionDescription::parse(offer.as_bytes()).expect("offer");
    let config = LocalMediaConfig::new("198.51.100.1".parse().expect("ip"), vec![20000], 7);
    let answer = negotiate_answer(&offer, &config).expect("answer");
    let stream = answer.accepted().next().expect("audio accepted");
    let a = LegConfig::from_stream(stream);
    assert_eq!((a.rtp_port, a.rtcp_port), (20000, 20001));
    assert_eq!(
        a.remote_rtcp,
        RemoteEndpoint::Addr(addr("192.168.1.10:4009"))
    );
    assert_eq!((a.payload_type, a.telephone_event), (8, Some(101)));

    let t0 = Instant::now();
    let b = leg(20002, B_SDP, Codec::pcmu(), 0, Some(101));
    let mut s = RelaySession::new(RelayConfig::default(), a, b, t0);
    for i in 0..3u16 {
        let p = rtp(8, false, i, u32::from(i) * 160, 9, &[0xD5; 160]);
        let out = sent(&s.on_rtp(LegId::A, addr(A_NAT), &p, t0 + ms(20 * u64::from(i))));
        assert_eq!(out[0].2[1], 0, "PCMA relayed to the PCMU leg as PT 0");
        assert!(out[0].2[12..].iter().all(|&c| c == alaw_to_ulaw(0xD5)));
    }
    let to_a = s.on_rtp(LegId::B, addr(B_SDP), &audio(1), t0 + ms(60));
    assert_eq!(dest_of(&to_a), Some(addr(A_NAT)));
}

#[test]
fn a_new_ssrc_restarts_dtmf_and_sequence_tracking_without_losing_totals() {
    let t0 = Instant::now();
    let mut s = pcmu_session(t0);
    // Key 1 in progress under SSRC 1, then the phone restarts its stream (SSRC 2) and sends
    // key 2 with an older timestamp: it must still be reported.
    s.on_rtp(
        LegId::A,
        addr(A_SDP),
        &rtp(101, true, 100, 50_000, 1, &key(1, true, 800)),
        t0,
    );
    let actions = s.on_rtp(
        LegId::A,
        addr(A_SDP),
        &rtp(101, true, 7, 160, 2, &key(2, true, 800)),
        t0 + ms(500),
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        RelayAction::Dtmf { event, .. } if event.digit == DtmfDigit::D2
    )));
    for seq in 8..=10u16 {
        s.on_rtp(
            LegId::A,
            addr(A_SDP),
            &rtp(0, false, seq, 320, 2, &[0xFF; 160]),
            t0 + ms(520),
        );
    }
    let st = s.stats(LegId::A);
    assert_eq!((st.ssrc, st.expected, st.lost), (Some(2), 5, 0));
}
