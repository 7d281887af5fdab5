//! Requests within a dialog (§12.2.1.1), ACK and BYE, and responses to them (§12.2.1.2).

use super::*;
use crate::dialog::{Cause, DialogError, DialogState};
use crate::header::MediaType;

fn cseq(req: &Request) -> (u32, Method) {
    let c = req.headers.cseq().expect("request has CSeq");
    (c.seq, c.method.clone())
}

#[test]
fn in_dialog_request_carries_tags_call_id_max_forwards_and_given_via() {
    let mut d = uac_confirmed(&[]);
    let info = d
        .request(Method::Info, via("z9hG4bK-info"), None)
        .expect("INFO in a confirmed dialog")
        .build();
    assert_eq!(info.method, Method::Info);
    assert_eq!(
        info.uri,
        uri("sip:bob@192.0.2.2:5060"),
        "Request-URI is the remote target"
    );
    let from = info.headers.from().expect("From");
    assert_eq!(
        (from.uri.clone(), from.tag()),
        (uri("sip:alice@example.com"), Some(UAC_TAG))
    );
    let to = info.headers.to().expect("To");
    assert_eq!(
        (to.uri.clone(), to.tag()),
        (uri("sip:bob@example.com"), Some(UAS_TAG))
    );
    assert_eq!(
        info.headers.call_id().map(|c| c.to_string()),
        Some(CALL_ID.to_string())
    );
    assert_eq!(info.headers.max_forwards(), Some(70));
    assert_eq!(
        info.headers.top_via().and_then(Via::branch),
        Some("z9hG4bK-info")
    );
    assert_eq!(
        info.headers.routes().count(),
        0,
        "no Route with an empty route set"
    );
    assert_eq!(
        info.headers.contacts().count(),
        0,
        "INFO is not a target refresh"
    );
    assert_eq!(info.validate(), Ok(()));
}

#[test]
fn loose_routing_uses_remote_target_as_request_uri_and_route_set_as_route() {
    let mut d = uac_confirmed(&["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
    let bye = d.bye(via("z9hG4bK-bye")).expect("BYE").0;
    assert_eq!(bye.uri, uri("sip:bob@192.0.2.2:5060"));
    assert_eq!(
        route_uris(&bye),
        ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    );
    assert_eq!(d.next_hop(), &uri("sip:p1.example.com;lr"));
}

#[test]
fn strict_routing_uses_first_route_as_request_uri_and_appends_remote_target() {
    // Route set after reversal: p1 (strict, with a method parameter to strip), p2.
    let d = uac_confirmed(&["sip:p2.example.com;lr", "sip:p1.example.com;method=INVITE"]);
    let mut d = d;
    let info = d
        .request(Method::Info, via("z9hG4bK-info"), None)
        .expect("INFO")
        .build();
    assert_eq!(
        info.uri,
        uri("sip:p1.example.com"),
        "parameters a Request-URI may not carry are stripped"
    );
    assert_eq!(
        route_uris(&info),
        ["sip:p2.example.com;lr", "sip:bob@192.0.2.2:5060"],
        "rest of the route set, then the remote target"
    );
}

#[test]
fn local_cseq_increments_for_each_request() {
    let mut d = uac_confirmed(&[]);
    let contact = addr("sip:alice@192.0.2.1");
    let info = d
        .request(Method::Info, via("b1"), None)
        .expect("INFO")
        .build();
    let update = d
        .request(Method::Update, via("b2"), Some(&contact))
        .expect("UPDATE")
        .build();
    let refer = d
        .request(Method::Refer, via("b3"), Some(&contact))
        .expect("REFER")
        .build();
    assert_eq!(cseq(&info), (INVITE_SEQ + 1, Method::Info));
    assert_eq!(cseq(&update), (INVITE_SEQ + 2, Method::Update));
    assert_eq!(cseq(&refer), (INVITE_SEQ + 3, Method::Refer));
    assert_eq!(d.local_seq(), Some(INVITE_SEQ + 3));
}

#[test]
fn uas_first_request_starts_local_cseq_at_one() {
    let mut d = uas_confirmed(t0());
    let notify = d
        .request(Method::Notify, via("b1"), Some(&addr("sip:bob@192.0.2.2")))
        .expect("NOTIFY")
        .build();
    assert_eq!(cseq(&notify), (1, Method::Notify));
    assert_eq!(notify.uri, uri("sip:alice@192.0.2.1:5060"));
    assert_eq!(notify.headers.from().and_then(NameAddr::tag), Some(UAS_TAG));
    assert_eq!(notify.headers.to().and_then(NameAddr::tag), Some(UAC_TAG));
}

#[test]
fn ack_takes_the_invite_cseq_number_and_does_not_advance_local_cseq() {
    let mut d = uac_confirmed(&["sip:p1.example.com;lr"]);
    let ack = d.ack(via("z9hG4bK-ack"), None).expect("ACK for the 200");
    assert_eq!(cseq(&ack), (INVITE_SEQ, Method::Ack));
    assert_eq!(
        ack.headers.top_via().and_then(Via::branch),
        Some("z9hG4bK-ack")
    );
    assert_eq!(route_uris(&ack), ["sip:p1.example.com;lr"]);
    assert_eq!(ack.uri, uri("sip:bob@192.0.2.2:5060"));
    assert_eq!(d.local_seq(), Some(INVITE_SEQ));
    let bye = d.bye(via("z9hG4bK-bye")).expect("BYE").0;
    assert_eq!(cseq(&bye), (INVITE_SEQ + 1, Method::Bye));
}

#[test]
fn ack_can_carry_an_sdp_answer() {
    let mut d = uac_confirmed(&[]);
    let sdp = bytes::Bytes::from_static(b"v=0\r\n");
    let ack = d
        .ack(
            via("z9hG4bK-ack"),
            Some((MediaType::new("application", "sdp"), sdp.clone())),
        )
        .expect("ACK");
    assert_eq!(ack.body, sdp);
    assert_eq!(ack.headers.content_length(), Some(5));
}

#[test]
fn ack_for_reinvite_takes_the_reinvite_cseq_number() {
    let mut d = uac_confirmed(&[]);
    let reinvite = d
        .request(
            Method::Invite,
            via("b1"),
            Some(&addr("sip:alice@192.0.2.1")),
        )
        .expect("re-INVITE")
        .build();
    let ok = answer(&reinvite, 200, None, Some("sip:bob@192.0.2.2"), &[]);
    d.on_response(&ok).expect("200 to the re-INVITE");
    let ack = d.ack(via("b2"), None).expect("ACK");
    assert_eq!(cseq(&ack), (INVITE_SEQ + 1, Method::Ack));
}

#[test]
fn retransmitted_2xx_gets_the_same_ack_again() {
    let inv = invite();
    let ok = answer(&inv, 200, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    let (mut d, _) = Dialog::new_uac(&inv, &ok, false, DialogConfig::default()).expect("dialog");
    assert_eq!(
        d.on_response(&ok).expect("2xx"),
        vec![],
        "no ACK built yet: nothing to resend"
    );
    let ack = d.ack(via("z9hG4bK-ack"), None).expect("ACK");
    assert_eq!(
        d.on_response(&ok).expect("2xx again"),
        vec![DialogAction::SendRequest(ack)]
    );
}

#[test]
fn target_refresh_requests_need_a_contact_and_carry_it() {
    let mut d = uac_confirmed(&[]);
    for m in [
        Method::Invite,
        Method::Update,
        Method::Subscribe,
        Method::Notify,
    ] {
        let err = d
            .request(m.clone(), via("b"), None)
            .expect_err("no Contact");
        assert_eq!(err, DialogError::ContactRequired(m));
    }
    assert_eq!(
        d.local_seq(),
        Some(INVITE_SEQ),
        "refused requests use no CSeq"
    );
    let contact = addr("sip:alice@192.0.2.1");
    let reinvite = d
        .request(Method::Invite, via("b"), Some(&contact))
        .expect("re-INVITE")
        .build();
    assert_eq!(reinvite.headers.contacts().next(), Some(&contact));
}

#[test]
fn ack_bye_and_cancel_are_not_built_by_request() {
    let mut d = uac_confirmed(&[]);
    for m in [Method::Ack, Method::Bye, Method::Cancel] {
        assert_eq!(
            d.request(m.clone(), via("b"), None).err(),
            Some(DialogError::DedicatedBuilder(m))
        );
    }
}

#[test]
fn bye_terminates_the_dialog_and_later_requests_are_refused() {
    let mut d = uac_confirmed(&[]);
    let (bye, change) = d.bye(via("z9hG4bK-bye")).expect("BYE");
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        (change.from, change.to, change.cause),
        (
            Some(DialogState::Confirmed),
            DialogState::Terminated,
            Cause::ByeSent
        )
    );
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(
        d.request(Method::Info, via("b"), None).err(),
        Some(DialogError::Terminated)
    );
    assert_eq!(d.bye(via("b")).err(), Some(DialogError::Terminated));
}

#[test]
fn callee_may_not_bye_an_early_dialog_but_caller_may() {
    let inv = invite();
    let ringing = crate::dialog::uas_response(&inv, 180, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (mut uas, _) =
        Dialog::new_uas(&inv, &ringing, false, DialogConfig::default(), t0()).expect("early");
    assert_eq!(uas.bye(via("b")).err(), Some(DialogError::ByeOnEarlyDialog));
    let (mut uac, _) =
        Dialog::new_uac(&inv, &ringing, false, DialogConfig::default()).expect("early");
    assert!(uac.bye(via("b")).is_ok());
}

#[test]
fn reinvite_is_refused_while_an_invite_is_pending_either_way() {
    let mut d = uac_confirmed(&[]);
    let contact = addr("sip:alice@192.0.2.1");
    d.request(Method::Invite, via("b1"), Some(&contact))
        .expect("first re-INVITE");
    assert_eq!(
        d.request(Method::Invite, via("b2"), Some(&contact)).err(),
        Some(DialogError::InvitePending)
    );

    let mut d = uac_confirmed(&[]);
    let theirs = from_peer(&d, Method::Invite, 1, Some("sip:bob@192.0.2.2"));
    assert!(matches!(
        d.on_request(&theirs, 5),
        crate::dialog::RequestVerdict::Accept(_)
    ));
    assert_eq!(
        d.request(Method::Invite, via("b2"), Some(&contact)).err(),
        Some(DialogError::InvitePending)
    );
}

#[test]
fn our_reinvite_2xx_refreshes_remote_target_but_not_route_set() {
    let mut d = uac_confirmed(&["sip:p1.example.com;lr"]);
    let reinvite = d
        .request(
            Method::Invite,
            via("b1"),
            Some(&addr("sip:alice@192.0.2.1")),
        )
        .expect("re-INVITE")
        .build();
    let ok = answer(
        &reinvite,
        200,
        None,
        Some("sip:bob@198.51.100.7"),
        &["sip:elsewhere.example.com;lr"],
    );
    assert_eq!(d.on_response(&ok).expect("200"), vec![]);
    assert_eq!(d.remote_target(), &uri("sip:bob@198.51.100.7"));
    assert_eq!(d.route_set(), &[addr("sip:p1.example.com;lr")]);
    assert!(!d.local_invite_pending());
}

#[test]
fn our_update_2xx_refreshes_remote_target() {
    let mut d = uac_confirmed(&[]);
    let update = d
        .request(
            Method::Update,
            via("b1"),
            Some(&addr("sip:alice@192.0.2.1")),
        )
        .expect("UPDATE")
        .build();
    d.on_response(&answer(
        &update,
        200,
        None,
        Some("sip:bob@198.51.100.8"),
        &[],
    ))
    .expect("200");
    assert_eq!(d.remote_target(), &uri("sip:bob@198.51.100.8"));
}

#[test]
fn non_refresh_2xx_leaves_remote_target() {
    let mut d = uac_confirmed(&[]);
    let info = d
        .request(Method::Info, via("b1"), None)
        .expect("INFO")
        .build();
    d.on_response(&answer(&info, 200, None, Some("sip:bob@198.51.100.9"), &[]))
        .expect("200");
    assert_eq!(d.remote_target(), &uri("sip:bob@192.0.2.2:5060"));
}

#[test]
fn response_481_or_408_to_an_in_dialog_request_terminates_the_dialog() {
    for status in [481, 408] {
        let mut d = uac_confirmed(&[]);
        let info = d
            .request(Method::Info, via("b1"), None)
            .expect("INFO")
            .build();
        let actions = d
            .on_response(&answer(&info, status, None, None, &[]))
            .expect("response");
        assert_eq!(d.state(), DialogState::Terminated);
        assert_eq!(changes(&actions)[0].cause, Cause::RequestFailed(status));
    }
}

#[test]
fn rejected_reinvite_keeps_the_dialog_and_clears_the_pending_invite() {
    let mut d = uac_confirmed(&[]);
    let contact = addr("sip:alice@192.0.2.1");
    let reinvite = d
        .request(Method::Invite, via("b1"), Some(&contact))
        .expect("re-INVITE")
        .build();
    let actions = d
        .on_response(&answer(&reinvite, 488, None, None, &[]))
        .expect("488");
    assert_eq!(actions, vec![]);
    assert_eq!(d.state(), DialogState::Confirmed);
    assert!(
        d.request(Method::Invite, via("b2"), Some(&contact)).is_ok(),
        "a new re-INVITE may go"
    );
}

#[test]
fn response_from_another_dialog_is_a_mismatch() {
    let mut d = uac_confirmed(&[]);
    let info = d
        .request(Method::Info, via("b1"), None)
        .expect("INFO")
        .build();
    let mut resp = answer(&info, 200, None, None, &[]);
    let mut to = resp.headers.to().expect("To").clone();
    to.params.set("tag", Some("someone-else"));
    resp.headers.set(Header::To(to));
    assert_eq!(
        d.on_response(&resp).err(),
        Some(DialogError::Mismatch("dialog"))
    );
}
