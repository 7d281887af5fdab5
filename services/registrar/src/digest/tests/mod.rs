//! Unit tests of digest authentication, on virtual time.

use sip::SipMessage;

use super::hash::{ResponseInput, ha1};
use super::*;

mod challenges;
mod credentials;
mod known_answers;
mod verification;

const REALM: &str = "switchboard.example";
const LIFETIME_MS: u64 = 300_000;
const T0: UnixTime = UnixTime(1_700_000_000_000);

fn config(algorithms: Vec<DigestAlgorithm>) -> DigestConfig {
    DigestConfig {
        realm: REALM.to_owned(),
        secret: [0x5a; 32],
        nonce_lifetime_ms: LIFETIME_MS,
        algorithms,
    }
}

fn authenticator() -> DigestAuthenticator {
    DigestAuthenticator::new(config(vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]))
}

fn alice() -> Ha1Set {
    Ha1Set::from_password("alice", REALM, "s3cret")
}

fn register(auth_lines: &[&str]) -> Request {
    let mut text = String::from(
        "REGISTER sip:switchboard.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:alice@switchboard.example>\r\n\
         From: <sip:alice@switchboard.example>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@192.0.2.10\r\n\
         CSeq: 2 REGISTER\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n",
    );
    for line in auth_lines {
        text.push_str("Authorization: ");
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    match sip::parse_message(text.into_bytes().into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("expected a request: {other:?}"),
    }
}

fn nonce_of(challenge: &AuthValue) -> String {
    match challenge.param("nonce") {
        Some(n) => n,
        None => panic!("challenge without nonce: {challenge}"),
    }
}

/// What a well-behaved UA sends back for `nonce`.
struct Client<'a> {
    username: &'a str,
    password: &'a str,
    algorithm: DigestAlgorithm,
    uri: &'a str,
    nonce: String,
    nc: u32,
}

impl Client<'_> {
    fn answering(nonce: String, algorithm: DigestAlgorithm) -> Client<'static> {
        Client {
            username: "alice",
            password: "s3cret",
            algorithm,
            uri: "sip:switchboard.example",
            nonce,
            nc: 1,
        }
    }

    fn response_hex(&self, method: &str) -> String {
        ResponseInput {
            algorithm: self.algorithm,
            ha1: &ha1(self.algorithm, self.username, REALM, self.password),
            method,
            digest_uri: self.uri,
            nonce: &self.nonce,
            nc: self.nc,
            cnonce: "0a4f113b",
            qop: "auth",
        }
        .digest()
    }

    fn header(&self) -> String {
        format!(
            "Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{}\", \
             response=\"{}\", algorithm={}, cnonce=\"0a4f113b\", qop=auth, nc={:08x}",
            self.username,
            self.nonce,
            self.uri,
            self.response_hex("REGISTER"),
            self.algorithm.token(),
            self.nc,
        )
    }

    fn credentials(&self, auth: &DigestAuthenticator) -> DigestResponse {
        match auth.credentials(&register(&[&self.header()])) {
            Ok(Some(c)) => c,
            other => panic!("expected credentials: {other:?}"),
        }
    }
}

fn verify_at(auth: &mut DigestAuthenticator, client: &Client<'_>, now: UnixTime) -> Verification {
    let credentials = client.credentials(auth);
    auth.verify(&Method::Register, &credentials, &alice(), now)
}

fn credentials_of(
    auth: &DigestAuthenticator,
    line: &str,
) -> Result<Option<DigestResponse>, DigestError> {
    auth.credentials(&register(&[line]))
}
