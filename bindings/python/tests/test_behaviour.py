"""How the package behaves inside Python: the GIL is released while a guest runs, asyncio tasks
run sandboxes concurrently, cancellation and Ctrl-C stop the guest."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

from conftest import run
from soulbox import Sandbox, SandboxConfig, SoulBox

BUSY_JS = "const end = Date.now() + 700; while (Date.now() < end) {} console.log('done')"


def test_the_gil_is_released_while_a_guest_runs():
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    with Sandbox() as sandbox:
        sandbox.execute_code("javascript", "console.log('warm')")  # runtime loaded
        thread = threading.Thread(target=spin)
        thread.start()
        try:
            before = counter[0]
            result = sandbox.execute_code("javascript", BUSY_JS)
            during = counter[0] - before
        finally:
            stop.set()
            thread.join()
    assert result.stdout == "done\n"
    # With the GIL held for the guest's 0.7 s, the thread could not have counted at all (beyond a
    # switch interval or two); released, it counts millions.
    assert during > 100_000, during


def test_sixteen_sandboxes_run_at_once_from_one_event_loop():
    ticks = [0]

    async def ticker(done: asyncio.Event):
        while not done.is_set():
            ticks[0] += 1
            await asyncio.sleep(0.01)

    async def one(i):
        async with SoulBox(SandboxConfig(timeout=60)) as sandbox:
            r = await sandbox.execute_code(
                "javascript", f"const end = Date.now() + 300; while (Date.now() < end) {{}} console.log({i})"
            )
            return sandbox.id, r

    async def main():
        done = asyncio.Event()
        tick = asyncio.create_task(ticker(done))
        results = await asyncio.gather(*(one(i) for i in range(16)))
        done.set()
        await tick
        return results

    results = run(main())
    assert [r.stdout for _, r in results] == [f"{i}\n" for i in range(16)]
    assert len({sandbox_id for sandbox_id, _ in results}) == 16
    # The loop kept running while the guests did: 16 guests of 0.3 s each on a few cores take
    # well over 0.1 s, during which a blocked loop would not have ticked at all.
    assert ticks[0] >= 10, ticks[0]


def test_cancelling_the_task_stops_the_guest():
    async def main():
        async with SoulBox(SandboxConfig(timeout=120)) as sandbox:
            await sandbox.execute_code("javascript", "1")
            task = asyncio.create_task(sandbox.execute_code("javascript", "for (;;) {}"))
            await asyncio.sleep(0.5)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled = True
            else:
                cancelled = False
            # A sandbox runs one execution at a time: if the looping guest were still running
            # (its timeout is 120 s), this would wait for it and wait_for would time out.
            after = await asyncio.wait_for(sandbox.execute_code("javascript", "console.log('next')"), 20)
            return cancelled, after

    cancelled, after = run(main())
    assert cancelled
    assert after.stdout == "next\n"


def test_wait_for_timeout_cancels_like_a_task():
    async def main():
        async with SoulBox(SandboxConfig(timeout=120)) as sandbox:
            try:
                await asyncio.wait_for(sandbox.execute_code("javascript", "for (;;) {}"), 1)
            except asyncio.TimeoutError:
                pass
            return await asyncio.wait_for(sandbox.execute_code("javascript", "console.log(7)"), 20)

    assert run(main()).stdout == "7\n"


def test_ctrl_c_stops_a_blocking_guest_and_raises_keyboard_interrupt():
    script = textwrap.dedent(
        """
        import sys
        from soulbox import Sandbox, SandboxConfig
        with Sandbox(SandboxConfig(timeout=120)) as sandbox:
            sandbox.execute_code("javascript", "1")
            print("started", flush=True)
            try:
                sandbox.execute_code("javascript", "for (;;) {}")
                print("finished?!", flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
            print(sandbox.execute_code("javascript", "console.log('after')").stdout, end="", flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "started\n"
    threading.Event().wait(1.0)
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out == "interrupted\nafter\n"
