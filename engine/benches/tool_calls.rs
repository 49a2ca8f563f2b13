//! Host tool calls from guest code: the cost of one call through the host channel (frame
//! encode in the guest, the host call, JSON Schema check, the async handler, the reply written
//! back into guest memory, decode in the guest), per language, beside the same loop in native
//! `python3` calling the function in-process with the same JSON round trip (the floor any
//! in-process tool dispatch pays). Medians of ROUNDS rounds of CALLS calls each.
//! `cargo bench -p soulbox --bench tool_calls`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use soulbox::{Language, MIB, SandboxConfig, Status, ToolFunction};

const ROUNDS: usize = 7;
const CALLS: usize = 1000;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Guest programs that make CALLS calls and print the microseconds they took.
fn program(language: Language) -> String {
    match language {
        Language::Python => format!(
            "import soulbox, time\nt = time.perf_counter()\nfor i in range({CALLS}):\n    soulbox.tools.add(a=i, b=1)\nprint((time.perf_counter() - t) * 1e6)"
        ),
        Language::Ruby => format!(
            "t = Process.clock_gettime(Process::CLOCK_MONOTONIC)\n{CALLS}.times {{ |i| SoulBox.tools.add(a: i, b: 1) }}\nputs (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) * 1e6"
        ),
        Language::JavaScript => format!(
            "const t = performance.now();\nfor (let i = 0; i < {CALLS}; i++) soulbox.tools.add({{a: i, b: 1}});\nconsole.log((performance.now() - t) * 1000);"
        ),
        _ => unreachable!(),
    }
}

const NATIVE: &str = "
import json, time
def add(a, b): return a + b
def call(frame):
    req = json.loads(frame)
    return json.dumps({'ok': True, 'value': add(**req['arguments'])})
t = time.perf_counter()
for i in range(1000):
    json.loads(call(json.dumps({'op': 'call', 'name': 'add', 'arguments': {'a': i, 'b': 1}})))['value']
print((time.perf_counter() - t) * 1e6)
";

#[tokio::main]
async fn main() {
    let config = SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(120));
    let mut config = config;
    config.max_tool_calls = u32::try_from(CALLS).unwrap();
    let sandbox = soulbox::Sandbox::create(config).await.expect("sandbox");
    sandbox
        .register_tool(
            ToolFunction::new(
                "add",
                "adds two numbers",
                json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                       "required": ["a", "b"]}),
            ),
            |args: Value| async move {
                Ok(json!(args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0)))
            },
        )
        .unwrap();
    let mut rows = Vec::new();
    for (name, language) in [
        ("python", Language::Python),
        ("ruby", Language::Ruby),
        ("javascript", Language::JavaScript),
    ] {
        let code = program(language);
        let mut samples = Vec::new();
        for _ in 0..ROUNDS {
            let r = sandbox.execute_code(language, &code).await.expect("run");
            if r.status != Status::Ok {
                eprintln!("{name}: {:?} {}", r.status, r.stderr);
                break;
            }
            assert_eq!(r.tool_calls.len(), CALLS);
            samples.push(r.stdout.trim().parse::<f64>().expect("microseconds") / CALLS as f64);
        }
        if !samples.is_empty() {
            rows.push((name, median(samples)));
        }
    }
    let mut native = Vec::new();
    for _ in 0..ROUNDS {
        let out = Command::new("python3")
            .args(["-c", NATIVE])
            .output()
            .expect("python3");
        native.push(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .expect("us")
                / CALLS as f64,
        );
    }
    let native = median(native);
    println!(
        "| guest | µs per tool call (median of {ROUNDS} x {CALLS}) | vs native python3 in-process JSON dispatch ({native:.1} µs) |"
    );
    println!("|---|---|---|");
    for (name, us) in rows {
        println!("| {name} | {us:.1} | {:.1}x |", us / native);
    }
    sandbox.terminate().await;
}
