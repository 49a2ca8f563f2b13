//! Packages in a sandbox: `Sandbox::install_package` (every door's one flow). The host
//! resolves, fetches, checks and unpacks with the registries' own clients into the
//! machine-wide cache (`soulbox_runtimes::packages`), then links the packages into this
//! sandbox's own layer, which its guests see read-only on their interpreter's search path:
//! one-shot runs from their next execution, live sessions from their next cell.

use std::sync::Arc;

use soulbox_runtimes::RuntimeError;
use soulbox_runtimes::packages::layer;
use soulbox_runtimes::packages::{self as store, CachedPackage, PackageError, Target};
pub use soulbox_runtimes::packages::{Ecosystem, PackageRef};

use crate::runtime;
use crate::stop::RunSignals;
use crate::{Language, Result, Sandbox, SoulBoxError};

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Packages laid out in the sandbox by this call (the request's and their dependencies).
    pub installed: Vec<PackageRef>,
    /// Packages the request needed that the sandbox had already.
    pub already: Vec<PackageRef>,
    /// Requested distributions the runtime ships (name, version): nothing to do for them.
    pub shipped: Vec<(String, String)>,
    /// Whether everything came from the machine-wide cache (no registry client ran).
    pub from_cache: bool,
}

impl InstallReport {
    /// One line for people: what was installed, what was there already.
    pub fn summary(&self) -> String {
        let names = |list: &[PackageRef]| {
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.installed.is_empty() {
            parts.push(format!(
                "installed {}{}",
                names(&self.installed),
                if self.from_cache {
                    " (from the cache)"
                } else {
                    ""
                }
            ));
        }
        if !self.already.is_empty() {
            parts.push(format!("already installed: {}", names(&self.already)));
        }
        for (name, version) in &self.shipped {
            parts.push(format!(
                "{name} {version} ships with the runtime (nothing to install)"
            ));
        }
        if parts.is_empty() {
            return "nothing to install".into();
        }
        parts.join("; ")
    }
}

/// How [`Sandbox::install_packages_with`] installs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Install from the machine-wide cache only; a package that is not there is an error
    /// listing what is missing (no registry client runs). The engine's own offline setting
    /// applies as well.
    pub offline: bool,
    /// Ruby gems are named by their path in the sandbox's workspace, not on the host (for
    /// callers that may not name host files: remote doors, session cells).
    pub gems_from_workspace: bool,
}

/// The package world of `language`.
pub fn ecosystem_for(language: Language) -> Result<Ecosystem> {
    match language {
        Language::Python => Ok(Ecosystem::Python),
        Language::JavaScript => Ok(Ecosystem::Npm),
        Language::Ruby => Ok(Ecosystem::Gem),
        other => Err(SoulBoxError::InvalidRequest(format!(
            "packages can be installed for Python, JavaScript and Ruby, not {other}"
        ))),
    }
}

/// Reads a session cell that is an install magic: `%pip install SPEC...` (Python), `%npm
/// install SPEC...` (JavaScript), `%gem install FILE.gem...` (Ruby), alone in the cell
/// (surrounding blank lines allowed). `-q`/`--quiet`/`-U`/`--upgrade` are accepted and
/// ignored; other options are not passed on (the spec check refuses them).
pub(crate) fn install_magic(code: &[u8]) -> Option<(Language, Vec<String>)> {
    let text = std::str::from_utf8(code).ok()?.trim();
    if text.contains('\n') {
        return None;
    }
    let mut words = text.split_whitespace();
    let language = match words.next()? {
        "%pip" | "!pip" => Language::Python,
        "%npm" | "!npm" => Language::JavaScript,
        "%gem" | "!gem" => Language::Ruby,
        _ => return None,
    };
    if words.next()? != "install" {
        return None;
    }
    let specs: Vec<String> = words
        .filter(|w| !matches!(*w, "-q" | "--quiet" | "-U" | "--upgrade"))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_owned())
        .collect();
    (!specs.is_empty()).then_some((language, specs))
}

fn language_for(ecosystem: Ecosystem) -> Language {
    match ecosystem {
        Ecosystem::Python => Language::Python,
        Ecosystem::Npm => Language::JavaScript,
        Ecosystem::Gem => Language::Ruby,
    }
}

impl Sandbox {
    /// Installs one package for `language`'s guests in this sandbox: a requirement specifier
    /// for Python (`requests`, `attrs>=23`, `rich==13.7.1`), an npm spec for JavaScript
    /// (`lodash`, `ms@2.1.3`), the path of a local `.gem` file for Ruby. Dependencies come
    /// along. See [`install_packages`](Self::install_packages).
    pub async fn install_package(&self, language: Language, spec: &str) -> Result<InstallReport> {
        self.install_packages(language, &[spec.to_owned()]).await
    }

    /// Installs `specs` (resolved together) for `language`'s guests in this sandbox.
    ///
    /// Nothing of a package runs on the host: wheels only for Python (pure-Python or tagged
    /// for WASI; what the runtime ships counts as installed), npm packages without native
    /// addons or install scripts, gems without native extensions. Each archive is checked
    /// against the registry's digest and unpacked hostile-archive safe into the machine-wide
    /// cache (a second install of the same thing runs no client). The packages then appear
    /// read-only on the interpreter's search path of this sandbox's later runs and of its
    /// sessions' later cells. A refused package is an `Err` whose message names it and why.
    pub async fn install_packages(
        &self,
        language: Language,
        specs: &[String],
    ) -> Result<InstallReport> {
        self.install_packages_with(language, specs, InstallOptions::default())
            .await
    }

    /// [`install_packages`](Self::install_packages) for callers that may not name host files
    /// (remote doors, session cells): a Ruby gem is named by its path in this sandbox's
    /// workspace and read from there (through the workspace's guarded file access); Python
    /// and npm specs are the same as for `install_packages`.
    pub async fn install_workspace_packages(
        &self,
        language: Language,
        specs: &[String],
    ) -> Result<InstallReport> {
        let options = InstallOptions {
            gems_from_workspace: true,
            ..InstallOptions::default()
        };
        self.install_packages_with(language, specs, options).await
    }

    /// [`install_packages`](Self::install_packages) with [`InstallOptions`]: offline for this
    /// call (the cache only, even when the engine may fetch), gems read from the workspace.
    pub async fn install_packages_with(
        &self,
        language: Language,
        specs: &[String],
        options: InstallOptions,
    ) -> Result<InstallReport> {
        let ecosystem = ecosystem_for(language)?;
        self.check_running("install packages")?;
        let installer = self.engine().runtimes().package_installer();
        let installer = if options.offline {
            installer.offline(true)
        } else {
            installer
        };
        let installed = if ecosystem == Ecosystem::Gem && options.gems_from_workspace {
            let mut gems = Vec::new();
            for spec in specs {
                gems.push((spec.clone(), self.read_file(spec).await?));
            }
            blocking(move || installer.install_gems(gems).map_err(SoulBoxError::from)).await?
        } else {
            let target = self.package_target(language, ecosystem).await?;
            let specs = specs.to_vec();
            blocking(move || {
                installer
                    .install(&target, &specs)
                    .map_err(SoulBoxError::from)
            })
            .await?
        };
        let mut report = self.lay_out(installed.packages).await?;
        report.shipped = installed.shipped;
        report.from_cache = installed.from_cache;
        Ok(report)
    }

    /// Installs exactly the packages of a lock list (for example an earlier sandbox's
    /// [`installed_packages`](Self::installed_packages)): the recorded versions, each archive
    /// checked against the recorded digest, no dependency resolution. Served from the cache when
    /// the packages are there (offline too).
    pub async fn install_lock(&self, lock: &[PackageRef]) -> Result<InstallReport> {
        self.check_running("install packages")?;
        let mut report = InstallReport {
            from_cache: true,
            ..InstallReport::default()
        };
        for ecosystem in [Ecosystem::Python, Ecosystem::Npm, Ecosystem::Gem] {
            let entries: Vec<PackageRef> = lock
                .iter()
                .filter(|p| p.ecosystem == ecosystem)
                .cloned()
                .collect();
            if entries.is_empty() {
                continue;
            }
            let target = self
                .package_target(language_for(ecosystem), ecosystem)
                .await?;
            let installer = self.engine().runtimes().package_installer();
            let installed = blocking(move || {
                installer
                    .install_locked(&target, &entries)
                    .map_err(SoulBoxError::from)
            })
            .await?;
            let laid = self.lay_out(installed.packages).await?;
            report.from_cache &= installed.from_cache;
            report.installed.extend(laid.installed);
            report.already.extend(laid.already);
        }
        Ok(report)
    }

    /// The packages installed in this sandbox, in install order: a lock list for
    /// [`install_lock`](Self::install_lock).
    pub fn installed_packages(&self) -> Vec<PackageRef> {
        self.packages().installed.clone()
    }

    /// What the runtime serving `language` in this sandbox looks like to an installer.
    async fn package_target(&self, language: Language, ecosystem: Ecosystem) -> Result<Target> {
        if ecosystem == Ecosystem::Gem {
            return Ok(Target::plain(ecosystem, "ruby", "3.4"));
        }
        let selected = runtime::select_for_session(self.config(), language)?.ok_or_else(|| {
            SoulBoxError::InvalidRequest(format!("{language} is not run by an interpreter"))
        })?;
        if ecosystem == Ecosystem::Npm {
            return Ok(Target::plain(ecosystem, selected.name, selected.version));
        }
        let installed = self.engine().runtimes().installed(selected).await?;
        let dir = installed.dir.clone();
        blocking(move || {
            Target::python(selected.name, selected.version, &dir).map_err(SoulBoxError::from)
        })
        .await
    }

    /// Links cached packages into this sandbox's layer, under the sandbox's execution turn (so
    /// no run sees half a package). A package already there at the same version is kept; at
    /// another version it is refused (a sandbox holds one version of each package).
    async fn lay_out(&self, packages: Vec<CachedPackage>) -> Result<InstallReport> {
        let signals = Arc::new(RunSignals::default());
        let _turn = self.begin("install packages", signals).await?;
        let mut report = InstallReport::default();
        let mut fresh = Vec::new();
        {
            let mut state = self.packages();
            state.ensure_dir(self.engine().home())?;
            for package in packages {
                let present = state.installed.iter().find(|p| {
                    p.ecosystem == package.package.ecosystem
                        && p.name == package.package.name
                        && p.place == package.package.place
                });
                match present {
                    Some(p) if p.digest == package.package.digest => {
                        report.already.push(p.clone());
                    }
                    Some(p) => {
                        return Err(RuntimeError::from(PackageError::Layer {
                            package: package.package.to_string(),
                            detail: format!(
                                "{p} is installed in this sandbox already; a sandbox holds one version of a package (use a new sandbox)"
                            ),
                        })
                        .into());
                    }
                    None => fresh.push(package),
                }
            }
        }
        let Some(host) = self.packages().view().map(|v| v.host) else {
            return Err(SoulBoxError::Engine("the package layer vanished".into()));
        };
        let laying = fresh.clone();
        blocking(move || {
            for package in &laying {
                layer::lay_out(&host, package)?;
            }
            Ok(())
        })
        .await?;
        let mut state = self.packages();
        for package in fresh {
            report.installed.push(package.package.clone());
            state.installed.push(package.package);
        }
        if !report.installed.is_empty() {
            state.generation += 1;
        }
        Ok(report)
    }
}

/// Lists the packages in the machine-wide cache under `home`.
pub fn cached_packages(home: &std::path::Path) -> Result<Vec<PackageRef>> {
    store::list(home).map_err(SoulBoxError::from)
}

/// Empties the machine-wide package cache under `home`; returns how many packages it held.
/// Sandboxes keep what they already laid out.
pub fn clear_package_cache(home: &std::path::Path) -> Result<usize> {
    store::clear(home).map_err(SoulBoxError::from)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SoulBoxError::Engine(format!("package task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_magics_are_recognised_alone_in_a_cell() {
        assert_eq!(
            install_magic(b"%pip install -q requests 'attrs>=23'\n"),
            Some((
                Language::Python,
                vec!["requests".to_owned(), "attrs>=23".to_owned()]
            ))
        );
        assert_eq!(
            install_magic(b"  %npm install ms@2.1.3  "),
            Some((Language::JavaScript, vec!["ms@2.1.3".to_owned()]))
        );
        assert_eq!(
            install_magic(b"%gem install /tmp/tiny-1.0.0.gem"),
            Some((Language::Ruby, vec!["/tmp/tiny-1.0.0.gem".to_owned()]))
        );
        assert_eq!(install_magic(b"%pip install"), None);
        assert_eq!(install_magic(b"%pip list"), None);
        assert_eq!(install_magic(b"%pip install x\nprint(1)"), None);
        assert_eq!(install_magic(b"print('%pip install x')"), None);
    }
}
