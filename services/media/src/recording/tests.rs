//! The recorder: channel layout, mixing, alignment of the legs, pauses, the WAV header as
//! hound reads it back, and the checksum helper.

use std::io::Cursor;

use super::*;

/// Runs `feed` on a recorder writing to memory; returns the summary and the file's bytes.
fn record(
    mode: RecordingMode,
    feed: impl FnOnce(&mut CallRecorder<&mut Cursor<Vec<u8>>>),
) -> (RecordingSummary, Vec<u8>) {
    let mut cursor = Cursor::new(Vec::new());
    let mut recorder = CallRecorder::new(&mut cursor, mode).expect("recorder");
    feed(&mut recorder);
    let summary = recorder.stop().expect("stop");
    (summary, cursor.into_inner())
}

/// The file read back: its spec and its channels, deinterleaved.
fn read_back(bytes: &[u8]) -> (hound::WavSpec, Vec<Vec<i16>>) {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).expect("a WAV file");
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let channels = usize::from(spec.channels);
    let split = (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect();
    (spec, split)
}

fn tone(n: usize, amplitude: f64, hz: f64) -> Vec<i16> {
    (0..n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

#[test]
fn stereo_puts_the_caller_left_and_the_callee_right() {
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        for frame in 0..50u64 {
            r.push(Leg::A, frame * 160, &[1000; 160]).expect("push");
            r.push(Leg::B, frame * 160, &[-2000; 160]).expect("push");
        }
    });
    let (spec, channels) = read_back(&bytes);
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert_eq!(channels[0], vec![1000; 8000]);
    assert_eq!(channels[1], vec![-2000; 8000]);
    assert_eq!(summary.samples, 8000);
    assert_eq!(summary.duration_ms, 1000);
    assert_eq!(summary.channels.len(), 2);
    assert_eq!(summary.channels[0].peak, 1000);
    assert_eq!(summary.channels[1].peak, 2000);
    assert!((summary.channels[0].rms - 1000.0).abs() < 1e-9);
    assert!((summary.channels[1].rms - 2000.0).abs() < 1e-9);
    assert_eq!(summary.late_samples, [0, 0]);
}

#[test]
fn mixed_is_the_saturating_sum() {
    let (summary, bytes) = record(RecordingMode::Mixed, |r| {
        r.push(Leg::A, 0, &[1000, 30_000, -30_000, 5])
            .expect("push");
        r.push(Leg::B, 0, &[-400, 10_000, -10_000, 0])
            .expect("push");
    });
    let (spec, channels) = read_back(&bytes);
    assert_eq!(spec.channels, 1);
    assert_eq!(channels[0], [600, 32_767, -32_768, 5]);
    assert_eq!(summary.channels.len(), 1);
    assert_eq!(summary.channels[0].peak, 32_768);
}

#[test]
fn gaps_are_silence_so_a_one_sided_stretch_stays_in_time() {
    // A talks for 1 s, then B answers for 1 s from 1.5 s; A's packet 10 (200-220 ms) is lost.
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        for frame in 0..50u64 {
            if frame != 10 {
                r.push(Leg::A, frame * 160, &[700; 160]).expect("push");
            }
        }
        for frame in 0..50u64 {
            r.push(Leg::B, 12_000 + frame * 160, &[-900; 160])
                .expect("push");
        }
    });
    let (_, channels) = read_back(&bytes);
    assert_eq!(summary.samples, 20_000, "2.5 s");
    assert_eq!(summary.duration_ms, 2500);
    let (left, right) = (&channels[0], &channels[1]);
    assert!(left[..1600].iter().all(|&s| s == 700));
    assert!(
        left[1600..1760].iter().all(|&s| s == 0),
        "the lost packet is silence"
    );
    assert!(left[1760..8000].iter().all(|&s| s == 700));
    assert!(left[8000..].iter().all(|&s| s == 0));
    assert!(right[..12_000].iter().all(|&s| s == 0));
    assert!(right[12_000..].iter().all(|&s| s == -900));
}

#[test]
fn a_leg_behind_the_other_is_still_mixed_in_and_very_late_audio_is_dropped() {
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        // A runs 2 s ahead; B's audio from within the last 500 ms still goes in, B's audio
        // from the start is too late.
        r.push(Leg::A, 0, &[1; 16_000]).expect("push");
        r.push(Leg::B, 12_400, &[2; 1600]).expect("push");
        r.push(Leg::B, 0, &[3; 160]).expect("push");
    });
    let (_, channels) = read_back(&bytes);
    assert_eq!(summary.samples, 16_000);
    assert_eq!(summary.late_samples, [0, 160]);
    assert!(
        channels[1][12_400..14_000].iter().all(|&s| s == 2),
        "within the look-behind"
    );
    assert!(channels[1][..12_400].iter().all(|&s| s == 0));
}

#[test]
fn rtp_timestamps_place_audio_despite_jitter_and_wrap() {
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        // Leg B's sender jumps its timestamps by a minute: re-anchored on arrival.
        r.push_rtp(Leg::B, 1000, 4000, &[5; 160]).expect("push");
        r.push_rtp(Leg::B, 1000 + 480_000, 4160, &[6; 160])
            .expect("push");
        let base = u32::MAX - 800;
        for frame in 0..100u32 {
            let jitter = u64::from(frame % 3) * 40; // arrival off by up to 10 ms
            let arrival = 4000 + u64::from(frame) * 160 + jitter;
            let ts = base.wrapping_add(frame * 160);
            let value = i16::try_from(frame).expect("small") + 1;
            r.push_rtp(Leg::A, ts, arrival, &[value; 160])
                .expect("push");
        }
    });
    let (_, channels) = read_back(&bytes);
    assert_eq!(summary.samples, 4000 + 16_000);
    let left = &channels[0];
    assert!(left[..4000].iter().all(|&s| s == 0), "A started 500 ms in");
    for frame in 0..100usize {
        let at = 4000 + frame * 160;
        assert!(
            left[at..at + 160].iter().all(|&s| s == frame as i16 + 1),
            "frame {frame} in place"
        );
    }
    assert!(channels[1][4000..4160].iter().all(|&s| s == 5));
    assert!(channels[1][4160..4320].iter().all(|&s| s == 6));
}

#[test]
fn a_pause_cuts_its_stretch_out_of_the_file() {
    let (summary, bytes) = record(RecordingMode::Mixed, |r| {
        r.push(Leg::A, 0, &[10; 8000]).expect("push");
        r.pause(8000).expect("pause");
        assert!(r.is_paused());
        r.push(Leg::A, 8000, &[99; 16_000]).expect("discarded");
        r.resume(24_000);
        r.push(Leg::A, 24_000, &[20; 8000]).expect("push");
        r.push(Leg::B, 20_000, &[77; 160])
            .expect("from the paused stretch: late");
        r.advance_to(40_000).expect("advance");
    });
    let (_, channels) = read_back(&bytes);
    assert_eq!(summary.paused_ms, 2000);
    assert_eq!(
        summary.samples,
        8000 + 16_000,
        "5 s of call less the 2 s paused"
    );
    assert!(channels[0][..8000].iter().all(|&s| s == 10));
    assert!(channels[0][8000..16_000].iter().all(|&s| s == 20));
    assert!(
        channels[0][16_000..].iter().all(|&s| s == 0),
        "silence to 5 s"
    );
    assert!(!channels[0].contains(&99));
    assert_eq!(summary.late_samples, [0, 160]);
}

#[test]
fn a_call_recording_is_non_silent_and_of_the_right_length() {
    // 3 s of call at 8 kHz, 20 ms packets, each leg talking half the time.
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        let a = tone(12_000, 8000.0, 440.0);
        let b = tone(12_000, 6000.0, 1000.0);
        for (frame, chunk) in a.chunks(160).enumerate() {
            r.push(Leg::A, frame as u64 * 160, chunk).expect("push");
        }
        for (frame, chunk) in b.chunks(160).enumerate() {
            r.push(Leg::B, 12_000 + frame as u64 * 160, chunk)
                .expect("push");
        }
    });
    assert_eq!(summary.duration_ms, 3000);
    // Half-time sines: RMS = amplitude / √2 × √(1/2).
    assert!(
        (summary.channels[0].rms - 8000.0 / 2.0).abs() < 20.0,
        "{summary:?}"
    );
    assert!(
        (summary.channels[1].rms - 6000.0 / 2.0).abs() < 20.0,
        "{summary:?}"
    );
    let reader = hound::WavReader::new(Cursor::new(&bytes)).expect("wav");
    assert_eq!(reader.duration(), 24_000);
    assert_eq!(bytes.len(), 44 + 24_000 * 4, "canonical 44-byte header");
}

#[test]
fn a_bogus_jump_is_refused() {
    let mut cursor = Cursor::new(Vec::new());
    let mut r = CallRecorder::new(&mut cursor, RecordingMode::Mixed).expect("recorder");
    let err = r
        .push(Leg::A, MAX_JUMP_SAMPLES + 1, &[1; 160])
        .expect_err("too far");
    assert!(matches!(err, RecordingError::Jump { .. }), "{err}");
}

#[test]
fn files_are_recorded_and_checksummed() {
    let dir = std::env::temp_dir().join(format!("media-recording-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("call.wav");
    let mut r = CallRecorder::create(&path, RecordingMode::Stereo).expect("create");
    r.push(Leg::A, 0, &[1; 800]).expect("push");
    let summary = r.stop().expect("stop");
    let digest = sha256_file(&path).expect("digest");
    assert_eq!(digest.size_bytes, 44 + 800 * 4);
    assert_eq!(summary.samples, 800);
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(digest, sha256_reader(&bytes[..]).expect("digest"));
    let _ = std::fs::remove_dir_all(&dir);

    // Known answers (sha256sum): the empty input and "abc" (FIPS 180-2 appendix B.1).
    let empty = sha256_reader(&b""[..]).expect("digest");
    assert_eq!(
        empty.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(empty.size_bytes, 0);
    assert_eq!(
        sha256_reader(&b"abc"[..]).expect("digest").sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn timeline_positions_count_8khz_samples() {
    let t0 = Instant::now();
    assert_eq!(
        timeline_position(t0, t0 + Duration::from_millis(1500)),
        12_000
    );
    assert_eq!(timeline_position(t0 + Duration::from_secs(1), t0), 0);
}

#[test]
fn a_played_prompt_recorded_through_rtp_is_non_silent_and_of_the_right_length() {
    use crate::codec::{FRAME_SAMPLES, G711Law};
    use crate::prompt::{PlayerConfig, Prompt, PromptPlayer};
    // The player's packets, decoded and fed by RTP timestamp as the shell would: 2 s of
    // prompt on leg B starting 1 s into a 4 s recording.
    let start = Instant::now();
    let prompt = Prompt::from_pcm("tone", tone(16_000, 8000.0, 440.0)).expect("prompt");
    let mut player = PromptPlayer::new(PlayerConfig::new(G711Law::A, 9, 0, 123_456));
    player.play(vec![prompt], &[], start + Duration::from_secs(1));
    let (summary, bytes) = record(RecordingMode::Stereo, |r| {
        while let Some(deadline) = player.next_deadline() {
            for out in player.poll(deadline) {
                let payload: [u8; FRAME_SAMPLES] =
                    out.packet.payload[..].try_into().expect("160 bytes");
                let pcm = G711Law::A.decode_frame(&payload);
                let arrival = timeline_position(start, out.due + Duration::from_millis(3));
                r.push_rtp(Leg::B, out.packet.header.timestamp, arrival, &pcm)
                    .expect("push");
            }
        }
        r.advance_to(timeline_position(start, start + Duration::from_secs(4)))
            .expect("advance");
    });
    assert_eq!(summary.duration_ms, 4000);
    assert_eq!(summary.channels[0].rms, 0.0, "the caller said nothing");
    // A 8000-peak sine over half the file: RMS ≈ 8000 / √2 × √(1/2) = 4000 (A-law's
    // quantisation moves it a little).
    assert!(
        (summary.channels[1].rms - 4000.0).abs() < 40.0,
        "{summary:?}"
    );
    let (_, channels) = read_back(&bytes);
    let right = &channels[1];
    assert!(
        right[..8024].iter().all(|&s| s == 0),
        "silent until the prompt"
    );
    assert!(right[8024..8200].iter().any(|&s| s != 0));
    assert!(right[24_024..].iter().all(|&s| s == 0), "silent after it");
}
