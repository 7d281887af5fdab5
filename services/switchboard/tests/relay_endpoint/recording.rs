//! A relayed call recorded in stereo: started through the process-wide registry under the
//! call's Call-ID, as the HTTP API does, and finished by stopping the relay.

use media::recording::RecordingMode;
use switchboard::recording::{ActiveCalls, RecordingTarget, StartRecording};
use tokio::time::interval;

use super::*;

/// 20 ms of a `hz` sine at about −10 dBm0, G.711 μ-law, starting at sample `n * 160`.
fn tone(hz: f64, n: u16) -> Vec<u8> {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(u32::from(n) * 160 + i) / 8000.0;
            (7000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    let mut out = vec![0u8; 160];
    G711Law::Mu.encode(&pcm, &mut out).expect("encode");
    out
}

fn rms(samples: impl Iterator<Item = i16>) -> f64 {
    let (sum, n) = samples.fold((0.0, 0u64), |(s, n), x| (s + f64::from(x).powi(2), n + 1));
    (sum / n.max(1) as f64).sqrt()
}

#[actix_rt::test]
async fn a_relayed_call_is_recorded_in_stereo_caller_left_callee_right() {
    let (a, b) = (Phone::new().await, Phone::new().await);
    let relay = start(&a, &b, [pcmu(), pcmu()], RelayConfig::default());
    let dir = std::env::temp_dir().join(format!("sb-relay-rec-{}", store::Id::new()));
    // The registry knows the relay by the call's Call-ID once it runs.
    let mut media = None;
    for _ in 0..100 {
        media = ActiveCalls::global().get(&relay.call_id);
        if media.is_some() {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    let media = media.expect("the relay is in the registry");
    let file = media
        .start
        .send(StartRecording {
            mode: RecordingMode::Stereo,
            target: RecordingTarget {
                dir: dir.clone(),
                store: None,
            },
        })
        .await
        .expect("relay alive")
        .expect("recording started");

    // 2 s of tone each way: 1 kHz from the caller, 440 Hz from the callee.
    let mut tick = interval(Duration::from_millis(20));
    for n in 0..100u16 {
        tick.tick().await;
        let ts = u32::from(n) * 160;
        let mut pa = rtp(0, 0xCA11, n, ts, 0);
        pa.truncate(12);
        pa.extend(tone(1000.0, n));
        let mut pb = rtp(0, 0xCA22, n, ts + 9999, 0);
        pb.truncate(12);
        pb.extend(tone(440.0, n));
        a.rtp
            .send_to(&pa, relay.relay_rtp(LegId::A))
            .await
            .expect("send");
        b.rtp
            .send_to(&pb, relay.relay_rtp(LegId::B))
            .await
            .expect("send");
    }
    sleep(Duration::from_millis(40)).await;
    relay.addr.send(Stop).await.expect("stop");

    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.events("recording_stopped").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recording_stopped: {:?}",
            relay.events("recording_failed")
        );
        sleep(Duration::from_millis(20)).await;
    }
    assert!(
        ActiveCalls::global().get(&relay.call_id).is_none(),
        "the stopped relay left the registry"
    );
    let stopped = &relay.events("recording_stopped")[0];
    let detail = stopped.detail.as_ref().expect("detail");
    assert_eq!(detail["file"], file.as_str());
    assert_eq!(detail["mode"], "stereo");
    assert_eq!(detail["sha256"].as_str().map(str::len), Some(64));

    let mut wav = hound::WavReader::open(&file).expect("a WAV file");
    let spec = wav.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    let frames = samples.len() / 2;
    let seconds = frames as f64 / 8000.0;
    assert!((1.9..=2.6).contains(&seconds), "{seconds} s recorded");
    // The middle second: both channels carry their leg's tone.
    let middle = |channel: usize| {
        samples
            .chunks_exact(2)
            .skip(4000)
            .take(8000)
            .map(move |f| f[channel])
    };
    let (left, right) = (rms(middle(0)), rms(middle(1)));
    assert!(left > 2000.0, "caller's channel is non-silent: rms {left}");
    assert!(
        right > 2000.0,
        "callee's channel is non-silent: rms {right}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
