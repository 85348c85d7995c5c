//! The one-call setup, the same scenario on both adapters: `Setup::init` then
//! `serve_app`, probes, `/metrics`, JSON lines with request ids, and a graceful
//! shutdown in order on a real SIGTERM. Each adapter's test is a binary of its own:
//! `init` installs the process's global subscriber, once.
#![allow(unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness_core::logging::LogWriter;
use readiness_core::shutdown::ShutdownOutcome;
use readiness_core::{checks, Installed, Readiness, Setup};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where the service's lines go (as its stdout would hold them).
#[derive(Clone, Default)]
pub struct Out(Arc<Mutex<Vec<u8>>>);

impl Out {
    pub fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    fn dump(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The settings a deployment would give in its environment.
fn env(name: &str) -> Option<String> {
    match name {
        "READINESS_SHUTDOWN_DRAIN_DELAY" => Some("300ms".into()),
        "READINESS_SHUTDOWN_DRAIN_TIMEOUT" => Some("3s".into()),
        "BIND" => Some("127.0.0.1".into()),
        "PORT" => Some("0".into()),
        _ => None,
    }
}

/// The service set up in one call, its lines, and what its hook saw. A second
/// `init` is an error naming the subscriber, not a panic.
pub fn install(name: &str) -> (Installed, Out, Arc<Mutex<Vec<&'static str>>>) {
    let readiness = Readiness::builder()
        .service(name, "1.0.0")
        .check(checks::from_fn("queue", || async { true }))
        .build()
        .unwrap();
    let out = Out::default();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let service = Setup::from_lookup(&readiness, env)
        .unwrap()
        .writer(LogWriter::to_writer(out.clone()))
        .init()
        .unwrap()
        .hook("close the queue", Duration::from_secs(1), {
            let ran = Arc::clone(&ran);
            move || async move {
                tracing::info!("closing the queue");
                ran.lock().unwrap().push("close the queue");
                Ok(())
            }
        });
    assert_eq!(service.address(), ("127.0.0.1", 0));

    let again = Setup::from_lookup(&readiness, env).unwrap().init();
    let error = again.unwrap_err();
    assert_eq!(error.field(), "subscriber", "{error}");
    (service, out, ran)
}

/// Talks to the service once it listens, then sends it SIGTERM.
pub async fn exercise(out: &Out, name: &str) {
    let addr = listening(out).await;

    // Ready within 2 s (the check runs at start).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, _) = get(addr, "/readyz", None).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz is {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(addr, "/livez", None).await.0, 200);
    let (status, body) = get(addr, "/hello", Some("one-call-1")).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let (status, metrics) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains("route=\"/hello\"")
        ),
        "{metrics}"
    );

    // The handler's line and the access line, JSON, with the request id.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let lines = out.lines();
        let of_request: Vec<&Value> = lines
            .iter()
            .filter(|l| l["request_id"] == "one-call-1")
            .collect();
        let handler = of_request.iter().any(|l| l["message"] == "in the handler");
        let access = of_request
            .iter()
            .any(|l| l["target"] == "readiness::access" && l["status"] == 200);
        if handler && access {
            assert!(of_request.iter().all(|l| l["service"] == name));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no request lines in:\n{}",
            out.dump()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Readiness fails at once, while the server still serves (the drain delay).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(addr, "/readyz", None).await.0, 503);
}

/// After the shutdown: clean, the phases and hooks in order (the service's own,
/// then the span flush), and every line flushed, the last one included.
pub fn after(outcome: &ShutdownOutcome, out: &Out, ran: &Mutex<Vec<&'static str>>) {
    assert_eq!(outcome.exit_code(), 0, "{outcome:?}\n{}", out.dump());
    assert_eq!(*ran.lock().unwrap(), ["close the queue"]);
    let lines = out.lines();
    let phases: Vec<&str> = lines
        .iter()
        .filter(|l| l["target"] == "readiness::shutdown")
        .filter_map(|l| l["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "initiated",
            "readiness_failed",
            "drain_delay_elapsed",
            "stopped_accepting",
            "in_flight_drained",
            "hooks_done",
            "exit"
        ],
        "{}",
        out.dump()
    );
    let hooks: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["target"] == "readiness::shutdown" && l["hook"].is_string())
        .map(|l| {
            (
                l["hook"].as_str().unwrap(),
                l["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let mut expected = vec![("close the queue", "done")];
    if cfg!(feature = "otel") {
        expected.push(("flush spans", "done"));
    }
    assert_eq!(hooks, expected);
    assert!(lines.iter().any(|l| l["message"] == "closing the queue"));
    assert_eq!(lines.last().unwrap()["phase"], "exit", "{}", out.dump());
}

/// The address of the `listening` line, once written.
async fn listening(out: &Out) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = out
            .lines()
            .into_iter()
            .find(|l| l["message"] == "listening")
        {
            return line["address"].as_str().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "not listening:\n{}", out.dump());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET path` on a connection of its own: the status and the body.
async fn get(addr: SocketAddr, path: &str, request_id: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let id = request_id.map_or_else(String::new, |id| format!("x-request-id: {id}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n{id}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
