"""Remote mode specifics: one line moves code between embedded and remote; bad tokens and
unreachable servers are RemoteError (a ConnectionError)."""

import socket

import pytest

from conftest import TOKEN, run
from soulbox import RemoteError, SoulBox


def test_the_same_code_runs_embedded_and_remote(server):
    async def work(sandbox):
        async with sandbox:
            await sandbox.write_file("n.txt", "20")
            r = await sandbox.execute_code("python", "print(int(open('n.txt').read()) + 1)")
            return r.stdout, sandbox.remote

    embedded = run(work(SoulBox()))
    remote = run(work(SoulBox.connect(server, token=TOKEN)))
    assert embedded == ("21\n", False)
    assert remote == ("21\n", True)


def test_a_wrong_token_is_refused(server):
    with pytest.raises(RemoteError) as caught:
        run(SoulBox.connect(server, token="wrong-token-000000000000").execute_code("js", "1"))
    assert "token" in str(caught.value).lower() or "unauthenticated" in str(caught.value).lower()


def test_no_token_is_refused(server):
    with pytest.raises(RemoteError):
        run(SoulBox.connect(server).execute_code("js", "1"))


def test_an_unreachable_server_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteError) as caught:
        run(SoulBox.connect(f"http://127.0.0.1:{port}", token=TOKEN).execute_code("js", "1"))
    assert isinstance(caught.value, ConnectionError)
