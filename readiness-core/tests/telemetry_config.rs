//! The `OTEL_*` variables: defaults, precedence, decoding, and an error naming the
//! variable for every value that cannot be used. Read through a map, never by
//! changing the process environment.

use std::collections::HashMap;
use std::time::Duration;

use readiness_core::telemetry::{BatchSettings, OtelSettings, Protocol, SamplerSetting};

fn settings(vars: &[(&str, &str)]) -> Result<OtelSettings, readiness_core::BuildError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    OtelSettings::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn nothing_set_means_no_exporter_and_the_specification_defaults() {
    let s = settings(&[]).unwrap();
    assert!(!s.disabled);
    assert_eq!(s.endpoint, None);
    assert_eq!(s.protocol, Protocol::HttpProtobuf);
    assert_eq!(s.sampler, SamplerSetting::ParentBasedAlwaysOn);
    assert_eq!(s.timeout, Duration::from_secs(10));
    assert_eq!(s.batch, BatchSettings::default());
    assert!(s.headers.is_empty() && s.resource_attributes.is_empty());
    // Empty values count as unset.
    assert_eq!(
        settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])
            .unwrap()
            .endpoint,
        None
    );
}

#[test]
fn a_full_configuration_is_read() {
    let s = settings(&[
        ("OTEL_SDK_DISABLED", "FALSE"),
        ("OTEL_SERVICE_NAME", "orders"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=pay%20ments",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s3cr%3Dt,x-tenant=acme",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "5000"),
    ])
    .unwrap();
    assert_eq!(s.service_name.as_deref(), Some("orders"));
    assert_eq!(
        s.resource_attributes,
        [
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "pay ments".to_owned())
        ]
    );
    // gRPC takes the endpoint as given.
    assert_eq!(s.endpoint.as_deref(), Some("http://collector:4317"));
    assert_eq!(s.protocol, Protocol::Grpc);
    assert_eq!(s.headers[0], ("api-key".to_owned(), "s3cr=t".to_owned()));
    assert_eq!(s.timeout, Duration::from_millis(2500));
    assert_eq!(s.sampler, SamplerSetting::TraceIdRatio(0.1));
    assert_eq!(
        s.batch,
        BatchSettings {
            max_queue_size: 4096,
            max_export_batch_size: 256,
            scheduled_delay: Duration::from_secs(1),
            export_timeout: Duration::from_secs(5),
        }
    );
    // Header values are credentials: not in Debug output.
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("s3cr") && debug.contains("api-key"),
        "{debug}"
    );
}

#[test]
fn traces_specific_variables_win_and_http_gets_its_path() {
    let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example.com/")]).unwrap();
    assert_eq!(
        s.endpoint.as_deref(),
        Some("https://otel.example.com/v1/traces")
    );
    let s = settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2"),
    ])
    .unwrap();
    assert_eq!(s.endpoint.as_deref(), Some("http://traces:9999/custom"));
    assert_eq!(s.protocol, Protocol::HttpProtobuf);
    assert_eq!(s.timeout, Duration::from_millis(2));
    let s = settings(&[("OTEL_SDK_DISABLED", "True")]).unwrap();
    assert!(s.disabled);
    for (name, sampler) in [
        ("always_on", SamplerSetting::AlwaysOn),
        ("always_off", SamplerSetting::AlwaysOff),
        (
            "parentbased_always_off",
            SamplerSetting::ParentBasedAlwaysOff,
        ),
        (
            "parentbased_traceidratio",
            SamplerSetting::ParentBasedTraceIdRatio(1.0),
        ),
    ] {
        assert_eq!(
            settings(&[("OTEL_TRACES_SAMPLER", name)]).unwrap().sampler,
            sampler
        );
    }
}

#[test]
fn every_unusable_value_is_an_error_naming_its_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("OTEL_SDK_DISABLED", "yes")], "OTEL_SDK_DISABLED"),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "novalue")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "=x")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "k=%ff")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp")],
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "api-key")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s")],
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "jaeger_remote")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ),
        (
            &[("OTEL_BSP_SCHEDULE_DELAY", "-5")],
            "OTEL_BSP_SCHEDULE_DELAY",
        ),
        (
            &[
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200"),
            ],
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        ),
    ];
    for (vars, variable) in cases {
        let err = settings(vars).unwrap_err();
        assert_eq!(err.field(), *variable, "{vars:?}: {err}");
    }
}

#[cfg(feature = "otel")]
#[test]
fn settings_given_in_code_override_the_environment() {
    use readiness_core::telemetry::Telemetry;
    let env = settings(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.env:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("OTEL_SERVICE_NAME", "from-env"),
    ])
    .unwrap();
    let telemetry = Telemetry::from_settings(env)
        .endpoint("http://collector.code:4317", Protocol::Grpc)
        .sampler(SamplerSetting::TraceIdRatio(0.25))
        .service("from-code", "1.0.0");
    let s = telemetry.settings();
    assert_eq!(s.endpoint.as_deref(), Some("http://collector.code:4317"));
    assert_eq!(s.protocol, Protocol::Grpc);
    assert_eq!(s.sampler, SamplerSetting::TraceIdRatio(0.25));
    // Except the service name: OTEL_SERVICE_NAME wins, as the specification asks.
    assert_eq!(s.service_name.as_deref(), Some("from-env"));
}
