//! Rust guests: `rustc` from the pinned toolchain, for wasm32-wasip1, with the engine's flags and
//! the prebuilt guest crates offered through `--extern`.

use std::path::Path;

use super::toolchain::{self, CrateSet, RustToolchain};
use super::{OUTPUT, Recipe, TMP};
use crate::CompileProfile;

/// Where the toolchain and the crate set appear inside the compile sandbox.
const TOOLCHAIN: &str = "/toolchain/rust";
const CRATES: &str = "/toolchain/crates";

/// Finds what compiling Rust needs. The crate set is optional: without it, programs that use
/// only `std` still compile, and a failing build says how to install the crates.
pub(super) fn recipe(
    toolchains: &Path,
    source: &str,
    profile: CompileProfile,
) -> Result<Recipe, toolchain::Missing> {
    let rust = toolchain::find_rust()?;
    let crates = toolchain::find_crate_set(toolchains, &rust).ok();
    Ok(build(&rust, crates.as_ref(), source, profile))
}

fn build(
    rust: &RustToolchain,
    crates: Option<&CrateSet>,
    source: &str,
    profile: CompileProfile,
) -> Recipe {
    let mut args: Vec<String> = [
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "main",
        "--target",
        toolchain::RUST_TARGETS[0],
        "--sysroot",
        TOOLCHAIN,
        "--color",
        "never",
        "--error-format",
        "human",
        "-C",
        "debuginfo=0",
        "-C",
        "strip=debuginfo",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let optimisation: &[&str] = match profile {
        CompileProfile::Debug => &[
            "-C",
            "opt-level=1",
            "-C",
            "debug-assertions=on",
            "-C",
            "overflow-checks=on",
        ],
        CompileProfile::Release => &[
            "-C",
            "opt-level=3",
            "-C",
            "debug-assertions=off",
            "-C",
            "overflow-checks=off",
        ],
    };
    args.extend(optimisation.iter().map(|s| (*s).to_owned()));
    let mut read_only = vec![(rust.root.clone(), TOOLCHAIN.to_owned())];
    let mut identity = format!("rustc {}", rust.version);
    if let Some(set) = crates {
        args.push("-L".into());
        args.push(format!("dependency={CRATES}"));
        for (name, file) in &set.externs {
            args.push("--extern".into());
            args.push(format!("{name}={CRATES}/{file}"));
        }
        read_only.push((set.lib.clone(), CRATES.to_owned()));
        identity.push_str(&format!(" crates {}", set.id));
    }
    args.push("-o".into());
    args.push(OUTPUT.into());
    args.push(source.into());
    Recipe {
        program: format!("{TOOLCHAIN}/bin/rustc"),
        args,
        read_only,
        env: vec![
            ("PATH", format!("{TOOLCHAIN}/bin")),
            ("HOME", super::isolate::SCRATCH.into()),
            ("TMPDIR", TMP.into()),
            // rustc finds librustc_driver through $ORIGIN, which needs /proc; there is none.
            ("LD_LIBRARY_PATH", format!("{TOOLCHAIN}/lib")),
        ],
        identity,
        missing_crates_hint: crates.is_none(),
    }
}
