//! A request's span and access line, handed to the layer typed.
//!
//! The observation opens a span (`readiness::request`) and sends one event
//! (`readiness::access`) per request, and every subscriber sees them as usual. Our
//! layer would then visit each field through `tracing`'s `Visit`, match its name,
//! look up its redaction rule and copy it: more than the rest of the line costs.
//! So the observation parks the same values, typed, just before it opens the span,
//! records a route named late (actix-web's) or sends the event, and the layer takes
//! them instead, as long as the redaction rules keep every one of those names (the
//! layer knows that from its build); else it visits the fields as it does any
//! others. Whatever no layer took is dropped when the parking guard goes.

use std::cell::{Cell, RefCell};

use tracing::Metadata;

use super::fields::Fields;
use super::redact::{Redactor, Rule};
use crate::metrics::names::{ACCESS_TARGET, REQUEST_TARGET};

/// The access line's message, as the observation's event writes it (the typed and
/// the visited lines are compared in `adapter-tests/tests/access_log.rs`).
const ACCESS_MESSAGE: &str = "request finished";

const METHOD: &str = "method";
const ROUTE: &str = "route";
const PATH: &str = "path";
const USER_AGENT: &str = "user_agent";
const STATUS: &str = "status";
const DURATION_MS: &str = "duration_ms";
const REQUEST_BYTES: &str = "request_bytes";
const RESPONSE_BYTES: &str = "response_bytes";
/// The request span's field names.
const SPAN_FIELDS: [&str; 4] = [METHOD, ROUTE, PATH, USER_AGENT];
/// The access line's field names.
const ACCESS_FIELDS: [&str; 4] = [STATUS, DURATION_MS, REQUEST_BYTES, RESPONSE_BYTES];

thread_local! {
    static PARKED_SPAN: Cell<Option<Box<Fields>>> = const { Cell::new(None) };
    /// The route named after the span opened (a server that routes late), copied
    /// here while the span records it (the flag), in a buffer kept between requests.
    static PARKED_ROUTE: RefCell<(bool, String)> = const { RefCell::new((false, String::new())) };
    static PARKED_ACCESS: Cell<Option<Access>> = const { Cell::new(None) };
    /// The fields of the last request span closed on this thread, for the next one
    /// to reuse their memory.
    static SPARE: Cell<Option<Box<Fields>>> = const { Cell::new(None) };
}

/// The access line's values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access {
    pub(crate) status: u16,
    pub(crate) duration_ms: f64,
    pub(crate) request_bytes: Option<u64>,
    pub(crate) response_bytes: Option<u64>,
    /// The request's trace and span ids, when it is traced: the layer then needs
    /// no lookup of the span's OpenTelemetry context.
    pub(crate) trace: Option<TraceIds>,
}

/// A trace id and a span id as the line writes them: lower-case hex.
pub(crate) type TraceIds = ([u8; 32], [u8; 16]);

/// `trace` and `span` ids as hex.
#[cfg(feature = "otel")]
pub(crate) fn trace_ids(trace: [u8; 16], span: [u8; 8]) -> TraceIds {
    let mut ids = ([0u8; 32], [0u8; 16]);
    hex(&trace, &mut ids.0);
    hex(&span, &mut ids.1);
    ids
}

#[cfg(feature = "otel")]
fn hex(bytes: &[u8], out: &mut [u8]) {
    // Both digits of a byte at once, from a table of all 256.
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut b = 0;
        while b < 256 {
            pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
            b += 1;
        }
        pairs
    };
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(*byte)]);
    }
}

/// Whether the redaction rules keep every field name of the request span and the
/// access line as it is (the default rules do), so their parked values can be used.
pub(super) fn names_kept(redactor: &Redactor) -> bool {
    SPAN_FIELDS
        .iter()
        .chain(&ACCESS_FIELDS)
        .all(|name| matches!(redactor.rule_static(name), Rule::Keep))
}

/// The request span's values, parked while the span opens.
#[must_use = "the values are parked only while the guard lives"]
pub(crate) struct ParkedSpan(());

impl ParkedSpan {
    /// Parks the request span's values for the layer to take.
    pub(crate) fn new(
        request_id: &str,
        method: &str,
        route: Option<&str>,
        path: &str,
        user_agent: Option<&str>,
    ) -> Self {
        // Boxed: moved from here to the span and back at its close, a pointer each.
        let mut fields = SPARE.take().unwrap_or_else(|| Box::new(Fields::for_span()));
        fields.clear();
        fields.set_request_id(request_id);
        fields.push_str(METHOD, method);
        if let Some(route) = route {
            fields.push_str(ROUTE, route);
        }
        fields.push_str(PATH, path);
        if let Some(user_agent) = user_agent {
            fields.push_str(USER_AGENT, user_agent);
        }
        PARKED_SPAN.set(Some(fields));
        Self(())
    }
}

impl Drop for ParkedSpan {
    fn drop(&mut self) {
        if let Some(fields) = PARKED_SPAN.take() {
            SPARE.set(Some(fields));
        }
    }
}

/// The route of a request span's `http.route`, recorded after the span opened
/// (a server that routes late, as actix-web): parked as the span's own values are.
#[must_use = "the route is parked only while the guard lives"]
pub(crate) struct ParkedRoute(());

impl ParkedRoute {
    pub(crate) fn new(route: &str) -> Self {
        PARKED_ROUTE.with(|parked| {
            if let Ok(mut parked) = parked.try_borrow_mut() {
                let (set, buffer) = &mut *parked;
                if buffer.capacity() > 1024 {
                    *buffer = String::new(); // one huge route does not keep its memory
                }
                buffer.clear();
                buffer.push_str(route);
                *set = true;
            }
        });
        Self(())
    }
}

impl Drop for ParkedRoute {
    fn drop(&mut self) {
        PARKED_ROUTE.with(|parked| {
            if let Ok(mut parked) = parked.try_borrow_mut() {
                parked.0 = false;
            }
        });
    }
}

/// The access line's values, parked while the event is sent.
#[must_use = "the values are parked only while the guard lives"]
pub(crate) struct ParkedAccess(());

impl ParkedAccess {
    /// Parks the access line's values for the layer to take.
    pub(crate) fn new(access: Access) -> Self {
        PARKED_ACCESS.set(Some(access));
        Self(())
    }
}

impl Drop for ParkedAccess {
    fn drop(&mut self) {
        PARKED_ACCESS.set(None);
    }
}

/// The name our lines give a request span field, `None` for one they leave out:
/// its OpenTelemetry name (`http.request.method`, ...) is long for a log line, and
/// the connection's attributes are the trace's alone.
pub(super) fn log_name(name: &'static str) -> Option<&'static str> {
    match name {
        "http.request.method" => Some("method"),
        "http.route" => Some("route"),
        "url.path" => Some("path"),
        "user_agent.original" => Some("user_agent"),
        "url.scheme" | "network.protocol.version" | "client.address" => None,
        other => Some(other),
    }
}

/// The parked fields of the request span `metadata` describes, if it is one.
pub(super) fn take_span(metadata: &Metadata<'_>) -> Option<Box<Fields>> {
    if metadata.target() != REQUEST_TARGET {
        return None;
    }
    PARKED_SPAN.take()
}

/// The parked route into a request span's `fields` (when `metadata` is the request
/// span's and a route is parked): whether it was.
pub(super) fn take_route(metadata: &Metadata<'_>, fields: &mut Fields) -> bool {
    if metadata.target() != REQUEST_TARGET {
        return false;
    }
    PARKED_ROUTE.with(|parked| {
        let Ok(mut parked) = parked.try_borrow_mut() else {
            return false;
        };
        let (set, route) = &mut *parked;
        if !std::mem::take(set) {
            return false;
        }
        fields.set_str(ROUTE, route);
        true
    })
}

/// Keeps the fields of a closed request span for the next one.
pub(super) fn spare(fields: Box<Fields>) {
    SPARE.set(Some(fields));
}

/// Whether `metadata` is the request span's.
pub(super) fn is_request_span(metadata: &Metadata<'_>) -> bool {
    metadata.target() == REQUEST_TARGET
}

/// The parked values of the access line `metadata` describes, if it is one, put in
/// `fields`. Says whether it did.
pub(super) fn take_access(
    metadata: &Metadata<'_>,
    fields: &mut Fields,
) -> Option<Option<TraceIds>> {
    if metadata.target() != ACCESS_TARGET {
        return None;
    }
    let access = PARKED_ACCESS.take()?;
    push_access(fields, &access);
    Some(access.trace)
}

/// The access line's message and fields.
fn push_access(fields: &mut Fields, access: &Access) {
    fields.set_message(ACCESS_MESSAGE);
    fields.push_u64(STATUS, u64::from(access.status));
    fields.push_f64(DURATION_MS, access.duration_ms);
    if let Some(bytes) = access.request_bytes {
        fields.push_u64(REQUEST_BYTES, bytes);
    }
    if let Some(bytes) = access.response_bytes {
        fields.push_u64(RESPONSE_BYTES, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "otel")]
    #[test]
    fn trace_ids_are_lower_case_hex_of_every_byte() {
        let trace: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let span: [u8; 8] = [0x00, 0x0f, 0xf0, 0xff, 0x12, 0x9a, 0xbc, 0xde];
        let (trace_hex, span_hex) = trace_ids(trace, span);
        let expected = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(std::str::from_utf8(&trace_hex).unwrap(), expected(&trace));
        assert_eq!(std::str::from_utf8(&span_hex).unwrap(), expected(&span));
        // Every byte value, through the span half.
        for b in 0..=255u8 {
            let (_, hex) = trace_ids([0; 16], [b; 8]);
            assert_eq!(&hex[..2], format!("{b:02x}").as_bytes());
        }
    }

    /// The lines write these names without checking them (`Fields::own_names`):
    /// each must be a key the JSON format writes as it is.
    #[test]
    fn the_typed_names_are_written_as_they_are() {
        for name in SPAN_FIELDS.iter().chain(&ACCESS_FIELDS) {
            assert!(super::super::json::written_as_is(name), "{name}");
        }
        let parked = ParkedSpan::new("id", "GET", Some("/r"), "/p", Some("ua"));
        let span = PARKED_SPAN.take().expect("parked");
        drop(parked);
        let names: Vec<_> = span.iter().map(|(name, _)| name).collect();
        assert_eq!(names, SPAN_FIELDS);
        assert!(span.own_names());
        let mut event = Fields::default();
        push_access(
            &mut event,
            &Access {
                status: 200,
                duration_ms: 1.5,
                request_bytes: Some(1),
                response_bytes: Some(2),
                trace: None,
            },
        );
        let names: Vec<_> = event.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ACCESS_FIELDS);
        assert!(event.own_names());
    }
}
