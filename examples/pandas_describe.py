# The seed's second example: summary statistics of a random two-column DataFrame.
# Run it with `soulbox run examples/pandas_describe.py`.
import numpy as np
import pandas as pd

df = pd.DataFrame(np.random.randn(100, 2), columns=["A", "B"])
print(df.describe())
