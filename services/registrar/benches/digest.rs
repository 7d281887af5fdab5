//! Digest authentication costs on one core (`registrar::digest`).
//!
//! - `challenges`: minting the 401's `WWW-Authenticate` values, SHA-256 and MD5 sharing one
//!   fresh HMAC nonce.
//! - `credentials`: finding and reading the Digest credentials of a parsed REGISTER.
//! - `verify/md5`, `verify/sha256`: checking a correct response: the nonce's HMAC, HA2 and
//!   the response digest, the constant-time comparison and recording the nonce count. Each
//!   iteration gets an authenticator that has not seen the nonce yet (made outside the
//!   timing), or the second iteration would be a replay.
//!
//! Before timing, each scenario is run once and its result checked.
//!
//! Run: `cargo bench -p registrar --bench digest -- --noplot`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use md5::Md5;
use registrar::UnixTime;
use registrar::digest::{
    DigestAlgorithm, DigestAuthenticator, DigestConfig, DigestResponse, Ha1Set, Verification,
};
use sha2::{Digest, Sha256};
use sip::{Method, Request, SipMessage};

const REALM: &str = "switchboard.example.com";
const NOW: UnixTime = UnixTime(1_700_000_000_000);
const URI: &str = "sip:switchboard.example.com";
const CNONCE: &str = "0a4f113b";

fn config() -> DigestConfig {
    DigestConfig {
        realm: REALM.to_owned(),
        secret: [0x5a; 32],
        nonce_lifetime_ms: 300_000,
        algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
    }
}

/// H(pieces joined by ':') in lowercase hex, as the UA computes it.
fn h(algorithm: DigestAlgorithm, pieces: &[&str]) -> String {
    let joined = pieces.join(":");
    let bytes = match algorithm {
        DigestAlgorithm::Md5 => Md5::digest(joined.as_bytes()).to_vec(),
        DigestAlgorithm::Sha256 => Sha256::digest(joined.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The REGISTER a UA sends back for `nonce`, with alice's password.
fn answered_register(algorithm: DigestAlgorithm, nonce: &str) -> Request {
    let ha1 = h(algorithm, &["alice", REALM, "s3cret"]);
    let ha2 = h(algorithm, &["REGISTER", URI]);
    let response = h(algorithm, &[&ha1, nonce, "00000001", CNONCE, "auth", &ha2]);
    let text = format!(
        "REGISTER {URI} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{REALM}>;tag=ja743ks76zlflH\r\n\
         To: <sip:alice@{REALM}>\r\n\
         Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n\
         CSeq: 2 REGISTER\r\n\
         Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
         Authorization: Digest username=\"alice\", realm=\"{REALM}\", nonce=\"{nonce}\", \
         uri=\"{URI}\", response=\"{response}\", algorithm={}, cnonce=\"{CNONCE}\", qop=auth, \
         nc=00000001\r\n\
         Content-Length: 0\r\n\r\n",
        algorithm.token()
    );
    match sip::parse_message(text.into_bytes().into()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("the benchmark REGISTER does not parse: {other:?}"),
    }
}

fn credentials_for(algorithm: DigestAlgorithm) -> DigestResponse {
    let minter = DigestAuthenticator::new(config());
    let nonce = minter.challenges(NOW, false)[0]
        .param("nonce")
        .unwrap_or_default();
    match minter.credentials(&answered_register(algorithm, &nonce)) {
        Ok(Some(c)) => c,
        other => panic!("no credentials in the benchmark REGISTER: {other:?}"),
    }
}

fn bench_challenges(c: &mut Criterion) {
    let auth = DigestAuthenticator::new(config());
    assert_eq!(auth.challenges(NOW, false).len(), 2);
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Elements(1));
    group.bench_function("challenges", |b| {
        b.iter(|| auth.challenges(black_box(NOW), false))
    });
    group.finish();
}

fn bench_credentials(c: &mut Criterion) {
    let auth = DigestAuthenticator::new(config());
    let nonce = auth.challenges(NOW, false)[0]
        .param("nonce")
        .unwrap_or_default();
    let request = answered_register(DigestAlgorithm::Sha256, &nonce);
    assert!(matches!(auth.credentials(&request), Ok(Some(_))));
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Elements(1));
    group.bench_function("credentials", |b| {
        b.iter(|| auth.credentials(black_box(&request)))
    });
    group.finish();
}

fn bench_verify(c: &mut Criterion) {
    let ha1 = Ha1Set::from_password("alice", REALM, "s3cret");
    let mut group = c.benchmark_group("digest/verify");
    group.throughput(Throughput::Elements(1));
    for (name, algorithm) in [
        ("md5", DigestAlgorithm::Md5),
        ("sha256", DigestAlgorithm::Sha256),
    ] {
        let credentials = credentials_for(algorithm);
        let mut check = DigestAuthenticator::new(config());
        assert_eq!(
            check.verify(&Method::Register, &credentials, &ha1, NOW),
            Verification::Authenticated,
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || DigestAuthenticator::new(config()),
                |mut auth| {
                    let verdict =
                        auth.verify(&Method::Register, black_box(&credentials), &ha1, NOW);
                    (verdict, auth)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, without their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_challenges(&mut c);
    bench_credentials(&mut c);
    bench_verify(&mut c);
    c.final_summary();
}
