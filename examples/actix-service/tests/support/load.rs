//! Traffic during a test: steady load on keep-alive connections, and a poller of
//! `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{KeepAlive, Outcome, Record};

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
