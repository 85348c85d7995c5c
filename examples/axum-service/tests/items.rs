//! The built service's item API against its real stores: SQLite by default,
//! PostgreSQL and Redis when configured, and a database that is away.

mod support;

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

#[test]
fn items_round_trip() {
    support::items_round_trip(EXE);
}

#[test]
fn ready_within_two_seconds_of_listening() {
    support::ready_within_two_seconds_of_listening(EXE);
}

#[test]
fn a_database_away_fails_readiness_not_liveness() {
    support::a_database_away_fails_readiness_not_liveness(EXE);
}

#[test]
fn writes_are_recorded_in_a_trail_that_verifies() {
    support::writes_are_recorded_in_a_trail_that_verifies(EXE);
}

#[test]
fn strict_mode_refuses_a_write_it_cannot_record() {
    support::strict_mode_refuses_a_write_it_cannot_record(EXE);
}

#[test]
fn the_trail_can_live_in_postgres() {
    support::the_trail_can_live_in_postgres(EXE);
}

#[test]
fn an_upstream_is_checked_but_not_critical() {
    support::an_upstream_is_checked_but_not_critical(EXE);
}

#[test]
fn a_client_gone_is_a_499_under_its_route() {
    support::a_client_gone_is_a_499_under_its_route(EXE);
}
