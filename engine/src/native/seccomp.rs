//! The seccomp-bpf filters installed last before `execve`. Filters stack, and for every system
//! call the kernel applies the most severe verdict of all of them, so each filter does one job:
//!
//! 1. **guard** (hand-written, fourteen instructions): a call from any other ABI than the native
//!    one kills the process - the 32-bit `int 0x80` entry and x32 numbers on x86-64, AArch32 on
//!    arm64; `clone3` fails with `ENOSYS`: its flags sit in memory seccomp cannot read, and libc
//!    falls back to `clone`, whose flags the deny filter does check; `socket` fails with
//!    `EAFNOSUPPORT` for every family but `AF_INET` and `AF_INET6` (Unix path and abstract
//!    sockets, netlink, packet, vsock, ... are out of reach; `socketpair` stays, runtimes use it).
//! 2. **deny** (always): what a sandboxed program never needs and an escape would - mounting,
//!    tracing other processes, new namespaces (also through `clone` flags), BPF, keyrings, kernel
//!    modules, reboot, `io_uring`, terminal injection (`TIOCSTI`) ... - fails with `EPERM`.
//! 3. **allow-list** (when [`SandboxConfig::allowed_syscalls`](crate::SandboxConfig) is set):
//!    anything not listed fails with `EPERM`. It narrows the deny filter, never widens it.
//!
//! Each filter is compiled by the kernel when installed, so they are as few as the actions need.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

pub(crate) use seccompiler::sock_filter as SockFilter;

use crate::SoulBoxError;

/// Syscalls that always fail with `EPERM`.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_vhangup,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_modify_ldt,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lookup_dcookie,
];

/// `clone` flags that create namespaces: a `clone` carrying any of them fails with `EPERM`.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// `ioctl` requests that push input into a terminal or reach the console.
const DENIED_IOCTLS: &[libc::Ioctl] = &[libc::TIOCSTI, libc::TIOCLINUX];

/// x32 system call numbers carry this bit; there is no legitimate use of them in a sandbox.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Every filter for this architecture, with the caller's allow-list if any, in the order they
/// are installed.
pub(crate) fn filters(allowed: Option<&[String]>) -> crate::Result<Vec<BpfProgram>> {
    let arch = target_arch()?;
    let mut programs = vec![guard(arch), deny(arch)?];
    if let Some(names) = allowed {
        programs.push(allow_list(arch, names)?);
    }
    Ok(programs)
}

fn target_arch() -> crate::Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| SoulBoxError::Unsupported {
        language: crate::Language::Native,
        backend: "native",
        reason: format!(
            "seccomp filters are not built for {}; the native backend supports x86_64 and aarch64",
            std::env::consts::ARCH
        ),
    })
}

fn audit_arch(arch: TargetArch) -> u32 {
    const EM_X86_64: u32 = 62;
    const EM_AARCH64: u32 = 183;
    const EM_RISCV: u32 = 243;
    const AUDIT_ARCH_64BIT_LE: u32 = 0x8000_0000 | 0x4000_0000;
    AUDIT_ARCH_64BIT_LE
        | match arch {
            TargetArch::x86_64 => EM_X86_64,
            TargetArch::aarch64 => EM_AARCH64,
            TargetArch::riscv64 => EM_RISCV,
        }
}

fn statement(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Kills any call made through a foreign ABI (wrong `arch`, or an x32 number); `clone3` gets
/// `ENOSYS`; `socket` gets `EAFNOSUPPORT` unless its family is `AF_INET` or `AF_INET6`.
fn guard(arch: TargetArch) -> BpfProgram {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;
    vec![
        statement(LD_W_ABS, ARCH_OFFSET),
        jump(JEQ_K, audit_arch(arch), 1, 0),
        statement(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        statement(LD_W_ABS, NR_OFFSET),
        jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
        statement(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        jump(JEQ_K, libc::SYS_clone3 as u32, 0, 1),
        statement(RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        jump(JEQ_K, libc::SYS_socket as u32, 0, 4),
        // The kernel reads the family as an `int`: the low half of the first argument.
        statement(LD_W_ABS, FIRST_ARG_LOW_OFFSET),
        jump(JEQ_K, libc::AF_INET as u32, 2, 0),
        jump(JEQ_K, libc::AF_INET6 as u32, 1, 0),
        statement(RET_K, libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32),
        statement(RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Offset of the low 32 bits of `seccomp_data.args[0]` (after `nr`, `arch` and the 64-bit
/// instruction pointer); every architecture the filters are built for is little-endian.
#[cfg(target_endian = "little")]
const FIRST_ARG_LOW_OFFSET: u32 = 16;

fn rule_error(e: impl std::fmt::Display) -> SoulBoxError {
    SoulBoxError::Engine(format!("building the seccomp filter: {e}"))
}

fn condition(index: u8, mask: Option<u64>, value: u64) -> crate::Result<SeccompCondition> {
    let op = match mask {
        Some(mask) => SeccompCmpOp::MaskedEq(mask),
        None => SeccompCmpOp::Eq,
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value).map_err(rule_error)
}

fn deny(arch: TargetArch) -> crate::Result<BpfProgram> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|nr| (*nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let flag = *flag as u64;
            SeccompRule::new(vec![condition(0, Some(flag), flag)?]).map_err(rule_error)
        })
        .collect::<crate::Result<Vec<_>>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    let ioctl_rules = DENIED_IOCTLS
        .iter()
        .map(|request| SeccompRule::new(vec![condition(1, None, *request)?]).map_err(rule_error))
        .collect::<crate::Result<Vec<_>>>()?;
    rules.insert(libc::SYS_ioctl, ioctl_rules);
    compile(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
) -> crate::Result<BpfProgram> {
    SeccompFilter::new(rules, mismatch, matched, arch)
        .and_then(BpfProgram::try_from)
        .map_err(rule_error)
}

/// Only `names` (plus `execve`, which starts the program under the filter) are allowed.
fn allow_list(arch: TargetArch, names: &[String]) -> crate::Result<BpfProgram> {
    let mut filter: Vec<serde_json::Value> = names
        .iter()
        .map(|name| serde_json::json!({ "syscall": name }))
        .collect();
    if !names.iter().any(|n| n == "execve") {
        filter.push(serde_json::json!({ "syscall": "execve" }));
    }
    let policy = serde_json::json!({
        "allow": {
            "mismatch_action": { "errno": libc::EPERM },
            "match_action": "allow",
            "filter": filter,
        }
    });
    let mut compiled = seccompiler::compile_from_json(policy.to_string().as_bytes(), arch)
        .map_err(|e| match e {
            seccompiler::Error::JsonFrontend(inner) => SoulBoxError::InvalidRequest(format!(
                "allowed_syscalls: {inner}; use the kernel's names (read, write, openat, ...)"
            )),
            other => rule_error(other),
        })?;
    compiled
        .remove("allow")
        .ok_or_else(|| rule_error("the allow-list filter is missing from the compiled map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a BPF program on one `seccomp_data` (nr, arch, args) and returns its verdict.
    fn run(program: &[SockFilter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = vec![nr, arch, 0, 0];
        for arg in args {
            data.push(arg as u32);
            data.push((arg >> 32) as u32);
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = &program[pc];
            let class = ins.code & 0x07;
            match class {
                0x00 => acc = data[(ins.k / 4) as usize],
                0x05 => {
                    let op = ins.code & 0xf0;
                    let src = ins.k;
                    let taken = match op {
                        0x00 => {
                            pc += ins.k as usize + 1;
                            continue;
                        }
                        0x10 => acc == src,
                        0x20 => acc > src,
                        0x30 => acc >= src,
                        0x40 => acc & src != 0,
                        other => panic!("unexpected jump {other:#x}"),
                    };
                    pc += 1 + if taken { ins.jt } else { ins.jf } as usize;
                    continue;
                }
                0x04 => match ins.code & 0xf0 {
                    0x50 => acc &= ins.k,
                    other => panic!("unexpected alu {other:#x}"),
                },
                0x06 => return ins.k,
                other => panic!("unexpected class {other:#x}"),
            }
            pc += 1;
        }
    }

    fn verdict(filters: &[BpfProgram], nr: libc::c_long, args: [u64; 6]) -> u32 {
        let arch = audit_arch(TargetArch::try_from(std::env::consts::ARCH).unwrap());
        filters
            .iter()
            .map(|p| run(p, nr as u32, arch, args))
            .min_by_key(|v| action_rank(*v))
            .unwrap()
    }

    /// Lower is more severe, as the kernel orders actions.
    fn action_rank(verdict: u32) -> u32 {
        match verdict & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_KILL_PROCESS => 0,
            libc::SECCOMP_RET_KILL_THREAD => 1,
            libc::SECCOMP_RET_ERRNO => 3,
            libc::SECCOMP_RET_ALLOW => 9,
            _ => 5,
        }
    }

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    #[test]
    fn ordinary_calls_pass_and_escapes_fail_with_eperm() {
        let f = filters(None).unwrap();
        assert_eq!(verdict(&f, libc::SYS_read, [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            verdict(&f, libc::SYS_execve, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        for nr in [
            libc::SYS_mount,
            libc::SYS_ptrace,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_keyctl,
            libc::SYS_kexec_load,
            libc::SYS_reboot,
        ] {
            assert_eq!(verdict(&f, nr, [0; 6]), EPERM, "syscall {nr}");
        }
    }

    #[test]
    fn clone_is_allowed_unless_it_creates_a_namespace() {
        let f = filters(None).unwrap();
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::SIGCHLD) as u64;
        assert_eq!(
            verdict(&f, libc::SYS_clone, [fork_flags, 0, 0, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
        let user_ns = fork_flags | libc::CLONE_NEWUSER as u64;
        assert_eq!(
            verdict(&f, libc::SYS_clone, [user_ns, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(
            verdict(&f, libc::SYS_clone3, [0; 6]),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn sockets_are_internet_only_but_socket_pairs_stay() {
        let f = filters(None).unwrap();
        let family = |family: i32| [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        for allowed in [libc::AF_INET, libc::AF_INET6] {
            assert_eq!(
                verdict(&f, libc::SYS_socket, family(allowed)),
                libc::SECCOMP_RET_ALLOW,
                "family {allowed}"
            );
        }
        const EAFNOSUPPORT: u32 = libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32;
        for refused in [
            libc::AF_UNIX,
            libc::AF_NETLINK,
            libc::AF_PACKET,
            libc::AF_VSOCK,
            libc::AF_BLUETOOTH,
            libc::AF_ALG,
            libc::AF_UNSPEC,
            -1,
        ] {
            assert_eq!(
                verdict(&f, libc::SYS_socket, family(refused)),
                EAFNOSUPPORT,
                "family {refused}"
            );
        }
        // The kernel ignores the upper half of an `int` argument, and so does the filter.
        let high_bits = [(1u64 << 32) | libc::AF_UNIX as u64, 1, 0, 0, 0, 0];
        assert_eq!(verdict(&f, libc::SYS_socket, high_bits), EAFNOSUPPORT);
        let unix_pair = family(libc::AF_UNIX);
        assert_eq!(
            verdict(&f, libc::SYS_socketpair, unix_pair),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn terminal_injection_is_denied_but_other_ioctls_pass() {
        let f = filters(None).unwrap();
        let tiocsti = [0, libc::TIOCSTI, 0, 0, 0, 0];
        assert_eq!(verdict(&f, libc::SYS_ioctl, tiocsti), EPERM);
        let tcgets = [0, libc::TCGETS, 0, 0, 0, 0];
        assert_eq!(
            verdict(&f, libc::SYS_ioctl, tcgets),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn foreign_abis_are_killed() {
        let f = filters(None).unwrap();
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        let verdicts: Vec<u32> = f
            .iter()
            .map(|p| run(p, 1, AUDIT_ARCH_I386, [0; 6]))
            .collect();
        assert!(verdicts.contains(&libc::SECCOMP_RET_KILL_PROCESS));
        let x32_read = X32_SYSCALL_BIT;
        assert_eq!(
            verdict(&f, x32_read as libc::c_long, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn an_allow_list_narrows_but_never_widens() {
        let names: Vec<String> = ["read", "write", "exit_group", "mount"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = filters(Some(&names)).unwrap();
        assert_eq!(verdict(&f, libc::SYS_read, [0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            verdict(&f, libc::SYS_execve, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(verdict(&f, libc::SYS_openat, [0; 6]), EPERM);
        assert_eq!(verdict(&f, libc::SYS_mount, [0; 6]), EPERM);
    }

    #[test]
    fn an_unknown_syscall_name_is_a_bad_request() {
        let err = filters(Some(&["no_such_call".to_string()])).unwrap_err();
        assert!(
            matches!(&err, SoulBoxError::InvalidRequest(m) if m.contains("no_such_call")),
            "{err}"
        );
    }
}
