//! The system calls the sandbox setup makes inside the child, behind one small trait ([`Os`]).
//!
//! The setup (mount plan, process hardening) is written against the trait, so its order and
//! arguments are unit-tested with a recorder that runs anywhere, without root; [`Linux`] is the
//! real implementation, exercised by the root-only integration tests.
//!
//! Every method runs in a child cloned from a multi-threaded process, before `execve`: another
//! thread may have held the allocator's lock at the moment of the clone, so implementations must
//! not allocate, and take every path as a ready-made C string.

use std::ffi::CStr;

use super::seccomp::SockFilter;

/// `struct landlock_ruleset_attr` (all three fields; zero fields are accepted by older kernels).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RulesetAttr {
    pub handled_access_fs: u64,
    pub handled_access_net: u64,
    pub scoped: u64,
}

/// The `errno` of a failed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(pub i32);

impl Errno {
    fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The error as an [`std::io::Error`], for messages on the host side.
    pub(crate) fn io(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.0)
    }
}

pub(crate) type SysResult<T = ()> = Result<T, Errno>;

/// The system calls of the sandbox setup.
pub(crate) trait Os {
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: libc::c_ulong,
        data: Option<&CStr>,
    ) -> SysResult;
    /// `open_tree(2)` with `OPEN_TREE_CLONE`: a detached copy of the mount at `path` (not its
    /// submounts), as a descriptor to attach elsewhere with [`move_mount`](Os::move_mount).
    /// The path is looked up now, with the caller's current ids.
    fn open_tree(&self, path: &CStr) -> SysResult<i32>;
    /// `move_mount(2)` of the detached mount `tree` onto `target`, then closes `tree`.
    fn move_mount(&self, tree: i32, target: &CStr) -> SysResult;
    /// `umount2(2)`.
    fn umount(&self, target: &CStr, flags: i32) -> SysResult;
    /// `pivot_root(2)`.
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult;
    /// `mkdir(2)`.
    fn mkdir(&self, path: &CStr, mode: u32) -> SysResult;
    /// Creates (or truncates) a file holding `contents`.
    fn write_file(&self, path: &CStr, contents: &[u8], mode: u32) -> SysResult;
    /// `symlink(2)`: a link at `link` pointing to `target`.
    fn symlink(&self, target: &CStr, link: &CStr) -> SysResult;
    /// `chdir(2)`.
    fn chdir(&self, path: &CStr) -> SysResult;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &[u8]) -> SysResult;
    /// Becomes `uid` and `gid` (real, effective, saved; as this user namespace numbers them),
    /// first emptying the supplementary groups when `clear_groups`. Raw system calls: libc's
    /// wrappers would try to signal the engine's other threads, which do not exist here.
    fn become_user(&self, uid: u32, gid: u32, clear_groups: bool) -> SysResult;
    /// `setsid(2)`: a new session without a controlling terminal.
    fn setsid(&self) -> SysResult;
    /// `setrlimit(2)` with equal soft and hard limits.
    fn set_rlimit(&self, resource: u32, limit: u64) -> SysResult;
    /// `prctl(PR_SET_NO_NEW_PRIVS)`: no exec ever gains privileges again.
    fn set_no_new_privs(&self) -> SysResult;
    /// Empties the bounding (where permitted), ambient, inheritable, permitted and effective
    /// capability sets.
    fn drop_capabilities(&self) -> SysResult;
    /// The Landlock ABI version the kernel offers (`None`: no Landlock).
    fn landlock_abi_version(&self) -> Option<u32>;
    /// `landlock_create_ruleset(2)`; returns the ruleset's file descriptor.
    fn landlock_create_ruleset(&self, attr: &RulesetAttr) -> SysResult<i32>;
    /// Opens `path` (`O_PATH`) and adds a path-beneath rule granting `allowed` under it.
    fn landlock_allow(&self, ruleset: i32, path: &CStr, allowed: u64) -> SysResult;
    /// `landlock_restrict_self(2)`, then closes the ruleset.
    fn landlock_restrict_self(&self, ruleset: i32) -> SysResult;
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` with one BPF program.
    fn install_seccomp(&self, program: &[SockFilter]) -> SysResult;
}

/// The real system calls - all of them, or all but Landlock's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linux {
    landlock: bool,
}

impl Linux {
    /// The kernel as it is.
    pub(crate) const fn new() -> Self {
        Self { landlock: true }
    }

    /// The kernel as if it had no Landlock: its calls fail with `ENOSYS`, as on a kernel built
    /// without it. For tests of what a run does without that layer, on any kernel.
    pub(crate) const fn without_landlock() -> Self {
        Self { landlock: false }
    }

    fn landlock_present(self) -> SysResult {
        if self.landlock {
            Ok(())
        } else {
            Err(Errno(libc::ENOSYS))
        }
    }
}

fn check(ret: libc::c_int) -> SysResult {
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn ptr_or_null(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capabilities are numbered below 64; dropping a number the kernel does not know fails with
/// EINVAL, which ends the loop.
const CAPABILITY_NUMBERS: std::ops::Range<libc::c_ulong> = 0..64;

impl Os for Linux {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: libc::c_ulong,
        data: Option<&CStr>,
    ) -> SysResult {
        // SAFETY: every pointer is a NUL-terminated string or null, as mount(2) expects.
        check(unsafe {
            libc::mount(
                ptr_or_null(source),
                target.as_ptr(),
                ptr_or_null(fstype),
                flags,
                ptr_or_null(data).cast(),
            )
        })
    }

    fn open_tree(&self, path: &CStr) -> SysResult<i32> {
        const OPEN_TREE_CLONE: libc::c_uint = 1;
        let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
        // SAFETY: `path` is NUL-terminated; open_tree returns a fresh descriptor or fails.
        check_long(unsafe {
            libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags)
        })
        .map(|fd| fd as i32)
    }

    fn move_mount(&self, tree: i32, target: &CStr) -> SysResult {
        const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
        // SAFETY: `tree` is a detached mount's descriptor, the empty source path names it;
        // `target` is NUL-terminated.
        let result = check_long(unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree,
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        });
        // SAFETY: the descriptor is not used afterwards.
        unsafe { libc::close(tree) };
        result.map(drop)
    }

    fn umount(&self, target: &CStr, flags: i32) -> SysResult {
        // SAFETY: `target` is NUL-terminated.
        check(unsafe { libc::umount2(target.as_ptr(), flags) })
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult {
        // SAFETY: both paths are NUL-terminated; pivot_root has no libc wrapper.
        check_long(unsafe {
            libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr())
        })
        .map(drop)
    }

    fn mkdir(&self, path: &CStr, mode: u32) -> SysResult {
        // SAFETY: `path` is NUL-terminated.
        check(unsafe { libc::mkdir(path.as_ptr(), mode) })
    }

    fn write_file(&self, path: &CStr, contents: &[u8], mode: u32) -> SysResult {
        // SAFETY: `path` is NUL-terminated; the descriptor is closed on every path below.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                mode,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        let mut written = 0;
        let mut result = Ok(());
        while written < contents.len() {
            let rest = &contents[written..];
            // SAFETY: `rest` is a live slice of `rest.len()` bytes.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                result = Err(Errno::last());
                break;
            }
            written += n as usize;
        }
        // SAFETY: `fd` was opened above and is not used afterwards.
        unsafe { libc::close(fd) };
        result
    }

    fn symlink(&self, target: &CStr, link: &CStr) -> SysResult {
        // SAFETY: both paths are NUL-terminated.
        check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })
    }

    fn chdir(&self, path: &CStr) -> SysResult {
        // SAFETY: `path` is NUL-terminated.
        check(unsafe { libc::chdir(path.as_ptr()) })
    }

    fn sethostname(&self, name: &[u8]) -> SysResult {
        // SAFETY: `name` is a live slice of `name.len()` bytes.
        check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
    }

    fn become_user(&self, uid: u32, gid: u32, clear_groups: bool) -> SysResult {
        if clear_groups {
            // SAFETY: a zero-length list; the kernel reads nothing through the null pointer.
            check_long(unsafe {
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>())
            })?;
        }
        // SAFETY: integer arguments only; setresgid before setresuid, while CAP_SETGID lasts.
        check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) })?;
        // SAFETY: integer arguments only.
        check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
    }

    fn setsid(&self) -> SysResult {
        // SAFETY: no arguments.
        check(unsafe { libc::setsid() })
    }

    fn set_rlimit(&self, resource: u32, limit: u64) -> SysResult {
        let value = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: `value` is a valid rlimit for the duration of the call.
        check(unsafe { libc::setrlimit(resource as _, &value) })
    }

    fn set_no_new_privs(&self) -> SysResult {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
    }

    fn drop_capabilities(&self) -> SysResult {
        for cap in CAPABILITY_NUMBERS {
            // SAFETY: PR_CAPBSET_DROP takes integer arguments only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } < 0 {
                match Errno::last() {
                    Errno(libc::EINVAL) => break,
                    // Without CAP_SETPCAP the bounding set stays; emptying the permitted set
                    // below is enough, since no_new_privs (set before this) keeps execve from
                    // growing it again.
                    Errno(libc::EPERM) => break,
                    other => return Err(other),
                }
            }
        }
        // SAFETY: integer arguments only.
        check(unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        })?;
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        // SAFETY: version 3 capset reads one header and two data records, both live here.
        check_long(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
    }

    fn landlock_abi_version(&self) -> Option<u32> {
        self.landlock_present().ok()?;
        super::landlock::abi_version()
    }

    fn landlock_create_ruleset(&self, attr: &RulesetAttr) -> SysResult<i32> {
        self.landlock_present()?;
        // SAFETY: `attr` is a live, fully initialised struct of the size passed.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0,
            )
        })
        .map(|fd| fd as i32)
    }

    fn landlock_allow(&self, ruleset: i32, path: &CStr, allowed: u64) -> SysResult {
        self.landlock_present()?;
        // SAFETY: `path` is NUL-terminated; the descriptor is closed below.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        let attr = PathBeneathAttr {
            allowed_access: allowed,
            parent_fd: fd,
        };
        // SAFETY: `attr` is live for the call; `ruleset` is a landlock ruleset descriptor.
        let result = check_long(unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset,
                LANDLOCK_RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0,
            )
        });
        // SAFETY: `fd` was opened above and is not used afterwards.
        unsafe { libc::close(fd) };
        result.map(drop)
    }

    fn landlock_restrict_self(&self, ruleset: i32) -> SysResult {
        self.landlock_present()?;
        // SAFETY: `ruleset` is a landlock ruleset descriptor, closed right after.
        let result =
            check_long(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) });
        // SAFETY: the ruleset descriptor is not used afterwards.
        unsafe { libc::close(ruleset) };
        result.map(drop)
    }

    fn install_seccomp(&self, program: &[SockFilter]) -> SysResult {
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr().cast_mut().cast(),
        };
        // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        })
        .map(drop)
    }
}

#[cfg(test)]
pub(crate) mod recorder {
    //! An [`Os`] that records calls instead of making them, for unit tests of the setup order.

    use std::cell::RefCell;

    use super::*;

    /// Records each call as one line; fails the calls whose line starts with `fail_on`, with
    /// `fail_errno` (`EPERM` when unset).
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub calls: RefCell<Vec<String>>,
        pub fail_on: Option<&'static str>,
        pub fail_errno: Option<i32>,
    }

    impl Recorder {
        fn record(&self, line: String) -> SysResult {
            let fail = self.fail_on.is_some_and(|prefix| line.starts_with(prefix));
            self.calls.borrow_mut().push(line);
            if fail {
                Err(Errno(self.fail_errno.unwrap_or(libc::EPERM)))
            } else {
                Ok(())
            }
        }

        /// Position of the first call starting with `prefix`.
        pub(crate) fn position(&self, prefix: &str) -> Option<usize> {
            self.calls
                .borrow()
                .iter()
                .position(|c| c.starts_with(prefix))
        }

        pub(crate) fn lines(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    fn s(c: &CStr) -> String {
        c.to_string_lossy().into_owned()
    }

    impl Os for Recorder {
        fn mount(
            &self,
            source: Option<&CStr>,
            target: &CStr,
            fstype: Option<&CStr>,
            flags: u64,
            data: Option<&CStr>,
        ) -> SysResult {
            self.record(format!(
                "mount {} {} {} {flags:#x} {}",
                source.map(s).unwrap_or_default(),
                s(target),
                fstype.map(s).unwrap_or_default(),
                data.map(s).unwrap_or_default()
            ))
        }
        fn open_tree(&self, path: &CStr) -> SysResult<i32> {
            self.record(format!("open_tree {}", s(path))).map(|()| 42)
        }
        fn move_mount(&self, tree: i32, target: &CStr) -> SysResult {
            self.record(format!("move_mount {tree} {}", s(target)))
        }
        fn umount(&self, target: &CStr, flags: i32) -> SysResult {
            self.record(format!("umount {} {flags}", s(target)))
        }
        fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult {
            self.record(format!("pivot_root {} {}", s(new_root), s(put_old)))
        }
        fn mkdir(&self, path: &CStr, mode: u32) -> SysResult {
            self.record(format!("mkdir {} {mode:o}", s(path)))
        }
        fn write_file(&self, path: &CStr, contents: &[u8], mode: u32) -> SysResult {
            self.record(format!(
                "write_file {} {mode:o} {}",
                s(path),
                String::from_utf8_lossy(contents)
            ))
        }
        fn symlink(&self, target: &CStr, link: &CStr) -> SysResult {
            self.record(format!("symlink {} {}", s(target), s(link)))
        }
        fn chdir(&self, path: &CStr) -> SysResult {
            self.record(format!("chdir {}", s(path)))
        }
        fn sethostname(&self, name: &[u8]) -> SysResult {
            self.record(format!("sethostname {}", String::from_utf8_lossy(name)))
        }
        fn become_user(&self, uid: u32, gid: u32, clear_groups: bool) -> SysResult {
            self.record(format!("become_user {uid} {gid} {clear_groups}"))
        }
        fn setsid(&self) -> SysResult {
            self.record("setsid".into())
        }
        fn set_rlimit(&self, resource: u32, limit: u64) -> SysResult {
            self.record(format!("set_rlimit {resource} {limit}"))
        }
        fn set_no_new_privs(&self) -> SysResult {
            self.record("set_no_new_privs".into())
        }
        fn drop_capabilities(&self) -> SysResult {
            self.record("drop_capabilities".into())
        }
        fn landlock_abi_version(&self) -> Option<u32> {
            Some(7)
        }
        fn landlock_create_ruleset(&self, attr: &RulesetAttr) -> SysResult<i32> {
            self.record(format!(
                "landlock_create_ruleset fs={:#x} net={:#x} scoped={:#x}",
                attr.handled_access_fs, attr.handled_access_net, attr.scoped
            ))
            .map(|()| 99)
        }
        fn landlock_allow(&self, ruleset: i32, path: &CStr, allowed: u64) -> SysResult {
            self.record(format!("landlock_allow {ruleset} {} {allowed:#x}", s(path)))
        }
        fn landlock_restrict_self(&self, ruleset: i32) -> SysResult {
            self.record(format!("landlock_restrict_self {ruleset}"))
        }
        fn install_seccomp(&self, program: &[SockFilter]) -> SysResult {
            self.record(format!("install_seccomp {}", program.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_landlock_every_landlock_call_fails_with_enosys() {
        let os = Linux::without_landlock();
        assert_eq!(os.landlock_abi_version(), None);
        let attr = RulesetAttr::default();
        assert_eq!(os.landlock_create_ruleset(&attr), Err(Errno(libc::ENOSYS)));
        assert_eq!(os.landlock_allow(-1, c"/", 0), Err(Errno(libc::ENOSYS)));
        assert_eq!(os.landlock_restrict_self(-1), Err(Errno(libc::ENOSYS)));
    }
}
