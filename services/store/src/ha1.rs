//! Digest credentials: HA1 = H(username ":" realm ":" password), for MD5 (RFC 2617 §3.2.2.2)
//! and SHA-256 (RFC 7616 §3.4.2, RFC 8760 for SIP), as lowercase hex.

use md5::Md5;
use sha2::{Digest, Sha256};

/// Both HA1 values for one username, realm and password. Only these are stored: the
/// password itself never reaches the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha1 {
    /// MD5 HA1, 32 lowercase hex digits.
    pub md5: String,
    /// SHA-256 HA1, 64 lowercase hex digits.
    pub sha256: String,
}

impl Ha1 {
    /// Computes both HA1 values.
    pub fn compute(username: &str, realm: &str, password: &str) -> Ha1 {
        Ha1 {
            md5: hex(&digest::<Md5>(username, realm, password)),
            sha256: hex(&digest::<Sha256>(username, realm, password)),
        }
    }
}

fn digest<D: Digest>(username: &str, realm: &str, password: &str) -> Vec<u8> {
    let mut d = D::new();
    d.update(username.as_bytes());
    d.update(b":");
    d.update(realm.as_bytes());
    d.update(b":");
    d.update(password.as_bytes());
    d.finalize().to_vec()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Lowercase hex SHA-256 of `data` (IVR flow and recording checksums).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_ha1_matches_rfc_2617() {
        // RFC 2617 §3.5: HA1 of "Mufasa:testrealm@host.com:Circle Of Life".
        let ha1 = Ha1::compute("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1.md5, "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn sha256_ha1_matches_an_independent_computation() {
        // RFC 7616 §3.9.1 credentials; value from `printf %s 'Mufasa:http-auth@example.org:Circle
        // of Life' | sha256sum`.
        let ha1 = Ha1::compute("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            ha1.sha256,
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
        assert_eq!(ha1.md5.len(), 32);
    }
}
