//! G.711 checked against its definition, published decoder values and the conversion tables'
//! properties; every i16 sample is tried (65,536 is cheap).

use super::*;

/// μ-law decoder output for `code`, written from G.711 Table 2a's shape independently of
/// the implementation: segment `s` spans 14-bit values from 2^(s+5) - 33 in steps of
/// 2^(s+1), and the output is the middle of interval `m` of the segment.
fn reference_ulaw(code: u8) -> i16 {
    let bits = !code;
    let negative = bits & 0x80 != 0;
    let s = u32::from((bits >> 4) & 7);
    let m = i32::from(bits & 0x0F);
    let start = (1i32 << (s + 5)) - 33;
    let value = start + (1 << s) * (2 * m + 1);
    let scaled = i16::try_from(value * 4).expect("fits");
    if negative { -scaled } else { scaled }
}

/// A-law decoder output for `code` from G.711 Table 1a's shape: segment 0 spans 0..32 in
/// steps of 2 (13-bit units), segment `s` ≥ 1 spans 2^(s+4)..2^(s+5) in steps of 2^s.
fn reference_alaw(code: u8) -> i16 {
    let bits = code ^ 0x55;
    let positive = bits & 0x80 != 0;
    let s = u32::from((bits >> 4) & 7);
    let m = i32::from(bits & 0x0F);
    let value = if s == 0 {
        2 * m + 1
    } else {
        (1 << (s + 4)) + (1 << (s - 1)) * (2 * m + 1)
    };
    let scaled = i16::try_from(value * 8).expect("fits");
    if positive { scaled } else { -scaled }
}

/// The signed position of a μ-law code on the number line (0 for both zeros).
fn ulaw_rank(code: u8) -> i32 {
    let level = i32::from(!code & 0x7F);
    if code & 0x80 != 0 { level } else { -level }
}

/// The signed position of an A-law code on the number line (A-law has no zero: ±1 upward).
fn alaw_rank(code: u8) -> i32 {
    let bits = code ^ 0x55;
    let level = i32::from(bits & 0x7F) + 1;
    if bits & 0x80 != 0 { level } else { -level }
}

#[test]
fn decode_tables_match_the_segment_definition_for_all_256_codes() {
    for code in 0..=255u8 {
        assert_eq!(ulaw_decode(code), reference_ulaw(code), "μ-law {code:#04x}");
        assert_eq!(alaw_decode(code), reference_alaw(code), "A-law {code:#04x}");
    }
}

#[test]
fn decode_matches_published_reference_values() {
    // Values of the widely published Sun/CCITT decode tables.
    let ulaw = [
        (0x00, -32124),
        (0x01, -31100),
        (0x0F, -16764),
        (0x10, -15996),
        (0x2F, -4092),
        (0x30, -3900),
        (0x5F, -396),
        (0x70, -120),
        (0x7E, -8),
        (0x7F, 0),
        (0x80, 32124),
        (0xAF, 4092),
        (0xFE, 8),
        (0xFF, 0),
    ];
    for (code, value) in ulaw {
        assert_eq!(ulaw_decode(code), value, "μ-law {code:#04x}");
    }
    let alaw = [
        (0x00, -5504),
        (0x01, -5248),
        (0x02, -6016),
        (0x04, -4480),
        (0x2A, -32256),
        (0x30, -11008),
        (0x55, -8),
        (0x80, 5504),
        (0xAA, 32256),
        (0xD5, 8),
    ];
    for (code, value) in alaw {
        assert_eq!(alaw_decode(code), value, "A-law {code:#04x}");
    }
}

#[test]
fn encode_of_decode_is_identity_except_mulaw_negative_zero() {
    for code in 0..=255u8 {
        let expected_ulaw = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            ulaw_encode(ulaw_decode(code)),
            expected_ulaw,
            "μ-law {code:#04x}"
        );
        assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
    }
    assert_eq!(ulaw_encode(0), 0xFF);
    assert_eq!(alaw_encode(0), 0xD5);
    assert_eq!(ulaw_encode(-1), 0x7F);
    assert_eq!(alaw_encode(-1), 0x55);
}

#[test]
fn encode_is_monotonic_over_every_sample() {
    let mut previous = (
        ulaw_rank(ulaw_encode(i16::MIN)),
        alaw_rank(alaw_encode(i16::MIN)),
    );
    for sample in i16::MIN..=i16::MAX {
        let ranks = (
            ulaw_rank(ulaw_encode(sample)),
            alaw_rank(alaw_encode(sample)),
        );
        assert!(ranks.0 >= previous.0, "μ-law not monotonic at {sample}");
        assert!(ranks.1 >= previous.1, "A-law not monotonic at {sample}");
        previous = ranks;
    }
    assert_eq!(ulaw_encode(i16::MIN), 0x00);
    assert_eq!(ulaw_encode(i16::MAX), 0x80);
    assert_eq!(alaw_encode(i16::MIN), 0x2A);
    assert_eq!(alaw_encode(i16::MAX), 0xAA);
}

/// Half the quantisation step of the segment holding `value`, in 16-bit units, plus one
/// for the ones'-complement treatment of negatives.
fn ulaw_half_step(value: i16) -> i32 {
    let magnitude = i32::from(value).abs() / 4 + 33;
    let segment = (31 - magnitude.leading_zeros() as i32 - 5).clamp(0, 7);
    (1 << (segment + 1)) * 4 / 2 + 1
}

/// As [`ulaw_half_step`] for A-law, whose segments 0 and 1 share the smallest step.
fn alaw_half_step(value: i16) -> i32 {
    let magnitude = i32::from(value).abs() / 8;
    let segment = (31 - magnitude.max(1).leading_zeros() as i32 - 4).clamp(1, 7);
    (1 << segment) * 8 / 2 + 1
}

#[test]
fn quantisation_error_is_at_most_half_a_step_for_every_sample() {
    for sample in i16::MIN..=i16::MAX {
        let s = i32::from(sample);
        let u = ulaw_decode(ulaw_encode(sample));
        let a = alaw_decode(alaw_encode(sample));
        // Beyond the top decision level the laws clip to their largest output.
        if s.abs() <= 32_635 {
            assert!(
                (s - i32::from(u)).abs() <= ulaw_half_step(u),
                "μ-law {sample} → {u}"
            );
        } else {
            assert_eq!(i32::from(u).abs(), 32_124, "μ-law clip at {sample}");
        }
        if s.abs() <= 32_767 - 255 {
            assert!(
                (s - i32::from(a)).abs() <= alaw_half_step(a),
                "A-law {sample} → {a}"
            );
        } else {
            assert_eq!(i32::from(a).abs(), 32_256, "A-law clip at {sample}");
        }
    }
}

#[test]
fn slices_match_scalars_and_refuse_short_outputs() {
    let pcm: Vec<i16> = (0..400)
        .map(|i| ((i * 331) % 65_536 - 32_768) as i16)
        .collect();
    let mut codes = vec![0u8; pcm.len() + 3];
    let mut back = vec![0i16; pcm.len()];
    for law in [G711Law::Mu, G711Law::A] {
        assert_eq!(law.encode(&pcm, &mut codes), Ok(pcm.len()));
        for (&s, &c) in pcm.iter().zip(&codes) {
            assert_eq!(c, law.encode_sample(s));
        }
        assert_eq!(law.decode(&codes[..pcm.len()], &mut back), Ok(pcm.len()));
        for (&c, &s) in codes.iter().zip(&back) {
            assert_eq!(s, law.decode_sample(c));
        }
        let mut short = [0u8; 10];
        assert_eq!(
            law.encode(&pcm, &mut short),
            Err(CodecError::OutputTooShort {
                needed: 400,
                got: 10
            })
        );
        assert_eq!(short, [0u8; 10], "nothing written on error");
        let mut short = [0i16; 1];
        assert!(law.decode(&codes, &mut short).is_err());
    }
}

#[test]
fn frame_helpers_and_names() {
    let pcm: [i16; FRAME_SAMPLES] = std::array::from_fn(|i| (i as i16 - 80) * 300);
    for law in [G711Law::Mu, G711Law::A] {
        let frame = law.encode_frame(&pcm);
        let decoded = law.decode_frame(&frame);
        for (&c, &s) in frame.iter().zip(&decoded) {
            assert_eq!(s, law.decode_sample(c));
        }
        assert_eq!(G711Law::from_payload_type(law.payload_type()), Some(law));
        assert_eq!(
            G711Law::from_name(&law.name().to_ascii_lowercase()),
            Some(law)
        );
        assert_eq!(law.encode_sample(0), law.silence());
    }
    assert_eq!(
        (G711Law::Mu.payload_type(), G711Law::Mu.name()),
        (0, "PCMU")
    );
    assert_eq!((G711Law::A.payload_type(), G711Law::A.name()), (8, "PCMA"));
    assert_eq!(G711Law::from_payload_type(18), None);
    assert_eq!(G711Law::from_name("G729"), None);
}

/// G.711 Tables 3 and 4 as published (the Sun g711.c `_u2a`/`_a2u` arrays with the 1994
/// corrections), in their own 1-based and 0-based conventions, typed in apart from the
/// implementation's tables so that a slip in one shows.
const PUBLISHED_U2A: [u8; 128] = [
    1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 27, 29, 31, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 48, 49, 50,
    51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75,
    76, 77, 78, 79, 80, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
    119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
];
/// See [`PUBLISHED_U2A`].
const PUBLISHED_A2U: [u8; 128] = [
    1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
    32, 33, 33, 34, 34, 35, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49, 50,
    51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73,
    74, 75, 76, 77, 78, 79, 80, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96,
    97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115,
    116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
];

#[test]
fn transcoding_tables_are_the_published_ones() {
    for code in 0..=255u8 {
        // The published mapping, applied as the reference code applies it.
        let u2a = if code & 0x80 != 0 {
            0xD5 ^ (PUBLISHED_U2A[usize::from(0xFF ^ code)] - 1)
        } else {
            0x55 ^ (PUBLISHED_U2A[usize::from(0x7F ^ code)] - 1)
        };
        let a2u = if code & 0x80 != 0 {
            0xFF ^ PUBLISHED_A2U[usize::from(code ^ 0xD5)]
        } else {
            0x7F ^ PUBLISHED_A2U[usize::from(code ^ 0x55)]
        };
        assert_eq!(ulaw_to_alaw(code), u2a, "μ→A {code:#04x}");
        assert_eq!(alaw_to_ulaw(code), a2u, "A→μ {code:#04x}");
    }
}

#[test]
fn transcoding_is_nearest_level_on_the_true_scale() {
    // Independent check of the tables' intent: each level maps to the nearest level of the
    // other law once μ-law's overload point (8,159 × 4) is stretched onto A-law's
    // (4,096 × 8). Table 3 departs from that at exactly two μ-law levels, 48 and 49
    // (±924, ±988), where the standard rounds up.
    let stretch = 32_768.0 / 32_636.0;
    for code in 0..=255u8 {
        let u = f64::from(ulaw_decode(code)) * stretch;
        let nearest_a = (0..=255u8)
            .filter(|&a| (alaw_decode(a) > 0) == (code & 0x80 != 0))
            .min_by(|&x, &y| {
                (f64::from(alaw_decode(x)) - u)
                    .abs()
                    .total_cmp(&(f64::from(alaw_decode(y)) - u).abs())
            })
            .expect("codes of each sign exist");
        let level = !code & 0x7F;
        if level != 48 && level != 49 {
            assert_eq!(ulaw_to_alaw(code), nearest_a, "μ→A {code:#04x}");
        }
        let a = f64::from(alaw_decode(code)) / stretch;
        let nearest_u = (0..=255u8)
            .filter(|&c| c != 0x7F && c != 0xFF)
            .chain([if alaw_decode(code) > 0 { 0xFF } else { 0x7F }])
            .filter(|&c| (c & 0x80 != 0) == (alaw_decode(code) > 0))
            .min_by(|&x, &y| {
                (f64::from(ulaw_decode(x)) - a)
                    .abs()
                    .total_cmp(&(f64::from(ulaw_decode(y)) - a).abs())
            })
            .expect("codes of each sign exist");
        assert_eq!(alaw_to_ulaw(code), nearest_u, "A→μ {code:#04x}");
    }
}

#[test]
fn transcoding_keeps_sign_order_and_settles_after_one_round_trip() {
    for code in 0..=255u8 {
        let a = ulaw_to_alaw(code);
        let u = alaw_to_ulaw(code);
        // Sign carries over (μ-law's zeros go to A-law's ±8 of the same sign bit).
        assert_eq!(a & 0x80 != 0, code & 0x80 != 0);
        assert_eq!(u & 0x80 != 0, code & 0x80 != 0);
        // A second round trip changes nothing.
        assert_eq!(ulaw_to_alaw(alaw_to_ulaw(a)), a, "μ→A→μ→A {code:#04x}");
        assert_eq!(alaw_to_ulaw(ulaw_to_alaw(u)), u, "A→μ→A→μ {code:#04x}");
        // Error of one conversion stays within one step of the coarser law (at most 132 in
        // 16-bit units, segment 5's μ→A entry).
        let du = (i32::from(alaw_decode(a)) - i32::from(ulaw_decode(code))).abs();
        let da = (i32::from(ulaw_decode(u)) - i32::from(alaw_decode(code))).abs();
        assert!(
            du <= 132 || du * 16 <= i32::from(ulaw_decode(code)).abs(),
            "μ→A {code:#04x}: {du}"
        );
        assert!(
            da <= 132 || da * 16 <= i32::from(alaw_decode(code)).abs(),
            "A→μ {code:#04x}: {da}"
        );
    }
    // Monotonic: the conversion never reorders levels.
    let mut codes: Vec<u8> = (0..=255u8).collect();
    codes.sort_by_key(|&c| ulaw_rank(c));
    let ranks: Vec<i32> = codes.iter().map(|&c| alaw_rank(ulaw_to_alaw(c))).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    codes.sort_by_key(|&c| alaw_rank(c));
    let ranks: Vec<i32> = codes.iter().map(|&c| ulaw_rank(alaw_to_ulaw(c))).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    // Where a round trip is lossy, per the published tables: μ-law levels 0, 2, ..., 14
    // (μ-law resolves twice as fine as A-law there) and eight A-law levels where μ-law's
    // steps are the coarser.
    let lossy_u: Vec<u8> = (0..128u8)
        .filter(|&l| alaw_to_ulaw(ulaw_to_alaw(!l)) != !l)
        .collect();
    assert_eq!(lossy_u, [0, 2, 4, 6, 8, 10, 12, 14]);
    let lossy_a: Vec<u8> = (0..128u8)
        .filter(|&l| ulaw_to_alaw(alaw_to_ulaw((l | 0x80) ^ 0x55)) != (l | 0x80) ^ 0x55)
        .collect();
    assert_eq!(lossy_a, [25, 27, 29, 31, 44, 46, 62, 80]);
}

#[test]
fn transcode_slices_and_same_law_copy() {
    let input: Vec<u8> = (0..=255u8).collect();
    let mut out = [0u8; 256];
    assert_eq!(transcode_ulaw_to_alaw(&input, &mut out), Ok(256));
    assert!(out.iter().zip(&input).all(|(&o, &i)| o == ulaw_to_alaw(i)));
    assert_eq!(G711Law::A.transcode(G711Law::Mu, &input, &mut out), Ok(256));
    assert!(out.iter().zip(&input).all(|(&o, &i)| o == alaw_to_ulaw(i)));
    assert_eq!(G711Law::A.transcode(G711Law::A, &input, &mut out), Ok(256));
    assert_eq!(out.as_slice(), input.as_slice());
    assert!(
        G711Law::Mu
            .transcode(G711Law::Mu, &input, &mut out[..3])
            .is_err()
    );
    assert!(transcode_alaw_to_ulaw(&input, &mut out[..255]).is_err());
    assert_eq!(G711Law::Mu.transcode_sample(G711Law::A, 0xFF), 0xD5);
    assert_eq!(G711Law::A.transcode_sample(G711Law::Mu, 0xD5), 0xFE);
}
