//! Limits: a guest over one is a result; a request over a server cap is refused naming it.

use std::time::Duration;

use soulbox::{Backend, Language, MIB, SandboxConfig, Status, api::ErrorKind};
use soulbox_server::ServerConfig;
use tonic::Code;

use crate::{TestServer, wat_memory_hog, wat_print_then_spin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_memory_limits_arrive_as_results() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let sandbox = client
        .create(
            SandboxConfig::default()
                .with_timeout(Duration::from_millis(500))
                .with_memory_limit(16 * MIB),
        )
        .await
        .expect("create");
    let spun = sandbox
        .execute_code(Language::Wasm, wat_print_then_spin("before\n"))
        .await
        .expect("a timeout is a result");
    assert_eq!(spun.status, Status::Timeout, "{spun:?}");
    assert_eq!(spun.stdout, "before\n", "output so far is kept");
    let hog = sandbox
        .execute_code(Language::Wasm, wat_memory_hog())
        .await
        .expect("a memory limit is a result");
    assert_eq!(hog.status, Status::MemoryLimit, "{hog:?}");
    assert!(
        hog.memory_usage <= 16 * MIB && hog.memory_usage > 8 * MIB,
        "{hog:?}"
    );
    let fuel = client
        .create(SandboxConfig::default().with_fuel(10_000))
        .await
        .expect("create")
        .execute_code(Language::Wasm, wat_print_then_spin(""))
        .await
        .expect("fuel is a result");
    assert_eq!(fuel.status, Status::FuelExhausted, "{fuel:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_above_a_cap_are_refused_naming_the_cap() {
    let caps = ServerConfig {
        max_memory: 128 * MIB,
        max_timeout: Duration::from_secs(5),
        max_disk_bytes: 10 * MIB,
        max_fuel: Some(1_000_000_000),
        max_idle_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    };
    let server = TestServer::start(caps).await;
    let client = server.client().await;
    let fueled = SandboxConfig::default().with_fuel(1000);
    let cases = [
        (fueled.clone().with_memory_limit(512 * MIB), "max_memory"),
        (
            fueled.clone().with_timeout(Duration::from_secs(6)),
            "max_timeout",
        ),
        (
            fueled.clone().with_max_disk_bytes(11 * MIB),
            "max_disk_bytes",
        ),
        (
            SandboxConfig::default().with_fuel(2_000_000_000),
            "max_fuel",
        ),
        (fueled.clone().with_backend(Backend::Native), "allow_native"),
        (
            SandboxConfig {
                compile: soulbox::CompileConfig {
                    timeout: Duration::from_secs(600),
                    ..Default::default()
                },
                ..fueled.clone()
            },
            "max_compile_timeout",
        ),
    ];
    for (config, cap) in cases {
        let err = client.create(config).await.expect_err(cap);
        assert_eq!(err.code(), Code::InvalidArgument, "{cap}: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{cap}: {err}");
        assert!(err.message().contains(cap), "{cap}: {err}");
    }
    let err = client
        .create_with_idle_timeout(fueled.clone(), Some(Duration::from_secs(61)))
        .await
        .expect_err("idle above cap");
    assert!(err.message().contains("max_idle_timeout"), "{err}");
    // Unset limits (the Rust client sends only what differs from the defaults) take the
    // defaults lowered to the caps, fuel included.
    let sandbox = client
        .create(SandboxConfig::default())
        .await
        .expect("defaults fit the caps");
    let result = sandbox
        .execute_code(Language::Wasm, crate::wat_print("ok\n"))
        .await
        .expect("runs");
    assert_eq!(result.status, Status::Ok);
    // Bounds of the engine itself come back with its message.
    let err = client
        .create(fueled.with_memory_limit(1000))
        .await
        .expect_err("below a page");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("memory_limit"), "{err}");
    // A host directory cannot be asked for.
    let err = client
        .create(SandboxConfig::default().with_workspace("/etc"))
        .await
        .expect_err("no host directories");
    assert!(err.message().contains("persistent_storage"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_uploads_above_the_size_limits_are_refused() {
    let config = ServerConfig {
        max_message_bytes: 1024 * 1024,
        max_upload_bytes: 2 * 1024 * 1024,
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let sandbox = server.sandbox().await;
    let big_code = format!("# {}\nprint(1)", "x".repeat(1536 * 1024));
    let err = sandbox
        .execute_code(Language::Python, big_code)
        .await
        .expect_err("a message above max_message_bytes");
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    // An upload travels in chunks, so a file may be larger than one message...
    sandbox
        .write_file("ok.bin", vec![7u8; 1536 * 1024])
        .await
        .expect("an upload above one message but within max_upload_bytes");
    assert_eq!(
        sandbox.read_file("ok.bin").await.expect("read").len(),
        1536 * 1024
    );
    // ...but not larger than max_upload_bytes.
    let err = sandbox
        .write_file("big.bin", vec![0u8; 3 * 1024 * 1024])
        .await
        .expect_err("above max_upload_bytes");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("max_upload_bytes"), "{err}");
}
