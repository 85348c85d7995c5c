//! Status changes are logged once each. In a test binary of its own: a subscriber
//! set for one thread must not share callsites with tests on other threads.

mod support;

use std::time::Duration;

use readiness_core::{CheckSpec, Readiness};
use support::{fail, pass, Scripted};

fn spec(name: &str, check: &Scripted) -> CheckSpec {
    CheckSpec::new(name, check.clone()).interval(Duration::from_secs(3600))
}

#[tokio::test]
async fn every_status_change_is_logged_once() {
    let (sink, _guard) = support::capture_logs();

    let check = Scripted::new([pass(), pass(), fail("x"), fail("x"), pass(), pass()]);
    let readiness = Readiness::builder()
        .check(spec("db", &check))
        .build()
        .unwrap();
    for _ in 0..6 {
        readiness.refresh().await;
    }
    let log = sink.text();
    let changes = log.matches("health check status changed").count();
    assert_eq!(changes, 3, "unknown->pass, pass->fail, fail->pass:\n{log}");
    let whole = log.matches("service health changed").count();
    assert_eq!(whole, 3, "warn->pass, pass->fail, fail->pass:\n{log}");
    assert_eq!(log.matches("startup complete").count(), 1, "{log}");
}
