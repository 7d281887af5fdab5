//! A small blocking SIP REGISTER client with digest authentication, written
//! from the RFCs (RFC 3261 §10 and §22, RFC 7616, RFC 8760) independently of
//! the server: messages are composed by hand and answers read with
//! [`SipMessage`]. It shares no code with the `sip` or `registrar` crates, so
//! it can tell whether the server's digest arithmetic is right.
//!
//! [`DigestClient::register`] does the whole exchange (REGISTER, 401, pick
//! the challenge of the wanted algorithm, REGISTER with credentials);
//! lower-level helpers send a REGISTER with any Authorization, replay one,
//! answer a forged or old challenge, or remove every binding (`Contact: *`),
//! so tests can check stale nonces and replay refusal.
//!
//! ```ignore
//! let mut client = DigestClient::new(server.sip_addr, "alice", "secret");
//! let ok = client.register(&client.default_contact(), 60, DigestAlgorithm::Sha256);
//! assert_eq!(ok.status, 200, "{}", ok.text());
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};

use super::LOOPBACK;
use super::net::is_timeout;
use super::sip_text::{SipMessage, new_branch, unique_token};

/// How long [`DigestClient`] waits for a final response by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A digest algorithm of RFC 7616 / RFC 8760 (the `-sess` variants are not
/// used by SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5`, the RFC 3261 default (also when `algorithm` is absent).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl DigestAlgorithm {
    /// The `algorithm` token, as it appears in the headers.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// The algorithm named by an `algorithm` parameter value (any case);
    /// `None` for algorithms this client does not implement.
    pub fn from_token(token: &str) -> Option<DigestAlgorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    /// Lower-case hex of the hash of `data` (RFC 7616 §3.4: H and KD work
    /// on the hex string of the previous hash).
    pub fn hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 => to_hex(&Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 => to_hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `qop=auth` part of a digest computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// The nonce count, sent as 8 hex digits.
    pub nc: u32,
    /// The client nonce.
    pub cnonce: String,
}

/// The `response` value (RFC 7616 §3.4.1; RFC 3261 §22.4 for SIP):
/// `KD(H(A1), nonce:nc:cnonce:auth:H(A2))` with qop, `KD(H(A1), nonce:H(A2))`
/// without (RFC 2069 compatibility), where `A1 = username:realm:password`
/// and `A2 = method:uri`.
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    algorithm: DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<&QopAuth>,
) -> String {
    let ha1 = algorithm.hex(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hex(&format!("{method}:{uri}"));
    match qop {
        Some(q) => algorithm.hex(&format!(
            "{ha1}:{nonce}:{:08x}:{}:auth:{ha2}",
            q.nc, q.cnonce
        )),
        None => algorithm.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// One digest challenge (a `WWW-Authenticate` or `Proxy-Authenticate`
/// header value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// True for `Proxy-Authenticate` (answered with `Proxy-Authorization`).
    pub proxy: bool,
    /// Every parameter in order, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
    /// The header value as received.
    pub raw: String,
}

impl Challenge {
    /// Parses `Digest k=v, k="v", ...`; an error says what is wrong.
    pub fn parse(value: &str, proxy: bool) -> Result<Challenge, String> {
        let trimmed = value.trim();
        let (scheme, rest) = trimmed
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((trimmed, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(format!("not a Digest challenge: {value:?}"));
        }
        let params = parse_auth_params(rest)?;
        let challenge = Challenge {
            proxy,
            params,
            raw: value.to_owned(),
        };
        for required in ["realm", "nonce"] {
            if challenge.param(required).is_none() {
                return Err(format!("challenge without {required}: {value:?}"));
            }
        }
        Ok(challenge)
    }

    /// A challenge the server never sent (a foreign or made-up nonce), to
    /// check the server refuses answers to it.
    pub fn forged(realm: &str, nonce: &str, algorithm: DigestAlgorithm) -> Challenge {
        let raw = format!(
            "Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}",
            algorithm.token()
        );
        Challenge {
            proxy: false,
            params: vec![
                ("realm".to_owned(), realm.to_owned()),
                ("nonce".to_owned(), nonce.to_owned()),
                ("qop".to_owned(), "auth".to_owned()),
                ("algorithm".to_owned(), algorithm.token().to_owned()),
            ],
            raw,
        }
    }

    /// Parameter `name` (any case), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        self.param("realm").unwrap_or_default()
    }

    /// The nonce.
    pub fn nonce(&self) -> &str {
        self.param("nonce").unwrap_or_default()
    }

    /// The algorithm: MD5 when absent (RFC 7616 §3.3), `None` when it is one
    /// this client does not implement.
    pub fn algorithm(&self) -> Option<DigestAlgorithm> {
        match self.param("algorithm") {
            None => Some(DigestAlgorithm::Md5),
            Some(token) => DigestAlgorithm::from_token(token),
        }
    }

    /// True if `qop` offers `auth` (it is a comma-separated list).
    pub fn offers_qop_auth(&self) -> bool {
        self.param("qop")
            .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")))
    }

    /// True if the challenge says `stale=true` (the nonce was too old, the
    /// credentials were right).
    pub fn stale(&self) -> bool {
        self.param("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    }
}

/// Splits `k=v, k="quoted, with comma", ...` into lower-cased names and
/// unquoted values (`\x` in a quoted string stands for `x`).
fn parse_auth_params(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("auth-param {name:?} without '=' in {input:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated quoted string in {input:?}")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted string in {input:?}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some(',') => {}
            Some(c) => return Err(format!("unexpected {c:?} after {name}= in {input:?}")),
        }
        params.push((name.to_ascii_lowercase(), value));
    }
}

/// Every digest challenge of a response, `WWW-Authenticate` headers first,
/// in the order received. Panics (with the message) on one that does not
/// parse.
pub fn challenges_of(response: &SipMessage) -> Vec<Challenge> {
    let www = response
        .header_all("WWW-Authenticate")
        .into_iter()
        .map(|v| (v, false));
    let proxy = response
        .header_all("Proxy-Authenticate")
        .into_iter()
        .map(|v| (v, true));
    www.chain(proxy)
        .map(|(value, proxy)| {
            Challenge::parse(value, proxy)
                .unwrap_or_else(|e| panic!("{e}\nin response:\n{}", response.raw))
        })
        .collect()
}

/// The first challenge of `algorithm` among `challenges`.
pub fn pick_challenge(challenges: &[Challenge], algorithm: DigestAlgorithm) -> Option<&Challenge> {
    challenges.iter().find(|c| c.algorithm() == Some(algorithm))
}

/// Credentials answering one challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The algorithm used.
    pub algorithm: DigestAlgorithm,
    /// `Authorization` or `Proxy-Authorization`.
    pub header_name: &'static str,
    /// The user name.
    pub username: String,
    /// The realm, copied from the challenge.
    pub realm: String,
    /// The nonce, copied from the challenge.
    pub nonce: String,
    /// The digest-uri (the Request-URI).
    pub uri: String,
    /// `qop=auth` with its nc and cnonce; `None` when the challenge offered
    /// no qop.
    pub qop: Option<QopAuth>,
    /// The opaque value, copied from the challenge.
    pub opaque: Option<String>,
    /// The computed response (hex).
    pub response: String,
}

impl Authorization {
    /// Answers `challenge` with `algorithm` (RFC 7616 §3.4), using
    /// `qop=auth` with `nc` and `cnonce` when the challenge offers it.
    #[allow(clippy::too_many_arguments)]
    pub fn compute(
        challenge: &Challenge,
        algorithm: DigestAlgorithm,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> Authorization {
        let qop = challenge.offers_qop_auth().then(|| QopAuth {
            nc,
            cnonce: cnonce.to_owned(),
        });
        let response = digest_response(
            algorithm,
            username,
            challenge.realm(),
            password,
            method,
            uri,
            challenge.nonce(),
            qop.as_ref(),
        );
        Authorization {
            algorithm,
            header_name: if challenge.proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            },
            username: username.to_owned(),
            realm: challenge.realm().to_owned(),
            nonce: challenge.nonce().to_owned(),
            uri: uri.to_owned(),
            qop,
            opaque: challenge.param("opaque").map(str::to_owned),
            response,
        }
    }

    /// The header value: `Digest username="...", ..., nc=00000001`.
    pub fn header_value(&self) -> String {
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            quote_escape(&self.username),
            quote_escape(&self.realm),
            quote_escape(&self.nonce),
            quote_escape(&self.uri),
            self.response,
            self.algorithm.token()
        );
        if let Some(q) = &self.qop {
            let _ = write!(
                v,
                ", cnonce=\"{}\", qop=auth, nc={:08x}",
                quote_escape(&q.cnonce),
                q.nc
            );
        }
        if let Some(opaque) = &self.opaque {
            let _ = write!(v, ", opaque=\"{}\"", quote_escape(opaque));
        }
        v
    }

    /// The whole header line without CRLF: `Authorization: Digest ...`.
    pub fn header_line(&self) -> String {
        format!("{}: {}", self.header_name, self.header_value())
    }
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The result of a REGISTER exchange.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    /// The status of the final response.
    pub status: u16,
    /// The final response.
    pub response: SipMessage,
    /// The challenge that was answered, if any.
    pub challenge: Option<Challenge>,
    /// The credentials that were sent, if any.
    pub authorization: Option<Authorization>,
    /// The response to the unauthenticated REGISTER (usually the 401), when
    /// there was one.
    pub first_response: Option<SipMessage>,
}

impl RegisterOutcome {
    /// The final response as text, for assertion messages.
    pub fn text(&self) -> &str {
        &self.response.raw
    }

    /// The Contact header values of the final response (a 200 to REGISTER
    /// lists every current binding).
    pub fn contacts(&self) -> Vec<&str> {
        self.response.header_all("Contact")
    }

    /// Panics with the whole exchange unless the final status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &RegisterOutcome {
        if self.status != status {
            panic!(
                "REGISTER: expected {status}, got {}\n--- first response ---\n{}\n--- credentials ---\n{}\n--- final response ---\n{}",
                self.status,
                self.first_response
                    .as_ref()
                    .map_or("<none>", |m| m.raw.as_str()),
                self.authorization
                    .as_ref()
                    .map_or_else(|| "<none>".to_owned(), Authorization::header_line),
                self.response.raw
            );
        }
        self
    }
}

/// A blocking UDP REGISTER client for one address-of-record
/// (`sip:user@domain`), with one Call-ID and increasing CSeq numbers as
/// RFC 3261 §10.2 asks of a UA registering the same AOR.
pub struct DigestClient {
    socket: UdpSocket,
    /// The registrar.
    pub server: SocketAddr,
    /// The user name (AOR user part and digest username).
    pub user: String,
    /// The password.
    pub password: String,
    /// The AOR's domain (To/From host); the server's IP by default.
    pub domain: String,
    /// The Request-URI; `sip:<server address>` by default.
    pub request_uri: String,
    /// The Call-ID of every REGISTER this client sends.
    pub call_id: String,
    /// How long to wait for a final response.
    pub timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
    from_tag: String,
    cseq: u32,
    nc: HashMap<String, u32>,
}

impl DigestClient {
    /// A client of `server` for `user`, on a fresh UDP socket on `127.0.0.1`.
    pub fn new(server: SocketAddr, user: &str, password: &str) -> DigestClient {
        let socket = UdpSocket::bind((LOOPBACK, 0))
            .unwrap_or_else(|e| panic!("cannot bind UDP on 127.0.0.1: {e}"));
        DigestClient {
            socket,
            server,
            user: user.to_owned(),
            password: password.to_owned(),
            domain: server.ip().to_string(),
            request_uri: format!("sip:{server}"),
            call_id: format!("{}@digest-client", unique_token()),
            timeout: DEFAULT_TIMEOUT,
            user_agent: "switchboard-e2e-digest-client".to_owned(),
            from_tag: unique_token(),
            cseq: 0,
            nc: HashMap::new(),
        }
    }

    /// The local UDP address (what goes in Via and the default Contact).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|e| panic!("UDP socket without a local address: {e}"))
    }

    /// `<sip:user@local address>`: a Contact that reaches this client.
    pub fn default_contact(&self) -> String {
        format!("<sip:{}@{}>", self.user, self.local_addr())
    }

    /// The address-of-record, `sip:user@domain`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    /// REGISTERs `contact` for `expires` seconds, answering the 401 with
    /// the challenge of `algorithm` (panics if the server offers none, or
    /// does not challenge with 401/407 nor accept at once).
    pub fn register(
        &mut self,
        contact: &str,
        expires: u32,
        algorithm: DigestAlgorithm,
    ) -> RegisterOutcome {
        self.register_flow(Some(contact), Some(expires), algorithm)
    }

    /// Removes every binding of the AOR (`Contact: *`, `Expires: 0`).
    pub fn unregister_all(&mut self, algorithm: DigestAlgorithm) -> RegisterOutcome {
        self.register_flow(Some("*"), Some(0), algorithm)
    }

    /// A REGISTER without Contact: the 200 lists the current bindings.
    pub fn fetch_bindings(&mut self, algorithm: DigestAlgorithm) -> RegisterOutcome {
        self.register_flow(None, None, algorithm)
    }

    fn register_flow(
        &mut self,
        contact: Option<&str>,
        expires: Option<u32>,
        algorithm: DigestAlgorithm,
    ) -> RegisterOutcome {
        let first = self.send_register(contact, expires, None);
        match first.status() {
            Some(401 | 407) => {}
            Some(status) => {
                return RegisterOutcome {
                    status,
                    response: first,
                    challenge: None,
                    authorization: None,
                    first_response: None,
                };
            }
            None => panic!("not a response:\n{}", first.raw),
        }
        let challenges = challenges_of(&first);
        let challenge = pick_challenge(&challenges, algorithm)
            .unwrap_or_else(|| {
                panic!(
                    "the server offered no {} challenge:\n{}",
                    algorithm.token(),
                    first.raw
                )
            })
            .clone();
        let mut outcome = self.register_with(contact, expires, &challenge);
        outcome.first_response = Some(first);
        outcome
    }

    /// Answers `challenge` (which may be an old, forged or foreign one)
    /// without asking for a new one: the next nc of its nonce, a fresh
    /// cnonce. Panics if the challenge's algorithm is unknown.
    pub fn register_with(
        &mut self,
        contact: Option<&str>,
        expires: Option<u32>,
        challenge: &Challenge,
    ) -> RegisterOutcome {
        let authorization = self.authorize(challenge, "REGISTER");
        let response = self.send_register(contact, expires, Some(&authorization.header_line()));
        RegisterOutcome {
            status: response.status().unwrap_or(0),
            response,
            challenge: Some(challenge.clone()),
            authorization: Some(authorization),
            first_response: None,
        }
    }

    /// Credentials for `method` answering `challenge`: the next nonce count
    /// for its nonce (1 for a new nonce) and a fresh cnonce.
    pub fn authorize(&mut self, challenge: &Challenge, method: &str) -> Authorization {
        let algorithm = challenge.algorithm().unwrap_or_else(|| {
            panic!(
                "challenge with an algorithm this client does not implement: {}",
                challenge.raw
            )
        });
        let nc = self.nc.entry(challenge.nonce().to_owned()).or_insert(0);
        *nc += 1;
        let nc = *nc;
        Authorization::compute(
            challenge,
            algorithm,
            &self.user,
            &self.password,
            method,
            &self.request_uri,
            nc,
            &unique_token(),
        )
    }

    /// Sends a new REGISTER (next CSeq, new branch) carrying exactly the
    /// given credentials again: the same nonce, nc and cnonce. A registrar
    /// checking nonce counts refuses it (RFC 7616 §3.4: nc lets the server
    /// detect replays).
    pub fn replay(
        &mut self,
        authorization: &Authorization,
        contact: Option<&str>,
        expires: Option<u32>,
    ) -> SipMessage {
        self.send_register(contact, expires, Some(&authorization.header_line()))
    }

    /// Sends one REGISTER and returns its final response. `contact: None`
    /// sends no Contact; `Some("*")` a wildcard. `expires` becomes an Expires
    /// header. `authorization` is a whole header line without CRLF (e.g.
    /// [`Authorization::header_line`], or anything malformed a test wants to
    /// send).
    pub fn send_register(
        &mut self,
        contact: Option<&str>,
        expires: Option<u32>,
        authorization: Option<&str>,
    ) -> SipMessage {
        let mut extra = Vec::new();
        if let Some(line) = authorization {
            extra.push(line.to_owned());
        }
        self.send_request(contact, expires, &extra)
    }

    /// Like [`DigestClient::send_register`] with arbitrary extra header
    /// lines (without CRLF).
    pub fn send_request(
        &mut self,
        contact: Option<&str>,
        expires: Option<u32>,
        extra_headers: &[String],
    ) -> SipMessage {
        self.cseq += 1;
        let cseq = self.cseq;
        let branch = new_branch();
        let local = self.local_addr();
        let mut msg = format!(
            "REGISTER {ruri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <{aor}>;tag={tag}\r\n\
             To: <{aor}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             User-Agent: {ua}\r\n",
            ruri = self.request_uri,
            aor = self.aor(),
            tag = self.from_tag,
            call_id = self.call_id,
            ua = self.user_agent,
        );
        if let Some(contact) = contact {
            let _ = write!(msg, "Contact: {contact}\r\n");
        }
        if let Some(expires) = expires {
            let _ = write!(msg, "Expires: {expires}\r\n");
        }
        for line in extra_headers {
            let _ = write!(msg, "{line}\r\n");
        }
        msg.push_str("Content-Length: 0\r\n\r\n");
        self.transact(&msg, cseq)
    }

    /// Sends `request` (retransmitting on RFC 3261 timer E: 0.5 s, doubling
    /// up to 4 s) until a final response with CSeq `cseq` and our Call-ID
    /// arrives, within [`DigestClient::timeout`].
    fn transact(&self, request: &str, cseq: u32) -> SipMessage {
        let deadline = Instant::now() + self.timeout;
        let mut interval = Duration::from_millis(500);
        let mut next_send = Instant::now();
        let mut buf = vec![0u8; 65_535];
        loop {
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no final response from {} within {:?} to:\n{request}",
                    self.server, self.timeout
                );
            }
            if now >= next_send {
                self.socket
                    .send_to(request.as_bytes(), self.server)
                    .unwrap_or_else(|e| panic!("cannot send to {}: {e}", self.server));
                next_send = now + interval;
                interval = (interval * 2).min(Duration::from_secs(4));
            }
            let wait = next_send.min(deadline).saturating_duration_since(now);
            if let Err(e) = self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            {
                panic!("cannot set a read timeout: {e}");
            }
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.server => {
                    let msg = SipMessage::parse(&buf[..n]);
                    let Some(status) = msg.status() else {
                        continue; // a request (e.g. OPTIONS): not ours to answer here
                    };
                    let ours = msg.header("Call-ID") == Some(self.call_id.as_str())
                        && msg
                            .header("CSeq")
                            .and_then(|c| c.split_whitespace().next())
                            .and_then(|n| n.parse::<u32>().ok())
                            == Some(cseq);
                    if ours && status >= 200 {
                        return msg;
                    }
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!("UDP receive error: {e}"),
            }
        }
    }
}
