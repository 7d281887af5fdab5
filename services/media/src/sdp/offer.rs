//! The offerer's side of RFC 3264: Switchboard's offer (the B2BUA's outbound leg, re-offers
//! for hold) and checking the answer to it.

use super::negotiate::DEFAULT_PTIME_MS;
use super::{
    Attribute, Codec, Direction, Encoding, Fmtp, LocalMediaConfig, MediaDescription,
    NegotiatedStream, NegotiationError, Proto, RemoteEndpoint, Rtpmap, SessionDescription,
    StreamOutcome, codec::static_payload_type,
};

/// The telephone-event payload type Switchboard offers, as most SIP stacks do.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The events Switchboard offers for telephone-event: the 16 DTMF digits and flash.
pub const TELEPHONE_EVENTS: &str = "0-16";

/// Switchboard's offer: one audio `m=` line per port in `config.rtp_ports`, with the codecs
/// of `config.codec_preference` in order (static payload types where RFC 3551 has one,
/// dynamic ones from 96 otherwise), telephone-event 101 (`0-16`) if enabled, `a=ptime` if
/// set, and `config.direction`. For a re-offer (hold, resume), pass the previous
/// `config.session` advanced with [`SessionVersion::next`](super::SessionVersion::next).
pub fn make_offer(config: &LocalMediaConfig) -> Result<SessionDescription, NegotiationError> {
    if config.rtp_ports.is_empty() {
        return Err(NegotiationError::NoLocalPort);
    }
    let mut rtpmaps: Vec<Rtpmap> = Vec::new();
    let mut next_dynamic = 96u8;
    let mut dynamic = |taken: &[Rtpmap]| {
        while next_dynamic < 127
            && (next_dynamic == TELEPHONE_EVENT_PT
                || taken.iter().any(|r| r.payload_type == next_dynamic))
        {
            next_dynamic += 1;
        }
        let pt = next_dynamic;
        next_dynamic = next_dynamic.saturating_add(1);
        (pt < 128).then_some(pt)
    };
    for codec in config.codec_preference.iter().filter(|c| !c.is_auxiliary()) {
        if rtpmaps.iter().any(|r| r.codec.matches(codec)) {
            continue;
        }
        let Some(payload_type) = static_payload_type(codec).or_else(|| dynamic(&rtpmaps)) else {
            break;
        };
        rtpmaps.push(Rtpmap {
            payload_type,
            codec: codec.clone(),
        });
    }
    if rtpmaps.is_empty() {
        return Err(NegotiationError::NoCodec);
    }
    let mut attributes: Vec<Attribute> = rtpmaps.iter().cloned().map(Attribute::Rtpmap).collect();
    let mut formats: Vec<String> = rtpmaps.iter().map(|r| r.payload_type.to_string()).collect();
    if config.telephone_event {
        formats.push(TELEPHONE_EVENT_PT.to_string());
        attributes.push(Attribute::Rtpmap(Rtpmap {
            payload_type: TELEPHONE_EVENT_PT,
            codec: Codec::telephone_event(),
        }));
        attributes.push(Attribute::Fmtp(Fmtp {
            format: TELEPHONE_EVENT_PT.to_string(),
            params: TELEPHONE_EVENTS.to_owned(),
        }));
    }
    if let Some(ms) = config.ptime {
        attributes.push(Attribute::Ptime(ms));
    }
    attributes.push(Attribute::Direction(config.direction));
    let mut sdp = config.description();
    sdp.media = config
        .rtp_ports
        .iter()
        .map(|port| MediaDescription {
            media: "audio".to_owned(),
            port: *port,
            port_count: None,
            proto: Proto::RtpAvp,
            formats: formats.clone(),
            information: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            attributes: attributes.clone(),
        })
        .collect();
    Ok(sdp)
}

/// Checks `answer` against our `offer` (RFC 3264 §6, §7) and says what each `m=` line
/// became: the same number of `m=` lines with the same media types and profiles; an
/// accepted audio stream must use a payload type from the offer (the first such non-event
/// format is the codec, mapped as the offer mapped it); port 0 on either side rejects the
/// stream, and so does, for the relay, an answer stream carrying telephone-event only. At
/// least one audio stream must be accepted.
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Vec<StreamOutcome>, NegotiationError> {
    if offer.media.len() != answer.media.len() {
        return Err(NegotiationError::StreamCount {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let mut streams = Vec::with_capacity(offer.media.len());
    for (index, (o, a)) in offer.media.iter().zip(&answer.media).enumerate() {
        let line = index + 1;
        if !o.media.eq_ignore_ascii_case(&a.media) || o.proto != a.proto {
            return Err(NegotiationError::StreamMismatch { line });
        }
        if o.port == 0 || a.port == 0 || !o.is_audio() || !o.proto.is_rtp() {
            streams.push(StreamOutcome::Rejected {
                index,
                media: a.media.clone(),
            });
            continue;
        }
        streams.push(match accepted_stream(index, offer, o, answer, a)? {
            Some(stream) => StreamOutcome::Accepted(stream),
            // Events only (RFC 4317 §2.4's second stream): nothing for the relay to carry.
            None => StreamOutcome::Rejected {
                index,
                media: a.media.clone(),
            },
        });
    }
    if streams.iter().any(|s| s.accepted().is_some()) {
        Ok(streams)
    } else {
        Err(NegotiationError::NothingAccepted)
    }
}

/// The stream our offer `o` and the peer's answer `a` agree on; `None` when the answer
/// accepts only telephone-event on it.
fn accepted_stream(
    index: usize,
    offer: &SessionDescription,
    o: &MediaDescription,
    answer: &SessionDescription,
    a: &MediaDescription,
) -> Result<Option<NegotiatedStream>, NegotiationError> {
    let line = index + 1;
    let offered = |pt: u8| o.payload_types().any(|p| p == pt);
    // The codec of an answered payload type: the offer's mapping, which the answer must
    // not contradict (RFC 3264 §6.1: the same number for the same codec).
    let codec_of = |pt: u8| -> Result<Option<Codec>, NegotiationError> {
        let ours = o.codec(pt);
        match (a.rtpmap(pt), &ours) {
            (Some(theirs), Some(ours)) if !theirs.codec.matches(ours) => {
                Err(NegotiationError::PayloadTypeMismatch {
                    line,
                    payload_type: pt,
                })
            }
            _ => Ok(ours),
        }
    };
    let mut chosen = None;
    let mut telephone_event = None;
    for pt in a.payload_types().filter(|pt| offered(*pt)) {
        let Some(codec) = codec_of(pt)? else { continue };
        if codec.encoding == Encoding::TelephoneEvent {
            telephone_event = telephone_event.or(Some((pt, codec.clock_rate)));
        } else if !codec.is_auxiliary() && chosen.is_none() {
            chosen = Some((pt, codec));
        }
    }
    let Some((payload_type, codec)) = chosen else {
        return match telephone_event {
            Some(_) => Ok(None),
            None => Err(NegotiationError::NoOfferedCodec { line }),
        };
    };
    let telephone_event = telephone_event
        .filter(|(_, rate)| *rate == codec.clock_rate)
        .map(|(pt, _)| pt);
    let connection = answer
        .connection_of(a)
        .ok_or(NegotiationError::NoConnection { line })?;
    let remote_rtp = RemoteEndpoint::new(connection, a.port);
    let remote_rtcp = match a.rtcp() {
        Some(r) => RemoteEndpoint::new(r.connection.as_ref().unwrap_or(connection), r.port),
        None => RemoteEndpoint::new(connection, a.port.saturating_add(1)),
    };
    let mut answered = answer.direction_of(a);
    if remote_rtp == RemoteEndpoint::OnHold {
        answered = Direction::from_parts(answered.sends(), false);
    }
    Ok(Some(NegotiatedStream {
        index,
        local_port: o.port,
        remote_rtp,
        remote_rtcp,
        codec,
        payload_type,
        telephone_event,
        direction: answered.reversed().intersect(offer.direction_of(o)),
        ptime: a.ptime().or(o.ptime()).unwrap_or(DEFAULT_PTIME_MS),
    }))
}
