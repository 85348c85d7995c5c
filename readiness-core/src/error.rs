//! Errors returned while building a [`Readiness`](crate::Readiness).

use std::fmt;

/// A type-erased error, as returned by checks and their clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Invalid configuration, reported by [`ReadinessBuilder::build`](crate::ReadinessBuilder::build).
///
/// The message names the offending field (for a check, as `checks[NAME].FIELD`) and
/// says what values are accepted, so it can be shown to an operator unchanged.
///
/// ```
/// use readiness_core::{checks, Readiness};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = Readiness::builder()
///     .check(checks::from_fn("db", || async { true }).timeout(Duration::ZERO))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "checks[db].timeout");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildError {
    field: String,
    message: String,
}

impl BuildError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The configuration field that was rejected, such as `service.name` or
    /// `checks[db].timeout`.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it and which values are accepted.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for BuildError {}
