//! DTMF between legs of different modes over real sockets: a key pressed as telephone-events
//! on an RFC 4733 leg reaches an INFO leg's owner as one [`LegDtmf`], and a digit the owner
//! feeds as [`InfoDigit`] reaches an RFC 4733 leg as telephone-events in the audio stream.

use std::time::Instant;

use actix::{Actor, Context, Handler};
use media::dtmf::{DtmfDigit, DtmfEvent, DtmfSource, TelephoneEventReceiver};
use switchboard::rtp::relay_endpoint::InfoDigit;
use tokio::sync::mpsc;

use super::*;

/// The call's owner: passes every [`LegDtmf`] on to the test.
struct Owner(mpsc::UnboundedSender<LegDtmf>);

impl Actor for Owner {
    type Context = Context<Self>;
}

impl Handler<LegDtmf> for Owner {
    type Result = ();

    fn handle(&mut self, msg: LegDtmf, _ctx: &mut Context<Self>) {
        let _ = self.0.send(msg);
    }
}

/// A telephone-event packet of key `code` from SSRC 0xA1 with RTP timestamp 16000.
fn event(seq: u16, marker: bool, code: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut p = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&16_000u32.to_be_bytes());
    p.extend_from_slice(&0xA1u32.to_be_bytes());
    p.extend_from_slice(&[code, if end { 0x80 | 10 } else { 10 }]);
    p.extend_from_slice(&duration.to_be_bytes());
    p
}

#[actix_rt::test]
async fn a_key_from_an_rfc4733_leg_reaches_an_info_leg_as_one_leg_dtmf_to_the_owner() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let owner = Owner(tx).start();
    let relay = start_with(
        &a,
        &b,
        [pcmu(), pcmu()],
        RelayConfig::default(),
        [DtmfMode::Rfc4733, DtmfMode::Info],
        Some(owner.recipient()),
    );
    let packets = [
        event(1, true, 11, false, 160),
        event(2, false, 11, false, 480),
        event(3, false, 11, true, 960),
        event(4, false, 11, true, 960),
        event(5, false, 11, true, 960),
    ];
    for p in &packets {
        a.rtp
            .send_to(p, relay.relay_rtp(LegId::A))
            .await
            .expect("send");
        sleep(Duration::from_millis(20)).await;
    }
    let msg = timeout(WAIT, rx.recv())
        .await
        .expect("a LegDtmf in time")
        .expect("owner alive");
    assert_eq!(msg.leg, LegId::B);
    assert_eq!(msg.call_id, relay.call_id);
    assert_eq!(msg.event.digit, DtmfDigit::Pound);
    assert_eq!(msg.event.duration_ms, 120);
    assert!(
        silent(&b.rtp, Duration::from_millis(300)).await,
        "no telephone-event reaches the INFO leg"
    );
    assert!(rx.try_recv().is_err(), "one INFO per key press");
    let digits = relay.events("dtmf");
    assert_eq!(digits.len(), 1, "reported once");
    assert_eq!(digits[0].dialog.as_deref(), Some("dialog-a"));
    relay.addr.send(Stop).await.expect("stop");
}

#[actix_rt::test]
async fn a_digit_sent_by_info_reaches_an_rfc4733_leg_as_telephone_events_in_its_stream() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start_with(
        &a,
        &b,
        [pcmu(), pcmu()],
        RelayConfig::default(),
        [DtmfMode::Info, DtmfMode::Rfc4733],
        None,
    );
    // A's audio first, so B's stream has an SSRC, sequence and timestamp to continue.
    for seq in 0..5u16 {
        let p = rtp(0, 0xA2, seq, u32::from(seq) * 160, 0xD5);
        a.rtp
            .send_to(&p, relay.relay_rtp(LegId::A))
            .await
            .expect("send");
        assert_eq!(recv(&b.rtp).await.0, p);
    }
    relay
        .addr
        .send(InfoDigit {
            leg: LegId::A,
            event: DtmfEvent {
                digit: DtmfDigit::D7,
                duration_ms: 200,
                source: DtmfSource::SipInfo,
                started_at: Instant::now(),
            },
        })
        .await
        .expect("info digit");
    let mut receiver = TelephoneEventReceiver::default();
    let mut got = Vec::new();
    let mut last_seq = 4u16;
    while got.is_empty() {
        let (p, _) = recv(&b.rtp).await;
        assert_eq!(p[1] & 0x7F, 101, "B's telephone-event payload type");
        assert_eq!(&p[8..12], &0xA2u32.to_be_bytes(), "A's SSRC");
        let seq = u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(seq, last_seq.wrapping_add(1), "A's sequence, continued");
        last_seq = seq;
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert!(ts >= 4 * 160, "on A's timestamp clock: {ts}");
        got.extend(
            receiver
                .on_packet(ts, seq, p[1] & 0x80 != 0, &p[12..], Instant::now())
                .expect("telephone-event"),
        );
    }
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].digit, got[0].duration_ms), (DtmfDigit::D7, 200));
    // The INFO's digit is on the bus once already (the dialog that answered the INFO
    // published it): the relay adds no second event.
    sleep(Duration::from_millis(100)).await;
    assert!(relay.events("dtmf").is_empty());
    relay.addr.send(Stop).await.expect("stop");
    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.events("media_ended").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not stopped");
        sleep(Duration::from_millis(10)).await;
    }
    let ended = relay.events("media_ended");
    let detail = ended[0].detail.as_ref().expect("detail");
    assert!(
        detail["b"]["dtmf_generated"].as_u64() >= Some(5),
        "the events made for B are counted: {detail}"
    );
    assert_eq!(detail["a"]["dtmf_generated"], 0);
}
