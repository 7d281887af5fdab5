//! The writer task: batching, retries with backoff, spooling and replay.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tracing::{error, info, warn};

use super::spool::{RejectFile, Spool};
use super::{Record, Stats, WriterConfig};
use crate::{Result, Store};

/// How often spooled records are synced to the disk while the spool grows.
const SPOOL_SYNC_EVERY: Duration = Duration::from_secs(1);

/// What one database round trip writes.
enum Step {
    /// Records from memory.
    Batch(Arc<Vec<Record>>),
    /// Records read back from the spool, ending at this file offset.
    Replay(Arc<Vec<Record>>, u64),
}

impl Step {
    fn records(&self) -> &Arc<Vec<Record>> {
        match self {
            Step::Batch(r) | Step::Replay(r, _) => r,
        }
    }
}

/// Records refused for good, with the reason.
type Rejected = Vec<(Record, String)>;
type Inflight = Pin<Box<dyn Future<Output = Result<Rejected>> + Send>>;

pub(crate) struct Task {
    store: Store,
    config: WriterConfig,
    rx: mpsc::Receiver<Record>,
    stop: oneshot::Receiver<()>,
    stats: Arc<Stats>,
    pending: VecDeque<Record>,
    /// When the oldest record in `pending` arrived.
    oldest: Option<Instant>,
    spool: Spool,
    rejects: RejectFile,
    backoff: Duration,
    retry_at: Option<Instant>,
    last_sync: Instant,
}

/// Writes `records`; on a non-transient error, row by row, returning the rows refused.
async fn write(store: Store, records: Arc<Vec<Record>>) -> Result<Rejected> {
    match store.insert_records(&records).await {
        Ok(()) => Ok(Vec::new()),
        Err(e) if e.is_transient() => Err(e),
        Err(batch_error) => {
            warn!(error = %batch_error, rows = records.len(), "batch refused; writing it row by row");
            let mut rejected = Vec::new();
            for r in records.iter() {
                match store.insert_records(std::slice::from_ref(r)).await {
                    Ok(()) => {}
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => rejected.push((r.clone(), e.to_string())),
                }
            }
            Ok(rejected)
        }
    }
}

/// Awaits the in-flight write, or never if there is none.
async fn in_flight(f: &mut Option<Inflight>) -> Result<Rejected> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Task {
    pub(crate) fn new(
        store: Store,
        config: WriterConfig,
        rx: mpsc::Receiver<Record>,
        stop: oneshot::Receiver<()>,
        stats: Arc<Stats>,
    ) -> Result<Task> {
        let spool = Spool::open(&config.spool_path)?;
        if spool.has_unreplayed() {
            info!(spool = %config.spool_path.display(), "spool from an earlier run will be replayed");
        }
        Ok(Task {
            rejects: RejectFile::new(config.reject_path.clone()),
            backoff: config.backoff_initial,
            store,
            rx,
            stop,
            stats,
            pending: VecDeque::new(),
            oldest: None,
            spool,
            retry_at: None,
            last_sync: Instant::now(),
            config,
        })
    }

    pub(crate) async fn run(mut self) {
        let mut inflight: Option<Inflight> = None;
        let mut step: Option<Step> = None;
        let mut closing = false;
        let mut drained = false;
        let mut deadline: Option<Instant> = None;
        loop {
            if step.is_none()
                && let Some(next) = self.next_step(closing)
            {
                inflight = Some(Box::pin(write(self.store.clone(), next.records().clone())));
                step = Some(next);
            }
            self.publish_pending(step.as_ref());
            if closing && drained && step.is_none() {
                if self.pending.is_empty() && !self.spool.has_unreplayed() {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    self.spool_everything(None);
                    break;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && drained {
                // Give up on the write in flight too: its records go to the spool (replaying
                // them is harmless if the write did land).
                self.spool_everything(step.take().as_ref());
                break;
            }
            let wake = self.wake_at(deadline);
            tokio::select! {
                biased;
                result = in_flight(&mut inflight) => {
                    inflight = None;
                    if let Some(done) = step.take() {
                        self.finish(done, result);
                    }
                }
                _ = &mut self.stop, if !closing => {
                    closing = true;
                    self.rx.close();
                    deadline = Some(Instant::now() + self.config.shutdown_timeout);
                }
                msg = self.rx.recv(), if !drained => match msg {
                    Some(record) => self.accept(record),
                    None => {
                        drained = true;
                        closing = true;
                        deadline.get_or_insert_with(|| Instant::now() + self.config.shutdown_timeout);
                    }
                },
                _ = sleep_until(wake) => {}
            }
            let sync = self.last_sync.elapsed() >= SPOOL_SYNC_EVERY;
            if sync {
                self.last_sync = Instant::now();
            }
            if let Err(e) = self.spool.flush(sync) {
                error!(error = %e, "cannot flush the spool");
            }
        }
        if let Err(e) = self.spool.flush(true) {
            error!(error = %e, "cannot sync the spool");
        }
        self.publish_pending(None);
        let s = self.stats.snapshot();
        info!(
            written = s.written,
            spooled = s.spooled,
            replayed = s.replayed,
            rejected = s.rejected,
            "store writer stopped"
        );
    }

    fn publish_pending(&self, step: Option<&Step>) {
        let in_flight = step.map_or(0, |s| s.records().len());
        self.stats
            .pending
            .store((self.pending.len() + in_flight) as u64, Ordering::Relaxed);
    }

    /// The next write to start, if any is due.
    fn next_step(&mut self, closing: bool) -> Option<Step> {
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return None;
        }
        let batch = self.config.batch_size.max(1);
        let due = self
            .oldest
            .is_some_and(|t| t.elapsed() >= self.config.flush_interval);
        if self.pending.len() >= batch || (!self.pending.is_empty() && (due || closing)) {
            let n = self.pending.len().min(batch);
            let records: Vec<Record> = self.pending.drain(..n).collect();
            self.oldest = (!self.pending.is_empty()).then(Instant::now);
            return Some(Step::Batch(Arc::new(records)));
        }
        if self.spool.has_unreplayed() {
            match self.spool.read_chunk(batch) {
                Ok((records, end)) if records.is_empty() => {
                    if let Err(e) = self.spool.commit_read(end) {
                        error!(error = %e, "cannot truncate the spool");
                    }
                }
                Ok((records, end)) => return Some(Step::Replay(Arc::new(records), end)),
                Err(e) => {
                    error!(error = %e, "cannot read the spool; will retry");
                    self.retry_at = Some(Instant::now() + self.config.backoff_max);
                }
            }
        }
        None
    }

    fn wake_at(&self, deadline: Option<Instant>) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let flush = self.oldest.map(|t| t + self.config.flush_interval);
        [flush, self.retry_at, deadline]
            .into_iter()
            .flatten()
            .chain(self.spool_sync_due())
            .min()
            .unwrap_or(far)
    }

    fn spool_sync_due(&self) -> Option<Instant> {
        self.spool
            .has_unreplayed()
            .then(|| self.last_sync + SPOOL_SYNC_EVERY)
    }

    /// Takes a record from a producer: into memory, or to the spool when memory is full.
    fn accept(&mut self, mut record: Record) {
        record.sanitize();
        if self.pending.len() >= self.config.max_pending {
            match self.spool.append(&record) {
                Ok(()) => {
                    self.stats.spooled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // Better over the memory limit than lost.
                Err(e) => error!(error = %e, "cannot spool a record; keeping it in memory"),
            }
        }
        if self.pending.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.pending.push_back(record);
    }

    fn finish(&mut self, step: Step, result: Result<Rejected>) {
        match result {
            Ok(rejected) => {
                let n = step.records().len() as u64;
                match &step {
                    Step::Batch(_) => {
                        self.stats.batches.fetch_add(1, Ordering::Relaxed);
                        self.stats.written.fetch_add(n, Ordering::Relaxed)
                    }
                    Step::Replay(_, end) => {
                        if let Err(e) = self.spool.commit_read(*end) {
                            error!(error = %e, "cannot truncate the spool");
                        }
                        self.stats.replayed.fetch_add(n, Ordering::Relaxed)
                    }
                };
                if !self.stats.database_up.swap(true, Ordering::Relaxed) {
                    info!("database reachable again; writing the backlog");
                }
                self.backoff = self.config.backoff_initial;
                self.retry_at = None;
                if !rejected.is_empty() {
                    self.stats
                        .rejected
                        .fetch_add(rejected.len() as u64, Ordering::Relaxed);
                    error!(
                        rows = rejected.len(),
                        file = %self.rejects.path().display(),
                        first_error = %rejected[0].1,
                        "the database refused some records; they are kept in the reject file"
                    );
                    if let Err(e) = self.rejects.append(&rejected) {
                        error!(error = %e, "cannot write the reject file");
                    }
                }
            }
            Err(e) => {
                self.stats.failed_writes.fetch_add(1, Ordering::Relaxed);
                if self.stats.database_up.swap(false, Ordering::Relaxed) {
                    warn!(error = %e, "store write failed; retrying with backoff");
                }
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(self.config.backoff_max);
                if let Step::Batch(records) = step {
                    // Back to the front, in order; then keep memory within its limit.
                    let records = Arc::try_unwrap(records).unwrap_or_else(|a| (*a).clone());
                    for r in records.into_iter().rev() {
                        self.pending.push_front(r);
                    }
                    self.oldest.get_or_insert_with(Instant::now);
                    while self.pending.len() > self.config.max_pending {
                        let Some(r) = self.pending.pop_back() else {
                            break;
                        };
                        match self.spool.append(&r) {
                            Ok(()) => {
                                self.stats.spooled.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                error!(error = %e, "cannot spool; keeping records in memory");
                                self.pending.push_back(r);
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves everything in memory (and the write in flight) to the spool.
    fn spool_everything(&mut self, in_flight: Option<&Step>) {
        let from_flight = match in_flight {
            Some(Step::Batch(r)) => r.iter().cloned().collect(),
            _ => Vec::new(),
        };
        let mut spooled = 0u64;
        for r in from_flight.iter().chain(self.pending.iter()) {
            match self.spool.append(r) {
                Ok(()) => spooled += 1,
                Err(e) => {
                    error!(error = %e, "cannot spool at shutdown; records are lost");
                    break;
                }
            }
        }
        self.pending.clear();
        self.stats.spooled.fetch_add(spooled, Ordering::Relaxed);
        warn!(
            spooled,
            "database unavailable at shutdown; records spooled for the next start"
        );
    }
}
