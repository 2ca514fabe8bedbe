"""The TensorRT layer checked statically against NVIDIA's tensorrt-stubs (10.13): a misspelt API name
or a wrong argument type fails here, not on a board. `bash tools/get_trt_stubs.sh` fetches the stubs
(.ci/run does); without them these tests skip and say so."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgenas.backends.tensorrt.compat import plan_build

from .conftest import ROOT

STUBS = ROOT / ".stubs"
needs_stubs = pytest.mark.skipif(not (STUBS / "tensorrt_bindings" / "tensorrt.pyi").is_file(),
                                 reason="TensorRT stubs not installed (bash tools/get_trt_stubs.sh)")


def _mypy():
    local = Path(sys.executable).parent / "mypy"
    return str(local) if local.exists() else shutil.which("mypy")


@needs_stubs
@pytest.mark.skipif(_mypy() is None, reason="mypy not installed (pip install -e .[dev])")
def test_tensorrt_layer_typechecks_against_nvidia_stubs():
    res = subprocess.run([_mypy(), "edgenas/backends/tensorrt/"], capture_output=True, text=True, cwd=str(ROOT),
                         env={"MYPYPATH": str(STUBS), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]


def _members(cls: str):
    text = (STUBS / "tensorrt_bindings" / "tensorrt.pyi").read_text()
    body = text.split("class {}:".format(cls), 1)[1].split("\nclass ", 1)[0]
    return set(re.findall(r"^    ([A-Z][A-Z0-9_]+): typing\.ClassVar", body, re.M))


@needs_stubs
def test_every_flag_a_build_plan_names_exists_in_tensorrt_10():
    """getattr(trt.BuilderFlag, name) is invisible to mypy: check the names the plans use for 8.x-10.x."""
    net, builder = _members("NetworkDefinitionCreationFlag"), _members("BuilderFlag")
    assert {"STRONGLY_TYPED", "EXPLICIT_BATCH"} <= net and {"FP16", "INT8"} <= builder
    qdq = {"opset": 17, "ops": ["Conv", "QuantizeLinear", "DequantizeLinear"], "qdq": True, "fp16": False}
    flt = dict(qdq, ops=["Conv"], qdq=False)
    for version in ("8.5.2", "8.6.1", "10.3.0", "10.13.0"):
        for precision, facts in (("int8", qdq), ("fp16", flt), ("fp32", flt)):
            plan = plan_build(precision, facts, version)
            assert set(plan.network_flags) <= net and set(plan.builder_flags) <= builder, (version, precision, plan)
