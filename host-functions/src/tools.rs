//! Tools: host functions a sandbox offers its guests, described the way OpenAI-style tool
//! calling describes them (name, description, JSON Schema of the parameters).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest tool name (OpenAI's limit).
pub const MAX_TOOL_NAME: usize = 64;
/// Most tools one sandbox may register.
pub const MAX_TOOLS: usize = 256;

/// A tool's public description: what a model and a guest see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolFunction {
    /// `^[A-Za-z_][A-Za-z0-9_-]{0,63}$` (a valid Python/JS/Ruby identifier unless it has `-`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

impl ToolFunction {
    /// A tool description.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// What a handler's future resolves to: the JSON value returned to the guest, or an error
/// message the guest sees as an exception.
pub type ToolResult = Result<Value, String>;

/// A boxed handler future.
pub type ToolFuture = Pin<Box<dyn Future<Output = ToolResult> + Send + 'static>>;

/// The host side of a tool. Any `Fn(Value) -> impl Future<Output = Result<Value, String>>`
/// (`Send + Sync + 'static`) is one.
pub trait ToolHandler: Send + Sync + 'static {
    /// Runs the tool on arguments already checked against its schema.
    fn call(&self, arguments: Value) -> ToolFuture;
}

impl<F, Fut> ToolHandler for F
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ToolResult> + Send + 'static,
{
    fn call(&self, arguments: Value) -> ToolFuture {
        Box::pin(self(arguments))
    }
}

/// Kinds of failure a guest's tool call (or HTTP request) can meet; the guest sees the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolErrorKind {
    /// No tool of that name.
    UnknownTool,
    /// The arguments do not match the tool's schema.
    InvalidArguments,
    /// The handler returned an error.
    Handler,
    /// The handler (or the request) took longer than allowed.
    Timeout,
    /// The execution made more calls than allowed.
    Limit,
    /// A request or reply larger than allowed.
    Payload,
    /// A frame that is not the protocol.
    Protocol,
    /// The allow-list refused the request.
    Denied,
    /// The request was allowed but failed (connection, TLS, bad response).
    Network,
}

impl ToolErrorKind {
    /// The snake_case name guests and records use.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownTool => "unknown_tool",
            Self::InvalidArguments => "invalid_arguments",
            Self::Handler => "handler",
            Self::Timeout => "timeout",
            Self::Limit => "limit",
            Self::Payload => "payload",
            Self::Protocol => "protocol",
            Self::Denied => "denied",
            Self::Network => "network",
        }
    }
}

/// A failed call: its kind and a message meant for the guest (and the model).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct ToolError {
    /// What failed.
    pub kind: ToolErrorKind,
    /// In words.
    pub message: String,
}

impl ToolError {
    /// An error of `kind`.
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// One registered tool.
pub struct Registered {
    /// Its description.
    pub function: ToolFunction,
    validator: jsonschema::Validator,
    handler: Arc<dyn ToolHandler>,
}

impl Registered {
    /// Checks `arguments` against the schema: `Err` lists what is wrong (at most 5 errors).
    pub fn check(&self, arguments: &Value) -> Result<(), ToolError> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(arguments)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!(
                    "arguments of `{}` do not match its schema: {}",
                    self.function.name,
                    errors.join("; ")
                ),
            ))
        }
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<dyn ToolHandler> {
        &self.handler
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

/// The tools of one sandbox, by name. Cheap to snapshot behind an `Arc` for each execution.
#[derive(Debug, Default, Clone)]
pub struct Tools {
    by_name: BTreeMap<String, Arc<Registered>>,
}

impl Tools {
    /// Adds (or replaces) a tool. Refused: a name that is not `^[A-Za-z_][A-Za-z0-9_-]{0,63}$`,
    /// a `parameters` that is not a valid JSON Schema (or not an object schema), more than
    /// [`MAX_TOOLS`] tools.
    pub fn register(
        &mut self,
        function: ToolFunction,
        handler: impl ToolHandler,
    ) -> Result<(), ToolError> {
        check_name(&function.name)?;
        if !self.by_name.contains_key(&function.name) && self.by_name.len() >= MAX_TOOLS {
            return Err(ToolError::new(
                ToolErrorKind::Limit,
                format!("a sandbox may register at most {MAX_TOOLS} tools"),
            ));
        }
        if !function.parameters.is_object() {
            return Err(ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!(
                    "the parameters of `{}` must be a JSON Schema object such as {{\"type\": \"object\", \"properties\": {{...}}}}",
                    function.name
                ),
            ));
        }
        let validator = jsonschema::validator_for(&function.parameters).map_err(|e| {
            ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!(
                    "the parameters of `{}` are not a valid JSON Schema: {e}",
                    function.name
                ),
            )
        })?;
        self.by_name.insert(
            function.name.clone(),
            Arc::new(Registered {
                function,
                validator,
                handler: Arc::new(handler),
            }),
        );
        Ok(())
    }

    /// Removes a tool; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Registered>> {
        self.by_name.get(name)
    }

    /// The descriptions, sorted by name.
    pub fn list(&self) -> Vec<ToolFunction> {
        self.by_name.values().map(|r| r.function.clone()).collect()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn check_name(name: &str) -> Result<(), ToolError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let ok = first_ok
        && name.len() <= MAX_TOOL_NAME
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ToolError::new(
            ToolErrorKind::InvalidArguments,
            format!(
                "tool name {name:?} must be 1-{MAX_TOOL_NAME} characters: a letter or '_', then letters, digits, '_' or '-'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn echo(args: Value) -> ToolResult {
        Ok(args)
    }

    #[test]
    fn names_and_schemas_are_checked_at_registration() {
        let mut tools = Tools::default();
        for bad in ["", "1x", "a b", "x.y", &"a".repeat(65)] {
            let e = tools
                .register(ToolFunction::new(bad, "", json!({"type": "object"})), echo)
                .unwrap_err();
            assert_eq!(e.kind, ToolErrorKind::InvalidArguments, "{bad:?}");
        }
        let e = tools
            .register(
                ToolFunction::new("t", "", json!({"type": "nonsense"})),
                echo,
            )
            .unwrap_err();
        assert!(e.message.contains("not a valid JSON Schema"), "{e}");
        let e = tools
            .register(ToolFunction::new("t", "", json!("string")), echo)
            .unwrap_err();
        assert!(e.message.contains("must be a JSON Schema object"), "{e}");
        tools
            .register(
                ToolFunction::new("ok_name-2", "", json!({"type": "object"})),
                echo,
            )
            .unwrap();
        assert_eq!(tools.list().len(), 1);
    }

    #[test]
    fn arguments_are_validated_against_the_schema() {
        let mut tools = Tools::default();
        tools
            .register(
                ToolFunction::new(
                    "weather",
                    "",
                    json!({"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"], "additionalProperties": false}),
                ),
                echo,
            )
            .unwrap();
        let tool = tools.get("weather").unwrap();
        tool.check(&json!({"city": "Paris"})).unwrap();
        let e = tool.check(&json!({"city": 3})).unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::InvalidArguments);
        assert!(e.message.contains("/city"), "{e}");
        assert!(tool.check(&json!({})).is_err());
        assert!(tool.check(&json!({"city": "x", "extra": 1})).is_err());
    }
}
