//! RTP media termination: the port allocator, the RTP endpoint actor and its echo core.
//!
//! - [`PortAllocator`] (sans-IO) hands out even RTP ports from `[media] rtp_port_min..max`,
//!   RTCP on port + 1, round-robin, released when the call ends.
//! - [`RtpEndpoint`] (actor) owns one call's RTP and RTCP sockets: it hands each datagram to
//!   the sans-IO [`EchoMedia`] core, sends what the core asks, publishes the digits it hears
//!   and the no-RTP timeout on the event bus, and stops (releasing its ports) when the
//!   call's dialog actor has stopped.
//! - [`prompt_endpoint::PromptEndpoint`] (actor) plays WAV prompts into one leg as paced
//!   G.711 RTP and stops them on a barge-in digit.
//!
//! Metrics: `rtp_packets_total{direction="in"|"out"}` and `rtp_bytes_total{direction}`.

mod echo_media;
mod endpoint;
mod ports;
mod precise_timer;
pub mod prompt_endpoint;
mod prompt_listener;
pub mod relay_endpoint;
pub mod settings;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use media::codec::G711Law;
use prometheus::{IntCounterVec, Opts, Registry};

pub use echo_media::{EchoMedia, EchoMediaConfig, MediaOutput, MediaStats};
pub use endpoint::{BindError, BoundPorts, RtpEndpoint, RtpEndpointSetup, bind_pair};
pub use ports::{PortAllocator, PortError};

use crate::metrics::{MetricsError, register};

/// Default first RTP port.
pub const DEFAULT_RTP_PORT_MIN: u16 = 20_000;
/// Default last port (an RTCP port) of the range.
pub const DEFAULT_RTP_PORT_MAX: u16 = 29_999;
/// Default no-RTP timeout, in seconds.
pub const DEFAULT_RTP_TIMEOUT_SECS: u64 = 30;

/// The media settings of calls Switchboard terminates (`[media]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// The first RTP port (even).
    pub rtp_port_min: u16,
    /// The last port of the range (the RTCP port of the last pair).
    pub rtp_port_max: u16,
    /// No RTP for this long publishes `media_timeout`.
    pub rtp_timeout: Duration,
    /// Audio codecs in order of preference.
    pub codecs: Vec<G711Law>,
    /// Whether audio is searched for in-band DTMF tones.
    pub dtmf_inband: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_port_min: DEFAULT_RTP_PORT_MIN,
            rtp_port_max: DEFAULT_RTP_PORT_MAX,
            rtp_timeout: Duration::from_secs(DEFAULT_RTP_TIMEOUT_SECS),
            codecs: vec![G711Law::Mu, G711Law::A],
            dtmf_inband: true,
        }
    }
}

/// The allocator shared by the user agent (allocates) and the endpoints (release on stop);
/// the lock is held for a set operation only.
#[derive(Debug, Clone)]
pub struct SharedPorts(Arc<Mutex<PortAllocator>>);

impl SharedPorts {
    /// Shares `allocator`.
    pub fn new(allocator: PortAllocator) -> Self {
        SharedPorts(Arc::new(Mutex::new(allocator)))
    }

    /// See [`PortAllocator::allocate`].
    pub fn allocate(&self) -> Result<u16, PortError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allocate()
    }

    /// See [`PortAllocator::release`].
    pub fn release(&self, port: u16) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release(port);
    }

    /// Pairs in use.
    pub fn in_use(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_use()
    }
}

/// The RTP counters in the server's Prometheus registry.
#[derive(Debug, Clone)]
pub struct RtpMetrics {
    packets: IntCounterVec,
    bytes: IntCounterVec,
}

impl RtpMetrics {
    /// Creates the counters in `registry`, both directions at 0.
    pub fn new(registry: &Registry) -> Result<RtpMetrics, MetricsError> {
        let packets = register(
            registry,
            IntCounterVec::new(
                Opts::new("rtp_packets_total", "RTP packets received and sent."),
                &["direction"],
            ),
        )?;
        let bytes = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "rtp_bytes_total",
                    "RTP bytes received and sent (UDP payload).",
                ),
                &["direction"],
            ),
        )?;
        for d in ["in", "out"] {
            packets.with_label_values(&[d]);
            bytes.with_label_values(&[d]);
        }
        Ok(RtpMetrics { packets, bytes })
    }

    /// Counts one packet of `len` bytes in `direction` (`in` or `out`).
    pub fn packet(&self, direction: &'static str, len: usize) {
        self.packets.with_label_values(&[direction]).inc();
        self.bytes
            .with_label_values(&[direction])
            .inc_by(len as u64);
    }
}
