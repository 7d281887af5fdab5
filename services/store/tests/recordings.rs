//! Recordings: add, list (all and by call), get, duplicates, unknown ids and invalid values;
//! on both backends.

mod common;

use common::{Kind, TestDb, on_both_backends};
use store::recordings::NewRecording;
use store::{Id, StoreError};
use time::OffsetDateTime;

fn recording(call_id: Id, path: &str, started_at: OffsetDateTime) -> NewRecording {
    NewRecording {
        call_id,
        sip_call_id: None,
        file_path: path.to_string(),
        format: "wav".to_string(),
        duration_ms: 12_340,
        size_bytes: 197_484,
        // sha256sum of the empty string, standing in for a file's checksum.
        sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string(),
        started_at,
    }
}

async fn recordings_are_added_listed_and_found(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
    let call_a = Id::new();
    let call_b = Id::new();
    let second = s
        .add_recording(&recording(
            call_a,
            "/rec/a-2.wav",
            t0 + time::Duration::seconds(30),
        ))
        .await
        .expect("add");
    let first = s
        .add_recording(&recording(call_a, "/rec/a-1.wav", t0))
        .await
        .expect("add");
    let other = s
        .add_recording(&recording(
            call_b,
            "/rec/b.wav",
            t0 + time::Duration::seconds(10),
        ))
        .await
        .expect("add");

    let got = s.get_recording(first.id).await.expect("get");
    assert_eq!(got, first, "what was stored reads back unchanged");
    assert_eq!(got.sha256.len(), 64);
    assert_eq!(got.duration_ms, 12_340);
    assert_eq!(got.started_at, t0);

    let of_a = s.list_recordings(Some(call_a)).await.expect("list");
    assert_eq!(
        of_a,
        [first.clone(), second.clone()],
        "by call, oldest first"
    );
    let all = s.list_recordings(None).await.expect("list");
    assert_eq!(all, [first, other, second]);
    assert!(
        s.list_recordings(Some(Id::new()))
            .await
            .expect("list")
            .is_empty()
    );
    db.finish().await;
}

async fn recordings_refuse_duplicates_unknown_ids_and_bad_values(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
    let call = Id::new();
    s.add_recording(&recording(call, "/rec/x.wav", t0))
        .await
        .expect("add");
    let err = s
        .add_recording(&recording(Id::new(), "/rec/x.wav", t0))
        .await
        .expect_err("same path twice");
    assert!(
        matches!(err, StoreError::Duplicate { entity: "recording", ref key } if key == "/rec/x.wav"),
        "{err}"
    );
    let missing = Id::new();
    let err = s.get_recording(missing).await.expect_err("unknown id");
    assert_eq!(err.to_string(), format!("no recording '{missing}'"));

    let bad = |f: fn(&mut NewRecording)| {
        let mut r = recording(call, "/rec/y.wav", t0);
        f(&mut r);
        r
    };
    let cases: [(NewRecording, &str); 6] = [
        (
            bad(|r| r.sha256 = "E3B0".repeat(16)),
            "invalid sha256: must be 64 lowercase hex digits",
        ),
        (
            bad(|r| r.sha256.truncate(63)),
            "invalid sha256: must be 64 lowercase hex digits",
        ),
        (
            bad(|r| r.duration_ms = -1),
            "invalid duration_ms: -1 is not within 0..=9223372036854775807",
        ),
        (
            bad(|r| r.size_bytes = -5),
            "invalid size_bytes: -5 is not within 0..=9223372036854775807",
        ),
        (
            bad(|r| r.file_path = " ".into()),
            "invalid file path: must be 1 to 4096 bytes",
        ),
        (
            bad(|r| r.format = "WAV".into()),
            "invalid format: must be 1 to 16 lowercase letters or digits (e.g. wav)",
        ),
    ];
    for (new, message) in cases {
        let err = s.add_recording(&new).await.expect_err(message);
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert_eq!(err.to_string(), message);
    }
    assert_eq!(s.list_recordings(None).await.expect("list").len(), 1);
    db.finish().await;
}

async fn recordings_keep_and_find_the_sip_call_id(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = &db.store;
    let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
    let call = Id::new();
    let mut named = recording(call, "/rec/sip-1.wav", t0);
    named.sip_call_id = Some("a84b4c76e66710@pc33.example.com".into());
    let named = s.add_recording(&named).await.expect("add");
    let anonymous = s
        .add_recording(&recording(call, "/rec/sip-2.wav", t0))
        .await
        .expect("add");
    assert_eq!(s.get_recording(named.id).await.expect("get"), named);
    assert_eq!(
        s.get_recording(anonymous.id)
            .await
            .expect("get")
            .sip_call_id,
        None
    );
    let found = s
        .list_recordings_of_sip_call("a84b4c76e66710@pc33.example.com")
        .await
        .expect("list");
    assert_eq!(found, [named]);
    assert!(
        s.list_recordings_of_sip_call("other")
            .await
            .expect("list")
            .is_empty()
    );
    let mut empty = recording(call, "/rec/sip-3.wav", t0);
    empty.sip_call_id = Some(String::new());
    let err = s.add_recording(&empty).await.expect_err("empty Call-ID");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    db.finish().await;
}

on_both_backends!(
    recordings_keep_and_find_the_sip_call_id,
    recordings_are_added_listed_and_found,
    recordings_refuse_duplicates_unknown_ids_and_bad_values,
);
