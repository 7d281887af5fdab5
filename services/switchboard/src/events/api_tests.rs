//! HTTP tests of `/api/v1/events` and `/api/v1/events/stream`.

use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::{App, HttpServer, test};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::events::{EventBusConfig, EventDraft, Layer};

const WAIT: Duration = Duration::from_secs(5);

fn publish(bus: &EventBus, call_id: &str) -> u64 {
    bus.publish(EventDraft::new(Layer::Method, call_id).method("OPTIONS"))
}

/// The events routes over `bus`, as a test service (a macro: the service type is unnameable).
macro_rules! app {
    ($bus:expr, $keep_alive:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($bus.clone()))
                .app_data(web::Data::new(SseSettings {
                    keep_alive: $keep_alive,
                }))
                .configure(configure),
        )
        .await
    };
}

async fn get_json(bus: &EventBus, uri: &str) -> (u16, serde_json::Value) {
    let app = app!(bus, DEFAULT_KEEP_ALIVE);
    let resp = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "for {uri}");
    (status, test::read_body_json(resp).await)
}

/// The next chunk of a streaming body, waiting at most [`WAIT`].
async fn next_chunk(body: &mut BoxBody) -> Option<String> {
    let chunk = tokio::time::timeout(
        WAIT,
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)),
    )
    .await
    .expect("a chunk in time");
    chunk.map(|c| String::from_utf8(c.expect("body chunk").to_vec()).expect("UTF-8 chunk"))
}

/// Splits an SSE event chunk into its `id`, `event` and parsed `data`.
fn parse_sse(chunk: &str) -> (Option<&str>, &str, serde_json::Value) {
    assert!(
        chunk.ends_with("\n\n"),
        "chunk ends with a blank line: {chunk:?}"
    );
    let field = |name: &str| {
        chunk
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
    };
    let data = field("data").expect("a data line");
    (
        field("id"),
        field("event").expect("an event line"),
        serde_json::from_str(data).expect("data is JSON"),
    )
}

#[actix_web::test]
async fn events_page_since_and_limit() {
    let bus = EventBus::new();
    for id in ["a", "b", "c"] {
        publish(&bus, id);
    }
    let (status, body) = get_json(&bus, "/api/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["next_since"], 3);
    assert_eq!(body["oldest_available"], 1);
    let first = &body["events"][0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["layer"], "method");
    assert_eq!(first["call_id"], "a");
    assert_eq!(first["method"], "OPTIONS");
    assert!(first["time"].as_str().is_some_and(|t| t.ends_with('Z')));

    let (status, body) = get_json(&bus, "/api/v1/events?since=1&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["events"][0]["seq"], 2);
    assert_eq!(body["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["next_since"], 2);

    let (status, body) = get_json(&bus, "/api/v1/events?since=3&unknown=x").await;
    assert_eq!(status, 200);
    assert_eq!(body["events"], serde_json::json!([]));
    assert_eq!(body["next_since"], 3);
}

#[actix_web::test]
async fn events_page_reports_evicted_history() {
    let bus = EventBus::with_config(EventBusConfig {
        ring_capacity: 2,
        ..EventBusConfig::default()
    });
    for id in ["a", "b", "c", "d"] {
        publish(&bus, id);
    }
    let (_, body) = get_json(&bus, "/api/v1/events?since=0").await;
    assert_eq!(body["oldest_available"], 3);
    assert_eq!(body["events"][0]["seq"], 3);
}

#[actix_web::test]
async fn bad_queries_are_400_with_a_json_error() {
    let bus = EventBus::new();
    for uri in [
        "/api/v1/events?since=abc",
        "/api/v1/events?since=-1",
        "/api/v1/events?since=1&since=2",
        "/api/v1/events?limit=0",
        "/api/v1/events?limit=10001",
        "/api/v1/events?limit=99999999999999999999999",
        "/api/v1/events/stream?since=x",
    ] {
        let (status, body) = get_json(&bus, uri).await;
        assert_eq!(status, 400, "for {uri}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "error message for {uri}: {body}"
        );
    }
    let (status, _) = get_json(&bus, "/api/v1/events?limit=10000").await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn stream_sends_live_events_as_sse() {
    let bus = EventBus::new();
    publish(&bus, "old");
    let app = app!(bus, DEFAULT_KEEP_ALIVE);
    let req = test::TestRequest::get()
        .uri("/api/v1/events/stream")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = resp.into_body();
    publish(&bus, "live-1");
    bus.publish(EventDraft::new(Layer::Transaction, "live-2").transition("trying", "completed"));

    let chunk = next_chunk(&mut body).await.expect("first event");
    let (id, event, data) = parse_sse(&chunk);
    assert_eq!(
        (id, event),
        (Some("2"), "method"),
        "without Last-Event-ID: live only"
    );
    assert_eq!(data["call_id"], "live-1");
    let chunk = next_chunk(&mut body).await.expect("second event");
    let (id, event, data) = parse_sse(&chunk);
    assert_eq!((id, event), (Some("3"), "transaction"));
    assert_eq!(data["to_state"], "completed");

    // The client going away drops the subscription.
    assert_eq!(bus.subscriber_count(), 1);
    drop(body);
    assert_eq!(bus.subscriber_count(), 0);
}

#[actix_web::test]
async fn stream_replays_after_last_event_id() {
    let bus = EventBus::new();
    for id in ["a", "b", "c"] {
        publish(&bus, id);
    }
    let app = app!(bus, DEFAULT_KEEP_ALIVE);
    let req = test::TestRequest::get()
        .uri("/api/v1/events/stream")
        .insert_header(("Last-Event-ID", "1"))
        .to_request();
    let mut body = test::call_service(&app, req).await.into_body();
    publish(&bus, "d");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let chunk = next_chunk(&mut body).await.expect("an event");
        let (id, _, data) = parse_sse(&chunk);
        ids.push((id.map(str::to_owned), data["call_id"].clone()));
    }
    let expected: Vec<(Option<String>, serde_json::Value)> = [("2", "b"), ("3", "c"), ("4", "d")]
        .iter()
        .map(|(id, call)| (Some((*id).to_owned()), serde_json::json!(call)))
        .collect();
    assert_eq!(ids, expected);

    let req = test::TestRequest::get()
        .uri("/api/v1/events/stream")
        .insert_header(("Last-Event-ID", "not-a-number"))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 400);
}

#[actix_web::test]
async fn stream_announces_evicted_replay_sends_keep_alives_and_ends_on_close() {
    let bus = EventBus::with_config(EventBusConfig {
        ring_capacity: 1,
        ..EventBusConfig::default()
    });
    publish(&bus, "a");
    publish(&bus, "b");
    let app = app!(bus, Duration::from_millis(50));
    let req = test::TestRequest::get()
        .uri("/api/v1/events/stream?since=0")
        .to_request();
    let mut body = test::call_service(&app, req).await.into_body();

    let chunk = next_chunk(&mut body).await.expect("lag notice");
    let (id, event, data) = parse_sse(&chunk);
    assert_eq!((id, event), (None, "lagged"));
    assert_eq!(data, serde_json::json!({"missed": 1, "after": 0}));
    let chunk = next_chunk(&mut body).await.expect("replayed event");
    let (id, _, _) = parse_sse(&chunk);
    assert_eq!(id, Some("2"));
    assert_eq!(
        next_chunk(&mut body).await.as_deref(),
        Some(": keep-alive\n\n")
    );
    bus.close();
    assert_eq!(
        next_chunk(&mut body).await,
        None,
        "closing the bus ends the stream"
    );
}

/// Over a real socket: the subscription is released once the client disconnects.
#[actix_web::test]
async fn client_disconnect_releases_the_subscription() {
    let bus = EventBus::new();
    let data_bus = bus.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(data_bus.clone()))
            .app_data(web::Data::new(SseSettings {
                keep_alive: Duration::from_millis(50),
            }))
            .configure(configure)
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind loopback");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);

    let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /api/v1/events/stream HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send request");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("keep-alive") {
        let n = tokio::time::timeout(WAIT, client.read(&mut buf))
            .await
            .expect("stream data in time")
            .expect("read");
        assert!(n > 0, "server closed the stream early");
        received.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&received);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert_eq!(bus.subscriber_count(), 1);

    drop(client);
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus.subscriber_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription still held after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop(false).await;
}
