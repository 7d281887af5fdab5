//! RTP port allocation (sans-IO): even RTP ports from a configured range, RTCP on port + 1.

use std::collections::BTreeSet;

use thiserror::Error;

/// Why no port pair could be handed out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// Every pair of the range is in use.
    #[error("no RTP port free (all {0} port pairs in use)")]
    Exhausted(usize),
}

/// Hands out even RTP ports from `[min, max]` round-robin (RTCP is the odd port above each),
/// so a port just released is the last to be reused: late packets of an ended call are less
/// likely to reach the next one.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    /// The first even port of the range.
    first: u16,
    /// The number of pairs (`first`, `first + 2`, …) in the range.
    pairs: usize,
    /// The pair index the next search starts at.
    next: usize,
    /// Pair indices in use.
    used: BTreeSet<usize>,
}

impl PortAllocator {
    /// An allocator over `[min, max]`: pairs start at the first even port ≥ `min`, and the
    /// RTCP port of the last pair is at most `max`.
    pub fn new(min: u16, max: u16) -> PortAllocator {
        let first = min.saturating_add(min % 2);
        let span = u32::from(max).saturating_sub(u32::from(first)) + 1;
        let pairs = if max > first { (span / 2) as usize } else { 0 };
        PortAllocator {
            first,
            pairs,
            next: 0,
            used: BTreeSet::new(),
        }
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        self.pairs
    }

    /// How many pairs are handed out.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// The next free even RTP port, marked in use.
    pub fn allocate(&mut self) -> Result<u16, PortError> {
        for step in 0..self.pairs {
            let index = (self.next + step) % self.pairs;
            if self.used.insert(index) {
                self.next = (index + 1) % self.pairs;
                return Ok(self.port_of(index));
            }
        }
        Err(PortError::Exhausted(self.pairs))
    }

    /// Gives `port` back; a port not handed out (or outside the range) is ignored.
    pub fn release(&mut self, port: u16) {
        if let Some(index) = self.index_of(port) {
            self.used.remove(&index);
        }
    }

    fn port_of(&self, index: usize) -> u16 {
        // index < pairs, so the port is within the u16 range the constructor measured.
        u16::try_from(usize::from(self.first) + 2 * index).unwrap_or(u16::MAX)
    }

    fn index_of(&self, port: u16) -> Option<usize> {
        let offset = port.checked_sub(self.first)?;
        if !offset.is_multiple_of(2) {
            return None;
        }
        let index = usize::from(offset / 2);
        (index < self.pairs).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_even_ports_round_robin() {
        let mut a = PortAllocator::new(20000, 20009);
        assert_eq!(a.capacity(), 5);
        let got: Vec<u16> = (0..5).map(|_| a.allocate().expect("free")).collect();
        assert_eq!(got, [20000, 20002, 20004, 20006, 20008]);
        assert_eq!(a.allocate(), Err(PortError::Exhausted(5)));
        a.release(20004);
        assert_eq!(a.allocate(), Ok(20004));
    }

    #[test]
    fn a_released_port_is_reused_last() {
        let mut a = PortAllocator::new(20000, 20007);
        let p = a.allocate().expect("free");
        a.release(p);
        assert_eq!(a.allocate(), Ok(20002));
        assert_eq!(a.allocate(), Ok(20004));
        assert_eq!(a.allocate(), Ok(20006));
        assert_eq!(a.allocate(), Ok(20000));
        assert_eq!(a.in_use(), 4);
    }

    #[test]
    fn odd_minimum_rounds_up_and_the_rtcp_port_stays_in_range() {
        let mut a = PortAllocator::new(20001, 20004);
        assert_eq!(a.capacity(), 1);
        assert_eq!(a.allocate(), Ok(20002));
        assert!(a.allocate().is_err());
        assert_eq!(PortAllocator::new(20001, 20005).capacity(), 2);
        assert_eq!(PortAllocator::new(65534, 65535).capacity(), 1);
        assert_eq!(PortAllocator::new(100, 100).capacity(), 0);
        assert!(PortAllocator::new(100, 100).allocate().is_err());
    }

    #[test]
    fn releasing_foreign_ports_is_harmless() {
        let mut a = PortAllocator::new(20000, 20003);
        let p = a.allocate().expect("free");
        a.release(20001);
        a.release(19998);
        a.release(30000);
        assert_eq!(a.in_use(), 1);
        a.release(p);
        assert_eq!(a.in_use(), 0);
    }
}
