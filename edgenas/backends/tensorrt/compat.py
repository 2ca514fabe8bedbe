"""TensorRT version differences in one place (pure Python: testable without TensorRT).

The floor is TensorRT 8.5 (JetPack 5.1): named I/O tensors and ``execute_async_v3`` exist from there
on, so the old bindings API is never used.
- 8.5 / 8.6 (JetPack 5): EXPLICIT_BATCH network flag; weakly typed networks: INT8 from explicit Q/DQ
  with the INT8 *and* FP16 builder flags, so layers left unquantized run in FP16, not FP32.
- 10.x (JetPack 6, T4/x86): EXPLICIT_BATCH implied; INT8 from Q/DQ is built as a strongly typed
  network (NVIDIA's direction, required on 11): each layer runs in the dtype the ONNX gives it.
- 11.x: weak typing removed (no FP16/INT8 builder flags): INT8 needs a Q/DQ ONNX, FP16 an FP16 ONNX.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ...errors import EdgenasError

MIN_VERSION = (8, 5, 0)


def parse_version(v: str) -> Tuple[int, int, int]:
    parts = []
    for p in str(v).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise EdgenasError("cannot read TensorRT version '{}'".format(v))
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


@dataclass(frozen=True)
class TrtFeatures:
    version: Tuple[int, int, int]

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def supported(self) -> bool:
        return self.version >= MIN_VERSION

    @property
    def explicit_batch_flag(self) -> bool:
        return self.major < 10

    @property
    def precision_flags(self) -> bool:
        return self.major < 11

    @property
    def strongly_typed_int8(self) -> bool:
        return self.major >= 10


def features(trt_version: str) -> TrtFeatures:
    f = TrtFeatures(parse_version(trt_version))
    if not f.supported:
        raise EdgenasError("TensorRT {} is older than edgenas supports (8.5, JetPack 5.1); upgrade JetPack/TensorRT".format(
            trt_version))
    return f


@dataclass
class BuildPlan:
    network_flags: List[str]
    builder_flags: List[str]
    notes: List[str] = field(default_factory=list)
    typing: str = "weak"


def plan_build(precision: str, facts: Dict[str, object], trt_version: str) -> BuildPlan:
    """Flags for building ``precision`` from an ONNX with ``facts`` (see check.onnx_facts) on
    TensorRT ``trt_version``. Never downgrades precision silently: what cannot be built as asked is an error."""
    f = features(trt_version)
    net = ["EXPLICIT_BATCH"] if f.explicit_batch_flag else []
    if precision == "int8":
        if not facts["qdq"]:
            raise EdgenasError("target asks for int8 but the ONNX has no Q/DQ nodes; quantize it first: "
                               "edgenas quantize MODEL.onnx --target <int8 target> --out MODEL.int8.onnx")
        if f.strongly_typed_int8:
            return BuildPlan(net + ["STRONGLY_TYPED"], [], ["strongly typed: Q/DQ layers run INT8, the others in the "
                                                             "ONNX's float type"], "strong")
        return BuildPlan(net, ["INT8", "FP16"], ["weakly typed: explicit Q/DQ for INT8, FP16 allowed elsewhere"])
    if precision == "fp16":
        if f.precision_flags:
            return BuildPlan(net, ["FP16"])
        if not facts["fp16"]:
            raise EdgenasError("TensorRT {} has no FP16 builder flag (strong typing only); convert the ONNX to FP16 first, "
                               "e.g. with ModelOpt AutoCast, or use an fp32 target".format(trt_version))
        return BuildPlan(net + ["STRONGLY_TYPED"], [], [], "strong")
    if precision != "fp32":
        raise EdgenasError("unknown precision '{}'; choose fp32, fp16 or int8".format(precision))
    if facts["qdq"]:
        raise EdgenasError("an fp32 build was asked for an ONNX with Q/DQ nodes; give the float ONNX (the FP32 reference)")
    return BuildPlan(net + ([] if f.precision_flags else ["STRONGLY_TYPED"]), [], [], "weak" if f.precision_flags else "strong")


# The optimization-profile API edgenas calls, per TensorRT version (Python names). 10.x is checked against
# NVIDIA's tensorrt-stubs (tests/test_trt_types.py); 8.5 from its API reference: the named-tensor API
# (set_input_shape, set_tensor_address, execute_async_v3) is new in 8.5, and set_binding_shape (by binding
# index) is its deprecated predecessor, removed in 10.0, so edgenas never calls it.
PROFILE_API = {
    "build": (("Builder", "create_optimization_profile"), ("IOptimizationProfile", "set_shape"),
              ("IBuilderConfig", "add_optimization_profile")),
    "run": (("IExecutionContext", "set_optimization_profile_async"), ("IExecutionContext", "set_input_shape"),
            ("IExecutionContext", "get_tensor_shape"), ("ICudaEngine", "get_tensor_profile_shape")),
}
LEGACY_RUN_API = {"set_binding_shape": "deprecated in 8.5, removed in 10.0 (edgenas uses set_input_shape from 8.5 on)"}


def profile_calls(profiles: Sequence[Mapping[str, Any]], trt_version: str) -> List[str]:
    """The TensorRT Python calls a build with these optimization profiles makes, and the calls the runner
    makes per inference shape, as lines of Python (``edgenas build --print-plan``). ``profiles``: a list
    of {input: (min, opt, max)} (runtime.shapes)."""
    f = features(trt_version)
    lines = ["# TensorRT {} ({}): optimization profiles".format(trt_version, "JetPack 5 / 8.x" if f.major < 10 else "10.x")]
    for i, prof in enumerate(profiles):
        lines.append("profile = builder.create_optimization_profile()")
        for name, r in prof.items():
            lo, opt, hi = (tuple(int(v) for v in s) for s in r)
            lines.append("profile.set_shape({!r}, trt.Dims({}), trt.Dims({}), trt.Dims({}))".format(
                name, list(lo), list(opt), list(hi)))
        lines.append("config.add_optimization_profile(profile)  # -> {}".format(i))
    lines.append("# per inference: the first profile covering the input, then its shape")
    lines.append("context.set_optimization_profile_async(index, stream)  # only when the profile changes")
    for name in (profiles[0] if profiles else {}):
        lines.append("context.set_input_shape({!r}, shape)  # {}".format(
            name, "named-tensor API, new in 8.5 (set_binding_shape is its deprecated form)" if f.major < 10
            else "set_binding_shape was removed in 10.0"))
    return lines


def import_tensorrt():
    """TensorRT's Python module, checked: a stubs-only or half-installed package fails here with a fix,
    not later with an AttributeError."""
    try:
        import tensorrt as trt
    except ImportError as e:
        if "numpy" in str(e).lower() or "_ARRAY_API" in str(e):  # bindings built against another numpy
            from .versions import environment_error

            raise environment_error(e, "import tensorrt") from e
        if "tensorrt" not in str(e) and "nvinfer" not in str(e):
            raise EdgenasError("TensorRT is installed but cannot load ({}); reinstall it (Jetson: sudo apt install "
                               "--reinstall python3-libnvinfer)".format(str(e).splitlines()[0]))
        raise EdgenasError("TensorRT is not installed here; on a Jetson it ships with JetPack (python3-libnvinfer), on x86 "
                           "install NVIDIA's tensorrt wheel. Use an onnxruntime target on machines without it")
    except OSError as e:  # libnvinfer.so missing or built for another CUDA
        raise EdgenasError("TensorRT's libraries cannot load ({}); reinstall TensorRT for this CUDA version".format(
            str(e).splitlines()[0]))
    except Exception as e:  # noqa: BLE001 - e.g. bindings built against another numpy: one line, not a traceback
        from .versions import environment_error

        raise environment_error(e, "import tensorrt") from e
    version = getattr(trt, "__version__", None)
    missing = [n for n in ("Builder", "Runtime", "OnnxParser", "Logger") if not hasattr(trt, n)]
    if not version or missing:
        raise EdgenasError("the 'tensorrt' module at {} is incomplete (no {}): a stubs-only package (tensorrt-stubs) or a "
                           "half-finished install; pip uninstall tensorrt-stubs, or reinstall TensorRT".format(
                               getattr(trt, "__file__", None) or list(getattr(trt, "__path__", [])),
                               "__version__" if not version else ", ".join(missing)))
    features(version)
    return trt
