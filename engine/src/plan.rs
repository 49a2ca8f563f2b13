//! Planning: which runtime, toolchain or backend serves a request. Every door (library, CLI,
//! server, bindings) goes through here, so "what runs this language" is decided in one place.

use std::sync::Arc;

use soulbox_runtimes::{Invocation, RunInput};
use wasmtime::Module;

use crate::runtime::{self, PreparedRuntime};

use crate::{Backend, Engine, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};

/// What the backend will run.
pub(crate) enum Plan {
    /// A WASI command module, with the argv it gets.
    Wasm { module: Module, argv: Vec<String> },
    /// A module the compile step built from Rust/C/C++ source; runs exactly like `Wasm`, and the
    /// result also lists the compile step's isolation.
    Compiled {
        module: Module,
        argv: Vec<String>,
        isolation: Vec<String>,
    },
    /// The source did not compile: nothing runs; the result is `compile_error` with the
    /// compiler's diagnostics on stderr.
    CompileFailed {
        diagnostics: String,
        reason: String,
        isolation: Vec<String>,
    },
    /// An interpreter from the runtime catalogue, with what its driver prepared for this run.
    Interpreter {
        runtime: Arc<PreparedRuntime>,
        invocation: Invocation,
    },
    /// A host program behind the native isolation.
    #[cfg(target_os = "linux")]
    Native(crate::native::NativeProgram),
}

/// Decides how to run `request` under `config`, compiling (or fetching from cache) what it needs.
pub(crate) async fn plan(
    engine: &Engine,
    config: &SandboxConfig,
    request: &ExecutionRequest,
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
        let prepared = engine.prepared_runtime(selected, config).await?;
        let invocation = prepared.driver.prepare(&RunInput {
            code: &request.code,
            args: &request.args,
        })?;
        return Ok(Plan::Interpreter {
            runtime: prepared,
            invocation,
        });
    }
    match request.language {
        Language::Wasm => {
            if request.code.is_empty() {
                return Err(SoulBoxError::InvalidRequest("the module is empty".into()));
            }
            let bytes: Arc<[u8]> = Arc::from(request.code.as_slice());
            let module = engine
                .inner()
                .modules
                .get(&engine.inner().wasm, bytes)
                .await?;
            let program = request
                .file_name
                .clone()
                .unwrap_or_else(|| "main.wasm".into());
            let argv = std::iter::once(program)
                .chain(request.args.iter().cloned())
                .collect();
            Ok(Plan::Wasm { module, argv })
        }
        Language::Rust | Language::C | Language::Cpp => {
            crate::compile::plan(engine, config, request).await
        }
        other => Err(SoulBoxError::Unsupported {
            language: other,
            backend: "wasm",
            reason: not_yet_reason(other).into(),
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
