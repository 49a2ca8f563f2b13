//! One execution's door to the host: tool calls and HTTP requests, capped and recorded.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use serde_json::Value;
use soulbox_api::{NetworkRequest, SandboxConfig, ToolCall};

use crate::net::{FetchBudget, HttpRequest, HttpResponse, Network};
use crate::protocol::{self, Request};
use crate::tools::{ToolError, ToolErrorKind, ToolFunction, Tools};

/// Arguments text kept in a [`ToolCall`] record.
const RECORDED_ARGUMENTS: usize = 4096;
/// Most records kept per execution (calls beyond the cap are refused, but still counted
/// here until this many).
const MAX_RECORDS: usize = 10_000;

/// The channel's caps, from the sandbox's configuration.
#[derive(Debug, Clone, Copy)]
pub struct ChannelLimits {
    /// Tool calls plus HTTP requests per execution.
    pub max_calls: u32,
    /// Largest request or reply, in bytes.
    pub max_payload: usize,
    /// Longest a handler (or an HTTP request) may take.
    pub handler_timeout: Duration,
    /// Response bytes over HTTP per execution.
    pub max_network_bytes: u64,
}

impl ChannelLimits {
    /// The caps `config` sets.
    pub fn from_config(config: &SandboxConfig) -> Self {
        Self {
            max_calls: config.max_tool_calls,
            max_payload: usize::try_from(config.max_host_call_bytes).unwrap_or(usize::MAX),
            handler_timeout: config.tool_timeout,
            max_network_bytes: config.max_network_bytes,
        }
    }
}

impl Default for ChannelLimits {
    fn default() -> Self {
        Self::from_config(&SandboxConfig::default())
    }
}

#[derive(Debug, Default)]
struct Ledger {
    calls: u32,
    network_bytes: u64,
    tool_calls: Vec<ToolCall>,
    network: Vec<NetworkRequest>,
}

/// One execution's host channel. Made fresh for each execution (or session cell) from the
/// sandbox's tools and network, so one run's calls are never counted or recorded in another's.
#[derive(Debug)]
pub struct HostChannel {
    tools: Arc<Tools>,
    network: Arc<Network>,
    limits: ChannelLimits,
    ledger: Mutex<Ledger>,
}

impl HostChannel {
    /// A channel to `tools` and `network` under `limits`.
    pub fn new(tools: Arc<Tools>, network: Arc<Network>, limits: ChannelLimits) -> Self {
        Self {
            tools,
            network,
            limits,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// The caps.
    pub fn limits(&self) -> ChannelLimits {
        self.limits
    }

    /// The tools' descriptions.
    pub fn list(&self) -> Vec<ToolFunction> {
        self.tools.list()
    }

    /// The reply to a frame whose length alone breaks the cap (check it before copying the
    /// frame out of guest memory), or `None` when a frame of `len` bytes may be read.
    pub fn refuse_length(&self, len: usize) -> Option<Vec<u8>> {
        // A frame carries its payload plus a little JSON around it.
        let cap = self.limits.max_payload.saturating_add(4096);
        (len > cap).then(|| {
            protocol::error(&ToolError::new(
                ToolErrorKind::Payload,
                format!(
                    "the request is {len} bytes; the host channel takes at most {} (max_host_call_bytes)",
                    self.limits.max_payload
                ),
            ))
        })
    }

    /// Answers one protocol frame (see [`protocol`]). Never fails: every error is a reply.
    pub async fn answer(&self, frame: &[u8]) -> Vec<u8> {
        if let Some(reply) = self.refuse_length(frame.len()) {
            return reply;
        }
        let reply = match protocol::parse(frame) {
            Err(e) => Err(e),
            Ok(Request::List) => serde_json::to_value(self.list())
                .map_err(|e| ToolError::new(ToolErrorKind::Protocol, e.to_string())),
            Ok(Request::Call { name, arguments }) => self.call_tool(&name, arguments).await,
            Ok(Request::Http(request)) => self.http(request).await.and_then(|r| {
                serde_json::to_value(r)
                    .map_err(|e| ToolError::new(ToolErrorKind::Protocol, e.to_string()))
            }),
        };
        match reply {
            Ok(value) => {
                let bytes = protocol::ok(&value);
                if bytes.len() > self.limits.max_payload.saturating_add(4096) {
                    protocol::error(&ToolError::new(
                        ToolErrorKind::Payload,
                        format!(
                            "the reply is {} bytes; the host channel takes at most {} (max_host_call_bytes)",
                            bytes.len(),
                            self.limits.max_payload
                        ),
                    ))
                } else {
                    bytes
                }
            }
            Err(e) => protocol::error(&e),
        }
    }

    /// Counts one call against `max_calls`.
    fn admit(&self) -> Result<(), ToolError> {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        if ledger.calls >= self.limits.max_calls {
            return Err(ToolError::new(
                ToolErrorKind::Limit,
                format!(
                    "this execution has made its {} host calls (max_tool_calls)",
                    self.limits.max_calls
                ),
            ));
        }
        ledger.calls += 1;
        Ok(())
    }

    /// Calls the tool `name`: checks the cap, the arguments' size and schema, then runs the
    /// handler under the timeout. Recorded either way.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        let started = Instant::now();
        let arguments = if arguments.is_null() {
            Value::Object(Default::default())
        } else {
            arguments
        };
        let text = serde_json::to_string(&arguments).unwrap_or_default();
        let result = self.run_tool(name, arguments, text.len()).await;
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        if ledger.tool_calls.len() < MAX_RECORDS {
            ledger.tool_calls.push(ToolCall {
                name: name.chars().take(128).collect(),
                arguments: cut(text, RECORDED_ARGUMENTS),
                duration: started.elapsed(),
                ok: result.is_ok(),
                error: result.as_ref().err().map(ToString::to_string),
            });
        }
        result
    }

    async fn run_tool(
        &self,
        name: &str,
        arguments: Value,
        size: usize,
    ) -> Result<Value, ToolError> {
        self.admit()?;
        if size > self.limits.max_payload {
            return Err(ToolError::new(
                ToolErrorKind::Payload,
                format!(
                    "the arguments are {size} bytes; at most {} are accepted (max_host_call_bytes)",
                    self.limits.max_payload
                ),
            ));
        }
        let tool = self.tools.get(name).ok_or_else(|| {
            let known: Vec<String> = self.tools.list().into_iter().map(|t| t.name).collect();
            ToolError::new(
                ToolErrorKind::UnknownTool,
                format!(
                    "no tool named {name:?}; this sandbox has: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        tool.check(&arguments)?;
        let call = AssertUnwindSafe(tool.handler().call(arguments)).catch_unwind();
        match tokio::time::timeout(self.limits.handler_timeout, call).await {
            Err(_) => Err(ToolError::new(
                ToolErrorKind::Timeout,
                format!(
                    "`{name}` did not answer within {:?} (tool_timeout)",
                    self.limits.handler_timeout
                ),
            )),
            Ok(Err(_panic)) => Err(ToolError::new(
                ToolErrorKind::Handler,
                format!("`{name}` failed: its handler panicked"),
            )),
            Ok(Ok(Err(message))) => Err(ToolError::new(ToolErrorKind::Handler, message)),
            Ok(Ok(Ok(value))) => {
                let size = serde_json::to_vec(&value).map_or(0, |v| v.len());
                if size > self.limits.max_payload {
                    Err(ToolError::new(
                        ToolErrorKind::Payload,
                        format!(
                            "`{name}` returned {size} bytes; at most {} cross to the guest (max_host_call_bytes)",
                            self.limits.max_payload
                        ),
                    ))
                } else {
                    Ok(value)
                }
            }
        }
    }

    /// Makes an HTTP request through the allow-list (counted against `max_calls`; its
    /// response against `max_network_bytes` and `max_host_call_bytes`).
    pub async fn http(&self, request: HttpRequest) -> Result<HttpResponse, ToolError> {
        if let Err(e) = self.admit() {
            self.record_network(vec![NetworkRequest {
                method: request.method.clone(),
                url: request.url.chars().take(2048).collect(),
                allowed: false,
                status: None,
                bytes: 0,
                error: Some(e.to_string()),
            }]);
            return Err(e);
        }
        let left = {
            let ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
            self.limits
                .max_network_bytes
                .saturating_sub(ledger.network_bytes)
        };
        let refused = if left == 0 {
            Some(ToolError::new(
                ToolErrorKind::Limit,
                format!(
                    "this execution has received its {} bytes over the network (max_network_bytes)",
                    self.limits.max_network_bytes
                ),
            ))
        } else {
            let body = request.body.as_ref().map_or(0, Vec::len);
            (body > self.limits.max_payload).then(|| {
                ToolError::new(
                    ToolErrorKind::Payload,
                    format!(
                        "the request body is {body} bytes; at most {} are sent (max_host_call_bytes)",
                        self.limits.max_payload
                    ),
                )
            })
        };
        if let Some(e) = refused {
            self.record_network(vec![NetworkRequest {
                method: request.method.clone(),
                url: request.url.chars().take(2048).collect(),
                allowed: false,
                status: None,
                bytes: 0,
                error: Some(e.to_string()),
            }]);
            return Err(e);
        }
        // The body travels base64 in the reply frame (4 bytes per 3), beside the status and
        // headers (an eighth of the frame, at most 64 KiB, is kept for them).
        let payload = self.limits.max_payload;
        let reply_room = (payload / 4 * 3).saturating_sub((payload / 8).min(64 * 1024));
        let budget = FetchBudget {
            max_bytes: left.min(u64::try_from(reply_room).unwrap_or(u64::MAX)),
            timeout: self.limits.handler_timeout,
        };
        let (result, records) = self.network.fetch(request, budget).await;
        self.record_network(records);
        if let Ok(response) = &result {
            let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
            ledger.network_bytes = ledger
                .network_bytes
                .saturating_add(response.body.as_ref().map_or(0, |b| b.len() as u64));
        }
        result
    }

    fn record_network(&self, records: Vec<NetworkRequest>) {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            if ledger.network.len() < MAX_RECORDS {
                ledger.network.push(record);
            }
        }
    }

    /// Takes the records of this execution's tool calls and HTTP requests.
    pub fn take_records(&self) -> (Vec<ToolCall>, Vec<NetworkRequest>) {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        (
            std::mem::take(&mut ledger.tool_calls),
            std::mem::take(&mut ledger.network),
        )
    }
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn channel(limits: ChannelLimits) -> HostChannel {
        let mut tools = Tools::default();
        tools
            .register(
                ToolFunction::new(
                    "add",
                    "adds",
                    json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                           "required": ["a", "b"]}),
                ),
                |args: Value| async move {
                    Ok(json!(args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0)))
                },
            )
            .unwrap();
        tools
            .register(
                ToolFunction::new("fail", "", json!({"type": "object"})),
                |_: Value| async move { Err::<Value, _>("no such city".to_owned()) },
            )
            .unwrap();
        tools
            .register(
                ToolFunction::new("slow", "", json!({"type": "object"})),
                |_: Value| async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Value::Null)
                },
            )
            .unwrap();
        tools
            .register(
                ToolFunction::new("boom", "", json!({"type": "object"})),
                |_: Value| async move {
                    if true {
                        panic!("handler bug");
                    }
                    Ok(Value::Null)
                },
            )
            .unwrap();
        HostChannel::new(Arc::new(tools), Arc::new(Network::default()), limits)
    }

    fn reply(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[tokio::test]
    async fn frames_get_values_and_typed_errors() {
        let c = channel(ChannelLimits::default());
        let r = reply(
            &c.answer(br#"{"op":"call","name":"add","arguments":{"a":2,"b":3}}"#)
                .await,
        );
        assert_eq!(r, json!({"ok": true, "value": 5.0}));
        let r = reply(&c.answer(br#"{"op":"call","name":"fail"}"#).await);
        assert_eq!(
            r,
            json!({"ok": false, "kind": "handler", "error": "no such city"})
        );
        let r = reply(
            &c.answer(br#"{"op":"call","name":"add","arguments":{"a":"x"}}"#)
                .await,
        );
        assert_eq!(r["kind"], "invalid_arguments");
        let r = reply(&c.answer(br#"{"op":"call","name":"nope"}"#).await);
        assert_eq!(r["kind"], "unknown_tool");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("add, boom, fail, slow")
        );
        let r = reply(&c.answer(b"not json").await);
        assert_eq!(r["kind"], "protocol");
        let r = reply(&c.answer(br#"{"op":"call","name":"boom"}"#).await);
        assert_eq!(r["kind"], "handler");
        let r = reply(&c.answer(br#"{"op":"list"}"#).await);
        assert_eq!(r["value"].as_array().unwrap().len(), 4);
        let r = reply(
            &c.answer(br#"{"op":"http","url":"http://example.com/"}"#)
                .await,
        );
        assert_eq!(r["kind"], "denied");
        let (calls, network) = c.take_records();
        assert_eq!(calls.len(), 5);
        assert!(calls[0].ok && !calls[1].ok);
        assert_eq!(calls[1].error.as_deref(), Some("handler: no such city"));
        assert_eq!(network.len(), 1);
        assert!(!network[0].allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_handler_times_out() {
        let c = channel(ChannelLimits {
            handler_timeout: Duration::from_secs(2),
            ..ChannelLimits::default()
        });
        let e = c.call_tool("slow", json!({})).await.unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Timeout);
    }

    #[tokio::test]
    async fn calls_beyond_the_cap_and_oversized_payloads_are_refused() {
        let c = channel(ChannelLimits {
            max_calls: 3,
            max_payload: 2048,
            ..ChannelLimits::default()
        });
        for _ in 0..3 {
            c.call_tool("add", json!({"a": 1, "b": 1})).await.unwrap();
        }
        let e = c
            .call_tool("add", json!({"a": 1, "b": 1}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Limit);
        let c = channel(ChannelLimits {
            max_payload: 2048,
            ..ChannelLimits::default()
        });
        let big = "x".repeat(3000);
        let e = c.call_tool("add", json!({"a": big})).await.unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Payload);
        assert!(c.refuse_length(10 << 20).is_some());
        assert!(c.refuse_length(100).is_none());
    }
}
