//! Sample call events and CDRs, and a bounded wait on the writer's counters.

use std::time::{Duration, Instant};

use store::Id;
use store::writer::{
    CallEventRecord, CdrRecord, Direction, Disposition, EventLayer, HangupBy, Record, WriterHandle,
    WriterStats,
};

/// Event `seq` of run `run`, every field set.
pub fn event(run: Id, seq: i64) -> Record {
    Record::Event(CallEventRecord {
        run_id: run,
        seq,
        occurred_at: store::now_utc(),
        layer: EventLayer::Transaction,
        call_id: format!("{seq}-a84b4c76e66710@pc33.example.com"),
        transaction_key: Some(format!("server z9hG4bK{seq} 127.0.0.1:5062 INVITE")),
        dialog_id: Some(format!("{seq};from-tag;to-tag")),
        method: Some("INVITE".into()),
        status: Some(180),
        from_state: Some("proceeding".into()),
        to_state: Some("proceeding".into()),
        cause: Some("180 sent".into()),
        kind: Some("state".into()),
        detail: Some(
            serde_json::json!({ "transport": "udp", "peer": "127.0.0.1:5062", "seq": seq }),
        ),
    })
}

/// CDR number `n`, answered by agent alice in queue support.
pub fn cdr(n: u32) -> Record {
    let start = store::now_utc();
    Record::Cdr(CdrRecord {
        id: Id::new(),
        sip_call_id: format!("cdr-{n}@example.com"),
        direction: Direction::Inbound,
        caller: format!("sip:+3361234{n:04}@trunk.example.com"),
        callee: "sip:support@switchboard".into(),
        started_at: start,
        ringing_at: Some(start + Duration::from_millis(120)),
        answered_at: Some(start + Duration::from_secs(4)),
        ended_at: start + Duration::from_secs(95),
        disposition: Disposition::Answered,
        hangup_by: Some(HangupBy::Caller),
        hangup_cause: Some("BYE".into()),
        final_status: Some(200),
        caller_codec: Some("PCMA".into()),
        callee_codec: Some("opus".into()),
        route: Some("ivr:main>queue:support".into()),
        queue_id: Some(Id::new()),
        queue_name: Some("support".into()),
        agent_id: Some(Id::new()),
        agent_name: Some("alice".into()),
        trunk_name: Some("carrier-1".into()),
    })
}

/// Waits (at most `limit`) until `done(stats)`; panics with the last stats otherwise.
pub async fn wait_for(
    handle: &WriterHandle,
    limit: Duration,
    what: &str,
    done: impl Fn(&WriterStats) -> bool,
) -> WriterStats {
    let deadline = Instant::now() + limit;
    loop {
        let stats = handle.stats();
        if done(&stats) {
            return stats;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}; writer stats: {stats:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
