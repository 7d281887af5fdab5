//! INVITE server transaction: RFC 3261 figure 7 with RFC 6026 (Accepted, timer L).

use std::time::Instant;

use crate::message::{Response, SipMessage};
use crate::method::Method;
use crate::transaction::{
    InviteServerTransaction, TransactionAction as A, TransactionError, TransactionKey,
    TransactionState::*,
};

use super::{
    TCP, UDP, changed, config, deliver_req, drain, fire, ms, request, response, send_resp,
};

fn start(reliable: bool) -> (InviteServerTransaction, Instant) {
    let t0 = Instant::now();
    let tx = InviteServerTransaction::new(request("INVITE", "z9hG4bKs1"), config(), reliable, t0)
        .expect("INVITE starts a server transaction");
    (tx, t0)
}

/// Starts a transaction whose core answered at once (so no 100 Trying) and drains it.
fn answered(reliable: bool, status: u16) -> (InviteServerTransaction, Instant, Response) {
    let (mut tx, t0) = start(reliable);
    let r = response(tx.request(), status);
    tx.send_response(r.clone(), t0 + ms(10))
        .expect("the first final response is sent");
    drain(&mut tx);
    (tx, t0, r)
}

fn ack() -> crate::message::Request {
    request("ACK", "z9hG4bKs1")
}

#[test]
fn invite_server_delivers_the_invite_and_sends_100_trying_after_200_ms() {
    let (mut tx, t0) = start(UDP);
    assert_eq!(tx.state(), Proceeding);
    assert_eq!(drain(&mut tx), vec![deliver_req(tx.request())]);
    let actions = fire(&mut tx, t0 + ms(200));
    let trying = Response::from_request(tx.request(), 100, None);
    assert_eq!(actions, vec![send_resp(&trying)]);
    assert_eq!(trying.status, 100);
    assert_eq!(trying.headers.to().and_then(|t| t.tag()), None);
    assert_eq!(trying.headers.vias().count(), 2);
    assert_eq!(tx.next_deadline(), None);
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn invite_server_sends_no_100_trying_when_the_core_answered_within_200_ms() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ringing = response(tx.request(), 180);
    tx.send_response(ringing.clone(), t0 + ms(150))
        .expect("a provisional is sent in Proceeding");
    assert_eq!(drain(&mut tx), vec![send_resp(&ringing)]);
    assert_eq!(tx.next_deadline(), None);
    tx.on_timeout(t0 + ms(200));
    assert_eq!(drain(&mut tx), vec![]);
}

#[test]
fn invite_server_with_zero_trying_delay_sends_100_at_once() {
    let t0 = Instant::now();
    let cfg = crate::transaction::TransactionConfig {
        trying_delay: ms(0),
        ..config()
    };
    let mut tx = InviteServerTransaction::new(request("INVITE", "z9hG4bKs1"), cfg, UDP, t0)
        .expect("INVITE starts a server transaction");
    let trying = Response::from_request(tx.request(), 100, None);
    assert_eq!(
        drain(&mut tx),
        vec![deliver_req(tx.request()), send_resp(&trying)]
    );
}

#[test]
fn invite_server_retransmitted_invite_in_proceeding_resends_the_last_provisional() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ringing = response(tx.request(), 180);
    let progress = response(tx.request(), 183);
    tx.send_response(ringing, t0 + ms(50)).expect("180");
    tx.send_response(progress.clone(), t0 + ms(60))
        .expect("183");
    drain(&mut tx);
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![send_resp(&progress)]);
    assert_eq!(tx.retransmissions(), 1);
    assert_eq!(tx.state(), Proceeding);
}

#[test]
fn invite_server_retransmitted_invite_after_the_automatic_100_gets_the_100_again() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let trying = Response::from_request(tx.request(), 100, None);
    fire(&mut tx, t0 + ms(200));
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![send_resp(&trying)]);
}

#[test]
fn invite_server_absorbs_a_retransmitted_invite_before_any_response() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(100));
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(200)));
}

#[test]
fn invite_server_retransmits_a_non_2xx_final_with_timer_g_doubling_to_t2_until_timer_h() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let busy = response(tx.request(), 486);
    tx.send_response(busy.clone(), t0).expect("486");
    assert_eq!(
        drain(&mut tx),
        vec![send_resp(&busy), changed(Proceeding, Completed)]
    );
    // G: 0.5, 1, 2, 4 s, then capped at T2 = 4 s.
    let schedule = [
        500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ];
    for at in schedule {
        assert_eq!(fire(&mut tx, t0 + ms(at)), vec![send_resp(&busy)]);
    }
    assert_eq!(tx.retransmissions(), 10);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_000)),
        vec![A::Timeout, changed(Completed, Terminated), A::Terminated]
    );
}

#[test]
fn invite_server_retransmitted_invite_in_completed_resends_the_final() {
    let (mut tx, t0, busy) = answered(UDP, 486);
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(100));
    assert_eq!(drain(&mut tx), vec![send_resp(&busy)]);
    assert_eq!(tx.retransmissions(), 1);
    // Timer G is not reset by it.
    assert_eq!(tx.next_deadline(), Some(t0 + ms(510)));
}

#[test]
fn invite_server_ack_in_completed_confirms_and_timer_i_is_t4() {
    let (mut tx, t0, _) = answered(UDP, 486);
    tx.on_request(ack(), t0 + ms(300));
    assert_eq!(drain(&mut tx), vec![changed(Completed, Confirmed)]);
    assert_eq!(tx.next_deadline(), Some(t0 + ms(5300)));
    // Confirmed absorbs ACK and INVITE retransmissions.
    tx.on_request(ack(), t0 + ms(400));
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(
        fire(&mut tx, t0 + ms(5300)),
        vec![changed(Confirmed, Terminated), A::Terminated]
    );
}

#[test]
fn invite_server_on_reliable_transport_sends_the_final_once_and_timer_h_is_64_t1() {
    let (mut tx, t0, _) = answered(TCP, 486);
    assert_eq!(
        fire(&mut tx, t0 + ms(32_010)),
        vec![A::Timeout, changed(Completed, Terminated), A::Terminated]
    );
    assert_eq!(tx.retransmissions(), 0);
}

#[test]
fn invite_server_timer_i_is_zero_on_reliable_transport() {
    let (mut tx, t0, _) = answered(TCP, 603);
    tx.on_request(ack(), t0 + ms(50));
    assert_eq!(
        drain(&mut tx),
        vec![
            changed(Completed, Confirmed),
            changed(Confirmed, Terminated),
            A::Terminated
        ]
    );
}

#[test]
fn invite_server_2xx_moves_to_accepted_and_timer_l_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ok = response(tx.request(), 200);
    tx.send_response(ok.clone(), t0 + ms(100)).expect("200");
    assert_eq!(
        drain(&mut tx),
        vec![send_resp(&ok), changed(Proceeding, Accepted)]
    );
    assert_eq!(
        fire(&mut tx, t0 + ms(32_100)),
        vec![changed(Accepted, Terminated), A::Terminated]
    );
}

#[test]
fn invite_server_2xx_after_a_provisional_moves_to_accepted_also_on_reliable_transport() {
    let (mut tx, t0) = start(TCP);
    drain(&mut tx);
    tx.send_response(response(tx.request(), 180), t0)
        .expect("180");
    let ok = response(tx.request(), 200);
    tx.send_response(ok.clone(), t0 + ms(3000)).expect("200");
    assert_eq!(
        drain(&mut tx)[1..],
        [send_resp(&ok), changed(Proceeding, Accepted)]
    );
    assert_eq!(tx.next_deadline(), Some(t0 + ms(35_000)));
}

#[test]
fn invite_server_accepted_absorbs_invite_retransmissions_and_sends_the_cores_2xx_again() {
    let (mut tx, t0, ok) = answered(UDP, 200);
    tx.on_request(request("INVITE", "z9hG4bKs1"), t0 + ms(500));
    assert_eq!(drain(&mut tx), vec![]);
    tx.send_response(ok.clone(), t0 + ms(510))
        .expect("2xx again");
    tx.send_response(ok.clone(), t0 + ms(1510))
        .expect("2xx again");
    assert_eq!(drain(&mut tx), vec![send_resp(&ok), send_resp(&ok)]);
    assert_eq!(tx.retransmissions(), 2);
    assert_eq!(tx.state(), Accepted);
}

#[test]
fn invite_server_accepted_passes_a_matching_ack_to_the_core() {
    let (mut tx, t0, _) = answered(UDP, 200);
    let ack = ack();
    tx.on_request(ack.clone(), t0 + ms(100));
    assert_eq!(drain(&mut tx), vec![deliver_req(&ack)]);
    assert_eq!(tx.state(), Accepted);
}

#[test]
fn invite_server_refuses_responses_after_the_final() {
    let (mut tx, t0, _) = answered(UDP, 486);
    for status in [180, 200, 500] {
        let err = tx
            .send_response(response(tx.request(), status), t0 + ms(20))
            .expect_err("nothing follows a final response");
        assert_eq!(
            err,
            TransactionError::ResponseNotAllowed {
                status,
                state: Completed
            }
        );
    }
    let (mut tx, t0, _) = answered(UDP, 200);
    for status in [180, 486] {
        assert!(
            tx.send_response(response(tx.request(), status), t0 + ms(20))
                .is_err()
        );
    }
    assert_eq!(drain(&mut tx), vec![]);
}

#[test]
fn invite_server_transport_error_in_proceeding_terminates() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(250));
    assert_eq!(
        drain(&mut tx),
        vec![
            A::TransportError,
            changed(Proceeding, Terminated),
            A::Terminated
        ]
    );
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_server_transport_error_in_completed_terminates() {
    let (mut tx, t0, _) = answered(UDP, 486);
    tx.on_transport_error(t0 + ms(20));
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
fn invite_server_transport_error_in_confirmed_or_accepted_is_only_reported() {
    let (mut tx, t0, _) = answered(UDP, 486);
    tx.on_request(ack(), t0 + ms(20));
    drain(&mut tx);
    tx.on_transport_error(t0 + ms(30));
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Confirmed);
    let (mut tx, t0, _) = answered(UDP, 200);
    tx.on_transport_error(t0 + ms(30));
    assert_eq!(drain(&mut tx), vec![A::TransportError]);
    assert_eq!(tx.state(), Accepted);
}

#[test]
fn invite_server_ack_key_equals_the_key_for_rfc_3261_branches() {
    let (tx, _, _) = answered(UDP, 486);
    assert_eq!(tx.ack_key(), *tx.key());
    assert_eq!(
        TransactionKey::from_request(&ack()).expect("ACK key"),
        tx.ack_key()
    );
}

#[test]
fn invite_server_refuses_other_methods() {
    let t0 = Instant::now();
    let err = InviteServerTransaction::new(request("BYE", "z9hG4bKx"), config(), UDP, t0)
        .expect_err("BYE is not an INVITE");
    assert!(matches!(
        err,
        TransactionError::WrongMethod {
            method: Method::Bye,
            ..
        }
    ));
}

#[test]
fn invite_server_sends_what_the_core_gives_it_unchanged() {
    let (mut tx, t0) = start(UDP);
    drain(&mut tx);
    let ringing = response(tx.request(), 180).with_reason("Ringing Loudly");
    tx.send_response(ringing.clone(), t0).expect("180");
    match drain(&mut tx).as_slice() {
        [A::Send(SipMessage::Response(r))] => assert_eq!(r, &ringing),
        other => panic!("expected one Send, got {other:?}"),
    }
}
