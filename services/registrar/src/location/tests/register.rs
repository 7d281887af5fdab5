//! REGISTER processing: RFC 3261 §10.3 steps 5 to 8, RFC 3327 Path, RFC 5626 parameters.

use sip::{Contact, Header, NameAddr, Uri};

use super::*;

const PHONE: &str = "sip:alice@198.51.100.7:5060";
const SOURCE: &str = "198.51.100.7:5060";

#[test]
fn new_contact_is_bound_with_the_default_expiry() {
    let mut loc = LocationService::new();
    let out = register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    assert_eq!(out.reply.reason, None);
    let saved = saved(&out.changes);
    assert_eq!(saved.len(), 1);
    let b = saved[0];
    assert_eq!(&*b.aor, "alice");
    assert_eq!(&*b.contact, PHONE);
    assert_eq!(b.expires_at, at(600));
    assert_eq!(b.registered_at, at(0));
    assert_eq!(b.refreshed_at, at(0));
    assert_eq!(&*b.call_id, "c1");
    assert_eq!(b.cseq, 1);
    assert_eq!(b.reachability, Reachability::Reachable);
    assert_eq!(b.last_seen, at(0));
    assert_eq!(b.flow, udp(SOURCE));
    assert_eq!(loc.len(), 1);
    assert_eq!(
        contact_line(&out.reply).as_deref(),
        Some("Contact: <sip:alice@198.51.100.7:5060>;expires=600")
    );
}

#[test]
fn ok_reply_carries_date_and_supported_path() {
    let mut loc = LocationService::new();
    // 2023-11-14 22:13:20 GMT plus 5 s.
    let out = register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(5));
    let lines: Vec<String> = out.reply.headers.iter().map(|h| h.to_string()).collect();
    assert!(
        lines.contains(&"Date: Tue, 14 Nov 2023 22:13:25 GMT".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"Supported: path".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("Path:")), "{lines:?}");
}

#[test]
fn contact_expires_parameter_wins_over_the_expires_header() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact(&format!("<{PHONE}>;expires=120"))
        .header("Expires: 300");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(saved(&out.changes)[0].expires_at, at(120));
}

#[test]
fn expires_header_applies_when_the_contact_has_no_expires() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(PHONE).header("Expires: 300");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(saved(&out.changes)[0].expires_at, at(300));
    assert_eq!(
        contact_line(&out.reply).as_deref(),
        Some("Contact: <sip:alice@198.51.100.7:5060>;expires=300")
    );
}

#[test]
fn expiry_below_the_minimum_is_refused_with_423_and_min_expires() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    let before: Vec<Binding> = loc.bindings().cloned().collect();
    let req = register("c2", 1)
        .contact("<sip:alice@198.51.100.8>")
        .contact(&format!("<{PHONE}>;expires=30"));
    let out = register_alice(&mut loc, &req, SOURCE, at(10));
    assert_eq!(out.reply.status, 423);
    assert_eq!(out.reply.headers, vec![Header::MinExpires(60)]);
    assert!(out.changes.is_empty());
    let after: Vec<Binding> = loc.bindings().cloned().collect();
    assert_eq!(before, after, "nothing changed, not even the valid Contact");
}

#[test]
fn expires_header_below_the_minimum_is_refused_too() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(PHONE).header("Expires: 59");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 423);
    assert!(loc.is_empty());
}

#[test]
fn expiry_above_the_maximum_is_clamped() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(&format!("<{PHONE}>;expires=86400"));
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    assert_eq!(saved(&out.changes)[0].expires_at, at(3600));
    assert!(contact_line(&out.reply).is_some_and(|l| l.ends_with(";expires=3600")));
}

#[test]
fn expires_zero_removes_the_binding() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    let req = register("c1", 2).contact(&format!("<{PHONE}>;expires=0"));
    let out = register_alice(&mut loc, &req, SOURCE, at(5));
    assert_eq!(out.reply.status, 200);
    assert_eq!(
        removed(&out.changes),
        vec![(PHONE, RemovalCause::Unregistered)]
    );
    assert!(loc.is_empty());
    assert_eq!(contact_line(&out.reply), None, "no bindings left to list");
    assert_indexes_consistent(&loc);
}

#[test]
fn expires_zero_for_an_unknown_contact_changes_nothing() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(PHONE).header("Expires: 0");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    assert!(out.changes.is_empty());
    assert!(loc.is_empty());
}

#[test]
fn refresh_keeps_registered_at_and_takes_the_new_flow() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    let req = register("c1", 2)
        .contact(PHONE)
        .header("User-Agent: Phone/2.0");
    let tcp = flow(FlowTransport::Tcp, "203.0.113.9:40000");
    let out = loc.register("alice", &req.build(), tcp, &policy(), at(100));
    assert_eq!(out.reply.status, 200);
    let b = saved(&out.changes)[0];
    assert_eq!(b.registered_at, at(0));
    assert_eq!(b.refreshed_at, at(100));
    assert_eq!(b.expires_at, at(700));
    assert_eq!(b.cseq, 2);
    assert_eq!(b.flow, tcp);
    assert_eq!(b.user_agent.as_deref(), Some("Phone/2.0"));
    assert_eq!(loc.len(), 1);
    assert_indexes_consistent(&loc);
    // The old flow no longer leads to it; the new one does.
    assert!(
        loc.flow_closed(FlowTransport::Tcp, addr("203.0.113.9:40000"), at(101))
            .len()
            == 1
    );
    assert!(
        loc.flow_alive(FlowTransport::Udp, addr(SOURCE), at(102))
            .is_empty()
    );
}

#[test]
fn refresh_makes_an_unreachable_binding_reachable() {
    let mut loc = LocationService::new();
    let tcp = flow(FlowTransport::Tcp, "203.0.113.9:40000");
    let req = register("c1", 1).contact(PHONE);
    loc.register("alice", &req.build(), tcp, &policy(), at(0));
    loc.flow_closed(FlowTransport::Tcp, tcp.source, at(10));
    let req = register("c1", 2).contact(PHONE);
    let out = loc.register("alice", &req.build(), tcp, &policy(), at(20));
    let b = saved(&out.changes)[0];
    assert_eq!(b.reachability, Reachability::Reachable);
    assert_eq!(b.last_seen, at(20));
}

#[test]
fn same_call_id_with_a_cseq_not_higher_fails_with_500_and_changes_nothing() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 5).contact(PHONE), SOURCE, at(0));
    let before: Vec<Binding> = loc.bindings().cloned().collect();
    for cseq in [5, 4] {
        let req = register("c1", cseq)
            .contact("<sip:alice@198.51.100.99>")
            .contact(PHONE);
        let out = register_alice(&mut loc, &req, SOURCE, at(10));
        assert_eq!(out.reply.status, 500, "CSeq {cseq}");
        assert_eq!(out.reply.reason.as_deref(), Some("Out of order CSeq"));
        assert!(out.changes.is_empty());
    }
    let after: Vec<Binding> = loc.bindings().cloned().collect();
    assert_eq!(before, after);
}

#[test]
fn another_call_id_updates_the_binding_whatever_its_cseq() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 50).contact(PHONE), SOURCE, at(0));
    let out = register_alice(&mut loc, &register("c2", 1).contact(PHONE), SOURCE, at(10));
    assert_eq!(out.reply.status, 200);
    let b = saved(&out.changes)[0];
    assert_eq!((&*b.call_id, b.cseq), ("c2", 1));
    assert_eq!(b.registered_at, at(0), "still the same binding");
    assert_eq!(loc.len(), 1);
}

#[test]
fn equivalent_contact_refreshes_the_stored_binding_and_keeps_its_text() {
    let mut loc = LocationService::new();
    let first = "<sip:alice@Phone.Example.com;transport=tcp;ob>";
    register_alice(&mut loc, &register("c1", 1).contact(first), SOURCE, at(0));
    let again = "<sip:alice@phone.example.com;ob;transport=TCP>";
    let out = register_alice(&mut loc, &register("c1", 2).contact(again), SOURCE, at(10));
    assert_eq!(out.reply.status, 200);
    assert_eq!(loc.len(), 1);
    assert_eq!(
        &*saved(&out.changes)[0].contact,
        "sip:alice@Phone.Example.com;transport=tcp;ob"
    );
    // A different user part (case-sensitive) is another binding.
    let other = "<sip:Alice@phone.example.com;transport=tcp;ob>";
    register_alice(&mut loc, &register("c1", 3).contact(other), SOURCE, at(20));
    assert_eq!(loc.len(), 2);
}

#[test]
fn contact_star_with_expires_zero_removes_every_binding() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact(PHONE)
        .contact("<sip:alice@198.51.100.8>");
    register_alice(&mut loc, &req, SOURCE, at(0));
    // Bob is not touched.
    let bob = register("b1", 1).contact("<sip:bob@198.51.100.20>").build();
    loc.register("bob", &bob, udp("198.51.100.20:5060"), &policy(), at(0));
    let star = register("c9", 1).contact("*").header("Expires: 0");
    let out = register_alice(&mut loc, &star, SOURCE, at(10));
    assert_eq!(out.reply.status, 200);
    assert_eq!(contact_line(&out.reply), None);
    let mut gone = removed(&out.changes);
    gone.sort_by_key(|(contact, _)| *contact);
    assert_eq!(
        gone,
        vec![
            ("sip:alice@198.51.100.7:5060", RemovalCause::Unregistered),
            ("sip:alice@198.51.100.8", RemovalCause::Unregistered),
        ]
    );
    assert!(loc.lookup("alice", at(10)).is_empty());
    assert_eq!(loc.len(), 1);
    assert_indexes_consistent(&loc);
}

#[test]
fn contact_star_same_call_id_needs_a_higher_cseq() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 7).contact(PHONE), SOURCE, at(0));
    let star = register("c1", 7).contact("*").header("Expires: 0");
    let out = register_alice(&mut loc, &star, SOURCE, at(10));
    assert_eq!(out.reply.status, 500);
    assert_eq!(loc.len(), 1);
    let star = register("c1", 8).contact("*").header("Expires: 0");
    let out = register_alice(&mut loc, &star, SOURCE, at(10));
    assert_eq!(out.reply.status, 200);
    assert!(loc.is_empty());
}

#[test]
fn contact_star_without_expires_zero_is_a_bad_request() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    for req in [
        register("c2", 1).contact("*"),
        register("c2", 1).contact("*").header("Expires: 60"),
    ] {
        let out = register_alice(&mut loc, &req, SOURCE, at(10));
        assert_eq!(out.reply.status, 400);
        assert!(
            out.reply
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("Expires: 0"))
        );
        assert_eq!(loc.len(), 1);
    }
}

#[test]
fn contact_star_with_another_contact_is_a_bad_request() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    let req = register("c2", 1)
        .contact("*")
        .contact(PHONE)
        .header("Expires: 0");
    let out = register_alice(&mut loc, &req, SOURCE, at(10));
    assert_eq!(out.reply.status, 400);
    assert!(
        out.reply
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("only Contact"))
    );
    assert_eq!(loc.len(), 1);
}

#[test]
fn register_without_contact_is_a_query() {
    let mut loc = LocationService::new();
    register_alice(&mut loc, &register("c1", 1).contact(PHONE), SOURCE, at(0));
    let before: Vec<Binding> = loc.bindings().cloned().collect();
    let out = register_alice(&mut loc, &register("q1", 1), SOURCE, at(100));
    assert_eq!(out.reply.status, 200);
    assert!(out.changes.is_empty());
    assert_eq!(
        contact_line(&out.reply).as_deref(),
        Some("Contact: <sip:alice@198.51.100.7:5060>;expires=500"),
        "the remaining time, not the granted one"
    );
    let after: Vec<Binding> = loc.bindings().cloned().collect();
    assert_eq!(before, after);
}

#[test]
fn several_contacts_are_listed_by_q_value() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact("<sip:alice@198.51.100.1>;q=0.1, <sip:alice@198.51.100.2>;q=0.7")
        .contact("<sip:alice@198.51.100.3>;q=0.25");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    assert_eq!(
        contacts_of(&loc, "alice", at(0)),
        vec![
            "sip:alice@198.51.100.2",
            "sip:alice@198.51.100.3",
            "sip:alice@198.51.100.1",
        ]
    );
    assert_eq!(
        contact_line(&out.reply).as_deref(),
        Some(
            "Contact: <sip:alice@198.51.100.2>;expires=600;q=0.7, \
             <sip:alice@198.51.100.3>;expires=600;q=0.25, \
             <sip:alice@198.51.100.1>;expires=600;q=0.1"
        )
    );
    let qs: Vec<Option<u16>> = loc
        .lookup("alice", at(0))
        .iter()
        .map(|b| b.q_milli)
        .collect();
    assert_eq!(qs, vec![Some(700), Some(250), Some(100)]);
}

#[test]
fn lookup_ranks_an_absent_q_as_one_then_the_most_recently_refreshed() {
    let mut loc = LocationService::new();
    let p = RegisterPolicy {
        max_contacts: 10,
        ..policy()
    };
    let mut reg = |call_id: &str, contact: &str, now| {
        let req = register(call_id, 1).contact(contact).build();
        loc.register("alice", &req, udp(SOURCE), &p, now)
    };
    reg("a", "<sip:alice@198.51.100.1>;q=1.0", at(0));
    reg("b", "<sip:alice@198.51.100.2>", at(10));
    reg("c", "<sip:alice@198.51.100.3>;q=0.9", at(20));
    reg("d", "<sip:alice@198.51.100.4>", at(5));
    assert_eq!(
        contacts_of(&loc, "alice", at(30)),
        vec![
            "sip:alice@198.51.100.2",
            "sip:alice@198.51.100.4",
            "sip:alice@198.51.100.1",
            "sip:alice@198.51.100.3",
        ]
    );
}

#[test]
fn lookup_leaves_out_expired_bindings() {
    let mut loc = LocationService::new();
    register_alice(
        &mut loc,
        &register("c1", 1).contact(&format!("<{PHONE}>;expires=60")),
        SOURCE,
        at(0),
    );
    assert_eq!(loc.lookup("alice", at(59)).len(), 1);
    assert!(loc.lookup("alice", at(60)).is_empty());
    assert!(loc.lookup("nobody", at(0)).is_empty());
}

#[test]
fn contact_limit_refuse_answers_403_and_changes_nothing() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact("<sip:alice@198.51.100.1>")
        .contact("<sip:alice@198.51.100.2>")
        .contact("<sip:alice@198.51.100.3>");
    register_alice(&mut loc, &req, SOURCE, at(0));
    let before: Vec<Binding> = loc.bindings().cloned().collect();
    let out = register_alice(
        &mut loc,
        &register("c2", 1).contact("<sip:alice@198.51.100.4>"),
        SOURCE,
        at(10),
    );
    assert_eq!(out.reply.status, 403);
    assert_eq!(out.reply.reason.as_deref(), Some("Too many contacts"));
    assert!(out.changes.is_empty());
    let after: Vec<Binding> = loc.bindings().cloned().collect();
    assert_eq!(before, after);
    // Refreshing an existing one, or replacing one in the same request, is within the limit.
    let req = register("c2", 2)
        .contact("<sip:alice@198.51.100.1>;expires=0")
        .contact("<sip:alice@198.51.100.4>");
    let out = register_alice(&mut loc, &req, SOURCE, at(20));
    assert_eq!(out.reply.status, 200);
    assert_eq!(loc.len(), 3);
}

#[test]
fn contact_limit_replace_oldest_removes_the_least_recently_refreshed() {
    let mut loc = LocationService::new();
    let p = RegisterPolicy {
        max_contacts: 2,
        on_contact_limit: ContactLimit::ReplaceOldest,
        ..policy()
    };
    let reg = |loc: &mut LocationService, call_id: &str, contact: &str, now| {
        let req = register(call_id, 1).contact(contact).build();
        loc.register("alice", &req, udp(SOURCE), &p, now)
    };
    reg(&mut loc, "a", "<sip:alice@198.51.100.1>", at(0));
    reg(&mut loc, "b", "<sip:alice@198.51.100.2>", at(10));
    // Refreshing .1 makes .2 the least recently refreshed.
    reg(&mut loc, "a2", "<sip:alice@198.51.100.1>", at(20));
    let out = reg(&mut loc, "c", "<sip:alice@198.51.100.3>", at(30));
    assert_eq!(out.reply.status, 200);
    assert_eq!(
        removed(&out.changes),
        vec![("sip:alice@198.51.100.2", RemovalCause::Replaced)]
    );
    assert_eq!(
        contacts_of(&loc, "alice", at(30)),
        vec!["sip:alice@198.51.100.3", "sip:alice@198.51.100.1"]
    );
    assert_indexes_consistent(&loc);
}

#[test]
fn more_contacts_in_one_request_than_allowed_is_refused_even_when_replacing() {
    let mut loc = LocationService::new();
    let p = RegisterPolicy {
        max_contacts: 2,
        on_contact_limit: ContactLimit::ReplaceOldest,
        ..policy()
    };
    let req = register("c1", 1)
        .contact("<sip:alice@198.51.100.1>")
        .contact("<sip:alice@198.51.100.2>")
        .contact("<sip:alice@198.51.100.3>")
        .build();
    let out = loc.register("alice", &req, udp(SOURCE), &p, at(0));
    assert_eq!(out.reply.status, 403);
    assert!(loc.is_empty());
}

#[test]
fn path_is_stored_and_echoed() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact(PHONE)
        .header("Path: <sip:edge1.example.net;lr>, <sip:edge2.example.net;lr>")
        .header("Path: <sip:core.example.net;lr>")
        .header("Supported: path");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    let b = saved(&out.changes)[0];
    assert_eq!(
        b.path,
        vec![
            Box::from("sip:edge1.example.net;lr"),
            Box::from("sip:edge2.example.net;lr"),
            Box::from("sip:core.example.net;lr"),
        ]
    );
    let paths: Vec<String> = out
        .reply
        .headers
        .iter()
        .filter(|h| matches!(h, Header::Path(_)))
        .map(|h| h.to_string())
        .collect();
    assert_eq!(
        paths,
        vec![
            "Path: <sip:edge1.example.net;lr>, <sip:edge2.example.net;lr>",
            "Path: <sip:core.example.net;lr>",
        ]
    );
    // A refresh without Path clears it: each REGISTER states the current route.
    let out = register_alice(&mut loc, &register("c1", 2).contact(PHONE), SOURCE, at(10));
    assert!(saved(&out.changes)[0].path.is_empty());
}

#[test]
fn user_agent_instance_and_reg_id_are_stored_and_echoed() {
    let mut loc = LocationService::new();
    let req = register("c1", 1)
        .contact(
            "<sip:alice@198.51.100.7;transport=tcp;ob>;reg-id=1;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"",
        )
        .header("User-Agent: Softphone 1.2");
    let tcp = flow(FlowTransport::Tcp, "198.51.100.7:50000");
    let out = loc.register("alice", &req.build(), tcp, &policy(), at(0));
    assert_eq!(out.reply.status, 200);
    let b = saved(&out.changes)[0];
    assert_eq!(
        b.instance_id.as_deref(),
        Some("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>")
    );
    assert_eq!(b.reg_id, Some(1));
    assert_eq!(b.user_agent.as_deref(), Some("Softphone 1.2"));
    assert_eq!(
        contact_line(&out.reply).as_deref(),
        Some(
            "Contact: <sip:alice@198.51.100.7;transport=tcp;ob>;expires=600;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1"
        )
    );
}

#[test]
fn an_invalid_reg_id_is_a_bad_request() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(&format!("<{PHONE}>;reg-id=zero"));
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 400);
    assert!(loc.is_empty());
}

/// The parser refuses a malformed `expires` or `q`, so these build the Contact in code, as a
/// request from another path than the parser could arrive.
#[test]
fn an_invalid_contact_expires_or_q_is_a_bad_request() {
    for (name, value) in [("expires", "soon"), ("expires", ""), ("q", "2.5")] {
        let mut req = register("c1", 1).build();
        let mut contact = NameAddr::new(Uri::parse(PHONE).expect("URI parses"));
        contact.params.set(name, Some(value));
        req.headers
            .push(Header::Contact(Contact::Addresses(vec![contact])));
        let mut loc = LocationService::new();
        let out = loc.register("alice", &req, udp(SOURCE), &policy(), at(0));
        assert_eq!(out.reply.status, 400, "{name}={value}");
        assert!(
            out.reply
                .reason
                .as_deref()
                .is_some_and(|r| r.contains(name))
        );
        assert!(loc.is_empty());
    }
}

#[test]
fn a_binding_expired_but_not_yet_swept_is_not_revived() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact(&format!("<{PHONE}>;expires=60"));
    register_alice(&mut loc, &req, SOURCE, at(0));
    let out = register_alice(&mut loc, &register("c1", 2).contact(PHONE), SOURCE, at(61));
    assert_eq!(removed(&out.changes), vec![(PHONE, RemovalCause::Expired)]);
    let b = saved(&out.changes)[0];
    assert_eq!(b.registered_at, at(61), "a new binding");
    assert_eq!(loc.len(), 1);
    assert!(loc.expire(at(62)).is_empty(), "already swept");
    assert_indexes_consistent(&loc);
}

#[test]
fn a_tel_contact_is_stored_but_never_qualified() {
    let mut loc = LocationService::new();
    let req = register("c1", 1).contact("<tel:+15551234567>");
    let out = register_alice(&mut loc, &req, SOURCE, at(0));
    assert_eq!(out.reply.status, 200);
    assert_eq!(contacts_of(&loc, "alice", at(0)), vec!["tel:+15551234567"]);
    assert!(loc.qualify_due(&qualify_policy(), at(3000)).is_empty());
}
