//! Helpers for this example's tests, which run the built service as a child
//! process and talk to it over real sockets (`mod support;` in each test file).
//! The standard library, the example's own dependencies and, for the h2c client of
//! `h2_websockets.rs`, `h2`, `http` and tokio's `net` (dev-dependencies of both
//! examples): copied out of this repository with its example, the tests build and
//! run there as they do here. Both examples carry the same folder (`.ci/run`
//! checks they are identical): edit one, copy it to the other.

#![allow(dead_code)]

mod audit;
mod backends;
mod canary;
mod client;
mod client_gone;
mod h2_websockets;
mod items;
mod kubernetes;
mod load;
mod metrics;
mod ops_kit;
mod otlp;
mod process_life;
mod prometheus;
mod service;
mod shutdown;
mod startup;

// Each test binary calls some of these and not the others (as `dead_code` above
// allows for the items themselves).
#[allow(unused_imports)]
pub use audit::{
    audit_verify, strict_mode_refuses_a_write_it_cannot_record, the_trail_can_live_in_postgres,
    writes_are_recorded_in_a_trail_that_verifies,
};
#[allow(unused_imports)]
pub use canary::no_secret_reaches_an_output;
#[allow(unused_imports)]
pub use client::{request, KeepAlive, Outcome, Record};
#[allow(unused_imports)]
pub use client_gone::a_client_gone_is_a_499_under_its_route;
#[allow(unused_imports)]
pub use h2_websockets::h1_h2c_and_websockets_drain_without_errors;
#[allow(unused_imports)]
pub use items::{
    a_database_away_fails_readiness_not_liveness, an_upstream_is_checked_but_not_critical,
    items_round_trip,
};
#[allow(unused_imports)]
pub use kubernetes::the_kit_manifests_validate_and_match_the_service;
#[allow(unused_imports)]
pub use load::{poll_readyz, Load};
#[allow(unused_imports)]
pub use metrics::metric_names;
#[allow(unused_imports)]
pub use ops_kit::{the_ops_kit_selects_only_series_the_service_emits, write_ops_kit};
#[allow(unused_imports)]
pub use otlp::{exports_spans_when_an_endpoint_is_set, OtlpSink};
#[allow(unused_imports)]
pub use process_life::{as_pid_one, stdout_nobody_reads};
#[allow(unused_imports)]
pub use prometheus::{
    prometheus_evaluates_the_kit_against_the_running_service,
    prometheus_stores_exemplars_that_lead_to_exported_traces,
};
#[allow(unused_imports)]
pub use service::{json, temp_file, Service};
#[allow(unused_imports)]
pub use shutdown::{
    a_request_past_the_deadline_is_reported, a_second_signal_exits_at_once, drains_under_load,
    drains_under_load_of, idle_connections_do_not_hold_shutdown,
};
#[allow(unused_imports)]
pub use startup::ready_within_two_seconds_of_listening;
