//! The guest's filesystem: a minimal root built from scratch inside the new mount namespace and
//! entered with `pivot_root`, so nothing of the host is reachable that was not put there:
//!
//! ```text
//! /                tmpfs, remounted read-only at the end
//! /usr /bin /lib*  the host's, bind-mounted read-only (symlinks kept as symlinks on merged-/usr hosts)
//! /etc             generated passwd, group, hostname + a few host files read-only (ld.so.cache, ...)
//! /dev             null zero full random urandom (bound from the host), fd/stdin/stdout/stderr links
//! /proc            a new procfs of the sandbox's pid namespace, `hidepid=invisible`; /proc/sys and
//!                  the other kernel knobs read-only, /proc/kcore and other kernel state masked
//! /tmp             private tmpfs, sized to the memory limit (its pages are charged to the sandbox)
//! /work            the sandbox workspace, read-write
//! /run/soulbox     the program (script or executable), written into the root tmpfs, read-only
//! ```
//!
//! [`RootfsPlan::new`] decides the steps on the host; [`RootfsPlan::apply`] runs them in the child
//! through [`Os`].

// Audited for the wall rule (scripts/wall-audited.txt): only the host's own system directories that make the guest's read-only root.
#![allow(clippy::disallowed_methods)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::landlock::{Access, Rule};
use super::os::{Errno, Os};

/// Where the guest finds its program directory.
pub(crate) const GUEST_PROGRAM_DIR: &str = "/run/soulbox";

/// The host's system directories offered to the guest, when present.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Host files and directories of `/etc` that programs need to start (dynamic linker cache,
/// alternatives links, name service switch, time zone).
const ETC_ENTRIES: &[&str] = &[
    "ld.so.cache",
    "alternatives",
    "nsswitch.conf",
    "localtime",
    "hosts",
];
/// `/etc` entries offered only when the network is on.
const ETC_NETWORK_ENTRIES: &[&str] = &["resolv.conf", "ssl", "ca-certificates"];
/// Devices bound from the host.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];
/// Symlinks of `/dev`.
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("shm", "/tmp"),
];

/// Parts of `/proc` that reach the whole kernel rather than the sandbox: bound read-only over
/// themselves, as container runtimes do (runc's `readonlyPaths`). `/proc/sys` is the one that
/// matters most (`kernel/core_pattern` runs a program as the host's root).
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];
/// Files of `/proc` that show kernel memory or host-wide state: `/dev/null` is bound over them
/// (runc's `maskedPaths`).
const PROC_MASKED_FILES: &[&str] = &[
    "kcore",
    "keys",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "latency_stats",
    "interrupts",
];
/// Directories of `/proc` hidden under an empty read-only tmpfs.
const PROC_MASKED_DIRS: &[&str] = &["acpi", "asound", "scsi"];
/// procfs mount options, best first: `invisible` (Linux 5.8) hides the processes the guest may
/// not trace - init, which is not dumpable and not the guest's user; `2` is the older spelling.
const PROC_OPTIONS: &[&std::ffi::CStr] = &[c"hidepid=invisible", c"hidepid=2"];

const PASSWD: &[u8] =
    b"root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &[u8] = b"root:x:0:\nnogroup:x:65534:\n";
/// The guest's host name (it has its own UTS namespace).
pub(crate) const HOSTNAME: &[u8] = b"soulbox";

const BASE_FLAGS: MountFlags = libc::MS_NOSUID | libc::MS_NODEV;

/// `mount(2)` flags.
pub(crate) type MountFlags = libc::c_ulong;

/// What the host has at a path, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Dir { locked: MountFlags },
    File { locked: MountFlags },
    Symlink(PathBuf),
}

/// Read access to the host's filesystem for planning; faked in tests.
pub(crate) trait HostView {
    /// What is at `path` (`None`: nothing usable). `locked` holds the mount flags of the mount
    /// it sits on that a user namespace may not clear (`MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`,
    /// atime flags): a read-only remount must repeat them.
    fn entry(&self, path: &Path) -> Option<Entry>;
}

/// The host as it is.
pub(crate) struct RealHost;

impl HostView for RealHost {
    fn entry(&self, path: &Path) -> Option<Entry> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            return std::fs::read_link(path).ok().map(Entry::Symlink);
        }
        let locked = locked_flags(path)?;
        if meta.is_dir() {
            Some(Entry::Dir { locked })
        } else {
            Some(Entry::File { locked })
        }
    }
}

/// The mount flags of the mount holding `path` that must be kept on a remount.
fn locked_flags(path: &Path) -> Option<MountFlags> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is NUL-terminated and `stat` is writable for one statvfs.
    if unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so `stat` is initialised.
    let flags = unsafe { stat.assume_init() }.f_flag;
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    Some(
        pairs
            .iter()
            .filter(|(st, _)| flags & *st != 0)
            .fold(0, |acc, (_, ms)| acc | *ms),
    )
}

/// One step of building the root.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Stop mount events propagating between the host and the sandbox, both ways.
    MakeMountsPrivate,
    Tmpfs {
        target: CString,
        options: CString,
        flags: MountFlags,
    },
    Mkdir(CString),
    WriteFile {
        path: CString,
        contents: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// A bind mount; `remount` re-applies flags (read-only, nosuid...) with the locked ones kept.
    Bind {
        source: Source,
        target: CString,
        remount: Option<MountFlags>,
    },
    /// A new procfs (`hidepid`; the first option of [`PROC_OPTIONS`] the kernel takes).
    Proc(CString),
    /// Binds a path of the new `/proc` read-only over itself; nothing to do if it is absent.
    ProcReadOnly(CString),
    /// Hides a path of the new `/proc`: `/dev/null` bound over a file, an empty read-only tmpfs
    /// over a directory; nothing to do if it is absent.
    ProcMask {
        target: CString,
        is_dir: bool,
    },
    /// Makes `new_root` the root and detaches the old one.
    PivotRoot(CString),
    /// The root tmpfs becomes read-only once everything is mounted on it.
    RootReadOnly,
}

/// Where a bind mount comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A host path, looked up when the mount is made (by then with the guest's ids).
    Host(CString),
    /// The workspace, detached ([`RootfsPlan::detach_workspace`]) while init still had the
    /// engine's ids, so that no directory above it needs to let the guest's id through.
    Workspace,
}

/// What goes into the guest's root besides the system directories.
#[derive(Debug, Clone)]
pub(crate) struct RootfsInputs<'a> {
    /// Host directory the new root is mounted on (an empty directory of this run).
    pub staging: &'a Path,
    pub workspace: &'a Path,
    /// The program, written into the root (not bound from a host directory, whose path the
    /// guest would read in `/proc/self/mountinfo`).
    pub program: ProgramFile<'a>,
    pub network: bool,
    /// Size of `/tmp`.
    pub tmp_bytes: u64,
    /// Owner of `/tmp` (the guest's uid and gid as init's namespace numbers them), if not init's.
    pub tmp_owner: Option<(u32, u32)>,
}

/// The program file placed at [`GUEST_PROGRAM_DIR`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProgramFile<'a> {
    pub name: &'a str,
    pub code: &'a [u8],
    pub executable: bool,
}

/// Room in the root tmpfs besides the program: generated `/etc` files and mount points.
const ROOT_TMPFS_BYTES: usize = 4 << 20;

/// The steps that build the guest's root, in order.
#[derive(Debug, Clone)]
pub(crate) struct RootfsPlan {
    steps: Vec<Step>,
    /// The workspace's host path, if it is there to be mounted.
    workspace: Option<CString>,
    /// Landlock rules matching the layout (guest paths).
    pub(crate) landlock_rules: Vec<Rule>,
}

fn c(path: impl AsRef<Path>) -> CString {
    // Paths come from the host's own directory listing or from SoulBox's constants: a NUL inside
    // one is impossible, and an empty string is the safe fallback (the mount then fails loudly).
    CString::new(path.as_ref().as_os_str().as_bytes()).unwrap_or_default()
}

struct Builder<'a> {
    staging: &'a Path,
    steps: Vec<Step>,
    rules: Vec<Rule>,
}

impl Builder<'_> {
    fn inside(&self, guest: &str) -> PathBuf {
        self.staging.join(guest.trim_start_matches('/'))
    }

    fn mkdir(&mut self, guest: &str) {
        let path = self.inside(guest);
        self.steps.push(Step::Mkdir(c(path)));
    }

    fn allow(&mut self, guest: &str, access: Access, is_dir: bool) {
        self.rules.push(Rule {
            path: c(guest),
            access,
            is_dir,
        });
    }

    /// Binds `source` at `guest`, creating the mount point.
    fn bind(&mut self, source: Source, guest: &str, entry: &Entry, kind: BindKind) {
        let (is_dir, locked) = match entry {
            Entry::Dir { locked } => (true, *locked),
            Entry::File { locked } => (false, *locked),
            Entry::Symlink(_) => return,
        };
        let target = self.inside(guest);
        self.steps.push(if is_dir {
            Step::Mkdir(c(&target))
        } else {
            Step::WriteFile {
                path: c(&target),
                contents: Vec::new(),
                mode: 0o644,
            }
        });
        let remount = match kind {
            BindKind::ReadOnly => Some(BASE_FLAGS | libc::MS_RDONLY | locked),
            BindKind::Writable => Some(BASE_FLAGS | locked),
            // A device node needs a mount without `nodev`: keep the host's flags as they are.
            BindKind::Device => None,
        };
        self.steps.push(Step::Bind {
            source,
            target: c(&target),
            remount,
        });
    }
}

/// How a bind mount is offered to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindKind {
    ReadOnly,
    Writable,
    Device,
}

impl RootfsPlan {
    /// Plans the root for `inputs`, looking at the host through `host`.
    pub(crate) fn new(inputs: &RootfsInputs<'_>, host: &dyn HostView) -> Self {
        let mut b = Builder {
            staging: inputs.staging,
            steps: vec![
                Step::MakeMountsPrivate,
                Step::Tmpfs {
                    target: c(inputs.staging),
                    options: c(format!(
                        "size={},mode=0755",
                        ROOT_TMPFS_BYTES + inputs.program.code.len()
                    )),
                    flags: BASE_FLAGS,
                },
            ],
            rules: Vec::new(),
        };
        // Everything in this root is there to be seen; writes and execution are granted below.
        b.allow("/", Access::Read, true);

        for dir in SYSTEM_DIRS {
            match host.entry(Path::new(dir)) {
                Some(Entry::Symlink(points_to)) => {
                    let link = b.inside(dir);
                    b.steps.push(Step::Symlink {
                        target: c(points_to),
                        link: c(link),
                    });
                }
                Some(entry @ Entry::Dir { .. }) => {
                    b.bind(host_path_source(dir), dir, &entry, BindKind::ReadOnly);
                    b.allow(dir, Access::ReadExecute, true);
                }
                Some(Entry::File { .. }) | None => {}
            }
        }

        b.mkdir("/etc");
        for (name, contents) in [("passwd", PASSWD), ("group", GROUP), ("hostname", HOSTNAME)] {
            let path = b.inside("/etc").join(name);
            b.steps.push(Step::WriteFile {
                path: c(path),
                contents: contents.to_vec(),
                mode: 0o644,
            });
        }
        let network_entries = if inputs.network {
            ETC_NETWORK_ENTRIES
        } else {
            &[]
        };
        for name in ETC_ENTRIES.iter().chain(network_entries) {
            let host_path = Path::new("/etc").join(name);
            let guest = format!("/etc/{name}");
            match host.entry(&host_path) {
                Some(Entry::Symlink(points_to)) => {
                    let link = b.inside(&guest);
                    b.steps.push(Step::Symlink {
                        target: c(points_to),
                        link: c(link),
                    });
                }
                Some(entry) => b.bind(
                    host_path_source(&host_path),
                    &guest,
                    &entry,
                    BindKind::ReadOnly,
                ),
                None => {}
            }
        }
        b.allow("/etc", Access::Read, true);

        b.mkdir("/dev");
        for device in DEVICES {
            let host_path = Path::new("/dev").join(device);
            if let Some(entry @ Entry::File { .. }) = host.entry(&host_path) {
                let guest = format!("/dev/{device}");
                b.bind(
                    host_path_source(&host_path),
                    &guest,
                    &entry,
                    BindKind::Device,
                );
                b.allow(&guest, Access::Device, false);
            }
        }
        for (name, points_to) in DEV_LINKS {
            let link = b.inside("/dev").join(name);
            b.steps.push(Step::Symlink {
                target: c(points_to),
                link: c(link),
            });
        }

        b.mkdir("/proc");
        let proc_target = b.inside("/proc");
        b.steps.push(Step::Proc(c(&proc_target)));
        for name in PROC_READ_ONLY {
            b.steps.push(Step::ProcReadOnly(c(proc_target.join(name))));
        }
        for (names, is_dir) in [(PROC_MASKED_FILES, false), (PROC_MASKED_DIRS, true)] {
            for name in names {
                b.steps.push(Step::ProcMask {
                    target: c(proc_target.join(name)),
                    is_dir,
                });
            }
        }
        b.allow("/proc", Access::Read, true);

        b.mkdir("/tmp");
        let tmp_target = b.inside("/tmp");
        let owner = inputs
            .tmp_owner
            .map(|(uid, gid)| format!(",uid={uid},gid={gid}"))
            .unwrap_or_default();
        b.steps.push(Step::Tmpfs {
            target: c(tmp_target),
            options: c(format!(
                "size={},mode=1777{owner}",
                inputs.tmp_bytes.max(1 << 20)
            )),
            flags: BASE_FLAGS,
        });
        b.allow("/tmp", Access::ReadWrite, true);

        let workspace = host.entry(inputs.workspace);
        if let Some(entry @ Entry::Dir { .. }) = &workspace {
            b.bind(
                Source::Workspace,
                crate::GUEST_WORKDIR,
                entry,
                BindKind::Writable,
            );
        }
        b.allow(crate::GUEST_WORKDIR, Access::ReadWrite, true);

        b.mkdir("/run");
        b.mkdir(GUEST_PROGRAM_DIR);
        let program = b.inside(GUEST_PROGRAM_DIR).join(inputs.program.name);
        b.steps.push(Step::WriteFile {
            path: c(program),
            contents: inputs.program.code.to_vec(),
            mode: if inputs.program.executable {
                0o755
            } else {
                0o644
            },
        });
        b.allow(GUEST_PROGRAM_DIR, Access::ReadExecute, true);

        b.steps.push(Step::PivotRoot(c(inputs.staging)));
        b.steps.push(Step::RootReadOnly);
        Self {
            steps: b.steps,
            workspace: matches!(workspace, Some(Entry::Dir { .. })).then(|| c(inputs.workspace)),
            landlock_rules: b.rules,
        }
    }

    /// Detaches a copy of the workspace's mount (in the child, before it takes the guest's ids);
    /// `apply` attaches it. `None`: the plan has no workspace.
    pub(crate) fn detach_workspace(&self, os: &dyn Os) -> Result<Option<i32>, Errno> {
        self.workspace
            .as_deref()
            .map(|path| os.open_tree(path))
            .transpose()
    }

    /// The workspace's host path, for error messages.
    pub(crate) fn workspace_path(&self) -> String {
        self.workspace
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Runs the steps in the child, `workspace` being the detached workspace mount. On failure:
    /// the index of the failed step and its errno.
    pub(crate) fn apply(&self, os: &dyn Os, workspace: Option<i32>) -> Result<(), (usize, Errno)> {
        for (index, step) in self.steps.iter().enumerate() {
            apply_step(step, os, workspace).map_err(|e| (index, e))?;
        }
        Ok(())
    }

    /// What step `index` does, for error messages.
    pub(crate) fn describe(&self, index: usize) -> String {
        let Some(step) = self.steps.get(index) else {
            return "building the sandbox root".into();
        };
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match step {
            Step::MakeMountsPrivate => "making the sandbox's mounts private".into(),
            Step::Tmpfs { target, .. } => format!("mounting a tmpfs at {}", s(target)),
            Step::Mkdir(path) => format!("creating {}", s(path)),
            Step::WriteFile { path, .. } => format!("writing {}", s(path)),
            Step::Symlink { link, .. } => format!("creating the symlink {}", s(link)),
            Step::Bind {
                source: Source::Host(source),
                target,
                ..
            } => format!("bind-mounting {} at {}", s(source), s(target)),
            Step::Bind {
                source: Source::Workspace,
                target,
                ..
            } => format!(
                "mounting the workspace {} at {}",
                self.workspace_path(),
                s(target)
            ),
            Step::Proc(target) => format!("mounting /proc at {}", s(target)),
            Step::ProcReadOnly(target) => format!("making {} read-only", s(target)),
            Step::ProcMask { target, .. } => format!("masking {}", s(target)),
            Step::PivotRoot(root) => format!("entering the sandbox root {} (pivot_root)", s(root)),
            Step::RootReadOnly => "making the sandbox root read-only".into(),
        }
    }
}

/// Mount flags of `/proc` and what is mounted over parts of it.
const PROC_FLAGS: MountFlags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// A path this kernel's procfs does not have needs no protection.
fn unless_absent(result: Result<(), Errno>) -> Result<(), Errno> {
    match result {
        Err(Errno(libc::ENOENT)) => Ok(()),
        other => other,
    }
}

fn host_path_source(path: impl AsRef<Path>) -> Source {
    Source::Host(c(path))
}

fn apply_step(step: &Step, os: &dyn Os, workspace: Option<i32>) -> Result<(), Errno> {
    const DOT: &std::ffi::CStr = c".";
    const SLASH: &std::ffi::CStr = c"/";
    match step {
        Step::MakeMountsPrivate => {
            os.mount(None, SLASH, None, libc::MS_REC | libc::MS_PRIVATE, None)
        }
        Step::Tmpfs {
            target,
            options,
            flags,
        } => os.mount(
            Some(c"tmpfs"),
            target,
            Some(c"tmpfs"),
            *flags,
            Some(options),
        ),
        Step::Mkdir(path) => os.mkdir(path, 0o755),
        Step::WriteFile {
            path,
            contents,
            mode,
        } => os.write_file(path, contents, *mode),
        Step::Symlink { target, link } => os.symlink(target, link),
        Step::Bind {
            source,
            target,
            remount,
        } => {
            match source {
                Source::Host(path) => os.mount(Some(path), target, None, libc::MS_BIND, None)?,
                Source::Workspace => os.move_mount(workspace.ok_or(Errno(libc::EBADF))?, target)?,
            }
            match remount {
                Some(flags) => os.mount(
                    None,
                    target,
                    None,
                    libc::MS_REMOUNT | libc::MS_BIND | flags,
                    None,
                ),
                None => Ok(()),
            }
        }
        Step::Proc(target) => {
            let mut result = Err(Errno(libc::EINVAL));
            for options in PROC_OPTIONS {
                result = os.mount(
                    Some(c"proc"),
                    target,
                    Some(c"proc"),
                    PROC_FLAGS,
                    Some(options),
                );
                if result != Err(Errno(libc::EINVAL)) {
                    break;
                }
            }
            result
        }
        Step::ProcReadOnly(target) => unless_absent(
            os.mount(
                Some(target),
                target,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .and_then(|()| {
                os.mount(
                    None,
                    target,
                    None,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | PROC_FLAGS,
                    None,
                )
            }),
        ),
        Step::ProcMask {
            target,
            is_dir: false,
        } => unless_absent(os.mount(Some(c"/dev/null"), target, None, libc::MS_BIND, None)),
        Step::ProcMask {
            target,
            is_dir: true,
        } => unless_absent(os.mount(
            Some(c"tmpfs"),
            target,
            Some(c"tmpfs"),
            libc::MS_RDONLY | PROC_FLAGS,
            Some(c"size=4k,mode=0555"),
        )),
        Step::PivotRoot(new_root) => {
            // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
            // removes it without needing a directory for it.
            os.chdir(new_root)?;
            os.pivot_root(DOT, DOT)?;
            os.umount(DOT, libc::MNT_DETACH)?;
            os.chdir(SLASH)
        }
        Step::RootReadOnly => os.mount(
            None,
            SLASH,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | BASE_FLAGS,
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::native::os::recorder::Recorder;

    /// A merged-/usr host: /bin, /lib, /lib64, /sbin are symlinks into /usr.
    struct FakeHost(HashMap<PathBuf, Entry>);

    impl FakeHost {
        fn debian() -> Self {
            let mut map = HashMap::new();
            let dir = Entry::Dir {
                locked: libc::MS_RELATIME,
            };
            let file = Entry::File {
                locked: libc::MS_NOSUID,
            };
            map.insert("/usr".into(), dir.clone());
            for (link, to) in [
                ("/bin", "usr/bin"),
                ("/lib", "usr/lib"),
                ("/lib64", "usr/lib64"),
                ("/sbin", "usr/sbin"),
            ] {
                map.insert(link.into(), Entry::Symlink(to.into()));
            }
            map.insert("/etc/ld.so.cache".into(), file.clone());
            map.insert("/etc/alternatives".into(), dir.clone());
            map.insert("/etc/resolv.conf".into(), file.clone());
            map.insert(
                "/etc/localtime".into(),
                Entry::Symlink("/usr/share/zoneinfo/Etc/UTC".into()),
            );
            map.insert("/etc/shadow".into(), file.clone());
            map.insert("/dev/null".into(), file.clone());
            map.insert("/dev/urandom".into(), file);
            map.insert("/ws".into(), dir.clone());
            map.insert("/prog".into(), dir);
            Self(map)
        }
    }

    impl HostView for FakeHost {
        fn entry(&self, path: &Path) -> Option<Entry> {
            self.0.get(path).cloned()
        }
    }

    fn plan(network: bool) -> RootfsPlan {
        RootfsPlan::new(
            &RootfsInputs {
                staging: Path::new("/stage"),
                workspace: Path::new("/ws"),
                program: ProgramFile {
                    name: "main.sh",
                    code: b"echo hi",
                    executable: false,
                },
                network,
                tmp_bytes: 64 << 20,
                tmp_owner: Some((0, 0)),
            },
            &FakeHost::debian(),
        )
    }

    fn recorded(network: bool) -> Vec<String> {
        let os = Recorder::default();
        plan(network).apply(&os, Some(42)).unwrap();
        os.lines()
    }

    /// The flags of a recorded `mount` line (`mount SOURCE TARGET FSTYPE FLAGS DATA`).
    fn flags_of(line: &str) -> libc::c_ulong {
        let field = line.split_whitespace().nth(2).unwrap_or_default();
        libc::c_ulong::from_str_radix(field.trim_start_matches("0x"), 16).unwrap()
    }

    fn index(lines: &[String], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no call containing `{needle}` in {lines:#?}"))
    }

    #[test]
    fn mounts_are_made_private_before_anything_is_mounted() {
        let lines = recorded(false);
        assert!(lines[0].starts_with("mount  / "), "{}", lines[0]);
        assert!(lines[1].starts_with("mount tmpfs /stage tmpfs"));
    }

    #[test]
    fn system_dirs_are_read_only_binds_that_keep_locked_flags() {
        let lines = recorded(false);
        let bind = index(&lines, "mount /usr /stage/usr  0x1000");
        let remount = &lines[bind + 1];
        let flags = flags_of(remount);
        assert!(remount.contains("/stage/usr"), "{remount}");
        for required in [
            libc::MS_REMOUNT,
            libc::MS_BIND,
            libc::MS_RDONLY,
            libc::MS_RELATIME,
        ] {
            assert_ne!(flags & required, 0, "flag {required:#x} in {remount}");
        }
        assert!(lines.contains(&"symlink usr/bin /stage/bin".to_string()));
    }

    #[test]
    fn only_listed_etc_files_enter_and_passwd_is_generated() {
        let lines = recorded(false);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("/etc/ld.so.cache /stage/etc/ld.so.cache"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("write_file /stage/etc/passwd"))
        );
        assert!(!lines.iter().any(|l| l.contains("shadow")));
        assert!(!lines.iter().any(|l| l.contains("resolv.conf")));
        let with_network = recorded(true);
        assert!(with_network.iter().any(|l| l.contains("resolv.conf")));
    }

    #[test]
    fn workspace_is_writable_nosuid_nodev_and_the_program_in_the_read_only_root() {
        let lines = recorded(false);
        let work = index(&lines, "move_mount 42 /stage/work");
        assert_eq!(lines[work - 1], "mkdir /stage/work 755");
        let flags = flags_of(&lines[work + 1]);
        assert_eq!(flags & libc::MS_RDONLY, 0);
        assert_eq!(
            flags & (libc::MS_NOSUID | libc::MS_NODEV),
            libc::MS_NOSUID | libc::MS_NODEV
        );
        let program = index(&lines, "write_file /stage/run/soulbox/main.sh 644 echo hi");
        let read_only = lines.len() - 1;
        assert!(program < read_only && lines[read_only].starts_with("mount  / "));
        assert_ne!(flags_of(&lines[read_only]) & libc::MS_RDONLY, 0);
        assert!(
            lines[1].contains(&format!("size={}", ROOT_TMPFS_BYTES + 7)),
            "room for the program: {}",
            lines[1]
        );
    }

    #[test]
    fn proc_is_mounted_before_the_old_root_is_detached_and_root_ends_read_only() {
        let lines = recorded(false);
        let proc = index(&lines, "mount proc /stage/proc proc");
        let pivot = index(&lines, "pivot_root . .");
        let detach = index(&lines, "umount . 2");
        assert!(proc < pivot && pivot < detach);
        assert_eq!(lines[pivot - 1], "chdir /stage");
        let last = lines.last().unwrap();
        assert!(last.starts_with("mount  / "), "{last}");
        let flags = flags_of(last);
        assert_ne!(flags & libc::MS_RDONLY, 0);
    }

    #[test]
    fn proc_hides_other_processes_and_its_kernel_knobs_are_read_only_or_masked() {
        let lines = recorded(false);
        let proc = index(&lines, "mount proc /stage/proc proc");
        assert!(
            lines[proc].ends_with(" hidepid=invisible"),
            "{}",
            lines[proc]
        );
        let pivot = index(&lines, "pivot_root");
        for name in ["sys", "sysrq-trigger", "irq", "bus", "fs"] {
            let target = format!("/stage/proc/{name}");
            let bind = index(&lines, &format!("mount {target} {target}  "));
            let remount = &lines[bind + 1];
            assert!(
                remount.starts_with(&format!("mount  {target} ")),
                "{remount}"
            );
            let flags = flags_of(remount);
            for required in [
                libc::MS_REMOUNT,
                libc::MS_BIND,
                libc::MS_RDONLY,
                libc::MS_NOSUID,
            ] {
                assert_ne!(flags & required, 0, "{required:#x} in {remount}");
            }
            assert!(proc < bind && bind < pivot);
        }
        for name in ["kcore", "keys", "timer_list", "sched_debug"] {
            let mask = index(&lines, &format!("mount /dev/null /stage/proc/{name}  "));
            assert!(proc < mask && mask < pivot);
        }
        let acpi = index(&lines, "mount tmpfs /stage/proc/acpi tmpfs");
        let read_only = format!("tmpfs {:#x} ", libc::MS_RDONLY | PROC_FLAGS);
        assert!(lines[acpi].contains(&read_only), "{}", lines[acpi]);
    }

    #[test]
    fn an_older_kernel_gets_hidepid_2_and_absent_proc_paths_are_skipped() {
        let p = plan(false);
        let os = Recorder {
            fail_on: Some("mount proc /stage/proc proc 0xe hidepid=invisible"),
            fail_errno: Some(libc::EINVAL),
            ..Recorder::default()
        };
        p.apply(&os, Some(42)).unwrap();
        let lines = os.lines();
        let retry = index(&lines, "mount proc /stage/proc proc");
        assert!(
            lines[retry + 1].ends_with(" hidepid=2"),
            "{}",
            lines[retry + 1]
        );

        let os = Recorder {
            fail_on: Some("mount /dev/null /stage/proc/timer_stats"),
            fail_errno: Some(libc::ENOENT),
            ..Recorder::default()
        };
        p.apply(&os, Some(42)).unwrap();
        assert!(os.position("pivot_root").is_some());

        let os = Recorder {
            fail_on: Some("mount /stage/proc/sys "),
            fail_errno: Some(libc::EPERM),
            ..Recorder::default()
        };
        let (index, errno) = p.apply(&os, Some(42)).unwrap_err();
        assert_eq!(errno, Errno(libc::EPERM));
        assert!(p.describe(index).contains("/stage/proc/sys read-only"));
    }

    #[test]
    fn devices_keep_the_hosts_mount_flags_so_they_stay_usable() {
        let lines = recorded(false);
        let bind = index(&lines, "mount /dev/null /stage/dev/null  0x1000");
        assert!(
            !lines[bind + 1].contains("/stage/dev/null"),
            "no nodev remount: {}",
            lines[bind + 1]
        );
    }

    #[test]
    fn tmp_is_sized_to_the_memory_limit() {
        let lines = recorded(false);
        assert!(lines.contains(&format!(
            "mount tmpfs /stage/tmp tmpfs {:#x} size={},mode=1777,uid=0,gid=0",
            BASE_FLAGS,
            64 << 20
        )));
    }

    #[test]
    fn the_workspace_is_detached_by_path_and_attached_from_its_descriptor() {
        let p = plan(false);
        let os = Recorder::default();
        assert_eq!(p.detach_workspace(&os), Ok(Some(42)));
        assert_eq!(os.lines(), ["open_tree /ws"]);
        let (index, errno) = p.apply(&Recorder::default(), None).unwrap_err();
        assert_eq!(errno, Errno(libc::EBADF));
        assert_eq!(
            p.describe(index),
            "mounting the workspace /ws at /stage/work"
        );
    }

    #[test]
    fn a_failed_step_is_named() {
        let p = plan(false);
        let os = Recorder {
            fail_on: Some("pivot_root"),
            ..Recorder::default()
        };
        let (index, errno) = p.apply(&os, Some(42)).unwrap_err();
        assert_eq!(errno, Errno(libc::EPERM));
        assert!(p.describe(index).contains("pivot_root"));
    }

    #[test]
    fn landlock_rules_cover_the_layout() {
        let p = plan(false);
        let paths: Vec<String> = p
            .landlock_rules
            .iter()
            .map(|r| r.path.to_string_lossy().into_owned())
            .collect();
        for expected in [
            "/usr",
            "/etc",
            "/dev/null",
            "/proc",
            "/tmp",
            "/work",
            "/run/soulbox",
        ] {
            assert!(paths.contains(&expected.to_string()), "{paths:?}");
        }
        assert!(
            !paths.contains(&"/bin".to_string()),
            "symlinks need no rule"
        );
    }
}
