//! The registrar's Prometheus metrics, registered in the server's registry.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sip_registrar_bindings` | gauge | |
//! | `sip_registrar_unreachable_bindings` | gauge | |
//! | `sip_registrar_registrations_total` | counter | `result` ([`RegistrationResult`]) |
//! | `sip_registrar_auth_failures_total` | counter | `reason` ([`AuthFailure`]) |
//! | `sip_registrar_lockouts_total` | counter | |
//! | `sip_registrar_locked_sources` | gauge | |
//! | `sip_registrar_qualify_total` | counter | `result` (`answered`, `unanswered`) |
//! | `sip_registrar_store_pending` | gauge | |

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::metrics::{MetricsError, register};

/// How a REGISTER or a binding ended up, as the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationResult {
    /// A new binding.
    Registered,
    /// An existing binding refreshed.
    Refreshed,
    /// A binding removed by its phone (Expires 0, `Contact: *`).
    Unregistered,
    /// A binding not refreshed in time.
    Expired,
    /// A binding pushed out by the per-AOR contact limit.
    Replaced,
    /// An authenticated REGISTER the location service refused (423, 403, 500, 400).
    Refused,
}

impl RegistrationResult {
    const ALL: [RegistrationResult; 6] = [
        RegistrationResult::Registered,
        RegistrationResult::Refreshed,
        RegistrationResult::Unregistered,
        RegistrationResult::Expired,
        RegistrationResult::Replaced,
        RegistrationResult::Refused,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationResult::Registered => "registered",
            RegistrationResult::Refreshed => "refreshed",
            RegistrationResult::Unregistered => "unregistered",
            RegistrationResult::Expired => "expired",
            RegistrationResult::Replaced => "replaced",
            RegistrationResult::Refused => "refused",
        }
    }
}

/// Why an authentication failed, as the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The digest response was wrong.
    WrongPassword,
    /// No enabled endpoint has the user name.
    UnknownUser,
    /// A nonce count was used again.
    Replay,
    /// The Authorization header could not be used.
    Malformed,
    /// The request came from a locked-out source.
    LockedOut,
}

impl AuthFailure {
    const ALL: [AuthFailure; 5] = [
        AuthFailure::WrongPassword,
        AuthFailure::UnknownUser,
        AuthFailure::Replay,
        AuthFailure::Malformed,
        AuthFailure::LockedOut,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::WrongPassword => "wrong_password",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::Replay => "replay",
            AuthFailure::Malformed => "malformed",
            AuthFailure::LockedOut => "locked_out",
        }
    }
}

/// The registrar's metrics.
#[derive(Clone)]
pub struct RegistrarMetrics {
    bindings: IntGauge,
    unreachable: IntGauge,
    registrations: IntCounterVec,
    auth_failures: IntCounterVec,
    lockouts: IntCounter,
    locked_sources: IntGauge,
    qualify: IntCounterVec,
    store_pending: IntGauge,
}

impl RegistrarMetrics {
    /// Creates the metrics in `registry`, every fixed label value at 0.
    pub fn new(registry: &Registry) -> Result<RegistrarMetrics, MetricsError> {
        let r = registry;
        let m = RegistrarMetrics {
            bindings: register(
                r,
                IntGauge::new("sip_registrar_bindings", "Registered contact bindings."),
            )?,
            unreachable: register(
                r,
                IntGauge::new(
                    "sip_registrar_unreachable_bindings",
                    "Bindings that stopped answering (qualify or closed connection).",
                ),
            )?,
            registrations: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sip_registrar_registrations_total",
                        "Binding changes and refused REGISTERs, by result.",
                    ),
                    &["result"],
                ),
            )?,
            auth_failures: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sip_registrar_auth_failures_total",
                        "Failed REGISTER authentications, by reason.",
                    ),
                    &["reason"],
                ),
            )?,
            lockouts: register(
                r,
                IntCounter::new(
                    "sip_registrar_lockouts_total",
                    "Sources locked out after too many failed authentications.",
                ),
            )?,
            locked_sources: register(
                r,
                IntGauge::new(
                    "sip_registrar_locked_sources",
                    "Source addresses locked out now.",
                ),
            )?,
            qualify: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "sip_registrar_qualify_total",
                        "Qualify OPTIONS sent to bindings, by result.",
                    ),
                    &["result"],
                ),
            )?,
            store_pending: register(
                r,
                IntGauge::new(
                    "sip_registrar_store_pending",
                    "Binding changes waiting to be written to the database.",
                ),
            )?,
        };
        for result in RegistrationResult::ALL {
            m.registrations.with_label_values(&[result.as_str()]);
        }
        for reason in AuthFailure::ALL {
            m.auth_failures.with_label_values(&[reason.as_str()]);
        }
        for result in ["answered", "unanswered"] {
            m.qualify.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Counts a binding change or refusal.
    pub fn registration(&self, result: RegistrationResult) {
        self.registrations
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// Counts a failed authentication.
    pub fn auth_failure(&self, reason: AuthFailure) {
        self.auth_failures
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Counts a lockout.
    pub fn lockout(&self) {
        self.lockouts.inc();
    }

    /// Counts a qualify result.
    pub fn qualify(&self, answered: bool) {
        let result = if answered { "answered" } else { "unanswered" };
        self.qualify.with_label_values(&[result]).inc();
    }

    /// Sets the gauges.
    pub fn set_gauges(&self, bindings: usize, unreachable: usize, locked: usize, pending: usize) {
        let g = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.bindings.set(g(bindings));
        self.unreachable.set(g(unreachable));
        self.locked_sources.set(g(locked));
        self.store_pending.set(g(pending));
    }
}
