//! The `application/health+json` body (draft-inadarei-api-health-check).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::Details;
use crate::health::snapshot::Snapshot;
use crate::health::{CheckInfo, ComponentType, Measurement, Status};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Body<'a> {
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) release_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) checks: BTreeMap<String, Vec<Component<'a>>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Component<'a> {
    pub(crate) component_type: ComponentType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) observed_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) observed_unit: Option<&'a str>,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<Cow<'a, str>>,
}

/// What a pending check says of itself (see [`Snapshot::is_pending`]): `pending:
/// not checked yet` before its first run ends; after runs that failed below its
/// threshold, `pending: OUTPUT (failure N of M)` with full details and `pending`
/// alone otherwise, since the output may name hosts.
pub(crate) fn pending_output(snapshot: &Snapshot, index: usize, full: bool) -> Cow<'_, str> {
    match snapshot.results[index].as_deref() {
        None => Cow::Borrowed("pending: not checked yet"),
        Some(result) if full => Cow::Owned(format!(
            "pending: {}",
            result.output.as_deref().unwrap_or("not checked yet")
        )),
        Some(_) => Cow::Borrowed("pending"),
    }
}

/// Adds the entries of check `index` to `checks`, as much as `details` allows.
pub(crate) fn add_check<'a>(
    checks: &mut BTreeMap<String, Vec<Component<'a>>>,
    info: &'a CheckInfo,
    snapshot: &'a Snapshot,
    index: usize,
    details: Details,
) {
    let full = details == Details::Full;
    // A pending check says so at every level of detail that shows checks.
    let pending = snapshot
        .is_pending(index)
        .then(|| pending_output(snapshot, index, full));
    let Some(result) = snapshot.results[index].as_deref() else {
        checks.insert(
            format!("{}:responseTime", info.name),
            vec![Component {
                component_type: info.component_type,
                observed_value: None,
                observed_unit: None,
                status: Status::Fail,
                time: None,
                output: pending,
            }],
        );
        return;
    };
    let time = rfc3339(result.time);
    let output = match pending {
        Some(pending) => Some(pending),
        None if full => result.output.as_deref().map(Cow::Borrowed),
        None => None,
    };
    checks.insert(
        format!("{}:responseTime", info.name),
        vec![Component {
            component_type: info.component_type,
            observed_value: Some(millis(result.latency)),
            observed_unit: Some("ms"),
            status: result.status,
            time: Some(time.clone()),
            output,
        }],
    );
    if full {
        // A measurement may not take the latency's key, nor make a key with two colons.
        let usable = |m: &&Measurement| m.name != "responseTime" && valid_measurement(&m.name);
        for m in result.measurements.iter().filter(usable) {
            checks.insert(
                format!("{}:{}", info.name, m.name),
                vec![Component {
                    component_type: info.component_type,
                    observed_value: Some(m.value),
                    observed_unit: Some(&m.unit),
                    status: result.status,
                    time: Some(time.clone()),
                    output: None,
                }],
            );
        }
    }
}

/// The `uptime` entry of `/health`.
pub(crate) fn uptime(uptime: Duration) -> Component<'static> {
    Component {
        component_type: ComponentType::System,
        observed_value: Some((uptime.as_secs_f64() * 1000.0).round() / 1000.0),
        observed_unit: Some("s"),
        status: Status::Pass,
        time: Some(rfc3339(SystemTime::now())),
        output: None,
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

fn valid_measurement(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
