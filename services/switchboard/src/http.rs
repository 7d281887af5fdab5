//! The HTTP server (actix-web): `GET /health`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use serde_json::json;

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

/// The routes, for the server and for tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

/// Binds the HTTP server on `addr`; the returned server runs once polled or spawned.
/// Also returns the bound addresses (the real port when 0 was asked for).
pub fn start(addr: SocketAddr, state: HealthState) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let data = web::Data::new(state);
    let bound = HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
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
}
