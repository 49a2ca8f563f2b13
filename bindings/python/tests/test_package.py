"""The package as installed: docstrings for help(), type stubs, py.typed, the examples."""

import os
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

import soulbox

REPO = Path(__file__).resolve().parents[3]
PACKAGE = Path(soulbox.__file__).parent


def test_help_shows_docstrings():
    for cls in (soulbox.SoulBox, soulbox.Sandbox, soulbox.SandboxConfig, soulbox.ExecutionResult):
        assert cls.__doc__ and len(cls.__doc__) > 40, cls
    text = pydoc.render_doc(soulbox.SoulBox, renderer=pydoc.plaintext)
    assert "execute_code" in text and "stream_execute" in text
    assert "UnknownLanguage" in soulbox.SoulBox.execute_code.__doc__
    assert soulbox.ExecutionResult.execution_time.__doc__.startswith("Wall-clock time")


def test_stubs_and_py_typed_are_installed():
    assert (PACKAGE / "py.typed").is_file()
    stub = (PACKAGE / "_native.pyi").read_text()
    for name in soulbox.__all__:
        if not name[0].isupper() or name.endswith(("Error", "Missing", "Poisoned", "Unavailable")):
            continue
        if name in ("UnknownLanguage", "InvalidPath", "FileNotFound", "UnusableFile", "InvalidState", "Unsupported"):
            continue
        assert f"class {name}" in stub, name


def test_error_hierarchy():
    assert issubclass(soulbox.ConfigError, soulbox.SoulBoxError)
    assert issubclass(soulbox.ConfigError, ValueError)
    assert issubclass(soulbox.UnknownLanguage, soulbox.ConfigError)
    assert issubclass(soulbox.RuntimeMissing, soulbox.SoulBoxError)
    assert issubclass(soulbox.FileNotFound, FileNotFoundError)
    assert issubclass(soulbox.RemoteError, ConnectionError)
    assert issubclass(soulbox.SessionPoisoned, soulbox.SessionError)


def _run_example(name, cwd):
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )


def test_the_seeds_quickstart_example_runs(tmp_path):
    out = _run_example("quickstart.py", tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["A", "B"]
    assert [line.split()[0] for line in lines[1:9]] == ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
    assert lines[1].split()[1:] == ["100.000000", "100.000000"]
    # The last line: describe()'s last row, then execution_time (ms) and memory_usage (MiB).
    tail = lines[-1].split()
    assert float(tail[-2]) > 0 and float(tail[-1]) > 1


def test_the_streaming_example_runs(tmp_path):
    out = _run_example("streaming.py", tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == ["step 0", "step 1", "step 2", "saved plot.png"]
    assert lines[4].startswith("image plot.png (image/png, ")
    assert lines[5].startswith("status ok in ")
    assert (tmp_path / "streaming_plot.png").read_bytes().startswith(b"\x89PNG")
