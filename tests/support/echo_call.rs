//! An echo call placed by a test: raw SIP over UDP from a socket of the test's, with an RTP
//! socket of its own, for the tests of the echo extension's media and of recording.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{Server, SipMessage, new_branch, udp_socket};

/// How long a response may take.
const SIP_WAIT: Duration = Duration::from_secs(5);

/// `a=` lines offering telephone-events as payload type 101.
pub const TELEPHONE_EVENT: &str = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// An SDP offer for an audio stream on `rtp_port` with `formats` (PCMU's rtpmap included)
/// and `extra` attribute lines.
pub fn sdp_offer(rtp_port: u16, formats: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=tester 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\n{extra}"
    )
}

/// Reads SIP datagrams until a final response; returns it.
pub fn final_response(server: &Server, sip: &UdpSocket) -> SipMessage {
    response_where(server, sip, |m| m.status().is_some_and(|s| s >= 200))
}

/// Reads SIP datagrams until one satisfies `wanted`; returns it.
pub fn response_where(
    server: &Server,
    sip: &UdpSocket,
    wanted: impl Fn(&SipMessage) -> bool,
) -> SipMessage {
    let deadline = Instant::now() + SIP_WAIT;
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            server.fail("the response waited for never came");
        }
        sip.set_read_timeout(Some(left)).expect("timeout");
        let Ok((n, _)) = sip.recv_from(&mut buf) else {
            continue;
        };
        let msg = SipMessage::parse(&buf[..n]);
        if wanted(&msg) {
            return msg;
        }
    }
}

/// Sends an INVITE to echo with `sdp`; returns the final response.
pub fn invite(
    server: &Server,
    sip: &UdpSocket,
    call_id: &str,
    from_tag: &str,
    sdp: &str,
) -> SipMessage {
    let local = sip.local_addr().expect("local");
    let to = server.sip_addr;
    let request = format!(
        "INVITE sip:echo@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag={from_tag}\r\n\
         To: <sip:echo@{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:tester@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        new_branch(),
        sdp.len()
    );
    sip.send_to(request.as_bytes(), to).expect("send INVITE");
    final_response(server, sip)
}

/// One answered echo call.
pub struct EchoCall {
    /// The test's SIP socket.
    pub sip: UdpSocket,
    /// The test's RTP socket (the port in the offer).
    pub rtp: UdpSocket,
    /// The server's SIP address.
    pub server: SocketAddr,
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub from_tag: String,
    /// The server's tag.
    pub to_tag: String,
    /// Where the server receives RTP (from the 200's SDP).
    pub media: SocketAddr,
    /// The 200.
    pub answer: SipMessage,
}

impl EchoCall {
    /// Calls echo as `call_id`, offering `formats` with `extra` attribute lines, and ACKs the
    /// 200 (panics with the server log when the call is not answered 200).
    pub fn start(server: &Server, call_id: String, formats: &str, extra: &str) -> EchoCall {
        let sip = udp_socket();
        let rtp = udp_socket();
        let from_tag = super::unique_token();
        let rtp_port = rtp.local_addr().expect("rtp addr").port();
        let sdp = sdp_offer(rtp_port, formats, extra);
        let answer = invite(server, &sip, &call_id, &from_tag, &sdp);
        if answer.status() != Some(200) {
            server.fail(&format!("echo call not answered 200:\n{}", answer.raw));
        }
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        let port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| server.fail(&format!("no m=audio port in {body}")));
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .unwrap_or_else(|| server.fail(&format!("no c= line in {body}")));
        let to_tag = SipMessage::param(answer.expect_header("To"), "tag")
            .unwrap_or_else(|| server.fail("200 without To tag"))
            .to_owned();
        let call = EchoCall {
            sip,
            rtp,
            server: server.sip_addr,
            call_id,
            from_tag,
            to_tag,
            media: SocketAddr::new(ip.trim().parse().expect("c= IP"), port),
            answer,
        };
        call.in_dialog("ACK", 1);
        call
    }

    /// Sends a request of `method` with CSeq `cseq` in the call's dialog.
    pub fn in_dialog(&self, method: &str, cseq: u32) {
        let local = self.sip.local_addr().expect("local");
        let to = self.server;
        let request = format!(
            "{method} sip:echo@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag={}\r\n\
             To: <sip:echo@{to}>;tag={}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            new_branch(),
            self.from_tag,
            self.to_tag,
            self.call_id
        );
        self.sip.send_to(request.as_bytes(), to).expect("send");
    }

    /// BYE, and its 200.
    pub fn hang_up(&self, server: &Server) {
        self.in_dialog("BYE", 2);
        let ok = final_response(server, &self.sip);
        if ok.status() != Some(200) {
            server.fail(&format!("BYE answered:\n{}", ok.raw));
        }
    }

    /// Sends one RTP datagram to the server's media address.
    pub fn send_rtp(&self, packet: &[u8]) {
        self.rtp.send_to(packet, self.media).expect("send RTP");
    }

    /// The next RTP packet from the server's media address, if one comes within `within`.
    pub fn recv_rtp(&self, within: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.rtp.set_read_timeout(Some(left)).ok()?;
            match self.rtp.recv_from(&mut buf) {
                Ok((n, from)) if from == self.media => return Some(buf[..n].to_vec()),
                Ok(_) | Err(_) => {}
            }
        }
    }
}
