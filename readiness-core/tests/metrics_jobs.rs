//! Background job metrics: every series at zero from `Readiness::job`, runs timed
//! with their outcome, a run that never says how it ended counted as a failure, the
//! queue depth, names validated, the namespace respected.

#[path = "support/openmetrics.rs"]
mod openmetrics;

use std::time::Duration;

use readiness_core::Readiness;

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

fn runs(text: &str, outcome: &str) -> Option<f64> {
    value(
        text,
        &format!(r#"job_runs_total{{operation="export",outcome="{outcome}"}}"#),
    )
}

const COUNT: &str = r#"job_duration_seconds_count{operation="export"}"#;
const SUM: &str = r#"job_duration_seconds_sum{operation="export"}"#;
const DEPTH: &str = r#"job_queue_depth{operation="export"}"#;

#[test]
fn every_series_exists_at_zero_before_the_first_run() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let text = scrape(&readiness);
    assert!(
        !text.contains("job_"),
        "no job asked for, no series: {text}"
    );
    let _export = readiness.job("export").unwrap();
    let text = scrape(&readiness);
    assert_eq!(runs(&text, "success"), Some(0.0), "{text}");
    assert_eq!(runs(&text, "failure"), Some(0.0), "{text}");
    assert_eq!(value(&text, COUNT), Some(0.0), "{text}");
    assert_eq!(value(&text, SUM), Some(0.0), "{text}");
    assert_eq!(
        value(
            &text,
            r#"job_duration_seconds_bucket{operation="export",le="3600"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(value(&text, DEPTH), Some(0.0), "{text}");
    assert!(text.contains("# TYPE job_duration_seconds histogram"));
    assert!(text.contains("# TYPE job_runs_total counter"));
    assert!(text.contains("# TYPE job_queue_depth gauge"));
}

#[tokio::test]
async fn a_run_is_recorded_with_its_outcome_and_duration() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let export = readiness.job("export").unwrap();
    let rows = export
        .run(async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            Ok::<_, String>(12)
        })
        .await;
    assert_eq!(rows, Ok(12));
    let text = scrape(&readiness);
    assert_eq!(runs(&text, "success"), Some(1.0), "{text}");
    assert_eq!(runs(&text, "failure"), Some(0.0), "{text}");
    assert_eq!(value(&text, COUNT), Some(1.0), "{text}");
    let sum = value(&text, SUM).unwrap();
    assert!((0.06..5.0).contains(&sum), "{sum}");
    // 60 ms: above the 0.05 s bucket, within the 0.1 s one.
    let bucket = |le: &str| {
        value(
            &text,
            &format!(r#"job_duration_seconds_bucket{{operation="export",le="{le}"}}"#),
        )
    };
    assert_eq!(bucket("0.05"), Some(0.0), "{text}");
    assert_eq!(bucket("+Inf"), Some(1.0), "{text}");

    let failed = export.run(async { Err::<(), _>("disk full") }).await;
    assert_eq!(failed, Err("disk full"));
    export.start().success();
    export.record(Duration::from_secs(2), false);
    let run = export.start();
    assert!(run.elapsed() < Duration::from_secs(5));
    run.finish(true);
    let text = scrape(&readiness);
    assert_eq!(runs(&text, "success"), Some(3.0), "{text}");
    assert_eq!(runs(&text, "failure"), Some(2.0), "{text}");
    assert_eq!(value(&text, COUNT), Some(5.0), "{text}");
    assert!(value(&text, SUM).unwrap() >= 2.06);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_never_ends_well_is_a_failure() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let export = readiness.job("export").unwrap();
    // A guard dropped without an outcome.
    drop(export.start());
    assert_eq!(runs(&scrape(&readiness), "failure"), Some(1.0));
    // A job cancelled part-way (its future dropped by a timeout).
    let slow = export.run(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<(), ()>(())
    });
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    assert_eq!(runs(&scrape(&readiness), "failure"), Some(2.0));
    // A job that panics in its task.
    let task = tokio::spawn({
        let export = export.clone();
        async move {
            export
                .run(async {
                    if std::hint::black_box(true) {
                        panic!("the job panicked");
                    }
                    Ok::<(), ()>(())
                })
                .await
        }
    });
    assert!(task.await.unwrap_err().is_panic());
    let text = scrape(&readiness);
    assert_eq!(runs(&text, "failure"), Some(3.0), "{text}");
    assert_eq!(runs(&text, "success"), Some(0.0), "{text}");
    assert_eq!(value(&text, COUNT), Some(3.0), "{text}");
}

#[test]
fn the_queue_depth_is_set_or_counted() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let export = readiness.job("export").unwrap();
    export.set_queue_depth(7);
    assert_eq!(value(&scrape(&readiness), DEPTH), Some(7.0));
    export.queue_depth().inc();
    export.queue_depth().dec();
    export.queue_depth().dec();
    assert_eq!(value(&scrape(&readiness), DEPTH), Some(6.0));
    export.set_queue_depth(usize::MAX); // saturates, no panic
    assert_eq!(value(&scrape(&readiness), DEPTH), Some(i64::MAX as f64));
    // The same name, the same series.
    readiness.job("export").unwrap().set_queue_depth(0);
    assert_eq!(value(&scrape(&readiness), DEPTH), Some(0.0));
}

#[test]
fn bad_operation_names_are_refused_with_the_field_named() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    for bad in [String::new(), "x".repeat(101), "line\nbreak".to_owned()] {
        let error = readiness.job(&bad).unwrap_err();
        assert_eq!(error.field(), "operation", "{bad:?}");
        assert!(error.to_string().contains("100 bytes"), "{error}");
    }
    assert!(!scrape(&readiness).contains("job_"));
    // Quotes and non-ASCII are fine: the exposition escapes them.
    readiness.job("x".repeat(100).as_str()).unwrap();
    readiness.job(r#"rapport "é""#).unwrap();
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"job_queue_depth{operation="rapport \"é\""} 0"#),
        "{text}"
    );
}

#[test]
fn the_namespace_prefixes_every_job_family() {
    let readiness = Readiness::builder()
        .metrics_namespace("orders")
        .system_metrics(false)
        .build()
        .unwrap();
    readiness.job("export").unwrap().start().success();
    let text = scrape(&readiness);
    assert_eq!(
        value(
            &text,
            r#"orders_job_runs_total{operation="export",outcome="success"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"orders_job_duration_seconds_count{operation="export"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"orders_job_queue_depth{operation="export"}"#),
        Some(0.0)
    );
    assert!(!text.lines().any(|l| l.starts_with("job_")), "{text}");
}

#[test]
fn a_registry_holding_a_job_family_already_is_a_build_error() {
    let registry = prometheus::Registry::new();
    let taken = prometheus::IntCounterVec::new(
        prometheus::Opts::new("job_runs_total", "someone else's"),
        &["operation", "outcome"],
    )
    .unwrap();
    registry.register(Box::new(taken)).unwrap();
    let error = Readiness::builder()
        .registry(registry.clone())
        .system_metrics(false)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "registry");
    // Rolled back: only the family that was there before is left.
    assert_eq!(registry.gather().len(), 0, "the empty vec gathers nothing");
}

#[test]
fn the_exposition_with_jobs_passes_promtool() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let export = readiness.job("export").unwrap();
    readiness.job("cleanup").unwrap();
    export.record(Duration::from_millis(250), true);
    export.start().failure();
    export.set_queue_depth(2);
    let text = scrape(&readiness);
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{said}\non\n{text}");
    // And the OpenMetrics answer passes the official Python client's strict parser.
    let open = readiness.metrics_response_for(Some("application/openmetrics-text;version=1.0.0"));
    let open = String::from_utf8(open.body().to_vec()).unwrap();
    assert!(open.contains("# TYPE job_runs counter"), "{open}");
    openmetrics::parse(&open).unwrap_or_else(|e| panic!("{e}\n{open}"));
}

/// Runs `promtool check metrics` (Prometheus' own linter and parser) on a scrape.
fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (`bash .ci/test` does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}
