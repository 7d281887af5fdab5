//! Endpoints, agents, queues and IVR flows: add, list, get, remove, duplicates, unknown
//! names, invalid values and the audit rows; on both backends.

mod common;

use common::{Kind, TestDb, on_both_backends};
use store::agents::NewAgent;
use store::endpoints::NewEndpoint;
use store::ivr::Saved;
use store::queues::{NewQueue, Strategy};
use store::{Backend, StoreError};

async fn endpoints_store_only_ha1_and_are_audited(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let mut new = NewEndpoint::new("Mufasa", "Circle Of Life");
    new.realm = "testrealm@host.com".into();
    new.group = Some("lions".into());
    let added = s.add_endpoint(&new, "cli:test").await.expect("add");
    assert_eq!(added.username, "Mufasa");
    assert_eq!(added.group_name.as_deref(), Some("lions"));

    // HA1 against RFC 2617's vector; SHA-256 against sha256sum of the same string.
    let creds = s.endpoint_credentials("Mufasa").await.expect("credentials");
    assert_eq!(creds.ha1_md5, "939e7578ed9e3c518a452acee763bce9");
    assert_eq!(
        creds.ha1_sha256,
        store::Ha1::compute("Mufasa", "testrealm@host.com", "Circle Of Life").sha256
    );
    assert_eq!(creds.realm, "testrealm@host.com");
    // The password is nowhere in the database.
    let dump: Vec<String> = match s.backend() {
        Backend::Postgres(p) => sqlx::query_scalar(
            "SELECT row_to_json(e)::text FROM endpoints e \
             UNION ALL SELECT row_to_json(a)::text FROM audit_log a",
        )
        .fetch_all(p)
        .await
        .expect("dump"),
        Backend::Sqlite(p) => sqlx::query_scalar(
            "SELECT username || realm || ha1_md5 || ha1_sha256 FROM endpoints \
             UNION ALL SELECT coalesce(before, '') || coalesce(after, '') FROM audit_log",
        )
        .fetch_all(p)
        .await
        .expect("dump"),
    };
    assert!(!dump.is_empty());
    assert!(dump.iter().all(|row| !row.contains("Circle Of Life")));
    assert!(
        dump.iter().skip(1).all(|row| !row.contains(&creds.ha1_md5)),
        "no HA1 in the audit log"
    );

    s.add_endpoint(&NewEndpoint::new("1002", "pw"), "cli:test")
        .await
        .expect("add");
    let list = s.list_endpoints().await.expect("list");
    let names: Vec<&str> = list.iter().map(|e| e.username.as_str()).collect();
    assert_eq!(names, ["1002", "Mufasa"]);
    // The registrar's bulk load: every enabled endpoint, with the same credentials.
    let mut all = s.all_endpoint_credentials().await.expect("all credentials");
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = all.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names, ["1002", "Mufasa"]);
    assert_eq!(all[1].1, creds);
    assert_eq!(
        s.get_endpoint("1002").await.expect("get").realm,
        "switchboard"
    );

    let dup = s
        .add_endpoint(&NewEndpoint::new("1002", "other"), "cli:test")
        .await;
    assert!(
        matches!(&dup, Err(StoreError::Duplicate { entity: "endpoint", key }) if key == "1002")
    );
    assert_eq!(
        dup.err().map(|e| e.to_string()).as_deref(),
        Some("endpoint '1002' already exists")
    );
    for (user, pw) in [("bad user", "pw"), ("a:b", "pw"), ("", "pw"), ("ok", "")] {
        assert!(
            matches!(
                s.add_endpoint(&NewEndpoint::new(user, pw), "t").await,
                Err(StoreError::Invalid { .. })
            ),
            "{user:?}/{pw:?}"
        );
    }
    let unknown = s.remove_endpoint("nobody", "cli:test").await;
    assert!(matches!(
        unknown,
        Err(StoreError::NotFound {
            entity: "endpoint",
            ..
        })
    ));
    assert!(matches!(
        s.get_endpoint("nobody").await,
        Err(StoreError::NotFound { .. })
    ));

    let removed = s.remove_endpoint("1002", "cli:test").await.expect("remove");
    assert_eq!(removed.username, "1002");
    assert_eq!(s.list_endpoints().await.expect("list").len(), 1);

    // Audit: group create, endpoint create x2, endpoint delete; newest first.
    let audit = s.audit_log(None, 100).await.expect("audit");
    let rows: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|a| {
            (
                a.entity_type.as_str(),
                a.entity_key.as_str(),
                a.action.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("endpoint", "1002", "delete"),
            ("endpoint", "1002", "create"),
            ("endpoint", "Mufasa", "create"),
            ("endpoint_group", "lions", "create"),
        ]
    );
    assert!(audit.iter().all(|a| a.actor == "cli:test"));
    assert_eq!(audit[0].after, None);
    assert_eq!(
        audit[0].before.as_ref().map(|b| b["username"].clone()),
        Some("1002".into())
    );
    assert_eq!(
        audit[2].after.as_ref().map(|b| b["group_name"].clone()),
        Some("lions".into())
    );
    // A failed change leaves no audit row.
    assert_eq!(
        s.audit_log(Some("endpoint"), 100)
            .await
            .expect("audit")
            .len(),
        3
    );
    db.finish().await;
}

fn agent(name: &str, ext: &str, skills: &[(&str, i16)]) -> NewAgent {
    NewAgent {
        name: name.into(),
        display_name: None,
        extension: Some(ext.into()),
        max_calls: 1,
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
    }
}

async fn agents_keep_skills_with_levels(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let alice = s
        .add_agent(
            &agent("alice", "2001", &[("support", 90), ("sales", 40)]),
            "cli:test",
        )
        .await
        .expect("alice");
    assert_eq!(alice.skills.len(), 2);
    let mut bob = agent("bob", "2002", &[("sales", 75)]);
    bob.max_calls = 3;
    bob.display_name = Some("Bob B.".into());
    s.add_agent(&bob, "cli:test").await.expect("bob");

    let list = s.list_agents().await.expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "alice");
    let skills: Vec<(&str, i16)> = list[0]
        .skills
        .iter()
        .map(|k| (k.skill.as_str(), k.level))
        .collect();
    assert_eq!(skills, [("sales", 40), ("support", 90)]);
    assert_eq!(list[1].max_calls, 3);
    assert_eq!(list[1].display_name.as_deref(), Some("Bob B."));
    assert_eq!(s.get_agent("bob").await.expect("get").skills[0].level, 75);

    assert!(matches!(
        s.add_agent(&agent("alice", "2999", &[]), "t").await,
        Err(StoreError::Duplicate {
            entity: "agent",
            ..
        })
    ));
    assert!(matches!(
        s.add_agent(&agent("carol", "2001", &[]), "t").await,
        Err(StoreError::Duplicate { entity: "extension", key }) if key == "2001"
    ));
    for bad in [
        agent("dave", "2003", &[("sales", 0)]),
        agent("dave", "2003", &[("sales", 101)]),
        agent("dave", "2003", &[("sales", 5), ("sales", 6)]),
        agent("dave", "ext", &[]),
        agent("da ve", "2003", &[]),
        NewAgent {
            max_calls: 0,
            ..agent("dave", "2003", &[])
        },
    ] {
        assert!(
            matches!(
                s.add_agent(&bad, "t").await,
                Err(StoreError::Invalid { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        s.remove_agent("nobody", "t").await,
        Err(StoreError::NotFound { .. })
    ));
    s.remove_agent("alice", "cli:test").await.expect("remove");
    let names: Vec<String> = s
        .list_agents()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["bob"]);

    let audit = s.audit_log(Some("agent"), 100).await.expect("audit");
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.entity_key.as_str(), a.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("alice", "delete"), ("bob", "create"), ("alice", "create")]
    );
    assert_eq!(
        audit[0]
            .before
            .as_ref()
            .map(|b| b["skills"].as_array().map(Vec::len)),
        Some(Some(2))
    );
    let skills = s.audit_log(Some("skill"), 100).await.expect("audit");
    assert_eq!(skills.len(), 2, "support and sales created once each");
    db.finish().await;
}

async fn queues_keep_strategy_skills_and_overflow(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let mut support = NewQueue::new("support", Strategy::SkillsBased);
    support.required_skills = vec![("support".into(), 50)];
    support.max_waiting = Some(20);
    support.max_wait_secs = Some(300);
    support.wrap_up_secs = 15;
    support.overflow = Some("queue:sales".into());
    let q = s.add_queue(&support, "cli:test").await.expect("add");
    assert_eq!(q.strategy, "skills_based");
    s.add_queue(&NewQueue::new("sales", Strategy::RingAll), "cli:test")
        .await
        .expect("add");

    let list = s.list_queues().await.expect("list");
    assert_eq!(
        list.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
        ["sales", "support"]
    );
    let got = s.get_queue("support").await.expect("get");
    assert_eq!(got, q);
    assert_eq!(got.required_skills[0].skill, "support");
    assert_eq!(got.required_skills[0].level, 50);
    assert_eq!(got.overflow.as_deref(), Some("queue:sales"));
    assert_eq!(
        (got.max_waiting, got.max_wait_secs, got.wrap_up_secs),
        (Some(20), Some(300), 15)
    );

    assert!(matches!(
        s.add_queue(&NewQueue::new("sales", Strategy::Random), "t")
            .await,
        Err(StoreError::Duplicate {
            entity: "queue",
            ..
        })
    ));
    let mut bad = NewQueue::new("x", Strategy::Random);
    bad.overflow = Some("pstn:123".into());
    assert!(matches!(
        s.add_queue(&bad, "t").await,
        Err(StoreError::Invalid {
            field: "overflow",
            ..
        })
    ));
    bad.overflow = Some("queue:x".into());
    assert!(matches!(
        s.add_queue(&bad, "t").await,
        Err(StoreError::Invalid { .. })
    ));
    bad.overflow = None;
    bad.max_waiting = Some(0);
    assert!(matches!(
        s.add_queue(&bad, "t").await,
        Err(StoreError::Invalid { .. })
    ));
    assert!("fastest".parse::<Strategy>().is_err());

    assert!(matches!(
        s.remove_queue("nope", "t").await,
        Err(StoreError::NotFound { .. })
    ));
    s.remove_queue("support", "cli:test").await.expect("remove");
    assert_eq!(s.list_queues().await.expect("list").len(), 1);
    let audit = s.audit_log(Some("queue"), 100).await.expect("audit");
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.entity_key.as_str(), a.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("support", "delete"),
            ("sales", "create"),
            ("support", "create")
        ]
    );
    db.finish().await;
}

async fn ivr_flows_are_versioned(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    assert_eq!(
        s.save_ivr_flow("main", "v: 1\n", "t").await.expect("save"),
        Saved::NewVersion(1)
    );
    assert_eq!(
        s.save_ivr_flow("main", "v: 1\n", "t").await.expect("save"),
        Saved::Unchanged(1)
    );
    assert_eq!(
        s.save_ivr_flow("main", "v: 2\n", "t").await.expect("save"),
        Saved::NewVersion(2)
    );
    let active = s.active_ivr_flow("main").await.expect("active");
    assert_eq!((active.version, active.yaml.as_str()), (2, "v: 2\n"));
    assert_eq!(active.sha256, store::sha256_hex(b"v: 2\n"));
    assert!(matches!(
        s.active_ivr_flow("other").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.save_ivr_flow("main", "  ", "t").await,
        Err(StoreError::Invalid { .. })
    ));
    let audit = s.audit_log(Some("ivr_flow"), 10).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["update", "create"]);
    db.finish().await;
}

on_both_backends!(
    endpoints_store_only_ha1_and_are_audited,
    agents_keep_skills_with_levels,
    queues_keep_strategy_skills_and_overflow,
    ivr_flows_are_versioned,
);
