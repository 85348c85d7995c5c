//! The operations kit: the rules pass `promtool check rules`, each alert fires on
//! synthetic series when it should and stays quiet when it should not (`promtool
//! test rules`), the dashboard is valid JSON over known series, the manifests agree
//! with the shutdown settings and pass Kubernetes' schemas, and bad settings are
//! errors naming the field.
#![cfg(feature = "ops-kit")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use readiness_core::ops::OpsKit;
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
    // 5 route rules + 4 windows x 3 SLO ratios; 15 alerts; 6 SLO burn alerts.
    assert!(output.contains("SUCCESS: 38 rules found"), "{output}");

    // And promtool does reject a broken file, so the check above means something.
    std::fs::write(
        dir.join("broken.yml"),
        "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(\n",
    )
    .unwrap();
    let (ok, _) = promtool(&["check", "rules", "broken.yml"], &dir);
    assert!(!ok);
}

/// The alerts of the generated file, by name: their annotations (promtool
/// compares them too).
fn annotations(rules: &str) -> serde_json::Map<String, Value> {
    let file: Value = serde_norway::from_str(rules).unwrap();
    let mut out = serde_json::Map::new();
    for group in file["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(name) = rule["alert"].as_str() {
                out.insert(name.to_owned(), rule["annotations"].clone());
            }
        }
    }
    out
}

const COUNT: &str = "http_server_request_duration_seconds_count";
const BUCKET: &str = "http_server_request_duration_seconds_bucket";

fn series(name: &str, labels: &[(&str, &str)], values: &str) -> Value {
    let mut all = vec![("job", "orders"), ("instance", "pod-a:8080")];
    all.extend_from_slice(labels);
    let labels: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    json!({ "series": format!("{name}{{{}}}", labels.join(", ")), "values": values })
}

/// Requests of `method` answered `status`, `per_minute` of them.
fn requests(method: &str, status: &str, per_minute: u32) -> Value {
    series(
        COUNT,
        &[
            ("http_route", "/items"),
            ("http_request_method", method),
            ("http_response_status_code", status),
        ],
        &format!("0+{per_minute}x120"),
    )
}

/// A duration histogram of `method` with `per_minute` requests, all of them in
/// the bucket above `fast_le` when `slow`, else all within it.
fn latency(method: &str, fast_le: &str, slow_le: &str, slow: bool) -> Vec<Value> {
    let labels = |le: &'static str| {
        vec![
            ("http_route", "/items"),
            ("http_request_method", method),
            ("http_response_status_code", "200"),
            ("le", le),
        ]
    };
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let (fast, slow_count) = if slow {
        ("0+0x60", "0+60x60")
    } else {
        ("0+60x60", "0+60x60")
    };
    vec![
        series(BUCKET, &labels(leak(fast_le)), fast),
        series(BUCKET, &labels(leak(slow_le)), slow_count),
        series(BUCKET, &labels("+Inf"), "0+60x60"),
        series(
            COUNT,
            &[
                ("http_route", "/items"),
                ("http_request_method", method),
                ("http_response_status_code", "200"),
            ],
            "0+60x60",
        ),
    ]
}

/// One expectation: at `at`, alert `name` fires with these labels (besides
/// `severity` and `service`), or not at all (`None`).
struct Expect {
    at: &'static str,
    name: &'static str,
    fires: Option<Vec<(&'static str, &'static str)>>,
}

fn fires(at: &'static str, name: &'static str, labels: &[(&'static str, &'static str)]) -> Expect {
    Expect {
        at,
        name,
        fires: Some(labels.to_vec()),
    }
}

fn quiet(at: &'static str, name: &'static str) -> Expect {
    Expect {
        at,
        name,
        fires: None,
    }
}

fn case(input: Vec<Value>, expects: Vec<Expect>, notes: &serde_json::Map<String, Value>) -> Value {
    let severity = |name: &str| {
        if name.ends_with("NonCriticalDependencyUnreachable") {
            "warning"
        } else if [
            "HighErrorRate",
            "Down",
            "DependencyUnreachable",
            "MemoryCritical",
            "AuditRecordsLost",
        ]
        .iter()
        .any(|n| name.ends_with(n))
            || name.ends_with("Fast")
        {
            "critical"
        } else {
            "warning"
        }
    };
    let tests: Vec<Value> = expects
        .into_iter()
        .map(|expect| {
            let alert = format!("Orders{}", expect.name);
            let exp: Vec<Value> = match expect.fires {
                None => vec![],
                Some(labels) => {
                    let mut map = serde_json::Map::new();
                    map.insert("job".into(), json!("orders"));
                    map.insert("severity".into(), json!(severity(&alert)));
                    map.insert("service".into(), json!("orders"));
                    for (k, v) in labels {
                        map.insert(k.into(), json!(v));
                    }
                    let annotations = notes
                        .get(&alert)
                        .unwrap_or_else(|| panic!("no alert {alert} in the rules"))
                        .clone();
                    vec![json!({ "exp_labels": map, "exp_annotations": annotations })]
                }
            };
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
    let pod = [("instance", "pod-a:8080")];
    let tests = vec![
        // 9% of answers are 5xx: every error alert and both availability burns.
        case(
            vec![requests("GET", "200", 600), requests("GET", "500", 60)],
            vec![
                fires("15m", "HighErrorRate", &[]),
                fires("15m", "ElevatedErrorRate", &[]),
                fires("15m", "AvailabilityBudgetBurnFast", &[]),
                fires("40m", "AvailabilityBudgetBurnSlow", &[]),
                quiet("15m", "ReadLatencyBudgetBurnFast"),
            ],
            &notes,
        ),
        // 2%: a warning, not critical; the fast burn (1.44%) fires, as it should.
        case(
            vec![requests("GET", "200", 588), requests("GET", "500", 12)],
            vec![
                fires("15m", "ElevatedErrorRate", &[]),
                quiet("15m", "HighErrorRate"),
            ],
            &notes,
        ),
        // No 5xx at all: quiet.
        case(
            vec![requests("GET", "200", 600), requests("GET", "500", 0)],
            vec![
                quiet("30m", "HighErrorRate"),
                quiet("30m", "ElevatedErrorRate"),
                quiet("30m", "AvailabilityBudgetBurnFast"),
                quiet("40m", "AvailabilityBudgetBurnSlow"),
            ],
            &notes,
        ),
        // Every read between 0.5 s and 1 s: over the read budget; writes are fine.
        case(
            [
                latency("GET", "0.5", "1", true),
                latency("POST", "1", "2.5", false),
            ]
            .concat(),
            vec![
                fires("15m", "ReadLatencyOverBudget", &[]),
                fires("15m", "ReadLatencyBudgetBurnFast", &[]),
                fires("40m", "ReadLatencyBudgetBurnSlow", &[]),
                quiet("15m", "WriteLatencyOverBudget"),
                quiet("15m", "WriteLatencyBudgetBurnFast"),
                quiet("40m", "WriteLatencyBudgetBurnSlow"),
            ],
            &notes,
        ),
        // Every write between 1 s and 2.5 s; reads within 0.5 s.
        case(
            [
                latency("GET", "0.5", "1", false),
                latency("POST", "1", "2.5", true),
            ]
            .concat(),
            vec![
                fires("15m", "WriteLatencyOverBudget", &[]),
                fires("15m", "WriteLatencyBudgetBurnFast", &[]),
                fires("40m", "WriteLatencyBudgetBurnSlow", &[]),
                quiet("15m", "ReadLatencyOverBudget"),
                quiet("40m", "ReadLatencyBudgetBurnSlow"),
            ],
            &notes,
        ),
        // A target down from minute 2: fires after 2 minutes down, not before.
        case(
            vec![series("up", &[], "1 1 0 0 0 0 0 0")],
            vec![quiet("3m", "Down"), fires("5m", "Down", &pod)],
            &notes,
        ),
        case(
            vec![series("up", &[], "1x10")],
            vec![quiet("8m", "Down")],
            &notes,
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
                    &[
                        ("check", "db"),
                        ("critical", "true"),
                        ("instance", "pod-a:8080"),
                    ],
                ),
                quiet("3m", "NonCriticalDependencyUnreachable"),
            ],
            &notes,
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
                    &[
                        ("check", "cache"),
                        ("critical", "false"),
                        ("instance", "pod-a:8080"),
                    ],
                ),
                quiet("3m", "DependencyUnreachable"),
            ],
            &notes,
        ),
        // CPU 90%, memory 87%, disk 90%: warnings; memory not yet critical.
        case(
            vec![
                series("system_cpu_utilization_ratio", &[], "0.9x20"),
                series("system_memory_utilization_ratio", &[], "0.87x20"),
                series(
                    "system_filesystem_utilization_ratio",
                    &[("mountpoint", "/")],
                    "0.9x20",
                ),
            ],
            vec![
                fires("15m", "HighCpu", &pod),
                fires("15m", "HighMemory", &pod),
                quiet("15m", "MemoryCritical"),
                fires(
                    "15m",
                    "DiskAlmostFull",
                    &[("mountpoint", "/"), ("instance", "pod-a:8080")],
                ),
            ],
            &notes,
        ),
        // Memory 95%: critical too. CPU 50%, disk 40%: quiet.
        case(
            vec![
                series("system_cpu_utilization_ratio", &[], "0.5x20"),
                series("system_memory_utilization_ratio", &[], "0.95x20"),
                series(
                    "system_filesystem_utilization_ratio",
                    &[("mountpoint", "/")],
                    "0.4x20",
                ),
            ],
            vec![
                fires("15m", "MemoryCritical", &pod),
                quiet("15m", "HighCpu"),
                quiet("15m", "DiskAlmostFull"),
            ],
            &notes,
        ),
        // Memory at half: neither memory alert.
        case(
            vec![series("system_memory_utilization_ratio", &[], "0.5x20")],
            vec![quiet("15m", "HighMemory"), quiet("15m", "MemoryCritical")],
            &notes,
        ),
        // 5 authentication failures a minute (25 in 5 minutes) and one denied access.
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
                    "0 0 1 1 1 1",
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
                fires("6m", "AuthenticationFailures", &[]),
                fires("3m", "UnauthorizedAccess", &[]),
                fires("3m", "LogLinesDropped", &[]),
                fires("4m", "AuditRecordsLost", &[("result", "dropped")]),
            ],
            &notes,
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
                series("log_lines_dropped_total", &[], "0x10"),
                series("audit_records_total", &[("result", "written")], "0+10x10"),
                series("audit_records_total", &[("result", "dropped")], "0x10"),
                series("audit_records_total", &[("result", "failed")], "0x10"),
            ],
            vec![
                quiet("6m", "AuthenticationFailures"),
                quiet("6m", "UnauthorizedAccess"),
                quiet("6m", "LogLinesDropped"),
                quiet("6m", "AuditRecordsLost"),
            ],
            &notes,
        ),
    ];
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
    // Every alert of the file is exercised above.
    let exercised = std::fs::read_to_string(dir.join("tests.yml")).unwrap();
    for alert in notes.keys() {
        assert!(
            exercised.contains(&format!("alertname: {alert}")),
            "{alert} untested"
        );
    }
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
}

#[test]
fn manifests_agree_with_the_shutdown_settings_and_probe_paths() {
    let readiness = Readiness::builder()
        .service("Orders API", "1.0.0")
        .system_metrics(false)
        .build()
        .unwrap();
    let kit = readiness
        .ops_kit()
        .shutdown(
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(3),
        )
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
            .shutdown(
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(3),
            )
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
    assert_eq!(field(b().error_ratio(0.1, 0.05)), "ops.error_ratio.warning");
    assert_eq!(
        field(b().error_ratio(0.01, 1.5)),
        "ops.error_ratio.critical"
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
    assert_eq!(field(b().memory(0.95, 0.9)), "ops.memory.warning");
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
