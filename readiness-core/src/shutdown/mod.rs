//! Graceful shutdown in the order Kubernetes expects of a pod that is told to stop.
//!
//! 1. **At once**, on SIGTERM or SIGINT (or [`ShutdownHandle::trigger`]): readiness
//!    fails (`/readyz` answers 503, "shutting down"); liveness stays as it was.
//! 2. **Drain delay** (default 5 s): the server goes on serving while load balancers and
//!    the endpoints controller notice that the pod is no longer ready.
//! 3. **Drain**: new connections are refused, idle keep-alive connections are closed,
//!    requests in flight finish, up to the drain timeout (default 15 s); those still
//!    running then are counted, logged and cut. Connections a handler took over
//!    (WebSockets) are not drained by the server: their handlers await
//!    [`Readiness::draining`](crate::Readiness::draining), which resolves as this
//!    phase starts, and close them.
//! 4. **Hooks**, in the order they were added, each within its own timeout and all
//!    within the hooks timeout (default 5 s): a hook that fails, panics or hangs is
//!    logged and the next one runs. The log writer is flushed last of all.
//!
//! Each step is a `system` log line (target `readiness::shutdown`, a `phase` field,
//! `duration_ms`), and [`ShutdownOutcome::exit_code`] says whether it was clean. A
//! second signal ends the process at once. The framework adapters drive the server:
//! `readiness_axum::serve` and `readiness_actix::run`.
//!
//! ```
//! use std::time::Duration;
//! use readiness_core::Readiness;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
//! let shutdown = readiness.shutdown()
//!     .drain_delay(Duration::from_secs(5))
//!     .hook("close the pool", Duration::from_secs(2), || async { Ok(()) })
//!     .build()?;
//! let handle = shutdown.handle(); // for tests and embedding; signals work too
//! # drop((shutdown, handle));
//! # Ok(()) }
//! ```

mod builder;
mod coordinator;
mod handle;
mod hook;
mod outcome;
mod server;
mod signal;

pub use builder::ShutdownBuilder;
pub use coordinator::Shutdown;
pub use handle::ShutdownHandle;
pub use outcome::{HookReport, HookResult, ShutdownOutcome};
pub use server::Server;

use std::time::Duration;

const TARGET: &str = "readiness::shutdown";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
