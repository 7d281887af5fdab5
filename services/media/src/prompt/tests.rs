//! Prompt loading (native, converted, refused) and the player's pacing, lists and barge-in.

use std::f64::consts::PI;
use std::io::Cursor;
use std::time::{Duration, Instant};

use super::*;
use crate::codec::{FRAME_SAMPLES, G711Law};
use crate::dtmf::DtmfDigit;

/// A WAV file in memory with `spec` and the (interleaved) samples `write` writes.
fn wav(
    spec: hound::WavSpec,
    write: impl FnOnce(&mut hound::WavWriter<&mut Cursor<Vec<u8>>>),
) -> Vec<u8> {
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("writer");
    write(&mut writer);
    writer.finalize().expect("finalize");
    cursor.into_inner()
}

fn int_spec(rate: u32, channels: u16, bits: u16) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    }
}

/// `seconds` of a sine at `hz` and `amplitude` (of full scale), sampled at `rate`.
fn sine(hz: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| (amplitude * 32767.0 * (2.0 * PI * hz * i as f64 / f64::from(rate)).sin()) as i16)
        .collect()
}

fn mono16(rate: u32, samples: &[i16]) -> Vec<u8> {
    wav(int_spec(rate, 1, 16), |w| {
        for &s in samples {
            w.write_sample(s).expect("sample");
        }
    })
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

fn zero_crossings(samples: &[i16]) -> usize {
    samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count()
}

#[test]
fn an_8khz_mono_16bit_file_is_taken_as_is() {
    let samples: Vec<i16> = (0..1000).map(|i| (i * 37 % 65536 - 32768) as i16).collect();
    let prompt = Prompt::from_wav("as-is.wav", Cursor::new(mono16(8000, &samples))).expect("load");
    assert_eq!(prompt.samples(), &samples[..]);
    assert_eq!(prompt.name(), "as-is.wav");
    assert!(prompt.source().is_native());
    assert_eq!(prompt.duration(), Duration::from_millis(125));
    assert_eq!(prompt.packets(), 7);
}

#[test]
fn other_rates_are_resampled_keeping_length_and_frequency() {
    for rate in [16_000, 22_050, 44_100, 48_000, 11_025] {
        let input = sine(1000.0, rate, 1.0, 0.5);
        let prompt = Prompt::from_wav("sine.wav", Cursor::new(mono16(rate, &input))).expect("load");
        assert_eq!(
            prompt.samples().len(),
            8000,
            "{rate} Hz: 1 s is 8000 samples"
        );
        assert_eq!(prompt.source().sample_rate, rate);
        assert!(!prompt.source().is_native());
        // 1 kHz: 2000 zero crossings a second; count over the middle 0.8 s (the edges fade in
        // and out over the filter's half width).
        let middle = &prompt.samples()[800..7200];
        let crossings = zero_crossings(middle);
        assert!(
            (1598..=1602).contains(&crossings),
            "{rate} Hz: {crossings} crossings"
        );
        // Level kept: a 0.5 full-scale sine has an RMS of 0.5/√2 of full scale.
        let level = rms(middle) / (0.5 * 32767.0 / 2f64.sqrt());
        assert!((0.98..1.02).contains(&level), "{rate} Hz: level {level}");
    }
}

#[test]
fn a_6khz_tone_above_the_new_nyquist_is_not_aliased() {
    for rate in [16_000, 22_050, 44_100, 48_000] {
        let input = sine(6000.0, rate, 1.0, 0.5);
        let prompt = Prompt::from_wav("hiss.wav", Cursor::new(mono16(rate, &input))).expect("load");
        let attenuation_db =
            20.0 * (rms(&input) / rms(&prompt.samples()[800..7200]).max(1e-9)).log10();
        // The issue asks for 20 dB; the Kaiser window gives about 80 (a 6 kHz tone from
        // 44.1 or 48 kHz rounds to digital silence), so hold it to 60.
        assert!(
            attenuation_db >= 60.0,
            "{rate} Hz: only {attenuation_db:.1} dB down"
        );
    }
}

#[test]
fn the_telephone_band_passes_flat() {
    for hz in [300.0, 1000.0, 3000.0, 3400.0] {
        let input = sine(hz, 48_000, 1.0, 0.5);
        let prompt =
            Prompt::from_wav("band.wav", Cursor::new(mono16(48_000, &input))).expect("load");
        let gain_db = 20.0 * (rms(&prompt.samples()[800..7200]) / rms(&input)).log10();
        assert!(gain_db.abs() < 0.5, "{hz} Hz: {gain_db:.2} dB");
    }
}

#[test]
fn stereo_is_averaged_to_mono() {
    let bytes = wav(int_spec(8000, 2, 16), |w| {
        for i in 0..400i16 {
            w.write_sample(i * 10).expect("left");
            w.write_sample(-(i * 10) + 2000).expect("right");
        }
    });
    let prompt = Prompt::from_wav("stereo.wav", Cursor::new(bytes)).expect("load");
    assert_eq!(prompt.samples().len(), 400);
    assert!(prompt.samples().iter().all(|&s| s == 1000), "(L + R) / 2");
    assert_eq!(prompt.source().channels, 2);
}

#[test]
fn other_sample_widths_and_float_are_scaled_to_16_bits() {
    let eight = wav(int_spec(8000, 1, 8), |w| {
        for s in [-128i8, -64, 0, 64, 127] {
            w.write_sample(s).expect("sample");
        }
    });
    let p = Prompt::from_wav("8bit.wav", Cursor::new(eight)).expect("8-bit");
    assert_eq!(p.samples(), [-32768, -16384, 0, 16384, 32512]);

    let twenty_four = wav(int_spec(8000, 1, 24), |w| {
        for s in [-8_388_608i32, 256 * 1000, 8_388_607] {
            w.write_sample(s).expect("sample");
        }
    });
    let p = Prompt::from_wav("24bit.wav", Cursor::new(twenty_four)).expect("24-bit");
    assert_eq!(p.samples(), [-32768, 1000, 32767]);

    let thirty_two = wav(int_spec(8000, 1, 32), |w| {
        for s in [i32::MIN, 65536 * -1234, i32::MAX] {
            w.write_sample(s).expect("sample");
        }
    });
    let p = Prompt::from_wav("32bit.wav", Cursor::new(thirty_two)).expect("32-bit");
    assert_eq!(p.samples(), [-32768, -1234, 32767]);

    let float_spec = hound::WavSpec {
        sample_format: hound::SampleFormat::Float,
        ..int_spec(8000, 1, 32)
    };
    let float = wav(float_spec, |w| {
        for s in [-1.0f32, -0.5, 0.0, 0.25, 1.5] {
            w.write_sample(s).expect("sample");
        }
    });
    let p = Prompt::from_wav("float.wav", Cursor::new(float)).expect("float");
    assert_eq!(
        p.samples(),
        [-32768, -16384, 0, 8192, 32767],
        "clamped at full scale"
    );
    assert!(p.source().float);
}

#[test]
fn unusable_files_are_refused_saying_why() {
    let twelve = wav(int_spec(8000, 12, 16), |w| {
        for _ in 0..12 {
            w.write_sample(0i16).expect("sample");
        }
    });
    let err = |name: &str, bytes: Vec<u8>| {
        Prompt::from_wav(name, Cursor::new(bytes))
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(
        err("welcome.wav", twelve),
        "prompt welcome.wav: 12 channels; mono or stereo expected"
    );
    assert_eq!(
        err("notes.txt", b"hello, this is not audio at all".to_vec()),
        "prompt notes.txt: not a WAV file (no RIFF/WAVE header)"
    );
    assert_eq!(err("empty.wav", Vec::new()), "prompt empty.wav: empty file");
    // Headers claiming more audio than is accepted, refused before anything is read.
    let claim = |rate: u32, data_bytes: u32| {
        let mut bytes = mono16(rate, &[0; 10]);
        bytes[40..44].copy_from_slice(&data_bytes.to_le_bytes());
        bytes
    };
    assert_eq!(
        err("moh.wav", claim(48_000, ((1 << 25) + 48_000) * 2)),
        "prompt moh.wav: 700 s at 48000 Hz is too long to convert (at most 699 s at that \
         rate); convert it to 8 kHz mono offline"
    );
    assert_eq!(
        err("long.wav", claim(8000, 3601 * 8000 * 2)),
        "prompt long.wav: 3601 s long; at most 3600 s"
    );
    let mut avi = mono16(8000, &[0; 10]);
    avi[8..12].copy_from_slice(b"AVI ");
    assert_eq!(
        err("movie.wav", avi),
        "prompt movie.wav: not a WAV file (no RIFF/WAVE header)"
    );
    assert_eq!(
        err("silent.wav", mono16(8000, &[])),
        "prompt silent.wav: no audio (the data chunk is empty)"
    );
    let full = mono16(8000, &[1000; 800]);
    assert_eq!(
        err("cut.wav", full[..20].to_vec()),
        "prompt cut.wav: truncated WAV file (it ends inside the header)"
    );
    assert_eq!(
        err("cut.wav", full[..900].to_vec()),
        "prompt cut.wav: truncated WAV file (it ends inside the audio data)"
    );
    assert_eq!(
        err("slow.wav", mono16(2000, &[0; 10])),
        "prompt slow.wav: sample rate 2000 Hz; 4000 to 192000 Hz expected"
    );
    // A-law WAV (format tag 6): hound reads PCM and float only.
    let mut alaw = mono16(8000, &[0; 10]);
    alaw[20] = 6;
    assert_eq!(
        err("alaw.wav", alaw),
        "prompt alaw.wav: unsupported WAV encoding; PCM (8, 16, 24 or 32-bit integer) or \
         32-bit float expected"
    );
    let missing = Prompt::from_path("/nonexistent/dir/hello.wav").expect_err("no file");
    assert!(
        missing
            .to_string()
            .starts_with("prompt hello.wav: cannot read: "),
        "{missing}"
    );
    assert!(matches!(
        Prompt::from_pcm("x", Vec::new()),
        Err(PromptError::NoAudio { .. })
    ));
}

#[test]
fn from_path_names_the_prompt_after_the_file() {
    let dir = std::env::temp_dir().join(format!("media-prompt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("hello.wav");
    std::fs::write(&path, mono16(8000, &[5; 320])).expect("write");
    let prompt = Prompt::from_path(&path).expect("load");
    assert_eq!(prompt.name(), "hello.wav");
    assert_eq!(prompt.samples().len(), 320);
    let _ = std::fs::remove_dir_all(&dir);
}

fn pcm(name: &str, n: usize, value: i16) -> Prompt {
    Prompt::from_pcm(name, vec![value; n]).expect("prompt")
}

#[test]
fn the_player_paces_exactly_every_20ms_over_10_seconds() {
    let start = Instant::now();
    let config = PlayerConfig::new(G711Law::Mu, 0xdead_beef, 65_000, u32::MAX - 1000);
    let mut player = PromptPlayer::new(config);
    let prompt = Prompt::from_pcm("ten-seconds", sine(440.0, 8000, 10.0, 0.3)).expect("prompt");
    player.play(vec![prompt], &[], start);
    let mut packets = Vec::new();
    let mut n = 0u32;
    while let Some(deadline) = player.next_deadline() {
        assert_eq!(deadline, start + Duration::from_millis(20) * n, "no drift");
        // The shell's timer fires up to 3 ms late; the schedule does not move.
        let now = deadline + Duration::from_micros(u64::from(n % 4) * 1000);
        let out = player.poll(now);
        assert_eq!(out.len(), 1);
        packets.extend(out);
        n += 1;
    }
    assert_eq!(packets.len(), 500, "10 s is 500 packets");
    for (i, p) in packets.iter().enumerate() {
        let h = &p.packet.header;
        assert_eq!(p.due, start + Duration::from_millis(20) * i as u32);
        assert_eq!(
            h.marker,
            i == 0,
            "marker on the talkspurt's first packet only"
        );
        assert_eq!(h.sequence_number, 65_000u16.wrapping_add(i as u16));
        assert_eq!(h.timestamp, (u32::MAX - 1000).wrapping_add(160 * i as u32));
        assert_eq!(h.payload_type, 0);
        assert_eq!(h.ssrc, 0xdead_beef);
        assert_eq!(p.packet.payload.len(), FRAME_SAMPLES);
    }
    assert!(player.is_done());
    assert!(player.poll(start + Duration::from_secs(20)).is_empty());
}

#[test]
fn a_late_poll_hands_out_every_packet_due() {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::A, 1, 0, 0));
    player.play(vec![pcm("p", 1600, 100)], &[], start);
    let out = player.poll(start + Duration::from_millis(65));
    let dues: Vec<Duration> = out.iter().map(|p| p.due - start).collect();
    assert_eq!(dues, [0, 20, 40, 60].map(Duration::from_millis));
    assert_eq!(
        player.next_deadline(),
        Some(start + Duration::from_millis(80))
    );
    assert_eq!(out[3].packet.header.timestamp, 480);
    assert_eq!(out[0].packet.header.payload_type, 8);
}

#[test]
fn a_list_plays_back_to_back_with_padded_last_frames() {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::Mu, 7, 10, 1000));
    player.play(
        vec![
            pcm("one", 100, 1000),
            pcm("two", 320, 2000),
            pcm("three", 161, 3000),
        ],
        &[],
        start,
    );
    let out = player.poll(start + Duration::from_secs(1));
    assert_eq!(out.len(), 5, "1 + 2 + 2 packets");
    let decoded: Vec<[i16; FRAME_SAMPLES]> = out
        .iter()
        .map(|p| {
            let payload: [u8; FRAME_SAMPLES] = p.packet.payload[..].try_into().expect("160 bytes");
            G711Law::Mu.decode_frame(&payload)
        })
        .collect();
    let level = |s: i16| G711Law::Mu.decode_sample(G711Law::Mu.encode_sample(s));
    assert!(decoded[0][..100].iter().all(|&s| s == level(1000)));
    assert!(
        decoded[0][100..].iter().all(|&s| s == 0),
        "padded with silence"
    );
    assert!(
        decoded[1]
            .iter()
            .chain(&decoded[2])
            .all(|&s| s == level(2000))
    );
    assert!(decoded[3].iter().all(|&s| s == level(3000)));
    assert_eq!(decoded[4][0], level(3000));
    assert!(decoded[4][1..].iter().all(|&s| s == 0));
    let markers: Vec<bool> = out.iter().map(|p| p.packet.header.marker).collect();
    assert_eq!(markers, [true, false, false, false, false], "one talkspurt");

    let events = player.take_events();
    let ms = |n: u64| start + Duration::from_millis(n);
    assert_eq!(
        events,
        [
            PromptEvent::Started {
                index: 0,
                name: "one".into(),
                at: ms(0)
            },
            PromptEvent::Finished {
                index: 0,
                name: "one".into(),
                at: ms(0)
            },
            PromptEvent::Started {
                index: 1,
                name: "two".into(),
                at: ms(20)
            },
            PromptEvent::Finished {
                index: 1,
                name: "two".into(),
                at: ms(40)
            },
            PromptEvent::Started {
                index: 2,
                name: "three".into(),
                at: ms(60)
            },
            PromptEvent::Finished {
                index: 2,
                name: "three".into(),
                at: ms(80)
            },
        ]
    );
    assert!(player.is_done());
    assert_eq!(player.stream_position(), (15, 1000 + 5 * 160));
}

#[test]
fn a_barge_in_digit_stops_the_list_and_the_stream_continues() {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::Mu, 7, 100, 5000));
    player.play(
        vec![pcm("menu", 800, 500), pcm("options", 800, 500)],
        &[DtmfDigit::Pound, DtmfDigit::D1],
        start,
    );
    assert_eq!(player.poll(start + Duration::from_millis(100)).len(), 6);
    let at = start + Duration::from_millis(110);
    assert!(
        !player.barge_in(DtmfDigit::D5, at),
        "5 is not a barge-in digit"
    );
    assert!(!player.is_done());
    assert!(player.barge_in(DtmfDigit::Pound, at));
    assert!(player.is_done());
    assert_eq!(player.next_deadline(), None);
    assert!(player.poll(start + Duration::from_secs(5)).is_empty());
    let events = player.take_events();
    assert_eq!(
        events.last(),
        Some(&PromptEvent::Interrupted {
            index: 1,
            name: "options".into(),
            digit: DtmfDigit::Pound,
            at,
        })
    );
    assert!(
        !player.barge_in(DtmfDigit::Pound, at),
        "nothing left to stop"
    );

    // Without stop digits, no digit interrupts.
    let later = start + Duration::from_secs(1);
    player.play(vec![pcm("no-barge", 800, 1)], &[], later);
    assert!(!player.barge_in(DtmfDigit::Pound, later));
    let out = player.poll(later);
    let h = &out[0].packet.header;
    assert!(h.marker, "a new talkspurt");
    assert_eq!(h.sequence_number, 106, "sequence continues");
    // Six packets (ending at 120 ms), then 880 ms of silence: 7040 timestamp units.
    assert_eq!(
        h.timestamp,
        5000 + 6 * 160 + 7040,
        "timestamp counts the silence"
    );
    player.stop(later);
    assert!(matches!(
        player.take_events().last(),
        Some(PromptEvent::Stopped { index: 0, .. })
    ));
}

#[test]
fn a_new_play_right_after_a_stop_starts_where_the_sent_audio_ends() {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::Mu, 7, 0, 0));
    player.play(vec![pcm("a", 800, 1)], &[], start);
    player.poll(start);
    // The first packet's audio runs to 20 ms; a play at 5 ms must not overlap it.
    player.play(
        vec![pcm("b", 800, 1)],
        &[],
        start + Duration::from_millis(5),
    );
    assert_eq!(
        player.next_deadline(),
        Some(start + Duration::from_millis(20))
    );
    let out = player.poll(start + Duration::from_millis(20));
    assert_eq!(out[0].packet.header.timestamp, 160);
}

#[test]
fn packets_serialize_to_rfc_3550_headers() {
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(
        G711Law::A,
        0x0102_0304,
        0xabcd,
        0x1122_3344,
    ));
    player.play(vec![pcm("x", 160, 0)], &[], start);
    let bytes = player.poll(start)[0].to_bytes();
    assert_eq!(bytes.len(), 12 + 160);
    assert_eq!(
        bytes[..12],
        [
            0x80, 0x88, 0xab, 0xcd, 0x11, 0x22, 0x33, 0x44, 0x01, 0x02, 0x03, 0x04
        ]
    );
    assert!(bytes[12..].iter().all(|&b| b == G711Law::A.silence()));
}

#[test]
fn hand_serialization_matches_the_rtp_crate() {
    use webrtc_util::marshal::Marshal;
    let start = Instant::now();
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::Mu, 99, 65_535, 7));
    player.play(vec![pcm("x", 400, 1234)], &[], start);
    for out in player.poll(start + Duration::from_millis(40)) {
        let marshalled = out.packet.marshal().expect("marshal");
        assert_eq!(out.to_bytes(), &marshalled[..]);
    }
}
