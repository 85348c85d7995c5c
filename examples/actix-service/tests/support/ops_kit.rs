//! The operations kit written by the service: its files, its expressions, and the
//! series they select checked against a real scrape.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{metric_names, request, Service};

/// Runs `exe ops-kit DIR` into a fresh directory and returns it.
pub fn write_ops_kit(exe: &str, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("readiness-kit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::new(exe)
        .args(["ops-kit", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ops-kit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in [
        "prometheus-rules.yml",
        "grafana-dashboard.json",
        "kubernetes.yaml",
        "prometheus.yml",
        "alertmanager.yml",
        "Dockerfile",
    ] {
        assert!(dir.join(file).exists(), "{file} not written");
    }
    dir
}

/// Every PromQL expression of the kit: the rules' and the dashboard's, and the
/// names the rules record.
fn kit_expressions(dir: &std::path::Path) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let rules = std::fs::read_to_string(dir.join("prometheus-rules.yml")).unwrap();
    let mut exprs = Vec::new();
    let mut recorded = std::collections::BTreeSet::new();
    // The rules are YAML written by the kit: `expr:` values, plain or `|-` blocks.
    let lines: Vec<&str> = rules.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let line = line.strip_prefix("- ").unwrap_or(line);
        if let Some(name) = line.strip_prefix("record: ") {
            recorded.insert(name.trim().to_owned());
        }
        if let Some(value) = line.strip_prefix("expr: ") {
            if value.trim_start().starts_with('|') {
                let indent = lines[i + 1].len() - lines[i + 1].trim_start().len();
                let mut block = Vec::new();
                i += 1;
                while i < lines.len()
                    && (lines[i].len() - lines[i].trim_start().len() >= indent)
                    && !lines[i].trim().is_empty()
                {
                    block.push(lines[i].trim());
                    i += 1;
                }
                exprs.push(block.join(" "));
                continue;
            }
            exprs.push(value.trim().trim_matches('\'').replace("''", "'"));
        }
        i += 1;
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap())
            .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    (exprs, recorded)
}

/// Both services: every metric the kit's rules and dashboard select is in a real
/// scrape of the running service (or recorded by the rules, or Prometheus' `up`).
pub fn the_ops_kit_selects_only_series_the_service_emits(exe: &str) {
    let dir = write_ops_kit(exe, "names");
    let (exprs, recorded) = kit_expressions(&dir);
    assert!(exprs.len() > 30, "{exprs:?}");
    let service = Service::start(exe, &[]);
    let mut selected = std::collections::BTreeSet::new();
    for expr in &exprs {
        selected.extend(metric_names(expr));
    }
    // Before any traffic, every family the kit selects is there, at zero where
    // nothing happened yet, except the request families, whose series are named
    // by route, method and status and so appear with the first request.
    let per_request = |name: &str| name.starts_with("http_server_");
    wait_for_families(&service, &selected, &recorded, |name| !per_request(name));
    // Traffic that makes the request families appear: requests, a refused write.
    assert_eq!(service.get("/items").0, 200);
    assert_eq!(
        request(
            service.addr,
            "POST",
            "/items",
            &[("content-type", "application/json")],
            "{\"name\":\"pen\"}"
        )
        .0,
        401
    );
    wait_for_families(&service, &selected, &recorded, |_| true);
    // The check is not empty: it saw the RED, health, process, system, security,
    // job, pool and audit families.
    for name in [
        "http_server_request_duration_seconds_bucket",
        "health_check_status",
        "process_cpu_seconds_total",
        "system_memory_utilization_ratio",
        "security_events_total",
        "job_runs_total",
        "db_client_connections",
        "audit_trail_integrity_status",
        "cache_requests_total",
        "service_info",
    ] {
        assert!(selected.contains(name), "{name} not selected: {selected:?}");
    }
}

/// Waits (10 s at most: the machine's figures come from a sampler thread) until
/// every `selected` name that `wanted` is in a scrape, or recorded by the rules,
/// or Prometheus' own `up`.
fn wait_for_families(
    service: &Service,
    selected: &std::collections::BTreeSet<String>,
    recorded: &std::collections::BTreeSet<String>,
    wanted: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, scrape) = service.get("/metrics");
        assert_eq!(status, 200);
        let emitted: std::collections::BTreeSet<&str> = scrape
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        let missing: Vec<&String> = selected
            .iter()
            .filter(|name| {
                wanted(name)
                    && *name != "up"
                    && !recorded.contains(*name)
                    && !emitted.contains(name.as_str())
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "selected by the kit, not emitted: {missing:?}\n{scrape}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
