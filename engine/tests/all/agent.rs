//! SoulBox as a model's tool set: `Sandbox::tools()` and `Sandbox::execute_tool_call`, through
//! the ordinary engine paths (limits, the wall rule, the host channel's checks).

use std::time::Duration;

use serde_json::{Value, json};
use soulbox::{MIB, SandboxConfig, ToolFunction};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(256 * MIB)
        .with_timeout(Duration::from_secs(30))
}

fn weather() -> ToolFunction {
    ToolFunction::new(
        "weather",
        "Current weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}},
               "required": ["city"], "additionalProperties": false}),
    )
}

#[tokio::test]
async fn tools_lists_the_builtins_then_the_registered_tools_in_openai_shape() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .register_tool(weather(), |args: Value| async move {
            Ok(json!({"city": args["city"], "temp_c": 21}))
        })
        .unwrap();
    let tools = sandbox.tools();
    let tools = tools.as_array().unwrap();
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "run_code",
            "write_file",
            "read_file",
            "list_files",
            "weather"
        ]
    );
    for tool in tools {
        assert_eq!(tool["type"], "function");
        assert!(tool["function"]["description"].as_str().unwrap().len() > 10);
        assert_eq!(tool["function"]["parameters"]["type"], "object", "{tool}");
    }
    assert_eq!(
        tools[4]["function"]["parameters"]["required"],
        json!(["city"])
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn run_code_runs_python_and_reports_status_output_and_files() {
    let sandbox = runtime_sandbox(config()).await;
    let answer = sandbox
        .execute_tool_call(
            "run_code",
            r#"{"language": "python", "code": "open('out.txt', 'w').write('hi')\nprint(6*7)"}"#,
        )
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["stdout"], "42\n");
    assert_eq!(answer["stderr"], "");
    assert_eq!(answer["exit_code"], 0);
    assert_eq!(answer["artifacts"], json!(["out.txt"]));

    // A failing program is an answer with its status and stderr, not an error.
    let answer = sandbox
        .execute_tool_call(
            "run_code",
            json!({"language": "py", "code": "raise ValueError('nope')"}),
        )
        .await;
    assert_eq!(answer["status"], "error", "{answer}");
    assert_eq!(answer["exit_code"], 1);
    assert!(
        answer["stderr"]
            .as_str()
            .unwrap()
            .contains("ValueError: nope"),
        "{answer}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn run_code_breaking_a_limit_is_a_status_and_huge_output_is_capped() {
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(2))).await;
    let answer = sandbox
        .execute_tool_call(
            "run_code",
            json!({"language": "python", "code": "while True: pass"}),
        )
        .await;
    assert_eq!(answer["status"], "timeout", "{answer}");
    assert_eq!(answer["exit_code"], Value::Null);
    assert!(answer["error"].is_string(), "{answer}");

    let answer = sandbox
        .execute_tool_call(
            "run_code",
            json!({"language": "python", "code": "print('x' * 200000 + 'END')"}),
        )
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
    let stdout = answer["stdout"].as_str().unwrap();
    assert!(
        stdout.len() <= soulbox::agent::MAX_TOOL_TEXT + 100,
        "{}",
        stdout.len()
    );
    assert!(stdout.contains("bytes cut") && stdout.ends_with("END\n"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn file_tools_write_read_and_list_the_workspace() {
    let sandbox = runtime_sandbox(config()).await;
    let answer = sandbox
        .execute_tool_call(
            "write_file",
            json!({"path": "data/in.csv", "content": "a,b\n1,2\n"}),
        )
        .await;
    assert_eq!(answer, json!({"path": "data/in.csv", "bytes": 8}));
    // The guest sees what the model wrote.
    let answer = sandbox
        .execute_tool_call(
            "run_code",
            json!({"language": "python", "code": "print(open('data/in.csv').read().split()[1])"}),
        )
        .await;
    assert_eq!(answer["stdout"], "1,2\n", "{answer}");

    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "/work/data/in.csv"}))
        .await;
    assert_eq!(answer["content"], "a,b\n1,2\n", "{answer}");
    assert_eq!(answer["size"], 8);
    assert_eq!(answer.get("truncated"), None);

    let answer = sandbox.execute_tool_call("list_files", "").await;
    let files = answer["files"].as_array().unwrap();
    assert!(
        files.contains(&json!({"path": "data", "size": 0, "is_dir": true})),
        "{answer}"
    );
    assert!(files.contains(&json!({"path": "data/in.csv", "size": 8, "is_dir": false})));
    assert_eq!(answer["truncated"], false);
    let answer = sandbox
        .execute_tool_call("list_files", json!({"path": "data"}))
        .await;
    assert_eq!(answer["files"].as_array().unwrap().len(), 1, "{answer}");

    // Binary: base64 both ways.
    let answer = sandbox
        .execute_tool_call(
            "write_file",
            json!({"path": "b.bin", "content": "AAH+/w==", "encoding": "base64"}),
        )
        .await;
    assert_eq!(answer["bytes"], 4, "{answer}");
    assert_eq!(
        sandbox.read_file("b.bin").await.unwrap(),
        [0, 1, 0xfe, 0xff]
    );
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "b.bin"}))
        .await;
    assert_eq!(answer["content_base64"], "AAH+/w==", "{answer}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn reads_are_capped() {
    let sandbox = runtime_sandbox(config()).await;
    let big_text = "line of text\n".repeat(10_000);
    sandbox.write_file("big.txt", &big_text).await.unwrap();
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "big.txt"}))
        .await;
    assert_eq!(answer["truncated"], true, "{answer}");
    assert_eq!(answer["size"], big_text.len());
    let content = answer["content"].as_str().unwrap();
    assert_eq!(content.len(), soulbox::agent::MAX_TOOL_TEXT);
    assert!(big_text.starts_with(content));

    sandbox
        .write_file("big.bin", vec![0u8; 100_000])
        .await
        .unwrap();
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "big.bin"}))
        .await;
    assert_eq!(answer["kind"], "too_large", "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("run_code"),
        "{answer}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn hostile_paths_and_links_are_refused_as_answers() {
    let sandbox = runtime_sandbox(config()).await;
    for path in ["../../etc/passwd", "/etc/passwd", "../x"] {
        let answer = sandbox
            .execute_tool_call("read_file", json!({"path": path}))
            .await;
        assert_eq!(answer["kind"], "invalid_path", "{path}: {answer}");
        let answer = sandbox
            .execute_tool_call("write_file", json!({"path": path, "content": "x"}))
            .await;
        assert_eq!(answer["kind"], "invalid_path", "{path}: {answer}");
    }
    // A link the guest made is never followed by the host (not even one pointing inside).
    let answer = sandbox
        .execute_tool_call(
            "run_code",
            json!({"language": "python",
                   "code": "import os\nopen('secret.txt', 'w').write('s3cret')\nos.symlink('secret.txt', 'link')\nprint('made')"}),
        )
        .await;
    assert_eq!(answer["stdout"], "made\n", "{answer}");
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "link"}))
        .await;
    assert_eq!(answer["kind"], "unusable_file", "{answer}");
    assert!(!answer.to_string().contains("s3cret"), "{answer}");
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "missing.txt"}))
        .await;
    assert_eq!(answer["kind"], "file_not_found", "{answer}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn bad_calls_are_clear_errors() {
    let sandbox = runtime_sandbox(config()).await;
    let cases: [(&str, soulbox::ToolArguments, &str, &str); 7] = [
        (
            "run_code",
            "{not json".into(),
            "invalid_arguments",
            "not valid JSON",
        ),
        (
            "run_code",
            "[1]".into(),
            "invalid_arguments",
            "must be a JSON object",
        ),
        (
            "run_code",
            json!({"language": "python"}).into(),
            "invalid_arguments",
            "missing field `code`",
        ),
        (
            "run_code",
            json!({"language": "python", "code": "1", "timeout": 5}).into(),
            "invalid_arguments",
            "unknown field `timeout`",
        ),
        (
            "run_code",
            json!({"language": "shell", "code": "ls"}).into(),
            "invalid_arguments",
            "not one run_code offers",
        ),
        (
            "launch_missiles",
            "{}".into(),
            "unknown_tool",
            "run_code, write_file",
        ),
        (
            "write_file",
            json!({"path": "x", "content": "%%%", "encoding": "base64"}).into(),
            "invalid_arguments",
            "not valid base64",
        ),
    ];
    for (name, arguments, kind, words) in cases {
        let answer = sandbox.execute_tool_call(name, arguments.clone()).await;
        assert_eq!(answer["kind"], kind, "{name} {arguments:?}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(words), "{name} {arguments:?}: {error}");
    }
    sandbox.terminate().await;
}

#[tokio::test]
async fn arguments_larger_than_max_host_call_bytes_are_refused() {
    let sandbox = runtime_sandbox(config()).await;
    let code = format!("print({})", "1+".repeat(600_000) + "1");
    let answer = sandbox
        .execute_tool_call("run_code", json!({"language": "python", "code": code}))
        .await;
    assert_eq!(answer["kind"], "payload", "{}", &answer.to_string()[..200]);
    let text = format!(
        r#"{{"path": "x", "content": "{}"}}"#,
        "a".repeat(11 * 1024 * 1024)
    );
    let answer = sandbox.execute_tool_call("write_file", text).await;
    assert_eq!(answer["kind"], "payload");
    assert!(sandbox.read_file("x").await.is_err(), "nothing was written");
    sandbox.terminate().await;

    // A write the arguments cap lets through still meets the disk budget of one execution.
    let mut small_disk = config();
    small_disk.max_disk_bytes = 1000;
    let sandbox = runtime_sandbox(small_disk).await;
    let answer = sandbox
        .execute_tool_call(
            "write_file",
            json!({"path": "y", "content": "a".repeat(1001)}),
        )
        .await;
    assert_eq!(answer["kind"], "disk_limit", "{answer}");
    assert!(sandbox.read_file("y").await.is_err(), "nothing was written");
    let answer = sandbox
        .execute_tool_call(
            "write_file",
            json!({"path": "y", "content": "a".repeat(1000)}),
        )
        .await;
    assert_eq!(answer["bytes"], 1000, "{answer}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn registered_tools_run_through_the_host_channel_checks() {
    let sandbox = runtime_sandbox(config()).await;
    sandbox
        .register_tool(weather(), |args: Value| async move {
            match args["city"].as_str() {
                Some("Atlantis") => Err("no weather station in Atlantis".to_owned()),
                city => Ok(json!({"city": city, "temp_c": 21})),
            }
        })
        .unwrap();
    let answer = sandbox
        .execute_tool_call("weather", r#"{"city": "Paris"}"#)
        .await;
    assert_eq!(answer, json!({"city": "Paris", "temp_c": 21}));
    let answer = sandbox
        .execute_tool_call("weather", json!({"city": "Atlantis"}))
        .await;
    assert_eq!(
        answer,
        json!({"error": "no weather station in Atlantis", "kind": "handler"})
    );
    let answer = sandbox
        .execute_tool_call("weather", json!({"city": 7}))
        .await;
    assert_eq!(answer["kind"], "invalid_arguments", "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("/city"),
        "{answer}"
    );
    let answer = sandbox.execute_tool_call("weather", "").await;
    assert_eq!(answer["kind"], "invalid_arguments", "{answer}");

    // The handler timeout applies to a model's call as to a guest's.
    let mut quick = config();
    quick.tool_timeout = Duration::from_millis(200);
    let sandbox = runtime_sandbox(quick).await;
    sandbox
        .register_tool(
            ToolFunction::new("slow", "never answers in time", json!({"type": "object"})),
            |_args: Value| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Value::Null)
            },
        )
        .unwrap();
    let answer = sandbox.execute_tool_call("slow", "{}").await;
    assert_eq!(answer["kind"], "timeout", "{answer}");
    sandbox.terminate().await;
    // A terminated sandbox answers every tool with its state.
    let answer = sandbox
        .execute_tool_call("run_code", json!({"language": "python", "code": "1"}))
        .await;
    assert_eq!(answer["kind"], "invalid_state", "{answer}");
    let answer = sandbox
        .execute_tool_call("read_file", json!({"path": "x"}))
        .await;
    assert_eq!(answer["kind"], "invalid_state", "{answer}");
    let answer = sandbox.execute_tool_call("slow", "{}").await;
    assert_eq!(answer["kind"], "invalid_state", "{answer}");
}
