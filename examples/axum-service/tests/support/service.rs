//! The example service as a child process: started on a free port, its log lines
//! collected as they come, stopped with signals.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::request;

/// A running example service: its address, and its log lines as they come.
pub struct Service {
    child: Child,
    /// The process signals go to: the child, or the service a wrapper started.
    pub pid: u32,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    /// While set, nothing reads the service's stdout (a pipe nobody drains).
    paused: Arc<AtomicBool>,
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
        Self::start_in(&[], exe, env)
    }

    /// As [`start`](Self::start), with `exe` run by the command `wrapper` (such as
    /// `unshare --pid --fork --mount-proc`, which runs it as its child): signals
    /// go to the wrapper's child, the service.
    pub fn start_in(wrapper: &[&str], exe: &str, env: &[(&str, &str)]) -> Self {
        let mut command = match wrapper {
            [] => Command::new(exe),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
        };
        let trail = env
            .iter()
            .find(|(k, _)| *k == "AUDIT_TRAIL")
            .map_or_else(|| temp_file("audit.jsonl"), |(_, v)| v.into());
        let mut child = command
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
        let paused = Arc::new(AtomicBool::new(false));
        let held = Arc::clone(&paused);
        std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            loop {
                while held.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut line = String::new();
                match out.read_line(&mut line) {
                    Ok(n) if n > 0 => {
                        let line = line.strip_suffix('\n').unwrap_or(&line).to_owned();
                        sink.lock().unwrap().push(line);
                    }
                    _ => return,
                }
            }
        });
        let pid = child.id();
        let mut service = Self {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            paused,
            trail,
        };
        let line =
            service.wait_for_line("the listening line", |l| json(l)["message"] == "listening");
        service.addr = json(&line)["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line}"));
        if !wrapper.is_empty() {
            // The wrapper's one child, which is listening by now.
            let children = format!("/proc/{pid}/task/{pid}/children");
            let children = std::fs::read_to_string(&children).unwrap();
            service.pid = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{exe} is not a child of the wrapper"));
        }
        service
    }

    /// Stops reading the service's stdout: its pipe fills, and stays full until
    /// [`resume_stdout`](Self::resume_stdout).
    pub fn pause_stdout(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Reads the service's stdout again.
    pub fn resume_stdout(&self) {
        self.paused.store(false, Ordering::Relaxed);
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
            .args(["-TERM", &self.pid.to_string()])
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
        if self.pid != self.child.id() {
            // The wrapper's child outlives a killed wrapper.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log line as JSON (`Null` for a line that is not JSON).
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_default()
}

impl Service {
    /// Sends `signal` (`TERM`, `INT`) to the service.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
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
