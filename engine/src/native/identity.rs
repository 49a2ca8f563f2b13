//! Who the native guest is on the host: never root.
//!
//! - **Engine not root** (rootless): uid and gid 0 of the guest's user namespace map to the
//!   engine's own ids, which are unprivileged already.
//! - **Engine root**: the guest's root maps to a **sandbox id** of its own, the same number as uid
//!   and gid, from SoulBox's range [`SANDBOX_ID_FIRST`] ..= [`SANDBOX_ID_LAST`]
//!   (`0x70000000`-`0x70FFFFFF`, inside the block systemd's UIDS-GIDS.md leaves unused, above
//!   every container range). The id is derived from the workspace directory's identity (device
//!   and inode), so every run in one sandbox - and every CLI run on one `--workspace` - gets the
//!   same id, and two live sandboxes share one with a chance of 1 in 16.7 million. The worker
//!   drops the engine's supplementary groups and takes that id before anything else
//!   ([`super::child::harden`]), so nothing it creates on the host is root's.
//!
//! The guest must still be able to change its workspace, where the host's file API, wasm runs
//! (both the engine's own user) and earlier runs leave files. So before each run of a root engine,
//! [`hand_over`] gives the workspace's directories, regular files and symlinks to the sandbox id;
//! after each run, [`strip_set_id_bits`] removes setuid and setgid bits from the regular files the
//! guest owns, so nothing it leaves is an executable that raises privileges, whoever runs it.
//!
//! Both walk the workspace as hostile territory: descriptor-relative, one name at a time, never
//! following a link and never leaving the workspace's filesystem. A name is glanced at with
//! `fstatat(AT_SYMLINK_NOFOLLOW)`; one that needs a change (and every directory) is opened
//! `O_PATH | O_NOFOLLOW`, and the decision is taken again on that descriptor's own status and
//! the change made through it - whatever a concurrent rename put under the name meanwhile.
//! A regular file or symlink with more than one link is left alone - its other name may lie
//! outside the workspace (`--workspace` is a host directory the caller filled) - and so is
//! everything deeper than [`MAX_DEPTH`] levels; the guest then cannot change those.

// Audited for the wall rule (scripts/wall-audited.txt): only the engine's own /proc/self (the workspace walk itself goes through openat with O_NOFOLLOW).
#![allow(clippy::disallowed_methods)]

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// The first id of SoulBox's sandbox ids.
pub(crate) const SANDBOX_ID_FIRST: u32 = 0x7000_0000;
/// How many sandbox ids there are.
const SANDBOX_ID_COUNT: u32 = 1 << 24;
/// The last sandbox id.
pub(crate) const SANDBOX_ID_LAST: u32 = SANDBOX_ID_FIRST + (SANDBOX_ID_COUNT - 1);

/// How deep the walks go below the workspace root.
pub(crate) const MAX_DEPTH: usize = 128;

/// What the guest's root is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestIds {
    /// The sandbox's own id (uid = gid), given out by a root engine.
    Sandbox(u32),
    /// The engine's own effective uid and gid.
    Engine { uid: u32, gid: u32 },
}

impl GuestIds {
    /// The ids for a run in the workspace open at `workspace`: the sandbox id when the engine can
    /// give one out, its own ids otherwise.
    pub(crate) fn for_run(assign_sandbox_ids: bool, workspace: BorrowedFd<'_>) -> io::Result<Self> {
        if assign_sandbox_ids {
            return sandbox_id(workspace).map(GuestIds::Sandbox);
        }
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(GuestIds::Engine { uid, gid })
    }

    /// The host uid the guest's files get.
    pub(crate) fn host_uid(self) -> u32 {
        match self {
            GuestIds::Sandbox(id) => id,
            GuestIds::Engine { uid, .. } => uid,
        }
    }

    /// The host gid the guest's files get.
    pub(crate) fn host_gid(self) -> u32 {
        match self {
            GuestIds::Sandbox(id) => id,
            GuestIds::Engine { gid, .. } => gid,
        }
    }
}

/// The sandbox id of the workspace open at `workspace`.
fn sandbox_id(workspace: BorrowedFd<'_>) -> io::Result<u32> {
    let stat = fstat(workspace)?;
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&stat.st_dev.to_le_bytes());
    key[8..].copy_from_slice(&stat.st_ino.to_le_bytes());
    let hash = xxhash_rust::xxh3::xxh3_64(&key);
    Ok(SANDBOX_ID_FIRST + (hash % u64::from(SANDBOX_ID_COUNT)) as u32)
}

/// Whether this engine can give guests sandbox ids: it is root with the capabilities to map,
/// become and hand files to another id, and the whole range is mapped in its user namespace.
pub(crate) fn can_assign_sandbox_ids() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return false;
    }
    const NEEDED: [u32; 5] = [
        0, // CAP_CHOWN: hand the workspace over
        2, // CAP_DAC_READ_SEARCH: walk it, whatever its modes
        3, // CAP_FOWNER: strip set-id bits from the guest's files
        6, // CAP_SETGID
        7, // CAP_SETUID: write the id maps
    ];
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let range_mapped = |file: &str| {
        std::fs::read_to_string(file)
            .is_ok_and(|map| maps_whole_range(&map, SANDBOX_ID_FIRST, SANDBOX_ID_COUNT))
    };
    NEEDED.iter().all(|cap| effective & (1 << cap) != 0)
        && range_mapped("/proc/self/uid_map")
        && range_mapped("/proc/self/gid_map")
}

/// Whether the engine's effective uid is the root of the user namespace above its own (the host,
/// unless the engine itself runs in a user namespace).
pub(crate) fn engine_is_host_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => outside_id(&map, euid) == Some(0),
        // No /proc to tell: assume the worst.
        Err(_) => euid == 0,
    }
}

/// `id` of this namespace as the namespace above sees it, from a `uid_map`/`gid_map` text.
fn outside_id(map: &str, id: u32) -> Option<u32> {
    map_lines(map).find_map(|(inside, outside, count)| {
        let offset = id.checked_sub(inside)?;
        (u64::from(offset) < count).then(|| outside.wrapping_add(offset))
    })
}

/// Whether one line of the map covers `first .. first + count` of this namespace.
fn maps_whole_range(map: &str, first: u32, count: u32) -> bool {
    map_lines(map).any(|(inside, _, n)| {
        inside <= first && u64::from(first) + u64::from(count) <= u64::from(inside) + n
    })
}

fn map_lines(map: &str) -> impl Iterator<Item = (u32, u32, u64)> + '_ {
    map.lines().filter_map(|line| {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let inside = u32::try_from(fields.next()?.ok()?).ok()?;
        let outside = u32::try_from(fields.next()?.ok()?).ok()?;
        let count = fields.next()?.ok()?;
        Some((inside, outside, count))
    })
}

/// Gives the workspace (its root included) to `ids`: directories, and regular files and symlinks
/// with a single link, that are not already theirs.
pub(crate) fn hand_over(workspace: BorrowedFd<'_>, ids: GuestIds) -> io::Result<()> {
    let (uid, gid) = (ids.host_uid(), ids.host_gid());
    let needs = |stat: &libc::stat| {
        let kind = stat.st_mode & libc::S_IFMT;
        let ours = stat.st_uid == uid && stat.st_gid == gid;
        let eligible = kind == libc::S_IFDIR
            || ((kind == libc::S_IFREG || kind == libc::S_IFLNK) && stat.st_nlink == 1);
        eligible && !ours
    };
    walk(workspace, &needs, &mut |entry, _| {
        // SAFETY: `entry` is an open descriptor; with AT_EMPTY_PATH and an empty path fchownat
        // changes exactly that inode (a symlink itself, for an O_PATH|O_NOFOLLOW descriptor).
        let ret = unsafe {
            libc::fchownat(
                entry.as_raw_fd(),
                c"".as_ptr(),
                uid,
                gid,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })
}

/// Removes the setuid bit, and the setgid bit where it would take effect (group-executable), from
/// the workspace's regular files owned by `uid`.
pub(crate) fn strip_set_id_bits(workspace: BorrowedFd<'_>, uid: u32) -> io::Result<()> {
    let needs = |stat: &libc::stat| {
        let mode = stat.st_mode;
        let set_id =
            mode & libc::S_ISUID != 0 || (mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0);
        mode & libc::S_IFMT == libc::S_IFREG && stat.st_uid == uid && set_id
    };
    walk(workspace, &needs, &mut |entry, stat| {
        // The descriptor is O_PATH (fchmod refuses it); its /proc link names exactly its inode.
        let link = CString::new(format!("/proc/self/fd/{}", entry.as_raw_fd()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let kept = stat.st_mode & 0o1777;
        // SAFETY: `link` is NUL-terminated; chmod follows the magic link to the entry's inode.
        if unsafe { libc::chmod(link.as_ptr(), kept) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })
}

type Needs<'a> = dyn Fn(&libc::stat) -> bool + 'a;
type Act<'a> = dyn FnMut(BorrowedFd<'_>, &libc::stat) -> io::Result<()> + 'a;

/// Calls `act` for the workspace root and every entry below it on the same filesystem (depth
/// first, up to [`MAX_DEPTH`] levels) whose status `needs` picks, with an `O_PATH | O_NOFOLLOW`
/// descriptor and that descriptor's own status: a name is only looked at with `fstatat` to decide,
/// and the decision is taken again on what the descriptor holds. Entries that vanish meanwhile,
/// and directories this process may not read, are skipped.
fn walk(workspace: BorrowedFd<'_>, needs: &Needs<'_>, act: &mut Act<'_>) -> io::Result<()> {
    let root = open_at(workspace, c".", libc::O_PATH)?;
    let stat = fstat(root.as_fd())?;
    if needs(&stat) {
        act(root.as_fd(), &stat)?;
    }
    walk_below(root.as_fd(), stat.st_dev, 1, needs, act)
}

fn walk_below(
    dir: BorrowedFd<'_>,
    device: libc::dev_t,
    depth: usize,
    needs: &Needs<'_>,
    act: &mut Act<'_>,
) -> io::Result<()> {
    let listing = match open_at(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if skippable(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    let names: Vec<CString> = cap_std::fs::Dir::from_std_file(std::fs::File::from(listing))
        .entries()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| CString::new(OsStr::as_bytes(&entry.file_name())).ok())
        .collect();
    let is_dir = |stat: &libc::stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR;
    for name in names {
        let glance = match stat_at(dir, &name) {
            Ok(stat) => stat,
            Err(e) if skippable(&e) => continue,
            Err(e) => return Err(e),
        };
        // Another filesystem mounted inside is none of this walk's business: the guest does not
        // see it (the workspace is bound without its submounts).
        if glance.st_dev != device || !(is_dir(&glance) || needs(&glance)) {
            continue;
        }
        let entry = match open_at(dir, &name, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if skippable(&e) => continue,
            Err(e) => return Err(e),
        };
        let stat = fstat(entry.as_fd())?;
        if stat.st_dev != device {
            continue;
        }
        if needs(&stat) {
            act(entry.as_fd(), &stat)?;
        }
        if is_dir(&stat) && depth < MAX_DEPTH {
            walk_below(entry.as_fd(), device, depth + 1, needs, act)?;
        }
    }
    Ok(())
}

fn skippable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EACCES))
}

fn open_at(dir: BorrowedFd<'_>, name: &std::ffi::CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and has no `/` (a directory entry's name, or "."); the
    // descriptor returned is fresh and owned by nothing else.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The status of `name` in `dir`, not following a symlink.
fn stat_at(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `stat` is writable for one struct stat.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded, so `stat` is initialised.
    Ok(unsafe { stat.assume_init() })
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is writable for one struct stat.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so `stat` is initialised.
    Ok(unsafe { stat.assume_init() })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn open(path: &std::path::Path) -> OwnedFd {
        OwnedFd::from(std::fs::File::open(path).unwrap())
    }

    #[test]
    fn maps_are_read_as_the_kernel_writes_them() {
        let host = "         0          0 4294967295\n";
        assert_eq!(outside_id(host, 0), Some(0));
        assert!(maps_whole_range(host, SANDBOX_ID_FIRST, SANDBOX_ID_COUNT));
        let container = "         0     100000      65536\n";
        assert_eq!(outside_id(container, 0), Some(100000));
        assert_eq!(outside_id(container, 70000), None);
        assert!(!maps_whole_range(
            container,
            SANDBOX_ID_FIRST,
            SANDBOX_ID_COUNT
        ));
        let sandbox = "0 1879048199 1\n";
        assert_eq!(outside_id(sandbox, 0), Some(1879048199));
    }

    #[test]
    fn a_sandbox_id_is_in_the_range_and_stable_for_one_directory() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = sandbox_id(open(a.path()).as_fd()).unwrap();
        assert!(
            (SANDBOX_ID_FIRST..=SANDBOX_ID_LAST).contains(&id),
            "{id:#x}"
        );
        assert_eq!(sandbox_id(open(a.path()).as_fd()).unwrap(), id);
        assert_ne!(sandbox_id(open(b.path()).as_fd()).unwrap(), id);
        assert_eq!(SANDBOX_ID_LAST, 0x70FF_FFFF);
    }

    #[test]
    fn the_workspace_is_handed_over_without_following_links_or_touching_shared_files() {
        if !is_root() {
            eprintln!("skipped: handing files to another id needs root");
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::write(&target, "host").unwrap();
        let ws = tempfile::tempdir().unwrap();
        let w = ws.path();
        std::fs::create_dir_all(w.join("d/e")).unwrap();
        std::fs::write(w.join("d/e/f"), "x").unwrap();
        std::os::unix::fs::symlink(&target, w.join("link")).unwrap();
        std::fs::hard_link(&target, w.join("hard")).unwrap();
        let id = SANDBOX_ID_FIRST + 7;
        hand_over(open(w).as_fd(), GuestIds::Sandbox(id)).unwrap();
        for path in ["", "d", "d/e", "d/e/f", "link"] {
            let meta = std::fs::symlink_metadata(w.join(path)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (id, id), "{path}");
        }
        // Neither the link's target nor a file with a second name elsewhere changed hands.
        assert_eq!(std::fs::metadata(&target).unwrap().uid(), 0);
        assert_eq!(std::fs::symlink_metadata(w.join("hard")).unwrap().uid(), 0);
    }

    #[test]
    fn set_id_bits_are_stripped_from_the_guests_files_only() {
        let ws = tempfile::tempdir().unwrap();
        let w = ws.path();
        std::fs::create_dir(w.join("d")).unwrap();
        for (name, mode) in [("d/suid", 0o4755), ("sgid", 0o2755), ("plain-sgid", 0o2644)] {
            std::fs::write(w.join(name), "x").unwrap();
            std::fs::set_permissions(w.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        strip_set_id_bits(open(w).as_fd(), me + 1).unwrap();
        let mode = |name: &str| std::fs::metadata(w.join(name)).unwrap().mode() & 0o7777;
        assert_eq!(mode("d/suid"), 0o4755, "not the guest's: left alone");
        strip_set_id_bits(open(w).as_fd(), me).unwrap();
        assert_eq!(mode("d/suid"), 0o755);
        assert_eq!(mode("sgid"), 0o755);
        // Setgid without group execute raises nothing (it marks mandatory locking): kept.
        assert_eq!(mode("plain-sgid"), 0o2644);
    }

    #[test]
    fn the_walk_stops_at_its_depth_limit() {
        let ws = tempfile::tempdir().unwrap();
        let mut deep = ws.path().to_path_buf();
        for _ in 0..MAX_DEPTH + 2 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let mut visits = 0;
        walk(open(ws.path()).as_fd(), &|_| true, &mut |_, _| {
            visits += 1;
            Ok(())
        })
        .unwrap();
        // The root and MAX_DEPTH levels below it.
        assert_eq!(visits, MAX_DEPTH + 1);
    }
}
