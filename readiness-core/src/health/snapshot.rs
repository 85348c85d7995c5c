//! The cached results that probes read: one `Arc` clone, no I/O, no waiting on checks.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::check::{Measurement, Status};
use super::settings::Probe;
use super::CheckInfo;

/// The latest reported result of one check.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult {
    /// The status after flap dampening: what probes report (`Fail` while pending).
    pub(crate) status: Status,
    /// No status reported yet: the runs so far failed fewer times than the
    /// failure threshold.
    pub(crate) pending: bool,
    pub(crate) output: Option<Cow<'static, str>>,
    pub(crate) latency: Duration,
    pub(crate) time: SystemTime,
    pub(crate) measurements: Vec<Measurement>,
}

/// Every check's latest result, the startup latch and the derived whole status.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Indexed like `Shared::checks`; `None` until a check's first run ends.
    pub(crate) results: Vec<Option<Arc<CheckResult>>>,
    /// Each check has reported a healthy status at least once.
    pub(crate) passed_once: Vec<bool>,
    /// Latched: every critical readiness and startup check has passed once.
    pub(crate) started: bool,
}

impl Snapshot {
    pub(crate) fn empty(checks: usize) -> Self {
        Self {
            results: vec![None; checks],
            passed_once: vec![false; checks],
            started: false,
        }
    }

    /// Whether check `index` is pending: it has not finished a run yet, or has not
    /// reported a status yet (its first runs failed fewer times than its failure
    /// threshold).
    pub(crate) fn is_pending(&self, index: usize) -> bool {
        self.results[index].as_ref().is_none_or(|r| r.pending)
    }

    /// The status check `index` reports for itself: `Fail` while pending.
    pub(crate) fn check_status(&self, index: usize) -> Status {
        self.results[index]
            .as_ref()
            .map_or(Status::Fail, |r| r.status)
    }

    /// The aggregate over the checks for which `include` holds: a failing critical
    /// check fails it, a failing non-critical check or any warning makes it `warn`.
    /// A pending check counts as failing (with its criticality), except for
    /// liveness (`liveness`), where it makes the aggregate `warn`: a check that has
    /// not run yet, or has failed fewer times than its threshold, is no reason to
    /// restart the process.
    pub(crate) fn aggregate(
        &self,
        checks: &[CheckInfo],
        liveness: bool,
        mut include: impl FnMut(usize, &CheckInfo) -> bool,
    ) -> Status {
        let mut status = Status::Pass;
        for (i, info) in checks.iter().enumerate() {
            if !include(i, info) {
                continue;
            }
            let this = match self.check_status(i) {
                Status::Fail if !info.critical => Status::Warn,
                Status::Fail if liveness && self.is_pending(i) => Status::Warn,
                other => other,
            };
            status = status.max(this);
        }
        status
    }

    /// The status of one probe, before the manual switch is applied.
    pub(crate) fn probe_status(&self, checks: &[CheckInfo], probe: Probe) -> Status {
        let liveness = probe == Probe::Liveness;
        let checks_status = self.aggregate(checks, liveness, |_, info| info.has_probe(probe));
        match probe {
            Probe::Liveness => checks_status,
            // Startup latches: once started, kubelet stops asking and so do we.
            Probe::Startup if self.started => Status::Pass,
            _ if !self.started => Status::Fail,
            _ => checks_status,
        }
    }

    pub(crate) fn overall(&self, checks: &[CheckInfo]) -> Status {
        self.aggregate(checks, false, |_, _| true)
    }

    fn compute_started(&self, checks: &[CheckInfo]) -> bool {
        self.started
            || checks.iter().enumerate().all(|(i, info)| {
                !(info.critical
                    && (info.has_probe(Probe::Readiness) || info.has_probe(Probe::Startup)))
                    || self.passed_once[i]
            })
    }
}

/// The published snapshot. Writers are serialised by the write lock; readers clone the `Arc`.
#[derive(Debug)]
pub(crate) struct SnapshotCell {
    current: RwLock<Arc<Snapshot>>,
}

/// What changed when a result was stored, for logging.
pub(crate) struct Published {
    pub(crate) overall_before: Status,
    pub(crate) overall_after: Status,
    pub(crate) started_now: bool,
}

impl SnapshotCell {
    pub(crate) fn new(checks: &[CheckInfo]) -> Self {
        let mut first = Snapshot::empty(checks.len());
        // With no critical readiness or startup check, the service starts at once.
        first.started = first.compute_started(checks);
        Self {
            current: RwLock::new(Arc::new(first)),
        }
    }

    pub(crate) fn load(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a writer panicked between two plain stores;
        // the snapshot it guards is always whole, so keep serving it.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn publish(
        &self,
        checks: &[CheckInfo],
        index: usize,
        passed: bool,
        result: CheckResult,
    ) -> Published {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let overall_before = guard.overall(checks);
        let mut next = Snapshot::clone(&guard);
        next.passed_once[index] |= passed;
        next.results[index] = Some(Arc::new(result));
        let started = next.compute_started(checks);
        let started_now = started && !next.started;
        next.started = started;
        let overall_after = next.overall(checks);
        *guard = Arc::new(next);
        Published {
            overall_before,
            overall_after,
            started_now,
        }
    }
}
