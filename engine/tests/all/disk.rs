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
