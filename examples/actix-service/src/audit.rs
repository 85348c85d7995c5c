//! The audit trail of the example, from its environment, and the `audit-verify`
//! subcommand. Framework-free: the same file serves the axum and the actix-web
//! example.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::readiness::audit::{
    verify, verify_table, AuditTrail, AuditTrailBuilder, Durability, IntegrityCheck, Verdict,
    VerifyArgs, VerifySource,
};
use crate::readiness::health::time_left;
use crate::readiness::logging::AuditEvent;
use crate::readiness::{checks, BuildError, Check as _, CheckOutcome, CheckSpec, Readiness};

/// The trail from `AUDIT_TRAIL`: a file (default `audit-trail.jsonl`), or `postgres`
/// for a table of `DATABASE_URL`'s database (`AUDIT_TABLE`, default `audit_trail`);
/// `AUDIT_DURABILITY` (`batch`, `blocking` (default) or `blocking-strict`);
/// `AUDIT_SIGNING_KEY` (64 hex digits, an Ed25519 seed; checkpoints unsigned without
/// it). Counted on the service's registry.
pub async fn from_env(readiness: &Readiness) -> Result<AuditTrail, Box<dyn std::error::Error>> {
    let target = std::env::var("AUDIT_TRAIL").unwrap_or_else(|_| "audit-trail.jsonl".into());
    let durability: Durability = match std::env::var("AUDIT_DURABILITY") {
        Ok(mode) => mode
            .parse()
            .map_err(|e: String| format!("AUDIT_DURABILITY {e}"))?,
        Err(_) => Durability::Blocking,
    };
    let key = std::env::var("AUDIT_SIGNING_KEY").ok();
    // The same settings for either sink.
    fn settings<S>(
        builder: AuditTrailBuilder<S>,
        durability: Durability,
        key: Option<&str>,
        readiness: &Readiness,
    ) -> Result<AuditTrailBuilder<S>, BuildError> {
        let builder = builder
            .durability(durability)
            .registry(readiness.registry().clone(), None);
        match key {
            Some(key) => builder.signing_key_hex(key),
            None => Ok(builder),
        }
    }
    let key = key.as_deref();
    let trail: AuditTrail = if target == "postgres" {
        let url = crate::store::Store::postgres_url()
            .ok_or("AUDIT_TRAIL=postgres needs DATABASE_URL=postgres://...")?;
        // A pool of its own: a write holds an items transaction open while its
        // audit record goes in, so the two must never wait for the same pool.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await?;
        let table = std::env::var("AUDIT_TABLE").unwrap_or_else(|_| "audit_trail".into());
        let builder = AuditTrail::postgres(pool).table(table);
        settings(builder, durability, key, readiness)?
            .build()
            .await?
            .into()
    } else {
        settings(AuditTrail::file(&target), durability, key, readiness)?
            .build()?
            .into()
    };
    // What `audit-verify --key` takes.
    if let Some(key) = trail.verifying_key_hex() {
        tracing::info!(public_key = %key, "audit trail checkpoints are signed");
    }
    Ok(trail)
}

/// Records `event` in `trail`, then writes its audit line on stdout. In the
/// `blocking-strict` mode either failing is the caller's error, and the request
/// fails with a 503: the record could not be written, or the line was dropped
/// because stdout stayed full for the log writer's critical timeout (a pipe nobody
/// reads; the request waits for room in its task, the worker serves others
/// meanwhile). The other modes count those losses and go on.
pub async fn record(
    trail: &AuditTrail,
    event: AuditEvent<'_>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    trail.record(&event).await?;
    let written = event.try_emit_async().await;
    if trail.durability() == Durability::BlockingStrict {
        written?;
    }
    Ok(())
}

/// The trail's live integrity check (`audit-trail-integrity`, see
/// `IntegrityCheck`): registered with the other checks, before the trail is open
/// (the trail opens once logging is set up, and logging needs the built
/// `Readiness`), and handed the trail by [`Integrity::watch`]. Its first run
/// waits for that (a few milliseconds at start) within its timeout, so its first
/// result is the trail's; a trail still not open then is reported as `warn`.
/// Non-critical, every 10 s: a corrupt trail pages through
/// `audit_trail_integrity_status == 0` without taking the pods out of service.
#[derive(Clone)]
pub struct Integrity(Arc<watch::Sender<Option<Arc<IntegrityCheck>>>>);

impl Default for Integrity {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(None)))
    }
}

impl Integrity {
    /// The check to register.
    pub fn check(&self) -> CheckSpec {
        let slot = Arc::clone(&self.0);
        checks::from_fn(IntegrityCheck::NAME, move || {
            let mut opened = slot.subscribe();
            async move {
                let budget = time_left().unwrap_or(Duration::from_secs(1)).mul_f32(0.8);
                // The borrow of the channel ends here, before the check runs.
                let check =
                    match tokio::time::timeout(budget, opened.wait_for(Option::is_some)).await {
                        Ok(Ok(check)) => check.clone(),
                        _ => None,
                    };
                match check {
                    Some(check) => check.check().await,
                    None => Ok(CheckOutcome::warn("the audit trail is not open yet")),
                }
            }
        })
        .non_critical()
        .timeout(Duration::from_secs(5))
    }

    /// From now on, each run re-verifies what `trail` appended since the last.
    pub fn watch(&self, trail: &AuditTrail) {
        self.0.send_if_modified(|slot| {
            let unset = slot.is_none();
            if unset {
                *slot = Some(Arc::new(trail.integrity()));
            }
            unset
        });
    }
}

/// `audit-verify FILE|--table TABLE [--key PUBLIC_KEY_HEX] [--anchors LOG_FILE]`:
/// prints the verdict; the exit code is 0 only when the trail holds (1 when it
/// does not, 2 when it cannot be read).
pub async fn verify_command(args: &[String]) -> i32 {
    let verdict = match VerifyArgs::parse(args) {
        Err(error) => Err(error),
        Ok(args) => match args.source {
            VerifySource::File(file) => std::fs::read(&file)
                .map(|bytes| (file.display().to_string(), verify(&bytes, &args.options)))
                .map_err(|e| format!("{}: {e}", file.display())),
            VerifySource::Table(table) => {
                let pool = match crate::store::Store::postgres_url() {
                    Some(url) => sqlx::PgPool::connect(&url).await.map_err(|e| e.to_string()),
                    None => Err("--table needs DATABASE_URL=postgres://...".to_owned()),
                };
                match pool {
                    Ok(pool) => verify_table(&pool, &table, &args.options)
                        .await
                        .map(|verdict| (format!("table {table}"), verdict))
                        .map_err(|e| format!("{table}: {e}")),
                    Err(error) => Err(format!("{table}: {error}")),
                }
            }
            _ => Err(VerifyArgs::USAGE.to_owned()),
        },
    };
    match verdict {
        Ok((what, verdict)) => {
            println!("{what}: {verdict}");
            i32::from(!matches!(verdict, Verdict::Ok { .. }))
        }
        Err(error) => {
            eprintln!("audit-verify: {error}");
            2
        }
    }
}
