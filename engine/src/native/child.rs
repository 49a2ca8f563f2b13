//! What runs in the sandbox before the guest's own code: the mini-init (pid 1 of the new pid
//! namespace) and the worker it starts, which hardens itself and `execve`s the guest.
//!
//! ```text
//! engine ──clone3(new namespaces)──▶ init (pid 1)  waits for "go" (id maps, cgroup), takes the
//!                                     │             guest's ids, builds the root, keeps only the
//!                                     │             guest's stdio, then
//!                                     └─vfork─▶ worker  setsid, cwd /work, rlimits, no_new_privs,
//!                                                       landlock, drop capabilities, seccomp, execve
//! ```
//!
//! Init reaps every process of the namespace and, when the worker exits, writes its wait status to
//! the report pipe and exits itself: the kernel then kills whatever the guest left behind, so no
//! process - not even a `setsid` grandchild - outlives its run.
//!
//! Both run in a child cloned from a multi-threaded process: they must not allocate, unwind or
//! take locks. Everything they need is prepared by the parent in a [`ChildSpec`]; failures are
//! reported as fixed-size [`Report`] records and the process `_exit`s.

use std::ffi::{CString, c_char};

use super::landlock::LandlockPlan;
use super::os::{Errno, Os};
use super::rootfs::{HOSTNAME, RootfsPlan};
use super::seccomp::SockFilter;

/// Everything the child needs, prepared by the parent.
#[derive(Debug)]
pub(crate) struct ChildSpec {
    /// The ids init takes before it builds the root (see `identity.rs`), so that nothing of the
    /// setup or the guest has the engine's; `None`: it keeps the ones it was cloned with.
    pub identity: Option<Identity>,
    /// Enter a new cgroup namespace once placed in the run's cgroup.
    pub unshare_cgroup: bool,
    pub rootfs: Option<RootfsPlan>,
    pub set_hostname: bool,
    pub workdir: CString,
    pub rlimits: Vec<(u32, u64)>,
    pub landlock: Option<LandlockPlan>,
    pub seccomp: Vec<Vec<SockFilter>>,
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// Where the engine's own command line lies in memory (init inherits a copy at the same
    /// address and blanks it: the guest can read `/proc/1/cmdline`).
    pub engine_cmdline: Option<(usize, usize)>,
}

/// Ids the worker becomes, as its user namespace numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Drop the supplementary groups inherited from the engine (root's include group 0).
    pub clear_groups: bool,
}

/// The address range of this process's command line (`arg_start`, `arg_end` of
/// `/proc/self/stat`), read once.
// Audited for the wall rule (scripts/wall-audited.txt): the engine's own /proc/self/stat.
#[allow(clippy::disallowed_methods)]
pub(crate) fn engine_cmdline() -> Option<(usize, usize)> {
    static AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start at field 3; arg_start and
        // arg_end are fields 48 and 49.
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(45);
        let start = fields.next()?.parse().ok()?;
        let end = fields.next()?.parse().ok()?;
        (start < end).then_some((start, end))
    })
}

/// Blanks init's copy of the engine's command line and names the process `soulbox-init`.
fn hide_engine_cmdline(area: Option<(usize, usize)>) {
    if let Some((start, end)) = area {
        // SAFETY: [start, end) is where the kernel put this process's argv strings (a copy of the
        // engine's, on init's own writable stack mapping); nothing in init reads them.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
    }
    // SAFETY: PR_SET_NAME reads one NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"soulbox-init".as_ptr(), 0, 0, 0) };
}

/// Null-terminated pointer arrays for `execve`, built by the parent right before the clone.
pub(crate) struct ExecArgs {
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
}

impl ExecArgs {
    pub(crate) fn new(spec: &ChildSpec) -> Self {
        let pointers = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Self {
            argv: pointers(&spec.argv),
            envp: pointers(&spec.env),
        }
    }
}

/// The child's ends of the pipes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    pub stdin: i32,
    pub stdout: i32,
    pub stderr: i32,
    /// Write end of the report pipe (close-on-exec).
    pub report: i32,
    /// Read end of the pipe the parent says "go" on.
    pub sync: i32,
    /// Its write end, the parent's: closed first, so that a parent that dies means end-of-file.
    pub sync_peer: i32,
}

/// Which part of the setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    CgroupNamespace = 1,
    Rootfs = 2,
    Hostname = 3,
    Descriptors = 4,
    Fork = 5,
    Session = 6,
    Workdir = 7,
    Rlimit = 8,
    NoNewPrivs = 9,
    Landlock = 10,
    Capabilities = 11,
    Seccomp = 12,
    Exec = 13,
    Identity = 14,
    Workspace = 15,
}

impl Stage {
    fn from_code(code: u32) -> Option<Stage> {
        use Stage::*;
        [
            CgroupNamespace,
            Rootfs,
            Hostname,
            Descriptors,
            Fork,
            Session,
            Workdir,
            Rlimit,
            NoNewPrivs,
            Landlock,
            Capabilities,
            Seccomp,
            Exec,
            Identity,
            Workspace,
        ]
        .into_iter()
        .find(|s| *s as u32 == code)
    }
}

const REPORT_SETUP_FAILED: u32 = 1;
const REPORT_EXITED: u32 = 2;

/// One record on the report pipe.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    kind: u32,
    stage: u32,
    index: u32,
    errno: i32,
    wait_status: i32,
    _reserved: i32,
    max_rss_kib: i64,
}

pub(crate) const REPORT_SIZE: usize = std::mem::size_of::<Report>();

/// What the child reported, decoded by the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildReport {
    SetupFailed {
        stage: Stage,
        index: usize,
        errno: Errno,
    },
    /// The worker ended with this `wait` status; peak RSS of it and its waited-for children.
    Exited { wait_status: i32, max_rss: u64 },
}

impl Report {
    fn setup_failed(stage: Stage, index: usize, errno: Errno) -> Self {
        Report {
            kind: REPORT_SETUP_FAILED,
            stage: stage as u32,
            index: index as u32,
            errno: errno.0,
            ..Report::default()
        }
    }

    fn to_bytes(self) -> [u8; REPORT_SIZE] {
        // SAFETY: `Report` is repr(C), made of integers, with no padding (4 × u32/i32 words, two
        // i32 and one i64 at an 8-byte boundary): every byte is initialised.
        unsafe { std::mem::transmute::<Report, [u8; REPORT_SIZE]>(self) }
    }

    /// Decodes the records read from the report pipe. A failed setup (from init or the worker)
    /// is what matters when there is one: init still reports the worker's exit after it.
    pub(crate) fn decode(bytes: &[u8]) -> Option<ChildReport> {
        let records: Vec<ChildReport> = bytes
            .chunks_exact(REPORT_SIZE)
            .filter_map(Self::decode_one)
            .collect();
        records
            .iter()
            .find(|r| matches!(r, ChildReport::SetupFailed { .. }))
            .or(records.last())
            .copied()
    }

    fn decode_one(chunk: &[u8]) -> Option<ChildReport> {
        let word = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&chunk[i * 4..i * 4 + 4]);
            u32::from_ne_bytes(b)
        };
        let mut rss = [0u8; 8];
        rss.copy_from_slice(&chunk[24..32]);
        match word(0) {
            REPORT_SETUP_FAILED => Some(ChildReport::SetupFailed {
                stage: Stage::from_code(word(1))?,
                index: word(2) as usize,
                errno: Errno(word(3) as i32),
            }),
            REPORT_EXITED => Some(ChildReport::Exited {
                wait_status: word(4) as i32,
                max_rss: u64::try_from(i64::from_ne_bytes(rss))
                    .unwrap_or(0)
                    .saturating_mul(1024),
            }),
            _ => None,
        }
    }
}

fn send(fd: i32, report: Report) {
    let bytes = report.to_bytes();
    // SAFETY: `bytes` is a live buffer of REPORT_SIZE bytes. A record is smaller than PIPE_BUF, so
    // the write is atomic; if it fails the parent sees no record and says so.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

fn fail(fd: i32, stage: Stage, index: usize, errno: Errno) -> ! {
    send(fd, Report::setup_failed(stage, index, errno));
    // SAFETY: _exit ends the process without running anything of the parent's (no atexit, no
    // destructors), which is what a cloned child must do.
    unsafe { libc::_exit(127) }
}

fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Stack of the worker while it shares init's memory (until its `execve`).
const WORKER_STACK_BYTES: usize = 256 * 1024;

/// What the worker needs, on init's stack (init is suspended while the worker uses it).
struct WorkerArgs<'a> {
    spec: &'a ChildSpec,
    exec: &'a ExecArgs,
    report: i32,
    os: &'a dyn Os,
}

extern "C" fn worker_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the WorkerArgs on init's stack; init is suspended (CLONE_VFORK)
    // until this process execs or exits, so the reference stays valid and unshared.
    let args = unsafe { &*(arg as *const WorkerArgs<'_>) };
    worker_main(args.spec, args.exec, args.report, args.os)
}

/// Starts the worker the way `posix_spawn` does: sharing init's memory (no copy of the page
/// tables of the engine process init was cloned from) on its own stack, with init suspended
/// until the worker's `execve`. Returns the worker's pid, or -1.
fn spawn_worker(spec: &ChildSpec, exec: &ExecArgs, report: i32, os: &dyn Os) -> libc::pid_t {
    // SAFETY: an anonymous private mapping; mmap is a system call, not the allocator.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            WORKER_STACK_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return -1;
    }
    let mut args = WorkerArgs {
        spec,
        exec,
        report,
        os,
    };
    // SAFETY: the stack grows down from the end of the mapping; glibc's clone wrapper is plain
    // assembly (no locks, no allocation). With CLONE_VM | CLONE_VFORK this thread does not run
    // again until the worker has called execve or _exit, so nothing races on shared memory.
    let pid = unsafe {
        libc::clone(
            worker_entry,
            stack.cast::<u8>().add(WORKER_STACK_BYTES).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut args as *mut WorkerArgs<'_>).cast(),
        )
    };
    // SAFETY: the worker no longer uses the stack (it exec'd or exited).
    unsafe { libc::munmap(stack, WORKER_STACK_BYTES) };
    pid
}

/// The mini-init. Never returns.
pub(crate) fn init_main(spec: &ChildSpec, exec: &ExecArgs, fds: ChildFds, os: &dyn Os) -> ! {
    // SAFETY (whole function): system calls on descriptors and values prepared by the parent.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::close(fds.sync_peer);
        let mut go = 0u8;
        if libc::read(fds.sync, (&mut go as *mut u8).cast(), 1) != 1 {
            // The parent gave up on this run (or died, even before PDEATHSIG was set).
            libc::_exit(1);
        }
        if spec.unshare_cgroup && libc::unshare(libc::CLONE_NEWCGROUP) != 0 {
            fail(fds.report, Stage::CgroupNamespace, 0, last_errno());
        }
    }
    hide_engine_cmdline(spec.engine_cmdline);
    if let Err((stage, index, errno)) = prepare(spec, os) {
        fail(fds.report, stage, index, errno);
    }
    let report = keep_only_stdio_and_report(fds);
    // SAFETY: integer prctl; makes /proc/1 of this init unreadable to the guest (no ptrace-read
    // access to a non-dumpable process without CAP_SYS_PTRACE), so its descriptors stay private.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let worker = spawn_worker(spec, exec, report, os);
    if worker < 0 {
        fail(report, Stage::Fork, 0, last_errno());
    }
    let (wait_status, max_rss_kib) = reap_until(worker);
    send(
        report,
        Report {
            kind: REPORT_EXITED,
            wait_status,
            max_rss_kib,
            ..Report::default()
        },
    );
    // SAFETY: see `fail`. Exiting pid 1 makes the kernel kill the rest of the namespace.
    unsafe { libc::_exit(0) }
}

/// Init's part of the setup, in the order that makes each step possible: the workspace is
/// detached while init still has the engine's ids (no directory above it need let the guest
/// through); then init takes the guest's ids, so that the root it builds - and the worker it
/// starts - has nothing of the engine's (a user namespace's tmpfs also refuses to create files
/// for an id it cannot map).
pub(crate) fn prepare(spec: &ChildSpec, os: &dyn Os) -> Result<(), (Stage, usize, Errno)> {
    let workspace = match &spec.rootfs {
        Some(rootfs) => rootfs
            .detach_workspace(os)
            .map_err(|e| (Stage::Workspace, 0, e))?,
        None => None,
    };
    if let Some(id) = spec.identity {
        os.become_user(id.uid, id.gid, id.clear_groups)
            .map_err(|e| (Stage::Identity, 0, e))?;
    }
    if let Some(rootfs) = &spec.rootfs {
        rootfs
            .apply(os, workspace)
            .map_err(|(index, e)| (Stage::Rootfs, index, e))?;
    }
    if spec.set_hostname {
        os.sethostname(HOSTNAME)
            .map_err(|e| (Stage::Hostname, 0, e))?;
    }
    Ok(())
}

/// Puts the guest's pipes on 0, 1, 2 and the report pipe on 3, and closes every other
/// descriptor inherited from the engine (its sockets and files are none of the guest's business).
fn keep_only_stdio_and_report(fds: ChildFds) -> i32 {
    const REPORT_FD: i32 = 3;
    const SCRATCH: i32 = 10;
    // SAFETY (whole function): descriptor juggling on descriptors this process owns. Each source
    // is first copied above the targets so that no dup2 overwrites a source still needed.
    unsafe {
        let mut moved = [0i32; 4];
        for (slot, fd) in [fds.stdin, fds.stdout, fds.stderr, fds.report]
            .into_iter()
            .enumerate()
        {
            moved[slot] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, SCRATCH);
            if moved[slot] < 0 {
                fail(fds.report, Stage::Descriptors, slot, last_errno());
            }
        }
        for (target, fd) in moved.into_iter().enumerate() {
            if libc::dup2(fd, target as i32) < 0 {
                fail(moved[3], Stage::Descriptors, target, last_errno());
            }
        }
        libc::fcntl(REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::close_range(REPORT_FD as u32 + 1, u32::MAX, 0);
    }
    REPORT_FD
}

/// Reaps every child until `worker` exits; returns its wait status and peak RSS (KiB).
fn reap_until(worker: libc::pid_t) -> (i32, i64) {
    loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: out-parameters are live for the call.
        let pid = unsafe { libc::wait4(-1, &mut status, libc::__WALL, &mut usage) };
        if pid == worker {
            return (status, usage.ru_maxrss);
        }
        if pid < 0 && last_errno() != Errno(libc::EINTR) {
            return (status, 0);
        }
    }
}

/// The worker: hardens itself, then becomes the guest. Never returns.
fn worker_main(spec: &ChildSpec, exec: &ExecArgs, report: i32, os: &dyn Os) -> ! {
    if let Err((stage, index, errno)) = harden(spec, os) {
        fail(report, stage, index, errno);
    }
    // SAFETY: argv and envp are null-terminated arrays of pointers into `spec`'s C strings, which
    // live in this process's copy of the parent's memory.
    unsafe {
        libc::execve(
            spec.program.as_ptr(),
            exec.argv.as_ptr(),
            exec.envp.as_ptr(),
        )
    };
    fail(report, Stage::Exec, 0, last_errno());
}

/// The worker's hardening, in the order that makes each step possible: landlock needs
/// no_new_privs; dropping capabilities comes after everything that needs them; seccomp comes last
/// so that no setup call is filtered, and `execve` stays allowed.
pub(crate) fn harden(spec: &ChildSpec, os: &dyn Os) -> Result<(), (Stage, usize, Errno)> {
    os.setsid().map_err(|e| (Stage::Session, 0, e))?;
    os.chdir(&spec.workdir)
        .map_err(|e| (Stage::Workdir, 0, e))?;
    for (index, (resource, limit)) in spec.rlimits.iter().enumerate() {
        os.set_rlimit(*resource, *limit)
            .map_err(|e| (Stage::Rlimit, index, e))?;
    }
    os.set_no_new_privs()
        .map_err(|e| (Stage::NoNewPrivs, 0, e))?;
    if let Some(landlock) = &spec.landlock {
        landlock
            .apply(os)
            .map_err(|(index, e)| (Stage::Landlock, index, e))?;
    }
    os.drop_capabilities()
        .map_err(|e| (Stage::Capabilities, 0, e))?;
    for (index, program) in spec.seccomp.iter().enumerate() {
        os.install_seccomp(program)
            .map_err(|e| (Stage::Seccomp, index, e))?;
    }
    Ok(())
}

/// Words for a failed setup step, for the error the caller sees.
pub(crate) fn describe_failure(spec: &ChildSpec, stage: Stage, index: usize) -> String {
    match stage {
        Stage::CgroupNamespace => "entering a new cgroup namespace".into(),
        Stage::Rootfs => spec
            .rootfs
            .as_ref()
            .map_or_else(|| "building the sandbox root".into(), |r| r.describe(index)),
        Stage::Hostname => "setting the sandbox host name".into(),
        Stage::Descriptors => "arranging the guest's standard streams".into(),
        Stage::Fork => "starting the guest process".into(),
        Stage::Session => "starting a new session".into(),
        Stage::Workdir => format!("entering {}", spec.workdir.to_string_lossy()),
        Stage::Rlimit => format!("setting resource limit #{index}"),
        Stage::NoNewPrivs => "setting no_new_privs".into(),
        Stage::Landlock => spec
            .landlock
            .as_ref()
            .map_or_else(|| "applying Landlock".into(), |l| l.describe(index)),
        Stage::Capabilities => "dropping capabilities".into(),
        Stage::Seccomp => format!("installing seccomp filter #{index}"),
        Stage::Exec => format!("executing {}", spec.program.to_string_lossy()),
        Stage::Identity => match spec.identity {
            Some(id) => format!("becoming uid {} gid {}", id.uid, id.gid),
            None => "changing ids".into(),
        },
        Stage::Workspace => format!(
            "opening the workspace {} for the sandbox",
            spec.rootfs
                .as_ref()
                .map(RootfsPlan::workspace_path)
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;
    use crate::native::landlock::{Access, LandlockPlan, Rule};
    use crate::native::os::recorder::Recorder;
    use crate::native::rootfs::{Entry, HostView, RootfsInputs};

    fn spec() -> ChildSpec {
        ChildSpec {
            identity: Some(Identity {
                uid: 0,
                gid: 0,
                clear_groups: true,
            }),
            unshare_cgroup: true,
            rootfs: None,
            set_hostname: true,
            workdir: CString::new("/work").unwrap(),
            rlimits: vec![(libc::RLIMIT_CORE, 0)],
            landlock: Some(LandlockPlan::new(
                3,
                vec![Rule {
                    path: CString::new("/work").unwrap(),
                    access: Access::ReadWrite,
                    is_dir: true,
                }],
                false,
            )),
            seccomp: vec![vec![SockFilter {
                code: 6,
                jt: 0,
                jf: 0,
                k: 0,
            }]],
            program: CString::new("/bin/sh").unwrap(),
            argv: vec![CString::new("sh").unwrap()],
            env: Vec::new(),
            engine_cmdline: None,
        }
    }

    #[test]
    fn hardening_runs_in_an_order_where_every_step_can_succeed() {
        let os = Recorder::default();
        harden(&spec(), &os).unwrap();
        let at = |p: &str| os.position(p).unwrap_or_else(|| panic!("{p} missing"));
        assert_eq!(at("setsid"), 0);
        assert!(at("chdir /work") < at("set_rlimit"));
        assert!(at("set_no_new_privs") < at("landlock_restrict_self"));
        assert!(at("landlock_restrict_self") < at("drop_capabilities"));
        assert!(at("drop_capabilities") < at("install_seccomp"));
        assert_eq!(
            at("install_seccomp"),
            os.lines().len() - 1,
            "seccomp is last"
        );
    }

    fn spec_with_root() -> ChildSpec {
        let rootfs = RootfsPlan::new(
            &RootfsInputs {
                staging: std::path::Path::new("/stage"),
                workspace: std::path::Path::new("/ws"),
                program: crate::native::rootfs::ProgramFile {
                    name: "main.sh",
                    code: b"true",
                    executable: false,
                },
                network: false,
                tmp_bytes: 1 << 20,
                tmp_owner: Some((0, 0)),
            },
            &Everything,
        );
        ChildSpec {
            rootfs: Some(rootfs),
            ..spec()
        }
    }

    /// A host where every path is a plain directory.
    struct Everything;

    impl HostView for Everything {
        fn entry(&self, _: &std::path::Path) -> Option<Entry> {
            Some(Entry::Dir { locked: 0 })
        }
    }

    #[test]
    fn init_detaches_the_workspace_then_takes_the_guests_ids_then_builds_the_root() {
        let os = Recorder::default();
        prepare(&spec_with_root(), &os).unwrap();
        let lines = os.lines();
        assert_eq!(lines[0], "open_tree /ws");
        assert_eq!(lines[1], "become_user 0 0 true");
        assert!(lines[2].starts_with("mount "), "{lines:?}");
        assert!(os.position("move_mount 42 /stage/work").is_some());
        assert_eq!(
            lines.last().map(String::as_str),
            Some("sethostname soulbox")
        );
    }

    #[test]
    fn a_failed_id_change_stops_the_setup_and_is_named() {
        let s = spec_with_root();
        let os = Recorder {
            fail_on: Some("become_user"),
            ..Recorder::default()
        };
        let (stage, _, errno) = prepare(&s, &os).unwrap_err();
        assert_eq!((stage, errno), (Stage::Identity, Errno(libc::EPERM)));
        assert_eq!(os.lines().len(), 2, "nothing mounted");
        assert_eq!(describe_failure(&s, stage, 0), "becoming uid 0 gid 0");
        let os = Recorder {
            fail_on: Some("open_tree"),
            ..Recorder::default()
        };
        let (stage, _, _) = prepare(&s, &os).unwrap_err();
        assert_eq!(
            describe_failure(&s, stage, 0),
            "opening the workspace /ws for the sandbox"
        );
    }

    #[test]
    fn a_failed_hardening_step_stops_before_seccomp() {
        let os = Recorder {
            fail_on: Some("drop_capabilities"),
            ..Recorder::default()
        };
        let (stage, _, errno) = harden(&spec(), &os).unwrap_err();
        assert_eq!(stage, Stage::Capabilities);
        assert_eq!(errno, Errno(libc::EPERM));
        assert!(os.position("install_seccomp").is_none());
    }

    #[test]
    fn reports_round_trip_through_the_pipe_format() {
        let failed = Report::setup_failed(Stage::Rootfs, 7, Errno(libc::EPERM)).to_bytes();
        assert_eq!(
            Report::decode(&failed),
            Some(ChildReport::SetupFailed {
                stage: Stage::Rootfs,
                index: 7,
                errno: Errno(libc::EPERM)
            })
        );
        let exited = Report {
            kind: REPORT_EXITED,
            wait_status: 3 << 8,
            max_rss_kib: 2048,
            ..Report::default()
        }
        .to_bytes();
        assert_eq!(
            Report::decode(&exited),
            Some(ChildReport::Exited {
                wait_status: 3 << 8,
                max_rss: 2048 * 1024
            })
        );
        let mut both = failed.to_vec();
        both.extend_from_slice(&exited);
        assert!(matches!(
            Report::decode(&both),
            Some(ChildReport::SetupFailed { .. })
        ));
        assert_eq!(Report::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn the_engines_command_line_is_found() {
        let (start, end) = engine_cmdline().expect("arg_start/arg_end in /proc/self/stat");
        let len = std::fs::read("/proc/self/cmdline").unwrap().len();
        assert_eq!(end - start, len);
    }

    #[test]
    fn exec_args_are_null_terminated() {
        let s = spec();
        let args = ExecArgs::new(&s);
        assert_eq!(args.argv.len(), 2);
        assert!(args.argv[1].is_null());
        assert_eq!(args.envp.len(), 1);
    }
}
