//! What goes in (stdin, argv, env) and what comes out (stdout, exit codes).

use soulbox::{ExecutionRequest, Language, Status};

use crate::{guests, sandbox, tight};

#[tokio::test]
async fn stdin_reaches_the_guest() {
    let sb = sandbox(tight()).await;
    let input = "line one\nline two ✓\n".repeat(5000);
    let r = sb
        .execute(ExecutionRequest::new(Language::Wasm, guests::cat()).with_stdin(input.clone()))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, input);
}

#[tokio::test]
async fn argv_is_exactly_as_given() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute(
            ExecutionRequest::new(Language::Wasm, guests::print_args()).with_args([
                "one",
                "two words",
                "ü",
            ]),
        )
        .await
        .expect("run");
    assert_eq!(r.stdout, "main.wasm\0one\0two words\0ü\0");
}

#[tokio::test]
async fn env_is_exactly_as_configured_and_nothing_of_the_host_leaks() {
    // SAFETY-free way to make sure the host has something worth leaking.
    assert!(std::env::var_os("PATH").is_some());
    let sb = sandbox(tight().with_env("GREETING", "hi")).await;
    let r = sb
        .execute(ExecutionRequest::new(Language::Wasm, guests::print_env()).with_env("EXTRA", "1"))
        .await
        .expect("run");
    assert_eq!(r.stdout, "GREETING=hi\0EXTRA=1\0");
}

#[tokio::test]
async fn exit_codes_pass_through() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::print_and_exit("bye", 7))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.exit_code, Some(7));
    assert_eq!(r.stdout, "bye");
    let r = sb
        .execute_code(Language::Wasm, guests::print("ok"))
        .await
        .expect("run");
    assert_eq!((r.status, r.exit_code), (Status::Ok, Some(0)));
}

#[tokio::test]
async fn invalid_utf8_output_is_kept_lossily() {
    let sb = sandbox(tight()).await;
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "a\ff\fe b")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 5))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let r = sb.execute_code(Language::Wasm, wat).await.expect("run");
    assert_eq!(r.stdout, "a\u{fffd}\u{fffd} b");
}
