//! Serving: the `soulbox.v1` services behind the token check, health and reflection, message
//! size limits, optional TLS, the idle reaper, and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use soulbox_proto::v1::files_server::FilesServer;
use soulbox_proto::v1::sandboxes_server::SandboxesServer;
use soulbox_proto::v1::sessions_server::SessionsServer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::auth::{Authenticator, Tokens};
use crate::grpc::files::FilesService;
use crate::grpc::sandboxes::SandboxesService;
use crate::grpc::sessions::SessionsService;
use crate::manager::Manager;

/// A PEM certificate chain and private key.
#[derive(Clone)]
pub struct Tls {
    /// Certificate chain, PEM.
    pub cert: Vec<u8>,
    /// Private key, PEM.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Who may call.
    pub tokens: Tokens,
    /// TLS identity; `None`: plain HTTP/2.
    pub tls: Option<Tls>,
    /// How often idle sandboxes are looked for.
    pub reap_every: Duration,
}

impl ServeOptions {
    /// Plain HTTP/2, the idle reaper every second.
    pub fn new(tokens: Tokens) -> ServeOptions {
        ServeOptions {
            tokens,
            tls: None,
            reap_every: Duration::from_secs(1),
        }
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate or key was refused.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The reflection service could not read the descriptors.
    #[error("reflection setup failed: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("the gRPC server failed: {0}")]
    Transport(String),
}

/// Serves `manager` on `listener` until `shutdown` resolves; then stops accepting calls, lets
/// running executions finish for up to the config's `shutdown_grace`, terminates what is left
/// (those runs end with status `killed`), removes every workspace and returns.
pub async fn serve(
    manager: Manager,
    options: ServeOptions,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let max = manager.config().max_message_bytes;
    let auth = Authenticator(options.tokens.clone());
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SandboxesServer<SandboxesService>>()
        .await;
    health_reporter
        .set_serving::<SessionsServer<SessionsService>>()
        .await;
    health_reporter
        .set_serving::<FilesServer<FilesService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(soulbox_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let sandboxes = SandboxesServer::new(SandboxesService {
        manager: manager.clone(),
    })
    .max_decoding_message_size(max)
    .max_encoding_message_size(max);
    let sessions = SessionsServer::new(SessionsService {
        manager: manager.clone(),
    })
    .max_decoding_message_size(max)
    .max_encoding_message_size(max);
    let files = FilesServer::new(FilesService {
        manager: manager.clone(),
    })
    .max_decoding_message_size(max)
    .max_encoding_message_size(max);

    let mut builder = Server::builder();
    if let Some(tls) = &options.tls {
        let identity = Identity::from_pem(&tls.cert, &tls.key);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let router = builder
        .add_service(InterceptedService::new(sandboxes, auth.clone()))
        .add_service(InterceptedService::new(sessions, auth.clone()))
        .add_service(InterceptedService::new(files, auth.clone()))
        .add_service(InterceptedService::new(health, auth.clone()))
        .add_service(InterceptedService::new(reflection, auth));

    let reaper = manager.spawn_reaper(options.reap_every);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new calls; running executions may finish");
        let _ = stop_tx.send(());
    };
    let grace = manager.config().shutdown_grace;
    let drain = async {
        // Also when the server ends by itself (the sender is dropped).
        let _ = stop_rx.await;
        let left = manager.shutdown(grace).await;
        if left > 0 {
            tracing::warn!(
                killed = left,
                "grace period over: executions still running were terminated"
            );
        }
    };
    // No Nagle: an event and the result right behind it must not wait for an ACK (40 ms).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (served, ()) = tokio::join!(router.serve_with_incoming_shutdown(incoming, signal), drain);
    reaper.abort();
    served.map_err(|e| ServeError::Transport(e.to_string()))
}
