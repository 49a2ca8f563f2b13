//! Host tools called from guest code: Python (`soulbox.call_tool`, `soulbox.tools.x`) and Ruby
//! (`SoulBox.call_tool`), one-shot and in session cells. Every call is checked against its
//! JSON Schema, capped (`max_tool_calls`, `max_host_call_bytes`, `tool_timeout`) and recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use soulbox::{Language, MIB, Sandbox, SandboxConfig, Status, ToolFunction};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

/// A sandbox with `weather` (city required, string), `fail` (always an error) and `count`
/// (counts its calls in `counter`).
async fn sandbox_with_tools(config: SandboxConfig, counter: Arc<AtomicUsize>) -> Sandbox {
    let sandbox = runtime_sandbox(config).await;
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
                Ok(json!({"city": city, "temp_c": 21, "sky": "clear"}))
            },
        )
        .unwrap();
    sandbox
        .register_tool(
            ToolFunction::new("fail", "Always fails", json!({"type": "object"})),
            |_: Value| async move { Err::<Value, _>("the weather service is down".to_owned()) },
        )
        .unwrap();
    sandbox
        .register_tool(
            ToolFunction::new("count", "Counts", json!({"type": "object"})),
            move |_: Value| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(json!(n)) }
            },
        )
        .unwrap();
    sandbox
}

#[tokio::test]
async fn python_calls_tools_and_sees_their_errors() {
    let sandbox = sandbox_with_tools(config(), Arc::default()).await;
    let code = r#"
import soulbox
print(soulbox.call_tool("weather", city="Paris"))
print(soulbox.tools.weather({"city": "Oslo"})["temp_c"])
for name, kwargs in [("fail", {}), ("weather", {"city": 3}), ("weather", {}), ("nope", {})]:
    try:
        soulbox.call_tool(name, **kwargs)
    except soulbox.ToolError as e:
        print(name, e.kind, e.message[:60])
print(sorted(t["name"] for t in soulbox.list_tools()))
"#;
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "{'city': 'Paris', 'sky': 'clear', 'temp_c': 21}");
    assert_eq!(lines[1], "21");
    assert_eq!(lines[2], "fail handler the weather service is down");
    assert!(
        lines[3].starts_with("weather invalid_arguments arguments of `weather` do not match"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("weather invalid_arguments"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].starts_with("nope unknown_tool no tool named \"nope\""),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "['count', 'fail', 'weather']");
    // Every call is in the result, in order, with its arguments and outcome.
    let calls: Vec<(&str, bool)> = r
        .tool_calls
        .iter()
        .map(|c| (c.name.as_str(), c.ok))
        .collect();
    assert_eq!(
        calls,
        [
            ("weather", true),
            ("weather", true),
            ("fail", false),
            ("weather", false),
            ("weather", false),
            ("nope", false)
        ]
    );
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(
        r.tool_calls[2].error.as_deref(),
        Some("handler: the weather service is down")
    );
    // The next execution starts with a clean record.
    let r = sandbox
        .execute_code(Language::Python, "print(1)")
        .await
        .unwrap();
    assert!(r.tool_calls.is_empty());
    sandbox.terminate().await;
}

#[tokio::test]
async fn an_uncaught_tool_error_is_a_python_exception() {
    let sandbox = sandbox_with_tools(config(), Arc::default()).await;
    let r = sandbox
        .execute_code(Language::Python, "import soulbox\nsoulbox.tools.fail()")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(
        r.stderr
            .contains("soulbox.ToolError: handler: the weather service is down"),
        "{}",
        r.stderr
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_flood_of_calls_is_stopped_by_the_cap() {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut config = config();
    config.max_tool_calls = 100;
    let sandbox = sandbox_with_tools(config, counter.clone()).await;
    let code = r#"
import soulbox
ok = refused = 0
for _ in range(10_000):
    try:
        soulbox.tools.count()
        ok += 1
    except soulbox.ToolError as e:
        assert e.kind == "limit", e.kind
        refused += 1
print(ok, refused)
"#;
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "100 9900\n");
    // The handler ran only for the calls within the cap.
    assert_eq!(counter.load(Ordering::SeqCst), 100);
    assert_eq!(r.tool_calls.len(), 10_000);
    assert!(
        r.tool_calls[100]
            .error
            .as_deref()
            .unwrap()
            .starts_with("limit:")
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_ten_mib_argument_is_refused_before_the_host_reads_it() {
    let counter = Arc::new(AtomicUsize::new(0));
    let sandbox = sandbox_with_tools(config(), counter.clone()).await;
    let code = r#"
import soulbox
try:
    soulbox.call_tool("count", blob="x" * (10 * 1024 * 1024))
except soulbox.ToolError as e:
    print(e.kind, e.message)
print(soulbox.tools.count())
"#;
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("payload the request is 10485")
            && lines[0].contains("max_host_call_bytes"),
        "{}",
        lines[0]
    );
    // Refused by length alone: no handler ran, and no call was recorded for it.
    assert_eq!(lines[1], "1");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_slow_handler_times_out_in_the_guest() {
    let mut config = config();
    config.tool_timeout = Duration::from_millis(300);
    let sandbox = runtime_sandbox(config).await;
    sandbox
        .register_tool(
            ToolFunction::new("slow", "never answers in time", json!({"type": "object"})),
            |_: Value| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Value::Null)
            },
        )
        .unwrap();
    let code = "import soulbox\ntry:\n    soulbox.tools.slow()\nexcept soulbox.ToolError as e:\n    print(e.kind)";
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "timeout\n");
    sandbox.terminate().await;
}

#[tokio::test]
async fn session_cells_call_tools_and_record_them_per_cell() {
    let sandbox = sandbox_with_tools(config(), Arc::default()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    let r = session
        .execute("import soulbox\nw = soulbox.tools.weather(city='Rome')\nw['city']")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value.as_deref(), Some("'Rome'"));
    assert_eq!(r.tool_calls.len(), 1);
    let r = session.execute("w['temp_c'] + 1").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("22"));
    assert!(r.tool_calls.is_empty());
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_sandbox_without_tools_answers_unknown_tool() {
    let sandbox = runtime_sandbox(config()).await;
    let code = "import soulbox\ntry:\n    soulbox.call_tool('x')\nexcept soulbox.ToolError as e:\n    print(e.kind, e.message)";
    let r = sandbox.execute_code(Language::Python, code).await.unwrap();
    assert_eq!(
        r.stdout, "unknown_tool no tool named \"x\"; this sandbox has: none\n",
        "{r:?}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn ruby_calls_tools_and_sees_their_errors() {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut config = config();
    config.max_tool_calls = 50;
    let sandbox = sandbox_with_tools(config, counter.clone()).await;
    let code = r##"
w = SoulBox.call_tool("weather", city: "Paris")
puts w["city"], w["temp_c"]
puts SoulBox.tools.weather({"city" => "Oslo"})["city"]
[["fail", {}], ["weather", {city: 3}], ["nope", {}]].each do |name, args|
  begin
    SoulBox.call_tool(name, **args)
  rescue SoulBox::ToolError => e
    puts "#{name} #{e.kind} #{e.message[0, 40]}"
  end
end
puts SoulBox.list_tools.map { |t| t["name"] }.sort.join(",")
refused = 0
200.times do
  SoulBox.tools.count
rescue SoulBox::ToolError => e
  refused += 1 if e.kind == "limit"
end
puts refused
begin
  SoulBox.call_tool("count", blob: "x" * (10 * 1024 * 1024))
rescue SoulBox::ToolError => e
  puts e.kind
end
"##;
    let r = sandbox.execute_code(Language::Ruby, code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "Paris",
            "21",
            "Oslo",
            "fail handler the weather service is down"
        ]
    );
    assert!(
        lines[4].starts_with("weather invalid_arguments"),
        "{}",
        lines[4]
    );
    assert!(lines[5].starts_with("nope unknown_tool"), "{}", lines[5]);
    assert_eq!(lines[6], "count,fail,weather");
    // 5 calls before the loop: 45 of the 200 fit under the cap of 50.
    assert_eq!(lines[7], "155");
    assert_eq!(counter.load(Ordering::SeqCst), 45);
    assert_eq!(lines[8], "payload");
    let r = sandbox
        .execute_code(Language::Ruby, "SoulBox.tools.fail")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(
        r.stderr
            .contains("handler: the weather service is down (SoulBox::ToolError)"),
        "{}",
        r.stderr
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn ruby_session_cells_call_tools() {
    let sandbox = sandbox_with_tools(config(), Arc::default()).await;
    let session = sandbox.session(Language::Ruby).await.unwrap();
    let r = session
        .execute("w = SoulBox.tools.weather(city: 'Rome')\nw['city']")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.value.as_deref(), Some("\"Rome\""));
    assert_eq!(r.tool_calls.len(), 1);
    sandbox.terminate().await;
}
