//! SQL databases through the application's own `sqlx` pool.

use std::time::{Duration, Instant};

use sqlx::{Database, Executor, Pool};

use crate::checks::cause::Cause;
use crate::error::BoxError;
use crate::health::{time_left, Check, CheckOutcome, CheckSpec, ComponentType, Measurement};

/// A check that runs `query` on a connection from `pool`. Named after the database
/// (`postgres`, `mysql`, `sqlite`).
///
/// The connection is taken from the application's pool, so the check sees what a
/// request would see, but it never waits for one longer than its own timeout (sqlx
/// waits 30 s by default): a pool with every connection in use reports
/// `pool exhausted: no free connection`. Pool size, idle and maximum connections are
/// reported as measurements.
///
/// ```
/// # #[cfg(feature = "postgres")] {
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() {
/// let pool = sqlx::postgres::PgPoolOptions::new()
///     .connect_lazy("postgres://app@db.internal/orders")
///     .unwrap();
/// let spec = checks::sql_query(pool, "SELECT 1 FROM orders LIMIT 1").name("orders-db");
/// # let _ = spec;
/// # }
/// # }
/// ```
pub fn sql_query<DB>(pool: Pool<DB>, query: impl Into<String>) -> CheckSpec
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let name = match DB::NAME {
        "PostgreSQL" => "postgres",
        "MySQL" => "mysql",
        "SQLite" => "sqlite",
        _ => "sql",
    };
    let query = query.into();
    let empty = query.trim().is_empty();
    let spec = CheckSpec::new(name, Sql { pool, query }).component_type(ComponentType::Datastore);
    if empty {
        spec.deferred_error("query", "must not be empty".to_owned())
    } else {
        spec
    }
}

/// `SELECT 1` on a connection from a PostgreSQL pool. Named `postgres`.
/// See [`sql_query`] for how the pool is used.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() {
/// let pool = sqlx::PgPool::connect_lazy("postgres://app@db.internal/orders").unwrap();
/// let spec = checks::postgres(pool).name("db");
/// # let _ = spec;
/// # }
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub fn postgres(pool: sqlx::PgPool) -> CheckSpec {
    sql_query(pool, "SELECT 1")
}

/// `SELECT 1` on a connection from a MySQL or MariaDB pool. Named `mysql`.
/// See [`sql_query`] for how the pool is used.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() {
/// let pool = sqlx::MySqlPool::connect_lazy("mysql://app@db.internal/orders").unwrap();
/// let spec = checks::mysql(pool).name("db");
/// # let _ = spec;
/// # }
/// ```
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub fn mysql(pool: sqlx::MySqlPool) -> CheckSpec {
    sql_query(pool, "SELECT 1")
}

/// `SELECT 1` on a connection from an SQLite pool. Named `sqlite`.
/// See [`sql_query`] for how the pool is used.
///
/// ```
/// use readiness_core::checks;
/// # #[allow(dead_code)]
/// # async fn doc() {
/// let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
/// let spec = checks::sqlite(pool).name("db");
/// # let _ = spec;
/// # }
/// ```
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub fn sqlite(pool: sqlx::SqlitePool) -> CheckSpec {
    sql_query(pool, "SELECT 1")
}

struct Sql<DB: Database> {
    pool: Pool<DB>,
    query: String,
}

impl<DB: Database> std::fmt::Debug for Sql<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("database", &DB::NAME)
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

/// Leaves this much of the check's time for the query after waiting on the pool.
const QUERY_RESERVE: Duration = Duration::from_millis(50);

impl<DB> Check for Sql<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        let started = Instant::now();
        let budget = time_left().map(|left| left.saturating_sub(QUERY_RESERVE.min(left / 10)));
        let acquire = self.acquire_or_diagnose();
        let acquired = match budget {
            Some(budget) => match tokio::time::timeout(budget, acquire).await {
                Ok(acquired) => acquired,
                Err(_) => return Ok(self.acquire_timed_out(started.elapsed())),
            },
            None => acquire.await,
        };
        let acquired = match acquired {
            Ok(acquired) => acquired,
            // A direct connect failed while the pool kept retrying.
            Err(outcome) => return Ok(self.with_pool_figures(outcome)),
        };
        Ok(match acquired {
            Ok(mut conn) => {
                let outcome = match conn.execute(self.query.as_str()).await {
                    Ok(_) => CheckOutcome::pass(),
                    Err(error) => classify(&error).fail(&error),
                };
                // Read while the connection is held: it counts as open and in use.
                self.with_pool_figures(outcome)
            }
            Err(sqlx::Error::PoolTimedOut) => self.acquire_timed_out(started.elapsed()),
            Err(error) => self.with_pool_figures(classify(&error).fail(&error)),
        })
    }
}

/// How long a pool may take to hand out a connection before the check connects on
/// its own to learn why.
const DIAGNOSE_AFTER: Duration = Duration::from_millis(100);

impl<DB: Database> Sql<DB> {
    /// A connection from the pool. sqlx retries refused connects until its own
    /// acquire timeout (30 s by default), so while the pool is slow to answer the
    /// check also connects directly, once: a refusal or a bad password then fails the
    /// check at once with its cause, instead of at the timeout.
    async fn acquire_or_diagnose(
        &self,
    ) -> Result<Result<sqlx::pool::PoolConnection<DB>, sqlx::Error>, CheckOutcome> {
        use sqlx::{ConnectOptions as _, Connection as _};
        let acquire = self.pool.acquire();
        tokio::pin!(acquire);
        tokio::select! {
            acquired = &mut acquire => return Ok(acquired),
            () = tokio::time::sleep(DIAGNOSE_AFTER) => {}
        }
        if self.pool.size() >= self.pool.options().get_max_connections() {
            // Every connection is open and in use: waiting is all there is to do.
            return Ok(acquire.await);
        }
        let direct = async {
            match self.pool.connect_options().connect().await {
                Ok(connection) => {
                    let _ = connection.close().await;
                    std::future::pending().await
                }
                Err(error) => error,
            }
        };
        tokio::select! {
            acquired = &mut acquire => Ok(acquired),
            error = direct => Err(classify(&error).fail(&error)),
        }
    }

    fn acquire_timed_out(&self, waited: Duration) -> CheckOutcome {
        let max = self.pool.options().get_max_connections();
        let cause = if self.pool.size() >= max && self.pool.num_idle() == 0 {
            Cause::PoolExhausted
        } else {
            // Still connecting: the server is slow to accept or answer.
            Cause::Timeout(waited)
        };
        self.with_pool_figures(CheckOutcome::fail(cause.output()).with_detail(format!(
            "no connection from the {} pool within {} ms ({} of {max} open, {} idle)",
            DB::NAME,
            waited.as_millis(),
            self.pool.size(),
            self.pool.num_idle()
        )))
    }

    fn with_pool_figures(&self, outcome: CheckOutcome) -> CheckOutcome {
        outcome
            .with_measurement(Measurement::new(
                "connections",
                f64::from(self.pool.size()),
                "connections",
            ))
            .with_measurement(Measurement::new(
                "idleConnections",
                self.pool.num_idle() as f64,
                "connections",
            ))
            .with_measurement(Measurement::new(
                "inUseConnections",
                f64::from(self.pool.size()) - self.pool.num_idle() as f64,
                "connections",
            ))
            .with_measurement(Measurement::new(
                "maxConnections",
                f64::from(self.pool.options().get_max_connections()),
                "connections",
            ))
    }
}

fn classify(error: &sqlx::Error) -> Cause {
    match error {
        sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("28")) => {
            // SQLSTATE class 28: invalid authorization (PostgreSQL 28P01, MySQL 28000).
            Cause::AuthenticationFailed
        }
        sqlx::Error::Io(io) => Cause::from_io(io),
        sqlx::Error::Tls(_) => Cause::Tls,
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Cause::Unavailable,
        sqlx::Error::Protocol(_) => Cause::Protocol,
        other => Cause::from_io_chain(other).unwrap_or(Cause::Unavailable),
    }
}
