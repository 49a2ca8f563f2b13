//! Resource limits of a native run through cgroups (with `cgroups-rs`), on cgroup v1 (hybrid
//! hosts like the development machines) and v2 (most production hosts):
//!
//! - memory: `memory.limit_in_bytes` / `memory.max`, swap included (`memsw` / `memory.swap.max`
//!   0), so the guest is OOM-killed inside its cgroup rather than pushing the host to swap;
//! - processes: `pids.max` (a fork bomb stops there);
//! - CPU: CFS quota = `cpu_quota` cores per period.
//!
//! Each run gets its own cgroup under one parent per engine process, found once: on v1 the
//! engine's own cgroup of each hierarchy (so the engine's own limits still bound its sandboxes);
//! on v2 `/sys/fs/cgroup/soulbox`, since a v2 cgroup holding processes cannot have controllers
//! enabled for children.

// Audited for the wall rule (scripts/wall-audited.txt): only the cgroup filesystem and /proc of the engine's own children.
#![allow(clippy::disallowed_methods)]

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cgroups_rs::CgroupPid;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::hierarchies::{self, V1};
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Controller, Controllers, MaxValue};

/// Which cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "cgroup-v1",
            CgroupVersion::V2 => "cgroup-v2",
        }
    }
}

const CFS_PERIOD_US: u64 = 100_000;
const PARENT_NAME: &str = "soulbox";

/// A controller's place: where its hierarchy is mounted, and the engine's parent cgroup in it.
#[derive(Debug, Clone)]
struct Place {
    mount: PathBuf,
    parent: PathBuf,
}

/// The engine's parent cgroups, one per controller (all the same directory on v2).
#[derive(Debug)]
pub(crate) struct CgroupRoot {
    pub version: CgroupVersion,
    memory: Place,
    pids: Place,
    cpu: Place,
    /// `<pid namespace>-<engine pid>`, the prefix of this engine's run cgroups.
    engine: String,
    next_run: AtomicU64,
}

/// Run cgroups are named `<pid namespace>-<engine pid>-<n>`, so that cgroups left by a dead
/// engine can be told apart from a live engine's, even one in another pid namespace.
fn pid_namespace() -> u64 {
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// The engine pid in a run cgroup's name, if the run belongs to an engine of `namespace`.
fn engine_pid(name: &str, namespace: u64) -> Option<u32> {
    let mut parts = name.split('-');
    let run_namespace: u64 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    (run_namespace == namespace).then_some(pid)
}

fn engine_name() -> String {
    format!("{}-{}", pid_namespace(), std::process::id())
}

static ROOT: OnceLock<Option<CgroupRoot>> = OnceLock::new();

/// The engine's parent cgroups, created on first use; `None` when this host does not let the
/// engine manage memory, pids and cpu cgroups (not root and nothing delegated).
pub(crate) fn root() -> Option<&'static CgroupRoot> {
    ROOT.get_or_init(|| CgroupRoot::find().ok()).as_ref()
}

impl CgroupRoot {
    fn find() -> std::io::Result<Self> {
        let root = if hierarchies::is_cgroup2_unified_mode() {
            Self::find_v2()
        } else {
            Self::find_v1()
        }?;
        root.sweep();
        Ok(root)
    }

    /// Removes run cgroups left behind by engine processes of this pid namespace that died
    /// before cleaning up.
    fn sweep(&self) {
        let namespace = pid_namespace();
        let mut parents = vec![&self.memory.parent, &self.pids.parent, &self.cpu.parent];
        parents.dedup();
        for parent in parents {
            let Ok(entries) = std::fs::read_dir(parent) else {
                continue;
            };
            let orphans: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .filter(|e| {
                    engine_pid(&e.file_name().to_string_lossy(), namespace)
                        .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
                })
                .map(|e| e.path())
                .collect();
            for dir in orphans {
                kill_all(self.version, &dir);
                remove(std::slice::from_ref(&dir));
            }
        }
    }

    fn find_v1() -> std::io::Result<Self> {
        let own = cgroups_rs::fs::cgroup::get_cgroups_relative_paths().map_err(other)?;
        let hierarchy = V1::new();
        let place = |controller: Controllers, name: &str| -> std::io::Result<Place> {
            let (mount, mount_root) = hierarchy
                .get_mount_point(controller)
                .ok_or_else(|| other(format!("no cgroup v1 `{name}` hierarchy is mounted")))?;
            let own_path = own.get(name).map(String::as_str).unwrap_or("/");
            let relative = Path::new(own_path)
                .strip_prefix(&mount_root)
                .unwrap_or(Path::new(""));
            let parent = mount.join(relative).join(PARENT_NAME);
            std::fs::create_dir_all(&parent)?;
            check_writable(&parent)?;
            Ok(Place { mount, parent })
        };
        Ok(Self {
            version: CgroupVersion::V1,
            memory: place(Controllers::Mem, "memory")?,
            pids: place(Controllers::Pids, "pids")?,
            cpu: place(Controllers::Cpu, "cpu")?,
            engine: engine_name(),
            next_run: AtomicU64::new(1),
        })
    }

    fn find_v2() -> std::io::Result<Self> {
        let mount = PathBuf::from(hierarchies::UNIFIED_MOUNTPOINT);
        let parent = mount.join(PARENT_NAME);
        std::fs::create_dir_all(&parent)?;
        for dir in [&mount, &parent] {
            std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu")?;
        }
        check_writable(&parent)?;
        let place = Place { mount, parent };
        Ok(Self {
            version: CgroupVersion::V2,
            memory: place.clone(),
            pids: place.clone(),
            cpu: place,
            engine: engine_name(),
            next_run: AtomicU64::new(1),
        })
    }
}

/// Whether run cgroups can be made under `parent` (it may exist, made by another user).
fn check_writable(parent: &Path) -> std::io::Result<()> {
    let probe = parent.join(format!("probe-{}", std::process::id()));
    std::fs::create_dir(&probe)?;
    std::fs::remove_dir(&probe)
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The limits one run's cgroup enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub memory_bytes: u64,
    pub max_processes: u64,
    pub cpu_quota: f64,
}

/// One run's cgroup. Dropping it kills what is left in it and removes it, in the background:
/// removal waits for the kernel to release the exited processes, which is not the caller's wait.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    version: CgroupVersion,
    memory: MemController,
    pids: PidController,
    cpu: CpuController,
    memory_dir: PathBuf,
    pids_dir: PathBuf,
    dirs: Vec<PathBuf>,
}

/// What the cgroup measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub memory_peak: u64,
    pub oom_kills: u64,
}

impl RunCgroup {
    /// Creates the next run's cgroup with `limits` applied.
    pub(crate) fn create(root: &CgroupRoot, limits: Limits) -> std::io::Result<Self> {
        let name = &format!(
            "{}-{}",
            root.engine,
            root.next_run.fetch_add(1, Ordering::Relaxed)
        );
        let v2 = root.version == CgroupVersion::V2;
        let memory_dir = root.memory.parent.join(name);
        let pids_dir = root.pids.parent.join(name);
        let cpu_dir = root.cpu.parent.join(name);
        let memory = MemController::new(memory_dir.clone(), root.memory.mount.clone(), v2);
        let pids = PidController::new(pids_dir.clone(), root.pids.mount.clone(), v2);
        let cpu = CpuController::new(cpu_dir.clone(), root.cpu.mount.clone(), v2);
        let mut dirs = vec![memory_dir.clone(), pids_dir.clone(), cpu_dir];
        dirs.dedup();
        let cgroup = Self {
            version: root.version,
            memory,
            pids,
            cpu,
            memory_dir,
            pids_dir,
            dirs,
        };
        cgroup.configure(limits)?;
        Ok(cgroup)
    }

    fn configure(&self, limits: Limits) -> std::io::Result<()> {
        self.memory.create().map_err(other)?;
        self.pids.create().map_err(other)?;
        self.cpu.create().map_err(other)?;
        let bytes = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
        self.memory.set_limit(bytes).map_err(other)?;
        match self.version {
            CgroupVersion::V1 if self.memory_dir.join("memory.memsw.limit_in_bytes").exists() => {
                self.memory.set_memswap_limit(bytes).map_err(other)?;
            }
            CgroupVersion::V2 if self.memory_dir.join("memory.swap.max").exists() => {
                self.memory.set_memswap_limit(0).map_err(other)?;
            }
            // No swap accounting means the kernel has no swap to hand to this cgroup.
            _ => {}
        }
        let max = i64::try_from(limits.max_processes).unwrap_or(i64::MAX);
        self.pids.set_pid_max(MaxValue::Value(max)).map_err(other)?;
        let quota = (limits.cpu_quota * CFS_PERIOD_US as f64).round() as i64;
        self.cpu
            .set_cfs_quota_and_period(Some(quota.max(1000)), Some(CFS_PERIOD_US))
            .map_err(other)
    }

    /// On v2, the directory to clone straight into.
    pub(crate) fn clone_target(&self) -> Option<OwnedFd> {
        if self.version != CgroupVersion::V2 {
            return None;
        }
        std::fs::File::open(&self.memory_dir)
            .ok()
            .map(OwnedFd::from)
    }

    /// Moves process `pid` (and its future children) into the cgroup.
    pub(crate) fn add(&self, pid: libc::pid_t) -> std::io::Result<()> {
        let pid = CgroupPid::from(pid as u64);
        self.memory.add_task_by_tgid(&pid).map_err(other)?;
        if self.version == CgroupVersion::V1 {
            self.pids.add_task_by_tgid(&pid).map_err(other)?;
            self.cpu.add_task_by_tgid(&pid).map_err(other)?;
        }
        Ok(())
    }

    /// Peak memory and OOM kills of the run.
    pub(crate) fn usage(&self) -> Usage {
        let (peak_file, events_file) = match self.version {
            CgroupVersion::V1 => ("memory.max_usage_in_bytes", "memory.oom_control"),
            CgroupVersion::V2 => ("memory.peak", "memory.events"),
        };
        let read =
            |file: &str| std::fs::read_to_string(self.memory_dir.join(file)).unwrap_or_default();
        Usage {
            memory_peak: read(peak_file).trim().parse().unwrap_or(0),
            oom_kills: field(&read(events_file), "oom_kill"),
        }
    }

    /// Kills every process in the cgroup (the fallback when there is no pid namespace to die
    /// with its init).
    pub(crate) fn kill_all(&self) {
        kill_all(self.version, &self.pids_dir);
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        let version = self.version;
        let pids_dir = std::mem::take(&mut self.pids_dir);
        let dirs = std::mem::take(&mut self.dirs);
        let clean_up = move || {
            kill_all(version, &pids_dir);
            remove(&dirs);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(clean_up)),
            Err(_) => clean_up(),
        }
    }
}

fn kill_all(version: CgroupVersion, pids_dir: &Path) {
    if version == CgroupVersion::V2 && std::fs::write(pids_dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    // v1 (and v2 before 5.14): the pids limit bounds how many can appear between rounds.
    for _ in 0..100 {
        let procs = std::fs::read_to_string(pids_dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<libc::pid_t> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Removes the cgroup's directories, retrying while the kernel releases exited processes.
fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        for attempt in 0..50 {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) if attempt < 49 => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => {}
            }
        }
    }
}

/// The value of `key` in a flat-keyed cgroup file (`key value` per line).
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_pid_namespaces_run_cgroups_are_claimed() {
        assert_eq!(engine_pid("4026531836-812-3", 4026531836), Some(812));
        assert_eq!(
            engine_pid("4026531836-812-3", 1),
            None,
            "another pid namespace"
        );
        assert_eq!(engine_pid("probe-812", 4026531836), None);
        assert_eq!(engine_pid("4026531836-812", 4026531836), None);
        assert_eq!(engine_pid("user.slice", 4026531836), None);
    }

    #[test]
    fn reads_oom_kills_from_v1_and_v2_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(field(v1, "oom_kill"), 2);
        assert_eq!(field(v2, "oom_kill"), 1);
        assert_eq!(field(v2, "oom"), 1);
        assert_eq!(field("", "oom_kill"), 0);
    }
}
