//! The facade's part of the log-level route: the filter the builder was given, and
//! its answers.

use super::Readiness;
use crate::endpoint::LogLevelRequest;
use crate::logging::LogFilter;

impl Readiness {
    /// Answers a request to the [log-level route](crate::endpoint#the-log-level-route):
    /// reads, sets or resets the [`LogFilter`] given to
    /// [`ReadinessBuilder::log_filter`](crate::ReadinessBuilder::log_filter), for the
    /// holder of the details token. `404` when the service gave no filter.
    ///
    /// ```
    /// use readiness_core::endpoint::LogLevelRequest;
    /// use readiness_core::Readiness;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let readiness = Readiness::builder().build()?;
    /// let response = readiness.respond_log_level(&LogLevelRequest::new("GET", b""));
    /// assert_eq!(response.status(), 404); // no filter given
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn respond_log_level(&self, request: &LogLevelRequest<'_>) -> http::Response<bytes::Bytes> {
        let answers = &self.inner.answers;
        crate::endpoint::respond_log_level(answers.log_filter.get(), answers, request)
    }

    /// The log filter given to
    /// [`ReadinessBuilder::log_filter`](crate::ReadinessBuilder::log_filter), or the
    /// one [`Setup::init`](crate::Setup::init) installed: adapters mount the
    /// log-level route when there is one.
    #[must_use]
    pub fn log_filter(&self) -> Option<&LogFilter> {
        self.inner.answers.log_filter.get()
    }

    /// Gives the readiness the filter `Setup::init` installed, unless it has one:
    /// `false` then, and the filter it has stays.
    pub(crate) fn set_log_filter(&self, filter: LogFilter) -> bool {
        self.inner.answers.log_filter.set(filter).is_ok()
    }
}
