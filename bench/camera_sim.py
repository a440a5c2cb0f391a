"""Camera simulator rendering speed (frames/s per preset, with and without JPEG encoding); ends with one JSON line.

``python -m bench.camera_sim`` (or ``iocgw sim camera bench``).
"""

from __future__ import annotations

import sys

from simulators.camera.bench import run_bench
from simulators.camera.presets import PRESETS

if __name__ == "__main__":
    sys.exit(run_bench(list(PRESETS), 300))
