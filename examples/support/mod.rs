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
    /// The audit trail file (a temporary one unless `AUDIT_TRAIL` is given).
    pub trail: std::path::PathBuf,
}

/// A file name of the test's own in the temporary directory.
pub fn temp_file(what: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("example-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

impl Service {
    /// Starts `exe` on a free loopback port with `env` on top of the test's own
    /// environment, and waits for its `listening` line.
    pub fn start(exe: &str, env: &[(&str, &str)]) -> Self {
        let trail = env
            .iter()
            .find(|(k, _)| *k == "AUDIT_TRAIL")
            .map_or_else(|| temp_file("audit.jsonl"), |(_, v)| v.into());
        let mut child = Command::new(exe)
            .env("BIND", "127.0.0.1")
            .env("PORT", "0")
            .env("AUDIT_TRAIL", &trail)
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
            trail,
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

impl Service {
    /// Sends `signal` (`TERM`, `INT`) to the service.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (up to `limit`) for the exit; returns the exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} later:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The `phase` field of the shutdown's lifecycle lines, in order.
    pub fn phases(&self) -> Vec<String> {
        self.lines()
            .iter()
            .map(|l| json(l))
            .filter(|l| l["target"] == "readiness::shutdown")
            .filter_map(|l| l["phase"].as_str().map(str::to_owned))
            .collect()
    }

    /// The shutdown line of `phase`, as JSON.
    pub fn phase(&self, phase: &str) -> serde_json::Value {
        self.lines()
            .iter()
            .map(|l| json(l))
            .find(|l| l["target"] == "readiness::shutdown" && l["phase"] == phase)
            .unwrap_or_else(|| panic!("no {phase} line in:\n{}", self.lines().join("\n")))
    }
}

/// What became of one request of a keep-alive client.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An answer; `close` when it asked to close the connection.
    Answered { status: u16, close: bool },
    /// The connection was refused.
    Refused,
    /// A reused keep-alive connection was closed before a byte of the answer: the
    /// case every HTTP client retries on a new connection.
    Stale,
    /// Nothing or part of an answer on a connection made at `connected`.
    Cut { connected: Instant, partial: bool },
}

/// One request's outcome with when it was sent and when it ended.
#[derive(Debug, Clone)]
pub struct Record {
    pub sent: Instant,
    pub ended: Instant,
    pub outcome: Outcome,
}

struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    connected: Instant,
    used: u32,
}

/// An HTTP/1.1 client on one keep-alive connection at a time, as a load balancer's
/// or a service's client would be.
pub struct KeepAlive {
    addr: SocketAddr,
    connection: Option<Connection>,
}

impl KeepAlive {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connection: None,
        }
    }

    /// Connects now (`false` when refused).
    pub fn connect(&mut self) -> bool {
        match TcpStream::connect(self.addr) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                self.connection = Some(Connection {
                    reader: BufReader::new(stream.try_clone().unwrap()),
                    writer: stream,
                    connected: Instant::now(),
                    used: 0,
                });
                true
            }
            Err(_) => false,
        }
    }

    /// `GET path` on the open connection (a new one if there is none).
    pub fn get(&mut self, path: &str) -> Record {
        let sent = Instant::now();
        if self.connection.is_none() && !self.connect() {
            return Record {
                sent,
                ended: Instant::now(),
                outcome: Outcome::Refused,
            };
        }
        let connection = self.connection.as_mut().unwrap();
        let reused = connection.used > 0;
        connection.used += 1;
        let connected = connection.connected;
        let outcome = match exchange(connection, self.addr, path) {
            Ok((status, close)) => {
                if close {
                    self.connection = None;
                }
                Outcome::Answered { status, close }
            }
            Err(bytes) => {
                self.connection = None;
                if bytes == 0 && reused {
                    Outcome::Stale
                } else {
                    Outcome::Cut {
                        connected,
                        partial: bytes > 0,
                    }
                }
            }
        };
        Record {
            sent,
            ended: Instant::now(),
            outcome,
        }
    }
}

/// Writes a request and reads the answer: its status and whether it asked to
/// close, or how many bytes came before the connection failed.
fn exchange(
    connection: &mut Connection,
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, bool), usize> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    if connection.writer.write_all(request.as_bytes()).is_err() {
        return Err(0);
    }
    let mut read = 0;
    let mut line = String::new();
    match connection.reader.read_line(&mut line) {
        Ok(n) if n > 0 => read += n,
        _ => return Err(0),
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(read)?;
    let mut length = 0;
    let mut close = false;
    loop {
        let mut header = String::new();
        match connection.reader.read_line(&mut header) {
            Ok(n) if n > 0 => read += n,
            _ => return Err(read),
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| read)?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0; length];
    connection.reader.read_exact(&mut body).map_err(|_| read)?;
    Ok((status, close))
}

/// `clients` threads sending `GET path` one after another on keep-alive
/// connections until stopped; reconnecting when a connection closes.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Record>>>,
}

impl Load {
    pub fn start(addr: SocketAddr, clients: usize, path: &str) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let path = path.to_owned();
                std::thread::spawn(move || {
                    let mut client = KeepAlive::new(addr);
                    let mut records = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let record = client.get(&path);
                        if record.outcome == Outcome::Refused {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        records.push(record);
                    }
                    records
                })
            })
            .collect();
        Self { stop, threads }
    }

    pub fn stop(self) -> Vec<Record> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

/// Polls `GET /readyz` on new connections every 10 ms until refused or stopped:
/// when each answer came and its status.
pub fn poll_readyz(
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Instant, u16)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let mut client = KeepAlive::new(addr);
            match client.get("/readyz").outcome {
                Outcome::Answered { status, .. } => seen.push((Instant::now(), status)),
                _ => break,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        seen
    })
}

const SHUTDOWN_PHASES: [&str; 7] = [
    "initiated",
    "readiness_failed",
    "drain_delay_elapsed",
    "stopped_accepting",
    "in_flight_drained",
    "hooks_done",
    "exit",
];

/// Both services, under a steady load of ~200 ms requests on 16 keep-alive
/// connections, get SIGTERM: readiness fails within 100 ms; requests go on being
/// served during the drain delay; none accepted before accepting stopped fails or
/// is cut; new connections are refused after; the process exits cleanly within its
/// deadlines, with the lifecycle lines and hooks in order.
pub fn drains_under_load(exe: &str) {
    let drain_delay = Duration::from_secs(1);
    let mut service = Service::start(
        exe,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "1s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "5s"),
            ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3s"),
        ],
    );
    let addr = service.addr;
    let load = Load::start(addr, 16, "/slow/200");
    let stop_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readyz = poll_readyz(addr, Arc::clone(&stop_polling));
    std::thread::sleep(Duration::from_millis(1000));

    let term = Instant::now();
    service.signal("TERM");
    let code = service.wait_exit(Duration::from_secs(10));
    let took = term.elapsed();
    stop_polling.store(true, std::sync::atomic::Ordering::Relaxed);
    let records = load.stop();
    let readyz = readyz.join().unwrap();

    assert_eq!(code, Some(0), "{}", service.lines().join("\n"));
    assert!(
        took < drain_delay + Duration::from_secs(5 + 3),
        "exit took {took:?}"
    );
    // Readiness fails at once: the first answer after SIGTERM that is not 200 is a
    // 503, within 100 ms.
    assert!(readyz
        .iter()
        .any(|(at, status)| *at < term && *status == 200));
    let failed = readyz
        .iter()
        .find(|(at, status)| *at > term && *status != 200)
        .unwrap_or_else(|| panic!("/readyz never failed: {readyz:?}"));
    assert_eq!(failed.1, 503);
    assert!(
        failed.0 - term < Duration::from_millis(100),
        "/readyz failed {:?} after SIGTERM",
        failed.0 - term
    );

    // Accepting stops at SIGTERM + drain delay; what was accepted before is served.
    let stopped_accepting = term + drain_delay - Duration::from_millis(50);
    let mut answered_in_delay = 0;
    let mut refused_after = 0;
    for record in &records {
        match &record.outcome {
            Outcome::Answered { status, .. } => {
                assert_eq!(*status, 200, "{record:?}");
                if record.ended > term + Duration::from_millis(300)
                    && record.sent < stopped_accepting
                {
                    answered_in_delay += 1;
                }
            }
            Outcome::Refused | Outcome::Stale => {
                assert!(
                    record.sent >= stopped_accepting,
                    "{:?} {:?} after SIGTERM, before accepting stopped",
                    record.outcome,
                    record.sent - term
                );
                refused_after += usize::from(record.outcome == Outcome::Refused);
            }
            Outcome::Cut { connected, partial } => {
                assert!(
                    !partial && *connected >= stopped_accepting,
                    "a request on a connection made {:?} after SIGTERM was cut",
                    connected.saturating_duration_since(term)
                );
            }
        }
    }
    // The requests running when accepting stopped were answered with
    // `connection: close`, so their clients did not send more on those connections.
    let closed = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Answered { close: true, .. }))
        .count();
    assert!(closed > 0, "no answer asked the client to close");
    assert!(
        answered_in_delay > 0,
        "nothing served during the drain delay"
    );
    assert!(
        refused_after > 0,
        "no connection refused once accepting stopped"
    );

    assert_eq!(service.phases(), SHUTDOWN_PHASES);
    assert_eq!(service.phase("initiated")["trigger"], "SIGTERM");
    assert_eq!(service.phase("in_flight_drained")["cut"], 0);
    assert_eq!(service.phase("exit")["clean"], true);
    let hooks: Vec<(String, String)> = service
        .lines()
        .iter()
        .map(|l| json(l))
        .filter(|l| l["target"] == "readiness::shutdown" && l["hook"].is_string())
        .map(|l| {
            (
                l["hook"].as_str().unwrap().to_owned(),
                l["result"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        hooks,
        [
            ("checkpoint audit trail".to_owned(), "done".to_owned()),
            ("close database".to_owned(), "done".to_owned()),
            ("flush spans".to_owned(), "done".to_owned())
        ]
    );
}

/// Both services: 100 idle keep-alive connections open at SIGTERM do not hold the
/// exit past the drain delay + 1 s.
pub fn idle_connections_do_not_hold_shutdown(exe: &str) {
    let mut service = Service::start(exe, &[("READINESS_SHUTDOWN_DRAIN_DELAY", "1s")]);
    let mut clients: Vec<KeepAlive> = (0..100).map(|_| KeepAlive::new(service.addr)).collect();
    for client in &mut clients {
        let record = client.get("/items");
        assert!(
            matches!(
                record.outcome,
                Outcome::Answered {
                    status: 200,
                    close: false
                }
            ),
            "{record:?}"
        );
    }
    let term = Instant::now();
    service.signal("TERM");
    let code = service.wait_exit(Duration::from_secs(10));
    let took = term.elapsed();
    assert_eq!(code, Some(0), "{}", service.lines().join("\n"));
    assert!(
        took < Duration::from_secs(2),
        "100 idle connections held the exit for {took:?}"
    );
    assert_eq!(service.phases(), SHUTDOWN_PHASES);
}

/// Both services: a request longer than the drain timeout is cut at the deadline,
/// reported, and the exit code says the shutdown was not clean.
pub fn a_request_past_the_deadline_is_reported(exe: &str) {
    let mut service = Service::start(
        exe,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "1s"),
        ],
    );
    let addr = service.addr;
    let slow = std::thread::spawn(move || KeepAlive::new(addr).get("/slow/20000"));
    std::thread::sleep(Duration::from_millis(300)); // in flight by now
    let term = Instant::now();
    service.signal("TERM");
    let code = service.wait_exit(Duration::from_secs(10));
    let took = term.elapsed();
    assert_eq!(code, Some(1), "{}", service.lines().join("\n"));
    assert!(took < Duration::from_secs(4), "exit took {took:?}");
    let drained = service.phase("in_flight_drained");
    assert_eq!(drained["cut"], 1, "{drained}");
    assert_eq!(drained["level"], "WARN", "{drained}");
    assert_eq!(service.phase("exit")["clean"], false);
    assert_eq!(service.phases(), SHUTDOWN_PHASES);
    let record = slow.join().unwrap();
    assert!(
        !matches!(record.outcome, Outcome::Answered { .. }),
        "the slow request was answered: {record:?}"
    );
}

/// Both services: a second signal during the drain delay ends the process at once,
/// with a line saying so.
pub fn a_second_signal_exits_at_once(exe: &str) {
    let mut service = Service::start(exe, &[("READINESS_SHUTDOWN_DRAIN_DELAY", "20s")]);
    service.signal("TERM");
    service.wait_for_line("shutdown initiated", |l| json(l)["phase"] == "initiated");
    let second = Instant::now();
    service.signal("INT");
    let code = service.wait_exit(Duration::from_secs(5));
    assert!(
        second.elapsed() < Duration::from_secs(1),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(code, Some(1));
    let forced = service.phase("forced_exit");
    assert_eq!(forced["second"], "SIGINT", "{forced}");
    assert_eq!(forced["first"], "SIGTERM", "{forced}");
}

/// The metric names a PromQL expression selects: identifiers that are not
/// functions, keywords, label names or durations.
pub fn metric_names(expr: &str) -> std::collections::BTreeSet<String> {
    // Keywords, and the aggregations (which may be followed by `by (...)`).
    const KEYWORDS: [&str; 23] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = std::collections::BTreeSet::new();
    let mut i = 0;
    // Skips from an opening `open` to its matching `close`, strings included.
    let skip = |i: &mut usize, open: char, close: char| {
        let mut depth = 0;
        while *i < chars.len() {
            match chars[*i] {
                '"' => {
                    *i += 1;
                    while *i < chars.len() && chars[*i] != '"' {
                        *i += if chars[*i] == '\\' { 2 } else { 1 };
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        *i += 1;
                        return;
                    }
                }
                _ => {}
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            skip(&mut i, '{', '}');
        } else if c == '[' {
            skip(&mut i, '[', ']');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&word.as_str())
            {
                if called {
                    i = next;
                    skip(&mut i, '(', ')');
                }
            } else if !called && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

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
    // Traffic that makes every family appear: requests, a refused write (a
    // security event).
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
    let mut selected = std::collections::BTreeSet::new();
    for expr in &exprs {
        selected.extend(metric_names(expr));
    }
    // The machine's figures come from a sampler thread: give it its first round.
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
                *name != "up" && !recorded.contains(*name) && !emitted.contains(name.as_str())
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
    // The check is not empty: it saw the RED, health, process, system and
    // security families.
    for name in [
        "http_server_request_duration_seconds_bucket",
        "health_check_status",
        "process_cpu_seconds_total",
        "system_memory_utilization_ratio",
        "security_events_total",
    ] {
        assert!(selected.contains(name), "{name} not selected: {selected:?}");
    }
}

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

/// The test PostgreSQL and Redis (the machine's own, or `TEST_POSTGRES_URL` and
/// `TEST_REDIS_URL`).
fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The value of `name` with exactly these labels in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Both services: items written through the API are read back, from SQLite by
/// default and from the real PostgreSQL with the real Redis as cache (the second
/// read a cache hit); each write is an audit line; a refused token a security line.
pub fn items_round_trip(exe: &str) {
    for backend in ["sqlite", "postgres"] {
        let (database, redis) = (postgres_url(), redis_url());
        let mut env = vec![
            ("API_TOKEN", "s3cret-token"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
        ];
        if backend == "postgres" {
            env.push(("DATABASE_URL", database.as_str()));
            env.push(("REDIS_URL", redis.as_str()));
        }
        let mut service = Service::start(exe, &env);
        let name = format!("pen-{}-{}", backend, std::process::id());
        let body = format!("{{\"name\":\"{name}\"}}");
        let json_type = ("content-type", "application/json");
        let (status, created) = request(
            service.addr,
            "POST",
            "/items",
            &[json_type, ("authorization", "Bearer s3cret-token")],
            &body,
        );
        assert_eq!(status, 201, "{backend}: {created}");
        let created: serde_json::Value = serde_json::from_str(&created).unwrap();
        assert_eq!(created["name"], name.as_str());
        let id = created["id"].as_i64().unwrap();
        let (status, list) = service.get("/items");
        assert_eq!(status, 200);
        assert!(list.contains(&name), "{backend}: {list}");
        for _ in 0..2 {
            let (status, item) = service.get(&format!("/items/{id}"));
            assert_eq!(status, 200);
            assert!(item.contains(&name), "{backend}: {item}");
        }
        assert_eq!(service.get("/items/999999999").0, 404);
        let (status, _) = request(
            service.addr,
            "POST",
            "/items",
            &[json_type, ("authorization", "Bearer wrong")],
            &body,
        );
        assert_eq!(status, 401);

        let audit = service.wait_for_line("the audit line", |l| {
            json(l)["category"] == "audit" && json(l)["action"] == "create"
        });
        assert_eq!(json(&audit)["resource_id"], id.to_string(), "{audit}");
        let security =
            service.wait_for_line("the security line", |l| json(l)["category"] == "security");
        assert!(
            !security.contains("s3cret-token") && !security.contains("wrong\""),
            "{security}"
        );
        let (_, scrape) = service.get("/metrics");
        if backend == "postgres" {
            // First read a miss (then cached), second a hit; the cache check runs.
            assert_eq!(
                sample(
                    &scrape,
                    "cache_requests_total{cache=\"items\",result=\"miss\"}"
                ),
                Some(2.0),
                "{scrape}"
            );
            assert_eq!(
                sample(
                    &scrape,
                    "cache_requests_total{cache=\"items\",result=\"hit\"}"
                ),
                Some(1.0),
                "{scrape}"
            );
            assert_eq!(
                sample(&scrape, "health_check_status{check=\"cache\"}"),
                Some(1.0),
                "{scrape}"
            );
        }
        assert_eq!(
            sample(&scrape, "health_check_status{check=\"db\"}"),
            Some(1.0),
            "{scrape}"
        );
        service.signal("TERM");
        assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    }
}

/// Both services: with the database away, reads answer 503, readiness fails on the
/// `db` check and liveness still passes.
pub fn a_database_away_fails_readiness_not_liveness(exe: &str) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let service = Service::start(exe, &[("DATABASE_URL", &url)]);
    assert_eq!(service.get("/items").0, 503);
    assert_eq!(service.get("/livez").0, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = service.get("/readyz");
        if status == 503 && body.contains("db") {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `POST /items` with `body` and the audit tests' token: the status and the body.
fn post_item(addr: SocketAddr, body: &str) -> (u16, String) {
    request(
        addr,
        "POST",
        "/items",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer audit-t0ken"),
        ],
        body,
    )
}

/// Runs `exe audit-verify ARGS`: the exit code and what it printed.
pub fn audit_verify(exe: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(exe)
        .arg("audit-verify")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Both services: every write is a record of a signed trail; the shutdown hook
/// checkpoints it; `audit-verify` passes it, names the record an edit changed, and
/// with the checkpoints of the log stream finds a trail cut short.
pub fn writes_are_recorded_in_a_trail_that_verifies(exe: &str) {
    let seed = "11".repeat(32);
    let mut service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
            ("AUDIT_SIGNING_KEY", &seed),
        ],
    );
    let key_line = service.wait_for_line("the public key", |l| {
        json(l)["message"] == "audit trail checkpoints are signed"
    });
    let key = json(&key_line)["public_key"].as_str().unwrap().to_owned();
    assert!(!key_line.contains(&seed), "the seed is never logged");
    for n in 0..3 {
        let (status, body) = post_item(service.addr, &format!("{{\"name\":\"audited-{n}\"}}"));
        assert_eq!(status, 201, "{body}");
    }
    let (_, scrape) = service.get("/metrics");
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"written\"}"),
        Some(3.0),
        "{scrape}"
    );
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    let trail = service.trail.to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&trail).unwrap();
    assert_eq!(
        text.lines().count(),
        5,
        "the opening checkpoint, 3 events and the shutdown's checkpoint:\n{text}"
    );
    assert!(text.lines().all(|l| json(l)["hash"].is_string()));

    let (code, out) = audit_verify(exe, &[&trail, "--key", &key]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("{trail}: OK: 5 records, 2 checkpoints, 0 chain breaks").as_str()
        )
    );
    // Another key: the checkpoint's signature does not hold.
    let other = audit_verify(exe, &[&trail, "--key", &"ab".repeat(32)]);
    assert_ne!(other.0, 0, "{}", other.1);

    // The log stream's checkpoints, kept apart from the trail.
    let anchors = temp_file("anchors.log");
    std::fs::write(&anchors, service.lines().join("\n")).unwrap();
    let anchors = anchors.to_str().unwrap().to_owned();

    // An edit of the second record.
    let edited_text = {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut record = json(&lines[1]);
        record["event"]["actor"] = serde_json::json!("mallory");
        lines[1] = record.to_string();
        lines.join("\n") + "\n"
    };
    std::fs::write(&trail, &edited_text).unwrap();
    let (code, out) = audit_verify(exe, &[&trail, "--key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD at seq 2: modified"), "{out}");

    // Cut to its first two records: consistent in itself, found with the anchors.
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&trail, cut).unwrap();
    assert_eq!(audit_verify(exe, &[&trail]).0, 0);
    let (code, out) = audit_verify(exe, &[&trail, "--anchors", &anchors]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD at seq 3: truncated"), "{out}");

    assert_eq!(audit_verify(exe, &["/nonexistent/trail"]).0, 2);
    assert_eq!(audit_verify(exe, &[]).0, 2);
}

/// Both services, `blocking-strict` with a trail that cannot be written: the write
/// answers 503, the item is not kept, the failure is counted.
pub fn strict_mode_refuses_a_write_it_cannot_record(exe: &str) {
    let service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("AUDIT_TRAIL", "/dev/full"),
            ("AUDIT_DURABILITY", "blocking-strict"),
        ],
    );
    let name = format!("unrecorded-{}", std::process::id());
    let (status, body) = post_item(service.addr, &format!("{{\"name\":\"{name}\"}}"));
    assert_eq!(status, 503, "{body}");
    let (status, list) = service.get("/items");
    assert_eq!(status, 200);
    assert!(
        !list.contains(&name),
        "the unrecorded write took effect: {list}"
    );
    let (_, scrape) = service.get("/metrics");
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"failed\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "audit_records_total{result=\"written\"}"),
        Some(0.0),
        "{scrape}"
    );
}

/// Both services with `AUDIT_TRAIL=postgres`: the records go to the database's
/// `audit_trail` table, and `audit-verify --table` passes it.
pub fn the_trail_can_live_in_postgres(exe: &str) {
    let database = postgres_url();
    // A table of the test's own (the database outlives test runs).
    let table = format!("audit_trail_example_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([database.as_str(), "-q", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let drop_table =
        format!("DROP TABLE IF EXISTS {table}; DROP FUNCTION IF EXISTS {table}_insert_only()");
    psql(&drop_table);
    let mut service = Service::start(
        exe,
        &[
            ("API_TOKEN", "audit-t0ken"),
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "0s"),
            ("DATABASE_URL", &database),
            ("AUDIT_TRAIL", "postgres"),
            ("AUDIT_TABLE", &table),
        ],
    );
    let (status, body) = post_item(service.addr, "{\"name\":\"in-the-table\"}");
    assert_eq!(status, 201, "{body}");
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(15)), Some(0));
    let out = Command::new(exe)
        .args(["audit-verify", "--table", &table])
        .env("DATABASE_URL", &database)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        format!("table {table}: OK: 3 records, 2 checkpoints, 0 chain breaks"),
        "the opening checkpoint, the write and the shutdown's checkpoint"
    );
    psql(&drop_table);
}

/// Both services: the kit's own manifests pass Kubernetes' schemas, and the
/// service started with the Deployment's environment answers on each probe path
/// and finds its shutdown timings fit the pod's grace period.
pub fn the_kit_manifests_validate_and_match_the_service(exe: &str) {
    let dir = write_ops_kit(exe, "manifests");
    let text = std::fs::read_to_string(dir.join("kubernetes.yaml")).unwrap();
    // The Deployment and the Service; the ServiceMonitor is a CRD whose schema
    // kubernetes-validate does not hold.
    let core: Vec<&str> = text.split("\n---\n").take(2).collect();
    std::fs::write(dir.join("core.yaml"), core.join("\n---\n")).unwrap();
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "core.yaml"])
        .current_dir(&dir)
        .output()
        .expect("kubernetes-validate not found: `bash .ci/tools kubernetes-validate` installs it");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // YAML to JSON with PyYAML (kubernetes-validate's own dependency).
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(dir.join("kubernetes.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pod = &docs[0]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
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
        .filter(|(name, _)| name != "BIND" && name != "PORT")
        .collect();
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    // Each path the service writes lies in a volume of the pod: here, the mount
    // becomes a directory of the test's own.
    let mounts: Vec<String> = container["volumeMounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["mountPath"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let local = temp_file("mount");
    std::fs::create_dir_all(&local).unwrap();
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(name, value)| {
            if name != "AUDIT_TRAIL" {
                return (name, value);
            }
            let mount = mounts
                .iter()
                .find(|m| value.starts_with(m.as_str()))
                .unwrap_or_else(|| {
                    panic!("AUDIT_TRAIL={value} is on no writable volume: {mounts:?}")
                });
            let local = format!("{}{}", local.display(), &value[mount.len()..]);
            (name, local)
        })
        .collect();
    assert!(
        env.iter().any(|(n, _)| n == "AUDIT_TRAIL"),
        "the kit sets AUDIT_TRAIL"
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut service = Service::start(exe, &env_refs);
    // The container port the probes name is the one the service listens on.
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(
        env.iter()
            .find(|(n, _)| n == "READINESS_SHUTDOWN_GRACE_PERIOD")
            .map(|(_, v)| v.clone()),
        Some(format!("{}s", grace - pre_stop)),
        "the service is told the time it has after SIGTERM"
    );
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = service.get(path);
            if status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{probe} {path}: {status} {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let scrape_path = docs[2]["spec"]["endpoints"][0]["path"].as_str().unwrap();
    assert_eq!(service.get(scrape_path).0, 200);
    assert_eq!(service.trail, local.join("audit-trail.jsonl"));
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], "http");
    service.signal("TERM");
    service.wait_exit(Duration::from_secs(30));
    assert!(
        !service
            .lines()
            .iter()
            .any(|l| l.contains("do not fit in the grace period")),
        "the manifest's timings do not fit:\n{}",
        service.lines().join("\n")
    );
}

/// Both services with `UPSTREAM_URL`: an upstream that answers passes its check;
/// one that refuses fails it while readiness holds (the check is not critical).
pub fn an_upstream_is_checked_but_not_critical(exe: &str) {
    // An upstream of the test's own: 200 to every request.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!("http://{}/livez", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = [0u8; 2048];
            let _ = stream.read(&mut head);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let refused = {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/livez", closed.local_addr().unwrap())
    };
    for (url, status) in [(up.as_str(), 200), (refused.as_str(), 503)] {
        let service = Service::start(exe, &[("UPSTREAM_URL", url)]);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (got, body) = service.get("/health/upstream");
            let (ready, _) = service.get("/readyz");
            if got == status && ready == 200 {
                assert!(
                    !body.contains("127.0.0.1"),
                    "the host stays out of the body: {body}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url}: /health/upstream {got} {body}, /readyz {ready}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
