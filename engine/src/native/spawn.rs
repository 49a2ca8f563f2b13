//! Starting the sandbox's init: `clone3` with the new namespaces, a pidfd (so the engine signals
//! and waits on exactly this process, with no pid-reuse race) and, on cgroup v2, straight into the
//! run's cgroup (`CLONE_INTO_CGROUP`, no migration afterwards). Then the parent side of the
//! handshake: user-namespace id maps, cgroup placement where `clone3` could not do it, "go".

// Audited for the wall rule (scripts/wall-audited.txt): only /proc/<pid> of the child the engine just cloned, and the cgroup filesystem.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::child::{self, ChildFds, ChildSpec, ExecArgs};
use super::identity::GuestIds;
use super::os::Os;

/// The sandbox's init process, as seen by the engine. Dropping it before [`reap`](Self::reap)
/// (a cancelled run) kills it, and with it the sandbox.
#[derive(Debug)]
pub(crate) struct Init {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// Whether the kernel already placed it in the run's cgroup.
    pub in_cgroup: bool,
    reaped: bool,
}

impl Drop for Init {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            self.reap();
        }
    }
}

impl Init {
    /// SIGKILLs init; with a pid namespace the kernel then kills every process in it.
    pub(crate) fn kill(&self) {
        // SAFETY: the pidfd refers to our own child, reaped only by `reap`.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// Collects init's exit status, waiting for it to exit.
    pub(crate) fn reap(&mut self) {
        self.reaped = true;
        // SAFETY: a zeroed siginfo is a valid out-parameter; P_PIDFD waits on exactly this child.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: as above.
            let ret = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.pidfd.as_raw_fd() as libc::id_t,
                    &mut info,
                    libc::WEXITED,
                )
            };
            if ret == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return;
            }
        }
    }
}

/// `CLONE_INTO_CGROUP` (kernel 5.7); libc's constant is an `int` too narrow for it.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Clones init with `namespaces` (CLONE_NEW* flags); the child sets itself up through `os`. In
/// the child this never returns.
pub(crate) fn clone_init(
    spec: &ChildSpec,
    fds: ChildFds,
    namespaces: u64,
    cgroup_dir: Option<BorrowedFd<'_>>,
    os: &dyn Os,
) -> std::io::Result<Init> {
    let exec = ExecArgs::new(spec);
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: namespaces | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(dir) = cgroup_dir {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = dir.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork. The child runs only
    // `init_main`, which makes system calls and ends in _exit, on its copy of this memory.
    let mut pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let mut in_cgroup = cgroup_dir.is_some();
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        // Old kernels (no clone3 / no CLONE_INTO_CGROUP) or a container that filters clone3:
        // plain clone, and the parent moves the child into its cgroup.
        if !matches!(
            err.raw_os_error(),
            Some(libc::ENOSYS | libc::EPERM | libc::EINVAL | libc::E2BIG)
        ) {
            return Err(err);
        }
        in_cgroup = false;
        let flags = (namespaces | libc::CLONE_PIDFD as u64) as libc::c_ulong
            | libc::SIGCHLD as libc::c_ulong;
        // SAFETY: as above; with CLONE_PIDFD the kernel stores the pidfd at the parent_tid slot.
        pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags,
                0usize,
                &mut pidfd as *mut libc::c_int,
                0usize,
                0usize,
            )
        };
    }
    if pid == 0 {
        child::init_main(spec, &exec, fds, os);
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Init {
        pid: pid as libc::pid_t,
        pidfd,
        in_cgroup,
        reaped: false,
    })
}

/// Maps uid and gid 0 inside the new user namespace - the guest's root - to `ids`: the sandbox's
/// own id (a root engine), or the engine's own ids (the only mapping an unprivileged process may
/// write). Only the engine's own ids need `setgroups` denied; a sandbox id leaves it allowed so
/// that the worker can drop the supplementary groups it inherited from root.
pub(crate) fn write_id_maps(pid: libc::pid_t, ids: GuestIds) -> std::io::Result<()> {
    let proc = format!("/proc/{pid}");
    std::fs::write(format!("{proc}/uid_map"), format!("0 {} 1", ids.host_uid()))?;
    if let GuestIds::Engine { .. } = ids {
        std::fs::write(format!("{proc}/setgroups"), "deny")?;
    }
    std::fs::write(format!("{proc}/gid_map"), format!("0 {} 1", ids.host_gid()))
}

/// Tells init to go on.
pub(crate) fn release(sync: OwnedFd) -> std::io::Result<()> {
    File::from(sync).write_all(b"g")
}

/// A pipe whose ends are close-on-exec.
pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::fd::AsFd;

    use super::*;
    use crate::native::os::Linux;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// A new cgroup v2 directory to clone into, in the unified hierarchy wherever it is mounted.
    fn v2_cgroup() -> Option<std::path::PathBuf> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mount = mounts.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            right
                .starts_with("cgroup2 ")
                .then(|| left.split_whitespace().nth(4).map(str::to_owned))
                .flatten()
        })?;
        let dir = std::path::Path::new(&mount).join(format!("soulbox-test-{}", std::process::id()));
        std::fs::create_dir(&dir).ok().map(|()| dir)
    }

    #[test]
    fn init_is_cloned_straight_into_a_v2_cgroup() {
        let Some(cgroup) = v2_cgroup().filter(|_| is_root()) else {
            eprintln!("skipped: needs root and a cgroup v2 hierarchy");
            return;
        };
        let spec = ChildSpec {
            identity: None,
            unshare_cgroup: false,
            rootfs: None,
            set_hostname: false,
            workdir: CString::new("/").unwrap(),
            rlimits: Vec::new(),
            landlock: None,
            seccomp: Vec::new(),
            program: CString::new("/bin/true").unwrap(),
            argv: vec![CString::new("true").unwrap()],
            env: Vec::new(),
            engine_cmdline: None,
        };
        let (sync_read, sync_write) = pipe().unwrap();
        let (report_read, report_write) = pipe().unwrap();
        let (stdin_read, _stdin_write) = pipe().unwrap();
        let fds = ChildFds {
            stdin: stdin_read.as_raw_fd(),
            stdout: report_write.as_raw_fd(),
            stderr: report_write.as_raw_fd(),
            report: report_write.as_raw_fd(),
            sync: sync_read.as_raw_fd(),
            sync_peer: sync_write.as_raw_fd(),
        };
        let dir = File::open(&cgroup).unwrap();
        let mut init = clone_init(&spec, fds, 0, Some(dir.as_fd()), &Linux::new()).unwrap();
        assert!(init.in_cgroup, "clone3 with CLONE_INTO_CGROUP was refused");
        let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", init.pid)).unwrap();
        let name = cgroup.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            membership
                .lines()
                .any(|l| l.starts_with("0::") && l.ends_with(&name)),
            "{membership}"
        );
        drop((report_read, stdin_read));
        release(sync_write).unwrap();
        init.reap();
        drop(sync_read);
        std::fs::remove_dir(&cgroup).unwrap();
    }
}
