//! Landlock, where the kernel has it: a second, inode-based wall behind the mount namespace. The
//! guest may read and execute the system directories, read and write only its workspace, `/tmp`
//! and a few devices; with ABI 4 it may not bind or connect TCP sockets (unless the network is on),
//! and with ABI 6 it may not signal processes or reach abstract unix sockets outside its domain.
//!
//! The rules are built on the host ([`LandlockPlan::new`]) and applied in the child
//! ([`LandlockPlan::apply`]) through [`Os`], after `pivot_root`, so they name paths of the guest's
//! view.

use std::ffi::CString;

use super::os::{Os, RulesetAttr, SysResult};

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// Rights that apply to a file (not a directory); a rule on a file may grant only these.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

/// What a path in the guest's view may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read and execute (system directories, the program).
    ReadExecute,
    /// Read only (`/proc`, `/etc`).
    Read,
    /// Everything but creating devices (workspace, `/tmp`).
    ReadWrite,
    /// A device file used for reading and writing (`/dev/null`, ...).
    Device,
}

impl Access {
    fn rights(self) -> u64 {
        match self {
            Access::ReadExecute => EXECUTE | READ_FILE | READ_DIR,
            Access::Read => READ_FILE | READ_DIR,
            Access::ReadWrite => {
                EXECUTE
                    | WRITE_FILE
                    | READ_FILE
                    | READ_DIR
                    | REMOVE_DIR
                    | REMOVE_FILE
                    | MAKE_DIR
                    | MAKE_REG
                    | MAKE_SOCK
                    | MAKE_FIFO
                    | MAKE_SYM
                    | REFER
                    | TRUNCATE
            }
            Access::Device => READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV,
        }
    }
}

/// The filesystem rights a kernel with this Landlock ABI version knows.
fn handled_fs(abi: u32) -> u64 {
    let mut rights = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        rights |= REFER;
    }
    if abi >= 3 {
        rights |= TRUNCATE;
    }
    if abi >= 5 {
        rights |= IOCTL_DEV;
    }
    rights
}

/// The Landlock ABI version of the running kernel, if Landlock is enabled.
pub(crate) fn abi_version() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns a number.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|v| *v > 0)
}

/// A ruleset ready to apply in the child.
#[derive(Debug)]
pub(crate) struct LandlockPlan {
    attr: RulesetAttr,
    rules: Vec<(CString, u64)>,
}

/// One path of the guest's view and what it may be used for.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub path: CString,
    pub access: Access,
    pub is_dir: bool,
}

impl LandlockPlan {
    /// Rules for `abi`: everything not granted by `rules` is denied, TCP bind/connect too unless
    /// `network` is on.
    pub(crate) fn new(abi: u32, rules: Vec<Rule>, network: bool) -> Self {
        let handled = handled_fs(abi);
        let attr = RulesetAttr {
            handled_access_fs: handled,
            handled_access_net: if abi >= 4 && !network {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if abi >= 6 {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            },
        };
        let rules = rules
            .into_iter()
            .map(|rule| {
                let mut rights = rule.access.rights() & handled;
                if !rule.is_dir {
                    rights &= FILE_RIGHTS;
                }
                (rule.path, rights)
            })
            .collect();
        Self { attr, rules }
    }

    /// Creates the ruleset, adds every rule and restricts the calling process. Runs in the child.
    pub(crate) fn apply(&self, os: &dyn Os) -> Result<(), (usize, super::os::Errno)> {
        let ruleset = os.landlock_create_ruleset(&self.attr).map_err(|e| (0, e))?;
        for (index, (path, rights)) in self.rules.iter().enumerate() {
            os.landlock_allow(ruleset, path, *rights)
                .map_err(|e| (index + 1, e))?;
        }
        let restricted: SysResult = os.landlock_restrict_self(ruleset);
        restricted.map_err(|e| (self.rules.len() + 1, e))
    }

    /// What step `index` of [`apply`](Self::apply) was doing, for error messages.
    pub(crate) fn describe(&self, index: usize) -> String {
        match index {
            0 => "creating the Landlock ruleset".into(),
            i if i <= self.rules.len() => format!(
                "adding a Landlock rule for {}",
                self.rules[i - 1].0.to_string_lossy()
            ),
            _ => "restricting the guest with Landlock".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::os::recorder::Recorder;

    fn rule(path: &str, access: Access, is_dir: bool) -> Rule {
        Rule {
            path: CString::new(path).unwrap(),
            access,
            is_dir,
        }
    }

    #[test]
    fn rights_never_exceed_what_the_abi_handles() {
        let plan = LandlockPlan::new(1, vec![rule("/work", Access::ReadWrite, true)], false);
        assert_eq!(
            plan.attr.handled_access_fs & (REFER | TRUNCATE | IOCTL_DEV),
            0
        );
        assert_eq!(plan.attr.handled_access_net, 0);
        assert_eq!(plan.rules[0].1 & !plan.attr.handled_access_fs, 0);
    }

    #[test]
    fn files_get_file_rights_only_and_network_is_denied_from_abi_4() {
        let plan = LandlockPlan::new(
            7,
            vec![
                rule("/dev/null", Access::Device, false),
                rule("/usr", Access::ReadExecute, true),
            ],
            false,
        );
        assert_eq!(plan.rules[0].1 & !FILE_RIGHTS, 0);
        assert_ne!(plan.rules[0].1 & TRUNCATE, 0, "`> /dev/null` truncates");
        assert_eq!(plan.rules[1].1 & WRITE_FILE, 0, "system dirs are read-only");
        assert_eq!(plan.attr.handled_access_net, NET_BIND_TCP | NET_CONNECT_TCP);
        assert_eq!(plan.attr.scoped, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL);
        let open = LandlockPlan::new(7, Vec::new(), true);
        assert_eq!(open.attr.handled_access_net, 0);
    }

    #[test]
    fn apply_adds_every_rule_then_restricts() {
        let plan = LandlockPlan::new(
            3,
            vec![
                rule("/usr", Access::ReadExecute, true),
                rule("/work", Access::ReadWrite, true),
            ],
            false,
        );
        let os = Recorder::default();
        assert!(plan.apply(&os).is_ok());
        let lines = os.lines();
        assert!(lines[0].starts_with("landlock_create_ruleset"));
        assert!(lines[1].starts_with("landlock_allow 99 /usr"));
        assert!(lines[2].starts_with("landlock_allow 99 /work"));
        assert_eq!(lines[3], "landlock_restrict_self 99");
    }

    #[test]
    fn a_failed_rule_names_its_path() {
        let plan = LandlockPlan::new(3, vec![rule("/work", Access::ReadWrite, true)], false);
        let os = Recorder {
            fail_on: Some("landlock_allow"),
            ..Recorder::default()
        };
        let (index, _) = plan.apply(&os).unwrap_err();
        assert!(plan.describe(index).contains("/work"));
    }
}
