"""stream_execute: typed events in the order the guest produced them, then the result."""

import pytest

from conftest import run
from soulbox import ArtifactEvent, ExecutionResult, OutputEvent, SandboxConfig, UnknownLanguage

CODE = """
import sys
for i in range(3):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
open("table.csv", "w").write("a,b\\n1,2\\n")
import base64
open("dot.png", "wb").write(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="))
"""


def test_events_come_in_order_and_end_with_the_result(make_box):
    async def main():
        async with make_box() as sandbox:
            return [event async for event in sandbox.stream_execute("python", CODE)]

    events = run(main())
    kinds = [e.kind for e in events]
    assert kinds[-1] == "result" and isinstance(events[-1], ExecutionResult)
    assert kinds.count("result") == 1
    output = [e for e in events if isinstance(e, OutputEvent)]
    files = [e for e in events if isinstance(e, ArtifactEvent)]
    # Output first, as written; then the files; then the result.
    assert kinds.index("image") > max(i for i, k in enumerate(kinds) if k in ("stdout", "stderr"))
    stdout = "".join(e.text for e in output if e.kind == "stdout")
    stderr = "".join(e.text for e in output if e.kind == "stderr")
    assert stdout == "out 0\nout 1\nout 2\n"
    assert stderr == "err 0\nerr 1\nerr 2\n"
    assert b"".join(e.data for e in output if e.kind == "stdout") == stdout.encode()
    result = events[-1]
    assert result.status == "ok" and result.stdout == stdout and result.stderr == stderr
    by_kind = {e.kind: e.artifact for e in files}
    assert by_kind["image"].path == "dot.png" and by_kind["image"].mime_type == "image/png"
    assert by_kind["image"].data.startswith(b"\x89PNG")
    assert by_kind["artifact"].path == "table.csv" and by_kind["artifact"].data == b"a,b\n1,2\n"


def test_stdout_interleaves_in_write_order(make_box):
    code = "for (let i = 0; i < 5; i++) console.log('line ' + i)"

    async def main():
        async with make_box() as sandbox:
            return [e async for e in sandbox.stream_execute("javascript", code)]

    events = run(main())
    text = "".join(e.text for e in events if e.kind == "stdout")
    assert text == "".join(f"line {i}\n" for i in range(5))
    assert events[-1].status == "ok"


def test_a_limit_in_a_stream_ends_with_its_status(make_box):
    async def main():
        async with make_box(SandboxConfig(timeout=1)) as sandbox:
            return [e async for e in sandbox.stream_execute("javascript", "console.log('before'); for (;;) {}")]

    events = run(main())
    assert events[0].kind == "stdout" and events[0].text == "before\n"
    assert events[-1].status == "timeout"


def test_unknown_language_raises_at_the_call(make_box):
    with pytest.raises(UnknownLanguage):
        make_box().stream_execute("klingon", "x")


def test_iterating_past_the_end_stops(make_box):
    async def main():
        async with make_box() as sandbox:
            events = sandbox.stream_execute("javascript", "console.log(1)")
            seen = [e async for e in events]
            again = [e async for e in events]
            return seen, again

    seen, again = run(main())
    assert seen[-1].kind == "result" and again == []


def test_aclose_stops_a_running_guest(make_box):
    import asyncio

    async def main():
        async with make_box(SandboxConfig(timeout=55)) as sandbox:
            events = sandbox.stream_execute("javascript", "console.log('spinning'); for (;;) {}")
            first = await events.__anext__()
            await events.aclose()
            assert [e async for e in events] == []
            # The sandbox runs one execution at a time: a guest still spinning (55 s timeout)
            # would hold it, and wait_for would time out.
            after = await asyncio.wait_for(sandbox.execute_code("javascript", "console.log('free')"), 20)
            return first, after

    first, after = run(main())
    assert first.text == "spinning\n"
    assert after.stdout == "free\n"


def test_closing_a_sync_stream_stops_the_guest(make_sync):
    with make_sync(SandboxConfig(timeout=55)) as sandbox:
        events = sandbox.stream_execute("javascript", "console.log('spinning'); for (;;) {}")
        assert next(events).text == "spinning\n"
        events.close()
        assert list(events) == []
        assert sandbox.execute_code("javascript", "console.log('free')").stdout == "free\n"


def test_config_is_kept(make_box):
    box = make_box(SandboxConfig(timeout=7, memory_limit=64 * 1024 * 1024))
    assert box.config.timeout == 7.0 and box.config.memory_limit == 64 * 1024 * 1024
