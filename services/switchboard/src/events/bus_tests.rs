//! Event bus tests: numbering, the ring buffer, paging, subscribers and lag.

use std::time::Duration;

use super::*;
use crate::events::Layer;

fn draft(call_id: &str) -> EventDraft {
    EventDraft::new(Layer::Method, call_id).method("OPTIONS")
}

fn small_bus(ring: usize, channel: usize) -> EventBus {
    EventBus::with_config(EventBusConfig {
        ring_capacity: ring,
        channel_capacity: channel,
    })
}

fn seqs(page: &Page) -> Vec<u64> {
    page.events.iter().map(|e| e.seq).collect()
}

fn event_seq(d: Option<Delivery>) -> u64 {
    match d {
        Some(Delivery::Event(e)) => e.seq,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn seq_starts_at_one_and_is_monotonic_across_clones_and_threads() {
    let bus = EventBus::new();
    assert_eq!(bus.last_seq(), 0);
    assert_eq!(bus.oldest_available(), 1);
    assert_eq!(bus.publish(draft("a")), 1);
    assert_eq!(bus.clone().publish(draft("b")), 2);

    let handles: Vec<_> = (0..4)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| bus.publish(draft(&format!("{t}-{i}"))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("publisher thread"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (3..=1002).collect::<Vec<_>>(), "no gaps, no repeats");

    let page = bus.since(0, 10_000);
    assert!(page.events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert!(page.events.windows(2).all(|w| w[0].time <= w[1].time));
}

#[test]
fn ring_buffer_evicts_oldest_and_reports_oldest_available() {
    let bus = small_bus(3, 16);
    for i in 0..5 {
        bus.publish(draft(&i.to_string()));
    }
    assert_eq!(bus.last_seq(), 5);
    assert_eq!(bus.oldest_available(), 3);
    let page = bus.since(0, 100);
    assert_eq!(seqs(&page), [3, 4, 5]);
    assert_eq!(page.oldest_available, 3);
    assert_eq!(page.next_since, 5);
    assert_eq!(page.events[0].call_id, "2");
}

#[test]
fn since_and_limit_page_through_the_log() {
    let bus = EventBus::new();
    for i in 0..10 {
        bus.publish(draft(&i.to_string()));
    }
    let first = bus.since(0, 4);
    assert_eq!(seqs(&first), [1, 2, 3, 4]);
    assert_eq!(first.next_since, 4);
    let second = bus.since(first.next_since, 4);
    assert_eq!(seqs(&second), [5, 6, 7, 8]);
    let third = bus.since(second.next_since, 4);
    assert_eq!(seqs(&third), [9, 10]);
    let empty = bus.since(third.next_since, 4);
    assert!(empty.events.is_empty());
    assert_eq!(empty.next_since, 10, "an empty page keeps the cursor");
    let beyond = bus.since(500, 4);
    assert!(beyond.events.is_empty());
    assert_eq!(beyond.next_since, 500);
    assert!(bus.since(0, 0).events.is_empty());
}

#[test]
fn zero_capacities_are_clamped_to_one() {
    let bus = small_bus(0, 0);
    assert_eq!(bus.ring_capacity(), 1);
    bus.publish(draft("a"));
    bus.publish(draft("b"));
    assert_eq!(seqs(&bus.since(0, 10)), [2]);
}

#[tokio::test]
async fn subscribers_receive_live_events_in_order() {
    let bus = EventBus::new();
    bus.publish(draft("before"));
    let mut a = bus.subscribe();
    let mut b = bus.subscribe();
    assert_eq!(bus.subscriber_count(), 2);
    bus.publish(draft("x"));
    bus.publish(draft("y"));
    for sub in [&mut a, &mut b] {
        assert_eq!(event_seq(sub.recv().await), 2);
        assert_eq!(event_seq(sub.recv().await), 3);
        assert!(sub.try_recv().is_none(), "nothing else is waiting");
    }
    drop(a);
    assert_eq!(bus.subscriber_count(), 1);
}

#[tokio::test]
async fn lagging_subscriber_is_told_how_many_it_missed() {
    let bus = small_bus(100, 4);
    let mut sub = bus.subscribe();
    bus.publish(draft("first"));
    assert_eq!(event_seq(sub.recv().await), 1);
    for i in 0..10 {
        bus.publish(draft(&i.to_string()));
    }
    // Events 2..=11 were sent into a channel of 4: the oldest 6 are gone for this subscriber.
    assert_eq!(
        sub.recv().await,
        Some(Delivery::Lagged {
            missed: 6,
            after: 1
        })
    );
    assert_eq!(event_seq(sub.recv().await), 8);
    // What it missed is still in the ring buffer.
    assert_eq!(seqs(&bus.since(1, 6)), [2, 3, 4, 5, 6, 7]);
}

#[tokio::test]
async fn subscribe_since_replays_then_continues_live_without_gap_or_duplicate() {
    let bus = EventBus::new();
    for i in 0..3 {
        bus.publish(draft(&i.to_string()));
    }
    let mut sub = bus.subscribe_since(1);
    bus.publish(draft("live"));
    let got: Vec<u64> = [sub.recv().await, sub.recv().await, sub.recv().await]
        .into_iter()
        .map(event_seq)
        .collect();
    assert_eq!(got, [2, 3, 4]);
    assert_eq!(sub.last_seq(), 4);
}

#[tokio::test]
async fn replay_from_an_evicted_point_starts_with_a_lagged_notice() {
    let bus = small_bus(2, 16);
    for i in 0..5 {
        bus.publish(draft(&i.to_string()));
    }
    let mut sub = bus.subscribe_since(1);
    assert_eq!(
        sub.recv().await,
        Some(Delivery::Lagged {
            missed: 2,
            after: 1
        })
    );
    assert_eq!(event_seq(sub.recv().await), 4);
    assert_eq!(event_seq(sub.recv().await), 5);
    // A cursor from the future (e.g. before a restart) replays nothing and reports no gap.
    let mut future = bus.subscribe_since(99);
    assert!(future.try_recv().is_none());
}

#[tokio::test]
async fn close_ends_subscriptions_after_what_they_hold() {
    let bus = EventBus::new();
    let mut sub = bus.subscribe();
    bus.publish(draft("a"));
    bus.close();
    assert!(bus.is_closed());
    assert_eq!(bus.subscriber_count(), 0);
    assert_eq!(event_seq(sub.recv().await), 1);
    let end = tokio::time::timeout(Duration::from_secs(1), sub.recv()).await;
    assert_eq!(end.expect("closed subscription returns at once"), None);
    assert!(sub.is_finished());
    // Publishing still works and is still buffered.
    assert_eq!(bus.publish(draft("b")), 2);
    assert_eq!(seqs(&bus.since(0, 10)), [1, 2]);
    let mut late = bus.subscribe_since(0);
    assert_eq!(event_seq(late.recv().await), 1);
    assert_eq!(event_seq(late.recv().await), 2);
    assert_eq!(late.recv().await, None);
}
