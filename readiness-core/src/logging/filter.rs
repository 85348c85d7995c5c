//! [`LogFilter`]: a log filter that can be read and replaced while the service runs,
//! through `tracing_subscriber`'s reload support.

use std::fmt;
use std::sync::Arc;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::reload;

use crate::error::BuildError;

/// The filter layer [`LogFilter::new`] gives: a `Targets` filter behind
/// `tracing_subscriber`'s [`reload::Layer`]. Use it as a layer of its own (it filters
/// every layer above it) or as one layer's filter (`layer.with_filter(filter)`).
pub type ReloadFilter<S> = reload::Layer<Targets, S>;

/// The environment variable [`LogFilter::from_env`] reads: `RUST_LOG`.
pub const LOG_FILTER_ENV: &str = "RUST_LOG";

/// A handle on the service's log filter: reads it, replaces it and returns to the
/// start-up filter at run time, without a restart. It is what the
/// [log-level route](crate::endpoint#the-log-level-route) uses; give it to
/// [`ReadinessBuilder::log_filter`](crate::ReadinessBuilder::log_filter).
///
/// The filter is `tracing_subscriber`'s `Targets` (`info,orders=debug,sqlx=warn`:
/// a default level and levels per target). [`new`](Self::new) gives the filter
/// layer to compose into your own subscriber, and this handle on it.
///
/// A reload filter takes a read lock on each span and event it sees (that is how
/// `tracing_subscriber` reloads), which a plain `Targets` filter does not: the
/// library never uses one unless you build it here.
///
/// ```
/// use readiness_core::logging::LogFilter;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (filter, log_filter) = LogFilter::new("info")?;
/// let subscriber = tracing_subscriber::registry().with(filter); // .with(your layers)
/// tracing::subscriber::with_default(subscriber, || {
///     log_filter.set("info,orders=debug").unwrap();
///     assert_eq!(log_filter.current().as_deref(), Some("orders=debug,info"));
///     assert!(log_filter.set("orders=loud").is_err()); // unchanged
///     log_filter.reset().unwrap();
///     assert_eq!(log_filter.current().as_deref(), Some("info"));
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LogFilter {
    inner: Arc<Inner>,
}

struct Inner {
    startup: Targets,
    handle: Box<dyn ErasedHandle>,
}

/// `reload::Handle<Targets, S>` without its subscriber type.
trait ErasedHandle: Send + Sync {
    fn current(&self) -> Option<Targets>;
    fn reload(&self, targets: Targets) -> Result<(), reload::Error>;
}

impl<S: 'static> ErasedHandle for reload::Handle<Targets, S> {
    fn current(&self) -> Option<Targets> {
        self.clone_current()
    }

    fn reload(&self, targets: Targets) -> Result<(), reload::Error> {
        Self::reload(self, targets)
    }
}

/// Why a filter was not changed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogFilterError {
    /// The directives do not parse (the parser's message), or there are none.
    Invalid(String),
    /// The subscriber the filter belonged to is gone.
    Gone,
}

impl fmt::Display for LogFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(message) => write!(f, "invalid log filter: {message}"),
            Self::Gone => f.write_str("the log filter's subscriber is gone"),
        }
    }
}

impl std::error::Error for LogFilterError {}

/// Parses directives (`info,orders=debug`); an empty list (which would turn every
/// line off) is refused: `off` says so.
pub(crate) fn parse(directives: &str) -> Result<Targets, LogFilterError> {
    let directives = directives.trim();
    if directives.is_empty() {
        return Err(LogFilterError::Invalid(
            "no directives (send `off` to turn logging off)".to_owned(),
        ));
    }
    directives
        .parse::<Targets>()
        .map_err(|error| LogFilterError::Invalid(error.to_string()))
}

impl LogFilter {
    /// A reloadable filter starting with `directives` (`info,orders=debug`), and
    /// the handle on it.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming `log_filter` when the directives do not parse.
    pub fn new<S>(directives: &str) -> Result<(ReloadFilter<S>, Self), BuildError>
    where
        S: 'static,
    {
        let startup =
            parse(directives).map_err(|e| BuildError::new("log_filter", e.to_string()))?;
        Ok(Self::from_targets(startup))
    }

    /// [`new`](Self::new) with the directives of `RUST_LOG`, or `default` when it
    /// is unset or empty.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming `RUST_LOG` (or `log_filter` for `default`) when the
    /// directives do not parse.
    pub fn from_env<S>(default: &str) -> Result<(ReloadFilter<S>, Self), BuildError>
    where
        S: 'static,
    {
        match std::env::var(LOG_FILTER_ENV) {
            Ok(directives) if !directives.trim().is_empty() => {
                let startup = parse(&directives)
                    .map_err(|e| BuildError::new(LOG_FILTER_ENV, e.to_string()))?;
                Ok(Self::from_targets(startup))
            }
            _ => Self::new(default),
        }
    }

    /// A reloadable filter starting with `targets`, and the handle on it.
    #[must_use]
    pub fn from_targets<S>(targets: Targets) -> (ReloadFilter<S>, Self)
    where
        S: 'static,
    {
        let (layer, handle) = reload::Layer::new(targets.clone());
        let filter = Self {
            inner: Arc::new(Inner {
                startup: targets,
                handle: Box::new(handle),
            }),
        };
        (layer, filter)
    }

    /// The filter in force, as directives (`orders=debug,info`: the most specific
    /// first), or `None` once its subscriber is gone.
    #[must_use]
    pub fn current(&self) -> Option<String> {
        self.inner.handle.current().map(|t| t.to_string())
    }

    /// The start-up filter, as directives.
    #[must_use]
    pub fn startup(&self) -> String {
        self.inner.startup.to_string()
    }

    /// Replaces the filter with `directives`. Nothing changes when they do not parse.
    ///
    /// # Errors
    ///
    /// [`LogFilterError::Invalid`] with the parser's message, or
    /// [`LogFilterError::Gone`] once the subscriber is dropped.
    pub fn set(&self, directives: &str) -> Result<(), LogFilterError> {
        let targets = parse(directives)?;
        self.replace(targets)
    }

    /// Returns to the start-up filter.
    ///
    /// # Errors
    ///
    /// [`LogFilterError::Gone`] once the subscriber is dropped.
    pub fn reset(&self) -> Result<(), LogFilterError> {
        self.replace(self.inner.startup.clone())
    }

    /// The start-up filter.
    pub(crate) fn startup_targets(&self) -> &Targets {
        &self.inner.startup
    }

    /// Replaces the filter with `targets`.
    pub(crate) fn replace(&self, targets: Targets) -> Result<(), LogFilterError> {
        self.inner
            .handle
            .reload(targets)
            .map_err(|_| LogFilterError::Gone)
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogFilter")
            .field("startup", &self.startup())
            .field("current", &self.current())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn bad_and_empty_directives_are_refused_and_change_nothing() {
        let (layer, filter) = LogFilter::new("warn").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            assert!(matches!(
                filter.set("a=b=c"),
                Err(LogFilterError::Invalid(_))
            ));
            assert!(matches!(filter.set("  "), Err(LogFilterError::Invalid(_))));
            assert_eq!(filter.current().as_deref(), Some("warn"));
            filter.set("debug").unwrap();
            assert_eq!(filter.current().as_deref(), Some("debug"));
            assert_eq!(filter.startup(), "warn");
        });
    }

    #[test]
    fn a_dropped_subscriber_is_reported() {
        let (layer, filter) = LogFilter::new("info").unwrap();
        drop(tracing_subscriber::registry().with(layer));
        assert!(matches!(filter.set("debug"), Err(LogFilterError::Gone)));
        assert_eq!(filter.current(), None);
    }

    #[test]
    fn startup_directives_are_checked_at_build() {
        let error = LogFilter::new::<tracing_subscriber::Registry>("x=y=z").unwrap_err();
        assert_eq!(error.field(), "log_filter");
    }
}
