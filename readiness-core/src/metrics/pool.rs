//! Database pool gauges (connections used, idle and allowed) read from `sqlx` pools
//! at scrape time, and the time taken to get a connection.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

use super::names::{
    DB_CLIENT_CONNECTIONS, DB_CLIENT_CONNECTIONS_MAX, DB_CLIENT_CONNECTION_WAIT_TIME, POOL, STATE,
};

/// Buckets of `db_client_connection_wait_time_seconds`: an idle connection is handed
/// out in microseconds, a new one takes a connect, and sqlx gives up after its
/// acquire timeout (30 s by default).
const WAIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The metrics of one `sqlx` pool, registered by
/// [`Readiness::sqlx_pool`](crate::Readiness::sqlx_pool):
///
/// | family | type | labels |
/// |---|---|---|
/// | `db_client_connections` | gauge | `pool`, `state` (`idle`, `used`) |
/// | `db_client_connections_max` | gauge | `pool` |
/// | `db_client_connection_wait_time_seconds` | histogram | `pool` |
///
/// The gauges are read from the pool (`size()`, `num_idle()`, `max_connections`) on
/// every scrape, so they are never stale and need no task. `used` counts the
/// connections open and not idle: lent out, or being opened. sqlx does not say how
/// long a caller waited for a connection, so the wait-time histogram counts the
/// acquires made through [`acquire`](Self::acquire) (or reported with
/// [`record_wait`](Self::record_wait)); the pool's other users are not timed. Every
/// series exists, at zero, from registration. Cheap to clone.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = readiness_core::Readiness::builder().build()?;
/// let pool = sqlx::sqlite::SqlitePoolOptions::new()
///     .max_connections(2)
///     .connect_lazy("sqlite::memory:")?;
/// let items = readiness.sqlx_pool("items", pool)?;
///
/// let mut conn = items.acquire().await?; // timed
/// sqlx::query("SELECT 1").execute(&mut *conn).await?;
/// let text = String::from_utf8(readiness.metrics_response().body().to_vec())?;
/// assert!(text.contains(r#"db_client_connections{pool="items",state="used"} 1"#));
/// assert!(text.contains(r#"db_client_connections_max{pool="items"} 2"#));
/// assert!(text.contains(r#"db_client_connection_wait_time_seconds_count{pool="items"} 1"#));
/// # Ok(()) }
/// # #[cfg(not(feature = "sqlite"))] fn main() {}
/// ```
pub struct PoolMetrics<DB: Database> {
    pool: Pool<DB>,
    wait: Histogram,
}

impl<DB: Database> PoolMetrics<DB> {
    /// A connection from the pool, as `Pool::acquire` gives it, with the time taken
    /// recorded in `db_client_connection_wait_time_seconds`: every attempt that ends,
    /// including one that ends at the pool's acquire timeout (a cancelled attempt is
    /// not recorded).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let items = readiness.sqlx_pool("items", sqlx::SqlitePool::connect_lazy("sqlite::memory:")?)?;
    /// let mut conn = items.acquire().await?;
    /// let (one,): (i64,) = sqlx::query_as("SELECT 1").fetch_one(&mut *conn).await?;
    /// # assert_eq!(one, 1);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// The pool's error: `sqlx::Error::PoolTimedOut` when no connection came within
    /// the acquire timeout, `PoolClosed`, or the error of a connect.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        let started = Instant::now();
        let acquired = self.pool.acquire().await;
        self.record_wait(started.elapsed());
        acquired
    }

    /// Records a wait for a connection timed elsewhere (around `Pool::begin`, say).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// # let items = readiness.sqlx_pool("items", sqlx::SqlitePool::connect_lazy("sqlite::memory:")?)?;
    /// let started = std::time::Instant::now();
    /// let tx = items.pool().begin().await?;
    /// items.record_wait(started.elapsed());
    /// tx.commit().await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    pub fn record_wait(&self, waited: Duration) {
        self.wait.observe(waited.as_secs_f64());
    }

    /// The pool these metrics read, for queries that need no timed acquire.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().build()?;
    /// let items = readiness.sqlx_pool("items", sqlx::SqlitePool::connect_lazy("sqlite::memory:")?)?;
    /// sqlx::query("SELECT 1").execute(items.pool()).await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Database> Clone for PoolMetrics<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            wait: self.wait.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for PoolMetrics<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolMetrics")
            .field("database", &DB::NAME)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// A pool of any database, read at scrape time: (open, idle, max) connections.
trait Sample: Send + Sync {
    fn sample(&self) -> (u32, usize, u32);
}

impl<DB: Database> Sample for Pool<DB> {
    fn sample(&self) -> (u32, usize, u32) {
        (
            self.size(),
            self.num_idle(),
            self.options().get_max_connections(),
        )
    }
}

/// One registered pool and its gauge series.
struct Sampled {
    name: String,
    pool: Box<dyn Sample>,
    idle: IntGauge,
    used: IntGauge,
    max: IntGauge,
}

impl Sampled {
    fn refresh(&self) {
        let (open, idle, max) = self.pool.sample();
        // sqlx's idle count is kept apart from the pool's size and is not lowered
        // when `close()` closes the idle connections: never more idle than open.
        let open = i64::from(open);
        let idle = i64::try_from(idle).unwrap_or(i64::MAX).min(open);
        self.idle.set(idle);
        self.used.set(open - idle);
        self.max.set(i64::from(max));
    }
}

struct Gauges {
    count: IntGaugeVec,
    max: IntGaugeVec,
    pools: Mutex<Vec<Sampled>>,
}

/// The gauge families as one collector that reads every pool when scraped.
#[derive(Clone)]
struct PoolGauges(Arc<Gauges>);

impl Collector for PoolGauges {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.0.count.desc();
        descs.extend(self.0.max.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for pool in self
            .0
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            pool.refresh();
        }
        let mut families = self.0.count.collect();
        families.extend(self.0.max.collect());
        families
    }
}

/// The pool families, registered once by the builder; pools join them by name.
#[derive(Clone)]
pub(crate) struct PoolFamily {
    gauges: PoolGauges,
    wait: HistogramVec,
}

impl PoolFamily {
    pub(crate) fn register(
        registry: &super::registrar::Registrar<'_>,
        namespace: Option<&str>,
    ) -> prometheus::Result<Self> {
        let count = IntGaugeVec::new(
            super::opts(
                namespace,
                DB_CLIENT_CONNECTIONS,
                "Database pool connections, by pool and state (idle, used).",
            ),
            &[POOL, STATE],
        )?;
        let max = IntGaugeVec::new(
            super::opts(
                namespace,
                DB_CLIENT_CONNECTIONS_MAX,
                "Database pool maximum connections, by pool.",
            ),
            &[POOL],
        )?;
        let wait = HistogramVec::new(
            HistogramOpts::from(super::opts(
                namespace,
                DB_CLIENT_CONNECTION_WAIT_TIME,
                "Time taken to get a connection from a database pool, in seconds, by pool.",
            ))
            .buckets(WAIT_BUCKETS.to_vec()),
            &[POOL],
        )?;
        let gauges = PoolGauges(Arc::new(Gauges {
            count,
            max,
            pools: Mutex::new(Vec::new()),
        }));
        registry.register(&gauges)?;
        registry.register(&wait)?;
        Ok(Self { gauges, wait })
    }

    /// Adds `pool` under `name`; its series exist from now on.
    pub(crate) fn add<DB: Database>(
        &self,
        name: &str,
        pool: Pool<DB>,
    ) -> Result<PoolMetrics<DB>, crate::BuildError> {
        super::validate_label_value("pool", name)?;
        let gauges = &self.gauges.0;
        let mut pools = gauges.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if pools.iter().any(|sampled| sampled.name == name) {
            return Err(crate::BuildError::new(
                "pool",
                format!("a pool named {name:?} is registered already: give each pool its own name"),
            ));
        }
        let sampled = Sampled {
            name: name.to_owned(),
            pool: Box::new(pool.clone()),
            idle: gauges.count.with_label_values(&[name, "idle"]),
            used: gauges.count.with_label_values(&[name, "used"]),
            max: gauges.max.with_label_values(&[name]),
        };
        sampled.refresh();
        pools.push(sampled);
        Ok(PoolMetrics {
            pool,
            wait: self.wait.with_label_values(&[name]),
        })
    }
}
