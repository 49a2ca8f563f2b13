//! Rust guests compiled by the engine as components (wasm32-wasip2, with the `soulbox_guest`
//! bindings of the repository's `wit/` from the guest crate set): a nested sandbox running
//! Python through `soulbox:sandbox/executor`, a registered tool called through `tools`, and
//! the compile step's rules for components (automatic, asked for, refused, diagnostics).
//!
//! These use the real toolchains and crate set (`soulbox toolchains install`, run by
//! scripts/setup.sh) and the real Python runtime, like the compile and Python tests.

use std::time::Duration;

use serde_json::{Value, json};
use soulbox::{
    ExecutionRequest, ExecutionResult, Language, MIB, SandboxConfig, Status, ToolFunction,
};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

async fn run(request: ExecutionRequest) -> ExecutionResult {
    let sandbox = runtime_sandbox(config()).await;
    let result = sandbox.execute(request).await.expect("the engine ran it");
    sandbox.terminate().await;
    result
}

/// The issue's test: a Rust component, compiled from source by the engine, creates a nested
/// sandbox through `soulbox:sandbox/executor`, runs Python in it and prints what Python printed.
/// It asks for nothing: using `soulbox_guest` makes it a component.
#[tokio::test(flavor = "multi_thread")]
async fn a_rust_component_runs_python_in_a_nested_sandbox() {
    let code = r#"
use soulbox_guest::executor::Sandbox;
use soulbox_guest::types::{Language, Limits, Status};

fn main() {
    let sandbox = Sandbox::create(Limits::default()).expect("a nested sandbox");
    let result = sandbox
        .execute(Language::Python, "import sys\nprint(sum(range(10)), sys.platform)")
        .expect("the nested sandbox ran the code");
    assert!(matches!(result.status, Status::Ok), "{:?}", result.stderr);
    print!("nested python said: {}", result.stdout);
}
"#;
    // The first Python run on a machine prepares the runtime (minutes on a busy 2-core box);
    // do that outside the component, whose own deadline would otherwise include it.
    let warm = run(ExecutionRequest::new(Language::Python, "print(1)")).await;
    assert_eq!(warm.stdout, "1\n", "{warm:#?}");
    let result = run(ExecutionRequest::new(Language::Rust, code)).await;
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(result.stdout, "nested python said: 45 wasi\n");
    // Compiled under the same isolation as every Rust guest.
    assert!(
        result.isolation.iter().any(|l| l.starts_with("compile:")),
        "{:?}",
        result.isolation
    );
}

/// `--component` (`ExecutionRequest::component`) builds a plain std program as a WASI preview 2
/// component: it runs with its argv, stdin and the workspace like a module does.
#[tokio::test(flavor = "multi_thread")]
async fn a_std_program_asked_to_be_a_component_is_one() {
    let code = r#"
use std::io::Read;
fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    // The workspace is read-only to components: reading works, writing is refused.
    let seen = std::fs::read_to_string("in.txt").unwrap();
    let refused = std::fs::write("out.txt", "x").is_err();
    println!("{}|{}|{}|{}", std::env::args().nth(1).unwrap(), input.trim(), seen.trim(), refused);
}
"#;
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .write_file("in.txt", "from the workspace\n")
        .await
        .unwrap();
    let result = sandbox
        .execute(
            ExecutionRequest::new(Language::Rust, code)
                .with_component(true)
                .with_args(["alpha"])
                .with_stdin("from stdin\n"),
        )
        .await
        .expect("ran");
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(result.stdout, "alpha|from stdin|from the workspace|true\n");
    assert!(
        sandbox.read_file("out.txt").await.is_err(),
        "a component wrote to its workspace"
    );
    sandbox.terminate().await;
}

/// C and C++ cannot be components: asking is a clear error, not a module passed off as one.
#[tokio::test(flavor = "multi_thread")]
async fn only_rust_can_be_compiled_as_a_component() {
    let sandbox = runtime_sandbox(config()).await;
    let refused = sandbox
        .execute(
            ExecutionRequest::new(Language::C, "int main(void) { return 0; }").with_component(true),
        )
        .await;
    let error = refused
        .expect_err("C as a component is refused")
        .to_string();
    assert!(
        error.contains("only Rust can be compiled as a component"),
        "{error}"
    );
    sandbox.terminate().await;
}

/// A component that misuses the bindings gets rustc's diagnostics, like any Rust guest.
#[tokio::test(flavor = "multi_thread")]
async fn misusing_the_bindings_is_a_compile_error_with_diagnostics() {
    let code = "fn main() { soulbox_guest::executor::no_such_function(); }\n";
    let result = run(ExecutionRequest::new(Language::Rust, code)).await;
    assert_eq!(result.status, Status::CompileError, "{result:#?}");
    assert!(
        result.stderr.contains("no_such_function"),
        "{}",
        result.stderr
    );
    assert!(result.stdout.is_empty());
}

/// A Rust component calls the tools registered on the sandbox running it through WIT `tools`:
/// it lists them, reads a value, and sees each failure as a typed error (schema violation,
/// handler error with the handler's message, unknown tool); every call is in the result.
#[tokio::test(flavor = "multi_thread")]
async fn a_rust_component_calls_a_registered_tool_through_wit() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .register_tool(
            ToolFunction::new(
                "weather",
                "Current weather in a city",
                json!({"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}),
            ),
            |args: Value| async move {
                let city = args["city"].as_str().unwrap_or_default().to_owned();
                Ok(json!({"city": city, "temp_c": 21}))
            },
        )
        .expect("registered");
    sandbox
        .register_tool(
            ToolFunction::new("fail", "Always fails", json!({"type": "object"})),
            |_: Value| async move { Err::<Value, _>("the weather service is down".to_owned()) },
        )
        .expect("registered");
    let code = r##"
use soulbox_guest::tools;

fn main() {
    let mut names: Vec<String> = tools::list().into_iter().map(|t| t.name).collect();
    names.sort();
    println!("tools: {}", names.join(","));
    let value = tools::call("weather", r#"{"city": "Paris"}"#).expect("the tool answered");
    let value: serde_json::Value = serde_json::from_str(&value).expect("JSON");
    println!("{} {}", value["city"], value["temp_c"]);
    for (name, args) in [("weather", r#"{"city": 7}"#), ("fail", "{}"), ("nope", "{}")] {
        let e = tools::call(name, args).expect_err("refused");
        println!("{name}: {:?}", e.kind);
        if name == "fail" {
            println!("{}", e.message);
        }
    }
}
"##;
    let result = sandbox
        .execute(ExecutionRequest::new(Language::Rust, code))
        .await
        .expect("ran");
    sandbox.terminate().await;
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    assert_eq!(
        result.stdout,
        "tools: fail,weather\n\"Paris\" 21\nweather: HostErrorKind::InvalidArguments\n\
         fail: HostErrorKind::Handler\nthe weather service is down\nnope: HostErrorKind::UnknownTool\n"
    );
    let calls: Vec<(&str, bool)> = result
        .tool_calls
        .iter()
        .map(|c| (c.name.as_str(), c.ok))
        .collect();
    assert_eq!(
        calls,
        [
            ("weather", true),
            ("weather", false),
            ("fail", false),
            ("nope", false)
        ]
    );
}
