"""Python-side overhead of the `soulbox` package per call, over the same call made from Rust.

Run (after `pip install ./bindings/python`, release build for real figures):

    python benches/python_overhead.py [ROUNDS]

For a JavaScript hello world it times, in one process and interleaved in blocks so machine load
hits both sides alike:
- `Sandbox.execute_code` (synchronous, GIL released) and `await SoulBox.execute_code` (asyncio),
  each call timed in Python around the call;
- the same execution from Rust alone (`Sandbox._time_rust_calls`: the engine call in a loop,
  no Python in between).
The difference of the medians is the package's overhead. A guest run costs milliseconds and
varies by more than the overhead, so the cost of crossing alone is also measured, with a call
that does no engine work (`state()` of a started embedded sandbox).
"""

import asyncio
import statistics
import sys
import time

from soulbox import Sandbox, SandboxConfig, SoulBox

CODE = "console.log('hello')"
BLOCK = 25


def median_us(samples):
    return statistics.median(samples) * 1e6


def main(rounds):
    config = SandboxConfig(timeout=30)
    rust, sync_py, async_py = [], [], []
    with Sandbox(config) as sandbox:
        for _ in range(20):
            sandbox.execute_code("javascript", CODE)

        async def async_block(box, n):
            out = []
            for _ in range(n):
                start = time.perf_counter()
                await box.execute_code("javascript", CODE)
                out.append(time.perf_counter() - start)
            return out

        async def run_async():
            async with SoulBox(config) as box:
                for _ in range(20):
                    await box.execute_code("javascript", CODE)
                for _ in range(rounds // BLOCK):
                    rust.extend(sandbox._time_rust_calls("javascript", CODE, BLOCK))
                    for _ in range(BLOCK):
                        start = time.perf_counter()
                        sandbox.execute_code("javascript", CODE)
                        sync_py.append(time.perf_counter() - start)
                    async_py.extend(await async_block(box, BLOCK))
                crossing_async = []
                for _ in range(2000):
                    start = time.perf_counter()
                    await box.state()
                    crossing_async.append(time.perf_counter() - start)
                return crossing_async

        crossing_async = asyncio.run(run_async())
        crossing_sync = []
        for _ in range(2000):
            start = time.perf_counter()
            sandbox.state()
            crossing_sync.append(time.perf_counter() - start)

    r = median_us(rust)
    print(f"JavaScript hello, {len(rust)} calls each, medians:")
    print(f"  Rust loop (engine call alone)       {r:9.1f} us")
    for name, samples in (("Sandbox.execute_code (sync)", sync_py), ("await SoulBox.execute_code", async_py)):
        m = median_us(samples)
        print(f"  {name:36s}{m:9.1f} us   overhead {m - r:+7.1f} us ({m / r:.3f}x)")
    print("Crossing alone (no engine work), 2000 calls, medians:")
    print(f"  Sandbox.state() (sync)              {median_us(crossing_sync):9.1f} us")
    print(f"  await SoulBox.state() (asyncio)     {median_us(crossing_async):9.1f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
