//! The native backend, attacked. These need root (CI runs as root): without it they say so and
//! pass, since the full isolation they check is then not on offer (see `refusal` for that path).

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use futures::StreamExt;
use soulbox::{
    Backend, ExecutionRequest, ExecutionResult, Language, MIB, SandboxConfig, SoulBoxError, Status,
    StreamOutput,
};

use crate::sandbox;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: the native backend's full isolation needs root");
            return;
        }
    };
}

fn native() -> SandboxConfig {
    SandboxConfig::default()
        .with_backend(Backend::Native)
        .with_memory_limit(128 * MIB)
        .with_timeout(Duration::from_secs(10))
}

async fn sh(config: SandboxConfig, script: &str) -> ExecutionResult {
    sandbox(config)
        .await
        .execute_code(Language::Shell, script)
        .await
        .expect("run")
}

async fn python(config: SandboxConfig, code: &str) -> ExecutionResult {
    sandbox(config)
        .await
        .execute_code(Language::Python, code)
        .await
        .expect("run")
}

/// Processes on the host whose command line contains `marker`.
fn host_processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmd| String::from_utf8_lossy(&cmd).replace('\0', " "))
        .filter(|cmd| cmd.contains(marker))
        .collect()
}

/// Waits (briefly) for the kernel to finish tearing a sandbox down, then lists survivors.
async fn survivors(marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let found = host_processes_with(marker);
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:?}", std::process::id(), Instant::now())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

#[tokio::test]
async fn a_shell_script_runs_with_every_layer_reported() {
    require_root!();
    let r = sh(native(), "echo hello; echo oops >&2; exit 3").await;
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "oops\n");
    for layer in [
        "user-namespace",
        "pid-namespace",
        "mount-namespace",
        "net-namespace",
        "no-network",
        "ipc-namespace",
        "uts-namespace",
        "cgroup-namespace",
        "minimal-root",
        "capabilities-dropped",
        "no-new-privs",
        "seccomp",
    ] {
        assert!(
            r.isolation.iter().any(|l| l == layer),
            "{layer}: {:?}",
            r.isolation
        );
    }
    for prefix in ["cgroup-v", "landlock-v"] {
        assert!(
            r.isolation.iter().any(|l| l.starts_with(prefix)),
            "{prefix}: {:?}",
            r.isolation
        );
    }
}

#[tokio::test]
async fn python_gets_stdin_args_and_the_workspace() {
    require_root!();
    let sb = sandbox(native()).await;
    sb.write_file("data.csv", "a,b\n1,2\n")
        .await
        .expect("write");
    let request = ExecutionRequest::new(
        Language::Python,
        "import sys\nprint(sys.argv[1:], sys.stdin.read().upper())\nopen('out.txt','w').write(open('data.csv').read()[::-1])\n",
    )
    .with_args(["x", "y"])
    .with_stdin("from stdin");
    let r = sb.execute(request).await.expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "['x', 'y'] FROM STDIN\n");
    let artifact = r.artifact("out.txt").expect("out.txt reported");
    assert_eq!(artifact.size, 8);
    assert_eq!(sb.read_file("out.txt").await.expect("read"), b"\n2,1\nb,a");
}

#[tokio::test]
async fn a_native_executable_runs_from_its_bytes() {
    require_root!();
    let echo = std::fs::read("/usr/bin/echo").expect("/usr/bin/echo");
    let sb = sandbox(native()).await;
    let r = sb
        .execute(
            ExecutionRequest::new(Language::Native, echo)
                .with_file_name("echo")
                .with_args(["native", "works"]),
        )
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "native works\n");
    assert!(r.artifacts.is_empty(), "the program is not an artifact");
}

#[tokio::test]
async fn auto_sends_shell_to_the_native_backend() {
    require_root!();
    let config = native().with_backend(Backend::Auto);
    let r = sh(config, "echo auto").await;
    assert_eq!(r.stdout, "auto\n");
    assert!(r.isolation.iter().any(|l| l == "seccomp"));
}

#[tokio::test]
async fn a_fork_bomb_hits_the_pids_limit_and_the_engine_keeps_serving() {
    require_root!();
    let marker = unique("bomb");
    let config = native()
        .with_max_processes(32)
        .with_timeout(Duration::from_secs(2));
    let sb = sandbox(config).await;
    // The bomb grows from one subshell, so the script's own shell forks once, while it is still
    // alone (dash exits with status 2 when a fork of its own fails: with `bomb; while ...` the
    // main shell forked both ends of the first pipeline itself and, under load, lost the race to
    // its own children for the last process slots). The main shell then spins until the timeout.
    let request = ExecutionRequest::new(
        Language::Shell,
        "bomb() { bomb | bomb & }; (bomb) & while :; do :; done",
    )
    .with_file_name(format!("{marker}.sh"));
    let r = sb.execute(request).await.expect("run");
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(
        r.stderr.contains("Cannot fork"),
        "the bomb never met the process limit: {r:?}"
    );
    assert!(
        survivors(&marker).await.is_empty(),
        "bomb processes survived"
    );
    let after = sh(native(), "echo still serving").await;
    assert_eq!(after.stdout, "still serving\n");
}

#[tokio::test]
async fn a_memory_hog_is_reported_as_memory_limit() {
    require_root!();
    let limit = 64 * MIB;
    let r = python(
        native().with_memory_limit(limit),
        "chunks = []\nwhile True:\n    chunks.append(b'x' * (4 << 20))\n",
    )
    .await;
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.memory_usage <= limit + MIB, "peak {}", r.memory_usage);
    assert!(r.memory_usage > limit / 2, "peak {}", r.memory_usage);
    assert!(r.error.unwrap_or_default().contains("memory"));
}

#[tokio::test]
async fn an_infinite_loop_times_out_and_nothing_outlives_it() {
    require_root!();
    let marker = unique("loop");
    let sb = sandbox(native().with_timeout(Duration::from_millis(800))).await;
    // A setsid'd grandchild in its own session is the classic escapee.
    let request = ExecutionRequest::new(
        Language::Shell,
        "setsid sh -c 'while :; do sleep 1; done' &\nwhile :; do :; done",
    )
    .with_file_name(format!("{marker}.sh"));
    let started = Instant::now();
    let r = sb.execute(request).await.expect("run");
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(survivors(&marker).await.is_empty(), "processes survived");
}

#[tokio::test]
async fn the_hosts_loopback_is_out_of_reach() {
    require_root!();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let r = python(
        native(),
        &format!(
            "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)\n"
        ),
    )
    .await;
    assert!(r.stdout.starts_with("refused"), "{r:?}");
    assert!(listener.accept().is_err(), "the listener got a connection");
}

#[tokio::test]
async fn with_the_network_on_the_hosts_loopback_is_reachable() {
    require_root!();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let r = python(
        native().with_network(true),
        &format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)\nprint('connected')\n"),
    )
    .await;
    assert_eq!(r.stdout, "connected\n", "{r:?}");
    assert!(
        !r.isolation.iter().any(|l| l == "net-namespace"),
        "{:?}",
        r.isolation
    );
}

#[tokio::test]
async fn there_is_no_route_outwards() {
    require_root!();
    // A UDP connect only looks the route up; no packet is sent, here or in the sandbox.
    let code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.connect(('192.0.2.1', 9))\n    print('routed')\nexcept OSError as e:\n    print('unreachable', e.errno)\n";
    let r = python(native(), code).await;
    assert!(r.stdout.starts_with("unreachable"), "{r:?}");
}

#[tokio::test]
async fn only_internet_sockets_can_be_created_and_socket_pairs_still_work() {
    require_root!();
    let code = r#"
import errno, socket
for name, family, kind in [
    ("vsock", socket.AF_VSOCK, socket.SOCK_STREAM),
    ("unix", socket.AF_UNIX, socket.SOCK_STREAM),
    ("unix-dgram", socket.AF_UNIX, socket.SOCK_DGRAM),
    ("netlink", socket.AF_NETLINK, socket.SOCK_DGRAM),
    ("packet", socket.AF_PACKET, socket.SOCK_DGRAM),
]:
    try:
        socket.socket(family, kind)
        print(name, "created")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
a, b = socket.socketpair()
a.send(b"x")
print("pair", b.recv(1).decode())
socket.socket(socket.AF_INET, socket.SOCK_STREAM)
socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
print("inet ok")
"#;
    let r = python(native(), code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "vsock EAFNOSUPPORT\nunix EAFNOSUPPORT\nunix-dgram EAFNOSUPPORT\nnetlink EAFNOSUPPORT\n\
         packet EAFNOSUPPORT\npair x\ninet ok\n"
    );
}

#[tokio::test]
async fn a_host_unix_socket_in_the_workdir_cannot_be_reached() {
    require_root!();
    let dir = tempfile::tempdir().expect("dir");
    let listener =
        std::os::unix::net::UnixListener::bind(dir.path().join("host.sock")).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let code = r#"
import errno, os, socket, stat
print("visible", stat.S_ISSOCK(os.lstat("/work/host.sock").st_mode))
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/work/host.sock")
    print("connected")
except OSError as e:
    print("refused", errno.errorcode[e.errno])
"#;
    let r = python(native().with_workspace(dir.path()), code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "visible True\nrefused EAFNOSUPPORT\n", "{r:?}");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the host socket got a connection: {accepted:?}"
    );
}

#[tokio::test]
async fn the_filesystem_outside_work_and_tmp_is_read_only_and_secrets_are_absent() {
    require_root!();
    let r = sh(
        native(),
        "for f in /etc/x /usr/x /x /run/soulbox/x; do echo > $f 2>/dev/null && echo wrote $f; done\n\
         cat /etc/shadow 2>/dev/null && echo read-shadow\n\
         ls /root /home 2>/dev/null && echo saw-home\n\
         echo t > /tmp/t && echo tmp-ok\n\
         echo w > /work/w && echo work-ok\n\
         cat /dev/null && head -c 4 /dev/urandom | wc -c && echo > /dev/null && echo dev-ok\n",
    )
    .await;
    assert_eq!(r.stdout, "tmp-ok\nwork-ok\n4\ndev-ok\n", "{r:?}");
    assert!(r.artifact("w").is_some());
}

/// A script that tries the kernel knobs of `/proc` and reports what it could do. Paths this
/// kernel lacks (no `/proc/sysrq-trigger` without CONFIG_MAGIC_SYSRQ) count as protected.
const PROC_ATTACKS: &str = "echo x > /proc/sys/kernel/core_pattern && echo wrote-core-pattern\n\
     echo x > /proc/sys/kernel/hostname && echo wrote-hostname\n\
     grep -q ' /proc/sys ro,' /proc/self/mountinfo && echo sys-read-only\n\
     test -e /proc/sysrq-trigger && ! grep -q ' /proc/sysrq-trigger ro,' /proc/self/mountinfo \
       && echo sysrq-trigger-writable\n\
     echo kcore $(head -c 16 /proc/kcore 2>/dev/null | wc -c)\n\
     echo keys $(cat /proc/keys 2>/dev/null | wc -c)\n\
     echo timer_list $(cat /proc/timer_list 2>/dev/null | wc -c)\n\
     echo acpi $(ls -A /proc/acpi 2>/dev/null | wc -l)\n\
     test -e /proc/1 || echo init-invisible\n";

const PROC_ATTACKS_EXPECTED: &str =
    "sys-read-only\nkcore 0\nkeys 0\ntimer_list 0\nacpi 0\ninit-invisible\n";

fn host_core_pattern() -> String {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern")
}

#[tokio::test]
async fn proc_kernel_knobs_are_read_only_or_masked_and_other_processes_invisible() {
    require_root!();
    let before = host_core_pattern();
    let r = sh(native(), PROC_ATTACKS).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, PROC_ATTACKS_EXPECTED, "{r:?}");
    assert_eq!(host_core_pattern(), before);
}

/// SoulBox's sandbox ids (see README, "The native backend").
const SANDBOX_IDS: std::ops::RangeInclusive<u32> = 0x7000_0000..=0x70FF_FFFF;

#[tokio::test]
async fn a_setuid_shell_left_in_the_workspace_is_neither_roots_nor_setuid_on_the_host() {
    require_root!();
    let dir = tempfile::tempdir().expect("dir");
    let r = sh(
        native().with_workspace(dir.path()),
        "cp /bin/sh /work/s && chmod 4755 /work/s && stat -c '%a %u' /work/s\n\
         cp /bin/sh /work/g && chmod 2755 /work/g && stat -c '%a %u' /work/g\n",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    // Inside, the guest is root of its namespace and its chmod worked...
    assert_eq!(r.stdout, "4755 0\n2755 0\n", "{r:?}");
    assert!(r.isolation.iter().any(|l| l == "unprivileged-host-id"));
    // ... on the host the file is the sandbox's, and the run's end took the bits away.
    for name in ["s", "g"] {
        let meta = std::fs::symlink_metadata(dir.path().join(name)).expect("left on the host");
        assert_ne!(meta.uid(), 0, "{name} is root's");
        assert!(
            SANDBOX_IDS.contains(&meta.uid()),
            "{name}: uid {}",
            meta.uid()
        );
        assert_eq!(meta.gid(), meta.uid(), "{name}");
        assert_eq!(
            meta.mode() & 0o7777,
            0o755,
            "{name}: mode {:o}",
            meta.mode()
        );
    }
}

#[tokio::test]
async fn the_guest_has_no_host_groups_and_one_id_for_its_whole_sandbox() {
    require_root!();
    let sb = sandbox(native()).await;
    let script = "grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\\t ' ' '\n\
                  touch /work/mine\n";
    let r = sb.execute_code(Language::Shell, script).await.expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "Uid: 0 0 0 0\nGid: 0 0 0 0\nGroups: \n", "{r:?}");
    let workspace = sb.workspace_path().expect("workspace");
    let owner = std::fs::metadata(workspace.join("mine"))
        .expect("mine")
        .uid();
    assert!(SANDBOX_IDS.contains(&owner), "uid {owner}");
    let again = sb
        .execute_code(Language::Shell, "touch /work/again")
        .await
        .expect("run");
    assert_eq!(again.status, Status::Ok, "{again:?}");
    let second = std::fs::metadata(workspace.join("again"))
        .expect("again")
        .uid();
    assert_eq!(second, owner, "one id per sandbox");
    let other = sandbox(native()).await;
    other
        .execute_code(Language::Shell, "touch /work/theirs")
        .await
        .expect("run");
    let theirs = other.workspace_path().expect("workspace").join("theirs");
    assert_ne!(std::fs::metadata(theirs).expect("theirs").uid(), owner);
}

#[tokio::test]
async fn files_the_host_wrote_stay_the_guests_to_change_and_delete() {
    require_root!();
    let sb = sandbox(native()).await;
    sb.write_file("notes/host.txt", "from the host\n")
        .await
        .expect("write");
    sb.write_file("old.txt", "old").await.expect("write");
    let r = sb
        .execute_code(
            Language::Shell,
            "echo appended >> notes/host.txt && rm old.txt && mkdir notes/sub && \
             mv notes/host.txt notes/sub/moved.txt && cat notes/sub/moved.txt",
        )
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "from the host\nappended\n");
    // The host's file API still works on what the guest made, and the next run on what it wrote.
    sb.write_file("notes/sub/moved.txt", "rewritten by the host\n")
        .await
        .expect("write");
    let r = sb
        .execute_code(
            Language::Shell,
            "cat notes/sub/moved.txt && rm -r notes && ls -A",
        )
        .await
        .expect("run");
    assert_eq!(r.stdout, "rewritten by the host\n", "{r:?}");
    assert!(sb.list_files("").await.expect("list").is_empty());
}

#[tokio::test]
async fn files_a_wasm_run_wrote_as_the_engine_stay_the_native_guests_to_change() {
    require_root!();
    let sb = sandbox(native().with_backend(Backend::Auto)).await;
    let wasm = sb
        .execute_code(
            Language::Wasm,
            crate::guests::write_file("wasm.txt", "from wasm\n"),
        )
        .await
        .expect("wasm run");
    assert_eq!(wasm.status, Status::Ok, "{wasm:?}");
    let path = sb.workspace_path().expect("workspace").join("wasm.txt");
    assert_eq!(std::fs::metadata(&path).expect("written").uid(), 0);
    let r = sb
        .execute_code(
            Language::Shell,
            "echo native >> wasm.txt && cat wasm.txt && mv wasm.txt moved.txt && rm moved.txt",
        )
        .await
        .expect("native run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "from wasm\nnative\n");
    assert!(!path.exists());
}

#[tokio::test]
async fn mountinfo_shows_no_host_path_but_the_workspaces_own() {
    require_root!();
    let sb = sandbox(native()).await;
    let r = sb
        .execute_code(Language::Shell, "cat /proc/self/mountinfo")
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let workspace = sb.workspace_path().expect("workspace");
    let workspace = workspace.to_string_lossy();
    let mut work_lines = 0;
    for line in r.stdout.lines() {
        // Field 4 is the mount's root within its filesystem, field 5 where it is mounted.
        let fields: Vec<&str> = line.split(' ').collect();
        let (root, mount_point) = (fields[3], fields[4]);
        if mount_point == "/work" {
            // What is left: a bind mount shows its source's path within its filesystem, and
            // the workspace is a directory of the host's (see README, "The native backend").
            assert_eq!(root, workspace, "{line}");
            work_lines += 1;
        } else {
            // The sandbox's own filesystems ("/"), the host's system files at their own paths
            // ("/usr", "/null" of devtmpfs at "/dev/null", "/sys" of procfs at "/proc/sys"),
            // /dev/null over masked /proc files.
            assert!(
                root == "/" || mount_point.ends_with(root) || root == "/null",
                "{line}"
            );
        }
    }
    assert_eq!(work_lines, 1, "{}", r.stdout);
    assert!(!r.stdout.contains("soulbox-native-"), "{}", r.stdout);
}

#[tokio::test]
async fn without_landlock_a_run_is_refused_unless_weaker_isolation_is_accepted() {
    require_root!();
    let mut without_landlock = native();
    without_landlock.simulate_kernel_without_landlock = true;
    let err = sandbox(without_landlock.clone())
        .await
        .execute_code(Language::Shell, "echo ran")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SoulBoxError::IsolationUnavailable { missing } if missing.contains("Landlock")),
        "{err}"
    );
    assert!(err.to_string().contains("allow_weaker_isolation"), "{err}");

    // Accepted: Landlock is gone from the list, and /proc's kernel knobs stay shut without it.
    let before = host_core_pattern();
    let r = sh(without_landlock.allow_weaker_isolation(), PROC_ATTACKS).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, PROC_ATTACKS_EXPECTED, "{r:?}");
    assert!(
        r.stderr.contains("core_pattern: Read-only file system"),
        "{r:?}"
    );
    assert!(
        !r.isolation.iter().any(|l| l.starts_with("landlock")),
        "{:?}",
        r.isolation
    );
    assert!(r.isolation.iter().any(|l| l == "minimal-root"));
    assert_eq!(host_core_pattern(), before);
}

#[tokio::test]
async fn init_its_command_line_and_its_descriptors_are_out_of_the_guests_sight() {
    require_root!();
    // Init is not dumpable, so hidepid=invisible leaves it out of /proc altogether (its copy of
    // the engine's command line is blanked too, behind that).
    let r = sh(
        native(),
        "test -e /proc/1 || echo init-invisible\n\
         ls /proc | grep -qx 1 || echo not-listed\n\
         cat /proc/1/cmdline 2>/dev/null || echo no-cmdline\n\
         ls /proc/1/fd 2>/dev/null || echo no-descriptors\n\
         readlink /proc/1/fd/0 2>/dev/null || echo no-readlink\n\
         (echo forged > /proc/1/fd/3) 2>/dev/null || echo no-forgery\n",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "init-invisible\nnot-listed\nno-cmdline\nno-descriptors\nno-readlink\nno-forgery\n",
        "{r:?}"
    );
}

#[tokio::test]
async fn ptrace_unshare_and_mount_are_denied() {
    require_root!();
    let code = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def check(name, ret):
    print(name, ret, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
check("ptrace", libc.ptrace(16, 1, 0, 0))
check("unshare", libc.unshare(0x10000000))
check("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
check("chroot", libc.chroot(b"/tmp"))
"#;
    let r = python(native(), code).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "ptrace -1 EPERM\nunshare -1 EPERM\nmount -1 EPERM\nchroot -1 EPERM\n"
    );
}

#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn a_32_bit_system_call_kills_the_process() {
    require_root!();
    // mov eax, 20 (getpid in the i386 table); int 0x80; ret
    let code = r#"
import ctypes, mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
print("before", flush=True)
print("after", f())
"#;
    let r = python(native(), code).await;
    assert_eq!(r.status, Status::Trap, "{r:?}");
    assert_eq!(r.stdout, "before\n");
    assert!(r.error.unwrap_or_default().contains("seccomp"));
}

#[tokio::test]
async fn an_allow_list_narrows_what_the_program_may_call() {
    require_root!();
    let config = native().with_allowed_syscalls(vec!["write".into(), "exit_group".into()]);
    let r = sh(config, "echo never").await;
    assert_ne!(r.status, Status::Ok, "{r:?}");
    assert!(r.isolation.iter().any(|l| l == "seccomp-allow-list"));
    let bad = native().with_allowed_syscalls(vec!["no_such_call".into()]);
    let err = sandbox(bad)
        .await
        .execute_code(Language::Shell, "true")
        .await
        .unwrap_err();
    assert!(matches!(err, SoulBoxError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn output_past_the_cap_stops_the_run() {
    require_root!();
    let r = sh(native().with_max_output_bytes(1000), "yes").await;
    assert_eq!(r.status, Status::OutputLimit, "{r:?}");
    assert_eq!(r.stdout.len(), 1000);
}

#[tokio::test]
async fn terminate_kills_a_running_program() {
    require_root!();
    let sb = sandbox(native()).await;
    let running = tokio::spawn({
        let sb = sb.clone();
        async move { sb.execute_code(Language::Shell, "sleep 60").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sb.terminate().await;
    let r = running.await.expect("join").expect("run");
    assert_eq!(r.status, Status::Killed, "{r:?}");
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_run_and_its_processes() {
    require_root!();
    let marker = unique("dropped");
    let sb = sandbox(native()).await;
    let request = ExecutionRequest::new(Language::Shell, "echo started; sleep 60; echo never")
        .with_file_name(format!("{marker}.sh"));
    let mut events = Box::pin(sb.stream(request));
    match events.next().await {
        Some(Ok(StreamOutput::Stdout(chunk))) => assert_eq!(&chunk[..], b"started\n"),
        other => panic!("expected the first stdout chunk, got {other:?}"),
    }
    drop(events);
    assert!(
        survivors(&marker).await.is_empty(),
        "the run outlived its stream"
    );
    let next = sb
        .execute_code(Language::Shell, "echo next")
        .await
        .expect("run");
    assert_eq!(next.stdout, "next\n");
}

#[tokio::test]
async fn a_missing_program_is_a_bad_request_not_a_crash() {
    require_root!();
    let sb = sandbox(native()).await;
    let err = sb
        .execute(ExecutionRequest::new(Language::Native, "not an executable"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("program"), "{err}");
}

#[tokio::test]
async fn many_runs_in_parallel_stay_apart() {
    require_root!();
    let runs = (0..8).map(|i| async move {
        let r = sh(
            native(),
            &format!("echo {i} > /tmp/mine; sleep 0.2; cat /tmp/mine"),
        )
        .await;
        (i, r)
    });
    for (i, r) in futures::future::join_all(runs).await {
        assert_eq!(r.stdout, format!("{i}\n"), "{r:?}");
    }
}

#[tokio::test]
async fn compiled_languages_are_not_native_programs() {
    let err = sandbox(native())
        .await
        .execute_code(Language::Rust, "fn main() {}")
        .await
        .unwrap_err();
    assert!(matches!(err, SoulBoxError::Unsupported { .. }), "{err}");
}
