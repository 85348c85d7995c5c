//! An OTLP/HTTP collector of the test's own, and the export scenario of the three
//! signals.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{json, Service};

/// An OTLP/HTTP endpoint that keeps the path and raw body of every `POST`
/// (`/v1/traces`, `/v1/metrics`, `/v1/logs`) and answers 200. Protobuf writes
/// strings and ids as raw bytes, so a span's name and trace id can be found in the
/// body without decoding it.
pub struct OtlpSink {
    pub addr: SocketAddr,
    bodies: Arc<Exports>,
}

/// Each export's path and body, in arrival order.
type Exports = Mutex<Vec<(String, Vec<u8>)>>;

impl OtlpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let store = Arc::clone(&store);
                std::thread::spawn(move || serve_otlp(stream, &store));
            }
        });
        Self { addr, bodies }
    }

    /// Whether any export so far, of any signal, holds `bytes`.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        self.holds_in("/v1/", bytes)
    }

    /// Whether an export to a path starting with `path` holds `bytes`.
    pub fn holds_in(&self, path: &str, bytes: &[u8]) -> bool {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| at.starts_with(path))
            .any(|(_, body)| body.windows(bytes.len()).any(|w| w == bytes))
    }
}

fn serve_otlp(stream: TcpStream, store: &Exports) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Some(path) = request_line.strip_prefix("POST ") {
            let path = path.split(' ').next().unwrap_or_default().to_owned();
            store.lock().unwrap().push((path, body));
        }
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Both services: with `OTEL_EXPORTER_OTLP_ENDPOINT` set (and nothing else), all
/// three signals reach the collector: a request's server span under the trace id
/// its log lines carry, its access line as a log record under the same trace id, and
/// the request-duration histogram under its OpenTelemetry name.
pub fn exports_spans_when_an_endpoint_is_set(exe: &str) {
    let sink = OtlpSink::start();
    let endpoint = format!("http://{}", sink.addr);
    let mut service = Service::start(
        exe,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    let (status, _) = service.get("/items");
    assert_eq!(status, 200);
    let access = service.wait_for_line("the access line", |l| {
        let line = json(l);
        line["target"] == "readiness::access" && l.contains("/items")
    });
    let trace_id = json(&access)["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no trace_id in {access}"))
        .to_owned();
    let trace_bytes: Vec<u8> = (0..trace_id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace_id[i..i + 2], 16).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(sink.holds(b"GET /items") && sink.holds(&trace_bytes) && sink.holds(b"client.address"))
    {
        assert!(
            Instant::now() < deadline,
            "no span `GET /items` with trace {trace_id} and client.address exported \
             (name: {}, trace: {}, client: {}, exports: {})\n{}",
            sink.holds(b"GET /items"),
            sink.holds(&trace_bytes),
            sink.holds(b"client.address"),
            sink.bodies.lock().unwrap().len(),
            service.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The access line as a log record, under the same trace id; the histogram.
    while !(sink.holds_in("/v1/logs", b"request finished")
        && sink.holds_in("/v1/logs", &trace_bytes)
        && sink.holds_in("/v1/metrics", b"http.server.request.duration"))
    {
        assert!(
            Instant::now() < deadline,
            "logs or metrics not exported (access record: {}, its trace: {}, histogram: {})",
            sink.holds_in("/v1/logs", b"request finished"),
            sink.holds_in("/v1/logs", &trace_bytes),
            sink.holds_in("/v1/metrics", b"http.server.request.duration"),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
