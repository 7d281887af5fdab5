//! PostgreSQL goes away for 30 seconds under traffic and comes back: the batching writer
//! retries with backoff, spools what does not fit in memory, replays it, and every event
//! and CDR is in the database at the end.
//!
//! Needs the throwaway cluster of scripts/test.sh (`SWITCHBOARD_TEST_PG_CTL` stops and
//! starts it); this file is its own test binary, so no other test runs during the outage.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::records::{cdr, event, wait_for};
use common::{Kind, TestDb};
use store::writer::{Writer, WriterConfig};
use store::{Backend, Id};

const OUTAGE: Duration = Duration::from_secs(30);

fn pg_ctl() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_CTL").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_PG_CTL is not set: the outage test stops and starts the throwaway \
             PostgreSQL cluster of ./scripts/test.sh; run it through that script"
        )
    })
}

fn run_pg_ctl(args: &[&str]) -> Result<(), String> {
    let out = Command::new(pg_ctl())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pg_ctl {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Restarts the cluster if the test ends (or panics) while it is stopped, so the test
/// binaries after this one still have their database.
struct Outage {
    stopped: bool,
}

impl Outage {
    fn begin() -> Outage {
        run_pg_ctl(&["stop", "-m", "fast"]).unwrap_or_else(|e| panic!("{e}"));
        Outage { stopped: true }
    }

    fn end(&mut self) {
        run_pg_ctl(&["start"]).unwrap_or_else(|e| panic!("{e}"));
        self.stopped = false;
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if self.stopped {
            let _ = run_pg_ctl(&["start"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_second_postgres_outage_loses_no_event_and_no_cdr() {
    let _ = pg_ctl(); // fail early, with the message, when not run by scripts/test.sh
    let db = TestDb::new(Kind::Postgres).await;
    let mut cfg = WriterConfig::new(&db.dir);
    cfg.batch_size = 500;
    cfg.max_pending = 2_000; // small, so the outage has to use the spool
    cfg.backoff_max = Duration::from_secs(2);
    let spool = cfg.spool_path.clone();
    let writer = Writer::start(db.store.clone(), cfg).expect("writer");
    let h = writer.handle();

    // Traffic: 1,000 events and 10 CDRs a second until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (h, stop) = (h.clone(), stop.clone());
        tokio::spawn(async move {
            let run = Id::new();
            let (mut events, mut cdrs) = (0i64, 0u32);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..10 {
                    events += 1;
                    h.submit(event(run, events)).await.expect("writer accepts");
                }
                if events % 1_000 == 0 {
                    for _ in 0..10 {
                        cdrs += 1;
                        h.submit(cdr(cdrs)).await.expect("writer accepts");
                    }
                }
            }
            (run, events, cdrs)
        })
    };

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.stats().written > 0,
        "writes before the outage: {:?}",
        h.stats()
    );

    let mut outage = tokio::task::spawn_blocking(Outage::begin)
        .await
        .expect("pg_ctl stop");
    let down_at = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let during = h.stats();
    assert!(
        !during.database_up,
        "the writer noticed the outage: {during:?}"
    );
    assert!(during.failed_writes > 0, "{during:?}");
    assert!(
        during.spooled > 0,
        "the spool was used while down: {during:?}"
    );
    assert!(std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) > 0);
    outage = tokio::task::spawn_blocking(move || {
        outage.end();
        outage
    })
    .await
    .expect("pg_ctl start");
    let outage_len = down_at.elapsed();

    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let (run, events, cdrs) = producer.await.expect("producer");
    let total = events as u64 + u64::from(cdrs);
    let s = wait_for(
        &h,
        Duration::from_secs(90),
        "the backlog and the spool",
        |s| s.pending == 0 && s.replayed == s.spooled && s.written + s.replayed == total,
    )
    .await;
    let end = writer.shutdown().await;
    drop(outage);
    eprintln!(
        "outage {outage_len:?}: {events} events, {cdrs} CDRs; {} written directly, {} spooled \
         and replayed, {} failed write attempts",
        s.written, end.spooled, end.failed_writes
    );

    assert_eq!(
        db.store.count_history().await.expect("count"),
        (events, i64::from(cdrs))
    );
    let Backend::Postgres(pool) = db.store.backend() else {
        panic!("postgres")
    };
    let (n, min, max): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM call_events WHERE run_id = $1",
    )
    .bind(run)
    .fetch_one(pool)
    .await
    .expect("seq range");
    assert_eq!(
        (n, min, max),
        (events, Some(1), Some(events)),
        "every seq, no gap"
    );
    assert_eq!(end.rejected, 0);
    assert_eq!(
        std::fs::metadata(&spool).expect("spool").len(),
        0,
        "spool truncated"
    );
    db.finish().await;
}
