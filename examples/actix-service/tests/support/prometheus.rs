//! A real Prometheus server scraping the service and evaluating the kit's rules.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{request, write_ops_kit, Service};

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
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
        dir.join("prometheus-rules.yml").display(),
        service.addr
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus not found: install Debian's `prometheus` package (`bash .ci/test` does)",
        );
    let prom = SocketAddr::from(([127, 0, 0, 1], port));
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(prom).is_err()
            || request(prom, "GET", "/-/ready", &[], "").0 != 200
        {
            assert!(Instant::now() < deadline, "prometheus did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
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
