//! `soulbox.v1.Files`: the sandbox's workspace through the engine's file API (which refuses
//! paths that climb out, links and special files). Uploads are bounded by the server's
//! `max_upload_bytes` and by what is left of the sandbox's disk budget.

use std::pin::Pin;

use futures::Stream;
use soulbox_proto::v1;
use soulbox_proto::v1::files_server::Files;
use tonic::{Request, Response, Status, Streaming};

use super::{CallLog, engine_status, invalid};
use crate::auth::tenant;
use crate::manager::Manager;

/// Bytes per `FileChunk` of a download (well under the smallest `max_message_bytes`).
const CHUNK_BYTES: usize = 256 * 1024;

/// The `Files` service over a [`Manager`].
pub(crate) struct FilesService {
    pub(crate) manager: Manager,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<v1::FileChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Files for FilesService {
    async fn write(
        &self,
        request: Request<Streaming<v1::WriteFileChunk>>,
    ) -> Result<Response<v1::WriteFileResponse>, Status> {
        let tenant = tenant(&request)?;
        let mut chunks = request.into_inner();
        let first = chunks.message().await?.ok_or_else(|| {
            invalid("an upload needs at least one chunk naming the sandbox and path")
        })?;
        let log = CallLog::new("Files/Write", &tenant, &first.sandbox_id);
        let result = async {
            if first.path.is_empty() {
                return Err(invalid("the first chunk of an upload must name the path"));
            }
            let entry = self.manager.get(&tenant, &first.sandbox_id)?;
            let sandbox = entry.sandbox();
            // What the workspace already holds counts against the disk budget, except the file
            // being replaced.
            let listed = sandbox
                .list_files("")
                .await
                .map_err(|e| engine_status(&e))?;
            let target = first.path.trim_start_matches("/work/");
            let used: u64 = listed
                .iter()
                .filter(|f| !f.is_dir && f.path != target)
                .map(|f| f.size)
                .sum();
            let budget = sandbox.config().max_disk_bytes.saturating_sub(used);
            let limit = budget.min(self.manager.config().max_upload_bytes);
            let mut data = first.data;
            loop {
                if u64::try_from(data.len()).unwrap_or(u64::MAX) > limit {
                    return Err(Status::resource_exhausted(format!(
                        "the upload is larger than the {limit} bytes allowed (the sandbox's \
                         max_disk_bytes {} minus {used} bytes in use, and the server's \
                         max_upload_bytes {})",
                        sandbox.config().max_disk_bytes,
                        self.manager.config().max_upload_bytes
                    )));
                }
                match chunks.message().await? {
                    Some(chunk) => data.extend_from_slice(&chunk.data),
                    None => break,
                }
            }
            let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
            sandbox
                .write_file(&first.path, data)
                .await
                .map_err(|e| engine_status(&e))?;
            Ok(Response::new(v1::WriteFileResponse { size }))
        }
        .await;
        log.result(result)
    }

    type ReadStream = ChunkStream;

    async fn read(&self, request: Request<v1::FileRef>) -> Result<Response<ChunkStream>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Files/Read", &tenant, &request.sandbox_id);
        let result = async {
            let entry = self.manager.get(&tenant, &request.sandbox_id)?;
            let data = entry
                .sandbox()
                .read_file(&request.path)
                .await
                .map_err(|e| engine_status(&e))?;
            let chunks: Vec<Result<v1::FileChunk, Status>> = if data.is_empty() {
                vec![Ok(v1::FileChunk { data })]
            } else {
                data.chunks(CHUNK_BYTES)
                    .map(|c| Ok(v1::FileChunk { data: c.to_vec() }))
                    .collect()
            };
            let stream: ChunkStream = Box::pin(futures::stream::iter(chunks));
            Ok(Response::new(stream))
        }
        .await;
        log.result(result)
    }

    async fn list(
        &self,
        request: Request<v1::ListFilesRequest>,
    ) -> Result<Response<v1::ListFilesResponse>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Files/List", &tenant, &request.sandbox_id);
        let result = async {
            let entry = self.manager.get(&tenant, &request.sandbox_id)?;
            let files = entry
                .sandbox()
                .list_files(&request.path)
                .await
                .map_err(|e| engine_status(&e))?;
            Ok(Response::new(v1::ListFilesResponse {
                files: files.iter().map(soulbox_proto::file_info_to_wire).collect(),
            }))
        }
        .await;
        log.result(result)
    }

    async fn remove(
        &self,
        request: Request<v1::FileRef>,
    ) -> Result<Response<v1::RemoveFileResponse>, Status> {
        let tenant = tenant(&request)?;
        let request = request.into_inner();
        let log = CallLog::new("Files/Remove", &tenant, &request.sandbox_id);
        let result = async {
            let entry = self.manager.get(&tenant, &request.sandbox_id)?;
            entry
                .sandbox()
                .remove_file(&request.path)
                .await
                .map_err(|e| engine_status(&e))?;
            Ok(Response::new(v1::RemoveFileResponse {}))
        }
        .await;
        log.result(result)
    }
}
