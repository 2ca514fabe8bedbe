#!/usr/bin/env python3
"""Board side: build a TensorRT engine (pure plan + .json sidecar) from ONNX. Same as `edgenas build`.

    python tools/build_engine.py model.int8.onnx --target jetson-orin-nano-trt-int8 --out model.engine
"""

import os
import sys

try:
    import edgenas  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edgenas.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["build"] + sys.argv[1:]))
