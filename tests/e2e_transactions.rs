//! End-to-end: transactions and dialogs of the real binary under loss, driven by SIPp over
//! UDP (RFC 3261 §17, §12, §13.3.1.4).
//!
//! Each test starts `switchboard serve` with a small config (T1 500 ms, an echo answer delay
//! that suits the case), runs one scenario from `tests/sipp/` with SIPp's own
//! retransmissions off (`-nr`: every loss and resend is explicit in the scenario, so the
//! runs are deterministic) and a known Call-ID, then reads that Call-ID's transitions from
//! `GET /api/v1/events?since=0` and the counters from `GET /metrics`.
//!
//! Everything binds and advertises 127.0.0.1 only; every wait is bounded.

mod support;

use support::api::{events_of, get_ok};

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, Sipp, SippTransport};

/// How long one HTTP exchange, or waiting for an event, may take.
const WAIT: Duration = Duration::from_secs(5);

/// Starts a server with T1 = 500 ms (the default) and this echo answer delay.
fn start_server(answer_delay_ms: u64) -> Server {
    let dir = support::scratch_dir("config");
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            "[sip.timers]\nt1_ms = 500\nt2_ms = 4000\nt4_ms = 5000\n\n\
             [echo]\nanswer_delay_ms = {answer_delay_ms}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let config = path.display().to_string();
    Server::start_with(&["--config", &config], &[])
}

/// Runs `scenario` over UDP for one call with Call-ID `call_id`; fails the test unless SIPp
/// exits 0.
fn run_sipp(server: &Server, scenario: &str, call_id: &str) {
    run_sipp_over(server, scenario, call_id, SippTransport::Udp);
}

/// [`run_sipp`] over `transport`.
fn run_sipp_over(server: &Server, scenario: &str, call_id: &str, transport: SippTransport) {
    let outcome = Sipp::new(support::sipp_scenario(scenario))
        .transport(transport)
        .calls(1)
        .timeout(Duration::from_secs(30))
        .arg("-nr")
        .arg("-cid_str")
        .arg(call_id)
        .run(server.sip_addr);
    if !outcome.success() {
        server.fail(&format!(
            "sipp {scenario} did not complete its call\n{}",
            outcome.report()
        ));
    }
}

/// A unique Call-ID for this run (SIPp's `-cid_str` takes it as is).
fn call_id(label: &str) -> String {
    format!("{label}-{}", support::unique_token())
}

/// Waits (bounded) until `check` holds on the Call-ID's events, and returns them.
fn wait_for_events(server: &Server, call_id: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = events_of(server, call_id);
        if check(&events) {
            return events;
        }
        if Instant::now() >= deadline {
            server.fail(&format!(
                "the events of {call_id} never showed what the test waits for:\n{}",
                serde_json::to_string_pretty(&events).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of a sample line of `/metrics` (name and labels exactly); 0 for a labelled
/// series never counted (Prometheus client libraries only export those once touched).
fn metric(server: &Server, series: &str) -> f64 {
    let text = get_ok(server, "/metrics");
    let name = series.split('{').next().unwrap_or(series);
    if !text.contains(&format!("# TYPE {name} ")) {
        server.fail(&format!("/metrics has no {name}:\n{text}"));
    }
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Whether `e` is a transition of `layer` from `from` to `to` (`None`: a creation).
fn transition(e: &Value, layer: &str, from: Option<&str>, to: &str) -> bool {
    e["layer"] == layer && e["from_state"].as_str() == from && e["to_state"] == to
}

/// Whether the events hold a transition of `layer` (for transactions, of `method`).
fn has(events: &[Value], layer: &str, method: Option<&str>, from: Option<&str>, to: &str) -> bool {
    events.iter().any(|e| {
        transition(e, layer, from, to) && method.is_none_or(|m| e["method"].as_str() == Some(m))
    })
}

/// The one event matching, failing the test (with the events) otherwise.
fn the<'a>(
    server: &Server,
    events: &'a [Value],
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| pick(e)).collect();
    if found.len() != 1 {
        server.fail(&format!(
            "expected exactly one {what}, found {}:\n{}",
            found.len(),
            serde_json::to_string_pretty(events).unwrap_or_default()
        ));
    }
    found[0]
}

/// The dialog of a call goes early → confirmed → terminated by the caller's BYE.
fn assert_echo_dialog_lifecycle(server: &Server, events: &[Value]) {
    let created = the(server, events, "dialog creation", |e| {
        transition(e, "dialog", None, "early")
    });
    assert_eq!(created["cause"], "provisional 180", "{created}");
    let confirmed = the(server, events, "dialog confirmation", |e| {
        transition(e, "dialog", Some("early"), "confirmed")
    });
    assert_eq!(confirmed["cause"], "answered 200", "{confirmed}");
    let ended = the(server, events, "dialog termination", |e| {
        transition(e, "dialog", Some("confirmed"), "terminated")
    });
    assert_eq!(ended["cause"], "BYE received", "{ended}");
    let seq = |e: &Value| e["seq"].as_u64().unwrap_or_default();
    assert!(seq(created) < seq(confirmed) && seq(confirmed) < seq(ended));
}

#[test]
fn echo_call_completes_despite_a_lost_invite_200_and_ack_with_the_right_retransmissions() {
    let server = start_server(200);
    let id = call_id("lossy");
    run_sipp(&server, "echo_lossy_call.xml", &id);

    let events = wait_for_events(&server, &id, |evs| {
        has(evs, "dialog", None, Some("confirmed"), "terminated")
            && has(evs, "transaction", Some("BYE"), Some("Trying"), "Completed")
    });
    // The INVITE server transaction: Proceeding, then Accepted by the 200 (RFC 6026).
    assert!(has(
        &events,
        "transaction",
        Some("INVITE"),
        None,
        "Proceeding"
    ));
    let accepted = the(&server, &events, "INVITE Proceeding → Accepted", |e| {
        transition(e, "transaction", Some("Proceeding"), "Accepted")
    });
    assert_eq!(accepted["status"], 200, "{accepted}");
    assert_echo_dialog_lifecycle(&server, &events);

    // The 200 was retransmitted exactly twice (after the "lost" 200 and the lost ACK),
    // and not once after the ACK.
    let ack = the(&server, &events, "ack_received", |e| {
        e["kind"] == "ack_received"
    });
    assert_eq!(ack["detail"]["retransmissions"], 2, "{ack}");
    let retransmissions: Vec<&Value> = events
        .iter()
        .filter(|e| e["layer"] == "dialog" && e["kind"] == "retransmission")
        .collect();
    assert_eq!(retransmissions.len(), 2, "{retransmissions:?}");
    assert!(
        retransmissions
            .iter()
            .all(|e| e["status"] == 200 && e["seq"].as_u64() < ack["seq"].as_u64()),
        "{retransmissions:?}"
    );
    assert_eq!(
        metric(&server, "sip_retransmissions_total{direction=\"out\"}"),
        2.0
    );
    assert_eq!(metric(&server, "sip_dialogs_active"), 0.0);
    let bye = the(&server, &events, "BYE Trying → Completed", |e| {
        transition(e, "transaction", Some("Trying"), "Completed")
    });
    assert_eq!(bye["status"], 200, "{bye}");
}

#[test]
fn a_retransmitted_bye_gets_the_same_200_from_the_completed_transaction() {
    let server = start_server(100);
    let id = call_id("byelost");
    run_sipp(&server, "echo_bye_response_lost.xml", &id);

    let events = wait_for_events(&server, &id, |evs| {
        evs.iter()
            .filter(|e| e["kind"] == "retransmission" && e["method"] == "BYE")
            .count()
            == 2
    });
    assert_echo_dialog_lifecycle(&server, &events);
    // One BYE transaction, completed by the 200, which it sent again for the second BYE.
    let created = the(&server, &events, "BYE transaction creation", |e| {
        transition(e, "transaction", None, "Trying") && e["method"] == "BYE"
    });
    let key = created["transaction"].clone();
    let completed = the(&server, &events, "BYE Trying → Completed", |e| {
        transition(e, "transaction", Some("Trying"), "Completed") && e["transaction"] == key
    });
    assert_eq!(completed["status"], 200, "{completed}");
    for direction in ["in", "out"] {
        let e = the(
            &server,
            &events,
            &format!("BYE retransmission {direction}"),
            |e| {
                e["kind"] == "retransmission"
                    && e["transaction"] == key
                    && e["detail"]["direction"] == direction
            },
        );
        assert_eq!(e["status"], 200, "{e}");
    }
    assert_eq!(
        metric(&server, "sip_retransmissions_total{direction=\"in\"}"),
        1.0
    );
    assert_eq!(
        metric(&server, "sip_retransmissions_total{direction=\"out\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &server,
            "sip_messages_out_total{method=\"BYE\",status_class=\"2xx\"}"
        ),
        2.0
    );
}

#[test]
fn cancel_before_the_answer_gets_487_and_200_and_the_ack_for_the_487_is_absorbed() {
    // The answer would come only after 10 s: the CANCEL arrives while the call rings.
    let server = start_server(10_000);
    let id = call_id("cancel");
    run_sipp(&server, "echo_cancel.xml", &id);

    let events = wait_for_events(&server, &id, |evs| {
        has(
            evs,
            "transaction",
            Some("INVITE"),
            Some("Completed"),
            "Confirmed",
        ) && has(
            evs,
            "transaction",
            Some("CANCEL"),
            Some("Trying"),
            "Completed",
        )
    });
    // INVITE server transaction: Proceeding → Completed (487) → Confirmed (the ACK).
    assert!(has(
        &events,
        "transaction",
        Some("INVITE"),
        None,
        "Proceeding"
    ));
    let completed = the(&server, &events, "INVITE Proceeding → Completed", |e| {
        transition(e, "transaction", Some("Proceeding"), "Completed") && e["method"] == "INVITE"
    });
    assert_eq!(completed["status"], 487, "{completed}");
    assert_eq!(completed["cause"], "CANCEL received", "{completed}");
    let confirmed = the(&server, &events, "INVITE Completed → Confirmed", |e| {
        transition(e, "transaction", Some("Completed"), "Confirmed")
    });
    assert_eq!(confirmed["cause"], "ACK received", "{confirmed}");
    // The CANCEL's own transaction answered 200.
    let cancel = the(&server, &events, "CANCEL Trying → Completed", |e| {
        transition(e, "transaction", Some("Trying"), "Completed") && e["method"] == "CANCEL"
    });
    assert_eq!(cancel["status"], 200, "{cancel}");
    // The early dialog of the 180 ended with the 487; it was never confirmed.
    assert!(has(&events, "dialog", None, None, "early"));
    let ended = the(&server, &events, "dialog termination", |e| {
        transition(e, "dialog", Some("early"), "terminated")
    });
    assert_eq!(ended["cause"], "rejected 487", "{ended}");
    assert!(!has(&events, "dialog", None, Some("early"), "confirmed"));
    assert!(metric(&server, "sip_acks_absorbed_total") >= 1.0);
    assert_eq!(
        metric(
            &server,
            "sip_messages_out_total{method=\"INVITE\",status_class=\"2xx\"}"
        ),
        0.0
    );
}

#[test]
fn cancel_over_tcp_ends_the_invite_transaction_without_lingering() {
    let server = start_server(10_000);
    let id = call_id("tcpcancel");
    run_sipp_over(&server, "echo_cancel.xml", &id, SippTransport::Tcp);

    // Over a reliable transport timer I is zero: Confirmed → Terminated at once, and the
    // CANCEL's transaction does not linger in Completed (timer J is zero too).
    let events = wait_for_events(&server, &id, |evs| {
        has(
            evs,
            "transaction",
            Some("INVITE"),
            Some("Confirmed"),
            "Terminated",
        ) && has(
            evs,
            "transaction",
            Some("CANCEL"),
            Some("Completed"),
            "Terminated",
        )
    });
    let completed = the(&server, &events, "INVITE Proceeding → Completed", |e| {
        transition(e, "transaction", Some("Proceeding"), "Completed") && e["method"] == "INVITE"
    });
    assert_eq!(completed["status"], 487, "{completed}");
    assert!(has(&events, "dialog", None, Some("early"), "terminated"));
    assert_eq!(
        metric(&server, "sip_retransmissions_total{direction=\"out\"}"),
        0.0
    );
}

#[test]
fn a_bye_for_an_unknown_dialog_gets_481() {
    let server = start_server(1_000);
    let id = call_id("nodialog");
    run_sipp(&server, "bye_unknown_dialog.xml", &id);

    let events = wait_for_events(&server, &id, |evs| {
        has(evs, "transaction", Some("BYE"), Some("Trying"), "Completed")
    });
    let completed = the(&server, &events, "BYE Trying → Completed", |e| {
        transition(e, "transaction", Some("Trying"), "Completed")
    });
    assert_eq!(completed["status"], 481, "{completed}");
    assert!(
        events.iter().all(|e| e["layer"] != "dialog"),
        "no dialog exists for this call: {events:?}"
    );
    assert_eq!(metric(&server, "sip_dialogs_active"), 0.0);
}

/// Huge pages made the first touch of the lingering transactions' memory a stall of about
/// 1.7 ms per 2 MiB on the benchmark machine (docs/PERFORMANCE.md, "Registrar"): the server
/// turns them off for itself at start.
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let server = start_server(0);
    let pid = server
        .pid()
        .unwrap_or_else(|| server.fail("the server has no process"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| server.fail(&format!("cannot read /proc/{pid}/status: {e}")));
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .unwrap_or_else(|| server.fail("this kernel's /proc/PID/status has no THP_enabled line (Linux 5.0 and later have it)"));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some("0"),
        "transparent huge pages are still on for the server: {line}"
    );
}
