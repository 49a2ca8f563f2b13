//! Runtimes the engine builds itself (a catalogue entry with a [`Build`]): the C sources of a
//! pinned crate plus a glue file of this repository, compiled by the same isolated clang as
//! user C code into a wasm32-wasi reactor, then installed like any runtime with the module's
//! sha256 recorded.
//!
//! Steps: sources ([`install::ensure_sources`]: `cargo fetch`, archive sha256, only the listed
//! files) -> one clang run under bubblewrap with the build's fixed flags (sources read-only at
//! `/src`, the glue and output in the scratch directory, the WASI sysroot read-only) ->
//! [`install::install_built`]. The inputs are fixed paths inside the sandbox, `-g0` and `-s`, so
//! the same inputs give the same bytes.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use soulbox_runtimes::catalogue::Build;
use soulbox_runtimes::{Installed, Progress, Runtime, RuntimeError, install};

use super::isolate::{self, Ending, Isolated};
use super::toolchain;
use crate::{Result, SoulBoxError};

/// Where the WASI sysroot appears inside the build sandbox.
const SYSROOT: &str = "/toolchain/wasi-sysroot";
/// Where the extracted sources appear inside the build sandbox (read-only).
const SOURCES: &str = "/src";
/// The module the compiler writes, inside the scratch directory.
const OUTPUT: &str = "/work/runtime.wasm";
/// Its name in the scratch directory.
const OUTPUT_NAME: &str = "runtime.wasm";
/// A build compiles a large interpreter at -O2 (about 15 s on an idle core): generous, since
/// the machine may be busy.
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// Address-space limit of the compiler.
const BUILD_MEMORY: u64 = 4096 * 1024 * 1024;

/// The compiler's arguments for `build` (fixed; part of the recorded inputs).
fn arguments(build: &Build, clang_root: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        format!("--target={}", toolchain::RUST_TARGETS[0]),
        format!("--sysroot={SYSROOT}"),
        "-fdiagnostics-color=never".into(),
        "-g0".into(),
        "-s".into(),
        "-w".into(),
        format!("-I{SOURCES}"),
        format!("-fuse-ld={}", clang_root.join("bin/wasm-ld").display()),
    ];
    args.extend(build.flags.iter().map(|f| (*f).to_owned()));
    args.extend(["-o".into(), OUTPUT.into()]);
    args.push(format!("{}/{}", isolate::SCRATCH, build.glue_name));
    args.extend(build.units.iter().map(|u| format!("{SOURCES}/{u}")));
    args.extend(build.libs.iter().map(|l| format!("-l{l}")));
    args
}

/// The runtime built and installed (or already there). Progress on stderr unless hidden; with
/// `offline` the sources must already be on disk.
pub(crate) async fn ensure_built(
    home: &Path,
    toolchains: &Path,
    runtime: &'static Runtime,
    offline: bool,
    progress: Progress,
) -> Result<Installed> {
    let Some(build) = runtime.build else {
        return Err(SoulBoxError::Engine(format!(
            "runtime {} is not built from sources",
            runtime.name
        )));
    };
    if let Some(installed) = install::installed(home, runtime) {
        return Ok(installed);
    }
    let sources = {
        let home = home.to_path_buf();
        tokio::task::spawn_blocking(move || {
            install::ensure_sources(&home, runtime, offline, progress)
        })
        .await
        .map_err(|e| SoulBoxError::Engine(format!("fetching sources failed: {e}")))??
    };
    let clang = toolchain::find_clang()?;
    let sysroot = toolchain::find_sysroot(toolchains)?;
    let bwrap = toolchain::find_bwrap()?;
    let scratch = tempfile::Builder::new()
        .prefix("soulbox-runtime-build-")
        .tempdir()
        .map_err(|e| SoulBoxError::io("creating the runtime build directory", e))?;
    super::write_input(scratch.path(), build.glue_name, build.glue.as_bytes())
        .map_err(|e| SoulBoxError::io("writing the runtime's glue source", e))?;
    for (name, text) in build.embedded {
        super::write_input(scratch.path(), name, text.as_bytes())
            .map_err(|e| SoulBoxError::io("writing a file the runtime's glue embeds", e))?;
    }
    let args = arguments(build, &clang.root);
    let program = clang.root.join("bin/clang").to_string_lossy().into_owned();
    let step = progress.spinner(format!(
        "{} {}: compiling {} {} with clang for wasm32-wasi (first use only)",
        runtime.name, runtime.version, runtime.package.name, runtime.package.version
    ));
    let finished = isolate::run(Isolated {
        bwrap: &bwrap,
        program: program.clone(),
        args: args.clone(),
        read_only: vec![(sysroot, SYSROOT.to_owned()), (sources, SOURCES.to_owned())],
        scratch: scratch.path(),
        env: vec![
            (
                "PATH",
                clang.root.join("bin").to_string_lossy().into_owned(),
            ),
            ("HOME", isolate::SCRATCH.into()),
            ("TMPDIR", isolate::SCRATCH.into()),
        ],
        timeout: BUILD_TIMEOUT,
        memory_limit: BUILD_MEMORY,
    })
    .await?;
    let failed = |why: String| {
        let output = String::from_utf8_lossy(&finished.output);
        let tail: Vec<&str> = output.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        SoulBoxError::from(RuntimeError::Driver {
            runtime: runtime.name,
            detail: format!(
                "building it from {} {} failed: {why}; the compiler said:\n{}",
                runtime.package.name,
                runtime.package.version,
                tail.join("\n")
            ),
        })
    };
    match finished.ending {
        Ending::Exited(0) => {}
        Ending::Exited(code) => return Err(failed(format!("clang exited with {code}"))),
        Ending::Signaled(signal) => {
            return Err(failed(format!("clang was killed by signal {signal}")));
        }
        Ending::TimedOut => return Err(failed(format!("it took longer than {BUILD_TIMEOUT:?}"))),
    }
    let wasm = super::read_output(scratch.path(), OUTPUT_NAME)
        .map_err(|e| SoulBoxError::io("reading the built runtime", e))?;
    step.finish("built");
    let embedded: String = build
        .embedded
        .iter()
        .map(|(name, text)| format!("; {name} sha256 {}", hex::encode(Sha256::digest(text))))
        .collect();
    let inputs = format!(
        "{}=={} archive sha256 {}; glue {} sha256 {}{embedded}; {}; sysroot {}@{}; {} {}",
        runtime.package.name,
        runtime.package.version,
        build.archive_sha256,
        build.glue_name,
        hex::encode(Sha256::digest(build.glue.as_bytes())),
        clang.version,
        toolchain::SYSROOT_PACKAGE,
        toolchain::SYSROOT_VERSION,
        program,
        args.join(" ")
    );
    let home = home.to_path_buf();
    tokio::task::spawn_blocking(move || install::install_built(&home, runtime, &wasm, &inputs))
        .await
        .map_err(|e| SoulBoxError::Engine(format!("installing the built runtime failed: {e}")))?
        .map_err(SoulBoxError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_arguments_are_fixed_paths_and_flags() {
        let Some(build) =
            soulbox_runtimes::catalogue::find("quickjs-session").and_then(|r| r.build)
        else {
            panic!("quickjs-session is built from sources");
        };
        let args = arguments(build, Path::new("/usr/lib/llvm-22"));
        for flag in ["-mexec-model=reactor", "-O2", "-g0", "-s", "-o", OUTPUT] {
            assert!(args.iter().any(|a| a == flag), "{flag}: {args:?}");
        }
        assert!(args.contains(&"/work/session.c".to_owned()), "{args:?}");
        assert!(args.contains(&"/src/libregexp.c".to_owned()), "{args:?}");
        // Nothing host-specific (home, temporary directories) reaches the compiler.
        assert!(
            args.iter()
                .all(|a| !a.contains("/tmp") && !a.contains("/root")),
            "{args:?}"
        );
    }
}
