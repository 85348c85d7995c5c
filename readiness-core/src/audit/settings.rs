//! The settings every trail shares, whatever its sink: the durability mode, the
//! checkpoint rhythm, the signing key, the queue and the counters.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::outcome::Counts;
use super::record::{unhex, Links, Tail};
use super::Ed25519VerifyingKey;
use super::FileSink;
use crate::error::BuildError;

/// How a record reaches the trail, and what a failure to write it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Queued for the trail's own thread; a record beyond the queue is dropped and
    /// counted (`audit_records_total{result="dropped"}`). The request never waits.
    Batch,
    /// Written and synced before [`FileTrail::record`](super::FileTrail::record) returns; a failure is
    /// counted and logged, and the request goes on.
    Blocking,
    /// As `Blocking`, and a failure is an error the request must fail with (a 503):
    /// no audited action proceeds unrecorded.
    BlockingStrict,
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "batch" => Ok(Self::Batch),
            "blocking" => Ok(Self::Blocking),
            "blocking-strict" => Ok(Self::BlockingStrict),
            other => Err(format!(
                "must be `batch`, `blocking` or `blocking-strict`, got {other:?}"
            )),
        }
    }
}

/// Settings of a [`FileTrail`](super::FileTrail) (`S` = [`FileSink`]) or, with the `postgres`
/// feature, of a `PgTrail` (`S` = `PgSink`): the chain's settings are the
/// same, the sink's are its own.
#[must_use]
pub struct AuditTrailBuilder<S = FileSink> {
    pub(super) sink: S,
    pub(super) durability: Durability,
    pub(super) checkpoint_every: u64,
    pub(super) checkpoint_interval: Duration,
    pub(super) key: Option<SigningKey>,
    pub(super) queue: usize,
    pub(super) registry: Option<(prometheus::Registry, Option<String>)>,
}

impl<S: fmt::Debug> fmt::Debug for AuditTrailBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTrailBuilder")
            .field("sink", &self.sink)
            .field("durability", &self.durability)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("signed", &self.key.is_some())
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<S> AuditTrailBuilder<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            sink,
            durability: Durability::Blocking,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            key: None,
            queue: 10_000,
            registry: None,
        }
    }

    /// The mode (default `blocking`).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// A checkpoint after this many records (default 1,000).
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.checkpoint_every = records;
        self
    }

    /// A checkpoint once this long has passed since the last, at the next record
    /// (default 60 s; in `batch` mode also when the trail is idle).
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// Signs every checkpoint with this Ed25519 key; the verifier checks them with
    /// its public half.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The signing key as 64 hex digits (its 32-byte seed).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] (field `audit_trail.signing_key`) when it is not 64 hex digits.
    pub fn signing_key_hex(self, hex: &str) -> Result<Self, BuildError> {
        let seed = unhex::<32>(hex).ok_or_else(|| {
            BuildError::new(
                "audit_trail.signing_key",
                "must be 64 hex digits (a 32-byte seed)",
            )
        })?;
        Ok(self.signing_key(SigningKey::from_bytes(&seed)))
    }

    /// Records the `batch` queue holds (default 10,000).
    pub fn queue(mut self, records: usize) -> Self {
        self.queue = records;
        self
    }

    /// Counts records on `registry` as `audit_records_total{result="written"|
    /// "dropped"|"failed"}`, and for a trail that can be read back (a file or a
    /// table) registers the live integrity check's `audit_trail_integrity_status`
    /// and `audit_trail_verified_records_total`, set by a first pass at build (from
    /// the trail's last checkpoint), so both are in the first scrape (see
    /// [`IntegrityCheck`](super::IntegrityCheck)). `namespace` prefixes each.
    pub fn registry(mut self, registry: prometheus::Registry, namespace: Option<String>) -> Self {
        self.registry = Some((registry, namespace));
        self
    }

    /// The checks every sink's `build` starts with, and the record counters.
    pub(crate) fn checked(&self) -> Result<Arc<Counts>, BuildError> {
        if self.checkpoint_every == 0 {
            return Err(BuildError::new(
                "audit_trail.checkpoint_every",
                "must be at least 1",
            ));
        }
        if self.queue == 0 {
            return Err(BuildError::new("audit_trail.queue", "must be at least 1"));
        }
        let metrics = match &self.registry {
            None => None,
            Some((registry, namespace)) => Some(register(registry, namespace.as_deref())?),
        };
        Ok(Arc::new(Counts::new(metrics)))
    }

    /// `audit_trail_integrity_status` and `audit_trail_verified_records_total`
    /// when there is a registry: made, not yet registered, so the watch's first pass
    /// sets them before a scrape can see them (see [`register_integrity`]).
    pub(crate) fn integrity_metrics(
        &self,
    ) -> Result<Option<(prometheus::IntGauge, prometheus::IntCounter)>, BuildError> {
        let Some((_, namespace)) = &self.registry else {
            return Ok(None);
        };
        let namespace = namespace.as_deref();
        let status = prometheus::IntGauge::with_opts(crate::metrics::opts(
            namespace,
            crate::metrics::names::AUDIT_TRAIL_INTEGRITY,
            "1 while the audit trail re-verifies from its last verified checkpoint to its tail, 0 once it does not.",
        ));
        let verified = prometheus::IntCounter::with_opts(crate::metrics::opts(
            namespace,
            crate::metrics::names::AUDIT_TRAIL_VERIFIED,
            "Audit trail records the live integrity check verified.",
        ));
        status
            .and_then(|status| Ok(Some((status, verified?))))
            .map_err(|e| BuildError::new("audit_trail.registry", e.to_string()))
    }

    /// The chain, going on from `tail`.
    pub(crate) fn links(&self, tail: &Tail) -> Links {
        Links::new(
            tail,
            self.checkpoint_every,
            self.checkpoint_interval,
            self.key.clone(),
        )
    }

    pub(crate) fn verifying_key(&self) -> Option<Ed25519VerifyingKey> {
        self.key.as_ref().map(SigningKey::verifying_key)
    }
}

pub(crate) fn register(
    registry: &prometheus::Registry,
    namespace: Option<&str>,
) -> Result<[prometheus::IntCounter; 3], BuildError> {
    let counter = prometheus::IntCounterVec::new(
        crate::metrics::opts(
            namespace,
            crate::metrics::names::AUDIT_RECORDS,
            "Audit trail records, by result: written, dropped (batch queue full), failed.",
        ),
        &[crate::metrics::names::RESULT],
    )
    .and_then(|counter| {
        registry
            .register(Box::new(counter.clone()))
            .map(|()| counter)
    })
    .map_err(|e| BuildError::new("audit_trail.registry", e.to_string()))?;
    Ok(["written", "dropped", "failed"].map(|r| counter.with_label_values(&[r])))
}

/// Registers the integrity metrics [`AuditTrailBuilder::integrity_metrics`] made,
/// once the first pass has set them, beside `audit_records_total`.
pub(crate) fn register_integrity(
    registry: Option<&(prometheus::Registry, Option<String>)>,
    metrics: Option<(prometheus::IntGauge, prometheus::IntCounter)>,
) -> Result<(), BuildError> {
    let (Some((registry, _)), Some((status, verified))) = (registry, metrics) else {
        return Ok(());
    };
    registry
        .register(Box::new(status))
        .and_then(|()| registry.register(Box::new(verified)))
        .map_err(|e| BuildError::new("audit_trail.registry", e.to_string()))
}
