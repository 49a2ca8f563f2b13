//! Integration tests of the `soulbox` engine: one binary, one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests and benchmarks plant and read host files on purpose; the wall rule is for the engine's code.
#![allow(clippy::disallowed_methods)]

mod agent;
mod artifacts;
mod compile;
mod component;
mod concurrency;
mod disk;
mod errors;
mod filesystem;
mod guests;
mod io;
mod javascript;
mod js_session;
mod lifecycle;
mod limits;
#[cfg(target_os = "linux")]
mod native;
mod network;
mod node_golden;
mod packages;
mod pool;
mod preinit;
mod python;
mod ruby;
mod rust_component;
mod session;
mod snapshot;
mod streaming;
mod tools;
mod tools_javascript;

use std::sync::OnceLock;
use std::time::Duration;

use soulbox::{Engine, EngineConfig, MIB, Sandbox, SandboxConfig};

/// One engine for the whole test binary, caching under a private directory.
pub fn engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let home =
                HOME.get_or_init(|| tempfile::tempdir().expect("temp dir for the test engine"));
            Engine::new(EngineConfig::default().with_home(home.path())).expect("test engine")
        })
        .clone()
}

/// One engine for the language-runtime tests, on the real `$SOULBOX_HOME`: runtimes are fetched
/// through the same code path as for users (the first run on a fresh machine downloads them) and
/// compiled once per machine, not once per test run.
pub fn runtime_engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE
        .get_or_init(|| Engine::new(EngineConfig::default()).expect("runtime test engine"))
        .clone()
}

/// A sandbox on [`runtime_engine`].
pub async fn runtime_sandbox(config: SandboxConfig) -> Sandbox {
    runtime_engine().sandbox(config).await.expect("sandbox")
}

/// Runs `code` in `language` (optionally on a named runtime) with `stdin` in a fresh sandbox.
pub async fn run_code(
    config: SandboxConfig,
    language: soulbox::Language,
    runtime: Option<&str>,
    code: &str,
    stdin: &str,
) -> soulbox::ExecutionResult {
    let sandbox = runtime_sandbox(config).await;
    let mut request = soulbox::ExecutionRequest::new(language, code).with_stdin(stdin);
    request.runtime = runtime.map(str::to_owned);
    let result = sandbox.execute(request).await.expect("execute");
    sandbox.terminate().await;
    result
}

/// Small, quick limits for attack tests.
pub fn tight() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(64 * MIB)
        .with_timeout(Duration::from_secs(5))
}

pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    engine().sandbox(config).await.expect("sandbox")
}

/// Makes a FIFO at `path` (as a guest or another local user could leave one).
pub fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o666) };
    assert_eq!(made, 0, "mkfifo {}", path.display());
}

/// A host file only root may read, holding a unique secret: (its directory, its path, the secret).
pub fn host_secret() -> (tempfile::TempDir, std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("secret dir");
    let path = dir.path().join("secret.txt");
    let secret = format!(
        "SOULBOX-HOST-SECRET-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    std::fs::write(&path, &secret).expect("write the secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (dir, path, secret)
}

/// `path` (absolute, on the host) as a relative symlink target that climbs out of any directory
/// a guest sees: `../../...` then the path.
pub fn climbing(path: &std::path::Path) -> String {
    format!(
        "{}{}",
        "../".repeat(40),
        path.to_string_lossy().trim_start_matches('/')
    )
}
