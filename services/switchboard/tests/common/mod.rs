//! Helpers of the in-process SIP stack tests: the stack on 127.0.0.1 with its metrics and
//! event bus, and a UDP peer that speaks just enough SIP.

// Each test file uses a different subset.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::cli::LogFormat;
use switchboard::config::{Settings, SipTimers};
use switchboard::events::{Event, EventBus};
use switchboard::metrics::Metrics;
use switchboard::registrar::RegistrarSetup;
use switchboard::server::SipTransports;
use switchboard::stats::SipCounters;
use switchboard::ua_core::UaCore;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// T1 of these tests: timers J (64*T1) fire after 3.2 s.
pub const T1_MS: u64 = 50;

/// The stack under test.
pub struct Stack {
    /// The SIP side (transports and the stack's actors).
    pub sip: SipTransports,
    /// Its metrics.
    pub metrics: Metrics,
    /// Its event log.
    pub events: EventBus,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// Starts the stack with T1 = [`T1_MS`] and this echo answer delay.
pub fn start(answer_delay_ms: u64) -> Stack {
    start_with(
        answer_delay_ms,
        "127.0.0.1:0".parse().expect("addr"),
        RegistrarSetup::default(),
    )
}

/// [`start`] listening on `listen`, with this registrar (e.g. bindings to restore).
pub fn start_with(answer_delay_ms: u64, listen: SocketAddr, registrar: RegistrarSetup) -> Stack {
    let settings = Settings {
        sip_listen: vec![listen],
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: "./data".into(),
        log_format: LogFormat::Text,
        tcp_idle_timeout_secs: 300,
        max_header_bytes: 16 * 1024,
        max_body_bytes: 256 * 1024,
        sip_timers: SipTimers {
            t1_ms: T1_MS,
            t2_ms: 8 * T1_MS,
            t4_ms: 10 * T1_MS,
        },
        // Two shards: supervision, dialogs and listings must work across them.
        sip_workers: 2,
        echo_answer_delay_ms: answer_delay_ms,
        database_url: None,
        demo: false,
        registrar: Default::default(),
        media: Default::default(),
        ring_timeout_secs: 60,
        hangup_on_media_timeout: true,
    };
    let counters = Arc::new(SipCounters::default());
    let metrics = Metrics::new(counters.clone()).expect("metrics");
    let events = EventBus::new();
    let core = Arc::new(
        UaCore::new(counters)
            .with_metrics(metrics.clone())
            .with_events(events.clone()),
    );
    let sip = SipTransports::start(&settings, core, registrar).expect("bind loopback");
    let addr = sip
        .listening()
        .iter()
        .find(|l| l.transport == "udp")
        .map(|l| l.address)
        .expect("a UDP listener");
    Stack {
        sip,
        metrics,
        events,
        addr,
    }
}

/// A UDP peer of the server.
pub struct Peer {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub server: SocketAddr,
}

impl Peer {
    pub async fn new(server: SocketAddr) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("local addr");
        Peer {
            socket,
            local,
            server,
        }
    }

    pub async fn send(&self, message: &str) {
        self.socket
            .send_to(message.as_bytes(), self.server)
            .await
            .expect("send");
    }

    /// The next response with this status to a request with this method; others (a 100, a
    /// 2xx retransmission) are skipped.
    pub async fn expect(&self, status: u16, method: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (n, _) = timeout(left, self.socket.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {status} to {method} within {WAIT:?}"))
                .expect("recv");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let cseq_method = text
                .lines()
                .find(|l| l.starts_with("CSeq:"))
                .and_then(|l| l.split_whitespace().nth(2));
            if text.starts_with(&format!("SIP/2.0 {status} ")) && cseq_method == Some(method) {
                return text;
            }
        }
    }

    /// The next request with this method from the server, and how many responses to an
    /// INVITE with status `count_status` arrived before it.
    pub async fn expect_request(&self, method: &str, count_status: u16) -> (String, usize) {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_535];
        let mut counted = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (n, _) = timeout(left, self.socket.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {method} within {WAIT:?}"))
                .expect("recv");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(&format!("{method} ")) {
                return (text, counted);
            }
            if text.starts_with(&format!("SIP/2.0 {count_status} ")) {
                counted += 1;
            }
        }
    }

    /// Answers `request` (text) with `status`: Via, From, To, Call-ID and CSeq copied.
    pub async fn reply(&self, request: &str, status: u16) {
        let mut response = format!("SIP/2.0 {status} Whatever\r\n");
        for line in request.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
            let name = line
                .split(':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if ["via", "from", "to", "call-id", "cseq"].contains(&name.trim()) {
                response.push_str(line);
                response.push_str("\r\n");
            }
        }
        response.push_str("Content-Length: 0\r\n\r\n");
        self.send(&response).await;
    }

    /// Asserts nothing but 2xx retransmissions arrives for `quiet`.
    pub async fn expect_silence(&self, quiet: Duration) {
        let mut buf = vec![0u8; 65_535];
        if let Ok(Ok((n, _))) = timeout(quiet, self.socket.recv_from(&mut buf)).await {
            panic!("unexpected: {}", String::from_utf8_lossy(&buf[..n]));
        }
    }

    pub fn request(&self, method: &str, call_id: &str, branch: &str, extra: &str) -> String {
        self.request_in(method, call_id, branch, "", 1, extra)
    }

    /// A request from this peer; `to_tag` empty outside a dialog.
    pub fn request_in(
        &self,
        method: &str,
        call_id: &str,
        branch: &str,
        to_tag: &str,
        cseq: u32,
        extra: &str,
    ) -> String {
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        let (server, local) = (self.server, self.local);
        format!(
            "{method} sip:echo@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:peer@{local}>;tag=from-{call_id}\r\n\
             To: <sip:echo@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:peer@{local}>\r\n\
             {extra}"
        )
    }

    pub fn invite(&self, call_id: &str) -> String {
        let sdp = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                   t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let extra = format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.request("INVITE", call_id, &format!("{call_id}-inv"), &extra)
    }
}

pub const NO_BODY: &str = "Content-Length: 0\r\n\r\n";

/// The To tag of a response.
pub fn to_tag(response: &str) -> String {
    response
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .map(|t| t.trim().to_owned())
        .expect("a To tag")
}

pub fn sample(metrics: &Metrics, line: &str) -> Option<f64> {
    let text = metrics.render().expect("render");
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
}

pub fn events_of(events: &EventBus, call_id: &str) -> Vec<Event> {
    events
        .since(0, 10_000)
        .events
        .iter()
        .filter(|e| e.call_id == call_id)
        .map(|e| (**e).clone())
        .collect()
}

/// Waits until `check` holds on the events of `call_id`.
pub async fn wait_for_events(
    events: &EventBus,
    call_id: &str,
    what: &str,
    check: impl Fn(&[Event]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = events_of(events, call_id);
        if check(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen for {call_id} within {WAIT:?}: {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn is_transition(e: &Event, kind: &str, from: &str, to: &str) -> bool {
    e.kind.as_deref() == Some(kind)
        && e.from_state.as_deref() == Some(from)
        && e.to_state.as_deref() == Some(to)
}
