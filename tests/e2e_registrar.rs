//! End-to-end: REGISTER against the real binary — digest authentication with SHA-256 and MD5
//! (our RFC-written client and SIPp), the §10.3 rules, replay and stale nonces, the lockout,
//! RFC 4475's REGISTER torture messages once authenticated, and bindings kept across a
//! restart.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::digest_client::{
    Authorization, DigestAlgorithm, DigestClient, challenges_of, pick_challenge,
};
use support::registrar::{
    admin, events, metric, provision, registrations, server_dir, start, wait_for, wait_for_event,
};
use support::{LOOPBACK, SipMessage, Sipp, new_branch, repo_root, sipp_scenario};

/// Users of tests/sipp/register_users.csv (the SIPp scenarios' injection file).
const SIPP_USERS: [(&str, &str, Option<&str>); 3] = [
    ("regalice", "Alice-pass-1", Some("register-tests")),
    ("regbob", "Bob-pass-2", Some("register-tests")),
    ("regcarol", "Carol-pass-3", Some("register-tests")),
];

/// SIPp 3.6.1 answers only the first challenge, and only MD5: offer MD5 first to it.
const MD5_FIRST: &str = "[registrar]\ndigest_algorithms = [\"MD5\", \"SHA-256\"]\n";

/// A SIPp REGISTER scenario for the users of tests/sipp/register_users.csv: `calls` calls,
/// bounded by `timeout`, with `extra` arguments; panics with SIPp's report unless every call
/// succeeded (exit code 0).
fn run_register_scenario(
    server: &support::Server,
    scenario: &str,
    calls: u32,
    timeout: Duration,
    extra: &[&str],
) {
    let users = repo_root().join("tests/sipp/register_users.csv");
    let mut sipp = Sipp::new(sipp_scenario(scenario))
        .calls(calls)
        .timeout(timeout)
        .arg("-inf")
        .arg(users.display().to_string())
        // A failed call would otherwise end with a BYE nobody expects.
        .arg("-default_behaviors")
        .arg("all,-bye");
    for a in extra {
        sipp = sipp.arg(*a);
    }
    let outcome = sipp.run(server.sip_addr);
    assert!(outcome.success(), "{scenario}: {}", outcome.report());
}

fn www_authenticate(msg: &SipMessage) -> Vec<String> {
    msg.header_all("WWW-Authenticate")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sha256_and_md5_registrations_are_listed_and_removed_with_contact_star() {
    let dir = server_dir("reg-digest");
    provision(
        &dir,
        &[
            ("alice", "alice-secret", Some("desk")),
            ("bob", "bob-secret", None),
        ],
    );
    let server = start(&dir, "");

    let mut alice = DigestClient::new(server.sip_addr, "alice", "alice-secret");
    let contact = alice.default_contact();
    let ok = alice.register(&contact, 600, DigestAlgorithm::Sha256);
    ok.expect_status(200);
    // The 401 offers SHA-256 first, then MD5, both with qop=auth (RFC 8760 §2.4).
    let first = ok.first_response.as_ref().expect("a 401 came first");
    assert_eq!(first.status(), Some(401));
    let challenges = www_authenticate(first);
    assert_eq!(challenges.len(), 2, "{}", first.raw);
    assert!(
        challenges[0].contains("algorithm=SHA-256"),
        "{}",
        challenges[0]
    );
    assert!(challenges[1].contains("algorithm=MD5"), "{}", challenges[1]);
    assert!(challenges.iter().all(|c| c.contains("qop=\"auth\"")));
    // The 200 lists the binding with its remaining time, and a Date.
    let listed = ok.contacts().join(",");
    assert!(
        listed.contains(&format!("sip:alice@{}", alice.local_addr())),
        "{listed}"
    );
    assert!(
        listed.contains("expires=600") || listed.contains("expires=599"),
        "{listed}"
    );
    assert!(ok.response.header("Date").is_some(), "{}", ok.text());

    let mut bob = DigestClient::new(server.sip_addr, "bob", "bob-secret");
    let bob_contact = bob.default_contact();
    bob.register(&bob_contact, 600, DigestAlgorithm::Md5)
        .expect_status(200);

    let alice_bindings = registrations(&server, "alice");
    assert_eq!(alice_bindings.len(), 1, "{alice_bindings:?}");
    assert_eq!(alice_bindings[0]["source"], alice.local_addr().to_string());
    assert_eq!(alice_bindings[0]["transport"], "udp");
    assert_eq!(
        alice_bindings[0]["user_agent"],
        "switchboard-e2e-digest-client"
    );
    assert_eq!(registrations(&server, "bob").len(), 1);
    wait_for_event(&server, "endpoint_registered", "alice");

    // Contact: * with Expires: 0 removes every binding; the 200 lists none.
    let gone = alice.unregister_all(DigestAlgorithm::Sha256);
    gone.expect_status(200);
    assert!(gone.contacts().is_empty(), "{}", gone.text());
    assert!(registrations(&server, "alice").is_empty());
    assert_eq!(registrations(&server, "bob").len(), 1, "bob is untouched");
    wait_for_event(&server, "endpoint_unregistered", "alice");
    assert_eq!(
        metric(
            &server,
            "sip_registrar_registrations_total{result=\"unregistered\"}"
        ),
        Some(1.0)
    );

    // What the operators see: the store is written within a flush interval.
    wait_for(
        &server,
        Duration::from_secs(5),
        "bob registered in endpoint list",
        || {
            let list = admin(&dir, &["endpoint", "list"]);
            list.lines()
                .any(|l| l.starts_with("bob ") && l.contains(" registered "))
                .then_some(())
        },
    );
    let groups = admin(&dir, &["endpoint", "groups"]);
    assert!(
        groups
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["desk", "1", "0", "0", "1"]),
        "{groups}"
    );
}

#[test]
fn registration_rules_423_several_contacts_by_q_and_out_of_order_cseq() {
    let dir = server_dir("reg-rules");
    provision(&dir, &[("carol", "carol-secret", None)]);
    let server = start(
        &dir,
        "[registrar]\nmin_expires = 60\nmax_expires = 300\ndefault_expires = 300\n",
    );
    let mut carol = DigestClient::new(server.sip_addr, "carol", "carol-secret");

    // Below min_expires: 423 with Min-Expires, nothing bound.
    let brief = carol.register(&carol.default_contact(), 30, DigestAlgorithm::Sha256);
    brief.expect_status(423);
    assert_eq!(brief.response.header("Min-Expires"), Some("60"));
    assert!(registrations(&server, "carol").is_empty());

    // Two contacts with q-values; above max_expires is shortened to it.
    let two = "<sip:carol@127.0.0.1:5071>;q=0.4, <sip:carol@127.0.0.1:5072>;q=0.9";
    let ok = carol.register(two, 1000, DigestAlgorithm::Sha256);
    ok.expect_status(200);
    let listed = ok.contacts().join(",");
    assert!(
        listed.contains("5071") && listed.contains("5072"),
        "{listed}"
    );
    assert!(
        listed.contains("expires=300"),
        "clamped to max_expires: {listed}"
    );
    let bindings = registrations(&server, "carol");
    let order: Vec<&str> = bindings
        .iter()
        .filter_map(|b| b["contact"].as_str())
        .collect();
    assert_eq!(
        order,
        ["sip:carol@127.0.0.1:5072", "sip:carol@127.0.0.1:5071"],
        "highest q first"
    );

    // §10.3 step 7: the same Call-ID with a CSeq not above the binding's fails (500).
    let challenge = carol.send_register(None, None, None);
    let challenges = challenges_of(&challenge);
    let picked = pick_challenge(&challenges, DigestAlgorithm::Sha256).expect("SHA-256 offered");
    let auth = carol.authorize(picked, "REGISTER");
    let stale_cseq = format!(
        "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:carol@{host}>;tag=x1\r\nTo: <sip:carol@{host}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <sip:carol@127.0.0.1:5071>;q=0.4\r\n\
         {auth}\r\nContent-Length: 0\r\n\r\n",
        server = server.sip_addr,
        local = carol.local_addr(),
        branch = new_branch(),
        host = server.sip_addr.ip(),
        call_id = carol.call_id,
        auth = auth.header_line(),
    );
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("udp socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket
        .send_to(stale_cseq.as_bytes(), server.sip_addr)
        .expect("send");
    let mut buf = [0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf).expect("a response");
    let reply = SipMessage::parse(&buf[..n]);
    assert_eq!(reply.status(), Some(500), "{}", reply.raw);
    assert_eq!(registrations(&server, "carol").len(), 2, "nothing changed");
}

#[test]
fn replayed_nonce_counts_and_wrong_users_are_refused_and_stale_nonces_say_so() {
    let dir = server_dir("reg-replay");
    provision(
        &dir,
        &[("dave", "dave-secret", None), ("erin", "erin-secret", None)],
    );
    let server = start(&dir, "[registrar]\nnonce_lifetime_secs = 10\n");
    let mut dave = DigestClient::new(server.sip_addr, "dave", "dave-secret");
    let contact = dave.default_contact();
    let ok = dave.register(&contact, 600, DigestAlgorithm::Sha256);
    ok.expect_status(200);

    // The same credentials again (same nonce, nc and cnonce): a replay, refused with 401.
    let used: Authorization = ok.authorization.clone().expect("credentials were sent");
    let replayed = dave.replay(&used, Some(&contact), Some(600));
    assert_eq!(replayed.status(), Some(401), "{}", replayed.raw);
    assert_eq!(
        metric(
            &server,
            "sip_registrar_auth_failures_total{reason=\"replay\"}"
        ),
        Some(1.0)
    );

    // The next nonce count on the same nonce is fine.
    let challenge = ok.challenge.clone().expect("challenge");
    dave.register_with(Some(&contact), Some(600), &challenge)
        .expect_status(200);

    // erin's credentials may not register dave's address-of-record.
    let mut mallory = DigestClient::new(server.sip_addr, "erin", "erin-secret");
    mallory.domain = server.sip_addr.ip().to_string();
    let first = mallory.send_register(Some(&contact), Some(600), None);
    let picked = pick_challenge(&challenges_of(&first), DigestAlgorithm::Md5)
        .expect("MD5 offered")
        .clone();
    let auth = mallory.authorize(&picked, "REGISTER");
    let line = auth.header_line();
    let mut as_dave = DigestClient::new(server.sip_addr, "dave", "unused");
    let refused = as_dave.send_register(Some(&contact), Some(600), Some(&line));
    assert_eq!(refused.status(), Some(403), "{}", refused.raw);

    // After the nonce's lifetime, the right password on the old nonce gets stale=true.
    std::thread::sleep(Duration::from_secs(11));
    let stale = dave.register_with(Some(&contact), Some(600), &challenge);
    assert_eq!(stale.status, 401, "{}", stale.text());
    let fresh = www_authenticate(&stale.response);
    assert!(fresh.iter().all(|c| c.contains("stale=true")), "{fresh:?}");
    let retry = challenges_of(&stale.response);
    let retry = pick_challenge(&retry, DigestAlgorithm::Sha256)
        .expect("SHA-256")
        .clone();
    dave.register_with(Some(&contact), Some(600), &retry)
        .expect_status(200);
    // None of this locked anyone out.
    assert_eq!(metric(&server, "sip_registrar_lockouts_total"), Some(0.0));
}

#[test]
fn wrong_passwords_get_401_then_the_source_is_locked_out_even_with_the_right_one() {
    let dir = server_dir("reg-lockout");
    provision(&dir, &[("frank", "frank-secret", None)]);
    let server = start(
        &dir,
        "[registrar.lockout]\nmax_failures = 3\nwindow_secs = 60\nlockout_secs = 60\n",
    );
    let mut wrong = DigestClient::new(server.sip_addr, "frank", "not-his-password");
    let contact = wrong.default_contact();
    for attempt in 1..=3 {
        let r = wrong.register(&contact, 600, DigestAlgorithm::Sha256);
        assert_eq!(r.status, 401, "attempt {attempt}: {}", r.text());
    }
    let locked = wrong.register(&contact, 600, DigestAlgorithm::Sha256);
    assert_eq!(locked.status, 403, "{}", locked.text());
    let mut right = DigestClient::new(server.sip_addr, "frank", "frank-secret");
    let refused = right.send_register(Some(&contact), Some(600), None);
    assert_eq!(
        refused.status(),
        Some(403),
        "locked out before any challenge: {}",
        refused.raw
    );
    assert!(registrations(&server, "frank").is_empty());

    assert_eq!(metric(&server, "sip_registrar_lockouts_total"), Some(1.0));
    assert_eq!(
        metric(
            &server,
            "sip_registrar_auth_failures_total{reason=\"wrong_password\"}"
        ),
        Some(4.0)
    );
    let lockout = wait_for(
        &server,
        Duration::from_secs(5),
        "an auth_lockout event",
        || {
            let v = support::registrar::get_json(&server, "/api/v1/events?limit=10000");
            v["events"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == "auth_lockout")
                .cloned()
        },
    );
    assert_eq!(lockout["detail"]["source"], "127.0.0.1");
    assert_eq!(lockout["detail"]["user"], "frank");
    assert!(server.log().contains("security_event=\"auth_lockout\""));
}

#[test]
fn sipp_registers_unregisters_and_registers_two_contacts_with_md5() {
    let dir = server_dir("reg-sipp");
    provision(&dir, &SIPP_USERS);
    let server = start(&dir, MD5_FIRST);
    // One call per user, each must succeed.
    let run = |scenario: &str| {
        run_register_scenario(&server, scenario, 3, Duration::from_secs(20), &[]);
    };
    run("register_auth.xml");
    for (user, _, _) in SIPP_USERS {
        let b = registrations(&server, user);
        assert_eq!(b.len(), 1, "{user}: {b:?}");
        assert_eq!(b[0]["user_agent"], "SIPp switchboard-e2e");
    }
    run("register_unregister.xml");
    for (user, _, _) in SIPP_USERS {
        assert!(
            registrations(&server, user).is_empty(),
            "{user} unregistered"
        );
        assert!(!events(&server, "endpoint_unregistered", user).is_empty());
    }
    // Two contacts bound in one REGISTER (the scenario checks the 200 lists both with their
    // q), then both removed with expires=0.
    run("register_multi_contact.xml");
    for (user, _, _) in SIPP_USERS {
        assert!(
            registrations(&server, user).is_empty(),
            "{user}: both removed"
        );
        // register_auth, register_unregister (which registers first), then two at once.
        let registered = events(&server, "endpoint_registered", user);
        assert_eq!(registered.len(), 4, "{user}: {registered:?}");
        // Contact: * removed register_auth's binding and its own; then the two.
        assert_eq!(events(&server, "endpoint_unregistered", user).len(), 4);
    }
}

#[test]
fn sipp_short_registrations_get_423_then_expire_on_time() {
    let dir = server_dir("reg-expiry");
    provision(&dir, &SIPP_USERS);
    let server = start(
        &dir,
        "[registrar]\ndigest_algorithms = [\"MD5\", \"SHA-256\"]\nmin_expires = 3\ndefault_expires = 3\n",
    );
    run_register_scenario(
        &server,
        "register_expiry.xml",
        3,
        Duration::from_secs(60),
        &[],
    );
    for (user, _, _) in SIPP_USERS {
        assert!(registrations(&server, user).is_empty());
        wait_for_event(&server, "registration_expired", user);
    }
    assert!(
        metric(
            &server,
            "sip_registrar_registrations_total{result=\"expired\"}"
        )
        .unwrap_or(0.0)
            >= 3.0
    );
}

#[test]
fn sipp_wrong_passwords_lead_to_the_lockout() {
    let dir = server_dir("reg-sipp-lockout");
    provision(&dir, &SIPP_USERS);
    let server = start(
        &dir,
        "[registrar]\ndigest_algorithms = [\"MD5\"]\n[registrar.lockout]\nmax_failures = 4\n",
    );
    // One call: the lockout is per source, and every call comes from the same one.
    run_register_scenario(
        &server,
        "register_wrong_password.xml",
        1,
        Duration::from_secs(30),
        &["-set", "max_failures", "4"],
    );
    assert_eq!(metric(&server, "sip_registrar_lockouts_total"), Some(1.0));
}

/// One RFC 4475 REGISTER, sent from `socket` with our Via (the file's names a host we cannot
/// answer on) and, when given, an Authorization header line.
fn torture_register(
    name: &str,
    socket: &UdpSocket,
    server: std::net::SocketAddr,
    auth: Option<&str>,
) -> SipMessage {
    let path = repo_root()
        .join("services/sip/testdata/conformance/rfc4475/messages")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(bytes).expect("the REGISTER torture files are text");
    let local = socket.local_addr().expect("local address");
    let mut out = String::new();
    let mut auth = auth;
    for line in text.split_inclusive('\n') {
        let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
        if line.starts_with("Via:") {
            out.push_str(&format!(
                "Via: SIP/2.0/UDP {local};branch={};rport{eol}",
                new_branch()
            ));
        } else if line.trim_end().is_empty() && auth.is_some() {
            out.push_str(auth.take().unwrap_or_default());
            out.push_str(eol);
            out.push_str(line);
        } else {
            out.push_str(line);
        }
    }
    socket.send_to(out.as_bytes(), server).expect("send");
    let mut buf = [0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    SipMessage::parse(&buf[..n])
}

#[test]
fn rfc4475_register_messages_are_bound_as_written_once_authenticated() {
    let dir = server_dir("reg-rfc4475");
    provision(
        &dir,
        &[("watson", "watson-pw", None), ("user", "user-pw", None)],
    );
    let server = start(&dir, "");
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("udp");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // cparam01's unknownparam is a Contact header parameter (no angle brackets), so the URI
    // is bound without it; cparam02's is inside <>, a URI parameter kept in the binding;
    // regescrt's escaped Route header stays in the contact URI (RFC 4475 §3.3.12-14).
    for (file, user, password, contact) in [
        (
            "cparam01.dat",
            "watson",
            "watson-pw",
            "sip:+19725552222@gw1.example.net",
        ),
        (
            "cparam02.dat",
            "watson",
            "watson-pw",
            "sip:+19725552222@gw1.example.net;unknownparam",
        ),
        (
            "regescrt.dat",
            "user",
            "user-pw",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        ),
    ] {
        let challenge = torture_register(file, &socket, server.sip_addr, None);
        assert_eq!(challenge.status(), Some(401), "{file}: {}", challenge.raw);
        let picked = pick_challenge(&challenges_of(&challenge), DigestAlgorithm::Sha256)
            .expect("SHA-256")
            .clone();
        let mut client = DigestClient::new(server.sip_addr, user, password);
        client.request_uri = "sip:example.com".to_owned();
        let auth = client.authorize(&picked, "REGISTER").header_line();
        let ok = torture_register(file, &socket, server.sip_addr, Some(&auth));
        assert_eq!(ok.status(), Some(200), "{file}: {}", ok.raw);
        assert!(
            ok.raw.contains(contact),
            "{file}: the 200 lists {contact}: {}",
            ok.raw
        );
        let bindings = registrations(&server, user);
        assert_eq!(bindings.len(), 1, "{file}: {bindings:?}");
        assert_eq!(bindings[0]["contact"], contact, "{file}");
        // Start the next file from no binding (the cparam URIs are equivalent, RFC 3261
        // §19.1.4, so the second would refresh the first).
        let mut remover = DigestClient::new(server.sip_addr, user, password);
        remover.domain = "example.com".to_owned();
        remover
            .unregister_all(DigestAlgorithm::Sha256)
            .expect_status(200);
        assert!(registrations(&server, user).is_empty(), "{file}");
    }
}

#[test]
fn a_restart_keeps_the_bindings() {
    let dir = server_dir("reg-restart");
    provision(&dir, &[("grace", "grace-secret", None)]);
    let mut first = start(&dir, "");
    let mut grace = DigestClient::new(first.sip_addr, "grace", "grace-secret");
    let contact = grace.default_contact();
    grace
        .register(&contact, 3600, DigestAlgorithm::Sha256)
        .expect_status(200);
    let before = registrations(&first, "grace");
    assert_eq!(before.len(), 1);
    let status = first.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "clean stop: {status:?}"
    );

    let second = start(&dir, "");
    let after = registrations(&second, "grace");
    assert_eq!(after.len(), 1, "{after:?}\n{}", second.log());
    assert_eq!(after[0]["contact"], before[0]["contact"]);
    assert_eq!(after[0]["source"], before[0]["source"]);
    assert_eq!(after[0]["call_id"], before[0]["call_id"]);
    assert!(after[0]["expires_in"].as_u64().is_some_and(|s| s > 3500));
    assert!(second.log().contains("restored=1"));
    let list = admin(&dir, &["endpoint", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("grace ") && l.contains(" registered ")),
        "{list}"
    );
}
