//! The ruby.wasm reactor (CRuby 3.4 with its standard library packed inside the module).
//!
//! Calls, in the old wit-bindgen canonical ABI the build was made with: `_initialize`, then
//! `ruby-init(list<string>)` with `[ruby, -EUTF-8, -e_=0, args...]` (`ruby_options` only parses
//! the `-e` script, so this sets `ARGV` and the encoding without running anything), then
//! `rb-eval-string-protect` of a small prelude that `load`s the user's program from a read-only
//! per-run directory (`/code/main.rb`), prints an uncaught exception's full message on stderr,
//! turns `exit`/exceptions into a WASI exit code and flushes the output.
//!
//! Imports: three `canonical_abi` resource functions that must work (a [`HandleTable`]) and the
//! JavaScript bridge `rb-js-abi-host.*`, which has no meaning outside a browser: SoulBox answers
//! its `eval-js` with the host channel instead (see `ruby_bridge.rs`); the rest trap if called.

use wasmtime::{Caller, Instance, Linker, Memory, Store, Trap, TypedFunc};

use super::scratch::{Layout, Scratch};
use super::{
    CellEnd, CellFuture, Driver, DriverHost, EnterFuture, GuestDir, Invocation, RunInput,
    c_stack_explanation, check_args, code_text, export_error,
};
use crate::catalogue::Runtime;
use crate::error::{Result, RuntimeError};
use crate::packages::layer::Layer;

/// The per-run (or per-session) directory behind [`CODE_DIR`].
static CODE_LAYOUT: Layout = Layout {
    prefix: "soulbox-ruby-code-",
    dirs: &["packages"],
};

/// The guest module `SoulBox` (host tools), defined before the program or session starts.
const GUEST_MODULE: &str = include_str!("guest/soulbox.rb");

/// Guest directory holding the program.
const CODE_DIR: &str = "/code";
/// Runs the program and maps its end onto an exit code. `exit!` skips Ruby's own teardown,
/// which a reactor never reaches anyway.
const PRELUDE: &str = r##"
begin
  load "/code/main.rb"
rescue SystemExit => e
  ($stdout.flush; $stderr.flush) rescue nil
  exit!(e.status)
rescue Exception => e
  bt = e.backtrace
  e.set_backtrace(bt.reject { |l| l.start_with?("eval:", "-e:") }) if bt
  # syntax_suggest decorates SyntaxError messages using threads, which this build lacks.
  text = begin
    e.full_message(highlight: false)
  rescue Exception
    "#{e.message} (#{e.class})\n"
  end
  $stderr.write(text)
  ($stdout.flush; $stderr.flush) rescue nil
  exit!(1)
end
$stdout.flush
$stderr.flush
"##;

/// Session helper: the host evaluates `__soulbox_cell("<hex of the source>", max)` with
/// `rb-eval-string-protect`; the helper runs the source in `TOPLEVEL_BINDING`, so local
/// variables, methods and requires persist like in irb. An uncaught exception (or a failing
/// `exit`) is printed on stderr; the interpreter lives on either way. The helper's return value
/// is the cell's report, a String the host reads out of guest memory (`rstring-ptr`): `N` (no
/// value), `E` (failed) or `V` + the hex of the final value's `inspect` (at most `max` bytes).
/// Nothing goes through a file: the session's code directory is read-only to the guest.
const SESSION_PRELUDE: &str = r##"
$__soulbox_n = 0
def __soulbox_cell(hex, max)
  $__soulbox_n += 1
  src = [hex].pack("H*").force_encoding(Encoding::UTF_8)
  report = "N"
  begin
    value = TOPLEVEL_BINDING.eval(src, "cell#{$__soulbox_n}", 1)
    report = "V" + value.inspect.to_s.b.byteslice(0, max).unpack1("H*") unless value.nil?
  rescue SystemExit => e
    report = "E" unless e.success?
  rescue Exception => e
    bt = e.backtrace
    e.set_backtrace(bt.reject { |l| l.start_with?("eval:", "-e:") || l.include?("__soulbox_cell") }) if bt
    text = begin
      e.full_message(highlight: false)
    rescue Exception
      "#{e.message} (#{e.class})\n"
    end
    $stderr.write(text)
    report = "E"
  ensure
    ($stdout.flush; $stderr.flush) rescue nil
  end
  report
end
"##;

/// Handles for the canonical ABI's resources (`rb-abi-value`): the guest hands the host a
/// representation, gets a small integer back, and asks for the representation again later.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HandleTable {
    slots: Vec<Option<i32>>,
    free: Vec<usize>,
}

impl HandleTable {
    /// Stores `rep`, returning its handle.
    pub fn insert(&mut self, rep: i32) -> i32 {
        let index = match self.free.pop() {
            Some(index) => {
                if let Some(slot) = self.slots.get_mut(index) {
                    *slot = Some(rep);
                }
                index
            }
            None => {
                self.slots.push(Some(rep));
                self.slots.len() - 1
            }
        };
        i32::try_from(index).unwrap_or(-1)
    }

    /// The representation behind `handle`.
    pub fn get(&self, handle: i32) -> Option<i32> {
        let index = usize::try_from(handle).ok()?;
        self.slots.get(index).copied().flatten()
    }

    /// Forgets `handle`; returns whether it was live.
    pub fn remove(&mut self, handle: i32) -> bool {
        let Ok(index) = usize::try_from(handle) else {
            return false;
        };
        match self.slots.get_mut(index) {
            Some(slot @ Some(_)) => {
                *slot = None;
                self.free.push(index);
                true
            }
            _ => false,
        }
    }
}

/// Most slots [`HandleTable::decode`] accepts (a session makes one per cell; 2^24 is far beyond
/// any real session and keeps a hostile count from allocating gigabytes).
const MAX_DECODED_SLOTS: usize = 1 << 24;

impl HandleTable {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        out.extend_from_slice(&count(self.slots.len()));
        for slot in &self.slots {
            out.push(u8::from(slot.is_some()));
            out.extend_from_slice(&slot.unwrap_or(0).to_le_bytes());
        }
        out.extend_from_slice(&count(self.free.len()));
        for index in &self.free {
            out.extend_from_slice(&count(*index));
        }
    }

    pub(super) fn decode(input: &mut &[u8]) -> std::result::Result<Self, String> {
        fn take<const N: usize>(input: &mut &[u8]) -> std::result::Result<[u8; N], String> {
            let Some((head, rest)) = input.split_first_chunk::<N>() else {
                return Err("the handle table is truncated".into());
            };
            *input = rest;
            Ok(*head)
        }
        let count = |input: &mut &[u8]| -> std::result::Result<usize, String> {
            let n = usize::try_from(u32::from_le_bytes(take::<4>(input)?))
                .map_err(|_| "a handle count does not fit this host".to_owned())?;
            if n > MAX_DECODED_SLOTS {
                return Err(format!("{n} handles is more than a session can have"));
            }
            Ok(n)
        };
        let slots_len = count(input)?;
        let mut slots = Vec::with_capacity(slots_len.min(input.len() / 5));
        for _ in 0..slots_len {
            let [present] = take::<1>(input)?;
            let rep = i32::from_le_bytes(take::<4>(input)?);
            slots.push(match present {
                0 => None,
                1 => Some(rep),
                other => return Err(format!("bad handle flag {other}")),
            });
        }
        let free_len = count(input)?;
        let mut free = Vec::with_capacity(free_len.min(input.len() / 4));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..free_len {
            let index = usize::try_from(u32::from_le_bytes(take::<4>(input)?))
                .map_err(|_| "a handle index does not fit this host".to_owned())?;
            // A free index must name an empty slot, once: otherwise `insert` would hand out a
            // handle that is still live.
            if !matches!(slots.get(index), Some(None)) || !seen.insert(index) {
                return Err(format!("free handle {index} is not an empty slot"));
            }
            free.push(index);
        }
        Ok(Self { slots, free })
    }
}

pub(super) struct RubyDriver {
    pub(super) runtime: &'static Runtime,
    /// Drives the pre-initialised image (`_initialize` and `ruby-init` already done) instead of
    /// the module as shipped.
    pub(super) preinitialised: bool,
}

impl RubyDriver {
    /// Brings the interpreter to where `prelude` can run (boots it, or on the image applies what
    /// a boot would have: ARGV, ENV, seed) and evaluates `prelude`; an exception there is an
    /// error saying `failure`.
    async fn start<T: DriverHost>(
        &self,
        store: &mut Store<T>,
        instance: Instance,
        invocation: &Invocation,
        prelude: &str,
        failure: &str,
    ) -> wasmtime::Result<()> {
        let prelude = if self.preinitialised {
            format!(
                "{}{}{GUEST_MODULE}{prelude}",
                image_preamble(invocation),
                load_paths(invocation.packages.as_ref())
            )
        } else {
            boot(self.runtime, store, instance, invocation).await?;
            format!(
                "{}{GUEST_MODULE}{prelude}",
                load_paths(invocation.packages.as_ref())
            )
        };
        match eval(self.runtime, store, instance, &prelude).await? {
            0 => Ok(()),
            state => Err(wasmtime::Error::msg(format!("{failure} (state {state})"))),
        }
    }
}

/// Ruby code putting the gems of the sandbox's package layer on `$LOAD_PATH` (each once).
fn load_paths(packages: Option<&Layer>) -> String {
    match packages {
        Some(packages) if !packages.ruby_load_paths.is_empty() => format!(
            "({} - $LOAD_PATH).each {{ |p| $LOAD_PATH.push(p) }}\n",
            ruby_strings(packages.ruby_load_paths.iter().map(String::as_str))
        ),
        _ => String::new(),
    }
}

/// What the image holds: the interpreter booted, nothing evaluated. Part of its cache key.
const IMAGE_RECIPE: &str = "ruby image v1: _initialize; ruby-init [ruby -EUTF-8 -e_=0]";

/// A Ruby array literal of `items`, each hex-encoded and decoded in the guest (no quoting can
/// break out).
fn ruby_strings<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items
        .map(|s| format!("\"{}\"", super::hex(s.as_bytes())))
        .collect();
    format!(
        "[{}].map {{ |h| [h].pack(\"H*\").force_encoding(Encoding::UTF_8) }}",
        parts.join(", ")
    )
}

/// What a pre-initialised interpreter needs before the code of a new run or session: its own
/// `ARGV` (given to `ruby-init` when booting from scratch), the environment (WASI hands it over
/// only when a module starts) and a new seed for `rand` (else every sandbox made from the image
/// would draw the same numbers).
fn image_preamble(invocation: &Invocation) -> String {
    let args = invocation.ruby_args.get(3..).unwrap_or_default();
    let env = invocation
        .env
        .iter()
        .chain(invocation.caller_env.iter())
        .flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    format!(
        "ARGV.replace({})\nENV.replace({}.each_slice(2).to_h)\nRandom.srand(Random.new_seed)\n",
        ruby_strings(args.iter().map(String::as_str)),
        ruby_strings(env)
    )
}

fn bad_handle(handle: i32) -> wasmtime::Error {
    wasmtime::Error::msg(format!("ruby passed an unknown resource handle {handle}"))
}

impl<T: DriverHost> Driver<T> for RubyDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let scratch = Scratch::take(&CODE_LAYOUT)
            .map_err(|e| RuntimeError::io("making the per-run code directory for ruby", e))?;
        write_new(scratch.path(), "main.rb", code.as_bytes())
            .map_err(|e| RuntimeError::io("writing the program for ruby", e))?;
        let mut invocation = Invocation::new(vec!["ruby".into()]);
        invocation.env.push(("LANG".into(), "C.UTF-8".into()));
        invocation.dirs.push(GuestDir {
            host: scratch.path().to_path_buf(),
            guest: CODE_DIR.into(),
            writable: false,
        });
        invocation.add_packages_or_empty(input.packages, scratch.path().join("packages"));
        invocation.scratch = Some(scratch);
        invocation.ruby_args = ["ruby", "-EUTF-8", "-e_=0"]
            .into_iter()
            .map(str::to_owned)
            .chain(input.args.iter().cloned())
            .collect();
        Ok(invocation)
    }

    fn link(&self, linker: &mut Linker<T>) -> Result<()> {
        let err = |e: wasmtime::Error| RuntimeError::Driver {
            runtime: self.runtime.name,
            detail: format!("defining the canonical ABI resource functions: {e:#}"),
        };
        linker
            .func_wrap(
                "canonical_abi",
                "resource_new_rb-abi-value",
                |mut caller: Caller<'_, T>, rep: i32| -> i32 {
                    caller.data_mut().driver_state().handles.insert(rep)
                },
            )
            .map_err(err)?;
        linker
            .func_wrap(
                "canonical_abi",
                "resource_get_rb-abi-value",
                |mut caller: Caller<'_, T>, handle: i32| -> wasmtime::Result<i32> {
                    caller
                        .data_mut()
                        .driver_state()
                        .handles
                        .get(handle)
                        .ok_or_else(|| bad_handle(handle))
                },
            )
            .map_err(err)?;
        super::ruby_bridge::link(linker).map_err(err)?;
        Ok(())
    }

    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(self.start(
            store,
            instance,
            invocation,
            PRELUDE,
            "ruby stopped with an exception outside the program",
        ))
    }

    fn supports_sessions(&self) -> bool {
        true
    }

    fn supports_fork(&self) -> bool {
        // Checked on the pinned module: three mutable globals, none exported - the shadow-stack
        // pointer (unwound between calls) and asyncify's state and data pointer (state back to
        // "normal" when an export returns; data is set again before each unwind) - and one table
        // that is not exported. The host-side handle table is copied with the `DriverState`.
        true
    }

    fn open_session<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(self.start(
            store,
            instance,
            invocation,
            SESSION_PRELUDE,
            "the ruby session helper failed to start",
        ))
    }

    fn refresh_packages<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
        packages: &'a Layer,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            if invocation.packages.is_none() {
                return Ok(());
            }
            let code = load_paths(Some(packages));
            if code.is_empty() {
                return Ok(());
            }
            match eval(self.runtime, store, instance, &code).await? {
                0 => Ok(()),
                state => Err(wasmtime::Error::msg(format!(
                    "updating $LOAD_PATH failed (state {state})"
                ))),
            }
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
            let code = code_text(self.runtime, code)?;
            let call = format!(
                "__soulbox_cell(\"{}\", {max_value})",
                super::hex(code.as_bytes())
            );
            let (handle, state) = eval_value(self.runtime, store, instance, &call).await?;
            if state != 0 {
                // The helper itself raised: the handle names no lent value; only forget it.
                store.data_mut().driver_state().handles.remove(handle);
                return Ok(CellEnd {
                    failed: true,
                    value: None,
                    exit_code: None,
                });
            }
            // `V` and two hex digits per byte of the value.
            let max_report = max_value.saturating_mul(2).saturating_add(1);
            let report = take_string(self.runtime, store, instance, handle, max_report).await?;
            Ok(read_report(&report, max_value))
        })
    }

    fn preinit_recipe(&self) -> Option<String> {
        Some(IMAGE_RECIPE.to_owned())
    }

    fn preinitialise<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            // The image is booted without program arguments; each run sets ARGV itself.
            let mut boot_invocation = Invocation::new(invocation.argv.clone());
            boot_invocation.ruby_args = invocation.ruby_args.iter().take(3).cloned().collect();
            boot(self.runtime, store, instance, &boot_invocation).await
        })
    }

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, "ruby")
    }
}

/// `_initialize`, then `ruby-init` with the invocation's arguments.
async fn boot<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    invocation: &Invocation,
) -> wasmtime::Result<()> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let realloc = instance
        .get_typed_func::<(i32, i32, i32, i32), i32>(&mut *store, "cabi_realloc")
        .map_err(|_| export_error(runtime, "cabi_realloc"))?;
    let init = instance
        .get_typed_func::<(), ()>(&mut *store, "_initialize")
        .map_err(|_| export_error(runtime, "_initialize"))?;
    init.call_async(&mut *store, ()).await?;

    let ruby_init = instance
        .get_typed_func::<(i32, i32), ()>(&mut *store, "ruby-init: func(args: list<string>) -> ()")
        .map_err(|_| export_error(runtime, "ruby-init"))?;
    let count = invocation.ruby_args.len();
    let list = alloc(store, &realloc, 4, count * 8).await?;
    for (i, arg) in invocation.ruby_args.iter().enumerate() {
        let ptr = write_c_string(store, &realloc, memory, arg).await?;
        let slot = list + i * 8;
        memory.write(&mut *store, slot, &ptr.to_le_bytes())?;
        memory.write(&mut *store, slot + 4, &guest_len(arg.len())?.to_le_bytes())?;
    }
    ruby_init
        .call_async(&mut *store, (guest_ptr(list)?, guest_len(count)?))
        .await?;

    Ok(())
}

/// `rb-eval-string-protect(code)`: the Ruby `state` (0 = no exception).
async fn eval<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
) -> wasmtime::Result<i32> {
    Ok(eval_value(runtime, store, instance, code).await?.1)
}

/// `rb-eval-string-protect(code)`: the handle of the value (lent to the host when `state` is 0)
/// and the Ruby `state` (0 = no exception).
async fn eval_value<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    code: &str,
) -> wasmtime::Result<(i32, i32)> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let realloc = instance
        .get_typed_func::<(i32, i32, i32, i32), i32>(&mut *store, "cabi_realloc")
        .map_err(|_| export_error(runtime, "cabi_realloc"))?;
    let eval = instance
        .get_typed_func::<(i32, i32), i32>(
            &mut *store,
            "rb-eval-string-protect: func(str: string) -> tuple<handle<rb-abi-value>, s32>",
        )
        .map_err(|_| export_error(runtime, "rb-eval-string-protect"))?;
    let text = write_c_string(store, &realloc, memory, code).await?;
    let ret = eval
        .call_async(&mut *store, (text, guest_len(code.len())?))
        .await?;
    let mut tuple = [0u8; 8];
    memory.read(&*store, usize::try_from(ret)?, &mut tuple)?;
    let [h0, h1, h2, h3, s0, s1, s2, s3] = tuple;
    Ok((
        i32::from_le_bytes([h0, h1, h2, h3]),
        i32::from_le_bytes([s0, s1, s2, s3]),
    ))
}

/// The bytes (at most `max`) of the Ruby String lent as `handle`, read out of guest memory with
/// `rstring-ptr`; then releases everything: the copy `rstring-ptr` made
/// (`cabi_post_rstring-ptr`) and the value (the handle leaves the table and
/// `canonical_abi_drop_rb-abi-value` unpins it, so it can be collected).
async fn take_string<T: DriverHost>(
    runtime: &'static Runtime,
    store: &mut Store<T>,
    instance: Instance,
    handle: i32,
    max: usize,
) -> wasmtime::Result<Vec<u8>> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| export_error(runtime, "memory"))?;
    let rstring = instance
        .get_typed_func::<i32, i32>(
            &mut *store,
            "rstring-ptr: func(value: handle<rb-abi-value>) -> string",
        )
        .map_err(|_| export_error(runtime, "rstring-ptr"))?;
    let post = instance
        .get_typed_func::<i32, ()>(&mut *store, "cabi_post_rstring-ptr")
        .map_err(|_| export_error(runtime, "cabi_post_rstring-ptr"))?;
    let drop_value = instance
        .get_typed_func::<i32, ()>(&mut *store, "canonical_abi_drop_rb-abi-value")
        .map_err(|_| export_error(runtime, "canonical_abi_drop_rb-abi-value"))?;
    let ret = rstring.call_async(&mut *store, handle).await?;
    let mut slice = [0u8; 8];
    memory.read(&*store, usize::try_from(ret)?, &mut slice)?;
    let [p0, p1, p2, p3, l0, l1, l2, l3] = slice;
    let ptr = usize::try_from(u32::from_le_bytes([p0, p1, p2, p3]))?;
    let len = usize::try_from(u32::from_le_bytes([l0, l1, l2, l3]))?;
    // Bounds-checked: a pointer outside the guest's memory is an error, not a host read.
    let mut bytes = vec![0u8; len.min(max)];
    memory.read(&*store, ptr, &mut bytes)?;
    post.call_async(&mut *store, ret).await?;
    let rep = store.data_mut().driver_state().handles.get(handle);
    store.data_mut().driver_state().handles.remove(handle);
    if let Some(rep) = rep {
        drop_value.call_async(&mut *store, rep).await?;
    }
    Ok(bytes)
}

/// A cell's report (see [`SESSION_PRELUDE`]): `N`, `E`, or `V` + hex of at most `max_value`
/// bytes of the value's text. Anything else means the helper did not finish: a failed cell.
fn read_report(report: &[u8], max_value: usize) -> CellEnd {
    let failed = CellEnd {
        failed: true,
        value: None,
        exit_code: None,
    };
    match report.split_first() {
        Some((b'N', [])) => CellEnd::default(),
        Some((b'V', digits)) => match unhex(digits) {
            Some(bytes) => CellEnd {
                failed: false,
                value: Some(
                    String::from_utf8_lossy(bytes.get(..max_value).unwrap_or(&bytes)).into_owned(),
                ),
                exit_code: None,
            },
            None => failed,
        },
        _ => failed,
    }
}

/// Bytes from hex digits; `None` for an odd length or a non-digit.
fn unhex(digits: &[u8]) -> Option<Vec<u8>> {
    fn nibble(d: u8) -> Option<u8> {
        match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            b'A'..=b'F' => Some(d - b'A' + 10),
            _ => None,
        }
    }
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// Writes `bytes` as the new file `name` in the fresh directory `dir` (`O_CREAT | O_EXCL`: an
/// existing entry of that name, a symbolic link included, is an error and is not followed).
fn write_new(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())?;
    dir.open_with(
        name,
        cap_std::fs::OpenOptions::new().write(true).create_new(true),
    )?
    .write_all(bytes)
}

fn guest_len(len: usize) -> wasmtime::Result<i32> {
    i32::try_from(len).map_err(|_| wasmtime::Error::msg("argument too large for the guest"))
}

fn guest_ptr(ptr: usize) -> wasmtime::Result<i32> {
    guest_len(ptr)
}

async fn alloc<T: DriverHost>(
    store: &mut Store<T>,
    realloc: &TypedFunc<(i32, i32, i32, i32), i32>,
    align: i32,
    size: usize,
) -> wasmtime::Result<usize> {
    let ptr = realloc
        .call_async(&mut *store, (0, 0, align, guest_len(size.max(1))?))
        .await?;
    usize::try_from(ptr).map_err(|_| wasmtime::Error::msg("cabi_realloc returned a bad pointer"))
}

/// Copies `text` plus a NUL into guest memory (Ruby reads some of these as C strings).
async fn write_c_string<T: DriverHost>(
    store: &mut Store<T>,
    realloc: &TypedFunc<(i32, i32, i32, i32), i32>,
    memory: Memory,
    text: &str,
) -> wasmtime::Result<i32> {
    let ptr = alloc(store, realloc, 1, text.len() + 1).await?;
    memory.write(&mut *store, ptr, text.as_bytes())?;
    memory.write(&mut *store, ptr + text.len(), &[0])?;
    guest_ptr(ptr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_carries_args_and_env_hex_encoded() {
        let mut invocation = Invocation::new(vec!["ruby".into()]);
        invocation.ruby_args = ["ruby", "-EUTF-8", "-e_=0", "a\"b"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        invocation.caller_env = vec![("K".into(), "v'\"".into())];
        let text = image_preamble(&invocation);
        assert!(text.contains(&format!("\"{}\"", super::super::hex(b"a\"b"))));
        assert!(text.contains(&super::super::hex(b"v'\"")));
        assert!(
            !text.contains("a\"b"),
            "raw text must not reach the guest: {text}"
        );
    }

    #[test]
    fn reports_are_read_strictly() {
        assert_eq!(read_report(b"N", 8), CellEnd::default());
        assert!(read_report(b"E", 8).failed);
        let end = read_report(b"V3432", 8);
        assert_eq!((end.failed, end.value.as_deref()), (false, Some("42")));
        assert_eq!(read_report(b"V616263", 2).value.as_deref(), Some("ab"));
        for bad in [&b""[..], b"X", b"V3", b"V3g", b"Nx"] {
            assert!(read_report(bad, 8).failed, "{bad:?}");
        }
    }

    #[test]
    fn handles_are_reused_after_removal() {
        let mut table = HandleTable::default();
        let a = table.insert(100);
        let b = table.insert(200);
        assert_ne!(a, b);
        assert_eq!(table.get(a), Some(100));
        assert!(table.remove(a));
        assert!(!table.remove(a));
        assert_eq!(table.get(a), None);
        let c = table.insert(300);
        assert_eq!(c, a);
        assert_eq!(table.get(c), Some(300));
        assert_eq!(table.get(-1), None);
        assert_eq!(table.get(99), None);
    }

    #[test]
    fn driver_state_round_trips_and_refuses_bad_bytes() {
        let mut state = crate::DriverState::default();
        for rep in [10, 20, 30, 40] {
            state.handles.insert(rep);
        }
        state.handles.remove(1);
        state.handles.remove(3);
        let bytes = state.encode();
        let back = crate::DriverState::decode(&bytes).unwrap();
        assert_eq!(back, state);
        // The restored table hands out the same handles next.
        let (mut a, mut b) = (state.clone(), back);
        assert_eq!(a.handles.insert(7), b.handles.insert(7));

        assert!(crate::DriverState::decode(&[]).is_err());
        assert!(crate::DriverState::decode(&[9]).is_err());
        for cut in 1..bytes.len() {
            assert!(
                crate::DriverState::decode(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(crate::DriverState::decode(&trailing).is_err());
        // A free index naming a live slot would let two values share a handle.
        let mut table = HandleTable::default();
        table.insert(1);
        table.free.push(0);
        let mut forged = vec![1];
        table.encode(&mut forged);
        let err = crate::DriverState::decode(&forged).unwrap_err();
        assert!(err.contains("free handle 0"), "{err}");
        // A huge count is refused before allocating.
        let mut huge = vec![1];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            crate::DriverState::decode(&huge)
                .unwrap_err()
                .contains("more than")
        );
    }
}
