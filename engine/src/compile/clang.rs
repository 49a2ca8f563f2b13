//! C and C++ guests: Debian's clang-22 for wasm32-wasip1 against the pinned WASI sysroot, with
//! the engine's flags.

use std::path::Path;

use super::toolchain;
use super::{OUTPUT, Recipe, TMP};
use crate::{CompileProfile, Language};

/// Where the WASI sysroot appears inside the compile sandbox.
const SYSROOT: &str = "/toolchain/wasi-sysroot";
/// Stack of C/C++ guests (wasm-ld's default, 64 KiB, is too small for ordinary recursion).
const STACK_BYTES: u32 = 1024 * 1024;

/// Finds what compiling C or C++ needs and builds the command.
pub(super) fn recipe(
    toolchains: &Path,
    language: Language,
    source: &str,
    profile: CompileProfile,
) -> Result<Recipe, toolchain::Missing> {
    let clang = toolchain::find_clang()?;
    let sysroot = toolchain::find_sysroot(toolchains)?;
    let cpp = language == Language::Cpp;
    let mut args: Vec<String> = vec![
        format!("--target={}", toolchain::RUST_TARGETS[0]),
        format!("--sysroot={SYSROOT}"),
        "-fdiagnostics-color=never".into(),
        "-fno-color-diagnostics".into(),
        if cpp { "-std=c++20" } else { "-std=c17" }.into(),
        "-g0".into(),
        // Debian's driver looks for `wasm-ld-22` on PATH; name the linker instead.
        format!("-fuse-ld={}", clang.root.join("bin/wasm-ld").display()),
    ];
    if cpp {
        // The sysroot's libc++abi has no unwinder for wasm: exceptions cannot work.
        args.push("-fno-exceptions".into());
    }
    match profile {
        CompileProfile::Debug => args.push("-O1".into()),
        CompileProfile::Release => args.extend(["-O2".into(), "-DNDEBUG".into()]),
    }
    args.extend([
        "-s".into(),
        format!("-Wl,-z,stack-size={STACK_BYTES}"),
        "-o".into(),
        OUTPUT.into(),
        source.into(),
        "-lm".into(),
    ]);
    let driver = if cpp { "clang++" } else { "clang" };
    Ok(Recipe {
        program: clang
            .root
            .join("bin")
            .join(driver)
            .to_string_lossy()
            .into_owned(),
        args,
        read_only: vec![(sysroot, SYSROOT.to_owned())],
        env: vec![
            (
                "PATH",
                clang.root.join("bin").to_string_lossy().into_owned(),
            ),
            ("HOME", super::isolate::SCRATCH.into()),
            ("TMPDIR", TMP.into()),
        ],
        identity: format!(
            "{} sysroot {}@{}",
            clang.version,
            toolchain::SYSROOT_PACKAGE,
            toolchain::SYSROOT_VERSION
        ),
        missing_crates_hint: false,
    })
}
