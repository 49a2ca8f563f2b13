//! Components (WASI preview 2) run directly: `Language::Wasm` bytes that are a component run
//! with WASI preview 2 plus `soulbox:sandbox`'s imports, under the same limits and statuses as
//! core modules. The test components are written here in the component text format (no guest
//! toolchain): a fixed set of imports, one small memory module with a bump allocator, and a
//! core module whose `run` body each test supplies.

use std::time::Duration;

use std::sync::Arc;

use soulbox::component::{Executor, ExecutorBackend, ExecutorHost, Limits, add_executor_to_linker};
use soulbox::{Language, MIB, SandboxConfig, Status};
use wasmtime::component::{Linker, ResourceTable};

use crate::{engine, runtime_sandbox};

/// The WASI imports every test component declares (each instance type lists only what it uses).
const WASI_IMPORTS: &str = r#"
  (import "wasi:io/error@0.2.0" (instance $io-error (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (export "output-stream" (type (sub resource)))
    (alias outer 1 $error (type))
    (export "error" (type (eq 1)))
    (type (own 2))
    (type (variant (case "last-operation-failed" 3) (case "closed")))
    (export "stream-error" (type (eq 4)))
    (type (borrow 0))
    (type (list u8))
    (type (result (error 5)))
    (type (func (param "self" 6) (param "contents" 7) (result 8)))
    (export "[method]output-stream.blocking-write-and-flush" (func (type 9)))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type))
    (export "output-stream" (type (eq 0)))
    (type (own 1))
    (type (func (result 2)))
    (export "get-stdout" (func (type 3)))))
  (import "wasi:cli/exit@0.2.0" (instance $exit
    (type (func (param "status-code" u8)))
    (export "exit-with-code" (func (type 0)))))
"#;

/// `soulbox:sandbox/types` and the aliases of its types the other imports use.
const TYPES_IMPORT: &str = r#"
  (import "soulbox:sandbox/types@0.1.0" (instance $types
    (type (enum "unknown-tool" "invalid-arguments" "handler" "timeout" "limit" "payload" "protocol" "denied" "network"))
    (export "host-error-kind" (type (eq 0)))
    (type (record (field "kind" 1) (field "message" string)))
    (export "host-error" (type (eq 2)))
    (type (option u64))
    (type (record (field "memory-bytes" 4) (field "timeout-ms" 4) (field "fuel" 4) (field "max-output-bytes" 4)))
    (export "limits" (type (eq 5)))
    (type (enum "python" "javascript" "ruby" "rust" "c" "cpp" "wasm" "shell" "native"))
    (export "language" (type (eq 7)))
    (type (enum "ok" "error" "timeout" "memory-limit" "fuel-exhausted" "output-limit" "disk-limit" "trap" "compile-error" "killed"))
    (export "status" (type (eq 9)))
    (type (list u8))
    (type (option 11))
    (type (record (field "path" string) (field "mime-type" string) (field "size" u64) (field "data" 12)))
    (export "artifact" (type (eq 13)))
    (type (option string))
    (type (record (field "name" string) (field "arguments" string) (field "duration-ms" u64) (field "ok" bool) (field "error" 15)))
    (export "tool-call" (type (eq 16)))
    (type (option u16))
    (type (record (field "method" string) (field "url" string) (field "allowed" bool) (field "status" 18) (field "bytes" u64) (field "error" 15)))
    (export "network-request" (type (eq 19)))
    (type (option s32))
    (type (list 14))
    (type (list string))
    (type (list 17))
    (type (list 20))
    (type (record (field "status" 10) (field "stdout" string) (field "stderr" string) (field "exit-code" 21) (field "error" 15) (field "execution-time-ms" u64) (field "memory-bytes" u64) (field "fuel-consumed" u64) (field "artifacts" 22) (field "isolation" 23) (field "value" 15) (field "tool-calls" 24) (field "network" 25)))
    (export "execution-result" (type (eq 26)))))
  (alias export $types "host-error" (type $host-error))
  (alias export $types "limits" (type $limits))
  (alias export $types "language" (type $language))
  (alias export $types "execution-result" (type $execution-result))
"#;

/// `soulbox:sandbox/tools` (`call`), `soulbox:sandbox/http` (`fetch`) and
/// `soulbox:sandbox/executor` (`create`, `effective-limits`, `execute`).
const SOULBOX_IMPORTS: &str = r#"
  (import "soulbox:sandbox/tools@0.1.0" (instance $tools
    (alias outer 1 $host-error (type))
    (export "host-error" (type (eq 0)))
    (export "tool-error" (type (eq 1)))
    (type (result string (error 2)))
    (type (func (param "name" string) (param "arguments" string) (result 3)))
    (export "call" (func (type 4)))))
  (import "soulbox:sandbox/http@0.1.0" (instance $http
    (alias outer 1 $host-error (type))
    (export "host-error" (type (eq 0)))
    (export "http-error" (type (eq 1)))
    (type (tuple string string))
    (type (list 3))
    (type (list u8))
    (type (option 5))
    (type (record (field "method" string) (field "url" string) (field "headers" 4) (field "body" 6)))
    (export "request" (type (eq 7)))
    (type (record (field "status" u16) (field "reason" string) (field "url" string) (field "headers" 4) (field "body" 5)))
    (export "response" (type (eq 9)))
    (type (result 10 (error 2)))
    (type (func (param "request" 8) (result 11)))
    (export "fetch" (func (type 12)))))
  (import "soulbox:sandbox/executor@0.1.0" (instance $executor
    (export "sandbox" (type (sub resource)))
    (alias outer 1 $limits (type))
    (export "limits" (type (eq 1)))
    (type (enum "invalid-request" "not-found" "closed" "unavailable" "internal"))
    (export "error-kind" (type (eq 3)))
    (type (record (field "kind" 4) (field "message" string)))
    (export "error" (type (eq 5)))
    (alias outer 1 $language (type))
    (export "language" (type (eq 7)))
    (alias outer 1 $execution-result (type))
    (export "execution-result" (type (eq 9)))
    (type (own 0))
    (type (result 11 (error 6)))
    (type (func (param "limits" 2) (result 12)))
    (export "[static]sandbox.create" (func (type 13)))
    (type (borrow 0))
    (type (func (param "self" 14) (result 2)))
    (export "[method]sandbox.effective-limits" (func (type 15)))
    (type (result 10 (error 6)))
    (type (func (param "self" 14) (param "language" 8) (param "code" string) (result 16)))
    (export "[method]sandbox.execute" (func (type 17)))))
"#;

/// A memory and a bump allocator for the canonical ABI, in their own core instance.
const MEMORY: &str = r#"
  (core module $mem
    (memory (export "memory") 2)
    (global $heap (mut i32) (i32.const 16384))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16)) (i32.const 1))))))
      (local.get $p)))
  (core instance $m (instantiate $mem))
  (alias core export $m "memory" (core memory $memory))
  (alias core export $m "realloc" (core func $realloc))
"#;

/// The lowered imports of [`WASI_IMPORTS`] and [`SOULBOX_IMPORTS`].
const LOWERED: &str = r#"
  (core func $get_stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush") (memory $memory)))
  (core func $exit (canon lower (func $exit "exit-with-code")))
  (core func $call (canon lower (func $tools "call") (memory $memory) (realloc $realloc)))
  (core func $fetch (canon lower (func $http "fetch") (memory $memory) (realloc $realloc)))
  (core func $create (canon lower (func $executor "[static]sandbox.create") (memory $memory) (realloc $realloc)))
  (core func $limits (canon lower (func $executor "[method]sandbox.effective-limits") (memory $memory)))
  (core func $execute (canon lower (func $executor "[method]sandbox.execute") (memory $memory) (realloc $realloc)))
"#;

const CORE_IMPORTS: &str = r#"
    (import "host" "memory" (memory 1))
    (import "host" "get-stdout" (func $get_stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "exit" (func $exit (param i32)))
    (import "host" "call" (func $call (param i32 i32 i32 i32 i32)))
    (import "host" "fetch" (func $fetch (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "host" "create" (func $create (param i32 i64 i32 i64 i32 i64 i32 i64 i32)))
    (import "host" "limits" (func $limits (param i32 i32)))
    (import "host" "execute" (func $execute (param i32 i32 i32 i32 i32)))
    (global $out (mut i32) (i32.const -1))
    ;; Writes memory[ptr..ptr+len] to stdout (return area at 512).
    (func $print (param $ptr i32) (param $len i32)
      (if (i32.eq (global.get $out) (i32.const -1)) (then (global.set $out (call $get_stdout))))
      (call $write (global.get $out) (local.get $ptr) (local.get $len) (i32.const 512)))
    ;; Writes `v` in decimal (buffer below 960).
    (func $print_u64 (param $v i64) (local $p i32)
      (local.set $p (i32.const 960))
      (loop $digits
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p)
          (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
        (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
        (br_if $digits (i64.ne (local.get $v) (i64.const 0))))
      (call $print (local.get $p) (i32.sub (i32.const 960) (local.get $p))))
"#;

/// A component whose `wasi:cli/run` runs `body` (core WAT instructions ending with the i32
/// result: 0 ok, 1 error) after `data` (core WAT data segments at offsets from 1024 up; 0..1024
/// is scratch).
fn component(data: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(component
  {WASI_IMPORTS}
  {TYPES_IMPORT}
  {SOULBOX_IMPORTS}
  {MEMORY}
  {LOWERED}
  (core module $main
    {CORE_IMPORTS}
    {data}
    (func (export "run") (result i32) {body}))
  (core instance $i (instantiate $main (with "host" (instance
    (export "memory" (memory $memory))
    (export "get-stdout" (func $get_stdout))
    (export "write" (func $write))
    (export "exit" (func $exit))
    (export "call" (func $call))
    (export "fetch" (func $fetch))
    (export "create" (func $create))
    (export "limits" (func $limits))
    (export "execute" (func $execute))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance)))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("test component does not parse: {e}"))
}

/// A component printing `text` and returning `status` (0 or 1) from `run`.
fn printing(text: &str, status: i32) -> Vec<u8> {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    component(
        &format!(r#"(data (i32.const 1024) "{escaped}")"#),
        &format!(
            "(call $print (i32.const 1024) (i32.const {})) (i32.const {status})",
            text.len()
        ),
    )
}

async fn run(config: SandboxConfig, wasm: Vec<u8>) -> soulbox::ExecutionResult {
    let sandbox = engine().sandbox(config).await.unwrap();
    let result = sandbox.execute_code(Language::Wasm, wasm).await.unwrap();
    sandbox.terminate().await;
    result
}

#[tokio::test]
async fn a_component_prints_hello_and_exits_0() {
    let result = run(
        SandboxConfig::default(),
        printing("hello from a component\n", 0),
    )
    .await;
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(result.stdout, "hello from a component\n");
    assert_eq!(result.exit_code, Some(0));
    assert!(result.isolation.iter().any(|l| l == "component-model"));
    assert!(result.isolation.iter().any(|l| l == "workspace-read-only"));
    assert!(result.fuel_consumed > 0);
}

#[tokio::test]
async fn exit_codes_of_a_component_are_its_result() {
    let result = run(SandboxConfig::default(), printing("failing\n", 1)).await;
    assert_eq!(result.status, Status::Error);
    assert_eq!(result.exit_code, Some(1));
    assert_eq!(result.stdout, "failing\n");
    let exits_7 = component("", "(call $exit (i32.const 7)) (i32.const 0)");
    let result = run(SandboxConfig::default(), exits_7).await;
    assert_eq!((result.status, result.exit_code), (Status::Error, Some(7)));
}

#[tokio::test]
async fn a_looping_component_times_out() {
    let config = SandboxConfig::default().with_timeout(Duration::from_millis(300));
    let result = run(config, component("", "(loop $l (br $l)) (i32.const 0)")).await;
    assert_eq!(result.status, Status::Timeout, "{result:?}");
}

#[tokio::test]
async fn a_component_is_held_to_the_memory_limit() {
    let grows = component(
        "",
        "(if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable)) (i32.const 0)",
    );
    let result = run(SandboxConfig::default().with_memory_limit(16 * MIB), grows).await;
    assert_eq!(result.status, Status::MemoryLimit, "{result:?}");
    assert!(result.memory_usage <= 16 * MIB);
}

#[tokio::test]
async fn a_component_declaring_too_much_memory_is_refused_before_compiling() {
    // Its core module asks for 1 GiB up front: counted like a module's, before compiling.
    let declared = wat::parse_str("(component (core module (memory 16384)))").unwrap();
    let result = run(
        SandboxConfig::default().with_memory_limit(64 * MIB),
        declared,
    )
    .await;
    assert_eq!(result.status, Status::MemoryLimit, "{result:?}");
    assert!(result.error.unwrap().contains("refused before compiling"));
}

#[tokio::test]
async fn a_flooding_component_stops_at_the_output_limit() {
    let floods = component(
        r#"(data (i32.const 1024) "0123456789abcdef0123456789abcdef")"#,
        "(loop $l (call $print (i32.const 1024) (i32.const 32)) (br $l)) (i32.const 0)",
    );
    let config = SandboxConfig::default().with_max_output_bytes(10_000);
    let result = run(config, floods).await;
    assert_eq!(result.status, Status::OutputLimit, "{result:?}");
    assert!(result.stdout.len() <= 10_000);
}

#[tokio::test]
async fn a_core_module_that_is_not_a_command_component_is_a_clear_error() {
    let no_run = wat::parse_str("(component)").unwrap();
    let sandbox = engine().sandbox(SandboxConfig::default()).await.unwrap();
    let err = sandbox
        .execute_code(Language::Wasm, no_run)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wasi:cli/run"), "{err}");
}

#[tokio::test]
async fn nested_limits_never_exceed_the_ceiling() {
    let ceiling = SandboxConfig::default()
        .with_memory_limit(64 * MIB)
        .with_timeout(Duration::from_secs(5));
    let executor = Executor::new(engine(), ceiling);
    let child = executor
        .create(Limits {
            memory_bytes: Some(1 << 40),
            timeout: Some(Duration::from_secs(3600)),
            fuel: Some(5_000_000),
            max_output_bytes: None,
        })
        .await
        .unwrap();
    let limits = child.limits();
    assert_eq!(limits.memory_bytes, Some(64 * MIB));
    assert_eq!(limits.timeout, Some(Duration::from_secs(5)));
    assert_eq!(limits.fuel, Some(5_000_000));
    // The child really runs under them: a loop exhausts the fuel it asked for.
    let result = child
        .execute(
            Language::Wasm,
            "(module (func (export \"_start\") (loop $l (br $l))))".into(),
        )
        .await
        .unwrap();
    assert_eq!(result.status, Status::FuelExhausted, "{result:?}");
}

#[tokio::test]
async fn a_component_creates_a_nested_sandbox_that_runs_python_under_clamped_limits() {
    // The child asks for 1 TiB and an hour; it gets the parent's 256 MiB and 60 s.
    let code = "print(6 * 7)";
    let body = format!(
        r#"
      (local $sandbox i32)
      (call $create (i32.const 1) (i64.const 1099511627776) (i32.const 1) (i64.const 3600000)
                    (i32.const 0) (i64.const 0) (i32.const 0) (i64.const 0) (i32.const 256))
      (if (i32.ne (i32.load8_u (i32.const 256)) (i32.const 0))
        (then (call $print (i32.load (i32.const 264)) (i32.load (i32.const 268))) (return (i32.const 1))))
      (local.set $sandbox (i32.load (i32.const 260)))
      (call $limits (local.get $sandbox) (i32.const 1104))
      (call $print (i32.const 1024) (i32.const 7))
      (call $print_u64 (i64.load (i32.const 1112)))
      (call $print (i32.const 1031) (i32.const 9))
      (call $print_u64 (i64.load (i32.const 1128)))
      (call $execute (local.get $sandbox) (i32.const 0) (i32.const 1050) (i32.const {len}) (i32.const 2048))
      (if (i32.ne (i32.load8_u (i32.const 2048)) (i32.const 0))
        (then (call $print (i32.load (i32.const 2060)) (i32.load (i32.const 2064))) (return (i32.const 1))))
      (call $print (i32.const 1040) (i32.const 8))
      (call $print_u64 (i64.extend_i32_u (i32.load8_u (i32.const 2056))))
      (call $print (i32.const 1048) (i32.const 1))
      (call $print (i32.load (i32.const 2060)) (i32.load (i32.const 2064)))
      (i32.const 0)"#,
        len = code.len()
    );
    let wasm = component(
        &format!(
            r#"(data (i32.const 1024) "memory=") (data (i32.const 1031) "\ntimeout=")
               (data (i32.const 1040) "\nstatus=") (data (i32.const 1048) "\n")
               (data (i32.const 1050) "{code}")"#
        ),
        &body,
    );
    let parent = SandboxConfig::default()
        .with_memory_limit(256 * MIB)
        .with_timeout(Duration::from_secs(60));
    let sandbox = runtime_sandbox(parent).await;
    let result = sandbox.execute_code(Language::Wasm, wasm).await.unwrap();
    sandbox.terminate().await;
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(
        result.stdout,
        format!("memory={}\ntimeout=60000\nstatus=0\n42\n", 256 * MIB)
    );
}

/// An embedder - its own Wasmtime engine and store, nothing of SoulBox but
/// `add_executor_to_linker` and an [`Executor`] - gives a component sandboxes.
#[tokio::test]
async fn an_embedder_links_executor_and_its_component_runs_code_in_a_sandbox() {
    struct Host {
        table: ResourceTable,
        executor: Arc<dyn ExecutorBackend>,
    }
    let child = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi from a child\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 16))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let escaped: String = child.bytes().map(|b| format!("\\{b:02x}")).collect();
    let text = format!(
        r#"(component
  {TYPES_IMPORT}
  (import "soulbox:sandbox/executor@0.1.0" (instance $executor
    (export "sandbox" (type (sub resource)))
    (alias outer 1 $limits (type))
    (export "limits" (type (eq 1)))
    (type (enum "invalid-request" "not-found" "closed" "unavailable" "internal"))
    (export "error-kind" (type (eq 3)))
    (type (record (field "kind" 4) (field "message" string)))
    (export "error" (type (eq 5)))
    (alias outer 1 $language (type))
    (export "language" (type (eq 7)))
    (alias outer 1 $execution-result (type))
    (export "execution-result" (type (eq 9)))
    (type (own 0))
    (type (result 11 (error 6)))
    (type (func (param "limits" 2) (result 12)))
    (export "[static]sandbox.create" (func (type 13)))
    (type (borrow 0))
    (type (result 10 (error 6)))
    (type (func (param "self" 14) (param "language" 8) (param "code" string) (result 15)))
    (export "[method]sandbox.execute" (func (type 16)))))
  {MEMORY}
  (core func $create (canon lower (func $executor "[static]sandbox.create") (memory $memory) (realloc $realloc)))
  (core func $execute (canon lower (func $executor "[method]sandbox.execute") (memory $memory) (realloc $realloc)))
  (core module $main
    (import "host" "memory" (memory 1))
    (import "host" "create" (func $create (param i32 i64 i32 i64 i32 i64 i32 i64 i32)))
    (import "host" "execute" (func $execute (param i32 i32 i32 i32 i32)))
    (data (i32.const 4096) "{escaped}")
    (func (export "probe") (result i32)
      (call $create (i32.const 0) (i64.const 0) (i32.const 0) (i64.const 0)
                    (i32.const 0) (i64.const 0) (i32.const 0) (i64.const 0) (i32.const 256))
      (if (i32.ne (i32.load8_u (i32.const 256)) (i32.const 0)) (then (return (i32.const 264))))
      (call $execute (i32.load (i32.const 260)) (i32.const 6) (i32.const 4096) (i32.const {len}) (i32.const 2048))
      (if (i32.ne (i32.load8_u (i32.const 2048)) (i32.const 0)) (then (return (i32.const 2060))))
      (i32.const 2060)))
  (core instance $i (instantiate $main (with "host" (instance
    (export "memory" (memory $memory))
    (export "create" (func $create))
    (export "execute" (func $execute))))))
  (func (export "probe") (result string) (canon lift (core func $i "probe") (memory $memory))))"#,
        len = child.len()
    );
    let wasmtime = wasmtime::Engine::default();
    let mut linker: Linker<Host> = Linker::new(&wasmtime);
    add_executor_to_linker(&mut linker, |h: &mut Host| ExecutorHost {
        table: &mut h.table,
        backend: &*h.executor,
    })
    .unwrap();
    let mut store = wasmtime::Store::new(
        &wasmtime,
        Host {
            table: ResourceTable::new(),
            executor: Arc::new(Executor::new(engine(), SandboxConfig::default())),
        },
    );
    let component =
        wasmtime::component::Component::new(&wasmtime, wat::parse_str(&text).unwrap()).unwrap();
    let instance = linker
        .instantiate_async(&mut store, &component)
        .await
        .unwrap();
    let probe = instance
        .get_typed_func::<(), (String,)>(&mut store, "probe")
        .unwrap();
    let (stdout,) = probe.call_async(&mut store, ()).await.unwrap();
    assert_eq!(stdout, "hi from a child\n");
}

/// A component calling `tool` with `arguments` through `soulbox:sandbox/tools` and printing
/// `ok:VALUE` or `err:KIND:MESSAGE` (KIND the `host-error-kind` number).
fn calling(tool: &str, arguments: &str) -> Vec<u8> {
    calling_times(tool, arguments, 1)
}

/// [`calling`], making the call `times` times and printing how the last one went.
fn calling_times(tool: &str, arguments: &str, times: u32) -> Vec<u8> {
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("\\{b:02x}")).collect() };
    let name_at = 1024;
    let args_at = name_at + tool.len();
    component(
        &format!(
            r#"(data (i32.const 1000) "ok:err:") (data (i32.const 1007) ":")
               (data (i32.const {name_at}) "{}") (data (i32.const {args_at}) "{}")"#,
            hex(tool),
            hex(arguments)
        ),
        &format!(
            r#"
      (local $n i32)
      (local.set $n (i32.const {times}))
      (loop $again
        (call $call (i32.const {name_at}) (i32.const {}) (i32.const {args_at}) (i32.const {})
                    (i32.const 256))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (i32.ne (local.get $n) (i32.const 0))))
      (if (i32.eqz (i32.load8_u (i32.const 256)))
        (then
          (call $print (i32.const 1000) (i32.const 3))
          (call $print (i32.load (i32.const 260)) (i32.load (i32.const 264))))
        (else
          (call $print (i32.const 1003) (i32.const 4))
          (call $print_u64 (i64.extend_i32_u (i32.load8_u (i32.const 260))))
          (call $print (i32.const 1007) (i32.const 1))
          (call $print (i32.load (i32.const 264)) (i32.load (i32.const 268)))))
      (i32.const 0)"#,
            tool.len(),
            arguments.len()
        ),
    )
}

#[tokio::test]
async fn a_component_calls_a_registered_tool_through_wit_and_the_call_is_recorded() {
    let sandbox = engine().sandbox(SandboxConfig::default()).await.unwrap();
    sandbox
        .register_tool(
            soulbox::ToolFunction::new(
                "weather",
                "Current weather in a city",
                serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]}),
            ),
            |args: serde_json::Value| async move {
                match args["city"].as_str() {
                    Some("Paris") => Ok(serde_json::json!({"temp_c": 21})),
                    other => Err(format!("no weather for {other:?}")),
                }
            },
        )
        .unwrap();
    let ok = sandbox
        .execute_code(Language::Wasm, calling("weather", r#"{"city":"Paris"}"#))
        .await
        .unwrap();
    assert_eq!(ok.status, Status::Ok, "{ok:?}");
    assert_eq!(ok.stdout, r#"ok:{"temp_c":21}"#);
    assert_eq!(ok.tool_calls.len(), 1);
    assert!(ok.tool_calls[0].ok);
    assert_eq!(ok.tool_calls[0].name, "weather");

    // A handler error is a typed error (kind 2 = handler) carrying the handler's message.
    let failed = sandbox
        .execute_code(Language::Wasm, calling("weather", r#"{"city":"Atlantis"}"#))
        .await
        .unwrap();
    assert_eq!(failed.stdout, r#"err:2:no weather for Some("Atlantis")"#);
    assert_eq!(failed.tool_calls.len(), 1);
    assert!(!failed.tool_calls[0].ok);
    // Schema violation (1) and unknown tool (0), each recorded in its own execution.
    let invalid = sandbox
        .execute_code(Language::Wasm, calling("weather", r#"{"town":"Paris"}"#))
        .await
        .unwrap();
    assert!(invalid.stdout.starts_with("err:1:"), "{}", invalid.stdout);
    let unknown = sandbox
        .execute_code(Language::Wasm, calling("nope", "{}"))
        .await
        .unwrap();
    assert!(unknown.stdout.starts_with("err:0:"), "{}", unknown.stdout);
    assert!(unknown.stdout.contains("weather"), "{}", unknown.stdout);
    sandbox.terminate().await;
}

#[tokio::test]
async fn tool_calls_beyond_the_cap_and_oversized_arguments_are_refused_in_the_component() {
    let config = SandboxConfig {
        max_tool_calls: 100,
        ..SandboxConfig::default()
    };
    let sandbox = engine().sandbox(config).await.unwrap();
    sandbox
        .register_tool(
            soulbox::ToolFunction::new("echo", "", serde_json::json!({"type": "object"})),
            |args: serde_json::Value| async move { Ok(args) },
        )
        .unwrap();
    // A flood of 10,000 calls: the first 100 are served, the rest refused with kind 4 (limit).
    let capped = sandbox
        .execute_code(Language::Wasm, calling_times("echo", "{}", 10_000))
        .await
        .unwrap();
    assert_eq!(capped.status, Status::Ok, "{capped:?}");
    assert!(capped.stdout.starts_with("err:4:"), "{}", capped.stdout);
    assert_eq!(capped.tool_calls.iter().filter(|c| c.ok).count(), 100);
    sandbox.terminate().await;

    let config = SandboxConfig {
        max_host_call_bytes: 1024,
        ..SandboxConfig::default()
    };
    let sandbox = engine().sandbox(config).await.unwrap();
    sandbox
        .register_tool(
            soulbox::ToolFunction::new("echo", "", serde_json::json!({"type": "object"})),
            |args: serde_json::Value| async move { Ok(args) },
        )
        .unwrap();
    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(4096));
    let refused = sandbox
        .execute_code(Language::Wasm, calling("echo", &big))
        .await
        .unwrap();
    // kind 5 = payload
    assert!(refused.stdout.starts_with("err:5:"), "{}", refused.stdout);
    sandbox.terminate().await;
}

/// A component asking `soulbox:sandbox/http` for `GET url`, printing `ok:STATUS` or
/// `err:KIND:MESSAGE`.
fn fetching(url: &str) -> Vec<u8> {
    let hex: String = url.bytes().map(|b| format!("\\{b:02x}")).collect();
    component(
        &format!(
            r#"(data (i32.const 1000) "ok:err:") (data (i32.const 1007) ":")
               (data (i32.const 1010) "GET") (data (i32.const 1024) "{hex}")"#
        ),
        &format!(
            r#"
      (call $fetch (i32.const 1010) (i32.const 3) (i32.const 1024) (i32.const {})
                   (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                   (i32.const 256))
      (if (i32.eqz (i32.load8_u (i32.const 256)))
        (then
          (call $print (i32.const 1000) (i32.const 3))
          (call $print_u64 (i64.extend_i32_u (i32.load16_u (i32.const 260)))))
        (else
          (call $print (i32.const 1003) (i32.const 4))
          (call $print_u64 (i64.extend_i32_u (i32.load8_u (i32.const 260))))
          (call $print (i32.const 1007) (i32.const 1))
          (call $print (i32.load (i32.const 264)) (i32.load (i32.const 268)))))
      (i32.const 0)"#,
            url.len()
        ),
    )
}

#[tokio::test]
async fn a_components_request_to_a_host_off_the_allow_list_is_denied_and_recorded() {
    let config = SandboxConfig::default().with_allow_host("allowed.example");
    let sandbox = engine().sandbox(config).await.unwrap();
    let result = sandbox
        .execute_code(Language::Wasm, fetching("http://127.0.0.1:9/secret"))
        .await
        .unwrap();
    sandbox.terminate().await;
    assert_eq!(result.status, Status::Ok, "{result:?}");
    // kind 7 = denied
    assert!(result.stdout.starts_with("err:7:"), "{}", result.stdout);
    assert_eq!(result.network.len(), 1, "{:?}", result.network);
    assert!(!result.network[0].allowed);
    assert_eq!(result.network[0].url, "http://127.0.0.1:9/secret");
}

#[tokio::test]
async fn an_executor_caps_its_live_sandboxes_and_frees_a_place_on_drop() {
    let executor = Executor::new(engine(), SandboxConfig::default());
    let mut open = Vec::new();
    for _ in 0..soulbox::component::MAX_CHILDREN {
        open.push(executor.create(Limits::default()).await.unwrap());
    }
    let refused = executor.create(Limits::default()).await.err().unwrap();
    assert_eq!(
        refused.kind,
        soulbox::component::ExecutorErrorKind::Unavailable
    );
    drop(open.pop());
    assert!(executor.create(Limits::default()).await.is_ok());
}

#[tokio::test]
async fn a_nested_sessions_cells_share_their_interpreter() {
    let executor = Executor::new(crate::runtime_engine(), SandboxConfig::default());
    let sandbox = executor.create(Limits::default()).await.unwrap();
    sandbox
        .write_file("data.txt".into(), b"40".to_vec())
        .await
        .unwrap();
    let session = sandbox.session(Language::Python).await.unwrap();
    let first = session
        .run_cell("x = int(open('/work/data.txt').read())".into())
        .await
        .unwrap();
    assert_eq!(first.status, Status::Ok, "{first:?}");
    let second = session.run_cell("print(x + 2)".into()).await.unwrap();
    assert_eq!(second.stdout, "42\n", "{second:?}");
    let files = sandbox.list_files(String::new()).await.unwrap();
    assert!(files.iter().any(|f| f.path == "data.txt"), "{files:?}");
    assert_eq!(
        sandbox.read_file("data.txt".into()).await.unwrap(),
        b"40".to_vec()
    );
}

/// A component cannot reach the native backend through a nested sandbox, even when its own
/// sandbox's configuration would send a shell script there.
#[tokio::test]
async fn nested_sandboxes_stay_on_the_wasm_backend() {
    use soulbox::component::ExecutorBackend as _;
    let parent = engine()
        .sandbox(SandboxConfig::default().with_backend(soulbox::Backend::Auto))
        .await
        .unwrap();
    let child = parent.create(Limits::default()).await.unwrap();
    let refused = child
        .execute(Language::Shell, "echo escaped".into())
        .await
        .err()
        .unwrap();
    assert_eq!(
        refused.kind,
        soulbox::component::ExecutorErrorKind::Unavailable,
        "{refused:?}"
    );
    parent.terminate().await;
}

/// A loopback HTTP server answering every request with `200 OK` and `hello`; its port.
async fn hello_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                )
                .await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_reaches_an_allowed_loopback_server() {
    let port = hello_server().await;
    let config = SandboxConfig::default().with_allow_host(format!("127.0.0.1:{port}"));
    let sandbox = engine().sandbox(config).await.unwrap();
    let url = format!("http://127.0.0.1:{port}/hello");
    let result = sandbox
        .execute_code(Language::Wasm, fetching(&url))
        .await
        .unwrap();
    // The same server by name: `localhost` resolves to a loopback address that no entry names.
    let by_name = sandbox
        .execute_code(
            Language::Wasm,
            fetching(&format!("http://localhost:{port}/hello")),
        )
        .await
        .unwrap();
    sandbox.terminate().await;
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(result.stdout, "ok:200", "{result:?}");
    assert_eq!(result.network.len(), 1, "{:?}", result.network);
    assert!(result.network[0].allowed);
    assert_eq!(result.network[0].status, Some(200));
    assert_eq!(result.network[0].bytes, 5);
    assert!(by_name.stdout.starts_with("err:7:"), "{}", by_name.stdout);
    assert!(!by_name.network[0].allowed);
}
