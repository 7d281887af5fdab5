//! The relay endpoint actor, in-process on 127.0.0.1: two test sockets play the phones of a
//! relayed call; packets pass byte for byte (SSRC, sequence, timestamp) both ways, the relay
//! latches to where packets really come from, RTCP is relayed, PCMU↔PCMA is transcoded,
//! a silent leg gives `media_timeout`, and stopping releases the ports and reports the legs.
//!
//! - `dtmf`: digits between legs of different DTMF modes (RFC 4733 to INFO and back).
//! - `recording`: a relayed call recorded in stereo through the recording registry.

mod dtmf;
mod recording;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use actix::{Actor, Addr, Recipient};
use media::codec::G711Law;
use media::dtmf::DtmfMode;
use media::relay::{LegConfig, LegId, RelayConfig};
use media::sdp::{Codec, Direction, RemoteEndpoint};
use switchboard::events::{Event, EventBus};
use switchboard::rtp::relay_endpoint::{
    LegDtmf, RelayEndpoint, RelayEndpointSetup, RelayStats, Stop, UpdateLeg, bind_legs,
};
use switchboard::rtp::{PortAllocator, SharedPorts};
use tokio::net::UdpSocket;
use tokio::time::{sleep, timeout};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(3);

/// A phone: its RTP and RTCP sockets.
struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Phone {
    async fn new() -> Phone {
        Phone {
            rtp: UdpSocket::bind((LOCAL, 0)).await.expect("bind phone RTP"),
            rtcp: UdpSocket::bind((LOCAL, 0)).await.expect("bind phone RTCP"),
        }
    }

    fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().expect("phone address")
    }

    fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp.local_addr().expect("phone address")
    }
}

/// Receives one datagram on `socket` within [`WAIT`].
async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("a datagram in time")
        .expect("receive");
    buf.truncate(n);
    (buf, from)
}

/// Whether a datagram arrives on `socket` within `wait`.
async fn silent(socket: &UdpSocket, wait: Duration) -> bool {
    let mut buf = vec![0u8; 2048];
    timeout(wait, socket.recv_from(&mut buf)).await.is_err()
}

/// A 20 ms G.711 RTP packet.
fn rtp(pt: u8, ssrc: u32, seq: u16, ts: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// An empty RTCP receiver report from `ssrc`.
fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

fn leg(port: u16, phone: &Phone, codec: Codec, pt: u8, dtmf_mode: DtmfMode) -> LegConfig {
    LegConfig {
        rtp_port: port,
        rtcp_port: port + 1,
        remote_rtp: RemoteEndpoint::Addr(phone.rtp_addr()),
        remote_rtcp: RemoteEndpoint::Addr(phone.rtcp_addr()),
        codec,
        payload_type: pt,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
        dtmf_mode,
    }
}

/// A started relay between `a` and `b`.
struct Relay {
    addr: Addr<RelayEndpoint>,
    call_id: String,
    ports: SharedPorts,
    events: EventBus,
    port_a: u16,
    port_b: u16,
}

impl Relay {
    fn relay_rtp(&self, leg: LegId) -> SocketAddr {
        let port = if leg == LegId::A {
            self.port_a
        } else {
            self.port_b
        };
        SocketAddr::new(LOCAL, port)
    }

    fn relay_rtcp(&self, leg: LegId) -> SocketAddr {
        let port = if leg == LegId::A {
            self.port_a
        } else {
            self.port_b
        };
        SocketAddr::new(LOCAL, port + 1)
    }

    fn events(&self, kind: &str) -> Vec<Event> {
        self.events
            .since(0, 1000)
            .events
            .iter()
            .filter(|e| e.call_id == self.call_id && e.kind.as_deref() == Some(kind))
            .map(|e| (**e).clone())
            .collect()
    }
}

fn start(a: &Phone, b: &Phone, codecs: [(Codec, u8); 2], config: RelayConfig) -> Relay {
    start_with(a, b, codecs, config, [DtmfMode::Rfc4733; 2], None)
}

/// [`start`] with each leg's DTMF mode and the owner that sends INFO.
fn start_with(
    a: &Phone,
    b: &Phone,
    codecs: [(Codec, u8); 2],
    config: RelayConfig,
    modes: [DtmfMode; 2],
    owner: Option<Recipient<LegDtmf>>,
) -> Relay {
    // A range of its own per test (tests run in parallel), below the ephemeral ports the
    // phones get; a pair taken by another program is skipped by `bind_legs`.
    let slot = next_slot();
    let base = 12_000 + slot * 400;
    let ports = SharedPorts::new(PortAllocator::new(base, base + 399));
    let [pa, pb] = bind_legs(LOCAL, &ports).expect("bind relay ports");
    let (port_a, port_b) = (pa.port, pb.port);
    let [ca, cb] = codecs;
    let events = EventBus::new();
    // Calls are named apart: the recording registry is process-wide.
    let call_id = format!("relay-call-{slot}-{port_a}");
    let setup = RelayEndpointSetup {
        call_id: call_id.clone(),
        dialogs: ["dialog-a".into(), "dialog-b".into()],
        config,
        legs: [
            leg(port_a, a, ca.0, ca.1, modes[0]),
            leg(port_b, b, cb.0, cb.1, modes[1]),
        ],
        ports: [pa, pb],
        allocator: ports.clone(),
        events: Some(events.clone()),
        metrics: None,
    };
    let endpoint = RelayEndpoint::new(setup);
    let endpoint = match owner {
        Some(owner) => endpoint.with_owner(owner),
        None => endpoint,
    };
    Relay {
        addr: endpoint.start(),
        call_id,
        ports,
        events,
        port_a,
        port_b,
    }
}

/// A distinct slot per test in this process (each gets 400 ports).
fn next_slot() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static SLOT: AtomicU16 = AtomicU16::new(0);
    SLOT.fetch_add(1, Ordering::Relaxed) % 8
}

fn pcmu() -> (Codec, u8) {
    (Codec::pcmu(), 0)
}

#[actix_rt::test]
async fn packets_pass_byte_for_byte_both_ways_and_stop_releases_the_ports() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start(&a, &b, [pcmu(), pcmu()], RelayConfig::default());
    assert_eq!(relay.ports.in_use(), 2);

    for i in 0..5u16 {
        let p = rtp(0, 0xA1A1_A1A1, 1000 + i, 8000 + 160 * u32::from(i), i as u8);
        a.rtp
            .send_to(&p, relay.relay_rtp(LegId::A))
            .await
            .expect("send");
        let (got, from) = recv(&b.rtp).await;
        assert_eq!(got, p, "A→B packet {i} byte-identical");
        assert_eq!(from, relay.relay_rtp(LegId::B), "sent from leg B's port");

        let q = rtp(0, 0xB2B2_B2B2, 7 + i, 160 * u32::from(i), 0x55);
        b.rtp
            .send_to(&q, relay.relay_rtp(LegId::B))
            .await
            .expect("send");
        let (got, from) = recv(&a.rtp).await;
        assert_eq!(got, q, "B→A packet {i} byte-identical");
        assert_eq!(from, relay.relay_rtp(LegId::A), "sent from leg A's port");
    }

    // RTCP, both ways, unchanged, from the RTCP ports.
    let rr = rtcp_rr(0xA1A1_A1A1);
    a.rtcp
        .send_to(&rr, relay.relay_rtcp(LegId::A))
        .await
        .expect("send");
    let (got, from) = recv(&b.rtcp).await;
    assert_eq!((got, from), (rr.clone(), relay.relay_rtcp(LegId::B)));
    let rr = rtcp_rr(0xB2B2_B2B2);
    b.rtcp
        .send_to(&rr, relay.relay_rtcp(LegId::B))
        .await
        .expect("send");
    let (got, _) = recv(&a.rtcp).await;
    assert_eq!(got, rr);

    let stats = relay.addr.send(RelayStats).await.expect("stats");
    assert_eq!((stats.a.packets_in, stats.a.packets_out), (5, 5));
    assert_eq!((stats.b.packets_in, stats.b.packets_out), (5, 5));
    assert_eq!((stats.a.rtcp_in, stats.b.rtcp_out), (1, 1));
    assert_eq!(stats.a.lost, 0);
    assert_eq!(stats.a.latched_rtp, Some(a.rtp_addr()));

    relay.addr.send(Stop).await.expect("stop");
    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.ports.in_use() > 0 || relay.events("media_ended").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not stopped");
        sleep(Duration::from_millis(10)).await;
    }
    let ended = relay.events("media_ended");
    let detail = ended[0].detail.as_ref().expect("detail");
    assert_eq!(detail["a"]["packets_in"], 5);
    assert_eq!(detail["b"]["packets_out"], 5);
    assert_eq!(detail["a"]["rtcp_in"], 1);
    assert_eq!(detail["a"]["lost"], 0);
    // The ports can be bound again: the sockets are closed.
    let again = bind_legs(LOCAL, &relay.ports).expect("rebind");
    assert_eq!(again.len(), 2);
}

#[actix_rt::test]
async fn the_relay_latches_to_where_packets_really_come_from() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start(&a, &b, [pcmu(), pcmu()], RelayConfig::default());
    // Phone A's packets come from another address than its SDP says (a NAT).
    let natted = UdpSocket::bind((LOCAL, 0)).await.expect("bind");
    for i in 0..4u16 {
        let p = rtp(0, 1, i, 160 * u32::from(i), 0);
        natted
            .send_to(&p, relay.relay_rtp(LegId::A))
            .await
            .expect("send");
        assert_eq!(recv(&b.rtp).await.0, p);
    }
    // B's media for A goes to the source A's packets came from, not to A's SDP address.
    let q = rtp(0, 2, 1, 0, 0x11);
    b.rtp
        .send_to(&q, relay.relay_rtp(LegId::B))
        .await
        .expect("send");
    assert_eq!(recv(&natted).await.0, q);
    assert!(silent(&a.rtp, Duration::from_millis(100)).await);
    // A stranger on leg A's port is not relayed once latched.
    let stranger = UdpSocket::bind((LOCAL, 0)).await.expect("bind");
    stranger
        .send_to(&rtp(0, 9, 1, 0, 0), relay.relay_rtp(LegId::A))
        .await
        .expect("send");
    assert!(silent(&b.rtp, Duration::from_millis(150)).await);
    let stats = relay.addr.send(RelayStats).await.expect("stats");
    assert_eq!(
        stats.a.latched_rtp,
        Some(natted.local_addr().expect("addr"))
    );
    assert_eq!(stats.a.foreign, 1);
    relay.addr.send(Stop).await.expect("stop");
}

#[actix_rt::test]
async fn pcmu_and_pcma_legs_are_transcoded() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start(&a, &b, [pcmu(), (Codec::pcma(), 8)], RelayConfig::default());
    let payload: Vec<u8> = (0..160u16).map(|i| (i * 7 % 256) as u8).collect();
    let mut p = rtp(0, 5, 10, 1600, 0);
    p[12..].copy_from_slice(&payload);
    a.rtp
        .send_to(&p, relay.relay_rtp(LegId::A))
        .await
        .expect("send");
    let (got, _) = recv(&b.rtp).await;
    assert_eq!(got[1] & 0x7F, 8, "PT becomes PCMA");
    assert_eq!(&got[2..12], &p[2..12], "sequence, timestamp, SSRC kept");
    let mut expected = vec![0u8; 160];
    G711Law::Mu
        .transcode(G711Law::A, &payload, &mut expected)
        .expect("transcode");
    assert_eq!(&got[12..], &expected[..]);

    let mut q = rtp(8, 6, 20, 3200, 0);
    q[12..].copy_from_slice(&expected);
    b.rtp
        .send_to(&q, relay.relay_rtp(LegId::B))
        .await
        .expect("send");
    let (got, _) = recv(&a.rtp).await;
    assert_eq!(got[1] & 0x7F, 0, "PT becomes PCMU");
    let mut back = vec![0u8; 160];
    G711Law::A
        .transcode(G711Law::Mu, &expected, &mut back)
        .expect("transcode");
    assert_eq!(&got[12..], &back[..]);
    relay.addr.send(Stop).await.expect("stop");
}

#[actix_rt::test]
async fn a_silent_leg_is_a_media_timeout_and_a_hold_disarms_it() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let config = RelayConfig {
        no_rtp_timeout: Duration::from_millis(300),
        ..RelayConfig::default()
    };
    let relay = start(&a, &b, [pcmu(), pcmu()], config);
    // Leg B is put on hold (sendonly from our side: B's peer sends nothing) before it times
    // out; leg A keeps quiet and times out.
    let mut held = leg(relay.port_b, &b, Codec::pcmu(), 0, DtmfMode::Rfc4733);
    held.direction = Direction::SendOnly;
    relay
        .addr
        .send(UpdateLeg {
            leg: LegId::B,
            config: held,
        })
        .await
        .expect("update");
    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.events("media_timeout").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no media_timeout");
        sleep(Duration::from_millis(20)).await;
    }
    sleep(Duration::from_millis(400)).await;
    let timeouts = relay.events("media_timeout");
    assert_eq!(timeouts.len(), 1, "one per silence, none for the held leg");
    let detail = timeouts[0].detail.as_ref().expect("detail");
    assert_eq!(detail["leg"], "a");
    assert_eq!(timeouts[0].dialog.as_deref(), Some("dialog-a"));
    relay.addr.send(Stop).await.expect("stop");
}

#[actix_rt::test]
async fn telephone_events_are_relayed_and_reported_once_with_the_legs_dialog() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start(&a, &b, [pcmu(), pcmu()], RelayConfig::default());
    // Digit 5 for 800 timestamp units (100 ms): a marked start, updates, three ends.
    let event = |seq: u16, marker: bool, end: bool, duration: u16| {
        let mut p = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&16_000u32.to_be_bytes());
        p.extend_from_slice(&0xB2B2_0001u32.to_be_bytes());
        p.extend_from_slice(&[5, if end { 0x80 | 10 } else { 10 }]);
        p.extend_from_slice(&duration.to_be_bytes());
        p
    };
    let packets = [
        event(1, true, false, 160),
        event(2, false, false, 480),
        event(3, false, true, 800),
        event(4, false, true, 800),
        event(5, false, true, 800),
    ];
    for p in &packets {
        b.rtp
            .send_to(p, relay.relay_rtp(LegId::B))
            .await
            .expect("send");
        assert_eq!(
            &recv(&a.rtp).await.0,
            p,
            "relayed unchanged (same PT both legs)"
        );
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.events("dtmf").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no dtmf event");
        sleep(Duration::from_millis(10)).await;
    }
    sleep(Duration::from_millis(100)).await;
    let digits = relay.events("dtmf");
    assert_eq!(digits.len(), 1, "one key press, one event");
    assert_eq!(digits[0].dialog.as_deref(), Some("dialog-b"));
    let detail = digits[0].detail.as_ref().expect("detail");
    assert_eq!(detail["digit"], "5");
    relay.addr.send(Stop).await.expect("stop");
}
