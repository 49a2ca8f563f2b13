//! `soulbox repl`: a session (one live interpreter) fed cell by cell.
//!
//! On a terminal: a `>>> ` prompt with line editing and history (rustyline; the history is kept
//! in `$SOULBOX_HOME/repl-history-<language>`); a cell continues while a bracket is open, a line
//! ends in `\`, or a block was opened (a line ending in `:`, or a Ruby block keyword) until an
//! empty line closes it. Otherwise (a pipe or file): cells are separated by lines containing only
//! `%%`. Each cell's output is printed as it runs, then its final expression's value, if any. A
//! cell containing only `%reset` starts a fresh interpreter; `%save FILE` writes the session to a
//! snapshot file. These meta-commands act on a terminal only: piped cells are often the
//! untrusted code itself, and `%save` writes a file (whose workspace part the cells control)
//! anywhere the user can write, so from a pipe they are refused unless `--meta-commands` is
//! given. `--save FILE` writes the session when the input ends, `--restore FILE` starts from one.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use soulbox::{
    Engine, EngineConfig, Language, SandboxConfig, Session, Status, StreamOutput, parse_byte_size,
    parse_duration,
};

use crate::EXIT_USAGE;
use crate::run::EXIT_ENGINE;

#[derive(Debug, Args)]
#[command(after_help = "\
Cells: on a terminal, one line, or more while a bracket is open or a block is open (a line ending
in `:`, or a Ruby `def`/`class`/`do`/... line) until an empty line; history in
$SOULBOX_HOME/repl-history-LANG. Otherwise cells are separated by lines containing only `%%`.
`%reset` starts a fresh interpreter; `%save FILE` writes a snapshot of the session. These act on
a terminal; from a pipe (where the cells may be untrusted code) only with --meta-commands.
Pause and resume across processes: `--save FILE` writes the session to FILE when the input ends;
`soulbox repl --restore FILE` continues it (variables, imports, workspace files).
Exit status: 0 when every cell ran without an error; 1 when a cell raised or the session was
poisoned by a limit (timeout, memory, fuel, trap); 125 engine failure (or an unusable snapshot);
2 usage error.")]
pub(crate) struct ReplArgs {
    /// Language of the session (python, javascript or ruby)
    /// [default: python, or the snapshot's with --restore].
    #[arg(short = 'l', long = "lang", value_name = "LANG",
          value_parser = |s: &str| s.parse::<Language>().map_err(|e| e.to_string()))]
    lang: Option<Language>,
    /// Wall-clock limit of each cell.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Memory limit of the whole session [default: what the runtime recommends, 512MiB for python].
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size)]
    memory: Option<u64>,
    /// Instruction budget of each cell (wasm fuel units); unlimited by default.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Host directory used as the guest's working directory (/work); kept afterwards.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Never download a missing runtime.
    #[arg(long)]
    offline: bool,
    /// When the input ends, write the session to this snapshot file (see --restore).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Start from a snapshot file written by --save (or `%save`) instead of a fresh interpreter;
    /// its workspace files are written into the working directory.
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,
    /// Obey `%save FILE` and `%reset` cells in piped input too. Off by default: piped cells may
    /// be untrusted code, and `%save` writes a file wherever you can. On a terminal they always
    /// work.
    #[arg(long)]
    meta_commands: bool,
    /// Run the session on a SoulBox server (`soulbox serve`). --save, --restore and %save need
    /// a local session (a remote session's interpreter stays on the server).
    #[arg(long, value_name = "URL", conflicts_with_all = ["save", "restore"])]
    remote: Option<String>,
    /// Bearer token for --remote.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SOULBOX_TOKEN",
        hide_env_values = true,
        requires = "remote"
    )]
    token: Option<String>,
}

/// The session cells run on: in this process, or on a server.
enum ReplSession {
    Local(Session),
    Remote(soulbox_client::RemoteSession),
}

/// Why a cell could not run.
enum CellError {
    Poisoned(String),
    Other(String),
}

impl ReplSession {
    fn language(&self) -> Language {
        match self {
            ReplSession::Local(s) => s.language(),
            ReplSession::Remote(s) => s.language(),
        }
    }

    fn runtime_name(&self) -> &str {
        match self {
            ReplSession::Local(s) => s.runtime_name(),
            ReplSession::Remote(s) => s.runtime_name(),
        }
    }

    async fn execute_streaming(
        &self,
        cell: &str,
        tx: tokio::sync::mpsc::UnboundedSender<StreamOutput>,
    ) -> Result<soulbox::ExecutionResult, CellError> {
        match self {
            ReplSession::Local(s) => s.execute_streaming(cell, tx).await.map_err(|e| match e {
                soulbox::SoulBoxError::SessionPoisoned(_) => CellError::Poisoned(e.to_string()),
                e => CellError::Other(e.to_string()),
            }),
            ReplSession::Remote(s) => s.execute_streaming(cell, tx).await.map_err(|e| {
                if e.kind() == soulbox::ErrorKind::SessionPoisoned {
                    CellError::Poisoned(e.to_string())
                } else {
                    CellError::Other(e.to_string())
                }
            }),
        }
    }

    async fn reset(&self) -> Result<(), String> {
        match self {
            ReplSession::Local(s) => s.reset().await.map_err(|e| e.to_string()),
            ReplSession::Remote(s) => s.reset().await.map_err(|e| e.to_string()),
        }
    }

    async fn end(&self) {
        match self {
            ReplSession::Local(s) => s.sandbox().terminate().await,
            ReplSession::Remote(s) => {
                let _ = s.sandbox().terminate().await;
            }
        }
    }
}

pub(crate) async fn repl(args: ReplArgs) -> ExitCode {
    let base = SandboxConfig::default().memory_limit;
    let recommend = |lang: Language| {
        soulbox::runtimes::catalogue::session_default_for(&lang.to_string())
            .map_or(base, |r| base.max(r.recommended_memory))
    };
    // A snapshot's language is only known once it is read: allow the larger recommendation.
    let recommended = match (args.lang, &args.restore) {
        (Some(lang), _) => recommend(lang),
        (None, Some(_)) => recommend(Language::Python)
            .max(recommend(Language::Ruby))
            .max(recommend(Language::JavaScript)),
        (None, None) => recommend(Language::Python),
    };
    let mut config = SandboxConfig::default()
        .with_timeout(args.timeout)
        .with_memory_limit(args.memory.unwrap_or(recommended));
    config.fuel = args.fuel;
    if let Some(dir) = &args.workdir {
        config = config.with_workdir(dir);
    }
    if let Err(e) = config.validate() {
        eprintln!("soulbox: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let session = match &args.remote {
        Some(url) => remote_session(url, args.token.as_deref(), config, args.lang).await,
        None => async {
            let engine = Engine::new(EngineConfig::default().with_offline(args.offline))?;
            let sandbox = engine.sandbox(config).await?;
            match &args.restore {
                Some(path) => sandbox.restore_session(path).await,
                None => sandbox.session(args.lang.unwrap_or(Language::Python)).await,
            }
        }
        .await
        .map(ReplSession::Local)
        .map_err(|e| e.to_string()),
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soulbox: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    if let Some(lang) = args.lang
        && lang != session.language()
    {
        eprintln!(
            "soulbox: the snapshot holds a {} session, not {lang}",
            session.language()
        );
        session.end().await;
        return ExitCode::from(EXIT_USAGE);
    }
    let ok = if std::io::stdin().is_terminal() {
        interactive(&session).await
    } else {
        piped(&session, args.meta_commands).await
    };
    let saved = match &args.save {
        Some(path) => save(&session, path).await,
        None => true,
    };
    session.end().await;
    match (ok, saved) {
        (_, false) => ExitCode::from(EXIT_ENGINE),
        (true, true) => ExitCode::SUCCESS,
        (false, true) => ExitCode::from(1),
    }
}

/// Writes the session to `path`, saying so on stderr. Returns whether it worked.
/// A session on the server at `url`.
async fn remote_session(
    url: &str,
    token: Option<&str>,
    config: SandboxConfig,
    lang: Option<Language>,
) -> Result<ReplSession, String> {
    let client = crate::remote::connect(url, token).await?;
    let (sandbox, _) = crate::remote::create(&client, config).await?;
    match sandbox.session(lang.unwrap_or(Language::Python)).await {
        Ok(session) => Ok(ReplSession::Remote(session)),
        Err(e) => {
            let _ = sandbox.terminate().await;
            Err(e.to_string())
        }
    }
}

async fn save(session: &ReplSession, path: &Path) -> bool {
    let ReplSession::Local(session) = session else {
        eprintln!(
            "soulbox: cannot save a remote session to a local file (its interpreter stays on the server)"
        );
        return false;
    };
    match session.snapshot(path).await {
        Ok(info) => {
            eprintln!(
                "soulbox: session saved to {} ({:.1} MiB; restore with `soulbox repl --restore {}`)",
                path.display(),
                info.file_bytes as f64 / (1024.0 * 1024.0),
                path.display()
            );
            true
        }
        Err(e) => {
            eprintln!("soulbox: cannot save the session: {e}");
            false
        }
    }
}

/// Cells separated by `%%` lines, each run as soon as it is complete; meta-commands only with
/// `meta_commands`. Stops at a poisoned session. Returns whether every cell succeeded.
async fn piped(session: &ReplSession, meta_commands: bool) -> bool {
    let mut all_ok = true;
    let mut cell = String::new();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        let line = match lines.next() {
            Some(Ok(line)) => Some(line),
            Some(Err(e)) => {
                eprintln!("soulbox: reading stdin: {e}");
                return false;
            }
            None => None,
        };
        match &line {
            Some(l) if !is_separator(l) => {
                cell.push_str(l);
                cell.push('\n');
                continue;
            }
            _ => {}
        }
        if !cell.trim().is_empty() {
            match run_cell(session, &cell, meta_commands).await {
                CellEnd::Ok => {}
                CellEnd::Failed => all_ok = false,
                CellEnd::Fatal => return false,
            }
        }
        cell.clear();
        if line.is_none() {
            return all_ok;
        }
    }
}

/// A line containing only `%%` separates cells. A line containing only `%` does too: that is
/// what `printf 'x = 41\n%%\nprint(x + 1)\n'` actually writes (printf turns `%%` into `%`), and
/// a lone `%` is not a valid statement in any session language.
fn is_separator(line: &str) -> bool {
    matches!(line.trim(), "%%" | "%")
}

/// A prompt per cell, with line editing and history; a cell continues while [`needs_more`]
/// says so. Ctrl-C abandons the cell being typed, Ctrl-D ends. Returns whether every cell
/// succeeded.
async fn interactive(session: &ReplSession) -> bool {
    use rustyline::error::ReadlineError;
    let mut all_ok = true;
    eprintln!(
        "soulbox repl: {} session ({}); %reset for a fresh interpreter, %save FILE to snapshot it, \
         Ctrl-D to quit",
        session.language(),
        session.runtime_name()
    );
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("soulbox: cannot set up line editing: {e}");
            return false;
        }
    };
    // The engine has created and checked the home; without one there is simply no history.
    let history = soulbox::default_home()
        .ok()
        .map(|home| home.join(format!("repl-history-{}", session.language())));
    // No history yet is normal; a history that cannot be read is not worth stopping for.
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    let mut cell = String::new();
    loop {
        let prompt = if cell.is_empty() { ">>> " } else { "... " };
        // Reading a line blocks this thread; the interpreter is idle meanwhile.
        let line = tokio::task::block_in_place(|| editor.readline(prompt));
        match line {
            Ok(line) => {
                if cell.is_empty() && line.trim().is_empty() {
                    continue;
                }
                cell.push_str(&line);
                cell.push('\n');
                if needs_more(&cell, session.language()) {
                    continue;
                }
                let _ = editor.add_history_entry(cell.trim_end());
                if run_cell(session, &cell, true).await != CellEnd::Ok {
                    all_ok = false;
                }
                cell.clear();
            }
            Err(ReadlineError::Interrupted) => {
                cell.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("soulbox: reading the terminal: {e}");
                all_ok = false;
                break;
            }
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    all_ok
}

/// Whether the cell typed so far (each line followed by a newline) needs more lines: a bracket
/// or a string is still open, the last line ends in `\`, or a block was opened (a Python line
/// ending in `:`, a Ruby line starting a `def`/`class`/`module`/`if`/... or ending in `do`) and
/// no empty line has closed it yet.
pub(crate) fn needs_more(cell: &str, language: Language) -> bool {
    let last = cell.lines().last().unwrap_or("");
    if unclosed(cell) || last.trim_end().ends_with('\\') {
        return true;
    }
    let block = cell.lines().any(|line| opens_block(line, language));
    block && !last.trim().is_empty()
}

/// Whether a line opens a block that continues until an empty line.
fn opens_block(line: &str, language: Language) -> bool {
    let code = strip_comment(line).trim();
    match language {
        Language::Ruby => {
            const OPENERS: [&str; 11] = [
                "def", "class", "module", "if", "unless", "while", "until", "case", "begin", "for",
                "do",
            ];
            let first = code.split_whitespace().next().unwrap_or("");
            let ends_with_do = code.ends_with(" do")
                || code == "do"
                || (code.contains(" do |") && code.ends_with('|'));
            // `def sq(n) = n * n` is a whole method.
            let endless_def = first == "def" && code.contains(" = ");
            (OPENERS.contains(&first) && !endless_def && !code.ends_with(" end")) || ends_with_do
        }
        _ => code.ends_with(':'),
    }
}

/// The line without a `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Whether a bracket, a quoted string or a triple-quoted string is still open at the end.
fn unclosed(cell: &str) -> bool {
    let mut depth = 0i64;
    let mut quote: Option<&str> = None;
    let mut rest = cell;
    while let Some(c) = rest.chars().next() {
        let step = c.len_utf8();
        match quote {
            Some(q) => {
                if c == '\\' {
                    // Skip the escaped character (one char, whatever its width).
                    let after = &rest[step..];
                    let skip = after.chars().next().map_or(0, char::len_utf8);
                    rest = &after[skip..];
                    continue;
                }
                if rest.starts_with(q) {
                    quote = None;
                    rest = &rest[q.len()..];
                    continue;
                }
                // A one-line string ends at the end of its line (an error the interpreter reports).
                if c == '\n' && q.len() == 1 {
                    quote = None;
                }
            }
            None => match c {
                '#' => {
                    let end = rest.find('\n').unwrap_or(rest.len());
                    rest = &rest[end..];
                    continue;
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                '\'' | '"' => {
                    let q = if rest.starts_with("\"\"\"") {
                        "\"\"\""
                    } else if rest.starts_with("\'\'\'") {
                        "\'\'\'"
                    } else if c == '"' {
                        "\""
                    } else {
                        "\'"
                    };
                    quote = Some(q);
                    rest = &rest[q.len()..];
                    continue;
                }
                _ => {}
            },
        }
        rest = &rest[step..];
    }
    depth > 0 || quote.is_some_and(|q| q.len() == 3)
}

#[derive(Debug, PartialEq, Eq)]
enum CellEnd {
    Ok,
    /// The cell raised, or broke a limit (the session is then poisoned until `%reset`).
    Failed,
    /// The session cannot continue (engine error, poisoned in a non-interactive run).
    Fatal,
}

/// The meta-command a cell is, if it is one (`%save FILE`, `%reset`).
fn meta_command(cell: &str) -> Option<&'static str> {
    let cell = cell.trim();
    if cell.starts_with("%save ") || cell == "%save" {
        Some("%save")
    } else if cell == "%reset" {
        Some("%reset")
    } else {
        None
    }
}

/// Runs one cell, streaming its output, then prints its value or what went wrong. A
/// meta-command is obeyed only with `meta_commands`; otherwise it is refused (a failed cell).
async fn run_cell(session: &ReplSession, cell: &str, meta_commands: bool) -> CellEnd {
    if let Some(command) = meta_command(cell)
        && !meta_commands
    {
        eprintln!(
            "soulbox: `{command}` is ignored in piped input (the cells may be untrusted code); \
             pass --meta-commands to allow it, or use --save FILE"
        );
        return CellEnd::Failed;
    }
    if let Some(path) = cell.trim().strip_prefix("%save ") {
        return if save(session, Path::new(path.trim())).await {
            CellEnd::Ok
        } else {
            CellEnd::Failed
        };
    }
    if cell.trim() == "%reset" {
        return match session.reset().await {
            Ok(()) => CellEnd::Ok,
            Err(e) => {
                eprintln!("soulbox: {e}");
                CellEnd::Fatal
            }
        };
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let print = async {
        while let Some(event) = rx.recv().await {
            match event {
                StreamOutput::Stdout(b) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&b);
                    let _ = out.flush();
                }
                StreamOutput::Stderr(b) => {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(&b);
                    let _ = err.flush();
                }
                _ => {}
            }
        }
    };
    let (result, ()) = tokio::join!(session.execute_streaming(cell, tx), print);
    match result {
        Ok(r) => {
            if let Some(value) = &r.value {
                println!("{value}");
            }
            match r.status {
                Status::Ok => CellEnd::Ok,
                Status::Error => CellEnd::Failed,
                status => {
                    let error = r.error.unwrap_or_default();
                    eprintln!(
                        "soulbox: {status}: {error}; the session is poisoned (%reset starts a fresh interpreter)"
                    );
                    CellEnd::Failed
                }
            }
        }
        Err(CellError::Poisoned(e)) => {
            eprintln!("soulbox: {e}");
            if std::io::stdin().is_terminal() {
                CellEnd::Failed
            } else {
                CellEnd::Fatal
            }
        }
        Err(CellError::Other(e)) => {
            eprintln!("soulbox: {e}");
            CellEnd::Fatal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds lines one by one as the terminal loop does; returns the cells it would run.
    fn cells(lines: &[&str], language: Language) -> Vec<String> {
        let mut out = Vec::new();
        let mut cell = String::new();
        for line in lines {
            if cell.is_empty() && line.trim().is_empty() {
                continue;
            }
            cell.push_str(line);
            cell.push('\n');
            if !needs_more(&cell, language) {
                out.push(std::mem::take(&mut cell));
            }
        }
        out
    }

    #[test]
    fn python_lines_and_blocks() {
        let py = Language::Python;
        assert!(!needs_more("x = 1\n", py));
        assert!(needs_more("def f(x):\n", py));
        assert!(needs_more("def f(x):\n    return x\n", py));
        assert!(!needs_more("def f(x):\n    return x\n\n", py));
        assert!(needs_more("for i in range(3):  # loop\n", py));
        assert!(!needs_more("x = {'a:': 1}  # not a block:\n", py));
        assert!(!needs_more("d = {'k': 1}\n", py));
        assert!(!needs_more("s = 'ends with colon:'\n", py));
        assert_eq!(
            cells(&["if x:", "    y = 1", "    z = 2", "", "print(y)"], py),
            vec!["if x:\n    y = 1\n    z = 2\n\n", "print(y)\n"]
        );
    }

    #[test]
    fn open_brackets_strings_and_backslashes_continue() {
        let py = Language::Python;
        assert!(needs_more("print(1,\n", py));
        assert!(!needs_more("print(1,\n 2)\n", py));
        assert!(needs_more("xs = [\n  1,\n", py));
        assert!(needs_more("m = {'a': [1, 2],\n", py));
        assert!(
            !needs_more("s = '(' + \"[\"\n", py),
            "brackets in strings do not count"
        );
        assert!(!needs_more("x = 1  # (unclosed in a comment\n", py));
        assert!(needs_more("doc = \"\"\"first line\n", py));
        assert!(!needs_more("doc = \"\"\"first line\nsecond (\"\"\"\n", py));
        assert!(needs_more("total = 1 + \\\n", py));
        assert!(!needs_more("total = 1 + \\\n  2\n", py));
        assert!(!needs_more("s = 'it\\'s ('\n", py), "escaped quote");
        assert!(!needs_more("print('é(')\n", py));
        // A stray closer does not make later openers look closed forever: the cell runs and
        // the interpreter reports the error.
        assert!(!needs_more(")\n", py));
        assert_eq!(
            cells(&["f(1,", "  2)", "g()"], py),
            vec!["f(1,\n  2)\n", "g()\n"]
        );
    }

    #[test]
    fn ruby_blocks() {
        let rb = Language::Ruby;
        assert!(!needs_more("x = 1\n", rb));
        assert!(needs_more("def sq(n)\n", rb));
        assert!(!needs_more("def sq(n) = n * n\n", rb), "endless method");
        assert!(!needs_more("def sq(n); n * n; end\n", rb));
        assert!(needs_more("[1, 2].each do |i|\n", rb));
        assert!(needs_more("3.times do\n", rb));
        assert!(needs_more("class Point\n  attr_reader :x\n", rb));
        assert!(!needs_more("puts 'class'\n", rb));
        assert!(
            !needs_more("h = { a: 1 }\n", rb),
            "a symbol key is not a block"
        );
        assert_eq!(
            cells(&["def sq(n)", "  n * n", "end", "", "sq(3)"], rb),
            vec!["def sq(n)\n  n * n\nend\n\n", "sq(3)\n"]
        );
    }

    #[test]
    fn meta_commands_are_recognised_whole_cells_only() {
        assert_eq!(meta_command("%save /tmp/x\n"), Some("%save"));
        assert_eq!(meta_command("  %reset \n"), Some("%reset"));
        assert_eq!(meta_command("%save"), Some("%save"));
        assert_eq!(meta_command("x = 1\n"), None);
        assert_eq!(meta_command("%saved = 1"), None);
        assert_eq!(meta_command("%resetting"), None);
    }

    #[test]
    fn separators_are_unchanged() {
        assert!(is_separator("%%"));
        assert!(is_separator(" % "));
        assert!(!is_separator("%reset"));
    }
}
