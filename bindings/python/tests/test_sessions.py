"""Sessions: state kept across cells, fork, snapshot/restore, poisoning and reset, close."""

import pytest

from conftest import run
from soulbox import InvalidState, SandboxConfig, SessionPoisoned, Snapshot, Unsupported


def test_state_persists_across_cells(make_box):
    async def main():
        async with make_box() as sandbox:
            session = await sandbox.session("python")
            assert session.language == "python" and session.runtime == "python"
            await session.run("x = 41")
            r = await session.run("x + 1")
            printed = await session.run("print(x * 2)")
            return r, printed

    r, printed = run(main())
    assert r.status == "ok" and r.value == "42"
    assert printed.stdout == "82\n"


def test_javascript_session(make_box):
    async def main():
        async with make_box() as sandbox:
            async with await sandbox.session("javascript") as session:
                await session.run("var n = 20")
                return await session.run("console.log(n + 1)")

    assert run(main()).stdout == "21\n"


def test_fork_is_independent(make_box):
    async def main():
        async with make_box() as sandbox:
            session = await sandbox.session("python")
            await session.run("items = [1]")
            child = await session.fork()
            await child.run("items.append(2)")
            return (await session.run("items")).value, (await child.run("items")).value

    assert run(main()) == ("[1]", "[1, 2]")


def test_snapshot_and_restore(make_box, mode, tmp_path):
    async def main():
        async with make_box() as sandbox:
            session = await sandbox.session("python")
            await session.run("greeting = 'saved'")
            snapshot = await session.snapshot()
            assert isinstance(snapshot, Snapshot) and snapshot.size > 0
            if mode == "embedded":
                assert snapshot.path and snapshot.id is None
            else:
                assert snapshot.id and snapshot.path is None
            await session.run("greeting = 'changed'")
            restored = await sandbox.restore(snapshot)
            return (await restored.run("greeting")).value

    assert run(main()) == "'saved'"


def test_embedded_snapshot_to_a_path_restores_in_another_sandbox(tmp_path):
    from soulbox import SoulBox

    path = tmp_path / "s.snapshot"

    async def main():
        async with SoulBox() as first:
            session = await first.session("python")
            await session.run("answer = 6 * 7")
            snap = await session.snapshot(path)
            assert str(snap.path) == str(path)
        async with SoulBox() as second:
            restored = await second.restore(str(path))
            return (await restored.run("answer")).value

    assert run(main()) == "42"
    assert path.stat().st_size > 0


def test_a_cell_over_a_limit_poisons_until_reset(make_box):
    async def main():
        async with make_box(SandboxConfig(timeout=2)) as sandbox:
            session = await sandbox.session("python")
            r = await session.run("while True: pass")
            assert r.status == "timeout"
            with pytest.raises(SessionPoisoned) as caught:
                await session.run("1")
            assert "reset()" in str(caught.value)
            await session.reset()
            return await session.run("1 + 1")

    assert run(main()).value == "2"


def test_closed_session_raises_invalid_state(make_box):
    async def main():
        async with make_box() as sandbox:
            session = await sandbox.session("javascript")
            await session.close()
            await session.run("1")

    with pytest.raises(InvalidState, match="session is closed"):
        run(main())


def test_sessions_for_compiled_languages_are_unsupported(make_box):
    async def main():
        async with make_box() as sandbox:
            await sandbox.session("c")

    with pytest.raises(Unsupported):
        run(main())
