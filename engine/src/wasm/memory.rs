//! Memory limits: every linear-memory and table growth of a guest passes through
//! [`MemoryLimiter`], which refuses growth beyond the sandbox's limit and records the peak.
//! Tables count against the same limit as memories ([`TABLE_ELEMENT_BYTES`] per entry): a
//! guest cannot hold host memory in tables that it could not hold in linear memory.
//!
//! Before a guest-supplied module is compiled at all, [`declared_memory`] reads what it asks for
//! up front (initial memory, active data segments): compiling a module builds its initial memory
//! image on the host, so a 100-byte module with a data segment at offset 134,000,000 would
//! otherwise cost the host a 134 MB image (and cache file) before the limit is ever consulted.

use wasmparser::{DataKind, Operator, Parser, Payload, TypeRef};
use wasmtime::ResourceLimiter;

use super::config::MAX_TABLE_ELEMENTS;

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

/// Why a module asks for more memory than `limit` before any code runs, if it does: its
/// memories' initial sizes together, or an active data segment whose end (constant offset plus
/// length) lies beyond the limit. `bytes` is the binary module or component (whose core modules
/// are checked together); an error is a binary that cannot be parsed (it would not compile
/// either).
pub(crate) fn declared_memory(bytes: &[u8], limit: u64) -> Result<Option<String>, String> {
    let mut initial: u64 = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| e.to_string())?;
        let memories: Vec<wasmparser::MemoryType> = match payload {
            // A component's core modules follow as their own payloads: each one's memories and
            // data segments count, all of them together against the one limit.
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => Vec::new(),
            Payload::ImportSection(reader) => {
                let mut found = Vec::new();
                for import in reader.into_imports() {
                    if let TypeRef::Memory(memory) = import.map_err(|e| e.to_string())?.ty {
                        found.push(memory);
                    }
                }
                found
            }
            Payload::MemorySection(reader) => reader
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(|e| e.to_string())?;
                    let DataKind::Active { offset_expr, .. } = data.kind else {
                        continue;
                    };
                    let Some(offset) = constant_offset(offset_expr.get_operators_reader()) else {
                        continue;
                    };
                    let end = offset.saturating_add(data.data.len() as u64);
                    if end > limit {
                        return Ok(Some(format!(
                            "the module has a data segment ending at byte {end} (offset {offset}, \
                             {} bytes), beyond the memory limit of {limit} bytes; it was refused \
                             before compiling",
                            data.data.len()
                        )));
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        for memory in memories {
            let page = 1u64
                .checked_shl(memory.page_size_log2.unwrap_or(16))
                .unwrap_or(u64::MAX);
            initial = initial.saturating_add(memory.initial.saturating_mul(page));
        }
        if initial > limit {
            return Ok(Some(format!(
                "the module declares {initial} bytes of initial memory, beyond the memory limit \
                 of {limit} bytes; it was refused before compiling"
            )));
        }
    }
    Ok(None)
}

/// The value of a constant offset expression (`i32.const`/`i64.const`, possibly combined with
/// extended-constant `add`/`sub`/`mul`), as an unsigned offset; `None` for anything else (a
/// `global.get` offset is only known at instantiation, and no memory image is built for it).
fn constant_offset(mut ops: wasmparser::OperatorsReader<'_>) -> Option<u64> {
    let mut stack: Vec<(u64, bool)> = Vec::new();
    loop {
        let op = ops.read().ok()?;
        let binary = |stack: &mut Vec<(u64, bool)>, f: fn(u64, u64) -> u64, wide: bool| {
            let b = stack.pop()?;
            let a = stack.pop()?;
            let value = f(a.0, b.0);
            stack.push((if wide { value } else { u64::from(value as u32) }, wide));
            Some(())
        };
        match op {
            Operator::I32Const { value } => stack.push((u64::from(value as u32), false)),
            Operator::I64Const { value } => stack.push((value as u64, true)),
            Operator::I32Add => binary(&mut stack, u64::wrapping_add, false)?,
            Operator::I32Sub => binary(&mut stack, u64::wrapping_sub, false)?,
            Operator::I32Mul => binary(&mut stack, u64::wrapping_mul, false)?,
            Operator::I64Add => binary(&mut stack, u64::wrapping_add, true)?,
            Operator::I64Sub => binary(&mut stack, u64::wrapping_sub, true)?,
            Operator::I64Mul => binary(&mut stack, u64::wrapping_mul, true)?,
            Operator::End => return stack.pop().map(|(value, _)| value),
            _ => return None,
        }
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

    fn binary(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    #[test]
    fn declared_memory_beyond_the_limit_is_found_before_compiling() {
        let limit = 32 << 20;
        let fits = binary("(module (memory 2) (data (i32.const 100) \"hi\"))");
        assert_eq!(declared_memory(&fits, limit), Ok(None));
        let big_initial = binary("(module (memory 1000))");
        let why = declared_memory(&big_initial, limit).unwrap().unwrap();
        assert!(why.contains("65536000 bytes of initial memory"), "{why}");
        let far_data = binary("(module (memory 1) (data (i32.const 134000000) \"x\"))");
        let why = declared_memory(&far_data, limit).unwrap().unwrap();
        assert!(why.contains("ending at byte 134000001"), "{why}");
        let extended = binary(
            "(module (memory 1) (data (i32.add (i32.const 100000000) (i32.const 34000000)) \"x\"))",
        );
        assert!(declared_memory(&extended, limit).unwrap().is_some());
        let imported = binary("(module (import \"env\" \"m\" (memory 4096)))");
        assert!(declared_memory(&imported, limit).unwrap().is_some());
        assert!(declared_memory(b"\0asm\x01\0\0\0\xff", limit).is_err());
    }
}
