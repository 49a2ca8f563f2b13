//! JavaScript on QuickJS-NG: std-module semantics (promises and async functions run to
//! completion), errors with stacks, and the same limits as any wasm guest.

use std::time::Duration;

use soulbox::{ExecutionRequest, Language, MIB, SandboxConfig, Status};

use crate::{run_code, runtime_sandbox};

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(20))
}

async fn js(code: &str) -> soulbox::ExecutionResult {
    run_code(config(), Language::JavaScript, None, code, "").await
}

#[tokio::test]
async fn console_log_prints() {
    let r = js("console.log('hello', 1 + 2, [1, 2].map(x => x * 2).join(','))").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "hello 3 2,4\n");
}

#[tokio::test]
async fn promises_timers_and_async_functions_run_to_completion() {
    let code = "async function f() { await null; console.log('after await'); }\n\
                f();\n\
                Promise.resolve().then(() => console.log('then'));\n\
                setTimeout(() => console.log('timer'), 20);\n\
                console.log('sync');";
    let r = js(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "sync\nafter await\nthen\ntimer\n");
}

#[tokio::test]
async fn modules_and_top_level_await() {
    let code = "import * as std from 'qjs:std';\n\
                const v = await Promise.resolve(41);\n\
                std.out.puts(`${v + 1}\\n`);";
    let r = js(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "42\n");
}

#[tokio::test]
async fn reads_stdin_and_gets_its_arguments() {
    let sandbox = runtime_sandbox(config()).await;
    let request = ExecutionRequest::new(
        Language::JavaScript,
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n\
         console.log(input.n * 2, process.argv.slice(2).join('|'), scriptArgs.join('|'))",
    )
    .with_stdin("{\"n\": 21}")
    .with_args(["a", "b c"]);
    let r = sandbox.execute(request).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "42 a|b c a|b c\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn files_go_in_and_out_through_the_workspace() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .write_file("in.txt", "some words here")
        .await
        .unwrap();
    let code = "const text = std.loadFile('in.txt');\n\
                const f = std.open('count.txt', 'w');\n\
                f.puts(String(text.split(' ').length));\n\
                f.close();";
    let r = sandbox
        .execute_code(Language::JavaScript, code)
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(sandbox.read_file("count.txt").await.unwrap(), b"3");
    assert!(r.artifact("count.txt").is_some());
    sandbox.terminate().await;
}

#[tokio::test]
async fn unicode_round_trips() {
    let r = js("const s = 'héllo 🌍 日本';\nconsole.log(s, [...s].length)").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "héllo 🌍 日本 10\n");
}

#[tokio::test]
async fn exit_code_passes_through() {
    let r = js("console.log('x'); std.exit(4)").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(4)));
    assert_eq!(r.stdout, "x\n");
}

#[tokio::test]
async fn uncaught_error_is_an_error_with_its_stack() {
    let r = js("function inner() { throw new TypeError('boom'); }\ninner();").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(1)));
    assert!(r.stderr.contains("TypeError: boom"), "{}", r.stderr);
    assert!(r.stderr.contains("at inner"), "{}", r.stderr);
}

#[tokio::test]
async fn unhandled_rejection_is_an_error() {
    let r = js("async function f() { throw new Error('async boom'); }\nf();").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("async boom"), "{}", r.stderr);
}

#[tokio::test]
async fn infinite_loop_times_out() {
    let r = run_code(
        config().with_timeout(Duration::from_secs(1)),
        Language::JavaScript,
        None,
        "for (;;) {}",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Timeout, "{r:?}");
}

#[tokio::test]
async fn memory_hog_hits_the_limit() {
    let r = run_code(
        config().with_memory_limit(32 * MIB),
        Language::JavaScript,
        None,
        "const a = []; for (;;) a.push(new Array(100000).fill(1));",
        "",
    )
    .await;
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
}

#[tokio::test]
async fn host_files_are_out_of_reach() {
    let code = "const paths = ['/etc/passwd', '../../etc/passwd', '/proc/self/environ', '/work/../etc/hostname'];\n\
                console.log(JSON.stringify(paths.filter(p => std.loadFile(p) !== null)));\n\
                const [entries, err] = os.readdir('/');\n\
                console.log(err !== 0 || !entries.includes('etc'));";
    let r = js(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "[]\ntrue\n");
}

#[tokio::test]
async fn there_is_no_network_or_process_spawning() {
    let r = js("console.log(typeof XMLHttpRequest, typeof WebSocket)\n\
                fetch('http://example.com').catch(e => console.log(e.message, '|', e.cause.kind))")
    .await;
    // No allow-list: the host refuses (tools_javascript.rs has fetch itself).
    assert_eq!(
        r.stdout, "undefined undefined\nfetch failed | denied\n",
        "{r:?}"
    );
    for module in ["http", "node:https", "net", "child_process"] {
        let r = js(&format!("require('{module}')")).await;
        assert_eq!(r.status, Status::Error, "{r:?}");
        assert!(r.stderr.contains("is not available in SoulBox"), "{r:?}");
    }
    let r = js("const rc = os.exec(['/bin/sh', '-c', 'echo pwned']);\nconsole.log(rc);").await;
    assert!(!r.stdout.contains("pwned"), "{r:?}");
}

#[tokio::test]
async fn readline_hands_out_stdin_line_by_line() {
    let sandbox = runtime_sandbox(config()).await;
    let code = "const rl = require('readline').createInterface({ input: process.stdin });\n\
                const nums = [];\n\
                rl.on('line', (l) => nums.push(Number(l)));\n\
                rl.on('close', () => console.log(nums, nums.reduce((a, b) => a + b, 0)));";
    let r = sandbox
        .execute(ExecutionRequest::new(Language::JavaScript, code).with_stdin("1\n2\n39\n"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "[ 1, 2, 39 ] 42\n"),
        "{r:?}"
    );
    let code = "import readline from 'node:readline';\n\
                const rl = readline.createInterface({ input: process.stdin });\n\
                let chars = 0;\n\
                for await (const line of rl) chars += line.length;\n\
                console.log('chars', chars);";
    let r = sandbox
        .execute(ExecutionRequest::new(Language::JavaScript, code).with_stdin("ab\r\ncd\n"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "chars 4\n"),
        "{r:?}"
    );
    sandbox.terminate().await;
}
