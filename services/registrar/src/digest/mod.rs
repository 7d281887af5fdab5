//! HTTP digest authentication for REGISTER (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Only `qop=auth` is offered and accepted: it is what lets the nonce count (`nc`) detect a
//! replayed request, and `auth-int` buys nothing for REGISTER, whose body is empty. The
//! `-sess` algorithms are not offered: they exist for third-party authentication servers.
//!
//! Nonces are stateless (see [`nonce`]); the only state is the highest `nc` seen per nonce,
//! kept while the nonce lives. That state is per process: after a restart a request replayed
//! within its nonce's lifetime is not recognised as a replay.

use std::collections::BTreeMap;
use std::fmt;

use bytestring::ByteString;
use sip::{AuthValue, Method, Param, Request};

use crate::UnixTime;

mod credentials;
mod hash;
mod nonce;

use hash::ResponseInput;
use nonce::{NonceMinter, NonceStamp};

/// How far in the future a nonce's timestamp may be and still count as live: another
/// registrar sharing the secret may run a slightly faster clock.
const CLOCK_SKEW_MS: u64 = 5_000;

/// Nonces whose counts are tracked at most; past it the oldest is forgotten. Counts are only
/// kept for nonces that authenticated someone, so this is a guard against a bug, not a limit
/// an attacker can reach without credentials.
const MAX_TRACKED_NONCES: usize = 1_000_000;

/// A digest algorithm offered and accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5` (RFC 2617 / RFC 3261).
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
}

impl DigestAlgorithm {
    /// The `algorithm` token: `MD5` or `SHA-256`.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// The algorithm an `algorithm` token names (case-insensitive), when we support it.
    pub fn from_token(token: &str) -> Option<DigestAlgorithm> {
        [DigestAlgorithm::Md5, DigestAlgorithm::Sha256]
            .into_iter()
            .find(|a| a.token().eq_ignore_ascii_case(token))
    }

    /// Hex digits of a hash: 32 for MD5, 64 for SHA-256.
    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Md5 => 32,
            DigestAlgorithm::Sha256 => 64,
        }
    }
}

/// How the authenticator is configured.
#[derive(Clone)]
pub struct DigestConfig {
    /// The realm in every challenge.
    pub realm: String,
    /// Key of the nonce HMAC; nonces minted with another key are refused.
    pub secret: [u8; 32],
    /// How long a nonce is accepted, in milliseconds; after that it is answered with stale=true.
    pub nonce_lifetime_ms: u64,
    /// Algorithms offered, most preferred first (RFC 8760 §2.4: one challenge each).
    pub algorithms: Vec<DigestAlgorithm>,
}

// By hand, so that logging a configuration does not log the nonce key.
impl fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestConfig")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_lifetime_ms", &self.nonce_lifetime_ms)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// An endpoint's stored credentials: HA1 = H(username:realm:password), lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha1Set {
    /// MD5 HA1, 32 hex digits.
    pub md5: String,
    /// SHA-256 HA1, 64 hex digits.
    pub sha256: String,
}

impl Ha1Set {
    /// Both HA1 values for `username` in `realm` with `password`, as an endpoint is stored.
    pub fn from_password(username: &str, realm: &str, password: &str) -> Ha1Set {
        Ha1Set {
            md5: hash::ha1(DigestAlgorithm::Md5, username, realm, password),
            sha256: hash::ha1(DigestAlgorithm::Sha256, username, realm, password),
        }
    }

    fn for_algorithm(&self, algorithm: DigestAlgorithm) -> &str {
        match algorithm {
            DigestAlgorithm::Md5 => &self.md5,
            DigestAlgorithm::Sha256 => &self.sha256,
        }
    }
}

/// The digest credentials a request carries (one Authorization header, unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `response` (hex).
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: DigestAlgorithm,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `nc`, parsed from its 8 hex digits.
    pub nc: Option<u32>,
    /// `qop`.
    pub qop: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
}

/// Why an Authorization header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// A required parameter is missing.
    #[error("digest credentials lack {0}")]
    Missing(&'static str),
    /// A parameter has a value that cannot be right.
    #[error("digest parameter {name} is invalid: {why}")]
    Invalid {
        /// Parameter name.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The algorithm is not one we offer.
    #[error("digest algorithm {0} is not supported")]
    UnsupportedAlgorithm(String),
}

/// The verdict on a request's digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The credentials are right and fresh.
    Authenticated,
    /// The response is right for a nonce of ours that has expired: challenge with stale=true.
    Stale,
    /// The response is wrong (wrong password, or wrong digest-uri).
    WrongResponse,
    /// The nonce is not one of ours (bad HMAC, undecodable).
    ForeignNonce,
    /// The nonce count did not increase: a replayed request.
    Replay,
    /// The credentials cannot be checked (no qop=auth, realm not ours, …).
    Unusable(String),
}

/// Issues challenges and checks responses; holds the per-nonce counts (bounded by nonce life).
pub struct DigestAuthenticator {
    config: DigestConfig,
    minter: NonceMinter,
    /// Highest `nc` accepted per live nonce, oldest nonce first.
    highest_nc: BTreeMap<NonceStamp, u32>,
    /// [`MAX_TRACKED_NONCES`], smaller in tests.
    max_tracked: usize,
}

// By hand: the keyed HMAC state is as secret as the key.
impl fmt::Debug for DigestAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuthenticator")
            .field("config", &self.config)
            .field("tracked_nonces", &self.highest_nc.len())
            .finish_non_exhaustive()
    }
}

impl DigestAuthenticator {
    /// An authenticator with `config`.
    pub fn new(config: DigestConfig) -> Self {
        DigestAuthenticator {
            minter: NonceMinter::new(&config.secret, &config.realm),
            config,
            highest_nc: BTreeMap::new(),
            max_tracked: MAX_TRACKED_NONCES,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// One `WWW-Authenticate` value per configured algorithm, in preference order, each with a
    /// fresh nonce minted at `now`, `qop="auth"`, and `stale=true` when `stale`.
    pub fn challenges(&self, now: UnixTime, stale: bool) -> Vec<AuthValue> {
        // One nonce for all of them: the client answers one challenge only.
        let nonce = self.minter.mint(now);
        let realm = quoted(&self.config.realm);
        self.config
            .algorithms
            .iter()
            .map(|algorithm| {
                let mut params = vec![
                    Param::new("realm", Some(realm.as_str())),
                    Param::new("nonce", Some(format!("\"{nonce}\""))),
                    Param::new("algorithm", Some(algorithm.token())),
                    Param::new("qop", Some("\"auth\"")),
                ];
                if stale {
                    params.push(Param::new("stale", Some("true")));
                }
                AuthValue {
                    scheme: ByteString::from_static("Digest"),
                    params,
                }
            })
            .collect()
    }

    /// The request's Digest credentials for our realm: `Ok(None)` when it carries none
    /// (no Authorization, another scheme, another realm), an error when they are malformed.
    pub fn credentials(&self, request: &Request) -> Result<Option<DigestResponse>, DigestError> {
        credentials::find(request, &self.config.realm, &self.config.algorithms)
    }

    /// Checks `response` to a request of `method` against the stored `ha1`, at `now`.
    pub fn verify(
        &mut self,
        method: &Method,
        response: &DigestResponse,
        ha1: &Ha1Set,
        now: UnixTime,
    ) -> Verification {
        let (qop, cnonce, nc) = match usable(response, &self.config) {
            Ok(x) => x,
            Err(why) => return Verification::Unusable(why),
        };
        let Some(stamp) = self.minter.open(&response.nonce) else {
            return Verification::ForeignNonce;
        };
        let input = ResponseInput {
            algorithm: response.algorithm,
            ha1: &ha1.for_algorithm(response.algorithm).to_ascii_lowercase(),
            method: method.as_str(),
            digest_uri: &response.uri,
            nonce: &response.nonce,
            nc,
            cnonce,
            qop,
        };
        if !input.matches(&response.response) {
            return Verification::WrongResponse;
        }
        // Only now: RFC 7616 §3.3 says stale=true only when the digest itself was valid.
        if !self.is_live(stamp, now) {
            return Verification::Stale;
        }
        match self.highest_nc.get(&stamp) {
            Some(&highest) if nc <= highest => Verification::Replay,
            _ => {
                self.remember(stamp, nc);
                Verification::Authenticated
            }
        }
    }

    /// Forgets nonce counts of nonces that expired before `now`.
    pub fn purge(&mut self, now: UnixTime) {
        let oldest_live = NonceStamp {
            minted: UnixTime(now.0.saturating_sub(self.config.nonce_lifetime_ms)),
            sequence: 0,
        };
        self.highest_nc = self.highest_nc.split_off(&oldest_live);
    }

    /// Nonces whose counts are being tracked.
    pub fn tracked_nonces(&self) -> usize {
        self.highest_nc.len()
    }

    fn is_live(&self, stamp: NonceStamp, now: UnixTime) -> bool {
        let age = now.ms_since(stamp.minted);
        let ahead = stamp.minted.ms_since(now);
        age <= self.config.nonce_lifetime_ms && ahead <= CLOCK_SKEW_MS
    }

    fn remember(&mut self, stamp: NonceStamp, nc: u32) {
        if !self.highest_nc.contains_key(&stamp) && self.highest_nc.len() >= self.max_tracked {
            self.highest_nc.pop_first();
        }
        self.highest_nc.insert(stamp, nc);
    }
}

/// qop, cnonce and nc of credentials we can check, or why we cannot.
fn usable<'r>(
    response: &'r DigestResponse,
    config: &DigestConfig,
) -> Result<(&'r str, &'r str, u32), String> {
    if response.realm != config.realm {
        return Err(format!(
            "realm {:?} is not ours ({:?})",
            response.realm, config.realm
        ));
    }
    if !config.algorithms.contains(&response.algorithm) {
        return Err(format!(
            "algorithm {} is not offered",
            response.algorithm.token()
        ));
    }
    let qop = match response.qop.as_deref() {
        Some(q) if q.eq_ignore_ascii_case("auth") => q,
        Some(q) => return Err(format!("qop={q} is not offered, only qop=auth")),
        None => {
            return Err(
                "no qop: RFC 2069 digests cannot be checked for replay, qop=auth is required"
                    .to_owned(),
            );
        }
    };
    let cnonce = response
        .cnonce
        .as_deref()
        .ok_or("qop=auth without cnonce")?;
    let nc = response.nc.ok_or("qop=auth without nc")?;
    Ok((qop, cnonce, nc))
}

/// `s` as a quoted-string (RFC 3261 §25.1), quotes and backslashes escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
