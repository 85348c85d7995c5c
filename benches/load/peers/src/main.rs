//! `load-peer VARIANT PORT`: the load bench's peers that cannot be built in the
//! workspace (see `Cargo.toml`). The service is the load server's (`GET
//! /hello/{name}`, one worker, no signal handling); VARIANT is
//! `actix-tracing-actix-web-otel`: tracing-actix-web's `TracingLogger` with its
//! OpenTelemetry support (the caller's trace context as the parent, the trace id on
//! the span), and tracing-opentelemetry's layer exporting every request's span over
//! OTLP/HTTP as the `OTEL_*` variables say, through the SDK's batch processor: spans
//! only, no log lines, the job `actix-readiness-spans` does.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: load-peer VARIANT PORT";
    let variant = args.next().ok_or(usage)?;
    let port: u16 = args.next().ok_or(usage)?.parse()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if variant != "actix-tracing-actix-web-otel" {
        return Err(format!("unknown variant {variant}").into());
    }
    actix_web::rt::System::new().block_on(async move {
        // As the crates' READMEs set it up: the W3C propagator, an OTLP/HTTP span
        // exporter (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT) behind the SDK's
        // batch processor, and tracing-opentelemetry's layer at INFO.
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("load")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("load-peer");
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(tracing::level_filters::LevelFilter::INFO),
        );
        tracing::subscriber::set_global_default(subscriber)?;
        println!("{variant} listening on {addr}");
        HttpServer::new(|| {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .route("/hello/{name}", web::get().to(hello))
        })
        .workers(1)
        .disable_signals()
        .bind(addr)?
        .run()
        .await?;
        drop(provider);
        Ok(())
    })
}

async fn hello(name: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().body(format!("Hello, {name}!"))
}
