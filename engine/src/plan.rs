//! Planning: which runtime, toolchain or backend serves a request. Every door (library, CLI,
//! server, bindings) goes through here, so "what runs this language" is decided in one place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use soulbox_runtimes::RunInput;
use soulbox_runtimes::packages::layer::Layer;
use wasmtime::Module;

use crate::compile::Built;
use crate::runtime;
use crate::wasm::{DriverRun, WasmProgram};

use crate::{
    Backend, Engine, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError, Status,
};

/// What an execution comes to: a program for one of the backends, or a result that is already
/// known because nothing can run (the source did not compile, or a limit refused the module).
pub(crate) enum Plan {
    /// A program for the wasm backend. `spent` is the part of the execution's timeout that
    /// compiling its module took (the run gets the rest); `isolation` lists layers that came
    /// before the run (the compile step's), reported ahead of the run's own.
    Wasm {
        program: WasmProgram,
        spent: Duration,
        isolation: Vec<String>,
    },
    /// A component (WASI preview 2) for the component backend (`wasip2/`); `spent` and
    /// `isolation` as for [`Plan::Wasm`].
    Component {
        component: wasmtime::component::Component,
        argv: Vec<String>,
        spent: Duration,
        isolation: Vec<String>,
    },
    /// A host program behind the native isolation.
    #[cfg(target_os = "linux")]
    Native(crate::native::NativeProgram),
    /// The source did not compile: nothing runs; the result is `compile_error` with the
    /// compiler's diagnostics on stderr.
    CompileFailed {
        diagnostics: String,
        reason: String,
        isolation: Vec<String>,
    },
    /// The module was refused before it ran: it asks for more memory than the limit
    /// (`memory_limit`, refused before compiling), or compiling it took the whole timeout
    /// (`timeout`). A guest breaking a limit, so a result rather than an error.
    Refused {
        status: Status,
        error: String,
        isolation: Vec<String>,
    },
}

/// Decides how to run `request` under `config`, compiling (or fetching from cache) what it needs.
pub(crate) async fn plan(
    engine: &Engine,
    config: &SandboxConfig,
    request: &ExecutionRequest,
    packages: Option<&Layer>,
) -> Result<Plan> {
    let native = match config.backend {
        Backend::Native => true,
        Backend::Wasm => false,
        // Only what has no wasm runtime takes the native path.
        Backend::Auto => matches!(request.language, Language::Shell | Language::Native),
    };
    if native {
        return native_plan(request);
    }
    if let Some(selected) = runtime::select(config, request)? {
        let prepared = engine.runtimes().prepared(selected, config).await?;
        let invocation = prepared.driver.prepare(&RunInput {
            code: &request.code,
            args: &request.args,
            packages,
        })?;
        return Ok(Plan::Wasm {
            program: WasmProgram::Interpreter(Box::new(DriverRun {
                runtime: prepared,
                invocation,
            })),
            spent: Duration::ZERO,
            isolation: Vec::new(),
        });
    }
    match request.language {
        Language::Wasm => {
            if request.code.is_empty() {
                return Err(SoulBoxError::InvalidRequest("the module is empty".into()));
            }
            let program = request
                .file_name
                .clone()
                .unwrap_or_else(|| "main.wasm".into());
            let bytes: Arc<[u8]> = Arc::from(request.code.as_slice());
            module_plan(engine, config, bytes, program, request, Vec::new()).await
        }
        Language::Rust | Language::C | Language::Cpp => {
            match crate::compile::build(engine.compiler(), config, request).await? {
                Built::Module {
                    wasm,
                    program,
                    isolation,
                } => {
                    module_plan(engine, config, Arc::from(wasm), program, request, isolation).await
                }
                Built::Failed {
                    diagnostics,
                    reason,
                    isolation,
                } => Ok(Plan::CompileFailed {
                    diagnostics,
                    reason,
                    isolation,
                }),
            }
        }
        other => Err(SoulBoxError::Unsupported {
            language: other,
            backend: "wasm",
            reason: not_yet_reason(other).into(),
        }),
    }
}

/// The plan for a guest-supplied module (raw wasm/WAT, or what the compile step built, whose
/// `isolation` comes first in the result): compiled under the execution's limits, then run as
/// `program` with the request's arguments - or refused with the limit it broke.
async fn module_plan(
    engine: &Engine,
    config: &SandboxConfig,
    bytes: Arc<[u8]>,
    program: String,
    request: &ExecutionRequest,
    isolation: Vec<String>,
) -> Result<Plan> {
    let argv = std::iter::once(program)
        .chain(request.args.iter().cloned())
        .collect();
    match user_module(engine, config, bytes).await? {
        UserModule::Ready { module, spent } => Ok(Plan::Wasm {
            program: WasmProgram::Module { module, argv },
            spent,
            isolation,
        }),
        UserModule::Component { component, spent } => Ok(Plan::Component {
            component,
            argv,
            spent,
            isolation,
        }),
        UserModule::Refused { status, error } => Ok(Plan::Refused {
            status,
            error,
            // A raw module refused before it ran still names the wall it met.
            isolation: if isolation.is_empty() {
                crate::wasm::isolation()
            } else {
                isolation
            },
        }),
    }
}

/// A guest-supplied module (raw wasm or WAT, or what the compile step built from source), made
/// ready under the execution's limits.
pub(crate) enum UserModule {
    /// Compiled (or found in the cache) in `spent` of the execution's timeout.
    Ready { module: Module, spent: Duration },
    /// A component, compiled in `spent` of the execution's timeout.
    Component {
        component: wasmtime::component::Component,
        spent: Duration,
    },
    /// Refused before running, with the status and why.
    Refused { status: Status, error: String },
}

/// Compiles a guest-supplied module as part of its execution: the text format is turned into
/// binary and the module's declared memory checked against the memory limit first (a module
/// whose initial memory or data segments exceed it is refused before compiling: compiling builds
/// that memory image on the host), and everything - text parsing, checking, Cranelift - races
/// the execution's timeout on blocking threads. A compile that loses ends the execution with
/// `timeout`; it finishes in the background (Cranelift cannot be interrupted) and its result is
/// cached, but nothing waits for it.
pub(crate) async fn user_module(
    engine: &Engine,
    config: &SandboxConfig,
    bytes: Arc<[u8]>,
) -> Result<UserModule> {
    let started = Instant::now();
    let memory_limit = config.memory_limit;
    let prepare = async {
        let checked = tokio::task::spawn_blocking(move || {
            let binary: Arc<[u8]> = if bytes.starts_with(b"\0asm") {
                bytes
            } else {
                Arc::from(
                    wat::parse_bytes(&bytes)
                        .map_err(|e| SoulBoxError::InvalidModule(format!("{e}")))?
                        .as_ref(),
                )
            };
            let refusal = crate::wasm::declared_memory(&binary, memory_limit)
                .map_err(SoulBoxError::InvalidModule)?;
            Ok::<_, SoulBoxError>((binary, refusal))
        })
        .await
        .map_err(|e| SoulBoxError::Engine(format!("module check task failed: {e}")))??;
        match checked {
            (_, Some(error)) => Ok(UserModule::Refused {
                status: Status::MemoryLimit,
                error,
            }),
            (binary, None) if crate::wasip2::is_component(&binary) => {
                let wasm = engine.wasm().engine.clone();
                let component = tokio::task::spawn_blocking(move || {
                    crate::wasip2::compile(&wasm, &binary)
                })
                .await
                .map_err(|e| SoulBoxError::Engine(format!("component compile task failed: {e}")))??;
                Ok(UserModule::Component {
                    component,
                    spent: started.elapsed(),
                })
            }
            (binary, None) => {
                let wasm = engine.wasm();
                let module = wasm.modules.get(&wasm.engine, binary).await?;
                Ok(UserModule::Ready {
                    module,
                    spent: started.elapsed(),
                })
            }
        }
    };
    match tokio::time::timeout(config.timeout, prepare).await {
        Ok(ready) => ready,
        Err(_elapsed) => Ok(UserModule::Refused {
            status: Status::Timeout,
            error: format!(
                "compiling the module took longer than the timeout of {:?} (the timeout covers \
                 compiling a module as well as running it)",
                config.timeout
            ),
        }),
    }
}

#[cfg(target_os = "linux")]
fn native_plan(request: &ExecutionRequest) -> Result<Plan> {
    crate::native::NativeProgram::for_request(request).map(Plan::Native)
}

#[cfg(not(target_os = "linux"))]
fn native_plan(request: &ExecutionRequest) -> Result<Plan> {
    Err(SoulBoxError::Unsupported {
        language: request.language,
        backend: "native",
        reason: "the native backend (namespaces + seccomp + cgroups) needs Linux".into(),
    })
}

fn not_yet_reason(language: Language) -> &'static str {
    match language {
        Language::Python | Language::JavaScript | Language::Ruby => {
            "no runtime in the catalogue serves it"
        }
        Language::Shell | Language::Native => {
            "shell scripts and executables run on the native backend (--backend native or auto)"
        }
        Language::Wasm | Language::Rust | Language::C | Language::Cpp => "",
    }
}
