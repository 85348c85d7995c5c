//! The trail in a PostgreSQL table: the same records, one row each, for services
//! that keep their audit data in their database.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::integrity::{IntegrityCheck, Watch};
use super::outcome::{Counts, Fate};
use super::record::{log_checkpoint, Built, Links, Tail, GENESIS};
use super::{AuditTrailBuilder, Checkpoint, Durability, TrailError, TrailStats};
use crate::error::BuildError;
use crate::health::CheckSpec;
use crate::logging::AuditEvent;

/// How many times a write is rebuilt after another writer took its `seq`.
const RACES: usize = 100;
/// Records a batch-mode write takes from the queue at most.
const BATCH: usize = 512;

/// A tamper-evident audit trail in a PostgreSQL table (features `audit-trail` and
/// `postgres`). Cheap to clone.
///
/// One row a record: `seq` (the primary key), `kind`, `hash`, and `record`, the
/// record's JSON line exactly as hashed ([`verify_table`](super::verify_table) checks it as
/// [`verify`](super::verify) checks a file). The table is insert-only: triggers
/// refuse `UPDATE`, `DELETE` and `TRUNCATE` (PostgreSQL 14 or later). Several
/// replicas may write to one table: the primary key on `seq` lets only one record
/// take each place in the chain, and a writer that lost the race re-links its
/// records behind the winner's, so the chain never forks.
///
/// ```no_run
/// use readiness_core::audit::{verify_table, Durability, PgTrail, VerifyOptions};
/// use readiness_core::logging::{AuditEvent, Outcome};
///
/// # #[allow(dead_code)]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::PgPool::connect("postgres://app@db/orders").await?;
/// let trail = PgTrail::builder(pool.clone())
///     .table("audit_trail")
///     .durability(Durability::BlockingStrict)
///     .build()
///     .await?;
/// trail.record(&AuditEvent::new("alice", "refund", "order", Outcome::Success)).await?;
/// println!("{}", verify_table(&pool, "audit_trail", &VerifyOptions::new()).await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgTrail {
    inner: Arc<Inner>,
}

struct Inner {
    durability: Durability,
    verifying_key: Option<ed25519_dalek::VerifyingKey>,
    store: Arc<Store>,
    queue: Option<mpsc::Sender<Message>>,
    counts: Arc<Counts>,
    watch: Arc<Watch>,
}

/// The table and where the chain stands in it.
struct Store {
    pool: PgPool,
    table: String,
    links: Mutex<Links>,
}

enum Message {
    Event(Value),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Where a PostgreSQL trail goes: see [`PgTrail::builder`],
/// [`AuditTrailBuilder::table`] and [`AuditTrailBuilder::create_table`].
#[derive(Debug)]
pub struct PgSink {
    pool: PgPool,
    table: String,
    create_table: bool,
}

impl fmt::Debug for PgTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTrail")
            .field("table", &self.inner.store.table)
            .field("durability", &self.inner.durability)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PgTrail {
    /// A trail in a table of `pool`'s database (default table `audit_trail`).
    pub fn builder(pool: PgPool) -> AuditTrailBuilder<PgSink> {
        AuditTrailBuilder::new(PgSink {
            pool,
            table: "audit_trail".to_owned(),
            create_table: true,
        })
    }

    /// The table's definition: the statements [`AuditTrailBuilder::build`] runs
    /// unless told not to (for services whose migrations create their tables).
    ///
    /// ```
    /// let ddl = readiness_core::audit::PgTrail::schema("audit_trail");
    /// assert!(ddl.contains("CREATE TABLE IF NOT EXISTS audit_trail"));
    /// ```
    #[must_use]
    pub fn schema(table: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    \
                seq BIGINT PRIMARY KEY,\n    \
                kind TEXT NOT NULL,\n    \
                hash TEXT NOT NULL,\n    \
                record TEXT NOT NULL,\n    \
                written_at TIMESTAMPTZ NOT NULL DEFAULT now()\n\
            );\n\
            CREATE OR REPLACE FUNCTION {table}_insert_only() RETURNS trigger\n\
            LANGUAGE plpgsql AS $$\n\
            BEGIN\n    \
                RAISE EXCEPTION 'the audit trail % is insert-only', TG_TABLE_NAME;\n\
            END\n\
            $$;\n\
            CREATE OR REPLACE TRIGGER readiness_insert_only BEFORE UPDATE OR DELETE ON {table}\n    \
                FOR EACH ROW EXECUTE FUNCTION {table}_insert_only();\n\
            CREATE OR REPLACE TRIGGER readiness_no_truncate BEFORE TRUNCATE ON {table}\n    \
                FOR EACH STATEMENT EXECUTE FUNCTION {table}_insert_only();\n"
        )
    }

    /// Records `event`: queued in `batch` mode (dropped and counted when the queue
    /// is full), otherwise inserted before this returns.
    ///
    /// # Errors
    ///
    /// Only in `blocking-strict` mode: the row could not be inserted, and the
    /// audited action must not proceed.
    pub async fn record(&self, event: &AuditEvent<'_>) -> Result<(), TrailError> {
        self.record_fields(event.to_json()).await
    }

    /// Records an event given as JSON fields.
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub async fn record_fields(&self, fields: Value) -> Result<(), TrailError> {
        let inner = &self.inner;
        if let Some(queue) = &inner.queue {
            match queue.try_send(Message::Event(fields)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => inner.counts.add(Fate::Dropped, 1),
                Err(mpsc::error::TrySendError::Closed(_)) => inner.counts.add(Fate::Failed, 1),
            }
            return Ok(());
        }
        let mut links = inner.store.links.lock().await;
        let written = inner
            .store
            .append(&mut links, vec![fields], false)
            .await
            .map(drop)
            .map_err(database);
        inner.counts.settle(inner.durability, written)
    }

    /// Waits until every queued record is in the table (`batch` mode).
    ///
    /// # Errors
    ///
    /// The writer task stopped, or its last insert failed.
    pub async fn flush(&self) -> Result<(), TrailError> {
        if let Some(queue) = &self.inner.queue {
            let (done, wait) = oneshot::channel();
            queue
                .send(Message::Flush(done))
                .await
                .map_err(|_| TrailError::Closed)?;
            wait.await
                .map_err(|_| TrailError::Closed)?
                .map_err(|e| TrailError::Write(std::io::Error::other(e)))?;
        }
        Ok(())
    }

    /// Writes a checkpoint now (after what is queued) and returns it.
    ///
    /// # Errors
    ///
    /// The insert failed, or the writer task stopped.
    pub async fn checkpoint(&self) -> Result<Checkpoint, TrailError> {
        self.flush().await?;
        let store = &self.inner.store;
        let mut links = store.links.lock().await;
        if links.seq == 0 {
            return Ok(Checkpoint {
                seq: 0,
                hash: GENESIS.to_owned(),
            });
        }
        store
            .append(&mut links, Vec::new(), true)
            .await
            .map_err(database)
    }

    /// What became of the records so far.
    #[must_use]
    pub fn stats(&self) -> TrailStats {
        self.inner.counts.stats()
    }

    /// The mode records are written in.
    #[must_use]
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// The public half of the signing key, for the verifier (and to publish).
    #[must_use]
    pub fn verifying_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        self.inner.verifying_key
    }

    /// The live integrity check of this trail: see [`IntegrityCheck`]. Each run
    /// reads the rows after the last it verified.
    ///
    /// ```no_run
    /// use readiness_core::audit::PgTrail;
    /// use readiness_core::Readiness;
    ///
    /// # #[allow(dead_code)]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/orders").await?;
    /// let trail = PgTrail::builder(pool).build().await?;
    /// let readiness = Readiness::builder().check(trail.integrity_check()).build()?;
    /// # let _ = (readiness, trail.integrity());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn integrity(&self) -> IntegrityCheck {
        IntegrityCheck::new(Arc::clone(&self.inner.watch))
    }

    /// The live integrity check, ready to register: see
    /// [`IntegrityCheck::into_spec`] (non-critical, every 10 s).
    #[must_use]
    pub fn integrity_check(&self) -> CheckSpec {
        self.integrity().into_spec()
    }
}

pub(super) fn database(error: sqlx::Error) -> TrailError {
    TrailError::Write(std::io::Error::other(error))
}

impl AuditTrailBuilder<PgSink> {
    /// The table (default `audit_trail`; `schema.table` is accepted).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.sink.table = table.into();
        self
    }

    /// Whether `build` creates the table and its triggers when missing
    /// (default true; see [`PgTrail::schema`]).
    pub fn create_table(mut self, on: bool) -> Self {
        self.sink.create_table = on;
        self
    }

    /// Creates the table if asked, resumes the chain from its last row, and starts
    /// the writer task in `batch` mode (on the current Tokio runtime).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting: a table name that is not an SQL
    /// identifier, zero counts, metrics that cannot be registered, or a database
    /// that cannot be reached or refuses the statements (field `audit_trail.table`).
    pub async fn build(self) -> Result<PgTrail, BuildError> {
        let PgSink {
            pool,
            table,
            create_table,
        } = &self.sink;
        if !super::table::valid_table(table) {
            return Err(BuildError::new(
                "audit_trail.table",
                format!(
                    "{table:?} is not a table name: letters, digits and `_`, optionally `schema.table`"
                ),
            ));
        }
        let counts = self.checked()?;
        let integrity = self.integrity_metrics()?;
        let table_error =
            |e: sqlx::Error| BuildError::new("audit_trail.table", format!("{table}: {e}"));
        if *create_table {
            let mut tx = pool.begin().await.map_err(table_error)?;
            // One replica at a time creates the table and its triggers.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("readiness audit trail {table}"))
                .execute(&mut *tx)
                .await
                .map_err(table_error)?;
            sqlx::raw_sql(&PgTrail::schema(table))
                .execute(&mut *tx)
                .await
                .map_err(table_error)?;
            tx.commit().await.map_err(table_error)?;
        }
        let tail = tail(pool, table).await.map_err(table_error)?;
        let links = self.links(&tail);
        let verifying_key = self.verifying_key();
        // The first integrity pass, from the table's last checkpoint, sets the
        // gauge before it is registered.
        let watch = Watch::table(
            pool.clone(),
            table.clone(),
            verifying_key,
            integrity.clone(),
        )
        .await
        .map_err(table_error)?;
        super::settings::register_integrity(self.registry.as_ref(), integrity)?;
        let store = Arc::new(Store {
            pool: self.sink.pool,
            table: self.sink.table,
            links: Mutex::new(links),
        });
        let queue = if self.durability == Durability::Batch {
            let (sender, receiver) = mpsc::channel(self.queue);
            tokio::spawn(batch_writer(
                receiver,
                Arc::clone(&store),
                Arc::clone(&counts),
            ));
            Some(sender)
        } else {
            None
        };
        Ok(PgTrail {
            inner: Arc::new(Inner {
                durability: self.durability,
                verifying_key,
                store,
                queue,
                counts,
                watch: Arc::new(watch),
            }),
        })
    }
}

/// Where the chain in `table` ends: its last row, the events after its last
/// checkpoint, and the `every` that checkpoint promised.
async fn tail(pool: &PgPool, table: &str) -> Result<Tail, sqlx::Error> {
    let row: Option<(i64, String, i64, Option<String>)> = sqlx::query_as(&format!(
        "SELECT t.seq, t.hash, \
           (SELECT count(*) FROM {table} e WHERE e.kind = 'event' AND e.seq > coalesce(c.seq, 0)), \
           c.record::jsonb #>> '{{checkpoint,every}}' \
         FROM {table} t \
         LEFT JOIN LATERAL (SELECT seq, record FROM {table} WHERE kind = 'checkpoint' ORDER BY seq DESC LIMIT 1) c ON true \
         ORDER BY t.seq DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or_else(Tail::default, |(seq, hash, since, every)| Tail {
            seq: u64::try_from(seq).unwrap_or(0),
            hash,
            since: u64::try_from(since).unwrap_or(0),
            promised: every.and_then(|e| e.parse().ok()),
        }),
    )
}

impl Store {
    /// Inserts `events` (and the checkpoints they call for, and one more when
    /// `checkpoint` is set) in one statement; when another writer took the next
    /// `seq` first, re-links them behind its records and tries again.
    async fn append(
        &self,
        links: &mut Links,
        events: Vec<Value>,
        checkpoint: bool,
    ) -> Result<Checkpoint, sqlx::Error> {
        let mut lost = 0;
        loop {
            let mut next = links.clone();
            let mut rows = Vec::with_capacity(events.len() + 2);
            // A new chain opens with a checkpoint: its signed promise of the interval.
            if next.seq == 0 && !events.is_empty() {
                let built = next.build_checkpoint();
                next.advance(&built);
                rows.push(built);
            }
            for fields in &events {
                let built = next.build("event", "event", fields);
                next.advance(&built);
                rows.push(built);
                if next.checkpoint_due() {
                    let built = next.build_checkpoint();
                    next.advance(&built);
                    rows.push(built);
                }
            }
            if checkpoint {
                let built = next.build_checkpoint();
                next.advance(&built);
                rows.push(built);
            }
            match self.insert(&rows).await {
                Ok(()) => {
                    *links = next;
                    rows.iter().for_each(log_checkpoint);
                    let covered = rows.iter().rev().find_map(|r| r.covers.as_ref());
                    return Ok(covered.map_or_else(
                        || Checkpoint {
                            seq: links.seq,
                            hash: links.last_hash.clone(),
                        },
                        |(covered, _)| covered.clone(),
                    ));
                }
                Err(error) if taken(&error) && lost < RACES => {
                    lost += 1;
                    links.resume_at(&tail(&self.pool, &self.table).await?);
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn insert(&self, rows: &[Built]) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = rows
            .iter()
            .map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX))
            .collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
        let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
        sqlx::query(&format!(
            "INSERT INTO {} (seq, kind, hash, record) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[])",
            self.table
        ))
        .bind(seqs)
        .bind(kinds)
        .bind(hashes)
        .bind(lines)
        .execute(&self.pool)
        .await
        .map(drop)
    }
}

/// A unique violation: another writer holds that `seq`.
fn taken(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "23505")
}

/// Inserts queued records in batches of up to [`BATCH`]; checkpoints when idle
/// past the interval; when the last handle is gone, writes what is left and a
/// last checkpoint.
async fn batch_writer(
    mut receiver: mpsc::Receiver<Message>,
    store: Arc<Store>,
    counts: Arc<Counts>,
) {
    let mut last_error: Option<String> = None;
    loop {
        let interval = store.links.lock().await.interval();
        let first = match tokio::time::timeout(interval, receiver.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_idle) => {
                let mut links = store.links.lock().await;
                if links.uncovered() {
                    let _ = store.append(&mut links, Vec::new(), true).await;
                }
                continue;
            }
        };
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(fields) => events.push(fields),
                Message::Flush(done) => flushes.push(done),
            }
            if events.len() < BATCH {
                next = receiver.try_recv().ok();
            }
        }
        let n = events.len() as u64;
        if n > 0 {
            let mut links = store.links.lock().await;
            match store.append(&mut links, events, false).await {
                Ok(_) => counts.add(Fate::Written, n),
                Err(error) => {
                    counts.add(Fate::Failed, n);
                    tracing::error!(target: "readiness::audit_trail", category = "system", error = %error, records = n, "audit records not written");
                    last_error = Some(error.to_string());
                }
            }
        }
        for done in flushes {
            let _ = done.send(last_error.take().map_or(Ok(()), Err));
        }
    }
    let mut links = store.links.lock().await;
    if links.uncovered() {
        let _ = store.append(&mut links, Vec::new(), true).await;
    }
}
