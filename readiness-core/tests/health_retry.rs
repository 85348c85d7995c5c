//! Retry of failing and pending checks: soon after a dependency comes up, with a
//! backoff that grows up to the interval, back on the interval once passing, and
//! off when asked. Real time with generous bounds: the delays asserted are 100 ms
//! and up, and only their lower bounds are tight (a sleep never ends early).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness_core::{checks, CheckOutcome, CheckSpec, Endpoint, Readiness, Status};
use support::{fail, get, Scripted};

const INTERVAL: Duration = Duration::from_secs(30);

/// A check that fails until `up` is set, recording when each run started.
fn dependency(up: &Arc<AtomicBool>, runs: &Arc<Mutex<Vec<Instant>>>) -> CheckSpec {
    let (up, runs) = (Arc::clone(up), Arc::clone(runs));
    checks::from_fn("db", move || {
        let up = up.load(Ordering::SeqCst);
        runs.lock().unwrap().push(Instant::now());
        async move {
            if up {
                CheckOutcome::pass()
            } else {
                CheckOutcome::fail("connection refused")
            }
        }
    })
    .interval(INTERVAL)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "no {what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_passes_soon_after_its_dependency_comes_up_then_keeps_its_interval() {
    let up = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let readiness = Readiness::builder()
        .check(dependency(&up, &runs))
        .build()
        .unwrap();
    // Failing for its first runs: /readyz fails.
    wait_for("second run", Duration::from_secs(5), || {
        runs.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 503);

    up.store(true, Ordering::SeqCst);
    let took = wait_for("pass", Duration::from_secs(5), || {
        readiness.check_status("db") == Some(Status::Pass)
    })
    .await;
    // The backoff had reached 400 ms or 800 ms, far below the 30 s interval.
    assert!(
        took < Duration::from_secs(3),
        "passed {took:?} after coming up"
    );
    assert_eq!(get(&readiness, Endpoint::Readyz, None).0, 200);

    // Passing: back on its 30 s interval, no more retries.
    let after_pass = runs.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs.lock().unwrap().len(), after_pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_failing_its_first_runs_passes_well_before_its_interval() {
    // Fails three runs, then passes: 0, 200 ms, 600 ms fail; 1.4 s passes.
    let check = Scripted::new([
        fail("no table"),
        fail("no table"),
        fail("no table"),
        support::pass(),
    ]);
    let readiness = Readiness::builder()
        .check(CheckSpec::new("items", check.clone()).interval(INTERVAL))
        .build()
        .unwrap();
    let took = wait_for("pass", Duration::from_secs(10), || {
        readiness.check_status("items") == Some(Status::Pass)
    })
    .await;
    assert_eq!(check.runs(), 4);
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_doubles_up_to_the_interval() {
    let up = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let readiness = Readiness::builder()
        .check(
            dependency(&up, &runs)
                .interval(Duration::from_millis(800))
                .timeout(Duration::from_millis(500))
                .retry_backoff(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    // Runs at 0, 0.1, 0.3, 0.7, 1.5, 2.3, 3.1 s.
    wait_for("seven runs", Duration::from_secs(10), || {
        runs.lock().unwrap().len() >= 7
    })
    .await;
    let times = runs.lock().unwrap().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let expected = [100, 200, 400, 800, 800, 800].map(Duration::from_millis);
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= want && *gap < want + Duration::from_millis(300),
            "gaps {gaps:?}, expected about {expected:?}"
        );
    }
    assert_eq!(readiness.check_status("db"), Some(Status::Fail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_starts_again_after_a_pass() {
    let up = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let _readiness = Readiness::builder()
        .check(
            dependency(&up, &runs)
                .interval(Duration::from_millis(600))
                .timeout(Duration::from_millis(500))
                .retry_backoff(Duration::from_millis(150)),
        )
        .build()
        .unwrap();
    wait_for("first run", Duration::from_secs(5), || {
        !runs.lock().unwrap().is_empty()
    })
    .await;
    // Passing: on the interval. Then it fails: retried after 150 ms, not 600 ms.
    up.store(false, Ordering::SeqCst);
    wait_for("three runs", Duration::from_secs(5), || {
        runs.lock().unwrap().len() >= 3
    })
    .await;
    let times = runs.lock().unwrap().clone();
    let interval_gap = times[1] - times[0];
    let retry_gap = times[2] - times[1];
    assert!(interval_gap >= Duration::from_millis(600), "{times:?}");
    assert!(
        retry_gap >= Duration::from_millis(150) && retry_gap < Duration::from_millis(450),
        "{retry_gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_still_apply_to_retries() {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&runs);
    let readiness = Readiness::builder()
        .check(
            checks::from_fn("hung", move || {
                recorded.lock().unwrap().push(Instant::now());
                async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    true
                }
            })
            .timeout(Duration::from_millis(200))
            .retry_backoff(Duration::from_millis(100))
            .interval(INTERVAL),
        )
        .build()
        .unwrap();
    // Runs start at 0, 0.3, 0.7 s: each ends at its timeout, then waits its delay.
    wait_for("three runs", Duration::from_secs(5), || {
        runs.lock().unwrap().len() >= 3
    })
    .await;
    let times = runs.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(300),
        "{times:?}"
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(400),
        "{times:?}"
    );
    assert_eq!(readiness.check_status("hung"), Some(Status::Fail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_keeps_a_failing_check_on_its_interval() {
    let up = Arc::new(AtomicBool::new(false));
    let (check_off, builder_off, check_on) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    // Off for one check.
    let _one = Readiness::builder()
        .check(dependency(&up, &check_off).no_retry())
        .build()
        .unwrap();
    // Off for every check, but one that sets its own.
    let _all = Readiness::builder()
        .no_retry()
        .check(dependency(&up, &builder_off))
        .check(
            dependency(&up, &check_on)
                .name("own")
                .retry_backoff(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(check_off.lock().unwrap().len(), 1);
    assert_eq!(builder_off.lock().unwrap().len(), 1);
    assert!(check_on.lock().unwrap().len() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_check_is_retried_soon_too() {
    // Below its failure threshold the check is pending, not failing: retried all
    // the same, so it reports its first status within about a second.
    let check = Scripted::new([fail("down")]);
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", check.clone())
                .interval(INTERVAL)
                .failure_threshold(3),
        )
        .build()
        .unwrap();
    wait_for("a reported status", Duration::from_secs(5), || {
        readiness.is_pending("db") == Some(false)
    })
    .await;
    assert_eq!(check.runs(), 3);
    assert_eq!(readiness.check_status("db"), Some(Status::Fail));
}
