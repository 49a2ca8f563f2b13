"""The synchronous twin, Sandbox: every method, in both modes."""

import pytest

from soulbox import ExecutionResult, FileNotFound, InvalidState, SandboxConfig, UnknownLanguage


def test_every_method(make_sync, tmp_path):
    with make_sync(SandboxConfig(timeout=30)) as sandbox:
        assert sandbox.state() == "running" and sandbox.id
        r = sandbox.execute_code("python", "print(6 * 7)")
        assert isinstance(r, ExecutionResult) and r.stdout == "42\n"
        sandbox.write_file("a.txt", "alpha")
        assert sandbox.read_file("a.txt") == b"alpha"
        assert [f.path for f in sandbox.list_files()] == ["a.txt"]
        sandbox.remove_file("a.txt")
        with pytest.raises(FileNotFound):
            sandbox.read_file("a.txt")
        events = list(sandbox.stream_execute("python", "import sys\nprint('s1')\nprint('s2', file=sys.stderr)"))
        assert "".join(e.text for e in events if e.kind == "stdout") == "s1\n"
        assert "".join(e.text for e in events if e.kind == "stderr") == "s2\n"
        assert events[-1].status == "ok"
        sandbox.pause()
        assert sandbox.state() == "paused"
        with pytest.raises(InvalidState):
            sandbox.execute_code("javascript", "1")
        sandbox.resume()
        with sandbox.session("python") as session:
            session.run("v = [1, 2]")
            fork = session.fork()
            fork.run("v.append(3)")
            assert session.run("v").value == "[1, 2]"
            assert fork.run("v").value == "[1, 2, 3]"
            snapshot = session.snapshot()
            session.run("v = None")
            assert sandbox.restore(snapshot).run("v").value == "[1, 2]"
            session.reset()
            assert session.run("'v' in dir()").value == "False"
        with pytest.raises(UnknownLanguage):
            sandbox.execute_code("brainfuck", "+")
    assert sandbox.state() == "terminated"


def test_limits_are_statuses(make_sync):
    with make_sync(SandboxConfig(timeout=1)) as sandbox:
        r = sandbox.execute_code("javascript", "for (;;) {}")
    assert r.status == "timeout" and r.exit_code is None
