//! Dialog actors, in-process: requests within an echo call go through the dialog's checks
//! (RFC 3261 §12.2.2, §14.2), and a 2xx that gets no ACK is retransmitted until 64*T1, then
//! the dialog sends BYE through a non-INVITE client transaction and ends (§13.3.1.4).

mod common;

use std::time::Duration;

use common::{
    NO_BODY, Peer, T1_MS, events_of, is_transition, sample, start, to_tag, wait_for_events,
};

/// The value of header `name` in a message, if present.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[actix_rt::test]
async fn requests_in_a_dialog_go_through_its_cseq_checks() {
    let stack = start(20);
    let peer = Peer::new(stack.addr).await;
    let id = "indialog";
    peer.send(&peer.invite(id)).await;
    let ok = peer.expect(200, "INVITE").await;
    let tag = to_tag(&ok);
    peer.send(&peer.request_in("ACK", id, "in-ack", &tag, 1, NO_BODY))
        .await;

    // A re-INVITE whose CSeq is not above the last one: 500 with Retry-After (§12.2.2).
    peer.send(&peer.request_in("INVITE", id, "in-reinv-old", &tag, 1, NO_BODY))
        .await;
    let stale = peer.expect(500, "INVITE").await;
    assert!(header(&stale, "Retry-After").is_some(), "{stale}");
    peer.send(&peer.request_in("ACK", id, "in-reinv-old", &tag, 1, NO_BODY))
        .await;

    // An in-order re-INVITE: 488 with a 399 Warning (media changes come later).
    peer.send(&peer.request_in("INVITE", id, "in-reinv", &tag, 3, NO_BODY))
        .await;
    let refused = peer.expect(488, "INVITE").await;
    assert!(
        header(&refused, "Warning").is_some_and(|w| w.starts_with("399 ")),
        "{refused}"
    );
    peer.send(&peer.request_in("ACK", id, "in-reinv", &tag, 3, NO_BODY))
        .await;

    // An INFO without a body is 200 (RFC 6086; DTMF bodies are tested end to end in
    // tests/e2e_dtmf_info.rs); OPTIONS in the dialog gets 200.
    peer.send(&peer.request_in("INFO", id, "in-info", &tag, 4, NO_BODY))
        .await;
    peer.expect(200, "INFO").await;
    peer.send(&peer.request_in("OPTIONS", id, "in-options", &tag, 5, NO_BODY))
        .await;
    peer.expect(200, "OPTIONS").await;
    // An OPTIONS with an old CSeq is out of order too.
    peer.send(&peer.request_in("OPTIONS", id, "in-options-old", &tag, 5, NO_BODY))
        .await;
    peer.expect(500, "OPTIONS").await;

    // BYE ends the dialog; a later request in it gets 481.
    peer.send(&peer.request_in("BYE", id, "in-bye", &tag, 6, NO_BODY))
        .await;
    peer.expect(200, "BYE").await;
    wait_for_events(&stack.events, id, "dialog terminated", |evs| {
        evs.iter().any(|e| {
            is_transition(e, "state", "confirmed", "terminated")
                && e.cause.as_deref() == Some("BYE received")
        })
    })
    .await;
    peer.send(&peer.request_in("BYE", id, "in-bye-again", &tag, 7, NO_BODY))
        .await;
    peer.expect(481, "BYE").await;
    assert_eq!(sample(&stack.metrics, "sip_dialogs_active"), Some(0.0));
    stack.sip.shutdown().await;
}

#[actix_rt::test]
async fn a_2xx_without_ack_is_retransmitted_until_64_t1_then_the_dialog_sends_bye() {
    let stack = start(20);
    let peer = Peer::new(stack.addr).await;
    let id = "noack";
    peer.send(&peer.invite(id)).await;
    let started = std::time::Instant::now();
    peer.expect(200, "INVITE").await;

    // No ACK: the 200 comes again (T1, 2*T1, … capped at T2), then after 64*T1 a BYE.
    let (bye, retransmitted) = peer.expect_request("BYE", 200).await;
    let elapsed = started.elapsed();
    let timeout = Duration::from_millis(64 * T1_MS);
    assert!(elapsed >= timeout, "BYE after {elapsed:?}, before 64*T1");
    assert!(
        retransmitted >= 5,
        "only {retransmitted} retransmissions of the 200"
    );
    assert_eq!(header(&bye, "Call-ID"), Some(id));
    assert_eq!(header(&bye, "CSeq"), Some("1 BYE"), "{bye}");
    peer.reply(&bye, 200).await;

    let events = {
        wait_for_events(&stack.events, id, "BYE transaction completed", |evs| {
            evs.iter().any(|e| {
                is_transition(e, "state", "Trying", "Completed")
                    && e.method.as_deref() == Some("BYE")
                    && e.status == Some(200)
            })
        })
        .await;
        events_of(&stack.events, id)
    };
    let ended = events
        .iter()
        .find(|e| is_transition(e, "state", "confirmed", "terminated"))
        .expect("the dialog ended");
    assert_eq!(ended.cause.as_deref(), Some("no ACK"));
    // The BYE went through a non-INVITE client transaction.
    assert!(events.iter().any(|e| {
        e.kind.as_deref() == Some("created")
            && e.detail
                .as_ref()
                .is_some_and(|d| d["kind"] == "non_invite_client")
    }));
    let retransmissions = events
        .iter()
        .filter(|e| e.layer.as_str() == "dialog" && e.kind.as_deref() == Some("retransmission"))
        .count();
    assert_eq!(retransmissions, retransmitted);
    assert!(
        sample(
            &stack.metrics,
            "sip_retransmissions_total{direction=\"out\"}"
        )
        .is_some_and(|n| n >= retransmitted as f64)
    );
    assert_eq!(sample(&stack.metrics, "sip_dialogs_active"), Some(0.0));
    stack.sip.shutdown().await;
}
