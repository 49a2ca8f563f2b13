//! Files through the server: round trips, hostile paths, the disk budget.

use soulbox::{Language, SandboxConfig, Status, api::ErrorKind};
use tonic::Code;

use crate::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_and_ten_mib_round_trip_and_the_guest_sees_them() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    sandbox
        .write_file("one.bin", [7u8])
        .await
        .expect("write 1 byte");
    assert_eq!(sandbox.read_file("one.bin").await.expect("read"), vec![7u8]);
    let big: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    sandbox
        .write_file("dir/big.bin", &big)
        .await
        .expect("write 10 MiB");
    assert!(sandbox.read_file("/work/dir/big.bin").await.expect("read") == big);
    sandbox
        .write_file("empty", [])
        .await
        .expect("write 0 bytes");
    assert_eq!(
        sandbox.read_file("empty").await.expect("read"),
        Vec::<u8>::new()
    );
    let result = sandbox
        .execute_code(
            Language::Python,
            "import os\nprint(os.path.getsize('/work/dir/big.bin'), open('/work/one.bin','rb').read())",
        )
        .await
        .expect("runs");
    assert_eq!(result.stdout, "10485760 b'\\x07'\n", "{result:?}");
    let mut listed = sandbox.list_files("").await.expect("list");
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    let names: Vec<(&str, u64, bool)> = listed
        .iter()
        .map(|f| (f.path.as_str(), f.size, f.is_dir))
        .collect();
    assert!(
        names.contains(&("dir/big.bin", 10 * 1024 * 1024, false)),
        "{names:?}"
    );
    assert!(names.contains(&("one.bin", 1, false)), "{names:?}");
    sandbox.remove_file("dir").await.expect("remove");
    let err = sandbox.read_file("dir/big.bin").await.expect_err("removed");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert_eq!(err.kind(), ErrorKind::FileNotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_climb_out_are_refused() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    for path in ["../escape", "a/../../escape", "/etc/passwd"] {
        let err = sandbox.write_file(path, b"x").await.expect_err(path);
        assert_eq!(err.code(), Code::InvalidArgument, "{path}: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidPath, "{path}: {err}");
        // Reading is refused too: as a climbing path, or as a file the workspace does not have.
        let err = sandbox.read_file(path).await.expect_err(path);
        assert!(
            matches!(err.code(), Code::InvalidArgument | Code::NotFound),
            "{path}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_bounded_by_the_disk_budget() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let sandbox = client
        .create(SandboxConfig::default().with_max_disk_bytes(3 * 1024 * 1024))
        .await
        .expect("create");
    sandbox
        .write_file("a.bin", vec![1u8; 2 * 1024 * 1024])
        .await
        .expect("fits");
    let err = sandbox
        .write_file("b.bin", vec![1u8; 2 * 1024 * 1024])
        .await
        .expect_err("over the budget");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("max_disk_bytes"), "{err}");
    // Replacing a file counts only the difference.
    sandbox
        .write_file("a.bin", vec![2u8; 3 * 1024 * 1024])
        .await
        .expect("replacing fits");
    let result = sandbox
        .execute_code(
            Language::Python,
            "print(len(open('/work/a.bin','rb').read()))",
        )
        .await
        .expect("runs");
    assert_eq!(result.status, Status::Ok);
    assert_eq!(result.stdout, "3145728\n");
}
