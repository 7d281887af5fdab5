//! Stateless nonces: the minting time, a sequence number and an HMAC that proves we minted them.
//!
//! A nonce is the lowercase hex of `timestamp (u64 BE, ms) || sequence (u32 BE) || tag`, where
//! `tag` is HMAC-SHA256(secret, timestamp || sequence || realm) cut to [`TAG_LEN`] bytes. No
//! table of issued nonces is kept: any registrar holding the secret can check one, and one
//! minted before a restart is still recognised. The sequence number keeps two challenges
//! minted in the same millisecond apart, so their nonce counts are tracked separately.

use std::sync::atomic::{AtomicU32, Ordering};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::hash::{hex, unhex};
use crate::UnixTime;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a nonce: 128 bits are beyond guessing within a nonce's lifetime.
const TAG_LEN: usize = 16;
const STAMP_LEN: usize = 8 + 4;
/// Length of a nonce in hex digits.
pub(super) const NONCE_HEX_LEN: usize = (STAMP_LEN + TAG_LEN) * 2;

/// What a genuine nonce says about itself; orders by minting time, so the oldest sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct NonceStamp {
    /// When it was minted.
    pub minted: UnixTime,
    /// Its sequence number among nonces minted by this process.
    pub sequence: u32,
}

/// Mints and recognises nonces for one realm and secret.
pub(super) struct NonceMinter {
    /// HMAC keyed with the secret, cloned for each nonce so the key schedule runs once.
    keyed: HmacSha256,
    realm: String,
    next_sequence: AtomicU32,
}

impl NonceMinter {
    pub(super) fn new(secret: &[u8; 32], realm: &str) -> Self {
        // RFC 2104 §2 pads a key shorter than the hash block with zeros, so the zero-padded
        // 64-byte key is the same key, and the infallible constructor takes it.
        let mut block = [0u8; 64];
        block[..secret.len()].copy_from_slice(secret);
        NonceMinter {
            keyed: <HmacSha256 as hmac::digest::KeyInit>::new(&block.into()),
            realm: realm.to_owned(),
            next_sequence: AtomicU32::new(0),
        }
    }

    /// A fresh nonce minted at `now`.
    pub(super) fn mint(&self, now: UnixTime) -> String {
        let stamp = NonceStamp {
            minted: now,
            sequence: self.next_sequence.fetch_add(1, Ordering::Relaxed),
        };
        let mut raw = Vec::with_capacity(STAMP_LEN + TAG_LEN);
        raw.extend_from_slice(&stamp_bytes(stamp));
        raw.extend_from_slice(&self.tag(stamp)[..TAG_LEN]);
        hex(&raw)
    }

    /// The stamp of `nonce` when we minted it (for this realm, with this secret).
    pub(super) fn open(&self, nonce: &str) -> Option<NonceStamp> {
        if nonce.len() != NONCE_HEX_LEN {
            return None;
        }
        let raw = unhex(nonce)?;
        let (stamp_raw, tag) = raw.split_at(STAMP_LEN);
        let (minted, sequence) = stamp_raw.split_at(8);
        let stamp = NonceStamp {
            minted: UnixTime(u64::from_be_bytes(minted.try_into().ok()?)),
            sequence: u32::from_be_bytes(sequence.try_into().ok()?),
        };
        let genuine: bool = self.tag(stamp)[..TAG_LEN].ct_eq(tag).into();
        genuine.then_some(stamp)
    }

    fn tag(&self, stamp: NonceStamp) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(&stamp_bytes(stamp));
        mac.update(self.realm.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn stamp_bytes(stamp: NonceStamp) -> [u8; STAMP_LEN] {
    let mut out = [0u8; STAMP_LEN];
    out[..8].copy_from_slice(&stamp.minted.0.to_be_bytes());
    out[8..].copy_from_slice(&stamp.sequence.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minter() -> NonceMinter {
        NonceMinter::new(&[7u8; 32], "example.com")
    }

    #[test]
    fn a_minted_nonce_opens_to_its_stamp() {
        let m = minter();
        let nonce = m.mint(UnixTime(1_700_000_000_123));
        assert_eq!(nonce.len(), NONCE_HEX_LEN);
        assert!(nonce.bytes().all(|c| c.is_ascii_hexdigit()));
        let stamp = m.open(&nonce);
        assert_eq!(stamp.map(|s| s.minted), Some(UnixTime(1_700_000_000_123)));
    }

    #[test]
    fn nonces_minted_in_the_same_millisecond_differ() {
        let m = minter();
        let a = m.mint(UnixTime(5));
        let b = m.mint(UnixTime(5));
        assert_ne!(a, b);
        assert_ne!(m.open(&a), m.open(&b));
    }

    #[test]
    fn a_nonce_from_another_secret_or_realm_does_not_open() {
        let nonce = minter().mint(UnixTime(5));
        assert_eq!(
            NonceMinter::new(&[8u8; 32], "example.com").open(&nonce),
            None
        );
        assert_eq!(
            NonceMinter::new(&[7u8; 32], "example.org").open(&nonce),
            None
        );
    }

    #[test]
    fn a_tampered_timestamp_does_not_open() {
        let m = minter();
        let nonce = m.mint(UnixTime(5));
        // Moving the timestamp forward (to extend the nonce's life) breaks the tag.
        let forged = format!("{}{}", "00000000000000ff", &nonce[16..]);
        assert_eq!(m.open(&forged), None);
    }

    #[test]
    fn undecodable_nonces_do_not_open() {
        let m = minter();
        assert_eq!(m.open(""), None);
        assert_eq!(m.open("dcd98b7102dd2f0e8b11d0f600bfb0c093"), None);
        assert_eq!(m.open(&"z".repeat(NONCE_HEX_LEN)), None);
    }

    #[test]
    fn the_padded_key_is_the_same_hmac_key() {
        let secret = [0x42u8; 32];
        let m = NonceMinter::new(&secret, "r");
        let stamp = NonceStamp {
            minted: UnixTime(9),
            sequence: 3,
        };
        let Ok(mut direct) = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(&secret) else {
            panic!("HMAC takes any key length");
        };
        direct.update(&stamp_bytes(stamp));
        direct.update(b"r");
        let direct: [u8; 32] = direct.finalize().into_bytes().into();
        assert_eq!(m.tag(stamp), direct);
    }
}
