//! The native run's pipes and descriptors: the guest's stdin, stdout and stderr, init's report
//! and sync channels (created close-on-exec, the child's ends handed over and closed here), and
//! the async pumps that move output into the capped capture and feed stdin without blocking.

use std::os::fd::{AsRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::child::{ChildFds, REPORT_SIZE};
use super::spawn;
use crate::output::CapturedOutput;
use crate::{Result, SoulBoxError, Stdin};

/// The run's pipes: ours, and the child's ends (closed in the parent once the child has them).
pub(super) struct Pipes {
    pub(super) stdin_ours: Option<OwnedFd>,
    pub(super) stdout_ours: OwnedFd,
    pub(super) stderr_ours: OwnedFd,
    pub(super) report_ours: OwnedFd,
    pub(super) sync_ours: OwnedFd,
    pub(super) child_ends: ChildEnds,
}

pub(super) struct ChildEnds {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    report: OwnedFd,
    sync: OwnedFd,
}

impl Pipes {
    pub(super) fn new(stdin: &Stdin) -> Result<Self> {
        let pipe = || spawn::pipe().map_err(|e| SoulBoxError::io("creating the run's pipes", e));
        let (stdin_child, stdin_ours) = match stdin {
            Stdin::Inherit => {
                let ours = std::os::fd::AsFd::as_fd(&std::io::stdin())
                    .try_clone_to_owned()
                    .map_err(|e| SoulBoxError::io("passing stdin on", e))?;
                // Checked on the copy the guest gets, not on fd 0, which could change meanwhile.
                crate::stdin::check_inheritable(std::os::fd::AsFd::as_fd(&ours))?;
                (ours, None)
            }
            Stdin::Empty => (pipe()?.0, None),
            Stdin::Bytes(_) => {
                let (child, ours) = socket_pair()?;
                (child, Some(ours))
            }
        };
        let (stdout_ours, stdout) = pipe()?;
        let (stderr_ours, stderr) = pipe()?;
        let (report_ours, report) = pipe()?;
        let (sync, sync_ours) = pipe()?;
        Ok(Self {
            stdin_ours,
            stdout_ours,
            stderr_ours,
            report_ours,
            sync_ours,
            child_ends: ChildEnds {
                stdin: stdin_child,
                stdout,
                stderr,
                report,
                sync,
            },
        })
    }

    pub(super) fn child_fds(&self) -> ChildFds {
        ChildFds {
            stdin: self.child_ends.stdin.as_raw_fd(),
            stdout: self.child_ends.stdout.as_raw_fd(),
            stderr: self.child_ends.stderr.as_raw_fd(),
            report: self.child_ends.report.as_raw_fd(),
            sync: self.child_ends.sync.as_raw_fd(),
            sync_peer: self.sync_ours.as_raw_fd(),
        }
    }
}

/// A socket pair for stdin: writing to it with MSG_NOSIGNAL cannot raise SIGPIPE in the engine
/// (which, embedded in another program, may not ignore it) when the guest stops reading.
pub(super) fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(SoulBoxError::io(
            "creating the stdin socket",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    let (child, ours) = unsafe {
        (
            std::os::fd::FromRawFd::from_raw_fd(fds[0]),
            std::os::fd::FromRawFd::from_raw_fd(fds[1]),
        )
    };
    // SAFETY: shutdown on our own socket; the guest reads, never writes back.
    unsafe { libc::shutdown(fds[1], libc::SHUT_RD) };
    Ok((child, ours))
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl flag changes on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Registers a descriptor with the async runtime.
pub(super) fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, with the same number, until the AsyncFd drops it.
    unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

pub(super) fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads what is in a pipe right now, without waiting.
pub(super) fn drain(fd: &OwnedFd) -> Vec<u8> {
    let _ = set_nonblocking(fd);
    let mut data = Vec::new();
    let mut buf = [0u8; REPORT_SIZE * 8];
    while let Ok(n @ 1..) = read_fd(fd, &mut buf) {
        data.extend_from_slice(&buf[..n]);
    }
    data
}

/// Copies a guest output pipe into its capture until end-of-file, or - once the program has
/// exited - until the pipe is empty (a leftover process may still hold it open).
pub(super) async fn pump(fd: OwnedFd, out: CapturedOutput, mut exited: watch::Receiver<bool>) {
    let fd = match set_nonblocking(&fd).and_then(|()| register(fd)) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            ready = fd.readable() => {
                let Ok(mut guard) = ready else { return };
                match guard.try_io(|inner| read_fd(inner.get_ref(), &mut buf)) {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => {
                        if !out.append(&buf[..n]) {
                            return;
                        }
                    }
                    Err(_would_block) => {}
                }
            }
            _ = exited.wait_for(|done| *done) => {
                while let Ok(n @ 1..) = read_fd(fd.get_ref(), &mut buf) {
                    if !out.append(&buf[..n]) {
                        return;
                    }
                }
                return;
            }
        }
    }
}

/// Writes `bytes` to the guest's stdin, then closes it.
pub(super) async fn feed(fd: OwnedFd, bytes: Vec<u8>) {
    let fd = match set_nonblocking(&fd).and_then(|()| register(fd)) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let Ok(mut guard) = fd.writable().await else {
            return;
        };
        let sent = guard.try_io(|inner| {
            // SAFETY: `rest` is readable for `rest.len()` bytes; MSG_NOSIGNAL: no SIGPIPE.
            let n = unsafe {
                libc::send(
                    inner.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(Ok(n)) => rest = &rest[n..],
            Ok(Err(_)) => return,
            Err(_would_block) => {}
        }
    }
}
