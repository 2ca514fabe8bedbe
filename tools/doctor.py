#!/usr/bin/env python3
"""Board side, first: is this board ready for a target? Python, runtime, CUDA vs driver, GPU vs target,
power mode, clocks, memory, temperature; then builds, runs and times a tiny shipped model and compares
it with shipped FP32 outputs. Needs no torch; Python 3.8. Exit 0 only if the board is ready.

    python tools/doctor.py --target jetson-orin-nano-trt-int8
"""

import os
import sys

try:
    import edgenas  # noqa: F401
except ImportError:  # run from a copied checkout without pip install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edgenas.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["doctor"] + sys.argv[1:]))
