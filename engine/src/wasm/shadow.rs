//! The WASI calls the engine shadows: each wrapper checks what [`disk`](super::disk) (budget)
//! and [`fs_guard`](super::fs_guard) (special files, escaping links, the directory mirror)
//! require, then calls WASI's own implementation - the same function `add_to_linker_async`
//! installs, called with the guest's memory - so within the rules behaviour is exactly WASI's.
//!
//! | call | disk budget | guard |
//! |---|---|---|
//! | `fd_write`, `fd_pwrite` | growth of a regular file | |
//! | `fd_filestat_set_size`, `fd_allocate` | growth | |
//! | `path_open` | an entry with `O_CREAT` | no FIFOs/sockets/devices; mirror opened directories |
//! | `path_create_directory` | an entry | |
//! | `path_symlink` | an entry | target may not leave the root |
//! | `path_link` | an entry | a linked symlink may not leave the root |
//! | `path_rename` | | moved symlinks may not leave the root |
//! | `fd_close`, `fd_renumber` | | follow the directory mirror |

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{self, Errno};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self, WasiSnapshotPreview1 as _};
use wiggle::GuestMemory;

use super::GuestState;
use super::disk::growth;
use super::fs_guard::Target;
use crate::{Result, SoulBoxError};

const MODULE: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = Errno::Success as i32;
/// Over the disk budget.
const NOSPC: i32 = Errno::Nospc as i32;
/// A link that would leave its root.
const PERM: i32 = Errno::Perm as i32;
/// A FIFO, socket or device.
const NOTSUP: i32 = Errno::Notsup as i32;
/// `oflags` bit of `path_open` that creates the file.
const OFLAGS_CREAT: i32 = 1;
/// `lookupflags` bit: follow a final symlink.
const LOOKUP_FOLLOW: i32 = 1;

/// `base` (plain WASI) with the calls in the table above shadowed.
pub(crate) fn linker(base: &Linker<GuestState>) -> Result<Linker<GuestState>> {
    let mut linker = base.clone();
    linker.allow_shadowing(true);
    wrap(&mut linker).map_err(|e| SoulBoxError::Engine(format!("wrapping WASI: {e:#}")))?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// Calls WASI's own implementation of `$name` with the guest's memory.
macro_rules! wasi {
    ($c:ident, $name:ident($($arg:expr),*)) => {{
        let (mut memory, ctx) = guest_memory(&mut $c)?;
        wasi_snapshot_preview1::$name(ctx, &mut memory, $($arg),*).await?
    }};
    (sync $c:ident, $name:ident($($arg:expr),*)) => {{
        let (mut memory, ctx) = guest_memory(&mut $c)?;
        wasi_snapshot_preview1::$name(ctx, &mut memory, $($arg),*)?
    }};
}

fn wrap(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "fd_write",
        |mut c: Caller<'_, GuestState>, (fd, iovs, iovs_len, nwritten): (i32, i32, i32, i32)| {
            Box::new(async move {
                let len = requested(&mut c, iovs, iovs_len);
                let grown = match file_growth(&mut c, fd, None, len).await? {
                    Ok(grown) => grown,
                    Err(errno) => return Ok(errno),
                };
                let errno = wasi!(c, fd_write(fd, iovs, iovs_len, nwritten));
                settle_write(&mut c, grown, errno, nwritten);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_pwrite",
        |mut c: Caller<'_, GuestState>,
         (fd, iovs, iovs_len, offset, nwritten): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                let len = requested(&mut c, iovs, iovs_len);
                let at = Some(offset as u64);
                let grown = match file_growth(&mut c, fd, at, len).await? {
                    Ok(grown) => grown,
                    Err(errno) => return Ok(errno),
                };
                let errno = wasi!(c, fd_pwrite(fd, iovs, iovs_len, offset, nwritten));
                settle_write(&mut c, grown, errno, nwritten);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_filestat_set_size",
        |mut c: Caller<'_, GuestState>, (fd, size): (i32, i64)| {
            Box::new(async move {
                let grown = match resize_growth(&mut c, fd, size as u64).await? {
                    Ok(grown) => grown,
                    Err(errno) => return Ok(errno),
                };
                let errno = wasi!(c, fd_filestat_set_size(fd, size));
                settle_resize(&mut c, grown, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_allocate",
        |mut c: Caller<'_, GuestState>, (fd, offset, len): (i32, i64, i64)| {
            Box::new(async move {
                let end = (offset as u64).saturating_add(len as u64);
                let grown = match resize_growth(&mut c, fd, end).await? {
                    Ok(grown) => grown,
                    Err(errno) => return Ok(errno),
                };
                let errno = wasi!(sync c, fd_allocate(fd, offset, len));
                settle_resize(&mut c, grown, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut c: Caller<'_, GuestState>,
         (
            fd,
            dirflags,
            path,
            path_len,
            oflags,
            rights_base,
            rights_inheriting,
            fdflags,
            opened,
        ): (i32, i32, i32, i32, i32, i64, i64, i32, i32)| {
            Box::new(async move {
                let path_text = read_str(&mut c, path, path_len);
                if let Some(path_text) = &path_text {
                    let follow = dirflags & LOOKUP_FOLLOW != 0;
                    match c.data().dirs.special_file(fd as u32, path_text, follow) {
                        Target::Ordinary => {}
                        Target::Special => return Ok(NOTSUP),
                        // A directory we could not mirror: its files cannot be checked.
                        Target::UnknownDir if is_directory(&mut c, fd).await? => {
                            return Ok(NOTSUP);
                        }
                        Target::UnknownDir => {}
                    }
                }
                let entries = u64::from(oflags & OFLAGS_CREAT != 0);
                if !take_entries(&mut c, entries) {
                    return Ok(NOSPC);
                }
                let errno = wasi!(
                    c,
                    path_open(
                        fd,
                        dirflags,
                        path,
                        path_len,
                        oflags,
                        rights_base,
                        rights_inheriting,
                        fdflags,
                        opened
                    )
                );
                if errno != SUCCESS {
                    c.data_mut().disk.refund(0, entries);
                } else if let Some(new_fd) = read_u32(&mut c, opened) {
                    match path_text {
                        Some(path_text) if is_directory(&mut c, new_fd as i32).await? => {
                            c.data_mut().dirs.opened(fd as u32, &path_text, new_fd);
                        }
                        _ => c.data_mut().dirs.closed(new_fd),
                    }
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_create_directory",
        |mut c: Caller<'_, GuestState>, (fd, path, path_len): (i32, i32, i32)| {
            Box::new(async move {
                if !take_entries(&mut c, 1) {
                    return Ok(NOSPC);
                }
                let errno = wasi!(c, path_create_directory(fd, path, path_len));
                refund_entry_unless(&mut c, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_symlink",
        |mut c: Caller<'_, GuestState>,
         (target, target_len, fd, link, link_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let texts = (
                    read_str(&mut c, target, target_len),
                    read_str(&mut c, link, link_len),
                );
                // Unreadable strings: WASI reads the same memory and fails the same way.
                if let (Some(target), Some(link)) = texts
                    && !c.data().dirs.link_allowed(fd as u32, &link, &target)
                {
                    return Ok(PERM);
                }
                if !take_entries(&mut c, 1) {
                    return Ok(NOSPC);
                }
                let errno = wasi!(c, path_symlink(target, target_len, fd, link, link_len));
                refund_entry_unless(&mut c, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_link",
        |mut c: Caller<'_, GuestState>,
         (from_fd, from_flags, from, from_len, to_fd, to, to_len): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
        )| {
            Box::new(async move {
                let texts = (
                    read_str(&mut c, from, from_len),
                    read_str(&mut c, to, to_len),
                );
                if let (Some(from), Some(to)) = texts {
                    let follow = from_flags & LOOKUP_FOLLOW != 0;
                    let dirs = &c.data().dirs;
                    if !dirs.hard_link_allowed(from_fd as u32, &from, follow, to_fd as u32, &to) {
                        return Ok(PERM);
                    }
                }
                if !take_entries(&mut c, 1) {
                    return Ok(NOSPC);
                }
                let errno = wasi!(
                    c,
                    path_link(from_fd, from_flags, from, from_len, to_fd, to, to_len)
                );
                refund_entry_unless(&mut c, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_rename",
        |mut c: Caller<'_, GuestState>,
         (from_fd, from, from_len, to_fd, to, to_len): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let texts = (
                    read_str(&mut c, from, from_len),
                    read_str(&mut c, to, to_len),
                );
                if let (Some(from), Some(to)) = texts
                    && !c
                        .data()
                        .dirs
                        .rename_allowed(from_fd as u32, &from, to_fd as u32, &to)
                {
                    return Ok(PERM);
                }
                Ok(wasi!(
                    c,
                    path_rename(from_fd, from, from_len, to_fd, to, to_len)
                ))
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut c: Caller<'_, GuestState>, (fd,): (i32,)| {
            Box::new(async move {
                let errno = wasi!(c, fd_close(fd));
                if errno == SUCCESS {
                    c.data_mut().dirs.closed(fd as u32);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut c: Caller<'_, GuestState>, (from, to): (i32, i32)| {
            Box::new(async move {
                let errno = wasi!(c, fd_renumber(from, to));
                if errno == SUCCESS {
                    c.data_mut().dirs.renumbered(from as u32, to as u32);
                }
                Ok(errno)
            })
        },
    )?;
    Ok(())
}

/// The guest's memory and its WASI context, as WASI's implementations take them.
fn guest_memory<'a>(
    caller: &'a mut Caller<'_, GuestState>,
) -> wasmtime::Result<(GuestMemory<'a>, &'a mut WasiP1Ctx)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::Error::msg("missing required memory export"));
    };
    let (bytes, state) = memory.data_and_store_mut(caller);
    let ctx = &mut state.wasi;
    ctx.set_hostcall_fuel(fuel);
    Ok((GuestMemory::Unshared(bytes), ctx))
}

/// What a change to a regular file was charged: the file's size before it, where the change
/// starts, and the bytes reserved from the budget.
#[derive(Debug, Clone, Copy)]
struct Grown {
    size: u64,
    offset: u64,
    reserved: u64,
}

/// A regular file's size, append mode and position, through WASI's own view of descriptor
/// `fd`; `Ok(None)` if `fd` is not an open regular file (stdout, a directory, a bad number -
/// WASI's call then does or refuses what it does with those, and none of it grows a file).
async fn regular_file(
    c: &mut Caller<'_, GuestState>,
    fd: i32,
) -> wasmtime::Result<std::result::Result<Option<(u64, bool, u64)>, i32>> {
    let (mut memory, ctx) = guest_memory(c)?;
    let fd = types::Fd::from(fd as u32);
    let Ok(stat) = ctx.fd_fdstat_get(&mut memory, fd).await else {
        return Ok(Ok(None));
    };
    if stat.fs_filetype != types::Filetype::RegularFile {
        return Ok(Ok(None));
    }
    let append = stat.fs_flags.contains(types::Fdflags::APPEND);
    // A regular file whose size or position cannot be read is refused, not written unbudgeted.
    let Ok(file) = ctx.fd_filestat_get(&mut memory, fd).await else {
        return Ok(Err(Errno::Io as i32));
    };
    let Ok(position) = ctx.fd_tell(&mut memory, fd) else {
        return Ok(Err(Errno::Io as i32));
    };
    Ok(Ok(Some((file.size, append, position))))
}

/// Reserves the growth of writing `len` bytes to `fd` at `at` (its position when `None`; the
/// end in append mode). `Err(errno)` when refused.
async fn file_growth(
    c: &mut Caller<'_, GuestState>,
    fd: i32,
    at: Option<u64>,
    len: u64,
) -> wasmtime::Result<std::result::Result<Option<Grown>, i32>> {
    let (size, append, position) = match regular_file(c, fd).await? {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(Ok(None)),
        Err(errno) => return Ok(Err(errno)),
    };
    let offset = if append { size } else { at.unwrap_or(position) };
    let reserved = growth(size, offset.saturating_add(len));
    if !c.data_mut().disk.take_bytes(reserved) {
        return Ok(Err(NOSPC));
    }
    Ok(Ok(Some(Grown {
        size,
        offset,
        reserved,
    })))
}

/// Reserves the growth of making `fd` reach `end` bytes.
async fn resize_growth(
    c: &mut Caller<'_, GuestState>,
    fd: i32,
    end: u64,
) -> wasmtime::Result<std::result::Result<Option<Grown>, i32>> {
    let size = match regular_file(c, fd).await? {
        Ok(Some((size, _, _))) => size,
        Ok(None) => return Ok(Ok(None)),
        Err(errno) => return Ok(Err(errno)),
    };
    let reserved = growth(size, end);
    if !c.data_mut().disk.take_bytes(reserved) {
        return Ok(Err(NOSPC));
    }
    Ok(Ok(Some(Grown {
        size,
        offset: end,
        reserved,
    })))
}

/// Keeps what a write really grew the file by (from the bytes WASI reports written).
fn settle_write(c: &mut Caller<'_, GuestState>, grown: Option<Grown>, errno: i32, nwritten: i32) {
    let Some(g) = grown else {
        return;
    };
    let used = match (errno, read_u32(c, nwritten)) {
        (SUCCESS, Some(written)) => growth(g.size, g.offset.saturating_add(u64::from(written))),
        (SUCCESS, None) => g.reserved,
        _ => 0,
    };
    let disk = &mut c.data_mut().disk;
    disk.refund(g.reserved.saturating_sub(used), 0);
    disk.charge(used.saturating_sub(g.reserved));
}

/// Gives a failed resize its reservation back.
fn settle_resize(c: &mut Caller<'_, GuestState>, grown: Option<Grown>, errno: i32) {
    if let Some(g) = grown
        && errno != SUCCESS
    {
        c.data_mut().disk.refund(g.reserved, 0);
    }
}

fn take_entries(c: &mut Caller<'_, GuestState>, entries: u64) -> bool {
    entries == 0 || c.data_mut().disk.take_entry()
}

fn refund_entry_unless(c: &mut Caller<'_, GuestState>, errno: i32) {
    if errno != SUCCESS {
        c.data_mut().disk.refund(0, 1);
    }
}

/// Whether `fd` is an open directory.
async fn is_directory(c: &mut Caller<'_, GuestState>, fd: i32) -> wasmtime::Result<bool> {
    let (mut memory, ctx) = guest_memory(c)?;
    let stat = ctx
        .fd_fdstat_get(&mut memory, types::Fd::from(fd as u32))
        .await;
    Ok(stat.is_ok_and(|s| s.fs_filetype == types::Filetype::Directory))
}

/// Total length of the `iovs_len` iovecs at `iovs` in guest memory (0 if they cannot be read:
/// WASI's own implementation then reports the fault).
fn requested(caller: &mut Caller<'_, GuestState>, iovs: i32, iovs_len: i32) -> u64 {
    let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
        return 0;
    };
    let data = memory.data(&*caller);
    let (Ok(start), Ok(count)) = (
        usize::try_from(iovs as u32),
        usize::try_from(iovs_len as u32),
    ) else {
        return 0;
    };
    let mut total = 0u64;
    for i in 0..count {
        let at = start.saturating_add(i.saturating_mul(8));
        let Some(len) = data.get(at.saturating_add(4)..at.saturating_add(8)) else {
            return 0;
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        total = total.saturating_add(u64::from(len));
    }
    total
}

fn read_u32(caller: &mut Caller<'_, GuestState>, at: i32) -> Option<u32> {
    let memory = caller.get_export("memory")?.into_memory()?;
    let at = usize::try_from(at as u32).ok()?;
    let bytes = memory.data(&*caller).get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The UTF-8 string of `len` bytes at `at` in guest memory, as WASI would read it.
fn read_str(caller: &mut Caller<'_, GuestState>, at: i32, len: i32) -> Option<String> {
    let memory = caller.get_export("memory")?.into_memory()?;
    let start = usize::try_from(at as u32).ok()?;
    let len = usize::try_from(len as u32).ok()?;
    let bytes = memory.data(&*caller).get(start..start.checked_add(len)?)?;
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}
