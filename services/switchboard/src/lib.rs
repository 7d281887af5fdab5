//! Switchboard: an open-source contact-center server (SIP B2BUA, ACD, IVR).
//!
//! This library holds everything the `switchboard` binary runs, so it can be tested without
//! the binary: configuration ([`config`]), the sans-IO front of the SIP stack and the §8.2
//! checks ([`ua_core`]), the actix transport actors ([`transport`]), the transaction layer
//! ([`transaction_layer`]), the dialog layer ([`dialog_layer`]), the user agent
//! ([`user_agent`]) with the echo extension ([`echo`]), their wiring ([`stack`]) and
//! supervision ([`supervision`]), the four-layer event log ([`events`]), Prometheus metrics
//! ([`metrics`]), the registrar ([`registrar`]), RTP media termination ([`rtp`]), the HTTP endpoints ([`http`]), the server lifecycle ([`server`]), persistence
//! through the `store` crate ([`persistence`]) and the admin subcommands ([`admin`]).

pub mod admin;
pub mod call;
pub mod cli;
pub mod config;
pub mod dialog_layer;
pub mod echo;
pub mod events;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod persistence;
pub mod recording;
pub mod registrar;
pub mod rtp;
pub mod server;
pub mod stack;
pub mod stats;
pub mod supervision;
pub mod transaction_layer;
pub mod transport;
pub mod ua_core;
pub mod user_agent;

/// The `Server` header value Switchboard sends, e.g. `Switchboard/0.1.0`.
pub const SERVER_NAME: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));
