//! The Grafana dashboard: application performance (RED per route), system health
//! (checks, process, machine) and security, over the recording rules and raw series.

use serde_json::{json, Value};

use super::{rules, OpsKit};
use crate::metrics::names;

/// One time-series panel: title, unit, and (legend, PromQL) per line.
fn panel(id: u32, title: &str, unit: &str, x: u32, y: u32, targets: &[(&str, String)]) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .zip('A'..)
        .map(|((legend, expr), ref_id)| {
            json!({
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "expr": expr,
                "legendFormat": legend,
                "refId": ref_id.to_string(),
            })
        })
        .collect();
    json!({
        "id": id,
        "type": "timeseries",
        "title": title,
        "datasource": { "type": "prometheus", "uid": "${datasource}" },
        "gridPos": { "x": x, "y": y, "w": 12, "h": 8 },
        "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
        "options": { "legend": { "displayMode": "list", "placement": "bottom" } },
        "targets": targets,
    })
}

fn row(id: u32, title: &str, y: u32) -> Value {
    json!({
        "id": id,
        "type": "row",
        "title": title,
        "collapsed": false,
        "gridPos": { "x": 0, "y": y, "w": 24, "h": 1 },
        "panels": [],
    })
}

pub(super) fn render(kit: &OpsKit) -> String {
    let sel = kit.selector();
    let m = |name: &str| kit.metric(name);
    let route = names::HTTP_ROUTE;
    let panels = vec![
        row(1, "Application performance", 0),
        panel(2, "Requests per second by route", "reqps", 0, 1, &[(
            "{{http_route}} {{http_request_method}}",
            format!("{}{{{sel}}}", rules::route_rate()),
        )]),
        panel(3, "Error ratio (5xx) by route", "percentunit", 12, 1, &[(
            "{{http_route}}",
            format!("{}{{{sel}}}", rules::route_errors()),
        )]),
        panel(4, "Latency by route", "s", 0, 9, &[
            ("p50 {{http_route}}", format!("{}{{{sel}}}", rules::route_quantile("50"))),
            ("p95 {{http_route}}", format!("{}{{{sel}}}", rules::route_quantile("95"))),
            ("p99 {{http_route}}", format!("{}{{{sel}}}", rules::route_quantile("99"))),
        ]),
        panel(5, "Requests in flight", "short", 12, 9, &[(
            "{{instance}}",
            format!("sum by (instance) ({}{{{sel}}})", m(names::HTTP_SERVER_ACTIVE_REQUESTS)),
        )]),
        panel(6, "Response size by route (mean)", "bytes", 0, 17, &[(
            "{{http_route}}",
            format!(
                "sum by ({route}) (rate({0}_sum{{{sel}}}[5m])) / sum by ({route}) (rate({0}_count{{{sel}}}[5m]))",
                m(names::HTTP_SERVER_RESPONSE_BODY_SIZE)
            ),
        )]),
        panel(7, "Availability and latency SLOs (bad ratio, 1 h)", "percentunit", 12, 17, &[
            ("5xx", format!("job:slo_availability_errors:ratio_rate1h{{{sel}}}")),
            ("slow reads", format!("job:slo_read_latency_slow:ratio_rate1h{{{sel}}}")),
            ("slow writes", format!("job:slo_write_latency_slow:ratio_rate1h{{{sel}}}")),
        ]),
        row(8, "System health", 25),
        panel(9, "Health check status (1 pass, 0.5 warn, 0 fail)", "short", 0, 26, &[(
            "{{check}} {{instance}}",
            format!("{}{{{sel}}}", m(names::HEALTH_CHECK_STATUS)),
        )]),
        panel(10, "Health check latency (p95)", "s", 12, 26, &[(
            "{{check}}",
            format!(
                "histogram_quantile(0.95, sum by (check, le) (rate({}_bucket{{{sel}}}[5m])))",
                m(names::HEALTH_CHECK_DURATION)
            ),
        )]),
        panel(11, "Process CPU (cores) and threads", "short", 0, 34, &[
            ("cpu {{instance}}", format!("rate({}{{{sel}}}[5m])", m(names::PROCESS_CPU_SECONDS))),
            ("threads {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_THREADS))),
        ]),
        panel(12, "Process memory", "bytes", 12, 34, &[(
            "resident {{instance}}",
            format!("{}{{{sel}}}", m(names::PROCESS_RESIDENT_MEMORY)),
        )]),
        panel(13, "Machine utilization", "percentunit", 0, 42, &[
            ("cpu {{instance}}", format!("{}{{{sel}}}", m(names::SYSTEM_CPU_UTILIZATION))),
            ("memory {{instance}}", format!("{}{{{sel}}}", m(names::SYSTEM_MEMORY_UTILIZATION))),
            (
                "disk {{mountpoint}} {{instance}}",
                format!("{}{{{sel}}}", m(names::SYSTEM_FILESYSTEM_UTILIZATION)),
            ),
        ]),
        panel(14, "Open file descriptors", "short", 12, 42, &[
            ("open {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_OPEN_FDS))),
            ("max {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_MAX_FDS))),
        ]),
        row(15, "Security", 50),
        panel(16, "Security events by kind", "short", 0, 51, &[(
            "{{kind}} ({{severity}})",
            format!("sum by (kind, severity) (increase({}{{{sel}}}[5m]))", m(names::SECURITY_EVENTS)),
        )]),
        panel(17, "Telemetry lost", "short", 12, 51, &[(
            "log lines dropped",
            format!("sum(increase({}{{{sel}}}[5m]))", m(names::LOG_LINES_DROPPED)),
        )]),
    ];
    let dashboard = json!({
        "title": format!("{} (readiness)", kit.service),
        "uid": format!("readiness-{}", kit.service.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
        "tags": ["readiness", kit.service],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "templating": {
            "list": [{
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
            }]
        },
        "panels": panels,
    });
    serde_json::to_string_pretty(&dashboard).unwrap_or_default()
}
