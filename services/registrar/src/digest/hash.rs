//! The digest arithmetic of RFC 7616 §3.4.1 (RFC 2617 §3.2.2 for MD5), in lowercase hex.

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::DigestAlgorithm;

/// `H(data)` as lowercase hex: MD5 or SHA-256 of the pieces joined by `:`.
pub(super) fn h(algorithm: DigestAlgorithm, pieces: &[&[u8]]) -> String {
    match algorithm {
        DigestAlgorithm::Md5 => hex(&joined::<Md5>(pieces)),
        DigestAlgorithm::Sha256 => hex(&joined::<Sha256>(pieces)),
    }
}

fn joined<D: Digest>(pieces: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for (k, piece) in pieces.iter().enumerate() {
        if k > 0 {
            d.update(b":");
        }
        d.update(piece);
    }
    d.finalize().to_vec()
}

/// HA1 = H(username:realm:password).
pub(super) fn ha1(
    algorithm: DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
) -> String {
    h(
        algorithm,
        &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
    )
}

/// The request-digest for qop=auth:
/// `H(HA1:nonce:nc:cnonce:qop:H(method:digest-uri))`, nc written as 8 lowercase hex digits.
pub(super) struct ResponseInput<'a> {
    pub algorithm: DigestAlgorithm,
    /// Stored HA1, lowercase hex.
    pub ha1: &'a str,
    pub method: &'a str,
    pub digest_uri: &'a str,
    pub nonce: &'a str,
    pub nc: u32,
    pub cnonce: &'a str,
    pub qop: &'a str,
}

impl ResponseInput<'_> {
    /// The expected `response`, lowercase hex.
    pub(super) fn digest(&self) -> String {
        self.digest_with_nc(&format!("{:08x}", self.nc))
    }

    /// Whether `given` is the right response. `nc` is hashed as written by RFC 2617 (lower
    /// case); a client that hashed it in upper case gets a second chance, as the value is
    /// the same number.
    pub(super) fn matches(&self, given: &str) -> bool {
        if hex_eq(&self.digest(), given) {
            return true;
        }
        let upper = format!("{:08X}", self.nc);
        upper != format!("{:08x}", self.nc) && hex_eq(&self.digest_with_nc(&upper), given)
    }

    /// The `response` with `nc` hashed as the given text.
    pub(super) fn digest_with_nc(&self, nc: &str) -> String {
        let ha2 = h(
            self.algorithm,
            &[self.method.as_bytes(), self.digest_uri.as_bytes()],
        );
        h(
            self.algorithm,
            &[
                self.ha1.as_bytes(),
                self.nonce.as_bytes(),
                nc.as_bytes(),
                self.cnonce.as_bytes(),
                self.qop.as_bytes(),
                ha2.as_bytes(),
            ],
        )
    }
}

/// Whether two hex strings are equal ignoring case, in time independent of where they differ
/// (a timing oracle on the response would let an attacker build a valid one byte by byte).
pub(super) fn hex_eq(expected_lower: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase();
    expected_lower.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Whether `s` is exactly `len` hex digits (either case).
pub(super) fn is_hex_of_len(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit())
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The bytes of an even-length hex string (either case), or `None`.
pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}
