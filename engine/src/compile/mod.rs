//! The compile step: Rust, C and C++ source -> a wasm32-wasip1 command module, or (Rust only) a
//! wasm32-wasip2 command component, which then runs like any other module or component (same
//! limits, same backend). A Rust request is a component when it asks to be
//! ([`ExecutionRequest::component`]) or when its source uses the component bindings
//! (`soulbox_guest`, `wit_bindgen`).
//!
//! - `toolchain.rs`: the pinned toolchains (find, list, install);
//! - `rust.rs`, `clang.rs`: the engine's fixed flags per language and profile - users pass no
//!   compiler flags;
//! - `isolate.rs`: the compiler runs under bubblewrap with no network, a read-only toolchain,
//!   only a scratch directory writable, and its own time and memory limits;
//! - `cache.rs`: results (modules and diagnostics) keyed by source, language, toolchain, flags
//!   and crate set, on disk and bounded.
//!
//! A source that does not compile yields [`Status::CompileError`](crate::Status::CompileError)
//! with the compiler's diagnostics on stderr; nothing runs. So does a compiler that blows its
//! time or memory limit.

mod cache;
mod clang;
pub(crate) mod isolate;
pub(crate) mod runtime_build;
mod rust;
pub(crate) mod toolchain;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{CompileConfig, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};
use cache::{Cached, CompileCache};
use isolate::{Ending, Isolated};

/// The module the compiler writes, inside the scratch directory.
const OUTPUT: &str = "/work/.soulbox-out.wasm";
/// Its name in the scratch directory.
const OUTPUT_NAME: &str = ".soulbox-out.wasm";
/// Largest module read back: what the compiler may write at all (its `RLIMIT_FSIZE`).
const MAX_OUTPUT_BYTES: u64 = isolate::MAX_FILE_BYTES;
/// Temporary directory of the compiler, inside the scratch directory.
const TMP: &str = "/work/.tmp";
/// Longest source file name kept for diagnostics.
const MAX_FILE_NAME: usize = 64;

/// How to run one compiler: program, flags, what it may read, and its identity for the cache.
struct Recipe {
    program: String,
    args: Vec<String>,
    read_only: Vec<(PathBuf, String)>,
    env: Vec<(&'static str, String)>,
    /// Toolchain versions (and crate set), part of the cache key.
    identity: String,
    /// The guest crate set is not installed: say so if the build fails.
    missing_crates_hint: bool,
}

/// Compiles sources for the sandboxes of one engine.
#[derive(Debug)]
pub(crate) struct Compiler {
    toolchains: PathBuf,
    cache: CompileCache,
}

/// What compiling produced.
#[derive(Debug)]
pub(crate) enum CompileOutcome {
    /// A wasm module.
    Module {
        /// The module bytes.
        wasm: Vec<u8>,
    },
    /// The source did not compile (or the compiler broke a limit); nothing is run.
    Failed {
        /// What the compiler printed.
        diagnostics: String,
        /// Why, in words.
        reason: String,
    },
}

impl Compiler {
    pub(crate) fn new(toolchains: PathBuf, cache_dir: PathBuf) -> Self {
        Self {
            toolchains,
            cache: CompileCache::new(cache_dir, cache::DEFAULT_MAX_BYTES),
        }
    }

    /// The directory toolchains are found in.
    pub(crate) fn toolchains(&self) -> &Path {
        &self.toolchains
    }

    /// Compiles `code` (or takes it from the cache).
    pub(crate) async fn compile(
        &self,
        language: Language,
        code: &[u8],
        file_name: Option<&str>,
        settings: &CompileConfig,
        component: bool,
    ) -> Result<CompileOutcome> {
        let source_name = source_file_name(language, file_name)?;
        // Looking for toolchains, the cache and the scratch files is file I/O (and, once per
        // process, `rustc -vV` / `clang --version`): keep it off the async workers.
        let prepared = {
            let toolchains = self.toolchains.clone();
            let cache = self.cache.clone();
            let source_name = source_name.clone();
            let code = code.to_vec();
            let profile = settings.profile;
            tokio::task::spawn_blocking(move || {
                prepare(
                    &toolchains,
                    &cache,
                    language,
                    &source_name,
                    &code,
                    profile,
                    component,
                )
            })
            .await
            .map_err(|e| SoulBoxError::Engine(format!("compile preparation failed: {e}")))??
        };
        let Prepared {
            bwrap,
            recipe,
            key,
            scratch,
        } = match prepared {
            Step::Done(outcome) => return Ok(outcome),
            Step::Compile(prepared) => prepared,
        };
        let finished = isolate::run(Isolated {
            bwrap: &bwrap,
            program: recipe.program.clone(),
            args: recipe.args.clone(),
            read_only: recipe.read_only.clone(),
            scratch: scratch.path(),
            env: recipe.env.clone(),
            timeout: settings.timeout,
            memory_limit: settings.memory_limit,
        })
        .await?;
        let diagnostics = String::from_utf8_lossy(&finished.output).into_owned();
        match finished.ending {
            Ending::Exited(0) => {
                let wasm = read_output(scratch.path(), OUTPUT_NAME)
                    .map_err(|e| SoulBoxError::io("reading the module the compiler wrote", e))?;
                self.cache.put(&key, &Cached::Module(wasm.clone()));
                Ok(CompileOutcome::Module { wasm })
            }
            // Both rustc and clang exit 1 for errors in the source: deterministic, so cached.
            Ending::Exited(1) if !ran_out_of_memory(&diagnostics) => {
                self.cache
                    .put(&key, &Cached::Diagnostics(diagnostics.clone()));
                Ok(failed(diagnostics, &recipe))
            }
            Ending::TimedOut => Ok(CompileOutcome::Failed {
                diagnostics,
                reason: format!("compilation timed out after {:?}", settings.timeout),
            }),
            Ending::Exited(code) if ran_out_of_memory(&diagnostics) => Ok(CompileOutcome::Failed {
                diagnostics,
                reason: format!(
                    "the compiler ran out of memory (limit {} bytes, exit code {code})",
                    settings.memory_limit
                ),
            }),
            Ending::Exited(code) => Ok(CompileOutcome::Failed {
                diagnostics,
                reason: format!("the compiler crashed (exit code {code})"),
            }),
            Ending::Signaled(signal) => Ok(CompileOutcome::Failed {
                diagnostics,
                reason: format!(
                    "the compiler was killed by signal {signal}; it may have exceeded its memory limit of {} bytes or its CPU time",
                    settings.memory_limit
                ),
            }),
        }
    }
}

/// Everything needed to run the compiler.
struct Prepared {
    bwrap: PathBuf,
    recipe: Recipe,
    key: String,
    scratch: tempfile::TempDir,
}

/// Either the cache already answered, or the compiler must run.
enum Step {
    Done(CompileOutcome),
    Compile(Prepared),
}

/// Finds the toolchain, answers from the cache if it can, else writes the source into a fresh
/// scratch directory.
fn prepare(
    toolchains: &Path,
    cache: &CompileCache,
    language: Language,
    source_name: &str,
    code: &[u8],
    profile: crate::CompileProfile,
    component: bool,
) -> Result<Step> {
    let bwrap = toolchain::find_bwrap()?;
    let recipe = match language {
        Language::Rust => rust::recipe(toolchains, source_name, profile, component)?,
        Language::C | Language::Cpp if component => {
            return Err(SoulBoxError::InvalidRequest(format!(
                "only Rust can be compiled as a component, not {language}"
            )));
        }
        Language::C | Language::Cpp => clang::recipe(toolchains, language, source_name, profile)?,
        other => {
            return Err(SoulBoxError::InvalidRequest(format!(
                "{other} is not a compiled language"
            )));
        }
    };
    let key = cache_key(language, source_name, code, &recipe);
    match cache.get(&key) {
        Some(Cached::Module(wasm)) => {
            return Ok(Step::Done(CompileOutcome::Module { wasm }));
        }
        Some(Cached::Diagnostics(diagnostics)) => {
            return Ok(Step::Done(failed(diagnostics, &recipe)));
        }
        None => {}
    }
    let scratch = tempfile::Builder::new()
        .prefix("soulbox-compile-")
        .tempdir()
        .map_err(|e| SoulBoxError::io("creating the compile scratch directory", e))?;
    write_input(scratch.path(), source_name, code)
        .and_then(|()| {
            cap_std::fs::Dir::open_ambient_dir(scratch.path(), cap_std::ambient_authority())?
                .create_dir(".tmp")
        })
        .map_err(|e| SoulBoxError::io("writing the source for the compiler", e))?;
    Ok(Step::Compile(Prepared {
        bwrap,
        recipe,
        key,
        scratch,
    }))
}

/// Writes `bytes` as the new file `name` in the fresh scratch directory `scratch` (nothing may
/// exist there yet: `O_CREAT | O_EXCL`, which also refuses a link of that name).
pub(crate) fn write_input(scratch: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = cap_std::fs::Dir::open_ambient_dir(scratch, cap_std::ambient_authority())?;
    dir.open_with(
        name,
        cap_std::fs::OpenOptions::new().write(true).create_new(true),
    )?
    .write_all(bytes)
}

/// Reads the file `name` a compiler wrote into its scratch directory, which the compiler
/// could fill with anything: no link followed, `O_NONBLOCK`, a regular file of at most the
/// compiler's largest-file limit.
pub(crate) fn read_output(scratch: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let dir = cap_std::fs::Dir::open_ambient_dir(scratch, cap_std::ambient_authority())?;
    crate::workspace::guest_fs::read_regular(&dir, Path::new(name), MAX_OUTPUT_BYTES)
        .map_err(std::io::Error::from)
}

/// rustc and clang announce an allocation failure before they abort.
fn ran_out_of_memory(diagnostics: &str) -> bool {
    [
        "memory allocation of",
        "LLVM ERROR: out of memory",
        "std::bad_alloc",
    ]
    .iter()
    .any(|m| diagnostics.contains(m))
}

fn failed(mut diagnostics: String, recipe: &Recipe) -> CompileOutcome {
    if recipe.missing_crates_hint {
        let names = toolchain::guest_crate_names();
        if names
            .iter()
            .any(|n| diagnostics.contains(&format!("`{n}`")))
        {
            diagnostics.push_str(&format!(
                "\nnote: the Rust guest crates ({}) are not installed; run `{}`\n",
                names.join(", "),
                toolchain::INSTALL_COMMAND
            ));
        }
    }
    CompileOutcome::Failed {
        diagnostics,
        reason: "compilation failed".into(),
    }
}

fn cache_key(language: Language, source_name: &str, code: &[u8], recipe: &Recipe) -> String {
    let mut h = Sha256::new();
    for part in [
        language.name().as_bytes(),
        source_name.as_bytes(),
        recipe.identity.as_bytes(),
        recipe.program.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for arg in &recipe.args {
        h.update((arg.len() as u64).to_le_bytes());
        h.update(arg.as_bytes());
    }
    h.update((code.len() as u64).to_le_bytes());
    h.update(code);
    hex::encode(h.finalize())
}

/// The name the source gets in the scratch directory (and in diagnostics): the request's file
/// name when it is a plain name with the language's extension, else `main.<ext>`.
fn source_file_name(language: Language, given: Option<&str>) -> Result<String> {
    let (default, extensions): (&str, &[&str]) = match language {
        Language::Rust => ("main.rs", &["rs"]),
        Language::C => ("main.c", &["c"]),
        Language::Cpp => ("main.cpp", &["cpp", "cc", "cxx", "c++"]),
        other => {
            return Err(SoulBoxError::InvalidRequest(format!(
                "{other} is not a compiled language"
            )));
        }
    };
    let usable = given.filter(|name| {
        name.len() <= MAX_FILE_NAME
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c))
            && name
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && extensions.contains(&ext))
    });
    Ok(usable.unwrap_or(default).to_owned())
}

/// What the compile step made of a Rust, C or C++ request, with the isolation it ran under (the
/// same list whether or not the compiler ran: a cache hit would tell one tenant that another
/// compiled the same source).
pub(crate) enum Built {
    /// A wasm32-wasip1 module or (Rust components) a wasm32-wasip2 component, to run as
    /// `program` (the source file's stem).
    Module {
        wasm: Vec<u8>,
        program: String,
        isolation: Vec<String>,
    },
    /// The source did not compile: the compiler's diagnostics and a one-line reason.
    Failed {
        diagnostics: String,
        reason: String,
        isolation: Vec<String>,
    },
}

/// Whether `request` is compiled as a component: asked for, or a Rust source that uses the
/// component bindings.
fn wants_component(request: &ExecutionRequest) -> bool {
    request.component || (request.language == Language::Rust && rust::uses_bindings(&request.code))
}

/// Compiles a Rust, C or C++ request (or takes it from the compile cache).
pub(crate) async fn build(
    compiler: &Compiler,
    config: &SandboxConfig,
    request: &ExecutionRequest,
) -> Result<Built> {
    if request.code.is_empty() {
        return Err(SoulBoxError::InvalidRequest("the source is empty".into()));
    }
    let outcome = compiler
        .compile(
            request.language,
            &request.code,
            request.file_name.as_deref(),
            &config.compile,
            wants_component(request),
        )
        .await?;
    let isolation: Vec<String> = isolate::ISOLATION.iter().map(|s| (*s).to_owned()).collect();
    match outcome {
        CompileOutcome::Module { wasm } => {
            let source = source_file_name(request.language, request.file_name.as_deref())?;
            let program = source
                .rsplit_once('.')
                .map(|(stem, _)| stem.to_owned())
                .unwrap_or(source);
            Ok(Built::Module {
                wasm,
                program,
                isolation,
            })
        }
        CompileOutcome::Failed {
            diagnostics,
            reason,
            ..
        } => Ok(Built::Failed {
            diagnostics,
            reason,
            isolation,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wasm binary header says module (version 1, layer 0) or component (layer 1).
    fn is_component(wasm: &[u8]) -> bool {
        wasm.len() >= 8 && wasm[..4] == *b"\0asm" && wasm[6..8] == [1, 0]
    }

    /// Uses the real toolchains (`soulbox toolchains install`, run by scripts/setup.sh).
    #[tokio::test(flavor = "multi_thread")]
    async fn rust_becomes_a_component_when_asked_or_when_it_uses_the_bindings() {
        let home = crate::default_home().expect("SOULBOX_HOME");
        let cache = tempfile::tempdir().expect("cache dir");
        let compiler = Compiler::new(
            toolchain::default_toolchains_dir(&home),
            cache.path().to_path_buf(),
        );
        let settings = CompileConfig::default();
        let compile = |code: &'static str, asked: bool| {
            let compiler = &compiler;
            let settings = &settings;
            async move {
                let mut request = ExecutionRequest::new(Language::Rust, code);
                request.component = asked;
                let component = wants_component(&request);
                match compiler
                    .compile(Language::Rust, code.as_bytes(), None, settings, component)
                    .await
                    .expect("the compiler ran")
                {
                    CompileOutcome::Module { wasm } => wasm,
                    CompileOutcome::Failed { diagnostics, .. } => panic!("{diagnostics}"),
                }
            }
        };
        let plain = compile("fn main() {}", false).await;
        assert!(plain.starts_with(b"\0asm\x01\0\0\0"), "a core module");
        assert!(is_component(&compile("fn main() {}", true).await));
        let bindings = "fn main() { let _ = soulbox_guest::tools::list(); }";
        assert!(is_component(&compile(bindings, false).await));
    }

    #[test]
    fn source_names_are_plain_and_keep_the_language() {
        let name = |l, g| source_file_name(l, g).ok();
        assert_eq!(name(Language::Rust, None).as_deref(), Some("main.rs"));
        assert_eq!(name(Language::C, Some("prog.c")).as_deref(), Some("prog.c"));
        assert_eq!(name(Language::Cpp, Some("x.cc")).as_deref(), Some("x.cc"));
        for bad in [
            "../etc/passwd.c",
            "/abs.c",
            ".hidden.c",
            "a b.c",
            "prog.rs",
            "c",
        ] {
            assert_eq!(
                name(Language::C, Some(bad)).as_deref(),
                Some("main.c"),
                "{bad}"
            );
        }
    }
}
