//! End-to-end: SIP traffic to a freshly started `switchboard serve` shows up in
//! the event log (`/api/v1/events`, `/api/v1/events/stream`) and in the
//! Prometheus metrics (`/metrics`).
//!
//! Everything binds and advertises 127.0.0.1 only; every wait is bounded.

mod support;

use support::api::get_ok;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::Server;

/// How long one SIP or HTTP exchange may take.
const WAIT: Duration = Duration::from_secs(5);

/// An OPTIONS over UDP from `local` with the given Call-ID.
fn options(local: SocketAddr, server: SocketAddr, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:e2e@{local}>;tag={}\r\n\
         To: <sip:{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        support::new_branch(),
        support::unique_token()
    )
    .into_bytes()
}

/// Sends one OPTIONS over UDP, asserts it is answered 200, returns its Call-ID.
fn send_options(server: &Server) -> String {
    let socket = support::udp_socket();
    let local = socket.local_addr().expect("local address of UDP socket");
    let call_id = format!("{}@127.0.0.1", support::unique_token());
    let reply = support::udp_exchange(
        &socket,
        server.sip_addr,
        &options(local, server.sip_addr, &call_id),
        WAIT,
    )
    .unwrap_or_else(|e| server.fail(&format!("no UDP response to OPTIONS: {e}")));
    if !reply.starts_with(b"SIP/2.0 200 ") {
        server.fail(&format!(
            "OPTIONS not answered 200:\n{}",
            String::from_utf8_lossy(&reply)
        ));
    }
    call_id
}

#[test]
fn options_over_udp_appears_as_a_method_event_and_in_metrics() {
    let server = Server::start();
    let call_id = send_options(&server);

    let body = get_ok(&server, "/api/v1/events?since=0");
    let page: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| server.fail(&format!("events body is not JSON ({e}): {body}")));
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let event = events
        .iter()
        .find(|e| e["call_id"] == call_id.as_str())
        .unwrap_or_else(|| server.fail(&format!("no event with Call-ID {call_id}: {body}")));
    assert_eq!(event["layer"], "method", "{event}");
    assert_eq!(event["method"], "OPTIONS", "{event}");
    assert!(event["seq"].as_u64().is_some_and(|s| s >= 1), "{event}");
    assert!(
        page["next_since"].as_u64() >= event["seq"].as_u64(),
        "{body}"
    );
    assert_eq!(page["oldest_available"], 1, "{body}");

    let metrics = get_ok(&server, "/metrics");
    for line in [
        "sip_messages_in_total{method=\"OPTIONS\",status_class=\"\"} 1",
        "sip_messages_out_total{method=\"OPTIONS\",status_class=\"2xx\"} 1",
        "sip_requests_received_total 1",
        "sip_transactions_active{kind=\"invite_server\"} 0",
        "sip_dialogs_active 0",
    ] {
        if !metrics.lines().any(|l| l == line) {
            server.fail(&format!("/metrics lacks {line:?}:\n{metrics}"));
        }
    }
}

#[test]
fn event_stream_replays_after_last_event_id_and_shutdown_stays_prompt() {
    let mut server = Server::start();
    let first = send_options(&server);
    let second = send_options(&server);
    // Each OPTIONS gives a Method event and its transaction's events; replay after the last
    // event of the first one.
    let body = get_ok(&server, "/api/v1/events?since=0");
    let page: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| server.fail(&format!("events body is not JSON ({e}): {body}")));
    let seqs_of = |call_id: &str| -> Vec<u64> {
        page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["call_id"] == call_id)
            .filter_map(|e| e["seq"].as_u64())
            .collect()
    };
    let last_of_first = seqs_of(&first).into_iter().max().unwrap_or_default();
    let first_of_second = seqs_of(&second).into_iter().min().unwrap_or_default();
    assert!(
        last_of_first >= 1 && first_of_second > last_of_first,
        "the first OPTIONS' events all come before the second's: {body}"
    );

    let mut stream = TcpStream::connect_timeout(&server.http_addr, WAIT)
        .unwrap_or_else(|e| server.fail(&format!("cannot connect to HTTP: {e}")));
    stream
        .set_read_timeout(Some(WAIT))
        .expect("set read timeout");
    write!(
        stream,
        "GET /api/v1/events/stream HTTP/1.1\r\nHost: {}\r\nLast-Event-ID: {last_of_first}\r\n\r\n",
        server.http_addr
    )
    .expect("send SSE request");

    let deadline = Instant::now() + WAIT;
    let mut received = String::new();
    let mut buf = [0u8; 4096];
    while !received.contains(&second) {
        if Instant::now() >= deadline {
            server.fail(&format!(
                "second event not streamed in time; got {received:?}"
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => server.fail(&format!("SSE stream closed early; got {received:?}")),
            Ok(n) => received.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => server.fail(&format!("SSE read failed ({e}); got {received:?}")),
        }
    }
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(
        received
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{received}"
    );
    assert!(
        !received.contains(&first),
        "the first OPTIONS' events are before Last-Event-ID"
    );
    assert!(
        received.contains(&format!("id: {first_of_second}\nevent: method\ndata: {{")),
        "{received}"
    );

    // An open event stream must not hold up a clean shutdown.
    let started = Instant::now();
    match server.stop() {
        Some(status) if status.success() => {}
        other => panic!("switchboard did not exit cleanly with an SSE client: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
