//! A small HTTP/1.1 server for the HTTP check's tests: each path answers one way.
//!
//! `/ok` 200 "ok", `/unavailable` 503, `/teapot` 200 "nope", `/loop` redirects to
//! itself, `/redirect` 302 to `/ok`, anything else 404. Connections are kept alive.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                loop {
                    let Ok(Some(request_line)) = lines.next_line().await else {
                        return;
                    };
                    // Skip the headers; requests here have no body.
                    loop {
                        match lines.next_line().await {
                            Ok(Some(line)) if !line.is_empty() => {}
                            Ok(Some(_)) => break,
                            _ => return,
                        }
                    }
                    let path = request_line.split(' ').nth(1).unwrap_or("/");
                    let path = path.split('?').next().unwrap_or(path);
                    let (status, extra, body) = match path {
                        "/ok" => ("200 OK", "", "ok"),
                        "/unavailable" => ("503 Service Unavailable", "", "down"),
                        "/teapot" => ("200 OK", "", "nope"),
                        "/loop" => ("302 Found", "location: /loop\r\n", ""),
                        "/redirect" => ("302 Found", "location: /ok\r\n", ""),
                        _ => ("404 Not Found", "", ""),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if write.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
