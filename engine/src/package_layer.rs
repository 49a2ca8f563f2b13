//! The package state of one sandbox: its layer directory (removed with the sandbox), the
//! packages laid out in it, and a generation that live sessions compare with what they saw.
//! The install flow that fills it is `packages.rs`.

use soulbox_runtimes::packages::layer::{self, Layer};
use soulbox_runtimes::packages::{Ecosystem, PackageRef};

use crate::Result;

/// A sandbox's packages: its layer directory (removed with the sandbox) and what is in it.
#[derive(Debug, Default)]
pub(crate) struct SandboxPackages {
    dir: Option<tempfile::TempDir>,
    pub(crate) installed: Vec<PackageRef>,
    /// Bumped by every install that laid something out; sessions compare it with what they saw.
    pub(crate) generation: u64,
}

impl SandboxPackages {
    /// What a run needs to see the layer, if there is one.
    pub(crate) fn view(&self) -> Option<Layer> {
        let dir = self.dir.as_ref()?;
        Some(Layer {
            host: dir.path().to_path_buf(),
            ruby_load_paths: self
                .installed
                .iter()
                .filter(|p| p.ecosystem == Ecosystem::Gem)
                .flat_map(layer::ruby_load_paths)
                .collect(),
        })
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Makes the layer directory if there is none yet.
    pub(crate) fn ensure_dir(&mut self, home: &std::path::Path) -> Result<()> {
        if self.dir.is_none() {
            self.dir = Some(layer::create(home)?);
        }
        Ok(())
    }
}
