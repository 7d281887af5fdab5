//! Call recordings: one row per finished file, with its SHA-256 so a copy can be checked
//! against what was recorded. The files themselves live on disk; the row says where.

use serde::Serialize;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::validate;
use crate::{Id, Result, Store, StoreError, now_utc};

/// Longest file path accepted, in bytes (PATH_MAX on Linux).
pub const MAX_PATH_BYTES: usize = 4096;

/// A finished recording to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecording {
    /// The call it belongs to (`calls.id`; the CDR may be written after the file).
    pub call_id: Id,
    /// The call's SIP Call-ID, when known (what the live call is named by).
    pub sip_call_id: Option<String>,
    /// Where the file is; unique.
    pub file_path: String,
    /// Container/codec, lowercase (`wav`, `opus`, ...).
    pub format: String,
    /// Length of the audio in milliseconds.
    pub duration_ms: i64,
    /// Size of the file in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
    /// When recording started (UTC).
    pub started_at: OffsetDateTime,
}

/// A registered recording.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct Recording {
    /// Id of the row.
    pub id: Id,
    /// The call it belongs to.
    pub call_id: Id,
    /// The call's SIP Call-ID, when known.
    pub sip_call_id: Option<String>,
    /// Where the file is.
    pub file_path: String,
    /// Container/codec.
    pub format: String,
    /// Length of the audio in milliseconds.
    pub duration_ms: i64,
    /// Size of the file in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the file (lowercase hex).
    pub sha256: String,
    /// When recording started (UTC).
    pub started_at: OffsetDateTime,
    /// When the row was written (UTC).
    pub created_at: OffsetDateTime,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The checks the schema makes too, done first so the error names the field in words
/// rather than as a constraint violation.
fn check(new: &NewRecording) -> Result<()> {
    if new.file_path.trim().is_empty() || new.file_path.len() > MAX_PATH_BYTES {
        return Err(invalid(
            "file path",
            format!("must be 1 to {MAX_PATH_BYTES} bytes"),
        ));
    }
    if let Some(sip) = &new.sip_call_id
        && (sip.is_empty() || sip.len() > 1024 || sip.contains('\0'))
    {
        return Err(invalid("sip call id", "must be 1 to 1024 bytes, no NUL"));
    }
    if new.file_path.contains('\0') {
        return Err(invalid("file path", "contains a NUL byte"));
    }
    let format_ok = !new.format.is_empty()
        && new.format.len() <= 16
        && new
            .format
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !format_ok {
        return Err(invalid(
            "format",
            "must be 1 to 16 lowercase letters or digits (e.g. wav)",
        ));
    }
    validate::range("duration_ms", new.duration_ms, 0, i64::MAX)?;
    validate::range("size_bytes", new.size_bytes, 0, i64::MAX)?;
    let sha_ok = new.sha256.len() == 64
        && new
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !sha_ok {
        return Err(invalid("sha256", "must be 64 lowercase hex digits"));
    }
    Ok(())
}

const SELECT: &str = "SELECT id, call_id, sip_call_id, file_path, format, duration_ms, size_bytes, sha256, \
                      started_at, created_at FROM recordings";

impl Store {
    /// Registers a finished recording. Errors: [`StoreError::Invalid`] (a field out of
    /// range, a checksum that is not 64 lowercase hex digits), [`StoreError::Duplicate`]
    /// (the file path is already registered).
    pub async fn add_recording(&self, new: &NewRecording) -> Result<Recording> {
        check(new)?;
        let id = Id::new();
        let created_at = now_utc();
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            // Checked in the transaction rather than mapped from the UNIQUE violation, whose
            // code differs between the backends.
            let exists: Option<Id> =
                sqlx::query_scalar("SELECT id FROM recordings WHERE file_path = $1")
                    .bind(&new.file_path)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                return Err(StoreError::Duplicate {
                    entity: "recording",
                    key: new.file_path.clone(),
                });
            }
            sqlx::query(
                "INSERT INTO recordings (id, call_id, sip_call_id, file_path, format, \
                 duration_ms, size_bytes, sha256, started_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id)
            .bind(new.call_id)
            .bind(&new.sip_call_id)
            .bind(&new.file_path)
            .bind(&new.format)
            .bind(new.duration_ms)
            .bind(new.size_bytes)
            .bind(&new.sha256)
            .bind(new.started_at)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        Ok(Recording {
            id,
            call_id: new.call_id,
            sip_call_id: new.sip_call_id.clone(),
            file_path: new.file_path.clone(),
            format: new.format.clone(),
            duration_ms: new.duration_ms,
            size_bytes: new.size_bytes,
            sha256: new.sha256.clone(),
            started_at: new.started_at,
            created_at,
        })
    }

    /// The recordings of one call, or all of them, oldest start first (then by id).
    pub async fn list_recordings(&self, call_id: Option<Id>) -> Result<Vec<Recording>> {
        let rows: Vec<Recording> = match call_id {
            Some(call) => with_db!(self, |pool| sqlx::query_as(&format!(
                "{SELECT} WHERE call_id = $1 ORDER BY started_at, id"
            ))
            .bind(call)
            .fetch_all(pool)
            .await?),
            None => with_db!(self, |pool| sqlx::query_as(&format!(
                "{SELECT} ORDER BY started_at, id"
            ))
            .fetch_all(pool)
            .await?),
        };
        Ok(rows)
    }

    /// The recordings of the call with SIP Call-ID `sip_call_id`, oldest start first.
    pub async fn list_recordings_of_sip_call(&self, sip_call_id: &str) -> Result<Vec<Recording>> {
        let rows: Vec<Recording> = with_db!(self, |pool| sqlx::query_as(&format!(
            "{SELECT} WHERE sip_call_id = $1 ORDER BY started_at, id"
        ))
        .bind(sip_call_id)
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }

    /// One recording by id. Errors: [`StoreError::NotFound`].
    pub async fn get_recording(&self, id: Id) -> Result<Recording> {
        let found: Option<Recording> = with_db!(self, |pool| sqlx::query_as(&format!(
            "{SELECT} WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?);
        found.ok_or_else(|| StoreError::NotFound {
            entity: "recording",
            key: id.to_string(),
        })
    }
}
