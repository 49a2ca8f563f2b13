//! Progress on stderr (never stdout) while a runtime is downloaded and compiled: a bar on a
//! terminal, one line per step otherwise (so CI logs say what the time went into).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nowhere (library use that wants silence).
    Hidden,
    /// stderr: a live bar on a terminal, plain lines otherwise.
    #[default]
    Stderr,
}

/// One step being reported (a download or a compilation). Finishes when dropped.
pub struct Step {
    bar: Option<ProgressBar>,
    plain: bool,
    label: String,
}

impl Progress {
    fn live(self) -> Option<bool> {
        match self {
            Progress::Hidden => None,
            Progress::Stderr => Some(std::io::stderr().is_terminal()),
        }
    }

    /// A byte-counting step of `total` bytes.
    pub fn bytes(self, label: impl Into<String>, total: u64) -> Step {
        let label = label.into();
        match self.live() {
            None => Step::silent(label),
            Some(true) => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(label.clone());
                Step {
                    bar: Some(bar),
                    plain: false,
                    label,
                }
            }
            Some(false) => {
                eprintln!("soulbox: {label} ({:.1} MB)...", total as f64 / 1e6);
                Step {
                    bar: None,
                    plain: true,
                    label,
                }
            }
        }
    }

    /// A step of unknown length (a spinner on a terminal).
    pub fn spinner(self, label: impl Into<String>) -> Step {
        let label = label.into();
        match self.live() {
            None => Step::silent(label),
            Some(true) => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(label.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                Step {
                    bar: Some(bar),
                    plain: false,
                    label,
                }
            }
            Some(false) => {
                eprintln!("soulbox: {label}...");
                Step {
                    bar: None,
                    plain: true,
                    label,
                }
            }
        }
    }
}

impl Step {
    fn silent(label: String) -> Self {
        Step {
            bar: None,
            plain: false,
            label,
        }
    }

    /// Sets the position of a byte-counting step.
    pub fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// Ends the step, saying `outcome` (e.g. "done").
    pub fn finish(mut self, outcome: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!("soulbox: {}: {outcome}", self.label);
        } else if self.plain {
            eprintln!("soulbox: {}: {outcome}", self.label);
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
