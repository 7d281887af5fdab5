//! End-to-end: a freshly started `switchboard serve` answers OPTIONS with 200
//! over UDP and TCP, for SIPp and for hand-written requests.
//!
//! Everything binds and advertises 127.0.0.1 only; every wait is bounded.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{Server, SipMessage, Sipp, SippTransport};

/// How long a raw request may wait for its response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `tests/sipp/options_uac.xml` with 3 calls and asserts SIPp exits 0.
fn sipp_options_succeeds(transport: SippTransport) {
    let server = Server::start();
    let outcome = Sipp::new(support::sipp_scenario("options_uac.xml"))
        .transport(transport)
        .calls(3)
        .timeout(Duration::from_secs(20))
        .run(server.sip_addr);
    if !outcome.success() {
        server.fail(&format!(
            "sipp OPTIONS over {transport:?} did not get 200 for every call\n{}",
            outcome.report()
        ));
    }
}

#[test]
fn options_over_udp_gets_200_from_sipp() {
    sipp_options_succeeds(SippTransport::Udp);
}

#[test]
fn options_over_tcp_gets_200_from_sipp() {
    sipp_options_succeeds(SippTransport::Tcp);
}

/// The request's identifying headers, kept to check what the response copies.
struct OptionsRequest {
    bytes: Vec<u8>,
    via: String,
    branch: String,
    from: String,
    to: String,
    call_id: String,
    cseq: String,
}

/// An out-of-dialog OPTIONS from `local` (Via sent-by) to `server`.
fn options_request(transport: &str, local: SocketAddr, server: SocketAddr) -> OptionsRequest {
    let branch = support::new_branch();
    let via = format!("SIP/2.0/{transport} {local};branch={branch}");
    let from = format!("\"e2e\" <sip:e2e@{local}>;tag={}", support::unique_token());
    let to = format!("<sip:{server}>");
    let call_id = format!("{}@127.0.0.1", support::unique_token());
    let cseq = "4711 OPTIONS".to_owned();
    let bytes = format!(
        "OPTIONS sip:{server} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         Contact: <sip:e2e@{local};transport={}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: switchboard-e2e\r\n\
         Content-Length: 0\r\n\
         \r\n",
        transport.to_ascii_lowercase()
    )
    .into_bytes();
    OptionsRequest {
        bytes,
        via,
        branch,
        from,
        to,
        call_id,
        cseq,
    }
}

/// Collapses runs of whitespace, for comparing header values such as CSeq.
fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts `response` is a well-formed 200 to `request` (RFC 3261 8.2.6 and
/// 11.2): capability headers present, Via/From/Call-ID/CSeq copied, To
/// copied with a tag added.
fn assert_200_for_options(server: &Server, request: &OptionsRequest, response: &[u8]) {
    let msg = SipMessage::parse(response);
    let check = |ok: bool, what: &str| {
        if !ok {
            server.fail(&format!("{what}\nresponse:\n{}", msg.raw));
        }
    };

    check(msg.status() == Some(200), "expected status 200");
    for header in ["Allow", "Accept", "Supported"] {
        check(
            msg.header(header).is_some(),
            &format!("200 to OPTIONS lacks {header}:"),
        );
    }
    let allow = msg.header_all("Allow").join(",").to_ascii_uppercase();
    check(
        allow.split(',').any(|m| m.trim() == "OPTIONS"),
        "Allow does not list OPTIONS",
    );

    // Via: exactly one, same sent-protocol/sent-by and branch (a server may
    // add received/rport parameters, so compare those parts only).
    let vias = msg.header_all("Via");
    check(vias.len() == 1, "expected exactly one Via in the response");
    let via = vias.first().copied().unwrap_or_default();
    let sent_by = |v: &str| normalize(v.split(';').next().unwrap_or_default());
    check(
        sent_by(via) == sent_by(&request.via),
        &format!("Via sent-by not copied (sent {:?})", request.via),
    );
    check(
        SipMessage::param(via, "branch") == Some(request.branch.as_str()),
        &format!("Via branch not copied (sent {:?})", request.branch),
    );

    check(
        msg.header("Call-ID") == Some(request.call_id.as_str()),
        &format!("Call-ID not copied (sent {:?})", request.call_id),
    );
    check(
        msg.header("CSeq").map(normalize) == Some(normalize(&request.cseq)),
        &format!("CSeq not copied (sent {:?})", request.cseq),
    );
    check(
        msg.header("From").map(normalize) == Some(normalize(&request.from)),
        &format!("From not copied (sent {:?})", request.from),
    );

    let to = msg.expect_header("To");
    check(
        to.starts_with(&request.to),
        &format!("To URI not copied (sent {:?})", request.to),
    );
    check(
        SipMessage::param(to, "tag").is_some_and(|tag| !tag.is_empty()),
        "To in the 200 has no tag",
    );
}

#[test]
fn raw_options_over_udp_gets_200_with_capabilities_and_copied_headers() {
    let server = Server::start();
    let socket = support::udp_socket();
    let local = socket.local_addr().expect("local address of UDP socket");
    let request = options_request("UDP", local, server.sip_addr);

    let response =
        support::udp_exchange(&socket, server.sip_addr, &request.bytes, RESPONSE_TIMEOUT)
            .unwrap_or_else(|e| server.fail(&format!("no UDP response to OPTIONS: {e}")));
    assert_200_for_options(&server, &request, &response);
}

#[test]
fn raw_options_over_tcp_gets_200_with_capabilities_and_copied_headers() {
    let server = Server::start();
    let mut stream = support::tcp_connect(server.sip_addr, RESPONSE_TIMEOUT);
    let local = stream.local_addr().expect("local address of TCP stream");
    let request = options_request("TCP", local, server.sip_addr);

    let response = support::tcp_send_and_read(&mut stream, &request.bytes, RESPONSE_TIMEOUT)
        .unwrap_or_else(|e| server.fail(&format!("no TCP response to OPTIONS: {e}")));
    assert_200_for_options(&server, &request, &response);
}
