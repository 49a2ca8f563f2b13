//! `soulbox.v1.Sessions`: live interpreters whose state persists across cells.

use std::sync::Arc;

use soulbox::{Language, Session};
use soulbox_proto::v1;
use soulbox_proto::v1::sessions_server::Sessions;
use tokio::sync::mpsc::unbounded_channel;
use tonic::{Request, Response, Status};

use super::{CallLog, EventStream, engine_status, invalid, run_events, wire_events};
use crate::auth::tenant;
use crate::manager::Manager;

/// The `Sessions` service over a [`Manager`].
pub(crate) struct SessionsService {
    pub(crate) manager: Manager,
}

fn session_info(sandbox_id: &str, session_id: String, session: &Session) -> v1::SessionInfo {
    v1::SessionInfo {
        sandbox_id: sandbox_id.to_owned(),
        session_id,
        language: session.language().to_string(),
        runtime: session.runtime_name().to_owned(),
    }
}

#[tonic::async_trait]
impl Sessions for SessionsService {
    async fn create(
        &self,
        request: Request<v1::CreateSessionRequest>,
    ) -> Result<Response<v1::SessionInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Create", &tenant, &request.sandbox_id);
        let result = async {
            let language: Language = request
                .language
                .parse()
                .map_err(|e: soulbox::UnknownLanguage| invalid(e.to_string()))?;
            let (id, session) = self
                .manager
                .open_session(&tenant, &request.sandbox_id, language)
                .await?;
            Ok(Response::new(session_info(
                &request.sandbox_id,
                id,
                &session,
            )))
        }
        .await;
        log.result(result)
    }

    type RunCellStream = EventStream;

    async fn run_cell(
        &self,
        request: Request<v1::RunCellRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/RunCell", &tenant, &request.sandbox_id);
        let prepared = async {
            let session =
                self.manager
                    .session(&tenant, &request.sandbox_id, &request.session_id)?;
            let admission = self.manager.admit(&tenant, &request.sandbox_id).await?;
            Ok::<_, Status>((session, admission))
        }
        .await;
        let (session, admission) = match prepared {
            Ok(prepared) => prepared,
            Err(status) => return log.result(Err(status)),
        };
        let (tx, rx) = unbounded_channel();
        let cell_session: Arc<Session> = session.clone();
        let code = request.code;
        let events = run_events(
            async move { cell_session.execute_streaming(code, tx).await },
            rx,
        );
        // A cell stopped halfway leaves the interpreter in an unknown state: the session is
        // closed rather than kept (the client gets NOT_FOUND and opens a new one).
        let manager = self.manager.clone();
        let (sandbox_id, session_id) = (request.sandbox_id, request.session_id);
        let on_cancel: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = manager.close_session(&tenant, &sandbox_id, &session_id);
        });
        Ok(Response::new(wire_events(
            events,
            admission,
            log,
            Some(on_cancel),
        )))
    }

    async fn reset(
        &self,
        request: Request<v1::SessionRef>,
    ) -> Result<Response<v1::SessionInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Reset", &tenant, &request.sandbox_id);
        let result = async {
            let session =
                self.manager
                    .session(&tenant, &request.sandbox_id, &request.session_id)?;
            session.reset().await.map_err(|e| engine_status(&e))?;
            Ok(Response::new(session_info(
                &request.sandbox_id,
                request.session_id.clone(),
                &session,
            )))
        }
        .await;
        log.result(result)
    }

    async fn fork(
        &self,
        request: Request<v1::SessionRef>,
    ) -> Result<Response<v1::SessionInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Fork", &tenant, &request.sandbox_id);
        let result = async {
            let (id, fork) = self
                .manager
                .fork_session(&tenant, &request.sandbox_id, &request.session_id)
                .await?;
            Ok(Response::new(session_info(&request.sandbox_id, id, &fork)))
        }
        .await;
        log.result(result)
    }

    async fn close(
        &self,
        request: Request<v1::SessionRef>,
    ) -> Result<Response<v1::CloseSessionResponse>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Close", &tenant, &request.sandbox_id);
        let result = self
            .manager
            .close_session(&tenant, &request.sandbox_id, &request.session_id)
            .map(|()| Response::new(v1::CloseSessionResponse {}))
            .map_err(Status::from);
        log.result(result)
    }

    async fn snapshot(
        &self,
        request: Request<v1::SessionRef>,
    ) -> Result<Response<v1::SnapshotInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Snapshot", &tenant, &request.sandbox_id);
        let result = self
            .manager
            .snapshot_session(&tenant, &request.sandbox_id, &request.session_id)
            .await
            .map(|(snapshot_id, size)| Response::new(v1::SnapshotInfo { snapshot_id, size }))
            .map_err(Status::from);
        log.result(result)
    }

    async fn delete_snapshot(
        &self,
        request: Request<v1::SnapshotRef>,
    ) -> Result<Response<v1::DeleteSnapshotResponse>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/DeleteSnapshot", &tenant, "-");
        let result = self
            .manager
            .delete_snapshot(&tenant, &request.snapshot_id)
            .map(|()| Response::new(v1::DeleteSnapshotResponse {}))
            .map_err(Status::from);
        log.result(result)
    }

    async fn restore(
        &self,
        request: Request<v1::RestoreRequest>,
    ) -> Result<Response<v1::SessionInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sessions/Restore", &tenant, &request.sandbox_id);
        let result = async {
            let (id, session) = self
                .manager
                .restore_session(&tenant, &request.sandbox_id, &request.snapshot_id)
                .await?;
            Ok(Response::new(session_info(
                &request.sandbox_id,
                id,
                &session,
            )))
        }
        .await;
        log.result(result)
    }
}
