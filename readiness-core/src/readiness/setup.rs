//! [`Setup`]: the top rung. From one [`Readiness`] and the environment, the log
//! writer and layer, the reloadable filter, the OpenTelemetry layer, the shutdown
//! settings and the addresses, installed as the global subscriber by one explicit
//! call, [`Setup::init`].
//!
//! Every step is one of the lower rungs ([`LogWriter`], [`LogFilter`],
//! [`Readiness::log_settings`], [`Readiness::telemetry`], [`Readiness::shutdown`]),
//! usable on its own; this file only puts them together in the usual way.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::Readiness;
use crate::error::{BoxError, BuildError};
use crate::logging::{
    Format, LogFilter, LogGuard, LogSettings, LogWriter, LogWriterBuilder, LOG_FORMAT_ENV,
};
use crate::shutdown::ShutdownBuilder;

/// The variable holding the log filter: `tracing_subscriber` target directives
/// (`info`, `warn,orders=debug`). Unset or empty: `info`.
const LOG_FILTER_ENV: &str = "RUST_LOG";
/// The variable holding the address to listen on (default `127.0.0.1`; `0.0.0.0`
/// in a container).
const BIND_ENV: &str = "BIND";
/// The variable holding the port to listen on (default `8080`; `0` picks a free one).
const PORT_ENV: &str = "PORT";
/// The variable holding the log writer's queue length in lines (default 65 536).
const LOG_QUEUE_ENV: &str = "READINESS_LOG_QUEUE";
/// The variable holding the port of the admin listener (probes, `/metrics`,
/// `/log-level`); unset: no admin listener, those routes are on the main one.
const ADMIN_PORT_ENV: &str = "ADMIN_PORT";
/// The variable holding the address of the admin listener (default: `BIND`'s).
const ADMIN_BIND_ENV: &str = "ADMIN_BIND";
/// The variable saying whether the service is a public endpoint for tracing
/// (`true`, `false`); unset: the builder's
/// [`trace_public_endpoint`](crate::ReadinessBuilder::trace_public_endpoint).
const TRACE_PUBLIC_ENDPOINT_ENV: &str = "READINESS_TRACE_PUBLIC_ENDPOINT";

/// How long the span flush may take at shutdown.
#[cfg(feature = "otel")]
const FLUSH_SPANS_TIMEOUT: Duration = Duration::from_secs(2);

/// A production service's observability in one call: JSON log lines on standard
/// output, the filter from `RUST_LOG` (changed at run time through the
/// [log-level route](crate::endpoint#the-log-level-route)), OpenTelemetry tracing
/// from `OTEL_*` (with the `otel` feature), the graceful shutdown from
/// `READINESS_SHUTDOWN_*` with the standard hooks, and the addresses from `BIND`
/// and `PORT`, and `ADMIN_BIND` and `ADMIN_PORT` for an admin listener.
///
/// Nothing global happens until [`init`](Self::init), the one call that installs
/// the global `tracing` subscriber; it returns an [`Installed`], which takes the
/// service's own shutdown hooks and is what `readiness_axum::serve_app` and
/// `readiness_actix::serve_app` serve. Checks are the [`Readiness`]'s: add them to
/// its builder first.
///
/// | Variable | Read by | Default |
/// |---|---|---|
/// | `RUST_LOG` | the start-up filter of the log and span layers ([`Targets`] directives) | `info` |
/// | `READINESS_LOG_FORMAT` | [`LogSettings`]: `json` or `pretty` | `json` |
/// | `READINESS_LOG_QUEUE` | [`LogWriterBuilder::capacity`]: lines waiting for stdout (16 to 10,000,000) | `65536` |
/// | `OTEL_*` | [`Telemetry`](crate::telemetry::Telemetry) (feature `otel`) | no export |
/// | `READINESS_SHUTDOWN_*` | [`ShutdownBuilder::from_env`] | 5 s, 15 s, 5 s, 30 s |
/// | `BIND`, `PORT` | the adapters' `serve_app` | `127.0.0.1`, `8080` |
/// | `ADMIN_PORT` | the adapters' `serve_app`: the probes, `/metrics` and `/log-level` on this port only | unset: on the main port |
/// | `ADMIN_BIND` | the address of the admin listener (with `ADMIN_PORT`) | `BIND`'s |
/// | `READINESS_TRACE_PUBLIC_ENDPOINT` | `true` or `false`: a caller's `traceparent` is a link of a new trace, not its parent ([`ReadinessBuilder::trace_public_endpoint`](crate::ReadinessBuilder::trace_public_endpoint)); set, it wins over the builder, as `OTEL_SERVICE_NAME` does over the name given in code | the builder's (`false`) |
///
/// The filter is a [`LogFilter`], given to the [`Readiness`] by [`init`](Self::init):
/// the adapters serve the [log-level route](crate::endpoint#the-log-level-route)
/// (`/log-level`), which reads, sets and resets it for the holder of the
/// [details token](crate::ReadinessBuilder::details_token) (`403` to everyone when
/// the service has none). The `Readiness` must not have a filter of its own
/// ([`ReadinessBuilder::log_filter`](crate::ReadinessBuilder::log_filter) is for the
/// lower rungs).
///
/// Each step can be replaced by its lower rung: [`log_settings`](Self::log_settings),
/// [`writer`](Self::writer) and [`filter`](Self::filter) for the logs,
/// [`Installed::shutdown_settings`] for the shutdown, or none of this type at all
/// (see the lower rungs in [`Readiness::log_settings`] and
/// [`Readiness::shutdown`]).
///
/// ```no_run
/// use std::time::Duration;
/// use readiness_core::{checks, Readiness, Setup};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let readiness = Readiness::builder()
///     .service("orders", "1.4.2")
///     .check(checks::from_fn("queue", || async { true }))
///     .build()?;
/// let service = Setup::from_env(&readiness)?
///     .log_settings(|logs| logs.secret_values(["the-api-token"]))
///     .init()? // the global subscriber: once per process
///     .hook("close the queue", Duration::from_secs(2), || async { Ok(()) });
/// // readiness_axum::serve_app(service, app) or readiness_actix::serve_app(service, || app)
/// # drop(service); Ok(()) }
/// ```
#[must_use]
pub struct Setup {
    readiness: Readiness,
    logs: LogSettings,
    writer: Option<LogWriterBuilder>,
    filter: Targets,
    #[cfg(feature = "otel")]
    telemetry: Option<crate::telemetry::Telemetry>,
    shutdown: ShutdownBuilder,
    host: String,
    port: u16,
    admin: Option<(String, u16)>,
    /// `READINESS_TRACE_PUBLIC_ENDPOINT`, given to the observer by `init`.
    trace_public_endpoint: Option<bool>,
}

impl Setup {
    /// The settings of `readiness`'s service from the process environment (see the
    /// table in the [type docs](Self)).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the variable holding a value that cannot be used:
    /// `RUST_LOG`, `READINESS_LOG_FORMAT`, `READINESS_LOG_QUEUE`, an `OTEL_*` variable,
    /// `READINESS_SHUTDOWN_*`, `PORT`, `ADMIN_PORT` (also when it is `PORT`'s),
    /// `ADMIN_BIND` (set without `ADMIN_PORT`) or `READINESS_TRACE_PUBLIC_ENDPOINT`
    /// (neither `true` nor `false`); or naming `log_filter` when
    /// `readiness` was given a filter of its own.
    pub fn from_env(readiness: &Readiness) -> Result<Self, BuildError> {
        Self::from_lookup(readiness, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read by `lookup`.
    ///
    /// ```
    /// use readiness_core::{Readiness, Setup};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().build()?;
    /// let error = Setup::from_lookup(&readiness, |name| (name == "PORT").then(|| "http".into()))
    ///     .unwrap_err();
    /// assert_eq!(error.field(), "PORT");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(
        readiness: &Readiness,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        if readiness.log_filter().is_some() {
            return Err(BuildError::new(
                "log_filter",
                "the Readiness was given a LogFilter (ReadinessBuilder::log_filter), and Setup builds its own from RUST_LOG: leave it off the builder, or compose the subscriber yourself from the lower rungs",
            ));
        }
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let filter = match set(LOG_FILTER_ENV) {
            None => Targets::new().with_default(LevelFilter::INFO),
            Some(directives) => directives.trim().parse().map_err(|error| {
                BuildError::new(
                    LOG_FILTER_ENV,
                    format!(
                        "must be target directives such as `info` or `warn,orders=debug`, got {directives:?}: {error}"
                    ),
                )
            })?,
        };
        // The filter decides; the layer's own level lets everything through.
        let mut logs = readiness.log_settings().level(LevelFilter::TRACE);
        match set(LOG_FORMAT_ENV).as_deref().map(str::trim) {
            None | Some("json") => logs = logs.format(Format::Json),
            Some("pretty") => logs = logs.format(Format::Pretty),
            Some(other) => {
                return Err(BuildError::new(
                    LOG_FORMAT_ENV,
                    format!("must be `json` or `pretty`, got {other:?}"),
                ));
            }
        }
        let writer = match set(LOG_QUEUE_ENV) {
            None => None,
            Some(lines) => match lines.trim().parse::<usize>() {
                Ok(lines) if (16..=10_000_000).contains(&lines) => {
                    Some(LogWriter::stdout().capacity(lines))
                }
                _ => {
                    return Err(BuildError::new(
                        LOG_QUEUE_ENV,
                        format!("must be a number of lines from 16 to 10000000, got {lines:?}"),
                    ));
                }
            },
        };
        let port = match set(PORT_ENV) {
            None => 8080,
            Some(port) => parse_port(PORT_ENV, &port)?,
        };
        let host = set(BIND_ENV).map_or_else(|| "127.0.0.1".to_owned(), |b| b.trim().to_owned());
        let admin = match (set(ADMIN_PORT_ENV), set(ADMIN_BIND_ENV)) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(BuildError::new(
                    ADMIN_BIND_ENV,
                    "is set but ADMIN_PORT is not: set ADMIN_PORT for an admin listener, or unset ADMIN_BIND",
                ));
            }
            (Some(admin_port), admin_host) => {
                let admin_port = parse_port(ADMIN_PORT_ENV, &admin_port)?;
                if admin_port != 0 && admin_port == port {
                    return Err(BuildError::new(
                        ADMIN_PORT_ENV,
                        format!("must differ from PORT ({port}): the admin listener is a port of its own"),
                    ));
                }
                let admin_host = admin_host.map_or_else(|| host.clone(), |b| b.trim().to_owned());
                Some((admin_host, admin_port))
            }
        };
        // The deployment knows how the service is exposed: the variable, when set,
        // wins over the builder, as `OTEL_SERVICE_NAME` wins over the name in code.
        let trace_public_endpoint = match set(TRACE_PUBLIC_ENDPOINT_ENV) {
            None => None,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    return Err(BuildError::new(
                        TRACE_PUBLIC_ENDPOINT_ENV,
                        format!("must be `true` or `false`, got {value:?}"),
                    ));
                }
            },
        };
        Ok(Self {
            readiness: readiness.clone(),
            logs,
            writer,
            filter,
            #[cfg(feature = "otel")]
            telemetry: Some(
                readiness.telemetry_from(crate::telemetry::OtelSettings::from_lookup(&lookup)?),
            ),
            shutdown: readiness.shutdown().from_lookup(&lookup)?,
            host,
            port,
            admin,
            trace_public_endpoint,
        })
    }

    /// Changes the log settings (already holding the service's name, version and
    /// registry, and the format from `READINESS_LOG_FORMAT`): secret values,
    /// confidential fields, target categories.
    ///
    /// ```
    /// # use readiness_core::{Readiness, Setup};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// let setup = Setup::from_env(&readiness)?
    ///     .log_settings(|logs| logs.secret_values(["the-database-password"]).deny_fields(["iban"]));
    /// # drop(setup); Ok(()) }
    /// ```
    pub fn log_settings(mut self, change: impl FnOnce(LogSettings) -> LogSettings) -> Self {
        self.logs = change(self.logs);
        self
    }

    /// Where the lines go (default `LogWriter::stdout()`): a file with rotation, any
    /// `io::Write`.
    ///
    /// ```
    /// # use readiness_core::{Readiness, Setup};
    /// use readiness_core::logging::{LogWriter, Rotation};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// let setup = Setup::from_env(&readiness)?
    ///     .writer(LogWriter::file("/var/log/orders", "orders").rotation(Rotation::Daily));
    /// # drop(setup); Ok(()) }
    /// ```
    pub fn writer(mut self, writer: LogWriterBuilder) -> Self {
        self.writer = Some(writer);
        self
    }

    /// The start-up filter of the log and span layers, instead of `RUST_LOG`'s; the
    /// log-level route resets to it.
    pub fn filter(mut self, filter: Targets) -> Self {
        self.filter = filter;
        self
    }

    /// Changes the OpenTelemetry settings read from `OTEL_*` (programmatic settings
    /// win), or `None` to leave the span layer out.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn telemetry(
        mut self,
        change: impl FnOnce(crate::telemetry::Telemetry) -> Option<crate::telemetry::Telemetry>,
    ) -> Self {
        self.telemetry = self.telemetry.and_then(change);
        self
    }

    /// The address to listen on, instead of `BIND` and `PORT`'s.
    pub fn address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = host.into();
        self.port = port;
        self
    }

    /// The address of the admin listener, instead of `ADMIN_BIND` and
    /// `ADMIN_PORT`'s, or `None` for none: the probes, `/metrics` and `/log-level`
    /// on the main listener.
    ///
    /// ```
    /// # use readiness_core::{Readiness, Setup};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// let setup = Setup::from_env(&readiness)?.admin_address(Some(("0.0.0.0", 9090)));
    /// # drop(setup); Ok(()) }
    /// ```
    pub fn admin_address(mut self, address: Option<(impl Into<String>, u16)>) -> Self {
        self.admin = address.map(|(host, port)| (host.into(), port));
        self
    }

    /// Builds the writer and the layers and installs them as the global `tracing`
    /// subscriber: the reloadable filter, then the log layer and, with the `otel`
    /// feature, the span layer behind it; then gives the filter's [`LogFilter`] to
    /// the [`Readiness`], for the log-level route. The one thing this crate does
    /// globally, and only here.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that cannot be used, or `subscriber` when
    /// a global subscriber is already set (a second `init`, or one set by other
    /// code): compose the layers yourself then, from the lower rungs.
    pub fn init(self) -> Result<Installed, BuildError> {
        let taken = || {
            BuildError::new(
                "subscriber",
                "a global tracing subscriber is already set: call `init` once per process, or add the layers of `Readiness::log_settings` and `Readiness::telemetry` to the subscriber you set",
            )
        };
        if tracing::dispatcher::has_been_set() {
            return Err(taken());
        }
        let (writer, log_guard) = self.writer.unwrap_or_else(LogWriter::stdout).build()?;
        // One filter, before every layer: the log-level route reloads it.
        let (filter, log_filter) = LogFilter::from_targets(self.filter);
        #[cfg(feature = "otel")]
        let (otel, telemetry) = match self.telemetry {
            Some(telemetry) => {
                // The log filter, before every layer, decides for the trace too.
                let telemetry =
                    telemetry.level_unless_set(tracing::level_filters::LevelFilter::TRACE);
                let (layer, guard) = telemetry.build()?;
                (Some(layer), Some(guard))
            }
            None => (None, None),
        };
        let logs = self.logs;
        // OTEL_LOGS_EXPORTER=otlp: each line goes out as a log record too.
        #[cfg(feature = "otel")]
        let logs = match telemetry.as_ref().and_then(|guard| guard.log_export()) {
            Some(export) => logs.otlp(export),
            None => logs,
        };
        let logs = logs.build_with_writer(&writer)?;
        let subscriber = tracing_subscriber::registry().with(filter);
        #[cfg(feature = "otel")]
        let subscriber = subscriber.with(otel);
        subscriber.with(logs).try_init().map_err(|_| taken())?;
        // The slot is empty: `from_lookup` refuses a readiness with a filter, and a
        // second `init` stops at `try_init`.
        let filled = self.readiness.set_log_filter(log_filter);
        debug_assert!(filled, "the readiness had a log filter");
        if let Some(public) = self.trace_public_endpoint {
            self.readiness.observer().set_public_endpoint(public);
        }
        Ok(Installed {
            readiness: self.readiness,
            shutdown: self.shutdown,
            log_guard,
            #[cfg(feature = "otel")]
            telemetry,
            host: self.host,
            port: self.port,
            admin: self.admin,
        })
    }
}

/// A port number from `value`, or an error naming `name`.
fn parse_port(name: &str, value: &str) -> Result<u16, BuildError> {
    value.trim().parse().map_err(|_| {
        BuildError::new(
            name,
            format!("must be a port number from 0 to 65535, got {value:?}"),
        )
    })
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Setup");
        s.field("logs", &self.logs).field("filter", &self.filter);
        #[cfg(feature = "otel")]
        s.field("telemetry", &self.telemetry);
        s.field("shutdown", &self.shutdown)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin", &self.admin)
            .field("trace_public_endpoint", &self.trace_public_endpoint)
            .finish_non_exhaustive()
    }
}

/// What [`Setup::init`] installed: the service's [`Readiness`], the guards that
/// flush the logs and spans, and the shutdown settings, which take the service's
/// own hooks. Give it to `readiness_axum::serve_app` or `readiness_actix::serve_app`,
/// or take its parts with [`into_shutdown`](Self::into_shutdown).
///
/// The standard hooks come after the service's own, whatever the order of the
/// calls: the spans are flushed (`flush spans`, with the `otel` feature), then the
/// log writer, last of all. Dropped without a shutdown, it flushes both.
#[must_use]
pub struct Installed {
    readiness: Readiness,
    shutdown: ShutdownBuilder,
    log_guard: LogGuard,
    #[cfg(feature = "otel")]
    telemetry: Option<crate::telemetry::TelemetryGuard>,
    host: String,
    port: u16,
    admin: Option<(String, u16)>,
}

impl Installed {
    /// The service's health, metrics and observer.
    #[must_use]
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The address to listen on: `BIND` and `PORT`, or [`Setup::address`].
    #[must_use]
    pub fn address(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The address of the admin listener: `ADMIN_BIND` (default `BIND`'s) and
    /// `ADMIN_PORT`, or [`Setup::admin_address`]; `None` when there is none, and
    /// the probes, `/metrics` and `/log-level` answer on the main listener.
    #[must_use]
    pub fn admin_address(&self) -> Option<(&str, u16)> {
        self.admin
            .as_ref()
            .map(|(host, port)| (host.as_str(), *port))
    }

    /// Adds a shutdown hook of the service's own, run after the drain, in the order
    /// added and before the standard ones. See [`ShutdownBuilder::hook`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use readiness_core::{Readiness, Setup};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// # let service = Setup::from_env(&readiness)?.init()?;
    /// let service = service.hook("close the pool", Duration::from_secs(2), || async { Ok(()) });
    /// # drop(service); Ok(()) }
    /// ```
    pub fn hook<F, Fut>(mut self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.shutdown = self.shutdown.hook(name, timeout, run);
        self
    }

    /// Adds a shutdown hook that blocks. See [`ShutdownBuilder::hook_blocking`].
    pub fn hook_blocking<F>(mut self, name: impl Into<String>, timeout: Duration, run: F) -> Self
    where
        F: FnOnce() -> Result<(), BoxError> + Send + 'static,
    {
        self.shutdown = self.shutdown.hook_blocking(name, timeout, run);
        self
    }

    /// Changes the shutdown settings read from `READINESS_SHUTDOWN_*`: the drain
    /// delay, the timeouts, signals.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use readiness_core::{Readiness, Setup};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// # let service = Setup::from_env(&readiness)?.init()?;
    /// let service = service.shutdown_settings(|s| s.drain_timeout(Duration::from_secs(25)));
    /// # drop(service); Ok(()) }
    /// ```
    pub fn shutdown_settings(
        mut self,
        change: impl FnOnce(ShutdownBuilder) -> ShutdownBuilder,
    ) -> Self {
        self.shutdown = change(self.shutdown);
        self
    }

    /// The shutdown settings with the standard hooks added after the service's own
    /// (`flush spans`, then the log writer, last): the lower rung the adapters'
    /// `serve_app` builds and runs. A hook added to it now runs after the spans are
    /// flushed.
    ///
    /// ```
    /// # use readiness_core::{Readiness, Setup};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = Readiness::builder().build()?;
    /// let service = Setup::from_env(&readiness)?.init()?;
    /// let shutdown = service.into_shutdown().build()?; // then readiness_axum::serve(..)
    /// # drop(shutdown); Ok(()) }
    /// ```
    pub fn into_shutdown(self) -> ShutdownBuilder {
        let shutdown = self.shutdown;
        #[cfg(feature = "otel")]
        let shutdown = match self.telemetry {
            Some(guard) => shutdown.flush_telemetry(guard, FLUSH_SPANS_TIMEOUT),
            None => shutdown,
        };
        shutdown.flush_logs(self.log_guard)
    }
}

impl fmt::Debug for Installed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installed")
            .field("readiness", &self.readiness)
            .field("shutdown", &self.shutdown)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[tokio::test]
    async fn a_value_that_cannot_be_used_is_an_error_naming_its_variable() {
        let readiness = Readiness::builder().build().unwrap();
        for (name, value) in [
            ("RUST_LOG", "orders=loud"),
            ("READINESS_LOG_FORMAT", "xml"),
            ("READINESS_LOG_QUEUE", "8"),
            ("READINESS_LOG_QUEUE", "many"),
            ("PORT", "80800"),
            ("ADMIN_PORT", "admin"),
            ("ADMIN_BIND", "0.0.0.0"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "soon"),
            ("READINESS_TRACE_PUBLIC_ENDPOINT", "yes"),
        ] {
            let error = Setup::from_lookup(&readiness, lookup(vec![(name, value)])).unwrap_err();
            assert_eq!(error.field(), name, "{error}");
        }
        let same = lookup(vec![("PORT", "9000"), ("ADMIN_PORT", "9000")]);
        let error = Setup::from_lookup(&readiness, same).unwrap_err();
        assert_eq!(error.field(), "ADMIN_PORT", "{error}");
    }

    #[tokio::test]
    async fn a_readiness_with_a_filter_of_its_own_is_refused() {
        let (_layer, filter) = LogFilter::new::<tracing_subscriber::Registry>("info").unwrap();
        let readiness = Readiness::builder().log_filter(filter).build().unwrap();
        let error = Setup::from_lookup(&readiness, lookup(vec![])).unwrap_err();
        assert_eq!(error.field(), "log_filter", "{error}");
    }

    #[tokio::test]
    async fn the_defaults_and_the_environment() {
        let readiness = Readiness::builder().build().unwrap();
        let setup = Setup::from_lookup(&readiness, lookup(vec![])).unwrap();
        assert_eq!((setup.host.as_str(), setup.port), ("127.0.0.1", 8080));
        assert_eq!(setup.filter.to_string(), "info");
        assert_eq!(setup.admin, None);
        assert_eq!(setup.trace_public_endpoint, None);
        for (value, public) in [("true", true), ("FALSE", false), (" false ", false)] {
            let vars = lookup(vec![("READINESS_TRACE_PUBLIC_ENDPOINT", value)]);
            let setup = Setup::from_lookup(&readiness, vars).unwrap();
            assert_eq!(setup.trace_public_endpoint, Some(public), "{value}");
        }

        let setup = Setup::from_lookup(
            &readiness,
            lookup(vec![
                ("BIND", "0.0.0.0"),
                ("PORT", "9090"),
                ("RUST_LOG", "warn,orders=debug"),
                ("READINESS_LOG_FORMAT", "pretty"),
            ]),
        )
        .unwrap();
        assert_eq!((setup.host.as_str(), setup.port), ("0.0.0.0", 9090));
        assert_eq!(setup.filter.to_string(), "orders=debug,warn");
        let setup = setup.address("::1", 0);
        assert_eq!((setup.host.as_str(), setup.port), ("::1", 0));

        let admin = |vars| Setup::from_lookup(&readiness, lookup(vars)).unwrap().admin;
        let on = admin(vec![("BIND", "0.0.0.0"), ("ADMIN_PORT", "9091")]);
        assert_eq!(on, Some(("0.0.0.0".to_owned(), 9091)));
        let on = admin(vec![("ADMIN_BIND", "10.0.0.1"), ("ADMIN_PORT", "9091")]);
        assert_eq!(on, Some(("10.0.0.1".to_owned(), 9091)));
        let on = admin(vec![("ADMIN_PORT", "0"), ("PORT", "0")]);
        assert_eq!(on, Some(("127.0.0.1".to_owned(), 0)));
    }
}
