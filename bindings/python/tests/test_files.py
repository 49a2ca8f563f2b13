"""The workspace file API and the sandbox lifecycle (pause, resume, close), in both modes."""

import pytest

from conftest import run
from soulbox import FileNotFound, InvalidPath, InvalidState


def test_write_read_list_remove(make_box):
    async def main():
        async with make_box() as sandbox:
            await sandbox.write_file("data/in.txt", "hello\n")
            await sandbox.write_file("raw.bin", bytes(range(256)))
            result = await sandbox.execute_code("python", "print(open('data/in.txt').read().upper(), end='')")
            listing = {f.path: f for f in await sandbox.list_files()}
            sub = [f.path for f in await sandbox.list_files("data")]
            raw = await sandbox.read_file("raw.bin")
            await sandbox.remove_file("raw.bin")
            after = [f.path for f in await sandbox.list_files(".")]
            return result, listing, sub, raw, after

    result, listing, sub, raw, after = run(main())
    assert result.stdout == "HELLO\n"
    assert listing["data"].is_dir and listing["raw.bin"].size == 256
    assert sub == ["data/in.txt"]
    assert raw == bytes(range(256))
    assert "raw.bin" not in after and "data" in after


def test_missing_file_is_file_not_found(make_box):
    async def main():
        async with make_box() as sandbox:
            await sandbox.read_file("nope.txt")

    with pytest.raises(FileNotFound) as caught:
        run(main())
    assert isinstance(caught.value, FileNotFoundError)
    assert "nope.txt" in str(caught.value)


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_paths_outside_the_workspace_are_refused(make_box, path):
    async def main():
        async with make_box() as sandbox:
            await sandbox.write_file(path, "x")

    with pytest.raises(InvalidPath) as caught:
        run(main())
    assert isinstance(caught.value, ValueError)


def test_pause_refuses_executions_until_resume(make_box):
    async def main():
        async with make_box() as sandbox:
            assert await sandbox.state() == "running"
            await sandbox.pause()
            assert await sandbox.state() == "paused"
            with pytest.raises(InvalidState) as caught:
                await sandbox.execute_code("javascript", "console.log(1)")
            assert "paused" in str(caught.value)
            await sandbox.resume()
            return await sandbox.execute_code("javascript", "console.log(1)")

    assert run(main()).stdout == "1\n"


def test_closed_sandbox_raises_invalid_state_and_close_is_idempotent(make_box):
    async def main():
        sandbox = make_box()
        assert await sandbox.state() == "created"
        assert sandbox.id is None
        await sandbox.start()
        assert sandbox.id
        await sandbox.close()
        await sandbox.close()
        assert await sandbox.state() == "terminated"
        await sandbox.execute_code("javascript", "1")

    with pytest.raises(InvalidState, match="closed"):
        run(main())


def test_create_starts_an_embedded_sandbox():
    from soulbox import SoulBox

    async def main():
        sandbox = await SoulBox.create()
        assert sandbox.id and not sandbox.remote
        r = await sandbox.execute_code("js", "console.log(2 + 2)")
        await sandbox.close()
        return r

    assert run(main()).stdout == "4\n"
