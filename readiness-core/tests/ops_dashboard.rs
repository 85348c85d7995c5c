//! The Grafana dashboard's panels for background jobs, database pools, caches,
//! client errors, the audit trail and uptime: present, under the registry's
//! namespace, and laid out without overlaps.
#![cfg(feature = "ops-kit")]

use readiness_core::Readiness;
use serde_json::Value;

fn dashboard(namespace: Option<&str>) -> Value {
    let mut builder = Readiness::builder()
        .service("orders", "1.0.0")
        .system_metrics(false);
    if let Some(namespace) = namespace {
        builder = builder.metrics_namespace(namespace);
    }
    let kit = builder.build().unwrap().ops_kit().build().unwrap();
    serde_json::from_str(&kit.grafana_dashboard()).unwrap()
}

/// Every panel's title and its expressions.
fn panels(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|panel| {
            let exprs = panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["expr"].as_str().unwrap().to_owned())
                .collect();
            (panel["title"].as_str().unwrap().to_owned(), exprs)
        })
        .collect()
}

fn exprs_of<'a>(panels: &'a [(String, Vec<String>)], title: &str) -> &'a [String] {
    &panels
        .iter()
        .find(|(t, _)| t == title)
        .unwrap_or_else(|| panic!("no panel {title:?} in {panels:?}"))
        .1
}

#[test]
fn jobs_pools_caches_client_errors_audit_and_uptime_have_panels() {
    let panels = panels(&dashboard(None));
    for (title, wanted) in [
        (
            "Job duration by operation",
            &[
                "histogram_quantile(0.5, sum by (operation, le) (rate(job_duration_seconds_bucket{job=\"orders\"}[5m])))",
                "histogram_quantile(0.99, sum by (operation, le) (rate(job_duration_seconds_bucket{job=\"orders\"}[5m])))",
            ][..],
        ),
        (
            "Job failure ratio by operation (15 m)",
            &["job_runs_total{job=\"orders\", outcome=\"failure\"}"],
        ),
        ("Job queue depth by operation", &["job_queue_depth{job=\"orders\"}"]),
        (
            "Cache hit ratio by cache",
            &["cache_requests_total{job=\"orders\", result=\"hit\"}"],
        ),
        (
            "Pool connections",
            &[
                "sum by (pool, state) (db_client_connections{job=\"orders\"})",
                "db_client_connections_max{job=\"orders\"}",
            ],
        ),
        (
            "Connection wait (p95) by pool",
            &["histogram_quantile(0.95, sum by (pool, le) (rate(db_client_connection_wait_time_seconds_bucket{job=\"orders\"}[5m])))"],
        ),
        (
            "Client error ratio (4xx) by route",
            &["http_response_status_code=~\"4..\""],
        ),
        (
            "Audit trail records by result",
            &["sum by (result) (increase(audit_records_total{job=\"orders\"}[5m]))"],
        ),
        (
            "Uptime",
            &["time() - process_start_time_seconds{job=\"orders\"}"],
        ),
    ] {
        let exprs = exprs_of(&panels, title);
        for want in wanted {
            assert!(
                exprs.iter().any(|e| e.contains(want)),
                "{title}: {want} not in {exprs:?}"
            );
        }
    }
    assert_eq!(exprs_of(&panels, "Job duration by operation").len(), 3);
}

#[test]
fn the_new_panels_select_the_namespaced_families() {
    let panels = panels(&dashboard(Some("shop")));
    for (title, family) in [
        (
            "Job duration by operation",
            "shop_job_duration_seconds_bucket",
        ),
        (
            "Job failure ratio by operation (15 m)",
            "shop_job_runs_total",
        ),
        ("Job queue depth by operation", "shop_job_queue_depth"),
        ("Cache hit ratio by cache", "shop_cache_requests_total"),
        ("Pool connections", "shop_db_client_connections"),
        (
            "Connection wait (p95) by pool",
            "shop_db_client_connection_wait_time_seconds_bucket",
        ),
        (
            "Client error ratio (4xx) by route",
            "shop_http_server_request_duration_seconds_count",
        ),
        ("Audit trail records by result", "shop_audit_records_total"),
        ("Uptime", "shop_process_start_time_seconds"),
    ] {
        let exprs = exprs_of(&panels, title);
        assert!(
            exprs.iter().all(|e| e.contains(family)),
            "{title}: {family} not in {exprs:?}"
        );
    }
}

#[test]
fn panels_do_not_overlap() {
    let dashboard = dashboard(None);
    let cells: Vec<(u64, u64, u64, u64, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let g = &p["gridPos"];
            let n = |k: &str| g[k].as_u64().unwrap();
            (n("x"), n("y"), n("w"), n("h"), p["title"].to_string())
        })
        .collect();
    for (i, a) in cells.iter().enumerate() {
        assert!(a.0 + a.2 <= 24, "{a:?} wider than the dashboard");
        for b in &cells[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
}
