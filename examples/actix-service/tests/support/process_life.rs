//! Back-pressure and process life (RELIABILITY.md): stdout on a pipe nobody reads,
//! and the service as PID 1 of its own PID namespace.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{json, request, KeepAlive, Outcome, Service};

/// Requests of one run (`READINESS_PIPE_REQUESTS`, default 3,000; the script
/// sends more).
fn requests() -> usize {
    std::env::var("READINESS_PIPE_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// `requests` `GET /items/ID` (no such item: a 404) on `clients` keep-alive
/// connections, the IDs from `base` on: every latency, sorted.
fn run(service: &Service, base: u64, requests: usize, clients: usize) -> Vec<Duration> {
    let addr = service.addr;
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = KeepAlive::new(addr);
                let mut took = Vec::new();
                for n in (c..requests).step_by(clients) {
                    let record = client.get(&format!("/items/{}", base + n as u64));
                    assert!(
                        matches!(record.outcome, Outcome::Answered { status: 404, .. }),
                        "{record:?}"
                    );
                    took.push(record.ended - record.sent);
                }
                took
            })
        })
        .collect();
    let mut took: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    took.sort();
    took
}

/// The first item ID of the drained run, and of the run with stdout full.
const DRAINED: u64 = 1_000_000;
const FULL: u64 = 2_000_000;

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

/// The IDs of the access lines of the run from `base` among `lines`.
fn access_ids(lines: &[String], base: u64, requests: usize) -> Vec<u64> {
    lines
        .iter()
        .map(|l| json(l))
        .filter(|l| l["target"] == "readiness::access")
        .filter_map(|l| l["path"].as_str()?.strip_prefix("/items/")?.parse().ok())
        .filter(|id| (base..base + requests as u64).contains(id))
        .collect()
}

/// Waits until no line has come for `quiet`.
fn settle(service: &Service, quiet: Duration) {
    let mut count = service.lines().len();
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while since.elapsed() < quiet {
        assert!(Instant::now() < deadline, "stdout never settled");
        std::thread::sleep(Duration::from_millis(20));
        let now = service.lines().len();
        if now != count {
            count = now;
            since = Instant::now();
        }
    }
}

fn dropped_total(service: &Service) -> u64 {
    let (status, body) = service.get("/metrics");
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix("log_lines_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no log_lines_dropped_total in /metrics"))
}

/// Stdout on a pipe nobody reads: a run with stdout drained, then the same run
/// with the pipe full (the log queue is 64 lines): every request answered, p99
/// reported against the drained run (here within 3x + 20 ms; the script's bound is
/// `READINESS_PIPE_P99_RATIO`); once drained, `log_lines_dropped_total` equals the
/// lines emitted (one access line per request of the run) minus the lines written,
/// exactly. Then, still undrained, writes with `AUDIT_DURABILITY=blocking-strict`:
/// each is a 503 (its audit line cannot be written within the critical timeout),
/// and none of those items exists.
pub fn stdout_nobody_reads(exe: &str) {
    let n = requests();
    // 64 lines fill at once; the long run (release) sets more
    // (`READINESS_PIPE_QUEUE`), so that the test's reader keeps up while it drains.
    let queue = std::env::var("READINESS_PIPE_QUEUE").unwrap_or_else(|_| "64".to_owned());
    let service = Service::start(
        exe,
        &[
            ("READINESS_LOG_QUEUE", &queue),
            ("AUDIT_DURABILITY", "blocking-strict"),
            ("API_TOKEN", "pipe-token"),
            // Only the access lines (with their request spans), the audit lines and the
            // `listening` line the test waits for.
            (
                "RUST_LOG",
                "warn,readiness::request=info,readiness::access=info,readiness::audit=info,readiness::audit_trail=warn,readiness::serve=info",
            ),
        ],
    );
    let drained = run(&service, DRAINED, n, 8);
    settle(&service, Duration::from_millis(300));
    let before = dropped_total(&service);
    assert_eq!(before, 0, "lines dropped while drained");
    let lines = service.lines();
    assert_eq!(
        access_ids(&lines, DRAINED, n).len(),
        n,
        "{:?}",
        &lines[lines.len().saturating_sub(2)..]
    );
    settle(&service, Duration::from_millis(300));
    let seen = service.lines().len();

    service.pause_stdout();
    let full = run(&service, FULL, n, 8);
    // Writes while the pipe stays full: each refused, none kept.
    let mut refused = 0;
    for i in 0..3 {
        let body = format!("{{\"name\":\"unrecorded-{i}\"}}");
        let (status, _) = request(
            service.addr,
            "POST",
            "/items",
            &[
                ("authorization", "Bearer pipe-token"),
                ("content-type", "application/json"),
            ],
            &body,
        );
        refused += usize::from(status == 503);
        assert_eq!(
            status, 503,
            "a write proceeded while its audit line was lost"
        );
    }
    service.resume_stdout();
    settle(&service, Duration::from_millis(500));

    let lines = service.lines();
    let after = &lines[seen..];
    let written: HashSet<u64> = access_ids(after, FULL, n).into_iter().collect();
    assert_eq!(
        written.len(),
        access_ids(after, FULL, n).len(),
        "a line twice"
    );
    // Emitted after the pause: one access line per request, one audit line and two
    // error lines (the refusal and its 503 access line) per refused write (the
    // trail's own checkpoint lines are filtered out).
    let emitted = n as u64 + 3 * refused as u64;
    let written_total = after.len() as u64;
    let dropped = dropped_total(&service);
    let (drained_p99, full_p99) = (p99(&drained), p99(&full));
    println!(
        "{exe}: {n} requests drained p99 {drained_p99:?}, undrained p99 {full_p99:?}; \
         emitted {emitted}, written {written_total}, dropped {dropped}; {refused} strict writes refused"
    );
    assert!(dropped > 0, "the pipe never filled");
    assert_eq!(dropped, emitted - written_total, "{after:?}");
    let (_, items) = service.get("/items");
    assert!(!items.contains("unrecorded-"), "{items}");
    let ratio: f64 = std::env::var("READINESS_PIPE_P99_RATIO")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3.0);
    assert!(
        full_p99.as_secs_f64() <= drained_p99.as_secs_f64() * ratio + 0.020,
        "p99 {full_p99:?} with stdout full, {drained_p99:?} drained"
    );
}

/// The processes under `pid` (its children, theirs, ...) and their states.
fn descendants(pid: u32) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(pid) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                let stat =
                    std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next())
                    .unwrap_or('?');
                found.push((child, state));
                todo.push(child);
            }
        }
    }
    found
}

/// The service as PID 1 of a PID namespace of its own (`unshare --pid --fork
/// --mount-proc`), under load, stopped by `signal` (`TERM` or `INT`): the drain
/// scenario's figures (readiness fails within 100 ms, nothing accepted is lost,
/// the lifecycle order, exit code 0), and no zombie under it at any time.
pub fn as_pid_one(exe: &str, signal: &str) {
    let service = Service::start_in(
        &["unshare", "--pid", "--fork", "--mount-proc"],
        exe,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "1s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "5s"),
            ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3s"),
        ],
    );
    // It is PID 1 in its namespace.
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.pid)).unwrap();
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap_or_default()
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(nspid, "1", "not PID 1 of its namespace: {status}");
    let pid = service.pid;
    let watch = std::thread::spawn(move || {
        let mut zombies = Vec::new();
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            zombies.extend(descendants(pid).into_iter().filter(|(_, s)| *s == 'Z'));
            std::thread::sleep(Duration::from_millis(10));
        }
        zombies
    });
    super::shutdown::drains_under_load_of(service, signal);
    let zombies = watch.join().unwrap();
    assert!(zombies.is_empty(), "zombies under PID 1: {zombies:?}");
}
