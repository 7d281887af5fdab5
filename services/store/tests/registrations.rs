//! Registrar bindings: batches of changes, loading after a restart, expiry, skipped changes,
//! endpoint statuses and group summaries, the upgrade from schema 1; on both backends.

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use common::{Kind, TestDb, on_both_backends};
use store::endpoints::NewEndpoint;
use store::registrations::{
    ApplyReport, EndpointGroupSummary, EndpointState, RegistrationChange, RegistrationRecord,
};
use store::{Backend, Store};
use time::{Duration, OffsetDateTime};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A binding of `aor` to `contact` refreshed at `now`, expiring `expires_in` seconds later.
fn binding(aor: &str, contact: &str, now: OffsetDateTime, expires_in: i64) -> RegistrationRecord {
    RegistrationRecord {
        aor: aor.into(),
        contact_uri: contact.into(),
        source: addr("192.0.2.10:5060"),
        local: addr("192.0.2.1:5060"),
        transport: "udp".into(),
        user_agent: Some(format!("Phone/{aor}")),
        q_milli: None,
        call_id: format!("reg-{aor}"),
        cseq: 1,
        path: Vec::new(),
        instance_id: None,
        reg_id: None,
        expires_at: now + Duration::seconds(expires_in),
        registered_at: now,
        refreshed_at: now,
        reachability: "unknown".into(),
        last_seen_at: now,
    }
}

fn save(r: &RegistrationRecord) -> RegistrationChange {
    RegistrationChange::Save(r.clone())
}

fn reachability(aor: &str, contact: &str, r: &str, at: OffsetDateTime) -> RegistrationChange {
    RegistrationChange::Reachability {
        aor: aor.into(),
        contact_uri: contact.into(),
        reachability: r.into(),
        last_seen_at: at,
    }
}

async fn add_endpoints(s: &Store, names: &[(&str, Option<&str>)]) {
    for (name, group) in names {
        let mut new = NewEndpoint::new(name, "pw");
        new.group = group.map(str::to_string);
        s.add_endpoint(&new, "test").await.expect("endpoint");
    }
}

async fn count(s: &Store, sql: &str) -> i64 {
    match s.backend() {
        Backend::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        Backend::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn bindings_survive_a_restart_and_expired_ones_are_not_loaded(kind: Kind) {
    let mut db = TestDb::new(kind).await;
    add_endpoints(&db.store, &[("1001", None), ("1002", None)]).await;
    let now = store::now_utc();
    // Every field set, IPv6 on both ends, a fraction of a second in every time.
    let full = RegistrationRecord {
        source: addr("[2001:db8::10]:40000"),
        local: addr("[2001:db8::1]:5061"),
        transport: "tcp".into(),
        q_milli: Some(700),
        cseq: u32::MAX,
        path: vec!["<sip:edge1.example.com;lr>".into(), "<sip:edge2;lr>".into()],
        instance_id: Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into()),
        reg_id: Some(1),
        reachability: "reachable".into(),
        registered_at: now - Duration::seconds(3600),
        last_seen_at: now - Duration::milliseconds(1_500),
        ..binding(
            "1001",
            "<sip:1001@[2001:db8::10]:40000;transport=tcp>",
            now,
            600,
        )
    };
    let plain = binding("1001", "sip:1001@192.0.2.10:5060", now, 60);
    let other = binding("1002", "sip:1002@192.0.2.11", now, 3600);
    let expired = binding(
        "1002",
        "sip:1002@192.0.2.12",
        now - Duration::seconds(120),
        60,
    );
    let report = db
        .store
        .apply_registration_changes(&[save(&full), save(&plain), save(&other), save(&expired)])
        .await
        .expect("apply");
    assert_eq!(
        report,
        ApplyReport {
            applied: 4,
            ..Default::default()
        }
    );

    db.reopen().await;
    let loaded = db.store.active_registrations(now).await.expect("load");
    let mut expected = vec![full.clone(), plain.clone(), other.clone()];
    expected.sort_by(|a, b| (&a.aor, &a.contact_uri).cmp(&(&b.aor, &b.contact_uri)));
    assert_eq!(loaded, expected);

    // A refresh replaces the row (same AOR and contact), a reachability change updates it, a
    // Remove deletes it; all in one batch, in order per binding.
    let later = now + Duration::seconds(30);
    let refreshed = RegistrationRecord {
        cseq: 2,
        expires_at: later + Duration::seconds(60),
        refreshed_at: later,
        last_seen_at: later,
        user_agent: None,
        ..plain.clone()
    };
    let report = db
        .store
        .apply_registration_changes(&[
            save(&refreshed),
            reachability(&plain.aor, &plain.contact_uri, "unreachable", later),
            reachability(&full.aor, &full.contact_uri, "unreachable", later),
            RegistrationChange::Remove {
                aor: other.aor.clone(),
                contact_uri: other.contact_uri.clone(),
            },
            RegistrationChange::Remove {
                aor: "1002".into(),
                contact_uri: "sip:never-stored".into(),
            },
        ])
        .await
        .expect("apply");
    assert_eq!((report.applied, report.skipped()), (5, 0));
    let loaded = db.store.active_registrations(later).await.expect("load");
    assert_eq!(loaded.len(), 2);
    let unreachable_plain = RegistrationRecord {
        reachability: "unreachable".into(),
        ..refreshed.clone()
    };
    assert_eq!(loaded[1], unreachable_plain);
    assert_eq!(loaded[0].reachability, "unreachable");
    assert_eq!(loaded[0].last_seen_at, later);
    assert_eq!(loaded[0].registered_at, full.registered_at);
    assert_eq!(
        count(&db.store, "SELECT COUNT(*) FROM registrations").await,
        3
    );

    // Expiry is exact to the microsecond: at its expiry instant a binding is no longer live.
    let at_expiry = refreshed.expires_at;
    let live: Vec<String> = db
        .store
        .active_registrations(at_expiry - Duration::microseconds(1))
        .await
        .expect("load")
        .into_iter()
        .map(|r| r.contact_uri)
        .collect();
    assert_eq!(live, [full.contact_uri.clone(), plain.contact_uri.clone()]);
    let live = db
        .store
        .active_registrations(at_expiry)
        .await
        .expect("load");
    assert_eq!(live.len(), 1);

    // Sweeping: the old expired one and, at `at_expiry`, the refreshed one go.
    assert_eq!(
        db.store
            .delete_expired_registrations(at_expiry)
            .await
            .expect("sweep"),
        2
    );
    assert_eq!(
        db.store
            .delete_expired_registrations(at_expiry)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        count(&db.store, "SELECT COUNT(*) FROM registrations").await,
        1
    );

    // Removing the endpoint removes its bindings.
    db.store
        .remove_endpoint("1001", "test")
        .await
        .expect("remove");
    assert!(
        db.store
            .active_registrations(now)
            .await
            .expect("load")
            .is_empty()
    );
    db.finish().await;
}

async fn changes_for_unknown_aors_or_bad_values_are_skipped_and_the_rest_applied(kind: Kind) {
    let db = TestDb::new(kind).await;
    add_endpoints(&db.store, &[("1001", None)]).await;
    let now = store::now_utc();
    let mut bad_transport = binding("1001", "sip:bad", now, 60);
    bad_transport.transport = "sctp".into();
    let mut nul = binding("1001", "sip:nul", now, 60);
    nul.user_agent = Some("evil\0agent".into());
    let report = db
        .store
        .apply_registration_changes(&[
            save(&binding("nobody", "sip:x", now, 60)),
            save(&binding("1001", "sip:a", now, 60)),
            save(&bad_transport),
            save(&nul),
            reachability("1001", "sip:a", "sleepy", now),
            save(&binding("ghost", "sip:y", now, 60)),
            save(&binding("1001", "sip:b", now, 60)),
        ])
        .await
        .expect("one bad change does not fail the batch");
    assert_eq!(
        report,
        ApplyReport {
            applied: 2,
            skipped_unknown_aor: 2,
            skipped_invalid: 3,
        }
    );
    assert_eq!(report.skipped(), 5);
    let contacts: Vec<String> = db
        .store
        .active_registrations(now)
        .await
        .expect("load")
        .into_iter()
        .map(|r| r.contact_uri)
        .collect();
    assert_eq!(contacts, ["sip:a", "sip:b"]);
    assert_eq!(
        db.store
            .apply_registration_changes(&[])
            .await
            .expect("empty"),
        ApplyReport::default()
    );
    db.finish().await;
}

async fn thousands_of_changes_per_second_are_sustained(kind: Kind) {
    let db = TestDb::new(kind).await;
    let users: Vec<NewEndpoint> = (0..2_000)
        .map(|i| NewEndpoint::new(&format!("u{i}"), "pw"))
        .collect();
    db.store
        .import_endpoints(&users, "test")
        .await
        .expect("import");
    let now = store::now_utc();
    let started = Instant::now();
    let mut changes = 0;
    // Registration storm: every user registers twice (two contacts), then refreshes, then
    // a qualify round marks them, in batches of 500 as the server flushes them.
    let mut all: Vec<RegistrationChange> = Vec::new();
    for round in 0..2 {
        for u in &users {
            for c in 0..2 {
                let mut r = binding(
                    &u.username,
                    &format!("sip:{}@10.0.0.{c}", u.username),
                    now,
                    3600,
                );
                r.cseq = round + 1;
                all.push(save(&r));
            }
        }
    }
    for u in &users {
        all.push(reachability(
            &u.username,
            &format!("sip:{}@10.0.0.0", u.username),
            "reachable",
            now,
        ));
    }
    for batch in all.chunks(500) {
        let report = db
            .store
            .apply_registration_changes(batch)
            .await
            .expect("apply");
        assert_eq!(report.applied, batch.len());
        changes += batch.len();
    }
    let elapsed = started.elapsed();
    let rate = changes as f64 / elapsed.as_secs_f64();
    eprintln!("{kind:?}: {changes} registration changes in {elapsed:?} ({rate:.0}/s)");
    assert_eq!(changes, 10_000);
    assert!(rate > 2_000.0, "{rate:.0} changes/s");
    let loaded = db.store.active_registrations(now).await.expect("load");
    assert_eq!(loaded.len(), 4_000);
    assert!(loaded.iter().all(|r| r.cseq == 2));
    let statuses = db.store.endpoint_statuses(now).await.expect("statuses");
    assert_eq!(statuses.len(), 2_000);
    assert!(
        statuses
            .iter()
            .all(|s| s.status == EndpointState::Registered && s.bindings == 2)
    );
    db.finish().await;
}

async fn endpoint_status_is_derived_from_live_bindings(kind: Kind) {
    let db = TestDb::new(kind).await;
    add_endpoints(
        &db.store,
        &[
            ("1001", Some("sales")),
            ("1002", Some("sales")),
            ("1003", Some("support")),
            ("1004", None),
            ("1005", None),
        ],
    )
    .await;
    let now = store::now_utc();
    let older = now - Duration::seconds(10);
    let mut newer = binding("1001", "sip:b", now, 60);
    newer.source = addr("[2001:db8::7]:5062");
    newer.transport = "tls".into();
    newer.last_seen_at = now - Duration::seconds(5);
    let mut gone = binding("1004", "sip:gone", now - Duration::seconds(100), 30);
    gone.last_seen_at = now - Duration::seconds(90);
    db.store
        .apply_registration_changes(&[
            save(&binding("1001", "sip:a", older, 60)),
            save(&newer),
            reachability("1001", "sip:a", "unreachable", older),
            save(&binding("1002", "sip:c", now, 60)),
            reachability("1002", "sip:c", "unreachable", now),
            save(&gone),
        ])
        .await
        .expect("apply");
    let statuses = db.store.endpoint_statuses(now).await.expect("statuses");
    let rows: Vec<(&str, Option<&str>, EndpointState, u32)> = statuses
        .iter()
        .map(|s| {
            (
                s.username.as_str(),
                s.group.as_deref(),
                s.status,
                s.bindings,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("1001", Some("sales"), EndpointState::Registered, 2),
            ("1002", Some("sales"), EndpointState::Unreachable, 1),
            ("1003", Some("support"), EndpointState::Offline, 0),
            ("1004", None, EndpointState::Offline, 0),
            ("1005", None, EndpointState::Offline, 0),
        ]
    );
    let s1001 = &statuses[0];
    assert_eq!(s1001.last_seen, Some(now - Duration::seconds(5)));
    assert_eq!(s1001.user_agent.as_deref(), Some("Phone/1001"));
    assert_eq!(s1001.source.as_deref(), Some("tls:[2001:db8::7]:5062"));
    assert!(s1001.enabled);
    assert_eq!(s1001.realm, "switchboard");
    assert_eq!(statuses[1].source.as_deref(), Some("udp:192.0.2.10:5060"));
    // Expired but not yet swept: offline, but still shows when it was last heard.
    assert_eq!(statuses[3].last_seen, Some(now - Duration::seconds(90)));
    assert_eq!(statuses[3].user_agent, None);
    assert_eq!(statuses[4].last_seen, None);

    let summaries = db
        .store
        .endpoint_group_summaries(now)
        .await
        .expect("summaries");
    let group =
        |name: Option<&str>, endpoints, registered, unreachable, offline| EndpointGroupSummary {
            group: name.map(str::to_string),
            endpoints,
            registered,
            unreachable,
            offline,
        };
    assert_eq!(
        summaries,
        [
            group(Some("sales"), 2, 1, 1, 0),
            group(Some("support"), 1, 0, 0, 1),
            group(None, 2, 0, 0, 2),
        ]
    );
    // A group whose endpoints are all gone is still listed, with zeros; once every endpoint
    // has a group there is no row for "no group".
    db.store
        .remove_endpoint("1003", "test")
        .await
        .expect("remove");
    db.store
        .remove_endpoint("1004", "test")
        .await
        .expect("remove");
    db.store
        .remove_endpoint("1005", "test")
        .await
        .expect("remove");
    let summaries = db
        .store
        .endpoint_group_summaries(now)
        .await
        .expect("summaries");
    assert_eq!(
        summaries,
        [
            group(Some("sales"), 2, 1, 1, 0),
            group(Some("support"), 0, 0, 0, 0)
        ]
    );
    db.finish().await;
}

/// A database at schema 1 with a binding in it upgrades: the row keeps its data, gets
/// `unknown` reachability and its times from created_at / updated_at, and is not loaded
/// (no local address) but still counts for the endpoint's status.
async fn migration_2_upgrades_existing_bindings(kind: Kind) {
    let db = TestDb::unmigrated(kind).await;
    let full = db.store.migrator();
    let first = sqlx::migrate::Migrator {
        migrations: full
            .migrations
            .iter()
            .filter(|m| m.version == 1)
            .cloned()
            .collect(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    match db.store.backend() {
        Backend::Postgres(p) => first.run(p).await,
        Backend::Sqlite(p) => first.run(p).await,
    }
    .expect("migration 1");
    assert_eq!(db.store.schema_version().await.expect("version"), 1);
    let now = store::now_utc();
    let created = now - Duration::seconds(50);
    let updated = now - Duration::seconds(20);
    macro_rules! insert_v1 {
        ($pool:expr) => {{
            sqlx::query(
                "INSERT INTO endpoints (id, username, realm, ha1_md5, ha1_sha256, created_at, \
                 updated_at) VALUES ($1, '1001', 'switchboard', $2, $3, $4, $4)",
            )
            .bind(store::Id::new())
            .bind("0".repeat(32))
            .bind("0".repeat(64))
            .bind(now)
            .execute($pool)
            .await
            .expect("endpoint");
            sqlx::query(
                "INSERT INTO registrations (endpoint_id, aor, contact_uri, source_address, \
                 source_port, transport, call_id, cseq, expires_at, created_at, updated_at) \
                 SELECT id, '1001', 'sip:old', '192.0.2.5', 5060, 'udp', 'c', 7, $1, $2, $3 \
                 FROM endpoints",
            )
            .bind(now + Duration::seconds(60))
            .bind(created)
            .bind(updated)
            .execute($pool)
            .await
            .expect("binding");
        }};
    }
    match db.store.backend() {
        Backend::Postgres(p) => insert_v1!(p),
        Backend::Sqlite(p) => insert_v1!(p),
    }
    let report = db.store.migrate().await.expect("migrate to the latest");
    assert_eq!(report.before, 1);
    assert_eq!(report.after, store::schema::latest(full));

    assert!(
        db.store
            .active_registrations(now)
            .await
            .expect("load")
            .is_empty()
    );
    let statuses = db.store.endpoint_statuses(now).await.expect("statuses");
    assert_eq!(statuses[0].status, EndpointState::Registered);
    assert_eq!(statuses[0].last_seen, Some(updated));
    assert_eq!(statuses[0].source.as_deref(), Some("udp:192.0.2.5:5060"));
    assert_eq!(
        count(
            &db.store,
            "SELECT COUNT(*) FROM registrations WHERE reachability = 'unknown' \
             AND local_address IS NULL AND cseq = 7"
        )
        .await,
        1
    );
    // The phone's next REGISTER replaces the row with a complete one.
    let fresh = binding("1001", "sip:old", now, 60);
    db.store
        .apply_registration_changes(&[save(&fresh)])
        .await
        .expect("apply");
    assert_eq!(
        db.store.active_registrations(now).await.expect("load"),
        [fresh]
    );
    // The new CHECK holds on both backends.
    let bad = "UPDATE registrations SET reachability = 'sleepy'";
    let refused = match db.store.backend() {
        Backend::Postgres(p) => sqlx::query(bad).execute(p).await.is_err(),
        Backend::Sqlite(p) => sqlx::query(bad).execute(p).await.is_err(),
    };
    assert!(refused, "reachability CHECK");
    db.finish().await;
}

on_both_backends!(
    bindings_survive_a_restart_and_expired_ones_are_not_loaded,
    changes_for_unknown_aors_or_bad_values_are_skipped_and_the_rest_applied,
    thousands_of_changes_per_second_are_sustained,
    endpoint_status_is_derived_from_live_bindings,
    migration_2_upgrades_existing_bindings,
);
