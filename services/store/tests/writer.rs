//! The batching writer: batches by size and by interval, shutdown flush, spool replay,
//! idempotent retries, the reject file and a never-blocking submit; on both backends.

mod common;

use std::time::Duration;

use common::records::{cdr, event, wait_for};
use common::{Kind, TestDb, on_both_backends};
use store::writer::{Record, SubmitError, Writer, WriterConfig};
use store::{Backend, Id};

const WAIT: Duration = Duration::from_secs(20);

fn config(db: &TestDb) -> WriterConfig {
    WriterConfig::new(&db.dir)
}

async fn batches_are_cut_by_size_then_by_interval(kind: Kind) {
    let db = TestDb::new(kind).await;
    let mut cfg = config(&db);
    cfg.batch_size = 1_000;
    cfg.flush_interval = Duration::from_secs(3600);
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();
    let run = Id::new();
    for seq in 1..=2_500 {
        h.submit(event(run, seq)).await.expect("submit");
    }
    let s = wait_for(&h, WAIT, "two full batches", |s| s.written >= 2_000).await;
    assert_eq!(
        (s.written, s.batches),
        (2_000, 2),
        "only full batches before the interval"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.stats().written,
        2_000,
        "the partial batch waits for the interval"
    );
    let s = writer.shutdown().await;
    assert_eq!((s.written, s.batches, s.spooled), (2_500, 3, 0));
    assert_eq!(db.store.count_history().await.expect("count"), (2_500, 0));

    // A short interval flushes a partial batch on its own.
    let mut cfg = config(&db);
    cfg.flush_interval = Duration::from_millis(50);
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();
    for i in 0..10 {
        h.try_submit(cdr(i)).expect("room in the queue");
    }
    let s = wait_for(&h, WAIT, "the interval flush", |s| s.written == 10).await;
    assert_eq!(s.batches, 1);
    writer.shutdown().await;
    assert_eq!(db.store.count_history().await.expect("count"), (2_500, 10));
    db.finish().await;
}

async fn shutdown_writes_everything_accepted(kind: Kind) {
    let db = TestDb::new(kind).await;
    let writer = Writer::start(db.store.clone(), config(&db)).expect("writer");
    let h = writer.handle();
    let run = Id::new();
    for seq in 1..=3_000 {
        h.submit(event(run, seq)).await.expect("submit");
        if seq % 100 == 0 {
            h.submit(cdr(seq as u32)).await.expect("submit");
        }
    }
    let s = writer.shutdown().await;
    assert_eq!(
        (s.submitted, s.written, s.spooled, s.pending),
        (3_030, 3_030, 0, 0)
    );
    assert_eq!(db.store.count_history().await.expect("count"), (3_000, 30));
    assert!(matches!(
        h.try_submit(event(run, 9_999)),
        Err(SubmitError::Closed(_))
    ));
    db.finish().await;
}

async fn rows_read_back_as_written_and_retries_do_not_duplicate(kind: Kind) {
    let db = TestDb::new(kind).await;
    let run = Id::new();
    let records: Vec<Record> = vec![event(run, 1), event(run, 2), cdr(1)];
    db.store.insert_records(&records).await.expect("insert");
    db.store
        .insert_records(&records)
        .await
        .expect("insert again");
    assert_eq!(db.store.count_history().await.expect("count"), (2, 1));
    let Record::Cdr(c) = &records[2] else {
        panic!("cdr")
    };
    let sql = "SELECT sip_call_id, disposition, hangup_by, final_status, agent_name, answered_at \
               FROM calls WHERE id = $1";
    type Row = (
        String,
        String,
        Option<String>,
        Option<i32>,
        Option<String>,
        Option<time::OffsetDateTime>,
    );
    let row: Row = match db.store.backend() {
        Backend::Postgres(p) => sqlx::query_as(sql).bind(c.id).fetch_one(p).await,
        Backend::Sqlite(p) => sqlx::query_as(sql).bind(c.id).fetch_one(p).await,
    }
    .expect("cdr row");
    assert_eq!(
        row,
        (
            c.sip_call_id.clone(),
            "answered".into(),
            Some("caller".into()),
            Some(200),
            Some("alice".into()),
            c.answered_at
        )
    );
    let sql = "SELECT layer, status, detail FROM call_events WHERE run_id = $1 AND seq = 2";
    let (layer, status, detail): (String, Option<i32>, Option<serde_json::Value>) =
        match db.store.backend() {
            Backend::Postgres(p) => sqlx::query_as(sql).bind(run).fetch_one(p).await,
            Backend::Sqlite(p) => sqlx::query_as(sql).bind(run).fetch_one(p).await,
        }
        .expect("event row");
    assert_eq!((layer.as_str(), status), ("transaction", Some(180)));
    assert_eq!(detail.map(|d| d["seq"].clone()), Some(2.into()));
    db.finish().await;
}

async fn a_spool_left_by_an_earlier_run_is_replayed_then_truncated(kind: Kind) {
    let db = TestDb::new(kind).await;
    let cfg = config(&db);
    let run = Id::new();
    let mut text = String::new();
    for seq in 1..=1_500 {
        text.push_str(&serde_json::to_string(&event(run, seq)).expect("json"));
        text.push('\n');
        if seq == 700 {
            text.push_str("{\"type\":\"event\",\"torn wri\n"); // a crash mid-line
        }
    }
    text.push_str(&serde_json::to_string(&cdr(7)).expect("json"));
    text.push('\n');
    std::fs::write(&cfg.spool_path, text).expect("spool written");
    let spool = cfg.spool_path.clone();
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();
    let s = wait_for(&h, WAIT, "the replay", |s| s.replayed == 1_501).await;
    assert_eq!(s.written, 0);
    writer.shutdown().await;
    assert_eq!(db.store.count_history().await.expect("count"), (1_500, 1));
    assert_eq!(
        std::fs::metadata(&spool).expect("spool").len(),
        0,
        "truncated"
    );
    db.finish().await;
}

async fn records_the_database_refuses_go_to_the_reject_file(kind: Kind) {
    let db = TestDb::new(kind).await;
    let cfg = config(&db);
    let rejects = cfg.reject_path.clone();
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();
    let run = Id::new();
    let mut bad = cdr(1);
    if let Record::Cdr(c) = &mut bad {
        c.final_status = Some(999); // outside the schema's 100..699
    }
    for r in [event(run, 1), bad, cdr(2), event(run, 2)] {
        h.submit(r).await.expect("submit");
    }
    let s = writer.shutdown().await;
    assert_eq!((s.written, s.rejected), (4, 1));
    assert_eq!(db.store.count_history().await.expect("count"), (2, 1));
    let text = std::fs::read_to_string(&rejects).expect("reject file");
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"final_status\":999"), "{text}");
    db.finish().await;
}

on_both_backends!(
    batches_are_cut_by_size_then_by_interval,
    shutdown_writes_everything_accepted,
    rows_read_back_as_written_and_retries_do_not_duplicate,
    a_spool_left_by_an_earlier_run_is_replayed_then_truncated,
    records_the_database_refuses_go_to_the_reject_file,
);

/// On a single-threaded runtime the writer task cannot run between two `try_submit`s, so
/// the queue fills: the call returns at once with the record, never waiting.
#[tokio::test(flavor = "current_thread")]
async fn try_submit_never_waits_and_hands_back_the_record_when_full() {
    let db = TestDb::new(Kind::Sqlite).await;
    let mut cfg = config(&db);
    cfg.queue_capacity = 8;
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();
    let run = Id::new();
    for seq in 1..=8 {
        h.try_submit(event(run, seq)).expect("room");
    }
    match h.try_submit(event(run, 9)) {
        Err(SubmitError::Full(r)) => assert_eq!(*r, event_with_time(&r, run, 9)),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(h.stats().queue_full, 1);
    let s = writer.shutdown().await;
    assert_eq!(s.written, 8);
    db.finish().await;
}

/// `event(run, seq)` with the time of `r` (events carry the time they were made).
fn event_with_time(r: &Record, run: Id, seq: i64) -> Record {
    let mut e = event(run, seq);
    if let (Record::Event(e), Record::Event(r)) = (&mut e, r) {
        e.occurred_at = r.occurred_at;
    }
    e
}
