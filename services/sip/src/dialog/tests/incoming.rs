//! Requests from the peer (§12.2.2): lookup and 481, CSeq order, target refresh, glare (§14).

use std::time::Duration;

use super::*;
use crate::dialog::{Cause, DialogState, DialogTable, RequestVerdict, Routed, Unmatched};

fn respond_status(v: &RequestVerdict) -> Option<u16> {
    match v {
        RequestVerdict::Respond(r) => Some(r.status),
        _ => None,
    }
}

fn retry_after(r: &Response) -> Option<u32> {
    r.headers.iter().find_map(|h| match h {
        Header::RetryAfter(ra) => Some(ra.seconds),
        _ => None,
    })
}

#[test]
fn request_matching_no_dialog_gets_481_from_the_table() {
    let mut table = DialogTable::new();
    let d = uac_confirmed(&[]);
    let bye = from_peer(&d, Method::Bye, 1, None);
    match table.route(&bye, 5) {
        Routed::Respond(r) => {
            assert_eq!(r.status, 481);
            assert_eq!(
                r.headers.to().and_then(NameAddr::tag),
                Some(UAC_TAG),
                "To tag kept"
            );
        }
        other => panic!("expected 481, got {other:?}"),
    }
    match table.find_for_request(&bye) {
        Err(Unmatched::Respond(r)) => assert_eq!(r.status, 481),
        other => panic!("expected 481, got {other:?}"),
    }
}

#[test]
fn request_without_to_tag_is_out_of_dialog() {
    let mut table = DialogTable::new();
    table.insert(uac_confirmed(&[]));
    assert_eq!(table.route(&invite(), 5), Routed::OutOfDialog);
    assert!(matches!(
        table.find_for_request(&invite()),
        Err(Unmatched::OutOfDialog)
    ));
}

#[test]
fn ack_matching_no_dialog_is_dropped() {
    let mut table = DialogTable::new();
    let ack = from_peer(&uac_confirmed(&[]), Method::Ack, 1, None);
    assert_eq!(table.route(&ack, 5), Routed::Drop);
}

#[test]
fn table_routes_a_request_to_its_dialog() {
    let mut table = DialogTable::new();
    let d = uac_confirmed(&[]);
    let id = d.id().clone();
    let info = from_peer(&d, Method::Info, 1, None);
    table.insert(d);
    assert_eq!(
        table.route(&info, 5),
        Routed::Accepted {
            id: id.clone(),
            actions: vec![]
        }
    );
    assert_eq!(table.get(&id).and_then(Dialog::remote_seq), Some(1));
}

#[test]
fn request_to_a_terminated_dialog_gets_481() {
    let mut d = uac_confirmed(&[]);
    d.bye(via("b")).expect("BYE");
    let info = from_peer(&d, Method::Info, 1, None);
    assert_eq!(respond_status(&d.on_request(&info, 5)), Some(481));
    let mut table = DialogTable::new();
    table.insert(d);
    assert!(matches!(table.find_for_request(&info), Err(Unmatched::Respond(r)) if r.status == 481));
    assert_eq!(table.purge_terminated().len(), 1);
    assert!(table.is_empty());
}

#[test]
fn out_of_order_cseq_gets_500_with_caller_retry_after() {
    let mut d = uas_confirmed(t0());
    // The INVITE had CSeq 10: a request with 9 is out of order, 10 again too.
    for seq in [INVITE_SEQ - 1, INVITE_SEQ] {
        let info = from_peer(&d, Method::Info, seq, None);
        match d.on_request(&info, 7) {
            RequestVerdict::Respond(r) => {
                assert_eq!(r.status, 500);
                assert_eq!(retry_after(&r), Some(7));
            }
            other => panic!("expected 500, got {other:?}"),
        }
    }
    assert_eq!(d.remote_seq(), Some(INVITE_SEQ), "remote CSeq unchanged");
    let info = from_peer(&d, Method::Info, INVITE_SEQ + 1, None);
    assert_eq!(d.on_request(&info, 7), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_seq(), Some(INVITE_SEQ + 1));
}

#[test]
fn first_request_to_a_uac_sets_the_remote_cseq() {
    let mut d = uac_confirmed(&[]);
    let info = from_peer(&d, Method::Info, 4711, None);
    assert_eq!(d.on_request(&info, 5), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_seq(), Some(4711));
}

#[test]
fn ack_and_cancel_skip_the_cseq_check() {
    let mut d = uas_confirmed(t0());
    let ack = from_peer(&d, Method::Ack, INVITE_SEQ, None);
    assert_eq!(d.on_request(&ack, 5), RequestVerdict::Accept(vec![]));
    let cancel = from_peer(&d, Method::Cancel, INVITE_SEQ, None);
    assert_eq!(d.on_request(&cancel, 5), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_seq(), Some(INVITE_SEQ));
}

#[test]
fn incoming_reinvite_refreshes_remote_target_but_not_route_set() {
    let inv = invite_with("sip:bob@example.com", &["sip:p1.example.com;lr"]);
    let ok = crate::dialog::uas_response(&inv, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (mut d, _) =
        Dialog::new_uas(&inv, &ok, false, DialogConfig::default(), t0()).expect("dialog");
    let mut reinvite = from_peer(
        &d,
        Method::Invite,
        INVITE_SEQ + 1,
        Some("sip:alice@203.0.113.5"),
    );
    reinvite
        .headers
        .push(Header::RecordRoute(vec![addr("sip:other.example.com;lr")]));
    assert_eq!(d.on_request(&reinvite, 5), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_target(), &uri("sip:alice@203.0.113.5"));
    assert_eq!(d.route_set(), &[addr("sip:p1.example.com;lr")]);
    assert!(d.remote_invite_pending());
}

#[test]
fn incoming_update_refreshes_remote_target_and_info_does_not() {
    let mut d = uas_confirmed(t0());
    let update = from_peer(
        &d,
        Method::Update,
        INVITE_SEQ + 1,
        Some("sip:alice@203.0.113.6"),
    );
    assert_eq!(d.on_request(&update, 5), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_target(), &uri("sip:alice@203.0.113.6"));
    let info = from_peer(
        &d,
        Method::Info,
        INVITE_SEQ + 2,
        Some("sip:alice@203.0.113.7"),
    );
    assert_eq!(d.on_request(&info, 5), RequestVerdict::Accept(vec![]));
    assert_eq!(d.remote_target(), &uri("sip:alice@203.0.113.6"));
}

#[test]
fn reinvite_arriving_while_ours_is_pending_gets_491() {
    let mut d = uac_confirmed(&[]);
    d.request(
        Method::Invite,
        via("b1"),
        Some(&addr("sip:alice@192.0.2.1")),
    )
    .expect("our re-INVITE");
    let theirs = from_peer(&d, Method::Invite, 1, Some("sip:bob@192.0.2.2"));
    assert_eq!(respond_status(&d.on_request(&theirs, 5)), Some(491));
    assert!(!d.remote_invite_pending());
}

#[test]
fn our_reinvite_answered_491_clears_pending_and_gives_glare_retry_window() {
    let mut uac = uac_confirmed(&[]);
    let contact = addr("sip:alice@192.0.2.1");
    let reinvite = uac
        .request(Method::Invite, via("b1"), Some(&contact))
        .expect("re-INVITE")
        .build();
    let pending = answer(&reinvite, 491, None, None, &[]);
    assert_eq!(uac.on_response(&pending).expect("491"), vec![]);
    assert_eq!(uac.state(), DialogState::Confirmed);
    assert!(!uac.local_invite_pending());
    assert_eq!(
        uac.glare_retry_range(),
        (Duration::from_millis(2100), Duration::from_secs(4))
    );
    assert_eq!(
        uas_confirmed(t0()).glare_retry_range(),
        (Duration::ZERO, Duration::from_secs(2))
    );
}

#[test]
fn reinvite_arriving_before_we_answered_the_previous_gets_500_with_retry_after() {
    let mut d = uas_confirmed(t0());
    let first = from_peer(&d, Method::Invite, INVITE_SEQ + 1, None);
    assert_eq!(d.on_request(&first, 5), RequestVerdict::Accept(vec![]));
    let second = from_peer(&d, Method::Invite, INVITE_SEQ + 2, None);
    match d.on_request(&second, 3) {
        RequestVerdict::Respond(r) => assert_eq!((r.status, retry_after(&r)), (500, Some(3))),
        other => panic!("expected 500, got {other:?}"),
    }
    // Once the first is answered, a new one is accepted.
    let ok = Response::from_request(&first, 200, None);
    d.on_response_sent(&ok, t0()).expect("our 200");
    let third = from_peer(&d, Method::Invite, INVITE_SEQ + 3, None);
    assert_eq!(d.on_request(&third, 3), RequestVerdict::Accept(vec![]));
}

#[test]
fn bye_received_terminates_the_dialog() {
    let mut d = uas_confirmed(t0());
    let bye = from_peer(&d, Method::Bye, INVITE_SEQ + 1, None);
    match d.on_request(&bye, 5) {
        RequestVerdict::Accept(actions) => {
            let c = changes(&actions);
            assert_eq!(
                (c[0].from, c[0].to, c[0].cause),
                (
                    Some(DialogState::Confirmed),
                    DialogState::Terminated,
                    Cause::ByeReceived
                )
            );
        }
        other => panic!("expected accept, got {other:?}"),
    }
    assert_eq!(d.next_deadline(), None, "no 2xx retransmission after BYE");
}

#[test]
fn request_for_another_dialog_gets_481_from_the_dialog() {
    let mut d = uac_confirmed(&[]);
    let mut info = from_peer(&d, Method::Info, 1, None);
    let mut from = info.headers.from().expect("From").clone();
    from.params.set("tag", Some("stranger"));
    info.headers.set(Header::From(from));
    assert_eq!(respond_status(&d.on_request(&info, 5)), Some(481));
}
