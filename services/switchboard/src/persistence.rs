//! The server's persistence: opens the store at start (migrating it, refusing a newer
//! schema), seeds the demo set when asked, and persists the events of the [`EventBus`]
//! through the store's batching writer: every event, except the routine Method and
//! Transaction events of REGISTER and OPTIONS ([`is_persisted`]). Those come by the thousand
//! per second from phones refreshing registrations and from qualify pings; they stay in the
//! live log (`/api/v1/events`, the SSE stream), the bindings themselves are in the
//! `registrations` table, and what the registrar decides (`endpoint_registered`,
//! `endpoint_offline`, `auth_lockout`, …) is persisted.
//!
//! The bridge is one task that subscribes with [`EventBus::subscribe_since`]`(0)` (so the
//! events published before it started are replayed from the ring buffer) and hands each
//! event to the writer. It never slows the bus down: if it falls behind, the bus reports
//! [`Delivery::Lagged`] and the bridge re-reads what the ring still holds with
//! [`EventBus::since`], skipping what it already handed over.

use std::sync::Arc;

use anyhow::Context as _;
use store::writer::{CallEventRecord, EventLayer, Record, Writer, WriterConfig, WriterHandle};
use store::{Id, Store};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Settings;
use crate::events::{Delivery, Event, EventBus, Layer};

/// Events read from the ring per page when catching up after a lag.
const CATCH_UP_PAGE: usize = 1_000;

/// The store, its writer and the event bridge of a running server.
pub struct Persistence {
    store: Store,
    writer: Writer,
    bridge: JoinHandle<u64>,
    events: EventBus,
    run_id: Id,
}

/// The stored form of a bus event of server run `run`.
pub fn record_from_event(e: &Event, run: Id) -> Record {
    Record::Event(CallEventRecord {
        run_id: run,
        seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
        occurred_at: e.time,
        layer: match e.layer {
            Layer::Method => EventLayer::Method,
            Layer::Transaction => EventLayer::Transaction,
            Layer::Dialog => EventLayer::Dialog,
            Layer::Call => EventLayer::Call,
        },
        call_id: e.call_id.clone(),
        transaction_key: e.transaction.clone(),
        dialog_id: e.dialog.clone(),
        method: e.method.clone(),
        status: e.status.map(i32::from),
        from_state: e.from_state.clone(),
        to_state: e.to_state.clone(),
        cause: e.cause.clone(),
        kind: e.kind.clone(),
        detail: e.detail.clone(),
    })
}

/// Whether `e` goes to the database: not the routine Method and Transaction events
/// (`request_received`, `created`, `state`, `retransmission`) of REGISTER and OPTIONS, which
/// are registration and qualify traffic rather than calls (see the module documentation).
pub fn is_persisted(e: &Event) -> bool {
    let routine = matches!(e.layer, Layer::Method | Layer::Transaction)
        && matches!(e.method.as_deref(), Some("REGISTER" | "OPTIONS"))
        && matches!(
            e.kind.as_deref(),
            Some("request_received" | "created" | "state" | "retransmission")
        );
    !routine
}

/// Hands `e` to the writer unless it was handed over already (or is not persisted); returns
/// the new last seq.
async fn forward(writer: &WriterHandle, run: Id, e: &Arc<Event>, last: u64) -> u64 {
    if e.seq <= last {
        return last;
    }
    if !is_persisted(e) {
        return e.seq;
    }
    if writer.submit(record_from_event(e, run)).await.is_err() {
        warn!(
            seq = e.seq,
            "the store writer has stopped; event not persisted"
        );
    }
    e.seq
}

/// Hands over every event still in the ring after `last`; returns the new last seq.
async fn catch_up(bus: &EventBus, writer: &WriterHandle, run: Id, mut last: u64) -> u64 {
    loop {
        let page = bus.since(last, CATCH_UP_PAGE);
        let first_wanted = last.saturating_add(1);
        if page.oldest_available > first_wanted {
            warn!(
                lost = page.oldest_available - first_wanted,
                after = last,
                "events left the ring buffer before they could be persisted"
            );
        }
        if page.events.is_empty() {
            return last;
        }
        for e in &page.events {
            last = forward(writer, run, e, last).await;
        }
    }
}

async fn bridge(bus: EventBus, writer: WriterHandle, run: Id) -> u64 {
    let mut sub = bus.subscribe_since(0);
    let mut last = 0;
    while let Some(delivery) = sub.recv().await {
        match delivery {
            Delivery::Event(e) => last = forward(&writer, run, &e, last).await,
            Delivery::Lagged { missed, after } => {
                warn!(
                    missed,
                    after, "event persistence fell behind; catching up from the ring"
                );
                last = catch_up(&bus, &writer, run, last).await;
            }
        }
    }
    last
}

impl Persistence {
    /// Opens the store the settings name, seeds the demo set if asked, and starts the writer
    /// and the event bridge. Must run inside the server's runtime.
    pub async fn start(settings: &Settings, events: &EventBus) -> anyhow::Result<Persistence> {
        let store =
            crate::admin::open_store(settings.database_url.as_deref(), &settings.data_dir).await?;
        let version = store.schema_version().await?;
        info!(database = %store.location(), schema_version = version, "database ready");
        if settings.demo {
            crate::admin::demo::seed(&store)
                .await
                .context("cannot seed the demo data set")?;
        }
        let writer = Writer::start(store.clone(), WriterConfig::new(&settings.data_dir))?;
        let run_id = Id::new();
        let bridge = tokio::spawn(bridge(events.clone(), writer.handle(), run_id));
        info!(run_id = %run_id, "persisting events");
        Ok(Persistence {
            store,
            writer,
            bridge,
            events: events.clone(),
            run_id,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle to the batching writer (CDRs).
    pub fn writer_handle(&self) -> WriterHandle {
        self.writer.handle()
    }

    /// This server run's id (the `run_id` of its stored events).
    pub fn run_id(&self) -> Id {
        self.run_id
    }

    /// At shutdown, after the bus was closed and the SIP side stopped: persists the events
    /// published since the bridge ended, stops the writer (which writes or spools what it
    /// holds) and closes the store.
    pub async fn finish(self) {
        let last = match self.bridge.await {
            Ok(last) => last,
            Err(e) => {
                warn!(error = %e, "the event bridge failed");
                0
            }
        };
        let handle = self.writer.handle();
        catch_up(&self.events, &handle, self.run_id, last).await;
        let stats = self.writer.shutdown().await;
        info!(
            written = stats.written,
            spooled = stats.spooled,
            rejected = stats.rejected,
            "event persistence stopped"
        );
        self.store.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ServeArgs;
    use crate::config::FileConfig;
    use crate::events::{EventBusConfig, EventDraft};

    /// On a single-threaded runtime the bridge cannot run while the test publishes, so
    /// publishing 500 events through a channel of 4 makes it lag: it must catch up from the
    /// ring, and every event ends up stored exactly once, with its fields.
    #[tokio::test(flavor = "current_thread")]
    async fn every_bus_event_is_stored_even_after_a_lag() {
        let dir = std::env::temp_dir().join(format!("sb-persist-{}", Id::new()));
        let args = ServeArgs {
            data_dir: Some(dir.clone()),
            ..Default::default()
        };
        let settings = Settings::resolve(&args, &FileConfig::default()).expect("settings");
        let bus = EventBus::with_config(EventBusConfig {
            ring_capacity: 10_000,
            channel_capacity: 4,
        });
        bus.publish(EventDraft::new(Layer::Method, "before-start").kind("request_received"));
        let persistence = Persistence::start(&settings, &bus).await.expect("start");
        let store = persistence.store().clone();
        // Let the bridge subscribe (and take the first event) before the burst.
        while bus.subscriber_count() == 0 {
            tokio::task::yield_now().await;
        }
        for i in 0..500 {
            bus.publish(
                EventDraft::new(Layer::Transaction, format!("call-{i}"))
                    .transaction("server z9hG4bK1 127.0.0.1:5060 INVITE")
                    .transition("proceeding", "completed")
                    .status(486)
                    .detail(serde_json::json!({ "i": i })),
            );
        }
        bus.close();
        // Published after close, as during the SIP shutdown: still persisted by finish().
        bus.publish(EventDraft::new(Layer::Call, "after-close").kind("ended"));
        persistence.finish().await;

        let store = Store::open(store.location()).await.expect("reopen");
        assert_eq!(store.count_history().await.expect("count"), (502, 0));
        let store::Backend::Sqlite(pool) = store.backend() else {
            panic!("sqlite by default")
        };
        let (n, min, max): (i64, i64, i64) =
            sqlx::query_as("SELECT COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM call_events")
                .fetch_one(pool)
                .await
                .expect("seqs");
        assert_eq!((n, min, max), (502, 1, 502));
        let (layer, status, to_state): (String, Option<i32>, Option<String>) = sqlx::query_as(
            "SELECT layer, status, to_state FROM call_events WHERE call_id = 'call-7'",
        )
        .fetch_one(pool)
        .await
        .expect("row");
        assert_eq!(
            (layer.as_str(), status, to_state.as_deref()),
            ("transaction", Some(486), Some("completed"))
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn event(layer: Layer, method: Option<&str>, kind: &str) -> Event {
        Event {
            seq: 1,
            time: time::OffsetDateTime::UNIX_EPOCH,
            layer,
            kind: Some(kind.to_owned()),
            call_id: "c".to_owned(),
            transaction: None,
            dialog: None,
            method: method.map(str::to_owned),
            status: None,
            from_state: None,
            to_state: None,
            cause: None,
            detail: None,
        }
    }

    #[test]
    fn registration_and_qualify_traffic_stays_out_of_the_database_but_its_outcomes_do_not() {
        for method in ["REGISTER", "OPTIONS"] {
            for kind in ["request_received", "created", "state", "retransmission"] {
                assert!(!is_persisted(&event(Layer::Method, Some(method), kind)));
                assert!(!is_persisted(&event(
                    Layer::Transaction,
                    Some(method),
                    kind
                )));
            }
        }
        for kind in [
            "endpoint_registered",
            "endpoint_offline",
            "auth_lockout",
            "child_failed",
        ] {
            assert!(is_persisted(&event(Layer::Method, Some("REGISTER"), kind)));
            assert!(is_persisted(&event(Layer::Method, None, kind)));
        }
        for method in ["INVITE", "BYE", "CANCEL", "ACK"] {
            assert!(is_persisted(&event(
                Layer::Method,
                Some(method),
                "request_received"
            )));
            assert!(is_persisted(&event(
                Layer::Transaction,
                Some(method),
                "state"
            )));
        }
        assert!(is_persisted(&event(
            Layer::Dialog,
            Some("REGISTER"),
            "state"
        )));
    }
}
