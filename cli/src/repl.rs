//! `soulbox repl`: a session (one live interpreter) fed cell by cell.
//!
//! On a terminal: a `>>> ` prompt; a line ending in `:` (or `\`) opens a block that an empty
//! line closes. Otherwise (a pipe or file): cells are separated by lines containing only `%%`.
//! Each cell's output is printed as it runs, then its final expression's value, if any. A cell
//! containing only `%reset` starts a fresh interpreter.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
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
Cells: on a terminal, one line (or a block opened by a line ending in `:`, closed by an empty line);
otherwise cells are separated by lines containing only `%%`. `%reset` starts a fresh interpreter.
Exit status: 0 when every cell ran without an error; 1 when a cell raised or the session was
poisoned by a limit (timeout, memory, fuel, trap); 125 engine failure; 2 usage error.")]
pub(crate) struct ReplArgs {
    /// Language of the session (python, javascript or ruby).
    #[arg(short = 'l', long = "lang", value_name = "LANG", default_value = "python",
          value_parser = |s: &str| s.parse::<Language>().map_err(|e| e.to_string()))]
    lang: Language,
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
}

pub(crate) async fn repl(args: ReplArgs) -> ExitCode {
    let base = SandboxConfig::default().memory_limit;
    let recommended = soulbox::runtimes::catalogue::session_default_for(&args.lang.to_string())
        .map_or(base, |r| base.max(r.recommended_memory));
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
    let session = async {
        let engine = Engine::new(EngineConfig::default().with_offline(args.offline))?;
        let sandbox = engine.sandbox(config).await?;
        sandbox.session(args.lang).await
    }
    .await;
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soulbox: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    let ok = if std::io::stdin().is_terminal() {
        interactive(&session).await
    } else {
        piped(&session).await
    };
    session.sandbox().terminate().await;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Cells separated by `%%` lines, each run as soon as it is complete. Stops at a poisoned
/// session. Returns whether every cell succeeded.
async fn piped(session: &Session) -> bool {
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
            match run_cell(session, &cell).await {
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

/// A prompt per line (blocks continue until an empty line). Returns whether every cell succeeded.
async fn interactive(session: &Session) -> bool {
    let mut all_ok = true;
    eprintln!(
        "soulbox repl: {} session ({}); %reset for a fresh interpreter, Ctrl-D to quit",
        session.language(),
        session.runtime_name()
    );
    let stdin = std::io::stdin();
    let mut cell = String::new();
    loop {
        let prompt = if cell.is_empty() { ">>> " } else { "... " };
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => {
                println!();
                return all_ok;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("soulbox: reading stdin: {e}");
                return false;
            }
        }
        let trimmed = line.trim_end();
        let opens_block = trimmed.ends_with(':') || trimmed.ends_with('\\');
        if !cell.is_empty() && !trimmed.is_empty() {
            cell.push_str(&line);
            continue;
        }
        if cell.is_empty() && opens_block {
            cell.push_str(&line);
            continue;
        }
        if cell.is_empty() {
            cell.push_str(&line);
        }
        if !cell.trim().is_empty() && run_cell(session, &cell).await != CellEnd::Ok {
            all_ok = false;
        }
        cell.clear();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum CellEnd {
    Ok,
    /// The cell raised, or broke a limit (the session is then poisoned until `%reset`).
    Failed,
    /// The session cannot continue (engine error, poisoned in a non-interactive run).
    Fatal,
}

/// Runs one cell, streaming its output, then prints its value or what went wrong.
async fn run_cell(session: &Session, cell: &str) -> CellEnd {
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
        Err(e @ soulbox::SoulBoxError::SessionPoisoned(_)) => {
            eprintln!("soulbox: {e}");
            if std::io::stdin().is_terminal() {
                CellEnd::Failed
            } else {
                CellEnd::Fatal
            }
        }
        Err(e) => {
            eprintln!("soulbox: {e}");
            CellEnd::Fatal
        }
    }
}
