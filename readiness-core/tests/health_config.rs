//! Bad input fails at build time with an error naming the field.

use std::time::Duration;

use readiness_core::{checks, BuildError, CheckSpec, Probe, Readiness};

fn ok() -> CheckSpec {
    checks::from_fn("ok", || async { true })
}

fn build_with(spec: CheckSpec) -> BuildError {
    Readiness::builder().check(spec).build().unwrap_err()
}

#[tokio::test]
async fn invalid_names_are_rejected() {
    for name in [
        "",
        "DB",
        "my db",
        "-db",
        "_db",
        "db/1",
        "dé",
        &"a".repeat(65),
    ] {
        let err = build_with(ok().name(name));
        assert_eq!(err.field(), format!("checks[{name}].name"));
        assert!(
            err.message().contains("lowercase letters, digits")
                || err.message().contains("characters long"),
            "{err}"
        );
    }
    for name in ["db", "db-1", "db_primary", "1db", &"a".repeat(64)] {
        Readiness::builder().check(ok().name(name)).build().unwrap();
    }
}

#[tokio::test]
async fn duplicate_names_are_rejected_naming_the_check() {
    let err = Readiness::builder()
        .check(ok().name("db"))
        .check(ok().name("db"))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "checks[db].name");
    assert_eq!(
        err.to_string(),
        "invalid `checks[db].name`: duplicate check name \"db\": names must be unique"
    );
}

#[tokio::test]
async fn zero_or_absurd_timings_are_rejected() {
    let cases = [
        (
            ok().timeout(Duration::ZERO),
            "checks[ok].timeout",
            "between 1 ms and 5 min",
        ),
        (
            ok().timeout(Duration::from_secs(86_400))
                .interval(Duration::from_secs(86_400)),
            "checks[ok].timeout",
            "between 1 ms and 5 min",
        ),
        (
            ok().interval(Duration::ZERO),
            "checks[ok].interval",
            "between 10 ms and 24 h",
        ),
        (
            ok().interval(Duration::from_secs(400 * 86_400)),
            "checks[ok].interval",
            "between 10 ms and 24 h",
        ),
        (
            ok().timeout(Duration::from_secs(20)),
            "checks[ok].timeout",
            "must not exceed the interval",
        ),
        (
            ok().warn_above(Duration::from_secs(2)),
            "checks[ok].warn_above",
            "below the timeout",
        ),
        (
            ok().warn_above(Duration::ZERO),
            "checks[ok].warn_above",
            "above zero",
        ),
        (
            ok().failure_threshold(0),
            "checks[ok].failure_threshold",
            "between 1 and 100",
        ),
        (
            ok().success_threshold(1000),
            "checks[ok].success_threshold",
            "between 1 and 100",
        ),
        (
            ok().tag("Not A Tag"),
            "checks[ok].tags",
            "lowercase letters",
        ),
        (
            ok().retry_backoff(Duration::ZERO),
            "checks[ok].retry",
            "between 10 ms and 24 h",
        ),
        (
            ok().retry_backoff(Duration::from_secs(400 * 86_400)),
            "checks[ok].retry",
            "between 10 ms and 24 h",
        ),
        (ok().probes([]), "checks[ok].probes", "at least one probe"),
    ];
    for (spec, field, message) in cases {
        let err = build_with(spec);
        assert_eq!(err.field(), field, "{err}");
        assert!(err.message().contains(message), "{err}");
    }
}

#[tokio::test]
async fn service_fields_and_token_are_validated() {
    let err = Readiness::builder().service("", "1").build().unwrap_err();
    assert_eq!(err.field(), "service.name");
    let err = Readiness::builder()
        .service("orders", "1\n2")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "service.version");
    let err = Readiness::builder()
        .details_token("short")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "details_token");
    let err = Readiness::builder()
        .details_token("has a space in it, sadly")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "details_token");
}

#[cfg(feature = "system")]
#[tokio::test]
async fn system_check_thresholds_are_validated() {
    let err = build_with(checks::disk_free_percent("/", 5.0, 10.0));
    assert_eq!(err.field(), "checks[disk].warn");
    assert!(
        err.message().contains("at least the fail threshold"),
        "{err}"
    );
    let err = build_with(checks::memory_used_percent(95.0, 85.0));
    assert_eq!(err.field(), "checks[memory].warn");
    let err = build_with(checks::cpu_used_percent(80.0, 120.0));
    assert_eq!(err.field(), "checks[cpu].fail");
    assert!(err.message().contains("percentage from 0 to 100"), "{err}");
}

#[test]
fn building_checks_outside_a_runtime_is_an_error() {
    let err = Readiness::builder().check(ok()).build().unwrap_err();
    assert_eq!(err.field(), "runtime");
    assert!(err.message().contains("inside a Tokio runtime"), "{err}");
    // With no checks there is nothing to run in the background.
    Readiness::builder().build().unwrap();
}

#[test]
fn debug_never_shows_the_token() {
    let builder = Readiness::builder().details_token("operator-token-0123456789");
    assert!(!format!("{builder:?}").contains("operator-token"));
    let readiness = builder.build().unwrap();
    assert!(!format!("{readiness:?}").contains("operator-token"));
}

#[tokio::test]
async fn the_builders_retry_is_validated_too() {
    let err = Readiness::builder()
        .retry_backoff(Duration::from_millis(1))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "retry");
    assert!(err.message().contains("between 10 ms and 24 h"), "{err}");
}

#[test]
fn also_adds_a_probe_and_only_replaces_them() {
    let probes = |spec: &CheckSpec| {
        [Probe::Liveness, Probe::Readiness, Probe::Startup].map(|p| spec.has_probe(p))
    };
    assert_eq!(probes(&ok()), [false, true, false]);
    assert_eq!(probes(&ok().also_liveness()), [true, true, false]);
    assert_eq!(
        probes(&ok().also_liveness().also_startup()),
        [true, true, true]
    );
    assert_eq!(probes(&ok().add_probe(Probe::Startup)), [false, true, true]);
    assert_eq!(probes(&ok().liveness_only()), [true, false, false]);
    assert_eq!(probes(&ok().startup_only()), [false, false, true]);
    assert_eq!(
        probes(&ok().liveness_only().add_probe(Probe::Readiness)),
        [true, true, false]
    );
    assert_eq!(
        probes(&ok().also_liveness().probes([Probe::Startup])),
        [false, false, true]
    );
    // The deprecated names keep their old meaning: the first replaces, the rest add.
    #[allow(deprecated)]
    {
        assert_eq!(probes(&ok().liveness()), [true, false, false]);
        assert_eq!(probes(&ok().liveness().readiness()), [true, true, false]);
        assert_eq!(probes(&ok().startup()), [false, false, true]);
        assert_eq!(probes(&ok().probe(Probe::Readiness)), [false, true, false]);
    }
}
