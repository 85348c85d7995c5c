//! Ready-made checks, and closures as checks.
//!
//! Every constructor returns a [`CheckSpec`](crate::CheckSpec) with a default name,
//! ready for the usual settings (`.name()`, `.also_liveness()`, `.timeout()`, ...).
//!
//! | check | constructor | feature |
//! |---|---|---|
//! | a closure | [`from_fn`] | always |
//! | a TCP connect | [`tcp`] | always |
//! | PostgreSQL (`sqlx::PgPool`) | `postgres` | `postgres` |
//! | MySQL, MariaDB (`sqlx::MySqlPool`) | `mysql` | `mysql` |
//! | SQLite (`sqlx::SqlitePool`) | `sqlite` | `sqlite` |
//! | any sqlx pool, your query | `sql_query` | `postgres`, `mysql` or `sqlite` |
//! | Redis (`ConnectionManager`, `MultiplexedConnection`) | `redis` | `redis` |
//! | an HTTP upstream (`reqwest`, rustls) | `http_get`, `http` | `http` |
//! | RabbitMQ (`lapin::Connection`) | `amqp` | `amqp` |
//! | NATS (`async_nats::Client`) | `nats` | `nats` |
//! | free disk space | `disk_free_percent` | `system` (default) |
//! | memory use | `memory_used_percent` | `system` (default) |
//! | CPU use | `cpu_used_percent` | `system` (default) |
//!
//! # Default
//!
//! ```
//! use readiness_core::{checks, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .check(checks::from_fn("cache", || async { true }))
//!     .build()?;
//! # let _ = readiness;
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! # #[cfg(feature = "system")] {
//! use readiness_core::{checks, Readiness};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! let readiness = Readiness::builder()
//!     .check(checks::disk_free_percent("/", 20.0, 10.0).name("root-disk").also_liveness())
//!     .check(checks::memory_used_percent(85.0, 95.0).non_critical())
//!     .build()
//!     .unwrap();
//! # let _ = readiness;
//! # });
//! # }
//! ```

#[cfg(feature = "amqp")]
mod amqp;
mod cause;
mod from_fn;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod sql;
#[cfg(feature = "system")]
mod system;
mod tcp;

#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
pub use amqp::amqp;
pub use from_fn::{from_fn, FromFn};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{http, http_get, HttpCheck};
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use nats::nats;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::redis;
#[cfg(feature = "mysql")]
pub use sql::mysql;
#[cfg(feature = "postgres")]
pub use sql::postgres;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite")))
)]
pub use sql::sql_query;
#[cfg(feature = "sqlite")]
pub use sql::sqlite;
#[cfg(feature = "system")]
#[cfg_attr(docsrs, doc(cfg(feature = "system")))]
pub use system::{cpu_used_percent, disk_free_percent, memory_used_percent};
pub use tcp::tcp;
