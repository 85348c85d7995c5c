//! A freshly started service is ready soon after its port opens, and does not
//! race its own migration.

use std::time::{Duration, Instant};

use super::{json, Service};

/// Three fresh starts with the default setup and its dependencies up (an
/// in-memory SQLite, an audit trail in a file): within 2 s of the listening line
/// `/readyz` answers 200 with every check on it passing, the `items` check (which
/// reads the table the background migration creates) and the audit trail's
/// integrity check (handed the trail after the checks start) included; so do
/// their own `/health/{check}`. No check failed on the way: `items` does not
/// fail on a table the migration has not created yet.
pub fn ready_within_two_seconds_of_listening(exe: &str) {
    let limit = Duration::from_secs(2);
    for start in 1..=3 {
        let service = Service::start(exe, &[("READINESS_SHUTDOWN_DRAIN_DELAY", "0s")]);
        let listening = Instant::now();
        loop {
            let (status, text) = service.get("/readyz?verbose");
            let checks: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
            if status == 200 && checks.iter().all(|l| l.starts_with("[+]")) {
                for check in ["db", "items", "audit-trail-integrity"] {
                    assert!(
                        checks
                            .iter()
                            .any(|l| l.starts_with(&format!("[+]{check} "))),
                        "start {start}: no {check} in:\n{text}"
                    );
                }
                break;
            }
            assert!(
                listening.elapsed() < limit,
                "start {start}: not ready {limit:?} after listening: {status}\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = listening.elapsed();
        for check in ["db", "items", "audit-trail-integrity"] {
            let (status, body) = service.get(&format!("/health/{check}"));
            assert_eq!(status, 200, "start {start}: /health/{check}: {body}");
        }
        let failed: Vec<String> = service
            .lines()
            .into_iter()
            .filter(|l| {
                json(l)["message"] == "health check status changed" && json(l)["to"] == "fail"
            })
            .collect();
        assert!(failed.is_empty(), "start {start}: {failed:?}");
        eprintln!("start {start}: ready {took:?} after listening");
    }
}
