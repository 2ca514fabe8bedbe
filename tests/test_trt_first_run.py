"""Issue 20: what broke a first run of the TensorRT path, checked without TensorRT: the dtype table
(TensorRT 8.5.1/8.5.2's trt.nptype needs np.bool), version combinations and the one-line error they
become, the check's weight-form and per-channel rules, timing caches per target and TensorRT version,
and the runner freeing what a failed activation created."""

import sys
import types

import numpy as np
import pytest

from edgenas.backends.tensorrt.dtypes import NO_NUMPY, NUMPY_BY_TRT, numpy_dtype, trt_dtype_name
from edgenas.errors import EdgenasError

from .conftest import ROOT

STUB = ROOT / ".stubs" / "tensorrt_bindings" / "tensorrt.pyi"
# Every DataType of TensorRT 8.5 .. 10.x with the numpy dtype and the item size TensorRT gives it
# (NVIDIA/TensorRT python/packaging: nptype / _itemsize); None: no numpy equivalent.
EXPECTED = {"FLOAT": ("float32", 4), "HALF": ("float16", 2), "INT8": ("int8", 1), "INT32": ("int32", 4),
            "BOOL": ("bool", 1), "UINT8": ("uint8", 1), "INT64": ("int64", 8), "FP8": None, "BF16": None, "INT4": None,
            "FP4": None, "E8M0": None}


class PybindEnum:
    """What pybind11 gives for trt.DataType.X: ``.name`` and str() 'DataType.X'."""

    def __init__(self, name):
        self.name = name

    def __str__(self):
        return "DataType." + self.name


class StrOnly:
    def __init__(self, name):
        self._n = name

    def __str__(self):
        return "DataType." + self._n


# --- 1. TensorRT dtypes -> numpy, without trt.nptype ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_tensorrt_dtype_maps_or_is_a_one_line_error(name, monkeypatch):
    for dt in (PybindEnum(name), StrOnly(name), name):
        assert trt_dtype_name(dt) == name
        with monkeypatch.context() as m:
            if hasattr(np, "bool"):  # numpy 1.24-1.26 has no np.bool (numpy 2 brought it back): the table must not need it
                m.delattr(np, "bool")
            if EXPECTED[name] is None:
                with pytest.raises(EdgenasError, match="'x' of m.engine is {}, which numpy cannot hold".format(name)):
                    numpy_dtype(dt, "x", "m.engine")
                continue
            d = numpy_dtype(dt, "x", "m.engine")
        assert (d.name, d.itemsize) == EXPECTED[name]  # numpy 2's own dtype.name needs np.bool back


def test_dtype_table_covers_the_datatypes_of_nvidias_stubs():
    if not STUB.is_file():
        pytest.skip("TensorRT stubs not installed (bash tools/get_trt_stubs.sh)")
    import re

    body = STUB.read_text().split("class DataType:", 1)[1].split("\nclass ", 1)[0]
    members = set(re.findall(r"^    ([A-Z][A-Z0-9_]+): typing\.ClassVar", body, re.M))
    assert {"FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "INT64"} <= members, members
    assert members <= set(NUMPY_BY_TRT) | set(NO_NUMPY), members - set(NUMPY_BY_TRT) - set(NO_NUMPY)
    with pytest.raises(EdgenasError, match="unknown to edgenas"):
        numpy_dtype(PybindEnum("FP128"), "y")


def test_runner_never_calls_trt_nptype():
    src = (ROOT / "edgenas" / "backends" / "tensorrt" / "runner.py").read_text()
    assert "nptype" not in src and "numpy_dtype(" in src


# --- 3 / 4: weight form and per-channel rules in edgenas check -------------------------------------------
def _conv_model(op="ConvTranspose", axis=1, per_channel=True, weights="int8", act_per_channel=False):
    """x -> Q/DQ -> op(W) with W as INT8 constants -> DQ, or float -> Q -> DQ; axis None: no attribute."""
    from onnx import TensorProto, helper, numpy_helper

    w_shape = (4, 3, 2, 2)  # ConvTranspose: (C_in, C_out, k, k); Conv: (C_out, C_in, k, k)
    n_scale = w_shape[axis if axis is not None else 1] if per_channel else 1
    inits = [numpy_helper.from_array(np.full(n_scale, 0.02, np.float32).reshape(-1) if per_channel
                                     else np.array(0.02, np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros(n_scale, np.int8).reshape(-1) if per_channel else np.array(0, np.int8), "w_zp"),
             numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"), numpy_helper.from_array(np.array(0, np.int8), "x_zp")]
    attrs = {} if axis is None or not per_channel else {"axis": axis}
    nodes = []
    if act_per_channel:
        inits += [numpy_helper.from_array(np.full(4 if op == "ConvTranspose" else 3, 0.05, np.float32), "xc_scale"),
                  numpy_helper.from_array(np.zeros(4 if op == "ConvTranspose" else 3, np.int8), "xc_zp")]
        nodes += [helper.make_node("QuantizeLinear", ["x", "xc_scale", "xc_zp"], ["xq"], name="xq", axis=1),
                  helper.make_node("DequantizeLinear", ["xq", "xc_scale", "xc_zp"], ["xd"], name="xd", axis=1)]
    else:
        nodes += [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="xq"),
                  helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="xd")]
    w = np.random.default_rng(0).standard_normal(w_shape).astype(np.float32)
    if weights == "int8":
        inits.append(numpy_helper.from_array(np.clip(np.round(w / 0.02), -127, 127).astype(np.int8), "w_q"))
    else:
        inits.append(numpy_helper.from_array(w, "w"))
        nodes.append(helper.make_node("QuantizeLinear", ["w", "w_scale", "w_zp"], ["w_q"], name="wq", **attrs))
    nodes += [helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_d"], name="wd", **attrs),
              helper.make_node(op, ["xd", "w_d"], ["y"], name="layer")]
    c_in = 4 if op == "ConvTranspose" else 3
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_check_flags_per_channel_convtranspose_weights_on_axis_1():
    from edgenas.backends.tensorrt.check import check_onnx

    for version in ("8.5.2", "10.3.0"):
        bad = check_onnx(_conv_model(axis=1), version, precision="int8")
        assert any("ConvTranspose 'layer' has weights quantized per channel on axis 1" in p for p in bad.problems), bad.problems
        assert check_onnx(_conv_model(axis=0), version, precision="int8").ok
        assert check_onnx(_conv_model(axis=1, per_channel=False), version, precision="int8").ok  # per tensor: any axis
    conv = check_onnx(_conv_model(op="Conv", axis=1), "10.3.0", precision="int8")
    assert any("Conv 'layer' has weights quantized per channel on axis 1" in p for p in conv.problems)
    assert check_onnx(_conv_model(op="Conv", axis=0), "10.3.0", precision="int8").ok
    noaxis = check_onnx(_conv_model(axis=None), "8.5.2", precision="int8")
    assert any("has no axis attribute" in p for p in noaxis.problems), noaxis.problems
    act = check_onnx(_conv_model(axis=0, act_per_channel=True), "8.5.2", precision="int8")
    assert any("quantizes the activation 'x' per channel" in p for p in act.problems), act.problems


def test_check_says_which_weight_form_a_file_has():
    from edgenas.backends.tensorrt.check import check_onnx

    i8 = check_onnx(_conv_model(axis=0, weights="int8"), "8.5.2", precision="int8")
    fl = check_onnx(_conv_model(axis=0, weights="float"), "8.5.2", precision="int8")
    assert (i8.facts["qdq_weights"], fl.facts["qdq_weights"]) == ("int8", "float")
    assert any("INT8 weight constants feeding DequantizeLinear (0 float, 1 int8)" in n for n in i8.notes)
    assert any("no board has confirmed the INT8 form on 8.5" in n for n in i8.notes)
    assert any("float weights with Q/DQ pairs" in n for n in fl.notes)
    assert not any("no board has confirmed" in n for n in fl.notes)
    assert not any("no board has confirmed" in n for n in check_onnx(_conv_model(axis=0), "10.3.0").notes)


def test_tensorrt_flavour_quantizes_convtranspose_on_axis_0_with_float_weights(tmp_path):
    """quantize_qdq's TensorRT flavour: ONNX Runtime alone would put ConvTranspose weights on axis 1."""
    import torch

    from edgenas.backends.onnxruntime import OrtRunner
    from edgenas.backends.tensorrt.check import check_file
    from edgenas.compress.qdq import quantize_qdq
    from edgenas.modelio.onnx_export import export_onnx
    from edgenas.targets import load_target

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.ConvTranspose2d(8, 4, 2, stride=2),
                            torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 16 * 16, 3))
    fp32 = export_onnx(m, (1, 1, 8, 8), tmp_path / "ct.onnx")
    calib = [np.random.default_rng(i).standard_normal((1, 1, 8, 8)).astype(np.float32) for i in range(4)]
    q = load_target("jetson-orin-nano-trt-int8").quantization
    paths = {form: quantize_qdq(fp32, tmp_path / "ct.{}.onnx".format(form), calib, q, flavour="tensorrt", trt_weights=form)
             for form in ("float", "int8")}
    for form, path in paths.items():
        rep = check_file(path, "8.5.2", precision="int8")
        assert rep.ok and rep.facts["qdq_weights"] == form, (form, rep.problems)
    x = np.random.default_rng(9).standard_normal((8, 1, 1, 8, 8)).astype(np.float32)
    outs = {}
    for name, path in [("fp32", fp32)] + sorted(paths.items()):
        with OrtRunner(path, graph_optimization="disable") as r:
            outs[name] = np.concatenate([r.infer({"input": xi})["output"] for xi in x])
    np.testing.assert_allclose(outs["float"], outs["int8"], rtol=0, atol=1e-6)  # the same quantized math
    rel = np.linalg.norm(outs["float"] - outs["fp32"]) / np.linalg.norm(outs["fp32"])
    assert 0 < rel < 0.3, rel  # quantized (0.15 here: an untrained net with tiny outputs), still near FP32
    with pytest.raises(EdgenasError, match="unknown TensorRT weight form 'int4'"):
        quantize_qdq(fp32, tmp_path / "x.onnx", calib, q, flavour="tensorrt", trt_weights="int4")


# --- 5. timing cache per target and TensorRT version; no None serialized ------------------------------------
class FakeConfig:
    """The four IBuilderConfig calls the timing-cache code makes, with TensorRT's None/False answers."""

    def __init__(self, create_none=False, accept_old=True, get_none=False):
        self.create_none, self.accept_old, self.get_none, self.attached, self.created = create_none, accept_old, get_none, None, []

    def create_timing_cache(self, blob):
        self.created.append(bytes(blob))
        return None if self.create_none else ("cache", bytes(blob))

    def set_timing_cache(self, cache, ignore_mismatch):
        ok = self.accept_old or cache[1] == b""
        self.attached = cache if ok else None
        return ok

    def get_timing_cache(self):
        return None if self.get_none else types.SimpleNamespace(serialize=lambda: b"new-timings")


def test_timing_cache_is_keyed_by_target_and_version_and_never_serializes_none(tmp_path):
    from edgenas.backends.tensorrt.builder import _attach_timing_cache, _save_timing_cache, timing_cache_name

    names = {timing_cache_name(t, v) for t in ("t4-trt-int8", "t4-trt-fp16") for v in ("10.3.0", "8.6.1")}
    assert len(names) == 4 and "t4-trt-int8-trt10.3.0.timing.cache" in names
    assert timing_cache_name("my target/x", "10.3") == "my_target_x-trt10.3.timing.cache"
    path, log = tmp_path / "c.cache", []
    path.write_bytes(b"old")
    cfg = FakeConfig(accept_old=False)  # a cache from another TensorRT or GPU: start a new one, not fail
    assert _attach_timing_cache(cfg, str(path), log.append) == ("cache", b"") and cfg.created == [b"old", b""]
    assert "does not fit" in log[-1]
    assert _attach_timing_cache(FakeConfig(create_none=True), str(path), log.append) is None
    assert "building without one" in log[-1]
    _save_timing_cache(FakeConfig(get_none=True), str(path), log.append)
    assert path.read_bytes() == b"old" and "no timing cache to save" in log[-1]
    _save_timing_cache(FakeConfig(), str(path), log.append)
    assert path.read_bytes() == b"new-timings"


# --- 5. a failed activation frees everything it created ------------------------------------------------------
class FakeTrt(types.ModuleType):
    """Just enough of the tensorrt module for TrtRunner._activate, with a failure injected where asked."""

    def __init__(self, fail_at):
        super().__init__("tensorrt")
        self.__version__, self.fail_at = "8.5.2.2", fail_at
        self.Builder = self.OnnxParser = object
        self.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
        trt = self

        class Logger:
            WARNING = 2

            def __init__(self, level):
                pass

        self.Logger = Logger

        class Context:
            def set_input_shape(self, name, shape):
                return True

            def get_tensor_shape(self, name):
                return (1, 3)

            def set_tensor_address(self, name, ptr):
                if trt.fail_at == "address":
                    raise TypeError("set_tensor_address(): incompatible function arguments")
                return True

        class Engine:
            num_io_tensors = 2

            def get_tensor_name(self, i):
                return ["input", "output"][i]

            def get_tensor_mode(self, name):
                return "in" if name == "input" else "out"

            def get_tensor_shape(self, name):
                return (1, 3) if name == "output" else (1, 1, 4, 4)

            def get_tensor_dtype(self, name):
                return PybindEnum("HALF" if trt.fail_at != "bf16" else "BF16")

            def create_execution_context(self):
                if trt.fail_at == "context":
                    raise RuntimeError("CUDA error 2 creating the execution context")
                return Context()

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, blob):
                return Engine()

        self.Runtime = Runtime


@pytest.mark.parametrize("fail_at,message", [
    ("context", "loading engine .* failed: RuntimeError: CUDA error 2 creating the execution context \\(TensorRT 8.5.2.2"),
    ("address", "failed: TypeError: set_tensor_address"),
    ("bf16", "is BF16, which numpy cannot hold"),
])
def test_failed_activation_destroys_everything_it_created(fail_at, message, tmp_path, monkeypatch):
    import ctypes

    from edgenas.backends.tensorrt import cuda as cudamod
    from edgenas.backends.tensorrt.engine_meta import write_engine_meta
    from edgenas.backends.tensorrt.runner import TrtRunner

    from .test_cuda_layer import Recorder

    class Device(Recorder):
        """The recorder plus device queries and real host memory for pinned buffers."""

        def __init__(self):
            super().__init__()
            self.host_bufs = {}

        def device_count(self):
            return 1

        def versions(self):
            return 11040, 11040

        def mem_info(self):
            return 4 << 30, 8 << 30

        def device_name(self, dev):
            return "Orin"

        def attribute(self, attr, dev):
            return {75: 8, 76: 7}.get(attr, 8)

        def malloc_host(self, n):
            h = self._new("host")
            self.host_bufs[h] = ctypes.create_string_buffer(n)
            return ctypes.addressof(self.host_bufs[h])

        def free_host(self, p):
            h = next(k for k, b in self.host_bufs.items() if ctypes.addressof(b) == p)
            self._del("host", h)

        def malloc(self, n):
            return self._new("dev")

        def free(self, p):
            self._del("dev", p)

    rec = Device()
    monkeypatch.setitem(cudamod._LOADED, "cudart", rec)
    monkeypatch.delenv("EDGENAS_CUDA", raising=False)
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTrt(fail_at))
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_engine_meta(engine, {"tensorrt": "8.5.2.2", "gpu": "Orin", "compute_capability": "8.7"})
    r = TrtRunner(engine)
    with pytest.raises(EdgenasError, match=message) as e:
        r.activate()
    assert "\n" not in str(e.value)
    assert rec.created["stream"] == 1 and all(not v for v in rec.live.values()), rec.live
    if fail_at == "address":
        assert rec.created["host"] >= 1 and rec.created["dev"] >= 1  # buffers existed, and were freed
    assert not r.active and r.engine is None and r.runtime is None
