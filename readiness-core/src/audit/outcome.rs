//! What became of records: checkpoints, errors and counts.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::Durability;

/// A checkpoint: the record `seq` had hash `hash`. Kept outside the trail, it
/// anchors verification ([`VerifyOptions::anchors`](super::VerifyOptions::anchors)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number of the record covered.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl Checkpoint {
    /// The checkpoints in log lines written by trails (`readiness::audit_trail`
    /// lines with `checkpoint_seq` and `checkpoint_hash`); other lines are skipped.
    ///
    /// ```
    /// use readiness_core::audit::Checkpoint;
    /// let lines = r#"{"message":"audit trail checkpoint","checkpoint_seq":1000,"checkpoint_hash":"ab12"}"#;
    /// assert_eq!(Checkpoint::from_log_lines(lines)[0].seq, 1000);
    /// ```
    #[must_use]
    pub fn from_log_lines(text: &str) -> Vec<Self> {
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|line| {
                Some(Self {
                    seq: line.get("checkpoint_seq")?.as_u64()?,
                    hash: line.get("checkpoint_hash")?.as_str()?.to_owned(),
                })
            })
            .collect()
    }
}

/// Why a record was not written.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrailError {
    /// The trail could not write it (disk full, file gone, ...).
    Write(io::Error),
    /// The trail's writer thread has stopped.
    Closed,
}

impl fmt::Display for TrailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write(error) => write!(f, "the audit record could not be written: {error}"),
            Self::Closed => f.write_str("the audit trail is closed"),
        }
    }
}

impl std::error::Error for TrailError {}

/// Counts of what became of the records given to the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TrailStats {
    /// Event records written.
    pub written: u64,
    /// Records dropped because the batch queue was full.
    pub dropped: u64,
    /// Records that could not be written.
    pub failed: u64,
}

#[derive(Default)]
pub(crate) struct Counts {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    metrics: Option<[prometheus::IntCounter; 3]>,
}

/// What became of a record.
#[derive(Clone, Copy)]
pub(crate) enum Fate {
    Written,
    Dropped,
    Failed,
}

impl Counts {
    pub(crate) fn new(metrics: Option<[prometheus::IntCounter; 3]>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    pub(crate) fn stats(&self) -> TrailStats {
        TrailStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Counts `n` records as `fate`.
    pub(crate) fn add(&self, fate: Fate, n: u64) {
        let counter = match fate {
            Fate::Written => &self.written,
            Fate::Dropped => &self.dropped,
            Fate::Failed => &self.failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics[fate as usize].inc_by(n);
        }
    }

    /// Counts a record written in a `blocking` mode, or not; a failure is logged,
    /// and an error only in `blocking-strict` mode.
    pub(crate) fn settle(
        &self,
        durability: Durability,
        written: Result<(), TrailError>,
    ) -> Result<(), TrailError> {
        match written {
            Ok(()) => {
                self.add(Fate::Written, 1);
                Ok(())
            }
            Err(error) => {
                self.add(Fate::Failed, 1);
                tracing::error!(target: "readiness::audit_trail", category = "system", error = %error, "audit record not written");
                if durability == Durability::BlockingStrict {
                    Err(error)
                } else {
                    Ok(())
                }
            }
        }
    }
}
