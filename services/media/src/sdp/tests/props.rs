//! No input makes the parser panic; whatever parses survives a build and a re-parse.

use proptest::prelude::*;

use super::*;

/// Valid samples with one line dropped, duplicated or cut, or one byte replaced.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let samples = [
        BARESIP,
        ASTERISK,
        VIDEO_AND_AUDIO,
        ICE_AND_CRYPTO,
        SIPP_UAC_PCAP,
    ];
    (0..samples.len(), any::<usize>(), any::<u8>(), 0..4u8).prop_map(
        move |(which, at, byte, how)| {
            let sample = samples[which];
            let lines: Vec<&str> = sample.split_inclusive('\n').collect();
            let i = at % lines.len();
            let mut out: Vec<u8> = Vec::new();
            for (n, line) in lines.iter().enumerate() {
                match how {
                    0 if n == i => {}
                    1 if n == i => {
                        out.extend_from_slice(line.as_bytes());
                        out.extend_from_slice(line.as_bytes());
                    }
                    2 if n == i => out.extend_from_slice(&line.as_bytes()[..line.len() / 2]),
                    _ => out.extend_from_slice(line.as_bytes()),
                }
            }
            if how == 3 {
                let j = at % out.len();
                out[j] = byte;
            }
            out
        },
    )
}

fn round_trips(bytes: &[u8]) {
    if let Ok(parsed) = SessionDescription::parse(bytes) {
        let built = parsed.to_string();
        assert_eq!(sdp(&built), parsed, "{built:?}");
        // Negotiating whatever parsed must not panic either.
        let _ = crate::sdp::negotiate_answer(&parsed, &config());
        let _ = crate::sdp::process_answer(&parsed, &parsed);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        round_trips(&bytes);
    }

    #[test]
    fn random_sdp_like_text_never_panics(text in "(v=0|[a-z]=[ -~\r]{0,30}|m=audio [0-9]{1,6} RTP/AVP[ 0-9]{0,12}|a=(rtpmap|fmtp|ptime|rtcp):[ -~]{0,20})(\r?\n([a-z]=[ -~]{0,30}|m=audio [0-9]{1,6} RTP/AVP[ 0-9]{0,12}|a=(rtpmap|fmtp|ptime|rtcp|sendonly):[ -~]{0,20}|))*") {
        round_trips(text.as_bytes());
    }

    #[test]
    fn mutated_samples_never_panic(bytes in mutated()) {
        round_trips(&bytes);
    }
}
