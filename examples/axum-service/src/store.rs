//! The item store: SQLite (in memory unless `DATABASE_URL` names a file) or
//! PostgreSQL (`DATABASE_URL=postgres://...`), with a Redis read-through cache for
//! single items when `REDIS_URL` is set. Framework-free: the same file serves the
//! axum and the actix-web example.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::readiness::checks;
use crate::readiness::health::time_left;
use crate::readiness::metrics::{CacheMetrics, JobMetrics, PoolMetrics};
use crate::readiness::{BuildError, CheckOutcome, CheckSpec, Readiness};

/// Rows above this count make the `items` check warn: a stand-in for a real limit.
const SOFT_LIMIT: i64 = 10_000;
/// How long a cached item stays in Redis.
const CACHE_SECONDS: u64 = 60;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Debug)]
pub struct Item {
    pub id: i64,
    pub name: String,
}

/// The pool, and its metrics once the service's `Readiness` exists (see
/// [`Store::measure_in`]).
#[derive(Clone)]
enum Pool {
    Postgres(sqlx::PgPool, Arc<OnceLock<PoolMetrics<sqlx::Postgres>>>),
    Sqlite(sqlx::SqlitePool, Arc<OnceLock<PoolMetrics<sqlx::Sqlite>>>),
}

/// Cheap to clone: pools and the cache connection are shared.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    cache: Option<Arc<Cache>>,
    /// The table's migration, a background job (see [`Store::measure_in`]).
    migration: Arc<OnceLock<JobMetrics>>,
    /// `true` once the table exists: the `items` check waits for it.
    migrated: Arc<tokio::sync::watch::Sender<bool>>,
}

struct Cache {
    redis: redis::aio::ConnectionManager,
    /// Set once the service's `Readiness` exists (see [`Store::count_cache_in`]).
    metrics: std::sync::OnceLock<CacheMetrics>,
}

/// A query failed: the database (or the network to it) is the problem, not the
/// request.
#[derive(Debug)]
pub struct Unavailable(pub sqlx::Error);

impl Store {
    /// Pools that connect lazily, so the service starts while its database is down
    /// (`/livez` passes, `/readyz` fails until the `db` check does).
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        let pool = match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_lazy(&url)?,
                Arc::default(),
            ),
            Ok(url) => Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_lazy(&url)?,
                Arc::default(),
            ),
            // One connection kept open forever: an in-memory database lives as long
            // as its connection.
            Err(_) => Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy("sqlite::memory:")?,
                Arc::default(),
            ),
        };
        // The cache, when `REDIS_URL` is set: lazy too, one retry, 500 ms per answer.
        let cache = match std::env::var("REDIS_URL") {
            Ok(url) => {
                let client = redis::Client::open(url)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_response_timeout(Some(Duration::from_millis(500)));
                Some(Arc::new(Cache {
                    redis: redis::aio::ConnectionManager::new_lazy_with_config(client, config)?,
                    metrics: std::sync::OnceLock::new(),
                }))
            }
            Err(_) => None,
        };
        Ok(Self {
            pool,
            cache,
            migration: Arc::default(),
            migrated: Arc::new(tokio::sync::watch::Sender::new(false)),
        })
    }

    /// The store's metrics, on the service's registry and at zero from now on:
    /// cache hits and misses (`cache_requests_total{cache="items"}`, which stay at
    /// zero without `REDIS_URL`), the pool's connections and the time queries wait
    /// for one (`db_client_connection_*{pool="items"}`), and the table's migration
    /// as a background job (`job_*{operation="migrate"}`).
    pub fn measure_in(&self, readiness: &Readiness) -> Result<(), BuildError> {
        let cache = readiness.cache("items");
        if let Some(redis) = &self.cache {
            let _ = redis.metrics.set(cache);
        }
        match &self.pool {
            Pool::Postgres(pool, metrics) => {
                let _ = metrics.set(readiness.sqlx_pool("items", pool.clone())?);
            }
            Pool::Sqlite(pool, metrics) => {
                let _ = metrics.set(readiness.sqlx_pool("items", pool.clone())?);
            }
        }
        let _ = self.migration.set(readiness.job("migrate")?);
        Ok(())
    }

    /// The checks of the store: `db` (critical), `cache` (non-critical, when
    /// there is one) and `items` (warns above the soft limit). The checks start
    /// with the service, before the table's migration has run: `items` waits for
    /// it (within its timeout) instead of failing on a table that is not there yet.
    pub fn checks(&self) -> Vec<CheckSpec> {
        let mut specs = vec![match &self.pool {
            Pool::Postgres(pool, _) => checks::postgres(pool.clone()).name("db"),
            Pool::Sqlite(pool, _) => checks::sqlite(pool.clone()).name("db"),
        }];
        if let Some(cache) = &self.cache {
            specs.push(
                checks::redis(cache.redis.clone())
                    .name("cache")
                    .non_critical(),
            );
        }
        let store = self.clone();
        specs.push(
            checks::from_fn("items", move || {
                let store = store.clone();
                async move {
                    if !store.wait_for_migration().await {
                        return CheckOutcome::fail("the items table is not created yet");
                    }
                    match store.count().await {
                        Ok(rows) if rows > SOFT_LIMIT => {
                            CheckOutcome::warn(format!("{rows} items, above the soft limit"))
                        }
                        Ok(_) => CheckOutcome::pass(),
                        Err(Unavailable(error)) => CheckOutcome::fail(error.to_string()),
                    }
                }
            })
            .non_critical()
            .interval(Duration::from_secs(30)),
        );
        specs
    }

    /// Creates the table if it is missing; retried in the background until the
    /// database answers.
    pub async fn migrate(&self) -> Result<(), Unavailable> {
        let result = match &self.pool {
            Pool::Postgres(pool, _) => sqlx::query(
                "CREATE TABLE IF NOT EXISTS items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)",
            )
            .execute(pool)
            .await
            .map(drop),
            Pool::Sqlite(pool, _) => sqlx::query(
                "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)",
            )
            .execute(pool)
            .await
            .map(drop),
        };
        if result.is_ok() {
            self.migrated.send_replace(true);
        }
        result.map_err(Unavailable)
    }

    /// Whether the table exists, waiting for the migration for most of the time
    /// the running check has left (`false` when it is still to run then).
    async fn wait_for_migration(&self) -> bool {
        let budget = time_left().unwrap_or(Duration::from_secs(1)).mul_f32(0.8);
        let mut migrated = self.migrated.subscribe();
        let waited = tokio::time::timeout(budget, migrated.wait_for(|done| *done)).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Runs [`migrate`](Self::migrate) now, and again every 2 s in the background
    /// while it fails. Each attempt is a run of the `migrate` job (its duration and
    /// outcome), and its queue depth is the migration still to apply: 1 until one
    /// succeeds, then 0.
    pub async fn migrate_in_background(&self) {
        self.set_migration_pending(true);
        if self.migrate_recorded().await.is_ok() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match store.migrate_recorded().await {
                    Ok(()) => {
                        tracing::info!("items table ready");
                        return;
                    }
                    Err(Unavailable(error)) => {
                        tracing::warn!(error = %error, "database not ready; retrying in 2 s");
                    }
                }
            }
        });
    }

    /// One attempt at [`migrate`](Self::migrate), recorded as a run of the job.
    async fn migrate_recorded(&self) -> Result<(), Unavailable> {
        let result = match self.migration.get() {
            Some(job) => job.run(self.migrate()).await,
            None => self.migrate().await,
        };
        if result.is_ok() {
            self.set_migration_pending(false);
        }
        result
    }

    fn set_migration_pending(&self, pending: bool) {
        if let Some(job) = self.migration.get() {
            job.set_queue_depth(usize::from(pending));
        }
    }

    /// The first 1,000 items, oldest first.
    pub async fn list(&self) -> Result<Vec<Item>, Unavailable> {
        let rows: Vec<(i64, String)> = match &self.pool {
            Pool::Postgres(pool, metrics) => {
                let mut conn = acquire(pool, metrics).await?;
                sqlx::query_as("SELECT id, name FROM items ORDER BY id LIMIT 1000")
                    .fetch_all(&mut *conn)
                    .await
            }
            Pool::Sqlite(pool, metrics) => {
                let mut conn = acquire(pool, metrics).await?;
                sqlx::query_as("SELECT id, name FROM items ORDER BY id LIMIT 1000")
                    .fetch_all(&mut *conn)
                    .await
            }
        }
        .map_err(Unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Item { id, name })
            .collect())
    }

    /// One item: from the cache when it holds it, else from the database (and
    /// then cached).
    pub async fn get(&self, id: i64) -> Result<Option<Item>, Unavailable> {
        let key = format!("item:{id}");
        if let Some(cache) = &self.cache {
            let mut redis = cache.redis.clone();
            let cached: redis::RedisResult<Option<String>> =
                redis::cmd("GET").arg(&key).query_async(&mut redis).await;
            if let Ok(Some(json)) = &cached {
                if let Ok(item) = serde_json::from_str(json) {
                    if let Some(metrics) = cache.metrics.get() {
                        metrics.hit();
                    }
                    return Ok(Some(item));
                }
            }
            if let Some(metrics) = cache.metrics.get() {
                metrics.miss();
            }
        }
        let row: Option<(i64, String)> = match &self.pool {
            Pool::Postgres(pool, metrics) => {
                let mut conn = acquire(pool, metrics).await?;
                sqlx::query_as("SELECT id, name FROM items WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
            }
            Pool::Sqlite(pool, metrics) => {
                let mut conn = acquire(pool, metrics).await?;
                sqlx::query_as("SELECT id, name FROM items WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
            }
        }
        .map_err(Unavailable)?;
        let item = row.map(|(id, name)| Item { id, name });
        if let (Some(cache), Some(item)) = (&self.cache, &item) {
            let mut redis = cache.redis.clone();
            if let Ok(json) = serde_json::to_string(item) {
                // A cache that is down costs a miss, never the request.
                let _: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(CACHE_SECONDS)
                    .query_async(&mut redis)
                    .await;
            }
        }
        Ok(item)
    }

    /// Adds an item, and keeps it only if `confirm` (recording the audit event, say)
    /// succeeds: otherwise the insert is rolled back and `confirm`'s error returned.
    pub async fn create_then<E, F>(
        &self,
        name: &str,
        confirm: impl FnOnce(&Item) -> F,
    ) -> Result<Result<Item, E>, Unavailable>
    where
        F: std::future::Future<Output = Result<(), E>>,
    {
        macro_rules! in_transaction {
            ($pool:expr, $metrics:expr, $insert:expr) => {{
                let mut conn = acquire($pool, $metrics).await?;
                let mut tx = sqlx::Connection::begin(&mut *conn)
                    .await
                    .map_err(Unavailable)?;
                let (id, name): (i64, String) = sqlx::query_as($insert)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(Unavailable)?;
                let item = Item { id, name };
                match confirm(&item).await {
                    Ok(()) => {
                        tx.commit().await.map_err(Unavailable)?;
                        Ok(Ok(item))
                    }
                    Err(error) => {
                        tx.rollback().await.map_err(Unavailable)?;
                        Ok(Err(error))
                    }
                }
            }};
        }
        match &self.pool {
            Pool::Postgres(pool, metrics) => in_transaction!(
                pool,
                metrics,
                "INSERT INTO items (name) VALUES ($1) RETURNING id, name"
            ),
            Pool::Sqlite(pool, metrics) => in_transaction!(
                pool,
                metrics,
                "INSERT INTO items (name) VALUES (?) RETURNING id, name"
            ),
        }
    }

    /// The PostgreSQL database's URL when the items live there (the audit trail
    /// can go to a table beside them).
    pub fn postgres_url() -> Option<String> {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres"))
    }

    async fn count(&self) -> Result<i64, Unavailable> {
        let (rows,): (i64,) = match &self.pool {
            Pool::Postgres(pool, _) => {
                sqlx::query_as("SELECT COUNT(*) FROM items")
                    .fetch_one(pool)
                    .await
            }
            Pool::Sqlite(pool, _) => {
                sqlx::query_as("SELECT COUNT(*) FROM items")
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(Unavailable)?;
        Ok(rows)
    }

    /// Closes the pool's connections (a shutdown hook).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool, _) => pool.close().await,
            Pool::Sqlite(pool, _) => pool.close().await,
        }
    }
}

/// A connection for a request's query, its wait timed in
/// `db_client_connection_wait_time_seconds` once the store is measured.
async fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    metrics: &OnceLock<PoolMetrics<DB>>,
) -> Result<sqlx::pool::PoolConnection<DB>, Unavailable> {
    match metrics.get() {
        Some(metrics) => metrics.acquire().await,
        None => pool.acquire().await,
    }
    .map_err(Unavailable)
}
