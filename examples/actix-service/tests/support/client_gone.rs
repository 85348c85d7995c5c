//! A client that leaves before its answer: the same record on both examples.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Service;

/// The count of `GET /slow/{ms}` answered with `status` in a scrape.
fn slow_count(service: &Service, status: &str) -> f64 {
    let (_, text) = service.get("/metrics");
    let series = format!(
        r#"http_server_request_duration_seconds_count{{http_request_method="GET",http_response_status_code="{status}",http_route="/slow/{{ms}}"}} "#
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

/// A client sends `GET /slow/1500` and closes its socket after 300 ms: the request
/// is a 499 under its route as soon as the server sees the close, and the handler
/// does not go on to answer for nobody (no 200 once its 1.5 s have passed).
pub fn a_client_gone_is_a_499_under_its_route(exe: &str) {
    let service = Service::start(exe, &[]);
    let mut client = TcpStream::connect(service.addr).unwrap();
    client
        .write_all(b"GET /slow/1500 HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    while slow_count(&service, "499") < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no 499 within 1 s of the close:\n{}",
            service.get("/metrics").1
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slow_count(&service, "499"), 1.0);
    assert_eq!(slow_count(&service, "200"), 0.0);
}
