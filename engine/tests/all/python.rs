//! Python: the default runtime (CPython 3.15 with the scientific stack), `python-lite`
//! (CPython 3.12) and `micropython`, through the same engine flow and limits as any wasm guest.

use std::time::Duration;

use futures::StreamExt;
use soulbox::{ExecutionRequest, Language, MIB, SandboxConfig, Status, StreamOutput};

use crate::{run_code, runtime_sandbox};

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

async fn py(code: &str) -> soulbox::ExecutionResult {
    run_code(config(), Language::Python, None, code, "").await
}

const SINE_WAVE: &str = include_str!("../../../examples/sine_wave.py");

#[tokio::test]
async fn prints_and_computes() {
    let r = py("import sys\nprint(sum(range(10)), sys.version_info[:2])").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "45 (3, 15)\n");
    assert_eq!(r.exit_code, Some(0));
}

#[tokio::test]
async fn reads_stdin_and_gets_its_arguments() {
    let sandbox = runtime_sandbox(config()).await;
    let request = ExecutionRequest::new(
        Language::Python,
        "import sys\nprint(sys.stdin.read().strip().upper(), sys.argv)",
    )
    .with_stdin("hello from stdin\n")
    .with_args(["one", "two"]);
    let r = sandbox.execute(request).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "HELLO FROM STDIN ['-c', 'one', 'two']\n");
}

#[tokio::test]
async fn files_go_in_and_out_through_the_workspace() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .write_file("data.csv", "a,b\n1,2\n3,4\n")
        .await
        .unwrap();
    sandbox
        .write_file("helper.py", "def double(x):\n    return 2 * x\n")
        .await
        .unwrap();
    let code = "import csv, os, helper\n\
                rows = list(csv.DictReader(open('data.csv')))\n\
                total = sum(int(r['b']) for r in rows)\n\
                os.makedirs('out', exist_ok=True)\n\
                open('out/total.txt', 'w').write(str(helper.double(total)))\n\
                print(os.getcwd(), total)";
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "/work 6\n");
    assert_eq!(sandbox.read_file("out/total.txt").await.unwrap(), b"12");
    let artifact = r.artifact("out/total.txt").expect("artifact");
    assert_eq!(artifact.size, 2);
    sandbox.terminate().await;
}

#[tokio::test]
async fn unicode_round_trips() {
    let r = py("s = 'héllo wörld 🌍 日本'\nprint(s, len(s))\nopen('u.txt', 'w', encoding='utf-8').write(s)").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "héllo wörld 🌍 日本 16\n");
}

#[tokio::test]
async fn sys_exit_code_is_the_exit_code() {
    let r = py("import sys\nprint('bye')\nsys.exit(7)").await;
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.exit_code, Some(7));
    assert_eq!(r.stdout, "bye\n");
    let r = py("raise SystemExit(0)").await;
    assert_eq!(r.status, Status::Ok);
}

#[tokio::test]
async fn uncaught_exception_is_an_error_with_its_traceback() {
    let r = py("def f():\n    raise ValueError('boom')\nf()").await;
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.exit_code, Some(1));
    assert!(
        r.stderr.starts_with("Traceback (most recent call last):"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("line 2, in f"), "{}", r.stderr);
    assert!(
        r.stderr.trim_end().ends_with("ValueError: boom"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("soulbox"),
        "bootstrap frames leak: {}",
        r.stderr
    );
    let r = py("x = (").await;
    assert_eq!(r.status, Status::Error);
    assert!(r.stderr.contains("SyntaxError"), "{}", r.stderr);
}

#[tokio::test]
async fn infinite_loop_times_out() {
    let r = run_code(
        config().with_timeout(Duration::from_secs(2)),
        Language::Python,
        None,
        "while True:\n    pass",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert_eq!(r.exit_code, None);
}

#[tokio::test]
async fn memory_error_from_the_limit_is_memory_limit() {
    let r = run_code(
        config().with_memory_limit(128 * MIB),
        Language::Python,
        None,
        "b = bytearray(512 * 1024 * 1024)\nprint(len(b))",
        "",
    )
    .await;
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.stderr.contains("MemoryError"), "{}", r.stderr);
    assert!(r.memory_usage <= 128 * MIB);
}

#[tokio::test]
async fn a_memory_error_the_program_catches_is_not_a_failure() {
    let r = run_code(
        config().with_memory_limit(128 * MIB),
        Language::Python,
        None,
        "try:\n    b = bytearray(512 * 1024 * 1024)\nexcept MemoryError:\n    print('caught')",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "caught\n");
}

#[tokio::test]
async fn host_files_are_out_of_reach() {
    let code = r#"
import os
seen = []
for path in ['/etc/passwd', '../../../../etc/passwd', '/proc/self/environ', '/root', '/work/../etc/hostname']:
    try:
        open(path).read()
        seen.append(path)
    except OSError:
        pass
print('escaped:', seen)
print(sorted(os.listdir('/')))
"#;
    let r = py(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next(), Some("escaped: []"));
    let root = lines.next().unwrap_or_default();
    assert!(
        !root.contains("'etc'") && !root.contains("'proc'"),
        "{root}"
    );
}

#[tokio::test]
async fn runtime_files_are_read_only() {
    let r = py("open('/usr/local/lib/python315.zip', 'ab').write(b'x')").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(
        r.stderr.contains("Error"),
        "writing the stdlib must fail: {}",
        r.stderr
    );
}

#[tokio::test]
async fn the_per_run_root_is_not_shared_between_runs() {
    let sandbox = runtime_sandbox(config()).await;
    let first = sandbox
        .execute_code(Language::Python, "open('/tmp/secret', 'w').write('x')")
        .await
        .unwrap();
    assert_eq!(first.status, Status::Ok, "{first:?}");
    let second = sandbox
        .execute_code(
            Language::Python,
            "import os\nprint(os.path.exists('/tmp/secret'))",
        )
        .await
        .unwrap();
    assert_eq!(second.stdout, "False\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn there_is_no_network() {
    let code = r#"
import socket
try:
    s = socket.create_connection(('127.0.0.1', 80), timeout=1)
    print('connected')
except Exception as e:
    print('refused', type(e).__name__)
"#;
    let r = py(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.stdout.starts_with("refused"), "{}", r.stdout);
    let r = py("import urllib.request\nurllib.request.urlopen('http://127.0.0.1/')").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
}

#[tokio::test]
async fn sine_wave_example_returns_the_png() {
    let sandbox = runtime_sandbox(config()).await;
    let mut events = std::pin::pin!(sandbox.stream_execute(Language::Python, SINE_WAVE));
    let mut image = None;
    let mut result = None;
    while let Some(event) = events.next().await {
        match event.unwrap() {
            StreamOutput::Image(a) => image = Some(a),
            StreamOutput::Exit(r) => result = Some(*r),
            _ => {}
        }
    }
    let result = result.expect("exit event");
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(result.stdout, "Plot saved!\n");
    let plot = result
        .artifacts
        .iter()
        .find(|a| a.path.ends_with("sine_wave.png"))
        .expect("sine_wave.png artifact");
    assert_eq!(plot.mime_type, "image/png");
    assert!(plot.size > 5_000, "{plot:?}");
    assert_eq!(image.as_ref(), Some(plot));
    let png = sandbox.read_file("sine_wave.png").await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(png.len() as u64, plot.size);
    sandbox.terminate().await;
}

#[tokio::test]
async fn pandas_describe_example() {
    let r = py(include_str!("../../../examples/pandas_describe.py")).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{}", r.stdout);
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["A", "B"]);
    assert!(lines[1].starts_with("count") && lines[1].contains("100.0"));
    for (line, stat) in lines[1..]
        .iter()
        .zip(["count", "mean", "std", "min", "25%", "50%", "75%", "max"])
    {
        assert!(line.starts_with(stat), "{line}");
    }
}

#[tokio::test]
async fn scipy_and_scikit_learn_work() {
    let code = "from scipy import integrate\nfrom sklearn.linear_model import LinearRegression\nimport numpy as np\n\
                v, _ = integrate.quad(lambda x: x * x, 0, 3)\n\
                m = LinearRegression().fit(np.array([[1], [2], [3]]), np.array([2, 4, 6]))\n\
                print(round(v, 6), round(float(m.coef_[0]), 6))";
    let r = py(code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "9.0 2.0\n");
}

#[tokio::test]
async fn deep_recursion_is_a_python_error_not_a_crash() {
    let r = py("def f(n):\n    return f(n + 1)\nf(0)").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("RecursionError"), "{}", r.stderr);
}

/// Nested lists `depth` deep and the ways CPython walks them recursively in C (`json`, `repr`,
/// `pickle`), in Python (`copy.deepcopy`, bounded by `sys.setrecursionlimit`), and an
/// `lru_cache`d recursive function (C and Python frames alternating), each reporting a
/// `RecursionError` instead of its answer.
const C_RECURSION: &str = r#"
import copy, functools, json, pickle, sys
depth = int(sys.argv[1])
sys.setrecursionlimit(10_000)
@functools.lru_cache(maxsize=None)
def down(n):
    return 0 if n == 0 else down(n - 1) + 1
def nested(d):
    top = v = []
    for _ in range(d):
        v.append([])
        v = v[0]
    return top
x = nested(depth)
for name, go in [("lru_cache", lambda: down(depth)), ("json", lambda: len(json.dumps(x))),
                 ("repr", lambda: len(repr(x))), ("deepcopy", lambda: len(repr(copy.deepcopy(x)))),
                 ("pickle", lambda: len(repr(pickle.loads(pickle.dumps(x)))))]:
    try:
        print(name, go())
    except RecursionError as e:
        print(name, "RecursionError:", e)
"#;

async fn c_recursion(depth: u32) -> soulbox::ExecutionResult {
    let sandbox = runtime_sandbox(config()).await;
    let request =
        ExecutionRequest::new(Language::Python, C_RECURSION).with_args([depth.to_string()]);
    sandbox.execute(request).await.unwrap()
}

#[tokio::test]
async fn c_level_recursion_reaches_a_thousand_levels_as_native_cpython_does() {
    let r = c_recursion(1000).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout, "lru_cache 1000\njson 2002\nrepr 2002\ndeepcopy 2002\npickle 2002\n",
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn c_level_recursion_beyond_the_window_is_a_recursion_error_not_a_trap() {
    // Far past every limit (the window ends lru_cache at ~1,900 levels, pickle at ~5,300, json
    // at ~21,000, repr at ~32,000; deepcopy meets the recursion limit): each way ends in Python's
    // own RecursionError, which the program catches and goes on.
    let r = c_recursion(50_000).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}\n{}", r.stdout, r.stderr);
    for (line, name) in lines
        .iter()
        .zip(["lru_cache", "json", "repr", "deepcopy", "pickle"])
    {
        assert!(
            line.starts_with(&format!("{name} RecursionError:")),
            "{line}"
        );
    }
    // The C-level ones stop at the widened window, not at the module's own 128 KiB.
    assert!(
        r.stdout
            .contains("lru_cache RecursionError: Stack overflow (used 100"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("deepcopy RecursionError: maximum recursion depth exceeded")
    );
    // Uncaught, it is the program's error (exit 1), like native CPython's.
    let uncaught = py("import json\nv = x = []\nfor _ in range(50_000):\n    v.append([]); v = v[0]\njson.dumps(x)").await;
    assert_eq!(uncaught.status, Status::Error, "{uncaught:?}");
    assert_eq!(uncaught.exit_code, Some(1));
    assert!(
        uncaught.stderr.contains("RecursionError"),
        "{}",
        uncaught.stderr
    );
}

#[tokio::test]
async fn python_lite_runs_the_standard_library() {
    let r = run_code(
        config(),
        Language::Python,
        Some("python-lite"),
        "import sys, json\nprint(sys.version_info[:2], json.dumps({'a': [1, 2]}), input())",
        "typed\n",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "(3, 12) {\"a\": [1, 2]} typed\n");
}

#[tokio::test]
async fn python_lite_exit_codes_and_exceptions() {
    let lite =
        |code: &'static str| run_code(config(), Language::Python, Some("python-lite"), code, "");
    let r = lite("import sys; sys.exit(3)").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(3)));
    let r = lite("raise KeyError('missing')").await;
    assert_eq!((r.status, r.exit_code), (Status::Error, Some(1)));
    assert!(r.stderr.contains("KeyError: 'missing'"), "{}", r.stderr);
}

#[tokio::test]
async fn python_lite_c_stack_overflow_is_a_clear_trap() {
    let code = "import functools\n@functools.lru_cache(maxsize=None)\ndef f(n):\n    return 0 if n == 0 else f(n - 1) + 1\nprint(f(5000))";
    let r = run_code(config(), Language::Python, Some("python-lite"), code, "").await;
    assert_eq!(r.status, Status::Trap, "{r:?}");
    let error = r.error.unwrap_or_default();
    assert!(error.contains("C stack"), "{error}");
    assert!(!error.contains("backtrace"), "{error}");
}

#[tokio::test]
async fn micropython_runs_by_name() {
    let r = run_code(
        config(),
        Language::Python,
        Some("micropython"),
        "import sys\nprint(sys.implementation.name, sum([1, 2, 3]))",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "micropython 6\n");
    let r = run_code(
        config(),
        Language::Python,
        Some("micropython"),
        "raise ValueError('x')",
        "",
    )
    .await;
    assert_eq!(r.status, Status::Error);
    assert!(r.stderr.contains("ValueError"), "{}", r.stderr);
}

#[tokio::test]
async fn sandbox_default_runtime_applies_to_its_language_only() {
    let sandbox = runtime_sandbox(config().with_runtime("python-lite")).await;
    let r = sandbox
        .execute_code(Language::Python, "import sys\nprint(sys.version_info[:2])")
        .await
        .unwrap();
    assert_eq!(r.stdout, "(3, 12)\n");
    let r = sandbox
        .execute_code(Language::JavaScript, "console.log(1 + 1)")
        .await
        .unwrap();
    assert_eq!(r.stdout, "2\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_runtime_of_another_language_is_refused() {
    let sandbox = runtime_sandbox(config()).await;
    let err = sandbox
        .execute(ExecutionRequest::new(Language::Python, "print(1)").with_runtime("quickjs"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("quickjs") && err.contains("javascript"),
        "{err}"
    );
    let err = sandbox
        .execute(ExecutionRequest::new(Language::Python, "print(1)").with_runtime("cobol"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("unknown runtime `cobol`"), "{err}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn output_flood_hits_the_output_limit() {
    let r = run_code(
        config().with_max_output_bytes(64 * 1024),
        Language::Python,
        None,
        "while True:\n    print('x' * 1000, flush=True)",
        "",
    )
    .await;
    assert_eq!(r.status, Status::OutputLimit, "{r:?}");
    assert_eq!(r.stdout.len(), 64 * 1024);
}
