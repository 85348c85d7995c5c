//! The load bench's server: one small service in several variants, so that the same
//! load measures what each metrics or logging middleware costs.
//!
//! `load-server VARIANT PORT`, VARIANT one of `axum-bare`, `axum-readiness` (RED
//! metrics), `axum-readiness-log` (RED metrics, request ids and one JSON access line
//! per request through our non-blocking writer to stdout), `axum-prometheus`,
//! `axum-tracelayer` (tower-http's `TraceLayer`, one JSON line per request from
//! `tracing-subscriber`'s JSON format to stdout), `actix-bare`, `actix-readiness`,
//! `actix-readiness-log`, `actix-web-prom`, `actix-tracing-actix-web`
//! (tracing-actix-web's `TracingLogger`, its span per request as one JSON line from
//! `tracing-subscriber`'s JSON format to stdout), and `axum-readiness-otel` /
//! `actix-readiness-otel` (the `-log` variant plus OpenTelemetry spans exported as
//! the `OTEL_*` variables say), `axum-readiness-otel-all` / `actix-readiness-otel-all`
//! (the same, every JSON line also exported as an OTLP log record, and the metrics
//! export on), `axum-readiness-spans` / `actix-readiness-spans` (RED
//! metrics, request ids and the exported server spans, no log lines), and the
//! OpenTelemetry peers `axum-tracing-opentelemetry`
//! (its `OtelAxumLayer` and `OtelInResponseLayer`, spans only) and `axum-tower-otel`
//! (tower-otel's HTTP server trace and metrics layers), their spans exported through
//! the same OTLP pipeline as ours (`Telemetry` from the `OTEL_*` variables), tower-otel's
//! metrics through the SDK's meter and OTLP/HTTP exporter. Each serves `GET /hello/{name}` (a short
//! text) and, when it has metrics, `GET /metrics`. One worker thread: the bench pins
//! the process to one core and sends stdout to `/dev/null`.
//!
//! One more peer, `actix-tracing-actix-web-otel` (tracing-actix-web with its
//! OpenTelemetry support), speaks another OpenTelemetry version than the workspace:
//! it is `load-peer`, built outside the workspace from `benches/load/peers`.
//!
//! `axum-route-layer` is axum with an identity layer on its routes: the floor any
//! layer that reads the matched route pays on axum, doing nothing else.
//!
//! `load-server otlp-sink PORT` is a collector that accepts every OTLP/HTTP export;
//! `load-server otlp-hung PORT` accepts connections and never answers.
#![allow(missing_docs, clippy::print_stdout)]

use std::net::SocketAddr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let variant = args.next().ok_or("usage: load-server VARIANT PORT")?;
    let port: u16 = args
        .next()
        .ok_or("usage: load-server VARIANT PORT")?
        .parse()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match variant.as_str() {
        "axum-bare"
        | "axum-readiness"
        | "axum-readiness-log"
        | "axum-readiness-otel"
        | "axum-readiness-otel-all"
        | "axum-readiness-spans"
        | "axum-prometheus"
        | "axum-tracelayer"
        | "axum-tracing-opentelemetry"
        | "axum-tower-otel"
        | "axum-route-layer" => axum_server(&variant, addr),
        "actix-bare"
        | "actix-readiness"
        | "actix-readiness-log"
        | "actix-readiness-otel"
        | "actix-readiness-otel-all"
        | "actix-readiness-spans"
        | "actix-web-prom"
        | "actix-tracing-actix-web" => actix_server(&variant, addr),
        "otlp-sink" | "otlp-hung" => collector(&variant, addr),
        other => Err(format!("unknown variant {other}").into()),
    }
}

fn axum_server(variant: &str, addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use axum::extract::Path;
    use axum::routing::get;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = axum::Router::new().route(
            "/hello/{name}",
            get(|Path(name): Path<String>| async move { format!("Hello, {name}!") }),
        );
        let app = match variant {
            "axum-readiness"
            | "axum-readiness-log"
            | "axum-readiness-otel"
            | "axum-readiness-otel-all"
            | "axum-readiness-spans" => {
                let logging = variant != "axum-readiness";
                let readiness = readiness_axum::core::Readiness::builder()
                    .service("load", "0")
                    .access_log(logging)
                    .build()?;
                if logging {
                    install_log_layer(&readiness, variant)?;
                }
                readiness_axum::instrument(router, &readiness).into_router()
            }
            "axum-tracelayer" => {
                use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
                install_json_lines(tracing_subscriber::fmt::format::FmtSpan::NONE)?;
                router.layer(
                    TraceLayer::new_for_http()
                        .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
            }
            "axum-tracing-opentelemetry" => {
                install_otel_only()?;
                router
                    .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                    .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
            }
            "axum-tower-otel" => {
                // Its two layers, as its README shows: the server span and the
                // HTTP server metrics (duration, body sizes, in flight).
                install_otel_only()?;
                let meter = otel_meter()?;
                router
                    .layer(tower_otel::trace::HttpLayer::server(tracing::Level::INFO))
                    .layer(tower_otel::metrics::HttpLayer::server(&meter))
            }
            // What axum charges any layer applied to its routes, before the layer
            // does anything: each request clones the layered route's boxed service
            // (and the route inside it), boxes one more future and maps the
            // response. A layer outside the router never learns the matched route,
            // so RED by route pays this floor (axum-prometheus does too).
            "axum-route-layer" => router.layer(tower_layer::Identity::new()),
            "axum-prometheus" => {
                let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
                router
                    .route("/metrics", get(move || async move { handle.render() }))
                    .layer(layer)
            }
            _ => router,
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("{variant} listening on {addr}");
        axum::serve(listener, app).await?;
        Ok(())
    })
}

fn actix_server(variant: &str, addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    async fn hello(name: web::Path<String>) -> HttpResponse {
        HttpResponse::Ok().body(format!("Hello, {name}!"))
    }
    // One worker, no signal handling (the bench kills the process), on `addr`.
    macro_rules! serve {
        ($app:expr) => {
            HttpServer::new($app)
                .workers(1)
                .disable_signals()
                .bind(addr)?
                .run()
                .await?
        };
    }
    let variant = variant.to_owned();
    actix_web::rt::System::new().block_on(async move {
        println!("{variant} listening on {addr}");
        match variant.as_str() {
            "actix-readiness"
            | "actix-readiness-log"
            | "actix-readiness-otel"
            | "actix-readiness-otel-all"
            | "actix-readiness-spans" => {
                let logging = variant != "actix-readiness";
                let readiness = readiness_actix::core::Readiness::builder()
                    .service("load", "0")
                    .access_log(logging)
                    .build()?;
                if logging {
                    install_log_layer(&readiness, &variant)?;
                }
                serve!(move || {
                    App::new()
                        .wrap(readiness_actix::Observe::new(&readiness))
                        .route("/hello/{name}", web::get().to(hello))
                        .configure(readiness_actix::configure(&readiness))
                });
            }
            "actix-tracing-actix-web" => {
                // As its README sets it up: the logger middleware and a JSON
                // subscriber; the span's close is the line (with its fields).
                install_json_lines(tracing_subscriber::fmt::format::FmtSpan::CLOSE)?;
                serve!(|| {
                    App::new()
                        .wrap(tracing_actix_web::TracingLogger::default())
                        .route("/hello/{name}", web::get().to(hello))
                });
            }
            "actix-web-prom" => {
                let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
                    .endpoint("/metrics")
                    .build()
                    .map_err(|e| e.to_string())?;
                serve!(move || {
                    App::new()
                        .wrap(prom.clone())
                        .route("/hello/{name}", web::get().to(hello))
                });
            }
            _ => {
                serve!(|| App::new().route("/hello/{name}", web::get().to(hello)));
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Our JSON lines through the non-blocking writer to stdout, as a service would set
/// them up; for `-otel` OpenTelemetry spans from the `OTEL_*` variables too, for
/// `-otel-all` every line exported as an OTLP log record as well (and the metrics
/// export the variables turn on), and for `-spans` OpenTelemetry alone (request ids
/// and server spans, no lines: the job the OpenTelemetry peers do). The guards are
/// leaked: the server runs until killed.
fn install_log_layer(
    readiness: &readiness_axum::core::Readiness,
    variant: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use readiness_axum::core::logging::LogWriter;
    use tracing_subscriber::layer::SubscriberExt as _;
    let all = variant.ends_with("-otel-all");
    let otel = variant.ends_with("-otel") || all || variant.ends_with("-spans");
    let lines = !variant.ends_with("-spans");
    let mut log_export = None;
    let otel = if otel {
        let (otel, guard) = readiness.telemetry()?.build()?;
        if all {
            log_export = guard.log_export();
        }
        std::mem::forget(guard);
        Some(otel)
    } else {
        None
    };
    let layer = if lines {
        let (writer, guard) = LogWriter::stdout().build()?;
        std::mem::forget(guard);
        let mut settings = readiness.log_settings();
        if let Some(export) = log_export {
            settings = settings.otlp(export);
        }
        Some(settings.build_with_writer(&writer)?)
    } else {
        None
    };
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel).with(layer))?;
    Ok(())
}

/// `tracing-subscriber`'s JSON lines at INFO to stdout, as the log peers' READMEs set
/// them up; `spans` says which span events are lines too.
fn install_json_lines(
    spans: tracing_subscriber::fmt::format::FmtSpan,
) -> Result<(), Box<dyn std::error::Error>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_span_events(spans)
            .with_writer(std::io::stdout)
            .with_filter(tracing::level_filters::LevelFilter::INFO),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(())
}

/// OpenTelemetry alone (no log lines), from the `OTEL_*` variables, for the peers:
/// the same exporter and batch settings as ours. The guard is leaked.
fn install_otel_only() -> Result<(), Box<dyn std::error::Error>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let readiness = readiness_axum::core::Readiness::builder()
        .service("load", "0")
        .build()?;
    // Every level: axum-tracing-opentelemetry opens its spans at TRACE (unless its
    // `tracing_level_info` feature is on), and each peer's spans must be traced.
    let (otel, guard) = readiness
        .telemetry()?
        .level(tracing::level_filters::LevelFilter::TRACE)
        .build()?;
    std::mem::forget(guard);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))?;
    Ok(())
}

/// An OpenTelemetry meter from the SDK, its metrics exported over OTLP/HTTP as the
/// `OTEL_*` variables say (every 60 s by default, so not within a bench round: a
/// request pays for recording, not for exporting). The provider is leaked.
fn otel_meter() -> Result<opentelemetry::metrics::Meter, Box<dyn std::error::Error>> {
    use opentelemetry::metrics::MeterProvider as _;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()?;
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .build();
    let meter = provider.meter("load");
    std::mem::forget(provider);
    Ok(meter)
}

/// A stand-in collector: `otlp-sink` answers every `POST /v1/traces` with 200 (and
/// counts the exports on `GET /count`), and `/v1/logs` and `/v1/metrics` with 200;
/// `otlp-hung` accepts connections, reads, and never answers.
fn collector(variant: &str, addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncReadExt as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let hung = variant == "otlp-hung";
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        if hung {
            loop {
                let (mut stream, _) = listener.accept().await?;
                tokio::spawn(async move {
                    let mut sink = vec![0u8; 64 * 1024];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        }
        let exports = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&exports);
        let app = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |_body: axum::body::Bytes| async move {
                    counted.fetch_add(1, Ordering::Relaxed);
                    ([("content-type", "application/x-protobuf")], "")
                }),
            )
            .route(
                "/v1/logs",
                axum::routing::post(|_body: axum::body::Bytes| async {
                    ([("content-type", "application/x-protobuf")], "")
                }),
            )
            .route(
                "/v1/metrics",
                axum::routing::post(|_body: axum::body::Bytes| async {
                    ([("content-type", "application/x-protobuf")], "")
                }),
            )
            .route(
                "/count",
                axum::routing::get(
                    move || async move { exports.load(Ordering::Relaxed).to_string() },
                ),
            );
        axum::serve(listener, app).await?;
        Ok(())
    })
}
