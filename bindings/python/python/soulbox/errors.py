"""SoulBox's exceptions: host-side failures, each with the engine's message.

A guest that breaks a limit (timeout, memory, fuel, output, disk) is *not* an exception: it is an
``ExecutionResult`` whose ``status`` says which limit.
"""

from __future__ import annotations


class SoulBoxError(Exception):
    """Base of every SoulBox exception; ``str(err)`` is the engine's message (it says what to do)."""


class ConfigError(SoulBoxError, ValueError):
    """A bad argument or configuration value (negative memory, zero timeout, empty code...)."""


class UnknownLanguage(ConfigError):
    """A language name or file extension SoulBox does not know."""


class InvalidPath(SoulBoxError, ValueError):
    """A workspace path that is absolute outside ``/work`` or escapes the workspace."""


class FileNotFound(SoulBoxError, FileNotFoundError):
    """The workspace has no such file."""


class UnusableFile(SoulBoxError):
    """A workspace entry that cannot be read or written (a link, FIFO, device, or too large)."""


class InvalidState(SoulBoxError):
    """The sandbox or session cannot do that now: it is paused, or closed."""


class Unsupported(SoulBoxError):
    """Known language or operation, but nothing here can serve it (for example sessions for C)."""


class RuntimeMissing(SoulBoxError):
    """A language runtime or compile toolchain is missing and could not be installed."""


class PackageError(SoulBoxError):
    """A package install was refused or failed: not found, native code or only an sdist,
    a resolution conflict, a digest mismatch, the registry unreachable, offline and not
    cached. The message names the package and why."""


class IsolationUnavailable(SoulBoxError):
    """The native backend cannot isolate a program on this host."""


class SessionError(SoulBoxError):
    """A session's interpreter could not be started."""


class SessionPoisoned(SessionError):
    """An earlier cell broke a limit or was cancelled: call ``reset()``."""


class SnapshotError(SoulBoxError):
    """A snapshot that this build cannot restore, or a damaged one."""


class RemoteError(SoulBoxError, ConnectionError):
    """The SoulBox server could not be reached, or refused the request (a bad token...)."""


__all__ = [
    "SoulBoxError",
    "ConfigError",
    "UnknownLanguage",
    "InvalidPath",
    "FileNotFound",
    "UnusableFile",
    "InvalidState",
    "Unsupported",
    "RuntimeMissing",
    "PackageError",
    "IsolationUnavailable",
    "SessionError",
    "SessionPoisoned",
    "SnapshotError",
    "RemoteError",
]
