#!/usr/bin/env bash
# NVIDIA's TensorRT type stubs for the static check of edgenas/backends/tensorrt (tests/test_trt_types.py).
# The wheel depends on the real tensorrt, so it is installed with --no-deps into .stubs/ (on MYPYPATH
# only: in site-packages it would make `import tensorrt` succeed with no TensorRT behind it). As
# shipped it does not parse (a parameter named `in`, one default missing), so two lines are patched.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${TRT_STUBS_VERSION:-10.13.0.35.1}
DL=$(mktemp -d)
trap 'rm -rf "$DL"' EXIT
python -m pip download -q --no-deps "tensorrt-stubs==$VERSION" -d "$DL"
rm -rf .stubs
python -m pip install -q --no-deps --no-index --target .stubs "$DL"/tensorrt_stubs-*.whl
STUB=.stubs/tensorrt_bindings/tensorrt.pyi
sed -i -E 's/([(,] *)in: /\1in_: /g; s/channel_axis: int\)/channel_axis: int = ...)/' "$STUB"
echo "tensorrt-stubs $VERSION in .stubs/ (patched $STUB)"
