//! Files the guest creates or changes come back as artifacts.

use soulbox::{Language, Status};

use crate::{guests, sandbox, tight};

#[tokio::test]
async fn new_files_are_artifacts_with_sniffed_mime_types() {
    let sb = sandbox(tight().with_artifact_bytes(1 << 20)).await;
    sb.write_file("old.txt", "untouched").await.expect("write");
    let r = sb
        .execute_code(
            Language::Wasm,
            guests::write_file("report.csv", "a,b\n1,2\n"),
        )
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.artifacts.len(), 1, "{:?}", r.artifacts);
    let a = &r.artifacts[0];
    assert_eq!(
        (a.path.as_str(), a.mime_type.as_str(), a.size),
        ("report.csv", "text/csv", 8)
    );
    assert_eq!(a.data.as_deref(), Some(&b"a,b\n1,2\n"[..]));
}

#[tokio::test]
async fn png_content_is_detected_whatever_the_name() {
    let sb = sandbox(tight()).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("plot.dat", png))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.artifacts.len(), 1);
    assert_eq!(r.artifacts[0].mime_type, "image/png");
    assert!(
        r.artifacts[0].data.is_none(),
        "bytes are attached only on request"
    );
}

#[tokio::test]
async fn unchanged_files_are_not_artifacts_and_changed_ones_are() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("a.txt", "1"))
        .await
        .expect("run");
    assert_eq!(r.artifacts.len(), 1);
    let r = sb
        .execute_code(Language::Wasm, guests::print("nothing written"))
        .await
        .expect("run");
    assert!(r.artifacts.is_empty(), "{:?}", r.artifacts);
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("a.txt", "22"))
        .await
        .expect("run");
    assert_eq!(r.artifacts.len(), 1);
    assert_eq!(r.artifacts[0].size, 2);
}
