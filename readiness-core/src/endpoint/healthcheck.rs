//! A container's health check without curl: one GET of a probe on the running
//! service, from the service's own binary.

use std::io::{Error, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The exit code of a service's `healthcheck` subcommand: 0 when the service bound
/// to `bind`:`port` answers [`READYZ_PATH`](super::READYZ_PATH) with 200 within
/// 2 s, 1 otherwise (saying why on stderr). A service bound to every address
/// (`0.0.0.0`, `::`) is asked on the loopback.
///
/// ```no_run
/// // In `main`, for `my-service healthcheck` (a Dockerfile's HEALTHCHECK):
/// let code = readiness_core::endpoint::healthcheck([0, 0, 0, 0].into(), 8080);
/// std::process::exit(code);
/// ```
#[must_use]
pub fn healthcheck(bind: IpAddr, port: u16) -> i32 {
    let host = match bind {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(host, port);
    match probe_status(addr, super::READYZ_PATH, Duration::from_secs(2)) {
        Ok(200) => 0,
        Ok(status) => {
            eprintln!(
                "healthcheck: {addr}{} answered {status}",
                super::READYZ_PATH
            );
            1
        }
        Err(error) => {
            eprintln!("healthcheck: {addr}{}: {error}", super::READYZ_PATH);
            1
        }
    }
}

/// Asks the service listening on `addr` for `path` (a probe such as `/readyz`) and
/// gives the status it answered: plain HTTP/1.1 on one connection, each of
/// connecting, sending and reading bounded by `timeout`. A service's
/// `healthcheck` subcommand calls it, so a Dockerfile's `HEALTHCHECK` needs no curl
/// in the image.
///
/// Written by hand: one GET needs no HTTP client crate, and this runs in the
/// smallest images.
///
/// # Errors
///
/// A `path` that is not an absolute path without spaces or line breaks
/// (`InvalidInput`), no connection, a timeout, or an answer that is not HTTP.
///
/// ```no_run
/// use std::time::Duration;
///
/// let status = readiness_core::endpoint::probe_status(
///     "127.0.0.1:8080".parse().unwrap(),
///     "/readyz",
///     Duration::from_secs(2),
/// );
/// std::process::exit(if matches!(status, Ok(200)) { 0 } else { 1 });
/// ```
pub fn probe_status(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("not a request path: {path:?}"),
        ));
    }
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: readiness-healthcheck\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )?;
    // The status line starts `HTTP/1.1 200`: twelve bytes are enough.
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let status = head
        .get(..read)
        .filter(|head| head.starts_with(b"HTTP/1.") && head.len() == 12 && head[8] == b' ')
        .and_then(|head| std::str::from_utf8(&head[9..12]).ok())
        .and_then(|digits| digits.parse().ok());
    status.ok_or_else(|| Error::new(ErrorKind::InvalidData, "the answer is not HTTP"))
}

#[cfg(test)]
mod tests {
    use super::probe_status;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A one-shot server answering `answer` to the first request.
    fn serve(answer: &'static [u8]) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer);
        });
        addr
    }

    #[test]
    fn the_status_is_read_from_the_answer_and_anything_else_is_an_error() {
        let timeout = Duration::from_secs(2);
        let ok = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(probe_status(ok, "/readyz", timeout).unwrap(), 200);
        let down = serve(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(probe_status(down, "/readyz", timeout).unwrap(), 503);
        let junk = serve(b"SSH-2.0-OpenSSH\r\n");
        assert!(probe_status(junk, "/readyz", timeout).is_err());
        let nothing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = nothing.local_addr().unwrap();
        drop(nothing);
        assert!(probe_status(refused, "/readyz", timeout).is_err());
        let any = "127.0.0.1:9".parse().unwrap();
        for bad in ["readyz", "/ready z", "/readyz\r\nX: y"] {
            let error = probe_status(any, bad, timeout).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
