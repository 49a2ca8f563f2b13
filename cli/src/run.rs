//! `soulbox run`: one execution, plain or JSON.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use soulbox::{
    Backend, CompileProfile, Engine, EngineConfig, ExecutionRequest, ExecutionResult, Language,
    Sandbox, SandboxConfig, Status, Stdin, StdinExt, parse_byte_size, parse_duration,
};

use crate::EXIT_USAGE;

/// Exit status when the engine itself failed (missing runtime, I/O error, ...).
pub(crate) const EXIT_ENGINE: u8 = 125;
/// Exit status of a run stopped by its wall-clock (or fuel) limit.
const EXIT_TIMEOUT: u8 = 124;
/// Exit status of a run stopped by its memory limit (or terminated).
const EXIT_MEMORY: u8 = 137;
/// Exit status of a guest trap (like an abort).
const EXIT_TRAP: u8 = 134;

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: the guest's own exit code; 124 timeout or fuel exhausted; 137 memory limit or killed;
134 trap; 125 output limit or engine failure; 2 usage error; 1 compile error.
Languages: python (py), javascript (js, mjs), ruby (rb), rust (rs), c, cpp (cc, cxx), wasm (wat),
shell (sh), native. Shell scripts and executables run on the native backend; --backend native runs
python, javascript and ruby with the host's interpreters.
Sizes: 64MiB, 512M, 1G, or bytes. Durations: 500ms, 5s, 2m, or seconds.")]
pub(crate) struct RunArgs {
    /// Source file or module to run (its extension picks the language unless -l is given).
    file: Option<PathBuf>,
    /// Code to run instead of a file.
    #[arg(
        short = 'c',
        long = "code",
        value_name = "CODE",
        conflicts_with = "file"
    )]
    code: Option<String>,
    /// Language of the code (needed with -c; otherwise taken from the file extension).
    #[arg(short = 'l', long = "lang", value_name = "LANG", value_parser = parse_language)]
    lang: Option<Language>,
    /// Wall-clock limit (at most 24h; for a wasm module it includes compiling it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Memory limit [default: 256MiB, or more when the runtime needs it: 512MiB for python].
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size)]
    memory: Option<u64>,
    /// Interpreter to use instead of the language's default (python-lite, micropython, ...;
    /// see `soulbox runtimes list`).
    #[arg(long, value_name = "NAME")]
    runtime: Option<String>,
    /// Never download a missing runtime or package; fail with a message saying what is missing.
    #[arg(long)]
    offline: bool,
    /// Install a package for the guest's language before running (repeatable; resolved
    /// together): a requirement for Python (`requests`, `rich==13.7.1`), an npm spec for
    /// JavaScript (`ms@2.1.3`), the path of a local `.gem` file for Ruby. Progress on stderr.
    /// With -c and no -l, the language is Python.
    #[arg(long = "install", value_name = "SPEC")]
    install: Vec<String>,
    /// Install exactly the packages of a lock file (versions and digests, as `--write-lock`
    /// writes it) before running.
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// After installing, write the sandbox's packages as a lock file (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    write_lock: Option<PathBuf>,
    /// Instruction budget (wasm fuel units); unlimited by default.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Most bytes kept of stdout and of stderr each.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value = "4MiB")]
    max_output: u64,
    /// Most bytes the program may grow its files by (wasm backend; rewrites are free, a sparse
    /// file costs its size); beyond it writes fail with ENOSPC and the status is `disk_limit`.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value = "1GiB")]
    max_disk: u64,
    /// Which wall to run behind.
    #[arg(long, value_name = "auto|wasm|native", default_value = "auto", value_parser = parse_backend)]
    backend: Backend,
    /// Compile profile for Rust, C and C++ (the engine's fixed flags either way).
    #[arg(long, value_name = "debug|release", default_value = "debug", value_parser = parse_profile)]
    profile: CompileProfile,
    /// Same as `--profile release`.
    #[arg(long, conflicts_with = "profile")]
    release: bool,
    /// Compile Rust as a WASI preview 2 component (wasm32-wasip2) that may import SoulBox's
    /// WIT interfaces through the `soulbox_guest` crate (nested sandboxes, tools, HTTP).
    /// Automatic when the source uses `soulbox_guest` or `wit_bindgen`.
    #[arg(long)]
    component: bool,
    /// Wall-clock limit of the compile step (Rust, C, C++).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    compile_timeout: Duration,
    /// Memory (address-space) limit of the compiler.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, default_value = "4GiB")]
    compile_memory: u64,
    /// Native backend: run with whatever isolation the host can give when it is less than the
    /// full set (the JSON `isolation` list says what was in effect).
    #[arg(long)]
    allow_weaker_isolation: bool,
    /// Let the guest reach HOST over HTTP(S) through the host (repeatable): `example.com`,
    /// `*.example.com` (subdomains), with an optional scheme and port (`https://api.x.com:8443`).
    /// Addresses that are not public (loopback, private, link-local, ...) are reachable only
    /// when named as an IP literal (`127.0.0.1:8080`). Without it the guest has no network.
    /// The native backend never has a network.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
    /// Host directory used as the sandbox's workspace (/work in the guest); kept after the run.
    #[arg(long, value_name = "DIR", visible_alias = "workdir")]
    workspace: Option<PathBuf>,
    /// Environment variable for the guest (repeatable). Nothing of the host's environment is passed.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Print exactly one JSON object with status, output, usage and artifacts.
    #[arg(long)]
    json: bool,
    /// Run on a SoulBox server (`soulbox serve`) instead of in this process: same output, JSON
    /// and exit codes. With --workspace, the directory's files are uploaded first and the files
    /// the run creates or changes are downloaded back into it.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// Bearer token for --remote.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SOULBOX_TOKEN",
        hide_env_values = true,
        requires = "remote"
    )]
    token: Option<String>,
    /// Arguments passed to the guest program.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// The default memory limit: 256 MiB, raised to what the language's runtime recommends.
fn default_memory(language: Language, runtime: Option<&str>) -> u64 {
    let base = SandboxConfig::default().memory_limit;
    let runtime = match runtime {
        Some(name) => soulbox::runtimes::catalogue::find(name),
        None => match language {
            Language::Python => soulbox::runtimes::catalogue::default_for("python"),
            Language::JavaScript => soulbox::runtimes::catalogue::default_for("javascript"),
            Language::Ruby => soulbox::runtimes::catalogue::default_for("ruby"),
            _ => None,
        },
    };
    runtime.map_or(base, |r| base.max(r.recommended_memory))
}

fn parse_language(s: &str) -> Result<Language, String> {
    s.parse::<Language>().map_err(|e| e.to_string())
}

fn parse_profile(s: &str) -> Result<CompileProfile, String> {
    s.parse()
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse()
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

pub(crate) fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("soulbox: {msg}");
    ExitCode::from(EXIT_USAGE)
}

pub(crate) async fn run(args: RunArgs) -> ExitCode {
    let (code, language, file_name) = match (&args.code, &args.file) {
        (Some(code), _) => match args.lang {
            Some(lang) => (code.clone().into_bytes(), lang, None),
            // `--install requests -c ...`: package specs are pip's unless -l says otherwise.
            None if !args.install.is_empty() => (code.clone().into_bytes(), Language::Python, None),
            None => {
                return usage(
                    "-c CODE needs -l LANG (python, javascript, ruby, rust, c, cpp, wasm, shell)",
                );
            }
        },
        (None, Some(path)) => {
            let lang = match args.lang.or_else(|| Language::from_path(path)) {
                Some(lang) => lang,
                None => {
                    return usage(format!(
                        "cannot tell the language of {}; pass -l LANG ({})",
                        path.display(),
                        soulbox::ACCEPTED_LANGUAGES
                    ));
                }
            };
            match std::fs::read(path) {
                Ok(bytes) => (
                    bytes,
                    lang,
                    path.file_name().map(|n| n.to_string_lossy().into_owned()),
                ),
                Err(e) => return usage(format!("cannot read {}: {e}", path.display())),
            }
        }
        (None, None) => {
            return usage("nothing to run: give a FILE or -c CODE (see `soulbox run --help`)");
        }
    };
    let memory = args
        .memory
        .unwrap_or_else(|| default_memory(language, args.runtime.as_deref()));
    let mut config = SandboxConfig::default()
        .with_timeout(args.timeout)
        .with_memory_limit(memory)
        .with_max_output_bytes(args.max_output)
        .with_max_disk_bytes(args.max_disk)
        .with_backend(args.backend);
    config.fuel = args.fuel;
    config.compile.profile = if args.release {
        CompileProfile::Release
    } else {
        args.profile
    };
    config.compile.timeout = args.compile_timeout;
    config.compile.memory_limit = args.compile_memory;
    config.allow_weaker_isolation = args.allow_weaker_isolation;
    for host in &args.allow_host {
        config = config.with_allow_host(host);
    }
    if let Some(dir) = &args.workspace {
        config = config.with_workspace(dir);
    }
    if let Err(e) = config.validate() {
        return usage(e);
    }
    let mut request = ExecutionRequest::new(language, code).with_args(args.args.clone());
    request.file_name = file_name;
    request.component = args.component;
    request.env = args.env.clone();
    request.runtime = args.runtime.clone();
    request.stdin = if std::io::stdin().is_terminal() {
        Stdin::Empty
    } else if let Err(e) = Stdin::check_inheritable() {
        // A directory or socket on stdin would be a door out of the sandbox.
        return usage(e);
    } else {
        Stdin::Inherit
    };

    if args.remote.is_some()
        && (!args.install.is_empty() || args.lock.is_some() || args.write_lock.is_some())
    {
        return usage("--install, --lock and --write-lock are not available with --remote yet");
    }
    if args.remote.is_some() && !args.allow_host.is_empty() {
        // The server's wire config does not carry an allow-list yet; dropping it silently
        // would be worse than refusing.
        return usage("--allow-host is not available with --remote yet");
    }
    let outcome = match &args.remote {
        Some(url) => {
            crate::remote::execute(url, args.token.as_deref(), config, request, args.json).await
        }
        None => {
            let engine = Engine::new(EngineConfig::default().with_offline(args.offline));
            let outcome = match engine {
                Ok(engine) => engine.sandbox(config).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(sandbox) => match install_packages(&sandbox, language, &args).await {
                    Ok(()) => execute(&sandbox, request, args.json)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match outcome {
        Ok(result) => {
            if args.json {
                print_json(&result_json(&result));
            } else if let Some(error) = result
                .error
                .as_deref()
                .filter(|_| result.status != Status::Ok)
            {
                eprintln!("soulbox: {}: {error}", result.status);
            }
            ExitCode::from(exit_status(&result))
        }
        Err(e) => {
            if args.json {
                print_json(&json!({
                    "status": null, "exit_code": null, "stdout": "", "stderr": "",
                    "execution_time_ms": 0, "memory_usage": 0, "fuel_consumed": 0,
                    "artifacts": [], "error": e, "isolation": [],
                    "tool_calls": [], "network": [],
                }));
            } else {
                eprintln!("soulbox: {e}");
            }
            ExitCode::from(EXIT_ENGINE)
        }
    }
}

/// `--lock`, `--install` and `--write-lock`: the packages the run needs, installed into the
/// sandbox first (a summary line on stderr unless `--json`).
async fn install_packages(
    sandbox: &Sandbox,
    language: Language,
    args: &RunArgs,
) -> Result<(), String> {
    if let Some(path) = &args.lock {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the lock file {}: {e}", path.display()))?;
        let lock: Vec<soulbox::packages::PackageRef> =
            serde_json::from_str(&text).map_err(|e| {
                format!(
                    "the lock file {} is not a package list: {e}",
                    path.display()
                )
            })?;
        let report = sandbox
            .install_lock(&lock)
            .await
            .map_err(|e| e.to_string())?;
        if !args.json {
            eprintln!("soulbox: {}", report.summary());
        }
    }
    if !args.install.is_empty() {
        let report = sandbox
            .install_packages(language, &args.install)
            .await
            .map_err(|e| e.to_string())?;
        if !args.json {
            eprintln!("soulbox: {}", report.summary());
        }
    }
    if let Some(path) = &args.write_lock {
        let lock = serde_json::to_string_pretty(&sandbox.installed_packages())
            .map_err(|e| format!("cannot write the lock: {e}"))?;
        std::fs::write(path, lock + "\n")
            .map_err(|e| format!("cannot write the lock file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Plain mode streams output as the guest writes it; JSON mode collects it.
async fn execute(
    sandbox: &Sandbox,
    request: ExecutionRequest,
    json: bool,
) -> soulbox::Result<ExecutionResult> {
    if json {
        return sandbox.execute(request).await;
    }
    crate::stream::print_events(sandbox.stream(request))
        .await?
        .ok_or_else(|| soulbox::SoulBoxError::Engine("the run ended without a result".into()))
}

pub(crate) fn exit_status(result: &ExecutionResult) -> u8 {
    match result.status {
        Status::Ok => 0,
        Status::Error => result
            .exit_code
            .and_then(|c| u8::try_from(c & 0xff).ok())
            .filter(|c| *c != 0)
            .unwrap_or(1),
        Status::Timeout | Status::FuelExhausted => EXIT_TIMEOUT,
        Status::MemoryLimit | Status::Killed => EXIT_MEMORY,
        Status::Trap => EXIT_TRAP,
        Status::OutputLimit | Status::DiskLimit => EXIT_ENGINE,
        Status::CompileError => 1,
    }
}

fn result_json(result: &ExecutionResult) -> serde_json::Value {
    json!({
        "status": result.status.name(),
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "execution_time_ms": (result.execution_time.as_secs_f64() * 1e3 * 1e3).round() / 1e3,
        "memory_usage": result.memory_usage,
        "fuel_consumed": result.fuel_consumed,
        "artifacts": result.artifacts.iter().map(|a| json!({
            "path": a.path, "mime_type": a.mime_type, "size": a.size,
        })).collect::<Vec<_>>(),
        "error": result.error,
        "isolation": result.isolation,
        "tool_calls": result.tool_calls,
        "network": result.network,
    })
}

fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}").and_then(|_| out.flush());
}
