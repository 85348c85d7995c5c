//! The operations kit: the rules pass `promtool check rules`, each alert fires on
//! synthetic series when it should and stays quiet when it should not (`promtool
//! test rules`), the dashboard is valid JSON over known series, the manifests agree
//! with the shutdown settings and pass Kubernetes' schemas, and bad settings are
//! errors naming the field.
#![cfg(feature = "ops-kit")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use readiness_core::ops::{Alert, Level, OpsKit, Tier};
use readiness_core::Readiness;
use serde_json::{json, Value};

fn kit() -> OpsKit {
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .system_metrics(false)
        .build()
        .unwrap();
    readiness.ops_kit().build().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("readiness-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a checking tool in `dir`: whether it succeeded, and all it said.
fn run_tool(tool: &str, package: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|_| {
            panic!("{tool} not found: install Debian's `{package}` package (`bash .ci/test` does)")
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    run_tool("promtool", "prometheus", args, dir)
}

#[test]
fn the_rules_pass_promtool_check() {
    let dir = temp_dir("check");
    let paths = kit().write_to(&dir).unwrap();
    assert_eq!(paths.len(), 6);
    let (ok, output) = promtool(&["check", "rules", "prometheus-rules.yml"], &dir);
    assert!(ok, "{output}");
    // Recording: 5 per route, 4xx ratio, 4 per version, 3 job percentiles, 4
    // windows x 3 SLO ratios; 35 alert tiers; 6 SLO burn alerts.
    assert!(output.contains("SUCCESS: 66 rules found"), "{output}");

    // And promtool does reject a broken file, so the check above means something.
    std::fs::write(
        dir.join("broken.yml"),
        "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(\n",
    )
    .unwrap();
    let (ok, _) = promtool(&["check", "rules", "broken.yml"], &dir);
    assert!(!ok);
}

/// The alerts of the generated file, by name and severity: their annotations
/// (promtool compares them too).
fn annotations(rules: &str) -> BTreeMap<(String, String), Value> {
    let file: Value = serde_norway::from_str(rules).unwrap();
    let mut out = BTreeMap::new();
    for group in file["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(name) = rule["alert"].as_str() {
                let severity = rule["labels"]["severity"].as_str().unwrap().to_owned();
                out.insert((name.to_owned(), severity), rule["annotations"].clone());
            }
        }
    }
    out
}

const COUNT: &str = "http_server_request_duration_seconds_count";
const BUCKET: &str = "http_server_request_duration_seconds_bucket";

/// A series of job `orders`, on instance `pod-a:8080` unless `labels` name one.
fn series(name: &str, labels: &[(&str, &str)], values: &str) -> Value {
    let mut all = vec![("job", "orders")];
    if !labels.iter().any(|(k, _)| *k == "instance") {
        all.push(("instance", "pod-a:8080"));
    }
    all.extend_from_slice(labels);
    let labels: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    json!({ "series": format!("{name}{{{}}}", labels.join(", ")), "values": values })
}

/// Requests of `method` answered `status`, `per_minute` of them.
fn requests(method: &str, status: &str, per_minute: u32) -> Value {
    requests_on("pod-a:8080", method, status, per_minute)
}

fn requests_on(instance: &str, method: &str, status: &str, per_minute: u32) -> Value {
    series(
        COUNT,
        &[
            ("instance", instance),
            ("http_route", "/items"),
            ("http_request_method", method),
            ("http_response_status_code", status),
        ],
        &format!("0+{per_minute}x120"),
    )
}

/// A histogram `name` (with `labels`) of 60 observations a minute, all of them
/// in the bucket from `fast_le` to `slow_le` when `slow`, else all within
/// `fast_le`.
fn histogram<'a>(
    name: &str,
    labels: &[(&'a str, &'a str)],
    fast_le: &'a str,
    slow_le: &'a str,
    slow: bool,
) -> Vec<Value> {
    let with_le = |le: &'a str| {
        let mut all = labels.to_vec();
        all.push(("le", le));
        all
    };
    let fast = if slow { "0+0x120" } else { "0+60x120" };
    let bucket = format!("{name}_bucket");
    vec![
        series(&bucket, &with_le(fast_le), fast),
        series(&bucket, &with_le(slow_le), "0+60x120"),
        series(&bucket, &with_le("+Inf"), "0+60x120"),
        series(&format!("{name}_count"), labels, "0+60x120"),
    ]
}

/// The request duration histogram of `method` on `instance` (see [`histogram`]).
fn latency_on(
    instance: &str,
    method: &str,
    fast_le: &str,
    slow_le: &str,
    slow: bool,
) -> Vec<Value> {
    histogram(
        BUCKET.trim_end_matches("_bucket"),
        &[
            ("instance", instance),
            ("http_route", "/items"),
            ("http_request_method", method),
            ("http_response_status_code", "200"),
        ],
        fast_le,
        slow_le,
        slow,
    )
}

fn latency(method: &str, fast_le: &str, slow_le: &str, slow: bool) -> Vec<Value> {
    latency_on("pod-a:8080", method, fast_le, slow_le, slow)
}

/// One expectation: at `at`, alert `name` fires in these severities with these
/// labels (besides `severity` and `service`), or not at all (no severity).
type Labels = Vec<(&'static str, &'static str)>;

struct Expect {
    at: &'static str,
    name: &'static str,
    alerts: Vec<(&'static str, Labels)>,
}

fn fires(
    at: &'static str,
    name: &'static str,
    severities: &[&'static str],
    labels: &[(&'static str, &'static str)],
) -> Expect {
    assert!(!severities.is_empty());
    Expect {
        at,
        name,
        alerts: severities.iter().map(|s| (*s, labels.to_vec())).collect(),
    }
}

fn quiet(at: &'static str, name: &'static str) -> Expect {
    Expect {
        at,
        name,
        alerts: vec![],
    }
}

const C: &str = "critical";
const W: &str = "warning";
const I: &str = "info";

/// What the cases exercise: (alert, severity) seen firing, alerts seen quiet.
#[derive(Default)]
struct Seen {
    firing: BTreeSet<(String, String)>,
    quiet: BTreeSet<String>,
}

fn case(
    input: Vec<Value>,
    expects: Vec<Expect>,
    notes: &BTreeMap<(String, String), Value>,
    seen: &mut Seen,
) -> Value {
    let tests: Vec<Value> = expects
        .into_iter()
        .map(|expect| {
            let alert = format!("Orders{}", expect.name);
            if expect.alerts.is_empty() {
                seen.quiet.insert(alert.clone());
            }
            let exp: Vec<Value> = expect
                .alerts
                .iter()
                .map(|(severity, labels)| {
                    seen.firing.insert((alert.clone(), (*severity).to_owned()));
                    let mut map = serde_json::Map::new();
                    map.insert("job".into(), json!("orders"));
                    map.insert("severity".into(), json!(severity));
                    map.insert("service".into(), json!("orders"));
                    for (k, v) in labels {
                        map.insert((*k).into(), json!(v));
                    }
                    let annotations = notes
                        .get(&(alert.clone(), (*severity).to_owned()))
                        .unwrap_or_else(|| panic!("no {severity} alert {alert} in the rules"))
                        .clone();
                    json!({ "exp_labels": map, "exp_annotations": annotations })
                })
                .collect();
            json!({ "eval_time": expect.at, "alertname": alert, "exp_alerts": exp })
        })
        .collect();
    json!({ "interval": "1m", "input_series": Value::Array(input), "alert_rule_test": tests })
}

#[test]
fn each_alert_fires_when_it_should_and_stays_quiet_when_it_should_not() {
    let dir = temp_dir("unit");
    let rules = kit().prometheus_rules();
    std::fs::write(dir.join("rules.yml"), &rules).unwrap();
    let notes = annotations(&rules);
    let seen = &mut Seen::default();
    let pod = [("instance", "pod-a:8080")];
    let mut tests = vec![
        // 9% of answers are 5xx: both tiers and both availability burns.
        case(
            vec![requests("GET", "200", 600), requests("GET", "500", 60)],
            vec![
                fires("15m", "HighErrorRate", &[C, W], &[]),
                fires("15m", "AvailabilityBudgetBurnFast", &[C], &[]),
                fires("40m", "AvailabilityBudgetBurnSlow", &[W], &[]),
                quiet("15m", "ReadLatencyBudgetBurnFast"),
                quiet("30m", "HighClientErrorRate"),
            ],
            &notes,
            seen,
        ),
        // 2%: a warning, not critical; the fast burn (1.44%) fires, as it should.
        case(
            vec![requests("GET", "200", 588), requests("GET", "500", 12)],
            vec![fires("15m", "HighErrorRate", &[W], &[])],
            &notes,
            seen,
        ),
        // No 5xx at all, 20% 4xx: quiet, but for the info tier on 4xx.
        case(
            vec![
                requests("GET", "200", 480),
                requests("GET", "404", 120),
                requests("GET", "500", 0),
            ],
            vec![
                quiet("30m", "HighErrorRate"),
                quiet("30m", "AvailabilityBudgetBurnFast"),
                quiet("40m", "AvailabilityBudgetBurnSlow"),
                quiet("10m", "HighClientErrorRate"),
                fires("20m", "HighClientErrorRate", &[I], &[]),
            ],
            &notes,
            seen,
        ),
        // Every read between 0.5 s and 1 s: over the read budget, under 2 s;
        // writes are fine.
        case(
            [
                latency("GET", "0.5", "1", true),
                latency("POST", "1", "2.5", false),
            ]
            .concat(),
            vec![
                fires("15m", "ReadLatencyHigh", &[W], &[]),
                fires("15m", "ReadLatencyBudgetBurnFast", &[C], &[]),
                fires("40m", "ReadLatencyBudgetBurnSlow", &[W], &[]),
                quiet("15m", "WriteLatencyHigh"),
                quiet("15m", "WriteLatencyBudgetBurnFast"),
                quiet("40m", "WriteLatencyBudgetBurnSlow"),
            ],
            &notes,
            seen,
        ),
        // Every write between 1 s and 2 s (P95 1.95 s); reads within 0.5 s.
        case(
            [
                latency("GET", "0.5", "1", false),
                latency("POST", "1", "2", true),
            ]
            .concat(),
            vec![
                fires("15m", "WriteLatencyHigh", &[W], &[]),
                fires("15m", "WriteLatencyBudgetBurnFast", &[C], &[]),
                fires("40m", "WriteLatencyBudgetBurnSlow", &[W], &[]),
                quiet("15m", "ReadLatencyHigh"),
                quiet("40m", "ReadLatencyBudgetBurnSlow"),
            ],
            &notes,
            seen,
        ),
        // Reads and writes between 2.5 s and 5 s: critical too.
        case(
            [
                latency("GET", "2.5", "5", true),
                latency("POST", "2.5", "5", true),
            ]
            .concat(),
            vec![
                quiet("5m", "ReadLatencyHigh"),
                fires("15m", "ReadLatencyHigh", &[C, W], &[]),
                fires("15m", "WriteLatencyHigh", &[C, W], &[]),
            ],
            &notes,
            seen,
        ),
        // A target down from minute 2: fires after 2 minutes down, not before.
        case(
            vec![series("up", &[], "1 1 0 0 0 0 0 0")],
            vec![quiet("3m", "Down"), fires("5m", "Down", &[C], &pod)],
            &notes,
            seen,
        ),
        case(
            vec![series("up", &[], "1x10")],
            vec![quiet("8m", "Down")],
            &notes,
            seen,
        ),
        // A critical dependency check failing from minute 1, a non-critical one
        // warning: the critical alert only.
        case(
            vec![
                series(
                    "health_check_status",
                    &[("check", "db"), ("critical", "true")],
                    "1 0 0 0 0",
                ),
                series(
                    "health_check_status",
                    &[("check", "cache"), ("critical", "false")],
                    "1 0.5 0.5 0.5 0.5",
                ),
            ],
            vec![
                // Failing for less than a minute: not yet.
                quiet("1m", "DependencyUnreachable"),
                fires(
                    "3m",
                    "DependencyUnreachable",
                    &[C],
                    &[
                        ("check", "db"),
                        ("critical", "true"),
                        ("instance", "pod-a:8080"),
                    ],
                ),
                quiet("3m", "NonCriticalDependencyUnreachable"),
            ],
            &notes,
            seen,
        ),
        // A non-critical check failing: a warning, never the page.
        case(
            vec![
                series(
                    "health_check_status",
                    &[("check", "db"), ("critical", "true")],
                    "1 1 1 1 1",
                ),
                series(
                    "health_check_status",
                    &[("check", "cache"), ("critical", "false")],
                    "1 0 0 0 0",
                ),
            ],
            vec![
                quiet("1m", "NonCriticalDependencyUnreachable"),
                fires(
                    "3m",
                    "NonCriticalDependencyUnreachable",
                    &[W],
                    &[
                        ("check", "cache"),
                        ("critical", "false"),
                        ("instance", "pod-a:8080"),
                    ],
                ),
                quiet("3m", "DependencyUnreachable"),
            ],
            &notes,
            seen,
        ),
        // CPU 85%, memory 87%, disk 87%: warnings; not critical; CPU only after
        // 15 minutes.
        case(
            vec![
                series("system_cpu_utilization_ratio", &[], "0.85x30"),
                series("system_memory_utilization_ratio", &[], "0.87x30"),
                series(
                    "system_filesystem_utilization_ratio",
                    &[("mountpoint", "/")],
                    "0.87x30",
                ),
            ],
            vec![
                quiet("10m", "HighCpu"),
                fires("20m", "HighCpu", &[W], &pod),
                fires("20m", "HighMemory", &[W], &pod),
                fires(
                    "20m",
                    "DiskAlmostFull",
                    &[W],
                    &[("mountpoint", "/"), ("instance", "pod-a:8080")],
                ),
            ],
            &notes,
            seen,
        ),
        // 95% of each: critical too.
        case(
            vec![
                series("system_cpu_utilization_ratio", &[], "0.95x30"),
                series("system_memory_utilization_ratio", &[], "0.95x30"),
                series(
                    "system_filesystem_utilization_ratio",
                    &[("mountpoint", "/")],
                    "0.95x30",
                ),
            ],
            vec![
                fires("20m", "HighCpu", &[C, W], &pod),
                fires("20m", "HighMemory", &[C, W], &pod),
                fires(
                    "20m",
                    "DiskAlmostFull",
                    &[C, W],
                    &[("mountpoint", "/"), ("instance", "pod-a:8080")],
                ),
            ],
            &notes,
            seen,
        ),
        // CPU 50%, memory half, disk 40%: quiet.
        case(
            vec![
                series("system_cpu_utilization_ratio", &[], "0.5x30"),
                series("system_memory_utilization_ratio", &[], "0.5x30"),
                series(
                    "system_filesystem_utilization_ratio",
                    &[("mountpoint", "/")],
                    "0.4x30",
                ),
            ],
            vec![
                quiet("20m", "HighCpu"),
                quiet("20m", "HighMemory"),
                quiet("20m", "DiskAlmostFull"),
            ],
            &notes,
            seen,
        ),
        // 5 authentication failures a minute (25 in 5 minutes), one denied access,
        // 30 refused by a rate limit a minute: 176 security events in 5 minutes.
        case(
            vec![
                series(
                    "security_events_total",
                    &[("kind", "authentication_failure"), ("severity", "medium")],
                    "0+5x10",
                ),
                series(
                    "security_events_total",
                    &[("kind", "access_denied"), ("severity", "high")],
                    "0 0 1 1 1 1 1 1",
                ),
                series(
                    "security_events_total",
                    &[("kind", "rate_limited"), ("severity", "low")],
                    "0+30x10",
                ),
                series("log_lines_dropped_total", &[], "0 0 3 3 3"),
                series("audit_records_total", &[("result", "written")], "0+10x10"),
                series(
                    "audit_records_total",
                    &[("result", "dropped")],
                    "0 0 0 2 2 2",
                ),
                series("audit_records_total", &[("result", "failed")], "0x10"),
            ],
            vec![
                fires("6m", "AuthenticationFailures", &[W], &[]),
                fires("3m", "UnauthorizedAccess", &[W], &[]),
                fires("6m", "RateLimitExceeded", &[W], &[]),
                fires("6m", "SecurityEventsHigh", &[W], &[]),
                fires("3m", "LogLinesDropped", &[W], &[]),
                fires("4m", "AuditRecordsLost", &[C], &[("result", "dropped")]),
            ],
            &notes,
            seen,
        ),
        // 60 security events a minute: 300 in 5 minutes, critical.
        case(
            vec![series(
                "security_events_total",
                &[("kind", "invalid_input"), ("severity", "low")],
                "0+60x10",
            )],
            vec![fires("6m", "SecurityEventsHigh", &[C, W], &[])],
            &notes,
            seen,
        ),
        // One failure a minute (5 in 5 minutes), no denied access, nothing dropped.
        case(
            vec![
                series(
                    "security_events_total",
                    &[("kind", "authentication_failure"), ("severity", "medium")],
                    "0+1x10",
                ),
                series(
                    "security_events_total",
                    &[("kind", "access_denied"), ("severity", "high")],
                    "0x10",
                ),
                series(
                    "security_events_total",
                    &[("kind", "rate_limited"), ("severity", "low")],
                    "0x10",
                ),
                series("log_lines_dropped_total", &[], "0x10"),
                series("audit_records_total", &[("result", "written")], "0+10x10"),
                series("audit_records_total", &[("result", "dropped")], "0x10"),
                series("audit_records_total", &[("result", "failed")], "0x10"),
                series("audit_trail_integrity_status", &[], "1x10"),
            ],
            vec![
                quiet("6m", "AuthenticationFailures"),
                quiet("6m", "UnauthorizedAccess"),
                quiet("6m", "RateLimitExceeded"),
                quiet("6m", "SecurityEventsHigh"),
                quiet("6m", "LogLinesDropped"),
                quiet("6m", "AuditRecordsLost"),
                quiet("6m", "AuditTrailCorrupted"),
            ],
            &notes,
            seen,
        ),
        // The live integrity check finds the trail changed at minute 2.
        case(
            vec![series("audit_trail_integrity_status", &[], "1 1 0 0 0")],
            vec![
                quiet("1m", "AuditTrailCorrupted"),
                fires("2m", "AuditTrailCorrupted", &[C], &pod),
            ],
            &notes,
            seen,
        ),
        // Audit records at 10 a minute for a day, then 2 a minute: a fifth of the
        // day before, an info; at an even pace, quiet.
        case(
            vec![series(
                "audit_records_total",
                &[("result", "written")],
                "0+10x1440 14402+2x200",
            )],
            vec![fires("1560m", "AuditThroughputLow", &[I], &[])],
            &notes,
            seen,
        ),
        case(
            vec![series(
                "audit_records_total",
                &[("result", "written")],
                "0+10x1640",
            )],
            vec![quiet("1560m", "AuditThroughputLow")],
            &notes,
            seen,
        ),
        // A cache hit 6 times in 10: a warning; 3 in 10: critical after 30
        // minutes; 9 in 10: quiet.
        case(
            vec![
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "hit")],
                    "0+6x60",
                ),
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "miss")],
                    "0+4x60",
                ),
            ],
            vec![
                quiet("10m", "CacheHitRateLow"),
                fires("25m", "CacheHitRateLow", &[W], &[("cache", "users")]),
            ],
            &notes,
            seen,
        ),
        case(
            vec![
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "hit")],
                    "0+3x60",
                ),
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "miss")],
                    "0+7x60",
                ),
            ],
            vec![
                fires("25m", "CacheHitRateLow", &[W], &[("cache", "users")]),
                fires("40m", "CacheHitRateLow", &[C, W], &[("cache", "users")]),
            ],
            &notes,
            seen,
        ),
        case(
            vec![
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "hit")],
                    "0+9x60",
                ),
                series(
                    "cache_requests_total",
                    &[("cache", "users"), ("result", "miss")],
                    "0+1x60",
                ),
            ],
            vec![quiet("40m", "CacheHitRateLow")],
            &notes,
            seen,
        ),
        // Database pools: 40 in use warns, 50 pages, 10 is quiet; waits of 1 to
        // 2.5 s warn, waits within 0.1 s do not.
        case(
            [
                vec![
                    series(
                        "db_client_connections",
                        &[("pool", "items"), ("state", "used")],
                        "40x20",
                    ),
                    series(
                        "db_client_connections",
                        &[("pool", "audit"), ("state", "used")],
                        "50x20",
                    ),
                    series(
                        "db_client_connections",
                        &[("pool", "spare"), ("state", "used")],
                        "10x20",
                    ),
                    series(
                        "db_client_connections",
                        &[("pool", "items"), ("state", "idle")],
                        "60x20",
                    ),
                ],
                histogram(
                    "db_client_connection_wait_time_seconds",
                    &[("pool", "items")],
                    "1",
                    "2.5",
                    true,
                ),
                histogram(
                    "db_client_connection_wait_time_seconds",
                    &[("pool", "audit")],
                    "0.1",
                    "0.25",
                    false,
                ),
            ]
            .concat(),
            vec![
                quiet("3m", "DatabasePoolSaturated"),
                quiet("3m", "DatabasePoolWaitHigh"),
                // One expectation per alert and time: both pools' alerts at 10m.
                fires_pools(),
                fires("10m", "DatabasePoolWaitHigh", &[W], &[("pool", "items")]),
            ],
            &notes,
            seen,
        ),
        // A job failing once in ten runs, taking 5 to 10 minutes, 150 items
        // queued; another fine.
        case(
            [
                vec![
                    series(
                        "job_runs_total",
                        &[("operation", "report_export"), ("outcome", "failure")],
                        "0+1x60",
                    ),
                    series(
                        "job_runs_total",
                        &[("operation", "report_export"), ("outcome", "success")],
                        "0+9x60",
                    ),
                    series(
                        "job_runs_total",
                        &[("operation", "cleanup"), ("outcome", "failure")],
                        "0x60",
                    ),
                    series(
                        "job_runs_total",
                        &[("operation", "cleanup"), ("outcome", "success")],
                        "0+9x60",
                    ),
                    series(
                        "job_queue_depth",
                        &[("operation", "report_export")],
                        "150x60",
                    ),
                    series("job_queue_depth", &[("operation", "cleanup")], "20x60"),
                ],
                histogram(
                    "job_duration_seconds",
                    &[("operation", "report_export")],
                    "300",
                    "600",
                    true,
                ),
                histogram(
                    "job_duration_seconds",
                    &[("operation", "cleanup")],
                    "60",
                    "120",
                    false,
                ),
            ]
            .concat(),
            vec![
                quiet("5m", "JobFailureRateHigh"),
                fires(
                    "25m",
                    "JobFailureRateHigh",
                    &[W],
                    &[("operation", "report_export")],
                ),
                quiet("5m", "JobDurationHigh"),
                fires(
                    "25m",
                    "JobDurationHigh",
                    &[W],
                    &[("operation", "report_export")],
                ),
                quiet("5m", "JobBacklogHigh"),
                fires(
                    "15m",
                    "JobBacklogHigh",
                    &[W],
                    &[("operation", "report_export"), ("instance", "pod-a:8080")],
                ),
            ],
            &notes,
            seen,
        ),
    ];
    tests.extend(rollouts(&notes, seen));
    let file = json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    std::fs::write(
        dir.join("tests.yml"),
        serde_norway::to_string(&file).unwrap(),
    )
    .unwrap();
    let (ok, output) = promtool(&["test", "rules", "tests.yml"], &dir);
    assert!(ok, "{output}");
    // Every tier of every alert of the file is seen firing, and every alert quiet.
    for (alert, severity) in notes.keys() {
        assert!(
            seen.firing.contains(&(alert.clone(), severity.clone())),
            "{alert} ({severity}) never seen firing"
        );
        assert!(seen.quiet.contains(alert), "{alert} never seen quiet");
    }
}

/// The pool alerts of the pools case: `audit` pages and warns, `items` warns.
fn fires_pools() -> Expect {
    let pool = |name| {
        vec![
            ("pool", name),
            ("state", "used"),
            ("instance", "pod-a:8080"),
        ]
    };
    Expect {
        at: "10m",
        name: "DatabasePoolSaturated",
        alerts: vec![(C, pool("audit")), (W, pool("audit")), (W, pool("items"))],
    }
}

/// `service_info` of `instance` running `version`.
fn info(instance: &'static str, version: &'static str) -> Value {
    series(
        "service_info",
        &[
            ("instance", instance),
            ("service", "orders"),
            ("version", version),
        ],
        "1x120",
    )
}

/// Two versions serving at once: 1.1 fails 9% of requests and is 25 times
/// slower than 1.0, which passes the promotion gate; two equal versions, or one
/// version alone, are quiet.
fn rollouts(notes: &BTreeMap<(String, String), Value>, seen: &mut Seen) -> Vec<Value> {
    let (a, b) = ("pod-a:8080", "pod-b:8080");
    let new = [("version", "1.1")];
    let mut worse = case(
        [
            vec![
                info(a, "1.0"),
                info(b, "1.1"),
                requests_on(b, "GET", "500", 6),
            ],
            latency_on(a, "GET", "0.1", "0.25", false),
            latency_on(b, "GET", "1", "2.5", true),
        ]
        .concat(),
        vec![
            fires("10m", "RolloutErrorRateHigh", &[C], &new),
            fires("10m", "RolloutLatencyRegression", &[C], &new),
        ],
        notes,
        seen,
    );
    worse["promql_expr_test"] = json!([{
        "expr": "job_version:rollout_promotable:bool",
        "eval_time": "10m",
        "exp_samples": [
            { "labels": "job_version:rollout_promotable:bool{job=\"orders\", version=\"1.0\"}", "value": 1 },
            { "labels": "job_version:rollout_promotable:bool{job=\"orders\", version=\"1.1\"}", "value": 0 },
        ],
    }]);
    let equal = case(
        [
            vec![info(a, "1.0"), info(b, "1.1")],
            latency_on(a, "GET", "0.5", "1", false),
            latency_on(b, "GET", "0.5", "1", false),
        ]
        .concat(),
        vec![
            quiet("10m", "RolloutErrorRateHigh"),
            quiet("10m", "RolloutLatencyRegression"),
        ],
        notes,
        seen,
    );
    let alone = case(
        [
            vec![info(a, "1.0"), requests_on(a, "GET", "500", 6)],
            latency_on(a, "GET", "1", "2.5", true),
        ]
        .concat(),
        vec![
            quiet("10m", "RolloutErrorRateHigh"),
            quiet("10m", "RolloutLatencyRegression"),
        ],
        notes,
        seen,
    );
    vec![worse, equal, alone]
}
#[test]
fn the_dashboard_is_grafana_json_over_known_series() {
    let dashboard: Value = serde_json::from_str(&kit().grafana_dashboard()).unwrap();
    assert_eq!(dashboard["uid"], "readiness-orders");
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in ["Application performance", "System health", "Security"] {
        assert!(titles.contains(&wanted), "{titles:?}");
    }
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids repeat");
    for panel in panels.iter().filter(|p| p["type"] == "timeseries") {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            assert!(expr.contains("job=\"orders\""), "{expr}");
        }
    }
    // Exemplars on the latency panel, on a query over the scraped buckets (where
    // Prometheus keeps them; a recorded series has none).
    let exemplar_targets: Vec<(&str, &str)> = panels
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["exemplar"] == true)
                .map(move |t| (p["title"].as_str().unwrap(), t["expr"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(exemplar_targets.len(), 1, "{exemplar_targets:?}");
    let (title, expr) = exemplar_targets[0];
    assert_eq!(title, "Latency by route");
    assert!(
        expr.contains("(rate(http_server_request_duration_seconds_bucket{job=\"orders\"}[5m])"),
        "{expr}"
    );
}

#[test]
fn manifests_agree_with_the_shutdown_settings_and_probe_paths() {
    let readiness = Readiness::builder()
        .service("Orders API", "1.0.0")
        .system_metrics(false)
        .build()
        .unwrap();
    let shutdown = shutdown_of(&readiness);
    let kit = readiness
        .ops_kit()
        .shutdown(&shutdown)
        .port(9000)
        .env("PORT", "9000")
        .kubernetes_namespace("shop")
        .build()
        .unwrap();
    let text = kit.kubernetes();
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|doc| serde_norway::from_str(doc).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "Service",
            "ServiceMonitor",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Service"
        ]
    );
    // The autoscaler sets the count: the Deployment names none.
    assert!(docs[0]["spec"].get("replicas").is_none(), "{text}");
    let fixed = readiness
        .ops_kit()
        .replicas(2)
        .build()
        .unwrap()
        .kubernetes();
    assert!(fixed.contains("  replicas: 2\n"), "{fixed}");
    assert!(!fixed.contains("kind: HorizontalPodAutoscaler"), "{fixed}");
    // The headless Service the plain Prometheus configuration finds the pods by.
    assert_eq!(docs[5]["metadata"]["name"], "orders-api-pods");
    assert_eq!(docs[5]["spec"]["clusterIP"], "None");
    // The autoscaler: 3 to 20 pods at 70 % CPU and 80 % memory of their requests,
    // scaling down after 5 stable minutes; one pod at a time may be disrupted.
    let hpa = &docs[3]["spec"];
    assert_eq!(hpa["scaleTargetRef"]["name"], "orders-api");
    assert_eq!(hpa["minReplicas"], 3);
    assert_eq!(hpa["maxReplicas"], 20);
    let targets: Vec<(String, u64)> = hpa["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["resource"]["name"].as_str().unwrap().to_owned(),
                m["resource"]["target"]["averageUtilization"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(targets, [("cpu".to_owned(), 70), ("memory".to_owned(), 80)]);
    assert_eq!(
        hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        300
    );
    assert_eq!(docs[4]["spec"]["maxUnavailable"], 1);
    assert_eq!(
        docs[4]["spec"]["selector"]["matchLabels"],
        docs[0]["spec"]["selector"]["matchLabels"]
    );
    let pod = &docs[0]["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(docs[0]["metadata"]["name"], "orders-api");
    assert_eq!(docs[0]["metadata"]["namespace"], "shop");
    // 10 s of preStop, then 0 + 20 + 3 s of shutdown, 5 s to spare.
    assert_eq!(pod["terminationGracePeriodSeconds"], 38);
    let container = &pod["containers"][0];
    assert_eq!(container["lifecycle"]["preStop"]["sleep"]["seconds"], 10);
    assert_eq!(container["ports"][0]["containerPort"], 9000);
    for (probe, path) in [
        ("startupProbe", "/startupz"),
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(container[probe]["httpGet"]["port"], "http");
    }
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    for (name, value) in [
        ("READINESS_SHUTDOWN_DRAIN_DELAY", "0ms"),
        ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "20000ms"),
        ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3000ms"),
        ("READINESS_SHUTDOWN_GRACE_PERIOD", "28s"),
        ("PORT", "9000"),
    ] {
        assert!(
            env.contains(&(name.to_owned(), value.to_owned())),
            "{name} in {env:?}"
        );
    }
    // The service reads those values as they are written.
    let _parsed = readiness
        .shutdown()
        .signals(false)
        .from_lookup(|name| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
        .unwrap();
    // The delay split, or left whole to the service.
    for (pre_stop, sleep, delay, grace) in [(4, Some(4), "6000ms", 38), (0, None, "10000ms", 38)] {
        let kit = readiness
            .ops_kit()
            .shutdown(&shutdown)
            .pre_stop(Duration::from_secs(pre_stop))
            .build()
            .unwrap();
        let doc: Value =
            serde_norway::from_str(kit.kubernetes().split("\n---\n").next().unwrap()).unwrap();
        let pod = &doc["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(
            container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64(),
            sleep
        );
        assert_eq!(pod["terminationGracePeriodSeconds"], grace);
        let drain = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "READINESS_SHUTDOWN_DRAIN_DELAY")
            .unwrap();
        assert_eq!(drain["value"], delay);
    }
    assert_eq!(docs[2]["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], "http");

    // Validated against Kubernetes' own schemas (the ServiceMonitor, the third, is
    // a CRD they do not hold).
    let dir = temp_dir("k8s");
    let core: Vec<&str> = text
        .split("\n---\n")
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, doc)| doc)
        .collect();
    assert_eq!(core.len(), 5);
    std::fs::write(dir.join("core.yaml"), core.join("\n---\n")).unwrap();
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "core.yaml"])
        .current_dir(&dir)
        .output()
        .expect("kubernetes-validate not found: `bash .ci/tools kubernetes-validate` installs it");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    // And it rejects a Deployment with a misspelt field.
    std::fs::write(
        dir.join("bad.yaml"),
        core[0].replace(
            "terminationGracePeriodSeconds",
            "terminationGracePeriodSecond",
        ),
    )
    .unwrap();
    let bad = Command::new("kubernetes-validate")
        .args(["--strict", "bad.yaml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// The plain Prometheus configuration passes `promtool check config` (which reads
/// the rule file it names beside it), and promtool does reject a broken one.
#[test]
fn the_prometheus_config_passes_promtool_check() {
    let dir = temp_dir("config");
    kit().write_to(&dir).unwrap();
    let config = std::fs::read_to_string(dir.join("prometheus.yml")).unwrap();
    assert!(config.contains("job_name: orders"), "{config}");
    assert!(config.contains("- prometheus-rules.yml"), "{config}");
    assert!(config.contains("- orders-pods"), "{config}");
    // It says how to keep the exemplars the dashboard shows.
    assert!(
        config.contains("# --enable-feature=exemplar-storage "),
        "{config}"
    );
    let (ok, output) = promtool(&["check", "config", "prometheus.yml"], &dir);
    assert!(ok, "{output}");
    assert!(output.contains("SUCCESS: 1 rule files found"), "{output}");
    std::fs::write(
        dir.join("broken.yml"),
        config.replace("scrape_interval", "scrape_intervall"),
    )
    .unwrap();
    let (ok, _) = promtool(&["check", "config", "broken.yml"], &dir);
    assert!(!ok);
}

fn amtool(args: &[&str], dir: &Path) -> (bool, String) {
    run_tool("amtool", "prometheus-alertmanager", args, dir)
}

/// The Alertmanager file passes `amtool check-config`, each severity reaches its
/// receiver (amtool's own routing), and amtool does reject a broken file.
#[test]
fn the_alertmanager_config_routes_each_severity_to_its_receiver() {
    let dir = temp_dir("alertmanager");
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    readiness
        .ops_kit()
        .alert_webhooks(
            "https://pager.example.com/hook",
            "https://chat.example.com/hook",
            "https://tickets.example.com/hook",
        )
        .build()
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let config = std::fs::read_to_string(dir.join("alertmanager.yml")).unwrap();
    let (ok, output) = amtool(&["check-config", "alertmanager.yml"], &dir);
    assert!(ok, "{output}");
    assert!(output.contains("3 receivers"), "{output}");
    assert!(output.contains("1 inhibit rules"), "{output}");
    for (labels, receiver) in [
        (&["severity=critical", "alertname=OrdersDown"][..], "pager"),
        (&["severity=warning", "alertname=OrdersHighCpu"][..], "chat"),
        (
            &["severity=info", "alertname=OrdersSlowAudit"][..],
            "low-priority",
        ),
        (&["alertname=Other"][..], "low-priority"),
    ] {
        let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yml"];
        args.extend_from_slice(labels);
        let (ok, output) = amtool(&args, &dir);
        assert!(ok, "{labels:?}: {output}");
        assert_eq!(
            output.lines().next().unwrap_or_default().trim(),
            receiver,
            "{labels:?}: {output}"
        );
    }
    assert!(
        config.contains("https://pager.example.com/hook"),
        "{config}"
    );
    std::fs::write(
        dir.join("broken.yml"),
        config.replace("receiver: pager", "receiver: pagr"),
    )
    .unwrap();
    let (ok, _) = amtool(&["check-config", "broken.yml"], &dir);
    assert!(!ok, "a route to an unknown receiver is rejected");
}

/// The Dockerfile runs the binary in an image without a shell, checked by the
/// binary's own `healthcheck` subcommand, on the kit's port.
#[test]
fn the_dockerfile_checks_health_with_the_binary_itself() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let kit = readiness
        .ops_kit()
        .binary("orders-api")
        .port(9000)
        .build()
        .unwrap();
    let text = kit.dockerfile();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines[0], "FROM gcr.io/distroless/cc-debian12:nonroot",
        "{text}"
    );
    for line in [
        "COPY orders-api /usr/local/bin/orders-api",
        "ENV BIND=0.0.0.0 PORT=9000",
        "EXPOSE 9000",
        "USER 65532:65532",
        r#"    CMD ["/usr/local/bin/orders-api", "healthcheck"]"#,
        r#"ENTRYPOINT ["/usr/local/bin/orders-api"]"#,
    ] {
        assert!(lines.contains(&line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("HEALTHCHECK --interval=10s"), "{text}");
}

#[test]
fn bad_settings_are_errors_naming_the_field() {
    let readiness = Readiness::builder().system_metrics(false).build().unwrap();
    let field = |builder: readiness_core::ops::OpsKitBuilder| {
        builder.build().unwrap_err().field().to_owned()
    };
    let b = || readiness.ops_kit();
    assert_eq!(
        field(b().error_ratio(0.1, 0.05)),
        "ops.alerts.error_ratio.warning"
    );
    assert_eq!(
        field(b().error_ratio(0.01, 1.5)),
        "ops.alerts.error_ratio.critical"
    );
    assert_eq!(field(b().availability_slo(1.0)), "ops.availability_slo");
    assert_eq!(
        field(b().latency_budget(0.4, 1.0)),
        "ops.latency_budget.read"
    );
    assert_eq!(
        field(b().latency_budget(0.5, 3.0)),
        "ops.latency_budget.write"
    );
    assert_eq!(field(b().memory(0.95, 0.9)), "ops.alerts.memory.warning");
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(
        field(b().alert_level(Alert::Down, Tier::Critical, Level::new(1.0, minutes(2)))),
        "ops.alerts.down.critical"
    );
    assert_eq!(
        field(b().alert_level(Alert::Cpu, Tier::Info, Level::after(minutes(2)))),
        "ops.alerts.cpu.info"
    );
    assert_eq!(
        field(b().alert_level(Alert::Cpu, Tier::Critical, Level::new(1.5, minutes(5)))),
        "ops.alerts.cpu.critical"
    );
    assert_eq!(
        field(b().alert_level(
            Alert::PoolInUse,
            Tier::Warning,
            Level::new(10.0, Duration::from_millis(1500))
        )),
        "ops.alerts.pool_in_use.warning"
    );
    // Lower is worse for the hit rate: the warning must not be below critical.
    assert_eq!(
        field(b().alert_level(
            Alert::CacheHitRatio,
            Tier::Critical,
            Level::new(0.8, minutes(5))
        )),
        "ops.alerts.cache_hit_ratio.warning"
    );
    // A latency budget above the critical threshold needs the critical one raised.
    assert_eq!(
        field(b().latency_budget(2.5, 5.0)),
        "ops.alerts.read_latency.warning"
    );
    assert!(b()
        .latency_budget(2.5, 5.0)
        .alert_level(
            Alert::ReadLatency,
            Tier::Critical,
            Level::new(5.0, minutes(10))
        )
        .alert_level(
            Alert::WriteLatency,
            Tier::Critical,
            Level::new(10.0, minutes(10))
        )
        .build()
        .is_ok());
    assert_eq!(
        field(b().slo_burn_rates(Level::new(0.0, minutes(2)), Level::new(6.0, minutes(15)))),
        "ops.slo_burn_rates.fast"
    );
    assert_eq!(
        field(b().promotion_gate(0.001, 0.0)),
        "ops.promotion_gate.p95_seconds"
    );
    assert_eq!(
        field(b().promotion_gate(1.0, 0.2)),
        "ops.promotion_gate.error_ratio"
    );
    assert_eq!(field(b().job("")), "ops.job");
    assert_eq!(field(b().port(0)), "ops.port");
    assert_eq!(field(b().replicas(0)), "ops.replicas");
    assert_eq!(field(b().autoscaling(0, 5)), "ops.autoscaling.min");
    assert_eq!(field(b().autoscaling(4, 3)), "ops.autoscaling.max");
    assert_eq!(
        field(b().autoscaling_targets(0.0, 0.8)),
        "ops.autoscaling_targets.cpu"
    );
    assert_eq!(
        field(b().autoscaling_targets(0.7, 1.5)),
        "ops.autoscaling_targets.memory"
    );
    assert_eq!(
        field(b().scale_down_window(Duration::from_secs(7200))),
        "ops.scale_down_window"
    );
    assert_eq!(field(b().max_unavailable(0)), "ops.max_unavailable");
    assert_eq!(field(b().binary("")), "ops.binary");
    assert_eq!(
        field(b().alert_webhooks("ftp://pager", "https://chat", "https://info")),
        "ops.alert_webhooks.critical"
    );
    assert_eq!(
        field(b().alert_webhooks("https://pager", "https://chat", "not a url")),
        "ops.alert_webhooks.info"
    );
    assert_eq!(field(b().binary("bin/orders")), "ops.binary");
    let error = b().latency_budget(0.4, 1.0).build().unwrap_err();
    assert!(error.to_string().contains("bucket"), "{error}");
}

/// The README's table of alerts by tier says what the default rules do: each
/// alert has a row, a cell in each of its tiers' columns (and none in the
/// others) naming its `for:` duration.
#[test]
fn the_readme_lists_every_alert_by_tier_with_its_duration() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let rows: BTreeMap<String, Vec<String>> = readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect();
    let file: Value = serde_norway::from_str(&kit().prometheus_rules()).unwrap();
    let mut tiers: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for group in file["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let name = name.strip_prefix("Orders").unwrap();
            if name.contains("BudgetBurn") {
                continue;
            }
            tiers.entry(name.to_owned()).or_default().insert(
                rule["labels"]["severity"].as_str().unwrap().to_owned(),
                rule["for"].as_str().unwrap().to_owned(),
            );
        }
    }
    assert!(tiers.len() >= 26, "{tiers:?}");
    for (name, by_severity) in &tiers {
        let row = rows
            .get(name)
            .unwrap_or_else(|| panic!("README has no row for {name}"));
        for (column, severity) in [(2, "critical"), (3, "warning"), (4, "info")] {
            let cell = &row[column];
            match by_severity.get(severity) {
                None => assert!(cell.is_empty(), "{name}: README has a {severity} cell"),
                Some(for_) if for_ == "0m" || for_ == "0s" => {
                    assert!(!cell.is_empty(), "{name}: no {severity} cell");
                    assert!(!cell.contains("for "), "{name} {severity}: fires at once");
                }
                Some(for_) => assert!(
                    cell.contains(&format!("for {for_}")),
                    "{name} {severity}: README says {cell:?}, the rule `for: {for_}`"
                ),
            }
        }
    }
}

/// The service's shutdown for these tests: 10 s drain delay, 20 s drain timeout,
/// 3 s for the hooks.
fn shutdown_of(readiness: &Readiness) -> readiness_core::shutdown::Shutdown {
    readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::from_secs(10))
        .drain_timeout(Duration::from_secs(20))
        .hooks_timeout(Duration::from_secs(3))
        .build()
        .unwrap()
}

/// The kit takes the shutdown's timings from the `Shutdown` the service runs
/// (environment included), not a second copy of them.
#[test]
fn the_manifests_take_the_timings_of_the_shutdown_they_describe() {
    let readiness = Readiness::builder()
        .service("orders", "1.0.0")
        .system_metrics(false)
        .build()
        .unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .from_lookup(|name| match name {
            "READINESS_SHUTDOWN_DRAIN_DELAY" => Some("7s".into()),
            "READINESS_SHUTDOWN_DRAIN_TIMEOUT" => Some("11s".into()),
            _ => None,
        })
        .unwrap()
        .hooks_timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    let kit = readiness
        .ops_kit()
        .shutdown(&shutdown)
        .pre_stop(Duration::ZERO)
        .build()
        .unwrap();
    let doc: Value =
        serde_norway::from_str(kit.kubernetes().split("\n---\n").next().unwrap()).unwrap();
    let pod = &doc["spec"]["template"]["spec"];
    let env: BTreeMap<String, String> = pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert_eq!(env["READINESS_SHUTDOWN_DRAIN_DELAY"], "7000ms");
    assert_eq!(env["READINESS_SHUTDOWN_DRAIN_TIMEOUT"], "11000ms");
    assert_eq!(env["READINESS_SHUTDOWN_HOOKS_TIMEOUT"], "4000ms");
    // 7 + 11 + 4 s, and 5 s to spare.
    assert_eq!(pod["terminationGracePeriodSeconds"], 27);
}

/// The job the rules select is the job the kit's scrape configurations write,
/// whatever it is set to; one that cannot be a scraped job is an error naming
/// `ops.job`.
#[test]
fn the_rules_select_the_job_the_kit_scrapes_under() {
    let readiness = Readiness::builder()
        .service("Orders API", "1.0.0")
        .system_metrics(false)
        .build()
        .unwrap();
    for (job, kit) in [
        ("orders-api", readiness.ops_kit().build().unwrap()),
        (
            "shop/orders prod",
            readiness.ops_kit().job("shop/orders prod").build().unwrap(),
        ),
    ] {
        let docs: Vec<Value> = kit
            .kubernetes()
            .split("\n---\n")
            .map(|doc| serde_norway::from_str(doc).unwrap())
            .collect();
        let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").unwrap();
        // The Service keeps its name; the scraped series get the kit's job.
        assert_eq!(monitor["metadata"]["name"], "orders-api");
        assert_eq!(
            monitor["spec"]["endpoints"][0]["relabelings"],
            json!([{ "action": "replace", "targetLabel": "job", "replacement": job }])
        );
        let config: Value = serde_norway::from_str(&kit.prometheus_config()).unwrap();
        assert_eq!(config["scrape_configs"][0]["job_name"], job);
        let selector = format!("job=\"{job}\"");
        assert!(kit.prometheus_rules().contains(&selector), "{job}");
        let dashboard: Value = serde_json::from_str(&kit.grafana_dashboard()).unwrap();
        assert!(
            dashboard
                .to_string()
                .contains(&selector.replace('"', "\\\"")),
            "{job}"
        );
    }
    for bad in ["", " orders", "orders\"", "a\\b", "or\nders"] {
        let error = readiness.ops_kit().job(bad).build().unwrap_err();
        assert_eq!(error.field(), "ops.job", "{bad:?}");
        assert!(error.message().contains("job_name"), "{error}");
    }
}
