//! # SoulBox: run untrusted code, get its output, files and resource use back
//!
//! SoulBox runs code nobody has reviewed - typically code an AI agent just wrote - behind a
//! WebAssembly wall: the guest is a WASI program under [Wasmtime](https://wasmtime.dev) with a
//! wall-clock deadline, an instruction budget (fuel), a memory limit, capped output, and a single
//! directory of the host (its *workspace*, `/work` in the guest) as its whole filesystem.
//!
//! What cannot run as wasm (a shell script, a native executable, the host's `python3`) takes the
//! native backend ([`Backend::Native`], Linux): new namespaces, a minimal read-only root, seccomp,
//! Landlock and cgroup limits. Every [`ExecutionResult::isolation`] lists the layers in effect;
//! a host that cannot give them all refuses ([`SoulBoxError::IsolationUnavailable`]) unless the
//! configuration accepts weaker isolation.
//!
//! ## The pieces
//! - [`Engine`]: the shared, expensive part (Wasmtime engine, compiled-module cache under
//!   `$SOULBOX_HOME`, epoch ticker). One per process; [`Engine::shared`] is used by default.
//! - [`Sandbox`] (also named [`SoulBox`]): one workspace plus limits ([`SandboxConfig`]) and a
//!   lifecycle ([`SandboxState`]). Executions in a sandbox share its files; sandboxes share nothing.
//! - [`Sandbox::execute_code`] / [`Sandbox::execute`]: run code, get an [`ExecutionResult`].
//!   [`Sandbox::stream_execute`] yields [`StreamOutput`] events as the guest writes.
//!
//! ## Limits are results, not errors
//! A guest that loops, floods, traps or asks for too much memory yields `Ok(ExecutionResult)` with
//! a [`Status`] (`Timeout`, `OutputLimit`, `Trap`, `MemoryLimit`, ...), its output so far and its
//! usage. `Err(SoulBoxError)` is reserved for the host side: a bad request, a missing runtime, an
//! I/O failure - each message says what to do.
//!
//! ## Example
//! ```no_run
//! use std::time::Duration;
//! use soulbox::{Language, SandboxConfig, SoulBox, Status, MIB};
//!
//! # async fn demo() -> soulbox::Result<()> {
//! let sandbox = SoulBox::create(
//!     SandboxConfig::default()
//!         .with_memory_limit(64 * MIB)
//!         .with_timeout(Duration::from_secs(5)),
//! )
//! .await?;
//! let hello = r#"(module
//!   (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 16) "hi\n")
//!   (func (export "_start")
//!     (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
//!     (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
//! let result = sandbox.execute_code(Language::Wasm, hello).await?;
//! assert_eq!(result.status, Status::Ok);
//! assert_eq!(result.stdout, "hi\n");
//! # Ok(()) }
//! ```
//!
//! ## Where things live
//! Layers, each importing only from those below (checked by `scripts/check-layers.sh`):
//! `session.rs` -> `sandbox.rs` -> `plan.rs` -> `engine.rs` -> `runtime.rs` -> the backends
//! (`wasm/`, `native/`, `compile/`) -> shared parts (`workspace/`, `output.rs`, `stop.rs`, ...).
//!
//! - `wasm/`: the WebAssembly backend - `backend.rs` (the handle runs get instead of the
//!   engine: Wasmtime, linker, module cache, pools), `config.rs` (Wasmtime settings, epoch tick, table and
//!   stack constants), `deadline.rs` (deadlines, CPU quota), `memory.rs` (memory and tables),
//!   `disk.rs` + `shadow.rs` (disk budget), `fs_guard.rs` (special files, escaping links),
//!   `wasi_output.rs` (stdout/stderr as WASI streams), `module_cache.rs` (compiled, authenticated
//!   modules), `pool.rs` (warm pools), `preinit.rs` (pre-initialised images), `live.rs` (a live
//!   session guest), `snapshot.rs` (the session file format).
//! - `native/`: the native backend - `isolation.rs` (what the host allows, what a run gets),
//!   `spawn.rs` + `child.rs` (clone into namespaces, mini-init, hardening), `identity.rs` (the
//!   unprivileged host id), `rootfs.rs` (the minimal root), `seccomp.rs`, `landlock.rs`,
//!   `cgroup.rs` (limits), `os.rs` (the setup's system calls behind a trait).
//! - `output.rs`: capped, streamed stdout/stderr for both backends; `stop.rs`: why a run was
//!   stopped (deadline, output limit, terminate).
//! - `workspace/`: the sandbox directory, `guest_fs.rs` (the only way host code touches guest
//!   files: cap-std, no links, no FIFOs, capped reads) and artifact detection.
//! - `compile/`: Rust/C/C++ -> wasm32-wasip1 - toolchains, fixed flags, the bubblewrap-isolated
//!   compiler, the compile cache.
//! - `guest.rs`: the `GuestContext` every backend receives for one guest; `runtime.rs`: the
//!   engine's language runtimes (install, compile, pre-initialise, link once).
//! - `plan.rs`: which runtime/backend serves a request; `sandbox.rs`: lifecycle and the one
//!   execution flow every door uses; `session.rs`: sessions.
#![deny(missing_docs)]

pub mod agent;
mod compile;
pub mod component;
mod engine;
mod error;
mod guest;
#[cfg(target_os = "linux")]
mod native;
mod outcome;
mod output;
mod package_layer;
pub mod packages;
mod plan;
mod result_ext;
mod runtime;
mod sandbox;
mod session;
mod stdin;
mod stop;
mod tools;
mod wasip2;
mod wasm;
mod workspace;

// The data types live in the light `soulbox-api` crate (no Wasmtime behind them), for clients
// that talk to a remote SoulBox; they are re-exported here under the same names.
pub use agent::ToolArguments;
pub use engine::{Engine, EngineConfig, check_home, default_home};
pub use error::{Result, SoulBoxError};
pub use packages::{InstallOptions, InstallReport};
pub use sandbox::Sandbox;
pub use session::{Session, SnapshotInfo};
/// The data crate itself, for code that names it (`soulbox::api::ErrorKind`).
pub use soulbox_api as api;
pub use soulbox_api::{
    ACCEPTED_LANGUAGES, ApiError, Artifact, Backend, CompileConfig, CompileProfile, ErrorKind,
    ExecutionRequest, ExecutionResult, FileInfo, Language, MAX_ARTIFACT_BYTES, MAX_ARTIFACTS,
    MAX_CPU_QUOTA, MAX_DISK_BYTES, MAX_DISK_ENTRIES, MAX_MEMORY_LIMIT, MAX_OUTPUT_BYTES,
    MAX_PROCESSES, MAX_TIMEOUT, MIB, SandboxConfig, SandboxState, Status, Stdin, StreamOutput,
    UnknownLanguage, parse_byte_size, parse_duration,
};
pub use soulbox_host::{ToolError, ToolErrorKind, ToolFunction, ToolHandler};
pub use stdin::StdinExt;
pub use wasm::WarmPoolStats;
pub use workspace::GUEST_WORKDIR;

/// The compile toolchains (Rust, clang + WASI sysroot, guest crates, bwrap): list and install.
pub mod toolchains {
    pub use crate::compile::toolchain::{
        APT_PACKAGES, CLANG_MAJOR, INSTALL_COMMAND, InstallOptions, Missing, RUST_TARGETS,
        RUST_TOOLCHAIN, SYSROOT_PACKAGE, SYSROOT_VERSION, ToolchainStatus, default_toolchains_dir,
        install_toolchains, toolchain_status,
    };
}
/// The language-runtime catalogue, installer and drivers (crate `soulbox-runtimes`).
pub use soulbox_runtimes as runtimes;

/// The seed's name for a sandbox: `SoulBox::create(config)` is [`Sandbox::create`].
pub type SoulBox = Sandbox;
