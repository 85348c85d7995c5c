//! Zero errors under load with HTTP/2 and WebSockets (RELIABILITY.md): HTTP/1.1
//! keep-alive clients plus 20 % HTTP/2 (h2c, prior knowledge) clients and open
//! WebSockets, the service stopped by SIGTERM mid-load. The h2c client is the `h2`
//! crate (with `http` and `tokio`'s `net`, dev-dependencies of both examples); the
//! WebSocket client is written here over a `TcpStream`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{json, Load, Outcome, Service};

/// 8 HTTP/1.1 keep-alive clients and 2 h2c clients (20 %) sending `GET /slow/100`
/// in a loop, and 4 WebSockets that echoed a message and wait: SIGTERM after 1 s.
/// `READINESS_H2WS_SCALE=k` (the long run of `benches/load/reliability.sh`) has k
/// times the clients, sockets and load time, with the same bounds.
/// Every request sent before accepting stopped is a 200, on either protocol; each
/// WebSocket gets a close frame (1001) once the drain starts, before the drain
/// deadline; the client answers it with its own close frame (300 ms later), the
/// server logs that it got the answer (`websocket closed`, `replied` true) and then closes the
/// connection (the client reads its end); the process exits with 0 within drain
/// delay + drain timeout + 1 s.
pub fn h1_h2c_and_websockets_drain_without_errors(exe: &str) {
    let drain_delay = Duration::from_secs(1);
    let drain_timeout = Duration::from_secs(5);
    let mut service = Service::start(
        exe,
        &[
            ("READINESS_SHUTDOWN_DRAIN_DELAY", "1s"),
            ("READINESS_SHUTDOWN_DRAIN_TIMEOUT", "5s"),
            ("READINESS_SHUTDOWN_HOOKS_TIMEOUT", "3s"),
        ],
    );
    let addr = service.addr;
    let k = scale();
    let n = k as usize;
    let sockets: Vec<_> = (0..4 * n).map(|i| WebSocket::open(addr, i)).collect();
    let sockets: Vec<_> = sockets
        .into_iter()
        .map(|socket| std::thread::spawn(move || socket.close_when_asked()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let h2: Vec<_> = (0..2 * n)
        .map(|_| h2_client(addr, Arc::clone(&stop)))
        .collect();
    let h1 = Load::start(addr, 8 * n, "/slow/100");
    std::thread::sleep(Duration::from_secs(u64::from(k)));

    let term = Instant::now();
    service.signal("TERM");
    let code = service.wait_exit(Duration::from_secs(15));
    let exited = Instant::now();
    let took = exited - term;
    stop.store(true, Ordering::Relaxed);
    let h1 = h1.stop();
    let h2: Vec<H2Record> = h2.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let closes: Vec<Closed> = sockets.into_iter().map(|t| t.join().unwrap()).collect();

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
    // After it, a request on an open h2c connection gets a GOAWAY (hyper) or a 503
    // (readiness-actix, as actix sends no GOAWAY): either is safe to retry.
    let h2_refused_after = h2
        .iter()
        .filter(|r| r.sent >= stopped_accepting && r.status == Ok(503))
        .count();
    let deadline = term + drain_delay + drain_timeout;
    let closed_after: Vec<_> = closes.iter().map(|c| c.at - term).collect();
    let ended_after: Vec<_> = closes.iter().map(|c| c.ended - c.at).collect();
    let replied = service
        .lines()
        .iter()
        .map(|l| json(l))
        .filter(|l| l["message"] == "websocket closed" && l["replied"] == true)
        .count();
    let name = std::path::Path::new(exe)
        .file_name()
        .map_or_else(|| exe.into(), |name| name.to_string_lossy());
    println!(
        "{name}: HTTP/1.1: {} sent before accepting stopped, {} failed ({} in all); \
         h2c: {} before, {} failed, {} answered in the drain delay, {h2_refused_after} \
         answered 503 after ({} in all); \
         WebSockets closed {closed_after:?} after SIGTERM, the server's end \
         {ended_after:?} after its close frame, {replied} close replies logged; \
         exit after {took:?}",
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
    for close in &closes {
        assert_eq!(close.code, 1001, "close code");
        assert!(
            close.at >= stopped_accepting && close.at < deadline && close.at <= exited,
            "a close frame {:?} after SIGTERM",
            close.at - term
        );
        assert!(
            close.ended_cleanly,
            "the connection did not end with a clean close after the client's reply: {close:?}"
        );
    }
    assert_eq!(
        replied,
        closes.len(),
        "the server logged fewer close replies than sockets:\n{logs}"
    );
}

/// The run's scale: `READINESS_H2WS_SCALE`, 1 when unset.
fn scale() -> u32 {
    match std::env::var("READINESS_H2WS_SCALE") {
        Ok(value) => {
            value.parse().ok().filter(|&k| k > 0).unwrap_or_else(|| {
                panic!("READINESS_H2WS_SCALE is a whole number > 0, not {value:?}")
            })
        }
        Err(_) => 1,
    }
}

/// One h2c request: when it was sent, when it ended, and its status or error.
#[derive(Debug)]
struct H2Record {
    sent: Instant,
    ended: Instant,
    status: Result<u16, String>,
}

/// The request body type of the h2c client (no body is sent).
type SendRequest = h2::client::SendRequest<&'static [u8]>;

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
            let mut connection: Option<SendRequest> = None;
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

async fn h2_connect(addr: SocketAddr) -> std::io::Result<SendRequest> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (send, connection) = h2::client::Builder::new()
        .handshake::<_, &'static [u8]>(tcp)
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

async fn h2_get(send: SendRequest, addr: SocketAddr) -> Result<(u16, SendRequest), h2::Error> {
    let mut send = send.ready().await?;
    let request = http::Request::get(format!("http://{addr}/slow/100"))
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

/// How a WebSocket was closed by the server.
#[derive(Debug)]
struct Closed {
    /// The server's close code.
    code: u16,
    /// When the server's close frame came.
    at: Instant,
    /// When the server's end of the connection ended, after the client's reply.
    ended: Instant,
    /// Whether it ended with a clean TCP close (not a reset, nor a timeout).
    ended_cleanly: bool,
}

/// How long the client takes to answer the server's close frame: longer than the
/// drain of the requests in flight (`/slow/100`), as a far client would, so the
/// server must wait for the reply past the drain to log it.
const REPLY_AFTER: Duration = Duration::from_millis(300);

/// A minimal WebSocket client: the handshake, masked frames out, frames read until
/// a close frame, which it answers.
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
        socket.send(0x1, text.as_bytes()).unwrap();
        let (opcode, payload) = socket.frame();
        assert_eq!((opcode, payload.as_slice()), (1, text.as_bytes()));
        socket
    }

    /// Reads frames until a close frame, answers it with the same code (the
    /// closing handshake) after `REPLY_AFTER`, then reads until the server ends
    /// the connection.
    fn close_when_asked(mut self) -> Closed {
        let (code, at) = loop {
            let (opcode, payload) = self.frame();
            if opcode == 0x8 {
                break (u16::from_be_bytes([payload[0], payload[1]]), Instant::now());
            }
        };
        std::thread::sleep(REPLY_AFTER);
        let replied = self.send(0x8, &code.to_be_bytes()).is_ok();
        self.0
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        let ended_cleanly = replied && self.0.read_to_end(&mut rest).is_ok() && rest.is_empty();
        Closed {
            code,
            at,
            ended: Instant::now(),
            ended_cleanly,
        }
    }

    /// Sends one masked frame (a client's frames are masked).
    fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame)
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
