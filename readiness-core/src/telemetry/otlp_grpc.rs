//! OTLP over gRPC for the export threads of the spans, the metrics and the logs: one
//! channel, connected on first
//! use on a current-thread runtime that lives on the export thread, the configured
//! headers as request metadata, each export bounded by the timeout and retried
//! within it while the collector is unavailable, as the OTLP/HTTP sender does.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use super::otlp_http::{FIRST_DELAY, RETRIES};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The answers OTLP/gRPC says an export is retried after.
const RETRYABLE: [tonic::Code; 6] = [
    tonic::Code::Cancelled,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Aborted,
    tonic::Code::OutOfRange,
    tonic::Code::Unavailable,
    tonic::Code::DataLoss,
];

/// Sends export requests to one OTLP/gRPC endpoint; lives on an export thread.
pub(crate) struct GrpcSender {
    endpoint: Endpoint,
    metadata: MetadataMap,
    timeout: Duration,
    /// Made on the export thread, on first use, and dropped there.
    client: Option<(tokio::runtime::Runtime, Channel)>,
}

impl GrpcSender {
    pub(crate) fn new(
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, BoxError> {
        let mut map = http::HeaderMap::new();
        for (key, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes())?,
                http::HeaderValue::from_str(value)?,
            );
        }
        Ok(Self {
            endpoint: Endpoint::from_shared(endpoint.to_owned())?
                .connect_timeout(timeout)
                .timeout(timeout),
            metadata: MetadataMap::from_headers(map),
            timeout,
            client: None,
        })
    }

    /// Runs the export `call` makes of a channel and the request's metadata, again
    /// after a doubling delay while the answer is a retryable one, all within the
    /// timeout; blocks the calling thread (an export thread, never a runtime's).
    pub(crate) fn send<R, F, Fut>(&mut self, mut call: F) -> Result<(), String>
    where
        F: FnMut(Channel, MetadataMap) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        if self.client.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the gRPC client's runtime: {e}"))?;
            // Lazy: an absent collector fails the export, not the start, and a
            // collector that comes back is connected to again.
            let channel = {
                let _entered = runtime.enter();
                self.endpoint.connect_lazy()
            };
            self.client = Some((runtime, channel));
        }
        let Some((runtime, channel)) = &self.client else {
            return Err("no gRPC client".to_owned());
        };
        let timeout = self.timeout;
        let deadline = Instant::now() + timeout;
        runtime.block_on(async {
            let mut delay = FIRST_DELAY;
            let mut attempt = 0;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let error =
                    match tokio::time::timeout(left, call(channel.clone(), self.metadata.clone()))
                        .await
                    {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(status)) => {
                            let error = format!(
                                "the collector answered {:?}: {}",
                                status.code(),
                                status.message()
                            );
                            if !RETRYABLE.contains(&status.code()) {
                                return Err(error);
                            }
                            error
                        }
                        Err(_) => return Err(format!("no answer within {timeout:?}")),
                    };
                attempt += 1;
                if attempt > RETRIES || Instant::now() + delay >= deadline {
                    return Err(error);
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        })
    }
}

impl fmt::Debug for GrpcSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcSender")
            .field("endpoint", &self.endpoint.uri())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
