//! Rust, C and C++ compiled to wasm32-wasip1 by the engine: programs, diagnostics, panics, the
//! compile cache, the guest crates, and attacks on the compiler (host files, bombs).
//!
//! These use the real toolchains (`soulbox toolchains install`, run by scripts/setup.sh) and a
//! private compile cache per engine, so a cache hit here is this test's own.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use soulbox::{
    CompileProfile, Engine, EngineConfig, ExecutionRequest, ExecutionResult, Language, MIB,
    Sandbox, SandboxConfig, SoulBoxError, Status,
};

/// The toolchains everyone shares (installed once by setup.sh).
fn toolchains() -> PathBuf {
    soulbox::toolchains::default_toolchains_dir(&soulbox::default_home().expect("SOULBOX_HOME"))
}

/// An engine with its own empty caches and the real toolchains.
fn fresh_engine() -> (Engine, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("home");
    let engine = Engine::new(
        EngineConfig::default()
            .with_home(home.path())
            .with_toolchains(toolchains()),
    )
    .expect("engine");
    (engine, home)
}

/// One engine shared by the tests that do not look at the cache.
fn engine() -> Engine {
    static ENGINE: OnceLock<(Engine, tempfile::TempDir)> = OnceLock::new();
    ENGINE.get_or_init(fresh_engine).0.clone()
}

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(20))
}

/// Limits for compiler attacks: short and small, so a bomb ends quickly.
fn bomb_config() -> SandboxConfig {
    let mut c = config();
    c.compile.timeout = Duration::from_secs(5);
    c.compile.memory_limit = 1024 * MIB;
    c
}

async fn run(language: Language, code: &str) -> ExecutionResult {
    run_with(config(), ExecutionRequest::new(language, code)).await
}

async fn run_with(config: SandboxConfig, request: ExecutionRequest) -> ExecutionResult {
    let sandbox = engine().sandbox(config).await.expect("sandbox");
    sandbox.execute(request).await.expect("the engine ran it")
}

/// Runs a program that reads `data.txt` from the workspace, its argv and stdin.
async fn run_std(language: Language, code: &str) -> ExecutionResult {
    let sandbox: Sandbox = engine().sandbox(config()).await.expect("sandbox");
    sandbox
        .write_file("data.txt", "from the workspace\n")
        .await
        .expect("write");
    sandbox
        .execute(
            ExecutionRequest::new(language, code)
                .with_args(["alpha", "beta"])
                .with_stdin("from stdin\n"),
        )
        .await
        .expect("ran")
}

fn assert_std_output(result: &ExecutionResult) {
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(
        result.stdout, "args: alpha beta\nfile: from the workspace\nstdin: from stdin\n",
        "{result:#?}"
    );
    assert!(
        result.artifact("out.txt").is_some(),
        "the written file is an artifact: {result:#?}"
    );
    assert!(
        result.isolation.iter().any(|i| i.starts_with("compile:")),
        "{:?}",
        result.isolation
    );
    assert!(result.isolation.iter().any(|i| i == "wasm"));
}

const RUST_STD: &str = r#"
use std::io::Read;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {}", args.join(" "));
    let file = std::fs::read_to_string("data.txt").expect("data.txt");
    print!("file: {file}");
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    print!("stdin: {input}");
    std::fs::write("out.txt", "written by rust").expect("write");
}
"#;

const C_STD: &str = r#"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    printf("args:");
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    char line[256];
    FILE *f = fopen("data.txt", "r");
    if (!f || !fgets(line, sizeof line, f)) return 3;
    printf("file: %s", line);
    fclose(f);
    if (!fgets(line, sizeof line, stdin)) return 4;
    printf("stdin: %s", line);
    FILE *o = fopen("out.txt", "w");
    fputs("written by c", o);
    fclose(o);
    return 0;
}
"#;

const CPP_STD: &str = r#"
#include <fstream>
#include <iostream>
#include <string>
#include <vector>
int main(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::cout << "args:";
    for (const auto &a : args) std::cout << ' ' << a;
    std::cout << '\n';
    std::ifstream in("data.txt");
    std::string line;
    std::getline(in, line);
    std::cout << "file: " << line << '\n';
    std::getline(std::cin, line);
    std::cout << "stdin: " << line << '\n';
    std::ofstream("out.txt") << "written by c++";
    return 0;
}
"#;

#[tokio::test]
async fn rust_program_uses_files_argv_and_stdin() {
    assert_std_output(&run_std(Language::Rust, RUST_STD).await);
}

#[tokio::test]
async fn c_program_uses_files_argv_and_stdin() {
    assert_std_output(&run_std(Language::C, C_STD).await);
}

#[tokio::test]
async fn cpp_program_uses_files_argv_and_stdin() {
    assert_std_output(&run_std(Language::Cpp, CPP_STD).await);
}

#[tokio::test]
async fn hello_in_each_language_with_both_profiles() {
    for profile in [CompileProfile::Debug, CompileProfile::Release] {
        for (language, code) in [
            (Language::Rust, r#"fn main() { println!("hello"); }"#),
            (
                Language::C,
                "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
            ),
            (
                Language::Cpp,
                "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }\n",
            ),
        ] {
            let result = run_with(
                config().with_compile_profile(profile),
                ExecutionRequest::new(language, code),
            )
            .await;
            assert_eq!(
                result.status,
                Status::Ok,
                "{language} {profile:?}: {result:#?}"
            );
            assert_eq!(result.stdout, "hello\n");
        }
    }
}

#[tokio::test]
async fn a_program_can_use_the_allowed_crates() {
    let code = r##"
use itertools::Itertools;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Point { x: i32, y: i32 }

fn main() -> anyhow::Result<()> {
    let p: Point = serde_json::from_str(r#"{"x": 1, "y": 2}"#)?;
    let digits = regex::Regex::new(r"\d+")?;
    let roll: u8 = rand::thread_rng().gen_range(1..=6);
    anyhow::ensure!((1..=6).contains(&roll), "bad roll");
    println!("{} {} {}", serde_json::to_string(&p)?, digits.find_iter("a1b22").map(|m| m.as_str()).join(","), p.x + p.y);
    Ok(())
}
"##;
    let result = run(Language::Rust, code).await;
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(result.stdout, "{\"x\":1,\"y\":2} 1,22 3\n");
}

#[tokio::test]
async fn rust_compile_error_returns_diagnostics_and_runs_nothing() {
    let code = "fn main() {\n    std::fs::write(\"ran.txt\", \"x\").unwrap();\n    let x: u32 = \"not a number\";\n}\n";
    let result = run(Language::Rust, code).await;
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
    assert!(result.stderr.contains("error[E0308]"), "{}", result.stderr);
    assert!(result.stderr.contains("main.rs:3:18"), "{}", result.stderr);
    assert_eq!(result.exit_code, None);
    assert!(result.stdout.is_empty());
    assert!(result.artifacts.is_empty(), "nothing ran");
    assert!(result.isolation.iter().all(|i| i.starts_with("compile:")));
}

#[tokio::test]
async fn c_and_cpp_compile_errors_carry_file_and_line() {
    let c = run(
        Language::C,
        "int main(void) {\n  return undefined_name;\n}\n",
    )
    .await;
    assert_eq!(c.status, Status::CompileError, "{c:#?}");
    assert!(c.stderr.contains("main.c:2:10: error:"), "{}", c.stderr);
    let cpp = run_with(
        config(),
        ExecutionRequest::new(Language::Cpp, "int main() {\n  int x = ;\n}\n")
            .with_file_name("prog.cpp"),
    )
    .await;
    assert_eq!(cpp.status, Status::CompileError, "{cpp:#?}");
    assert!(
        cpp.stderr.contains("prog.cpp:2:11: error:"),
        "{}",
        cpp.stderr
    );
}

#[tokio::test]
async fn warnings_do_not_fail_a_build() {
    let rust = run(
        Language::Rust,
        "fn main() { let unused = 1; println!(\"ok\"); }",
    )
    .await;
    assert_eq!(rust.status, Status::Ok, "{rust:#?}");
    assert_eq!(rust.stdout, "ok\n");
    let c = run(
        Language::C,
        "#include <stdio.h>\n#warning \"just a warning\"\nint main(void) { puts(\"ok\"); return 0; }\n",
    )
    .await;
    assert_eq!(c.status, Status::Ok, "{c:#?}");
    assert_eq!(c.stdout, "ok\n");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_message_on_stderr() {
    let result = run(
        Language::Rust,
        "fn main() { let v: Vec<u8> = Vec::new(); let i = v.len() + 7; println!(\"{}\", v[i]); }",
    )
    .await;
    assert_eq!(result.status, Status::Trap, "{result:#?}");
    assert!(
        result
            .stderr
            .contains("index out of bounds: the len is 0 but the index is 7"),
        "{}",
        result.stderr
    );
    let c = run(
        Language::C,
        "#include <stdlib.h>\n#include <stdio.h>\nint main(void) { fputs(\"bye\\n\", stderr); exit(3); }\n",
    )
    .await;
    assert_eq!(c.status, Status::Error, "{c:#?}");
    assert_eq!(c.exit_code, Some(3));
    assert_eq!(c.stderr, "bye\n");
}

#[tokio::test]
async fn compiled_programs_get_the_same_wasm_limits() {
    let spin = run_with(
        config().with_timeout(Duration::from_secs(1)),
        ExecutionRequest::new(
            Language::C,
            "int main(void) { volatile int x = 0; for (;;) x++; }",
        ),
    )
    .await;
    assert_eq!(spin.status, Status::Timeout, "{spin:#?}");
    let hog = run_with(
        config().with_memory_limit(32 * MIB),
        ExecutionRequest::new(
            Language::Rust,
            "fn main() { let v = vec![1u8; 256 << 20]; println!(\"{}\", v[12345]); }",
        ),
    )
    .await;
    assert_eq!(hog.status, Status::MemoryLimit, "{hog:#?}");
}

/// The entries of an engine's compile cache with `ext`, and whether each was used (read or
/// written) in the last minute.
fn cache_entries(home: &std::path::Path, ext: &str) -> Vec<(PathBuf, bool)> {
    let dir = home.join("compile-cache");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let recent = std::time::SystemTime::now() - Duration::from_secs(60);
    let mut found: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let used = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > recent);
            (p, used)
        })
        .collect();
    found.sort();
    found
}

/// Marks every cache entry as last used an hour ago, so the next hit shows.
fn age_cache(home: &std::path::Path) {
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for ext in ["wasm", "diag"] {
        for (path, _) in cache_entries(home, ext) {
            std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(old))
                .expect("age a cache entry");
        }
    }
}

#[tokio::test]
async fn the_second_run_is_a_cache_hit_and_survives_a_restart() {
    let (engine, home) = fresh_engine();
    let code = "#include <stdio.h>\nint main(void) { puts(\"cached\"); return 0; }\n";
    let run = |engine: Engine, code: &'static str| async move {
        engine
            .sandbox(config())
            .await
            .expect("sandbox")
            .execute_code(Language::C, code)
            .await
            .expect("run")
    };
    let first = run(engine.clone(), code).await;
    assert_eq!(first.stdout, "cached\n");
    assert_eq!(cache_entries(home.path(), "wasm").len(), 1);
    age_cache(home.path());
    let second = run(engine.clone(), code).await;
    assert_eq!(second.stdout, "cached\n");
    // A hit: the one entry was read (its age refreshed), nothing new compiled ...
    let entries = cache_entries(home.path(), "wasm");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].1, "the entry was used: {entries:?}");
    // ... and the result does not say so: whether another tenant compiled the same source is
    // not for this one to learn.
    assert_eq!(first.isolation, second.isolation);
    assert!(
        second.isolation.iter().all(|i| !i.contains("cache")),
        "{:?}",
        second.isolation
    );
    // Another profile is other flags: a miss, a second entry.
    let release = engine
        .sandbox(config().with_compile_profile(CompileProfile::Release))
        .await
        .expect("sandbox")
        .execute_code(Language::C, code)
        .await
        .expect("run");
    assert_eq!(release.stdout, "cached\n");
    assert_eq!(cache_entries(home.path(), "wasm").len(), 2);
    // A new engine on the same home (a restart) finds it on disk.
    drop(engine);
    age_cache(home.path());
    let restarted = Engine::new(
        EngineConfig::default()
            .with_home(home.path())
            .with_toolchains(toolchains()),
    )
    .expect("engine");
    let third = run(restarted.clone(), code).await;
    assert_eq!(third.stdout, "cached\n");
    let used: Vec<bool> = cache_entries(home.path(), "wasm")
        .into_iter()
        .map(|(_, used)| used)
        .collect();
    assert_eq!(used.iter().filter(|u| **u).count(), 1, "{used:?}");
    // Compile errors are cached too, with the same diagnostics.
    let bad = "int main(void) { return nope; }";
    let sb = restarted.sandbox(config()).await.expect("sandbox");
    let e1 = sb.execute_code(Language::C, bad).await.expect("run");
    age_cache(home.path());
    let e2 = sb.execute_code(Language::C, bad).await.expect("run");
    assert_eq!(e1.status, Status::CompileError);
    assert_eq!(e2.status, Status::CompileError);
    assert_eq!(e1.stderr, e2.stderr);
    assert_eq!(e1.isolation, e2.isolation);
    let diags = cache_entries(home.path(), "diag");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].1,
        "the diagnostics were read from the cache: {diags:?}"
    );
}

#[tokio::test]
async fn missing_toolchains_are_an_error_naming_the_install_command() {
    let home = tempfile::tempdir().expect("home");
    let engine = Engine::new(
        EngineConfig::default()
            .with_home(home.path())
            .with_toolchains(home.path().join("no-toolchains")),
    )
    .expect("engine");
    let sb = engine.sandbox(config()).await.expect("sandbox");
    let err = sb
        .execute_code(Language::C, "int main(void){return 0;}")
        .await
        .expect_err("no sysroot");
    assert!(matches!(err, SoulBoxError::ToolchainMissing(_)), "{err}");
    assert!(
        err.to_string().contains("soulbox toolchains install"),
        "{err}"
    );
    // Rust without the crate set still compiles std programs, and says how to get the crates.
    let plain = sb
        .execute_code(Language::Rust, "fn main() { println!(\"std only\"); }")
        .await
        .expect("std program");
    assert_eq!(plain.stdout, "std only\n", "{plain:#?}");
    let with_crate = sb
        .execute_code(
            Language::Rust,
            "fn main() { println!(\"{}\", serde_json::json!(1)); }",
        )
        .await
        .expect("compile error, not Err");
    assert_eq!(with_crate.status, Status::CompileError);
    assert!(
        with_crate.stderr.contains("soulbox toolchains install"),
        "{}",
        with_crate.stderr
    );
}

/// A file on the host that no guest and no compiler may ever read.
fn host_secret() -> (tempfile::TempDir, String, &'static str) {
    let dir = tempfile::tempdir().expect("dir");
    let marker = "SOULBOX-HOST-SECRET-7f3a9c";
    let path = dir.path().join("secret.txt");
    std::fs::write(&path, format!("{marker}\n")).expect("write secret");
    let path = path.to_string_lossy().into_owned();
    (dir, path, marker)
}

fn assert_blocked(result: &ExecutionResult, marker: &str) {
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
    for leaked in [marker, "root:x:0:0"] {
        assert!(
            !result.stdout.contains(leaked) && !result.stderr.contains(leaked),
            "host bytes leaked: {result:#?}"
        );
    }
}

#[tokio::test]
async fn rust_include_of_host_files_is_a_compile_error() {
    let (_dir, secret, marker) = host_secret();
    for path in ["/etc/passwd", secret.as_str(), "/proc/self/environ"] {
        let code = format!(
            "const S: &str = include_str!({path:?});\nfn main() {{ println!(\"{{S}}\"); }}\n"
        );
        let result = run(Language::Rust, &code).await;
        assert_blocked(&result, marker);
        assert!(result.stderr.contains("couldn't read"), "{}", result.stderr);
    }
    let bytes = format!(
        "static B: &[u8] = include_bytes!(\"../../../../../../..{secret}\");\nfn main() {{ println!(\"{{}}\", B.len()); }}\n"
    );
    assert_blocked(&run(Language::Rust, &bytes).await, marker);
    // `#[path]` makes rustc read any file as a module.
    let module = format!("#[path = {secret:?}]\nmod leak;\nfn main() {{}}\n");
    assert_blocked(&run(Language::Rust, &module).await, marker);
}

#[tokio::test]
async fn rust_sees_no_host_environment_at_compile_time() {
    let code = r#"fn main() { println!("{:?} {:?}", option_env!("CARGO_MANIFEST_DIR"), option_env!("SOULBOX_HOME")); }"#;
    let result = run(Language::Rust, code).await;
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(result.stdout, "None None\n");
}

#[tokio::test]
async fn c_include_embed_and_incbin_of_host_files_are_compile_errors() {
    let (_dir, secret, marker) = host_secret();
    let attacks = [
        format!("#include {secret:?}\nint main(void) {{ return 0; }}\n"),
        "#include \"/etc/passwd\"\nint main(void) { return 0; }\n".to_owned(),
        format!("#include \"../../../../../../../..{secret}\"\nint main(void) {{ return 0; }}\n"),
        // Through the system include path (what an absolute `-I` would add).
        format!("#include <../../../../../../../..{secret}>\nint main(void) {{ return 0; }}\n"),
        format!(
            "static const char d[] = {{\n#embed {secret:?}\n}};\nint main(void) {{ return d[0]; }}\n"
        ),
        format!(
            "__asm__(\".section .rodata.x,\\\"\\\",@\\n.incbin \\\"{secret}\\\"\\n\");\nint main(void) {{ return 0; }}\n"
        ),
    ];
    for code in &attacks {
        assert_blocked(&run(Language::C, code).await, marker);
    }
    let cpp = format!("#include {secret:?}\nint main() {{ return 0; }}\n");
    assert_blocked(&run(Language::Cpp, &cpp).await, marker);
}

#[tokio::test]
async fn template_recursion_bomb_is_a_compile_error() {
    let code = "template <int N> struct F { static const int v = F<N + 1>::v + 1; };\nint main() { return F<0>::v; }\n";
    let result = run_with(bomb_config(), ExecutionRequest::new(Language::Cpp, code)).await;
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
    assert!(
        result
            .stderr
            .contains("recursive template instantiation exceeded maximum depth"),
        "{}",
        result.stderr
    );
}

#[tokio::test]
async fn macro_bombs_end_as_compile_errors_within_their_limits() {
    // Token doubling: memory runs out long before the recursion limit.
    let doubling =
        "macro_rules! r { ($($t:tt)*) => { r!($($t)* $($t)*); } }\nfn main() { r!(x); }\n";
    // An unbounded recursion limit: only the compile deadline stops it.
    let endless = "#![recursion_limit = \"1000000000\"]\nmacro_rules! r { ($($t:tt)*) => { r!($($t)* x); } }\nfn main() { r!(x); }\n";
    // Exponential C preprocessor expansion.
    let c_bomb = "#define A(x) x x x x x x x x\n#define B(x) A(A(A(A(x))))\n#define C(x) B(B(B(B(x))))\nint main(void) { C(;) return 0; }\n";
    for (language, code) in [
        (Language::Rust, doubling),
        (Language::Rust, endless),
        (Language::C, c_bomb),
    ] {
        let started = std::time::Instant::now();
        let result = run_with(bomb_config(), ExecutionRequest::new(language, code)).await;
        assert_eq!(result.status, Status::CompileError, "{result:#?}");
        let reason = result.error.clone().unwrap_or_default();
        assert!(
            reason.contains("timed out")
                || reason.contains("memory")
                || reason.contains("compilation failed"),
            "{reason}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the compile limits bound the bomb"
        );
    }
}

#[tokio::test]
async fn const_eval_loop_is_a_compile_error() {
    let code = "const X: u64 = { let mut i: u64 = 1; while i != 0 { i = i.wrapping_add(1); } i };\nfn main() { println!(\"{X}\"); }\n";
    let result = run_with(bomb_config(), ExecutionRequest::new(Language::Rust, code)).await;
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
}

#[tokio::test]
async fn streaming_a_compile_error_yields_the_diagnostics_then_the_result() {
    use futures::StreamExt;
    use soulbox::StreamOutput;
    let sandbox = engine().sandbox(config()).await.expect("sandbox");
    let events: Vec<StreamOutput> = sandbox
        .stream_execute(Language::C, "int main(void) { return missing; }\n")
        .map(|e| e.expect("no host error"))
        .collect()
        .await;
    let Some((StreamOutput::Exit(result), before)) = events.split_last() else {
        panic!("the stream ends with Exit: {events:?}")
    };
    assert_eq!(result.status, Status::CompileError);
    let streamed: Vec<u8> = before
        .iter()
        .filter_map(|e| match e {
            StreamOutput::Stderr(chunk) => Some(chunk.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(String::from_utf8_lossy(&streamed), result.stderr);
    assert!(
        result.stderr.contains("main.c:1:25: error:"),
        "{}",
        result.stderr
    );
}

#[tokio::test]
async fn diagnostics_do_not_reveal_host_paths() {
    // The error points into serde_json's source: it must not show where the host keeps it.
    let result = run(
        Language::Rust,
        "fn main() { let _ = serde_json::to_string(&std::env::args()); }\n",
    )
    .await;
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
    assert!(result.stderr.contains("serde_json"), "{}", result.stderr);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(!result.stderr.contains(&home), "{}", result.stderr);
    // Host headers outside the sysroot are not there at all.
    let c = run(
        Language::C,
        "#include \"/usr/include/stdio.h\"\nint main(void) { return 0; }\n",
    )
    .await;
    assert_eq!(c.status, Status::CompileError, "{c:#?}");
    assert!(c.stderr.contains("file not found"), "{}", c.stderr);
}

#[tokio::test]
async fn terminate_stops_a_compile_in_progress() {
    let mut config = config();
    config.compile.timeout = Duration::from_secs(120);
    let sandbox = engine().sandbox(config).await.expect("sandbox");
    // Never finishes on its own within the test: only terminate can end it early.
    let endless = "#![recursion_limit = \"1000000000\"]\nmacro_rules! r { ($($t:tt)*) => { r!($($t)* x); } }\nfn main() { r!(x); }\n";
    let running = {
        let sandbox = sandbox.clone();
        tokio::spawn(async move { sandbox.execute_code(Language::Rust, endless).await })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = std::time::Instant::now();
    sandbox.terminate().await;
    let result = running
        .await
        .expect("task")
        .expect("a result, not an error");
    assert_eq!(result.status, Status::Killed, "{result:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "terminate did not wait for the compile deadline: {:?}",
        started.elapsed()
    );
}
