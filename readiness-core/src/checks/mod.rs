//! Ready-made checks, and closures as checks.
//!
//! Every constructor returns a [`CheckSpec`](crate::CheckSpec) with a default name,
//! ready for the usual settings (`.name()`, `.liveness()`, `.timeout()`, ...).
//!
//! | check | constructor | feature |
//! |---|---|---|
//! | a closure | [`from_fn`] | always |
//! | free disk space | `disk_free_percent` | `system` (default) |
//! | memory use | `memory_used_percent` | `system` (default) |
//! | CPU use | `cpu_used_percent` | `system` (default) |
//!
//! # Default
//!
//! ```
//! use readiness_core::{checks, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder()
//!     .check(checks::from_fn("cache", || async { true }))
//!     .build()?;
//! # let _ = readiness;
//! # Ok(()) }
//! ```
//!
//! # Customized
//!
//! ```
//! # #[cfg(feature = "system")] {
//! use readiness_core::{checks, Readiness};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! let readiness = Readiness::builder()
//!     .check(checks::disk_free_percent("/", 20.0, 10.0).name("root-disk").liveness())
//!     .check(checks::memory_used_percent(85.0, 95.0).non_critical())
//!     .build()
//!     .unwrap();
//! # let _ = readiness;
//! # });
//! # }
//! ```

mod from_fn;
#[cfg(feature = "system")]
mod system;

pub use from_fn::{from_fn, FromFn};
#[cfg(feature = "system")]
#[cfg_attr(docsrs, doc(cfg(feature = "system")))]
pub use system::{cpu_used_percent, disk_free_percent, memory_used_percent};
