//! Migrations, the newer-schema refusal, and restarts keeping every row; on both backends.

mod common;

use common::{Kind, TestDb, on_both_backends};
use store::agents::NewAgent;
use store::endpoints::NewEndpoint;
use store::queues::{NewQueue, Strategy};
use store::writer::{CallEventRecord, EventLayer, Record};
use store::{Backend, Id, Store, StoreError};

async fn migrations_apply_and_reapplying_is_a_no_op(kind: Kind) {
    let db = TestDb::new(kind).await;
    let latest = store::schema::latest(db.store.migrator());
    assert!(latest >= 1);
    assert_eq!(db.store.schema_version().await.expect("version"), latest);
    let again = db.store.migrate().await.expect("second migrate");
    assert_eq!((again.before, again.after), (latest, latest));
    // Every table of the platform schema exists and is empty.
    for table in [
        "endpoint_groups",
        "endpoints",
        "registrations",
        "skills",
        "agents",
        "agent_skills",
        "schedules",
        "schedule_hours",
        "schedule_holidays",
        "queues",
        "queue_skills",
        "ivr_flows",
        "ivr_flow_versions",
        "trunks",
        "calls",
        "call_events",
        "recordings",
        "audit_log",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = match db.store.backend() {
            Backend::Postgres(p) => sqlx::query_scalar(&sql).fetch_one(p).await,
            Backend::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await,
        }
        .unwrap_or_else(|e| panic!("table {table}: {e}"));
        assert_eq!(n, 0, "{table}");
    }
    db.finish().await;
}

async fn a_schema_newer_than_the_binary_is_refused(kind: Kind) {
    let db = TestDb::new(kind).await;
    let future = 99_990_101_000_000_i64;
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
               execution_time) VALUES ($1, 'from a newer switchboard', TRUE, $2, 0)";
    match db.store.backend() {
        Backend::Postgres(p) => sqlx::query(sql)
            .bind(future)
            .bind(vec![0u8; 48])
            .execute(p)
            .await
            .map(|_| ()),
        Backend::Sqlite(p) => sqlx::query(sql)
            .bind(future)
            .bind(vec![0u8; 48])
            .execute(p)
            .await
            .map(|_| ()),
    }
    .expect("fake future migration recorded");
    db.store.close().await;
    let err = Store::open(&db.location).await.expect_err("must refuse");
    match &err {
        StoreError::SchemaTooNew { database, binary } => {
            assert_eq!(*database, future);
            assert_eq!(*binary, store::schema::latest(db.store.migrator()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("newer than this Switchboard knows"),
        "{message}"
    );
    assert!(message.contains(&future.to_string()), "{message}");
    // `connect` alone still works (for inspection), `migrate` refuses too.
    let raw = Store::connect(&db.location).await.expect("connect");
    assert!(matches!(
        raw.migrate().await,
        Err(StoreError::SchemaTooNew { .. })
    ));
    raw.close().await;
    db.finish().await;
}

async fn a_restart_keeps_every_row(kind: Kind) {
    let mut db = TestDb::new(kind).await;
    let s = &db.store;
    s.add_endpoint(&NewEndpoint::new("1001", "pw1"), "test")
        .await
        .expect("endpoint");
    s.add_agent(
        &NewAgent {
            name: "alice".into(),
            extension: Some("2001".into()),
            max_calls: 2,
            skills: vec![("sales".into(), 70)],
            ..Default::default()
        },
        "test",
    )
    .await
    .expect("agent");
    s.add_queue(&NewQueue::new("sales", Strategy::LongestIdle), "test")
        .await
        .expect("queue");
    s.save_ivr_flow("main", "start: menu\n", "test")
        .await
        .expect("flow");
    let run = Id::new();
    let events: Vec<Record> = (1..=250)
        .map(|seq| {
            Record::Event(CallEventRecord {
                run_id: run,
                seq,
                occurred_at: store::now_utc(),
                layer: EventLayer::Transaction,
                call_id: format!("call-{seq}"),
                transaction_key: Some("server z9hG4bK1 127.0.0.1:5060 INVITE".into()),
                dialog_id: None,
                method: Some("INVITE".into()),
                status: Some(180),
                from_state: Some("proceeding".into()),
                to_state: Some("proceeding".into()),
                cause: None,
                kind: Some("state".into()),
                detail: Some(serde_json::json!({ "n": seq })),
            })
        })
        .collect();
    s.insert_records(&events).await.expect("events");
    let before = (
        s.list_endpoints().await.expect("list"),
        s.list_agents().await.expect("list"),
        s.list_queues().await.expect("list"),
        s.active_ivr_flow("main").await.expect("flow"),
        s.count_history().await.expect("count"),
        s.audit_log(None, 1000).await.expect("audit"),
    );

    db.reopen().await;
    let s = &db.store;
    let after = (
        s.list_endpoints().await.expect("list"),
        s.list_agents().await.expect("list"),
        s.list_queues().await.expect("list"),
        s.active_ivr_flow("main").await.expect("flow"),
        s.count_history().await.expect("count"),
        s.audit_log(None, 1000).await.expect("audit"),
    );
    assert_eq!(before, after);
    assert_eq!(after.4, (250, 0));
    assert_eq!(
        s.endpoint_credentials("1001").await.expect("creds").ha1_md5,
        store::Ha1::compute("1001", "switchboard", "pw1").md5
    );
    db.finish().await;
}

on_both_backends!(
    migrations_apply_and_reapplying_is_a_no_op,
    a_schema_newer_than_the_binary_is_refused,
    a_restart_keeps_every_row,
);
