//! RTP and RTCP packet checks: the layout is validated here before the `rtp` crate parses the
//! header, and forwarded packets are the received bytes with only the payload type and, when
//! transcoding, the payload rewritten.
//!
//! Why validate first: rtp 0.13's `Header::unmarshal` walks RFC 8285 header extensions without
//! checking that each element fits its block, so a truncated element makes it panic (`Buf`
//! reads past the end) and an overlong one makes it read into the payload. Checking the block
//! here and handing the crate only the header bytes keeps hostile input a counted drop.
//!
//! Why not re-marshal: forwarding the bytes as received keeps SSRC, sequence, timestamp,
//! marker, CSRCs, extensions and padding exactly as the sender wrote them; re-marshalling
//! would normalise padding and extension layout.

use std::ops::Range;

use rtp::header::Header;
use webrtc_util::marshal::Unmarshal;

/// The fixed RTP header (RFC 3550 §5.1).
const FIXED_HEADER: usize = 12;
/// RFC 8285 one-byte header extension profile.
const PROFILE_ONE_BYTE: u16 = 0xBEDE;
/// The two-byte profile as rtp 0.13 matches it (exactly 0x1000, not the 0x100X family).
const PROFILE_TWO_BYTE: u16 = 0x1000;

/// Why a datagram is not a packet the relay forwards.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the fixed header.
    #[error("{0} bytes is shorter than an RTP/RTCP header")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("RTP version {0}, not 2")]
    Version(u8),
    /// The CSRC list or the header extension runs past the end of the datagram.
    #[error("header runs past the end of the packet")]
    Truncated,
    /// An RFC 8285 extension element runs past its extension block.
    #[error("header extension element runs past its block")]
    Extension,
    /// The padding count is 0 or larger than the payload.
    #[error("bad padding count")]
    Padding,
    /// The `rtp` crate refused the header.
    #[error("rtp header: {0}")]
    Header(String),
    /// The second byte is not an RTCP packet type (RFC 5761 §4: 192–223).
    #[error("RTCP packet type {0} out of range")]
    RtcpType(u8),
    /// The RTCP length field says more words than the datagram holds.
    #[error("RTCP length runs past the end of the packet")]
    RtcpLength,
}

/// A validated RTP packet: its header as the `rtp` crate reads it, and where its payload is.
#[derive(Debug, Clone)]
pub(crate) struct RtpView {
    /// The parsed header (SSRC, sequence, timestamp, payload type, marker).
    pub header: Header,
    /// The payload within the datagram, padding excluded.
    pub payload: Range<usize>,
}

/// What a recorder needs of an RTP packet: its payload type, timestamp and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPayload<'a> {
    /// The payload type.
    pub payload_type: u8,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The payload, padding excluded.
    pub payload: &'a [u8],
}

/// The payload type, timestamp and payload of `bytes` if it is an RTP packet the relay
/// would take (the same checks); `None` for anything else.
pub fn rtp_payload(bytes: &[u8]) -> Option<RtpPayload<'_>> {
    if bytes.get(1).is_some_and(|b| (192..=223).contains(b)) {
        return None;
    }
    let view = parse_rtp(bytes).ok()?;
    Some(RtpPayload {
        payload_type: view.header.payload_type,
        timestamp: view.header.timestamp,
        payload: bytes.get(view.payload)?,
    })
}

/// Validates `bytes` as one RTP packet and parses its header with the `rtp` crate.
pub(crate) fn parse_rtp(bytes: &[u8]) -> Result<RtpView, PacketError> {
    if bytes.len() < FIXED_HEADER {
        return Err(PacketError::TooShort(bytes.len()));
    }
    let b0 = bytes[0];
    let version = b0 >> 6;
    if version != 2 {
        return Err(PacketError::Version(version));
    }
    let padding = b0 & 0x20 != 0;
    let extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0F);
    let mut header_len = FIXED_HEADER + 4 * csrc_count;
    if bytes.len() < header_len {
        return Err(PacketError::Truncated);
    }
    if extension {
        let ext = bytes
            .get(header_len..header_len + 4)
            .ok_or(PacketError::Truncated)?;
        let profile = u16::from_be_bytes([ext[0], ext[1]]);
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let start = header_len + 4;
        let end = start + 4 * words;
        let block = bytes.get(start..end).ok_or(PacketError::Truncated)?;
        check_extension_block(profile, block)?;
        header_len = end;
    }
    let mut end = bytes.len();
    if padding {
        let count = usize::from(bytes[end - 1]);
        if count == 0 || count > end - header_len {
            return Err(PacketError::Padding);
        }
        end -= count;
    }
    let mut header_bytes = &bytes[..header_len];
    let header =
        Header::unmarshal(&mut header_bytes).map_err(|e| PacketError::Header(e.to_string()))?;
    Ok(RtpView {
        header,
        payload: header_len..end,
    })
}

/// Checks that every RFC 8285 element of an extension block lies within it, walking the block
/// the way rtp 0.13 does (padding bytes of 0, one-byte id 15 ends the walk).
fn check_extension_block(profile: u16, block: &[u8]) -> Result<(), PacketError> {
    let mut at = 0;
    match profile {
        PROFILE_ONE_BYTE => {
            while let Some(&b) = block.get(at) {
                at += 1;
                if b == 0 {
                    continue;
                }
                if b >> 4 == 0x0F {
                    break;
                }
                at += usize::from(b & 0x0F) + 1;
                if at > block.len() {
                    return Err(PacketError::Extension);
                }
            }
        }
        PROFILE_TWO_BYTE => {
            while let Some(&b) = block.get(at) {
                at += 1;
                if b == 0 {
                    continue;
                }
                let len = *block.get(at).ok_or(PacketError::Extension)?;
                at += 1 + usize::from(len);
                if at > block.len() {
                    return Err(PacketError::Extension);
                }
            }
        }
        // Any other profile is one opaque block, already known to fit.
        _ => {}
    }
    Ok(())
}

/// Validates `bytes` as an RTCP compound packet's first packet: version 2, an RTCP packet
/// type, and a length that fits. The relay forwards RTCP unchanged (SSRCs, sequence numbers
/// and timestamps are preserved, so reports stay true end to end) and needs no more.
pub(crate) fn check_rtcp(bytes: &[u8]) -> Result<(), PacketError> {
    if bytes.len() < 8 {
        return Err(PacketError::TooShort(bytes.len()));
    }
    let version = bytes[0] >> 6;
    if version != 2 {
        return Err(PacketError::Version(version));
    }
    let packet_type = bytes[1];
    if !(192..=223).contains(&packet_type) {
        return Err(PacketError::RtcpType(packet_type));
    }
    let words = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if (words + 1) * 4 > bytes.len() {
        return Err(PacketError::RtcpLength);
    }
    Ok(())
}
