//! What the RED middleware adds to one request, in process: axum via `oneshot`, and
//! actix-web via `call_service`, each with and without the middleware.
//! Run with `cargo bench -p readiness-benches --bench observe_layer`.
#![allow(missing_docs)]

use std::hint::black_box;

use actix_web::test::{call_service, init_service, TestRequest};
use actix_web::{web, App, HttpResponse};
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use readiness_core::Readiness;
use tower::ServiceExt as _;

fn axum(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = Router::new().route(
        "/hello/{name}",
        get(|Path(name): Path<String>| async move { name }),
    );
    let readiness = runtime.block_on(async { Readiness::builder().build().unwrap() });
    let observed = readiness_axum::instrument(router.clone(), &readiness).into_router();
    let mut group = c.benchmark_group("axum");
    for (name, app) in [("bare", router), ("red", observed)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let app = app.clone();
                async move {
                    let request = axum::http::Request::get("/hello/world")
                        .body(Body::empty())
                        .unwrap();
                    black_box(app.oneshot(request).await.unwrap())
                }
            })
        });
    }
    group.finish();
}

fn actix(c: &mut Criterion) {
    let system = actix_web::rt::System::new();
    let readiness = system.block_on(async { Readiness::builder().build().unwrap() });
    let bare = system.block_on(init_service(App::new().route(
        "/hello/{name}",
        web::get().to(|| async { HttpResponse::Ok().body("world") }),
    )));
    let observed = system.block_on(init_service(
        App::new()
            .wrap(readiness_actix::Observe::new(&readiness))
            .route(
                "/hello/{name}",
                web::get().to(|| async { HttpResponse::Ok().body("world") }),
            ),
    ));
    let mut group = c.benchmark_group("actix");
    group.bench_function("bare", |b| {
        b.iter(|| {
            system.block_on(async {
                black_box(
                    call_service(&bare, TestRequest::get().uri("/hello/world").to_request()).await,
                )
            })
        })
    });
    group.bench_function("red", |b| {
        b.iter(|| {
            system.block_on(async {
                black_box(
                    call_service(
                        &observed,
                        TestRequest::get().uri("/hello/world").to_request(),
                    )
                    .await,
                )
            })
        })
    });
    group.finish();
}

criterion_group!(benches, axum, actix);
criterion_main!(benches);
