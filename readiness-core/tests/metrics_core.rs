//! Check results as metrics, the registry, and metric settings validated at build.

#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use std::time::Duration;

use readiness_core::observe::{End, RequestHead};
use readiness_core::{CheckSpec, Readiness};
use support::{fail, pass, Scripted};

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

#[tokio::test]
async fn check_results_become_status_duration_and_failures() {
    let check = Scripted::new([pass(), fail("down"), fail("down")]);
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", check)
                .interval(Duration::from_secs(3600))
                .failure_threshold(2),
        )
        .build()
        .unwrap();
    // Every check has a failure series from the start.
    assert!(scrape(&readiness).contains(r#"health_check_failures_total{check="db"} 0"#));
    readiness.refresh().await;
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db",critical="true"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_duration_seconds_count{check="db"} 1"#),
        "{text}"
    );
    readiness.refresh().await; // first failure: dampened, still reported pass
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db",critical="true"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_failures_total{check="db"} 1"#),
        "{text}"
    );
    readiness.refresh().await;
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_status{check="db",critical="true"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_failures_total{check="db"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_services_own_registry_is_served_with_a_namespace() {
    let registry = prometheus::Registry::new();
    let orders = prometheus::IntCounter::new("orders_created_total", "Orders created.").unwrap();
    registry.register(Box::new(orders.clone())).unwrap();
    orders.inc();
    let readiness = Readiness::builder()
        .registry(registry)
        .metrics_namespace("shop")
        .service("orders", "2.0.0")
        .build()
        .unwrap();
    record(&readiness, "GET", Some("/orders"), None, 200, 2);
    let text = scrape(&readiness);
    assert!(text.contains("orders_created_total 1"), "{text}");
    assert!(
        text.contains("shop_http_server_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains(r#"shop_service_info{"#), "{text}");
}

#[tokio::test]
async fn metric_settings_are_validated_naming_the_field() {
    let err = Readiness::builder()
        .metrics_namespace("9lives")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "metrics_namespace");
    let err = Readiness::builder()
        .duration_buckets(vec![0.1, 0.05])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
    let err = Readiness::builder()
        .duration_buckets(vec![])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
    let err = Readiness::builder().max_routes(0).build().unwrap_err();
    assert_eq!(err.field(), "max_routes");
    // Two `Readiness` on one registry would register the same families twice.
    let registry = prometheus::Registry::new();
    Readiness::builder()
        .registry(registry.clone())
        .build()
        .unwrap();
    let err = Readiness::builder().registry(registry).build().unwrap_err();
    assert_eq!(err.field(), "registry");
    assert!(err.message().contains("registered already"), "{err}");
}

#[tokio::test]
async fn check_measurements_and_cache_lookups_become_gauges_and_counters() {
    use readiness_core::{CheckOutcome, Measurement};
    let outcome = CheckOutcome::pass()
        .with_measurement(Measurement::new("connections", 40.0, "connections"))
        .with_measurement(Measurement::new("idleConnections", 3.0, "connections"));
    let readiness = Readiness::builder()
        .check(
            CheckSpec::new("db", Scripted::new([support::Step::Outcome(outcome)]))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let users = readiness.cache("users");
    for hit in [true, true, true, false] {
        users.record(hit);
    }
    let text = scrape(&readiness);
    assert!(
        text.contains(r#"health_check_observed_value{check="db",measurement="connections"} 40"#),
        "{text}"
    );
    assert!(
        text.contains(r#"health_check_observed_value{check="db",measurement="idleConnections"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cache_requests_total{cache="users",result="hit"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cache_requests_total{cache="users",result="miss"} 1"#),
        "{text}"
    );
}

/// The value of the first sample line whose name and labels are exactly `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `series` has a value (the sampler's first read comes after 200 ms).
async fn sampled(readiness: &Readiness, series: &str) -> (String, f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(readiness);
        match value(&text, series) {
            Some(v) if v != 0.0 => return (text, v),
            _ if std::time::Instant::now() > deadline => panic!("no {series} in\n{text}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_system_figures_are_sampled_in_the_background() {
    let readiness = Readiness::builder()
        .system_metrics_interval(Duration::from_secs(1))
        .system_metrics_disks(["/", "/tmp"])
        .build()
        .unwrap();
    let (text, rss) = sampled(&readiness, "process_resident_memory_bytes").await;
    // Our own reading of procfs, to compare with.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> f64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let rss_now = field("VmRSS:") * 1024.0;
    assert!(
        rss > rss_now / 4.0 && rss < rss_now * 4.0,
        "rss {rss} vs procfs {rss_now}"
    );
    let threads = value(&text, "process_threads").unwrap();
    assert!(threads >= 2.0, "threads {threads}\n{text}"); // main + runtime workers
    let open = value(&text, "process_open_fds").unwrap();
    let max = value(&text, "process_max_fds").unwrap();
    assert!(open >= 3.0 && max >= open, "fds {open} of {max}");
    let started = value(&text, "process_start_time_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "start {started}, now {now}"
    );

    for ratio in [
        "system_cpu_utilization_ratio",
        "system_memory_utilization_ratio",
    ] {
        let v = value(&text, ratio).unwrap_or_else(|| panic!("no {ratio}\n{text}"));
        assert!((0.0..=1.0).contains(&v), "{ratio} {v}");
    }
    let used = value(&text, "system_memory_usage_bytes").unwrap();
    let limit = value(&text, "system_memory_limit_bytes").unwrap();
    assert!(used > 0.0 && used <= limit, "memory {used} of {limit}");
    let root = value(
        &text,
        r#"system_filesystem_utilization_ratio{mountpoint="/"}"#,
    )
    .unwrap_or_else(|| panic!("no root file system\n{text}"));
    assert!(root > 0.0 && root <= 1.0, "root {root}");
    let size = value(&text, r#"system_filesystem_limit_bytes{mountpoint="/"}"#).unwrap();
    let in_use = value(&text, r#"system_filesystem_usage_bytes{mountpoint="/"}"#).unwrap();
    assert!(
        (in_use / size - root).abs() < 1e-9,
        "{in_use} / {size} != {root}"
    );

    // CPU time burnt on this thread shows up in the counter by the next samples.
    // Spun in slices until 0.4 s have shown up: on a loaded machine a slice of wall
    // time holds less CPU time, so the spinning goes on for longer.
    let (_, before) = sampled(&readiness, "process_cpu_seconds_total").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut x = 0u64;
    loop {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = value(&scrape(&readiness), "process_cpu_seconds_total").unwrap();
        if after - before >= 0.4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cpu seconds went from {before} to {after} in 20 s of spinning"
        );
    }
}

#[tokio::test]
async fn system_metric_settings_are_validated_naming_the_field() {
    let err = Readiness::builder()
        .system_metrics_interval(Duration::from_millis(10))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "system_metrics_interval");
    let err = Readiness::builder()
        .system_metrics_disks(["/", "data"])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "system_metrics_disks[1]");
    // A registry with a process collector of its own: a clear error, or turn ours off.
    let registry = prometheus::Registry::new();
    let theirs = prometheus::Counter::new("process_cpu_seconds_total", "theirs").unwrap();
    registry.register(Box::new(theirs)).unwrap();
    let err = Readiness::builder()
        .registry(registry.clone())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "system_metrics");
    // The failed build took back what it had registered before the clash.
    let left: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(left, ["process_cpu_seconds_total"]);
    let readiness = Readiness::builder()
        .registry(registry)
        .system_metrics(false)
        .build()
        .unwrap();
    assert!(!scrape(&readiness).contains("system_memory"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_passes_promtool() {
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .check(CheckSpec::new("db", Scripted::new([pass()])))
        .build()
        .unwrap();
    readiness.refresh().await;
    readiness.cache("users").hit();
    for (method, route, status) in [
        ("GET", Some("/users/{id}"), 200),
        ("POST", Some("/users"), 201),
        ("BREW", Some("/pot"), 418),
        ("GET", None, 404),
        // A hostile template: quotes, a backslash, a newline and a forged series.
        ("GET", Some("/x\"} 1\nforged_total{a=\"\\"), 500),
    ] {
        record(&readiness, method, route, Some(10), status, 20);
    }
    let head = RequestHead::new("GET", "/slow", &()).with_route(Some("/slow"));
    drop(readiness.observer().begin(&head)); // client went away
    let (text, _) = sampled(&readiness, "process_resident_memory_bytes").await;
    assert!(
        !text.lines().any(|line| line.starts_with("forged_total")),
        "{text}"
    );
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{said}\non\n{text}");
    // The OpenMetrics answer of the same families: the official Python client's
    // strict parser accepts it (promtool parses the classic format only).
    let open = readiness.metrics_response_for(Some("application/openmetrics-text;version=1.0.0"));
    let open = String::from_utf8(open.body().to_vec()).unwrap();
    assert!(open.contains("# TYPE http_server_request_duration_seconds histogram"));
    openmetrics::parse(&open).unwrap_or_else(|e| panic!("{e}\n{open}"));

    // And promtool does catch a broken exposition, so the check above can fail.
    let (ok, _) = promtool_check("http_requests_total{method=\"GET\" 1\n");
    assert!(!ok);
}

/// One request through the observation: `request_size` as its `Content-Length`,
/// answered with `status` and a body of `response_size` bytes.
fn record(
    readiness: &Readiness,
    method: &str,
    route: Option<&str>,
    request_size: Option<u64>,
    status: u16,
    response_size: u64,
) {
    let mut headers = http::HeaderMap::new();
    if let Some(size) = request_size {
        headers.insert(http::header::CONTENT_LENGTH, size.into());
    }
    let head = RequestHead::new(method, "/", &headers).with_route(route);
    let mut observation = readiness.observer().begin(&head).unwrap();
    observation.responded(status);
    observation.frame(response_size);
    observation.end(End::Completed);
}
