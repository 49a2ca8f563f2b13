//! Memory limits: every linear-memory and table growth of a guest passes through
//! [`MemoryLimiter`], which refuses growth beyond the sandbox's limit and records the peak.
//! Tables count against the same limit as memories ([`TABLE_ELEMENT_BYTES`] per entry): a
//! guest cannot hold host memory in tables that it could not hold in linear memory.

use wasmtime::ResourceLimiter;

use crate::engine::MAX_TABLE_ELEMENTS;

/// Host bytes one table entry is counted as: Wasmtime keeps a table element in one pointer
/// (a `funcref`, an `externref`); the pooling allocator reserves the same per slot.
pub(crate) const TABLE_ELEMENT_BYTES: usize = 8;

/// Most instances, memories and tables in one store.
const MAX_INSTANCES: usize = 64;

/// Enforces the memory limit of one run and measures its peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    current: usize,
    peak: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            current: 0,
            peak: 0,
            hit: false,
        }
    }

    /// A limiter for a guest that already has `current` bytes of linear memory (a warm instance
    /// handed to an execution): they count towards the limit and the peak.
    pub(crate) fn starting_at(limit: u64, current: u64) -> Self {
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        Self {
            current,
            peak: current,
            ..Self::new(limit)
        }
    }

    /// Linear memory and tables now, in bytes.
    pub(crate) fn current(&self) -> u64 {
        self.current as u64
    }

    /// Highest total of linear memory and tables seen, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Whether the guest asked for more than the limit at some point.
    pub(crate) fn limit_hit(&self) -> bool {
        self.hit
    }
}

impl MemoryLimiter {
    /// Counts `growth` more bytes if the total stays within the limit (and `within_maximum`, the
    /// module's own cap, allows the growth at all).
    fn grow(&mut self, growth: usize, within_maximum: bool) -> bool {
        let total = self.current.saturating_add(growth);
        if total > self.limit || !within_maximum {
            self.hit |= total > self.limit;
            return false;
        }
        self.current = total;
        self.peak = self.peak.max(total);
        true
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        Ok(self.grow(growth, maximum.is_none_or(|max| desired <= max)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit = true;
            return Ok(false);
        }
        let growth = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grow(growth, maximum.is_none_or(|max| desired <= max)))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_INSTANCES
    }
    fn memories(&self) -> usize {
        MAX_INSTANCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_growth_past_the_limit_and_tracks_peak() -> wasmtime::Result<()> {
        let mut l = MemoryLimiter::new(10 * 65536);
        assert!(l.memory_growing(0, 4 * 65536, None)?);
        assert!(l.memory_growing(4 * 65536, 10 * 65536, None)?);
        assert!(!l.memory_growing(10 * 65536, 11 * 65536, None)?);
        assert!(l.limit_hit());
        assert_eq!(l.peak(), 10 * 65536);
        Ok(())
    }

    #[test]
    fn module_maximum_is_not_a_sandbox_limit() -> wasmtime::Result<()> {
        let mut l = MemoryLimiter::new(100 * 65536);
        assert!(!l.memory_growing(0, 3 * 65536, Some(2 * 65536))?);
        assert!(!l.limit_hit());
        Ok(())
    }

    #[test]
    fn tables_count_against_the_same_limit_as_memories() -> wasmtime::Result<()> {
        let mut l = MemoryLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 65536, None)?);
        // 100,000 entries = 800,000 bytes: fits beside the 64 KiB of memory.
        assert!(l.table_growing(0, 100_000, None)?);
        assert_eq!(l.current(), 65536 + 800_000);
        assert!(!l.table_growing(100_000, 200_000, None)?);
        assert!(l.limit_hit());
        assert_eq!(l.peak(), 65536 + 800_000);
        Ok(())
    }
}
