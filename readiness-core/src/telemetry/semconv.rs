//! The OTLP names of the library's metric families: the Prometheus names of
//! [`names`](crate::metrics::names), each with its OpenTelemetry semantic-convention
//! name, unit and instrument, and the label names likewise. Families and labels
//! not in the tables (the service's own, the check, cache, job and audit families)
//! keep their Prometheus names; their unit comes from the name's suffix.

use crate::metrics::names::*;

/// How a family was recorded, where the Prometheus type does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instrument {
    /// As its Prometheus type says: a counter or histogram recorded as things
    /// happen, or a gauge.
    AsTyped,
    /// A gauge that is an up-down counter in the conventions: a non-monotonic sum.
    UpDownCounter,
    /// A counter read from the system at export time (an asynchronous counter):
    /// cumulative under the `lowmemory` preference.
    ObservedCounter,
}

/// One family's OTLP form.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) prometheus: &'static str,
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) instrument: Instrument,
}

const fn family(
    prometheus: &'static str,
    name: &'static str,
    unit: &'static str,
    instrument: Instrument,
) -> Family {
    Family {
        prometheus,
        name,
        unit,
        instrument,
    }
}

use Instrument::{AsTyped, ObservedCounter, UpDownCounter};

/// The families renamed on the way out (under the metric namespace, if any).
pub(crate) const FAMILIES: &[Family] = &[
    family(
        HTTP_SERVER_REQUEST_DURATION,
        "http.server.request.duration",
        "s",
        AsTyped,
    ),
    family(
        HTTP_SERVER_ACTIVE_REQUESTS,
        "http.server.active_requests",
        "{request}",
        UpDownCounter,
    ),
    family(
        HTTP_SERVER_REQUEST_BODY_SIZE,
        "http.server.request.body.size",
        "By",
        AsTyped,
    ),
    family(
        HTTP_SERVER_RESPONSE_BODY_SIZE,
        "http.server.response.body.size",
        "By",
        AsTyped,
    ),
    family(
        PROCESS_CPU_SECONDS,
        "process.cpu.time",
        "s",
        ObservedCounter,
    ),
    family(
        PROCESS_RESIDENT_MEMORY,
        "process.memory.usage",
        "By",
        AsTyped,
    ),
    family(
        PROCESS_VIRTUAL_MEMORY,
        "process.memory.virtual",
        "By",
        AsTyped,
    ),
    family(
        PROCESS_OPEN_FDS,
        "process.unix.file_descriptor.count",
        "{file_descriptor}",
        AsTyped,
    ),
    family(PROCESS_THREADS, "process.thread.count", "{thread}", AsTyped),
    family(
        SYSTEM_CPU_UTILIZATION,
        "system.cpu.utilization",
        "1",
        AsTyped,
    ),
    family(SYSTEM_MEMORY_USAGE, "system.memory.usage", "By", AsTyped),
    family(SYSTEM_MEMORY_LIMIT, "system.memory.limit", "By", AsTyped),
    family(
        SYSTEM_MEMORY_UTILIZATION,
        "system.memory.utilization",
        "1",
        AsTyped,
    ),
    family(
        SYSTEM_FILESYSTEM_USAGE,
        "system.filesystem.usage",
        "By",
        AsTyped,
    ),
    family(
        SYSTEM_FILESYSTEM_LIMIT,
        "system.filesystem.limit",
        "By",
        AsTyped,
    ),
    family(
        SYSTEM_FILESYSTEM_UTILIZATION,
        "system.filesystem.utilization",
        "1",
        AsTyped,
    ),
    family(
        DB_CLIENT_CONNECTIONS,
        "db.client.connection.count",
        "{connection}",
        UpDownCounter,
    ),
    family(
        DB_CLIENT_CONNECTIONS_MAX,
        "db.client.connection.max",
        "{connection}",
        UpDownCounter,
    ),
    family(
        DB_CLIENT_CONNECTION_WAIT_TIME,
        "db.client.connection.wait_time",
        "s",
        AsTyped,
    ),
];

/// The labels renamed on the way out, on every family.
pub(crate) const LABELS: &[(&str, &str)] = &[
    (HTTP_REQUEST_METHOD, "http.request.method"),
    (HTTP_ROUTE, "http.route"),
    (HTTP_RESPONSE_STATUS_CODE, "http.response.status_code"),
    (MOUNTPOINT, "system.filesystem.mountpoint"),
    (POOL, "db.client.connection.pool.name"),
    (STATE, "db.client.connection.state"),
];

/// Labels whose values are integers in the conventions.
pub(crate) const INT_LABELS: &[&str] = &[HTTP_RESPONSE_STATUS_CODE];

/// The OTLP form of the family `name` (without the namespace prefix), if renamed.
pub(crate) fn family_of(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.prometheus == name)
}

/// The OTLP name of the label `name`.
pub(crate) fn label(name: &str) -> &str {
    LABELS
        .iter()
        .find(|(prometheus, _)| *prometheus == name)
        .map_or(name, |(_, otel)| otel)
}

/// The unit of a family not in the table, from its name's suffix (UCUM, as OTLP
/// wants): `_seconds` is `s`, `_bytes` is `By`, `_ratio` is `1`.
pub(crate) fn unit_from_suffix(name: &str) -> &'static str {
    let name = name.strip_suffix("_total").unwrap_or(name);
    if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_bytes") {
        "By"
    } else if name.ends_with("_ratio") {
        "1"
    } else {
        ""
    }
}
