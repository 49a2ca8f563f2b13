//! The languages a sandbox can run, and how they are named on the command line and in file names.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A source language (or binary format) that SoulBox knows how to run.
///
/// ```
/// use soulbox_api::Language;
/// assert_eq!("py".parse::<Language>().unwrap(), Language::Python);
/// assert_eq!(Language::from_path("main.rs"), Some(Language::Rust));
/// assert_eq!(Language::from_path("hello.wat"), Some(Language::Wasm));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Python 3 (interpreter compiled to WASI).
    Python,
    /// JavaScript (QuickJS compiled to WASI). On the wire `"javascript"`, the name the CLI and
    /// every door use; `"java_script"` (what earlier versions wrote) is still read.
    #[serde(rename = "javascript", alias = "java_script")]
    JavaScript,
    /// Ruby (interpreter compiled to WASI).
    Ruby,
    /// Rust source, compiled to wasm32-wasi by the engine.
    Rust,
    /// C source, compiled to wasm32-wasi by the engine.
    C,
    /// C++ source, compiled to wasm32-wasi by the engine.
    Cpp,
    /// A WebAssembly module (binary) or WAT text that is a WASI preview1 command.
    Wasm,
    /// A POSIX shell script, run by the host's `/bin/sh` (native backend only).
    Shell,
    /// A native executable (native backend only).
    Native,
}

/// Names accepted by [`Language::from_str`], for error messages and `--help`.
pub const ACCEPTED_LANGUAGES: &str = "python (py), javascript (js, mjs), ruby (rb), rust (rs), c, cpp (c++, cc, cxx), wasm (wat), shell (sh), native";

/// A language name or file extension that SoulBox does not know: the error of parsing a
/// [`Language`]. The engine turns it into `SoulBoxError::UnknownLanguage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language `{given}`; expected one of: {accepted}")]
pub struct UnknownLanguage {
    /// What the caller wrote.
    pub given: String,
    /// The names SoulBox accepts ([`ACCEPTED_LANGUAGES`]).
    pub accepted: &'static str,
}

impl UnknownLanguage {
    /// The error for `given`.
    pub fn new(given: impl Into<String>) -> Self {
        Self {
            given: given.into(),
            accepted: ACCEPTED_LANGUAGES,
        }
    }
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Language; 9] = [
        Language::Python,
        Language::JavaScript,
        Language::Ruby,
        Language::Rust,
        Language::C,
        Language::Cpp,
        Language::Wasm,
        Language::Shell,
        Language::Native,
    ];

    /// The canonical lower-case name (`python`, `javascript`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Ruby => "ruby",
            Language::Rust => "rust",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Wasm => "wasm",
            Language::Shell => "shell",
            Language::Native => "native",
        }
    }

    /// The language a file extension (without the dot) denotes, if any.
    pub fn from_extension(ext: &str) -> Option<Language> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "py" => Language::Python,
            "js" | "mjs" | "cjs" => Language::JavaScript,
            "rb" => Language::Ruby,
            "rs" => Language::Rust,
            "c" | "h" => Language::C,
            "cpp" | "cc" | "cxx" | "c++" | "hpp" => Language::Cpp,
            "wasm" | "wat" => Language::Wasm,
            "sh" => Language::Shell,
            _ => return None,
        })
    }

    /// The language of a file, judged by its extension.
    pub fn from_path(path: impl AsRef<Path>) -> Option<Language> {
        path.as_ref()
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Language::from_extension)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let by_name = match lower.as_str() {
            "python" | "python3" => Some(Language::Python),
            "javascript" | "node" => Some(Language::JavaScript),
            "ruby" => Some(Language::Ruby),
            "rust" => Some(Language::Rust),
            "cpp" | "c++" => Some(Language::Cpp),
            "wasm" | "webassembly" => Some(Language::Wasm),
            "shell" | "sh" => Some(Language::Shell),
            "native" | "binary" => Some(Language::Native),
            _ => None,
        };
        by_name
            .or_else(|| Language::from_extension(&lower))
            .ok_or_else(|| UnknownLanguage::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for lang in Language::ALL {
            assert_eq!(lang.name().parse::<Language>().ok(), Some(lang));
        }
    }

    #[test]
    fn extensions_and_aliases() {
        assert_eq!("JS".parse::<Language>().ok(), Some(Language::JavaScript));
        assert_eq!("c++".parse::<Language>().ok(), Some(Language::Cpp));
        assert_eq!(Language::from_path("a/b/prog.cc"), Some(Language::Cpp));
        assert_eq!(Language::from_path("x.mjs"), Some(Language::JavaScript));
        assert_eq!(Language::from_path("noext"), None);
        assert_eq!(Language::from_path("build.sh"), Some(Language::Shell));
    }

    #[test]
    fn unknown_language_lists_accepted_names() {
        let err = "cobol".parse::<Language>().err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("cobol") && msg.contains("python"), "{msg}");
    }
}
