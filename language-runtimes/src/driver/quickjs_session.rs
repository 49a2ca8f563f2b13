//! SoulBox's own QuickJS-NG reactor (`language-runtimes/quickjs-session/session.c` with the
//! Node.js layer `node.js`, built by the engine from the pinned `rquickjs-sys` sources): the
//! JavaScript runtime of one-shot runs and sessions alike.
//!
//! Calls: `_initialize`, `soulbox_init()` (runtime, context, Node layer; a pre-initialised image
//! has done both), `soulbox_configure(json)` (program arguments, environment, one-shot or
//! session; reseeds `Math.random`), then per program or cell `soulbox_alloc(len)`, a copy of the
//! UTF-8 source, and `soulbox_eval(ptr, len)` -> 0 (ok), 1 (uncaught exception or unhandled
//! rejection, already printed on stderr like Node; the context lives on), 2 (out of memory in
//! the glue), 3 (an exit code: `soulbox_exit_code()`). The text form of a cell's completion value
//! is read from `soulbox_value_ptr()`/`soulbox_value_len()` (length 0: `undefined` or no value).
//!
//! In a one-shot run the guest exits itself (WASI `proc_exit`) after an uncaught error (1) or
//! `process.exit(n)` (n), as `node` does; in a session `process.exit(n)` ends the cell with exit
//! code n and the session lives on.
//!
//! The one import beyond WASI preview 1 is the host channel, `soulbox.call(frame_ptr, frame_len,
//! reply_ptr_at, reply_len_at) -> status` (see [`host_call`]): the Node layer's
//! `soulbox.callTool`, `soulbox.listTools` and `fetch` send a JSON request frame
//! ([`soulbox_host::protocol`]) and get the reply frame back synchronously.

use std::future::Future;

use wasmtime::{Caller, Extern, Instance, Linker, Store, Trap};
use wasmtime_wasi::I32Exit;

use super::{
    CellEnd, CellFuture, Driver, DriverHost, EnterFuture, Invocation, RunInput,
    c_stack_explanation, check_args, code_text, export_error,
};
use crate::catalogue::Runtime;
use crate::error::{Result, RuntimeError};
use crate::packages::layer;

pub(super) struct QuickJsSessionDriver {
    pub(super) runtime: &'static Runtime,
    /// Drives the pre-initialised image (`_initialize` and `soulbox_init` already done).
    pub(super) preinitialised: bool,
}

/// What the image holds: the runtime booted with its Node layer, nothing configured or run.
/// Part of its cache key (the module's own sha256 covers the glue and the layer).
const IMAGE_RECIPE: &str = "quickjs-session image v1: _initialize; soulbox_init";

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
            "the QuickJS runtime failed to start (status {status})"
        ))),
    }
}

/// Copies `bytes` into a fresh guest buffer: its address, or `None` when the guest's malloc
/// failed (the memory limit refused to grow its heap).
async fn pass<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    bytes: &[u8],
) -> wasmtime::Result<Option<(u32, u32)>> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| wasmtime::Error::msg("the text is larger than 4 GiB"))?;
    let alloc = instance
        .get_typed_func::<u32, u32>(&mut *store, "soulbox_alloc")
        .map_err(|_| export_error(runtime, "soulbox_alloc"))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let ptr = alloc.call_async(&mut *store, len).await?;
    if ptr == 0 {
        return Ok(None);
    }
    memory.write(&mut *store, usize::try_from(ptr)?, bytes)?;
    Ok(Some((ptr, len)))
}

/// The run's settings for `soulbox_configure`: program arguments, the environment (the
/// runtime's, then the caller's; later wins) and whether this is a session.
fn settings(invocation: &Invocation, session: bool) -> String {
    let env: serde_json::Map<String, serde_json::Value> = invocation
        .env
        .iter()
        .chain(invocation.caller_env.iter())
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "args": invocation.program_args,
        "env": env,
        "session": session,
    })
    .to_string()
}

/// Boots (unless the image already did) and configures the runtime.
async fn start<T: DriverHost>(
    driver: &QuickJsSessionDriver,
    store: &mut Store<T>,
    instance: Instance,
    invocation: &Invocation,
    session: bool,
) -> wasmtime::Result<()> {
    let runtime = driver.runtime;
    if !driver.preinitialised {
        boot(runtime, store, instance).await?;
    }
    let configure = instance
        .get_typed_func::<(u32, u32), i32>(&mut *store, "soulbox_configure")
        .map_err(|_| export_error(runtime, "soulbox_configure"))?;
    let Some((ptr, len)) = pass(
        runtime,
        store,
        instance,
        settings(invocation, session).as_bytes(),
    )
    .await?
    else {
        return Err(wasmtime::Error::new(I32Exit(1)));
    };
    match configure.call_async(&mut *store, (ptr, len)).await? {
        0 => Ok(()),
        status => Err(wasmtime::Error::msg(format!(
            "the QuickJS runtime refused its settings (status {status})"
        ))),
    }
}

/// How one program or cell ended.
struct Evaluated {
    /// 0 ok, 1 uncaught error, 2 out of memory in the glue, 3 exit code.
    status: i32,
    /// The exit code of status 3.
    exit_code: i32,
    /// The completion value's text (status 0 only).
    value: Option<String>,
}

/// Evaluates `code` as one program or cell: how it ended and, when it succeeded, the value's
/// text (at most `max_value` bytes).
async fn eval<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
    max_value: usize,
) -> wasmtime::Result<Evaluated> {
    let eval = instance
        .get_typed_func::<(u32, u32), i32>(&mut *store, "soulbox_eval")
        .map_err(|_| export_error(runtime, "soulbox_eval"))?;
    let Some((ptr, len)) = pass(runtime, store, instance, code.as_bytes()).await? else {
        return Ok(Evaluated {
            status: 2,
            exit_code: 1,
            value: None,
        });
    };
    let status = eval.call_async(&mut *store, (ptr, len)).await?;
    let mut ended = Evaluated {
        status,
        exit_code: i32::from(status != 0),
        value: None,
    };
    if status == 3 {
        let exit_code = instance
            .get_typed_func::<(), i32>(&mut *store, "soulbox_exit_code")
            .map_err(|_| export_error(runtime, "soulbox_exit_code"))?;
        ended.exit_code = exit_code.call_async(&mut *store, ()).await?;
    }
    if status != 0 || max_value == 0 {
        return Ok(ended);
    }
    let value_ptr = instance
        .get_typed_func::<(), u32>(&mut *store, "soulbox_value_ptr")
        .map_err(|_| export_error(runtime, "soulbox_value_ptr"))?;
    let value_len = instance
        .get_typed_func::<(), u32>(&mut *store, "soulbox_value_len")
        .map_err(|_| export_error(runtime, "soulbox_value_len"))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let len = usize::try_from(value_len.call_async(&mut *store, ()).await?)?;
    if len == 0 {
        return Ok(ended);
    }
    let ptr = usize::try_from(value_ptr.call_async(&mut *store, ()).await?)?;
    // The guest says where its value is; a bad range is an error, not a host crash.
    let bytes = memory
        .data(&*store)
        .get(ptr..ptr.saturating_add(len.min(max_value)))
        .ok_or_else(|| {
            wasmtime::Error::msg("the QuickJS runtime reported a value outside its memory")
        })?;
    ended.value = Some(String::from_utf8_lossy(bytes).into_owned());
    Ok(ended)
}

/// `soulbox.call`: the reply was written (`*reply_ptr_at`, `*reply_len_at`; the guest frees it).
const CALL_OK: i32 = 0;
/// `soulbox.call`: this execution has no host channel (nothing was read or written).
const CALL_NO_CHANNEL: i32 = -1;
/// `soulbox.call`: an address the guest gave (or its allocator returned) is outside its memory.
const CALL_BAD_ADDRESS: i32 = -2;
/// `soulbox.call`: the guest's allocator had no room for the reply (its memory limit).
const CALL_NO_MEMORY: i32 = -3;

/// `soulbox.call(frame_ptr, frame_len, reply_ptr_at, reply_len_at) -> status`: answers the JSON
/// request frame at `frame_ptr` through the execution's [`HostChannel`]
/// (`DriverHost::host_channel`), then hands the reply frame back in a buffer it allocates with
/// the guest's own `soulbox_alloc` (a re-entrant call, so the host keeps no state between
/// calls and the guest owns - and frees - the reply), storing its address and length as
/// little-endian `u32`s at `reply_ptr_at` and `reply_len_at`.
///
/// A frame longer than the channel's cap is answered with a `payload` error from its length
/// alone, without reading it; every address is checked against the guest's memory (a bad one
/// is [`CALL_BAD_ADDRESS`], never a host fault). Returns one of the `CALL_*` statuses.
///
/// [`HostChannel`]: soulbox_host::HostChannel
fn host_call<T: DriverHost>(
    mut caller: Caller<'_, T>,
    (frame_ptr, frame_len, reply_ptr_at, reply_len_at): (u32, u32, u32, u32),
) -> Box<dyn Future<Output = wasmtime::Result<i32>> + Send + '_> {
    Box::new(async move {
        let Some(channel) = caller.data().host_channel() else {
            return Ok(CALL_NO_CHANNEL);
        };
        let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
            return Ok(CALL_BAD_ADDRESS);
        };
        let (start, len) = (usize::try_from(frame_ptr)?, usize::try_from(frame_len)?);
        let reply = match channel.refuse_length(len) {
            Some(refusal) => refusal,
            None => {
                let Some(frame) = memory
                    .data(&caller)
                    .get(start..start.saturating_add(len))
                    .map(<[u8]>::to_vec)
                else {
                    return Ok(CALL_BAD_ADDRESS);
                };
                channel.answer(&frame).await
            }
        };
        let Ok(reply_len) = u32::try_from(reply.len()) else {
            return Ok(CALL_NO_MEMORY);
        };
        let Some(alloc) = caller
            .get_export("soulbox_alloc")
            .and_then(Extern::into_func)
            .and_then(|f| f.typed::<u32, u32>(&caller).ok())
        else {
            return Ok(CALL_BAD_ADDRESS);
        };
        let reply_ptr = alloc.call_async(&mut caller, reply_len).await?;
        if reply_ptr == 0 {
            return Ok(CALL_NO_MEMORY);
        }
        let written = memory
            .write(&mut caller, usize::try_from(reply_ptr)?, &reply)
            .and_then(|()| {
                memory.write(
                    &mut caller,
                    usize::try_from(reply_ptr_at).unwrap_or(usize::MAX),
                    &reply_ptr.to_le_bytes(),
                )
            })
            .and_then(|()| {
                memory.write(
                    &mut caller,
                    usize::try_from(reply_len_at).unwrap_or(usize::MAX),
                    &reply_len.to_le_bytes(),
                )
            });
        Ok(if written.is_ok() {
            CALL_OK
        } else {
            CALL_BAD_ADDRESS
        })
    })
}

impl<T: DriverHost> Driver<T> for QuickJsSessionDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let mut invocation = Invocation::new(vec!["node".into()]);
        invocation.env.push(("LANG".into(), "C.UTF-8".into()));
        invocation.program_args = input.args.to_vec();
        invocation.source = code;
        if input.packages.is_some() {
            invocation.add_packages(input.packages);
            invocation
                .env
                .push(("NODE_PATH".into(), layer::GUEST_NODE_MODULES.into()));
        }
        Ok(invocation)
    }

    fn link(&self, linker: &mut Linker<T>) -> Result<()> {
        linker
            .func_wrap_async("soulbox", "call", host_call::<T>)
            .map(drop)
            .map_err(|e| RuntimeError::Driver {
                runtime: self.runtime.name,
                detail: format!("defining the host-channel import soulbox.call: {e:#}"),
            })
    }

    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            start(self, store, instance, invocation, false).await?;
            // The guest exits by itself after an uncaught error or process.exit; what is left
            // is its status.
            let ended = eval(self.runtime, store, instance, &invocation.source, 0).await?;
            match ended.exit_code {
                0 => Ok(()),
                code => Err(wasmtime::Error::new(I32Exit(code))),
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
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(start(self, store, instance, invocation, true))
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
            let ended = eval(self.runtime, store, instance, &code, max_value).await?;
            Ok(CellEnd {
                failed: ended.exit_code != 0,
                value: ended.value,
                exit_code: (ended.status == 3).then_some(ended.exit_code),
            })
        })
    }

    fn preinit_recipe(&self) -> Option<String> {
        Some(IMAGE_RECIPE.to_owned())
    }

    fn preinitialise<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        _invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(boot(self.runtime, store, instance))
    }

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, "javascript")
    }
}
