//! The native backend: runs a host program (a shell or Python script, an executable) behind
//! Linux isolation, for code that cannot run as wasm.
//!
//! - `isolation.rs`: what the host allows (probed once), which layers a run gets, their names;
//! - `identity.rs`: who the guest is on the host (never root), handing the workspace over to it;
//! - `spawn.rs`: `clone3` of the sandbox's init into new namespaces (and its cgroup), handshake;
//! - `child.rs`: init (pid 1, reaps, reports) and the worker that hardens itself and `execve`s;
//! - `rootfs.rs`: the minimal root entered with `pivot_root`; `landlock.rs`, `seccomp.rs`: the
//!   filesystem and system-call walls; `cgroup.rs`: memory, pids and CPU limits;
//! - `os.rs`: the system calls of the setup behind a trait, so the setup is unit-tested anywhere;
//! - `program.rs`: which interpreter runs which language, and the program file;
//! - `pipes.rs`: the run's pipes and descriptors, and the pumps that move output and stdin.
//!
//! The engine side here supervises the run: streams output through the same capped capture as
//! the wasm backend, enforces the wall-clock deadline and stop requests by killing init (with it,
//! the whole pid namespace), and turns how it ended into an [`Outcome`].

mod cgroup;
mod child;
mod identity;
mod isolation;
mod landlock;
mod os;
mod pipes;
mod program;
mod rootfs;
mod seccomp;
mod spawn;

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

pub(crate) use program::NativeProgram;

use crate::guest::GuestContext;
use crate::outcome::Outcome;
use crate::output::CapturedOutput;
use crate::stop::StopReason;
use crate::{Result, SandboxConfig, SoulBoxError, Status, Stdin};
use cgroup::{Limits, RunCgroup};
use child::{ChildReport, ChildSpec, Identity, Report, Stage};
use identity::GuestIds;
use isolation::Layers;
use landlock::{Access, LandlockPlan, Rule};
use os::Linux;
use pipes::{Pipes, drain, feed, pump, register};
use rootfs::{GUEST_PROGRAM_DIR, ProgramFile, RealHost, RootfsInputs, RootfsPlan};
use spawn::Init;

/// Everything one native run needs.
pub(crate) struct NativeRun<'a> {
    pub program: NativeProgram,
    /// Limits, workspace (its host path is bind-mounted), environment, stdin, output, signals.
    pub guest: GuestContext<'a>,
    /// The workspace directory, open (its identity and ownership are set through it).
    pub workspace_dir: &'a cap_std::fs::Dir,
}

/// Runs the program to completion (or to a limit) and reports how it ended.
pub(crate) async fn run(run: NativeRun<'_>) -> Result<Outcome> {
    let config = run.guest.config;
    if !config.allow_hosts.is_empty() {
        // The allow-list is served by the host channel, which only wasm guests have; a native
        // program would silently get no network (or, with network_enabled, all of it).
        return Err(SoulBoxError::InvalidRequest(format!(
            "allow_hosts ({}) reaches wasm guests only: the native backend has no network (its \
             own network namespace); run on the wasm backend (`--backend wasm`, \
             Backend::Wasm) or drop the allow-list",
            config.allow_hosts.join(", ")
        )));
    }
    let os = if config.simulate_kernel_without_landlock {
        Linux::without_landlock()
    } else {
        Linux::new()
    };
    let layers = Layers::choose(isolation::host_support(&os), config)?;
    let workspace = std::os::fd::AsFd::as_fd(run.workspace_dir);
    let ids = GuestIds::for_run(layers.sandbox_ids, workspace)
        .map_err(|e| SoulBoxError::io("reading the workspace's identity", e))?;
    if let GuestIds::Sandbox(_) = ids {
        // The host's file API, wasm runs and the engine write as root: the guest gets them back.
        identity::hand_over(workspace, ids)
            .map_err(|e| SoulBoxError::io("handing the workspace over to the sandbox's id", e))?;
    }
    let run_dir = RunDir::create(&run.program, !layers.namespaces, ids)?;
    let cgroup = match cgroup::root().filter(|_| layers.cgroups.is_some()) {
        Some(root) => {
            let limits = Limits {
                memory_bytes: config.memory_limit,
                max_processes: u64::from(config.max_processes),
                cpu_quota: config.cpu_quota,
            };
            Some(
                RunCgroup::create(root, limits)
                    .map_err(|e| SoulBoxError::io("creating the run's cgroup", e))?,
            )
        }
        None => None,
    };
    let outcome = supervise(&run, &layers, ids, &run_dir, cgroup.as_ref(), &os).await;
    // Whatever the guest left is never a setuid or setgid executable, however the run ended.
    identity::strip_set_id_bits(workspace, ids.host_uid())
        .map_err(|e| SoulBoxError::io("removing set-id bits from the guest's files", e))?;
    outcome
}

async fn supervise(
    run: &NativeRun<'_>,
    layers: &Layers,
    ids: GuestIds,
    run_dir: &RunDir,
    cgroup: Option<&RunCgroup>,
    os: &Linux,
) -> Result<Outcome> {
    let config = run.guest.config;
    let spec = child_spec(run, layers, ids, run_dir)?;
    let pipes = Pipes::new(&run.guest.stdin)?;
    let clone_into = cgroup.and_then(RunCgroup::clone_target);
    let mut init = spawn::clone_init(
        &spec,
        pipes.child_fds(),
        layers.clone_flags(),
        clone_into.as_ref().map(|fd| std::os::fd::AsFd::as_fd(fd)),
        os,
    )
    .map_err(|e| SoulBoxError::NativeSetup {
        step: "starting the sandbox's init process".into(),
        source: e,
    })?;
    let Pipes {
        stdin_ours,
        stdout_ours,
        stderr_ours,
        report_ours,
        sync_ours,
        child_ends,
    } = pipes;
    drop(child_ends);
    // From here on, an early return (or a dropped future) drops `init`, which kills the sandbox.
    let exited = init
        .pidfd
        .try_clone()
        .and_then(register)
        .map_err(|e| SoulBoxError::io("watching the sandbox's init process", e))?;
    handshake(&init, layers, ids, cgroup, sync_ours)?;

    let (stdout, stderr) = CapturedOutput::pair(
        config.max_output_bytes,
        &run.guest.signals,
        run.guest.events.clone(),
    );
    let (exited_tx, exited_rx) = watch::channel(false);
    let readers = [
        tokio::spawn(pump(stdout_ours, stdout.clone(), exited_rx.clone())),
        tokio::spawn(pump(stderr_ours, stderr.clone(), exited_rx)),
    ];
    let writer = match (&run.guest.stdin, stdin_ours) {
        (Stdin::Bytes(bytes), Some(fd)) => Some(tokio::spawn(feed(fd, bytes.clone()))),
        _ => None,
    };

    let stop = async {
        tokio::select! {
            _ = tokio::time::sleep(config.timeout) => run.guest.signals.stop(StopReason::Timeout),
            _ = run.guest.signals.stopped() => {}
        }
    };
    tokio::select! {
        _ = exited.readable() => {}
        () = stop => {
            init.kill();
            if let Some(cgroup) = cgroup {
                cgroup.kill_all();
            }
            let _ = exited.readable().await;
        }
    }
    init.reap();
    if let Some(cgroup) = cgroup {
        cgroup.kill_all();
    }
    let _ = exited_tx.send(true);
    for reader in readers {
        let _ = reader.await;
    }
    if let Some(writer) = writer {
        writer.abort();
    }
    let report = Report::decode(&drain(&report_ours));
    let usage = cgroup.map(RunCgroup::usage).unwrap_or_default();

    let ended = match report {
        Some(ChildReport::SetupFailed {
            stage,
            index,
            errno,
        }) if run.guest.signals.reason().is_none() => {
            let step = child::describe_failure(&spec, stage, index);
            return Err(match stage {
                Stage::Exec => SoulBoxError::InvalidRequest(format!("{step}: {}", errno.io())),
                _ => SoulBoxError::NativeSetup {
                    step,
                    source: errno.io(),
                },
            });
        }
        Some(ChildReport::Exited { wait_status, .. }) => Ended::Wait(wait_status),
        _ => Ended::Unknown,
    };
    let max_rss = match report {
        Some(ChildReport::Exited { max_rss, .. }) => max_rss,
        _ => 0,
    };
    let (status, exit_code, error) =
        classify(ended, run.guest.signals.reason(), usage.oom_kills, config);
    Ok(Outcome {
        status,
        exit_code,
        stdout: stdout.contents(),
        stderr: stderr.contents(),
        memory_peak: if usage.memory_peak > 0 {
            usage.memory_peak
        } else {
            max_rss
        },
        fuel_consumed: 0,
        error,
        isolation: layers.names(),
    })
}

/// The parent's half of the start: id maps, cgroup placement, then "go".
fn handshake(
    init: &Init,
    layers: &Layers,
    ids: GuestIds,
    cgroup: Option<&RunCgroup>,
    sync: OwnedFd,
) -> Result<()> {
    if layers.user_namespace {
        spawn::write_id_maps(init.pid, ids).map_err(|e| SoulBoxError::NativeSetup {
            step: "writing the user namespace's id maps".into(),
            source: e,
        })?;
    }
    if let Some(cgroup) = cgroup.filter(|_| !init.in_cgroup) {
        cgroup
            .add(init.pid)
            .map_err(|e| SoulBoxError::io("moving the sandbox into its cgroup", e))?;
    }
    spawn::release(sync).map_err(|e| SoulBoxError::io("starting the sandbox", e))
}

/// How the worker ended, as far as init could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// A `wait` status.
    Wait(i32),
    /// Init ended without a report (it was killed).
    Unknown,
}

/// Maps how the run ended onto a status, exit code and message.
fn classify(
    ended: Ended,
    stopped: Option<StopReason>,
    oom_kills: u64,
    config: &SandboxConfig,
) -> (Status, Option<i32>, Option<String>) {
    if let Some(reason) = stopped {
        let (status, message) = reason.status(config);
        return (status, None, Some(message));
    }
    let exit_code = match ended {
        Ended::Wait(status) if libc::WIFEXITED(status) => Some(libc::WEXITSTATUS(status)),
        _ => None,
    };
    if oom_kills > 0 {
        return (
            Status::MemoryLimit,
            exit_code,
            Some(format!(
                "the guest needed more memory than its limit of {} bytes and was killed",
                config.memory_limit
            )),
        );
    }
    match ended {
        Ended::Wait(_) if exit_code == Some(0) => (Status::Ok, Some(0), None),
        Ended::Wait(_) if exit_code.is_some() => (Status::Error, exit_code, None),
        Ended::Wait(status) => {
            let signal = libc::WTERMSIG(status);
            let message = if signal == libc::SIGSYS {
                "killed by seccomp: the program made a forbidden system call (SIGSYS)".to_owned()
            } else {
                format!("terminated by signal {signal} ({})", signal_name(signal))
            };
            (Status::Trap, None, Some(message))
        }
        Ended::Unknown => (
            Status::Killed,
            None,
            Some("the sandbox's init process ended without reporting the program's exit".into()),
        ),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "signal",
    }
}

/// The per-run host directory: the empty directory the new root is mounted on, or - without a
/// mount namespace - the program and the guest's `/tmp`. Removed on drop.
struct RunDir {
    dir: tempfile::TempDir,
}

impl RunDir {
    /// With `on_disk`, the guest uses the program and `/tmp` here by their host paths; else it
    /// gets them in its own root, and only the staging directory is needed.
    // Audited for the wall rule (scripts/wall-audited.txt): a fresh private run directory of the engine's, made before the guest exists.
    #[allow(clippy::disallowed_methods)]
    fn create(program: &NativeProgram, on_disk: bool, ids: GuestIds) -> Result<Self> {
        let failed = |e| SoulBoxError::io("creating the run directory", e);
        let dir = tempfile::Builder::new()
            .prefix("soulbox-native-")
            .tempdir()
            .map_err(failed)?;
        let run_dir = Self { dir };
        let mut paths = vec![run_dir.dir.path().to_path_buf()];
        if on_disk {
            paths.extend([run_dir.program(), run_dir.tmp()]);
        } else {
            paths.push(run_dir.root());
        }
        for path in &paths[1..] {
            std::fs::create_dir(path).map_err(failed)?;
        }
        if on_disk {
            program.write_into(&run_dir.program())?;
            paths.push(run_dir.program().join(&program.file_name));
        }
        // Init takes the guest's ids before it mounts the root here, and without a mount
        // namespace the guest uses these paths itself: a sandbox id must own them. A rootless
        // engine's guest has its ids already.
        if let GuestIds::Sandbox(id) = ids {
            for path in &paths {
                std::os::unix::fs::lchown(path, Some(id), Some(id)).map_err(failed)?;
            }
        }
        Ok(run_dir)
    }

    fn program(&self) -> PathBuf {
        self.dir.path().join("program")
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
}

fn cstring(text: impl AsRef<[u8]>, what: &str) -> Result<CString> {
    CString::new(text.as_ref())
        .map_err(|_| SoulBoxError::InvalidRequest(format!("{what} contains a NUL byte")))
}

/// The spec init and the worker follow, from the layers and the run.
fn child_spec(
    run: &NativeRun<'_>,
    layers: &Layers,
    ids: GuestIds,
    run_dir: &RunDir,
) -> Result<ChildSpec> {
    let config = run.guest.config;
    let (guest_ids, identity) = guest_identity(layers, ids);
    let (rootfs, program_dir, workdir, tmp) = if layers.namespaces {
        let plan = RootfsPlan::new(
            &RootfsInputs {
                staging: &run_dir.root(),
                workspace: run.guest.workspace,
                program: ProgramFile {
                    name: &run.program.file_name,
                    code: &run.program.code,
                    executable: run.program.interpreter.is_none(),
                },
                network: config.network_enabled,
                tmp_bytes: config.memory_limit,
                tmp_owner: guest_ids,
            },
            &RealHost,
        );
        (
            Some(plan),
            PathBuf::from(GUEST_PROGRAM_DIR),
            PathBuf::from(crate::GUEST_WORKDIR),
            PathBuf::from("/tmp"),
        )
    } else {
        (
            None,
            run_dir.program(),
            run.guest.workspace.to_path_buf(),
            run_dir.tmp(),
        )
    };
    let landlock = layers.landlock_abi.map(|abi| {
        let rules = match &rootfs {
            Some(plan) => plan.landlock_rules.clone(),
            None => host_view_rules(run.guest.workspace, &program_dir, &tmp),
        };
        LandlockPlan::new(abi, rules, config.network_enabled)
    });
    let (program, argv) = run.program.command_line(&program_dir);
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), tmp.to_string_lossy().into_owned()),
        ("TMPDIR".into(), tmp.to_string_lossy().into_owned()),
    ];
    for (key, value) in &run.guest.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    let seccomp = if layers.seccomp {
        seccomp::filters(config.allowed_syscalls.as_deref())?
    } else {
        Vec::new()
    };
    Ok(ChildSpec {
        identity,
        unshare_cgroup: layers.namespaces,
        rootfs,
        set_hostname: layers.namespaces,
        workdir: cstring(workdir.as_os_str().as_bytes(), "the working directory")?,
        rlimits: rlimits(layers, config),
        landlock,
        seccomp,
        program: cstring(program.as_os_str().as_bytes(), "the program path")?,
        argv: argv
            .iter()
            .map(|a| cstring(a, "an argument"))
            .collect::<Result<_>>()?,
        env: env
            .iter()
            .map(|(k, v)| cstring(format!("{k}={v}"), "an environment variable"))
            .collect::<Result<_>>()?,
        engine_cmdline: child::engine_cmdline(),
    })
}

/// The guest's uid and gid as init's namespace numbers them (0 of its own user namespace, else
/// the host's numbers), and the ids init must take: only a sandbox id needs a switch (shedding
/// root's supplementary groups too); a rootless engine's child has its ids already.
fn guest_identity(layers: &Layers, ids: GuestIds) -> (Option<(u32, u32)>, Option<Identity>) {
    let guest_ids = match (layers.user_namespace, ids) {
        (true, _) => Some((0, 0)),
        (false, GuestIds::Sandbox(id)) => Some((id, id)),
        (false, GuestIds::Engine { .. }) => None,
    };
    let identity = match ids {
        GuestIds::Sandbox(_) => guest_ids.map(|(uid, gid)| Identity {
            uid,
            gid,
            clear_groups: true,
        }),
        GuestIds::Engine { .. } => None,
    };
    (guest_ids, identity)
}

/// Landlock rules when there is no minimal root: the host paths themselves.
// Audited for the wall rule (scripts/wall-audited.txt): the host's own /usr, /bin, /lib*, /etc, never the workspace.
#[allow(clippy::disallowed_methods)]
fn host_view_rules(workspace: &Path, program_dir: &Path, tmp: &Path) -> Vec<Rule> {
    let dir = |path: &Path, access| Rule {
        path: CString::new(path.as_os_str().as_bytes()).unwrap_or_default(),
        access,
        is_dir: true,
    };
    let mut rules: Vec<Rule> = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"]
        .iter()
        .map(Path::new)
        .filter(|p| p.is_dir())
        .map(|p| dir(p, Access::ReadExecute))
        .collect();
    rules.push(dir(Path::new("/proc"), Access::Read));
    rules.push(dir(workspace, Access::ReadWrite));
    rules.push(dir(tmp, Access::ReadWrite));
    rules.push(dir(program_dir, Access::ReadExecute));
    for device in ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"] {
        rules.push(Rule {
            path: CString::new(device).unwrap_or_default(),
            access: Access::Device,
            is_dir: false,
        });
    }
    rules
}

/// Always no core dumps; without cgroups, rlimits stand in for the memory, process and CPU limits.
fn rlimits(layers: &Layers, config: &SandboxConfig) -> Vec<(u32, u64)> {
    let mut limits = vec![(libc::RLIMIT_CORE, 0)];
    if layers.rlimits_only() {
        limits.push((libc::RLIMIT_AS, config.memory_limit));
        limits.push((libc::RLIMIT_CPU, config.timeout.as_secs() + 1));
        if layers.user_namespace {
            // Counted per user of the new namespace; outside one it would count every process
            // the engine's user has on the host.
            limits.push((libc::RLIMIT_NPROC, u64::from(config.max_processes)));
        }
    }
    limits
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;

    fn exited(code: i32) -> Ended {
        Ended::Wait(code << 8)
    }

    #[test]
    fn exit_codes_map_to_ok_and_error() {
        let config = SandboxConfig::default();
        assert_eq!(
            classify(exited(0), None, 0, &config),
            (Status::Ok, Some(0), None)
        );
        assert_eq!(
            classify(exited(3), None, 0, &config),
            (Status::Error, Some(3), None)
        );
    }

    #[test]
    fn engine_stops_win_over_how_the_process_died() {
        let config = SandboxConfig::default();
        let (status, code, error) = classify(
            Ended::Wait(libc::SIGKILL),
            Some(StopReason::Timeout),
            1,
            &config,
        );
        assert_eq!((status, code), (Status::Timeout, None));
        assert!(error.unwrap().contains("timed out"));
    }

    #[test]
    fn oom_kills_are_memory_limits_and_signals_are_traps() {
        let config = SandboxConfig::default();
        assert_eq!(
            classify(Ended::Wait(libc::SIGKILL), None, 1, &config).0,
            Status::MemoryLimit
        );
        let (status, _, error) = classify(Ended::Wait(libc::SIGSYS), None, 0, &config);
        assert_eq!(status, Status::Trap);
        assert!(error.unwrap().contains("seccomp"));
        let (status, _, error) = classify(Ended::Wait(libc::SIGSEGV), None, 0, &config);
        assert_eq!(status, Status::Trap);
        assert!(error.unwrap().contains("SIGSEGV"));
        assert_eq!(classify(Ended::Unknown, None, 0, &config).0, Status::Killed);
    }

    #[test]
    fn a_sandbox_id_is_taken_inside_a_user_namespace_or_directly_without_one() {
        let mut layers = Layers {
            sandbox_ids: true,
            unprivileged_host_id: true,
            user_namespace: true,
            namespaces: true,
            net_namespace: true,
            cgroups: None,
            landlock_abi: Some(7),
            seccomp: true,
            seccomp_allow_list: false,
        };
        let id = identity::SANDBOX_ID_FIRST + 5;
        let root_of_the_namespace = Identity {
            uid: 0,
            gid: 0,
            clear_groups: true,
        };
        assert_eq!(
            guest_identity(&layers, GuestIds::Sandbox(id)),
            (Some((0, 0)), Some(root_of_the_namespace))
        );
        let engine = GuestIds::Engine {
            uid: 1000,
            gid: 1000,
        };
        assert_eq!(guest_identity(&layers, engine), (Some((0, 0)), None));
        layers.user_namespace = false;
        let the_id_itself = Identity {
            uid: id,
            gid: id,
            clear_groups: true,
        };
        assert_eq!(
            guest_identity(&layers, GuestIds::Sandbox(id)),
            (Some((id, id)), Some(the_id_itself))
        );
        assert_eq!(guest_identity(&layers, engine), (None, None));
    }

    #[test]
    fn rlimits_stand_in_only_without_cgroups() {
        let config = SandboxConfig::default();
        let mut layers = Layers {
            sandbox_ids: true,
            unprivileged_host_id: true,
            user_namespace: true,
            namespaces: true,
            net_namespace: true,
            cgroups: Some(cgroup::CgroupVersion::V2),
            landlock_abi: None,
            seccomp: true,
            seccomp_allow_list: false,
        };
        assert_eq!(rlimits(&layers, &config), vec![(libc::RLIMIT_CORE, 0)]);
        layers.cgroups = None;
        let limits = rlimits(&layers, &config);
        assert!(limits.contains(&(libc::RLIMIT_AS, config.memory_limit)));
        assert!(limits.contains(&(libc::RLIMIT_NPROC, u64::from(config.max_processes))));
        layers.user_namespace = false;
        assert!(
            !rlimits(&layers, &config)
                .iter()
                .any(|(r, _)| *r == libc::RLIMIT_NPROC)
        );
    }
}
