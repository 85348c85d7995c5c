//! Helpers shared by the tests of both example services, which run the built
//! service as a child process and talk to it over real sockets. Included by path
//! (`#[path = "../../support/mod.rs"]`): copied out of this repository, an example
//! builds and runs without it; only its tests need this file next to it.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running example service: its address, and its log lines as they come.
pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `exe` on a free loopback port with `env` on top of the test's own
    /// environment, and waits for its `listening` line.
    pub fn start(exe: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(exe)
            .env("BIND", "127.0.0.1")
            .env("PORT", "0")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        let mut service = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        let line =
            service.wait_for_line("the listening line", |l| json(l)["message"] == "listening");
        service.addr = json(&line)["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line}"));
        service
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) for a line matching `matches`.
    pub fn wait_for_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| matches(l)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the service exited ({status}) before {what}:\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, &[], "")
    }

    /// Sends SIGTERM and waits (up to `limit`) for the exit; returns the exit code.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a connection of its own: the status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A log line as JSON (`Null` for a line that is not JSON).
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_default()
}

/// An OTLP/HTTP endpoint that keeps the raw body of every `POST /v1/traces` and
/// answers 200. Protobuf writes strings and ids as raw bytes, so a span's name and
/// trace id can be found in the body without decoding it.
pub struct OtlpSink {
    pub addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

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

    /// Whether any export so far holds `bytes`.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .any(|body| body.windows(bytes.len()).any(|w| w == bytes))
    }
}

fn serve_otlp(stream: TcpStream, store: &Mutex<Vec<Vec<u8>>>) {
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
        if request_line.starts_with("POST /v1/traces ") {
            store.lock().unwrap().push(body);
        }
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Both services: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request's server span
/// reaches the collector, under the trace id its log lines carry.
pub fn exports_spans_when_an_endpoint_is_set(exe: &str) {
    let sink = OtlpSink::start();
    let endpoint = format!("http://{}", sink.addr);
    let mut service = Service::start(
        exe,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
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
}
