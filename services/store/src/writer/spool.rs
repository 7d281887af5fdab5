//! The writer's local spool: records that do not fit in memory while the database is down,
//! as JSON lines in a file of the data directory, replayed (then truncated) when the
//! database is back.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing::warn;

use super::Record;
use crate::{Result, StoreError};

/// An append-only JSON-lines file with a read position.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Bytes in the file (written, flushed or not).
    len: u64,
    /// Bytes already replayed.
    read_offset: u64,
    /// Appends not yet synced to the disk.
    dirty: bool,
}

impl Spool {
    /// Opens (or notes the absence of) the spool at `path`; a file left by an earlier run is
    /// replayed like any other.
    pub(crate) fn open(path: &Path) -> Result<Spool> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(StoreError::Spool {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Spool {
            path: path.to_path_buf(),
            out: None,
            len,
            read_offset: 0,
            dirty: false,
        })
    }

    fn err(&self, source: std::io::Error) -> StoreError {
        StoreError::Spool {
            path: self.path.clone(),
            source,
        }
    }

    /// Whether some records have not been replayed yet.
    pub(crate) fn has_unreplayed(&self) -> bool {
        self.read_offset < self.len
    }

    /// Appends one record (buffered; see [`Spool::flush`]).
    pub(crate) fn append(&mut self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.err(e.into()))?;
        line.push(b'\n');
        if self.out.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.err(e))?;
            self.out = Some(BufWriter::with_capacity(64 * 1024, file));
        }
        if let Some(out) = &mut self.out {
            out.write_all(&line).map_err(|e| StoreError::Spool {
                path: self.path.clone(),
                source: e,
            })?;
        }
        self.len += line.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Writes buffered appends to the file and, with `sync`, to the disk.
    pub(crate) fn flush(&mut self, sync: bool) -> Result<()> {
        let Some(out) = &mut self.out else {
            return Ok(());
        };
        let mut result = out.flush();
        if result.is_ok() && sync && self.dirty {
            result = out.get_ref().sync_data();
            if result.is_ok() {
                self.dirty = false;
            }
        }
        result.map_err(|e| self.err(e))
    }

    /// Up to `max` records after the read position, and the offset just past them. Lines
    /// that do not parse (a torn write from a crash) are skipped with a warning.
    pub(crate) fn read_chunk(&mut self, max: usize) -> Result<(Vec<Record>, u64)> {
        self.flush(false)?;
        let file = File::open(&self.path).map_err(|e| self.err(e))?;
        let mut reader = BufReader::new(file);
        reader
            .seek(SeekFrom::Start(self.read_offset))
            .map_err(|e| self.err(e))?;
        let mut records = Vec::new();
        let mut offset = self.read_offset;
        let mut line = String::new();
        while records.len() < max && offset < self.len {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| self.err(e))?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(r) => records.push(r),
                Err(e) if !line.trim().is_empty() => {
                    warn!(spool = %self.path.display(), offset, error = %e, "skipping unreadable spool line");
                }
                Err(_) => {}
            }
        }
        if offset < self.read_offset || (records.is_empty() && offset == self.read_offset) {
            // The file is shorter than we thought (changed behind our back): start over.
            offset = self.len;
        }
        Ok((records, offset))
    }

    /// Marks everything before `offset` as replayed; truncates the file once all of it is.
    pub(crate) fn commit_read(&mut self, offset: u64) -> Result<()> {
        self.read_offset = self.read_offset.max(offset);
        if self.read_offset >= self.len {
            self.out = None;
            File::create(&self.path).map_err(|e| self.err(e))?;
            self.len = 0;
            self.read_offset = 0;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Records the database refused for good (a constraint the writer cannot satisfy), kept as
/// JSON lines `{"error": ..., "record": ...}` for an operator instead of being dropped.
#[derive(Debug)]
pub(crate) struct RejectFile {
    path: PathBuf,
}

#[derive(Serialize)]
struct Rejected<'a> {
    error: &'a str,
    record: &'a Record,
}

impl RejectFile {
    pub(crate) fn new(path: PathBuf) -> RejectFile {
        RejectFile { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn append(&self, rejected: &[(Record, String)]) -> Result<()> {
        let err = |source| StoreError::Spool {
            path: self.path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        let mut out = BufWriter::new(file);
        for (record, error) in rejected {
            let line =
                serde_json::to_vec(&Rejected { error, record }).map_err(|e| StoreError::Spool {
                    path: self.path.clone(),
                    source: e.into(),
                })?;
            out.write_all(&line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| StoreError::Spool {
                    path: self.path.clone(),
                    source: e,
                })?;
        }
        out.flush().map_err(|e| StoreError::Spool {
            path: self.path.clone(),
            source: e,
        })
    }
}
