//! Streamed answers over real sockets, on both adapters: the request stays in flight
//! until the last chunk is out, its body is counted chunk by chunk, and a client that
//! leaves mid-stream leaves the in-flight gauge where it was.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::Stream;
use readiness_core::Readiness;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The chunks the next `/stream` answer will carry, fed by the test.
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<Option<mpsc::UnboundedReceiver<Bytes>>>>);

impl Feed {
    /// A sender for the next answer; dropping it ends that answer's body.
    fn next(&self) -> mpsc::UnboundedSender<Bytes> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.0.lock().unwrap() = Some(rx);
        tx
    }

    fn stream(&self) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
        let rx = self
            .0
            .lock()
            .unwrap()
            .take()
            .expect("no feed for this request");
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (Ok(chunk), rx))
        })
    }
}

async fn serve_axum(readiness: &Readiness, feed: Feed) -> SocketAddr {
    let router = axum::Router::new().route(
        "/stream",
        axum::routing::get(move || {
            let body = axum::body::Body::from_stream(feed.stream());
            async move { body }
        }),
    );
    let app = readiness_axum::instrument(router, readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn serve_actix(readiness: &Readiness, feed: Feed) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let readiness = readiness.clone();
    let server = HttpServer::new(move || {
        let feed = feed.clone();
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/stream",
                web::get().to(move || {
                    let stream = feed.stream();
                    async move { HttpResponse::Ok().streaming(stream) }
                }),
            )
            .configure(readiness_actix::configure(&readiness))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    addr
}

fn scrape(readiness: &Readiness) -> String {
    String::from_utf8(readiness.metrics_response().body().to_vec()).unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const ACTIVE: &str = r#"http_server_active_requests{http_request_method="GET"}"#;
const COUNT: &str = r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/stream"}"#;
const SIZE: &str = r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_response_status_code="200",http_route="/stream"}"#;

/// Reads from `client` until `needle` has arrived; returns all read so far.
async fn read_until(client: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let mut buffer = [0u8; 1024];
        let n = tokio::time::timeout_at(deadline.into(), client.read(&mut buffer))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(seen)
                )
            })
            .unwrap();
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        seen.extend_from_slice(&buffer[..n]);
    }
}

/// Waits until the scrape satisfies `done`.
async fn eventually(readiness: &Readiness, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(readiness);
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_streamed_answer_is_measured_whole(readiness: &Readiness, feed: &Feed, addr: SocketAddr) {
    // A client that reads the whole stream.
    let tx = feed.next();
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    tx.send(Bytes::from_static(b"first")).unwrap();
    read_until(&mut client, &mut seen, b"first").await;
    let text = scrape(readiness);
    assert_eq!(value(&text, ACTIVE), 1.0, "head sent, body going:\n{text}");
    assert_eq!(value(&text, COUNT), 0.0, "recorded before the end:\n{text}");
    tx.send(Bytes::from_static(b"second")).unwrap();
    read_until(&mut client, &mut seen, b"second").await;
    assert_eq!(value(&scrape(readiness), ACTIVE), 1.0);
    drop(tx); // the stream ends
    read_until(&mut client, &mut seen, b"0\r\n\r\n").await;
    let text = eventually(readiness, "recorded the whole stream", |text| {
        value(text, COUNT) == 1.0
    })
    .await;
    assert_eq!(value(&text, SIZE), 11.0, "first + second:\n{text}");
    assert_eq!(value(&text, ACTIVE), 0.0, "{text}");

    // A client that leaves mid-stream: recorded once, with the status it was sent
    // and the bytes produced, and no longer in flight.
    let tx = feed.next();
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    tx.send(Bytes::from_static(b"abc")).unwrap();
    read_until(&mut client, &mut seen, b"abc").await;
    assert_eq!(value(&scrape(readiness), ACTIVE), 1.0);
    drop(client);
    // The server learns of it when a write fails; then it drops the body, and our
    // feed's receiver with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tx.send(Bytes::from_static(b"more")).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server never dropped the body"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = eventually(readiness, "recorded the abandoned stream", |text| {
        value(text, COUNT) == 2.0
    })
    .await;
    assert_eq!(value(&text, ACTIVE), 0.0, "{text}");
    assert!(value(&text, SIZE) >= 14.0, "{text}");
}

#[actix_web::test]
async fn axum_measures_a_streamed_answer_whole() {
    let readiness = Readiness::builder().build().unwrap();
    let feed = Feed::default();
    let addr = serve_axum(&readiness, feed.clone()).await;
    a_streamed_answer_is_measured_whole(&readiness, &feed, addr).await;
}

#[actix_web::test]
async fn actix_measures_a_streamed_answer_whole() {
    let readiness = Readiness::builder().build().unwrap();
    let feed = Feed::default();
    let addr = serve_actix(&readiness, feed.clone());
    a_streamed_answer_is_measured_whole(&readiness, &feed, addr).await;
}
