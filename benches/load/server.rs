//! The load bench's server: one small service in several variants, so that the same
//! load measures what each metrics or logging middleware costs.
//!
//! `load-server VARIANT PORT`, VARIANT one of `axum-bare`, `axum-readiness` (RED
//! metrics), `axum-readiness-log` (RED metrics, request ids and one JSON access line
//! per request through our non-blocking writer to stdout), `axum-prometheus`,
//! `axum-tracelayer` (tower-http's `TraceLayer`, one JSON line per request from
//! `tracing-subscriber`'s JSON format to stdout), `actix-bare`, `actix-readiness`,
//! `actix-readiness-log`, `actix-web-prom`. Each serves `GET /hello/{name}` (a short
//! text) and, when it has metrics, `GET /metrics`. One worker thread: the bench pins
//! the process to one core and sends stdout to `/dev/null`.
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
        "axum-bare" | "axum-readiness" | "axum-readiness-log" | "axum-prometheus"
        | "axum-tracelayer" => axum_server(&variant, addr),
        "actix-bare" | "actix-readiness" | "actix-readiness-log" | "actix-web-prom" => {
            actix_server(&variant, addr)
        }
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
            "axum-readiness" | "axum-readiness-log" => {
                let logging = variant == "axum-readiness-log";
                let readiness = readiness_axum::core::Readiness::builder()
                    .service("load", "0")
                    .access_log(logging)
                    .build()?;
                if logging {
                    install_log_layer(&readiness)?;
                }
                readiness_axum::instrument(router, &readiness)
            }
            "axum-tracelayer" => {
                use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
                use tracing_subscriber::layer::SubscriberExt as _;
                let subscriber = tracing_subscriber::registry().with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(std::io::stdout),
                );
                tracing::subscriber::set_global_default(subscriber)?;
                router.layer(
                    TraceLayer::new_for_http()
                        .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
            }
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
    let variant = variant.to_owned();
    actix_web::rt::System::new().block_on(async move {
        println!("{variant} listening on {addr}");
        match variant.as_str() {
            "actix-readiness" | "actix-readiness-log" => {
                let logging = variant == "actix-readiness-log";
                let readiness = readiness_actix::core::Readiness::builder()
                    .service("load", "0")
                    .access_log(logging)
                    .build()?;
                if logging {
                    install_log_layer(&readiness)?;
                }
                HttpServer::new(move || {
                    App::new()
                        .wrap(readiness_actix::Observe::new(&readiness))
                        .route("/hello/{name}", web::get().to(hello))
                        .configure(readiness_actix::configure(&readiness))
                })
                .workers(1)
                .disable_signals()
                .bind(addr)?
                .run()
                .await?;
            }
            "actix-web-prom" => {
                let prom = actix_web_prom::PrometheusMetricsBuilder::new("api")
                    .endpoint("/metrics")
                    .build()
                    .map_err(|e| e.to_string())?;
                HttpServer::new(move || {
                    App::new()
                        .wrap(prom.clone())
                        .route("/hello/{name}", web::get().to(hello))
                })
                .workers(1)
                .disable_signals()
                .bind(addr)?
                .run()
                .await?;
            }
            _ => {
                HttpServer::new(|| App::new().route("/hello/{name}", web::get().to(hello)))
                    .workers(1)
                    .disable_signals()
                    .bind(addr)?
                    .run()
                    .await?;
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Our JSON lines through the non-blocking writer to stdout, as a service would set
/// them up. The guard is leaked: the server runs until it is killed.
fn install_log_layer(
    readiness: &readiness_axum::core::Readiness,
) -> Result<(), Box<dyn std::error::Error>> {
    use readiness_axum::core::logging::LogWriter;
    use tracing_subscriber::layer::SubscriberExt as _;
    let (writer, guard) = LogWriter::stdout().build()?;
    std::mem::forget(guard);
    let layer = readiness.log_settings().build_with_writer(&writer)?;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    Ok(())
}
