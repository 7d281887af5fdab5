//! Transport actors in-process on 127.0.0.1 (and ::1 when available): TCP framing errors,
//! keep-alive pongs, idle timeouts, connection isolation and reuse, UDP answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard::cli::LogFormat;
use switchboard::config::Settings;
use switchboard::server::SipTransports;
use switchboard::stats::SipCounters;
use switchboard::ua_core::{Outbound, TransportKind, UaCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn settings(listen: &[&str], idle_secs: u64) -> Settings {
    Settings {
        sip_listen: listen
            .iter()
            .map(|a| a.parse().expect("listen address parses"))
            .collect(),
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: "./data".into(),
        log_format: LogFormat::Text,
        tcp_idle_timeout_secs: idle_secs,
        max_header_bytes: 16 * 1024,
        max_body_bytes: 256 * 1024,
        sip_timers: Default::default(),
        // Two shards, so the transports' routing to the shard owning a Call-ID is exercised.
        sip_workers: 2,
        echo_answer_delay_ms: 1000,
        database_url: None,
        demo: false,
        registrar: Default::default(),
        media: Default::default(),
        ring_timeout_secs: 60,
        hangup_on_media_timeout: true,
    }
}

fn start(listen: &[&str], idle_secs: u64) -> (SipTransports, Arc<SipCounters>) {
    let counters = Arc::new(SipCounters::default());
    let core = Arc::new(UaCore::new(counters.clone()));
    let sip = SipTransports::start(&settings(listen, idle_secs), core, Default::default())
        .expect("bind loopback");
    (sip, counters)
}

fn addr_of(sip: &SipTransports, transport: &str) -> SocketAddr {
    sip.listening()
        .iter()
        .find(|l| l.transport == transport)
        .map(|l| l.address)
        .expect("listener of that transport")
}

fn options(transport: &str, local: SocketAddr, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\n\
         To: <sip:test@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Reads until `pred` holds for what was read, or EOF, within [`WAIT`].
async fn read_until(stream: &mut TcpStream, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !pred(&got) {
        match timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read failed: {e}"),
            Err(_) => panic!(
                "timed out; read so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    got
}

fn complete(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"\r\n\r\n")
}

/// True when the peer closed the connection within [`WAIT`].
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[actix_rt::test]
async fn framing_error_gets_400_and_closes_only_that_connection() {
    let (sip, counters) = start(&["127.0.0.1:0"], 300);
    let addr = addr_of(&sip, "tcp");
    let mut good = TcpStream::connect(addr).await.expect("connect");
    let mut bad = TcpStream::connect(addr).await.expect("connect");

    let mcl01 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sip/testdata/conformance/rfc4475/messages/mcl01.dat"
    ))
    .expect("mcl01.dat");
    bad.write_all(&mcl01).await.expect("write");
    let reply = read_until(&mut bad, complete).await;
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("SIP/2.0 400 multiple Content-Length"),
        "{text}"
    );
    assert!(closed(&mut bad).await, "bad connection stays open");

    let local = good.local_addr().expect("local addr");
    good.write_all(&options("TCP", local, "good-1"))
        .await
        .expect("write");
    let reply = read_until(&mut good, complete).await;
    assert!(reply.starts_with(b"SIP/2.0 200 OK\r\n"));
    assert_eq!(counters.snapshot().framing_errors, 1);
    sip.shutdown().await;
}

#[actix_rt::test]
async fn keepalive_ping_gets_a_pong_and_the_connection_is_reused() {
    let (sip, counters) = start(&["127.0.0.1:0"], 300);
    let addr = addr_of(&sip, "tcp");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local addr");

    stream.write_all(b"\r\n\r\n").await.expect("write ping");
    let pong = read_until(&mut stream, |b| b.len() >= 2).await;
    assert_eq!(pong, b"\r\n");
    assert_eq!(counters.snapshot().keepalive_pings, 1);

    // Two requests, the second split across writes, on the same connection.
    let second = options("TCP", local, "reuse-2");
    let mut both = options("TCP", local, "reuse-1");
    both.extend_from_slice(&second[..20]);
    stream.write_all(&both).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(&second[20..]).await.expect("write");
    let replies = read_until(&mut stream, |b| {
        String::from_utf8_lossy(b).matches("SIP/2.0 200 OK").count() == 2
            && b.ends_with(b"\r\n\r\n")
    })
    .await;
    let text = String::from_utf8_lossy(&replies);
    assert!(text.contains("Call-ID: reuse-1") && text.contains("Call-ID: reuse-2"));

    // The registry knows the connection, so later messages to this peer use it.
    let registry = sip.registry().clone();
    assert!(registry.tcp_connection(local).is_some());
    assert!(registry.send(Outbound {
        transport: TransportKind::Tcp,
        destination: local,
        bytes: Bytes::from_static(b"\r\n\r\n"),
    }));
    let pushed = read_until(&mut stream, |b| b.len() >= 4).await;
    assert_eq!(pushed, b"\r\n\r\n");

    drop(stream);
    for _ in 0..100 {
        if registry.tcp_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        registry.tcp_count(),
        0,
        "closed connection still registered"
    );
    sip.shutdown().await;
}

#[actix_rt::test]
async fn idle_connections_are_closed() {
    let (sip, _) = start(&["127.0.0.1:0"], 1);
    let mut stream = TcpStream::connect(addr_of(&sip, "tcp"))
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    assert!(closed(&mut stream).await, "idle connection not closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
    sip.shutdown().await;
}

#[actix_rt::test]
async fn oversized_header_section_is_refused_and_closed() {
    let (sip, counters) = start(&["127.0.0.1:0"], 300);
    let mut stream = TcpStream::connect(addr_of(&sip, "tcp"))
        .await
        .expect("connect");
    let mut junk = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n".to_vec();
    while junk.len() < 20 * 1024 {
        junk.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    // The server may close before reading everything; a write error is fine.
    let _ = stream.write_all(&junk).await;
    assert!(closed(&mut stream).await, "oversized stream not closed");
    assert_eq!(counters.snapshot().framing_errors, 1);
    sip.shutdown().await;
}

#[actix_rt::test]
async fn udp_options_gets_200_on_ipv4_and_ipv6() {
    let mut listen = vec!["127.0.0.1:0"];
    let v6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
    if v6 {
        listen.push("[::1]:0");
    }
    let (sip, _) = start(&listen, 300);
    let targets: Vec<SocketAddr> = sip
        .listening()
        .iter()
        .filter(|l| l.transport == "udp")
        .map(|l| l.address)
        .collect();
    assert_eq!(targets.len(), listen.len());
    for target in targets {
        let bind = if target.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let socket = UdpSocket::bind(bind).await.expect("bind client");
        let local = socket.local_addr().expect("local addr");
        socket
            .send_to(&options("UDP", local, "udp-1"), target)
            .await
            .expect("send");
        let mut buf = vec![0u8; 65_535];
        let (n, from) = timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .expect("reply in time")
            .expect("recv");
        assert_eq!(from, target);
        assert!(buf[..n].starts_with(b"SIP/2.0 200 OK\r\n"), "{target}");
    }
    sip.shutdown().await;
}
