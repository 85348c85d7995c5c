//! A real Prometheus server scraping the service and evaluating the kit's rules.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{request, write_ops_kit, OtlpSink, Service};

/// Percent-encodes a query string value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Both services: a real Prometheus server (Debian's `prometheus`) scrapes the
/// running service every second and evaluates the kit's rules; after a scripted
/// burst of traffic the recording rules hold the expected values.
pub fn prometheus_evaluates_the_kit_against_the_running_service(exe: &str, job: &str) {
    let dir = write_ops_kit(exe, "prometheus");
    let service = Service::start(exe, &[]);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
        dir.join("prometheus-rules.yml").display(),
        service.addr
    );
    let (mut prometheus, prom) = spawn_prometheus(&dir, &config, port, &[]);
    let query = |q: &str| -> Vec<(serde_json::Value, f64)> {
        let (status, body) = request(
            prom,
            "GET",
            &format!("/api/v1/query?query={}", encode(q)),
            &[],
            "",
        );
        assert_eq!(status, 200, "{q}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].clone(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_ready(prom);
        // The burst: 8 s of 40 list requests and 10 item lookups a second.
        let burst = Instant::now();
        while burst.elapsed() < Duration::from_secs(8) {
            let tick = Instant::now();
            for i in 0..50 {
                let path = if i % 5 == 0 { "/items/1" } else { "/items" };
                service.get(path);
            }
            std::thread::sleep(Duration::from_millis(1000).saturating_sub(tick.elapsed()));
        }
        // The rules run every second: wait for values over the burst.
        std::thread::sleep(Duration::from_secs(3));
        let up = query(&format!("up{{job=\"{job}\"}}"));
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].1, 1.0);
        let rates = query(&format!(
            "job_route:http_server_requests:rate5m{{job=\"{job}\"}}"
        ));
        let rate = |route: &str| {
            rates
                .iter()
                .find(|(m, _)| m["http_route"] == route && m["http_request_method"] == "GET")
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no rate for {route}: {rates:?}"))
        };
        // rate() over 5 minutes of a series 8 s old divides by the whole window:
        // the absolute figure is small, the proportion between routes is exact.
        let (list, item) = (rate("/items"), rate("/items/{id}"));
        assert!(list > 0.0, "list rate {list}");
        let ratio = list / item;
        assert!(
            (3.2..=4.8).contains(&ratio),
            "4 lists per lookup, got {ratio} ({rates:?})"
        );
        // No 5xx: error ratios are 0; everything is fast: p95 well under 0.1 s.
        let errors = query(&format!(
            "job_route:http_server_errors:ratio_rate5m{{job=\"{job}\", http_route=\"/items\"}}"
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].1, 0.0);
        let p95 = query(&format!("job_route:http_server_request_duration_seconds:p95_5m{{job=\"{job}\", http_route=\"/items\"}}"));
        assert!(p95[0].1 > 0.0 && p95[0].1 < 0.1, "{p95:?}");
        let availability = query(&format!(
            "job:slo_availability_errors:ratio_rate5m{{job=\"{job}\"}}"
        ));
        assert_eq!(availability[0].1, 0.0);
        let slow = query(&format!(
            "job:slo_read_latency_slow:ratio_rate5m{{job=\"{job}\"}}"
        ));
        assert_eq!(slow[0].1, 0.0, "{slow:?}");
        // Per version: the request series joined with the scraped
        // `service_info{version}` give one version, which passes the promotion
        // gate (no errors, P95 under 0.2 s).
        let info = query(&format!("service_info{{job=\"{job}\"}}"));
        assert_eq!(info.len(), 1, "{info:?}");
        let version = info[0].0["version"].as_str().unwrap().to_owned();
        let per_version = query(&format!(
            "job_version:http_server_requests:rate5m{{job=\"{job}\"}}"
        ));
        assert_eq!(per_version.len(), 1, "{per_version:?}");
        assert_eq!(
            per_version[0].0["version"],
            version.as_str(),
            "{per_version:?}"
        );
        assert!(per_version[0].1 > 0.0, "{per_version:?}");
        let promotable = query(&format!(
            "job_version:rollout_promotable:bool{{job=\"{job}\"}}"
        ));
        assert_eq!(promotable.len(), 1, "{promotable:?}");
        assert_eq!(promotable[0].1, 1.0, "{promotable:?}");
        // Nothing fires against a healthy service.
        let alerts = query("ALERTS{alertstate=\"firing\"}");
        assert!(alerts.is_empty(), "{alerts:?}");
    }));
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts Debian's `prometheus` with `config` (written to `dir`), its data in `dir`,
/// listening on `port`, with the `flags` added.
fn spawn_prometheus(dir: &Path, config: &str, port: u16, flags: &[&str]) -> (Child, SocketAddr) {
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus not found: install Debian's `prometheus` package (`bash .ci/test` does)",
        );
    (prometheus, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Waits up to 30 s for Prometheus to answer `/-/ready`.
fn wait_ready(prom: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(prom).is_err() || request(prom, "GET", "/-/ready", &[], "").0 != 200 {
        assert!(Instant::now() < deadline, "prometheus did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `promtool check metrics` on `text`: its complaints, if any.
fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Reads an OpenMetrics exposition on stdin with the official Python client's
/// strict parser; prints the `trace_id` of each exemplar, one a line, or the
/// parser's complaint on stderr with exit status 1 (2 when the module is missing).
const OPENMETRICS_PARSE: &str = r#"
import sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as error:
    print(f"{error}: install it with `python3 -m pip install prometheus-client==0.26.0`", file=sys.stderr)
    sys.exit(2)
try:
    for family in text_string_to_metric_families(sys.stdin.buffer.read().decode("utf-8")):
        for sample in family.samples:
            if sample.exemplar is not None:
                print(sample.exemplar.labels.get("trace_id", "(none)"))
except Exception as error:
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
"#;

/// `text` through the official Python client's OpenMetrics parser
/// (`prometheus_client.openmetrics.parser`, PyPI `prometheus-client`), which is
/// strict where promtool does not look (`# EOF`, exemplars, `_total`, units): the
/// trace ids of its exemplars, or the parser's message.
fn openmetrics_trace_ids(text: &str) -> Result<Vec<String>, String> {
    let mut child = Command::new("python3")
        .args(["-c", OPENMETRICS_PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 not found: the OpenMetrics parser runs under it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()),
        Some(1) => Err(format!("OpenMetrics parser: {}", stderr.trim_end())),
        _ => panic!("the OpenMetrics parser did not run: {stderr}"),
    }
}

/// Both services: requests carrying a sampled `traceparent` leave exemplars on the
/// request-duration buckets; a real Prometheus (`--enable-feature=exemplar-storage`)
/// scrapes them in the OpenMetrics format, its `/api/v1/query_exemplars` returns the
/// trace id of one of those requests, and that trace reached the OTLP collector.
/// The classic format passes `promtool check metrics` (which parses only that one),
/// the OpenMetrics one the official Python client's strict parser; the operations
/// kit's dashboard asks Prometheus for the exemplars with a query that finds them.
pub fn prometheus_stores_exemplars_that_lead_to_exported_traces(exe: &str, job: &str) {
    let sink = OtlpSink::start();
    let endpoint = format!("http://{}", sink.addr);
    let service = Service::start(
        exe,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let dir = std::env::temp_dir().join(format!("exemplars-{job}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
        service.addr
    );
    let (mut prometheus, prom) = spawn_prometheus(
        &dir,
        &config,
        free_port(),
        &["--enable-feature=exemplar-storage"],
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_ready(prom);
        // Requests from callers that sampled their trace, each its own trace id.
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let traces: Vec<String> = (0..20u128)
            .map(|i| format!("{:032x}", seed.wrapping_mul(1_000_003).wrapping_add(i) | 1))
            .collect();
        for trace in &traces {
            let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
            let (status, _) = request(
                service.addr,
                "GET",
                "/items",
                &[("traceparent", &traceparent)],
                "",
            );
            assert_eq!(status, 200);
        }
        // Both formats from the service itself.
        let (status, classic) = request(service.addr, "GET", "/metrics", &[], "");
        assert_eq!(status, 200);
        assert!(!classic.contains("trace_id") && !classic.contains("# EOF"));
        promtool_check_metrics(&classic).unwrap_or_else(|lint| panic!("{lint}\n{classic}"));
        let (status, open) = request(
            service.addr,
            "GET",
            "/metrics",
            &[("accept", "application/openmetrics-text;version=1.0.0")],
            "",
        );
        assert_eq!(status, 200);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(
            open.lines().any(
                |l| l.starts_with("http_server_request_duration_seconds_bucket{")
                    && l.contains(" # {trace_id=\"")
            ),
            "{open}"
        );
        // The strict parser accepts it and reads our trace ids off its exemplars;
        // and it refuses the same text without its `# EOF`, so it can fail.
        let read = openmetrics_trace_ids(&open).unwrap_or_else(|e| panic!("{e}\n{open}"));
        assert!(
            read.iter().any(|id| traces.contains(id)),
            "{read:?}\n{open}"
        );
        let cut = openmetrics_trace_ids(open.trim_end_matches("# EOF\n"));
        assert!(cut.unwrap_err().contains("Missing # EOF"));
        // Prometheus scraped it as OpenMetrics and kept the exemplars, where the
        // operations kit's dashboard asks for them: its exemplar query.
        let kit = write_ops_kit(exe, "exemplars");
        let dashboard: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(kit.join("grafana-dashboard.json")).unwrap(),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&kit);
        let asked = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .find(|t| t["exemplar"] == true)
            .expect("no exemplar query in the kit's dashboard");
        let asked = asked["expr"].as_str().unwrap();
        assert!(asked.contains(&format!("job=\"{job}\"")), "{asked}");
        let query = encode(asked);
        let end = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let deadline = Instant::now() + Duration::from_secs(30);
        let found = loop {
            let (status, body) = request(
                prom,
                "GET",
                &format!("/api/v1/query_exemplars?query={query}&start=0&end={end}"),
                &[],
                "",
            );
            assert_eq!(status, 200, "{body}");
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            let ids: Vec<String> = answer["data"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
                .collect();
            if let Some(id) = ids.iter().find(|id| traces.contains(id)) {
                break id.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no exemplar with one of our trace ids in Prometheus: {body}"
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        let (_, targets) = request(prom, "GET", "/api/v1/targets", &[], "");
        let targets: serde_json::Value = serde_json::from_str(&targets).unwrap();
        let target = &targets["data"]["activeTargets"][0];
        assert_eq!(target["health"], "up", "{target}");
        assert_eq!(target["lastError"], "", "{target}");
        // The trace the exemplar names reached the collector.
        let bytes: Vec<u8> = (0..found.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&found[i..i + 2], 16).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sink.holds(&bytes) {
            assert!(
                Instant::now() < deadline,
                "trace {found} of the exemplar never reached the collector"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }));
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
