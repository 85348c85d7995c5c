//! Health checks and probes for Rust services, framework-agnostic.
//!
//! `readiness-core` holds everything that does not depend on a web framework: the
//! [`Check`] trait and ready-made [`checks`], the background runner and its cached
//! snapshot, the Kubernetes probe rules and the `application/health+json` answers.
//! `readiness-axum` and `readiness-actix` serve those answers on their framework.
//!
//! # Quick start
//!
//! ```
//! use readiness_core::{checks, Endpoint, ProbeRequest, Readiness};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .service("orders", env!("CARGO_PKG_VERSION"))
//!     .check(checks::from_fn("queue", || async { true }).timeout(Duration::from_millis(300)))
//!     .build()?; // invalid settings: an error naming the field
//!
//! readiness.refresh().await; // or let the background refresh do it
//! let answer = readiness.respond(&ProbeRequest::new(Endpoint::Readyz, "GET"));
//! assert_eq!(answer.status(), 200);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `system` | yes | disk, memory and CPU checks, process and system metrics (`sysinfo`) |
//! | `logging` | yes | JSON log lines, classification, redaction, audit and security events, non-blocking writer (`tracing-subscriber`, `tracing-appender`) |
//! | `otel` | no | OpenTelemetry tracing over OTLP, configured by `OTEL_*` (opentelemetry 0.33, tracing-opentelemetry 0.34) |
//! | `ops-kit` | no | Prometheus rules, a Grafana dashboard and Kubernetes manifests rendered from the library's metric names (`serde_norway`) |
//! | `postgres` | no | `checks::postgres` on a `sqlx::PgPool` |
//! | `mysql` | no | `checks::mysql` on a `sqlx::MySqlPool` (MySQL, MariaDB) |
//! | `sqlite` | no | `checks::sqlite` on a `sqlx::SqlitePool` |
//! | `redis` | no | `checks::redis` on a `redis` connection manager or multiplexed connection |
//! | `http` | no | `checks::http` on HTTP upstreams (`reqwest`, rustls) |
//! | `amqp` | no | `checks::amqp` on a `lapin::Connection` (RabbitMQ) |
//! | `nats` | no | `checks::nats` on an `async_nats::Client` |
//! | `full` | no | every feature above |
//!
//! # Minimum supported Rust version
//!
//! 1.89, the highest of its dependencies' (actix-web's, for the actix adapter).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "audit-trail")]
#[cfg_attr(docsrs, doc(cfg(feature = "audit-trail")))]
pub mod audit;
pub mod checks;
pub mod endpoint;
mod error;
pub mod health;
#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub mod logging;
pub mod metrics;
pub mod observe;
#[cfg(feature = "ops-kit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ops-kit")))]
pub mod ops;
mod readiness;
pub mod redact;
mod request_id;
pub mod shutdown;
#[cfg(feature = "system")]
mod system;
pub mod telemetry;
#[cfg(feature = "logging")]
mod writer;

pub use endpoint::{Details, Endpoint, ProbeRequest};
pub use error::{BoxError, BuildError};
pub use health::{
    Check, CheckOutcome, CheckSpec, ComponentType, IntoOutcome, Measurement, Probe, Status,
};
#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub use readiness::{Installed, Setup};
pub use readiness::{Readiness, ReadinessBuilder};
pub use request_id::{RequestId, REQUEST_ID_HEADER};
