//! `soulbox.v1.Sandboxes`: create, get, list, delete, pause, resume, set timeout, execute,
//! install packages.

use std::time::Duration;

use soulbox::{InstallOptions, Language};
use soulbox_proto::v1;
use soulbox_proto::v1::sandboxes_server::Sandboxes;
use tonic::{Request, Response, Status};

use super::{CallLog, EventStream, engine_status, invalid, wire_events};
use crate::auth::tenant;
use crate::manager::{Entry, Manager};

/// Most specs one `InstallPackage` call may name.
pub(crate) const MAX_INSTALL_SPECS: usize = 64;
/// Longest spec (bytes) `InstallPackage` accepts.
pub(crate) const MAX_SPEC_BYTES: usize = 512;

/// The request's specs, checked against the door's caps (the engine checks what they name).
fn install_specs(specs: Vec<String>) -> Result<Vec<String>, Status> {
    if specs.is_empty() {
        return Err(invalid(
            "InstallPackageRequest.specs is empty: name at least one package",
        ));
    }
    if specs.len() > MAX_INSTALL_SPECS {
        return Err(invalid(format!(
            "InstallPackageRequest names {} specs; at most {MAX_INSTALL_SPECS} per call",
            specs.len()
        )));
    }
    if let Some(long) = specs.iter().find(|s| s.len() > MAX_SPEC_BYTES) {
        return Err(invalid(format!(
            "a spec is {} bytes long; at most {MAX_SPEC_BYTES}",
            long.len()
        )));
    }
    Ok(specs)
}

fn package_to_wire(package: soulbox::packages::PackageRef) -> v1::InstalledPackage {
    v1::InstalledPackage {
        ecosystem: package.ecosystem.name().to_owned(),
        name: package.name,
        version: package.version,
        digest: package.digest,
    }
}

/// The `Sandboxes` service over a [`Manager`].
pub(crate) struct SandboxesService {
    pub(crate) manager: Manager,
}

pub(crate) fn info(entry: &Entry) -> v1::SandboxInfo {
    let (idle, expires_in) = entry.expiry();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    v1::SandboxInfo {
        sandbox_id: entry.id().to_owned(),
        state: entry.sandbox().state().to_string(),
        expires_in_ms: millis(expires_in),
        idle_timeout_ms: millis(idle),
        config: soulbox_proto::config_to_wire(entry.sandbox().config()).ok(),
    }
}

#[tonic::async_trait]
impl Sandboxes for SandboxesService {
    async fn create(
        &self,
        request: Request<v1::CreateSandboxRequest>,
    ) -> Result<Response<v1::SandboxInfo>, Status> {
        let tenant = tenant(&request)?;
        let mut log = CallLog::new("Sandboxes/Create", &tenant, "-");
        let request = request.into_inner();
        let wire = request.config.unwrap_or_default();
        let result = async {
            let config = soulbox_proto::config_from_wire(&wire, self.manager.base_config())
                .map_err(|e| invalid(e.0))?;
            let idle = request.idle_timeout_ms.map(Duration::from_millis);
            let entry = self.manager.create(&tenant, config, idle).await?;
            Ok(Response::new(info(&entry)))
        }
        .await;
        if let Ok(response) = &result {
            log.set_sandbox(&response.get_ref().sandbox_id);
        }
        log.result(result)
    }

    async fn get(
        &self,
        request: Request<v1::SandboxRef>,
    ) -> Result<Response<v1::SandboxInfo>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().sandbox_id;
        let log = CallLog::new("Sandboxes/Get", &tenant, &id);
        log.result(
            self.manager
                .get(&tenant, &id)
                .map(|e| Response::new(info(&e)))
                .map_err(Status::from),
        )
    }

    async fn list(
        &self,
        request: Request<v1::ListSandboxesRequest>,
    ) -> Result<Response<v1::ListSandboxesResponse>, Status> {
        let tenant = tenant(&request)?;
        let log = CallLog::new("Sandboxes/List", &tenant, "-");
        let sandboxes = self.manager.list(&tenant).iter().map(|e| info(e)).collect();
        log.result(Ok(Response::new(v1::ListSandboxesResponse { sandboxes })))
    }

    async fn delete(
        &self,
        request: Request<v1::SandboxRef>,
    ) -> Result<Response<v1::DeleteSandboxResponse>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().sandbox_id;
        let log = CallLog::new("Sandboxes/Delete", &tenant, &id);
        let result = self.manager.delete(&tenant, &id).await;
        log.result(
            result
                .map(|()| Response::new(v1::DeleteSandboxResponse {}))
                .map_err(Status::from),
        )
    }

    async fn pause(
        &self,
        request: Request<v1::SandboxRef>,
    ) -> Result<Response<v1::SandboxInfo>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().sandbox_id;
        let log = CallLog::new("Sandboxes/Pause", &tenant, &id);
        let result = async {
            let entry = self.manager.get(&tenant, &id)?;
            entry
                .sandbox()
                .pause()
                .await
                .map_err(|e| super::engine_status(&e))?;
            Ok(Response::new(info(&entry)))
        }
        .await;
        log.result(result)
    }

    async fn resume(
        &self,
        request: Request<v1::SandboxRef>,
    ) -> Result<Response<v1::SandboxInfo>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().sandbox_id;
        let log = CallLog::new("Sandboxes/Resume", &tenant, &id);
        let result = async {
            let entry = self.manager.get(&tenant, &id)?;
            entry
                .sandbox()
                .resume()
                .await
                .map_err(|e| super::engine_status(&e))?;
            Ok(Response::new(info(&entry)))
        }
        .await;
        log.result(result)
    }

    async fn set_timeout(
        &self,
        request: Request<v1::SetTimeoutRequest>,
    ) -> Result<Response<v1::SandboxInfo>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sandboxes/SetTimeout", &tenant, &request.sandbox_id);
        let result = self.manager.set_timeout(
            &tenant,
            &request.sandbox_id,
            Duration::from_millis(request.timeout_ms),
        );
        log.result(
            result
                .map(|e| Response::new(info(&e)))
                .map_err(Status::from),
        )
    }

    type ExecuteStream = EventStream;

    async fn execute(
        &self,
        request: Request<v1::ExecuteRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sandboxes/Execute", &tenant, &request.sandbox_id);
        let prepared = async {
            let wire = request
                .request
                .ok_or_else(|| invalid("ExecuteRequest.request is missing"))?;
            let execution = soulbox_proto::request_from_wire(wire).map_err(|e| invalid(e.0))?;
            let admission = self.manager.admit(&tenant, &request.sandbox_id).await?;
            Ok::<_, Status>((execution, admission))
        }
        .await;
        let (execution, admission) = match prepared {
            Ok(prepared) => prepared,
            Err(status) => return log.result(Err(status)),
        };
        let events = admission.entry().sandbox().stream(execution);
        Ok(Response::new(wire_events(events, admission, log, None)))
    }

    async fn install_package(
        &self,
        request: Request<v1::InstallPackageRequest>,
    ) -> Result<Response<v1::InstallPackageResponse>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Sandboxes/InstallPackage", &tenant, &request.sandbox_id);
        let result = async {
            let language: Language = request
                .language
                .parse()
                .map_err(|e: soulbox::UnknownLanguage| invalid(e.to_string()))?;
            let specs = install_specs(request.specs)?;
            // Admitted like a run: it holds a concurrency slot and keeps the sandbox alive.
            let admission = self.manager.admit(&tenant, &request.sandbox_id).await?;
            let options = InstallOptions {
                offline: request.offline,
                // A remote caller may not name host files: gems come from the workspace.
                gems_from_workspace: true,
            };
            let report = admission
                .entry()
                .sandbox()
                .install_packages_with(language, &specs, options)
                .await
                .map_err(|e| engine_status(&e))?;
            let summary = report.summary();
            Ok(Response::new(v1::InstallPackageResponse {
                installed: report.installed.into_iter().map(package_to_wire).collect(),
                already: report.already.into_iter().map(package_to_wire).collect(),
                shipped: report
                    .shipped
                    .into_iter()
                    .map(|(name, version)| v1::ShippedPackage { name, version })
                    .collect(),
                from_cache: report.from_cache,
                summary,
            }))
        }
        .await;
        log.result(result)
    }
}
