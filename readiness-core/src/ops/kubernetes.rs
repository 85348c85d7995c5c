//! Kubernetes manifests: a Deployment whose probes, grace period and shutdown
//! settings agree with the library, a Service, a ServiceMonitor for the Prometheus
//! operator, a HorizontalPodAutoscaler, a PodDisruptionBudget, and a headless
//! Service through which a Prometheus without the operator finds the pods.

use std::time::Duration;

use serde_json::{json, Value};

use super::OpsKit;
use crate::endpoint::{LIVEZ_PATH, METRICS_PATH, READYZ_PATH, STARTUPZ_PATH};

/// Seconds kept free after the shutdown's last deadline before SIGKILL.
const MARGIN_SECONDS: u64 = 5;

/// The service's name as a Kubernetes object name (RFC 1123 label).
pub(super) fn object_name(service: &str) -> String {
    let name: String = service
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let name = if name.is_empty() { "service" } else { name };
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The headless Service's name: one DNS record per ready pod, for a Prometheus
/// that finds the pods by DNS (see `scrape.rs`).
pub(super) fn headless_name(service: &str) -> String {
    let name = object_name(service);
    let name: String = name.chars().take(58).collect();
    format!("{}-pods", name.trim_end_matches('-'))
}

pub(super) fn render(kit: &OpsKit) -> String {
    let deploy = &kit.deploy;
    let name = object_name(&kit.service);
    let labels = json!({ "app.kubernetes.io/name": name });
    let mut metadata = json!({ "name": name, "labels": labels });
    if let Some(namespace) = &deploy.k8s_namespace {
        metadata["namespace"] = json!(namespace);
    }
    // preStop sleeps (whole seconds) before SIGTERM; the service delays the rest.
    let pre_stop = deploy
        .pre_stop
        .unwrap_or(deploy.drain_delay)
        .min(deploy.drain_delay);
    let pre_stop_seconds = pre_stop.as_secs();
    let drain_delay = deploy.drain_delay - Duration::from_secs(pre_stop_seconds);
    let shutdown = drain_delay + deploy.drain_timeout + deploy.hooks_timeout;
    let after_sigterm =
        shutdown.as_secs() + u64::from(shutdown.subsec_nanos() > 0) + MARGIN_SECONDS;
    // The grace period runs from the start of preStop.
    let grace = pre_stop_seconds + after_sigterm;
    let seconds = |d: std::time::Duration| format!("{}ms", d.as_millis());
    let probe = |path: &str, period: u32, failures: u32| {
        json!({
            "httpGet": { "path": path, "port": "http" },
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        })
    };
    let mut resources = json!({
        "requests": { "cpu": deploy.cpu_request, "memory": deploy.memory_request },
        "limits": { "memory": deploy.memory_limit },
    });
    if let Some(cpu) = &deploy.cpu_limit {
        resources["limits"]["cpu"] = json!(cpu);
    }
    let mut env = vec![
        json!({ "name": "READINESS_SHUTDOWN_DRAIN_DELAY", "value": seconds(drain_delay) }),
        json!({ "name": "READINESS_SHUTDOWN_DRAIN_TIMEOUT", "value": seconds(deploy.drain_timeout) }),
        json!({ "name": "READINESS_SHUTDOWN_HOOKS_TIMEOUT", "value": seconds(deploy.hooks_timeout) }),
        // What the service has after SIGTERM (its fit check reads it).
        json!({ "name": "READINESS_SHUTDOWN_GRACE_PERIOD", "value": format!("{after_sigterm}s") }),
        json!({
            "name": "HOSTNAME",
            "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } },
        }),
    ];
    env.extend(
        kit.env
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value })),
    );
    let mut deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "selector": { "matchLabels": labels },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
            },
            "template": {
                "metadata": { "labels": labels },
                "spec": {
                    // preStop, SIGTERM, the rest of the drain delay, drain and hooks,
                    // then 5 s to spare.
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "containers": [{
                        "name": name,
                        "image": deploy.image,
                        "ports": [{ "name": "http", "containerPort": deploy.port, "protocol": "TCP" }],
                        "env": env,
                        "resources": resources,
                        // Startup: up to 60 s for the critical checks to pass once.
                        "startupProbe": probe(STARTUPZ_PATH, 2, 30),
                        "livenessProbe": probe(LIVEZ_PATH, 10, 3),
                        "readinessProbe": probe(READYZ_PATH, 5, 1),
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] },
                        },
                    }],
                },
            },
        },
    });
    let pod = &mut deployment["spec"]["template"]["spec"];
    if pre_stop_seconds > 0 {
        pod["containers"][0]["lifecycle"] =
            json!({ "preStop": { "sleep": { "seconds": pre_stop_seconds } } });
    }
    if !deploy.writable_dirs.is_empty() {
        let names = (0..deploy.writable_dirs.len()).map(|i| format!("writable-{i}"));
        let volumes: Vec<Value> = names
            .clone()
            .map(|name| json!({ "name": name, "emptyDir": {} }))
            .collect();
        let mounts: Vec<Value> = names
            .zip(&deploy.writable_dirs)
            .map(|(name, path)| json!({ "name": name, "mountPath": path }))
            .collect();
        pod["volumes"] = json!(volumes);
        pod["containers"][0]["volumeMounts"] = json!(mounts);
    }
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "selector": labels,
            "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
        },
    });
    let monitor = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata,
        "spec": {
            "selector": { "matchLabels": labels },
            "endpoints": [{
                "port": "http",
                "path": METRICS_PATH,
                "interval": "15s",
                // The job the rules and the dashboard select, whatever the
                // Service is called.
                "relabelings": [{ "action": "replace", "targetLabel": "job", "replacement": kit.job }],
            }],
        },
    });
    let scaling = &deploy.autoscaling;
    let percent = |ratio: f64| (ratio * 100.0).round() as u32;
    let utilization = |resource: &str, ratio: f64| {
        json!({
            "type": "Resource",
            "resource": {
                "name": resource,
                "target": { "type": "Utilization", "averageUtilization": percent(ratio) },
            },
        })
    };
    let autoscaler = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
            "minReplicas": scaling.min,
            "maxReplicas": scaling.max,
            "metrics": [utilization("cpu", scaling.cpu), utilization("memory", scaling.memory)],
            "behavior": {
                "scaleDown": { "stabilizationWindowSeconds": scaling.scale_down_window.as_secs() },
            },
        },
    });
    let budget = json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {
            "maxUnavailable": deploy.max_unavailable,
            "selector": { "matchLabels": labels },
        },
    });
    let mut headless_metadata = metadata.clone();
    headless_metadata["name"] = json!(headless_name(&kit.service));
    let headless = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": headless_metadata,
        "spec": {
            "clusterIP": "None",
            "selector": labels,
            "ports": [{ "name": "http", "port": deploy.port, "targetPort": "http", "protocol": "TCP" }],
        },
    });
    // A fixed count, or none at all: with an autoscaler the Deployment must not
    // name one, or each `kubectl apply` resets the count the autoscaler chose.
    let mut docs = vec![deployment, service, monitor];
    match deploy.replicas {
        Some(replicas) => docs[0]["spec"]["replicas"] = json!(replicas),
        None => docs.push(autoscaler),
    }
    docs.extend([budget, headless]);
    let docs: Vec<String> = docs
        .iter()
        .map(|doc: &Value| serde_norway::to_string(doc).unwrap_or_default())
        .collect();
    format!(
        "# Kubernetes manifests for {}, generated by readiness' operations kit.\n# The ServiceMonitor needs the Prometheus operator's CRDs; the autoscaler needs\n# the metrics server (CPU and memory utilization of the pods' requests).\n{}",
        kit.service,
        docs.join("---\n")
    )
}
