//! Integration tests of `soulbox-server`: the real server on 127.0.0.1:0, driven with the Rust
//! client (and once with Python grpcio, a client nobody here wrote).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod concurrency;
mod e2b;
mod files;
mod grpcio;
mod lifecycle;
mod limits;
mod mcp;
mod packages;
mod runs;
mod sessions;
mod standard;
mod streaming;
mod tls;

use std::sync::OnceLock;
use std::time::Duration;

use soulbox::{Engine, EngineConfig};
use soulbox_client::{Client, RemoteSandbox};
use soulbox_server::{Manager, ServeError, ServeOptions, ServerConfig, Tokens};

pub const TOKEN: &str = "test-token-tenant-one-0123456789";
pub const OTHER_TOKEN: &str = "test-token-tenant-two-9876543210";

/// One engine on the real `$SOULBOX_HOME` (runtimes installed by scripts/setup.sh), shared by
/// the tests that do not count the engine's turns.
pub fn engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE
        .get_or_init(|| Engine::new(EngineConfig::default().with_quiet(true)).expect("engine"))
        .clone()
}

/// A server running in this process.
pub struct TestServer {
    pub url: String,
    pub manager: Manager,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Starts a server with `config` on the shared engine.
    pub async fn start(config: ServerConfig) -> TestServer {
        TestServer::start_on(engine(), config).await
    }

    /// Starts a server with `config` on `engine`.
    pub async fn start_on(engine: Engine, config: ServerConfig) -> TestServer {
        let manager = Manager::new(engine, config).expect("manager");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let mut options = ServeOptions::new(Tokens::new([TOKEN, OTHER_TOKEN]).expect("tokens"));
        options.reap_every = Duration::from_millis(50);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(soulbox_server::serve(
            manager.clone(),
            options,
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            url,
            manager,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A client with tenant one's token.
    pub async fn client(&self) -> Client {
        self.client_with(TOKEN).await
    }

    /// A client with `token`.
    pub async fn client_with(&self, token: &str) -> Client {
        Client::connect(&self.url)
            .token(token)
            .await
            .expect("connect")
    }

    /// A sandbox of tenant one with default limits.
    pub async fn sandbox(&self) -> RemoteSandbox {
        self.sandbox_with(soulbox::SandboxConfig::default()).await
    }

    /// A sandbox created with `config` through a client with the test token.
    pub async fn sandbox_with(&self, config: soulbox::SandboxConfig) -> RemoteSandbox {
        self.client().await.create(config).await.expect("create")
    }

    /// Asks the server to shut down (as SIGTERM does) and waits for it to return.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// WASI imports the hand-written test guests use.
const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
"#;

/// A module that writes `text` to stdout (fd 1) from offset 4096.
fn write_text(text: &str) -> (String, String) {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    (
        format!("(data (i32.const 4096) \"{escaped}\")"),
        format!(
            "(i32.store (i32.const 0) (i32.const 4096)) (i32.store (i32.const 4) (i32.const {})) \
             (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))",
            text.len()
        ),
    )
}

/// Prints `text` and exits 0.
pub fn wat_print(text: &str) -> String {
    let (data, body) = write_text(text);
    format!("(module {IMPORTS} {data} (func (export \"_start\") {body}))")
}

/// Prints `text`, then spins forever.
pub fn wat_print_then_spin(text: &str) -> String {
    let (data, body) = write_text(text);
    format!("(module {IMPORTS} {data} (func (export \"_start\") {body} (loop $l (br $l))))")
}

/// Grows memory until refused, then traps.
pub fn wat_memory_hog() -> String {
    format!(
        "(module {IMPORTS} (func (export \"_start\") \
         (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"
    )
}
