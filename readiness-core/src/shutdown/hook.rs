//! Hooks: what runs after the drain, each within its own timeout and all within the
//! hooks timeout.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::coordinator::Shutdown;
use super::outcome::{HookReport, HookResult};
use super::{millis, TARGET};
use crate::error::BoxError;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

pub(super) struct Hook {
    pub(super) name: String,
    pub(super) timeout: Duration,
    pub(super) run: Box<dyn FnOnce() -> HookFuture + Send>,
}

impl Shutdown {
    pub(super) async fn run_hooks(&mut self) -> Vec<HookReport> {
        let started = Instant::now();
        let deadline = started + self.hooks_timeout;
        let mut reports = Vec::with_capacity(self.hooks.len());
        for hook in self.hooks.drain(..) {
            let began = Instant::now();
            let limit = hook.timeout.min(deadline.saturating_duration_since(began));
            let result = if limit.is_zero() {
                HookResult::Skipped
            } else {
                let mut task = tokio::spawn((hook.run)());
                match tokio::time::timeout(limit, &mut task).await {
                    Ok(Ok(Ok(()))) => HookResult::Done,
                    Ok(Ok(Err(error))) => HookResult::Failed(describe(&*error)),
                    Ok(Err(join)) => HookResult::Failed(if join.is_panic() {
                        "panicked".to_owned()
                    } else {
                        join.to_string()
                    }),
                    Err(_) => {
                        task.abort();
                        HookResult::TimedOut
                    }
                }
            };
            let took = began.elapsed();
            if result == HookResult::Done {
                tracing::info!(target: TARGET, category = "system", hook = %hook.name, result = result.as_str(), duration_ms = millis(took), "shutdown hook done");
            } else {
                let error = match &result {
                    HookResult::Failed(error) => error.as_str(),
                    _ => "",
                };
                tracing::warn!(target: TARGET, category = "system", hook = %hook.name, result = result.as_str(), error, duration_ms = millis(took), timeout_ms = millis(limit), "shutdown hook did not finish");
            }
            reports.push(HookReport {
                name: hook.name,
                result,
                took,
            });
        }
        let failed = reports
            .iter()
            .filter(|r| r.result != HookResult::Done)
            .count();
        tracing::info!(
            target: TARGET,
            category = "system",
            phase = "hooks_done",
            duration_ms = millis(started.elapsed()),
            hooks = reports.len(),
            failed,
            "shutdown hooks done"
        );
        reports
    }
}

/// An error and its sources, as one line: `closing the pool: connection reset`.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        // Many errors repeat their source in their own message already.
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
