//! Authentication and tenancy.

use soulbox::{Language, SandboxConfig};
use soulbox_client::Client;
use tonic::Code;

use crate::{OTHER_TOKEN, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_or_with_a_wrong_token_are_unauthenticated() {
    let server = TestServer::start(Default::default()).await;
    let anonymous = Client::connect(&server.url).await.expect("connect");
    let err = anonymous
        .create(SandboxConfig::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    assert!(err.message().contains("authorization"), "{err}");
    let wrong = server.client_with("not-the-token-0123456789abcdef").await;
    let err = wrong.list().await.expect_err("wrong token");
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    assert_eq!(server.manager.sandbox_count(), 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_sandbox_is_not_found() {
    let server = TestServer::start(Default::default()).await;
    let mine = server.sandbox().await;
    mine.write_file("secret.txt", b"mine").await.expect("write");
    let other = server.client_with(OTHER_TOKEN).await;
    let err = other.sandbox(mine.id()).await.expect_err("not visible");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert!(other.list().await.expect("list").is_empty());
    let mine_listed = server.client().await.list().await.expect("list");
    assert_eq!(mine_listed.len(), 1);
    assert_eq!(mine_listed[0].id, mine.id());
    // My sandbox id with the other tenant's token, through the raw API, is NOT_FOUND.
    let stolen = StolenHandle::new(&server.url, mine.id()).await;
    assert_eq!(stolen.read("secret.txt").await, Code::NotFound);
    assert_eq!(stolen.execute().await, Code::NotFound);
    assert_eq!(stolen.delete().await, Code::NotFound);
    // And mine still works.
    assert_eq!(mine.read_file("secret.txt").await.expect("read"), b"mine");
    let result = mine
        .execute_code(Language::Wasm, crate::wat_print("x"))
        .await
        .expect("runs");
    assert_eq!(result.stdout, "x");
}

/// Raw calls with the other tenant's token on someone else's sandbox id.
struct StolenHandle {
    channel: tonic::transport::Channel,
    id: String,
}

impl StolenHandle {
    async fn new(url: &str, id: &str) -> StolenHandle {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        StolenHandle {
            channel,
            id: id.to_owned(),
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {OTHER_TOKEN}").parse().expect("header"),
        );
        request
    }

    async fn read(&self, path: &str) -> Code {
        use soulbox_proto::v1::{FileRef, files_client::FilesClient};
        let mut files = FilesClient::new(self.channel.clone());
        let call = files
            .read(self.request(FileRef {
                sandbox_id: self.id.clone(),
                path: path.into(),
            }))
            .await;
        call.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
    }

    async fn execute(&self) -> Code {
        use soulbox_proto::v1::{ExecuteRequest, sandboxes_client::SandboxesClient};
        let mut sandboxes = SandboxesClient::new(self.channel.clone());
        let call = sandboxes
            .execute(self.request(ExecuteRequest {
                sandbox_id: self.id.clone(),
                request: Some(soulbox_proto::request_to_wire(
                    &soulbox::ExecutionRequest::new(Language::Wasm, crate::wat_print("x")),
                )),
            }))
            .await;
        call.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
    }

    async fn delete(&self) -> Code {
        use soulbox_proto::v1::{SandboxRef, sandboxes_client::SandboxesClient};
        let mut sandboxes = SandboxesClient::new(self.channel.clone());
        let call = sandboxes
            .delete(self.request(SandboxRef {
                sandbox_id: self.id.clone(),
            }))
            .await;
        call.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
    }
}
