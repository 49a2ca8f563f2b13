//! Rust guests: `rustc` from the pinned toolchain, for wasm32-wasip1 (a command module) or, for
//! components, wasm32-wasip2 (rustc links a WASI preview 2 command component with the
//! toolchain's `wasm-component-ld`), with the engine's flags and the prebuilt guest crates of
//! that target offered through `--extern`.

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
    component: bool,
) -> Result<Recipe, toolchain::Missing> {
    let rust = toolchain::find_rust()?;
    let target = if component {
        toolchain::check_rust_target(&rust, toolchain::COMPONENT_TARGET)?;
        toolchain::COMPONENT_TARGET
    } else {
        toolchain::RUST_TARGETS[0]
    };
    let crates = toolchain::find_crate_set(toolchains, &rust, target).ok();
    Ok(build(&rust, crates.as_ref(), source, profile, target))
}

/// Whether `source` uses the component bindings (`soulbox_guest`, or `wit_bindgen` for a WIT of
/// its own): such a program can only be a component, so it is compiled as one without being
/// asked. The rule is a path use of either crate name (`soulbox_guest::`, `use soulbox_guest`,
/// `extern crate wit_bindgen`) as a whole identifier; a mention in a comment or string also
/// counts, which at worst builds a component that runs like a module would.
pub(super) fn uses_bindings(source: &[u8]) -> bool {
    const CRATES: [&[u8]; 2] = [b"soulbox_guest", b"wit_bindgen"];
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    CRATES.iter().any(|name| {
        source
            .windows(name.len())
            .enumerate()
            .filter(|(_, w)| w == name)
            .any(|(at, _)| {
                let before = at.checked_sub(1).map(|i| source[i]);
                let after = source.get(at + name.len()).copied();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
    })
}

fn build(
    rust: &RustToolchain,
    crates: Option<&CrateSet>,
    source: &str,
    profile: CompileProfile,
    target: &str,
) -> Recipe {
    let mut args: Vec<String> = [
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "main",
        "--target",
        target,
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

#[cfg(test)]
mod tests {
    use super::uses_bindings;

    #[test]
    fn sources_using_the_bindings_are_components() {
        for yes in [
            "use soulbox_guest::executor::Sandbox;\nfn main() {}",
            "fn main() { let _ = soulbox_guest::tools::list(); }",
            "wit_bindgen::generate!({ inline: \"\" });",
            "extern crate wit_bindgen;",
            "use {soulbox_guest as g};",
        ] {
            assert!(uses_bindings(yes.as_bytes()), "{yes}");
        }
        for no in [
            "fn main() { println!(\"hi\"); }",
            "let my_soulbox_guest = 1; let wit_bindgen_x = 2;",
            "mod soulbox_guests {}",
            "",
        ] {
            assert!(!uses_bindings(no.as_bytes()), "{no}");
        }
    }
}
