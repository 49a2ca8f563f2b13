//! Package install: `requests` and its dependencies, cold (empty cache: pip resolves, downloads,
//! SoulBox checks and unpacks) and cached (the same request again, plus laying the packages out
//! in a fresh sandbox layer), beside `pip install requests` into a fresh venv, in the same run.
//! Medians of ROUNDS rounds. `cargo bench -p soulbox --bench packages` (needs pip and network).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::process::Command;
use std::time::{Duration, Instant};

use soulbox::runtimes::Progress;
use soulbox::runtimes::packages::{Ecosystem, Installer, Target, layer};

const ROUNDS: usize = 5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    // Both sides fetch from the registry every time (no pip HTTP cache).
    // SAFETY: set before any thread is started; nothing reads the environment concurrently.
    unsafe { std::env::set_var("PIP_NO_CACHE_DIR", "1") };
    let home = soulbox::default_home().expect("home");
    let python = soulbox::runtimes::catalogue::default_for("python").expect("python");
    let installed = soulbox::runtimes::install::ensure(&home, python, false, Progress::Hidden)
        .expect("the python runtime");
    let target = Target::python(python.name, python.version, &installed.dir).expect("target");
    assert_eq!(target.ecosystem, Ecosystem::Python);
    let specs = vec!["requests".to_owned()];
    let (mut cold, mut cached, mut pip) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let scratch = tempfile::tempdir().unwrap();
        let bench_home = scratch.path().join("home");
        let installer = Installer::new(&bench_home).progress(Progress::Hidden);
        let started = Instant::now();
        installer.install(&target, &specs).expect("cold install");
        cold.push(started.elapsed());

        let started = Instant::now();
        let again = installer.install(&target, &specs).expect("cached install");
        let dir = layer::create(&bench_home).unwrap();
        for package in &again.packages {
            layer::lay_out(dir.path(), package).unwrap();
        }
        cached.push(started.elapsed());
        assert!(again.from_cache);

        let venv = scratch.path().join("venv");
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        let status = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "-q",
                "requests",
            ])
            .status()
            .unwrap();
        pip.push(started.elapsed());
        assert!(status.success());
        eprintln!(
            "round {round}: cold {} cached {} pip {}",
            ms(cold[round]),
            ms(cached[round]),
            ms(pip[round])
        );
    }
    let (cold, cached, pip) = (median(cold), median(cached), median(pip));
    println!("| what | median of {ROUNDS} |");
    println!("|---|---|");
    println!(
        "| soulbox cold install (resolve, download, verify, unpack) | {} |",
        ms(cold)
    );
    println!(
        "| soulbox cached install (+ lay out in a new sandbox layer) | {} |",
        ms(cached)
    );
    println!(
        "| `pip install --no-cache-dir requests` into a fresh venv | {} |",
        ms(pip)
    );
    println!(
        "ratios: cold / pip = {:.2}, cached / pip = {:.4}",
        cold.as_secs_f64() / pip.as_secs_f64(),
        cached.as_secs_f64() / pip.as_secs_f64()
    );
}
