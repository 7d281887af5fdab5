//! Call recording (issue #6): the glue between the HTTP API, the RTP endpoints and the store.
//!
//! - [`ActiveCalls`] names each live call's media endpoint by its SIP Call-ID: an echo
//!   call's [`RtpEndpoint`](crate::rtp::RtpEndpoint) or a relayed call's
//!   [`RelayEndpoint`](crate::rtp::relay_endpoint::RelayEndpoint) (under leg A's Call-ID),
//!   as a [`CallMedia`] of the two recording messages. The endpoint adds itself when it
//!   starts and removes itself when it stops. It is process-wide (one server runs per
//!   process) so the endpoints need no handle.
//! - The HTTP API ([`api`]) asks an endpoint to [`StartRecording`] / [`StopRecording`]; the
//!   endpoint feeds a [`media::recording::CallRecorder`] that writes the WAV incrementally:
//!   the caller's audio as leg A, left; the echo sent back, or the callee's audio, as leg B,
//!   right.
//! - When a recording stops (asked, or the call ended), [`finish`] runs off the actor: it
//!   finalizes nothing itself (the endpoint's `stop()` did) but checksums the file on a
//!   blocking thread, adds the store row and publishes `recording_stopped`.
//!
//! How a recording names its call: the store's `recordings.call_id` is a `calls.id`, and
//! echo calls have no `calls` row. Each endpoint mints one id for its call (shared by all
//! its recordings, ready for a CDR to reuse; a relayed call's endpoint takes the CDR's id
//! from the call engine when given one) and the row also carries the SIP Call-ID
//! (`recordings.sip_call_id`, migration 0003), which is what the API filters on.

pub mod api;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message, Recipient};
use media::recording::{
    CallRecorder, Leg, RecordingMode, RecordingSummary, sha256_file, timeline_position,
};
use serde_json::json;
use store::recordings::NewRecording;
use store::{Id, Store};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::events::{EventBus, EventDraft, Layer};
use crate::stack::Services;

/// The layout named `name` ("stereo" or "mixed", any case).
pub fn parse_mode(name: &str) -> Option<RecordingMode> {
    match name.to_ascii_lowercase().as_str() {
        "stereo" => Some(RecordingMode::Stereo),
        "mixed" => Some(RecordingMode::Mixed),
        _ => None,
    }
}

/// The name of `mode` in the API and events.
pub fn mode_name(mode: RecordingMode) -> &'static str {
    match mode {
        RecordingMode::Stereo => "stereo",
        RecordingMode::Mixed => "mixed",
    }
}

/// A live call's media endpoint, as the recording API speaks to it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMedia {
    /// Starts a recording.
    pub start: Recipient<StartRecording>,
    /// Stops it.
    pub stop: Recipient<StopRecording>,
}

impl CallMedia {
    /// The recording messages of `endpoint`.
    pub fn of<A>(endpoint: &Addr<A>) -> CallMedia
    where
        A: Actor + Handler<StartRecording> + Handler<StopRecording>,
        A::Context: ToEnvelope<A, StartRecording> + ToEnvelope<A, StopRecording>,
    {
        CallMedia {
            start: endpoint.clone().recipient(),
            stop: endpoint.clone().recipient(),
        }
    }
}

/// The live calls' media endpoints by SIP Call-ID (see the module documentation).
#[derive(Debug, Default)]
pub struct ActiveCalls {
    calls: Mutex<HashMap<String, CallMedia>>,
}

impl ActiveCalls {
    /// The process-wide registry.
    pub fn global() -> &'static ActiveCalls {
        static CALLS: OnceLock<ActiveCalls> = OnceLock::new();
        CALLS.get_or_init(ActiveCalls::default)
    }

    /// Names `endpoint` (an echo call's or a relayed call's) as the media of call `call_id`.
    pub fn insert<A>(&self, call_id: &str, endpoint: Addr<A>)
    where
        A: Actor + Handler<StartRecording> + Handler<StopRecording>,
        A::Context: ToEnvelope<A, StartRecording> + ToEnvelope<A, StopRecording>,
    {
        self.lock()
            .insert(call_id.to_owned(), CallMedia::of(&endpoint));
    }

    /// Forgets call `call_id` if `endpoint` is still its media (a later call reusing the
    /// Call-ID keeps its own entry).
    pub fn remove<A>(&self, call_id: &str, endpoint: &Addr<A>)
    where
        A: Actor + Handler<StartRecording> + Handler<StopRecording>,
        A::Context: ToEnvelope<A, StartRecording> + ToEnvelope<A, StopRecording>,
    {
        let media = CallMedia::of(endpoint);
        let mut calls = self.lock();
        if calls.get(call_id) == Some(&media) {
            calls.remove(call_id);
        }
    }

    /// The media of call `call_id`, if it is live.
    pub fn get(&self, call_id: &str) -> Option<CallMedia> {
        self.lock()
            .get(call_id)
            .filter(|m| m.start.connected())
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CallMedia>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where recordings go and what is done with them when they stop.
#[derive(Clone, Default)]
pub struct RecordingTarget {
    /// The recordings directory (files go in a per-day directory below it).
    pub dir: PathBuf,
    /// The store the finished recordings are listed in.
    pub store: Option<Store>,
}

impl std::fmt::Debug for RecordingTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTarget")
            .field("dir", &self.dir)
            .field("store", &self.store.is_some())
            .finish()
    }
}

/// Why a recording could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The call is being recorded already.
    #[error("call {0} is already being recorded")]
    AlreadyRecording(String),
    /// The file could not be created.
    #[error("cannot create the recording file: {0}")]
    File(String),
}

/// Starts recording the endpoint's call; answers with the file's path.
#[derive(Debug, Message)]
#[rtype(result = "Result<String, StartError>")]
pub struct StartRecording {
    /// The layout.
    pub mode: RecordingMode,
    /// Where the file goes and where it is listed.
    pub target: RecordingTarget,
}

/// Stops the endpoint's recording; answers with the file's path, none if not recording.
#[derive(Debug, Message)]
#[rtype(result = "Option<String>")]
pub struct StopRecording;

/// A file name part from a SIP Call-ID: letters, digits, `-`, `_` and `.` kept, anything else
/// `_`, at most 64 bytes (a Call-ID may hold `/`, `@` and is the caller's choice).
pub fn sanitise(call_id: &str) -> String {
    let mut s: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s
}

/// The first free `<dir>/<date>/<call-id>-<n>.wav` for call `call_id` on `date`
/// (`YYYY-MM-DD`), its directory created. Blocking, but a mkdir and a few stats.
pub fn next_path(dir: &Path, date: &str, call_id: &str) -> std::io::Result<PathBuf> {
    let day = dir.join(date);
    std::fs::create_dir_all(&day)?;
    let stem = sanitise(call_id);
    for n in 1..10_000u32 {
        let path = day.join(format!("{stem}-{n}.wav"));
        if !path.exists() {
            return Ok(path);
        }
    }
    Err(std::io::Error::other("too many recordings of this call"))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let d = OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A recording that stopped, to be checksummed and listed.
#[derive(Debug)]
pub struct Finished {
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// The call's id for the store.
    pub call_id: Id,
    /// The file.
    pub path: PathBuf,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// What the recorder wrote, or why it failed.
    pub summary: Result<RecordingSummary, String>,
    /// Where it is listed.
    pub target: RecordingTarget,
}

/// Checksums `done`'s file (on a blocking thread), adds its store row and publishes
/// `recording_stopped`, or `recording_failed` with the reason. Never fails the call.
pub async fn finish(done: Finished, services: Services) {
    finish_to(done, services.events).await;
}

/// [`finish`], publishing to `events` (if any).
pub async fn finish_to(done: Finished, events: Option<EventBus>) {
    let publish = |draft: EventDraft| {
        if let Some(events) = &events {
            events.publish(draft);
        }
    };
    let call_id = done.sip_call_id.clone();
    let file = done.path.display().to_string();
    let failed = |why: String| {
        warn!(call_id = %call_id, file = %file, error = %why, "recording failed");
        publish(
            EventDraft::new(Layer::Call, &call_id)
                .kind("recording_failed")
                .detail(json!({ "file": file, "error": why })),
        );
    };
    let summary = match done.summary {
        Ok(s) => s,
        Err(why) => return failed(why),
    };
    let path = done.path.clone();
    let digest = match tokio::task::spawn_blocking(move || sha256_file(path)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return failed(format!("cannot read the file back: {e}")),
        Err(e) => return failed(format!("checksum task failed: {e}")),
    };
    let duration_ms = i64::try_from(summary.duration_ms).unwrap_or(i64::MAX);
    if let Some(store) = &done.target.store {
        let row = NewRecording {
            call_id: done.call_id,
            sip_call_id: Some(done.sip_call_id.clone()),
            file_path: file.clone(),
            format: "wav".to_owned(),
            duration_ms,
            size_bytes: i64::try_from(digest.size_bytes).unwrap_or(i64::MAX),
            sha256: digest.sha256.clone(),
            started_at: done.started_at,
        };
        if let Err(e) = store.add_recording(&row).await {
            return failed(format!("cannot list the recording in the store: {e}"));
        }
    }
    info!(
        call_id = %call_id,
        file = %file,
        duration_ms,
        sha256 = %digest.sha256,
        "recording stopped"
    );
    publish(
        EventDraft::new(Layer::Call, &call_id)
            .kind("recording_stopped")
            .detail(json!({
                "file": file,
                "mode": mode_name(summary.mode),
                "duration_ms": duration_ms,
                "size_bytes": digest.size_bytes,
                "sha256": digest.sha256,
            })),
    );
}

/// A recording in progress, owned by the endpoint of its call.
pub struct ActiveRecording {
    recorder: CallRecorder<BufWriter<File>>,
    path: PathBuf,
    started: Instant,
    started_at: OffsetDateTime,
    target: RecordingTarget,
    /// The first write error; the recording stops (the call goes on).
    failed: Option<String>,
}

impl ActiveRecording {
    /// Creates the next file of call `call_id` under `target` and starts recording at `now`.
    pub fn start(
        call_id: &str,
        mode: RecordingMode,
        target: RecordingTarget,
        now: Instant,
    ) -> Result<ActiveRecording, StartError> {
        let path = next_path(&target.dir, &today(), call_id)
            .map_err(|e| StartError::File(format!("{}: {e}", target.dir.display())))?;
        let recorder = CallRecorder::create(&path, mode)
            .map_err(|e| StartError::File(format!("{}: {e}", path.display())))?;
        Ok(ActiveRecording {
            recorder,
            path,
            started: now,
            started_at: OffsetDateTime::now_utc(),
            target,
            failed: None,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layout.
    pub fn mode(&self) -> RecordingMode {
        self.recorder.mode()
    }

    /// Whether writing failed (the endpoint then stops the recording).
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Adds `pcm` of `leg` with RTP timestamp `timestamp`, arrived at `now`.
    pub fn push(&mut self, leg: Leg, timestamp: u32, now: Instant, pcm: &[i16]) {
        if self.failed.is_some() {
            return;
        }
        let arrival = timeline_position(self.started, now);
        if let Err(e) = self.recorder.push_rtp(leg, timestamp, arrival, pcm) {
            self.failed = Some(e.to_string());
        }
    }

    /// The call went on to `now` (with or without audio): the file keeps up.
    pub fn advance(&mut self, now: Instant) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self
            .recorder
            .advance_to(timeline_position(self.started, now))
        {
            self.failed = Some(e.to_string());
        }
    }

    /// Stops at `now`: the file is finalized (the last buffered half second written, the
    /// header patched); checksum and store row are left to [`finish`].
    pub fn stop(mut self, sip_call_id: &str, call_id: Id, now: Instant) -> Finished {
        self.advance(now);
        let summary = match self.failed.take() {
            Some(why) => Err(why),
            None => self.recorder.stop().map_err(|e| e.to_string()),
        };
        Finished {
            sip_call_id: sip_call_id.to_owned(),
            call_id,
            path: self.path,
            started_at: self.started_at,
            summary,
            target: self.target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_safe_file_names() {
        assert_eq!(
            sanitise("a84b4c76e66710@pc33.example.com"),
            "a84b4c76e66710_pc33.example.com"
        );
        assert_eq!(sanitise("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(sanitise(""), "_");
        assert_eq!(sanitise(&"x".repeat(200)).len(), 64);
        assert_eq!(parse_mode("Mixed"), Some(RecordingMode::Mixed));
        assert_eq!(parse_mode("quad"), None);
    }

    #[test]
    fn paths_are_numbered_per_call_and_day() {
        let dir = std::env::temp_dir().join(format!("sb-rec-{}", Id::new()));
        let first = next_path(&dir, "2026-11-24", "c/1").expect("path");
        assert!(
            first.ends_with("2026-11-24/c_1-1.wav"),
            "{}",
            first.display()
        );
        std::fs::write(&first, b"x").expect("write");
        let second = next_path(&dir, "2026-11-24", "c/1").expect("path");
        assert!(
            second.ends_with("2026-11-24/c_1-2.wav"),
            "{}",
            second.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
