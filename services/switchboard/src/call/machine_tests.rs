use std::time::{Duration, Instant};

use store::writer::{Disposition, HangupBy};

use super::*;

const RING: Duration = Duration::from_secs(30);

fn call() -> (CallMachine, Instant) {
    let now = Instant::now();
    (CallMachine::new(now, RING), now)
}

fn outcome(actions: &[CallAction]) -> Option<&CallOutcome> {
    actions.iter().find_map(|a| match a {
        CallAction::Finished(o) => Some(o),
        _ => None,
    })
}

fn rejected_with(actions: &[CallAction]) -> Option<u16> {
    actions.iter().find_map(|a| match a {
        CallAction::RejectCaller { status, .. } => Some(*status),
        _ => None,
    })
}

fn ring(m: &mut CallMachine, now: Instant) {
    m.on_input(
        CallInput::CalleeProvisional {
            status: 180,
            early_media: false,
        },
        now,
    );
    m.take_actions();
}

fn answer(m: &mut CallMachine, now: Instant) {
    ring(m, now);
    m.on_input(CallInput::CalleeAnswered, now);
    m.take_actions();
}

#[test]
fn a_ringing_callee_rings_the_caller() {
    let (mut m, now) = call();
    m.on_input(
        CallInput::CalleeProvisional {
            status: 180,
            early_media: false,
        },
        now,
    );
    let actions = m.take_actions();
    assert_eq!(
        actions[0],
        CallAction::ProvisionalToCaller {
            status: 180,
            early_media: false
        }
    );
    assert_eq!(m.state(), CallState::Ringing);
}

#[test]
fn a_provisional_with_sdp_is_early_media_and_stays_so_until_the_answer() {
    let (mut m, now) = call();
    m.on_input(
        CallInput::CalleeProvisional {
            status: 183,
            early_media: true,
        },
        now,
    );
    assert!(m.take_actions().contains(&CallAction::ProvisionalToCaller {
        status: 183,
        early_media: true
    }));
    assert_eq!(m.state(), CallState::EarlyMedia);
    m.on_input(
        CallInput::CalleeProvisional {
            status: 180,
            early_media: false,
        },
        now,
    );
    assert_eq!(m.state(), CallState::EarlyMedia);
}

#[test]
fn an_answer_is_acknowledged_and_passed_to_the_caller() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(CallInput::CalleeAnswered, now);
    let actions = m.take_actions();
    assert_eq!(actions[0], CallAction::AckCallee);
    assert_eq!(actions[1], CallAction::AnswerCaller);
    assert_eq!(m.state(), CallState::Confirmed);
    assert_eq!(m.next_deadline(), None, "the ring timer stops");
}

#[test]
fn a_bye_from_either_side_ends_the_other_side() {
    for (side, other, by) in [
        (Side::Caller, Side::Callee, HangupBy::Caller),
        (Side::Callee, Side::Caller, HangupBy::Callee),
    ] {
        let (mut m, now) = call();
        answer(&mut m, now);
        m.on_input(CallInput::ByeFrom(side), now);
        let actions = m.take_actions();
        assert_eq!(actions[0], CallAction::Bye(other));
        assert!(actions.contains(&CallAction::StopMedia));
        let o = outcome(&actions).expect("finished");
        assert_eq!(o.disposition, Disposition::Answered);
        assert_eq!(o.hangup_by, Some(by));
        assert_eq!(o.final_status, Some(200));
        assert_eq!(m.state(), CallState::Disconnected);
    }
}

#[test]
fn busy_is_passed_on_as_busy() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(
        CallInput::CalleeRejected {
            status: 486,
            reason: "Busy Here".into(),
        },
        now,
    );
    let actions = m.take_actions();
    assert_eq!(rejected_with(&actions), Some(486));
    assert_eq!(
        outcome(&actions).map(|o| o.disposition),
        Some(Disposition::Busy)
    );
    assert_eq!(m.state(), CallState::Failed);
}

#[test]
fn a_challenge_or_redirect_from_the_callee_is_not_passed_on() {
    for (status, expected) in [(401, 403), (407, 403), (302, 480)] {
        let (mut m, now) = call();
        m.on_input(
            CallInput::CalleeRejected {
                status,
                reason: "x".into(),
            },
            now,
        );
        assert_eq!(rejected_with(&m.take_actions()), Some(expected), "{status}");
    }
}

#[test]
fn the_cancel_waits_for_a_provisional_response() {
    let (mut m, now) = call();
    m.on_input(CallInput::CallerCancelled, now);
    let actions = m.take_actions();
    assert!(!actions.contains(&CallAction::CancelCallee), "§9.1");
    assert_eq!(m.state(), CallState::Disconnected);
    assert_eq!(
        outcome(&actions).map(|o| o.disposition),
        Some(Disposition::Cancelled)
    );
    assert_eq!(rejected_with(&actions), None, "the transaction sent 487");
    m.on_input(
        CallInput::CalleeProvisional {
            status: 180,
            early_media: false,
        },
        now,
    );
    assert_eq!(m.take_actions(), vec![CallAction::CancelCallee]);
    m.on_input(
        CallInput::CalleeRejected {
            status: 487,
            reason: "Request Terminated".into(),
        },
        now,
    );
    assert!(m.take_actions().is_empty());
    assert!(m.callee_settled());
}

#[test]
fn an_answer_after_the_caller_left_is_acked_and_ended() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(CallInput::CallerCancelled, now);
    assert!(m.take_actions().contains(&CallAction::CancelCallee));
    m.on_input(CallInput::CalleeAnswered, now);
    assert_eq!(
        m.take_actions(),
        vec![CallAction::AckCallee, CallAction::Bye(Side::Callee)]
    );
    assert_eq!(m.state(), CallState::Disconnected);
}

#[test]
fn nobody_answering_times_the_call_out() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_timeout(now + RING - Duration::from_millis(1));
    assert!(m.take_actions().is_empty());
    m.on_timeout(now + RING);
    let actions = m.take_actions();
    assert!(actions.contains(&CallAction::CancelCallee));
    assert_eq!(rejected_with(&actions), Some(480));
    assert_eq!(m.state(), CallState::Timeout);
    assert_eq!(
        outcome(&actions).map(|o| o.disposition),
        Some(Disposition::NoAnswer)
    );
}

#[test]
fn timer_b_and_transport_errors_fail_the_call() {
    let (mut m, now) = call();
    m.on_input(CallInput::CalleeTimedOut, now);
    assert_eq!(rejected_with(&m.take_actions()), Some(408));
    assert_eq!(m.state(), CallState::Timeout);

    let (mut m, now) = call();
    m.on_input(
        CallInput::CalleeUnreachable {
            why: "transport error".into(),
        },
        now,
    );
    assert_eq!(rejected_with(&m.take_actions()), Some(480));
    assert_eq!(m.state(), CallState::Failed);
}

#[test]
fn unusable_media_from_the_callee_fails_with_488() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(CallInput::CalleeAnswered, now);
    m.take_actions();
    // The answer turned out unusable after the ACK: the shell reports it instead.
    let (mut m2, now2) = call();
    ring(&mut m2, now2);
    m2.on_input(
        CallInput::MediaFailed {
            why: "no common codec".into(),
        },
        now2,
    );
    let actions = m2.take_actions();
    assert_eq!(rejected_with(&actions), Some(488));
    assert!(actions.contains(&CallAction::CancelCallee));
    m.on_input(
        CallInput::MediaFailed {
            why: "bad SDP".into(),
        },
        now,
    );
    let actions = m.take_actions();
    assert!(actions.contains(&CallAction::Bye(Side::Caller)));
    assert!(actions.contains(&CallAction::Bye(Side::Callee)));
}

#[test]
fn a_media_timeout_hangs_up_both_legs() {
    let (mut m, now) = call();
    answer(&mut m, now);
    m.on_input(CallInput::MediaTimeout, now);
    let actions = m.take_actions();
    assert!(actions.contains(&CallAction::Bye(Side::Caller)));
    assert!(actions.contains(&CallAction::Bye(Side::Callee)));
    assert_eq!(
        outcome(&actions).and_then(|o| o.hangup_by),
        Some(HangupBy::System)
    );
}

#[test]
fn a_lost_leg_ends_the_other() {
    let (mut m, now) = call();
    answer(&mut m, now);
    m.on_input(
        CallInput::LegLost {
            side: Side::Caller,
            cause: "no ACK".into(),
        },
        now,
    );
    let actions = m.take_actions();
    assert_eq!(actions[0], CallAction::Bye(Side::Callee));
    assert_eq!(m.state(), CallState::Disconnected);
}

#[test]
fn the_caller_gets_one_final_response_and_the_call_finishes_once() {
    let (mut m, now) = call();
    m.on_input(
        CallInput::CalleeRejected {
            status: 603,
            reason: "Decline".into(),
        },
        now,
    );
    m.on_timeout(now + RING);
    m.on_input(CallInput::CallerCancelled, now);
    m.on_input(CallInput::ByeFrom(Side::Caller), now);
    let actions = m.take_actions();
    let finals = actions
        .iter()
        .filter(|a| matches!(a, CallAction::RejectCaller { .. }))
        .count();
    let finished = actions
        .iter()
        .filter(|a| matches!(a, CallAction::Finished(_)))
        .count();
    assert_eq!((finals, finished), (1, 1));
}

#[test]
fn a_caller_bye_before_the_answer_cancels_and_terminates_the_invite() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(CallInput::ByeFrom(Side::Caller), now);
    let actions = m.take_actions();
    assert!(actions.contains(&CallAction::CancelCallee));
    assert_eq!(rejected_with(&actions), Some(487));
}

#[test]
fn an_answer_with_unusable_sdp_is_acked_ended_and_refused_488() {
    let (mut m, now) = call();
    ring(&mut m, now);
    m.on_input(
        CallInput::CalleeAnsweredUnusable {
            why: "no common codec".into(),
        },
        now,
    );
    let actions = m.take_actions();
    assert_eq!(actions[0], CallAction::AckCallee);
    assert_eq!(actions[1], CallAction::Bye(Side::Callee));
    assert_eq!(rejected_with(&actions), Some(488));
    assert_eq!(m.state(), CallState::Failed);
    assert!(m.callee_settled());
}
