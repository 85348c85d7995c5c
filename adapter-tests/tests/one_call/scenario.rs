//! The one-call setup, the same scenario on both adapters: `Setup::init` then
//! `serve_app`, probes, `/metrics`, `/log-level`, JSON lines with request ids, and a
//! graceful shutdown in order on a real SIGTERM; on the main port, or with
//! `ADMIN_PORT` set, the probes, `/metrics` and `/log-level` on the admin port only.
//! Each test is a binary of its own: `init` installs the process's global
//! subscriber, once.
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

/// The details token, which `/log-level` needs.
const TOKEN: &str = "an-operator-token-0123";

/// The settings a deployment would give in its environment; `ADMIN_PORT` with
/// `admin`.
fn env(admin: bool) -> impl Fn(&str) -> Option<String> {
    move |name| match name {
        "READINESS_SHUTDOWN_DRAIN_DELAY" => Some("300ms".into()),
        "READINESS_SHUTDOWN_DRAIN_TIMEOUT" => Some("3s".into()),
        "BIND" => Some("127.0.0.1".into()),
        "PORT" => Some("0".into()),
        "ADMIN_PORT" if admin => Some("0".into()),
        _ => None,
    }
}

/// The handler's debug line, shown once `/log-level` lets `orders` debug through.
pub fn debug_line() {
    tracing::debug!(target: "orders", "debug in the handler");
}

/// The service set up in one call (with an admin listener when `admin`), its
/// lines, and what its hook saw. A second `init` is an error naming the
/// subscriber, not a panic.
pub fn install(name: &str, admin: bool) -> (Installed, Out, Arc<Mutex<Vec<&'static str>>>) {
    let readiness = Readiness::builder()
        .service(name, "1.0.0")
        .details_token(TOKEN)
        .check(checks::from_fn("queue", || async { true }))
        .build()
        .unwrap();
    assert!(readiness.log_filter().is_none());
    let out = Out::default();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let service = Setup::from_lookup(&readiness, env(admin))
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
    let expected = admin.then_some(("127.0.0.1", 0));
    assert_eq!(service.admin_address(), expected);
    // `init` gave the readiness its reloadable filter: `/log-level` is served.
    assert!(service.readiness().log_filter().is_some());

    let again = Setup::from_lookup(&readiness, env(admin));
    let error = again.unwrap_err();
    assert_eq!(error.field(), "log_filter", "{error}");
    let again = Setup::from_lookup(&Readiness::builder().build().unwrap(), env(admin));
    let error = again.unwrap().init().unwrap_err();
    assert_eq!(error.field(), "subscriber", "{error}");
    (service, out, ran)
}

/// Where the service listens: the main port, and the admin port when there is one.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    main: SocketAddr,
    admin: Option<SocketAddr>,
}

/// Talks to the service once it listens (on an admin port too when `admin`), then
/// sends it SIGTERM.
pub async fn exercise(out: &Out, name: &str, admin: bool) -> Ports {
    let ports = listening(out, admin).await;
    let addr = ports.main;
    // The probes, `/metrics` and `/log-level`: on the admin port when there is one.
    let ops = ports.admin.unwrap_or(addr);

    // Ready within 2 s (the check runs at start).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, _) = get(ops, "/readyz", None).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz is {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(ops, "/livez", None).await.0, 200);
    if ports.admin.is_some() {
        for path in ["/readyz", "/livez", "/health", "/metrics", "/log-level"] {
            assert_eq!(
                get(addr, path, None).await.0,
                404,
                "{path} on the main port"
            );
        }
        assert_eq!(
            get(ops, "/hello", None).await.0,
            404,
            "the app on the admin port"
        );
    }
    let (status, body) = get(addr, "/hello", Some("one-call-1")).await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let (status, metrics) = get(ops, "/metrics", None).await;
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

    // `/log-level`: the details token is needed; with it, `orders` debug shows.
    let (status, _) = call(ops, "POST", "/log-level", None, "info,orders=debug").await;
    assert_eq!(status, 401);
    let (status, body) = call(ops, "GET", "/log-level", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (state["filter"].as_str(), state["startup"].as_str()),
        (Some("info"), Some("info"))
    );
    let (status, body) = call(ops, "POST", "/log-level", Some(TOKEN), "info,orders=debug").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(addr, "/hello", Some("one-call-2")).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let lines = out.lines();
        let debug: Vec<&Value> = lines
            .iter()
            .filter(|l| l["message"] == "debug in the handler")
            .collect();
        if !debug.is_empty() {
            // After the change, not before.
            assert!(
                debug.iter().all(|l| l["request_id"] == "one-call-2"),
                "{debug:?}"
            );
            assert_eq!(debug[0]["level"], "DEBUG", "{:?}", debug[0]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no debug line in:\n{}",
            out.dump()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Readiness fails at once, while the servers still serve (the drain delay).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(ops, "/readyz", None).await.0, 503);
    assert_eq!(get(addr, "/hello", None).await.0, 200);
    ports
}

/// After the shutdown: clean, both listeners closed, the phases and hooks in order
/// (the service's own, then the span flush), and every line flushed, the last one
/// included.
pub fn after(outcome: &ShutdownOutcome, out: &Out, ran: &Mutex<Vec<&'static str>>, ports: Ports) {
    assert_eq!(outcome.exit_code(), 0, "{outcome:?}\n{}", out.dump());
    for addr in std::iter::once(ports.main).chain(ports.admin) {
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still open"
        );
    }
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

/// The addresses of the `listening` lines, once written (the admin listener's
/// after the main one's).
async fn listening(out: &Out, admin: bool) -> Ports {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = out.lines();
        let address = |admin: bool| {
            lines
                .iter()
                .find(|l| {
                    l["message"] == "listening" && l["admin"].as_bool().unwrap_or(false) == admin
                })
                .map(|l| l["address"].as_str().unwrap().parse().unwrap())
        };
        if let (Some(main), admin_address) = (address(false), address(true)) {
            if admin_address.is_some() == admin {
                return Ports {
                    main,
                    admin: admin_address,
                };
            }
        }
        assert!(Instant::now() < deadline, "not listening:\n{}", out.dump());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET path` on a connection of its own: the status and the body.
async fn get(addr: SocketAddr, path: &str, request_id: Option<&str>) -> (u16, String) {
    let id = request_id.map(|id| ("x-request-id", id));
    request(addr, "GET", path, id, "").await
}

/// `method path` with the details token when `token`, and `body`.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let header = bearer.as_deref().map(|b| ("authorization", b));
    request(addr, method, path, header, body).await
}

/// A request on a connection of its own: the status and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    header: Option<(&str, &str)>,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = header.map_or_else(String::new, |(k, v)| format!("{k}: {v}\r\n"));
    let length = body.len();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\n{header}content-length: {length}\r\nconnection: close\r\n\r\n{body}"
    );
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
