//! Disk, memory and CPU checks against this machine, through sysinfo.
#![cfg(feature = "system")]

use std::time::Duration;

use readiness_core::{checks, CheckSpec, Details, Endpoint, ProbeRequest, Readiness, Status};

async fn run(spec: CheckSpec) -> (Status, serde_json::Value) {
    let readiness = Readiness::builder()
        .details(Details::Full)
        .check(
            spec.timeout(Duration::from_secs(5))
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    readiness.refresh().await;
    let name = readiness.check_names().next().unwrap().to_owned();
    let response = readiness.respond(&ProbeRequest::new(Endpoint::Check(&name), "GET"));
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    (readiness.check_status(&name).unwrap(), body)
}

#[tokio::test]
async fn disk_free_reads_the_file_system_of_the_path() {
    let dir = std::env::temp_dir();
    let (status, body) = run(checks::disk_free_percent(&dir, 0.0, 0.0)).await;
    assert_eq!(status, Status::Pass, "{body}");
    let free = body["checks"]["disk:freePercent"][0]["observedValue"]
        .as_f64()
        .unwrap();
    assert!((0.0..=100.0).contains(&free), "{free}");
    assert_eq!(
        body["checks"]["disk:responseTime"][0]["componentType"],
        "system"
    );

    // No real disk is 100 % free: a threshold of 100 must fail.
    let (status, body) = run(checks::disk_free_percent(&dir, 100.0, 100.0)).await;
    assert_eq!(status, Status::Fail, "{body}");
    let output = body["checks"]["disk:responseTime"][0]["output"]
        .as_str()
        .unwrap();
    assert!(output.starts_with("free space"), "{output}");

    let (status, _) = run(checks::disk_free_percent(&dir, 100.0, 0.0)).await;
    assert_eq!(status, Status::Warn);
}

#[tokio::test]
async fn disk_free_fails_for_a_missing_path() {
    let (status, body) = run(checks::disk_free_percent("/no/such/path/here", 10.0, 5.0)).await;
    assert_eq!(status, Status::Fail);
    assert_eq!(
        body["checks"]["disk:responseTime"][0]["output"],
        "check returned an error"
    );
}

#[tokio::test]
async fn memory_use_is_measured() {
    let (status, body) = run(checks::memory_used_percent(100.0, 100.0)).await;
    assert_eq!(status, Status::Pass, "{body}");
    let used = body["checks"]["memory:utilization"][0]["observedValue"]
        .as_f64()
        .unwrap();
    assert!(used > 0.0 && used <= 100.0, "{used}");
    // A running process uses some memory: a fail threshold of 0 % must fail.
    let (status, _) = run(checks::memory_used_percent(0.0, 0.0)).await;
    assert_eq!(status, Status::Fail);
}

#[tokio::test]
async fn cpu_use_is_measured() {
    let (status, body) = run(checks::cpu_used_percent(100.0, 100.0)).await;
    assert_eq!(status, Status::Pass, "{body}");
    let used = body["checks"]["cpu:utilization"][0]["observedValue"]
        .as_f64()
        .unwrap();
    assert!((0.0..=100.0).contains(&used), "{used}");
}
