use std::fmt;
use std::future::Future;

use crate::error::BoxError;
use crate::health::{Check, CheckOutcome, CheckSpec, IntoOutcome};

/// A check from an async closure. See [`from_fn`].
pub struct FromFn<F> {
    f: F,
}

/// A check named `name` that calls `f` on every run.
///
/// The closure's future may return a [`CheckOutcome`](crate::CheckOutcome), a
/// [`Status`](crate::Status), a `bool` (`true` is pass), `()` (pass), or a `Result` of
/// any of these. An `Err` is recorded as `fail`, its message logged, not shown.
///
/// ```
/// use readiness_core::{checks, CheckOutcome};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let warmed_up = Arc::new(AtomicBool::new(false));
/// let flag = warmed_up.clone();
/// let cache = checks::from_fn("cache-warm", move || {
///     let flag = flag.clone();
///     async move {
///         if flag.load(Ordering::Relaxed) {
///             CheckOutcome::pass()
///         } else {
///             CheckOutcome::fail("cache not loaded yet")
///         }
///     }
/// })
/// .startup_only();
/// # let _ = cache;
/// ```
pub fn from_fn<F, Fut>(name: impl Into<String>, f: F) -> CheckSpec
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoOutcome,
{
    CheckSpec::new(name, FromFn { f })
}

impl<F, Fut> Check for FromFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoOutcome,
{
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        (self.f)().await.into_outcome()
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
    }
}
