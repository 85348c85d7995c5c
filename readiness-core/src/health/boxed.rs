//! Type erasure for mixed checks (the `axum/src/boxed.rs` pattern).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::check::{Check, CheckOutcome};
use crate::error::BoxError;

pub(crate) type CheckFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CheckOutcome, BoxError>> + Send + 'a>>;

pub(crate) trait ErasedCheck: Send + Sync + 'static {
    fn run(&self) -> CheckFuture<'_>;
}

impl<C: Check> ErasedCheck for C {
    fn run(&self) -> CheckFuture<'_> {
        Box::pin(self.check())
    }
}

/// A check of any type, shareable between the runner's tasks.
#[derive(Clone)]
pub(crate) struct BoxedCheck(Arc<dyn ErasedCheck>);

impl BoxedCheck {
    pub(crate) fn new<C: Check>(check: C) -> Self {
        Self(Arc::new(check))
    }

    pub(crate) fn run(&self) -> CheckFuture<'_> {
        self.0.run()
    }
}

impl fmt::Debug for BoxedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedCheck")
    }
}
