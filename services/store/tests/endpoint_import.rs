//! Bulk endpoint import: all or nothing, the first bad row by index, duplicates in the input
//! and in the database, groups and audit rows, and 10,000 rows; on both backends.

mod common;

use std::time::Instant;

use common::{Kind, TestDb, on_both_backends};
use store::endpoints::{ImportReport, NewEndpoint};
use store::{Backend, Store, StoreError};

fn row(username: &str, group: Option<&str>) -> NewEndpoint {
    NewEndpoint {
        group: group.map(str::to_string),
        ..NewEndpoint::new(username, &format!("pw,{username}"))
    }
}

/// The row index and the error a failed import reports.
fn bad_row(result: Result<ImportReport, StoreError>) -> (usize, StoreError) {
    match result {
        Err(StoreError::Row { index, error }) => (index, *error),
        other => panic!("expected a row error, got {other:?}"),
    }
}

async fn endpoint_count(s: &Store) -> usize {
    s.list_endpoints().await.expect("list").len()
}

async fn a_bad_row_is_reported_by_index_and_nothing_is_imported(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    s.add_endpoint(&NewEndpoint::new("1001", "pw"), "test")
        .await
        .expect("existing endpoint");
    let audit_before = s.audit_log(None, 1000).await.expect("audit").len();

    let mut rows = vec![
        row("2001", Some("floor-1")),
        row("2002", None),
        row("bad user", None),
    ];
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert!(
        matches!(&error, StoreError::Invalid { field: "username", reason } if reason.contains("bad user")),
        "{error:?}"
    );
    let message = StoreError::Row {
        index,
        error: Box::new(error),
    }
    .to_string();
    assert!(
        message.starts_with("row 3: invalid username: "),
        "{message}"
    );

    rows[2] = row("2003", Some("not a group"));
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert!(matches!(error, StoreError::Invalid { field: "group", .. }));

    rows[2] = NewEndpoint::new("2003", "");
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert!(matches!(
        error,
        StoreError::Invalid {
            field: "password",
            ..
        }
    ));

    let mut long_name = row("2003", None);
    long_name.display_name = Some("x\"y".into());
    rows[2] = long_name;
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert!(matches!(
        error,
        StoreError::Invalid {
            field: "display name",
            ..
        }
    ));

    // A user name that repeats an earlier row, or that exists.
    rows[2] = row("2001", None);
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert!(matches!(&error, StoreError::Duplicate { entity: "endpoint", key } if key == "2001"));
    rows[2] = row("1001", None);
    let (index, error) = bad_row(s.import_endpoints(&rows, "t").await);
    assert_eq!(index, 3);
    assert_eq!(error.to_string(), "endpoint '1001' already exists");

    // The first bad row wins, whatever is wrong with it: an existing name on row 2 comes
    // before an invalid row 3.
    let rows = vec![row("2001", None), row("1001", None), row("bad user", None)];
    assert_eq!(bad_row(s.import_endpoints(&rows, "t").await).0, 2);

    // Nothing was written: no endpoint, no group, no audit row.
    assert_eq!(endpoint_count(s).await, 1);
    assert_eq!(
        s.audit_log(None, 1000).await.expect("audit").len(),
        audit_before
    );
    db.finish().await;
}

async fn an_import_creates_endpoints_groups_and_audit_rows(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    s.add_endpoint(&row("1001", Some("sales")), "test")
        .await
        .expect("existing");
    let mut rows = vec![
        row("2001", Some("sales")),
        row("2002", Some("floor-2")),
        row("2003", None),
    ];
    rows[2].display_name = Some("Front desk".into());
    rows[2].realm = "example.com".into();
    let report = s
        .import_endpoints(&rows, "cli:admin")
        .await
        .expect("import");
    assert_eq!(
        report,
        ImportReport {
            imported: 3,
            groups_created: vec!["floor-2".into()],
        }
    );
    let list = s.list_endpoints().await.expect("list");
    let got: Vec<_> = list
        .iter()
        .map(|e| {
            (
                e.username.as_str(),
                e.realm.as_str(),
                e.group_name.as_deref(),
                e.display_name.as_deref(),
                e.enabled,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1001", "switchboard", Some("sales"), None, true),
            ("2001", "switchboard", Some("sales"), None, true),
            ("2002", "switchboard", Some("floor-2"), None, true),
            ("2003", "example.com", None, Some("Front desk"), true),
        ]
    );
    // The password (with its comma) only as HA1.
    assert_eq!(
        s.endpoint_credentials("2003").await.expect("creds").ha1_md5,
        store::Ha1::compute("2003", "example.com", "pw,2003").md5
    );
    // One audit row per endpoint and per new group, by the importing actor, like add.
    let audit = s.audit_log(None, 100).await.expect("audit");
    let mut rows: Vec<(&str, &str, &str, &str)> = audit
        .iter()
        .filter(|a| a.actor == "cli:admin")
        .map(|a| {
            (
                a.entity_type.as_str(),
                a.entity_key.as_str(),
                a.action.as_str(),
                a.actor.as_str(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("endpoint", "2001", "create", "cli:admin"),
            ("endpoint", "2002", "create", "cli:admin"),
            ("endpoint", "2003", "create", "cli:admin"),
            ("endpoint_group", "floor-2", "create", "cli:admin"),
        ]
    );
    let created = audit
        .iter()
        .find(|a| a.entity_key == "2002")
        .and_then(|a| a.after.clone())
        .expect("after");
    assert_eq!(created["group_name"], "floor-2");
    assert!(!created.to_string().contains("pw,2002"));
    assert_eq!(
        s.import_endpoints(&[], "t").await.expect("empty"),
        ImportReport::default()
    );
    db.finish().await;
}

async fn ten_thousand_endpoints_import_in_seconds(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let rows: Vec<NewEndpoint> = (0..10_000)
        .map(|i| {
            let group = format!("floor-{}", i % 20);
            row(&format!("{}", 100_000 + i), Some(&group))
        })
        .collect();
    let started = Instant::now();
    let report = s.import_endpoints(&rows, "bench").await.expect("import");
    let elapsed = started.elapsed();
    eprintln!("{kind:?}: imported 10,000 endpoints in {elapsed:?}");
    assert_eq!(report.imported, 10_000);
    assert_eq!(report.groups_created.len(), 20);
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
    assert_eq!(endpoint_count(s).await, 10_000);
    let audit: i64 = match s.backend() {
        Backend::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'endpoint'")
                .fetch_one(p)
                .await
        }
        Backend::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'endpoint'")
                .fetch_one(p)
                .await
        }
    }
    .expect("audit count");
    assert_eq!(audit, 10_000);
    let summaries = s
        .endpoint_group_summaries(store::now_utc())
        .await
        .expect("summaries");
    assert_eq!(summaries.len(), 20);
    assert!(
        summaries
            .iter()
            .all(|g| g.endpoints == 500 && g.offline == 500)
    );
    // Importing the same file again is refused at its first row.
    assert_eq!(bad_row(s.import_endpoints(&rows, "bench").await).0, 1);
    db.finish().await;
}

on_both_backends!(
    a_bad_row_is_reported_by_index_and_nothing_is_imported,
    an_import_creates_endpoints_groups_and_audit_rows,
    ten_thousand_endpoints_import_in_seconds,
);
