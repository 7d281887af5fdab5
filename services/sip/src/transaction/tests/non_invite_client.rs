//! Non-INVITE client transaction: RFC 3261 figure 6.

use std::time::Instant;

use crate::method::Method;
use crate::transaction::{
    NonInviteClientTransaction, TransactionAction as A, TransactionError, TransactionState::*,
};

use super::{
    TCP, UDP, changed, config, deliver_resp, drain, fire, ms, request, response, send_req,
};

fn start(reliable: bool) -> (NonInviteClientTransaction, Instant) {
    let t0 = Instant::now();
    let tx =
        NonInviteClientTransaction::new(request("OPTIONS", "z9hG4bKn1"), config(), reliable, t0)
            .expect("OPTIONS starts a client transaction");
    (tx, t0)
}

#[test]
fn non_invite_client_sends_the_request_on_creation_in_trying() {
    let (mut tx, t0) = start(UDP);
    assert_eq!(tx.state(), Trying);
    assert_eq!(drain(&mut tx), vec![send_req(tx.request())]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(500)));
}

#[test]
fn non_invite_client_retransmits_doubling_up_to_t2_until_timer_f() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let req = tx.request().clone();
    // E: 0.5, 1, 2, 4 s, then capped at T2 = 4 s.
    let schedule = [
        500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ];
    for at in schedule {
        assert_eq!(fire(&mut tx, t0 + ms(at)), vec![send_req(&req)]);
    }
    assert_eq!(tx.retransmissions(), 10);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_000)),
        vec![A::Timeout, changed(Trying, Terminated), A::Terminated]
    );
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let req = tx.request().clone();
    assert_eq!(fire(&mut tx, t0 + ms(500)), vec![send_req(&req)]);
    let trying = response(&req, 100);
    tx.on_response(trying.clone(), t0 + ms(700));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&trying), changed(Trying, Proceeding)]
    );
    // The pending E (set to 1 s at 0.5 s) still fires at 1.5 s, then every T2.
    assert_eq!(fire(&mut tx, t0 + ms(1500)), vec![send_req(&req)]);
    assert_eq!(fire(&mut tx, t0 + ms(5500)), vec![send_req(&req)]);
    assert_eq!(fire(&mut tx, t0 + ms(9500)), vec![send_req(&req)]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(13_500)));
}

#[test]
fn non_invite_client_timer_f_fires_in_proceeding() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 100), t0 + ms(10));
    drain(&mut tx);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_000)),
        vec![A::Timeout, changed(Proceeding, Terminated), A::Terminated]
    );
}

#[test]
fn non_invite_client_passes_provisionals_up_in_proceeding() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let a = response(tx.request(), 100);
    let b = response(tx.request(), 183);
    tx.on_response(a.clone(), t0);
    tx.on_response(b.clone(), t0 + ms(1));
    assert_eq!(
        drain(&mut tx),
        vec![
            deliver_resp(&a),
            changed(Trying, Proceeding),
            deliver_resp(&b)
        ]
    );
}

#[test]
fn non_invite_client_final_in_trying_completes_and_timer_k_is_t4() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0 + ms(100));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&ok), changed(Trying, Completed)]
    );
    assert_eq!(
        fire(&mut tx, t0 + ms(5100)),
        vec![changed(Completed, Terminated), A::Terminated]
    );
}

#[test]
fn non_invite_client_final_in_proceeding_completes() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 100), t0);
    drain(&mut tx);
    let not_found = response(tx.request(), 404);
    tx.on_response(not_found.clone(), t0 + ms(2000));
    assert_eq!(
        drain(&mut tx),
        vec![deliver_resp(&not_found), changed(Proceeding, Completed)]
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(7000)));
}

#[test]
fn non_invite_client_absorbs_response_retransmissions_in_completed() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0);
    drain(&mut tx);
    tx.on_response(ok.clone(), t0 + ms(500));
    tx.on_response(response(tx.request(), 100), t0 + ms(600));
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), Completed);
}

#[test]
fn non_invite_client_on_reliable_transport_does_not_retransmit_and_k_is_zero() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(32_000)));
    let ok = response(tx.request(), 200);
    tx.on_response(ok.clone(), t0 + ms(100));
    assert_eq!(
        drain(&mut tx),
        vec![
            deliver_resp(&ok),
            changed(Trying, Completed),
            changed(Completed, Terminated),
            A::Terminated
        ]
    );
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn non_invite_client_transport_error_in_trying_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_transport_error(t0);
    assert_eq!(
        drain(&mut tx),
        vec![
            A::TransportError,
            changed(Trying, Terminated),
            A::Terminated
        ]
    );
}

#[test]
fn non_invite_client_transport_error_in_proceeding_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 100), t0);
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(1));
    assert_eq!(
        drain(&mut tx),
        vec![
            A::TransportError,
            changed(Proceeding, Terminated),
            A::Terminated
        ]
    );
}

#[test]
fn non_invite_client_transport_error_in_completed_is_only_reported() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_response(response(tx.request(), 200), t0);
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(1));
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Completed);
}

#[test]
fn non_invite_client_refuses_invite_and_ack() {
    let t0 = Instant::now();
    for method in ["INVITE", "ACK"] {
        let err = NonInviteClientTransaction::new(request(method, "z9hG4bKx"), config(), UDP, t0)
            .expect_err("INVITE and ACK make no non-INVITE client transaction");
        assert!(matches!(err, TransactionError::WrongMethod { .. }));
    }
    let cancel = NonInviteClientTransaction::new(request("CANCEL", "z9hG4bKx"), config(), UDP, t0)
        .expect("CANCEL is a non-INVITE transaction");
    assert_eq!(cancel.key().method(), &Method::Cancel);
}
