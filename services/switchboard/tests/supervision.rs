//! Supervision, in-process: the SIP stack's actors run in an actix System on 127.0.0.1 and
//! one child actor is made to panic on purpose (`InjectTransactionPanic`,
//! `InjectDialogPanic`, `InjectCallPanic`). Every other transaction, dialog and call must carry on (answer
//! retransmissions with the very same bytes, time out on schedule, end on BYE) and the
//! supervisor must have recorded the failure (metric, event).

mod common;

use std::time::Duration;

use common::{
    NO_BODY, Peer, T1_MS, is_transition, sample, start, start_with, to_tag, wait_for_events,
};
use registrar::location::{Binding, BindingFlow, FlowTransport, Reachability};
use switchboard::dialog_layer::{InjectDialogPanic, ListDialogs};
use switchboard::registrar::RegistrarSetup;
use switchboard::transaction_layer::{InjectTransactionPanic, ListTransactions};
use switchboard::user_agent::InjectCallPanic;

#[actix_rt::test]
async fn a_panicking_transaction_is_recorded_and_every_other_transaction_and_dialog_carries_on() {
    let stack = start(100);
    let peer = Peer::new(stack.addr).await;

    // A call to echo: 180, 200, ACK: a confirmed dialog (its INVITE transaction in Accepted).
    peer.send(&peer.invite("sup-call")).await;
    let ringing = peer.expect(180, "INVITE").await;
    let ok = peer.expect(200, "INVITE").await;
    let tag = to_tag(&ok);
    assert_eq!(tag, to_tag(&ringing));
    peer.send(&peer.request_in("ACK", "sup-call", "sup-call-ack", &tag, 1, NO_BODY))
        .await;
    // Two non-INVITE server transactions in Completed.
    let options_b = peer.request("OPTIONS", "sup-b", "sup-b", NO_BODY);
    peer.send(&options_b).await;
    let first_b = peer.expect(200, "OPTIONS").await;
    let bye_c = peer.request_in("BYE", "sup-c", "sup-c", "made-up", 1, NO_BODY);
    peer.send(&bye_c).await;
    let first_c = peer.expect(481, "BYE").await;
    // The victim: the INVITE transaction of a second echo call, in Accepted. (A non-INVITE
    // server transaction over UDP that has answered is kept by the layer as data until timer
    // J, not as an actor, so it cannot be the victim.)
    peer.send(&peer.invite("sup-d")).await;
    peer.expect(180, "INVITE").await;
    let ok_d = peer.expect(200, "INVITE").await;
    peer.send(&peer.request_in("ACK", "sup-d", "sup-d-ack", &to_tag(&ok_d), 1, NO_BODY))
        .await;
    let live = stack
        .sip
        .stack()
        .transactions
        .send(ListTransactions)
        .await
        .expect("layer alive");
    assert!(live.len() >= 4, "{live:?}");
    let victim = live
        .iter()
        .find(|t| t.call_id == "sup-d")
        .expect("call D's INVITE transaction is live")
        .key
        .clone();
    let injected = stack
        .sip
        .stack()
        .transactions
        .send(InjectTransactionPanic {
            key: victim.clone(),
        })
        .await
        .expect("layer alive");
    assert!(injected);

    // The supervisor recorded it: the counter, the event, and the key is forgotten.
    wait_for_events(&stack.events, "sup-d", "child_failed event", |evs| {
        evs.iter().any(|e| {
            e.kind.as_deref() == Some("child_failed")
                && e.transaction.as_deref() == Some(victim.to_string().as_str())
                && e.cause
                    .as_deref()
                    .is_some_and(|c| c.contains("injected panic"))
        })
    })
    .await;
    assert_eq!(
        sample(
            &stack.metrics,
            "sip_actor_failures_total{actor=\"transaction\"}"
        ),
        Some(1.0)
    );
    let live = stack
        .sip
        .stack()
        .transactions
        .send(ListTransactions)
        .await
        .expect("layer alive");
    assert!(live.iter().all(|t| t.key != victim), "{live:?}");
    assert!(live.iter().any(|t| t.call_id == "sup-b"));

    // The other transactions answer retransmissions with the very same bytes (a new
    // transaction would have chosen a new To tag).
    peer.send(&options_b).await;
    assert_eq!(peer.expect(200, "OPTIONS").await, first_b);
    peer.send(&bye_c).await;
    assert_eq!(peer.expect(481, "BYE").await, first_c);

    // The dialog carries on: BYE gets 200 and ends it.
    peer.send(&peer.request_in("BYE", "sup-call", "sup-call-bye", &tag, 2, NO_BODY))
        .await;
    peer.expect(200, "BYE").await;
    wait_for_events(
        &stack.events,
        "sup-call",
        "dialog terminated by BYE",
        |evs| {
            evs.iter().any(|e| {
                is_transition(e, "state", "confirmed", "terminated")
                    && e.cause.as_deref() == Some("BYE received")
            })
        },
    )
    .await;

    // And the timers of the others still run: timer J (64*T1) ends B and C on schedule.
    for call_id in ["sup-b", "sup-c"] {
        wait_for_events(&stack.events, call_id, "timer J", |evs| {
            evs.iter().any(|e| {
                is_transition(e, "state", "Completed", "Terminated")
                    && e.cause.as_deref() == Some("timer")
            })
        })
        .await;
    }
    assert_eq!(
        sample(
            &stack.metrics,
            "sip_actor_failures_total{actor=\"transaction\"}"
        ),
        Some(1.0),
        "one failure, not more"
    );
    stack.sip.shutdown().await;
}

#[actix_rt::test]
async fn a_panicking_dialog_is_recorded_and_the_other_dialog_carries_on() {
    let stack = start(50);
    let peer = Peer::new(stack.addr).await;
    let mut tags = Vec::new();
    for call_id in ["dlg-1", "dlg-2"] {
        peer.send(&peer.invite(call_id)).await;
        let ok = peer.expect(200, "INVITE").await;
        let tag = to_tag(&ok);
        let ack_branch = format!("{call_id}-ack");
        peer.send(&peer.request_in("ACK", call_id, &ack_branch, &tag, 1, NO_BODY))
            .await;
        tags.push(tag);
    }
    let dialogs = stack
        .sip
        .stack()
        .dialogs
        .send(ListDialogs)
        .await
        .expect("supervisor alive");
    assert_eq!(dialogs.len(), 2, "{dialogs:?}");
    assert_eq!(sample(&stack.metrics, "sip_dialogs_active"), Some(2.0));
    let victim = dialogs
        .iter()
        .find(|d| d.call_id == "dlg-1")
        .expect("dialog 1")
        .clone();
    let injected = stack
        .sip
        .stack()
        .dialogs
        .send(InjectDialogPanic { id: victim.clone() })
        .await
        .expect("supervisor alive");
    assert!(injected);
    wait_for_events(&stack.events, "dlg-1", "child_failed event", |evs| {
        evs.iter().any(|e| {
            e.kind.as_deref() == Some("child_failed")
                && e.dialog.as_deref() == Some(victim.to_string().as_str())
        })
    })
    .await;
    assert_eq!(
        sample(&stack.metrics, "sip_actor_failures_total{actor=\"dialog\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&stack.metrics, "sip_dialogs_active"), Some(1.0));

    // The failed dialog is forgotten: its BYE gets 481. The other one ends normally.
    peer.send(&peer.request_in("BYE", "dlg-1", "dlg-1-bye", &tags[0], 2, NO_BODY))
        .await;
    peer.expect(481, "BYE").await;
    peer.send(&peer.request_in("BYE", "dlg-2", "dlg-2-bye", &tags[1], 2, NO_BODY))
        .await;
    peer.expect(200, "BYE").await;
    peer.expect_silence(Duration::from_millis(4 * T1_MS)).await;
    assert_eq!(sample(&stack.metrics, "sip_dialogs_active"), Some(0.0));
    assert_eq!(
        sample(
            &stack.metrics,
            "sip_actor_failures_total{actor=\"transaction\"}"
        ),
        Some(0.0)
    );
    stack.sip.shutdown().await;
}

/// A binding of `aor` to a UDP peer at `peer`, registered through our socket `local`.
fn binding(aor: &str, peer: std::net::SocketAddr, local: std::net::SocketAddr) -> Binding {
    let now = switchboard::registrar::unix_now();
    Binding {
        aor: aor.into(),
        contact: format!("sip:{aor}@{peer}").into(),
        q_milli: None,
        expires_at: now.plus_secs(3600),
        call_id: "restored".into(),
        cseq: 1,
        path: Vec::new(),
        user_agent: None,
        instance_id: None,
        reg_id: None,
        flow: BindingFlow {
            transport: FlowTransport::Udp,
            local,
            source: peer,
        },
        registered_at: now,
        refreshed_at: now,
        reachability: Reachability::Reachable,
        last_seen: now,
        qualify: Default::default(),
    }
}

#[actix_rt::test]
async fn a_panicking_call_is_torn_down_recorded_and_other_calls_carry_on() {
    let listen = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe a port");
        probe.local_addr().expect("addr")
    };
    let callee = Peer::new(listen).await;
    let registrar = RegistrarSetup {
        restored: vec![binding("bob", callee.local, listen)],
        ..RegistrarSetup::default()
    };
    let stack = start_with(50, listen, registrar);
    let caller = Peer::new(stack.addr).await;

    // alice calls bob; bob's phone rings.
    let invite = caller.invite("call-1").replace("sip:echo@", "sip:bob@");
    caller.send(&invite).await;
    let (to_bob, _) = callee.expect_request("INVITE", 0).await;
    callee.reply(&to_bob, 180).await;
    caller.expect(180, "INVITE").await;

    let injected = stack
        .sip
        .stack()
        .user_agent
        .send(InjectCallPanic {
            call_id: "call-1".to_owned(),
        })
        .await
        .expect("user agent alive");
    assert!(injected);

    // The call is torn down: the caller gets 500, the ringing callee a CANCEL.
    caller.expect(500, "INVITE").await;
    let (cancel, _) = callee.expect_request("CANCEL", 0).await;
    assert!(cancel.contains("CSeq: 1 CANCEL"), "{cancel}");
    wait_for_events(&stack.events, "call-1", "child_failed event", |evs| {
        evs.iter()
            .any(|e| e.kind.as_deref() == Some("child_failed"))
    })
    .await;
    assert_eq!(
        sample(&stack.metrics, "sip_actor_failures_total{actor=\"call\"}"),
        Some(1.0)
    );

    // Nothing else noticed: the next call to bob goes out as usual.
    let invite = caller.invite("call-2").replace("sip:echo@", "sip:bob@");
    caller.send(&invite).await;
    let (to_bob, _) = callee.expect_request("INVITE", 0).await;
    callee.reply(&to_bob, 486).await;
    caller.expect(486, "INVITE").await;
    stack.sip.shutdown().await;
}
