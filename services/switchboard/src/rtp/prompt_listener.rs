//! The listening half of a leg Switchboard plays prompts to (sans-IO): where to send (the
//! SDP's address until RTP arrives, then its source: symmetric RTP), and the DTMF the peer
//! sends, as RFC 4733 telephone-events and, when asked, in-band tones.
//!
//! Once latched, packets from any other address are dropped (counted as foreign), so a
//! stranger cannot barge in or take the prompt's audio. A new SSRC, or a marked
//! telephone-event start packet with a timestamp behind the last event's (senders that
//! replay recorded events, like SIPp's `play_pcap_audio`), starts the DTMF receiver over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::codec::G711Law;
use media::dtmf::{DtmfDigit, DtmfEvent, InBandDetector, PayloadError, TelephoneEventReceiver};

use super::echo_media::parse_rtp;

/// What the leg negotiated that the listener needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListenerConfig {
    /// The audio payload type.
    pub(super) audio_pt: u8,
    /// Its G.711 law, when it is G.711 (for in-band detection).
    pub(super) law: Option<G711Law>,
    /// The telephone-event payload type, if negotiated.
    pub(super) telephone_event: Option<u8>,
    /// Whether decoded audio is searched for DTMF tones.
    pub(super) inband: bool,
}

/// What one datagram told.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Heard {
    /// The address RTP is now sent to, when this packet latched it.
    pub(super) latched: Option<SocketAddr>,
    /// Digits that ended with this packet.
    pub(super) finished: Vec<DtmfEvent>,
    /// The key held down after this packet (barge-in need not wait for its end).
    pub(super) held: Option<DtmfDigit>,
}

/// Datagram counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ListenerCounters {
    /// Datagrams received on the RTP port.
    pub(super) packets_in: u64,
    /// Not RTP (too short, wrong version, RTCP) or a truncated telephone-event.
    pub(super) malformed: u64,
    /// From another address than the latched one.
    pub(super) foreign: u64,
}

/// The listener of one leg (see the module documentation).
#[derive(Debug)]
pub(super) struct PromptListener {
    config: ListenerConfig,
    remote: Option<SocketAddr>,
    latched: bool,
    peer_ssrc: Option<u32>,
    events: TelephoneEventReceiver,
    /// The timestamp of the last telephone-event packet taken.
    last_event: Option<u32>,
    inband: Option<InBandDetector>,
    pcm: Vec<i16>,
    counters: ListenerCounters,
}

impl PromptListener {
    /// A listener sending to `remote` (the SDP's address, if usable) until RTP arrives.
    pub(super) fn new(config: ListenerConfig, remote: Option<SocketAddr>) -> Self {
        PromptListener {
            inband: (config.inband && config.law.is_some()).then(InBandDetector::default),
            config,
            remote,
            latched: false,
            peer_ssrc: None,
            events: TelephoneEventReceiver::default(),
            last_event: None,
            pcm: Vec::new(),
            counters: ListenerCounters::default(),
        }
    }

    /// Where RTP goes now.
    pub(super) fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The counts so far.
    pub(super) fn counters(&self) -> ListenerCounters {
        self.counters
    }

    /// Takes one datagram received on the RTP port from `from`.
    pub(super) fn on_datagram(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Heard {
        let mut heard = Heard::default();
        self.counters.packets_in += 1;
        let Some(header) = parse_rtp(data) else {
            self.counters.malformed += 1;
            return heard;
        };
        if self.latched && self.remote != Some(from) {
            self.counters.foreign += 1;
            return heard;
        }
        if !self.latched {
            self.latched = true;
            if self.remote != Some(from) {
                heard.latched = Some(from);
            }
            self.remote = Some(from);
        }
        if self.peer_ssrc.is_some_and(|s| s != header.ssrc) {
            // A new source: its timestamps and events start over.
            self.events.reset();
            self.last_event = None;
        }
        self.peer_ssrc = Some(header.ssrc);
        let payload = data.get(header.payload.0..header.payload.1).unwrap_or(&[]);
        if Some(header.payload_type) == self.config.telephone_event {
            if header.marker
                && let Some(last) = self.last_event
                && last != header.timestamp
                && last.wrapping_sub(header.timestamp) < 0x8000_0000
            {
                // A new event from the past: the sender restarted its timestamps.
                self.events.reset();
            }
            self.last_event = Some(header.timestamp);
            match self.events.on_packet(
                header.timestamp,
                header.sequence,
                header.marker,
                payload,
                now,
            ) {
                Ok(done) => heard.finished = done,
                Err(PayloadError::Short(_)) => self.counters.malformed += 1,
                // Flash and other non-DTMF events: not digits.
                Err(PayloadError::NotDtmf(_)) => {}
            }
            heard.held = self.events.in_progress();
        } else if header.payload_type == self.config.audio_pt
            && let (Some(law), Some(detector)) = (self.config.law, self.inband.as_mut())
        {
            self.pcm.clear();
            self.pcm.resize(payload.len(), 0);
            if let Ok(n) = law.decode(payload, &mut self.pcm) {
                heard.finished = detector.push(self.pcm.get(..n).unwrap_or(&[]), now);
            }
            heard.held = detector.in_progress();
        }
        heard
    }

    /// When [`poll`](Self::poll) is next due: a telephone-event whose end packets are late.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.events.next_deadline()
    }

    /// Ends a telephone-event whose end packets never came.
    pub(super) fn poll(&mut self, now: Instant) -> Option<DtmfEvent> {
        self.events.poll(now)
    }

    /// Ends what is in progress (the leg is going away): a key held still counts.
    pub(super) fn finish(&mut self, now: Instant) -> Vec<DtmfEvent> {
        let mut done: Vec<DtmfEvent> = self
            .events
            .poll(now + Duration::from_secs(3600))
            .into_iter()
            .collect();
        if let Some(detector) = self.inband.as_mut() {
            done.extend(detector.finish());
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    const NAT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);

    fn listener() -> PromptListener {
        let config = ListenerConfig {
            audio_pt: 0,
            law: Some(G711Law::Mu),
            telephone_event: Some(101),
            inband: false,
        };
        PromptListener::new(config, Some(PEER))
    }

    fn event(seq: u16, ts: u32, marker: bool, end: bool, code: u8) -> Vec<u8> {
        let mut p = vec![0x80, if marker { 0x80 | 101 } else { 101 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&[code, if end { 0x8a } else { 0x0a }, 0, 160]);
        p
    }

    #[test]
    fn latches_to_the_first_source_and_drops_strangers() {
        let mut l = listener();
        let now = Instant::now();
        let heard = l.on_datagram(NAT, &event(1, 0, true, false, 5), now);
        assert_eq!(heard.latched, Some(NAT));
        assert_eq!(l.remote(), Some(NAT));
        let heard = l.on_datagram(PEER, &event(2, 0, false, true, 5), now);
        assert_eq!(heard, Heard::default(), "a stranger is not heard");
        assert_eq!(l.counters().foreign, 1);
    }

    #[test]
    fn a_digit_is_held_at_its_first_packet_and_finished_once() {
        let mut l = listener();
        let now = Instant::now();
        let heard = l.on_datagram(PEER, &event(1, 800, true, false, 5), now);
        assert_eq!(heard.latched, None, "the SDP's address already");
        assert_eq!(heard.held, DtmfDigit::from_char('5'));
        assert!(heard.finished.is_empty());
        let mut finished = Vec::new();
        for seq in 2..5 {
            finished.extend(
                l.on_datagram(PEER, &event(seq, 800, false, true, 5), now)
                    .finished,
            );
        }
        assert_eq!(finished.len(), 1, "three end packets, one digit");
        assert_eq!(Some(finished[0].digit), DtmfDigit::from_char('5'));
        assert!(l.next_deadline().is_none());
    }

    #[test]
    fn malformed_datagrams_are_counted_and_a_held_key_ends_with_the_leg() {
        let mut l = listener();
        let now = Instant::now();
        for junk in [
            &[][..],
            &[0x80, 0][..],
            &[0x40; 20][..],
            &[0x80, 200, 0, 1, 0, 0, 0, 0][..],
        ] {
            assert_eq!(l.on_datagram(PEER, junk, now), Heard::default());
        }
        let mut short = event(1, 0, true, false, 5);
        short.truncate(14);
        l.on_datagram(PEER, &short, now);
        assert_eq!(l.counters().malformed, 5);
        l.on_datagram(PEER, &event(2, 0, true, false, 9), now);
        assert!(l.next_deadline().is_some());
        let done = l.finish(now);
        assert_eq!(done.len(), 1);
        assert_eq!(Some(done[0].digit), DtmfDigit::from_char('9'));
    }
}
