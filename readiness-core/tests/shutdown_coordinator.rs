//! The shutdown coordinator on its own, against a server stand-in: the phases in
//! order, readiness failing at once, the drain delay and deadline, hooks in order
//! with their timeouts (hanging, failing, panicking, blocking), settings errors.
//! The framework adapters are tested as real processes with real signals in the
//! examples' tests.
#![cfg(feature = "logging")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readiness_core::logging::LogSettings;
use readiness_core::observe::RequestHead;
use readiness_core::shutdown::{HookResult, Server, Shutdown};
use readiness_core::{Endpoint, ProbeRequest, Readiness};
use support::capture::Capture;

const PHASES: [&str; 7] = [
    "initiated",
    "readiness_failed",
    "drain_delay_elapsed",
    "stopped_accepting",
    "in_flight_drained",
    "hooks_done",
    "exit",
];

type Events = Arc<Mutex<Vec<(Instant, String)>>>;

/// A server whose drain takes `drain` (`None`: never ends), noting each call.
struct Stand {
    events: Events,
    drain: Option<Duration>,
    ends_alone: bool,
}

impl Stand {
    fn note(&self, what: &str) {
        self.events
            .lock()
            .unwrap()
            .push((Instant::now(), what.to_owned()));
    }
}

impl Server for Stand {
    async fn stop_accepting(&mut self) {
        self.note("stop_accepting");
    }

    async fn drain(&mut self) {
        match self.drain {
            Some(took) => tokio::time::sleep(took).await,
            None => std::future::pending().await,
        }
        self.note("drained");
    }

    async fn abort(&mut self) {
        self.note("abort");
    }

    async fn stopped(&mut self) -> std::io::Result<()> {
        if self.ends_alone {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Err(std::io::Error::other("accept failed"));
        }
        std::future::pending().await
    }
}

fn stand(drain: Option<Duration>) -> (Stand, Events) {
    let events = Events::default();
    (
        Stand {
            events: Arc::clone(&events),
            drain,
            ends_alone: false,
        },
        events,
    )
}

fn logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let out = Capture::default();
    let layer = LogSettings::new().build(out.clone()).unwrap();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (out, guard)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

fn phases(out: &Capture) -> Vec<String> {
    out.lines()
        .iter()
        .map(|l| json(l))
        .filter_map(|l| l["phase"].as_str().map(str::to_owned))
        .collect()
}

fn status(readiness: &Readiness, endpoint: Endpoint<'_>) -> u16 {
    readiness
        .respond(&ProbeRequest::new(endpoint, "GET"))
        .status()
        .as_u16()
}

#[tokio::test(flavor = "current_thread")]
async fn hooks_run_in_order_and_one_that_hangs_fails_or_panics_does_not_stop_the_next() {
    let (out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    readiness.refresh().await;
    let ran = Arc::new(Mutex::new(Vec::new()));
    let note = |name: &'static str| {
        let ran = Arc::clone(&ran);
        move || async move {
            ran.lock().unwrap().push(name);
            Ok(())
        }
    };
    let blocking = {
        let ran = Arc::clone(&ran);
        move || {
            std::thread::sleep(Duration::from_millis(20));
            ran.lock().unwrap().push("blocking");
            Ok(())
        }
    };
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::ZERO)
        .drain_timeout(Duration::from_secs(1))
        .hooks_timeout(Duration::from_secs(3))
        .hook("first", Duration::from_secs(1), note("first"))
        .hook("hangs", Duration::from_millis(200), || {
            std::future::pending()
        })
        .hook("fails", Duration::from_secs(1), || async {
            Err("pool already closed".into())
        })
        .hook("panics", Duration::from_secs(1), || async {
            panic!("a bug in a hook")
        })
        .hook_blocking("blocking", Duration::from_secs(1), blocking)
        .hook("last", Duration::from_secs(1), note("last"))
        .build()
        .unwrap();
    shutdown.handle().trigger("test");
    let (server, events) = stand(Some(Duration::from_millis(10)));
    let outcome = shutdown.run(server).await;

    assert_eq!(*ran.lock().unwrap(), ["first", "blocking", "last"]);
    let results: Vec<(&str, &HookResult)> = outcome
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), &h.result))
        .collect();
    assert_eq!(
        results,
        [
            ("first", &HookResult::Done),
            ("hangs", &HookResult::TimedOut),
            (
                "fails",
                &HookResult::Failed("pool already closed".to_owned())
            ),
            ("panics", &HookResult::Failed("panicked".to_owned())),
            ("blocking", &HookResult::Done),
            ("last", &HookResult::Done),
        ]
    );
    let hung = &outcome.hooks[1];
    assert!(
        hung.took >= Duration::from_millis(200) && hung.took < Duration::from_millis(900),
        "{hung:?}"
    );
    assert_eq!(outcome.trigger, "test");
    assert_eq!(outcome.cut, 0);
    assert!(!outcome.clean());
    assert_eq!(outcome.exit_code(), 1);
    let events: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(events, ["stop_accepting", "drained"]);

    assert_eq!(phases(&out), PHASES);
    let lines: Vec<serde_json::Value> = out.lines().iter().map(|l| json(l)).collect();
    let hook_lines: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|l| l["hook"].is_string())
        .map(|l| {
            (
                l["hook"].as_str().unwrap(),
                l["result"].as_str().unwrap(),
                l["level"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hook_lines,
        [
            ("first", "done", "INFO"),
            ("hangs", "timed_out", "WARN"),
            ("fails", "failed", "WARN"),
            ("panics", "failed", "WARN"),
            ("blocking", "done", "INFO"),
            ("last", "done", "INFO"),
        ]
    );
    for line in lines
        .iter()
        .filter(|l| l["target"] == "readiness::shutdown")
    {
        assert_eq!(line["category"], "system", "{line}");
    }
    let exit = lines.iter().find(|l| l["phase"] == "exit").unwrap();
    assert_eq!(exit["clean"], false);
    assert_eq!(exit["exit_code"], 1);
    // Readiness failed and stays failed; liveness does not.
    assert_eq!(status(&readiness, Endpoint::Readyz), 503);
    assert_eq!(status(&readiness, Endpoint::Livez), 200);
}

#[tokio::test(flavor = "current_thread")]
async fn the_hooks_timeout_bounds_all_hooks_together() {
    let (_out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::ZERO)
        .hooks_timeout(Duration::from_millis(300))
        .hook("slow", Duration::from_secs(5), std::future::pending)
        .hook("after", Duration::from_secs(5), || async { Ok(()) })
        .build()
        .unwrap();
    shutdown.handle().trigger("test");
    let started = Instant::now();
    let outcome = shutdown.run(stand(Some(Duration::ZERO)).0).await;
    let took = started.elapsed();
    assert_eq!(outcome.hooks[0].result, HookResult::TimedOut);
    assert_eq!(outcome.hooks[1].result, HookResult::Skipped);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1000),
        "{took:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn readiness_fails_at_once_and_accepting_stops_after_the_drain_delay() {
    let (out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    readiness.refresh().await;
    assert_eq!(status(&readiness, Endpoint::Readyz), 200);
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = shutdown.handle();
    let (server, events) = stand(Some(Duration::from_millis(10)));
    // What a WebSocket handler awaits to close its socket.
    let draining = tokio::spawn({
        let draining = readiness.draining();
        async move {
            draining.await;
            Instant::now()
        }
    });
    let run = tokio::spawn(shutdown.run(server));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        status(&readiness, Endpoint::Readyz),
        200,
        "before the trigger"
    );
    assert!(!draining.is_finished(), "draining before the trigger");

    let triggered = Instant::now();
    handle.trigger("test");
    handle.trigger("ignored: already shutting down");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(status(&readiness, Endpoint::Readyz), 503);
    let answer = readiness.respond(&ProbeRequest::new(Endpoint::Readyz, "GET"));
    assert!(
        String::from_utf8_lossy(answer.body()).contains("shutting down"),
        "{answer:?}"
    );
    assert!(events.lock().unwrap().is_empty(), "accepting stopped early");

    let outcome = run.await.unwrap();
    assert!(outcome.clean(), "{outcome:?}");
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.trigger, "test");
    let stopped = events.lock().unwrap()[0].0;
    assert!(
        stopped - triggered >= Duration::from_millis(300),
        "accepting stopped {:?} after the trigger",
        stopped - triggered
    );
    // `draining` resolves at the drain delay's end, as accepting stops; and at
    // once for a caller that asks later.
    let drained = draining.await.unwrap();
    assert!(
        drained - triggered >= Duration::from_millis(300)
            && drained - stopped < Duration::from_millis(100),
        "draining resolved {:?} after the trigger",
        drained - triggered
    );
    tokio::time::timeout(Duration::from_millis(100), readiness.draining())
        .await
        .expect("draining after the shutdown resolves at once");
    assert_eq!(phases(&out), PHASES);
    let delay = out
        .lines()
        .iter()
        .map(|l| json(l))
        .find(|l| l["phase"] == "drain_delay_elapsed")
        .unwrap();
    assert!(delay["duration_ms"].as_u64().unwrap() >= 300, "{delay}");
}

#[tokio::test(flavor = "current_thread")]
async fn requests_running_at_the_drain_timeout_are_counted_and_cut() {
    let (out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::ZERO)
        .drain_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // Two requests in flight that never finish.
    let observer = readiness.observer();
    let running = [
        observer.begin(&RequestHead::new("GET", "/export", &()).with_route(Some("/export"))),
        observer.begin(&RequestHead::new("POST", "/import", &()).with_route(Some("/import"))),
    ];
    shutdown.handle().trigger("test");
    let (server, events) = stand(None);
    let started = Instant::now();
    let outcome = shutdown.run(server).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(outcome.cut, 2);
    assert_eq!(outcome.exit_code(), 1);
    let events: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(events, ["stop_accepting", "abort"]);
    assert_eq!(phases(&out), PHASES);
    let drained = out
        .lines()
        .iter()
        .map(|l| json(l))
        .find(|l| l["phase"] == "in_flight_drained")
        .unwrap();
    assert_eq!(drained["cut"], 2, "{drained}");
    assert_eq!(drained["level"], "WARN", "{drained}");
    drop(running);
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_that_ends_on_its_own_still_runs_the_hooks() {
    let (_out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .hook("flush", Duration::from_secs(1), || async { Ok(()) })
        .build()
        .unwrap();
    let (mut server, _) = stand(None);
    server.ends_alone = true;
    let outcome = shutdown.run(server).await;
    assert_eq!(outcome.trigger, "server stopped");
    assert_eq!(outcome.hooks[0].result, HookResult::Done);
    assert_eq!(outcome.exit_code(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn bad_settings_are_errors_naming_the_field_and_a_tight_grace_period_warns() {
    let (out, _logs) = logs();
    let readiness = Readiness::builder().build().unwrap();
    let builder = || readiness.shutdown().signals(false);
    let field = |result: Result<Shutdown, readiness_core::BuildError>| {
        result.unwrap_err().field().to_owned()
    };
    assert_eq!(
        field(builder().drain_timeout(Duration::ZERO).build()),
        "shutdown.drain_timeout"
    );
    assert_eq!(
        field(builder().hooks_timeout(Duration::ZERO).build()),
        "shutdown.hooks_timeout"
    );
    assert_eq!(
        field(builder().grace_period(Duration::ZERO).build()),
        "shutdown.grace_period"
    );
    assert_eq!(
        field(
            builder()
                .hook("close pool", Duration::ZERO, || async { Ok(()) })
                .build()
        ),
        "shutdown.hook.close pool.timeout"
    );
    assert_eq!(
        field(
            builder()
                .hook(" ", Duration::from_secs(1), || async { Ok(()) })
                .build()
        ),
        "shutdown.hook"
    );
    for name in [
        "READINESS_SHUTDOWN_DRAIN_DELAY",
        "READINESS_SHUTDOWN_DRAIN_TIMEOUT",
        "READINESS_SHUTDOWN_HOOKS_TIMEOUT",
        "READINESS_SHUTDOWN_GRACE_PERIOD",
    ] {
        let error = builder()
            .from_lookup(|n| (n == name).then(|| "soon".to_owned()))
            .unwrap_err();
        assert_eq!(error.field(), name);
        assert!(error.to_string().contains("soon"), "{error}");
    }

    // The defaults (5 s + 15 s + 5 s) fit in 30 s with room to spare: no warning.
    builder().build().unwrap();
    assert!(!out.text().contains("grace period"), "{}", out.text());
    let fitted = builder()
        .from_lookup(|n| match n {
            "READINESS_SHUTDOWN_GRACE_PERIOD" => Some("20s".into()),
            "READINESS_SHUTDOWN_DRAIN_DELAY" => Some("2s".into()),
            _ => None,
        })
        .unwrap()
        .build();
    fitted.unwrap();
    let warning = out
        .lines()
        .iter()
        .map(|l| json(l))
        .find(|l| l["level"] == "WARN")
        .expect("a warning: 2 s + 15 s + 5 s do not fit in 20 s");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("grace period"),
        "{warning}"
    );
    assert_eq!(warning["grace_period_ms"], 20_000);
}

/// A hook's `?` takes any error type as it is: `std::io::Error`, an error of the
/// service's own, a boxed one (what `anyhow::Error` converts into); its message and
/// its sources are in the report.
#[tokio::test(flavor = "current_thread")]
async fn hooks_take_any_error_type_with_question_mark() {
    #[derive(Debug)]
    struct PoolError(std::io::Error);
    impl std::fmt::Display for PoolError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("closing the pool")
        }
    }
    impl std::error::Error for PoolError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    fn close_pool() -> Result<(), PoolError> {
        Err(PoolError(std::io::Error::other("connection reset")))
    }
    /// As `anyhow::Result`, which converts into the same box.
    fn flush() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err("flush refused".into())
    }
    let io = || -> Result<(), std::io::Error> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no pid file",
        ))
    };
    let readiness = Readiness::builder().build().unwrap();
    let shutdown = readiness
        .shutdown()
        .signals(false)
        .drain_delay(Duration::ZERO)
        .hook("io", Duration::from_secs(1), move || async move {
            io()?;
            Ok(())
        })
        .hook("own", Duration::from_secs(1), || async {
            close_pool()?;
            Ok(())
        })
        .hook("boxed", Duration::from_secs(1), || async {
            flush()?;
            Ok(())
        })
        .hook_blocking("blocking", Duration::from_secs(1), || {
            std::fs::metadata("/nonexistent/readiness-hook")?;
            Ok(())
        })
        .hook("fine", Duration::from_secs(1), || async { Ok(()) })
        .build()
        .unwrap();
    shutdown.handle().trigger("test");
    let (server, _events) = stand(None);
    let outcome = shutdown.run(server).await;
    let results: Vec<(&str, &HookResult)> = outcome
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), &h.result))
        .collect();
    assert_eq!(
        results[0],
        ("io", &HookResult::Failed("no pid file".into()))
    );
    assert_eq!(
        results[1],
        (
            "own",
            &HookResult::Failed("closing the pool: connection reset".into())
        )
    );
    assert_eq!(
        results[2],
        ("boxed", &HookResult::Failed("flush refused".into()))
    );
    assert!(
        matches!(results[3], ("blocking", HookResult::Failed(e)) if e.contains("No such file")),
        "{results:?}"
    );
    assert_eq!(results[4], ("fine", &HookResult::Done));
}
