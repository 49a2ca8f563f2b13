"""The seed's Python example: the SoulBox engine embedded in this process, via the `soulbox`
package (`pip install ./bindings/python`). Run it with `python examples/quickstart.py`.

The guest code is the seed's pandas `describe()` example (examples/pandas_describe.py).
"""

import asyncio

from soulbox import SandboxConfig, SoulBox

CODE = """
import numpy as np
import pandas as pd

df = pd.DataFrame(np.random.randn(100, 2), columns=["A", "B"])
print(df.describe())
"""


async def main():
    config = SandboxConfig(memory_limit=512 * 1024 * 1024, cpu_quota=0.5, timeout=30)
    async with SoulBox(config) as sandbox:
        result = await sandbox.execute_code(language="python", code=CODE)
        print(result.stdout, result.execution_time, result.memory_usage / 1024 / 1024)


asyncio.run(main())
