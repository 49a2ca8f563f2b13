//! Runs a compiler behind bubblewrap. The compiler is the first program to read untrusted input
//! (and rustc/clang happily read any path a source names: `include_str!`, `#include`, `.incbin`),
//! so it sees only:
//! - `/usr/lib` (shared libraries and clang), the toolchain and the WASI sysroot, all read-only;
//! - its scratch directory at `/work`, the only writable place;
//! - `/dev/null`; no `/proc`, `/etc`, `/home`, `/root`, `/tmp`, `/usr/include`, `/usr/local` or
//!   anything else of the host.
//!
//! It runs in fresh user, mount, pid, network, ipc, uts and cgroup namespaces as an unprivileged
//! uid with every capability dropped and an empty environment, and under its own limits: a
//! wall-clock deadline (the whole namespace is killed), an address-space limit, a CPU-time limit,
//! a largest-file limit and no core dumps.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Result, SoulBoxError};

/// Where the scratch directory appears inside the sandbox.
pub(crate) const SCRATCH: &str = "/work";
/// Most bytes of compiler output kept (the rest is drained and dropped).
const MAX_DIAGNOSTICS: usize = 256 * 1024;
/// Largest file the compiler may write.
pub(crate) const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Unprivileged uid/gid the compiler runs as inside its user namespace.
const SANDBOX_ID: &str = "65534";

/// The isolation layers every compile step has, as reported in
/// [`ExecutionResult::isolation`](crate::ExecutionResult::isolation).
pub(crate) const ISOLATION: [&str; 7] = [
    "compile:bwrap-namespaces(user,mount,pid,net,ipc,uts,cgroup)",
    "compile:no-network",
    "compile:caps-dropped-unprivileged-uid",
    "compile:read-only-toolchain",
    "compile:scratch-only-writable",
    "compile:empty-environment",
    "compile:rlimits(as,cpu,fsize)+deadline",
];

/// One isolated compiler run.
pub(crate) struct Isolated<'a> {
    /// Path of `bwrap` on the host.
    pub bwrap: &'a Path,
    /// Program path inside the sandbox.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Host directories bound read-only at the given sandbox paths.
    pub read_only: Vec<(PathBuf, String)>,
    /// Host directory bound read-write at [`SCRATCH`].
    pub scratch: &'a Path,
    /// The whole environment of the compiler.
    pub env: Vec<(&'static str, String)>,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Address-space limit in bytes.
    pub memory_limit: u64,
}

/// How the compiler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Exited with this code (bwrap passes the compiler's code through).
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Still running at the deadline; the whole sandbox was killed.
    TimedOut,
}

/// What an isolated run produced.
#[derive(Debug)]
pub(crate) struct Finished {
    pub ending: Ending,
    /// stdout then stderr, capped.
    pub output: Vec<u8>,
}

/// Runs the compiler and waits for it (or for its deadline).
pub(crate) async fn run(job: Isolated<'_>) -> Result<Finished> {
    let mut cmd = tokio::process::Command::new(job.bwrap);
    cmd.args(["--unshare-all", "--unshare-user"])
        .args(["--uid", SANDBOX_ID, "--gid", SANDBOX_ID])
        .args(["--cap-drop", "ALL", "--die-with-parent", "--new-session"])
        .arg("--clearenv")
        .args(["--ro-bind", "/usr/lib", "/usr/lib"])
        .args(["--ro-bind-try", "/usr/lib64", "/usr/lib64"])
        .args(["--symlink", "usr/lib", "/lib"])
        .args(["--symlink", "usr/lib64", "/lib64"]);
    for (host, guest) in &job.read_only {
        cmd.arg("--ro-bind").arg(host).arg(guest);
    }
    cmd.arg("--bind")
        .arg(job.scratch)
        .arg(SCRATCH)
        .args(["--dev-bind", "/dev/null", "/dev/null"])
        .args(["--remount-ro", "/"])
        .args(["--chdir", SCRATCH]);
    for (key, value) in &job.env {
        cmd.arg("--setenv").arg(key).arg(value);
    }
    cmd.arg("--").arg(&job.program).args(&job.args);
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let memory = job.memory_limit;
    let cpu_seconds = job.timeout.as_secs().saturating_add(2);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which is
    // async-signal-safe; it touches no locks or allocations of the parent.
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, memory)?;
            set_limit(libc::RLIMIT_CPU, cpu_seconds)?;
            set_limit(libc::RLIMIT_FSIZE, MAX_FILE_BYTES)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        SoulBoxError::io(
            format!("starting {} for the compiler", job.bwrap.display()),
            e,
        )
    })?;
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_capped(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_capped(s)));
    let ending = match tokio::time::timeout(job.timeout, child.wait()).await {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(sig)) => Ending::Signaled(sig),
                (None, None) => Ending::Signaled(0),
            }
        }
        Ok(Err(e)) => return Err(SoulBoxError::io("waiting for the compiler", e)),
        Err(_elapsed) => {
            // Killing bwrap kills the namespace's init (--die-with-parent), and with it every
            // process of the compile.
            let _ = child.start_kill();
            let _ = child.wait().await;
            Ending::TimedOut
        }
    };
    let mut output = Vec::new();
    for task in [stdout, stderr].into_iter().flatten() {
        if let Ok(bytes) = task.await {
            output.extend_from_slice(&bytes);
        }
    }
    Ok(Finished { ending, output })
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads a pipe to its end, keeping at most [`MAX_DIAGNOSTICS`] bytes.
async fn read_capped(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_DIAGNOSTICS.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    if truncated {
        kept.extend_from_slice(b"\n[compiler output truncated]\n");
    }
    kept
}
