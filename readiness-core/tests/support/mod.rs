//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod capture;
pub mod faults;
pub mod http_server;
pub mod otlp;
pub mod proxy;
#[cfg(feature = "audit-trail")]
pub mod trail;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_core::{BoxError, Check, CheckOutcome, Endpoint, ProbeRequest, Readiness};

/// A check that plays back a script of outcomes (the last one repeats) and counts runs.
#[derive(Clone, Default)]
pub struct Scripted {
    script: Arc<Mutex<VecDeque<Step>>>,
    pub runs: Arc<AtomicUsize>,
}

#[derive(Clone)]
pub enum Step {
    Outcome(CheckOutcome),
    Error(&'static str),
    Panic,
    Sleep(Duration),
}

impl Scripted {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            script: Arc::new(Mutex::new(steps.into_iter().collect())),
            runs: Arc::default(),
        }
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn next(&self) -> Step {
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script.front().cloned().expect("empty script")
        }
    }
}

impl Check for Scripted {
    async fn check(&self) -> Result<CheckOutcome, BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match self.next() {
            Step::Outcome(outcome) => Ok(outcome),
            Step::Error(message) => Err(message.into()),
            Step::Panic => panic!("scripted panic"),
            Step::Sleep(duration) => {
                tokio::time::sleep(duration).await;
                Ok(CheckOutcome::pass())
            }
        }
    }
}

pub fn pass() -> Step {
    Step::Outcome(CheckOutcome::pass())
}

pub fn fail(output: &'static str) -> Step {
    Step::Outcome(CheckOutcome::fail(output))
}

/// Status code, content type and body of one request.
pub fn get(
    readiness: &Readiness,
    endpoint: Endpoint<'_>,
    query: Option<&str>,
) -> (u16, String, String) {
    request(readiness, endpoint, "GET", query, None)
}

pub fn request(
    readiness: &Readiness,
    endpoint: Endpoint<'_>,
    method: &str,
    query: Option<&str>,
    authorization: Option<&str>,
) -> (u16, String, String) {
    let response = readiness.respond(
        &ProbeRequest::new(endpoint, method)
            .with_query(query)
            .with_authorization(authorization.map(str::as_bytes)),
    );
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8(response.body().to_vec()).unwrap(),
    )
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Captures every event at DEBUG and above, as text, on this thread until the guard
/// is dropped. Use it on a current-thread runtime so spawned tasks log here too.
pub fn capture_logs() -> (capture::Capture, tracing::subscriber::DefaultGuard) {
    let sink = capture::Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(sink.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    (sink, tracing::subscriber::set_default(subscriber))
}
