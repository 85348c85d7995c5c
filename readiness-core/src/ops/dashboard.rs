//! The Grafana dashboard: application performance (RED per route, 4xx, uptime),
//! system health (checks, process, machine), background jobs and caches, database
//! pools, and security (events, telemetry lost, audit trail), over the recording
//! rules and raw series.

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

/// `panel`, with Grafana's exemplars on for its target `ref_id`: the trace ids
/// Prometheus stored on the series that target's query selects, as points that link
/// to their traces (through the data source's `exemplarTraceIdDestinations`).
fn with_exemplars(mut panel: Value, ref_id: &str) -> Value {
    if let Some(targets) = panel["targets"].as_array_mut() {
        for target in targets.iter_mut().filter(|t| t["refId"] == ref_id) {
            target["exemplar"] = Value::Bool(true);
        }
    }
    panel
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

/// P50, P95 and P99 of the histogram `family` by the label `by`, one line each.
fn quantiles(kit: &OpsKit, by: &str, family: &str) -> Vec<(String, String)> {
    let sel = kit.selector();
    [("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")]
        .iter()
        .map(|(legend, q)| {
            (
                format!("{legend} {{{{{by}}}}}"),
                format!(
                    "histogram_quantile({q}, sum by ({by}, le) (rate({}_bucket{{{sel}}}[5m])))",
                    kit.metric(family)
                ),
            )
        })
        .collect()
}

/// `part` over the whole of a counter's rate, by `by`: a ratio, 0 where none of
/// the rate is `part` and no line at all without any.
fn ratio(kit: &OpsKit, family: &str, by: &str, part: &str, window: &str) -> String {
    let sel = kit.selector();
    let family = kit.metric(family);
    format!(
        "(sum by ({by}) (rate({family}{{{sel}, {part}}}[{window}])) or sum by ({by}) (rate({family}{{{sel}}}[{window}])) * 0) / sum by ({by}) (rate({family}{{{sel}}}[{window}]))"
    )
}

pub(super) fn render(kit: &OpsKit) -> String {
    let sel = kit.selector();
    let m = |name: &str| kit.metric(name);
    let route = names::HTTP_ROUTE;
    let count = format!("{}_count", kit.duration());
    let job_quantiles = quantiles(kit, names::OPERATION, names::JOB_DURATION);
    let job_quantiles: Vec<(&str, String)> = job_quantiles
        .iter()
        .map(|(legend, expr)| (legend.as_str(), expr.clone()))
        .collect();
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
        // Exemplars are kept on scraped series only, never on recorded ones: the p99
        // line reads the raw buckets, so its query finds the buckets' trace ids.
        with_exemplars(
            panel(4, "Latency by route", "s", 0, 9, &[
                ("p50 {{http_route}}", format!("{}{{{sel}}}", rules::route_quantile("50"))),
                ("p95 {{http_route}}", format!("{}{{{sel}}}", rules::route_quantile("95"))),
                (
                    "p99 {{http_route}}",
                    format!(
                        "histogram_quantile(0.99, sum by ({route}, le) (rate({}_bucket{{{sel}}}[5m])))",
                        kit.duration()
                    ),
                ),
            ]),
            "C",
        ),
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
        panel(18, "Client error ratio (4xx) by route", "percentunit", 0, 25, &[(
            "{{http_route}}",
            format!(
                "(sum by ({route}) (rate({count}{{{sel}, {status}=~\"4..\"}}[5m])) or sum by ({route}) (rate({count}{{{sel}}}[5m])) * 0) / sum by ({route}) (rate({count}{{{sel}}}[5m]))",
                status = names::HTTP_RESPONSE_STATUS_CODE
            ),
        )]),
        panel(19, "Uptime", "s", 12, 25, &[(
            "{{instance}}",
            format!("time() - {}{{{sel}}}", m(names::PROCESS_START_TIME)),
        )]),
        row(8, "System health", 33),
        panel(9, "Health check status (1 pass, 0.5 warn, 0 fail)", "short", 0, 34, &[(
            "{{check}} {{instance}}",
            format!("{}{{{sel}}}", m(names::HEALTH_CHECK_STATUS)),
        )]),
        panel(10, "Health check latency (p95)", "s", 12, 34, &[(
            "{{check}}",
            format!(
                "histogram_quantile(0.95, sum by (check, le) (rate({}_bucket{{{sel}}}[5m])))",
                m(names::HEALTH_CHECK_DURATION)
            ),
        )]),
        panel(11, "Process CPU (cores) and threads", "short", 0, 42, &[
            ("cpu {{instance}}", format!("rate({}{{{sel}}}[5m])", m(names::PROCESS_CPU_SECONDS))),
            ("threads {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_THREADS))),
        ]),
        panel(12, "Process memory", "bytes", 12, 42, &[(
            "resident {{instance}}",
            format!("{}{{{sel}}}", m(names::PROCESS_RESIDENT_MEMORY)),
        )]),
        panel(13, "Machine utilization", "percentunit", 0, 50, &[
            ("cpu {{instance}}", format!("{}{{{sel}}}", m(names::SYSTEM_CPU_UTILIZATION))),
            ("memory {{instance}}", format!("{}{{{sel}}}", m(names::SYSTEM_MEMORY_UTILIZATION))),
            (
                "disk {{mountpoint}} {{instance}}",
                format!("{}{{{sel}}}", m(names::SYSTEM_FILESYSTEM_UTILIZATION)),
            ),
        ]),
        panel(14, "Open file descriptors", "short", 12, 50, &[
            ("open {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_OPEN_FDS))),
            ("max {{instance}}", format!("{}{{{sel}}}", m(names::PROCESS_MAX_FDS))),
        ]),
        row(20, "Background jobs and caches", 58),
        panel(21, "Job duration by operation", "s", 0, 59, &job_quantiles),
        panel(22, "Job failure ratio by operation (15 m)", "percentunit", 12, 59, &[(
            "{{operation}}",
            ratio(kit, names::JOB_RUNS, names::OPERATION, "outcome=\"failure\"", "15m"),
        )]),
        panel(23, "Job queue depth by operation", "short", 0, 67, &[(
            "{{operation}}",
            format!("sum by ({0}) ({1}{{{sel}}})", names::OPERATION, m(names::JOB_QUEUE_DEPTH)),
        )]),
        panel(24, "Cache hit ratio by cache", "percentunit", 12, 67, &[(
            "{{cache}}",
            ratio(kit, names::CACHE_REQUESTS, names::CACHE, "result=\"hit\"", "5m"),
        )]),
        row(25, "Database pools", 75),
        panel(26, "Pool connections", "short", 0, 76, &[
            (
                "{{state}} {{pool}}",
                format!("sum by (pool, state) ({}{{{sel}}})", m(names::DB_CLIENT_CONNECTIONS)),
            ),
            ("max {{pool}}", format!("max by (pool) ({}{{{sel}}})", m(names::DB_CLIENT_CONNECTIONS_MAX))),
        ]),
        panel(27, "Connection wait (p95) by pool", "s", 12, 76, &[(
            "p95 {{pool}}",
            format!(
                "histogram_quantile(0.95, sum by (pool, le) (rate({}_bucket{{{sel}}}[5m])))",
                m(names::DB_CLIENT_CONNECTION_WAIT_TIME)
            ),
        )]),
        row(15, "Security", 84),
        panel(16, "Security events by kind", "short", 0, 85, &[(
            "{{kind}} ({{severity}})",
            format!("sum by (kind, severity) (increase({}{{{sel}}}[5m]))", m(names::SECURITY_EVENTS)),
        )]),
        panel(17, "Telemetry lost", "short", 12, 85, &[
            (
                "log lines dropped",
                format!("sum(increase({}{{{sel}}}[5m]))", m(names::LOG_LINES_DROPPED)),
            ),
            (
                "spans dropped ({{reason}})",
                format!("sum by (reason) (increase({}{{{sel}}}[5m]))", m(names::TRACE_SPANS_DROPPED)),
            ),
        ]),
        panel(28, "Audit trail records by result", "short", 0, 93, &[(
            "{{result}}",
            format!("sum by (result) (increase({}{{{sel}}}[5m]))", m(names::AUDIT_RECORDS)),
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
