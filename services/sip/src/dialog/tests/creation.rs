//! Creating dialogs on both sides (§12.1) and the early → confirmed / terminated transitions.

use super::*;
use crate::dialog::{Cause, DialogError, DialogId, DialogState, Role, uas_response};

#[test]
fn uac_provisional_with_to_tag_creates_early_dialog() {
    let inv = invite();
    let ringing = answer(&inv, 180, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    let (d, actions) = Dialog::new_uac(&inv, &ringing, false, DialogConfig::default())
        .expect("180 with tag creates a dialog");
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.role(), Role::Uac);
    assert_eq!(d.id(), &DialogId::new(CALL_ID, UAC_TAG, UAS_TAG));
    assert_eq!(d.local_seq(), Some(INVITE_SEQ));
    assert_eq!(d.remote_seq(), None);
    assert_eq!(d.local_uri(), &uri("sip:alice@example.com"));
    assert_eq!(d.remote_uri(), &uri("sip:bob@example.com"));
    assert_eq!(d.remote_target(), &uri("sip:bob@192.0.2.2"));
    assert!(d.local_invite_pending());
    let c = changes(&actions);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].from, c[0].to, c[0].cause),
        (None, DialogState::Early, Cause::Provisional(180))
    );
}

#[test]
fn uac_2xx_creates_confirmed_dialog() {
    let inv = invite();
    let ok = answer(&inv, 200, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    let (d, actions) =
        Dialog::new_uac(&inv, &ok, false, DialogConfig::default()).expect("200 creates a dialog");
    assert_eq!(d.state(), DialogState::Confirmed);
    assert!(!d.local_invite_pending());
    assert_eq!(changes(&actions)[0].cause, Cause::Answered(200));
}

#[test]
fn uac_provisional_without_to_tag_or_100_creates_no_dialog() {
    let inv = invite();
    for status in [100, 180] {
        let r = answer(&inv, status, None, Some("sip:bob@192.0.2.2"), &[]);
        let err = Dialog::new_uac(&inv, &r, false, DialogConfig::default())
            .expect_err("no To tag, no dialog");
        assert_eq!(err, DialogError::NotDialogCreating(status));
    }
}

#[test]
fn uac_2xx_without_contact_is_refused() {
    let inv = invite();
    let ok = answer(&inv, 200, Some(UAS_TAG), None, &[]);
    let err = Dialog::new_uac(&inv, &ok, false, DialogConfig::default())
        .expect_err("a 2xx must carry Contact");
    assert_eq!(err, DialogError::MissingContact("2xx response"));
}

#[test]
fn uac_response_to_another_invite_is_a_mismatch() {
    let inv = invite();
    let mut other = invite();
    other
        .headers
        .set(Header::CallId(ByteString::from("other-call")));
    let ok = answer(&other, 200, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    let err =
        Dialog::new_uac(&inv, &ok, false, DialogConfig::default()).expect_err("different Call-ID");
    assert_eq!(err, DialogError::Mismatch("INVITE"));
}

#[test]
fn uas_sending_provisional_with_tag_creates_early_dialog() {
    let inv = invite();
    let ringing = uas_response(&inv, 180, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (d, actions) = Dialog::new_uas(&inv, &ringing, false, DialogConfig::default(), t0())
        .expect("sending 180 creates a dialog");
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.role(), Role::Uas);
    assert_eq!(d.id(), &DialogId::new(CALL_ID, UAS_TAG, UAC_TAG));
    assert_eq!(d.remote_seq(), Some(INVITE_SEQ));
    assert_eq!(d.local_seq(), None);
    assert_eq!(d.local_uri(), &uri("sip:bob@example.com"));
    assert_eq!(d.remote_uri(), &uri("sip:alice@example.com"));
    assert_eq!(d.remote_target(), &uri("sip:alice@192.0.2.1:5060"));
    assert!(d.remote_invite_pending());
    assert_eq!(d.next_deadline(), None, "no retransmission for a 1xx");
    assert_eq!(changes(&actions)[0].cause, Cause::Provisional(180));
}

#[test]
fn uas_sending_2xx_creates_confirmed_dialog() {
    let now = t0();
    let inv = invite();
    let ok = uas_response(&inv, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (d, actions) = Dialog::new_uas(&inv, &ok, false, DialogConfig::default(), now)
        .expect("sending 200 creates a dialog");
    assert_eq!(d.state(), DialogState::Confirmed);
    assert!(!d.remote_invite_pending());
    assert_eq!(
        d.next_deadline(),
        Some(now + ms(500)),
        "2xx retransmission armed"
    );
    let c = changes(&actions);
    assert_eq!((c[0].from, c[0].to), (None, DialogState::Confirmed));
}

#[test]
fn uas_response_without_tag_or_invite_without_contact_is_refused() {
    let inv = invite();
    let untagged = answer(&inv, 180, None, Some("sip:bob@192.0.2.2"), &[]);
    let err = Dialog::new_uas(&inv, &untagged, false, DialogConfig::default(), t0())
        .expect_err("a UAS dialog needs our To tag");
    assert_eq!(err, DialogError::MissingTag("To"));

    let mut no_contact = invite();
    no_contact
        .headers
        .remove(&crate::header::HeaderName::Contact);
    let ok = uas_response(&no_contact, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let err = Dialog::new_uas(&no_contact, &ok, false, DialogConfig::default(), t0())
        .expect_err("the INVITE's Contact is the remote target");
    assert_eq!(err, DialogError::MissingContact("INVITE"));
}

#[test]
fn uas_response_copies_record_route_and_adds_tag_and_contact() {
    let inv = invite_with(
        "sip:bob@example.com",
        &["sip:p1.example.com;lr", "sip:p2.example.com;lr"],
    );
    let ok = uas_response(&inv, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    assert_eq!(ok.headers.to().and_then(NameAddr::tag), Some(UAS_TAG));
    let rr: Vec<String> = ok
        .headers
        .record_routes()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(rr, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(
        ok.headers.contacts().next().map(|c| c.uri.clone()),
        Some(uri("sip:bob@192.0.2.2"))
    );
}

#[test]
fn uac_route_set_is_record_route_reversed() {
    let d = uac_confirmed(&["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
    let routes: Vec<String> = d.route_set().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
}

#[test]
fn uas_route_set_is_record_route_in_order() {
    let inv = invite_with(
        "sip:bob@example.com",
        &["sip:p2.example.com;lr", "sip:p1.example.com;lr"],
    );
    let ok = uas_response(&inv, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (d, _) = Dialog::new_uas(&inv, &ok, false, DialogConfig::default(), t0()).expect("dialog");
    let routes: Vec<String> = d.route_set().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
}

#[test]
fn dialog_is_secure_only_for_sips_request_uri_over_tls() {
    let sips = invite_with("sips:bob@example.com", &[]);
    let ok = answer(&sips, 200, Some(UAS_TAG), Some("sips:bob@192.0.2.2"), &[]);
    let cfg = DialogConfig::default();
    assert!(
        Dialog::new_uac(&sips, &ok, true, cfg)
            .expect("dialog")
            .0
            .is_secure()
    );
    assert!(
        !Dialog::new_uac(&sips, &ok, false, cfg)
            .expect("dialog")
            .0
            .is_secure()
    );
    let sip = invite();
    let ok = answer(&sip, 200, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    assert!(
        !Dialog::new_uac(&sip, &ok, true, cfg)
            .expect("dialog")
            .0
            .is_secure()
    );
    let ok = uas_response(&sips, 200, UAS_TAG, &addr("sips:bob@192.0.2.2"));
    assert!(
        Dialog::new_uas(&sips, &ok, true, cfg, t0())
            .expect("dialog")
            .0
            .is_secure()
    );
}

#[test]
fn uac_early_dialog_confirms_on_2xx_with_route_set_from_the_2xx() {
    let inv = invite();
    let ringing = answer(
        &inv,
        180,
        Some(UAS_TAG),
        Some("sip:bob@192.0.2.9"),
        &["sip:p1.example.com;lr"],
    );
    let (mut d, _) =
        Dialog::new_uac(&inv, &ringing, false, DialogConfig::default()).expect("early");
    let ok = answer(
        &inv,
        200,
        Some(UAS_TAG),
        Some("sip:bob@192.0.2.2"),
        &["sip:p2.example.com;lr", "sip:p1.example.com;lr"],
    );
    let actions = d.on_response(&ok).expect("the 200 belongs to the dialog");
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.remote_target(), &uri("sip:bob@192.0.2.2"));
    let routes: Vec<String> = d.route_set().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    let c = changes(&actions);
    assert_eq!(
        (c[0].from, c[0].to, c[0].cause),
        (
            Some(DialogState::Early),
            DialogState::Confirmed,
            Cause::Answered(200)
        )
    );
}

#[test]
fn uac_early_dialog_terminates_on_non_2xx_final() {
    let inv = invite();
    let ringing = answer(&inv, 180, Some(UAS_TAG), Some("sip:bob@192.0.2.2"), &[]);
    let (mut d, _) =
        Dialog::new_uac(&inv, &ringing, false, DialogConfig::default()).expect("early");
    let busy = answer(&inv, 486, Some(UAS_TAG), None, &[]);
    let actions = d.on_response(&busy).expect("the 486 belongs to the dialog");
    assert_eq!(d.state(), DialogState::Terminated);
    let c = changes(&actions);
    assert_eq!(
        (c[0].from, c[0].to, c[0].cause),
        (
            Some(DialogState::Early),
            DialogState::Terminated,
            Cause::Rejected(486)
        )
    );
}

#[test]
fn uas_early_dialog_confirms_when_2xx_sent() {
    let now = t0();
    let inv = invite();
    let ringing = uas_response(&inv, 180, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (mut d, _) =
        Dialog::new_uas(&inv, &ringing, false, DialogConfig::default(), now).expect("early");
    let ok = uas_response(&inv, 200, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let actions = d
        .on_response_sent(&ok, now + ms(3000))
        .expect("our 200 belongs to the dialog");
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.next_deadline(), Some(now + ms(3500)));
    assert_eq!(changes(&actions)[0].cause, Cause::Answered(200));
}

#[test]
fn uas_early_dialog_terminates_when_rejection_sent() {
    let inv = invite();
    let ringing = uas_response(&inv, 180, UAS_TAG, &addr("sip:bob@192.0.2.2"));
    let (mut d, _) =
        Dialog::new_uas(&inv, &ringing, false, DialogConfig::default(), t0()).expect("early");
    let declined = Response::from_request(&inv, 603, Some(UAS_TAG));
    let actions = d
        .on_response_sent(&declined, t0())
        .expect("our 603 belongs to the dialog");
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(changes(&actions)[0].cause, Cause::Rejected(603));
}

#[test]
fn dialog_id_and_state_change_display_for_the_event_log() {
    let id = DialogId::new("c1", "l1", "r1");
    assert_eq!(id.to_string(), "c1;local=l1;remote=r1");
    let change = StateChange {
        id,
        from: Some(DialogState::Confirmed),
        to: DialogState::Terminated,
        cause: Cause::NoAck,
    };
    assert_eq!(
        change.to_string(),
        "c1;local=l1;remote=r1: confirmed -> terminated (no ACK)"
    );
    let created = StateChange {
        from: None,
        to: DialogState::Early,
        cause: Cause::Provisional(180),
        ..change
    };
    assert_eq!(
        created.to_string(),
        "c1;local=l1;remote=r1: new -> early (provisional 180)"
    );
}
