//! The registrar's cache of endpoint credentials (HA1 values from the store).
//!
//! A REGISTER with credentials needs its user's HA1. Asking the database for every one would
//! put a query on the hot path of every registration refresh, so answers are kept for a while:
//! found ones for [`FOUND_TTL`], unknown users for [`UNKNOWN_TTL`] (an endpoint added with
//! `switchboard endpoint add` can register within seconds). A changed password or a removed
//! endpoint takes effect within [`FOUND_TTL`].
//!
//! Every [`SNAPSHOT_INTERVAL`] (and at start) the registrar also loads the credentials of
//! every enabled endpoint in one query ([`CredentialCache::refresh`]), so a known endpoint's
//! REGISTER never waits for the database: not after the cache lifetime, and not in the
//! storm of registrations that follows a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registrar::digest::Ha1Set;

/// How long found credentials are used before they are read again.
pub const FOUND_TTL: Duration = Duration::from_secs(60);
/// How long "no such endpoint" is believed.
pub const UNKNOWN_TTL: Duration = Duration::from_secs(5);
/// How often every enabled endpoint's credentials are loaded at once (well inside
/// [`FOUND_TTL`], so loaded entries never lapse between two loads).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(30);

/// An endpoint's stored digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCredentials {
    /// The realm its HA1 values were computed for.
    pub realm: String,
    /// The HA1 values.
    pub ha1: Ha1Set,
}

/// What the cache knows about a user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedCredentials {
    /// An enabled endpoint with these credentials.
    Known(Arc<EndpointCredentials>),
    /// No such (enabled) endpoint.
    Unknown,
    /// Not cached: ask the store.
    Miss,
}

struct Entry {
    value: Option<Arc<EndpointCredentials>>,
    fetched: Instant,
}

/// User name → credentials, with expiry.
#[derive(Default)]
pub struct CredentialCache {
    entries: HashMap<Box<str>, Entry>,
}

impl CredentialCache {
    /// What is cached for `username` at `now`.
    pub fn get(&self, username: &str, now: Instant) -> CachedCredentials {
        match self.entries.get(username) {
            Some(e) if now.duration_since(e.fetched) < ttl(&e.value) => match &e.value {
                Some(c) => CachedCredentials::Known(c.clone()),
                None => CachedCredentials::Unknown,
            },
            _ => CachedCredentials::Miss,
        }
    }

    /// Records what the store said about `username` at `now`.
    pub fn put(&mut self, username: &str, value: Option<Arc<EndpointCredentials>>, now: Instant) {
        self.entries.insert(
            username.into(),
            Entry {
                value,
                fetched: now,
            },
        );
    }

    /// Records a load of every enabled endpoint's credentials at `now`: each is known from
    /// then for [`FOUND_TTL`]. Entries for users not in it stay until their own lifetime
    /// ends (a removed endpoint is refused once that has passed).
    pub fn refresh(
        &mut self,
        all: impl IntoIterator<Item = (String, Arc<EndpointCredentials>)>,
        now: Instant,
    ) {
        for (username, credentials) in all {
            self.put(&username, Some(credentials), now);
        }
    }

    /// Drops entries past their lifetime.
    pub fn purge(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| now.duration_since(e.fetched) < ttl(&e.value));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn ttl(value: &Option<Arc<EndpointCredentials>>) -> Duration {
    if value.is_some() {
        FOUND_TTL
    } else {
        UNKNOWN_TTL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Arc<EndpointCredentials> {
        Arc::new(EndpointCredentials {
            realm: "switchboard".into(),
            ha1: Ha1Set {
                md5: "0".repeat(32),
                sha256: "0".repeat(64),
            },
        })
    }

    #[test]
    fn found_credentials_are_kept_for_their_lifetime() {
        let mut cache = CredentialCache::default();
        let t0 = Instant::now();
        assert_eq!(cache.get("alice", t0), CachedCredentials::Miss);
        cache.put("alice", Some(creds()), t0);
        assert_eq!(
            cache.get("alice", t0 + Duration::from_secs(59)),
            CachedCredentials::Known(creds())
        );
        assert_eq!(cache.get("alice", t0 + FOUND_TTL), CachedCredentials::Miss);
    }

    #[test]
    fn a_snapshot_makes_every_endpoint_known_and_keeps_them_known_while_it_repeats() {
        let mut cache = CredentialCache::default();
        let t0 = Instant::now();
        cache.put("mallory", None, t0);
        let all = || {
            vec![
                ("alice".to_owned(), creds()),
                ("mallory".to_owned(), creds()),
            ]
        };
        cache.refresh(all(), t0);
        assert_eq!(cache.get("alice", t0), CachedCredentials::Known(creds()));
        assert_eq!(
            cache.get("mallory", t0),
            CachedCredentials::Known(creds()),
            "added since"
        );
        // Loads every SNAPSHOT_INTERVAL: never a miss in between.
        let mut t = t0;
        for _ in 0..4 {
            t += SNAPSHOT_INTERVAL;
            assert_eq!(cache.get("alice", t), CachedCredentials::Known(creds()));
            cache.refresh(all(), t);
        }
        // An endpoint gone from the loads lapses after its lifetime.
        cache.refresh(vec![("mallory".to_owned(), creds())], t);
        assert_eq!(cache.get("alice", t + FOUND_TTL), CachedCredentials::Miss);
    }

    #[test]
    fn unknown_users_are_asked_again_soon() {
        let mut cache = CredentialCache::default();
        let t0 = Instant::now();
        cache.put("mallory", None, t0);
        assert_eq!(cache.get("mallory", t0), CachedCredentials::Unknown);
        assert_eq!(
            cache.get("mallory", t0 + UNKNOWN_TTL),
            CachedCredentials::Miss
        );
        cache.purge(t0 + UNKNOWN_TTL);
        assert!(cache.is_empty());
    }
}
