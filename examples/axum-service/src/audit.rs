//! The audit trail of the example: where it goes, in which mode, signed or not,
//! and the `audit-verify` subcommand. Framework-free: the same file serves the
//! axum and the actix-web example.

use std::time::Duration;

use crate::readiness::logging::trail::{
    verify, verify_table, AuditTrail, Checkpoint, Durability, Ed25519VerifyingKey, PgAuditTrail,
    TrailError, Verdict, VerifyOptions,
};
use crate::readiness::logging::AuditEvent;
use crate::readiness::Readiness;

/// Where the service's audit records go: a file, or a table in its PostgreSQL
/// database.
#[derive(Clone)]
pub enum Trail {
    File(AuditTrail),
    Postgres(PgAuditTrail),
}

impl Trail {
    /// The trail from `AUDIT_TRAIL`: a file (default `audit-trail.jsonl`), or
    /// `postgres` for a table of `DATABASE_URL`'s database (`AUDIT_TABLE`, default
    /// `audit_trail`);
    /// `AUDIT_DURABILITY` (`batch`, `blocking` (default) or `blocking-strict`);
    /// `AUDIT_SIGNING_KEY` (64 hex digits, an Ed25519 seed; checkpoints unsigned
    /// without it). Counted on the service's registry.
    pub async fn from_env(readiness: &Readiness) -> Result<Self, Box<dyn std::error::Error>> {
        let target = std::env::var("AUDIT_TRAIL").unwrap_or_else(|_| "audit-trail.jsonl".into());
        let durability: Durability = match std::env::var("AUDIT_DURABILITY") {
            Ok(mode) => mode
                .parse()
                .map_err(|e: String| format!("AUDIT_DURABILITY {e}"))?,
            Err(_) => Durability::Blocking,
        };
        let key = std::env::var("AUDIT_SIGNING_KEY").ok();
        let registry = readiness.registry().clone();
        if target == "postgres" {
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
            let mut builder = PgAuditTrail::builder(pool)
                .table(table)
                .durability(durability)
                .registry(registry, None);
            if let Some(key) = key {
                builder = builder.signing_key_hex(&key)?;
            }
            let trail = builder.build().await?;
            announce(trail.verifying_key());
            return Ok(Self::Postgres(trail));
        }
        let mut builder = AuditTrail::builder(&target)
            .durability(durability)
            .registry(registry, None);
        if let Some(key) = key {
            builder = builder.signing_key_hex(&key)?;
        }
        let trail = builder.build()?;
        announce(trail.verifying_key());
        Ok(Self::File(trail))
    }

    /// Records `event`; an error only in `blocking-strict` mode, and then the
    /// audited action must not happen.
    pub async fn record(&self, event: &AuditEvent<'_>) -> Result<(), TrailError> {
        match self {
            Self::File(trail) => trail.record_async(event).await,
            Self::Postgres(trail) => trail.record(event).await,
        }
    }

    /// Writes what is queued and a checkpoint: the shutdown hook.
    pub async fn checkpoint(&self) -> Result<(), String> {
        let result = match self {
            Self::File(trail) => {
                let trail = trail.clone();
                tokio::task::spawn_blocking(move || trail.checkpoint())
                    .await
                    .map_err(|e| e.to_string())?
            }
            Self::Postgres(trail) => trail.checkpoint().await,
        };
        result.map(drop).map_err(|e| e.to_string())
    }
}

/// Logs the public key the checkpoints are signed with: what `audit-verify --key`
/// takes.
fn announce(key: Option<Ed25519VerifyingKey>) {
    if let Some(key) = key {
        let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        tracing::info!(public_key = %hex, "audit trail checkpoints are signed");
    }
}

/// `audit-verify FILE|--table TABLE [--key PUBLIC_KEY_HEX] [--anchors LOG_FILE]`:
/// prints the verdict; the exit code is 0 only when the trail holds (1 when it
/// does not, 2 when it cannot be read).
pub async fn verify_command(args: &[String]) -> i32 {
    const USAGE: &str =
        "usage: audit-verify FILE|--table TABLE [--key PUBLIC_KEY_HEX] [--anchors LOG_FILE]";
    let mut options = VerifyOptions::new();
    let (mut file, mut table) = (None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let applied = match (arg.as_str(), rest.clone().next()) {
            ("--key", Some(key)) => options.clone().key_hex(key),
            ("--anchors", Some(log)) => std::fs::read_to_string(log)
                .map(|text| options.clone().anchors(Checkpoint::from_log_lines(&text)))
                .map_err(|e| format!("{log}: {e}")),
            ("--table", Some(name)) => {
                table = Some(name.clone());
                Ok(options.clone())
            }
            (flag, _) if flag.starts_with("--") => {
                Err(format!("unknown or incomplete option {flag}"))
            }
            (path, _) => {
                file = Some(path.to_owned());
                Ok(options.clone())
            }
        };
        if arg.starts_with("--") {
            rest.next();
        }
        match applied {
            Ok(next) => options = next,
            Err(error) => {
                eprintln!("audit-verify: {error}\n{USAGE}");
                return 2;
            }
        }
    }
    let (what, verdict) = match (file, table) {
        (Some(file), None) => match std::fs::read(&file) {
            Ok(bytes) => (file, verify(&bytes, &options)),
            Err(error) => {
                eprintln!("audit-verify: {file}: {error}");
                return 2;
            }
        },
        (None, Some(table)) => {
            let Some(url) = crate::store::Store::postgres_url() else {
                eprintln!("audit-verify: --table needs DATABASE_URL=postgres://...");
                return 2;
            };
            let verdict = match sqlx::PgPool::connect(&url).await {
                Ok(pool) => verify_table(&pool, &table, &options)
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match verdict {
                Ok(verdict) => (format!("table {table}"), verdict),
                Err(error) => {
                    eprintln!("audit-verify: {table}: {error}");
                    return 2;
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    println!("{what}: {verdict}");
    i32::from(!matches!(verdict, Verdict::Ok { .. }))
}
