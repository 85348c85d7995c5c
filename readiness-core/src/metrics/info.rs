//! `service_info`: the service's identity as an info metric, not as labels on
//! every series.

use super::names::SERVICE_INFO;
use super::Registrar;

/// Registers `service_info{service, version, instance} 1`.
pub(crate) fn register_info(
    registry: &Registrar<'_>,
    namespace: Option<&str>,
    service: Option<&str>,
    version: Option<&str>,
    instance: &str,
) -> prometheus::Result<()> {
    let opts = crate::metrics::opts(
        namespace,
        SERVICE_INFO,
        "The service's identity; the value is always 1.",
    );
    let info = prometheus::IntGaugeVec::new(opts, &["service", "version", "instance"])?;
    registry.register(&info)?;
    info.with_label_values(&[
        service.unwrap_or("unknown"),
        version.unwrap_or("unknown"),
        instance,
    ])
    .set(1);
    Ok(())
}
