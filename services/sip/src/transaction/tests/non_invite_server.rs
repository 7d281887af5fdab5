//! Non-INVITE server transaction: RFC 3261 figure 8.

use std::time::Instant;

use crate::transaction::{
    NonInviteServerTransaction, TransactionAction as A, TransactionError, TransactionState::*,
};

use super::{
    TCP, UDP, changed, config, deliver_req, drain, fire, ms, request, response, send_resp,
};

fn start(reliable: bool) -> (NonInviteServerTransaction, Instant) {
    let t0 = Instant::now();
    let tx = NonInviteServerTransaction::new(request("BYE", "z9hG4bKb1"), config(), reliable, t0)
        .expect("BYE starts a server transaction");
    (tx, t0)
}

fn retransmission() -> crate::message::Request {
    request("BYE", "z9hG4bKb1")
}

#[test]
fn non_invite_server_delivers_the_request_and_absorbs_retransmissions_in_trying() {
    let (mut tx, t0) = start(UDP);
    assert_eq!(tx.state(), Trying);
    assert_eq!(drain(&mut tx), vec![deliver_req(tx.request())]);
    assert_eq!(tx.next_deadline(), None);
    tx.on_request(retransmission(), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), Trying);
}

#[test]
fn non_invite_server_provisional_moves_to_proceeding_and_retransmissions_get_it_again() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let trying = response(tx.request(), 100);
    tx.send_response(trying.clone(), t0 + ms(10)).expect("100");
    assert_eq!(
        drain(&mut tx),
        vec![send_resp(&trying), changed(Trying, Proceeding)]
    );
    let progress = response(tx.request(), 183);
    tx.send_response(progress.clone(), t0 + ms(20))
        .expect("183");
    assert_eq!(drain(&mut tx), vec![send_resp(&progress)]);
    tx.on_request(retransmission(), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![send_resp(&progress)]);
    assert_eq!(tx.retransmissions(), 1);
}

#[test]
fn non_invite_server_final_in_trying_completes_and_timer_j_is_64_t1() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.send_response(ok.clone(), t0 + ms(10)).expect("200");
    assert_eq!(
        drain(&mut tx),
        vec![send_resp(&ok), changed(Trying, Completed)]
    );
    assert_eq!(
        fire(&mut tx, t0 + ms(32_010)),
        vec![changed(Completed, Terminated), A::Terminated]
    );
}

#[test]
fn non_invite_server_final_in_proceeding_completes() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.send_response(response(tx.request(), 100), t0)
        .expect("100");
    drain(&mut tx);
    let ok = response(tx.request(), 481);
    tx.send_response(ok.clone(), t0 + ms(1000)).expect("481");
    assert_eq!(
        drain(&mut tx),
        vec![send_resp(&ok), changed(Proceeding, Completed)]
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(33_000)));
}

#[test]
fn non_invite_server_retransmitted_request_in_completed_gets_the_final_again() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.send_response(ok.clone(), t0).expect("200");
    drain(&mut tx);
    tx.on_request(retransmission(), t0 + ms(500));
    tx.on_request(retransmission(), t0 + ms(1500));
    assert_eq!(drain(&mut tx), vec![send_resp(&ok), send_resp(&ok)]);
    assert_eq!(tx.retransmissions(), 2);
    assert_eq!(tx.state(), Completed);
}

#[test]
fn non_invite_server_timer_j_is_zero_on_reliable_transport() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.send_response(ok.clone(), t0).expect("200");
    assert_eq!(
        drain(&mut tx),
        vec![
            send_resp(&ok),
            changed(Trying, Completed),
            changed(Completed, Terminated),
            A::Terminated
        ]
    );
}

#[test]
fn non_invite_server_refuses_responses_after_the_final() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.send_response(response(tx.request(), 200), t0)
        .expect("200");
    drain(&mut tx);
    let err = tx
        .send_response(response(tx.request(), 500), t0 + ms(1))
        .expect_err("a second final is refused");
    assert_eq!(
        err,
        TransactionError::ResponseNotAllowed {
            status: 500,
            state: Completed
        }
    );
    assert_eq!(drain(&mut tx), vec![]);
}

#[test]
fn non_invite_server_transport_error_in_proceeding_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.send_response(response(tx.request(), 100), t0)
        .expect("100");
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
fn non_invite_server_transport_error_in_completed_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.send_response(response(tx.request(), 200), t0)
        .expect("200");
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
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn non_invite_server_transport_error_in_trying_is_only_reported() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_transport_error(t0);
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Trying);
}

#[test]
fn non_invite_server_refuses_invite_and_ack() {
    let t0 = Instant::now();
    for method in ["INVITE", "ACK"] {
        let err = NonInviteServerTransaction::new(request(method, "z9hG4bKx"), config(), UDP, t0)
            .expect_err("INVITE and ACK make no non-INVITE server transaction");
        assert!(matches!(err, TransactionError::WrongMethod { .. }));
    }
}
