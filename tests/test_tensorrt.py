"""TensorRT layer: everything that can be checked without TensorRT (one test per defect of issue 9),
plus `trt` tests for boards (pytest -m trt)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgenas.backends import reference_target
from edgenas.backends.tensorrt.check import (
    check_file,
    check_onnx,
    load_model,
    onnx_facts,
)
from edgenas.backends.tensorrt.compat import TrtFeatures, parse_version, plan_build
from edgenas.backends.tensorrt.engine_meta import (
    check_engine_compat,
    read_engine_meta,
    write_engine_meta,
)
from edgenas.errors import EdgenasError
from edgenas.targets import load_target

from .conftest import ROOT, run_cli

FLOAT = {"opset": 17, "ops": ["Conv", "Relu", "Add", "Gemm"], "qdq": False, "fp16": False}
QDQ = dict(FLOAT, ops=FLOAT["ops"] + ["QuantizeLinear", "DequantizeLinear"], qdq=True)


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory, tiny_space):
    """A tiny edgenas model as FP32 ONNX, ONNX Runtime-flavoured and TensorRT-flavoured INT8 Q/DQ."""
    import torch

    from edgenas.compress.qdq import quantize_qdq
    from edgenas.latency.bundle import randomize_batchnorm
    from edgenas.modelio.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("trt")
    torch.manual_seed(0)
    arch = tiny_space.decode(np.array([len(g.choices) - 1 for g in tiny_space.genes]))
    model = randomize_batchnorm(tiny_space.build(arch))
    fp32 = export_onnx(model, tiny_space.input_shape(), d / "m.onnx")
    calib = [np.random.default_rng(i).standard_normal(tiny_space.input_shape()).astype(np.float32) for i in range(4)]
    q = load_target("t4-trt-int8").quantization
    ort = quantize_qdq(fp32, d / "m.ort-int8.onnx", calib, load_target("cpu-x86-ort-int8").quantization, flavour="onnxruntime")
    trt = quantize_qdq(fp32, d / "m.trt-int8.onnx", calib, q, flavour="tensorrt")
    return {"fp32": fp32, "ort": ort, "trt": trt, "dir": d}


# --- D1: TensorRT-valid INT8 -------------------------------------------------------------------------
def test_onnxruntime_default_qdq_fails_the_static_check(onnx_models):
    rep = check_file(onnx_models["ort"], "10.3")
    text = " ".join(rep.problems)
    assert not rep.ok and "non-zero zero points" in text and "INT32" in text and "uint8" in text
    assert rep.facts["qdq_flavour"] == "onnxruntime"


def test_tensorrt_flavour_passes_for_every_supported_version(onnx_models):
    for version in ("8.5.2", "8.6.1", "10.3.0", "10.16.0", "11.1.0"):
        rep = check_file(onnx_models["trt"], version, precision="int8")
        assert rep.ok, (version, rep.problems)
    stats = onnx_facts(load_model(onnx_models["trt"]))["qdq_stats"]
    assert stats["nonzero_zp"] == 0 and stats["int32_dq"] == 0 and stats["uint8"] == 0 and stats["q"] > 0


def test_tensorrt_flavour_still_runs_and_agrees_on_onnx_runtime(onnx_models):
    """The file's own Q/DQ math against FP32: graph optimizations off, so ONNX Runtime runs each
    QuantizeLinear/DequantizeLinear as written. Its optimized x86 int8 kernels are not exact Q/DQ math
    and differ between CPUs (cosine 0.97 on an AVX2-only AMD EPYC), which would measure the CPU."""
    from edgenas.backends.onnxruntime import OrtRunner

    x = np.random.default_rng(5).standard_normal((8, 1, 16, 16)).astype(np.float32)
    with OrtRunner(onnx_models["fp32"], graph_optimization="disable") as a, \
            OrtRunner(onnx_models["trt"], graph_optimization="disable") as b:
        ya = np.concatenate([a.infer({"input": x[i:i + 1]})["output"] for i in range(len(x))])
        yb = np.concatenate([b.infer({"input": x[i:i + 1]})["output"] for i in range(len(x))])
    cos = np.sum(ya * yb, axis=1) / (np.linalg.norm(ya, axis=1) * np.linalg.norm(yb, axis=1))
    assert cos.min() > 0.99, cos
    assert not np.allclose(ya, yb, atol=1e-6)  # the file is quantized: it must not be the FP32 model


def test_quantize_cli_picks_the_flavour_from_the_target(onnx_models, tmp_path):
    np.savez(tmp_path / "calib.npz", inputs=np.random.default_rng(0).standard_normal((32, 1, 16, 16)).astype(np.float32))
    res = run_cli("quantize", onnx_models["fp32"], "--target", "jetson-orin-nano-trt-int8", "--calib-inputs",
                  tmp_path / "calib.npz", "--calib-size", "32", "--out", tmp_path / "q.onnx", check=0)
    assert "tensorrt flavour" in res.stdout
    assert check_file(tmp_path / "q.onnx", "10.3").ok
    res = run_cli("check", tmp_path / "q.onnx", "--target", "jetson-xavier-nx-trt-int8", check=0)
    assert "Q/DQ True (tensorrt flavour)" in res.stdout and "EXPLICIT_BATCH" in res.stdout
    res = run_cli("check", onnx_models["ort"], "--target", "jetson-orin-nano-trt-int8", check=1)
    assert "non-zero zero points" in res.stderr and res.stderr.count("\n") == 1


def test_checker_names_opset_unsupported_ops_and_dynamic_dims(onnx_models):
    import onnx
    from onnx import TensorProto, helper

    model = load_model(onnx_models["fp32"])
    rep = check_onnx(model, "8.5.2")
    assert rep.ok
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    odd = helper.make_model(helper.make_graph([helper.make_node("Col2Im", ["x"], ["y"])], "g", [x], [y]),
                            opset_imports=[helper.make_opsetid("", 18)])
    rep = check_onnx(odd, "8.5.2")
    text = " | ".join(rep.problems)
    assert "opset 18 is outside TensorRT 8.5.2's parser range" in text and "Col2Im" in text
    assert "dynamic batch; build with --dynamic-batch" in text
    assert not any("dynamic batch" in p for p in check_onnx(odd, "10.3", dynamic_batch=(1, 4, 8)).problems)
    static = check_onnx(model, "10.3", dynamic_batch=(1, 4, 8))  # D17: a profile for a static batch
    assert any("batch dim is static" in p for p in static.problems)
    assert onnx.checker is not None


# --- D2 / D3 / D8 / D13: build plans -----------------------------------------------------------------
@pytest.mark.parametrize("version,net,flags,typing", [
    ("8.5.2", ["EXPLICIT_BATCH"], ["INT8", "FP16"], "weak"),
    ("8.6.1", ["EXPLICIT_BATCH"], ["INT8", "FP16"], "weak"),
    ("10.3.0", ["STRONGLY_TYPED"], [], "strong"),
    ("11.1.0", ["STRONGLY_TYPED"], [], "strong"),
])
def test_int8_builds_fp16_elsewhere_or_strongly_typed(version, net, flags, typing):
    p = plan_build("int8", QDQ, version)
    assert (p.network_flags, p.builder_flags, p.typing) == (net, flags, typing)


def test_version_floor_and_features():
    with pytest.raises(EdgenasError, match="older than edgenas supports"):
        plan_build("fp32", FLOAT, "8.4.1")
    f = TrtFeatures(parse_version("10.3.0"))
    assert not f.explicit_batch_flag and f.precision_flags and f.strongly_typed_int8
    assert parse_version("10.3.0.26") == (10, 3, 0) and parse_version("8.6.1.post1") == (8, 6, 1)


def test_precision_is_never_downgraded():
    with pytest.raises(EdgenasError, match="no Q/DQ nodes; quantize it first"):
        plan_build("int8", FLOAT, "10.3.0")
    with pytest.raises(EdgenasError, match="has no FP16 builder flag"):
        plan_build("fp16", FLOAT, "11.0.0")
    with pytest.raises(EdgenasError, match="fp32 build was asked for an ONNX with Q/DQ"):
        plan_build("fp32", QDQ, "10.3.0")


def test_fp32_reference_of_an_int8_trt_target_is_an_fp32_build(onnx_models):
    """D2: validation builds the reference at FP32, never at the artifact's int8/fp16 precision."""
    t = load_target("jetson-orin-nano-trt-int8")
    facts = onnx_facts(load_model(onnx_models["fp32"]))
    with pytest.raises(EdgenasError, match="no Q/DQ nodes"):
        plan_build(t.precision, facts, t.software.tensorrt)
    ref = reference_target(t)
    assert ref.precision == "fp32" and ref.backend == "tensorrt" and ref.board == t.board
    assert plan_build(ref.precision, facts, t.software.tensorrt).builder_flags == []
    assert reference_target(load_target("t4-trt-fp16")).precision == "fp32"


def test_trt_int8_bundle_ops_and_overhead_probe_pass_the_check(tmp_path):
    """D1 + D3: every file of an int8 TensorRT ops bundle (the overhead probe included) builds as int8."""
    from edgenas.latency.bundle import plan_bundle
    from edgenas.space import get_space

    space = get_space("mbv3-small", resolution=16, depths=[1], kernels=[3], expands=[3], acts=["re"], se=[False],
                      head_channels=32)
    t = load_target("jetson-orin-nano-trt-int8")
    m = plan_bundle(space, t, tmp_path / "b", n_networks=3, show_progress=False)
    files = [o["file"] for o in m["ops"]] + [n["file"] for n in m["networks"]] + [m["overhead"]["file"]]
    for f in files:
        rep = check_file(tmp_path / "b" / f, t.software.tensorrt, precision="int8")
        assert rep.ok, (f, rep.problems)
    ovh = onnx_facts(load_model(tmp_path / "b" / m["overhead"]["file"]))
    assert ovh["ops"] == ["DequantizeLinear", "QuantizeLinear"]


# --- D5: installable extras ----------------------------------------------------------------------------
def test_extras_pin_nothing_a_jetpack_cannot_meet():
    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    reqs = [r for group in extras.values() for r in group]
    for r in reqs:
        if r.startswith("cuda-python"):
            assert "<" in r, "an unpinned cuda-python picks a build for a newer driver: " + r
    assert any(r.startswith("tensorrt") and ">=8.5" in r for r in reqs)  # JetPack 5.1 ships TensorRT 8.5.2
    assert not any(r.startswith("torch==") for r in reqs)  # a GPU user keeps the CUDA torch they have


# --- D6 / D14: CUDA errors that say what happened ------------------------------------------------------
def _cudart():
    from edgenas.backends.tensorrt.cuda_bindings import _candidates, _Cudart

    try:
        return _Cudart() if _candidates() else None
    except EdgenasError:
        return None


@pytest.mark.skipif(_cudart() is None, reason="no libcudart on this machine")
def test_cuda_errors_name_the_call_the_error_and_the_fix():
    from edgenas.backends.tensorrt.cuda_bindings import _error

    impl = _cudart()
    e = _error(impl, "cudaMalloc", 2)
    assert "cudaMalloc" in str(e) and "cudaErrorMemoryAllocation" in str(e) and "out of GPU memory" in str(e)
    assert "driver present" not in str(e)
    if impl.versions()[1] == 0:  # this machine: a CUDA runtime but no driver
        from edgenas.backends.tensorrt.cuda import device_info

        with pytest.raises(EdgenasError, match="no NVIDIA driver is loaded"):
            device_info()


def test_unknown_cuda_binding_is_a_clear_error(monkeypatch):
    from edgenas.backends.tensorrt import cuda

    monkeypatch.setenv("EDGENAS_CUDA", "cupy")
    with pytest.raises(EdgenasError, match="choose cudart"):
        cuda.cuda()


# --- D7: a stubs-only or half-installed tensorrt ---------------------------------------------------------
def test_stub_only_tensorrt_is_named_not_a_traceback(tmp_path, onnx_models):
    (tmp_path / "stubs" / "tensorrt").mkdir(parents=True)
    (tmp_path / "stubs" / "tensorrt" / "__init__.pyi").write_text("__version__: str\n")
    env = {"PYTHONPATH": str(tmp_path / "stubs")}
    res = run_cli("build", onnx_models["fp32"], "--target", "t4-trt-fp16", "--out", tmp_path / "m.engine", env=env, check=1)
    assert "incomplete" in res.stderr and "stubs" in res.stderr and "Traceback" not in res.stderr


def test_build_without_tensorrt_is_a_clear_error(onnx_models, tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    res = run_cli("build", onnx_models["fp32"], "--target", "t4-trt-fp16", "--out", tmp_path / "m.engine", check=1)
    assert "TensorRT is not installed here" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("build", onnx_models["fp32"], "--target", "cpu-x86-ort-fp32", "--out", tmp_path / "m.engine", check=1)
    assert "not TensorRT" in res.stderr


# --- engine sidecar ---------------------------------------------------------------------------------------
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


def test_validate_on_device_with_onnx_runtime(tmp_path):
    """The board script, run here on ONNX Runtime: saved inputs + host reference outputs -> report."""
    import torch

    from edgenas.backends.onnxruntime import OrtRunner
    from edgenas.modelio.onnx_export import export_onnx
    from edgenas.validation.compare import run_batched
    from edgenas.validation.run import save_outputs

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
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


# --- on a board: pytest -m trt ----------------------------------------------------------------------------
def _need_trt():
    pytest.importorskip("tensorrt", reason="TensorRT not installed (run on a board: pytest -m trt)")


@pytest.mark.trt
@pytest.mark.parametrize("precision,key", [("fp16", "fp32"), ("int8", "trt")])
def test_board_build_and_run(onnx_models, tmp_path, precision, key):
    _need_trt()
    from edgenas.backends.tensorrt.builder import build_engine
    from edgenas.backends.tensorrt.runner import TrtRunner

    target = load_target("t4-trt-{}".format(precision))
    meta = build_engine(onnx_models[key], target, tmp_path / "m.engine", timing_cache=str(tmp_path / "t.cache"))
    assert meta["precision"] == precision and (tmp_path / "m.engine.json").is_file()
    with TrtRunner(tmp_path / "m.engine") as r:
        out = r.infer(r.random_feed())
        assert np.isfinite(next(iter(out.values()))).all() and r.gpu_time_ms(10) > 0
        r.timed_call(r.random_feed())
        assert r.timing["method"] in ("cuda-graph replay", "back-to-back enqueue")


@pytest.mark.trt
def test_board_validate_int8_and_profile_a_small_bundle(onnx_models, tmp_path):
    _need_trt()
    from edgenas.latency.board import profile_bundle
    from edgenas.latency.bundle import plan_bundle
    from edgenas.space import get_space
    from edgenas.tasks.validate import validate

    t = load_target("t4-trt-int8")
    np.savez(tmp_path / "in.npz", inputs=np.random.default_rng(0).standard_normal((16, 1, 16, 16)).astype(np.float32))
    r = validate(onnx_models["trt"], onnx_models["fp32"], t, tmp_path / "rep", inputs=tmp_path / "in.npz",
                 min_agreement=0, max_acc_drop=100, min_cosine=0.9)
    assert r.rows[0]["stage"] == "reference fp32" and r.rows[1]["latency_p50_ms"] > 0
    space = get_space("mbv3-small", resolution=16, depths=[1], kernels=[3], expands=[3], acts=["re"], se=[False],
                      head_channels=32, stages=[[24, 2]])
    plan_bundle(space, t, tmp_path / "b", n_networks=3, show_progress=False)
    table = profile_bundle(tmp_path / "b", t, tmp_path / "t.json", show_progress=False)
    assert len(table.entries) == 3 and table.header["protocol"]["timer"]["method"] == "cuda-graph replay"


@pytest.mark.skipif(_cudart() is None, reason="no libcudart on this machine")
def test_every_cuda_runtime_name_the_bindings_call_exists_in_libcudart():
    """The ctypes and cuda-python bindings name CUDA runtime calls as strings, which no type checker
    sees: check each against the symbols of a real libcudart (a misspelt name fails here, not on a board)."""
    import re

    from edgenas.backends.tensorrt import cuda_bindings

    names = set(re.findall(r'"(cuda[A-Z]\w+)"', Path(cuda_bindings.__file__).read_text()))
    assert len(names) > 20, names
    lib = _cudart().lib
    missing = [n for n in sorted(names) if not hasattr(lib, n) and not (n.endswith("_v2") and hasattr(lib, n[:-3]))]
    assert not missing, missing
