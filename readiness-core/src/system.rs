//! Readings of the host shared by the system checks (`checks::disk_free_percent`,
//! `memory_used_percent`) and the `system_*` metrics, through `sysinfo`, so both read
//! the same figures the same way.

use std::path::{Path, PathBuf};

use sysinfo::{Disks, System};

use crate::error::BoxError;

/// The size and free space of the file system holding a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileSystem {
    pub(crate) mount_point: PathBuf,
    pub(crate) total: u64,
    pub(crate) available: u64,
}

/// The file system holding `path`: the mounted one with the longest mount point above
/// it (tmpfs included: sysinfo's `linux-tmpfs` feature is on, or /tmp would read as /).
/// `None` when no mount point is above it.
pub(crate) fn filesystem_of(path: &Path) -> Result<Option<FileSystem>, BoxError> {
    let path = path.canonicalize()?;
    let disks = Disks::new_with_refreshed_list();
    let disk = disks
        .list()
        .iter()
        .filter(|disk| path.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().as_os_str().len());
    Ok(disk.map(|disk| FileSystem {
        mount_point: disk.mount_point().to_owned(),
        total: disk.total_space(),
        available: disk.available_space(),
    }))
}

/// Memory in use and the memory available to this process in all, in bytes: the
/// container's cgroup limit when one is set below the host's memory, else the host's.
pub(crate) fn memory_usage(system: &mut System) -> Result<(u64, u64), BoxError> {
    system.refresh_memory();
    let (total, available) = match system.cgroup_limits() {
        Some(limits) if limits.total_memory > 0 && limits.total_memory < system.total_memory() => {
            (limits.total_memory, limits.free_memory)
        }
        _ => (system.total_memory(), system.available_memory()),
    };
    if total == 0 {
        return Err("total memory reads as zero".into());
    }
    Ok((total.saturating_sub(available), total))
}
