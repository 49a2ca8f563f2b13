//! Disk budget: a guest cannot fill the host's disk (or its inodes) through its workspace.

use std::time::Duration;

use soulbox::{Language, MIB, SandboxConfig, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
        .with_max_disk_bytes(MIB)
        .with_max_disk_entries(50)
}

#[tokio::test]
async fn writing_past_the_byte_budget_fails_with_enospc_and_status_disk_limit() {
    let sandbox = runtime_sandbox(config()).await;
    let r = sandbox
        .execute_code(
            Language::Python,
            "with open('big.bin', 'wb') as f:\n    for _ in range(48):\n        f.write(b'x' * 65536)\n        f.flush()",
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::DiskLimit, "{r:?}");
    assert_eq!(r.exit_code, Some(1));
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(
        r.error.as_deref().unwrap_or("").contains("disk limit"),
        "{r:?}"
    );
    let written = sandbox.read_file("big.bin").await.unwrap().len();
    assert!(written as u64 <= MIB, "{written} bytes reached the disk");
    assert!(written > 0);
}

#[tokio::test]
async fn a_guest_that_handles_enospc_ends_normally() {
    let sandbox = runtime_sandbox(config()).await;
    let r = sandbox
        .execute_code(
            Language::Python,
            "import errno\ntry:\n    open('big.bin', 'wb').write(b'x' * (2 << 20))\nexcept OSError as e:\n    print('caught', e.errno == errno.ENOSPC, e.strerror)",
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout, "caught True No space left on device\n");
}

#[tokio::test]
async fn creating_files_past_the_entry_budget_fails() {
    let sandbox = runtime_sandbox(config()).await;
    let r = sandbox
        .execute_code(
            Language::Python,
            "import os\nos.makedirs('flood', exist_ok=True)\nfor i in range(1000):\n    open(f'flood/{i}', 'w').close()",
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::DiskLimit, "{r:?}");
    let made = sandbox.list_files("flood").await.unwrap().len();
    assert!(made < 50, "{made} files were created");
}

#[tokio::test]
async fn the_budget_is_per_execution_and_per_cell() {
    let sandbox = runtime_sandbox(config()).await;
    let write = "open('part-{}.bin', 'wb').write(b'x' * (700 << 10))";
    for i in 0..2 {
        let r = sandbox
            .execute_code(Language::Python, write.replace("{}", &i.to_string()))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
    let session = sandbox.session(Language::Python).await.unwrap();
    for i in 2..4 {
        let r = session
            .execute(write.replace("{}", &i.to_string()))
            .await
            .unwrap();
        assert_eq!(r.status, Status::Ok, "{r:?}");
    }
}

#[tokio::test]
async fn javascript_writes_are_budgeted_too() {
    let sandbox = runtime_sandbox(config()).await;
    let r = sandbox
        .execute_code(
            Language::JavaScript,
            "const f = std.open('big.txt', 'w'); const s = 'x'.repeat(65536);\n\
             let n = 0; for (let i = 0; i < 48; i++) { f.puts(s); f.flush(); if (f.error()) break; n++; }\n\
             f.close(); console.log(n < 48 ? 'stopped' : 'wrote all');",
        )
        .await
        .unwrap();
    assert_eq!(r.stdout, "stopped\n", "{r:?}");
    let written = sandbox.read_file("big.txt").await.unwrap().len();
    assert!(written as u64 <= MIB, "{written}");
}

/// WASI `ENOSPC`.
const ENOSPC: i32 = 51;

/// A sandbox of the WAT engine with a 1 MiB disk budget, on a host directory to look at.
async fn budgeted() -> (soulbox::Sandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = crate::sandbox(
        crate::tight()
            .with_max_disk_bytes(MIB)
            .with_workspace(dir.path()),
    )
    .await;
    (sandbox, dir)
}

/// Writes 64 KiB at a time to descriptor `fd` (320 times: 20 MiB) and exits with the errno of
/// the first write that fails.
fn flood_fd(fd: &str) -> String {
    format!(
        "(loop $l
           (local.set $e (call $write_buf {fd} (i32.const 65536)))
           (if (local.get $e) (then (call $proc_exit (local.get $e))))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $l (i32.lt_u (local.get $i) (i32.const 320))))"
    )
}

fn size_of(dir: &tempfile::TempDir, name: &str) -> u64 {
    std::fs::metadata(dir.path().join(name)).unwrap().len()
}

async fn run(sandbox: &soulbox::Sandbox, strings: &[&str], body: &str) -> soulbox::ExecutionResult {
    let guest = crate::guests::fs_script(strings, body);
    sandbox.execute_code(Language::Wasm, guest).await.unwrap()
}

#[tokio::test]
async fn a_file_opened_in_place_of_stdout_is_budgeted() {
    let (sandbox, dir) = budgeted().await;
    let body = format!(
        "(call $expect (i32.const 1) (call $fd_close (i32.const 1)) (i32.const 0))
         (call $expect (i32.const 2) (call $open {{s0}} (i32.const 9) (i32.const 0)) (i32.const 0))
         ;; WASI hands out the freed number again
         (call $expect (i32.const 3) (call $fd) (i32.const 1))
         {}",
        flood_fd("(i32.const 1)")
    );
    let r = run(&sandbox, &["big.bin"], &body).await;
    assert_eq!(r.status, Status::DiskLimit, "{r:?}");
    assert_eq!(r.exit_code, Some(ENOSPC), "{r:?}");
    assert_eq!(
        size_of(&dir, "big.bin"),
        MIB,
        "exactly the budget, not a byte more"
    );
}

#[tokio::test]
async fn a_file_renumbered_onto_stdin_stdout_or_stderr_is_budgeted() {
    for target in 0..=2 {
        let (sandbox, dir) = budgeted().await;
        let body = format!(
            "(call $expect (i32.const 1) (call $open {{s0}} (i32.const 9) (i32.const 0)) (i32.const 0))
             (call $expect (i32.const 2) (call $fd_renumber (call $fd) (i32.const {target})) (i32.const 0))
             {}",
            flood_fd(&format!("(i32.const {target})"))
        );
        let r = run(&sandbox, &["big.bin"], &body).await;
        assert_eq!(r.status, Status::DiskLimit, "onto {target}: {r:?}");
        assert_eq!(r.exit_code, Some(ENOSPC), "onto {target}: {r:?}");
        assert!(size_of(&dir, "big.bin") <= MIB, "onto {target}");
    }
}

#[tokio::test]
async fn truncating_to_a_terabyte_is_refused() {
    let (sandbox, dir) = budgeted().await;
    let r = run(
        &sandbox,
        &["sparse.bin"],
        "(call $expect (i32.const 1) (call $open {s0} (i32.const 9) (i32.const 0)) (i32.const 0))
         (call $proc_exit (call $fd_filestat_set_size (call $fd) (i64.const 1000000000000)))",
    )
    .await;
    assert_eq!(r.status, Status::DiskLimit, "{r:?}");
    assert_eq!(r.exit_code, Some(ENOSPC));
    assert_eq!(size_of(&dir, "sparse.bin"), 0);
}

#[tokio::test]
async fn every_way_to_grow_a_file_is_budgeted() {
    let (sandbox, dir) = budgeted().await;
    let r = run(
        &sandbox,
        &["f.bin"],
        "(call $expect (i32.const 1) (call $open {s0} (i32.const 9) (i32.const 0)) (i32.const 0))
         (local.set $fd (call $fd))
         ;; a write far past the end makes a sparse file of that size
         (call $expect (i32.const 2) (call $pwrite_buf (local.get $fd) (i32.const 1) (i64.const 1000000000000)) (i32.const 51))
         (call $expect (i32.const 3) (call $fd_allocate (local.get $fd) (i64.const 0) (i64.const 1000000000000)) (i32.const 51))
         (call $expect (i32.const 4) (call $fd_filestat_set_size (local.get $fd) (i64.const 2097152)) (i32.const 51))
         ;; within the budget a resize is allowed (and counts): 768 KiB, then 512 KiB more is too much
         (call $expect (i32.const 5) (call $fd_filestat_set_size (local.get $fd) (i64.const 786432)) (i32.const 0))
         (call $expect (i32.const 6) (call $fd_filestat_set_size (local.get $fd) (i64.const 1310720)) (i32.const 51))",
    )
    .await;
    // The guest handled every refusal and exited 0.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(size_of(&dir, "f.bin"), 786_432);
}

#[tokio::test]
async fn rewriting_the_same_bytes_does_not_count_twice() {
    let (sandbox, dir) = budgeted().await;
    // 768 KiB written, then written again three ways (3 MiB passed to write in all): only the
    // first pass grows the file. Appends grow it, up to the budget.
    let r = run(
        &sandbox,
        &["f.bin"],
        "(call $expect (i32.const 1) (call $open {s0} (i32.const 9) (i32.const 0)) (i32.const 0))
         (local.set $fd (call $fd))
         (loop $first
           (call $expect (i32.const 2) (call $write_buf (local.get $fd) (i32.const 65536)) (i32.const 0))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $first (i32.lt_u (local.get $i) (i32.const 12))))
         (call $expect (i32.const 3) (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 0) (i32.const 40)) (i32.const 0))
         (local.set $i (i32.const 0))
         (loop $again
           (call $expect (i32.const 4) (call $write_buf (local.get $fd) (i32.const 65536)) (i32.const 0))
           (call $expect (i32.const 5)
             (call $pwrite_buf (local.get $fd) (i32.const 65536) (i64.extend_i32_u (i32.mul (local.get $i) (i32.const 65536))))
             (i32.const 0))
           (call $expect (i32.const 6)
             (call $pwrite_buf (local.get $fd) (i32.const 65536) (i64.extend_i32_u (i32.mul (local.get $i) (i32.const 65536))))
             (i32.const 0))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $again (i32.lt_u (local.get $i) (i32.const 12))))
         ;; append mode: 4 x 64 KiB more reaches exactly 1 MiB, the fifth is refused
         (call $expect (i32.const 7) (call $open {s0} (i32.const 0) (i32.const 1)) (i32.const 0))
         (local.set $fd (call $fd))
         (local.set $i (i32.const 0))
         (loop $append
           (call $expect (i32.const 8) (call $write_buf (local.get $fd) (i32.const 65536)) (i32.const 0))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $append (i32.lt_u (local.get $i) (i32.const 4))))
         (call $expect (i32.const 9) (call $write_buf (local.get $fd) (i32.const 65536)) (i32.const 51))",
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(size_of(&dir, "f.bin"), MIB);
}
