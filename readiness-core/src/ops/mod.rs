//! The operations kit: Prometheus alerting, SLO and recording rules, a Grafana
//! dashboard and Kubernetes manifests, rendered from the metric names this library
//! emits and the service's own settings, so they cannot drift from the code.
//!
//! Alerts come in three tiers, routed by their `severity` label: critical (page
//! now), warning (within 30 minutes) and info (within 2 hours). The defaults
//! follow common production practice: error ratio above 5% critical and above 1%
//! warning, P95 latency above 2 s critical and over budget (500 ms for reads, 1 s
//! for writes) warning, a target down for 2 minutes, CPU above 90% critical and 80%
//! warning for 15 minutes, memory above 90% and 85%, disk above 90% and 85%, cache
//! hit rate below 50% and 70%, database pools above 45 and 35 connections in use,
//! background jobs failing, slow or backed up, security events, lost audit records
//! and a corrupted audit trail; an availability SLO of 99.9% and latency SLOs (95%
//! of reads within 500 ms, of writes within 1 s), each with the multi-window,
//! multi-burn-rate alerts of Google's SRE workbook (1 h and 5 min at 14.4 times the
//! budget, 6 h and 30 min at 6 times). [`Alert`] lists every alert with its
//! defaults; each tier's threshold and `for:` is a setting
//! ([`OpsKitBuilder::alert_level`]).
//!
//! Rollouts: recording rules give each version's request rate, error ratio and
//! P95 latency (joined from `service_info{version}`, so request series carry no
//! version label), `job_version:rollout_promotable:bool` says which version passes
//! the promotion gate, and two critical alerts say when a version should be
//! rolled back.
//!
//! ```
//! use readiness_core::Readiness;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::builder().service("orders", "1.4.2").build()?;
//! let kit = readiness.ops_kit()
//!     .error_ratio(0.02, 0.10)          // warning, critical
//!     .image("registry.example/orders:1.4.2")
//!     .build()?;
//! let rules = kit.prometheus_rules();    // YAML for Prometheus' rule_files
//! assert!(rules.contains("alert: OrdersHighErrorRate"));
//! let _dashboard = kit.grafana_dashboard(); // JSON to import
//! let _manifests = kit.kubernetes();         // Deployment, Services, ServiceMonitor, HPA, PDB
//! # Ok(()) }
//! ```

mod alertmanager;
mod alerts;
mod dashboard;
mod docker;
mod kubernetes;
mod rules;
mod scrape;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::BuildError;
use crate::metrics::names;

use alerts::Levels;
pub use alerts::{Alert, Level, Tier};

/// The rule file's name, as written by [`OpsKit::write_to`] and loaded by the
/// Prometheus configuration beside it.
const RULES_FILE: &str = "prometheus-rules.yml";

/// Settings of an [`OpsKit`]. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct OpsKitBuilder {
    kit: OpsKit,
    buckets: Vec<f64>,
}

/// Rules, dashboard and manifests for one service. Built by [`OpsKit::builder`].
#[derive(Debug, Clone)]
pub struct OpsKit {
    service: String,
    namespace: Option<String>,
    job: String,
    /// Every alert's tiers.
    levels: Levels,
    read_budget: f64,
    write_budget: f64,
    availability: f64,
    latency_target: f64,
    /// The fast (critical) and slow (warning) SLO burn-rate alerts: the burn rate
    /// as threshold, and `for:`.
    burn_rates: [Level; 2],
    /// A version may be promoted below this error ratio and P95 latency (seconds).
    promotion_gate: (f64, f64),
    env: Vec<(String, String)>,
    deploy: Deploy,
    /// The binary the Dockerfile copies (default: the service's name).
    binary: Option<String>,
    /// Alertmanager's webhooks for critical, warning and info alerts.
    webhooks: [String; 3],
}

/// What the Kubernetes manifests say.
#[derive(Debug, Clone)]
pub(crate) struct Deploy {
    pub(crate) image: String,
    pub(crate) port: u16,
    /// A fixed pod count, without the autoscaler; `None`: the autoscaler's.
    pub(crate) replicas: Option<u32>,
    pub(crate) cpu_request: String,
    pub(crate) cpu_limit: Option<String>,
    pub(crate) memory_request: String,
    pub(crate) memory_limit: String,
    pub(crate) drain_delay: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) hooks_timeout: Duration,
    /// Of the drain delay, the part a `preStop` sleep takes (the rest is the
    /// service's own); `None`: all of it.
    pub(crate) pre_stop: Option<Duration>,
    /// `emptyDir` mounts.
    pub(crate) writable_dirs: Vec<String>,
    pub(crate) k8s_namespace: Option<String>,
    /// The HorizontalPodAutoscaler's bounds and targets.
    pub(crate) autoscaling: Autoscaling,
    /// The PodDisruptionBudget's pods that may be down at once.
    pub(crate) max_unavailable: u32,
}

/// What the HorizontalPodAutoscaler says.
#[derive(Debug, Clone)]
pub(crate) struct Autoscaling {
    pub(crate) min: u32,
    pub(crate) max: u32,
    /// Average utilization of the pods' requests, as ratios.
    pub(crate) cpu: f64,
    pub(crate) memory: f64,
    /// How long the load must stay low before pods are removed.
    pub(crate) scale_down_window: Duration,
}

impl OpsKit {
    /// Settings for the service `service` (the Prometheus `job` too), whose metrics
    /// are under `namespace` with the duration histogram's `buckets`, with the
    /// defaults of the [module docs](self).
    /// [`Readiness::ops_kit`](crate::Readiness::ops_kit) fills these in.
    pub fn builder(
        service: impl Into<String>,
        namespace: Option<String>,
        buckets: Vec<f64>,
    ) -> OpsKitBuilder {
        let service = service.into();
        OpsKitBuilder {
            kit: Self {
                job: kubernetes::object_name(&service),
                service,
                namespace,
                levels: Levels::default(),
                read_budget: 0.5,
                write_budget: 1.0,
                availability: 0.999,
                latency_target: 0.95,
                burn_rates: [
                    Level::new(14.4, Duration::from_secs(120)),
                    Level::new(6.0, Duration::from_secs(15 * 60)),
                ],
                promotion_gate: (0.001, 0.2),
                env: Vec::new(),
                binary: None,
                webhooks: ["critical", "warning", "info"]
                    .map(|severity| format!("http://alert-receiver.invalid/{severity}")),
                deploy: Deploy {
                    image: String::new(),
                    port: 8080,
                    replicas: None,
                    cpu_request: "100m".to_owned(),
                    cpu_limit: None,
                    memory_request: "128Mi".to_owned(),
                    memory_limit: "256Mi".to_owned(),
                    drain_delay: Duration::from_secs(5),
                    drain_timeout: Duration::from_secs(15),
                    hooks_timeout: Duration::from_secs(5),
                    pre_stop: None,
                    writable_dirs: Vec::new(),
                    k8s_namespace: None,
                    autoscaling: Autoscaling {
                        min: 3,
                        max: 20,
                        cpu: 0.7,
                        memory: 0.8,
                        scale_down_window: Duration::from_secs(300),
                    },
                    max_unavailable: 1,
                },
            },
            buckets,
        }
    }

    /// The Prometheus rule file (YAML): recording rules, alerts and SLO alerts.
    #[must_use]
    pub fn prometheus_rules(&self) -> String {
        rules::render(self)
    }

    /// The Grafana dashboard (JSON) over those rules and the raw series.
    #[must_use]
    pub fn grafana_dashboard(&self) -> String {
        dashboard::render(self)
    }

    /// Kubernetes manifests (YAML): Deployment, Service, ServiceMonitor,
    /// HorizontalPodAutoscaler, PodDisruptionBudget and a headless Service (one DNS
    /// record per pod, for [`prometheus_config`](Self::prometheus_config)).
    #[must_use]
    pub fn kubernetes(&self) -> String {
        kubernetes::render(self)
    }

    /// A Prometheus server configuration (YAML) for a Prometheus without the
    /// operator: each pod of the service found by DNS through the headless Service
    /// of [`kubernetes`](Self::kubernetes), scraped on its `http` port, and the rule
    /// file loaded from beside it.
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit().build().unwrap();
    /// assert!(kit.prometheus_config().contains("job_name: orders"));
    /// ```
    #[must_use]
    pub fn prometheus_config(&self) -> String {
        scrape::render(self)
    }

    /// A Dockerfile for the service's binary: a distroless image (no shell, no
    /// curl) whose `HEALTHCHECK` runs the binary's own `healthcheck` subcommand
    /// (see [`endpoint::healthcheck`](crate::endpoint::healthcheck)).
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit().binary("orders-api").build().unwrap();
    /// assert!(kit.dockerfile().contains(r#"CMD ["/usr/local/bin/orders-api", "healthcheck"]"#));
    /// ```
    #[must_use]
    pub fn dockerfile(&self) -> String {
        docker::render(self)
    }

    /// Alertmanager's configuration (YAML): critical alerts to a paging receiver,
    /// warnings to a chat, info to a low-priority one (the webhooks of
    /// [`alert_webhooks`](OpsKitBuilder::alert_webhooks)), and an alert's warning
    /// held back while the same alert fires as critical for the same job and
    /// instance.
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit().build().unwrap();
    /// assert!(kit.alertmanager_config().contains("receiver: pager"));
    /// ```
    #[must_use]
    pub fn alertmanager_config(&self) -> String {
        alertmanager::render(self)
    }

    /// Writes `prometheus-rules.yml`, `grafana-dashboard.json`, `kubernetes.yaml`,
    /// `prometheus.yml`, `alertmanager.yml` and `Dockerfile` into `dir` (made if
    /// missing); returns their paths.
    ///
    /// # Errors
    ///
    /// The I/O error of the first file that could not be written.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> std::io::Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, text) in [
            (RULES_FILE, self.prometheus_rules()),
            ("grafana-dashboard.json", self.grafana_dashboard()),
            ("kubernetes.yaml", self.kubernetes()),
            ("prometheus.yml", self.prometheus_config()),
            ("alertmanager.yml", self.alertmanager_config()),
            ("Dockerfile", self.dockerfile()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }

    /// A metric's full name, with the registry's namespace prefix if any.
    fn metric(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}_{name}"),
            None => name.to_owned(),
        }
    }

    /// The label selector of this service's series.
    fn selector(&self) -> String {
        format!("job=\"{}\"", self.job)
    }

    /// The service's name as an alert name prefix: `orders-api` gives `OrdersApi`.
    fn alert_prefix(&self) -> String {
        self.service
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect()
    }

    fn duration(&self) -> String {
        self.metric(names::HTTP_SERVER_REQUEST_DURATION)
    }
}

impl OpsKitBuilder {
    /// The Prometheus `job` label of the service's series, which every rule and
    /// panel selects (default: the service's name as a Kubernetes object name).
    ///
    /// The kit's own scrape configurations scrape under this job: the
    /// ServiceMonitor of [`OpsKit::kubernetes`] relabels its targets' `job` to it,
    /// and [`OpsKit::prometheus_config`] names its `job_name` after it, so the rules
    /// select what is scraped. With a scrape configuration of your own, set it to
    /// that configuration's `job_name` (or, for a ServiceMonitor of your own, the
    /// Service's name or its `jobLabel`'s value): a rule over another job selects
    /// nothing and never fires.
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// // prometheus.yml elsewhere: `scrape_configs: [{ job_name: orders-prod, ... }]`
    /// let kit = readiness.ops_kit().job("orders-prod").build().unwrap();
    /// assert!(kit.prometheus_rules().contains(r#"job="orders-prod""#));
    /// assert!(kit.kubernetes().contains("replacement: orders-prod"));
    /// ```
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.kit.job = job.into();
        self
    }

    /// One tier of an alert: its threshold and `for:` duration (see [`Alert`] for
    /// each alert's measure and defaults). A tier that was off is turned on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use readiness_core::ops::{Alert, Level, Tier};
    ///
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit()
    ///     // Reads: warn above 300 ms, page above 500 ms, each for 10 minutes.
    ///     .alert_level(Alert::ReadLatency, Tier::Warning, Level::new(0.3, Duration::from_secs(600)))
    ///     .alert_level(Alert::ReadLatency, Tier::Critical, Level::new(0.5, Duration::from_secs(600)))
    ///     // Page after one minute down instead of two.
    ///     .alert_level(Alert::Down, Tier::Critical, Level::after(Duration::from_secs(60)))
    ///     .build()
    ///     .unwrap();
    /// assert!(kit.prometheus_rules().contains("for: 1m"));
    /// ```
    pub fn alert_level(mut self, alert: Alert, tier: Tier, level: Level) -> Self {
        self.kit.levels.set(alert, tier, Some(level));
        self
    }

    /// Turns one tier of an alert off (all tiers off: no such alert).
    pub fn alert_off(mut self, alert: Alert, tier: Tier) -> Self {
        self.kit.levels.set(alert, tier, None);
        self
    }

    /// Error ratio (5xx among all answers over 5 minutes) that warns and that is
    /// critical (default 0.01 and 0.05), keeping their `for:` durations: a
    /// shorthand for [`alert_level`](Self::alert_level) with [`Alert::ErrorRatio`].
    pub fn error_ratio(mut self, warning: f64, critical: f64) -> Self {
        self.kit
            .levels
            .set_threshold(Alert::ErrorRatio, Tier::Warning, warning);
        self.kit
            .levels
            .set_threshold(Alert::ErrorRatio, Tier::Critical, critical);
        self
    }

    /// P95 latency budgets in seconds for reads (GET, HEAD) and writes (default 0.5
    /// and 1): each must be a bucket boundary of the duration histogram. The
    /// latency SLOs count requests within them, and they are the warning
    /// thresholds of [`Alert::ReadLatency`] and [`Alert::WriteLatency`] (whose
    /// critical thresholds, 2 s by default, must not be lower).
    pub fn latency_budget(mut self, read: f64, write: f64) -> Self {
        self.kit.read_budget = read;
        self.kit.write_budget = write;
        self.kit
            .levels
            .set_threshold(Alert::ReadLatency, Tier::Warning, read);
        self.kit
            .levels
            .set_threshold(Alert::WriteLatency, Tier::Warning, write);
        self
    }

    /// Availability SLO: the share of answers that are not 5xx (default 0.999).
    pub fn availability_slo(mut self, target: f64) -> Self {
        self.kit.availability = target;
        self
    }

    /// Latency SLO: the share of reads and of writes within their budget (default
    /// 0.95, "P95 under budget").
    pub fn latency_slo(mut self, target: f64) -> Self {
        self.kit.latency_target = target;
        self
    }

    /// The SLO burn-rate alerts: `fast` (critical, over 1 h and 5 min) and `slow`
    /// (warning, over 6 h and 30 min), each a burn rate (how many times faster than
    /// the budget allows) and its `for:` (default 14.4 for 2 minutes and 6 for 15
    /// minutes, as Google's SRE workbook advises).
    pub fn slo_burn_rates(mut self, fast: Level, slow: Level) -> Self {
        self.kit.burn_rates = [fast, slow];
        self
    }

    /// The rollout gate: a version may be promoted while its error ratio is under
    /// `error_ratio` and its P95 latency under `p95_seconds` (default 0.001 and
    /// 0.2), as the recording rule `job_version:rollout_promotable:bool` says (1 or
    /// 0 per version). Rolling back is [`Alert::RolloutErrorRatio`] and
    /// [`Alert::RolloutLatencyRegression`].
    pub fn promotion_gate(mut self, error_ratio: f64, p95_seconds: f64) -> Self {
        self.kit.promotion_gate = (error_ratio, p95_seconds);
        self
    }

    /// CPU utilization that warns and that is critical (default 0.8 and 0.9, each
    /// for 15 minutes): a shorthand for [`Alert::Cpu`].
    pub fn cpu(mut self, warning: f64, critical: f64) -> Self {
        self.kit
            .levels
            .set_threshold(Alert::Cpu, Tier::Warning, warning);
        self.kit
            .levels
            .set_threshold(Alert::Cpu, Tier::Critical, critical);
        self
    }

    /// Memory utilization (of the cgroup limit when there is one) that warns and
    /// that is critical (default 0.85 and 0.9): a shorthand for [`Alert::Memory`].
    pub fn memory(mut self, warning: f64, critical: f64) -> Self {
        self.kit
            .levels
            .set_threshold(Alert::Memory, Tier::Warning, warning);
        self.kit
            .levels
            .set_threshold(Alert::Memory, Tier::Critical, critical);
        self
    }

    /// File system utilization that warns and that is critical (default 0.85 and
    /// 0.9): a shorthand for [`Alert::Disk`].
    pub fn disk(mut self, warning: f64, critical: f64) -> Self {
        self.kit
            .levels
            .set_threshold(Alert::Disk, Tier::Warning, warning);
        self.kit
            .levels
            .set_threshold(Alert::Disk, Tier::Critical, critical);
        self
    }

    /// Authentication failures within 5 minutes above which a warning fires
    /// (default 10): a shorthand for [`Alert::AuthenticationFailures`].
    pub fn auth_failures(mut self, per_5m: u32) -> Self {
        self.kit.levels.set_threshold(
            Alert::AuthenticationFailures,
            Tier::Warning,
            f64::from(per_5m),
        );
        self
    }

    /// The container image of the Deployment (default `{service}:latest`).
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.kit.deploy.image = image.into();
        self
    }

    /// The container port the service listens on (default 8080).
    pub fn port(mut self, port: u16) -> Self {
        self.kit.deploy.port = port;
        self
    }

    /// An environment variable of the container (the service's own settings, such
    /// as the address it binds to).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.kit.env.push((name.into(), value.into()));
        self
    }

    /// A writable directory in the container, whose root filesystem is read-only:
    /// an `emptyDir` volume mounted at `path` (for an audit trail file, say). It
    /// lives as long as the pod: what must outlive it belongs on a persistent
    /// volume or in a database.
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit()
    ///     .writable_dir("/var/lib/orders")
    ///     .env("AUDIT_TRAIL", "/var/lib/orders/audit-trail.jsonl")
    ///     .build()
    ///     .unwrap();
    /// assert!(kit.kubernetes().contains("mountPath: /var/lib/orders"));
    /// ```
    pub fn writable_dir(mut self, path: impl Into<String>) -> Self {
        self.kit.deploy.writable_dirs.push(path.into());
        self
    }

    /// A fixed number of pods: the Deployment names it and no
    /// HorizontalPodAutoscaler is written. By default the autoscaler of
    /// [`autoscaling`](Self::autoscaling) sets the count and the Deployment names
    /// none (or each `kubectl apply` would reset it).
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit().replicas(2).build().unwrap();
    /// assert!(kit.kubernetes().contains("replicas: 2"));
    /// assert!(!kit.kubernetes().contains("kind: HorizontalPodAutoscaler"));
    /// ```
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.kit.deploy.replicas = Some(replicas);
        self
    }

    /// The HorizontalPodAutoscaler's bounds: from `min` to `max` pods (default 3 to
    /// 20); undoes [`replicas`](Self::replicas).
    ///
    /// ```
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit().autoscaling(2, 8).build().unwrap();
    /// assert!(kit.kubernetes().contains("maxReplicas: 8"));
    /// ```
    pub fn autoscaling(mut self, min: u32, max: u32) -> Self {
        self.kit.deploy.replicas = None;
        self.kit.deploy.autoscaling.min = min;
        self.kit.deploy.autoscaling.max = max;
        self
    }

    /// The average utilization of the pods' CPU and memory requests the autoscaler
    /// holds them at, as ratios (default 0.7 and 0.8).
    pub fn autoscaling_targets(mut self, cpu: f64, memory: f64) -> Self {
        self.kit.deploy.autoscaling.cpu = cpu;
        self.kit.deploy.autoscaling.memory = memory;
        self
    }

    /// How long the load must stay low before the autoscaler removes pods (default
    /// 5 minutes, Kubernetes' own; whole seconds, up to an hour).
    pub fn scale_down_window(mut self, window: Duration) -> Self {
        self.kit.deploy.autoscaling.scale_down_window = window;
        self
    }

    /// How many pods a voluntary disruption (a node drain, an upgrade) may take
    /// down at once: the PodDisruptionBudget's `maxUnavailable` (default 1).
    pub fn max_unavailable(mut self, pods: u32) -> Self {
        self.kit.deploy.max_unavailable = pods;
        self
    }

    /// The webhooks Alertmanager sends `critical`, `warning` and `info` alerts to
    /// (default: placeholders under `alert-receiver.invalid`, to replace).
    pub fn alert_webhooks(
        mut self,
        critical: impl Into<String>,
        warning: impl Into<String>,
        info: impl Into<String>,
    ) -> Self {
        self.kit.webhooks = [critical.into(), warning.into(), info.into()];
        self
    }

    /// The service's binary, as the Dockerfile copies and runs it (default: the
    /// service's name); it must answer `healthcheck` (see
    /// [`endpoint::healthcheck`](crate::endpoint::healthcheck)).
    pub fn binary(mut self, name: impl Into<String>) -> Self {
        self.kit.binary = Some(name.into());
        self
    }

    /// Kubernetes namespace of the manifests (default: none, kubectl's current).
    pub fn kubernetes_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.kit.deploy.k8s_namespace = Some(namespace.into());
        self
    }

    /// Container resources in Kubernetes' notation: CPU request and optional limit,
    /// memory request and limit (default `100m`, none, `128Mi`, `256Mi`).
    pub fn resources(
        mut self,
        cpu_request: impl Into<String>,
        cpu_limit: Option<String>,
        memory_request: impl Into<String>,
        memory_limit: impl Into<String>,
    ) -> Self {
        self.kit.deploy.cpu_request = cpu_request.into();
        self.kit.deploy.cpu_limit = cpu_limit;
        self.kit.deploy.memory_request = memory_request.into();
        self.kit.deploy.memory_limit = memory_limit.into();
        self
    }

    /// The graceful shutdown the manifests describe: its drain delay, drain timeout
    /// and hooks timeout, read from the [`Shutdown`](crate::shutdown::Shutdown) the
    /// service runs, so they are stated once. The manifests'
    /// `terminationGracePeriodSeconds` covers them with 5 s to spare, and their
    /// `READINESS_SHUTDOWN_*` variables set them (without this, the defaults: 5 s,
    /// 15 s, 5 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build()?;
    /// let shutdown = readiness.shutdown()
    ///     .signals(false) // a kit-writing subcommand listens to no signal
    ///     .drain_timeout(Duration::from_secs(20))
    ///     .build()?;
    /// let kit = readiness.ops_kit().shutdown(&shutdown).build()?;
    /// assert!(kit.kubernetes().contains("value: 20000ms"));
    /// # Ok(()) }
    /// ```
    pub fn shutdown(mut self, shutdown: &crate::shutdown::Shutdown) -> Self {
        self.kit.deploy.drain_delay = shutdown.drain_delay();
        self.kit.deploy.drain_timeout = shutdown.drain_timeout();
        self.kit.deploy.hooks_timeout = shutdown.hooks_timeout();
        self
    }

    /// How much of the drain delay the pod's `preStop` hook sleeps (Kubernetes'
    /// own `sleep` action, no shell needed; on by default since Kubernetes 1.30)
    /// before SIGTERM is sent; the service's own drain delay
    /// (`READINESS_SHUTDOWN_DRAIN_DELAY`) is the rest. Default: all of it, so
    /// endpoints are removed while the pod still serves as usual. `Duration::ZERO`
    /// writes no `preStop` hook and leaves the whole delay to the service (for
    /// clusters before 1.30).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let readiness = readiness_core::Readiness::builder().service("orders", "1").build().unwrap();
    /// let kit = readiness.ops_kit()
    ///     .pre_stop(Duration::from_secs(3)) // 3 s in preStop, 2 s in the service
    ///     .build()
    ///     .unwrap();
    /// assert!(kit.kubernetes().contains("preStop"));
    /// ```
    pub fn pre_stop(mut self, sleep: Duration) -> Self {
        self.kit.deploy.pre_stop = Some(sleep);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting: a ratio or target outside (0, 1), a
    /// warning above its critical level, a latency budget that is not a bucket
    /// boundary of the duration histogram, an empty job, or a zero port or replica
    /// count.
    pub fn build(mut self) -> Result<OpsKit, BuildError> {
        let kit = &mut self.kit;
        for (field, value) in [
            ("ops.availability_slo", kit.availability),
            ("ops.latency_slo", kit.latency_target),
            ("ops.promotion_gate.error_ratio", kit.promotion_gate.0),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(BuildError::new(
                    field,
                    format!("must be between 0 and 1 (exclusive), got {value}"),
                ));
            }
        }
        if !(kit.promotion_gate.1.is_finite() && kit.promotion_gate.1 > 0.0) {
            return Err(BuildError::new(
                "ops.promotion_gate.p95_seconds",
                "must be a number of seconds above 0",
            ));
        }
        for (level, field) in kit.burn_rates.iter().zip(["fast", "slow"]) {
            let rate = level.threshold().unwrap_or(0.0);
            if !(rate.is_finite() && rate > 0.0) || level.duration().subsec_nanos() != 0 {
                return Err(BuildError::new(
                    format!("ops.slo_burn_rates.{field}"),
                    "must be `Level::new(rate, for)` with a rate above 0 and whole seconds",
                ));
            }
        }
        for (field, budget) in [
            ("ops.latency_budget.read", kit.read_budget),
            ("ops.latency_budget.write", kit.write_budget),
        ] {
            if !self.buckets.iter().any(|b| (b - budget).abs() < 1e-9) {
                return Err(BuildError::new(
                    field,
                    format!(
                        "{budget} s is not a bucket boundary of {} ({:?}): the SLO counts requests under a boundary",
                        names::HTTP_SERVER_REQUEST_DURATION,
                        self.buckets
                    ),
                ));
            }
        }
        kit.levels.validate()?;
        if kit.job.trim() != kit.job
            || kit.job.is_empty()
            || kit
                .job
                .contains(|c: char| c == '"' || c == '\\' || c.is_control())
        {
            return Err(BuildError::new(
                "ops.job",
                format!(
                    "must be the `job` label of the service's series as scraped (the `job_name` of its scrape configuration): a plain, non-empty value without quotes, backslashes or spaces around it, got {:?}",
                    kit.job
                ),
            ));
        }
        if kit.deploy.port == 0 {
            return Err(BuildError::new("ops.port", "must not be 0"));
        }
        if kit.deploy.replicas == Some(0) {
            return Err(BuildError::new("ops.replicas", "must be at least 1"));
        }
        let scaling = &kit.deploy.autoscaling;
        if scaling.min == 0 {
            return Err(BuildError::new("ops.autoscaling.min", "must be at least 1"));
        }
        if scaling.max < scaling.min {
            return Err(BuildError::new(
                "ops.autoscaling.max",
                format!("must be at least the minimum ({})", scaling.min),
            ));
        }
        for (field, ratio) in [
            ("ops.autoscaling_targets.cpu", scaling.cpu),
            ("ops.autoscaling_targets.memory", scaling.memory),
        ] {
            if !(ratio > 0.0 && ratio <= 1.0) {
                return Err(BuildError::new(
                    field,
                    format!("must be a ratio above 0 and at most 1, got {ratio}"),
                ));
            }
        }
        if scaling.scale_down_window > Duration::from_secs(3600) {
            return Err(BuildError::new(
                "ops.scale_down_window",
                "must be at most an hour (Kubernetes' limit)",
            ));
        }
        if kit.deploy.max_unavailable == 0 {
            return Err(BuildError::new(
                "ops.max_unavailable",
                "must be at least 1, or no node could ever be drained",
            ));
        }
        for (url, severity) in kit.webhooks.iter().zip(["critical", "warning", "info"]) {
            let scheme = url.starts_with("http://") || url.starts_with("https://");
            if !scheme || url.contains(char::is_whitespace) {
                return Err(BuildError::new(
                    format!("ops.alert_webhooks.{severity}"),
                    format!("must be an http(s) URL, got {url:?}"),
                ));
            }
        }
        if let Some(binary) = &kit.binary {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if binary.is_empty() || !binary.chars().all(plain) {
                return Err(BuildError::new(
                    "ops.binary",
                    "must be a plain file name (letters, digits, `-`, `_`, `.`)",
                ));
            }
        }
        if kit.deploy.image.is_empty() {
            kit.deploy.image = format!("{}:latest", kit.service);
        }
        Ok(self.kit)
    }
}

/// A Prometheus float: `0.5`, `1`, `0.999`.
fn number(value: f64) -> String {
    let text = format!("{value}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}
