//! How a shutdown went: its trigger, the requests cut, and each hook's report.

use std::time::Duration;

/// How a shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// What started it: `SIGTERM`, `SIGINT`, the reason given to the handle, or
    /// `server stopped` when the server ended on its own.
    pub trigger: String,
    /// Requests still running at the drain timeout, cut.
    pub cut: u64,
    /// Each hook, in the order it ran.
    pub hooks: Vec<HookReport>,
    /// From the trigger to the end.
    pub took: Duration,
}

/// What one hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookReport {
    /// The name it was added with.
    pub name: String,
    /// How it ended.
    pub result: HookResult,
    /// How long it ran.
    pub took: Duration,
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookResult {
    /// It returned `Ok`.
    Done,
    /// It returned an error, or panicked.
    Failed(String),
    /// It ran past its timeout (or the hooks timeout) and was left behind.
    TimedOut,
    /// The hooks timeout was used up before its turn.
    Skipped,
}

impl HookResult {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed(_) => "failed",
            Self::TimedOut => "timed_out",
            Self::Skipped => "skipped",
        }
    }
}

impl ShutdownOutcome {
    /// Whether nothing was cut and every hook finished.
    #[must_use]
    pub fn clean(&self) -> bool {
        self.cut == 0
            && self.trigger != SERVER_STOPPED
            && self.hooks.iter().all(|h| h.result == HookResult::Done)
    }

    /// `0` for a clean shutdown, else `1`: for `std::process::exit`.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.clean())
    }
}

pub(super) const SERVER_STOPPED: &str = "server stopped";
