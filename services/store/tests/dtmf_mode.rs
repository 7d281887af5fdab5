//! Endpoints' DTMF mode (migration 0004): stored, listed, read by the call engine's lookup,
//! imported, refused when bad, and guarded by the schema's CHECK; on both backends.

mod common;

use common::{Kind, TestDb, on_both_backends};
use store::endpoints::NewEndpoint;
use store::{Backend, DtmfMode, StoreError};

async fn dtmf_modes_are_stored_listed_and_looked_up(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let plain = s
        .add_endpoint(&NewEndpoint::new("1001", "pw"), "test")
        .await
        .expect("add");
    assert_eq!(plain.dtmf_mode, DtmfMode::Rfc4733, "the default");
    let info = NewEndpoint {
        dtmf_mode: DtmfMode::Info,
        ..NewEndpoint::new("1002", "pw")
    };
    s.add_endpoint(&info, "test").await.expect("add");
    let rows = [NewEndpoint {
        dtmf_mode: DtmfMode::Inband,
        ..NewEndpoint::new("1003", "pw")
    }];
    s.import_endpoints(&rows, "test").await.expect("import");

    let listed: Vec<(String, DtmfMode)> = s
        .list_endpoints()
        .await
        .expect("list")
        .into_iter()
        .map(|e| (e.username, e.dtmf_mode))
        .collect();
    assert_eq!(
        listed,
        [
            ("1001".to_owned(), DtmfMode::Rfc4733),
            ("1002".to_owned(), DtmfMode::Info),
            ("1003".to_owned(), DtmfMode::Inband),
        ]
    );
    let statuses = s.endpoint_statuses(store::now_utc()).await.expect("status");
    assert_eq!(statuses[1].dtmf_mode, DtmfMode::Info);
    assert_eq!(
        serde_json::to_value(&statuses[2]).expect("json")["dtmf_mode"],
        "inband"
    );

    assert_eq!(
        s.endpoint_dtmf_mode("1002").await.expect("lookup"),
        Some(DtmfMode::Info)
    );
    assert_eq!(s.endpoint_dtmf_mode("nobody").await.expect("lookup"), None);
    // A disabled endpoint may not call: no mode.
    let disable = "UPDATE endpoints SET enabled = FALSE WHERE username = '1003'";
    match s.backend() {
        Backend::Postgres(p) => sqlx::query(disable).execute(p).await.map(drop),
        Backend::Sqlite(p) => sqlx::query(disable).execute(p).await.map(drop),
    }
    .expect("disable");
    assert_eq!(s.endpoint_dtmf_mode("1003").await.expect("lookup"), None);
}

async fn the_schema_refuses_other_dtmf_modes(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    s.add_endpoint(&NewEndpoint::new("1001", "pw"), "test")
        .await
        .expect("add");
    let bad = "UPDATE endpoints SET dtmf_mode = 'rfc2833'";
    // The same trunk row with a mode the schema takes and one it does not.
    let trunk = |n: u8, mode: &str| {
        format!(
            "INSERT INTO trunks (id, name, host, dtmf_mode, created_at, updated_at) VALUES \
             ('01937a6e-0000-7000-8000-00000000000{n}', 't{n}', 'h', '{mode}', \
             '2026-11-24T00:00:00Z', '2026-11-24T00:00:00Z')"
        )
    };
    let (endpoint, good_trunk, bad_trunk) = match s.backend() {
        Backend::Postgres(p) => (
            sqlx::query(bad).execute(p).await.is_err(),
            sqlx::query(&trunk(1, "info")).execute(p).await.map(drop),
            sqlx::query(&trunk(2, "sip_info")).execute(p).await.is_err(),
        ),
        Backend::Sqlite(p) => (
            sqlx::query(bad).execute(p).await.is_err(),
            sqlx::query(&trunk(1, "info")).execute(p).await.map(drop),
            sqlx::query(&trunk(2, "sip_info")).execute(p).await.is_err(),
        ),
    };
    assert!(endpoint, "endpoints.dtmf_mode is checked");
    assert!(good_trunk.is_ok(), "a trunk in INFO mode: {good_trunk:?}");
    assert!(bad_trunk, "trunks.dtmf_mode is checked");
}

#[test]
fn dtmf_modes_parse_by_name_and_errors_name_the_bad_value() {
    for mode in DtmfMode::ALL {
        assert_eq!(mode.as_str().parse::<DtmfMode>().expect("parse"), mode);
    }
    assert_eq!(
        "INFO".parse::<DtmfMode>().expect("any case"),
        DtmfMode::Info
    );
    let err = "rfc2833".parse::<DtmfMode>().expect_err("not a mode");
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "dtmf_mode",
            ..
        }
    ));
    let text = err.to_string();
    assert!(text.contains("'rfc2833'"), "{text}");
    assert!(text.contains("rfc4733, info, inband"), "{text}");
}

on_both_backends!(
    dtmf_modes_are_stored_listed_and_looked_up,
    the_schema_refuses_other_dtmf_modes,
);
