//! The kit's Kubernetes manifests: validated, and the service run with their
//! environment.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{temp_file, write_ops_kit, Service};

/// Both services: the kit's own manifests pass Kubernetes' schemas, and the
/// service started with the Deployment's environment answers on each probe path
/// and finds its shutdown timings fit the pod's grace period.
pub fn the_kit_manifests_validate_and_match_the_service(exe: &str) {
    let dir = write_ops_kit(exe, "manifests");
    let text = std::fs::read_to_string(dir.join("kubernetes.yaml")).unwrap();
    // The Deployment, the Services, the autoscaler and the disruption budget; the
    // ServiceMonitor (the third) is a CRD whose schema kubernetes-validate does not
    // hold.
    let core: Vec<&str> = text
        .split("\n---\n")
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, doc)| doc)
        .collect();
    assert_eq!(core.len(), 5);
    std::fs::write(dir.join("core.yaml"), core.join("\n---\n")).unwrap();
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "core.yaml"])
        .current_dir(&dir)
        .output()
        .expect("kubernetes-validate not found: `bash .ci/tools kubernetes-validate` installs it");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // YAML to JSON with PyYAML (kubernetes-validate's own dependency).
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(dir.join("kubernetes.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pod = &docs[0]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .filter(|(name, _)| name != "BIND" && name != "PORT")
        .collect();
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    // Each path the service writes lies in a volume of the pod: here, the mount
    // becomes a directory of the test's own.
    let mounts: Vec<String> = container["volumeMounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["mountPath"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let local = temp_file("mount");
    std::fs::create_dir_all(&local).unwrap();
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(name, value)| {
            if name != "AUDIT_TRAIL" {
                return (name, value);
            }
            let mount = mounts
                .iter()
                .find(|m| value.starts_with(m.as_str()))
                .unwrap_or_else(|| {
                    panic!("AUDIT_TRAIL={value} is on no writable volume: {mounts:?}")
                });
            let local = format!("{}{}", local.display(), &value[mount.len()..]);
            (name, local)
        })
        .collect();
    assert!(
        env.iter().any(|(n, _)| n == "AUDIT_TRAIL"),
        "the kit sets AUDIT_TRAIL"
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut service = Service::start(exe, &env_refs);
    // The container port the probes name is the one the service listens on.
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(
        env.iter()
            .find(|(n, _)| n == "READINESS_SHUTDOWN_GRACE_PERIOD")
            .map(|(_, v)| v.clone()),
        Some(format!("{}s", grace - pre_stop)),
        "the service is told the time it has after SIGTERM"
    );
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = service.get(path);
            if status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{probe} {path}: {status} {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The Dockerfile's HEALTHCHECK: the binary's own `healthcheck` passes while
    // the service is ready (and fails once it is gone, below).
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let binary = std::path::Path::new(exe)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        dockerfile.contains(&format!(
            r#"CMD ["/usr/local/bin/{binary}", "healthcheck"]"#
        )),
        "{dockerfile}"
    );
    let port = service.addr.port().to_string();
    let healthcheck = || {
        Command::new(exe)
            .arg("healthcheck")
            .env("BIND", "127.0.0.1")
            .env("PORT", &port)
            .output()
            .unwrap()
    };
    let passed = healthcheck();
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    let scrape_path = docs[2]["spec"]["endpoints"][0]["path"].as_str().unwrap();
    assert_eq!(service.get(scrape_path).0, 200);
    assert_eq!(service.trail, local.join("audit-trail.jsonl"));
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], "http");
    service.signal("TERM");
    service.wait_exit(Duration::from_secs(30));
    assert!(
        !healthcheck().status.success(),
        "healthcheck passes with the service gone"
    );
    assert!(
        !service
            .lines()
            .iter()
            .any(|l| l.contains("do not fit in the grace period")),
        "the manifest's timings do not fit:\n{}",
        service.lines().join("\n")
    );
}
