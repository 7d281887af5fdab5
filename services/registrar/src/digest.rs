//! HTTP digest authentication for REGISTER (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! CONTRACT SKELETON: bodies to be written; signatures are what the switchboard shell uses.

use sip::{AuthValue, Method, Request};

use crate::UnixTime;

/// A digest algorithm offered and accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5` (RFC 2617 / RFC 3261).
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
}

/// How the authenticator is configured.
#[derive(Debug, Clone)]
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

/// An endpoint's stored credentials: HA1 = H(username:realm:password), lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha1Set {
    /// MD5 HA1, 32 hex digits.
    pub md5: String,
    /// SHA-256 HA1, 64 hex digits.
    pub sha256: String,
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
#[derive(Debug)]
pub struct DigestAuthenticator {
    config: DigestConfig,
}

impl DigestAuthenticator {
    /// An authenticator with `config`.
    pub fn new(config: DigestConfig) -> Self {
        DigestAuthenticator { config }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// One `WWW-Authenticate` value per configured algorithm, in preference order, each with a
    /// fresh nonce minted at `now`, `qop="auth"`, and `stale=true` when `stale`.
    pub fn challenges(&self, now: UnixTime, stale: bool) -> Vec<AuthValue> {
        let _ = (now, stale);
        todo!()
    }

    /// The request's Digest credentials for our realm: `Ok(None)` when it carries none
    /// (no Authorization, another scheme, another realm), an error when they are malformed.
    pub fn credentials(&self, request: &Request) -> Result<Option<DigestResponse>, DigestError> {
        let _ = request;
        todo!()
    }

    /// Checks `response` to a request of `method` against the stored `ha1`, at `now`.
    pub fn verify(
        &mut self,
        method: &Method,
        response: &DigestResponse,
        ha1: &Ha1Set,
        now: UnixTime,
    ) -> Verification {
        let _ = (method, response, ha1, now);
        todo!()
    }

    /// Forgets nonce counts of nonces that expired before `now`.
    pub fn purge(&mut self, now: UnixTime) {
        let _ = now;
        todo!()
    }
}
