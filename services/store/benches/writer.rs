//! Call-event insert rate through the batching writer, on SQLite and on PostgreSQL.
//!
//! `bench/store.sh [EVENTS]` starts a throwaway PostgreSQL cluster and runs this with
//! `cargo bench -p store --bench writer`. PostgreSQL comes from
//! `SWITCHBOARD_BENCH_DATABASE_URL` (a server where the benchmark may create a database);
//! without it only SQLite is measured, and the output says so.
//!
//! One producer task submits EVENTS call events (default 200,000; every field set, a
//! ~100-byte JSON detail) as fast as the writer takes them; the clock runs from the first
//! submit until the writer reports every event acknowledged by the database. A warm-up of
//! 10,000 events runs first. Default writer settings (batches of 1,000).

use std::time::{Duration, Instant};

use sqlx::Connection;
use store::writer::{CallEventRecord, EventLayer, Record, Writer, WriterConfig, WriterHandle};
use store::{Id, Location, Store};

const WARM_UP: i64 = 10_000;

fn event(run: Id, seq: i64) -> Record {
    Record::Event(CallEventRecord {
        run_id: run,
        seq,
        occurred_at: store::now_utc(),
        layer: EventLayer::Transaction,
        call_id: format!("{seq:08}-a84b4c76e66710@pc33.example.com"),
        transaction_key: Some(format!("server z9hG4bK{seq} 127.0.0.1:5062 INVITE")),
        dialog_id: None,
        method: Some("INVITE".into()),
        status: Some(180),
        from_state: Some("proceeding".into()),
        to_state: Some("proceeding".into()),
        cause: Some("180 sent".into()),
        kind: Some("state".into()),
        detail: Some(
            serde_json::json!({ "transport": "udp", "peer": "127.0.0.1:5062", "cseq": 1 }),
        ),
    })
}

async fn wait_written(h: &WriterHandle, n: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    // Records past the writer's memory limit go through the spool: count them when replayed.
    while h.stats().written + h.stats().replayed < n {
        anyhow::ensure!(Instant::now() < deadline, "writer stuck: {:?}", h.stats());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

async fn measure(
    label: &str,
    location: &Location,
    dir: &std::path::Path,
    events: i64,
) -> anyhow::Result<()> {
    let store = Store::open(location).await?;
    let writer = Writer::start(store.clone(), WriterConfig::new(dir))?;
    let h = writer.handle();
    let run = Id::new();
    for seq in 1..=WARM_UP {
        h.submit(event(run, seq)).await?;
    }
    wait_written(&h, WARM_UP as u64).await?;
    let before = h.stats();
    let start = Instant::now();
    for seq in WARM_UP + 1..=WARM_UP + events {
        h.submit(event(run, seq)).await?;
    }
    wait_written(&h, (WARM_UP + events) as u64).await?;
    let elapsed = start.elapsed();
    let after = writer.shutdown().await;
    let (stored, _) = store.count_history().await?;
    anyhow::ensure!(
        stored == WARM_UP + events,
        "stored {stored}, expected {}",
        WARM_UP + events
    );
    store.close().await;
    let batches = after.batches - before.batches;
    println!(
        "{label:<10} {events:>9} events in {:>7.3} s = {:>9.0} events/s  ({batches} batches from \
         memory, {} events through the spool)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        after.spooled - before.spooled,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; the first plain number is the event count.
    let events: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", Id::new()));
        std::fs::create_dir_all(&dir)?;
        let sqlite = Location::Sqlite(dir.join("bench.db"));
        let result = measure("sqlite", &sqlite, &dir, events).await;
        match std::env::var("SWITCHBOARD_BENCH_DATABASE_URL") {
            Ok(base) if result.is_ok() => {
                let name = format!("bench_{}", Id::new().0.simple());
                let mut admin = sqlx::PgConnection::connect(&base).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await?;
                let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
                let pg = Location::Postgres(format!("{root}/{name}"));
                let pg_result = measure("postgres", &pg, &dir, events).await;
                sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                pg_result?;
            }
            Ok(_) => {}
            Err(_) => println!(
                "postgres   not measured: set SWITCHBOARD_BENCH_DATABASE_URL (bench/store.sh does)"
            ),
        }
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
}
