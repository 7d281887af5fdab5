//! Wall-clock time as the cores see it.

/// Milliseconds since the Unix epoch (UTC), as passed in by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// `self` plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(ms))
    }

    /// `self` plus `s` seconds (saturating).
    pub fn plus_secs(self, s: u64) -> UnixTime {
        self.plus_ms(s.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub fn ms_since(self, earlier: UnixTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds from `self` until `later`, rounded up, or 0 when `later` has passed.
    pub fn secs_until(self, later: UnixTime) -> u64 {
        later.0.saturating_sub(self.0).div_ceil(1000)
    }
}
