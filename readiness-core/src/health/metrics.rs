//! Check results as metrics, updated by the runner after every run.

use std::time::Duration;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec};

use super::{Measurement, Status};
use crate::metrics::names::*;

#[derive(Debug, Clone)]
pub(crate) struct HealthMetrics {
    status: GaugeVec,
    duration: HistogramVec,
    failures: IntCounterVec,
    observed: GaugeVec,
}

impl HealthMetrics {
    pub(crate) fn register(
        registry: &crate::metrics::Registrar<'_>,
        namespace: Option<&str>,
        checks: &[(&str, bool)],
    ) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| crate::metrics::opts(namespace, name, help);
        let status = GaugeVec::new(
            opts(
                HEALTH_CHECK_STATUS,
                "Reported status of each health check: 1 pass, 0.5 warn, 0 fail; critical says whether its failure fails readiness.",
            ),
            &[CHECK, CRITICAL],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::from(opts(
                HEALTH_CHECK_DURATION,
                "Duration of health check runs.",
            ))
            .buckets(DEFAULT_DURATION_BUCKETS.to_vec()),
            &[CHECK],
        )?;
        let failures = IntCounterVec::new(
            opts(HEALTH_CHECK_FAILURES, "Health check runs that failed."),
            &[CHECK],
        )?;
        registry.register(&status)?;
        registry.register(&duration)?;
        let observed = GaugeVec::new(
            opts(
                HEALTH_CHECK_OBSERVED,
                "Latest value a health check observed beside its latency (pool connections, free disk, ...).",
            ),
            &[CHECK, MEASUREMENT],
        )?;
        registry.register(&failures)?;
        registry.register(&observed)?;
        // Every check has its series from the start: a failure rate of zero is a value.
        for (check, _) in checks {
            failures.with_label_values(&[*check]);
        }
        Ok(Self {
            status,
            duration,
            failures,
            observed,
        })
    }

    pub(crate) fn record(
        &self,
        check: &str,
        critical: bool,
        reported: Status,
        raw: Status,
        latency: Duration,
        measurements: &[Measurement],
    ) {
        for measurement in measurements {
            self.observed
                .with_label_values(&[check, measurement.name()])
                .set(measurement.value());
        }
        let value = match reported {
            Status::Pass => 1.0,
            Status::Warn => 0.5,
            Status::Fail => 0.0,
        };
        let critical = if critical { "true" } else { "false" };
        self.status.with_label_values(&[check, critical]).set(value);
        self.duration
            .with_label_values(&[check])
            .observe(latency.as_secs_f64());
        if raw == Status::Fail {
            self.failures.with_label_values(&[check]).inc();
        }
    }
}
