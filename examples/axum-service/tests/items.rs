//! The built service's item API against its real stores: SQLite by default,
//! PostgreSQL and Redis when configured, and a database that is away.

#[path = "../../support/mod.rs"]
mod support;

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

#[test]
fn items_round_trip() {
    support::items_round_trip(EXE);
}

#[test]
fn a_database_away_fails_readiness_not_liveness() {
    support::a_database_away_fails_readiness_not_liveness(EXE);
}
