//! The echo extension's media core (sans-IO): echoes each RTP packet back and hears DTMF.
//!
//! Every RTP packet is sent back to the address it came from (symmetric RTP, RFC 4961), with
//! its payload, payload type, marker, CSRCs and extension as they came, but as a packet of
//! *our* stream: our own SSRC, our own sequence number (one more per packet echoed), and a
//! timestamp that is the caller's shifted by a fixed offset, so the caller's timing (and the
//! telephone-event durations) survive while the numbers are ours. When the caller's SSRC
//! changes, the offset is recomputed so our timestamps go on from where they were.
//!
//! Telephone-event packets (the negotiated payload type) go to a [`TelephoneEventReceiver`].
//! A marked (event start) packet whose timestamp is *behind* the last event's starts the
//! receiver over: senders that replay recorded events (SIPp's `play_pcap_audio` plays each
//! capture with its own timestamps) would otherwise have their later digits taken for stale
//! copies of earlier ones. Redundant end packets are never marked, so they still count once.
//!
//! G.711 audio, decoded, to an [`InBandDetector`] when in-band detection is on. Each digit
//! either finds is a [`MediaOutput::Dtmf`]. No RTP for the configured time is one
//! [`MediaOutput::Timeout`] (again after the next packet and another silence).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::codec::G711Law;
use media::dtmf::{DtmfEvent, InBandDetector, TelephoneEventReceiver};

/// The payload type range RTCP packets have in their second byte (RFC 5761 §4): such packets
/// on the RTP port are not echoed.
const RTCP_TYPES: std::ops::RangeInclusive<u8> = 64..=95;

/// The smallest RTP header (RFC 3550 §5.1).
const HEADER_LEN: usize = 12;

/// What the echo stream is set up with, from the SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoMediaConfig {
    /// The audio payload type and its G.711 law (none for a codec we do not decode).
    pub audio: Option<(u8, G711Law)>,
    /// The telephone-event payload type, when negotiated.
    pub telephone_event: Option<u8>,
    /// Whether decoded audio goes to the in-band DTMF detector.
    pub inband: bool,
    /// No RTP for this long is a [`MediaOutput::Timeout`].
    pub timeout: Duration,
}

/// What the core asks its endpoint to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutput {
    /// Send `packet` to `to` from the RTP socket.
    Send {
        /// The destination (where the packet echoed came from).
        to: SocketAddr,
        /// The RTP packet.
        packet: Vec<u8>,
    },
    /// A DTMF digit finished.
    Dtmf(DtmfEvent),
    /// No RTP arrived for the configured time.
    Timeout,
}

/// Packet and byte counts of one call's media.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Datagrams received on the RTP port.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Packets echoed.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Datagrams that were not RTP (too short, wrong version) or RTCP.
    pub dropped: u64,
}

/// The fields of an RTP header the core uses, and where its payload lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RtpHeader {
    pub(super) marker: bool,
    pub(super) payload_type: u8,
    pub(super) sequence: u16,
    pub(super) timestamp: u32,
    pub(super) ssrc: u32,
    /// The payload's byte range in the packet.
    pub(super) payload: (usize, usize),
}

/// The header of `data` if it is an RTP packet (version 2, lengths consistent), not RTCP.
pub(super) fn parse_rtp(data: &[u8]) -> Option<RtpHeader> {
    let (&b0, &b1) = (data.first()?, data.get(1)?);
    if data.len() < HEADER_LEN || b0 >> 6 != 2 || RTCP_TYPES.contains(&(b1 & 0x7f)) {
        return None;
    }
    let word = |at: usize| -> Option<u32> {
        let b = data.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut start = HEADER_LEN + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        // Header extension: 4 bytes of profile and length, then length 32-bit words.
        let ext = word(start)?;
        start += 4 + 4 * (ext & 0xffff) as usize;
    }
    let mut end = data.len();
    if b0 & 0x20 != 0 {
        end = end.checked_sub(usize::from(*data.last()?))?;
    }
    if start > end {
        return None;
    }
    let b = data.get(2..4)?;
    Some(RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        sequence: u16::from_be_bytes([b[0], b[1]]),
        timestamp: word(4)?,
        ssrc: word(8)?,
        payload: (start, end),
    })
}

/// The echo core of one call (see the module documentation).
#[derive(Debug)]
pub struct EchoMedia {
    config: EchoMediaConfig,
    ssrc: u32,
    next_sequence: u16,
    /// Caller timestamp + offset = our timestamp, for the caller's current SSRC.
    offset: Option<(u32, u32)>,
    last_timestamp: u32,
    events: TelephoneEventReceiver,
    /// The timestamp of the last telephone-event packet fed to `events`.
    last_event: Option<u32>,
    inband: InBandDetector,
    pcm: Vec<i16>,
    last_packet: Instant,
    timed_out: bool,
    stats: MediaStats,
}

impl EchoMedia {
    /// A core sending as `ssrc` from sequence `sequence` and timestamp `timestamp` on, whose
    /// silence is counted from `now`.
    pub fn new(
        config: EchoMediaConfig,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        now: Instant,
    ) -> Self {
        EchoMedia {
            config,
            ssrc,
            next_sequence: sequence,
            offset: None,
            last_timestamp: timestamp,
            events: TelephoneEventReceiver::default(),
            last_event: None,
            inband: InBandDetector::default(),
            pcm: Vec::new(),
            last_packet: now,
            timed_out: false,
            stats: MediaStats::default(),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    /// Takes one datagram received on the RTP port from `from`.
    pub fn on_datagram(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Vec<MediaOutput> {
        self.stats.packets_in += 1;
        self.stats.bytes_in += data.len() as u64;
        let Some(header) = parse_rtp(data) else {
            self.stats.dropped += 1;
            return Vec::new();
        };
        self.last_packet = now;
        self.timed_out = false;
        let mut out = Vec::with_capacity(1);
        let timestamp = self.our_timestamp(&header);
        let mut packet = data.to_vec();
        if let Some(b) = packet.get_mut(2..12) {
            b[0..2].copy_from_slice(&self.next_sequence.to_be_bytes());
            b[2..6].copy_from_slice(&timestamp.to_be_bytes());
            b[6..10].copy_from_slice(&self.ssrc.to_be_bytes());
        }
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.stats.packets_out += 1;
        self.stats.bytes_out += packet.len() as u64;
        out.push(MediaOutput::Send { to: from, packet });

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
            // A malformed or non-DTMF event (flash, tones) is not a digit: ignored.
            if let Ok(done) = self.events.on_packet(
                header.timestamp,
                header.sequence,
                header.marker,
                payload,
                now,
            ) {
                out.extend(done.into_iter().map(MediaOutput::Dtmf));
            }
        } else if let Some((pt, law)) = self.config.audio
            && pt == header.payload_type
            && self.config.inband
        {
            self.pcm.clear();
            self.pcm.resize(payload.len(), 0);
            if let Ok(n) = law.decode(payload, &mut self.pcm) {
                let heard = self.inband.push(self.pcm.get(..n).unwrap_or(&[]), now);
                out.extend(heard.into_iter().map(MediaOutput::Dtmf));
            }
        }
        out
    }

    /// The decoded audio of RTP `packet` (the caller's or one we echoed) into `pcm`, and its
    /// timestamp; none when it is not audio of the negotiated G.711 payload type.
    pub fn audio_of(&self, packet: &[u8], pcm: &mut Vec<i16>) -> Option<u32> {
        let header = parse_rtp(packet)?;
        let (pt, law) = self.config.audio?;
        if pt != header.payload_type {
            return None;
        }
        let payload = packet.get(header.payload.0..header.payload.1)?;
        pcm.clear();
        pcm.resize(payload.len(), 0);
        let n = law.decode(payload, pcm).ok()?;
        pcm.truncate(n);
        Some(header.timestamp)
    }

    /// Our timestamp for a packet of the caller's: theirs plus the offset of their SSRC.
    fn our_timestamp(&mut self, header: &RtpHeader) -> u32 {
        let offset = match self.offset {
            Some((ssrc, offset)) if ssrc == header.ssrc => offset,
            previous => {
                if previous.is_some() {
                    // A new source: its timestamps and events start over.
                    self.events.reset();
                    self.last_event = None;
                }
                // Go on one 20 ms frame after our last timestamp.
                let offset = self
                    .last_timestamp
                    .wrapping_add(if previous.is_some() { 160 } else { 0 })
                    .wrapping_sub(header.timestamp);
                self.offset = Some((header.ssrc, offset));
                offset
            }
        };
        self.last_timestamp = header.timestamp.wrapping_add(offset);
        self.last_timestamp
    }

    /// When [`poll`](Self::poll) should next be called.
    pub fn next_deadline(&self) -> Instant {
        let silence = self.last_packet + self.config.timeout;
        self.events
            .next_deadline()
            .map_or(silence, |d| d.min(silence))
    }

    /// Finishes a telephone-event whose end packets were lost, and reports the timeout.
    pub fn poll(&mut self, now: Instant) -> Vec<MediaOutput> {
        let mut out = Vec::new();
        if let Some(event) = self.events.poll(now) {
            out.push(MediaOutput::Dtmf(event));
        }
        if !self.timed_out && now >= self.last_packet + self.config.timeout {
            self.timed_out = true;
            out.push(MediaOutput::Timeout);
        }
        out
    }

    /// The no-RTP timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// The stream ended at `now`: digits still in progress, as they stand.
    pub fn finish(&mut self, now: Instant) -> Vec<MediaOutput> {
        // Past any end-packet deadline, so an event in progress is finished.
        let far = now + Duration::from_secs(3600);
        let mut out: Vec<MediaOutput> = self
            .events
            .poll(far)
            .into_iter()
            .map(MediaOutput::Dtmf)
            .collect();
        out.extend(self.inband.finish().map(MediaOutput::Dtmf));
        out
    }
}

#[cfg(test)]
mod tests {
    use media::dtmf::{DtmfDigit, DtmfSource, InBandGenerator, TelephoneEvent};

    use super::*;

    const PEER: &str = "192.0.2.7:4000";

    fn config() -> EchoMediaConfig {
        EchoMediaConfig {
            audio: Some((0, G711Law::Mu)),
            telephone_event: Some(101),
            inband: true,
            timeout: Duration::from_secs(30),
        }
    }

    fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn peer() -> SocketAddr {
        PEER.parse().expect("addr")
    }

    fn sent(out: &[MediaOutput]) -> Vec<(SocketAddr, Vec<u8>)> {
        out.iter()
            .filter_map(|o| match o {
                MediaOutput::Send { to, packet } => Some((*to, packet.clone())),
                _ => None,
            })
            .collect()
    }

    fn digits(out: &[MediaOutput]) -> Vec<(char, DtmfSource)> {
        out.iter()
            .filter_map(|o| match o {
                MediaOutput::Dtmf(e) => Some((e.digit.to_char(), e.source)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn echoes_the_payload_as_our_stream() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 0xabcd, 1000, 50_000, now);
        let a = m.on_datagram(peer(), &rtp(0, true, 7, 900, 0x1111, &[1, 2, 3]), now);
        let b = m.on_datagram(peer(), &rtp(0, false, 8, 1060, 0x1111, &[4, 5]), now);
        let (to, pa) = sent(&a).remove(0);
        let (_, pb) = sent(&b).remove(0);
        assert_eq!(to, peer());
        let ha = parse_rtp(&pa).expect("rtp");
        let hb = parse_rtp(&pb).expect("rtp");
        assert_eq!(
            (ha.ssrc, ha.sequence, ha.timestamp, ha.marker),
            (0xabcd, 1000, 50_000, true)
        );
        assert_eq!((hb.ssrc, hb.sequence, hb.timestamp), (0xabcd, 1001, 50_160));
        assert_eq!(&pa[12..], &[1, 2, 3]);
        assert_eq!(&pb[12..], &[4, 5]);
        assert_eq!(m.stats().packets_out, 2);
    }

    #[test]
    fn a_new_caller_ssrc_continues_our_timestamps() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, now);
        m.on_datagram(peer(), &rtp(0, false, 1, 5_000, 0x22, &[0]), now);
        let out = m.on_datagram(peer(), &rtp(0, false, 1, 77, 0x33, &[0]), now);
        let h = parse_rtp(&sent(&out)[0].1).expect("rtp");
        assert_eq!(h.timestamp, 160);
    }

    #[test]
    fn garbage_and_rtcp_are_counted_not_echoed() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, now);
        for data in [
            &b""[..],
            &[0x80],
            &[0u8; 20],
            &[0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert!(m.on_datagram(peer(), data, now).is_empty());
        }
        // Padding longer than the packet, a CSRC count past the end.
        assert!(
            m.on_datagram(
                peer(),
                &[0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
                now
            )
            .is_empty()
        );
        assert!(
            m.on_datagram(peer(), &[0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], now)
                .is_empty()
        );
        assert_eq!(m.stats().dropped, 6);
    }

    #[test]
    fn random_datagrams_never_panic() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, now);
        for i in 0..20_000u32 {
            let len = rand::random::<u8>() as usize % 64;
            let mut data: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            if let Some(b) = data.first_mut()
                && i % 2 == 0
            {
                // Version 2 half the time, so the header walk is exercised.
                *b = (*b & 0x3f) | 0x80;
            }
            if let Some(b) = data.get_mut(1)
                && i % 4 == 0
            {
                *b = 101 | (*b & 0x80);
            }
            let _ = m.on_datagram(peer(), &data, now);
        }
        let _ = m.poll(now + Duration::from_secs(60));
        let _ = m.finish(now + Duration::from_secs(61));
    }

    #[test]
    fn telephone_events_are_digits_once_each() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, now);
        let mut found = Vec::new();
        for (i, digit) in [DtmfDigit::D1, DtmfDigit::D2, DtmfDigit::D3]
            .into_iter()
            .enumerate()
        {
            let ts = 1000 + 2000 * i as u32;
            for (k, end) in [(0u16, false), (1, false), (2, true), (3, true), (4, true)] {
                let event = TelephoneEvent {
                    event: digit.event_code(),
                    end,
                    volume: 10,
                    duration: 400 * (k.min(2) + 1),
                };
                let p = rtp(101, k == 0, 10 * i as u16 + k, ts, 9, &event.encode());
                found.extend(digits(&m.on_datagram(peer(), &p, now)));
            }
        }
        assert_eq!(
            found,
            [
                ('1', DtmfSource::Rfc4733),
                ('2', DtmfSource::Rfc4733),
                ('3', DtmfSource::Rfc4733)
            ]
        );
    }

    #[test]
    fn a_marked_event_behind_the_last_one_is_a_new_digit() {
        let now = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, now);
        let mut found = Vec::new();
        // Digit 0 at timestamp 17632, then digit 1 at 13280, as SIPp replays them.
        for (digit, ts) in [(DtmfDigit::D0, 17_632u32), (DtmfDigit::D1, 13_280)] {
            for (k, end) in [(0u16, false), (1, false), (2, true), (2, true), (2, true)] {
                let event = TelephoneEvent {
                    event: digit.event_code(),
                    end,
                    volume: 10,
                    duration: 320 * (k + 1),
                };
                let p = rtp(101, k == 0, k, ts, 9, &event.encode());
                found.extend(digits(&m.on_datagram(peer(), &p, now)));
            }
        }
        // A late marked copy of digit 1's start is not a new digit.
        let start = TelephoneEvent {
            event: 1,
            end: false,
            volume: 10,
            duration: 320,
        };
        found.extend(digits(&m.on_datagram(
            peer(),
            &rtp(101, true, 9, 13_280, 9, &start.encode()),
            now,
        )));
        found.extend(digits(&m.poll(now + Duration::from_secs(1))));
        assert_eq!(
            found,
            [('0', DtmfSource::Rfc4733), ('1', DtmfSource::Rfc4733)]
        );
    }

    #[test]
    fn inband_tones_are_digits() {
        let start = Instant::now();
        let mut m = EchoMedia::new(config(), 1, 0, 0, start);
        let mut tones = InBandGenerator::new();
        tones.push_digit(DtmfDigit::D5, 100, 100);
        tones.push_digit(DtmfDigit::Pound, 100, 100);
        let pcm = tones.drain_all();
        let mut found = Vec::new();
        for (i, frame) in pcm.chunks(160).enumerate() {
            let mut payload = vec![0u8; frame.len()];
            G711Law::Mu.encode(frame, &mut payload).expect("encode");
            let now = start + Duration::from_millis(20 * i as u64);
            let p = rtp(0, false, i as u16, 160 * i as u32, 5, &payload);
            found.extend(digits(&m.on_datagram(peer(), &p, now)));
        }
        found.extend(digits(&m.finish(start)));
        assert_eq!(
            found,
            [('5', DtmfSource::InBand), ('#', DtmfSource::InBand)]
        );
    }

    #[test]
    fn silence_times_out_once_until_rtp_comes_back() {
        let start = Instant::now();
        let mut m = EchoMedia::new(
            EchoMediaConfig {
                timeout: Duration::from_secs(2),
                ..config()
            },
            1,
            0,
            0,
            start,
        );
        assert!(m.poll(start + Duration::from_secs(1)).is_empty());
        assert_eq!(m.next_deadline(), start + Duration::from_secs(2));
        assert_eq!(
            m.poll(start + Duration::from_secs(2)),
            [MediaOutput::Timeout]
        );
        assert!(m.poll(start + Duration::from_secs(3)).is_empty());
        let later = start + Duration::from_secs(4);
        m.on_datagram(peer(), &rtp(0, false, 1, 1, 1, &[0]), later);
        assert_eq!(
            m.poll(later + Duration::from_secs(2)),
            [MediaOutput::Timeout]
        );
    }
}
