//! The call engine: Switchboard as a B2BUA between a caller and a registered extension.
//!
//! An INVITE to `sip:<user>@<Switchboard>` (a user that is not the echo extension) becomes a
//! call: one [`CallActor`] that
//!
//! 1. looks the user's bindings up in the registrar (none: 404 for an unknown user, 480
//!    for a known one with no reachable device);
//! 2. binds RTP ports for both legs and sends the callee an INVITE of its own (a new
//!    Call-ID, Switchboard's SDP offer on leg B, the binding's Path as Route, symmetric
//!    routing to where the binding registered from: [`outbound`]);
//! 3. passes the callee's progress to the caller (180, or 183 with Switchboard's SDP answer
//!    on leg A for early media), and its answer (200, the ACK to the callee) or refusal;
//! 4. relays the media between the legs through a [`crate::rtp::relay_endpoint::RelayEndpoint`]
//!    (SDP glue in [`media`]), and ends both legs when either hangs up, when the ring
//!    timer fires (CANCEL, 480) or when the media times out;
//! 5. publishes Call-layer events and writes the CDR when the call ends.
//!
//! The decisions are the sans-IO [`machine::CallMachine`]'s; the actor does the messages.

mod actor;
pub mod announce;
pub mod api;
pub mod machine;
pub mod media;
pub mod outbound;

use std::net::IpAddr;
use std::time::Duration;

pub use actor::{CallActor, CallEnv, CallSetup};

/// The default time a callee may ring before the call is cancelled.
pub const DEFAULT_RING_TIMEOUT_SECS: u64 = 60;

/// How calls behave (`[calls]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// How long the callee may ring before the caller gets 480 "No Answer".
    pub ring_timeout: Duration,
    /// Whether a media timeout (no RTP from a leg for `[media] rtp_timeout_secs`) hangs
    /// the call up.
    pub hangup_on_media_timeout: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            ring_timeout: Duration::from_secs(DEFAULT_RING_TIMEOUT_SECS),
            hangup_on_media_timeout: true,
        }
    }
}

/// Whether `uri`'s host is this Switchboard for a request that arrived at `local`: the IP
/// it arrived on, any IP when listening on the unspecified address, or `localhost`.
pub fn is_local_host(uri: &sip::Uri, local: IpAddr) -> bool {
    let Some(sip) = uri.as_sip() else {
        return false;
    };
    match &sip.host {
        sip::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        host => host
            .ip()
            .is_some_and(|ip| ip == local || local.is_unspecified()),
    }
}

/// The user part of a Request-URI, unescaped, if it is a SIP URI with one.
pub fn target_user(uri: &sip::Uri) -> Option<String> {
    let sip = uri.as_sip()?;
    let user = sip.user_decoded()?;
    String::from_utf8(user.to_vec())
        .ok()
        .filter(|u| !u.is_empty())
}

/// The request's Max-Forwards (70 when it has none).
pub fn max_forwards(request: &sip::Request) -> u8 {
    request
        .headers
        .iter()
        .find_map(|h| match h {
            sip::Header::MaxForwards(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(70)
}
