//! SoulBox's own QuickJS-NG reactor (`language-runtimes/quickjs-session/session.c`, built by the
//! engine from the pinned `rquickjs-sys` sources).
//!
//! Calls: `_initialize`, `soulbox_init()` (runtime, context, `console`/`print`, `std`/`os`
//! globals), then per cell `soulbox_alloc(len)`, a copy of the UTF-8 source, and
//! `soulbox_eval(ptr, len)` -> 0 (ok) or 1 (uncaught exception, already printed with its stack on
//! stderr; the context lives on). The text form of the cell's completion value is read from
//! `soulbox_value_ptr()`/`soulbox_value_len()` (length 0: `undefined` or no value).
//!
//! A one-shot run is the same on a fresh instance: one cell, exit code 1 after an exception.

use wasmtime::{Instance, Linker, Store, Trap};
use wasmtime_wasi::I32Exit;

use super::{
    CellEnd, CellFuture, Driver, DriverHost, EnterFuture, Invocation, RunInput,
    c_stack_explanation, check_args, code_text, export_error,
};
use crate::catalogue::Runtime;
use crate::error::Result;
use crate::packages::layer;

pub(super) struct QuickJsSessionDriver {
    pub(super) runtime: &'static Runtime,
}

/// `_initialize`, then `soulbox_init`.
async fn boot<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
) -> wasmtime::Result<()> {
    let initialize = instance
        .get_typed_func::<(), ()>(&mut *store, "_initialize")
        .map_err(|_| export_error(runtime, "_initialize"))?;
    initialize.call_async(&mut *store, ()).await?;
    let init = instance
        .get_typed_func::<(), i32>(&mut *store, "soulbox_init")
        .map_err(|_| export_error(runtime, "soulbox_init"))?;
    match init.call_async(&mut *store, ()).await? {
        0 => Ok(()),
        status => Err(wasmtime::Error::msg(format!(
            "the QuickJS session failed to start (status {status})"
        ))),
    }
}

/// Evaluates `code` as one cell: the status and, when it succeeded, the value's text (at most
/// `max_value` bytes).
async fn eval<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
    max_value: usize,
) -> wasmtime::Result<(i32, Option<String>)> {
    let len = u32::try_from(code.len())
        .map_err(|_| wasmtime::Error::msg("the cell is larger than 4 GiB"))?;
    let alloc = instance
        .get_typed_func::<u32, u32>(&mut *store, "soulbox_alloc")
        .map_err(|_| export_error(runtime, "soulbox_alloc"))?;
    let eval = instance
        .get_typed_func::<(u32, u32), i32>(&mut *store, "soulbox_eval")
        .map_err(|_| export_error(runtime, "soulbox_eval"))?;
    let value_ptr = instance
        .get_typed_func::<(), u32>(&mut *store, "soulbox_value_ptr")
        .map_err(|_| export_error(runtime, "soulbox_value_ptr"))?;
    let value_len = instance
        .get_typed_func::<(), u32>(&mut *store, "soulbox_value_len")
        .map_err(|_| export_error(runtime, "soulbox_value_len"))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let ptr = alloc.call_async(&mut *store, len).await?;
    if ptr == 0 {
        // The guest's malloc failed: the memory limit refused to grow its heap.
        return Ok((2, None));
    }
    memory.write(&mut *store, usize::try_from(ptr)?, code.as_bytes())?;
    let status = eval.call_async(&mut *store, (ptr, len)).await?;
    if status != 0 {
        return Ok((status, None));
    }
    let len = usize::try_from(value_len.call_async(&mut *store, ()).await?)?;
    if len == 0 {
        return Ok((status, None));
    }
    let ptr = usize::try_from(value_ptr.call_async(&mut *store, ()).await?)?;
    // The guest says where its value is; a bad range is an error, not a host crash.
    let bytes = memory
        .data(&*store)
        .get(ptr..ptr.saturating_add(len.min(max_value)))
        .ok_or_else(|| {
            wasmtime::Error::msg("the QuickJS session reported a value outside its memory")
        })?;
    Ok((status, Some(String::from_utf8_lossy(bytes).into_owned())))
}

impl<T: DriverHost> Driver<T> for QuickJsSessionDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let mut invocation = Invocation::new(vec!["qjs".into()]);
        invocation.env.push(("LANG".into(), "C.UTF-8".into()));
        invocation.source = code;
        if input.packages.is_some() {
            invocation.add_packages(input.packages);
            invocation
                .env
                .push(("NODE_PATH".into(), layer::GUEST_NODE_MODULES.into()));
        }
        Ok(invocation)
    }

    fn link(&self, _linker: &mut Linker<T>) -> Result<()> {
        // WASI preview1 only.
        Ok(())
    }

    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            boot(self.runtime, store, instance).await?;
            match eval(self.runtime, store, instance, &invocation.source, 0)
                .await?
                .0
            {
                0 => Ok(()),
                _ => Err(wasmtime::Error::new(I32Exit(1))),
            }
        })
    }

    fn supports_sessions(&self) -> bool {
        true
    }

    fn supports_fork(&self) -> bool {
        // Checked on the built module: its only mutable global is the shadow-stack pointer (not
        // exported, back at its start between calls), its table is not exported and never
        // grows, and this driver keeps no host-side state.
        true
    }

    fn open_session<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        _invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(boot(self.runtime, store, instance))
    }

    fn session_cell<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        _invocation: &'a Invocation,
        code: &'a [u8],
        max_value: usize,
    ) -> CellFuture<'a> {
        Box::pin(async move {
            let code = code_text(self.runtime, code)?;
            let (status, value) = eval(self.runtime, store, instance, &code, max_value).await?;
            Ok(CellEnd {
                failed: status != 0,
                value,
            })
        })
    }

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, "javascript")
    }
}
