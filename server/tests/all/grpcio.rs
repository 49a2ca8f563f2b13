//! The server driven by a client nobody on the team wrote: Python's `grpcio`, with stubs
//! generated at test time by `grpcio-tools` from proto/soulbox/v1/*.proto. scripts/setup.sh
//! installs both (pinned) into `$SOULBOX_HOME/clients/grpc-venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{TOKEN, TestServer};

fn venv_python() -> PathBuf {
    let home = soulbox::default_home().expect("SOULBOX_HOME");
    home.join("clients/grpc-venv/bin/python")
}

const SCRIPT: &str = r#"
import json, os, sys
import grpc
from soulbox.v1 import soulbox_pb2 as pb, soulbox_pb2_grpc as rpc, types_pb2 as t

channel = grpc.insecure_channel(os.environ["TARGET"])
md = [("authorization", "Bearer " + os.environ["TOKEN"])]
sandboxes, files, sessions = rpc.SandboxesStub(channel), rpc.FilesStub(channel), rpc.SessionsStub(channel)
out = {}

def kind(err):
    return dict(err.trailing_metadata() or ()).get("soulbox-error-kind")

try:
    sandboxes.List(pb.ListSandboxesRequest())
    out["no_token"] = "OK"
except grpc.RpcError as e:
    out["no_token"] = e.code().name

info = sandboxes.Create(pb.CreateSandboxRequest(
    config=t.SandboxConfig(memory_limit=512 * 1024 * 1024, timeout_ms=20000)), metadata=md)
sid = info.sandbox_id
out["state"] = info.state

events = []
request = t.ExecutionRequest(language="python",
    code=b"import sys\nprint(6 * 7)\nsys.stderr.write('e\\n')\nopen('/work/r.txt', 'w').write('r')")
for event in sandboxes.Execute(pb.ExecuteRequest(sandbox_id=sid, request=request), metadata=md):
    which = event.WhichOneof("event")
    events.append(which)
    if which == "result":
        out["status"] = t.Status.Name(event.result.status)
        out["stdout"] = event.result.stdout
        out["exit_code"] = event.result.exit_code
out["events"] = events

chunks = iter([pb.WriteFileChunk(sandbox_id=sid, path="hello.txt", data=b"hel"), pb.WriteFileChunk(data=b"lo")])
out["written"] = files.Write(chunks, metadata=md).size
out["read"] = b"".join(c.data for c in files.Read(pb.FileRef(sandbox_id=sid, path="hello.txt"), metadata=md)).decode()
out["listed"] = sorted(f.path for f in files.List(pb.ListFilesRequest(sandbox_id=sid), metadata=md).files)
try:
    list(files.Read(pb.FileRef(sandbox_id=sid, path="../../etc/passwd"), metadata=md))
    out["climb"] = "OK"
except grpc.RpcError as e:
    out["climb"] = [e.code().name, kind(e)]

try:
    sandboxes.Create(pb.CreateSandboxRequest(config=t.SandboxConfig(memory_limit=64 * 1024 ** 3)), metadata=md)
    out["over_cap"] = "OK"
except grpc.RpcError as e:
    out["over_cap"] = [e.code().name, e.details()]

session = sessions.Create(pb.CreateSessionRequest(sandbox_id=sid, language="python"), metadata=md)
def cell(code):
    for event in sessions.RunCell(pb.RunCellRequest(sandbox_id=sid, session_id=session.session_id, code=code), metadata=md):
        if event.WhichOneof("event") == "result":
            return event.result.value if event.result.HasField("value") else None
out["cells"] = [cell(b"x = 41"), cell(b"x + 1")]

installed = sandboxes.InstallPackage(pb.InstallPackageRequest(sandbox_id=sid, language="python", specs=["idna"]), metadata=md)
out["installed"] = sorted(p.name for p in list(installed.installed) + list(installed.already))
out["imported"] = cell("import idna\nidna.encode('ドメイン.テスト').decode()".encode())
try:
    sandboxes.InstallPackage(pb.InstallPackageRequest(sandbox_id=sid, language="python", specs=["numpy==2.2.0"]), metadata=md)
    out["refused"] = "OK"
except grpc.RpcError as e:
    out["refused"] = [e.code().name, kind(e), "numpy" in e.details()]
try:
    sandboxes.InstallPackage(pb.InstallPackageRequest(sandbox_id=sid, language="python", specs=["/etc/passwd"]), metadata=md)
    out["bad_spec"] = "OK"
except grpc.RpcError as e:
    out["bad_spec"] = [e.code().name, kind(e)]

sandboxes.Delete(pb.SandboxRef(sandbox_id=sid), metadata=md)
try:
    sandboxes.Get(pb.SandboxRef(sandbox_id=sid), metadata=md)
    out["after_delete"] = "OK"
except grpc.RpcError as e:
    out["after_delete"] = e.code().name
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_drives_the_server() {
    let python = venv_python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it installs grpcio and grpcio-tools there)",
        python.display()
    );
    let server = TestServer::start(Default::default()).await;
    let stubs = tempfile::tempdir().expect("temp dir");
    let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let generated = Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&protos)
        .arg(format!("--python_out={}", stubs.path().display()))
        .arg(format!("--grpc_python_out={}", stubs.path().display()))
        .args(["soulbox/v1/types.proto", "soulbox/v1/soulbox.proto"])
        .output()
        .expect("run grpc_tools.protoc");
    assert!(
        generated.status.success(),
        "stub generation failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let target = server.url.trim_start_matches("http://").to_owned();
    let stub_dir = stubs.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(["-c", SCRIPT])
            .env("PYTHONPATH", &stub_dir)
            .env("TARGET", target)
            .env("TOKEN", TOKEN)
            .output()
            .expect("run the grpcio script")
    })
    .await
    .expect("blocking task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the grpcio client failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON from the script");
    assert_eq!(out["no_token"], "UNAUTHENTICATED", "{out}");
    assert_eq!(out["state"], "running", "{out}");
    assert_eq!(out["status"], "STATUS_OK", "{out}");
    assert_eq!(out["stdout"], "42\n", "{out}");
    assert_eq!(out["exit_code"], 0, "{out}");
    let events: Vec<&str> = out["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    // Python's stdout is a pipe, flushed at exit: stderr's chunk comes first.
    assert_eq!(events, ["stderr", "stdout", "artifact", "result"], "{out}");
    assert_eq!(events.last(), Some(&"result"), "{out}");
    assert_eq!(out["written"], 5, "{out}");
    assert_eq!(out["read"], "hello", "{out}");
    assert_eq!(
        out["listed"],
        serde_json::json!(["hello.txt", "r.txt"]),
        "{out}"
    );
    assert_eq!(
        out["climb"],
        serde_json::json!(["INVALID_ARGUMENT", "invalid_path"]),
        "{out}"
    );
    assert_eq!(out["over_cap"][0], "INVALID_ARGUMENT", "{out}");
    assert!(
        out["over_cap"][1]
            .as_str()
            .unwrap_or("")
            .contains("max_memory"),
        "{out}"
    );
    assert_eq!(out["cells"], serde_json::json!([null, "42"]), "{out}");
    assert_eq!(out["installed"], serde_json::json!(["idna"]), "{out}");
    assert_eq!(out["imported"], "'xn--eckwd4c7c.xn--zckzah'", "{out}");
    assert_eq!(
        out["refused"],
        serde_json::json!(["FAILED_PRECONDITION", "package", true]),
        "{out}"
    );
    assert_eq!(
        out["bad_spec"],
        serde_json::json!(["INVALID_ARGUMENT", "invalid_request"]),
        "{out}"
    );
    assert_eq!(out["after_delete"], "NOT_FOUND", "{out}");
}
