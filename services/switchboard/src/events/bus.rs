//! The event bus: numbering, logging, the ring buffer and the live fan-out.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{Event, EventDraft, Layer};

/// How many recent events the ring buffer keeps unless configured otherwise.
pub const DEFAULT_RING_CAPACITY: usize = 10_000;

/// How many events a live subscriber may fall behind before it is told it lagged.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 1_024;

/// Upper bound for both capacities (larger values are clamped to it).
pub const MAX_CAPACITY: usize = 1 << 20;

/// Sizes of the bus. Zero and oversized values are clamped to `1..=MAX_CAPACITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBusConfig {
    /// Recent events kept for [`EventBus::since`] and replays.
    pub ring_capacity: usize,
    /// Events a live subscriber may fall behind before it gets [`Delivery::Lagged`].
    pub channel_capacity: usize,
}

impl Default for EventBusConfig {
    fn default() -> Self {
        EventBusConfig {
            ring_capacity: DEFAULT_RING_CAPACITY,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
        }
    }
}

/// A cheaply cloneable handle on the process-wide event log.
///
/// Every method is non-blocking (a short mutex section, no I/O, no await) and none panics.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    ring_capacity: usize,
}

struct State {
    /// The last sequence number handed out (0 before the first event).
    last_seq: u64,
    /// The most recent events, oldest first; their seqs are consecutive.
    ring: VecDeque<Arc<Event>>,
    /// The live fan-out; `None` once the bus is closed.
    tx: Option<broadcast::Sender<Arc<Event>>>,
}

impl State {
    /// The lowest seq still buffered (the next seq when nothing is).
    fn oldest_available(&self) -> u64 {
        self.ring
            .front()
            .map_or(self.last_seq.saturating_add(1), |e| e.seq)
    }

    /// Index in the ring of the first event with seq > `since`.
    fn start_after(&self, since: u64) -> usize {
        self.ring.partition_point(|e| e.seq <= since)
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One page of the log, as returned by [`EventBus::since`].
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Events with seq greater than the one asked for, oldest first.
    pub events: Vec<Arc<Event>>,
    /// The seq to ask for next: the last event's, or the one asked for when the page is empty.
    pub next_since: u64,
    /// The lowest seq still buffered (the next seq to be assigned when nothing is); events
    /// before it have been evicted, so `since + 1 < oldest_available` means some were missed.
    pub oldest_available: u64,
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The next event.
    Event(Arc<Event>),
    /// Events were lost to this subscriber: it fell behind the live channel, or asked to
    /// replay from a point the ring buffer no longer holds. Events still in the ring buffer can
    /// be fetched with [`EventBus::since`]`(after, …)`.
    Lagged {
        /// How many events were skipped.
        missed: u64,
        /// The seq of the last event delivered before the gap (or the replay point).
        after: u64,
    },
}

impl EventBus {
    /// A bus with the default sizes.
    pub fn new() -> Self {
        EventBus::with_config(EventBusConfig::default())
    }

    /// A bus with the given sizes (clamped to `1..=MAX_CAPACITY`).
    pub fn with_config(config: EventBusConfig) -> Self {
        let ring_capacity = config.ring_capacity.clamp(1, MAX_CAPACITY);
        let channel_capacity = config.channel_capacity.clamp(1, MAX_CAPACITY);
        let (tx, _) = broadcast::channel(channel_capacity);
        EventBus {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    last_seq: 0,
                    ring: VecDeque::with_capacity(ring_capacity.min(1024)),
                    tx: Some(tx),
                }),
                ring_capacity,
            }),
        }
    }

    /// How many events the ring buffer keeps.
    pub fn ring_capacity(&self) -> usize {
        self.inner.ring_capacity
    }

    /// Numbers `draft`, stamps it with the current UTC time, logs it (tracing, info level,
    /// target `switchboard::events`), buffers it and sends it to live subscribers. Returns its
    /// seq. Never blocks on subscribers: a slow one lags instead.
    pub fn publish(&self, draft: EventDraft) -> u64 {
        let event = {
            let mut state = lock(&self.inner.state);
            state.last_seq = state.last_seq.saturating_add(1);
            let event = Arc::new(draft.into_event(state.last_seq, OffsetDateTime::now_utc()));
            if state.ring.len() >= self.inner.ring_capacity {
                state.ring.pop_front();
            }
            state.ring.push_back(event.clone());
            // Sending under the lock keeps the channel in seq order, and lets subscribe_since
            // cut between replay and live without a gap or a duplicate.
            if let Some(tx) = &state.tx {
                // An error only means nobody is subscribed.
                let _ = tx.send(event.clone());
            }
            event
        };
        log_event(&event);
        event.seq
    }

    /// Up to `limit` buffered events with seq greater than `since`, oldest first.
    pub fn since(&self, since: u64, limit: usize) -> Page {
        let state = lock(&self.inner.state);
        let events: Vec<Arc<Event>> = state
            .ring
            .iter()
            .skip(state.start_after(since))
            .take(limit)
            .cloned()
            .collect();
        Page {
            next_since: events.last().map_or(since, |e| e.seq),
            oldest_available: state.oldest_available(),
            events,
        }
    }

    /// The lowest seq still buffered (the next seq to be assigned when nothing is).
    pub fn oldest_available(&self) -> u64 {
        lock(&self.inner.state).oldest_available()
    }

    /// The seq of the last event published (0 before the first).
    pub fn last_seq(&self) -> u64 {
        lock(&self.inner.state).last_seq
    }

    /// A live subscription: every event published from now on.
    ///
    /// This is the hook for consumers such as the persistent store's batching writer.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_since(u64::MAX)
    }

    /// A subscription that first replays the buffered events with seq greater than `since`
    /// (preceded by [`Delivery::Lagged`] if some of them were already evicted), then continues
    /// live, with neither gap nor duplicate between the two. `since = 0` replays everything
    /// still buffered; a `since` at or beyond [`EventBus::last_seq`] replays nothing.
    pub fn subscribe_since(&self, since: u64) -> Subscription {
        let state = lock(&self.inner.state);
        let backlog: VecDeque<Arc<Event>> = state
            .ring
            .iter()
            .skip(state.start_after(since))
            .cloned()
            .collect();
        let first = state
            .oldest_available()
            .min(state.last_seq.saturating_add(1));
        let missed = first.saturating_sub(since.saturating_add(1));
        Subscription {
            gap: (missed > 0).then_some(Delivery::Lagged {
                missed,
                after: since,
            }),
            backlog,
            rx: state.tx.as_ref().map(broadcast::Sender::subscribe),
            last_seq: since.min(state.last_seq),
        }
    }

    /// How many live subscriptions exist.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.inner.state)
            .tx
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Ends every subscription (after it has delivered what it holds) and stops the live
    /// fan-out; used at shutdown so streaming HTTP responses finish. Events published after
    /// closing are still numbered, logged and buffered.
    pub fn close(&self) {
        lock(&self.inner.state).tx = None;
    }

    /// Whether [`EventBus::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.state).tx.is_none()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("EventBus")
            .field("last_seq", &state.last_seq)
            .field("buffered", &state.ring.len())
            .field("ring_capacity", &self.inner.ring_capacity)
            .field("closed", &state.tx.is_none())
            .finish()
    }
}

/// Emits event `$e` as a tracing record at `$level` (a constant, as `tracing` requires).
macro_rules! log_event_at {
    ($level:expr, $e:expr) => {{
        let e = $e;
        tracing::event!(
            target: "switchboard::events",
            $level,
            seq = e.seq,
            layer = e.layer.as_str(),
            kind = e.kind.as_deref(),
            call_id = %e.call_id,
            transaction = e.transaction.as_deref(),
            dialog = e.dialog.as_deref(),
            method = e.method.as_deref(),
            status = e.status,
            from_state = e.from_state.as_deref(),
            to_state = e.to_state.as_deref(),
            cause = e.cause.as_deref(),
            "event"
        )
    }};
}

/// Emits one event as a tracing record: Dialog and Call events at INFO (a call's story),
/// the Method and Transaction events of every message at DEBUG, so the INFO log of a busy
/// registrar is not one line per REGISTER and per transaction state.
fn log_event(e: &Event) {
    match e.layer {
        Layer::Dialog | Layer::Call => log_event_at!(tracing::Level::INFO, e),
        Layer::Method | Layer::Transaction => log_event_at!(tracing::Level::DEBUG, e),
    }
}

/// A stream of [`Delivery`]s from an [`EventBus`]: first any replay, then live events.
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    gap: Option<Delivery>,
    backlog: VecDeque<Arc<Event>>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    last_seq: u64,
}

impl Subscription {
    /// The next delivery, waiting for one if needed; `None` once the bus is closed and
    /// everything has been delivered. Cancel-safe (usable in `tokio::select!`).
    pub async fn recv(&mut self) -> Option<Delivery> {
        if let Some(d) = self.buffered() {
            return Some(d);
        }
        let rx = self.rx.as_mut()?;
        let result = rx.recv().await;
        match result {
            Ok(event) => Some(self.deliver(event)),
            Err(RecvError::Lagged(missed)) => Some(self.lagged(missed)),
            Err(RecvError::Closed) => {
                self.rx = None;
                None
            }
        }
    }

    /// The next delivery if one is ready now (for draining a batch); `None` if nothing is
    /// waiting or the bus is closed (see [`Subscription::is_finished`]).
    pub fn try_recv(&mut self) -> Option<Delivery> {
        if let Some(d) = self.buffered() {
            return Some(d);
        }
        let rx = self.rx.as_mut()?;
        match rx.try_recv() {
            Ok(event) => Some(self.deliver(event)),
            Err(TryRecvError::Lagged(missed)) => Some(self.lagged(missed)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => {
                self.rx = None;
                None
            }
        }
    }

    /// True once the bus was closed and this subscription has nothing left to deliver.
    pub fn is_finished(&self) -> bool {
        self.gap.is_none() && self.backlog.is_empty() && self.rx.is_none()
    }

    /// The seq of the last event delivered (or the replay point before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn buffered(&mut self) -> Option<Delivery> {
        if let Some(gap) = self.gap.take() {
            return Some(gap);
        }
        let event = self.backlog.pop_front()?;
        Some(self.deliver(event))
    }

    fn deliver(&mut self, event: Arc<Event>) -> Delivery {
        self.last_seq = event.seq;
        Delivery::Event(event)
    }

    fn lagged(&self, missed: u64) -> Delivery {
        Delivery::Lagged {
            missed,
            after: self.last_seq,
        }
    }
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
