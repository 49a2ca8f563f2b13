# The seed's example: plot a sine wave with numpy + matplotlib and save it as a PNG.
# Run it with `bash scripts/example.sh` (or `soulbox run examples/sine_wave.py --workspace out`);
# sine_wave.png comes back as an artifact (image/png).
import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 10, 100)
y = np.sin(x)
plt.plot(x, y)
plt.title("Sine Wave")
plt.savefig('sine_wave.png')
print("Plot saved!")
