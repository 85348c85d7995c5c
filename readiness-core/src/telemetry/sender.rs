//! How an export thread sends a request it has already encoded (an
//! `ExportTraceServiceRequest`, `ExportLogsServiceRequest` or
//! `ExportMetricsServiceRequest`): POSTed as it is over OTLP/HTTP, or as the body of
//! the signal's `Export` call over OTLP/gRPC. The span, log and metrics exports
//! share it.
//!
//! Over gRPC the bytes go as they are too: opentelemetry-proto's generated clients
//! take only their owned messages, and decoding a batch into one for tonic to
//! encode again would cost the export thread about 3 µs a record (measured on a
//! batch of 512 access-line records, release build), for bytes that are already
//! right.

use std::time::Duration;

use super::config::Protocol;
use super::otlp_grpc::GrpcSender;
use super::otlp_http::HttpSender;

/// The gRPC method of a span export, as the OTLP specification names it.
pub(crate) const TRACES_EXPORT: &str =
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The gRPC method of a log export.
pub(crate) const LOGS_EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
/// The gRPC method of a metrics export.
pub(crate) const METRICS_EXPORT: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Sends encoded export requests to one collector, by the configured protocol.
pub(crate) enum Sender {
    Http(HttpSender),
    Grpc(Box<GrpcSender>),
}

impl Sender {
    /// A sender to `endpoint` (the signal's full URL over HTTP, the collector's
    /// address over gRPC) with `headers`, each export bounded by `timeout`.
    pub(crate) fn new(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match protocol {
            Protocol::HttpProtobuf => Self::Http(HttpSender::new(endpoint, headers, timeout)?),
            Protocol::Grpc => Self::Grpc(Box::new(GrpcSender::new(endpoint, headers, timeout)?)),
        })
    }

    /// Sends one encoded request (`grpc_method` names its call over gRPC); blocks
    /// the export thread, never longer than the timeout.
    pub(crate) fn send(&mut self, body: Vec<u8>, grpc_method: &'static str) -> Result<(), String> {
        match self {
            Self::Http(sender) => sender.send(body),
            Self::Grpc(sender) => {
                let body = bytes::Bytes::from(body);
                sender.send(|channel, metadata| {
                    let mut call = tonic::Request::new(body.clone());
                    *call.metadata_mut() = metadata;
                    async move {
                        let mut client = tonic::client::Grpc::new(channel);
                        client.ready().await.map_err(|error| {
                            tonic::Status::unavailable(format!("no connection: {error}"))
                        })?;
                        let path = http::uri::PathAndQuery::from_static(grpc_method);
                        client.unary(call, path, Encoded).await
                    }
                })
            }
        }
    }
}

/// The gRPC codec of an export: the request already encoded, sent as it is; the
/// answer read past (a partial success is not counted, as over HTTP).
#[derive(Clone, Copy)]
struct Encoded;

impl tonic::codec::Codec for Encoded {
    type Encode = bytes::Bytes;
    type Decode = ();
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        *self
    }

    fn decoder(&mut self) -> Self {
        *self
    }
}

impl tonic::codec::Encoder for Encoded {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Encoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        let answer = bytes::Buf::remaining(src);
        bytes::Buf::advance(src, answer);
        Ok(Some(()))
    }
}
