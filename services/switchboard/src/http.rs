//! The HTTP server (actix-web): `GET /health`, `GET /metrics`, the event log
//! (`GET /api/v1/events`, `GET /api/v1/events/stream`, see [`crate::events::api`]) and the
//! registrar's views (`/api/v1/registrations`, `/api/v1/endpoints`,
//! `/api/v1/endpoint-groups`, see [`crate::registrar::api`]) and call recording
//! (`/api/v1/calls/{call_id}/recording`, `/api/v1/recordings`, see [`crate::recording::api`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use serde_json::json;

use crate::events::EventBus;
use crate::events::api::SseSettings;
use crate::metrics::{self, Metrics};
use crate::recording::api::RecordingApi;
use crate::registrar::api::RegistrarApi;
use crate::transport::ListenerInfo;

/// Worker threads of the HTTP server (it only serves operational endpoints).
const HTTP_WORKERS: usize = 2;

/// Seconds the HTTP server waits for open requests at shutdown.
const HTTP_SHUTDOWN_TIMEOUT_SECS: u64 = 5;

/// What `/health` reports.
#[derive(Debug, Clone, Default)]
pub struct HealthState {
    ready: Arc<AtomicBool>,
    sip_listening: Arc<Vec<ListenerInfo>>,
}

impl HealthState {
    /// A not-yet-ready state listing the bound SIP sockets.
    pub fn new(sip_listening: Vec<ListenerInfo>) -> Self {
        HealthState {
            ready: Arc::new(AtomicBool::new(false)),
            sip_listening: Arc::new(sip_listening),
        }
    }

    /// Marks the server ready (true) or not (false, e.g. while shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// `GET /health`: 200 with the SIP sockets once all are bound and served, else 503.
async fn health(state: web::Data<HealthState>) -> HttpResponse {
    if state.is_ready() {
        HttpResponse::Ok().json(json!({
            "status": "ok",
            "sip_listening": *state.sip_listening,
        }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "sip_listening": [],
        }))
    }
}

/// `GET /metrics`: the Prometheus text exposition of this server's registry.
async fn prometheus_metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type(metrics::CONTENT_TYPE)
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot render metrics");
            HttpResponse::InternalServerError().json(json!({ "error": e.to_string() }))
        }
    }
}

/// The routes, for the server and for tests. Each handler takes its state as `web::Data`
/// (see [`AppState::configure`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(prometheus_metrics))
        .configure(crate::events::api::configure);
}

/// Everything the HTTP handlers share (each part is a cheap handle).
#[derive(Debug, Clone)]
pub struct AppState {
    /// What `/health` reports.
    pub health: HealthState,
    /// The event log behind `/api/v1/events`.
    pub events: EventBus,
    /// The registry behind `/metrics`.
    pub metrics: Metrics,
    /// Tunables of the SSE endpoint.
    pub sse: SseSettings,
    /// The registrar and store behind `/api/v1/registrations`, `/api/v1/endpoints` and
    /// `/api/v1/endpoint-groups`.
    pub registrar: RegistrarApi,
    /// The recordings directory and store behind the recording routes.
    pub recordings: RecordingApi,
    /// The user agent and prompts directory behind `POST /api/v1/calls`.
    pub calls: crate::call::api::CallsApi,
}

impl AppState {
    /// Registers the shared state as `web::Data` and every route.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.health.clone()))
            .app_data(web::Data::new(self.events.clone()))
            .app_data(web::Data::new(self.metrics.clone()))
            .app_data(web::Data::new(self.sse))
            .app_data(web::Data::new(self.registrar.clone()))
            .app_data(web::Data::new(self.recordings.clone()))
            .app_data(web::Data::new(self.calls.clone()))
            .configure(configure)
            .configure(crate::registrar::api::configure)
            .configure(crate::recording::api::configure)
            .configure(crate::call::api::configure);
    }
}

/// Binds the HTTP server on `addr`; the returned server runs once polled or spawned.
/// Also returns the bound addresses (the real port when 0 was asked for).
pub fn start(addr: SocketAddr, state: AppState) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let bound = HttpServer::new(move || App::new().configure(|cfg| state.configure(cfg)))
        .workers(HTTP_WORKERS)
        .disable_signals()
        .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_SECS)
        .bind(addr)
        .with_context(|| format!("cannot bind HTTP listener on {addr}"))?;
    let addrs = bound.addrs();
    Ok((bound.run(), addrs))
}

#[cfg(test)]
mod tests {
    use actix_web::test;

    use super::*;

    async fn get_health(state: HealthState) -> (u16, serde_json::Value) {
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(state))
                .configure(configure),
        )
        .await;
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = test::read_body_json(resp).await;
        (status, body)
    }

    #[actix_web::test]
    async fn health_is_503_until_ready_then_lists_sip_sockets() {
        let state = HealthState::new(vec![ListenerInfo {
            transport: "udp",
            address: "127.0.0.1:5060".parse().expect("addr"),
        }]);
        let (status, body) = get_health(state.clone()).await;
        assert_eq!(status, 503);
        assert_eq!(body["status"], "unavailable");

        state.set_ready(true);
        let (status, body) = get_health(state).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["sip_listening"][0]["transport"], "udp");
        assert_eq!(body["sip_listening"][0]["address"], "127.0.0.1:5060");
    }

    #[actix_web::test]
    async fn app_state_serves_metrics_and_events_after_traffic() {
        use crate::stats::SipCounters;
        use crate::ua_core::{Inbound, TransportKind, UaCore};

        let counters = Arc::new(SipCounters::default());
        let metrics = Metrics::new(counters.clone()).expect("metrics register");
        let events = EventBus::new();
        let state = AppState {
            health: HealthState::default(),
            events: events.clone(),
            metrics: metrics.clone(),
            sse: SseSettings::default(),
            registrar: RegistrarApi::default(),
            recordings: RecordingApi::default(),
            calls: Default::default(),
        };
        let core = UaCore::new(counters)
            .with_metrics(metrics)
            .with_events(events);
        let actions = core.handle(&Inbound {
            bytes: bytes::Bytes::from_static(
                b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\
                Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-m1\r\n\
                From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n\
                Call-ID: metrics-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            ),
            source: "127.0.0.1:5070".parse().expect("addr"),
            transport: TransportKind::Udp,
        });
        assert_eq!(actions.len(), 1);

        let app = test::init_service(App::new().configure(|cfg| state.configure(cfg))).await;
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(resp.status().as_u16(), 200);
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let body = test::read_body(resp).await;
        let text = String::from_utf8_lossy(&body);
        for needle in [
            "sip_messages_in_total{method=\"OPTIONS\",status_class=\"\"} 1\n",
            "sip_messages_out_total{method=\"OPTIONS\",status_class=\"2xx\"} 1\n",
            "sip_retransmissions_total{direction=\"out\"} 0\n",
            "sip_transactions_active{kind=\"non_invite_server\"} 0\n",
            "sip_transaction_timeouts_total{kind=\"invite_client\"} 0\n",
            "sip_dialogs_active 0\n",
            "sip_requests_received_total 1\n",
            "sip_unparseable_dropped_total 0\n",
            "sip_handler_panics_total 0\n",
        ] {
            assert!(text.contains(needle), "{needle:?} in\n{text}");
        }

        let resp = test::call_service(
            &app,
            test::TestRequest::get().uri("/api/v1/events").to_request(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 200);
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["events"][0]["call_id"], "metrics-1");
        assert_eq!(body["events"][0]["layer"], "method");
        assert_eq!(body["events"][0]["method"], "OPTIONS");
    }
}
