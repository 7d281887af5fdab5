//! UAS 2xx reliability on virtual time (§13.3.1.4).

use std::time::Duration;

use super::*;
use crate::dialog::{
    Cause, DialogState, DialogTable, RequestVerdict, TwoXxRetransmitter, TwoXxTimeout,
};

/// Drives `d` from deadline to deadline until it has none, recording when each 2xx went out
/// (as offsets from `start`) and the actions of the last timeout.
fn run_until_quiet(d: &mut Dialog, start: Instant) -> (Vec<Duration>, Vec<DialogAction>) {
    let mut sent = Vec::new();
    let mut via = branches();
    while let Some(at) = d.next_deadline() {
        let actions = d.on_timeout(at, &mut via);
        if let [DialogAction::SendResponse(r)] = actions.as_slice() {
            assert_eq!(r.status, 200);
            sent.push(at - start);
        } else {
            return (sent, actions);
        }
    }
    (sent, Vec::new())
}

#[test]
fn unacknowledged_2xx_is_resent_at_t1_doubling_up_to_t2() {
    let start = t0();
    let mut d = uas_confirmed(start);
    let (sent, _) = run_until_quiet(&mut d, start);
    let expected: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(sent, expected, "intervals T1, 2T1, 4T1, then T2");
}

#[test]
fn no_ack_within_64_t1_sends_bye_and_terminates_with_no_ack() {
    let start = t0();
    let mut d = uas_confirmed(start);
    let mut last = None;
    let mut via = branches();
    while let Some(at) = d.next_deadline() {
        last = Some(at);
        let actions = d.on_timeout(at, &mut via);
        if d.state() == DialogState::Terminated {
            let bye = requests(&actions);
            assert_eq!(bye.len(), 1);
            assert_eq!(bye[0].method, Method::Bye);
            assert_eq!(bye[0].headers.cseq().map(|c| c.seq), Some(1));
            assert_eq!(bye[0].headers.to().and_then(NameAddr::tag), Some(UAC_TAG));
            let c = changes(&actions);
            assert_eq!(
                (c[0].from, c[0].to, c[0].cause),
                (
                    Some(DialogState::Confirmed),
                    DialogState::Terminated,
                    Cause::NoAck
                )
            );
        }
    }
    assert_eq!(last, Some(start + ms(32_000)), "gave up at 64*T1");
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(d.next_deadline(), None);
}

#[test]
fn ack_stops_the_retransmissions() {
    let start = t0();
    let mut d = uas_confirmed(start);
    let mut via = branches();
    assert!(matches!(
        d.on_timeout(start + ms(500), &mut via).as_slice(),
        [DialogAction::SendResponse(_)]
    ));
    assert!(d.awaiting_ack());
    let ack = from_peer(&d, Method::Ack, INVITE_SEQ, None);
    assert_eq!(d.on_request(&ack, 5), RequestVerdict::Accept(vec![]));
    assert!(!d.awaiting_ack());
    assert_eq!(d.next_deadline(), None);
    assert_eq!(d.on_timeout(start + ms(32_000), &mut via), vec![]);
    assert_eq!(d.state(), DialogState::Confirmed);
}

#[test]
fn ack_for_another_cseq_does_not_stop_the_retransmissions() {
    let start = t0();
    let mut d = uas_confirmed(start);
    let stale = from_peer(&d, Method::Ack, INVITE_SEQ - 1, None);
    d.on_request(&stale, 5);
    assert_eq!(d.next_deadline(), Some(start + ms(500)));
}

#[test]
fn nothing_is_sent_before_the_deadline() {
    let start = t0();
    let mut d = uas_confirmed(start);
    assert_eq!(d.on_timeout(start + ms(499), branches()), vec![]);
    assert_eq!(d.next_deadline(), Some(start + ms(500)));
}

#[test]
fn timers_are_configurable() {
    let start = t0();
    let cfg = DialogConfig {
        t1: ms(100),
        t2: ms(300),
    };
    let ok = answer(
        &invite(),
        200,
        Some(UAS_TAG),
        Some("sip:bob@192.0.2.2"),
        &[],
    );
    let mut rt = TwoXxRetransmitter::new(ok, start, cfg);
    let mut at = Vec::new();
    while let Some(t) = rt.next_deadline() {
        match rt.on_timeout(t) {
            Some(TwoXxTimeout::Retransmit(_)) => at.push((t - start).as_millis()),
            Some(TwoXxTimeout::GiveUp) => at.push(u128::MAX),
            None => panic!("a deadline always does something"),
        }
    }
    assert_eq!(
        at,
        [
            100,
            300,
            600,
            900,
            1200,
            1500,
            1800,
            2100,
            2400,
            2700,
            3000,
            3300,
            3600,
            3900,
            4200,
            4500,
            4800,
            5100,
            5400,
            5700,
            6000,
            6300,
            u128::MAX
        ],
        "100, +200, then +300 each until 64*T1 = 6.4 s"
    );
    assert!(!rt.is_running());
}

#[test]
fn late_wake_up_sends_one_retransmission_not_a_burst() {
    let start = t0();
    let ok = answer(
        &invite(),
        200,
        Some(UAS_TAG),
        Some("sip:bob@192.0.2.2"),
        &[],
    );
    let mut rt = TwoXxRetransmitter::new(ok, start, DialogConfig::default());
    assert!(matches!(
        rt.on_timeout(start + ms(5000)),
        Some(TwoXxTimeout::Retransmit(_))
    ));
    assert_eq!(rt.on_timeout(start + ms(5000)), None);
    assert_eq!(rt.next_deadline(), Some(start + ms(6000)));
}

#[test]
fn reinvite_2xx_sent_by_either_side_is_retransmitted_until_acked() {
    let start = t0();
    let mut d = uac_confirmed(&[]);
    let reinvite = from_peer(&d, Method::Invite, 1, Some("sip:bob@192.0.2.2"));
    assert_eq!(d.on_request(&reinvite, 5), RequestVerdict::Accept(vec![]));
    let ok = Response::from_request(&reinvite, 200, None);
    assert_eq!(
        d.on_response_sent(&ok, start).expect("our 200"),
        vec![],
        "already confirmed"
    );
    assert_eq!(d.next_deadline(), Some(start + ms(500)));
    let ack = from_peer(&d, Method::Ack, 1, None);
    d.on_request(&ack, 5);
    assert_eq!(d.next_deadline(), None);
}

#[test]
fn table_runs_due_timers_and_reports_the_earliest_deadline() {
    let start = t0();
    let mut table = DialogTable::new();
    table.insert(uas_confirmed(start));
    let mut later = uas_confirmed(start + ms(200));
    later.id.remote_tag = ByteString::from("other-alice");
    table.insert(later);
    assert_eq!(table.next_deadline(), Some(start + ms(500)));
    let actions = table.on_timeout(start + ms(500), branches());
    assert_eq!(actions.len(), 1, "only the first dialog is due");
    assert_eq!(table.next_deadline(), Some(start + ms(700)));
}
