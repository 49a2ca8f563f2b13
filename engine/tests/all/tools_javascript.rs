//! JavaScript guests and the host channel (`quickjs-session`'s `soulbox.call` import): tool
//! calls (`soulbox.callTool`, `soulbox.tools.<name>`, `soulbox.listTools`, `require('soulbox')`,
//! `import ... from 'soulbox'`) with their typed errors and caps, in runs and session cells,
//! and `fetch` through the host's allow-list.

use std::time::Duration;

use serde_json::{Value, json};
use soulbox::{ExecutionResult, Language, MIB, Sandbox, SandboxConfig, Status, ToolFunction};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(60))
}

/// A sandbox with the tools the tests call: `weather` (a city string, required), `fail` (its
/// handler always errs) and `take` (any object; answers how many bytes of arguments it saw).
async fn sandbox_with_tools(config: SandboxConfig) -> Sandbox {
    let sandbox = runtime_sandbox(config).await;
    sandbox
        .register_tool(
            ToolFunction::new(
                "weather",
                "Current weather in a city",
                json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            ),
            |args: Value| async move { Ok(json!({"city": args["city"], "temp_c": 21})) },
        )
        .unwrap();
    sandbox
        .register_tool(
            ToolFunction::new("fail", "Always fails", json!({"type": "object"})),
            |_: Value| async move { Err::<Value, _>("no weather for Atlantis".to_owned()) },
        )
        .unwrap();
    sandbox
        .register_tool(
            ToolFunction::new("take", "Takes anything", json!({"type": "object"})),
            |args: Value| async move { Ok(json!(args.to_string().len())) },
        )
        .unwrap();
    sandbox
}

async fn js(sandbox: &Sandbox, code: &str) -> ExecutionResult {
    sandbox
        .execute_code(Language::JavaScript, code)
        .await
        .expect("execute")
}

#[tokio::test]
async fn javascript_calls_tools_synchronously_and_gets_typed_errors() {
    let sandbox = sandbox_with_tools(config()).await;
    let code = r#"
const r = soulbox.callTool('weather', { city: 'Paris' });
console.log(JSON.stringify(r));
console.log(soulbox.tools.weather({ city: 'Oslo' }).city);
console.log(soulbox.listTools().map((t) => t.name).join(','));
for (const [name, args] of [['fail', {}], ['weather', { city: 42 }], ['weather', {}], ['nope', {}]]) {
  try {
    soulbox.callTool(name, args);
    console.log('no error');
  } catch (e) {
    console.log(e instanceof Error, e instanceof soulbox.ToolError, e.name, e.kind, e.kind === 'handler' ? e.message : '');
  }
}
const m = require('soulbox');
console.log(m === soulbox, m.callTool === soulbox.callTool, typeof require('soulbox').tools.anything);
delete globalThis.soulbox;
console.log(typeof globalThis.soulbox, require('soulbox').callTool('weather', { city: 'Rome' }).temp_c);
"#;
    let r = js(&sandbox, code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "{\"city\":\"Paris\",\"temp_c\":21}\nOslo\nfail,take,weather\n\
         true true ToolError handler no weather for Atlantis\n\
         true true ToolError invalid_arguments \n\
         true true ToolError invalid_arguments \n\
         true true ToolError unknown_tool \n\
         true true function\n\
         undefined 21\n",
        "{r:?}"
    );
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
            ("nope", false),
            ("weather", true),
        ]
    );
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(
        r.tool_calls[2].error.as_deref(),
        Some("handler: no weather for Atlantis")
    );
    assert!(
        r.tool_calls[5]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("unknown_tool:") && e.contains("fail, take, weather")),
        "{:?}",
        r.tool_calls[5]
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn an_uncaught_tool_error_is_reported_like_any_exception() {
    let sandbox = sandbox_with_tools(config()).await;
    let r = js(&sandbox, "soulbox.callTool('fail', {})").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(r.exit_code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("ToolError: no weather for Atlantis")
            && r.stderr.contains("kind: 'handler'"),
        "{r:?}"
    );
    sandbox.terminate().await;
}

#[tokio::test]
async fn es_modules_import_the_soulbox_module() {
    let sandbox = sandbox_with_tools(config()).await;
    let code = "import soulbox, { callTool, tools } from 'soulbox';\n\
                console.log(callTool('weather', { city: 'Rome' }).city, tools.weather({ city: 'Nice' }).city, \
                typeof soulbox.listTools);\n\
                export const done = true;";
    let r = js(&sandbox, code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "Rome Nice function\n");
    assert_eq!(r.tool_calls.len(), 2);
    let r = js(&sandbox, "import x from 'node:soulbox';").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("No such built-in module"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_flood_of_ten_thousand_calls_is_stopped_by_the_cap() {
    let sandbox = sandbox_with_tools(config()).await;
    let code = r#"
const seen = {};
for (let i = 0; i < 10000; i++) {
  try { soulbox.callTool('take', { i }); seen.ok = (seen.ok || 0) + 1; }
  catch (e) { seen[e.kind] = (seen[e.kind] || 0) + 1; }
}
console.log(JSON.stringify(seen));
"#;
    let r = js(&sandbox, code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "{\"ok\":1000,\"limit\":9000}\n", "{r:?}");
    assert_eq!(r.tool_calls.len(), 10_000);
    assert_eq!(r.tool_calls.iter().filter(|c| c.ok).count(), 1000);
    assert!(
        r.tool_calls[1000..]
            .iter()
            .all(|c| !c.ok && c.error.as_deref().is_some_and(|e| e.starts_with("limit:"))),
        "{:?}",
        r.tool_calls[1000]
    );
    // The next execution gets a fresh channel and a fresh count.
    let r = js(&sandbox, "console.log(soulbox.callTool('take', {}))").await;
    assert_eq!((r.status, r.stdout.as_str()), (Status::Ok, "2\n"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_ten_mib_argument_is_refused_without_reaching_the_tool() {
    let sandbox = sandbox_with_tools(config()).await;
    let code = r#"
const big = 'x'.repeat(10 * 1024 * 1024);
try { soulbox.callTool('take', { data: big }); console.log('accepted'); }
catch (e) { console.log(e.kind, /max_host_call_bytes/.test(e.message)); }
console.log(soulbox.callTool('take', { data: 'small' }));
"#;
    let r = js(&sandbox, code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "payload true\n16\n", "{r:?}");
    // Refused from its length alone: never parsed, so never a call of `take`.
    assert_eq!(r.tool_calls.len(), 1, "{:?}", r.tool_calls);
    assert!(r.tool_calls[0].ok);
    sandbox.terminate().await;
}

/// Registers `slow`, whose handler takes ten seconds.
fn register_slow(sandbox: &Sandbox) {
    sandbox
        .register_tool(
            ToolFunction::new("slow", "Takes its time", json!({"type": "object"})),
            |_: Value| async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(json!("late"))
            },
        )
        .unwrap();
}

#[tokio::test]
async fn a_handler_slower_than_tool_timeout_is_a_timeout_error_in_the_guest() {
    let mut config = config();
    config.tool_timeout = Duration::from_millis(300);
    let sandbox = sandbox_with_tools(config).await;
    register_slow(&sandbox);
    let r = js(
        &sandbox,
        "try { soulbox.callTool('slow', {}) } catch (e) { console.log(e.kind, /tool_timeout/.test(e.message)) }
         console.log(soulbox.callTool('weather', { city: 'Lima' }).city)",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "timeout true\nLima\n", "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn time_in_a_handler_counts_against_the_execution_timeout() {
    let sandbox = sandbox_with_tools(config().with_timeout(Duration::from_secs(1))).await;
    register_slow(&sandbox);
    let started = std::time::Instant::now();
    let r = js(
        &sandbox,
        "console.log('before'); soulbox.callTool('slow', {}); console.log('after')",
    )
    .await;
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(!r.stdout.contains("after"), "{r:?}");
    sandbox.terminate().await;
}

#[tokio::test]
async fn session_cells_call_tools_with_their_own_records() {
    let sandbox = sandbox_with_tools(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    let r = session
        .execute("const w = soulbox.tools.weather({ city: 'Paris' })\nw.temp_c")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.value.as_deref()),
        (Status::Ok, Some("21")),
        "{r:?}"
    );
    assert_eq!(r.tool_calls.len(), 1);
    let r = session.execute("soulbox.callTool('fail')").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert!(r.stderr.contains("no weather for Atlantis"), "{r:?}");
    assert_eq!(r.tool_calls.len(), 1);
    assert!(!r.tool_calls[0].ok);
    let r = session
        .execute("import { callTool } from 'soulbox'\nconsole.log(w.city, callTool('take', {}))")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "Paris 2\n"),
        "{r:?}"
    );
    assert_eq!(r.tool_calls.len(), 1);
    sandbox.terminate().await;
}

#[tokio::test]
async fn fetch_without_an_allow_list_is_denied_and_recorded() {
    let sandbox = runtime_sandbox(config()).await;
    let code = "fetch('http://example.com/data').then(() => console.log('fetched'), \
                (e) => console.log(e instanceof TypeError, e.message, e.cause.name, e.cause.kind))";
    let r = js(&sandbox, code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "true fetch failed ToolError denied\n", "{r:?}");
    assert_eq!(r.network.len(), 1, "{:?}", r.network);
    assert_eq!(r.network[0].url, "http://example.com/data");
    assert!(!r.network[0].allowed);
    // Bad input fails in the guest, before the host.
    let r = js(
        &sandbox,
        "fetch('not a url').catch((e) => console.log(e.constructor.name, e.message))\n\
         fetch('http://example.com/', { body: 'x' }).catch((e) => console.log(e.constructor.name, e.message))",
    )
    .await;
    assert_eq!(
        r.stdout,
        "TypeError Failed to parse URL from not a url\n\
         TypeError Request with GET/HEAD method cannot have body.\n",
        "{r:?}"
    );
    assert!(r.network.is_empty());
    sandbox.terminate().await;
}

/// Reads one HTTP/1.1 request: method, path, headers (lower-case names) and body.
async fn read_request(
    stream: &mut tokio::net::TcpStream,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, headers, body))
}

/// A loopback HTTP server: `/hello` (JSON), `/echo` (method, a request header and the body) and
/// `/away` (a redirect to `redirect_to`). Returns its port.
async fn serve(redirect_to: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let redirect_to = redirect_to.clone();
            tokio::spawn(async move {
                let Some((method, path, headers, body)) = read_request(&mut stream).await else {
                    return;
                };
                let (status, extra, body) = match path.as_str() {
                    "/hello" => (
                        "200 OK",
                        "Content-Type: application/json\r\nX-Test: a\r\nX-Test: b\r\n".to_owned(),
                        br#"{"hi":"there"}"#.to_vec(),
                    ),
                    "/echo" => {
                        let header = headers
                            .iter()
                            .find(|(k, _)| k == "x-req")
                            .map_or("-", |(_, v)| v.as_str());
                        let mut out = format!("{method} {header} ").into_bytes();
                        out.extend_from_slice(&body);
                        ("201 Created", String::new(), out)
                    }
                    "/away" => (
                        "302 Found",
                        format!("Location: {redirect_to}\r\n"),
                        Vec::new(),
                    ),
                    _ => ("404 Not Found", String::new(), b"no such page".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// Needs the allow-list (`soulbox_host::net`) to make real requests: on a branch where it still
/// refuses everything this test fails at the first `fetch`.
#[tokio::test]
async fn fetch_reaches_an_allowed_loopback_server_and_not_a_redirect_elsewhere() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_port = elsewhere.local_addr().unwrap().port();
    let port = serve(format!("http://127.0.0.1:{elsewhere_port}/secret")).await;
    let sandbox = runtime_sandbox(config().with_allow_host(format!("127.0.0.1:{port}"))).await;
    let code = format!(
        r#"
const base = 'http://127.0.0.1:{port}';
const r = await fetch(base + '/hello');
console.log(r.status, r.ok, r.statusText, r.url === base + '/hello', r.headers.get('content-type'), r.headers.get('x-test'));
console.log(JSON.stringify(await r.json()));
const p = await fetch(new URL(base + '/echo'), {{ method: 'post', headers: {{ 'X-Req': 'yes' }}, body: new Uint8Array([104, 105]) }});
console.log(p.status, p.ok, await p.text());
const s = await fetch(base + '/echo', {{ method: 'PUT', body: 'text body' }});
console.log(new TextDecoder().decode(await s.arrayBuffer()));
const n = await fetch(base + '/missing');
console.log(n.status, n.ok, await n.text());
try {{ await fetch(base + '/away'); console.log('followed'); }}
catch (e) {{ console.log(e.message, e.cause.kind); }}
try {{ await fetch('http://127.0.0.1:{elsewhere_port}/direct'); console.log('reached'); }}
catch (e) {{ console.log(e.message, e.cause.kind); }}
"#
    );
    let r = js(&sandbox, &code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "200 true OK true application/json a, b\n{\"hi\":\"there\"}\n\
         201 true POST yes hi\nPUT - text body\n404 false no such page\n\
         fetch failed denied\nfetch failed denied\n",
        "{r:?}"
    );
    let hello = &r.network[0];
    assert!(
        hello.allowed && hello.status == Some(200) && hello.bytes == 14,
        "{hello:?}"
    );
    let refused: Vec<&str> = r
        .network
        .iter()
        .filter(|n| !n.allowed)
        .map(|n| n.url.as_str())
        .collect();
    assert_eq!(
        refused,
        [
            format!("http://127.0.0.1:{elsewhere_port}/secret"),
            format!("http://127.0.0.1:{elsewhere_port}/direct"),
        ],
        "{:?}",
        r.network
    );
    // Nothing ever connected to the host that is not on the list.
    let accepted = tokio::time::timeout(Duration::from_millis(200), elsewhere.accept()).await;
    assert!(accepted.is_err(), "the refused host was contacted");
    sandbox.terminate().await;
}
