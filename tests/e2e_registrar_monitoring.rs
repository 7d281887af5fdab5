//! End-to-end: the registrar watches its bindings — a phone that stops answering the qualify
//! OPTIONS goes offline (`endpoint_offline`) and comes back (`endpoint_online`); a TCP phone
//! whose connection closes goes offline at once, and its CRLF keep-alives are answered; a
//! real softphone (baresip, in a network namespace) registers, answers qualify, and goes
//! offline when it is killed.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::baresip::{Baresip, BaresipAccount};
use support::digest_client::{
    Authorization, DigestAlgorithm, DigestClient, challenges_of, pick_challenge,
};
use support::netns::TestNetns;
use support::registrar::{
    admin, metric, provision, registrations, server_dir, start, wait_for, wait_for_event,
};
use support::{Server, SipMessage, new_branch, read_sip_message, unique_token};

/// A 200 to an OPTIONS request (RFC 3261 §8.2.6: Via, From, To with a tag, Call-ID, CSeq).
fn ok_to(request: &SipMessage) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for via in request.header_all("Via") {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    for name in ["From", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", request.expect_header(name)));
    }
    out.push_str(&format!(
        "To: {};tag=phone\r\n",
        request.expect_header("To")
    ));
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// A phone's UDP socket answering OPTIONS while `answering` is set; counts what it answered.
fn answer_options(
    socket: UdpSocket,
    answering: Arc<AtomicBool>,
    answered: Arc<AtomicU32>,
    until: Instant,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut buf = [0u8; 65_535];
        while Instant::now() < until {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let msg = SipMessage::parse(&buf[..n]);
            if !msg.raw.starts_with("OPTIONS ") || !answering.load(Ordering::SeqCst) {
                continue;
            }
            if socket.send_to(ok_to(&msg).as_bytes(), from).is_ok() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }
    })
}

#[test]
fn a_phone_that_stops_answering_qualify_goes_offline_and_comes_back_online() {
    let dir = server_dir("reg-qualify");
    provision(&dir, &[("henry", "henry-secret", Some("floor-2"))]);
    let server = start(
        &dir,
        "[registrar]\nqualify_interval_secs = 1\nqualify_timeout_secs = 1\nqualify_failures = 2\n",
    );
    let mut phone = DigestClient::new(server.sip_addr, "henry", "henry-secret");
    let address = phone.local_addr();
    let contact = phone.default_contact();
    phone
        .register(&contact, 600, DigestAlgorithm::Sha256)
        .expect_status(200);
    // The phone's socket, now answering the registrar's OPTIONS (same address: the registrar
    // sends to where the REGISTER came from).
    drop(phone);
    let socket = UdpSocket::bind(address).expect("rebind the phone's address");
    let answering = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicU32::new(0));
    let phone = answer_options(
        socket,
        answering.clone(),
        answered.clone(),
        Instant::now() + Duration::from_secs(40),
    );

    wait_for(
        &server,
        Duration::from_secs(10),
        "two answered qualifies",
        || (answered.load(Ordering::SeqCst) >= 2).then_some(()),
    );
    assert_eq!(
        registrations(&server, "henry")[0]["reachability"],
        "reachable"
    );
    assert!(
        metric(&server, "sip_registrar_qualify_total{result=\"answered\"}").unwrap_or(0.0) >= 2.0
    );

    // The phone goes silent: after two unanswered qualifies it is offline.
    answering.store(false, Ordering::SeqCst);
    let offline = wait_for_event(&server, "endpoint_offline", "henry");
    assert_eq!(offline["from_state"], "reachable");
    assert_eq!(offline["to_state"], "unreachable");
    assert_eq!(offline["cause"], "qualify");
    assert_eq!(offline["detail"]["source"], address.to_string());
    assert_eq!(
        offline["detail"]["user_agent"],
        "switchboard-e2e-digest-client"
    );
    assert_eq!(
        registrations(&server, "henry")[0]["reachability"],
        "unreachable"
    );
    wait_for(
        &server,
        Duration::from_secs(8),
        "the unreachable gauge",
        || (metric(&server, "sip_registrar_unreachable_bindings") == Some(1.0)).then_some(()),
    );
    wait_for(
        &server,
        Duration::from_secs(5),
        "unreachable in endpoint list and groups",
        || {
            let list = admin(&dir, &["endpoint", "list"]);
            let groups = admin(&dir, &["endpoint", "groups"]);
            let listed = list
                .lines()
                .any(|l| l.starts_with("henry ") && l.contains(" unreachable "));
            let counted = groups.lines().any(|l| {
                l.split_whitespace().collect::<Vec<_>>() == ["floor-2", "1", "0", "1", "0"]
            });
            (listed && counted).then_some(())
        },
    );

    // It answers again: online.
    answering.store(true, Ordering::SeqCst);
    let online = wait_for_event(&server, "endpoint_online", "henry");
    assert_eq!(online["from_state"], "unreachable");
    assert_eq!(online["to_state"], "reachable");
    assert_eq!(
        registrations(&server, "henry")[0]["reachability"],
        "reachable"
    );
    drop(phone);
}

/// Sends `request` on `stream` and reads the answer, skipping requests the server sends.
fn tcp_transact(stream: &mut TcpStream, request: &str) -> SipMessage {
    stream.write_all(request.as_bytes()).expect("write");
    loop {
        let bytes = read_sip_message(stream, Duration::from_secs(5)).expect("a SIP message");
        let msg = SipMessage::parse(&bytes);
        if msg.status().is_some() {
            return msg;
        }
    }
}

fn register_over_tcp(
    server: SocketAddr,
    local: SocketAddr,
    user: &str,
    cseq: u32,
    auth: Option<&str>,
    call_id: &str,
) -> String {
    let mut msg = format!(
        "REGISTER sip:{server};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{host}>;tag=tcp1\r\n\
         To: <sip:{user}@{host}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@{local};transport=tcp>\r\n\
         Expires: 600\r\n\
         User-Agent: tcp-phone\r\n",
        branch = new_branch(),
        host = server.ip(),
    );
    if let Some(auth) = auth {
        msg.push_str(auth);
        msg.push_str("\r\n");
    }
    msg.push_str("Content-Length: 0\r\n\r\n");
    msg
}

#[test]
fn a_tcp_phone_gets_keepalive_pongs_and_goes_offline_when_its_connection_closes() {
    let dir = server_dir("reg-tcp");
    provision(&dir, &[("iris", "iris-secret", None)]);
    // No qualify: only the connection tells.
    let server = start(&dir, "[registrar]\nqualify_interval_secs = 0\n");
    let mut stream =
        TcpStream::connect_timeout(&server.sip_addr, Duration::from_secs(5)).expect("connect");
    let local = stream.local_addr().expect("local");
    let call_id = format!("{}@tcp-phone", unique_token());
    let challenge = tcp_transact(
        &mut stream,
        &register_over_tcp(server.sip_addr, local, "iris", 1, None, &call_id),
    );
    assert_eq!(challenge.status(), Some(401), "{}", challenge.raw);
    let picked = pick_challenge(&challenges_of(&challenge), DigestAlgorithm::Sha256)
        .expect("SHA-256 offered")
        .clone();
    let auth = Authorization::compute(
        &picked,
        DigestAlgorithm::Sha256,
        "iris",
        "iris-secret",
        "REGISTER",
        &format!("sip:{};transport=tcp", server.sip_addr),
        1,
        &unique_token(),
    );
    let ok = tcp_transact(
        &mut stream,
        &register_over_tcp(
            server.sip_addr,
            local,
            "iris",
            2,
            Some(&auth.header_line()),
            &call_id,
        ),
    );
    assert_eq!(ok.status(), Some(200), "{}", ok.raw);
    let bindings = registrations(&server, "iris");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["transport"], "tcp");
    assert_eq!(bindings[0]["source"], local.to_string());

    // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong.
    stream.write_all(b"\r\n\r\n").expect("ping");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut pong = [0u8; 2];
    stream.read_exact(&mut pong).expect("a pong");
    assert_eq!(&pong, b"\r\n");

    // The phone's connection goes away: it cannot be reached until it registers again.
    drop(stream);
    let offline = wait_for_event(&server, "endpoint_offline", "iris");
    assert_eq!(offline["cause"], "connection_closed");
    assert_eq!(offline["detail"]["transport"], "tcp");
    assert_eq!(
        registrations(&server, "iris")[0]["reachability"],
        "unreachable"
    );
}

#[test]
fn baresip_registers_answers_qualify_and_goes_offline_when_killed() {
    let netns = TestNetns::create("reg-baresip");
    let dir = server_dir("reg-baresip");
    provision(&dir, &[("alice", "alice-secret", Some("agents"))]);
    // baresip 1.0 gives up on a 401 that offers SHA-256 at all, so this registrar offers MD5
    // only (see deploy/switchboard.example.toml).
    let config = support::registrar::write_config(
        &dir,
        "[registrar]\ndigest_algorithms = [\"MD5\"]\nqualify_interval_secs = 1\n\
         qualify_timeout_secs = 1\nqualify_failures = 2\n",
    );
    let server = Server::start_in_netns(&netns, dir.clone(), &["--config", &config], &[]);
    let mut phone = Baresip::start(
        &netns,
        BaresipAccount::new("alice", "alice-secret", server.sip_addr),
    );
    let line = phone.wait_registered(Duration::from_secs(15));
    assert!(line.contains("[1 binding]"), "{line}");

    let bindings = registrations(&server, "alice");
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    assert!(
        bindings[0]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("baresip")),
        "{bindings:?}"
    );
    assert_eq!(
        bindings[0]["source"]
            .as_str()
            .map(|s| s.starts_with(&netns.peer_ip.to_string())),
        Some(true)
    );
    wait_for(
        &server,
        Duration::from_secs(10),
        "baresip answering qualify",
        || {
            (metric(&server, "sip_registrar_qualify_total{result=\"answered\"}").unwrap_or(0.0)
                >= 1.0)
                .then_some(())
        },
    );
    wait_for(
        &server,
        Duration::from_secs(5),
        "alice registered in endpoint list",
        || {
            let list = admin(&dir, &["endpoint", "list"]);
            list.lines()
                .any(|l| {
                    l.starts_with("alice ") && l.contains(" registered ") && l.contains("baresip")
                })
                .then_some(())
        },
    );

    // Killed: no unregister is sent; the qualifies go unanswered and it goes offline.
    phone.kill();
    let offline = wait_for_event(&server, "endpoint_offline", "alice");
    assert_eq!(offline["cause"], "qualify");
    assert_eq!(offline["to_state"], "unreachable");
    assert!(
        offline["detail"]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("baresip"))
    );
    wait_for(
        &server,
        Duration::from_secs(5),
        "alice unreachable in endpoint list",
        || {
            let list = admin(&dir, &["endpoint", "list"]);
            list.lines()
                .any(|l| l.starts_with("alice ") && l.contains(" unreachable "))
                .then_some(())
        },
    );
}
