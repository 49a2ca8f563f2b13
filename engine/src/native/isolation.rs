//! Which isolation a native run gets: what the host allows (probed once per process), what the
//! configuration asks for, and the names every result reports in `isolation`.
//!
//! By default the full set is required - user, pid, mount, net, ipc, uts and cgroup namespaces with
//! a minimal root, dropped capabilities, no_new_privs, seccomp, Landlock and cgroup limits. A host
//! that cannot give one of them makes the run fail with [`SoulBoxError::IsolationUnavailable`]
//! naming what is missing, unless the caller accepted weaker isolation
//! ([`SandboxConfig::allow_weaker_isolation`]); then the run gets what the host has, with
//! rlimits in place of cgroup limits, and says so. Every layer is defence in depth - none is the
//! only thing between the guest and the host (without Landlock the minimal root, the read-only
//! `/proc` binds and the unprivileged host id still hold) - but a run gets all of them or the
//! caller's explicit consent to fewer.

use std::sync::OnceLock;

use super::cgroup::{self, CgroupVersion};
use super::identity;
use super::os::{Linux, Os};
use crate::{SandboxConfig, SoulBoxError};

/// What this host lets the engine do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostSupport {
    pub root: bool,
    /// The engine can give each guest a sandbox id of its own (it is root, with the
    /// capabilities and the id range for it; see `identity.rs`).
    pub assign_sandbox_ids: bool,
    /// The engine's own uid is the host's root: a guest with the engine's ids would be too.
    pub engine_is_host_root: bool,
    /// New user namespaces can be created (with the other namespaces inside them).
    pub user_namespaces: bool,
    /// New pid, mount, net, ipc, uts and cgroup namespaces can be created (inside a new user
    /// namespace, or directly as root).
    pub namespaces: bool,
    pub cgroups: Option<CgroupVersion>,
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
}

static SUPPORT: OnceLock<HostSupport> = OnceLock::new();

/// The host's support, probed on first use (one short-lived child process), as `os` presents
/// it: an `os` without Landlock takes it away.
pub(crate) fn host_support(os: &dyn Os) -> HostSupport {
    let probed = *SUPPORT.get_or_init(HostSupport::probe);
    HostSupport {
        landlock_abi: probed.landlock_abi.and(os.landlock_abi_version()),
        ..probed
    }
}

const OTHER_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

impl HostSupport {
    fn probe() -> Self {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let user_namespaces = can_clone(OTHER_NAMESPACES | libc::CLONE_NEWUSER as u64);
        let namespaces = user_namespaces || (root && can_clone(OTHER_NAMESPACES));
        Self {
            root,
            assign_sandbox_ids: identity::can_assign_sandbox_ids(),
            engine_is_host_root: identity::engine_is_host_root(),
            user_namespaces,
            namespaces,
            cgroups: cgroup::root().map(|r| r.version),
            landlock_abi: Linux::new().landlock_abi_version(),
            seccomp: seccomp_available(),
        }
    }
}

/// Whether a child can be cloned with `flags`; the child exits at once.
fn can_clone(flags: u64) -> bool {
    let flags = flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: fork-like clone (no CLONE_VM, no stack); the child only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: _exit is the only thing the probe child does.
        unsafe { libc::_exit(0) };
    }
    if pid < 0 {
        return false;
    }
    let mut status = 0;
    // SAFETY: waits for the child cloned above.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::__WALL) };
    true
}

fn seccomp_available() -> bool {
    let action = libc::SECCOMP_RET_KILL_PROCESS;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL only reads the u32 it is pointed at.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        ) == 0
    }
}

/// The layers one run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layers {
    /// The guest runs as its sandbox's own id (else as the engine's ids).
    pub sandbox_ids: bool,
    /// The guest's ids are not the host's root.
    pub unprivileged_host_id: bool,
    pub user_namespace: bool,
    /// pid, mount (with the minimal root), ipc, uts and cgroup namespaces.
    pub namespaces: bool,
    pub net_namespace: bool,
    pub cgroups: Option<CgroupVersion>,
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
    pub seccomp_allow_list: bool,
}

impl Layers {
    /// The layers for `config` on a host with `support`, or the refusal naming what is missing.
    pub(crate) fn choose(support: HostSupport, config: &SandboxConfig) -> crate::Result<Self> {
        let unprivileged_host_id = support.assign_sandbox_ids || !support.engine_is_host_root;
        let layers = Layers {
            sandbox_ids: support.assign_sandbox_ids,
            unprivileged_host_id,
            user_namespace: support.user_namespaces,
            namespaces: support.namespaces,
            net_namespace: support.namespaces && !config.network_enabled,
            cgroups: support.cgroups,
            landlock_abi: support.landlock_abi,
            seccomp: support.seccomp,
            seccomp_allow_list: support.seccomp && config.allowed_syscalls.is_some(),
        };
        let mut missing: Vec<String> = Vec::new();
        if !unprivileged_host_id {
            missing.push(format!(
                "an unprivileged host id for the guest (the engine is root but cannot give out \
                 SoulBox's sandbox ids {:#x}-{:#x}: it needs CAP_SETUID, CAP_SETGID, CAP_CHOWN, \
                 CAP_FOWNER and CAP_DAC_READ_SEARCH, and that range mapped in its user namespace)",
                identity::SANDBOX_ID_FIRST,
                identity::SANDBOX_ID_LAST
            ));
        }
        if !support.user_namespaces {
            missing.push(if support.root {
                "a user namespace (the guest would share the host's, with its capabilities dropped)"
                    .into()
            } else {
                "user namespaces (so no pid, mount or network namespace either)".into()
            });
        }
        if !support.namespaces && support.root {
            missing.push("pid, mount, network, ipc and uts namespaces".into());
        }
        if support.cgroups.is_none() {
            missing.push(
                "writable cgroups for memory, process and CPU limits (rlimits would stand in)"
                    .into(),
            );
        }
        if !support.seccomp {
            missing.push("seccomp filters".into());
        }
        if support.landlock_abi.is_none() {
            missing.push(
                "Landlock (Linux 5.13+ with `landlock` among the active LSMs): the filesystem wall \
                 behind the minimal root"
                    .into(),
            );
        }
        if missing.is_empty() || config.allow_weaker_isolation {
            return Ok(layers);
        }
        Err(SoulBoxError::IsolationUnavailable {
            missing: missing.join("; "),
        })
    }

    /// The CLONE_NEW* flags for init.
    pub(crate) fn clone_flags(&self) -> u64 {
        let mut flags = 0;
        if self.user_namespace {
            flags |= libc::CLONE_NEWUSER as u64;
        }
        if self.namespaces {
            flags |=
                (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS)
                    as u64;
        }
        if self.net_namespace {
            flags |= libc::CLONE_NEWNET as u64;
        }
        flags
    }

    /// Whether rlimits stand in for cgroup limits.
    pub(crate) fn rlimits_only(&self) -> bool {
        self.cgroups.is_none()
    }

    /// The names reported in every result's `isolation`.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |name: &str| names.push(name.to_owned());
        if self.user_namespace {
            add("user-namespace");
        }
        if self.namespaces {
            for ns in [
                "pid-namespace",
                "mount-namespace",
                "ipc-namespace",
                "uts-namespace",
                "cgroup-namespace",
            ] {
                add(ns);
            }
        }
        if self.net_namespace {
            add("net-namespace");
            // Said outright: a native guest has no network at all (no allow-list either).
            add("no-network");
        }
        if self.namespaces {
            add("minimal-root");
        }
        if self.unprivileged_host_id {
            add("unprivileged-host-id");
        }
        add("capabilities-dropped");
        add("no-new-privs");
        if self.seccomp {
            add("seccomp");
        }
        if self.seccomp_allow_list {
            add("seccomp-allow-list");
        }
        if let Some(abi) = self.landlock_abi {
            names.push(format!("landlock-v{abi}"));
        }
        match self.cgroups {
            Some(version) => names.push(version.name().to_owned()),
            None => names.push("rlimits".to_owned()),
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> HostSupport {
        HostSupport {
            root: true,
            assign_sandbox_ids: true,
            engine_is_host_root: true,
            user_namespaces: true,
            namespaces: true,
            cgroups: Some(CgroupVersion::V1),
            landlock_abi: Some(7),
            seccomp: true,
        }
    }

    #[test]
    fn a_capable_host_gets_every_layer() {
        let layers = Layers::choose(full(), &SandboxConfig::default()).unwrap();
        let names = layers.names();
        for expected in [
            "user-namespace",
            "pid-namespace",
            "mount-namespace",
            "net-namespace",
            "no-network",
            "ipc-namespace",
            "uts-namespace",
            "cgroup-namespace",
            "minimal-root",
            "unprivileged-host-id",
            "capabilities-dropped",
            "no-new-privs",
            "seccomp",
            "landlock-v7",
            "cgroup-v1",
        ] {
            assert!(
                names.contains(&expected.to_string()),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.contains(&"rlimits".to_string()));
        let flags = layers.clone_flags();
        assert_ne!(flags & libc::CLONE_NEWUSER as u64, 0);
        assert_ne!(flags & libc::CLONE_NEWNET as u64, 0);
    }

    #[test]
    fn the_network_on_means_no_network_namespace() {
        let layers = Layers::choose(full(), &SandboxConfig::default().with_network(true)).unwrap();
        assert!(!layers.names().contains(&"net-namespace".to_string()));
        assert!(!layers.names().contains(&"no-network".to_string()));
        assert_eq!(layers.clone_flags() & libc::CLONE_NEWNET as u64, 0);
    }

    #[test]
    fn missing_cgroups_are_refused_unless_weaker_isolation_is_accepted() {
        let rootless = HostSupport {
            root: false,
            cgroups: None,
            ..full()
        };
        let err = Layers::choose(rootless, &SandboxConfig::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("cgroups"), "{message}");
        assert!(message.contains("allow_weaker_isolation"), "{message}");
        let layers =
            Layers::choose(rootless, &SandboxConfig::default().allow_weaker_isolation()).unwrap();
        assert!(layers.rlimits_only());
        assert!(layers.names().contains(&"rlimits".to_string()));
        assert!(!layers.names().iter().any(|n| n.starts_with("cgroup-v")));
    }

    #[test]
    fn without_user_namespaces_only_process_level_layers_remain() {
        let bare = HostSupport {
            root: false,
            assign_sandbox_ids: false,
            engine_is_host_root: false,
            user_namespaces: false,
            namespaces: false,
            cgroups: None,
            landlock_abi: None,
            seccomp: true,
        };
        assert!(Layers::choose(bare, &SandboxConfig::default()).is_err());
        let layers =
            Layers::choose(bare, &SandboxConfig::default().allow_weaker_isolation()).unwrap();
        assert_eq!(layers.clone_flags(), 0);
        assert_eq!(
            layers.names(),
            [
                "unprivileged-host-id",
                "capabilities-dropped",
                "no-new-privs",
                "seccomp",
                "rlimits"
            ]
        );
    }

    #[test]
    fn a_root_engine_that_cannot_give_out_sandbox_ids_is_refused_unless_weaker_is_accepted() {
        let stuck = HostSupport {
            assign_sandbox_ids: false,
            ..full()
        };
        let message = Layers::choose(stuck, &SandboxConfig::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("unprivileged host id"), "{message}");
        let layers =
            Layers::choose(stuck, &SandboxConfig::default().allow_weaker_isolation()).unwrap();
        assert!(!layers.sandbox_ids);
        assert!(!layers.names().contains(&"unprivileged-host-id".to_string()));
        // A rootless engine's own ids are unprivileged already.
        let rootless = HostSupport {
            root: false,
            assign_sandbox_ids: false,
            engine_is_host_root: false,
            ..full()
        };
        let layers = Layers::choose(rootless, &SandboxConfig::default()).unwrap();
        assert!(!layers.sandbox_ids);
        assert!(layers.names().contains(&"unprivileged-host-id".to_string()));
    }

    #[test]
    fn missing_landlock_is_refused_unless_weaker_isolation_is_accepted() {
        let no_landlock = HostSupport {
            landlock_abi: None,
            ..full()
        };
        let message = Layers::choose(no_landlock, &SandboxConfig::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("missing Landlock"), "{message}");
        assert!(message.contains("allow_weaker_isolation"), "{message}");
        let layers = Layers::choose(
            no_landlock,
            &SandboxConfig::default().allow_weaker_isolation(),
        )
        .unwrap();
        assert!(!layers.names().iter().any(|n| n.starts_with("landlock")));
        assert!(layers.names().contains(&"minimal-root".to_string()));
    }

    #[test]
    fn a_kernel_without_landlock_as_the_os_seam_presents_it_loses_the_layer() {
        let support = host_support(&Linux::without_landlock());
        assert_eq!(support.landlock_abi, None);
        assert!(Layers::choose(support, &SandboxConfig::default()).is_err());
    }

    #[test]
    fn an_allow_list_is_reported() {
        let config = SandboxConfig::default().with_allowed_syscalls(vec!["read".into()]);
        let layers = Layers::choose(full(), &config).unwrap();
        assert!(layers.names().contains(&"seccomp-allow-list".to_string()));
    }
}
