//! One execution request: what to run, with which arguments and input.

use crate::Language;

/// Where the guest's standard input comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Empty: the guest reads end-of-file at once.
    #[default]
    Empty,
    /// These bytes, then end-of-file.
    Bytes(Vec<u8>),
    /// The host process's own standard input, read lazily as the guest asks (for the CLI). It
    /// must be a pipe, a regular file, a terminal or `/dev/null` (the engine's
    /// `StdinExt::check_inheritable` checks it); the native backend refuses anything else.
    Inherit,
}

/// What to run: language, code and everything that goes in with it.
///
/// ```
/// use soulbox_api::{ExecutionRequest, Language};
/// let request = ExecutionRequest::new(Language::Wasm, "(module)")
///     .with_args(["one", "two"])
///     .with_stdin("input");
/// assert_eq!(request.args.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRequest {
    /// The language of `code`.
    pub language: Language,
    /// Source text, WAT text, or a binary module / executable.
    pub code: Vec<u8>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Standard input.
    pub stdin: Stdin,
    /// Extra environment variables for this execution (on top of the sandbox's).
    pub env: Vec<(String, String)>,
    /// A named runtime to use instead of the language's default (for example `python-lite`).
    pub runtime: Option<String>,
    /// File name to give the code inside the workspace, when the runtime needs one.
    pub file_name: Option<String>,
    /// Compile the source as a WASI preview 2 component (Rust only) rather than a preview 1
    /// module. A Rust source that uses the component bindings (`soulbox_guest`, `wit_bindgen`)
    /// is compiled as a component without being asked; other languages refuse it.
    pub component: bool,
}

impl ExecutionRequest {
    /// A request with no arguments, empty stdin and the default runtime.
    pub fn new(language: Language, code: impl Into<Vec<u8>>) -> Self {
        Self {
            language,
            code: code.into(),
            args: Vec::new(),
            stdin: Stdin::Empty,
            env: Vec::new(),
            runtime: None,
            file_name: None,
            component: false,
        }
    }
    /// Sets the arguments.
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }
    /// Sets stdin to these bytes.
    pub fn with_stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = Stdin::Bytes(stdin.into());
        self
    }
    /// Sets where stdin comes from.
    pub fn with_stdin_source(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }
    /// Adds an environment variable for this execution.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Picks a named runtime.
    pub fn with_runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }
    /// Names the code's file (for diagnostics and runtimes that run files).
    pub fn with_file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }
    /// Asks for the source to be compiled as a component (see [`ExecutionRequest::component`]).
    pub fn with_component(mut self, component: bool) -> Self {
        self.component = component;
        self
    }
}
