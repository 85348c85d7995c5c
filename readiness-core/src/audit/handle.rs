//! `AuditTrail`: one handle over whichever sink the service's settings chose.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{
    AuditTrailBuilder, Checkpoint, Durability, Ed25519VerifyingKey, FileSink, FileTrail,
    IntegrityCheck, TrailError, TrailStats,
};
#[cfg(feature = "postgres")]
use super::{PgSink, PgTrail};
use crate::health::CheckSpec;
use crate::logging::AuditEvent;

/// A tamper-evident audit trail in a file or, with the `postgres` feature, a
/// PostgreSQL table: the one type a service holds whichever sink it was configured
/// with, with the same async calls for both. Cheap to clone. See the
/// [module docs](super).
///
/// Build it from the sink's builder; the sink's own type ([`FileTrail`],
/// `PgTrail`) stays available for what only it does (a file trail's blocking calls).
///
/// ```
/// use readiness_core::audit::{AuditTrail, Durability};
/// use readiness_core::logging::{AuditEvent, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = std::env::temp_dir().join(format!("doc-handle-{}.jsonl", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let trail: AuditTrail = AuditTrail::file(&path)
///     .durability(Durability::BlockingStrict)
///     .build()?
///     .into();
/// trail.record(&AuditEvent::new("alice", "delete", "invoice", Outcome::Success)).await?;
/// let checkpoint = trail.checkpoint().await?;
/// assert_eq!(checkpoint.seq, 2); // it covers the event, after the chain's opening checkpoint
/// # let _ = std::fs::remove_file(&path);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuditTrail {
    sink: Sink,
}

#[derive(Clone, Debug)]
enum Sink {
    File(FileTrail),
    #[cfg(feature = "postgres")]
    Postgres(PgTrail),
}

impl AuditTrail {
    /// The builder of a trail appended to the file at `path` (made if missing).
    pub fn file(path: impl AsRef<Path>) -> AuditTrailBuilder<FileSink> {
        FileTrail::builder(path)
    }

    /// The builder of a trail in a table of `pool`'s database.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres(pool: sqlx::PgPool) -> AuditTrailBuilder<PgSink> {
        PgTrail::builder(pool)
    }

    /// Records `event`, without blocking the async runtime: queued in `batch` mode,
    /// otherwise written (and synced) before this returns.
    ///
    /// # Errors
    ///
    /// Only in `blocking-strict` mode: the record could not be written, and the
    /// audited action must not proceed.
    pub async fn record(&self, event: &AuditEvent<'_>) -> Result<(), TrailError> {
        match &self.sink {
            Sink::File(trail) => trail.record_async(event).await,
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.record(event).await,
        }
    }

    /// Records an event given as JSON fields.
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub async fn record_fields(&self, fields: Value) -> Result<(), TrailError> {
        match &self.sink {
            Sink::File(trail) => {
                let trail = trail.clone();
                blocking(move || trail.record_fields(fields)).await
            }
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.record_fields(fields).await,
        }
    }

    /// Waits until every queued record is written (`batch` mode).
    ///
    /// # Errors
    ///
    /// The writer stopped, or its last write failed.
    pub async fn flush(&self) -> Result<(), TrailError> {
        match &self.sink {
            Sink::File(trail) => {
                let trail = trail.clone();
                blocking(move || trail.flush()).await
            }
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.flush().await,
        }
    }

    /// Writes what is queued and a checkpoint after it, and returns the checkpoint:
    /// what a shutdown hook calls.
    ///
    /// # Errors
    ///
    /// The write failed, or the writer stopped.
    pub async fn checkpoint(&self) -> Result<Checkpoint, TrailError> {
        match &self.sink {
            Sink::File(trail) => {
                let trail = trail.clone();
                blocking(move || trail.checkpoint()).await
            }
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.checkpoint().await,
        }
    }

    /// What became of the records so far.
    #[must_use]
    pub fn stats(&self) -> TrailStats {
        match &self.sink {
            Sink::File(trail) => trail.stats(),
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.stats(),
        }
    }

    /// The mode records are written in.
    #[must_use]
    pub fn durability(&self) -> Durability {
        match &self.sink {
            Sink::File(trail) => trail.durability(),
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.durability(),
        }
    }

    /// The public half of the signing key, for the verifier (and to publish).
    #[must_use]
    pub fn verifying_key(&self) -> Option<Ed25519VerifyingKey> {
        match &self.sink {
            Sink::File(trail) => trail.verifying_key(),
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.verifying_key(),
        }
    }

    /// The public key as 64 hex digits: what `VerifyOptions::key_hex` takes.
    #[must_use]
    pub fn verifying_key_hex(&self) -> Option<String> {
        let key = self.verifying_key()?;
        Some(key.to_bytes().iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        }))
    }

    /// The live integrity check of the trail: each run re-verifies what was
    /// appended since the last, and sets `audit_trail_integrity_status` and
    /// `audit_trail_verified_records_total`. See [`IntegrityCheck`] for what it
    /// finds and what it does not.
    ///
    /// ```
    /// use readiness_core::audit::AuditTrail;
    /// use readiness_core::{Check as _, Status};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), readiness_core::BoxError> {
    /// let path = std::env::temp_dir().join(format!("doc-handle-integrity-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let trail: AuditTrail = AuditTrail::file(&path).build()?.into();
    /// assert_eq!(trail.integrity().check().await?.status(), Status::Pass);
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn integrity(&self) -> IntegrityCheck {
        match &self.sink {
            Sink::File(trail) => trail.integrity(),
            #[cfg(feature = "postgres")]
            Sink::Postgres(trail) => trail.integrity(),
        }
    }

    /// The live integrity check, ready for
    /// [`ReadinessBuilder::check`](crate::ReadinessBuilder::check): named
    /// `audit-trail-integrity`, every 10 s, non-critical (see
    /// [`IntegrityCheck::into_spec`] for why, and how to change it).
    ///
    /// ```
    /// use readiness_core::audit::AuditTrail;
    /// use readiness_core::{Readiness, Status};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join(format!("doc-handle-check-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let registry = prometheus::Registry::new();
    /// let trail: AuditTrail = AuditTrail::file(&path)
    ///     .registry(registry.clone(), None)
    ///     .build()?
    ///     .into();
    /// let readiness = Readiness::builder()
    ///     .registry(registry.clone())
    ///     .check(trail.integrity_check().interval(Duration::from_secs(30)))
    ///     .build()?;
    /// readiness.refresh().await;
    /// assert_eq!(readiness.check_status("audit-trail-integrity"), Some(Status::Pass));
    /// let scrape = String::from_utf8(readiness.metrics_response().into_body().to_vec())?;
    /// assert!(scrape.contains("audit_trail_integrity_status 1"));
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn integrity_check(&self) -> CheckSpec {
        self.integrity().into_spec()
    }

    /// The file trail underneath, for its blocking calls; `None` for a table.
    #[must_use]
    pub fn as_file(&self) -> Option<&FileTrail> {
        match &self.sink {
            Sink::File(trail) => Some(trail),
            #[cfg(feature = "postgres")]
            Sink::Postgres(_) => None,
        }
    }
}

impl From<FileTrail> for AuditTrail {
    fn from(trail: FileTrail) -> Self {
        Self {
            sink: Sink::File(trail),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<PgTrail> for AuditTrail {
    fn from(trail: PgTrail) -> Self {
        Self {
            sink: Sink::Postgres(trail),
        }
    }
}

/// Runs a file trail's blocking call on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, TrailError> + Send + 'static,
) -> Result<T, TrailError> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|panicked| Err(TrailError::Write(std::io::Error::other(panicked))))
}
