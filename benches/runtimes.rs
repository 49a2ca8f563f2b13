//! Language-runtime benchmark: each runtime's hello and import-heavy run, measured two ways,
//! beside the native interpreters (`python3`, `node`, `ruby`, when installed) in the same run.
//!
//! - *new process*: `soulbox run` as a fresh process with the runtime installed and its compiled
//!   module cached on disk (what a CLI user or a one-shot server worker pays);
//! - *warm process*: a fresh sandbox and instance in a process whose engine already holds the
//!   compiled module (what a long-lived server pays per execution).
//!
//! Run: `cargo build --release -p soulbox-cli && cargo bench -p soulbox --bench runtimes`.
//! Prints a Markdown table (medians in milliseconds) for BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark on the host's own files; the wall rule is for the engine's code.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, ExecutionRequest, Language, MIB, SandboxConfig, Status};

struct Case {
    label: &'static str,
    runtime: &'static str,
    language: Language,
    lang_flag: &'static str,
    hello: &'static str,
    import: &'static str,
    native: Option<(
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static str,
    )>,
}

const CASES: &[Case] = &[
    Case {
        label: "python (CPython 3.15)",
        runtime: "python",
        language: Language::Python,
        lang_flag: "python",
        hello: "print(1 + 1)",
        import: "import json, sqlite3\nprint(json.dumps([1]))",
        native: Some((
            "python3",
            &["-c"],
            "print(1 + 1)",
            "import json, sqlite3\nprint(json.dumps([1]))",
        )),
    },
    Case {
        label: "python: numpy / numpy + pandas",
        runtime: "python",
        language: Language::Python,
        lang_flag: "python",
        hello: "import numpy\nprint(numpy.arange(3).sum())",
        import: "import numpy, pandas\nprint(pandas.DataFrame({'a': numpy.arange(3)}).a.sum())",
        native: None,
    },
    Case {
        label: "python-lite (CPython 3.12)",
        runtime: "python-lite",
        language: Language::Python,
        lang_flag: "python",
        hello: "print(1 + 1)",
        import: "import json, sqlite3, decimal, datetime\nprint(json.dumps([1]))",
        native: None,
    },
    Case {
        label: "micropython 1.27",
        runtime: "micropython",
        language: Language::Python,
        lang_flag: "python",
        hello: "print(1 + 1)",
        import: "import json\nprint(json.dumps([1]))",
        native: None,
    },
    Case {
        label: "quickjs-session (QuickJS-NG 0.16 + Node layer, the default)",
        runtime: "quickjs-session",
        language: Language::JavaScript,
        lang_flag: "js",
        hello: "console.log(1 + 1)",
        import: "const fs = require('fs'); console.log(JSON.stringify({a: [1, 2]}), typeof fs.readFileSync)",
        native: Some((
            "node",
            &["-e"],
            "console.log(1 + 1)",
            "const fs = require('fs'); console.log(JSON.stringify({a: [1, 2]}), typeof fs.readFileSync)",
        )),
    },
    Case {
        label: "quickjs (QuickJS-NG 0.11)",
        runtime: "quickjs",
        language: Language::JavaScript,
        lang_flag: "js",
        hello: "console.log(1 + 1)",
        import: "import * as std from 'qjs:std';\nstd.out.puts(JSON.stringify({a: [1, 2]}) + '\\n');",
        native: Some((
            "node",
            &["-e"],
            "console.log(1 + 1)",
            "const fs = require('fs'); console.log(JSON.stringify({a: [1, 2]}))",
        )),
    },
    Case {
        label: "ruby 3.4",
        runtime: "ruby",
        language: Language::Ruby,
        lang_flag: "ruby",
        hello: "puts 1 + 1",
        import: "require 'json'\nrequire 'set'\nrequire 'time'\nputs JSON.generate([1])",
        native: Some((
            "ruby",
            &["-e"],
            "puts 1 + 1",
            "require 'json'; require 'set'; require 'time'; puts JSON.generate([1])",
        )),
    },
];

const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

fn soulbox_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release/soulbox")
}

/// The interpreter binary itself, not a version-manager shim in front of it (pyenv's shims
/// add ~150 ms per start).
fn real_program(program: &str) -> String {
    let probe: &[&str] = match program {
        "python3" => &["-c", "import sys; print(sys.executable)"],
        "node" => &["-e", "console.log(process.execPath)"],
        "ruby" => &["-e", "puts RbConfig.ruby"],
        _ => return program.to_owned(),
    };
    Command::new(program)
        .args(probe)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| program.to_owned())
}

fn time_process(program: &str, args: &[&str]) -> Option<f64> {
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        samples.push(started.elapsed());
    }
    Some(median(samples))
}

async fn time_warm(engine: &Engine, case: &Case, code: &str) -> f64 {
    let config = SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60));
    let run = || async {
        let sandbox = engine.sandbox(config.clone()).await.unwrap();
        let started = Instant::now();
        let r = sandbox
            .execute(ExecutionRequest::new(case.language, code).with_runtime(case.runtime))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status, Status::Ok, "{}: {r:?}", case.runtime);
        sandbox.terminate().await;
        elapsed
    };
    run().await;
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        samples.push(run().await);
    }
    median(samples)
}

fn fmt(ms: Option<f64>) -> String {
    ms.map_or("n/a".into(), |ms| format!("{ms:.1}"))
}

fn ratio(ms: f64, native: Option<f64>) -> String {
    native.map_or(String::new(), |n| format!(" ({:.2}x)", ms / n))
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let bin = soulbox_bin();
    assert!(
        bin.exists(),
        "build the CLI first: cargo build --release -p soulbox-cli ({})",
        bin.display()
    );
    let engine = Engine::new(EngineConfig::default()).unwrap();
    for case in CASES {
        engine.install_runtime(case.runtime).await.unwrap();
    }
    println!(
        "| runtime | native hello / import ms | new process hello / import ms | warm process hello / import ms |"
    );
    println!("|---|---|---|---|");
    for case in CASES {
        let native = case.native.map(|(program, flags, hello, import)| {
            let resolved = real_program(program);
            let run = |code: &str| {
                let mut args: Vec<&str> = flags.to_vec();
                args.push(code);
                time_process(&resolved, &args)
            };
            (program, run(hello), run(import))
        });
        let cli = |code: &str| {
            let bin = bin.to_string_lossy().into_owned();
            time_process(
                &bin,
                &[
                    "run",
                    "--runtime",
                    case.runtime,
                    "-l",
                    case.lang_flag,
                    "-c",
                    code,
                ],
            )
        };
        let (cold_hello, cold_import) = (cli(case.hello), cli(case.import));
        let warm_hello = time_warm(&engine, case, case.hello).await;
        let warm_import = time_warm(&engine, case, case.import).await;
        let (native_label, native_hello, native_import) = match native {
            Some((program, None, None)) => (format!("{program}: not installed"), None, None),
            Some((program, h, i)) => (format!("{program}: {} / {}", fmt(h), fmt(i)), h, i),
            None => ("-".into(), None, None),
        };
        println!(
            "| {} | {} | {}{} / {}{} | {}{} / {}{} |",
            case.label,
            native_label,
            fmt(cold_hello),
            cold_hello.map_or(String::new(), |c| ratio(c, native_hello)),
            fmt(cold_import),
            cold_import.map_or(String::new(), |c| ratio(c, native_import)),
            fmt(Some(warm_hello)),
            ratio(warm_hello, native_hello),
            fmt(Some(warm_import)),
            ratio(warm_import, native_import),
        );
    }
}
