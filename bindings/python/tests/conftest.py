"""Shared fixtures: a `soulbox serve` for remote mode, and sandboxes in either mode.

The remote tests need the `soulbox` binary: `SOULBOX_BIN` (scripts/test.sh sets it to the build
it just made), or `$CARGO_TARGET_DIR/debug/soulbox`.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import soulbox

TOKEN = "python-test-token-0123456789abcdef"
REPO = Path(__file__).resolve().parents[3]


def soulbox_bin() -> str:
    explicit = os.environ.get("SOULBOX_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "soulbox-target"))
    return str(Path(target) / "debug" / "soulbox")


@pytest.fixture(scope="session")
def server():
    """A `soulbox serve` on a free loopback port with one token; yields its URL."""
    binary = soulbox_bin()
    assert os.access(binary, os.X_OK), f"no soulbox binary at {binary}: build the workspace or set SOULBOX_BIN"
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        tokens.write_text(f"# python tests\n{TOKEN}\n")
        child = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--token-file", str(tokens)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump():
            assert child.stderr is not None
            for line in child.stderr:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        url = None
        try:
            while url is None:
                line = lines.get(timeout=60)
                if line.startswith("soulbox serve: listening on "):
                    url = line.removeprefix("soulbox serve: listening on ").strip()
            yield url
        finally:
            child.kill()
            child.wait()


@pytest.fixture(params=["embedded", "remote"])
def mode(request):
    return request.param


@pytest.fixture
def make_box(mode, request):
    """`make_box(config)` -> an unstarted async `SoulBox` in the test's mode."""

    def make(config: soulbox.SandboxConfig | None = None) -> soulbox.SoulBox:
        if mode == "embedded":
            return soulbox.SoulBox(config)
        url = request.getfixturevalue("server")
        return soulbox.SoulBox.connect(url, token=TOKEN, config=config)

    return make


@pytest.fixture
def make_sync(mode, request):
    """`make_sync(config)` -> an unstarted synchronous `Sandbox` in the test's mode."""

    def make(config: soulbox.SandboxConfig | None = None) -> soulbox.Sandbox:
        if mode == "embedded":
            return soulbox.Sandbox(config)
        url = request.getfixturevalue("server")
        return soulbox.Sandbox.connect(url, token=TOKEN, config=config)

    return make


def run(coro):
    """Runs a coroutine on a fresh event loop (the tests need no asyncio plugin)."""
    return asyncio.run(coro)
