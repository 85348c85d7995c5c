//! OTLP's protobuf messages for the span export, written straight from the SDK's
//! `SpanData` to the wire format, and the OTLP/HTTP sending.
//!
//! Written by hand because the crate that does it costs more than the request it
//! describes: opentelemetry-otlp's HTTP exporter first copies each span into the
//! owned structs of opentelemetry-proto (a `String` per attribute key and value,
//! grouped through a hash map), and prost then recomputes every nested message's
//! length at each level it is nested in; on the load bench that was 19,000
//! instructions a span, on top of a 16,500-instruction request. Here each span's
//! message is written once, on the thread that ended it, into its frame in the
//! export queue (see `export`), and copied once into a body of its exact size. The
//! messages are
//! OTLP's `ExportTraceServiceRequest` (opentelemetry-proto's `trace.proto`, fields
//! as numbered there); the tests decode what this writes with the official
//! generated types, and the same bytes go over gRPC. The sending ([`HttpSender`])
//! is shared with the metrics and the log exporters, and the protobuf writing (the
//! free functions, [`Scalar`], [`key_value`]) with the log exporter.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
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

    pub(crate) fn write(&self, out: &mut impl Sink) {
        match *self {
            Self::Text(text) => bytes_always(out, 1, text),
            Self::Varint(field, value) => {
                tag(out, field, VARINT);
                varint(out, value);
            }
            Self::Fixed64(field, value) => {
                tag(out, field, FIXED64);
                out.put(&value.to_le_bytes());
            }
        }
    }

    /// The scalar `value` is, if it is one.
    fn of(value: &Value) -> Option<Scalar<'_>> {
        match value {
            Value::String(text) => Some(Scalar::Text(text.as_str().as_bytes())),
            Value::Bool(flag) => Some(Scalar::Varint(2, u64::from(*flag))),
            // int64: two's complement, as a 64-bit varint.
            Value::I64(number) => Some(Scalar::Varint(3, *number as u64)),
            Value::F64(number) => Some(Scalar::Fixed64(4, number.to_bits())),
            _ => None,
        }
    }
}

pub(crate) fn varint_len(value: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A `KeyValue` of a scalar as field `field`, written in place (its sizes are
/// known up front).
pub(crate) fn key_value(out: &mut impl Sink, field: u32, key: &[u8], scalar: &Scalar<'_>) {
    let any_len = scalar.len();
    let key_len = if key.is_empty() {
        0
    } else {
        1 + varint_len(key.len() as u64) + key.len()
    };
    let kv_len = key_len + 1 + varint_len(any_len as u64) + any_len;
    if out.skip(tag_len(field) + varint_len(kv_len as u64) + kv_len) {
        return;
    }
    tag(out, field, LEN);
    varint(out, kv_len as u64);
    bytes(out, 1, key);
    tag(out, 2, LEN);
    varint(out, any_len as u64);
    scalar.write(out);
}

/// Where protobuf goes: a buffer, or a [`Count`] of its bytes. A nested message's
/// length comes first on the wire; it is measured by running the same code that
/// writes the message into a `Count`, so each message is written once, straight
/// into the body, instead of into a buffer of its own that its parent then copies
/// (what this module did before: every span was copied three times over).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn byte(&mut self, byte: u8);
    /// Counts `len` bytes without writing them where only the count is wanted:
    /// whether it did (the caller is done then), so that measuring a field whose
    /// length is known skips the writing of it.
    fn skip(&mut self, len: usize) -> bool;
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn byte(&mut self, byte: u8) {
        self.push(byte);
    }

    #[inline]
    fn skip(&mut self, _: usize) -> bool {
        false
    }
}

/// A [`Sink`] that only counts.
#[derive(Default)]
struct Count(usize);

impl Sink for Count {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    #[inline]
    fn byte(&mut self, _: u8) {
        self.0 += 1;
    }

    #[inline]
    fn skip(&mut self, len: usize) -> bool {
        self.0 += len;
        true
    }
}

pub(crate) fn tag(out: &mut impl Sink, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

/// The length of field `field`'s tag.
fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

pub(crate) fn varint(out: &mut impl Sink, mut value: u64) {
    if out.skip(varint_len(value)) {
        return;
    }
    while value >= 0x80 {
        out.byte((value as u8) | 0x80);
        value >>= 7;
    }
    out.byte(value as u8);
}

/// A length-delimited field, written even when empty (a `oneof` member).
pub(crate) fn bytes_always(out: &mut impl Sink, field: u32, bytes: &[u8]) {
    if out.skip(tag_len(field) + varint_len(bytes.len() as u64) + bytes.len()) {
        return;
    }
    tag(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.put(bytes);
}

/// A length-delimited field; left out when empty (proto3's default).
pub(crate) fn bytes(out: &mut impl Sink, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        bytes_always(out, field, bytes);
    }
}

pub(crate) fn uint(out: &mut impl Sink, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

pub(crate) fn fixed64(out: &mut impl Sink, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.put(&value.to_le_bytes());
    }
}

pub(crate) fn fixed32(out: &mut impl Sink, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.put(&value.to_le_bytes());
    }
}

pub(crate) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A message's fields, written to any [`Sink`].
pub(crate) trait Encode {
    fn encode(&self, out: &mut impl Sink);

    /// The length of what [`encode`](Self::encode) writes.
    fn len(&self) -> usize {
        let mut count = Count(0);
        self.encode(&mut count);
        count.0
    }
}

/// `message` as field `field`: its length, then its fields.
pub(crate) fn message(out: &mut impl Sink, field: u32, message: &impl Encode) {
    message_of_len(out, field, message, message.len());
}

/// [`message`] when its length `len` is already known.
fn message_of_len(out: &mut impl Sink, field: u32, message: &impl Encode, len: usize) {
    if out.skip(tag_len(field) + varint_len(len as u64) + len) {
        return;
    }
    tag(out, field, LEN);
    varint(out, len as u64);
    message.encode(out);
}

/// `KeyValue`s as repeated field `field`.
fn attributes<'a>(
    out: &mut impl Sink,
    field: u32,
    attributes: impl IntoIterator<Item = (&'a str, &'a Value)>,
) {
    for (key, value) in attributes {
        // A scalar's sizes are known up front: written in place.
        match Scalar::of(value) {
            Some(scalar) => key_value(out, field, key.as_bytes(), &scalar),
            None => message(out, field, &KeyValueOf(key, value)),
        }
    }
}

/// A `KeyValue` whose value is not a scalar (an array).
struct KeyValueOf<'a>(&'a str, &'a Value);

impl Encode for KeyValueOf<'_> {
    fn encode(&self, out: &mut impl Sink) {
        bytes(out, 1, self.0.as_bytes());
        message(out, 2, &AnyValue(self.1));
    }
}

/// An `AnyValue`'s `oneof`.
struct AnyValue<'a>(&'a Value);

impl Encode for AnyValue<'_> {
    fn encode(&self, out: &mut impl Sink) {
        match self.0 {
            Value::Array(array) => message(out, 5, &ArrayValue(array)),
            value => match Scalar::of(value) {
                Some(scalar) => scalar.write(out),
                // A kind of value this code does not know yet: as text.
                None => bytes_always(out, 1, value.as_str().as_bytes()),
            },
        }
    }
}

/// An `ArrayValue`: each element an `AnyValue` of field 1.
struct ArrayValue<'a>(&'a Array);

impl Encode for ArrayValue<'_> {
    fn encode(&self, out: &mut impl Sink) {
        let element = |out: &mut _, scalar: Scalar<'_>| {
            tag(out, 1, LEN);
            varint(out, scalar.len() as u64);
            scalar.write(out);
        };
        match self.0 {
            Array::Bool(values) => {
                for v in values {
                    element(out, Scalar::Varint(2, u64::from(*v)));
                }
            }
            Array::I64(values) => {
                for v in values {
                    element(out, Scalar::Varint(3, *v as u64));
                }
            }
            Array::F64(values) => {
                for v in values {
                    element(out, Scalar::Fixed64(4, v.to_bits()));
                }
            }
            Array::String(values) => {
                for v in values {
                    element(out, Scalar::Text(v.as_str().as_bytes()));
                }
            }
            // A kind of array this code does not know yet: as text.
            other => element(out, Scalar::Text(other.to_string().as_bytes())),
        }
    }
}

/// An `InstrumentationScope`.
struct Scope<'a>(&'a InstrumentationScope);

impl Encode for Scope<'_> {
    fn encode(&self, out: &mut impl Sink) {
        let scope = self.0;
        bytes(out, 1, scope.name().as_bytes());
        bytes(out, 2, scope.version().unwrap_or_default().as_bytes());
        attributes(
            out,
            3,
            scope.attributes().map(|kv| (kv.key.as_str(), &kv.value)),
        );
    }
}

/// A `Span`, with what takes work to compute (the trace state's text, the
/// times) computed once for its measuring and its writing.
struct Span<'a> {
    data: &'a SpanData,
    state: String,
    start: u64,
    end: u64,
}

impl<'a> Span<'a> {
    fn new(data: &'a SpanData) -> Self {
        Self {
            data,
            state: data.span_context.trace_state().header(),
            start: nanos(data.start_time),
            end: nanos(data.end_time),
        }
    }
}

impl Encode for Span<'_> {
    fn encode(&self, out: &mut impl Sink) {
        let span = self.data;
        let context = &span.span_context;
        bytes(out, 1, &context.trace_id().to_bytes());
        bytes(out, 2, &context.span_id().to_bytes());
        bytes(out, 3, self.state.as_bytes());
        if span.parent_span_id != SpanId::INVALID {
            bytes(out, 4, &span.parent_span_id.to_bytes());
        }
        bytes(out, 5, span.name.as_bytes());
        uint(out, 6, kind(&span.span_kind));
        fixed64(out, 7, self.start);
        fixed64(out, 8, self.end);
        attributes(out, 9, key_values(&span.attributes));
        uint(out, 10, u64::from(span.dropped_attributes_count));
        for event in &span.events.events {
            message(out, 11, &SpanEvent(event));
        }
        uint(out, 12, u64::from(span.events.dropped_count));
        for link in &span.links.links {
            message(out, 13, &SpanLink(link));
        }
        uint(out, 14, u64::from(span.links.dropped_count));
        message(out, 15, &SpanStatus(&span.status));
        fixed32(
            out,
            16,
            flags(span.parent_span_is_remote, context.trace_flags().to_u8()),
        );
    }
}

/// A `Span.Event`.
struct SpanEvent<'a>(&'a opentelemetry::trace::Event);

impl Encode for SpanEvent<'_> {
    fn encode(&self, out: &mut impl Sink) {
        let event = self.0;
        fixed64(out, 1, nanos(event.timestamp));
        bytes(out, 2, event.name.as_bytes());
        attributes(out, 3, key_values(&event.attributes));
        uint(out, 4, u64::from(event.dropped_attributes_count));
    }
}

/// A `Span.Link`.
struct SpanLink<'a>(&'a opentelemetry::trace::Link);

impl Encode for SpanLink<'_> {
    fn encode(&self, out: &mut impl Sink) {
        let linked = &self.0.span_context;
        bytes(out, 1, &linked.trace_id().to_bytes());
        bytes(out, 2, &linked.span_id().to_bytes());
        bytes(out, 3, linked.trace_state().header().as_bytes());
        attributes(out, 4, key_values(&self.0.attributes));
        uint(out, 5, u64::from(self.0.dropped_attributes_count));
        fixed32(
            out,
            6,
            flags(linked.is_remote(), linked.trace_flags().to_u8()),
        );
    }
}

/// A `Status`.
struct SpanStatus<'a>(&'a Status);

impl Encode for SpanStatus<'_> {
    fn encode(&self, out: &mut impl Sink) {
        match self.0 {
            Status::Unset => {}
            Status::Ok => uint(out, 3, 1),
            Status::Error { description } => {
                bytes(out, 2, description.as_bytes());
                uint(out, 3, 2);
            }
        }
    }
}

/// Room kept before a queued message for its frame's head: a kind byte and the
/// message's length, a varint of at most ten bytes.
pub(crate) const FRAME_HEAD: usize = 1 + 10;

/// Frames the message written at the end of `out` after `FRAME_HEAD` bytes of room
/// kept from `base`: its head (`kind`, then the message's length as a varint) goes
/// right before it, so the message is written once, unmeasured, and not copied to
/// be framed. Gives where in `out` the frame starts. The span and the log exports
/// queue their messages framed so; [`next_frame`] reads them back.
pub(crate) fn frame(out: &mut [u8], base: usize, kind: u8) -> usize {
    let len = (out.len() - base - FRAME_HEAD) as u64;
    let start = base + FRAME_HEAD - 1 - varint_len(len);
    out[start] = kind;
    let mut head = &mut out[start + 1..base + FRAME_HEAD];
    let mut value = len;
    while value >= 0x80 {
        head[0] = (value as u8) | 0x80;
        head = &mut head[1..];
        value >>= 7;
    }
    head[0] = value as u8;
    start
}

/// The first frame of `frames` (see [`frame`]): its kind, its message, and the
/// frames after it; `None` when none is left whole.
pub(crate) fn next_frame(frames: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&kind, rest) = frames.split_first()?;
    let (len, used) = read_varint(rest)?;
    let rest = &rest[used..];
    let len = usize::try_from(len).ok().filter(|len| *len <= rest.len())?;
    let (message, rest) = rest.split_at(len);
    Some((kind, message, rest))
}

/// A span as the export queue holds it, encoded on the thread where it ended: a
/// frame (see [`frame`]) whose kind is the index of the span's scope (see
/// [`scope_message`]) and whose message is its `Span` message. Gives where in `out`
/// the frame starts. The `SpanData` is dropped on that thread too, so its strings go
/// back to the allocator where they were made: freed on the export thread, glibc's
/// allocator would hand each thread's memory back through its slow path (about ten
/// spans' worth of strings a request on the load bench).
pub(crate) fn span_frame(out: &mut Vec<u8>, scope: u8, data: &SpanData) -> usize {
    let base = out.len();
    out.resize(base + FRAME_HEAD, 0);
    Span::new(data).encode(out);
    frame(out, base, scope)
}

/// The `InstrumentationScope` message of `scope`.
pub(crate) fn scope_message(scope: &InstrumentationScope) -> Vec<u8> {
    let mut out = Vec::new();
    Scope(scope).encode(&mut out);
    out
}

/// A varint at the start of `bytes`, and its length.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A `ScopeSpans`: the `InstrumentationScope` message, then each span's `Span`
/// message as queued.
pub(crate) struct ScopeSpans<'a> {
    pub(crate) scope: &'a [u8],
    pub(crate) schema_url: &'a str,
    pub(crate) spans: Vec<&'a [u8]>,
}

impl Encode for ScopeSpans<'_> {
    fn encode(&self, out: &mut impl Sink) {
        bytes_always(out, 1, self.scope);
        for span in &self.spans {
            bytes_always(out, 2, span);
        }
        bytes(out, 3, self.schema_url.as_bytes());
    }
}

/// A `ResourceSpans`: the `Resource` message (written once per export), with one
/// `ScopeSpans` per instrumentation scope.
pub(crate) struct ResourceSpans<'a> {
    pub(crate) resource: &'a [u8],
    pub(crate) scopes: &'a [ScopeSpans<'a>],
    pub(crate) schema_url: &'a str,
}

impl Encode for ResourceSpans<'_> {
    fn encode(&self, out: &mut impl Sink) {
        bytes_always(out, 1, self.resource);
        for scope in self.scopes {
            message(out, 2, scope);
        }
        bytes(out, 3, self.schema_url.as_bytes());
    }
}

/// An export request's body: `message` as its field `field`, in a buffer of its
/// exact size.
pub(crate) fn body(field: u32, message: &impl Encode) -> Vec<u8> {
    let len = message.len();
    let size = tag_len(field) + varint_len(len as u64) + len;
    let mut body = Vec::with_capacity(size);
    message_of_len(&mut body, field, message, len);
    debug_assert_eq!(body.len(), size, "the measured length is the written one");
    body
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
    let mut out = Vec::new();
    attributes(&mut out, 1, resource.iter().map(|(k, v)| (k.as_str(), v)));
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

#[cfg(test)]
mod tests {
    #[test]
    fn frames_read_back_as_written() {
        let mut queue = Vec::new();
        let lengths = [0usize, 1, 127, 128, 16_384, 20_000];
        for (kind, &len) in lengths.iter().enumerate() {
            // Framed after other bytes, as a reused buffer has them.
            let mut out = vec![0xAA; 5];
            let base = out.len();
            out.resize(base + super::FRAME_HEAD, 0);
            out.extend((0..len).map(|i| i as u8));
            let start = super::frame(&mut out, base, kind as u8);
            queue.extend_from_slice(&out[start..]);
        }
        let mut rest = queue.as_slice();
        for (kind, &len) in lengths.iter().enumerate() {
            let (read_kind, message, left) = super::next_frame(rest).unwrap();
            assert_eq!(usize::from(read_kind), kind);
            assert_eq!(message.len(), len);
            assert!(message.iter().enumerate().all(|(i, b)| *b == i as u8));
            rest = left;
        }
        assert!(rest.is_empty());
        // The last frame (a kind byte, a three-byte length, the message), and the
        // same frame cut short, which is not read.
        let last = &queue[queue.len() - (1 + 3 + 20_000)..];
        assert!(super::next_frame(last).is_some());
        assert_eq!(super::next_frame(&last[..last.len() - 1]), None);
        assert_eq!(super::next_frame(&last[..2]), None);
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
}
