//! The server lifecycle: bind every SIP socket, start the transport actors, then the HTTP
//! server; run until SIGTERM or SIGINT; then stop HTTP, listeners and connections.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Addr, ArbiterHandle, Supervisor};
use anyhow::Context as _;
use media::recording::RecordingMode;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::config::Settings;
use crate::events::EventBus;
use crate::http::{self, AppState, HealthState};
use crate::metrics::Metrics;
use crate::persistence::Persistence;
use crate::recording::api::RecordingApi;
use crate::recording::{self, RecordingTarget};
use crate::registrar::api::RegistrarApi;
use crate::registrar::{FlushBindings, RegistrarSetup};
use crate::stack::{Services, SipStack, StackConfig};
use crate::stats::SipCounters;
use crate::transport::{
    BoundListener, ListenerInfo, Shutdown, TcpListener, TransportRegistry, UdpListener,
    bind_listener,
};
use crate::ua_core::UaCore;
use crate::user_agent::CallsSetup;

/// How long shutdown waits for TCP connections to flush and close.
const CONNECTION_DRAIN: Duration = Duration::from_secs(2);

/// The running SIP side: the stack's actors (transaction layer, user agent), the listener
/// actors and the transport registry.
pub struct SipTransports {
    udp: Vec<Addr<UdpListener>>,
    tcp: Vec<Addr<TcpListener>>,
    registry: Arc<TransportRegistry>,
    listening: Vec<ListenerInfo>,
    stack: SipStack,
}

impl SipTransports {
    /// Binds UDP and TCP on every address (all or nothing), then starts the SIP stack and the
    /// listener actors. The core's metrics and event bus (if any) are the stack's too.
    ///
    /// Must run inside an actix System.
    pub fn start(
        settings: &Settings,
        core: Arc<UaCore>,
        registrar: RegistrarSetup,
    ) -> anyhow::Result<SipTransports> {
        let calls = CallsSetup {
            config: settings.calls(),
            ..CallsSetup::default()
        };
        SipTransports::start_with(settings, core, registrar, calls)
    }

    /// [`SipTransports::start`] with the call engine's store and CDR writer.
    pub fn start_with(
        settings: &Settings,
        core: Arc<UaCore>,
        registrar: RegistrarSetup,
        calls: CallsSetup,
    ) -> anyhow::Result<SipTransports> {
        let bound: Vec<BoundListener> = settings
            .sip_listen
            .iter()
            .map(|addr| bind_listener(*addr))
            .collect::<anyhow::Result<_>>()?;
        let registry = Arc::new(TransportRegistry::default());
        let transport = settings.transport();
        let services = Services {
            registry: registry.clone(),
            counters: core.counters().clone(),
            metrics: core.metrics().cloned(),
            events: core.events().cloned(),
        };
        let stack = SipStack::start(
            StackConfig {
                timers: settings.sip_timers.transaction_config(),
                echo: settings.echo(),
                registrar,
                workers: settings.sip_workers,
                calls,
            },
            core.clone(),
            services,
        );
        let incoming = stack.incoming();
        // One UDP reader per shard, on the shard's arbiter, each with its own copy of the
        // socket registered with that arbiter's runtime (shard 0: the current arbiter).
        let runtimes = stack
            .arbiters()
            .iter()
            .map(|a| runtime_of(a).map(|rt| (a.clone(), rt)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut sip = SipTransports {
            udp: Vec::new(),
            tcp: Vec::new(),
            registry: registry.clone(),
            listening: Vec::new(),
            stack,
        };
        for b in bound {
            let udp_addr = b.udp_addr().context("UDP socket has no local address")?;
            let tcp_addr = b.tcp_addr().context("TCP listener has no local address")?;
            let mut readers = Vec::new();
            for (arbiter, runtime) in &runtimes {
                let copy = b
                    .udp
                    .try_clone()
                    .with_context(|| format!("cannot share UDP socket {udp_addr}"))?;
                let _entered = runtime.enter();
                let socket = tokio::net::UdpSocket::from_std(copy)
                    .with_context(|| format!("cannot register UDP socket {udp_addr}"))?;
                readers.push((Some(arbiter.clone()), Arc::new(socket)));
            }
            // Shard 0's reader, on the current arbiter.
            let socket = tokio::net::UdpSocket::from_std(b.udp)
                .with_context(|| format!("cannot register UDP socket {udp_addr}"))?;
            readers.insert(0, (None, Arc::new(socket)));
            let tcp = Arc::new(
                tokio::net::TcpListener::from_std(b.tcp)
                    .with_context(|| format!("cannot register TCP listener {tcp_addr}"))?,
            );
            // Sending needs no reader: any copy will do (a send that would block waits on the
            // runtime the copy is registered with).
            registry.register_udp(udp_addr, readers[0].1.clone());
            for (arbiter, udp) in readers {
                let (core_u, reg_u, in_u) = (core.clone(), registry.clone(), incoming.clone());
                let listener = move |_: &mut actix::Context<UdpListener>| {
                    UdpListener::new(udp, udp_addr, core_u, reg_u, in_u)
                };
                sip.udp.push(match arbiter {
                    Some(arbiter) => Supervisor::start_in_arbiter(&arbiter, listener),
                    None => Supervisor::start(listener),
                });
            }
            let (core_t, reg_t, in_t) = (core.clone(), registry.clone(), incoming.clone());
            sip.tcp.push(Supervisor::start(move |_| {
                TcpListener::new(tcp, tcp_addr, core_t, reg_t, in_t, transport)
            }));
            sip.listening.push(ListenerInfo {
                transport: "udp",
                address: udp_addr,
            });
            sip.listening.push(ListenerInfo {
                transport: "tcp",
                address: tcp_addr,
            });
        }
        Ok(sip)
    }

    /// The bound sockets.
    pub fn listening(&self) -> &[ListenerInfo] {
        &self.listening
    }

    /// The registry of open connections and sockets.
    pub fn registry(&self) -> &Arc<TransportRegistry> {
        &self.registry
    }

    /// The SIP stack's actors.
    pub fn stack(&self) -> &SipStack {
        &self.stack
    }

    /// Stops the listeners, writes the registrar's pending binding changes, then closes every
    /// TCP connection (bounded wait).
    pub async fn shutdown(self) {
        // Each listener's Addr is dropped right after queueing Shutdown, so its Supervisor
        // sees no live address when the actor stops and does not restart it.
        for addr in self.udp {
            addr.do_send(Shutdown);
        }
        for addr in self.tcp {
            addr.do_send(Shutdown);
        }
        if self.stack.registrar.send(FlushBindings).await.is_err() {
            warn!("the registrar stopped before its binding changes could be written");
        }
        let conns = self.registry.close_all();
        let count = conns.len();
        let deadline = Instant::now() + CONNECTION_DRAIN;
        while conns.iter().any(Addr::connected) && Instant::now() < deadline {
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        let open = conns.iter().filter(|c| c.connected()).count();
        if open > 0 {
            warn!(
                open,
                "tcp connections still open after the drain period; dropping them"
            );
        }
        // The SIP worker threads last: nothing reaches the transaction layer any more.
        self.stack.stop_workers();
        info!(closed = count - open, "sip transports stopped");
    }
}

/// The tokio runtime an arbiter runs on, to register sockets with from this thread.
fn runtime_of(arbiter: &ArbiterHandle) -> anyhow::Result<tokio::runtime::Handle> {
    let (tx, rx) = std::sync::mpsc::channel();
    if !arbiter.spawn(async move {
        let _ = tx.send(tokio::runtime::Handle::current());
    }) {
        anyhow::bail!("a SIP worker thread stopped at start");
    }
    rx.recv_timeout(Duration::from_secs(5))
        .context("a SIP worker thread did not start")
}

/// Waits for SIGTERM or SIGINT and names the one received.
async fn shutdown_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Runs the server until SIGTERM or SIGINT. Must run inside an actix System.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Signal handlers first, so a signal during startup still ends in a clean exit.
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;

    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;

    let counters = Arc::new(SipCounters::default());
    let metrics = Metrics::new(counters.clone()).context("cannot set up metrics")?;
    let events = EventBus::new();
    // The database first: a bad URL or a schema newer than this binary stops the start here.
    let persistence = Persistence::start(&settings, &events).await?;
    let core = Arc::new(
        UaCore::new(counters)
            .with_metrics(metrics.clone())
            .with_events(events.clone()),
    );
    let registrar =
        crate::registrar::persist::setup_from_store(&settings.registrar, persistence.store())
            .await?;
    let calls = CallsSetup {
        config: settings.calls(),
        store: Some(persistence.store().clone()),
        cdr: Some(persistence.writer_handle()),
    };
    let sip = SipTransports::start_with(&settings, core, registrar, calls)?;
    let listening: Vec<String> = sip.listening().iter().map(ToString::to_string).collect();
    info!(listening = %listening.join(" "), "sip sockets bound");

    let health = HealthState::new(sip.listening().to_vec());
    let state = AppState {
        health: health.clone(),
        events: events.clone(),
        metrics,
        sse: Default::default(),
        registrar: RegistrarApi {
            registrar: Some(sip.stack().registrar.clone()),
            store: Some(persistence.store().clone()),
        },
        recordings: RecordingApi {
            target: RecordingTarget {
                dir: settings
                    .media
                    .recordings_dir
                    .as_ref()
                    .map_or_else(|| settings.data_dir.join("recordings"), PathBuf::from),
                store: Some(persistence.store().clone()),
            },
            default_mode: recording::parse_mode(&settings.media.recording_mode)
                .unwrap_or(RecordingMode::Stereo),
        },
        calls: crate::call::api::CallsApi {
            user_agent: Some(sip.stack().user_agent.clone()),
            prompts_dir: settings
                .media
                .prompts_dir
                .as_ref()
                .map_or_else(|| settings.data_dir.join("prompts"), PathBuf::from),
        },
    };
    let (server, http_addrs) = http::start(settings.http_listen, state)?;
    let handle = server.handle();
    let mut http_task = actix_rt::spawn(server);
    health.set_ready(true);
    info!(
        version = env!("CARGO_PKG_VERSION"),
        http = ?http_addrs,
        data_dir = %settings.data_dir.display(),
        "switchboard ready"
    );

    let http_result = tokio::select! {
        sig = shutdown_signal(&mut term, &mut int) => {
            info!(signal = sig, "shutting down");
            None
        }
        result = &mut http_task => Some(result),
    };
    health.set_ready(false);
    // Ends the event streams, so open SSE responses do not hold up the graceful stop.
    events.close();
    if http_result.is_none() {
        handle.stop(true).await;
        // The server future ends once stopped; its result no longer matters.
        let _ = http_task.await;
    }
    info!("http server stopped");
    sip.shutdown().await;
    persistence.finish().await;

    match http_result {
        None => {
            info!("switchboard stopped");
            Ok(())
        }
        Some(Ok(Ok(()))) => anyhow::bail!("the HTTP server stopped unexpectedly"),
        Some(Ok(Err(e))) => Err(e).context("the HTTP server failed"),
        Some(Err(e)) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
    }
}
