//! Switchboard's registrar core: plain Rust with no sockets, clock or runtime.
//!
//! - [`digest`]: HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760):
//!   challenges offering SHA-256 and MD5, stateless HMAC nonces, nonce-count replay checks.
//! - [`lockout`]: failed-authentication counting per source address and per user, and the
//!   temporary refusal of sources past the limit.
//! - [`location`]: the location service (RFC 3261 §10.3): address-of-record to bindings, each
//!   with the flow it arrived on, REGISTER processing, expiry and reachability (qualify).
//!
//! Every entry point takes the current wall-clock time as a [`UnixTime`]: bindings and nonces
//! outlive the process, so their clock is the wall clock, and tests drive it virtually.

pub mod digest;
pub mod location;
pub mod lockout;
mod time;

pub use time::UnixTime;
