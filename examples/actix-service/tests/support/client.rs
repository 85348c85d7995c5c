//! HTTP/1.1 clients over plain sockets: one request per connection, or a keep-alive
//! connection as a load balancer's or a service's client would hold it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request on a connection of its own: the status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// What became of one request of a keep-alive client.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An answer; `close` when it asked to close the connection.
    Answered { status: u16, close: bool },
    /// The connection was refused.
    Refused,
    /// A reused keep-alive connection was closed before a byte of the answer: the
    /// case every HTTP client retries on a new connection.
    Stale,
    /// Nothing or part of an answer on a connection made at `connected`.
    Cut { connected: Instant, partial: bool },
}

/// One request's outcome with when it was sent and when it ended.
#[derive(Debug, Clone)]
pub struct Record {
    pub sent: Instant,
    pub ended: Instant,
    pub outcome: Outcome,
}

struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    connected: Instant,
    used: u32,
}

/// An HTTP/1.1 client on one keep-alive connection at a time, as a load balancer's
/// or a service's client would be.
pub struct KeepAlive {
    addr: SocketAddr,
    connection: Option<Connection>,
}

impl KeepAlive {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connection: None,
        }
    }

    /// Connects now (`false` when refused).
    pub fn connect(&mut self) -> bool {
        match TcpStream::connect(self.addr) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                self.connection = Some(Connection {
                    reader: BufReader::new(stream.try_clone().unwrap()),
                    writer: stream,
                    connected: Instant::now(),
                    used: 0,
                });
                true
            }
            Err(_) => false,
        }
    }

    /// `GET path` on the open connection (a new one if there is none).
    pub fn get(&mut self, path: &str) -> Record {
        let sent = Instant::now();
        if self.connection.is_none() && !self.connect() {
            return Record {
                sent,
                ended: Instant::now(),
                outcome: Outcome::Refused,
            };
        }
        let connection = self.connection.as_mut().unwrap();
        let reused = connection.used > 0;
        connection.used += 1;
        let connected = connection.connected;
        let outcome = match exchange(connection, self.addr, path) {
            Ok((status, close)) => {
                if close {
                    self.connection = None;
                }
                Outcome::Answered { status, close }
            }
            Err(bytes) => {
                self.connection = None;
                if bytes == 0 && reused {
                    Outcome::Stale
                } else {
                    Outcome::Cut {
                        connected,
                        partial: bytes > 0,
                    }
                }
            }
        };
        Record {
            sent,
            ended: Instant::now(),
            outcome,
        }
    }
}

/// Writes a request and reads the answer: its status and whether it asked to
/// close, or how many bytes came before the connection failed.
fn exchange(
    connection: &mut Connection,
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, bool), usize> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    if connection.writer.write_all(request.as_bytes()).is_err() {
        return Err(0);
    }
    let mut read = 0;
    let mut line = String::new();
    match connection.reader.read_line(&mut line) {
        Ok(n) if n > 0 => read += n,
        _ => return Err(0),
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(read)?;
    let mut length = 0;
    let mut close = false;
    loop {
        let mut header = String::new();
        match connection.reader.read_line(&mut header) {
            Ok(n) if n > 0 => read += n,
            _ => return Err(read),
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| read)?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0; length];
    connection.reader.read_exact(&mut body).map_err(|_| read)?;
    Ok((status, close))
}
