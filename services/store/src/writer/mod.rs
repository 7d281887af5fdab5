//! The batching writer for call events and CDRs.
//!
//! Producers hand records to a [`WriterHandle`] ([`WriterHandle::try_submit`] never blocks
//! and never waits; [`WriterHandle::submit`] waits for room and is for producers that run
//! on their own task). One task owns the database side:
//!
//! 1. It drains the bounded channel into an in-memory batch, and writes a batch with
//!    multi-row INSERTs when it holds `batch_size` records or its oldest record is
//!    `flush_interval` old. The INSERT runs concurrently with draining, so a slow database
//!    does not back the channel up.
//! 2. When a write fails because of the connection or the server ([`crate::is_transient`]),
//!    the batch goes back to the front and the writer retries with exponential backoff
//!    (`backoff_initial` doubling up to `backoff_max`), keeping up to `max_pending` records
//!    in memory. Beyond that, records are appended to the spool file (JSON lines), which is
//!    replayed and then truncated once the database answers again, also after a restart.
//! 3. A batch the database refuses for another reason is retried row by row; rows it still
//!    refuses go to the reject file, never silently away.
//! 4. [`Writer::shutdown`] writes what is left; what cannot be written within
//!    `shutdown_timeout` is spooled for the next start.
//!
//! Call events are keyed by (run, seq) and CDRs by id, and inserts skip existing keys, so a
//! retried or replayed batch never duplicates rows.

mod records;
mod spool;
mod task;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::error;

pub use records::{
    CallEventRecord, CdrRecord, Direction, Disposition, EventLayer, HangupBy, Record,
};

use crate::{Result, Store};

/// File name of the spool in the data directory.
pub const SPOOL_FILE: &str = "writer-spool.jsonl";
/// File name of the reject file in the data directory.
pub const REJECT_FILE: &str = "writer-rejected.jsonl";

/// Sizes and timings of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Capacity of the channel from producers to the writer task.
    pub queue_capacity: usize,
    /// Records per database transaction.
    pub batch_size: usize,
    /// Longest a record waits in memory before its batch is written.
    pub flush_interval: Duration,
    /// Records kept in memory while the database is unreachable; more go to the spool.
    pub max_pending: usize,
    /// First retry delay after a failed write.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long [`Writer::shutdown`] keeps trying before spooling the rest.
    pub shutdown_timeout: Duration,
    /// The spool file.
    pub spool_path: PathBuf,
    /// The file of records the database refused.
    pub reject_path: PathBuf,
}

impl WriterConfig {
    /// Defaults, with the spool and reject files in `data_dir`.
    pub fn new(data_dir: &Path) -> WriterConfig {
        WriterConfig {
            queue_capacity: 65_536,
            batch_size: 1_000,
            flush_interval: Duration::from_millis(100),
            max_pending: 100_000,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            spool_path: data_dir.join(SPOOL_FILE),
            reject_path: data_dir.join(REJECT_FILE),
        }
    }
}

/// Counters shared between the handles and the task.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    submitted: AtomicU64,
    queue_full: AtomicU64,
    written: AtomicU64,
    batches: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    rejected: AtomicU64,
    failed_writes: AtomicU64,
    pending: AtomicU64,
    database_up: AtomicBool,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Records accepted from producers.
    pub submitted: u64,
    /// Records refused by [`WriterHandle::try_submit`] because the channel was full.
    pub queue_full: u64,
    /// Records acknowledged by the database (first writes; spool replays are counted in
    /// `replayed`).
    pub written: u64,
    /// Database transactions that wrote records from memory.
    pub batches: u64,
    /// Records appended to the spool file.
    pub spooled: u64,
    /// Spooled records written to the database later.
    pub replayed: u64,
    /// Records the database refused for good (kept in the reject file).
    pub rejected: u64,
    /// Failed write attempts (each followed by a backoff).
    pub failed_writes: u64,
    /// Records in memory, waiting or being written.
    pub pending: u64,
    /// Whether the last write attempt succeeded.
    pub database_up: bool,
}

impl Stats {
    fn snapshot(&self) -> WriterStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriterStats {
            submitted: get(&self.submitted),
            queue_full: get(&self.queue_full),
            written: get(&self.written),
            batches: get(&self.batches),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            rejected: get(&self.rejected),
            failed_writes: get(&self.failed_writes),
            pending: get(&self.pending),
            database_up: self.database_up.load(Ordering::Relaxed),
        }
    }
}

/// Why a record was not accepted; the record is handed back.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The channel is full (the writer is behind); the caller decides what to do.
    #[error("the store writer's queue is full")]
    Full(Box<Record>),
    /// The writer has shut down.
    #[error("the store writer has shut down")]
    Closed(Box<Record>),
}

/// A cheap, cloneable way to hand records to the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Record>,
    stats: Arc<Stats>,
}

impl WriterHandle {
    /// Queues a record without waiting; never blocks.
    pub fn try_submit(&self, record: Record) -> Result<(), SubmitError> {
        match self.tx.try_send(record) {
            Ok(()) => {
                self.stats.submitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(r)) => {
                self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                Err(SubmitError::Full(Box::new(r)))
            }
            Err(mpsc::error::TrySendError::Closed(r)) => Err(SubmitError::Closed(Box::new(r))),
        }
    }

    /// Queues a record, waiting for room in the channel (for producers on their own task).
    pub async fn submit(&self, record: Record) -> Result<(), SubmitError> {
        match self.tx.send(record).await {
            Ok(()) => {
                self.stats.submitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::SendError(r)) => Err(SubmitError::Closed(Box::new(r))),
        }
    }

    /// The writer's counters now.
    pub fn stats(&self) -> WriterStats {
        self.stats.snapshot()
    }
}

/// The running writer: its task and the way to stop it.
#[derive(Debug)]
pub struct Writer {
    handle: WriterHandle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Opens the spool (replaying any left by an earlier run once the database answers) and
    /// starts the writer task on the current tokio runtime.
    pub fn start(store: Store, config: WriterConfig) -> Result<Writer> {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let stats = Arc::new(Stats::default());
        stats.database_up.store(true, Ordering::Relaxed);
        let task = task::Task::new(store, config, rx, stop_rx, stats.clone())?;
        Ok(Writer {
            handle: WriterHandle { tx, stats },
            stop: Some(stop_tx),
            task: tokio::spawn(task.run()),
        })
    }

    /// A handle for producers.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Stops accepting records, writes (or spools) everything accepted, and ends the task.
    pub async fn shutdown(mut self) -> WriterStats {
        if let Some(stop) = self.stop.take() {
            // An error means the task already ended.
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            error!(error = %e, "the store writer task failed");
        }
        self.handle.stats()
    }
}
