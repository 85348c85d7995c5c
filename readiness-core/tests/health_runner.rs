//! The runner: timeouts, errors, panics, single-flight, probe floods, dampening,
//! startup, the manual switch and status-change events.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use readiness_core::{checks, CheckOutcome, CheckSpec, Endpoint, Probe, Readiness, Status};
use support::{fail, get, json, pass, Scripted, Step};

const LONG: Duration = Duration::from_secs(3600);

/// A check refreshed only by the test's `refresh()` calls: no interval runs, no
/// retries in the background.
fn spec(name: &str, check: &Scripted) -> CheckSpec {
    CheckSpec::new(name, check.clone())
        .interval(LONG)
        .no_retry()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_slower_than_its_timeout_fails_within_timeout_plus_50ms_and_is_dropped() {
    struct Live(Arc<AtomicUsize>);
    impl Drop for Live {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let live = Arc::new(AtomicUsize::new(0));
    let counter = live.clone();
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let readiness = Readiness::builder()
        .check(
            checks::from_fn("hung", move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let guard = Live(counter.clone());
                async move {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(guard);
                    true
                }
            })
            .timeout(timeout)
            .interval(LONG),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= timeout,
        "answered before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed <= timeout + Duration::from_millis(50),
        "took {elapsed:?}"
    );
    assert_eq!(readiness.check_status("hung"), Some(Status::Fail));
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the timed-out future was not dropped"
    );
    let (code, _, body) = get(&readiness, Endpoint::Readyz, None);
    assert_eq!(code, 503);
    assert!(body.contains("\"hung:responseTime\""), "{body}");
}

#[tokio::test]
async fn an_error_is_fail_and_its_text_stays_out_of_the_body() {
    let check = Scripted::new([Step::Error("connect to db.internal:5432 as admin failed")]);
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(spec("db", &check))
        .build()
        .unwrap();
    readiness.refresh().await;
    let (code, _, body) = get(&readiness, Endpoint::Check("db"), None);
    assert_eq!(code, 503);
    let body = json(&body);
    assert_eq!(
        body["checks"]["db:responseTime"][0]["output"],
        "check returned an error"
    );
    assert!(!body.to_string().contains("db.internal"));
}

#[tokio::test]
async fn a_panicking_check_is_fail_and_the_next_refresh_runs_normally() {
    let check = Scripted::new([Step::Panic, pass()]);
    let readiness = Readiness::builder()
        .check(spec("flaky", &check))
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("flaky"), Some(Status::Fail));
    readiness.refresh().await;
    assert_eq!(readiness.check_status("flaky"), Some(Status::Pass));
    assert_eq!(check.runs(), 2);
}

#[tokio::test]
async fn a_panicking_check_keeps_being_refreshed_in_the_background() {
    let check = Scripted::new([Step::Panic, Step::Panic, pass()]);
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("flaky", check.clone())
                .interval(Duration::from_millis(20))
                .timeout(Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness.check_status("flaky") != Some(Status::Pass) {
        assert!(
            Instant::now() < deadline,
            "the runner stopped after a panic"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(check.runs() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_probes_cause_no_check_runs() {
    let check = Scripted::new([pass()]);
    let readiness = Readiness::builder()
        .check(spec("db", &check))
        .build()
        .unwrap();
    readiness.refresh().await;
    // refresh() shares the background task's first run (started by build) while it
    // is under way; one that already finished (the task ran on the other worker
    // first) is run again. Either way no more than those two.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = check.runs();
    assert!(
        (1..=2).contains(&before),
        "build and refresh ran the check {before} times"
    );

    let probes: Vec<_> = (0..1000)
        .map(|i| {
            let readiness = readiness.clone();
            tokio::spawn(async move {
                let endpoint = match i % 4 {
                    0 => Endpoint::Readyz,
                    1 => Endpoint::Livez,
                    2 => Endpoint::Health,
                    _ => Endpoint::Check("db"),
                };
                get(&readiness, endpoint, None).0
            })
        })
        .collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap(), 200);
    }
    assert_eq!(check.runs(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_check_never_overlap() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let (f, m, r) = (in_flight.clone(), most.clone(), runs.clone());
    let readiness = Readiness::builder()
        .check(
            checks::from_fn("slow", move || {
                let (f, m, r) = (f.clone(), m.clone(), r.clone());
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                }
            })
            .interval(LONG),
        )
        .build()
        .unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let readiness = readiness.clone();
            tokio::spawn(async move { readiness.refresh().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two runs of one check overlapped"
    );
    assert!(
        runs.load(Ordering::SeqCst) < 20,
        "waiting callers should share a run"
    );
}

#[tokio::test]
async fn checks_run_concurrently_so_latency_is_not_their_sum() {
    let mut builder = Readiness::builder();
    for i in 0..5 {
        builder = builder.check(
            checks::from_fn(format!("slow-{i}"), || async {
                tokio::time::sleep(Duration::from_millis(100)).await;
            })
            .interval(LONG),
        );
    }
    let readiness = builder.build().unwrap();
    let started = Instant::now();
    readiness.refresh().await;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(readiness.status(Probe::Readiness), Status::Pass);
}

#[tokio::test]
async fn criticality_decides_between_warn_and_fail() {
    let critical = Scripted::new([fail("down")]);
    let optional = Scripted::new([fail("down")]);
    let readiness = Readiness::builder()
        .check(spec("optional", &optional).non_critical())
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Readiness), Status::Warn);
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 200);
    // Its own endpoint reports its own status.
    assert_eq!(get(&readiness, Endpoint::Check("optional"), None).0, 503);

    let readiness = Readiness::builder()
        .check(spec("critical", &critical))
        .check(spec("optional", &optional).non_critical())
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Readiness), Status::Fail);
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 503);
}

#[tokio::test]
async fn a_pass_slower_than_warn_above_is_warn() {
    let check = Scripted::new([Step::Sleep(Duration::from_millis(40))]);
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(spec("slow", &check).warn_above(Duration::from_millis(10)))
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("slow"), Some(Status::Warn));
    let body = json(&get(&readiness, Endpoint::Health, None).2);
    let output = body["checks"]["slow:responseTime"][0]["output"]
        .as_str()
        .unwrap();
    assert!(output.starts_with("slow: "), "{output}");
    assert!(
        body["checks"]["slow:responseTime"][0]["observedValue"]
            .as_f64()
            .unwrap()
            >= 40.0
    );
}

#[tokio::test]
async fn failure_and_success_thresholds_dampen_flapping() {
    let check = Scripted::new([pass(), fail("x"), fail("x"), fail("x"), pass(), pass()]);
    let readiness = Readiness::builder()
        .check(
            spec("flappy", &check)
                .failure_threshold(3)
                .success_threshold(2),
        )
        .build()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        readiness.refresh().await;
        seen.push(readiness.check_status("flappy").unwrap());
    }
    use Status::{Fail, Pass};
    assert_eq!(seen, [Pass, Pass, Pass, Fail, Fail, Pass]);
}

#[tokio::test]
async fn startup_holds_until_every_critical_check_passed_once_then_latches() {
    let db = Scripted::new([fail("down"), pass(), fail("down")]);
    let optional = Scripted::new([fail("down")]);
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(spec("db", &db))
        .check(spec("optional", &optional).non_critical())
        .build()
        .unwrap();
    readiness.refresh().await;
    let (code, _, body) = get(&readiness, Endpoint::Startupz, None);
    assert_eq!(code, 503);
    assert!(json(&body)["output"]
        .as_str()
        .unwrap()
        .starts_with("starting"));
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 503);
    assert_eq!(get(&readiness, Endpoint::Livez, None).0, 200);

    readiness.refresh().await; // db passes; the optional check never needs to
    assert_eq!(get(&readiness, Endpoint::Startupz, None).0, 200);
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 200);

    readiness.refresh().await; // db fails again: not ready, but started for good
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 503);
    assert_eq!(get(&readiness, Endpoint::Startupz, None).0, 200);
}

#[tokio::test]
async fn startup_checks_hold_startupz_and_readyz() {
    let warm = Scripted::new([fail("cold"), pass()]);
    let readiness = Readiness::builder()
        .check(spec("warm", &warm).startup_only())
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Startup), Status::Fail);
    assert_eq!(readiness.status(Probe::Readiness), Status::Fail);
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Startup), Status::Pass);
    assert_eq!(readiness.status(Probe::Readiness), Status::Pass);
}

#[tokio::test]
async fn liveness_only_sees_liveness_checks() {
    let db = Scripted::new([fail("down")]);
    let heap = Scripted::new([pass()]);
    let readiness = Readiness::builder()
        .check(spec("db", &db))
        .check(spec("heap", &heap).liveness_only())
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Liveness), Status::Pass);
    assert_eq!(readiness.status(Probe::Readiness), Status::Fail);
    let live = json(&get(&readiness, Endpoint::Livez, None).2);
    assert!(live["checks"].get("db:responseTime").is_none());
    assert!(live["checks"].get("heap:responseTime").is_some());
}

#[tokio::test]
async fn the_manual_switch_fails_readiness_only() {
    let readiness = Readiness::builder()
        .details(readiness_core::Details::Full)
        .check(spec("ok", &Scripted::new([pass()])))
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness.mark_unready("shutting down");
    let (code, _, body) = get(&readiness, Endpoint::Readyz, None);
    assert_eq!(code, 503);
    assert_eq!(json(&body)["output"], "not ready: shutting down");
    assert_eq!(get(&readiness, Endpoint::Livez, None).0, 200);
    readiness.mark_ready();
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 200);
}

#[tokio::test]
async fn without_checks_every_probe_passes() {
    let readiness = Readiness::builder().build().unwrap();
    for endpoint in [
        Endpoint::Livez,
        Endpoint::Readyz,
        Endpoint::Startupz,
        Endpoint::Health,
    ] {
        assert_eq!(get(&readiness, endpoint, None).0, 200, "{endpoint:?}");
    }
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_background_refresh() {
    let check = Scripted::new([pass()]);
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", check.clone())
                .interval(Duration::from_millis(10))
                .timeout(Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(readiness);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after_drop = check.runs();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(check.runs(), after_drop);
}

#[tokio::test]
async fn outcomes_from_closures_convert() {
    let readiness = Readiness::builder()
        .check(checks::from_fn("unit", || async {}).interval(LONG))
        .check(checks::from_fn("bool", || async { false }).interval(LONG))
        .check(checks::from_fn("status", || async { Status::Warn }).interval(LONG))
        .check(
            checks::from_fn("result", || async {
                Err::<CheckOutcome, _>(std::io::Error::other("nope"))
            })
            .interval(LONG),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.check_status("unit"), Some(Status::Pass));
    assert_eq!(readiness.check_status("bool"), Some(Status::Fail));
    assert_eq!(readiness.check_status("status"), Some(Status::Warn));
    assert_eq!(readiness.check_status("result"), Some(Status::Fail));
    assert_eq!(readiness.check_status("missing"), None);
}

#[tokio::test]
async fn the_failure_threshold_holds_from_the_first_run() {
    let check = Scripted::new([fail("down")]);
    let readiness = Readiness::builder()
        .check(spec("heap", &check).liveness_only().failure_threshold(3))
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness.refresh().await;
    // Pending: not passed (so `fail` for itself), but no reason to restart, so
    // /livez still answers 200 ...
    assert_eq!(readiness.is_pending("heap"), Some(true));
    assert_eq!(readiness.check_status("heap"), Some(Status::Fail));
    assert_eq!(get(&readiness, Endpoint::Livez, None).0, 200);
    assert_eq!(get(&readiness, Endpoint::Check("heap"), None).0, 503);
    readiness.refresh().await;
    // ... until the third consecutive failure.
    assert_eq!(readiness.check_status("heap"), Some(Status::Fail));
    assert_eq!(get(&readiness, Endpoint::Livez, None).0, 503);
}

#[tokio::test]
async fn a_pending_check_does_not_open_the_startup_latch() {
    let check = Scripted::new([fail("down"), fail("down"), pass()]);
    let readiness = Readiness::builder()
        .check(spec("db", &check).failure_threshold(3))
        .build()
        .unwrap();
    readiness.refresh().await;
    assert_eq!(readiness.is_pending("db"), Some(true));
    assert_eq!(readiness.check_status("db"), Some(Status::Fail));
    assert_eq!(readiness.status(Probe::Startup), Status::Fail);
    readiness.refresh().await;
    readiness.refresh().await;
    assert_eq!(readiness.status(Probe::Startup), Status::Pass);
}

#[tokio::test]
async fn a_panic_while_the_check_makes_its_future_is_caught_too() {
    use std::future::Future;
    struct Eager(Arc<AtomicUsize>);
    impl readiness_core::Check for Eager {
        fn check(
            &self,
        ) -> impl Future<Output = Result<CheckOutcome, readiness_core::BoxError>> + Send {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("eager panic before any future exists");
            }
            async { Ok(CheckOutcome::pass()) }
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("eager", Eager(calls.clone()))
                .interval(Duration::from_millis(20))
                .timeout(Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness.check_status("eager") != Some(Status::Pass) {
        assert!(
            Instant::now() < deadline,
            "the background refresh died with the panic"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(calls.load(Ordering::SeqCst) >= 2);
}
