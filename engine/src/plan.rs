//! Planning: which runtime, toolchain or backend serves a request. Every door (library, CLI,
//! server, bindings) goes through here, so "what runs this language" is decided in one place.

use std::sync::Arc;

use wasmtime::Module;

use crate::{Backend, Engine, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};

/// What the backend will run.
pub(crate) enum Plan {
    /// A WASI command module, with the argv it gets.
    Wasm { module: Module, argv: Vec<String> },
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
            "interpreter runtimes are not part of this build yet; run WebAssembly (`-l wasm`) for now"
        }
        Language::Rust | Language::C | Language::Cpp => {
            "the compile-to-wasm step is not part of this build yet; compile to wasm32-wasip1 yourself and run the .wasm"
        }
        Language::Shell | Language::Native => {
            "shell scripts and executables run on the native backend (--backend native or auto)"
        }
        Language::Wasm => "",
    }
}
