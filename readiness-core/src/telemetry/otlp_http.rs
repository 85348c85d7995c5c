//! Span export over OTLP/HTTP with protobuf bodies, written straight from the SDK's
//! `SpanData` to the wire format.
//!
//! Written by hand because the crate that does it costs more than the request it
//! describes: opentelemetry-otlp's HTTP exporter first copies each span into the
//! owned structs of opentelemetry-proto (a `String` per attribute key and value,
//! grouped through a hash map), and prost then recomputes every nested message's
//! length at each level it is nested in; on the load bench that was 19,000
//! instructions a span, on top of a 16,500-instruction request. Here each message
//! is written once into buffers reused from batch to batch. The messages are
//! OTLP's `ExportTraceServiceRequest` (opentelemetry-proto's `trace.proto`, fields
//! as numbered there); the tests decode what this writes with the official
//! generated types. gRPC export stays with opentelemetry-otlp. The sending
//! ([`HttpSender`]) is shared with the metrics and the log exporters, and the
//! protobuf writing (the free functions, [`Scalar`], [`key_value`]) with the log
//! exporter.

use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// Wire types.
pub(crate) const VARINT: u32 = 0;
pub(crate) const FIXED64: u32 = 1;
pub(crate) const LEN: u32 = 2;
pub(crate) const FIXED32: u32 = 5;

/// `SpanFlags`: the flags say whether the parent is remote, and it is.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Statuses an export is retried after (OTLP/HTTP's retryable answers).
const RETRYABLE: [u16; 4] = [429, 502, 503, 504];
/// Retries of one export, each after a doubling delay, all within the timeout
/// (OTLP/gRPC's exports retry the same way).
pub(super) const RETRIES: u32 = 3;
pub(super) const FIRST_DELAY: Duration = Duration::from_millis(100);

/// An `AnyValue` of one scalar: its `oneof` member's field and value.
pub(crate) enum Scalar<'a> {
    Text(&'a [u8]),
    Varint(u32, u64),
    Fixed64(u32, u64),
}

impl Scalar<'_> {
    /// The encoded `AnyValue`'s length (each member's tag is one byte).
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Text(text) => 1 + varint_len(text.len() as u64) + text.len(),
            Self::Varint(_, value) => 1 + varint_len(*value),
            Self::Fixed64(..) => 1 + 8,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Text(text) => bytes_always(out, 1, text),
            Self::Varint(field, value) => {
                tag(out, field, VARINT);
                varint(out, value);
            }
            Self::Fixed64(field, value) => {
                tag(out, field, FIXED64);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
}

pub(crate) fn varint_len(value: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A `KeyValue` of a scalar as field `field`, written in place (its sizes are
/// known up front).
pub(crate) fn key_value(out: &mut Vec<u8>, field: u32, key: &[u8], scalar: &Scalar<'_>) {
    let any_len = scalar.len();
    let key_len = if key.is_empty() {
        0
    } else {
        1 + varint_len(key.len() as u64) + key.len()
    };
    let kv_len = key_len + 1 + varint_len(any_len as u64) + any_len;
    tag(out, field, LEN);
    varint(out, kv_len as u64);
    bytes(out, 1, key);
    tag(out, 2, LEN);
    varint(out, any_len as u64);
    scalar.write(out);
}

/// A protobuf writer over a stack of reused buffers, one per nesting level.
#[derive(Default)]
struct Writer {
    spare: Vec<Vec<u8>>,
}

pub(crate) fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

pub(crate) fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A length-delimited field, written even when empty (a `oneof` member).
pub(crate) fn bytes_always(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    tag(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A length-delimited field; left out when empty (proto3's default).
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        bytes_always(out, field, bytes);
    }
}

pub(crate) fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

pub(crate) fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

pub(crate) fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

pub(crate) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Writer {
    /// The message `fill` writes, as field `field` of `out`.
    fn message(
        &mut self,
        out: &mut Vec<u8>,
        field: u32,
        fill: impl FnOnce(&mut Self, &mut Vec<u8>),
    ) {
        let mut inner = self.spare.pop().unwrap_or_default();
        inner.clear();
        fill(self, &mut inner);
        bytes_always(out, field, &inner);
        self.spare.push(inner);
    }

    /// `KeyValue`s as repeated field `field`.
    fn attributes<'a>(
        &mut self,
        out: &mut Vec<u8>,
        field: u32,
        attributes: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) {
        for (key, value) in attributes {
            // A scalar's sizes are known up front: written in place, without the
            // nested buffers an array needs.
            let scalar = match value {
                Value::String(text) => Some(Scalar::Text(text.as_str().as_bytes())),
                Value::Bool(flag) => Some(Scalar::Varint(2, u64::from(*flag))),
                Value::I64(number) => Some(Scalar::Varint(3, *number as u64)),
                Value::F64(number) => Some(Scalar::Fixed64(4, number.to_bits())),
                _ => None,
            };
            let Some(scalar) = scalar else {
                self.message(out, field, |w, kv| {
                    bytes(kv, 1, key.as_bytes());
                    w.message(kv, 2, |w, any| w.any_value(any, value));
                });
                continue;
            };
            key_value(out, field, key.as_bytes(), &scalar);
        }
    }

    /// An `AnyValue`'s `oneof`.
    fn any_value(&mut self, out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::String(text) => bytes_always(out, 1, text.as_str().as_bytes()),
            Value::Bool(flag) => {
                tag(out, 2, VARINT);
                varint(out, u64::from(*flag));
            }
            Value::I64(number) => {
                tag(out, 3, VARINT);
                // int64: two's complement, as a 64-bit varint.
                varint(out, *number as u64);
            }
            Value::F64(number) => {
                tag(out, 4, FIXED64);
                out.extend_from_slice(&number.to_bits().to_le_bytes());
            }
            Value::Array(array) => self.message(out, 5, |w, list| match array {
                Array::Bool(values) => {
                    for v in values {
                        w.message(list, 1, |w, any| w.any_value(any, &Value::Bool(*v)));
                    }
                }
                Array::I64(values) => {
                    for v in values {
                        w.message(list, 1, |w, any| w.any_value(any, &Value::I64(*v)));
                    }
                }
                Array::F64(values) => {
                    for v in values {
                        w.message(list, 1, |w, any| w.any_value(any, &Value::F64(*v)));
                    }
                }
                Array::String(values) => {
                    for v in values {
                        w.message(list, 1, |_, any| {
                            bytes_always(any, 1, v.as_str().as_bytes())
                        });
                    }
                }
                // A kind of array this code does not know yet: as text.
                other => w.message(list, 1, |_, any| {
                    bytes_always(any, 1, other.to_string().as_bytes());
                }),
            }),
            // A kind of value this code does not know yet: as text.
            other => bytes_always(out, 1, other.as_str().as_bytes()),
        }
    }

    fn scope(&mut self, out: &mut Vec<u8>, scope: &InstrumentationScope) {
        self.message(out, 1, |w, s| {
            bytes(s, 1, scope.name().as_bytes());
            bytes(s, 2, scope.version().unwrap_or_default().as_bytes());
            w.attributes(
                s,
                3,
                scope.attributes().map(|kv| (kv.key.as_str(), &kv.value)),
            );
        });
    }

    fn span(&mut self, out: &mut Vec<u8>, span: &SpanData) {
        let context = &span.span_context;
        bytes(out, 1, &context.trace_id().to_bytes());
        bytes(out, 2, &context.span_id().to_bytes());
        let state = context.trace_state().header();
        bytes(out, 3, state.as_bytes());
        if span.parent_span_id != SpanId::INVALID {
            bytes(out, 4, &span.parent_span_id.to_bytes());
        }
        bytes(out, 5, span.name.as_bytes());
        uint(out, 6, kind(&span.span_kind));
        fixed64(out, 7, nanos(span.start_time));
        fixed64(out, 8, nanos(span.end_time));
        self.attributes(out, 9, key_values(&span.attributes));
        uint(out, 10, u64::from(span.dropped_attributes_count));
        for event in &span.events.events {
            self.message(out, 11, |w, e| {
                fixed64(e, 1, nanos(event.timestamp));
                bytes(e, 2, event.name.as_bytes());
                w.attributes(e, 3, key_values(&event.attributes));
                uint(e, 4, u64::from(event.dropped_attributes_count));
            });
        }
        uint(out, 12, u64::from(span.events.dropped_count));
        for link in &span.links.links {
            self.message(out, 13, |w, l| {
                let linked = &link.span_context;
                bytes(l, 1, &linked.trace_id().to_bytes());
                bytes(l, 2, &linked.span_id().to_bytes());
                bytes(l, 3, linked.trace_state().header().as_bytes());
                w.attributes(l, 4, key_values(&link.attributes));
                uint(l, 5, u64::from(link.dropped_attributes_count));
                fixed32(
                    l,
                    6,
                    flags(linked.is_remote(), linked.trace_flags().to_u8()),
                );
            });
        }
        uint(out, 14, u64::from(span.links.dropped_count));
        self.message(out, 15, |_, s| match &span.status {
            Status::Unset => {}
            Status::Ok => uint(s, 3, 1),
            Status::Error { description } => {
                bytes(s, 2, description.as_bytes());
                uint(s, 3, 2);
            }
        });
        fixed32(
            out,
            16,
            flags(span.parent_span_is_remote, context.trace_flags().to_u8()),
        );
    }

    /// The request body for `batch`: one `ResourceSpans` (the `resource` bytes,
    /// written once), with one `ScopeSpans` per instrumentation scope.
    fn request(
        &mut self,
        out: &mut Vec<u8>,
        resource: &[u8],
        schema_url: &str,
        batch: &[SpanData],
    ) {
        // Scopes in order of first appearance; a batch seldom holds more than one.
        let mut scopes: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
        for span in batch {
            match scopes
                .iter_mut()
                .find(|(scope, _)| **scope == span.instrumentation_scope)
            {
                Some((_, spans)) => spans.push(span),
                None => scopes.push((&span.instrumentation_scope, vec![span])),
            }
        }
        self.message(out, 1, |w, resource_spans| {
            bytes_always(resource_spans, 1, resource);
            for (scope, spans) in &scopes {
                w.message(resource_spans, 2, |w, scope_spans| {
                    w.scope(scope_spans, scope);
                    for span in spans {
                        w.message(scope_spans, 2, |w, out| w.span(out, span));
                    }
                    bytes(
                        scope_spans,
                        3,
                        scope.schema_url().unwrap_or_default().as_bytes(),
                    );
                });
            }
            bytes(resource_spans, 3, schema_url.as_bytes());
        });
    }
}

fn key_values(attributes: &[KeyValue]) -> impl Iterator<Item = (&str, &Value)> {
    attributes.iter().map(|kv| (kv.key.as_str(), &kv.value))
}

/// `Span.SpanKind`'s numbers.
fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn flags(remote: bool, trace_flags: u8) -> u32 {
    u32::from(trace_flags) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

/// The `Resource` message of `resource`.
pub(crate) fn resource_message(resource: &Resource) -> Vec<u8> {
    let mut writer = Writer::default();
    let mut out = Vec::new();
    writer.attributes(&mut out, 1, resource.iter().map(|(k, v)| (k.as_str(), v)));
    out
}

/// POSTs `application/x-protobuf` bodies to one OTLP/HTTP endpoint with the
/// configured headers, retrying a refused or unreachable collector with a doubling
/// delay within the timeout. Shared by the span and the metrics exporters.
pub(crate) struct HttpSender {
    client: reqwest_blocking::blocking::Client,
    endpoint: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    timeout: Duration,
}

impl HttpSender {
    pub(crate) fn new(
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                Ok((
                    http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())?,
                    http::HeaderValue::from_str(value)?,
                ))
            })
            .collect::<Result<_, Box<dyn std::error::Error + Send + Sync>>>()?;
        // reqwest's blocking client runs a runtime of its own, which must not be
        // made or dropped on an async runtime's thread: made on a thread of its own.
        let client = std::thread::spawn(move || {
            reqwest_blocking::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| "the HTTP client's thread panicked")??;
        Ok(Self {
            client,
            endpoint: endpoint.to_owned(),
            headers,
            timeout,
        })
    }

    /// Sends `body`, retrying within the timeout; blocks the calling thread.
    pub(crate) fn send(&self, body: Vec<u8>) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        let body = bytes::Bytes::from(body);
        let mut delay = FIRST_DELAY;
        let mut attempt = 0;
        loop {
            let mut request = self
                .client
                .post(&self.endpoint)
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body.clone());
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            let (error, wait) = match request.send() {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    if !RETRYABLE.contains(&status) {
                        return Err(format!("the collector answered HTTP {status}"));
                    }
                    let after = response
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (
                        format!("the collector answered HTTP {status}"),
                        after.unwrap_or(delay),
                    )
                }
                Err(error) => (format!("the collector is unreachable: {error}"), delay),
            };
            attempt += 1;
            let now = Instant::now();
            if attempt > RETRIES || now + wait >= deadline {
                return Err(error);
            }
            std::thread::sleep(wait);
            delay *= 2;
        }
    }
}

impl fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSender")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Exports spans over OTLP/HTTP (see the [module docs](self)) through an
/// [`HttpSender`].
pub(crate) struct HttpSpanExporter {
    sender: HttpSender,
    resource: Vec<u8>,
    schema_url: String,
    /// The body and the writer's buffers, reused; exports come one at a time.
    scratch: Mutex<(Vec<u8>, Writer)>,
}

impl HttpSpanExporter {
    pub(crate) fn new(
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            sender: HttpSender::new(endpoint, headers, timeout)?,
            resource: Vec::new(),
            schema_url: String::new(),
            scratch: Mutex::new((Vec::new(), Writer::default())),
        })
    }

    fn body(&self, batch: &[SpanData]) -> Vec<u8> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let (body, writer) = &mut *scratch;
        body.clear();
        writer.request(body, &self.resource, &self.schema_url, batch);
        body.clone()
    }
}

impl SpanExporter for HttpSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // The SDK's batch processor drives this future on its own thread: the
        // blocking client does not hold up a runtime.
        let body = self.body(&batch);
        self.sender
            .send(body)
            .map_err(OTelSdkError::InternalFailure)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource_message(resource);
        self.schema_url = resource
            .schema_url()
            .map(Cow::from)
            .unwrap_or_default()
            .into_owned();
    }
}

impl fmt::Debug for HttpSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSpanExporter")
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::{Duration, UNIX_EPOCH};

    use opentelemetry::trace::{
        Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
    use opentelemetry_sdk::Resource;
    use prost::Message as _;

    use super::{resource_message, Writer};

    fn span(n: u8, parent: Option<(u8, bool)>, status: Status) -> SpanData {
        let context = |id: u8, remote: bool| {
            SpanContext::new(
                TraceId::from_bytes([7; 16]),
                SpanId::from_bytes([id; 8]),
                TraceFlags::SAMPLED,
                remote,
                TraceState::from_key_value([("vendor", "x")]).unwrap(),
            )
        };
        let mut events = SpanEvents::default();
        events.events.push(Event::new(
            "retry",
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_500),
            vec![KeyValue::new("attempt", 2)],
            1,
        ));
        events.dropped_count = 3;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(99, true),
            vec![KeyValue::new("why", "fan-in")],
            0,
        ));
        SpanData {
            span_context: context(n, false),
            parent_span_id: parent.map_or(SpanId::INVALID, |(id, _)| SpanId::from_bytes([id; 8])),
            parent_span_is_remote: parent.is_some_and(|(_, remote)| remote),
            span_kind: if n.is_multiple_of(2) {
                SpanKind::Server
            } else {
                SpanKind::Internal
            },
            name: Cow::Owned(format!("GET /items/{{id}} {n}")),
            start_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_000),
            end_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_001_000),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200_i64),
                KeyValue::new("negative", -5_i64),
                KeyValue::new("ratio", 0.25),
                KeyValue::new("flag", false),
                KeyValue::new("empty", ""),
                KeyValue::new(
                    "list",
                    Value::Array(Array::String(vec![
                        StringValue::from("a"),
                        StringValue::from("b"),
                    ])),
                ),
                KeyValue::new("numbers", Value::Array(Array::I64(vec![1, -2]))),
                KeyValue::new("checks", Value::Array(Array::Bool(vec![true, false]))),
                KeyValue::new("floats", Value::Array(Array::F64(vec![1.5]))),
            ],
            dropped_attributes_count: 4,
            events,
            links,
            status,
            instrumentation_scope: InstrumentationScope::builder("readiness")
                .with_version("0.1.0")
                .with_schema_url("https://opentelemetry.io/schemas/1.28.0")
                .with_attributes([KeyValue::new("scope.attr", 1_i64)])
                .build(),
        }
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            super::varint(&mut out, value);
            assert_eq!(super::varint_len(value), out.len(), "{value}");
        }
    }

    /// What this module writes decodes, with the official types, to exactly what
    /// opentelemetry-proto's own conversion builds from the same spans.
    #[test]
    fn the_body_decodes_to_what_the_official_conversion_builds() {
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "orders"),
                KeyValue::new("service.version", "1.4.2"),
            ])
            .build();
        let batch = vec![
            span(2, None, Status::Unset),
            span(3, Some((2, false)), Status::Ok),
            span(4, Some((1, true)), Status::error("HTTP 503")),
        ];
        let mut body = Vec::new();
        Writer::default().request(
            &mut body,
            &resource_message(&resource),
            resource.schema_url().unwrap_or_default(),
            &batch,
        );
        let ours = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let official = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                batch,
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        assert_eq!(ours, official);
        // And the bytes are the same as prost's own encoding of them.
        assert_eq!(body, official.encode_to_vec());
    }
}
