//! Zero errors under load with HTTP/2 and WebSockets (issue 20): the built service
//! as a child process, HTTP/1.1 keep-alive clients plus 20 % HTTP/2 (h2c, prior
//! knowledge) clients and open WebSockets, stopped by SIGTERM mid-load.
//!
//! Axum only: actix-web serves HTTP/2 over TLS only (no h2c), and its example has
//! no WebSocket route.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;

mod support;

use support::{Load, Outcome, Service};

const EXE: &str = env!("CARGO_BIN_EXE_axum-service");

/// 8 HTTP/1.1 keep-alive clients and 2 h2c clients (20 %) sending `GET /slow/100`
/// in a loop, and 4 WebSockets that echoed a message and wait: SIGTERM after 1 s.
/// Every request sent before accepting stopped is a 200, on either protocol; each
/// WebSocket gets a close frame (1001) once the drain starts, before the drain
/// deadline; the process exits with 0 within drain delay + drain timeout + 1 s.
#[test]
fn h1_h2c_and_websockets_drain_without_errors() {
    let drain_delay = Duration::from_secs(1);
    let drain_timeout = Duration::from_secs(5);
    let mut service = Service::start(
        EXE,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "1s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "5s"),
            ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3s"),
        ],
    );
    let addr = service.addr;
    let sockets: Vec<_> = (0..4).map(|i| WebSocket::open(addr, i)).collect();
    let sockets: Vec<_> = sockets
        .into_iter()
        .map(|socket| std::thread::spawn(move || socket.wait_for_close()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let h2: Vec<_> = (0..2).map(|_| h2_client(addr, Arc::clone(&stop))).collect();
    let h1 = Load::start(addr, 8, "/slow/100");
    std::thread::sleep(Duration::from_millis(1000));

    let term = Instant::now();
    service.signal("TERM");
    let code = service.wait_exit(Duration::from_secs(15));
    let exited = Instant::now();
    let took = exited - term;
    stop.store(true, Ordering::Relaxed);
    let h1 = h1.stop();
    let h2: Vec<H2Record> = h2.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let closes: Vec<_> = sockets.into_iter().map(|t| t.join().unwrap()).collect();

    let logs = service.lines().join("\n");
    assert_eq!(code, Some(0), "{logs}");
    let limit = drain_delay + drain_timeout + Duration::from_secs(1);
    assert!(took < limit, "exit took {took:?}, more than {limit:?}");
    assert_eq!(service.phase("in_flight_drained")["cut"], 0);

    // Accepting stops at SIGTERM + the drain delay: what was sent before is a 200.
    let stopped_accepting = term + drain_delay - Duration::from_millis(50);
    let h1_before: Vec<_> = h1.iter().filter(|r| r.sent < stopped_accepting).collect();
    let h1_failed: Vec<_> = h1_before
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Answered { status: 200, .. }))
        .collect();
    let h2_before: Vec<_> = h2.iter().filter(|r| r.sent < stopped_accepting).collect();
    let h2_failed: Vec<_> = h2_before.iter().filter(|r| r.status != Ok(200)).collect();
    let h2_in_delay = h2_before
        .iter()
        .filter(|r| r.status == Ok(200) && r.ended > term + Duration::from_millis(300))
        .count();
    let deadline = term + drain_delay + drain_timeout;
    let closed_after: Vec<_> = closes.iter().map(|(_, at)| *at - term).collect();
    println!(
        "HTTP/1.1: {} sent before accepting stopped, {} failed ({} in all); \
         h2c: {} before, {} failed, {} answered in the drain delay ({} in all); \
         WebSockets closed {closed_after:?} after SIGTERM; exit after {took:?}",
        h1_before.len(),
        h1_failed.len(),
        h1.len(),
        h2_before.len(),
        h2_failed.len(),
        h2_in_delay,
        h2.len(),
    );
    assert!(h1_failed.is_empty(), "{h1_failed:?}");
    assert!(h2_failed.is_empty(), "{h2_failed:?}");
    assert!(
        h1_before.len() > 20 && h2_before.len() > 5,
        "too little load"
    );
    assert!(
        h2_in_delay > 0,
        "no h2c request served during the drain delay"
    );
    for (code, at) in &closes {
        assert_eq!(*code, 1001, "close code");
        assert!(
            *at >= stopped_accepting && *at < deadline && *at <= exited,
            "a close frame {:?} after SIGTERM",
            *at - term
        );
    }
}

/// One h2c request: when it was sent, when it ended, and its status or error.
#[derive(Debug)]
struct H2Record {
    sent: Instant,
    ended: Instant,
    status: Result<u16, String>,
}

/// A thread sending `GET /slow/100` over one HTTP/2 connection at a time (prior
/// knowledge, no TLS) until stopped; reconnecting when the connection ends.
fn h2_client(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<H2Record>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut records = Vec::new();
            let mut connection: Option<h2::client::SendRequest<Bytes>> = None;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let result = match connection.take() {
                    Some(send) => h2_get(send, addr).await,
                    None => match h2_connect(addr).await {
                        Ok(send) => h2_get(send, addr).await,
                        Err(error) => {
                            // Refused: a failure unless accepting has stopped.
                            records.push(H2Record {
                                sent,
                                ended: Instant::now(),
                                status: Err(format!("connect: {error}")),
                            });
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let status = match result {
                    Ok((status, send)) => {
                        connection = Some(send);
                        Ok(status)
                    }
                    Err(error) => Err(error.to_string()),
                };
                records.push(H2Record {
                    sent,
                    ended: Instant::now(),
                    status,
                });
            }
            records
        })
    })
}

async fn h2_connect(addr: SocketAddr) -> std::io::Result<h2::client::SendRequest<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

async fn h2_get(
    send: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
) -> Result<(u16, h2::client::SendRequest<Bytes>), h2::Error> {
    let mut send = send.ready().await?;
    let request = axum::http::Request::get(format!("http://{addr}/slow/100"))
        .body(())
        .unwrap();
    let (response, _) = send.send_request(request, true)?;
    let response = response.await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    Ok((status, send))
}

/// A minimal WebSocket client: the handshake, one masked text frame, and frames
/// read until a close frame.
struct WebSocket(TcpStream);

impl WebSocket {
    /// Connects to `/ws`, sends `hello N` and reads its echo.
    fn open(addr: SocketAddr, n: usize) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        write!(
            stream,
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let mut socket = Self(stream);
        let text = format!("hello {n}");
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).unwrap()];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        socket.0.write_all(&frame).unwrap();
        let (opcode, payload) = socket.frame();
        assert_eq!((opcode, payload.as_slice()), (1, text.as_bytes()));
        socket
    }

    /// Reads frames until a close frame: its code and when it came.
    fn wait_for_close(mut self) -> (u16, Instant) {
        loop {
            let (opcode, payload) = self.frame();
            if opcode == 8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, Instant::now());
            }
        }
    }

    /// One unmasked frame from the server: opcode and payload.
    fn frame(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 2];
        self.0
            .read_exact(&mut header)
            .expect("the connection ended without a close frame");
        let len = match header[1] & 0x7f {
            126 => {
                let mut len = [0u8; 2];
                self.0.read_exact(&mut len).unwrap();
                usize::from(u16::from_be_bytes(len))
            }
            127 => panic!("a frame longer than this test sends"),
            len => usize::from(len),
        };
        let mut payload = vec![0u8; len];
        self.0.read_exact(&mut payload).unwrap();
        (header[0] & 0x0f, payload)
    }
}
