//! The event log over HTTP.
//!
//! * `GET /api/v1/events?since=SEQ&limit=N`: 200 with
//!   `{"events":[…],"next_since":SEQ,"oldest_available":SEQ}` (events with seq > `since`,
//!   oldest first; `since` defaults to 0, `limit` to [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
//!   A bad query is 400 with `{"error":"…"}`.
//! * `GET /api/v1/events/stream`: Server-Sent Events. Each event is
//!   `id: <seq>\nevent: <layer>\ndata: <json>\n\n`. A `Last-Event-ID` header (or a `since`
//!   query parameter) replays the buffered events after it first. Lost events are announced
//!   as `event: lagged` with `data: {"missed":N,"after":SEQ}` (no id, so a reconnect resumes
//!   after the last real event). A `: keep-alive` comment goes out every
//!   [`SseSettings::keep_alive`]. The stream ends when the client goes away (the next write
//!   fails, at the latest at the next keep-alive, and the subscription is dropped) or when the
//!   bus is closed at shutdown.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use super::{Delivery, Event, EventBus, Subscription};

/// Events per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 1_000;

/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 10_000;

/// How often an idle SSE stream sends a keep-alive comment.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Tunables of the SSE endpoint (register as `web::Data<SseSettings>`; defaults apply
/// otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseSettings {
    /// Interval between keep-alive comments.
    pub keep_alive: Duration,
}

impl Default for SseSettings {
    fn default() -> Self {
        SseSettings {
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

/// Why an events request was refused; answered as 400 with `{"error": "<message>"}`.
#[derive(Debug, thiserror::Error)]
pub enum EventsApiError {
    /// The query string did not deserialize (not a number, negative, repeated, …).
    #[error("invalid query: {0}")]
    Query(String),
    /// `limit` outside `1..=MAX_LIMIT`.
    #[error("limit must be between 1 and {MAX_LIMIT}, got {0}")]
    Limit(usize),
    /// `Last-Event-ID` is not a sequence number.
    #[error("Last-Event-ID must be an event sequence number")]
    LastEventId,
}

impl ResponseError for EventsApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest().json(json!({ "error": self.to_string() }))
    }
}

/// The query of both endpoints (unknown parameters are ignored).
#[derive(Debug, Deserialize)]
struct EventsQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

fn parse_query(req: &HttpRequest) -> Result<EventsQuery, EventsApiError> {
    web::Query::<EventsQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| EventsApiError::Query(e.to_string()))
}

/// The JSON body of `GET /api/v1/events`.
#[derive(Serialize)]
struct PageBody<'a> {
    events: Vec<&'a Event>,
    next_since: u64,
    oldest_available: u64,
}

/// `GET /api/v1/events`.
async fn list_events(
    req: HttpRequest,
    bus: web::Data<EventBus>,
) -> Result<HttpResponse, EventsApiError> {
    let query = parse_query(&req)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(EventsApiError::Limit(limit));
    }
    let page = bus.since(query.since.unwrap_or(0), limit);
    Ok(HttpResponse::Ok().json(PageBody {
        events: page.events.iter().map(|e| &**e).collect(),
        next_since: page.next_since,
        oldest_available: page.oldest_available,
    }))
}

/// `GET /api/v1/events/stream`.
async fn stream_events(
    req: HttpRequest,
    bus: web::Data<EventBus>,
) -> Result<HttpResponse, EventsApiError> {
    let query = parse_query(&req)?;
    let last_event_id = match req.headers().get("Last-Event-ID") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(EventsApiError::LastEventId)?,
        ),
        None => None,
    };
    let keep_alive = req
        .app_data::<web::Data<SseSettings>>()
        .map_or(DEFAULT_KEEP_ALIVE, |s| s.keep_alive)
        .max(Duration::from_millis(10));
    let subscription = match last_event_id.or(query.since) {
        Some(after) => bus.subscribe_since(after),
        None => bus.subscribe(),
    };
    let mut ticker = interval_at(Instant::now() + keep_alive, keep_alive);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let body = futures_util::stream::unfold(
        SseStream {
            subscription,
            ticker,
        },
        |mut s| async move {
            let chunk = s.next_chunk().await?;
            Some((Ok::<_, Infallible>(chunk), s))
        },
    );
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// The state of one SSE response. Dropping it (client gone) drops the subscription.
struct SseStream {
    subscription: Subscription,
    ticker: Interval,
}

impl SseStream {
    /// The next chunk to write; `None` ends the response (the bus was closed).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        tokio::select! {
            biased;
            delivery = self.subscription.recv() => delivery.map(|d| sse_chunk(&d)),
            _ = self.ticker.tick() => Some(Bytes::from_static(b": keep-alive\n\n")),
        }
    }
}

/// One delivery in the SSE wire format.
pub fn sse_chunk(delivery: &Delivery) -> Bytes {
    match delivery {
        Delivery::Event(event) => match serde_json::to_string(&**event) {
            // serde_json escapes newlines, so the JSON is one `data:` line.
            Ok(data) => Bytes::from(format!(
                "id: {}\nevent: {}\ndata: {data}\n\n",
                event.seq, event.layer
            )),
            Err(e) => Bytes::from(format!(
                ": event {} could not be encoded: {}\n\n",
                event.seq,
                e.to_string().replace(['\r', '\n'], " ")
            )),
        },
        Delivery::Lagged { missed, after } => Bytes::from(format!(
            "event: lagged\ndata: {}\n\n",
            json!({ "missed": missed, "after": after })
        )),
    }
}

/// Registers `GET /api/v1/events` and `GET /api/v1/events/stream` (they need a
/// `web::Data<EventBus>`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/events", web::get().to(list_events))
        .route("/api/v1/events/stream", web::get().to(stream_events));
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
