"""Each backend describes itself once in its folder's spec.py; one registry answers what the scattered
``if backend == ...`` branches used to."""

import re
import typing

import pytest

from edgenas.backends import make_runner
from edgenas.backends.registry import all_backends, get_backend, list_backends
from edgenas.compress.qdq import FLAVOURS, qdq_flavour
from edgenas.errors import EdgenasError
from edgenas.targets import Backend, Precision, load_target

from .conftest import ROOT

BRANCH = re.compile(r"backend\s*(==|!=|in\b|not in\b)")
# Files whose backend branches went to the registry: they stay free of them.
CONVERTED = ["edgenas/board", "edgenas/agent", "edgenas/compress/qdq.py", "edgenas/latency/bundle.py",
             "edgenas/tasks/profile.py", "edgenas/tasks/compress.py", "tools/make_doctor_assets.py",
             "tools/bench_table_accuracy.py"]


def test_every_backend_folder_has_one_spec_and_targets_name_the_same_backends():
    folders = sorted(p.parent.name for p in (ROOT / "edgenas" / "backends").glob("*/__init__.py"))
    with_spec = sorted(p.parent.name for p in (ROOT / "edgenas" / "backends").glob("*/spec.py"))
    assert folders == with_spec, "a backend folder without spec.py"
    assert list_backends() == sorted(typing.get_args(Backend))
    precisions = set(typing.get_args(Precision))
    for b in all_backends():
        assert b.precisions and set(b.precisions) <= precisions, b.name
        assert b.qdq_flavour is None or b.qdq_flavour in FLAVOURS, b.name
        assert b.timing and b.summary and "{python}" in b.install or "apt-get" in b.install, b.name
        assert (b.make_runner is None) == (not b.runs), b.name
        assert b.qdq_flavour is not None or "int8" not in b.precisions, b.name


def test_registry_answers_replace_the_branches():
    ort, trt, torch = get_backend("onnxruntime"), get_backend("tensorrt"), get_backend("torch")
    assert (ort.qdq_flavour, trt.qdq_flavour, torch.qdq_flavour) == ("onnxruntime", "tensorrt", None)
    assert trt.builds_engine and trt.needs_cuda and not ort.builds_engine
    assert ort.float_io_ops and not trt.float_io_ops and trt.int8_overhead_qdq
    assert ort.host_timing and ort.mixed_tables and not torch.profiles_bundles
    assert trt.runs_file("m.engine") and trt.runs_file("m.onnx") and not ort.runs_file("m.engine")
    assert "python3.8 -m pip install --user onnxruntime" == ort.install_line("python3.8")
    assert qdq_flavour(load_target("t4-trt-int8")) == "tensorrt"
    assert qdq_flavour(load_target("cpu-x86-ort-int8")) == "onnxruntime"


def test_unknown_backend_and_runnerless_backend_are_one_line():
    with pytest.raises(EdgenasError, match=r"unknown backend 'tensorrtx' \(did you mean 'tensorrt'\?\); known: onnxruntime, "
                                           r"tensorrt, torch"):
        get_backend("tensorrtx")
    with pytest.raises(EdgenasError, match=r"backend 'torch' has no file runner; the ones that run files: onnxruntime, tensorrt"):
        make_runner(ROOT / "edgenas" / "assets" / "doctor" / "tiny.onnx", load_target("gpu-torch-fp16"))


def test_make_runner_goes_through_the_spec():
    import numpy as np

    with make_runner(ROOT / "edgenas" / "assets" / "doctor" / "tiny.onnx", load_target("cpu-x86-ort-fp32")) as r:
        with np.load(str(ROOT / "edgenas" / "assets" / "doctor" / "inputs.npz")) as z:
            x = z["inputs"][:1]
        out = r.infer({r.input_specs()[0][0]: x})
        assert out and all(np.all(np.isfinite(v)) for v in out.values())


def test_converted_files_have_no_backend_name_branches():
    bad = []
    for rel in CONVERTED:
        p = ROOT / rel
        for f in ([p] if p.is_file() else sorted(p.rglob("*.py"))):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if BRANCH.search(line):
                    bad.append("{}:{}: {}".format(f.relative_to(ROOT), i, line.strip()))
    assert not bad, "ask edgenas.backends.registry.get_backend(name) instead:\n" + "\n".join(bad)
