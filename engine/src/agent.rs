//! SoulBox as a model's tool set: the OpenAI-style `tools` array of a sandbox
//! ([`Sandbox::tools`]) and the one call that runs what a model asked for
//! ([`Sandbox::execute_tool_call`]).
//!
//! The tools are SoulBox's own abilities - `run_code`, `write_file`, `read_file`, `list_files` -
//! plus every tool registered on the sandbox ([`Sandbox::register_tool`]). A call runs through
//! the ordinary engine paths: `run_code` is [`Sandbox::execute_code`] under the sandbox's limits,
//! the file tools are the sandbox's file API (cap-std, the wall rule), and a registered tool goes
//! through a fresh host channel ([`HostChannel::call_tool`](soulbox_host::HostChannel::call_tool)),
//! so its schema check, payload cap and handler timeout apply exactly as for guest code.
//!
//! Whatever happens, the answer is a JSON value ready to be sent back as the tool message:
//! a failure (malformed JSON, an unknown tool, bad arguments, a refused path, a host error) is
//! `{"error": "...", "kind": "..."}`, never a panic and never an `Err`, so an agent loop can hand
//! it to the model and let it correct itself. Everything sent back is capped: output and file
//! text to [`MAX_TOOL_TEXT`] bytes each, listings to [`MAX_LISTED_FILES`] entries.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{ExecutionResult, Language, Sandbox, SoulBoxError, ToolErrorKind, ToolFunction};

/// Most bytes of stdout, stderr or file text one tool answer carries (the head and the tail
/// are kept, the middle is replaced by a note saying how much was cut).
pub const MAX_TOOL_TEXT: usize = 16 * 1024;
/// Largest binary file `read_file` returns (base64-encoded); larger ones are refused with a
/// message suggesting `run_code` to inspect them.
pub const MAX_TOOL_BINARY: usize = 48 * 1024;
/// Most entries `list_files` returns.
pub const MAX_LISTED_FILES: usize = 500;

/// The languages `run_code` offers (the WebAssembly ones: these run wherever SoulBox runs).
const RUN_CODE_LANGUAGES: [Language; 7] = [
    Language::Python,
    Language::JavaScript,
    Language::Ruby,
    Language::Rust,
    Language::C,
    Language::Cpp,
    Language::Wasm,
];

/// The names of SoulBox's own tools, in the order [`Sandbox::tools`] lists them.
pub const BUILTIN_TOOLS: [&str; 4] = ["run_code", "write_file", "read_file", "list_files"];

/// A model's arguments: the JSON text it sent (OpenAI's `function.arguments`) or a value.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolArguments {
    /// JSON text, as chat-completions APIs send it (`""` means no arguments).
    Json(String),
    /// An already parsed value.
    Value(Value),
}

impl From<&str> for ToolArguments {
    fn from(text: &str) -> Self {
        Self::Json(text.to_owned())
    }
}

impl From<String> for ToolArguments {
    fn from(text: String) -> Self {
        Self::Json(text)
    }
}

impl From<&String> for ToolArguments {
    fn from(text: &String) -> Self {
        Self::Json(text.clone())
    }
}

impl From<Value> for ToolArguments {
    fn from(value: Value) -> Self {
        Self::Value(value)
    }
}

/// A failed tool call, as the model sees it.
#[derive(Debug)]
struct Failed {
    kind: &'static str,
    message: String,
}

impl Failed {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn into_value(self) -> Value {
        json!({"error": self.message, "kind": self.kind})
    }
}

impl From<SoulBoxError> for Failed {
    fn from(e: SoulBoxError) -> Self {
        let kind = match e.kind() {
            crate::ErrorKind::InvalidRequest => "invalid_request",
            crate::ErrorKind::UnknownLanguage => "unknown_language",
            crate::ErrorKind::Unsupported => "unsupported",
            crate::ErrorKind::InvalidPath => "invalid_path",
            crate::ErrorKind::FileNotFound => "file_not_found",
            crate::ErrorKind::UnusableFile => "unusable_file",
            crate::ErrorKind::InvalidState => "invalid_state",
            _ => "host",
        };
        Self::new(kind, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunCode {
    language: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteFile {
    path: String,
    content: String,
    #[serde(default)]
    encoding: Encoding,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    Utf8,
    Base64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePath {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListFiles {
    #[serde(default)]
    path: Option<String>,
}

impl Sandbox {
    /// The descriptions of every tool a model may call on this sandbox: SoulBox's own
    /// ([`BUILTIN_TOOLS`]) followed by the registered ones ([`Sandbox::registered_tools`]).
    /// A registered tool whose name is a built-in one is not listed (the built-in wins).
    pub fn tool_functions(&self) -> Vec<ToolFunction> {
        let mut functions = builtin_functions();
        functions.extend(
            self.registered_tools()
                .into_iter()
                .filter(|t| !BUILTIN_TOOLS.contains(&t.name.as_str())),
        );
        functions
    }

    /// This sandbox as an OpenAI-style `tools` array, ready for a chat-completions request:
    /// `[{"type": "function", "function": {"name", "description", "parameters"}}, ...]` for
    /// `run_code`, `write_file`, `read_file`, `list_files` and every registered tool.
    ///
    /// ```no_run
    /// # async fn demo() -> soulbox::Result<()> {
    /// let sandbox = soulbox::Sandbox::create(Default::default()).await?;
    /// let tools = sandbox.tools();
    /// assert_eq!(tools[0]["function"]["name"], "run_code");
    /// // ... send `tools` with the messages; for each tool call the model makes:
    /// let answer = sandbox
    ///     .execute_tool_call("run_code", r#"{"language": "python", "code": "print(6 * 7)"}"#)
    ///     .await;
    /// assert_eq!(answer["stdout"], "42\n");
    /// # Ok(()) }
    /// ```
    pub fn tools(&self) -> Value {
        Value::Array(
            self.tool_functions()
                .into_iter()
                .map(|f| {
                    json!({"type": "function", "function": {
                        "name": f.name, "description": f.description, "parameters": f.parameters,
                    }})
                })
                .collect(),
        )
    }

    /// Runs a tool call a model made - `name` and its `arguments` (the JSON text the model
    /// sent, or a [`Value`]) - and returns the JSON to send back as the tool message.
    ///
    /// - `run_code`: `{"status", "exit_code", "stdout", "stderr", "artifacts": [paths],
    ///   "error"?, "execution_time_ms"}` - a guest that breaks a limit is a status
    ///   (`timeout`, `memory_limit`, ...), as in every [`ExecutionResult`];
    /// - `write_file`: `{"path", "bytes"}` (refused, `disk_limit`, past `max_disk_bytes`,
    ///   the budget one execution has); `read_file`: `{"path", "size", "content"}` for
    ///   text (`"truncated": true` past [`MAX_TOOL_TEXT`]) or `{"path", "size",
    ///   "content_base64"}` for binary files up to [`MAX_TOOL_BINARY`]; `list_files`:
    ///   `{"files": [{"path", "size", "is_dir"}], "truncated"}`;
    /// - a registered tool: its handler's value, after the same checks as a guest's call;
    /// - any failure: `{"error": message, "kind": kind}` (for example `invalid_arguments`,
    ///   `unknown_tool`, `payload`, `file_not_found`, `handler`, `timeout`).
    ///
    /// The arguments text may be at most `max_host_call_bytes` (the sandbox's configuration)
    /// long, for built-in and registered tools alike.
    pub async fn execute_tool_call(
        &self,
        name: &str,
        arguments: impl Into<ToolArguments>,
    ) -> Value {
        match self.tool_call(name, arguments.into()).await {
            Ok(value) => value,
            Err(failed) => failed.into_value(),
        }
    }

    async fn tool_call(&self, name: &str, arguments: ToolArguments) -> Result<Value, Failed> {
        let max = usize::try_from(self.config().max_host_call_bytes).unwrap_or(usize::MAX);
        let arguments = parse_arguments(arguments, max)?;
        match name {
            "run_code" => {
                let args: RunCode = typed(name, arguments)?;
                let language = run_code_language(&args.language)?;
                let result = self.execute_code(language, args.code).await?;
                Ok(run_code_answer(&result))
            }
            "write_file" => {
                let args: WriteFile = typed(name, arguments)?;
                let bytes = match args.encoding {
                    Encoding::Utf8 => args.content.into_bytes(),
                    Encoding::Base64 => base64::engine::general_purpose::STANDARD
                        .decode(args.content.as_bytes())
                        .map_err(|e| {
                            Failed::new(
                                "invalid_arguments",
                                format!("`content` is not valid base64: {e}"),
                            )
                        })?,
                };
                let size = bytes.len();
                // The same budget one execution has for growing the workspace.
                let budget = self.config().max_disk_bytes;
                if size as u64 > budget {
                    return Err(Failed::new(
                        "disk_limit",
                        format!(
                            "{size} bytes is more than the sandbox's disk budget of {budget} bytes \
                             (max_disk_bytes); nothing was written"
                        ),
                    ));
                }
                self.write_file(&args.path, bytes).await?;
                Ok(json!({"path": args.path, "bytes": size}))
            }
            "read_file" => {
                let args: FilePath = typed(name, arguments)?;
                self.read_file_answer(&args.path).await
            }
            "list_files" => {
                let args: ListFiles = typed(name, arguments)?;
                let path = args.path.unwrap_or_default();
                let files = self.list_files(&path).await?;
                let truncated = files.len() > MAX_LISTED_FILES;
                let files: Vec<Value> = files
                    .into_iter()
                    .take(MAX_LISTED_FILES)
                    .map(|f| json!({"path": f.path, "size": f.size, "is_dir": f.is_dir}))
                    .collect();
                Ok(json!({"files": files, "truncated": truncated}))
            }
            _ => {
                if self.state() == crate::SandboxState::Terminated {
                    return Err(Failed::new(
                        "invalid_state",
                        "the sandbox is terminated; create a new one",
                    ));
                }
                if !self.registered_tools().iter().any(|t| t.name == name) {
                    let known: Vec<String> =
                        self.tool_functions().into_iter().map(|f| f.name).collect();
                    return Err(Failed::new(
                        ToolErrorKind::UnknownTool.name(),
                        format!(
                            "no tool named {:?}; this sandbox has: {}",
                            name.chars().take(128).collect::<String>(),
                            known.join(", ")
                        ),
                    ));
                }
                self.host_channel()
                    .call_tool(name, arguments)
                    .await
                    .map_err(|e| Failed::new(e.kind.name(), e.message))
            }
        }
    }

    async fn read_file_answer(&self, path: &str) -> Result<Value, Failed> {
        // One byte more than the binary cap, to tell "fits" from "does not".
        let want = MAX_TOOL_TEXT.max(MAX_TOOL_BINARY + 1) as u64;
        let (head, size) = self.read_file_head(path, want).await?;
        let complete = head.len() as u64 >= size;
        match text_prefix(&head, complete) {
            Some(text) => {
                let truncated = !complete || text.len() > MAX_TOOL_TEXT;
                let content = if text.len() > MAX_TOOL_TEXT {
                    let end = floor_char_boundary(text, MAX_TOOL_TEXT);
                    &text[..end]
                } else {
                    text
                };
                let mut answer = json!({"path": path, "size": size, "content": content});
                if truncated {
                    answer["truncated"] = json!(true);
                    answer["note"] = json!(format!(
                        "only the first {} of {size} bytes are shown; use run_code to read the rest",
                        content.len()
                    ));
                }
                Ok(answer)
            }
            None if complete && head.len() <= MAX_TOOL_BINARY => Ok(json!({
                "path": path,
                "size": size,
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&head),
            })),
            None => Err(Failed::new(
                "too_large",
                format!(
                    "{path} is a binary file of {size} bytes; read_file returns binary files up to \
                     {MAX_TOOL_BINARY} bytes - use run_code to inspect it"
                ),
            )),
        }
    }
}

/// The descriptions of SoulBox's own tools.
fn builtin_functions() -> Vec<ToolFunction> {
    let languages: Vec<&str> = RUN_CODE_LANGUAGES.iter().map(|l| l.name()).collect();
    vec![
        ToolFunction::new(
            "run_code",
            "Run code in an isolated SoulBox sandbox (WebAssembly, no network unless the sandbox \
             allows hosts) and get its status (ok, error, timeout, memory_limit, ...), exit code, \
             stdout and stderr, and the paths of the files it wrote. Each call starts a fresh \
             process; files in the working directory (/work) persist between calls. Python has \
             numpy, pandas and matplotlib; save plots with plt.savefig('plot.png').",
            json!({
                "type": "object",
                "properties": {
                    "language": {"type": "string", "enum": languages,
                                 "description": "The language of `code`."},
                    "code": {"type": "string", "description": "The program to run."}
                },
                "required": ["language", "code"],
                "additionalProperties": false
            }),
        ),
        ToolFunction::new(
            "write_file",
            "Write a file into the sandbox's workspace (the code's working directory, /work); \
             parent directories are created.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace."},
                    "content": {"type": "string", "description": "The file's contents."},
                    "encoding": {"type": "string", "enum": ["utf8", "base64"],
                                 "description": "How `content` is encoded (default utf8)."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        ),
        ToolFunction::new(
            "read_file",
            "Read a file from the sandbox's workspace: text comes back as text (the first 16 KiB), \
             small binary files as base64.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        ToolFunction::new(
            "list_files",
            "List the files and directories in the sandbox's workspace, recursively, with sizes.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string",
                             "description": "Only under this directory (default: everything)."}
                },
                "additionalProperties": false
            }),
        ),
    ]
}

/// The arguments as an object value: JSON text parsed (empty text is `{}`), sizes capped.
fn parse_arguments(arguments: ToolArguments, max: usize) -> Result<Value, Failed> {
    let too_large = |len: usize| {
        Failed::new(
            ToolErrorKind::Payload.name(),
            format!(
                "the arguments are {len} bytes; at most {max} are accepted (max_host_call_bytes)"
            ),
        )
    };
    let value = match arguments {
        ToolArguments::Json(text) => {
            if text.len() > max {
                return Err(too_large(text.len()));
            }
            if text.trim().is_empty() {
                Value::Object(Map::new())
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    Failed::new(
                        ToolErrorKind::InvalidArguments.name(),
                        format!("the arguments are not valid JSON: {e}"),
                    )
                })?
            }
        }
        ToolArguments::Value(value) => {
            let len = serde_json::to_vec(&value).map_or(0, |v| v.len());
            if len > max {
                return Err(too_large(len));
            }
            value
        }
    };
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        other => Err(Failed::new(
            ToolErrorKind::InvalidArguments.name(),
            format!(
                "the arguments must be a JSON object, not {}",
                match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a boolean",
                }
            ),
        )),
    }
}

/// The arguments of built-in tool `name` as `T`.
fn typed<T: serde::de::DeserializeOwned>(name: &str, arguments: Value) -> Result<T, Failed> {
    serde_json::from_value(arguments).map_err(|e| {
        Failed::new(
            ToolErrorKind::InvalidArguments.name(),
            format!("arguments of `{name}`: {e}"),
        )
    })
}

fn run_code_language(name: &str) -> Result<Language, Failed> {
    let offered = || {
        RUN_CODE_LANGUAGES
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name.parse::<Language>() {
        Ok(language) if RUN_CODE_LANGUAGES.contains(&language) => Ok(language),
        _ => Err(Failed::new(
            ToolErrorKind::InvalidArguments.name(),
            format!(
                "`language` {:?} is not one run_code offers: {}",
                name.chars().take(64).collect::<String>(),
                offered()
            ),
        )),
    }
}

/// What the model sees of an execution.
fn run_code_answer(result: &ExecutionResult) -> Value {
    let mut answer = json!({
        "status": result.status.name(),
        "exit_code": result.exit_code,
        "stdout": capped(&result.stdout),
        "stderr": capped(&result.stderr),
        "execution_time_ms": u64::try_from(result.execution_time.as_millis()).unwrap_or(u64::MAX),
    });
    if let Some(error) = &result.error {
        answer["error"] = json!(capped(error));
    }
    if !result.artifacts.is_empty() {
        let paths: Vec<&str> = result
            .artifacts
            .iter()
            .take(MAX_LISTED_FILES)
            .map(|a| a.path.as_str())
            .collect();
        answer["artifacts"] = json!(paths);
    }
    answer
}

/// `text` cut to [`MAX_TOOL_TEXT`] bytes: its head and tail, with a note in between.
fn capped(text: &str) -> String {
    if text.len() <= MAX_TOOL_TEXT {
        return text.to_owned();
    }
    let head_end = floor_char_boundary(text, MAX_TOOL_TEXT * 3 / 4);
    let mut tail_start = text.len() - MAX_TOOL_TEXT / 4;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[... {} bytes cut ...]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The text of `head` if the file is text: valid UTF-8 without NUL bytes, where a character
/// cut by the end of an incomplete prefix does not count against it.
fn text_prefix(head: &[u8], complete: bool) -> Option<&str> {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if !complete && e.error_len().is_none() => {
            // Only the last character is cut: the valid part is the text.
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    (!text.contains('\0')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_text_and_values_are_parsed_and_capped() {
        let ok = parse_arguments(ToolArguments::from(r#"{"a": 1}"#), 100).unwrap();
        assert_eq!(ok, json!({"a": 1}));
        assert_eq!(
            parse_arguments(ToolArguments::from("  "), 100).unwrap(),
            json!({})
        );
        assert_eq!(
            parse_arguments(ToolArguments::from(Value::Null), 100).unwrap(),
            json!({})
        );
        let e = parse_arguments(ToolArguments::from("{not json"), 100).unwrap_err();
        assert_eq!(e.kind, "invalid_arguments");
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = parse_arguments(ToolArguments::from("[1, 2]"), 100).unwrap_err();
        assert!(e.message.contains("not an array"), "{}", e.message);
        let e = parse_arguments(ToolArguments::from("x".repeat(101)), 100).unwrap_err();
        assert_eq!(e.kind, "payload");
        let e = parse_arguments(json!({"a": "x".repeat(200)}).into(), 100).unwrap_err();
        assert_eq!(e.kind, "payload");
    }

    #[test]
    fn long_text_keeps_head_and_tail() {
        let text = format!("{}{}", "é".repeat(MAX_TOOL_TEXT), "END");
        let cut = capped(&text);
        assert!(cut.len() < MAX_TOOL_TEXT + 100, "{}", cut.len());
        assert!(cut.starts_with('é') && cut.ends_with("END"));
        assert!(cut.contains("bytes cut"));
        assert_eq!(capped("short"), "short");
    }

    #[test]
    fn text_is_told_from_binary() {
        assert_eq!(text_prefix(b"hello", true), Some("hello"));
        assert_eq!(text_prefix(b"a\0b", true), None);
        assert_eq!(text_prefix(&[0xff, 0xfe], true), None);
        // A two-byte character cut by the end of a prefix is still text.
        assert_eq!(text_prefix(&[b'a', 0xc3], false), Some("a"));
        assert_eq!(text_prefix(&[b'a', 0xc3], true), None);
    }

    #[test]
    fn run_code_offers_the_wasm_languages_only() {
        assert_eq!(run_code_language("py").unwrap(), Language::Python);
        assert_eq!(
            run_code_language("javascript").unwrap(),
            Language::JavaScript
        );
        let e = run_code_language("shell").unwrap_err();
        assert!(e.message.contains("python, javascript"), "{}", e.message);
        assert!(run_code_language("cobol").is_err());
    }

    #[test]
    fn builtin_schemas_name_their_required_fields() {
        let functions = builtin_functions();
        let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, BUILTIN_TOOLS);
        assert_eq!(
            functions[0].parameters["required"],
            json!(["language", "code"])
        );
        assert_eq!(
            functions[0].parameters["properties"]["language"]["enum"][0],
            "python"
        );
    }
}
