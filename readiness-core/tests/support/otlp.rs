//! A small OTLP/HTTP receiver: answers `POST /v1/traces`, `POST /v1/metrics` and
//! `POST /v1/logs` and keeps each export request it gets (decoded with the
//! protocol's own types) and its headers (and, for logs, the raw body); and
//! OTLP/gRPC ones serving the trace, metrics and logs services.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the receiver got: each span export with the request's headers (lower-case
/// names), each metrics export likewise, each log export with its raw body, and
/// each gRPC log export's metadata (lower-case names).
#[derive(Clone, Default)]
pub struct Received(
    pub Arc<Mutex<Vec<(Vec<(String, String)>, ExportTraceServiceRequest)>>>,
    pub Arc<Mutex<Vec<(Vec<(String, String)>, ExportMetricsServiceRequest)>>>,
    pub Arc<Mutex<Vec<(Vec<u8>, ExportLogsServiceRequest)>>>,
    pub Arc<Mutex<Vec<Vec<(String, String)>>>>,
);

impl Received {
    /// Every log export received, in order.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.2
            .lock()
            .unwrap()
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    /// Every log export's body as it came, concatenated.
    pub fn log_bytes(&self) -> Vec<u8> {
        self.2
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(body, _)| body.clone())
            .collect()
    }

    /// Every metrics export received, in order.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.1
            .lock()
            .unwrap()
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    /// The names of every span received, in order.
    pub fn span_names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, request)| &request.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|span| span.name.clone())
            .collect()
    }
}

pub async fn start() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            let name = name.trim().to_ascii_lowercase();
                            let value = value.trim().to_owned();
                            if name == "content-length" {
                                length = value.parse().unwrap_or(0);
                            }
                            headers.push((name, value));
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let status = if request_line.starts_with("POST /v1/logs ") {
                        match ExportLogsServiceRequest::decode(body.as_slice()) {
                            Ok(request) => {
                                store.2.lock().unwrap().push((body.clone(), request));
                                "200 OK"
                            }
                            Err(_) => "400 Bad Request",
                        }
                    } else if request_line.starts_with("POST /v1/metrics ") {
                        match ExportMetricsServiceRequest::decode(body.as_slice()) {
                            Ok(request) => {
                                store.1.lock().unwrap().push((headers, request));
                                "200 OK"
                            }
                            Err(_) => "400 Bad Request",
                        }
                    } else {
                        match ExportTraceServiceRequest::decode(body.as_slice()) {
                            Ok(request) if request_line.starts_with("POST /v1/traces ") => {
                                store.0.lock().unwrap().push((headers, request));
                                "200 OK"
                            }
                            _ => "400 Bad Request",
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                    );
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, received)
}

/// The metadata of a gRPC request as lower-case header names and values.
fn metadata_pairs(metadata: &tonic::metadata::MetadataMap) -> Vec<(String, String)> {
    metadata
        .clone()
        .into_headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

/// The receiving end of each OTLP/gRPC service, keeping what it gets in `Received`.
struct Receiver(Received);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = metadata_pairs(request.metadata());
        self.0
             .0
            .lock()
            .unwrap()
            .push((headers, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = metadata_pairs(request.metadata());
        self.0
             .1
            .lock()
            .unwrap()
            .push((headers, request.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0
             .3
            .lock()
            .unwrap()
            .push(metadata_pairs(request.metadata()));
        let request = request.into_inner();
        self.0
             .2
            .lock()
            .unwrap()
            .push((request.encode_to_vec(), request));
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

/// Which OTLP/gRPC services a receiver serves.
#[derive(Clone, Copy)]
struct Services {
    traces: bool,
    metrics: bool,
    logs: bool,
}

/// The services of one receiver, each call handed to the one its path names (tonic's
/// own router is a feature this workspace leaves off); `Unimplemented` for a
/// service not served, as a collector without that pipeline answers.
#[derive(Clone)]
struct Dispatch {
    traces: Option<TraceServiceServer<Receiver>>,
    metrics: Option<MetricsServiceServer<Receiver>>,
    logs: Option<LogsServiceServer<Receiver>>,
}

type Call = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<tonic::body::Body>, std::convert::Infallible>,
            > + Send,
    >,
>;

impl tower::Service<http::Request<tonic::body::Body>> for Dispatch {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = Call;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Call {
        let path = request.uri().path();
        if path.starts_with("/opentelemetry.proto.collector.trace.v1.TraceService/") {
            if let Some(mut service) = self.traces.clone() {
                return Box::pin(async move { service.call(request).await });
            }
        } else if path.starts_with("/opentelemetry.proto.collector.metrics.v1.MetricsService/") {
            if let Some(mut service) = self.metrics.clone() {
                return Box::pin(async move { service.call(request).await });
            }
        } else if path.starts_with("/opentelemetry.proto.collector.logs.v1.LogsService/") {
            if let Some(mut service) = self.logs.clone() {
                return Box::pin(async move { service.call(request).await });
            }
        }
        Box::pin(async { Ok(tonic::Status::unimplemented("not served").into_http()) })
    }
}

async fn start_grpc_serving(services: Services) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let receiver = || Receiver(received.clone());
    let dispatch = Dispatch {
        traces: services.traces.then(|| TraceServiceServer::new(receiver())),
        metrics: services
            .metrics
            .then(|| MetricsServiceServer::new(receiver())),
        logs: services.logs.then(|| LogsServiceServer::new(receiver())),
    };
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .serve_with_incoming(
                dispatch,
                tonic::transport::server::TcpIncoming::from(listener),
            )
            .await
            .unwrap();
    });
    (addr, received)
}

/// A real OTLP/gRPC receiver: tonic serving opentelemetry-proto's `TraceService`,
/// keeping each export with its metadata (as lower-case header names).
pub async fn start_grpc() -> (SocketAddr, Received) {
    start_grpc_serving(Services {
        traces: true,
        metrics: false,
        logs: false,
    })
    .await
}

/// A real OTLP/gRPC metrics receiver: tonic serving opentelemetry-proto's
/// `MetricsService`, keeping each export with its metadata (lower-case names).
pub async fn start_grpc_metrics() -> (SocketAddr, Received) {
    start_grpc_serving(Services {
        traces: false,
        metrics: true,
        logs: false,
    })
    .await
}

/// A real OTLP/gRPC logs receiver: tonic serving opentelemetry-proto's
/// `LogsService`, keeping each export (its body re-encoded) and its metadata.
pub async fn start_grpc_logs() -> (SocketAddr, Received) {
    start_grpc_serving(Services {
        traces: false,
        metrics: false,
        logs: true,
    })
    .await
}

/// A collector on one port serving the trace, metrics and logs services, as an
/// OpenTelemetry Collector's `otlp` receiver does on 4317.
pub async fn start_grpc_all() -> (SocketAddr, Received) {
    start_grpc_serving(Services {
        traces: true,
        metrics: true,
        logs: true,
    })
    .await
}
