"""The seed's streaming example: output arrives while the guest runs, then the plot it saved,
then the result. Run it with `python examples/streaming.py` after `pip install ./bindings/python`;
the plot is written to streaming_plot.png in the current directory.
"""

import asyncio
import sys

from soulbox import SandboxConfig, SoulBox

CODE = """
import time
import numpy as np
import matplotlib.pyplot as plt

for step in range(3):
    print(f"step {step}", flush=True)
    time.sleep(0.2)

x = np.linspace(0, 2 * np.pi, 200)
plt.plot(x, np.sin(x))
plt.savefig("plot.png")
print("saved plot.png")
"""


async def main():
    async with SoulBox(SandboxConfig(timeout=60)) as sandbox:
        async for event in sandbox.stream_execute("python", CODE):
            if event.kind == "stdout":
                print(event.text, end="", flush=True)
            elif event.kind == "stderr":
                print(event.text, end="", file=sys.stderr, flush=True)
            elif event.kind == "image":
                image = event.artifact
                with open("streaming_plot.png", "wb") as out:
                    out.write(image.data)
                print(f"image {image.path} ({image.mime_type}, {image.size} bytes)")
            elif event.kind == "result":
                print(f"status {event.status} in {event.execution_time:.0f} ms")


asyncio.run(main())
