//! What a native run executes: a host interpreter with a script (`sh`, `python3`, ...) or the
//! caller's own executable. The program file is written into the guest's read-only root at
//! `/run/soulbox` (or, without a mount namespace, into the run directory), so it is neither a
//! workspace artifact nor writable by the code it holds.

// Audited for the wall rule (scripts/wall-audited.txt): only the caller's program path and PATH lookups, never the workspace.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{ExecutionRequest, Language, Result, SoulBoxError};

/// Directories searched for host interpreters. They (and what their entries resolve to) must lie
/// in the system directories the guest's root offers.
const INTERPRETER_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];
/// Where an interpreter may resolve to and still be visible in the guest.
const VISIBLE_PREFIXES: &[&str] = &["/usr/", "/bin/", "/sbin/", "/lib", "/etc/alternatives/"];

/// A program for the native backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NativeProgram {
    /// Host interpreter that runs the file (same path in the guest); `None`: the file is the
    /// executable.
    pub interpreter: Option<PathBuf>,
    /// File name inside the program directory.
    pub file_name: String,
    pub code: Vec<u8>,
    pub args: Vec<String>,
}

impl NativeProgram {
    /// The program that runs `request` natively, or why there is none.
    pub(crate) fn for_request(request: &ExecutionRequest) -> Result<Self> {
        let (command, default_name) = match request.language {
            Language::Shell => (Some("sh"), "main.sh"),
            Language::Python => (Some("python3"), "main.py"),
            Language::JavaScript => (Some("node"), "main.js"),
            Language::Ruby => (Some("ruby"), "main.rb"),
            Language::Native => (None, "program"),
            other @ (Language::Rust | Language::C | Language::Cpp | Language::Wasm) => {
                return Err(SoulBoxError::Unsupported {
                    language: other,
                    backend: "native",
                    reason: "the native backend runs host interpreters (shell, python, javascript, ruby) and executables; run this language with --backend wasm".into(),
                });
            }
        };
        if request.code.is_empty() {
            return Err(SoulBoxError::InvalidRequest("the program is empty".into()));
        }
        let interpreter = command
            .map(|c| find_interpreter(c, request.language))
            .transpose()?;
        Ok(Self {
            interpreter,
            file_name: file_name(request.file_name.as_deref(), default_name),
            code: request.code.clone(),
            args: request.args.clone(),
        })
    }

    /// The path to `execve` and the argv, with the program file in `program_dir` (guest view).
    pub(crate) fn command_line(&self, program_dir: &Path) -> (PathBuf, Vec<String>) {
        let file = program_dir.join(&self.file_name);
        let file_arg = file.to_string_lossy().into_owned();
        match &self.interpreter {
            Some(interpreter) => {
                let argv = std::iter::once(interpreter.to_string_lossy().into_owned())
                    .chain(std::iter::once(file_arg))
                    .chain(self.args.iter().cloned())
                    .collect();
                (interpreter.clone(), argv)
            }
            None => {
                let argv = std::iter::once(file_arg)
                    .chain(self.args.iter().cloned())
                    .collect();
                (file, argv)
            }
        }
    }

    /// Writes the program file into `dir` (executable when it is the program itself).
    pub(crate) fn write_into(&self, dir: &Path) -> Result<()> {
        let mode = if self.interpreter.is_some() {
            0o644
        } else {
            0o755
        };
        let path = dir.join(&self.file_name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(&self.code))
            .map_err(|e| SoulBoxError::io(format!("writing the program to {}", path.display()), e))
    }
}

/// A safe file name: the last component of `given`, or `default` when that is unusable.
fn file_name(given: Option<&str>, default: &str) -> String {
    given
        .and_then(|g| Path::new(g).file_name())
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('.') && !n.contains('\0'))
        .unwrap_or(default)
        .to_owned()
}

fn find_interpreter(command: &str, language: Language) -> Result<PathBuf> {
    for dir in INTERPRETER_DIRS {
        let candidate = Path::new(dir).join(command);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        let resolved = std::fs::canonicalize(&candidate).unwrap_or_else(|_| candidate.clone());
        let visible = VISIBLE_PREFIXES
            .iter()
            .any(|prefix| resolved.to_string_lossy().starts_with(prefix));
        if visible {
            return Ok(candidate);
        }
    }
    Err(SoulBoxError::Unsupported {
        language,
        backend: "native",
        reason: format!(
            "no `{command}` in {} (one that lives under /usr or /bin, which the sandbox can see); install it, e.g. `apt-get install {}`",
            INTERPRETER_DIRS.join(", "),
            match command {
                "sh" => "dash",
                "node" => "nodejs",
                other => other,
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_a_plain_last_component() {
        assert_eq!(file_name(Some("dir/x.py"), "main.py"), "x.py");
        assert_eq!(file_name(Some("../../etc/passwd"), "main.py"), "passwd");
        assert_eq!(file_name(Some(".."), "main.py"), "main.py");
        assert_eq!(file_name(Some(".hidden"), "main.py"), "main.py");
        assert_eq!(file_name(None, "main.sh"), "main.sh");
    }

    #[test]
    fn scripts_run_through_their_interpreter_and_executables_directly() {
        let script = NativeProgram {
            interpreter: Some("/usr/bin/python3".into()),
            file_name: "x.py".into(),
            code: b"print(1)".to_vec(),
            args: vec!["a".into()],
        };
        let (path, argv) = script.command_line(Path::new("/run/soulbox"));
        assert_eq!(path, Path::new("/usr/bin/python3"));
        assert_eq!(argv, ["/usr/bin/python3", "/run/soulbox/x.py", "a"]);
        let binary = NativeProgram {
            interpreter: None,
            file_name: "prog".into(),
            ..script
        };
        let (path, argv) = binary.command_line(Path::new("/run/soulbox"));
        assert_eq!(path, Path::new("/run/soulbox/prog"));
        assert_eq!(argv, ["/run/soulbox/prog", "a"]);
    }

    #[test]
    fn compiled_languages_are_not_native_programs() {
        let request = ExecutionRequest::new(Language::Rust, "fn main() {}");
        assert!(matches!(
            NativeProgram::for_request(&request),
            Err(SoulBoxError::Unsupported { .. })
        ));
    }

    #[test]
    fn the_shell_is_found() {
        let request = ExecutionRequest::new(Language::Shell, "echo hi");
        let program = NativeProgram::for_request(&request).unwrap();
        assert!(program.interpreter.unwrap().ends_with("sh"));
    }
}
