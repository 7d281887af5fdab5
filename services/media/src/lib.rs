//! Switchboard's media plane cores: plain Rust with no sockets, clock or runtime.
//!
//! - [`sdp`]: SDP (RFC 4566) parsing and building, and the RFC 3264 offer/answer negotiation.
//! - [`codec`]: G.711 μ-law and A-law, and PCMU ↔ PCMA transcoding.
//! - [`jitter`]: the jitter buffer of the legs Switchboard terminates.
//! - [`dtmf`]: DTMF as RFC 4733 telephone-events, SIP INFO bodies and in-band tones.
//! - [`prompt`]: WAV prompts (converted to 8 kHz mono) played into a leg as paced G.711 RTP.
//! - [`recording`]: call recording to 8 kHz WAV (stereo or mixed), legs aligned on one timeline.
//! - [`relay`]: the RTP relay of a call's two legs: latching, transcoding, DTMF, timeouts, stats.
//!
//! The actor shells (RTP sockets, pacing timers) live in the `switchboard` crate; every core
//! here takes its input and, where time matters, `now`, and returns what to do.

pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod prompt;
pub mod recording;
pub mod relay;
pub mod sdp;
