//! Helpers shared by the tests that drive both adapters.
#![allow(dead_code, unreachable_pub)]

// One log capture and one OTLP receiver for every suite: the core's own.
#[path = "../../../readiness-core/tests/support/capture.rs"]
mod capture;
#[cfg(feature = "otel")]
#[path = "../../../readiness-core/tests/support/otlp.rs"]
pub mod otlp;

pub use capture::Capture;
