//! The graceful shutdown scenarios: under load, with idle connections, past the
//! drain timeout, and on a second signal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{json, poll_readyz, KeepAlive, Load, Outcome, Service};

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
    let service = Service::start(
        exe,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "1s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "5s"),
            ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3s"),
        ],
    );
    drains_under_load_of(service, "TERM");
}

/// [`drains_under_load`] of a started `service` (drain delay 1 s, drain timeout
/// 5 s, hooks 3 s), stopped by `signal` (`TERM` or `INT`).
pub fn drains_under_load_of(mut service: Service, signal: &str) {
    let drain_delay = Duration::from_secs(1);
    let addr = service.addr;
    let load = Load::start(addr, 16, "/slow/200");
    let stop_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readyz = poll_readyz(addr, Arc::clone(&stop_polling));
    std::thread::sleep(Duration::from_millis(1000));

    let term = Instant::now();
    service.signal(signal);
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
    assert_eq!(
        service.phase("initiated")["trigger"],
        format!("SIG{signal}")
    );
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
            ("close websockets".to_owned(), "done".to_owned()),
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
