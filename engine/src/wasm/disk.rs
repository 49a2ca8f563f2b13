//! Disk budget: how much a guest may write to files and how many entries it may create.
//!
//! WASI gives a guest its workspace through cap-std, which confines *where* it writes but not
//! *how much*: without a budget a guest could fill the host's disk (or its inodes) through
//! `/work`. The engine's linker therefore wraps the WASI calls that consume disk:
//!
//! - `fd_write` / `fd_pwrite` to a file (descriptors above stderr): the bytes asked for are
//!   checked against the bytes left before the write happens, and counted after it;
//! - `path_open` with `O_CREAT`, `path_create_directory`, `path_symlink`, `path_link`: one entry
//!   each;
//! - `fd_allocate`: refused outright (nothing needs to reserve disk space ahead).
//!
//! A call over budget does nothing and returns `ENOSPC` to the guest (Python raises
//! `OSError: [Errno 28] No space left on device`); the execution's status becomes `disk_limit`
//! unless the guest dealt with the error and exited 0. Each wrapper calls WASI's own
//! implementation for the real work (the function `add_to_linker_async` itself installs, called
//! with the guest's memory), so behaviour within budget is exactly WASI's. Bytes written to stdout and stderr are not disk: the output
//! cap covers them.
//!
//! The budget is per execution (per session for a session's interpreter), from
//! [`SandboxConfig::max_disk_bytes`](crate::SandboxConfig::max_disk_bytes) and
//! [`SandboxConfig::max_disk_entries`](crate::SandboxConfig::max_disk_entries). Rewriting a file counts again (a
//! write is counted, not the file's final size), which only errs on the safe side.

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self, WasiSnapshotPreview1 as _};
use wiggle::GuestMemory;

use super::GuestState;
use crate::{Result, SoulBoxError};

const MODULE: &str = "wasi_snapshot_preview1";
/// WASI `errno` values.
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_NOSPC: i32 = 51;
/// `oflags` bit of `path_open` that creates the file.
const OFLAGS_CREAT: i32 = 1;

/// What a guest may still write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiskBudget {
    bytes_left: u64,
    entries_left: u64,
    hit: bool,
}

impl DiskBudget {
    pub(crate) fn new(bytes: u64, entries: u64) -> Self {
        Self {
            bytes_left: bytes,
            entries_left: entries,
            hit: false,
        }
    }

    /// Whether a write or creation was refused for lack of budget.
    pub(crate) fn limit_hit(&self) -> bool {
        self.hit
    }

    /// Takes `bytes` from the budget, or refuses (and remembers the refusal).
    fn take_bytes(&mut self, bytes: u64) -> bool {
        if bytes > self.bytes_left {
            self.hit = true;
            return false;
        }
        self.bytes_left -= bytes;
        true
    }

    /// Takes one entry, or refuses.
    fn take_entry(&mut self) -> bool {
        if self.entries_left == 0 {
            self.hit = true;
            return false;
        }
        self.entries_left -= 1;
        true
    }

    /// Gives back what a call reserved but did not use.
    pub(crate) fn refund(&mut self, bytes: u64, entries: u64) {
        self.bytes_left = self.bytes_left.saturating_add(bytes);
        self.entries_left = self.entries_left.saturating_add(entries);
    }
}

/// The linker with the calls that consume disk wrapped: each checks and reserves budget, runs
/// WASI's own implementation (the same code `add_to_linker_async` installs, called with the
/// guest's memory), then settles what was really used.
pub(crate) fn budgeted(base: &Linker<GuestState>) -> Result<Linker<GuestState>> {
    let mut linker = base.clone();
    linker.allow_shadowing(true);
    wrap(&mut linker).map_err(|e| SoulBoxError::Engine(format!("wrapping WASI: {e:#}")))?;
    linker.allow_shadowing(false);
    Ok(linker)
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

/// Reserves `bytes` and `entries` from the budget; false (and the budget remembers it) if
/// either is more than what is left.
fn reserve(caller: &mut Caller<'_, GuestState>, bytes: u64, entries: u64) -> bool {
    let budget = &mut caller.data_mut().disk;
    if !budget.take_bytes(bytes) {
        return false;
    }
    if entries > 0 && !budget.take_entry() {
        budget.refund(bytes, 0);
        return false;
    }
    true
}

/// Gives back what a call reserved but did not use: everything if it failed, the unwritten
/// part of a short write.
fn settle(
    caller: &mut Caller<'_, GuestState>,
    errno: i32,
    bytes: u64,
    entries: u64,
    written_at: i32,
) {
    if errno != ERRNO_SUCCESS {
        caller.data_mut().disk.refund(bytes, entries);
    } else if bytes > 0 {
        let written = read_u32(caller, written_at).map_or(bytes, u64::from);
        caller
            .data_mut()
            .disk
            .refund(bytes.saturating_sub(written), 0);
    }
}

/// Bytes a write to `fd` asks for (descriptors 0-2 are the output streams, not disk).
fn write_size(caller: &mut Caller<'_, GuestState>, fd: i32, iovs: i32, iovs_len: i32) -> u64 {
    if fd <= 2 {
        return 0;
    }
    requested(caller, iovs, iovs_len)
}

/// One entry if `oflags` creates the file.
fn creates(oflags: i32) -> u64 {
    u64::from(oflags & OFLAGS_CREAT != 0)
}

macro_rules! wrapped {
    ($linker:ident, $name:ident, ($($arg:ident: $ty:ty),*), |$c:ident| $cost:expr, $written_at:expr) => {
        $linker.func_wrap_async(
            MODULE,
            stringify!($name),
            move |mut $c: Caller<'_, GuestState>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    let (bytes, entries): (u64, u64) = $cost;
                    if !reserve(&mut $c, bytes, entries) {
                        return Ok(ERRNO_NOSPC);
                    }
                    let errno = {
                        let (mut memory, ctx) = guest_memory(&mut $c)?;
                        wasi_snapshot_preview1::$name(ctx, &mut memory, $($arg),*).await?
                    };
                    settle(&mut $c, errno, bytes, entries, $written_at);
                    Ok(errno)
                })
            },
        )?;
    };
}

fn wrap(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    wrapped!(linker, fd_write, (fd: i32, iovs: i32, iovs_len: i32, nwritten: i32),
        |c| (write_size(&mut c, fd, iovs, iovs_len), 0), nwritten);
    wrapped!(linker, fd_pwrite, (fd: i32, iovs: i32, iovs_len: i32, offset: i64, nwritten: i32),
        |c| (write_size(&mut c, fd, iovs, iovs_len), 0), nwritten);
    wrapped!(linker, path_open, (fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32,
        rights_base: i64, rights_inheriting: i64, fdflags: i32, opened: i32),
        |c| (0, creates(oflags)), 0);
    wrapped!(linker, path_create_directory, (fd: i32, path: i32, path_len: i32),
        |c| (0, 1), 0);
    wrapped!(linker, path_symlink, (old_path: i32, old_len: i32, fd: i32, new_path: i32, new_len: i32),
        |c| (0, 1), 0);
    wrapped!(linker, path_link, (old_fd: i32, old_flags: i32, old_path: i32, old_len: i32,
        new_fd: i32, new_path: i32, new_len: i32),
        |c| (0, 1), 0);
    // Reserving space ahead is never needed; refusing it keeps the budget simple.
    linker.func_wrap(
        MODULE,
        "fd_allocate",
        |mut caller: Caller<'_, GuestState>, _fd: i32, _offset: i64, _len: i64| -> i32 {
            caller.data_mut().disk.hit = true;
            ERRNO_NOSPC
        },
    )?;
    Ok(())
}

/// Total length of the `iovs_len` iovecs at `iovs` in guest memory (0 if they cannot be read:
/// WASI's own implementation then reports the fault).
fn requested(caller: &mut Caller<'_, GuestState>, iovs: i32, iovs_len: i32) -> u64 {
    let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
        return 0;
    };
    let data = memory.data(&*caller);
    let (Ok(start), Ok(count)) = (usize::try_from(iovs), usize::try_from(iovs_len)) else {
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
    let at = usize::try_from(at).ok()?;
    let bytes = memory.data(&*caller).get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_and_remembers_and_refunds() {
        let mut b = DiskBudget::new(10, 1);
        assert!(b.take_bytes(6));
        assert!(!b.take_bytes(5));
        assert!(b.limit_hit());
        b.refund(2, 0);
        assert!(b.take_bytes(6));
        assert!(b.take_entry());
        assert!(!b.take_entry());
    }
}
