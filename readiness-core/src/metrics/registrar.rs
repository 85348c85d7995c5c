//! Registration that is undone as a whole when any part of it fails.

use std::cell::RefCell;

use prometheus::core::Collector;
use prometheus::Registry;

/// Registers collectors on a registry and remembers them, so that a build failing
/// half-way leaves the service's registry as it found it.
pub(crate) struct Registrar<'a> {
    registry: &'a Registry,
    done: RefCell<Vec<Box<dyn Collector>>>,
}

impl<'a> Registrar<'a> {
    pub(crate) fn new(registry: &'a Registry) -> Self {
        Self {
            registry,
            done: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn register<C: Collector + Clone + 'static>(
        &self,
        collector: &C,
    ) -> prometheus::Result<()> {
        self.registry.register(Box::new(collector.clone()))?;
        self.done.borrow_mut().push(Box::new(collector.clone()));
        Ok(())
    }

    /// Unregisters everything registered through this registrar.
    pub(crate) fn rollback(self) {
        for collector in self.done.into_inner() {
            // Registered by us a moment ago: it is there to remove.
            let _ = self.registry.unregister(collector);
        }
    }
}
