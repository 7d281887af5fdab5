//! A one-shot timer with sub-millisecond precision for pacing RTP: a Linux `timerfd` read
//! through tokio's reactor.
//!
//! Tokio's own timers have a 1 ms wheel and park the reactor with a timeout in whole
//! milliseconds, both rounded up, so a `run_later` fires up to ~2 ms after its deadline and
//! the lateness varies from packet to packet: RTP sent on it jitters by up to ±2 ms before
//! any load. A `timerfd` expires on the kernel's high-resolution clock and wakes the
//! reactor as a readable descriptor, with no rounding.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// One expiry of a [`PreciseTimer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expired;

/// A re-armable one-shot timer on `CLOCK_MONOTONIC` (the clock `Instant` reads).
#[derive(Debug, Clone)]
pub(crate) struct PreciseTimer {
    fd: Arc<AsyncFd<OwnedFd>>,
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

impl PreciseTimer {
    /// A disarmed timer, registered with the current tokio runtime's reactor.
    pub(crate) fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // `AsyncFd::new` is deprecated because a type whose raw descriptor can change under
        // the registration is unsound; an `OwnedFd` owns one descriptor for its whole life
        // and nothing here replaces or closes it, and the safe `new` is the only way in
        // under `unsafe_code = "forbid"`.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(PreciseTimer { fd: Arc::new(fd) })
    }

    /// Arms the timer to expire once, `delay` from now (at least 1 µs, since zero disarms);
    /// an earlier arming is replaced, and an expiry not yet read is forgotten.
    pub(crate) fn set(&self, delay: Duration) -> io::Result<()> {
        let spec = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(delay.max(Duration::from_micros(1))),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// Disarms the timer.
    pub(crate) fn cancel(&self) -> io::Result<()> {
        let spec = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(Duration::ZERO),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// Every expiry, forever (the stream ends only if the reactor goes away).
    pub(crate) fn expiries(&self) -> impl Stream<Item = Expired> + Unpin + use<> {
        Box::pin(futures_util::stream::unfold(
            self.fd.clone(),
            |fd| async move {
                loop {
                    let mut guard = fd.readable().await.ok()?;
                    let mut count = [0u8; 8];
                    match guard.try_io(|inner| {
                        rustix::io::read(inner.get_ref(), &mut count).map_err(io::Error::from)
                    }) {
                        Ok(Ok(_)) => return Some((Expired, fd)),
                        // Re-armed before it was read, or a spurious wake-up: wait again.
                        Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Ok(Err(_)) => return None,
                        Err(_would_block) => {}
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures_util::StreamExt;

    use super::*;

    #[actix_rt::test]
    async fn expires_once_after_the_delay_and_can_be_rearmed_or_cancelled() {
        let timer = PreciseTimer::new().expect("timerfd");
        let mut expiries = timer.expiries();
        let start = Instant::now();
        timer.set(Duration::from_millis(5)).expect("set");
        assert_eq!(expiries.next().await, Some(Expired));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(5), "{waited:?}");

        // A later arming replaces an earlier one.
        timer.set(Duration::from_millis(1)).expect("set");
        timer.set(Duration::from_millis(30)).expect("set");
        let start = Instant::now();
        assert_eq!(expiries.next().await, Some(Expired));
        assert!(start.elapsed() >= Duration::from_millis(25));

        timer.set(Duration::from_millis(5)).expect("set");
        timer.cancel().expect("cancel");
        let quiet = tokio::time::timeout(Duration::from_millis(30), expiries.next()).await;
        assert!(quiet.is_err(), "a cancelled timer does not expire");
    }
}
