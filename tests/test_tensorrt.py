"""TensorRT layer: everything that can be checked without TensorRT, plus `trt` tests for boards."""

import json

import numpy as np
import pytest

from edgenas.deploy.engine_meta import check_engine_compat, read_engine_meta, write_engine_meta
from edgenas.deploy.trt_compat import TrtFeatures, onnx_facts, parse_version, plan_build
from edgenas.errors import EdgenasError
from edgenas.targets import load_target

from .conftest import ROOT, run_cli

FLOAT = {"opset": 17, "ops": ["Conv", "Relu", "Add", "Gemm"], "qdq": False, "fp16": False}
QDQ = dict(FLOAT, ops=FLOAT["ops"] + ["QuantizeLinear", "DequantizeLinear"], qdq=True)


@pytest.mark.parametrize("version,explicit,named,flags,execute", [
    ("8.4.1", True, False, True, "execute_async_v2"),
    ("8.6.1", True, True, True, "execute_async_v3"),
    ("10.3.0", False, True, True, "execute_async_v3"),
    ("11.1.0", False, True, False, "execute_async_v3"),
])
def test_version_features(version, explicit, named, flags, execute):
    f = TrtFeatures(parse_version(version))
    assert (f.explicit_batch_flag, f.named_tensors, f.precision_flags, f.execute) == (explicit, named, flags, execute)


def test_build_plans_per_version():
    assert plan_build("int8", QDQ, "8.6.1").builder_flags == ["INT8"]
    assert plan_build("int8", QDQ, "8.6.1").network_flags == ["EXPLICIT_BATCH"]
    assert plan_build("int8", QDQ, "10.3.0").network_flags == [] and plan_build("fp16", FLOAT, "10.3.0").builder_flags == ["FP16"]
    p = plan_build("int8", QDQ, "11.0.0")
    assert p.network_flags == ["STRONGLY_TYPED"] and p.builder_flags == []
    assert plan_build("fp16", dict(FLOAT, fp16=True), "11.0.0").network_flags == ["STRONGLY_TYPED"]
    assert plan_build("fp32", dict(FLOAT, ops=["Conv", "Einsum"]), "10.3.0").notes


def test_int8_without_qdq_never_downgrades():
    with pytest.raises(EdgenasError, match="no Q/DQ nodes; quantize it first"):
        plan_build("int8", FLOAT, "10.3.0")
    with pytest.raises(EdgenasError, match="has no FP16 builder flag"):
        plan_build("fp16", FLOAT, "11.0.0")
    with pytest.raises(EdgenasError, match="opset 18 is newer than TensorRT 8.5.2 parses"):
        plan_build("fp32", dict(FLOAT, opset=18), "8.5.2")


def test_engine_sidecar_is_required_and_checked(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan-bytes")
    with pytest.raises(EdgenasError, match="has no sidecar m.engine.json"):
        read_engine_meta(engine)
    write_engine_meta(engine, {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"})
    meta = read_engine_meta(engine)
    assert engine.read_bytes() == b"plan-bytes"  # pure plan, no header glued on
    check_engine_compat(meta, "10.3.0", "Orin", "8.7")
    with pytest.raises(EdgenasError, match="built with TensorRT 10.3.0 but this machine has 8.6.1"):
        check_engine_compat(meta, "8.6.1", "Orin", "8.7")
    with pytest.raises(EdgenasError, match="compute capability 8.7 .* this GPU is 7.5"):
        check_engine_compat(meta, "10.3.0", "Tesla T4", "7.5")
    engine.write_bytes(b"other-plan")
    with pytest.raises(EdgenasError, match="does not match its sidecar"):
        read_engine_meta(engine)


@pytest.fixture(scope="module")
def onnx_pair(tmp_path_factory, tiny_space):
    import torch

    from edgenas.compress.qdq import quantize_qdq
    from edgenas.export.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("trt")
    torch.manual_seed(0)
    model = tiny_space.build(tiny_space.decode(np.zeros(len(tiny_space.genes), dtype=np.int64)))
    fp32 = export_onnx(model, tiny_space.input_shape(), d / "m.onnx")
    calib = [np.random.default_rng(i).standard_normal(tiny_space.input_shape()).astype(np.float32) for i in range(4)]
    int8 = quantize_qdq(fp32, d / "m.int8.onnx", calib, load_target("cpu-x86-ort-int8").quantization)
    return fp32, int8


def test_check_only_against_target_versions(onnx_pair):
    fp32, int8 = onnx_pair
    from edgenas.export.onnx_export import load_onnx

    assert onnx_facts(load_onnx(int8))["qdq"] and not onnx_facts(load_onnx(fp32))["qdq"]
    res = run_cli("build", int8, "--target", "jetson-xavier-nx-trt-int8", "--out", "x.engine", "--check-only", check=0)
    assert "Q/DQ True" in res.stdout and "EXPLICIT_BATCH" in res.stdout  # JetPack 5 ships TensorRT 8.5
    res = run_cli("build", fp32, "--target", "jetson-orin-nano-trt-int8", "--out", "x.engine", "--check-only", check=1)
    assert "quantize it first" in res.stderr and res.stderr.count("\n") == 1


def test_build_without_tensorrt_is_a_clear_error(onnx_pair, tmp_path):
    pytest.importorskip("numpy")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    fp32, _ = onnx_pair
    res = run_cli("build", fp32, "--target", "t4-trt-fp16", "--out", tmp_path / "m.engine", check=1)
    assert "TensorRT is not installed here" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("build", fp32, "--target", "cpu-x86-ort-fp32", "--out", tmp_path / "m.engine", check=1)
    assert "not TensorRT" in res.stderr


def test_validate_on_device_with_onnx_runtime(tmp_path):
    """The board script, run here on ONNX Runtime: saved inputs + host reference outputs -> report."""
    import subprocess
    import sys

    from edgenas.runtime.ort import OrtRunner
    from edgenas.validate.compare import run_batched
    from edgenas.validate.run import save_outputs

    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    from edgenas.export.onnx_export import export_onnx

    path = export_onnx(model, (1, 1, 8, 8), tmp_path / "m.onnx")
    inputs = np.random.default_rng(0).standard_normal((20, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", inputs=inputs, labels=np.arange(20) % 3)
    with OrtRunner(path) as r:
        save_outputs(tmp_path / "ref.npz", run_batched(r, inputs, 1), inputs)
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "validate_on_device.py"), str(path), "--target",
                          "cpu-x86-ort-fp32", "--inputs", str(tmp_path / "in.npz"), "--ref-outputs", str(tmp_path / "ref.npz"),
                          "--out", str(tmp_path / "rep")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["status"] == "PASS" and rep["rows"][0]["top1_agreement"] == 100.0


@pytest.mark.trt
def test_build_and_run_engine_on_board(onnx_pair, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT not installed (run on a board: pytest -m trt)")
    from edgenas.deploy.build import build_engine
    from edgenas.runtime.trt import TrtRunner

    fp32, int8 = onnx_pair
    target = load_target("t4-trt-int8")
    meta = build_engine(int8, target, tmp_path / "m.engine", timing_cache=str(tmp_path / "t.cache"))
    assert meta["precision"] == "int8" and (tmp_path / "m.engine.json").is_file()
    with TrtRunner(tmp_path / "m.engine") as r:
        out = r.infer(r.random_feed())
        assert np.isfinite(next(iter(out.values()))).all() and r.gpu_time_ms(10) > 0
