//! Qualify scheduling and results, flow keep-alives and closes, destinations, expiry, restore.

use super::*;

const PHONE: &str = "sip:alice@198.51.100.7:5060";
const SOURCE: &str = "198.51.100.7:5060";

fn registered(contact: &str, bflow: BindingFlow, now: UnixTime) -> LocationService {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(contact).build();
    let out = loc.register("alice", &req, bflow, &policy(), now);
    assert_eq!(out.reply.status, 200);
    loc
}

fn key() -> BindingKey {
    BindingKey {
        aor: "alice".into(),
        contact: PHONE.into(),
    }
}

#[test]
fn first_qualify_is_due_one_interval_after_registration() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let p = qualify_policy();
    assert!(loc.qualify_due(&p, at(29)).is_empty());
    let due = loc.qualify_due(&p, at(30));
    assert_eq!(
        due,
        vec![QualifyTarget {
            key: key(),
            contact: PHONE.into(),
            destination: addr(SOURCE),
            flow: udp(SOURCE),
        }]
    );
    assert!(
        loc.get_binding(&key())
            .is_some_and(|b| b.qualify.in_flight())
    );
    // In flight: not due again until its result.
    assert!(loc.qualify_due(&p, at(90)).is_empty());
    assert_indexes_consistent(&loc);
}

#[test]
fn next_qualify_is_due_one_interval_after_the_result() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let p = qualify_policy();
    assert_eq!(loc.qualify_due(&p, at(30)).len(), 1);
    assert_eq!(loc.qualify_result(&key(), true, &p, at(32)), None);
    assert!(loc.qualify_due(&p, at(61)).is_empty());
    assert_eq!(loc.qualify_due(&p, at(62)).len(), 1);
    assert_indexes_consistent(&loc);
}

#[test]
fn a_refresh_pushes_the_next_qualify_back() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let req = register("c1", 2).contact(PHONE).build();
    loc.register("alice", &req, udp(SOURCE), &policy(), at(20));
    let p = qualify_policy();
    assert!(loc.qualify_due(&p, at(30)).is_empty());
    assert_eq!(loc.qualify_due(&p, at(50)).len(), 1);
}

#[test]
fn unanswered_qualifies_make_a_binding_unreachable_once() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let p = qualify_policy();
    let mut now = 0;
    let mut changes = Vec::new();
    for _ in 0..5 {
        now += 30;
        assert_eq!(loc.qualify_due(&p, at(now)).len(), 1);
        changes.push(loc.qualify_result(&key(), false, &p, at(now)));
    }
    assert_eq!(changes[0], None);
    assert_eq!(changes[1], None);
    let change = changes[2].as_ref().expect("third failure: unreachable");
    assert_eq!(change.previous, Reachability::Reachable);
    assert_eq!(change.binding.reachability, Reachability::Unreachable);
    assert_eq!(change.binding.qualify.failures(), 3);
    assert_eq!(changes[3], None, "reported once");
    assert_eq!(changes[4], None);
    assert_eq!(
        change.binding.last_seen,
        at(0),
        "a timeout is not a sighting"
    );
}

#[test]
fn an_answer_brings_an_unreachable_binding_back() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let p = QualifyPolicy {
        failures_before_unreachable: 1,
        ..qualify_policy()
    };
    loc.qualify_due(&p, at(30));
    assert!(loc.qualify_result(&key(), false, &p, at(30)).is_some());
    loc.qualify_due(&p, at(60));
    let change = loc
        .qualify_result(&key(), true, &p, at(61))
        .expect("reachable again");
    assert_eq!(change.previous, Reachability::Unreachable);
    assert_eq!(change.binding.reachability, Reachability::Reachable);
    assert_eq!(change.binding.last_seen, at(61));
    assert_eq!(change.binding.qualify.failures(), 0);
}

#[test]
fn a_result_for_an_unknown_binding_is_ignored() {
    let mut loc = registered(PHONE, udp(SOURCE), at(0));
    let stranger = BindingKey {
        aor: "bob".into(),
        contact: PHONE.into(),
    };
    assert_eq!(
        loc.qualify_result(&stranger, false, &qualify_policy(), at(30)),
        None
    );
    assert_indexes_consistent(&loc);
}

#[test]
fn expired_bindings_are_not_qualified() {
    let req = register("c1", 1).contact(&format!("<{PHONE}>;expires=60"));
    let mut loc = LocationService::new();
    register_alice(&mut loc, &req, SOURCE, at(0));
    let p = QualifyPolicy {
        interval_ms: 90_000,
        ..qualify_policy()
    };
    assert!(loc.qualify_due(&p, at(90)).is_empty());
}

#[test]
fn flow_alive_marks_bindings_seen_and_revives_unreachable_ones() {
    let tcp = flow(FlowTransport::Tcp, "203.0.113.9:40000");
    let mut loc = registered(PHONE, tcp, at(0));
    assert_eq!(
        loc.flow_alive(FlowTransport::Tcp, tcp.source, at(5)),
        vec![]
    );
    assert_eq!(loc.get_binding(&key()).map(|b| b.last_seen), Some(at(5)));
    let closed = loc.flow_closed(FlowTransport::Tcp, tcp.source, at(6));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].previous, Reachability::Reachable);
    assert_eq!(closed[0].binding.reachability, Reachability::Unreachable);
    let alive = loc.flow_alive(FlowTransport::Tcp, tcp.source, at(7));
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].previous, Reachability::Unreachable);
    assert_eq!(alive[0].binding.reachability, Reachability::Reachable);
    assert_eq!(alive[0].binding.last_seen, at(7));
    // Another transport or address is another flow.
    assert!(
        loc.flow_closed(FlowTransport::Tls, tcp.source, at(8))
            .is_empty()
    );
    assert!(
        loc.flow_closed(FlowTransport::Tcp, addr("203.0.113.9:40001"), at(8))
            .is_empty()
    );
}

#[test]
fn flow_closed_reports_each_binding_once_and_ignores_udp() {
    let tcp = flow(FlowTransport::Tcp, "203.0.113.9:40000");
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact(PHONE)
        .contact("<sip:alice@198.51.100.8;transport=tcp>")
        .build();
    loc.register("alice", &req, tcp, &policy(), at(0));
    assert_eq!(
        loc.flow_closed(FlowTransport::Tcp, tcp.source, at(1)).len(),
        2
    );
    assert!(
        loc.flow_closed(FlowTransport::Tcp, tcp.source, at(2))
            .is_empty()
    );
    let mut udp_loc = registered(PHONE, udp(SOURCE), at(0));
    assert!(
        udp_loc
            .flow_closed(FlowTransport::Udp, addr(SOURCE), at(1))
            .is_empty()
    );
    assert_eq!(
        udp_loc.get_binding(&key()).map(|b| b.reachability),
        Some(Reachability::Reachable)
    );
}

#[test]
fn destination_behind_nat_is_the_udp_source() {
    let loc = registered(
        "<sip:alice@10.0.0.5:5060>",
        udp("203.0.113.50:61000"),
        at(0),
    );
    let b = loc.lookup("alice", at(0))[0];
    assert_eq!(b.contact_address(), Some(addr("10.0.0.5:5060")));
    assert_eq!(b.destination(), addr("203.0.113.50:61000"));
}

#[test]
fn destination_of_a_contact_naming_the_source_is_that_address() {
    let loc = registered("<sip:alice@198.51.100.7>", udp(SOURCE), at(0));
    let b = loc.lookup("alice", at(0))[0];
    assert_eq!(
        b.contact_address(),
        Some(addr(SOURCE)),
        "port 5060 by default"
    );
    assert_eq!(b.destination(), addr(SOURCE));
}

#[test]
fn destination_of_a_host_name_contact_is_the_source() {
    let loc = registered("<sip:alice@phone.example.com>", udp(SOURCE), at(0));
    let b = loc.lookup("alice", at(0))[0];
    assert_eq!(b.contact_address(), None);
    assert_eq!(b.destination(), addr(SOURCE));
}

#[test]
fn destination_over_a_connection_is_its_remote_end() {
    for transport in [
        FlowTransport::Tcp,
        FlowTransport::Tls,
        FlowTransport::Ws,
        FlowTransport::Wss,
    ] {
        // Even a Contact naming a public address and port is reached over the connection.
        let loc = registered(
            "<sip:alice@198.51.100.7:5060;transport=tcp>",
            flow(transport, "198.51.100.7:49152"),
            at(0),
        );
        let b = loc.lookup("alice", at(0))[0];
        assert_eq!(b.destination(), addr("198.51.100.7:49152"), "{transport:?}");
    }
}

#[test]
fn expire_removes_only_the_bindings_due() {
    let mut loc = LocationService::new();
    let p = RegisterPolicy {
        max_contacts: 10,
        ..policy()
    };
    for (k, expires) in [(1, 60), (2, 120), (3, 60)] {
        let req = register(&format!("c{k}"), 1)
            .contact(&format!("<sip:alice@198.51.100.{k}>;expires={expires}"))
            .build();
        loc.register(
            "alice",
            &req,
            udp(&format!("198.51.100.{k}:5060")),
            &p,
            at(0),
        );
    }
    assert_eq!(loc.next_expiry(), Some(at(60)));
    assert!(loc.expire(at(59)).is_empty());
    let mut gone: Vec<String> = loc
        .expire(at(60))
        .iter()
        .map(|b| b.contact.to_string())
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        vec!["sip:alice@198.51.100.1", "sip:alice@198.51.100.3"]
    );
    assert_eq!(loc.len(), 1);
    assert_eq!(loc.next_expiry(), Some(at(120)));
    assert_indexes_consistent(&loc);
    // Their flows and qualifies are gone with them.
    assert!(
        loc.flow_alive(FlowTransport::Udp, addr("198.51.100.1:5060"), at(61))
            .is_empty()
    );
    let due = loc.qualify_due(&qualify_policy(), at(61));
    assert_eq!(due.len(), 1);
    assert_eq!(&*due[0].contact, "sip:alice@198.51.100.2");
    assert_eq!(loc.expire(at(120)).len(), 1);
    assert!(loc.is_empty());
    assert_eq!(loc.next_expiry(), None);
    assert_indexes_consistent(&loc);
}

fn stored_binding(expires_at: UnixTime) -> Binding {
    Binding {
        aor: "alice".into(),
        contact: PHONE.into(),
        q_milli: Some(500),
        expires_at,
        call_id: "c1".into(),
        cseq: 3,
        path: Vec::new(),
        user_agent: None,
        instance_id: None,
        reg_id: None,
        flow: udp(SOURCE),
        registered_at: at(0),
        refreshed_at: at(0),
        reachability: Reachability::Unknown,
        last_seen: at(0),
        qualify: QualifyState::default(),
    }
}

#[test]
fn restore_skips_expired_bindings() {
    let mut loc = LocationService::new();
    assert!(!loc.restore(stored_binding(at(100)), at(100)));
    assert!(loc.is_empty());
    assert!(loc.restore(stored_binding(at(101)), at(100)));
    assert_eq!(loc.len(), 1);
    assert_eq!(loc.next_expiry(), Some(at(101)));
    assert_indexes_consistent(&loc);
}

#[test]
fn restored_binding_is_found_qualified_and_refreshable() {
    let mut loc = LocationService::new();
    assert!(loc.restore(stored_binding(at(600)), at(100)));
    assert_eq!(contacts_of(&loc, "alice", at(100)), vec![PHONE]);
    assert!(loc.qualify_due(&qualify_policy(), at(129)).is_empty());
    assert_eq!(loc.qualify_due(&qualify_policy(), at(130)).len(), 1);
    // The stored CSeq still orders requests with the stored Call-ID.
    let out = loc.register(
        "alice",
        &register("c1", 3).contact(PHONE).build(),
        udp(SOURCE),
        &policy(),
        at(140),
    );
    assert_eq!(out.reply.status, 500);
    let out = loc.register(
        "alice",
        &register("c1", 4).contact(PHONE).build(),
        udp(SOURCE),
        &policy(),
        at(140),
    );
    assert_eq!(out.reply.status, 200);
    assert_eq!(saved(&out.changes)[0].registered_at, at(0));
    // Restoring the same key again replaces it.
    assert!(loc.restore(stored_binding(at(900)), at(150)));
    assert_eq!(loc.len(), 1);
    assert_indexes_consistent(&loc);
}
