//! INVITE client transaction: RFC 3261 figure 5 with RFC 6026 (Accepted, timer M).

use std::time::Instant;

use crate::header::{Header, HeaderName};
use crate::message::SipMessage;
use crate::method::Method;
use crate::transaction::{
    InviteClientTransaction, Transaction, TransactionAction as A, TransactionError, TransactionKey,
    TransactionState::*,
};

use super::{
    TCP, UDP, changed, config, deliver_resp, drain, fire, ms, request, response, send_req,
};

fn start(reliable: bool) -> (InviteClientTransaction, Instant) {
    let t0 = Instant::now();
    let tx = InviteClientTransaction::new(request("INVITE", "z9hG4bKc1"), config(), reliable, t0)
        .expect("INVITE starts a client transaction");
    (tx, t0)
}

fn ack_of(actions: &[A]) -> crate::message::Request {
    match actions.first() {
        Some(A::Send(SipMessage::Request(r))) if r.method == Method::Ack => r.clone(),
        other => panic!("expected an ACK to be sent first, got {other:?}"),
    }
}

#[test]
fn invite_client_sends_the_invite_on_creation_in_calling() {
    let (mut tx, t0) = start(UDP);
    assert_eq!(tx.state(), Calling);
    assert_eq!(drain(&mut tx), vec![send_req(tx.request())]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
    assert_eq!(
        tx.key(),
        &TransactionKey::for_client_request(tx.request()).expect("key")
    );
}

#[test]
fn invite_client_retransmits_at_t1_doubling_until_provisional() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let invite = tx.request().clone();
    for (n, at) in [500, 1500, 3500, 7500].into_iter().enumerate() {
        assert_eq!(fire(&mut tx, t0 + ms(at)), vec![send_req(&invite)]);
        assert_eq!(tx.retransmissions(), n as u32 + 1);
    }
    assert_eq!(tx.next_deadline(), Some(t0 + ms(15_500)));
    let ringing = response(&invite, 180);
    tx.on_response(ringing.clone(), t0 + ms(8000));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&ringing), changed(Calling, Proceeding)]
    );
    // Proceeding: no more retransmissions, and timer B no longer applies.
    assert_eq!(tx.next_deadline(), None);
    assert_eq!(tx.retransmissions(), 4);
}

#[test]
fn invite_client_times_out_with_timer_b_at_64_t1() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    for at in [500, 1500, 3500, 7500, 15_500, 31_500] {
        assert_eq!(fire(&mut tx, t0 + ms(at)).len(), 1);
    }
    assert_eq!(tx.retransmissions(), 6);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_000)),
        vec![A::Timeout, changed(Calling, Terminated), A::Terminated]
    );
    assert!(tx.is_terminated());
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_client_late_wakeup_past_timer_b_times_out_without_retransmitting() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_timeout(t0 + ms(40_000));
    assert_eq!(
        drain(&mut tx),
        vec![A::Timeout, changed(Calling, Terminated), A::Terminated]
    );
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn invite_client_on_reliable_transport_does_not_retransmit_and_times_out_at_64_t1() {
    let (mut tx, t0) = start(TCP);
    assert_eq!(drain(&mut tx).len(), 1);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_000)),
        vec![A::Timeout, changed(Calling, Terminated), A::Terminated]
    );
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn invite_client_passes_every_provisional_up_in_proceeding() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let invite = tx.request().clone();
    let trying = response(&invite, 100);
    let ringing = response(&invite, 180);
    tx.on_response(trying.clone(), t0 + ms(100));
    tx.on_response(ringing.clone(), t0 + ms(200));
    assert_eq!(
        drain(&mut tx),
        vec![
            deliver_resp(&trying),
            changed(Calling, Proceeding),
            deliver_resp(&ringing)
        ]
    );
    assert_eq!(tx.state(), Proceeding);
}

#[test]
fn invite_client_acks_a_non_2xx_final_in_calling_and_waits_timer_d_32s() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let busy = response(tx.request(), 486);
    tx.on_response(busy.clone(), t0 + ms(100));
    let actions = drain(&mut tx);
    let ack = ack_of(&actions);
    assert_eq!(
        actions,
        vec![
            send_req(&ack),
            deliver_resp(&busy),
            changed(Calling, Completed)
        ]
    );
    assert_eq!(tx.ack(), Some(&ack));
    assert_eq!(
        fire(&mut tx, t0 + ms(32_100)),
        vec![changed(Completed, Terminated), A::Terminated]
    );
}

#[test]
fn invite_client_acks_a_non_2xx_final_in_proceeding() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 180), t0 + ms(100));
    drain(&mut tx);
    let decline = response(tx.request(), 603);
    tx.on_response(decline.clone(), t0 + ms(5000));
    let actions = drain(&mut tx);
    let ack = ack_of(&actions);
    assert_eq!(
        actions,
        vec![
            send_req(&ack),
            deliver_resp(&decline),
            changed(Proceeding, Completed)
        ]
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(37_000)));
}

#[test]
fn invite_client_builds_the_ack_per_17_1_1_3() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let invite = tx.request().clone();
    let busy = response(&invite, 486);
    tx.on_response(busy.clone(), t0);
    let ack = ack_of(&drain(&mut tx));
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.call_id(), invite.headers.call_id());
    assert_eq!(ack.headers.from(), invite.headers.from());
    assert_eq!(ack.headers.to(), busy.headers.to());
    assert_eq!(ack.headers.to().and_then(|t| t.tag()), Some("b1"));
    let vias: Vec<_> = ack.headers.vias().collect();
    assert_eq!(vias, vec![invite.headers.top_via().expect("top Via")]);
    let cseq = ack.headers.cseq().expect("CSeq");
    assert_eq!((cseq.seq, &cseq.method), (314, &Method::Ack));
    assert_eq!(
        ack.headers.routes().collect::<Vec<_>>(),
        invite.headers.routes().collect::<Vec<_>>()
    );
    assert_eq!(ack.headers.routes().count(), 2);
    assert_eq!(ack.headers.max_forwards(), Some(70));
    assert_eq!(ack.headers.content_length(), Some(0));
    assert!(ack.body.is_empty());
    assert_eq!(ack.headers.count(&HeaderName::Contact), 0);
    assert!(
        !ack.headers
            .iter()
            .any(|h| matches!(h, Header::Other { .. }))
    );
    ack.validate().expect("the ACK is a valid request");
    // The ACK serializes and parses back to itself.
    let reparsed = super::parse_request(&ack.to_bytes());
    assert_eq!(reparsed, ack);
}

#[test]
fn invite_client_resends_the_ack_for_each_retransmitted_final_without_delivering_it() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let busy = response(tx.request(), 486);
    tx.on_response(busy.clone(), t0 + ms(100));
    let ack = ack_of(&drain(&mut tx));
    tx.on_response(busy.clone(), t0 + ms(600));
    tx.on_response(busy, t0 + ms(1600));
    assert_eq!(drain(&mut tx), vec![send_req(&ack), send_req(&ack)]);
    assert_eq!(tx.retransmissions(), 2);
    assert_eq!(tx.state(), Completed);
}

#[test]
fn invite_client_timer_d_is_zero_on_reliable_transport() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    let busy = response(tx.request(), 486);
    tx.on_response(busy.clone(), t0 + ms(100));
    let actions = drain(&mut tx);
    let ack = ack_of(&actions);
    assert_eq!(
        actions,
        vec![
            send_req(&ack),
            deliver_resp(&busy),
            changed(Calling, Completed),
            changed(Completed, Terminated),
            A::Terminated
        ]
    );
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_client_2xx_in_calling_moves_to_accepted_without_acking() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0 + ms(300));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&ok), changed(Calling, Accepted)]
    );
    assert_eq!(tx.ack(), None);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_300)),
        vec![changed(Accepted, Terminated), A::Terminated]
    );
}

#[test]
fn invite_client_2xx_in_proceeding_moves_to_accepted() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 180), t0 + ms(100));
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0 + ms(10_000));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&ok), changed(Proceeding, Accepted)]
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(42_000)));
}

#[test]
fn invite_client_passes_2xx_retransmissions_and_forked_2xx_up_in_accepted() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0);
    drain(&mut tx);
    let forked = crate::message::Response::from_request(tx.request(), 200, Some("other-fork"));
    tx.on_response(ok.clone(), t0 + ms(500));
    tx.on_response(forked.clone(), t0 + ms(700));
    // Provisional and non-2xx responses are absorbed in Accepted.
    tx.on_response(response(tx.request(), 180), t0 + ms(800));
    tx.on_response(response(tx.request(), 486), t0 + ms(900));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&ok), deliver_resp(&forked)]
    );
    assert_eq!(tx.state(), Accepted);
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn invite_client_accepted_waits_timer_m_on_reliable_transport_too() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 200), t0 + ms(50));
    drain(&mut tx);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_050)),
        vec![changed(Accepted, Terminated), A::Terminated]
    );
}

#[test]
fn invite_client_ignores_provisional_and_2xx_in_completed() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 486), t0);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 180), t0 + ms(10));
    tx.on_response(response(tx.request(), 200), t0 + ms(20));
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), Completed);
}

#[test]
fn invite_client_transport_error_in_calling_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_transport_error(t0);
    assert_eq!(
        drain(&mut tx),
        vec![
            A::TransportError,
            changed(Calling, Terminated),
            A::Terminated
        ]
    );
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_client_transport_error_in_completed_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 486), t0);
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(1));
    assert_eq!(
        drain(&mut tx),
        vec![
            A::TransportError,
            changed(Completed, Terminated),
            A::Terminated
        ]
    );
}

#[test]
fn invite_client_transport_error_in_proceeding_or_accepted_is_only_reported() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 180), t0);
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(1));
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Proceeding);
    tx.on_response(response(tx.request(), 200), t0 + ms(2));
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(3));
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Accepted);
}

#[test]
fn invite_client_ignores_everything_once_terminated() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_transport_error(t0);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 200), t0 + ms(1));
    tx.on_transport_error(t0 + ms(2));
    tx.on_timeout(t0 + ms(60_000));
    assert_eq!(drain(&mut tx), vec![]);
}

#[test]
fn invite_client_refuses_other_methods_and_a_missing_branch() {
    let t0 = Instant::now();
    let err = InviteClientTransaction::new(request("OPTIONS", "z9hG4bKx"), config(), UDP, t0)
        .expect_err("OPTIONS is not an INVITE");
    assert!(matches!(
        err,
        TransactionError::WrongMethod {
            method: Method::Options,
            ..
        }
    ));
    let mut invite = request("INVITE", "z9hG4bKx");
    if let Some(v) = invite.headers.top_via_mut() {
        v.params.remove("branch");
    }
    let err = InviteClientTransaction::new(invite, config(), UDP, t0)
        .expect_err("a client transaction needs a branch");
    assert_eq!(err, TransactionError::MissingBranch);
}

#[test]
fn invite_client_works_through_the_transaction_trait() {
    let (tx, t0) = start(UDP);
    let mut boxed: Box<dyn Transaction> = Box::new(tx);
    assert_eq!(
        boxed.poll_action().map(|a| matches!(a, A::Send(_))),
        Some(true)
    );
    assert_eq!(boxed.next_deadline(), Some(t0 + ms(500)));
    boxed.on_timeout(t0 + ms(500));
    assert_eq!(boxed.retransmissions(), 1);
    boxed.on_transport_error(t0 + ms(600));
    assert!(boxed.is_terminated());
}
