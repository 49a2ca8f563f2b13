//! Integration tests of the `soulbox` engine: one binary, one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod artifacts;
mod concurrency;
mod errors;
mod filesystem;
mod guests;
mod io;
mod limits;
#[cfg(target_os = "linux")]
mod native;
mod streaming;

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

/// Small, quick limits for attack tests.
pub fn tight() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(64 * MIB)
        .with_timeout(Duration::from_secs(5))
}

pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    engine().sandbox(config).await.expect("sandbox")
}
