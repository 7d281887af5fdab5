//! The registrar over HTTP, for supervisors and operators.
//!
//! * `GET /api/v1/registrations?aor=USER&limit=N`: the live bindings held by the registrar
//!   (of one address-of-record when `aor` is given), with reachability and remaining time;
//!   `limit` defaults to [`DEFAULT_LIMIT`] (at most [`MAX_LIMIT`]).
//! * `GET /api/v1/endpoints`: every endpoint with its status (`registered`, `unreachable`,
//!   `offline`), last seen, user agent and source, as `switchboard endpoint list` shows it.
//! * `GET /api/v1/endpoint-groups`: per endpoint group, how many are registered, unreachable
//!   and offline.
//!
//! A bad query is 400 and an unavailable registrar or database 503, each with
//! `{"error":"…"}`.

use actix::Addr;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::Store;

use super::persist::to_datetime;
use super::{ListBindings, RegistrarActor, unix_now};
use registrar::location::Binding;

/// Bindings per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 1_000;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 100_000;

/// What the registrar routes need (register as `web::Data<RegistrarApi>`).
#[derive(Clone, Default)]
pub struct RegistrarApi {
    /// The registrar actor.
    pub registrar: Option<Addr<RegistrarActor>>,
    /// The store, for endpoint statuses and groups.
    pub store: Option<Store>,
}

impl std::fmt::Debug for RegistrarApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarApi")
            .field("registrar", &self.registrar.is_some())
            .field("store", &self.store.is_some())
            .finish()
    }
}

/// One binding as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingView {
    /// Address-of-record (endpoint user name).
    pub aor: String,
    /// Contact URI as registered.
    pub contact: String,
    /// q-value × 1000, when given.
    pub q_milli: Option<u16>,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `udp`, `tcp`, …
    pub transport: &'static str,
    /// Where it registered from.
    pub source: String,
    /// Our address it registered at.
    pub local: String,
    /// Its User-Agent.
    pub user_agent: Option<String>,
    /// `unknown`, `reachable` or `unreachable`.
    pub reachability: &'static str,
    /// When it was last heard from (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: time::OffsetDateTime,
    /// When it first registered (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: time::OffsetDateTime,
    /// Call-ID of its last REGISTER.
    pub call_id: String,
    /// Path (RFC 3327), in order.
    pub path: Vec<String>,
}

impl BindingView {
    /// The view of `b` at the current time.
    pub fn of(b: &Binding) -> BindingView {
        BindingView {
            aor: b.aor.to_string(),
            contact: b.contact.to_string(),
            q_milli: b.q_milli,
            expires_in: b.remaining_secs(unix_now()),
            transport: b.flow.transport.as_str(),
            source: b.flow.source.to_string(),
            local: b.flow.local.to_string(),
            user_agent: b.user_agent.as_deref().map(str::to_string),
            reachability: b.reachability.as_str(),
            last_seen: to_datetime(b.last_seen),
            registered_at: to_datetime(b.registered_at),
            call_id: b.call_id.to_string(),
            path: b.path.iter().map(|p| p.to_string()).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationsQuery {
    aor: Option<String>,
    limit: Option<usize>,
}

fn bad_request(message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message.to_string() }))
}

fn unavailable(message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({ "error": message.to_string() }))
}

async fn registrations(
    api: web::Data<RegistrarApi>,
    query: web::Query<serde_json::Value>,
) -> HttpResponse {
    let query: RegistrationsQuery = match serde_json::from_value(query.into_inner()) {
        Ok(q) => q,
        Err(e) => return bad_request(format!("invalid query: {e}")),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        ));
    }
    let Some(registrar) = &api.registrar else {
        return unavailable("the registrar is not running");
    };
    match registrar
        .send(ListBindings {
            aor: query.aor,
            limit,
        })
        .await
    {
        Ok(bindings) => {
            let views: Vec<BindingView> = bindings.iter().map(BindingView::of).collect();
            HttpResponse::Ok().json(json!({ "registrations": views }))
        }
        Err(e) => unavailable(format!("the registrar did not answer: {e}")),
    }
}

async fn endpoints(api: web::Data<RegistrarApi>) -> HttpResponse {
    let Some(store) = &api.store else {
        return unavailable("no database");
    };
    match store.endpoint_statuses(to_datetime(unix_now())).await {
        Ok(list) => HttpResponse::Ok().json(json!({ "endpoints": list })),
        Err(e) => unavailable(format!("cannot read endpoints: {e}")),
    }
}

async fn endpoint_groups(api: web::Data<RegistrarApi>) -> HttpResponse {
    let Some(store) = &api.store else {
        return unavailable("no database");
    };
    match store
        .endpoint_group_summaries(to_datetime(unix_now()))
        .await
    {
        Ok(list) => HttpResponse::Ok().json(json!({ "groups": list })),
        Err(e) => unavailable(format!("cannot read endpoint groups: {e}")),
    }
}

/// The registrar routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/registrations", web::get().to(registrations))
        .route("/api/v1/endpoints", web::get().to(endpoints))
        .route("/api/v1/endpoint-groups", web::get().to(endpoint_groups));
}
