//! A complete agent loop: an LLM behind any OpenAI-compatible chat-completions endpoint gets
//! SoulBox as its tool set (`run_code`, `write_file`, `read_file`, `list_files`, plus a
//! registered host tool), and every tool call it makes runs in the sandbox.
//!
//! ```text
//! OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-... \
//!   cargo run -p soulbox --example ai_integration -- --model gpt-4o-mini "What is 6 * 7? Use Python."
//! ```
//!
//! `OPENAI_BASE_URL` defaults to `https://api.openai.com/v1` (any compatible server works:
//! vLLM, llama.cpp, Ollama's `/v1`, ...); `OPENAI_API_KEY` may be empty for local servers.
//! Options: `--model NAME` (default `$OPENAI_MODEL` or `gpt-4o-mini`), `--max-turns N`
//! (default 10). The task is the remaining argument.
//!
//! The loop: send the messages and `sandbox.tools()`; for every tool call in the reply, run
//! `sandbox.execute_tool_call(name, arguments)` and append its JSON as a `tool` message; stop
//! when the model answers without tool calls (or after `--max-turns` requests). The test at
//! the bottom drives it offline against a local server replaying recorded responses
//! (`examples/fixtures/ai_integration/`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use soulbox::{Sandbox, SandboxConfig, ToolFunction};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// The task when none is given.
const DEFAULT_TASK: &str = "Compute the first 15 Fibonacci numbers with Python, save them one per \
line to fib.txt, read the file back, and tell me their sum. Also ask the `now` tool what time it is.";
/// What the model is told it is.
const SYSTEM_PROMPT: &str = "You are a careful assistant with a SoulBox sandbox. Use run_code to \
compute things instead of guessing, and the file tools to exchange files with your code.";
/// Longest wait for one chat-completions response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Largest chat-completions response accepted.
const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// How much of each tool answer the transcript prints.
const SHOWN: usize = 240;

/// Where and how to reach the model.
#[derive(Debug, Clone)]
pub struct ChatEndpoint {
    /// Base URL, e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// Bearer token; empty for servers without authentication.
    pub api_key: String,
    /// Model name.
    pub model: String,
}

/// How the loop ended.
#[derive(Debug)]
pub struct Outcome {
    /// The model's last answer (without tool calls).
    pub answer: String,
    /// Every message of the conversation, system prompt first.
    pub messages: Vec<Value>,
    /// How many tool calls were executed.
    pub tool_calls: usize,
}

/// Runs the agent loop on `task` with `sandbox` as the model's tool set. `say` receives each
/// line of the compact transcript.
pub async fn run_agent(
    sandbox: &Sandbox,
    endpoint: &ChatEndpoint,
    task: &str,
    max_turns: usize,
    mut say: impl FnMut(String),
) -> Result<Outcome, String> {
    let tools = sandbox.tools();
    let mut messages = vec![
        json!({"role": "system", "content": SYSTEM_PROMPT}),
        json!({"role": "user", "content": task}),
    ];
    say(format!("user: {task}"));
    let mut executed = 0;
    for _ in 0..max_turns {
        let body = json!({"model": endpoint.model, "messages": messages, "tools": tools});
        let response = chat_completion(endpoint, &body).await?;
        let message = response["choices"][0]["message"].clone();
        if !message.is_object() {
            return Err(format!(
                "the endpoint's response has no choices[0].message: {}",
                short(&response.to_string(), 400)
            ));
        }
        messages.push(message.clone());
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if calls.is_empty() {
            let answer = message["content"].as_str().unwrap_or_default().to_owned();
            say(format!("assistant: {answer}"));
            return Ok(Outcome {
                answer,
                messages,
                tool_calls: executed,
            });
        }
        if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
            say(format!("assistant: {text}"));
        }
        for call in calls {
            let id = call["id"].as_str().unwrap_or_default().to_owned();
            let name = call["function"]["name"].as_str().unwrap_or_default();
            // Chat APIs send the arguments as JSON text; execute_tool_call parses (and checks) it.
            let arguments = match &call["function"]["arguments"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            say(format!("  -> {name}({})", short(&arguments, SHOWN)));
            let answer = sandbox.execute_tool_call(name, arguments).await;
            let content = answer.to_string();
            say(format!("  <- {}", short(&content, SHOWN)));
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            executed += 1;
        }
    }
    Err(format!(
        "the model was still calling tools after {max_turns} turns (raise --max-turns)"
    ))
}

/// POSTs `body` to `{base_url}/chat/completions` and returns the parsed response.
async fn chat_completion(endpoint: &ChatEndpoint, body: &Value) -> Result<Value, String> {
    let url = format!(
        "{}/chat/completions",
        endpoint.base_url.trim_end_matches('/')
    );
    let work = post_json(&url, &endpoint.api_key, body);
    let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| format!("{url} did not answer within {REQUEST_TIMEOUT:?}"))??;
    let text = String::from_utf8_lossy(&bytes);
    if !(200..300).contains(&status) {
        return Err(format!(
            "{url} answered HTTP {status}: {}",
            short(&text, 400)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{url} answered something that is not JSON ({e}): {}",
            short(&text, 200)
        )
    })
}

/// One HTTP/1.1 POST over TCP, or TLS (rustls with the Mozilla roots) for `https` URLs.
async fn post_json(url: &str, api_key: &str, body: &Value) -> Result<(u16, Bytes), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "{url}: only http:// and https:// URLs are supported"
            ));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("{url}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json");
    if !api_key.is_empty() {
        request = request.header(AUTHORIZATION, format!("Bearer {api_key}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("building the request: {e}"))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    if https {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host}: not a TLS server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}: {e}"))?;
        send(tls, request).await
    } else {
        send(tcp, request).await
    }
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the response (at most {MAX_RESPONSE_BYTES} bytes): {e}"))?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}

/// `text` on one line, at most `max` characters.
fn short(text: &str, max: usize) -> String {
    let line = text.replace('\n', "\\n");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}...", line.chars().take(max).collect::<String>())
    }
}

/// A host tool the model can call besides SoulBox's own: the host's clock.
fn register_clock(sandbox: &Sandbox) -> soulbox::Result<()> {
    sandbox.register_tool(
        ToolFunction::new(
            "now",
            "The current date and time on the host, as seconds since the Unix epoch (UTC).",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
        ),
        |_args: Value| async move {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?;
            Ok(json!({"unix_seconds": since.as_secs()}))
        },
    )
}

struct Options {
    model: String,
    max_turns: usize,
    task: String,
}

fn options() -> Result<Options, String> {
    let mut model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let mut max_turns = 10;
    let mut task = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next().ok_or("--model needs a name")?,
            "--max-turns" => {
                max_turns = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--max-turns needs a positive number")?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: ai_integration [--model NAME] [--max-turns N] [TASK]\n\
                     env: OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_API_KEY"
                        .to_owned(),
                );
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            _ => task.push(arg),
        }
    }
    let task = if task.is_empty() {
        DEFAULT_TASK.to_owned()
    } else {
        task.join(" ")
    };
    Ok(Options {
        model,
        max_turns,
        task,
    })
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let endpoint = ChatEndpoint {
        base_url: std::env::var("OPENAI_BASE_URL")
            .unwrap_or_else(|_| "https://api.openai.com/v1".to_owned()),
        api_key: std::env::var("OPENAI_API_KEY").unwrap_or_default(),
        model: options.model,
    };
    let run = async {
        let sandbox = Sandbox::create(SandboxConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        register_clock(&sandbox).map_err(|e| e.to_string())?;
        let outcome = run_agent(
            &sandbox,
            &endpoint,
            &options.task,
            options.max_turns,
            |line| println!("{line}"),
        )
        .await;
        sandbox.terminate().await;
        outcome
    };
    match run.await {
        Ok(outcome) => println!(
            "({} tool calls, {} messages)",
            outcome.tool_calls,
            outcome.messages.len()
        ),
        Err(message) => {
            eprintln!("ai_integration: {message}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Offline: a loopback server replays recorded chat-completions responses and keeps the
    //! requests, so the test sees what the loop sent back to the "model".
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::convert::Infallible;
    use std::sync::Mutex;

    use hyper::body::Incoming;
    use hyper::{Response, StatusCode};

    use super::*;

    /// The recorded responses, in order.
    const FIXTURES: [&str; 3] = [
        include_str!("fixtures/ai_integration/1-run-code.json"),
        include_str!("fixtures/ai_integration/2-files-and-tools.json"),
        include_str!("fixtures/ai_integration/3-answer.json"),
    ];

    /// Each request the fixture server saw: its Authorization header and JSON body.
    type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

    struct Fixture {
        base_url: String,
        requests: Seen,
        server: tokio::task::JoinHandle<()>,
    }

    /// Serves `replies` (status, body) in order on 127.0.0.1, keeping each request's
    /// Authorization header and JSON body.
    async fn fixture(replies: Vec<(u16, String)>) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests: Seen = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(replies.into_iter()));
        let seen = requests.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                let replies = replies.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    let replies = replies.clone();
                    async move {
                        assert_eq!(request.uri().path(), "/v1/chat/completions");
                        let auth = request
                            .headers()
                            .get(AUTHORIZATION)
                            .map(|v| v.to_str().unwrap().to_owned());
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        seen.lock()
                            .unwrap()
                            .push((auth, serde_json::from_slice(&body).unwrap()));
                        let (status, text) = replies
                            .lock()
                            .unwrap()
                            .next()
                            .unwrap_or((500, "{\"error\": \"no more fixtures\"}".to_owned()));
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(StatusCode::from_u16(status).unwrap())
                                .header(CONTENT_TYPE, "application/json")
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Fixture {
            base_url,
            requests,
            server,
        }
    }

    fn endpoint(base_url: &str) -> ChatEndpoint {
        ChatEndpoint {
            base_url: base_url.to_owned(),
            api_key: "test-key".to_owned(),
            model: "fixture-model".to_owned(),
        }
    }

    fn tool_message<'a>(request: &'a Value, id: &str) -> &'a str {
        request["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "tool" && m["tool_call_id"] == id)
            .unwrap_or_else(|| panic!("no tool message for {id} in {request}"))["content"]
            .as_str()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ai_integration_agent_loop_runs_the_models_tool_calls() {
        let server = fixture(FIXTURES.iter().map(|f| (200, (*f).to_owned())).collect()).await;
        let sandbox =
            Sandbox::create(SandboxConfig::default().with_timeout(Duration::from_secs(60)))
                .await
                .unwrap();
        register_clock(&sandbox).unwrap();
        let mut transcript = Vec::new();
        let outcome = run_agent(
            &sandbox,
            &endpoint(&server.base_url),
            "What is 6 * 7?",
            5,
            |line| transcript.push(line),
        )
        .await
        .unwrap();
        server.server.abort();
        assert_eq!(outcome.answer, "6 * 7 = 42, and notes.txt says so.");
        assert_eq!(outcome.tool_calls, 6, "{transcript:#?}");

        let requests = server.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3);
        for (auth, body) in &requests {
            assert_eq!(auth.as_deref(), Some("Bearer test-key"));
            assert_eq!(body["model"], "fixture-model");
            let names: Vec<&str> = body["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                ["run_code", "write_file", "read_file", "list_files", "now"]
            );
        }
        // Turn 1: Python really ran and its output went back to the model.
        let run: Value = serde_json::from_str(tool_message(&requests[1].1, "call_run")).unwrap();
        assert_eq!(run["status"], "ok", "{run}");
        assert_eq!(run["stdout"], "42\n");
        assert_eq!(run["exit_code"], 0);
        let written: Value =
            serde_json::from_str(tool_message(&requests[1].1, "call_write")).unwrap();
        assert_eq!(written, json!({"path": "notes.txt", "bytes": 15}));
        // Turn 2: the file tools, the registered tool, and two failures the model can read.
        let read: Value = serde_json::from_str(tool_message(&requests[2].1, "call_read")).unwrap();
        assert_eq!(read["content"], "six times seven");
        let listed: Value =
            serde_json::from_str(tool_message(&requests[2].1, "call_list")).unwrap();
        assert!(
            listed["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == "notes.txt"),
            "{listed}"
        );
        let now: Value = serde_json::from_str(tool_message(&requests[2].1, "call_now")).unwrap();
        assert!(
            now["unix_seconds"].as_u64().unwrap() > 1_700_000_000,
            "{now}"
        );
        let unknown: Value =
            serde_json::from_str(tool_message(&requests[2].1, "call_unknown")).unwrap();
        assert_eq!(unknown["kind"], "unknown_tool", "{unknown}");
        assert!(
            unknown["error"].as_str().unwrap().contains("run_code"),
            "{unknown}"
        );
        assert!(transcript.iter().any(|l| l.starts_with("  -> run_code(")));
        assert_eq!(
            sandbox.read_file("notes.txt").await.unwrap(),
            b"six times seven"
        );
        sandbox.terminate().await;
    }

    #[tokio::test]
    async fn ai_integration_endpoint_errors_are_reported() {
        let server = fixture(vec![(401, "{\"error\": \"bad key\"}".to_owned())]).await;
        let sandbox = Sandbox::create(SandboxConfig::default()).await.unwrap();
        let e = run_agent(&sandbox, &endpoint(&server.base_url), "hi", 3, drop)
            .await
            .unwrap_err();
        assert!(e.contains("HTTP 401") && e.contains("bad key"), "{e}");

        // A model that never stops calling tools is cut off at max_turns.
        let looping = FIXTURES[0].to_owned();
        let server = fixture(vec![(200, looping.clone()), (200, looping)]).await;
        let e = run_agent(&sandbox, &endpoint(&server.base_url), "hi", 2, drop)
            .await
            .unwrap_err();
        assert!(e.contains("after 2 turns"), "{e}");

        // Nothing listening: a clear connection error, not a hang.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", closed.local_addr().unwrap());
        drop(closed);
        let e = run_agent(&sandbox, &endpoint(&url), "hi", 1, drop)
            .await
            .unwrap_err();
        assert!(e.contains("connecting to 127.0.0.1"), "{e}");
        sandbox.terminate().await;
    }
}
