//! The operations kit of the built service: the names its rules and dashboard
//! select are in its real scrape, and a real Prometheus server evaluates the rules
//! against it.

mod support;

const EXE: &str = env!("CARGO_BIN_EXE_actix-web-service");

#[test]
fn the_ops_kit_selects_only_series_the_service_emits() {
    support::the_ops_kit_selects_only_series_the_service_emits(EXE);
}

#[test]
fn prometheus_evaluates_the_kit_against_the_running_service() {
    support::prometheus_evaluates_the_kit_against_the_running_service(EXE, "actix-service");
}

#[test]
fn the_kit_manifests_validate_and_match_the_service() {
    support::the_kit_manifests_validate_and_match_the_service(EXE);
}

#[test]
fn prometheus_stores_exemplars_that_lead_to_exported_traces() {
    support::prometheus_stores_exemplars_that_lead_to_exported_traces(EXE, "actix-service");
}
