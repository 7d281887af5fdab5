//! The `[registrar]` table of the config file and the settings it resolves to.

use anyhow::bail;
use registrar::digest::{DigestAlgorithm, DigestConfig};
use registrar::location::{ContactLimit, QualifyPolicy, RegisterPolicy};
use registrar::lockout::LockoutPolicy;
use serde::{Deserialize, Serialize};

/// Default digest realm (the realm `switchboard endpoint add` computes HA1 for).
pub const DEFAULT_REALM: &str = store::endpoints::DEFAULT_REALM;

/// What a REGISTER past the per-AOR contact limit does, as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactLimitSetting {
    /// The least recently refreshed bindings make room.
    ReplaceOldest,
    /// The REGISTER gets 403.
    Refuse,
}

/// Algorithm names as written (`SHA-256`, `MD5`; case-insensitive), each at most once.
fn parse_algorithms(names: &[String]) -> anyhow::Result<Vec<DigestAlgorithm>> {
    let mut out = Vec::new();
    for name in names {
        let Some(algorithm) = DigestAlgorithm::from_token(name) else {
            bail!("registrar.digest_algorithms: unknown algorithm {name:?} (SHA-256 or MD5)");
        };
        if out.contains(&algorithm) {
            bail!("registrar.digest_algorithms: {name} is listed twice");
        }
        out.push(algorithm);
    }
    if out.is_empty() {
        bail!("registrar.digest_algorithms must name at least one algorithm");
    }
    Ok(out)
}

fn serialize_algorithms<S: serde::Serializer>(
    algorithms: &[DigestAlgorithm],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(algorithms.iter().map(|a| a.token()))
}

/// The `[registrar]` table; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarFileConfig {
    /// Digest realm of every challenge.
    pub realm: Option<String>,
    /// Shortest registration accepted, in seconds (423 below it).
    pub min_expires: Option<u32>,
    /// Longest registration granted, in seconds (longer ones are shortened).
    pub max_expires: Option<u32>,
    /// Registration length when the REGISTER names none, in seconds.
    pub default_expires: Option<u32>,
    /// Bindings (contacts) per address-of-record.
    pub max_contacts: Option<usize>,
    /// `replace-oldest` or `refuse`.
    pub on_contact_limit: Option<ContactLimitSetting>,
    /// How long a digest nonce is accepted, in seconds.
    pub nonce_lifetime_secs: Option<u64>,
    /// Digest algorithms offered, one challenge each, most preferred first (`SHA-256`, `MD5`).
    pub digest_algorithms: Option<Vec<String>>,
    /// Seconds between OPTIONS pings to each binding (0 turns qualifying off).
    pub qualify_interval_secs: Option<u64>,
    /// Seconds a qualify OPTIONS may go unanswered before it counts as a failure.
    pub qualify_timeout_secs: Option<u64>,
    /// Failed qualifies in a row before a binding is unreachable.
    pub qualify_failures: Option<u32>,
    /// `[registrar.lockout]`
    #[serde(default)]
    pub lockout: LockoutFileConfig,
}

/// The `[registrar.lockout]` table: refusing sources that keep failing authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutFileConfig {
    /// Failed authentications allowed per source address (and per user) within the window.
    pub max_failures: Option<u32>,
    /// The counting window, in seconds.
    pub window_secs: Option<u64>,
    /// How long a source past the limit is refused, in seconds.
    pub lockout_secs: Option<u64>,
}

/// The registrar's effective settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrarSettings {
    /// Digest realm.
    pub realm: String,
    /// Shortest registration accepted, in seconds.
    pub min_expires: u32,
    /// Longest registration granted, in seconds.
    pub max_expires: u32,
    /// Registration length when none is asked for, in seconds.
    pub default_expires: u32,
    /// Bindings per address-of-record.
    pub max_contacts: usize,
    /// What a REGISTER past the limit does.
    pub on_contact_limit: ContactLimitSetting,
    /// Nonce lifetime, in seconds.
    pub nonce_lifetime_secs: u64,
    /// Digest algorithms offered, most preferred first.
    #[serde(serialize_with = "serialize_algorithms")]
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// Seconds between qualify OPTIONS (0: off).
    pub qualify_interval_secs: u64,
    /// Seconds a qualify may go unanswered.
    pub qualify_timeout_secs: u64,
    /// Failed qualifies in a row before unreachable.
    pub qualify_failures: u32,
    /// Failures allowed in the window.
    pub lockout_max_failures: u32,
    /// Counting window, in seconds.
    pub lockout_window_secs: u64,
    /// Lockout length, in seconds.
    pub lockout_secs: u64,
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        RegistrarSettings {
            realm: DEFAULT_REALM.to_string(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 5,
            on_contact_limit: ContactLimitSetting::ReplaceOldest,
            nonce_lifetime_secs: 300,
            // RFC 8760 §2.4: the preferred algorithm first; MD5 for phones without SHA-256.
            digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            qualify_interval_secs: 30,
            qualify_timeout_secs: 5,
            qualify_failures: 2,
            lockout_max_failures: 5,
            lockout_window_secs: 60,
            lockout_secs: 300,
        }
    }
}

impl RegistrarSettings {
    /// The file's values over the defaults, checked.
    pub fn resolve(file: &RegistrarFileConfig) -> anyhow::Result<RegistrarSettings> {
        let d = RegistrarSettings::default();
        let s = RegistrarSettings {
            realm: file.realm.clone().unwrap_or(d.realm),
            min_expires: file.min_expires.unwrap_or(d.min_expires),
            max_expires: file.max_expires.unwrap_or(d.max_expires),
            default_expires: file.default_expires.unwrap_or(d.default_expires),
            max_contacts: file.max_contacts.unwrap_or(d.max_contacts),
            on_contact_limit: file.on_contact_limit.unwrap_or(d.on_contact_limit),
            nonce_lifetime_secs: file.nonce_lifetime_secs.unwrap_or(d.nonce_lifetime_secs),
            digest_algorithms: match &file.digest_algorithms {
                None => d.digest_algorithms,
                Some(names) => parse_algorithms(names)?,
            },
            qualify_interval_secs: file
                .qualify_interval_secs
                .unwrap_or(d.qualify_interval_secs),
            qualify_timeout_secs: file.qualify_timeout_secs.unwrap_or(d.qualify_timeout_secs),
            qualify_failures: file.qualify_failures.unwrap_or(d.qualify_failures),
            lockout_max_failures: file.lockout.max_failures.unwrap_or(d.lockout_max_failures),
            lockout_window_secs: file.lockout.window_secs.unwrap_or(d.lockout_window_secs),
            lockout_secs: file.lockout.lockout_secs.unwrap_or(d.lockout_secs),
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.realm.is_empty() || self.realm.contains(['"', '\\', '\r', '\n']) {
            bail!("registrar.realm must be non-empty text without quotes or backslashes");
        }
        if self.min_expires == 0 {
            bail!("registrar.min_expires must be at least 1");
        }
        if self.max_expires < self.min_expires {
            bail!("registrar.max_expires must not be below min_expires");
        }
        if self.default_expires < self.min_expires || self.default_expires > self.max_expires {
            bail!("registrar.default_expires must lie between min_expires and max_expires");
        }
        if self.max_contacts == 0 || self.max_contacts > 100 {
            bail!("registrar.max_contacts must be 1 to 100");
        }
        if !(10..=86_400).contains(&self.nonce_lifetime_secs) {
            bail!("registrar.nonce_lifetime_secs must be 10 to 86400");
        }
        if self.qualify_interval_secs > 86_400 {
            bail!("registrar.qualify_interval_secs must be at most 86400 (0 turns qualifying off)");
        }
        if self.qualify_timeout_secs == 0 || self.qualify_timeout_secs > 64 {
            bail!("registrar.qualify_timeout_secs must be 1 to 64");
        }
        if self.qualify_failures == 0 {
            bail!("registrar.qualify_failures must be at least 1");
        }
        if self.lockout_max_failures == 0 || self.lockout_window_secs == 0 || self.lockout_secs == 0
        {
            bail!(
                "registrar.lockout: max_failures, window_secs and lockout_secs must be at least 1"
            );
        }
        Ok(())
    }

    /// The location service's registration rules.
    pub fn register_policy(&self) -> RegisterPolicy {
        RegisterPolicy {
            min_expires: self.min_expires,
            max_expires: self.max_expires,
            default_expires: self.default_expires,
            max_contacts: self.max_contacts,
            on_contact_limit: match self.on_contact_limit {
                ContactLimitSetting::ReplaceOldest => ContactLimit::ReplaceOldest,
                ContactLimitSetting::Refuse => ContactLimit::Refuse,
            },
        }
    }

    /// The qualify rules, or none when qualifying is off.
    pub fn qualify_policy(&self) -> Option<QualifyPolicy> {
        (self.qualify_interval_secs > 0).then(|| QualifyPolicy {
            interval_ms: self.qualify_interval_secs * 1000,
            failures_before_unreachable: self.qualify_failures,
        })
    }

    /// The lockout rules.
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.lockout_max_failures,
            window_ms: self.lockout_window_secs * 1000,
            lockout_ms: self.lockout_secs * 1000,
        }
    }

    /// The digest authenticator's configuration, with the nonce key `secret`.
    pub fn digest_config(&self, secret: [u8; 32]) -> DigestConfig {
        DigestConfig {
            realm: self.realm.clone(),
            secret,
            nonce_lifetime_ms: self.nonce_lifetime_secs * 1000,
            algorithms: self.digest_algorithms.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<RegistrarSettings> {
        let file: RegistrarFileConfig = toml::from_str(text)?;
        RegistrarSettings::resolve(&file)
    }

    #[test]
    fn an_empty_table_gives_the_defaults() {
        assert_eq!(parse("").expect("valid"), RegistrarSettings::default());
    }

    #[test]
    fn every_key_is_read() {
        let s = parse(
            r#"
            realm = "pbx.example"
            min_expires = 30
            max_expires = 600
            default_expires = 120
            max_contacts = 2
            on_contact_limit = "refuse"
            nonce_lifetime_secs = 60
            digest_algorithms = ["md5"]
            qualify_interval_secs = 0
            qualify_timeout_secs = 3
            qualify_failures = 1
            [lockout]
            max_failures = 3
            window_secs = 10
            lockout_secs = 20
            "#,
        )
        .expect("valid");
        assert_eq!(s.realm, "pbx.example");
        assert_eq!(s.register_policy().max_contacts, 2);
        assert_eq!(s.register_policy().on_contact_limit, ContactLimit::Refuse);
        assert_eq!(s.qualify_policy(), None);
        assert_eq!(
            s.lockout_policy(),
            LockoutPolicy {
                max_failures: 3,
                window_ms: 10_000,
                lockout_ms: 20_000
            }
        );
        assert_eq!(s.digest_config([0; 32]).nonce_lifetime_ms, 60_000);
        assert_eq!(s.digest_config([0; 32]).algorithms, [DigestAlgorithm::Md5]);
    }

    #[test]
    fn inconsistent_values_are_refused() {
        for bad in [
            "min_expires = 0",
            "min_expires = 100\nmax_expires = 50",
            "default_expires = 10",
            "max_contacts = 0",
            "nonce_lifetime_secs = 1",
            "qualify_failures = 0",
            "realm = \"\"",
            "[lockout]\nmax_failures = 0",
            "digest_algorithms = []",
            "digest_algorithms = [\"MD5\", \"md5\"]",
            "digest_algorithms = [\"SHA-512-256\"]",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(parse("on_contact_limit = \"evict\"").is_err());
        assert!(parse("unknown = 1").is_err());
    }
}
