"""SoulBox: run untrusted code - typically code an AI agent just wrote - behind a WebAssembly wall.

The engine runs inside this Python process (no server needed)::

    import asyncio
    from soulbox import SoulBox, SandboxConfig

    async def main():
        config = SandboxConfig(memory_limit=512 * 1024 * 1024, cpu_quota=0.5, timeout=30)
        async with SoulBox(config) as sandbox:
            result = await sandbox.execute_code(language="python", code="print(6 * 7)")
            print(result.stdout, result.execution_time, result.memory_usage / 1024 / 1024)

    asyncio.run(main())

``SoulBox.connect("http://host:7070", token=...)`` gives the same API against a ``soulbox serve``.
``Sandbox`` is the synchronous twin for scripts and notebooks.

A guest that breaks a limit is a result with a ``status`` (``timeout``, ``memory_limit``, ...);
exceptions (``soulbox.errors``) are for host-side failures: bad arguments, missing runtimes,
closed sandboxes, unreachable servers.
"""

from __future__ import annotations

from soulbox._native import (
    Artifact,
    ArtifactEvent,
    AsyncEvents,
    Events,
    ExecutionResult,
    FileInfo,
    InstalledPackage,
    InstallReport,
    OutputEvent,
    Sandbox,
    SandboxConfig,
    Session,
    Snapshot,
    SoulBox,
    SyncSession,
)
from soulbox import errors
from soulbox.errors import (
    ConfigError,
    FileNotFound,
    InvalidPath,
    InvalidState,
    IsolationUnavailable,
    PackageError,
    RemoteError,
    RuntimeMissing,
    SessionError,
    SessionPoisoned,
    SnapshotError,
    SoulBoxError,
    UnknownLanguage,
    Unsupported,
    UnusableFile,
)

__version__ = "0.1.0"

__all__ = [
    "SoulBox",
    "Sandbox",
    "SandboxConfig",
    "ExecutionResult",
    "Artifact",
    "FileInfo",
    "InstalledPackage",
    "InstallReport",
    "OutputEvent",
    "ArtifactEvent",
    "AsyncEvents",
    "Events",
    "Session",
    "SyncSession",
    "Snapshot",
    *errors.__all__,
]
