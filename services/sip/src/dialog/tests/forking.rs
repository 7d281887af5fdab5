//! One INVITE, several forks (§12.1.2, §13.2.2.4).

use super::*;
use crate::dialog::{Cause, DialogState, Routed, UacDialogSet};

fn set() -> (UacDialogSet, Request) {
    let inv = invite();
    let set = UacDialogSet::new(inv.clone(), false, DialogConfig::default())
        .expect("an INVITE with From tag");
    (set, inv)
}

fn no_via() -> Via {
    panic!("no request expected here")
}

#[test]
fn each_forked_provisional_creates_its_own_early_dialog() {
    let (mut set, inv) = set();
    assert_eq!(
        set.on_response(&answer(&inv, 100, None, None, &[]), no_via)
            .expect("100"),
        vec![]
    );
    let a = set
        .on_response(
            &answer(&inv, 180, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
            no_via,
        )
        .expect("180 from a");
    let b = set
        .on_response(
            &answer(&inv, 183, Some("fork-b"), Some("sip:b@192.0.2.11"), &[]),
            no_via,
        )
        .expect("183 from b");
    assert_eq!(changes(&a)[0].cause, Cause::Provisional(180));
    assert_eq!(changes(&b)[0].cause, Cause::Provisional(183));
    assert_eq!(set.dialogs().count(), 2);
    assert_eq!(
        set.get("fork-a").map(Dialog::state),
        Some(DialogState::Early)
    );
    assert_eq!(
        set.get("fork-b").map(|d| d.remote_target().clone()),
        Some(uri("sip:b@192.0.2.11"))
    );
    // A second 180 from a known fork creates nothing new but refreshes its target.
    let again = set
        .on_response(
            &answer(&inv, 180, Some("fork-a"), Some("sip:a@192.0.2.99"), &[]),
            no_via,
        )
        .expect("180 again");
    assert_eq!(again, vec![]);
    assert_eq!(set.dialogs().count(), 2);
    assert_eq!(
        set.get("fork-a").map(|d| d.remote_target().clone()),
        Some(uri("sip:a@192.0.2.99"))
    );
}

#[test]
fn first_2xx_confirms_its_fork() {
    let (mut set, inv) = set();
    set.on_response(
        &answer(&inv, 180, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        no_via,
    )
    .expect("180");
    let actions = set
        .on_response(
            &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
            no_via,
        )
        .expect("200");
    let c = changes(&actions);
    assert_eq!(
        (c[0].from, c[0].to),
        (Some(DialogState::Early), DialogState::Confirmed)
    );
    assert!(
        requests(&actions).is_empty(),
        "the caller ACKs the answer it keeps"
    );
    let ack = set
        .confirmed_mut()
        .expect("a confirmed dialog")
        .ack(via("z9hG4bK-ack"), None)
        .expect("ACK");
    assert_eq!(ack.headers.to().and_then(NameAddr::tag), Some("fork-a"));
}

#[test]
fn extra_2xx_from_another_fork_is_acked_and_sent_bye() {
    let (mut set, inv) = set();
    let mut via = branches();
    set.on_response(
        &answer(
            &inv,
            180,
            Some("fork-b"),
            Some("sip:b@192.0.2.11"),
            &["sip:pb.example.com;lr"],
        ),
        &mut via,
    )
    .expect("180 b");
    set.on_response(
        &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        &mut via,
    )
    .expect("200 a");
    let actions = set
        .on_response(
            &answer(
                &inv,
                200,
                Some("fork-b"),
                Some("sip:b@192.0.2.11"),
                &["sip:pb.example.com;lr"],
            ),
            &mut via,
        )
        .expect("200 b");
    let reqs = requests(&actions);
    assert_eq!(reqs.len(), 2);
    let (ack, bye) = (reqs[0], reqs[1]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.cseq().map(|c| c.seq), Some(INVITE_SEQ));
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.headers.cseq().map(|c| c.seq), Some(INVITE_SEQ + 1));
    for r in [ack, bye] {
        assert_eq!(r.headers.to().and_then(NameAddr::tag), Some("fork-b"));
        assert_eq!(r.uri, uri("sip:b@192.0.2.11"));
        assert_eq!(route_uris(r), ["sip:pb.example.com;lr"]);
    }
    assert_ne!(
        ack.headers.top_via().and_then(Via::branch),
        bye.headers.top_via().and_then(Via::branch),
        "each request has its own branch"
    );
    let c = changes(&actions);
    assert_eq!(
        c.last().map(|c| (c.to, c.cause)),
        Some((DialogState::Terminated, Cause::ExtraFork))
    );
    assert_eq!(
        set.confirmed().map(|d| d.id().remote_tag.to_string()),
        Some("fork-a".into())
    );
    assert_eq!(
        set.get("fork-a").map(Dialog::state),
        Some(DialogState::Confirmed)
    );
}

#[test]
fn extra_2xx_from_a_fork_never_seen_is_acked_and_sent_bye() {
    let (mut set, inv) = set();
    let mut via = branches();
    set.on_response(
        &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        &mut via,
    )
    .expect("200 a");
    let actions = set
        .on_response(
            &answer(&inv, 200, Some("fork-c"), Some("sip:c@192.0.2.12"), &[]),
            &mut via,
        )
        .expect("200 c");
    let methods: Vec<Method> = requests(&actions)
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, [Method::Ack, Method::Bye]);
    let c = changes(&actions);
    assert_eq!((c[0].from, c[0].to), (None, DialogState::Confirmed));
    assert_eq!(
        (c[1].to, c[1].cause),
        (DialogState::Terminated, Cause::ExtraFork)
    );
}

#[test]
fn retransmitted_extra_2xx_gets_only_the_ack_again() {
    let (mut set, inv) = set();
    let mut via = branches();
    set.on_response(
        &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        &mut via,
    )
    .expect("200 a");
    let extra = answer(&inv, 200, Some("fork-b"), Some("sip:b@192.0.2.11"), &[]);
    let first = set.on_response(&extra, &mut via).expect("200 b");
    let again = set.on_response(&extra, &mut via).expect("200 b again");
    assert_eq!(
        again,
        vec![DialogAction::SendRequest(requests(&first)[0].clone())]
    );
}

#[test]
fn retransmitted_2xx_of_the_kept_fork_gets_the_callers_ack_again() {
    let (mut set, inv) = set();
    let ok = answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]);
    set.on_response(&ok, no_via).expect("200");
    let ack = set
        .confirmed_mut()
        .expect("confirmed")
        .ack(via("z9hG4bK-ack"), None)
        .expect("ACK");
    assert_eq!(
        set.on_response(&ok, no_via).expect("200 again"),
        vec![DialogAction::SendRequest(ack)]
    );
}

#[test]
fn non_2xx_final_terminates_every_early_dialog() {
    let (mut set, inv) = set();
    for tag in ["fork-a", "fork-b"] {
        set.on_response(
            &answer(&inv, 180, Some(tag), Some("sip:x@192.0.2.10"), &[]),
            no_via,
        )
        .expect("180");
    }
    let actions = set
        .on_response(&answer(&inv, 486, Some("fork-a"), None, &[]), no_via)
        .expect("486");
    let c = changes(&actions);
    assert_eq!(c.len(), 2);
    assert!(
        c.iter()
            .all(|c| c.to == DialogState::Terminated && c.cause == Cause::Rejected(486))
    );
    assert!(set.dialogs().all(|d| d.state() == DialogState::Terminated));
}

#[test]
fn transaction_end_terminates_early_dialogs_but_not_the_confirmed_one() {
    let (mut set, inv) = set();
    set.on_response(
        &answer(&inv, 180, Some("fork-b"), Some("sip:b@192.0.2.11"), &[]),
        no_via,
    )
    .expect("180 b");
    set.on_response(
        &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        no_via,
    )
    .expect("200 a");
    let actions = set.on_transaction_ended();
    let c = changes(&actions);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].id.remote_tag.to_string(), c[0].cause),
        ("fork-b".to_string(), Cause::TransactionEnded)
    );
    assert_eq!(
        set.confirmed().map(Dialog::state),
        Some(DialogState::Confirmed)
    );
}

#[test]
fn requests_from_a_fork_reach_its_dialog_and_unknown_forks_get_481() {
    let (mut set, inv) = set();
    set.on_response(
        &answer(&inv, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
        no_via,
    )
    .expect("200 a");
    let d = set.get("fork-a").expect("fork a").clone();
    let bye = from_peer(&d, Method::Bye, 1, None);
    match set.route(&bye, 5) {
        Routed::Accepted { id, actions } => {
            assert_eq!(&id, d.id());
            assert_eq!(changes(&actions)[0].cause, Cause::ByeReceived);
        }
        other => panic!("expected the BYE accepted, got {other:?}"),
    }
    let mut stranger = from_peer(&d, Method::Info, 2, None);
    let mut from = stranger.headers.from().expect("From").clone();
    from.params.set("tag", Some("fork-z"));
    stranger.headers.set(Header::From(from));
    assert!(matches!(set.route(&stranger, 5), Routed::Respond(r) if r.status == 481));
}

#[test]
fn response_to_another_invite_is_refused() {
    let (mut set, _) = set();
    let mut other = invite();
    other.headers.set(Header::CSeq(crate::header::CSeq {
        seq: 99,
        method: Method::Invite,
    }));
    let err = set
        .on_response(
            &answer(&other, 200, Some("fork-a"), Some("sip:a@192.0.2.10"), &[]),
            no_via,
        )
        .expect_err("CSeq differs");
    assert_eq!(err, crate::dialog::DialogError::Mismatch("INVITE"));
}
