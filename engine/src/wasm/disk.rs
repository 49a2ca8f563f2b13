//! Disk budget: how much a guest may make its files grow, and how many entries it may create.
//!
//! WASI gives a guest its workspace through cap-std, which confines *where* it writes but not
//! *how much*: without a budget a guest could fill the host's disk (or its inodes) through
//! `/work`. The engine's linker therefore shadows every WASI call that can make a file larger or
//! add an entry ([`super::shadow`]):
//!
//! - `fd_write` / `fd_pwrite` to a regular file - whatever its descriptor number: a guest can
//!   close stdout and open a file in its place, or `fd_renumber` a file onto it - cost the
//!   growth they cause: how far past the file's current end they write (`position + length -
//!   size`, the end for an append). Rewriting bytes a file already has costs nothing;
//! - `fd_filestat_set_size` (`truncate`) costs the growth to the new size, `fd_allocate` the
//!   growth to `offset + length` (WASI then refuses it anyway); shrinking gives nothing back;
//! - `path_open` with `O_CREAT`, `path_create_directory`, `path_symlink`, `path_link`: one entry
//!   each.
//!
//! So the budget counts the file size reached (sparse holes included: `truncate(10**12)` costs
//! a terabyte), not the bytes passed to `write`. A call over budget does nothing and returns
//! `ENOSPC` to the guest (Python raises `OSError: [Errno 28] No space left on device`); the
//! execution's status becomes `disk_limit` unless the guest dealt with the error and exited 0.
//! Within budget each call is WASI's own implementation, unchanged. The output streams are not
//! files (the output cap covers them).
//!
//! The budget is per execution (per cell in a session), from
//! [`SandboxConfig::max_disk_bytes`](crate::SandboxConfig::max_disk_bytes) and
//! [`SandboxConfig::max_disk_entries`](crate::SandboxConfig::max_disk_entries).

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
    pub(crate) fn take_bytes(&mut self, bytes: u64) -> bool {
        if bytes > self.bytes_left {
            self.hit = true;
            return false;
        }
        self.bytes_left -= bytes;
        true
    }

    /// Takes one entry, or refuses.
    pub(crate) fn take_entry(&mut self) -> bool {
        if self.entries_left == 0 {
            self.hit = true;
            return false;
        }
        self.entries_left -= 1;
        true
    }

    /// Takes `bytes` a call used beyond its reservation, down to nothing left (and remembers
    /// the overrun).
    pub(crate) fn charge(&mut self, bytes: u64) {
        if bytes > self.bytes_left {
            self.hit = true;
        }
        self.bytes_left = self.bytes_left.saturating_sub(bytes);
    }

    /// Gives back what a call reserved but did not use.
    pub(crate) fn refund(&mut self, bytes: u64, entries: u64) {
        self.bytes_left = self.bytes_left.saturating_add(bytes);
        self.entries_left = self.entries_left.saturating_add(entries);
    }
}

/// How much a change to a file of `size` bytes that reaches `end` (the byte after the last one
/// written, or the new size) makes it grow.
pub(crate) fn growth(size: u64, end: u64) -> u64 {
    end.saturating_sub(size)
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

    #[test]
    fn only_growth_costs() {
        assert_eq!(growth(100, 50), 0, "a rewrite inside the file");
        assert_eq!(growth(100, 150), 50);
        assert_eq!(growth(0, 1 << 40), 1 << 40, "a sparse end costs its size");
    }
}
