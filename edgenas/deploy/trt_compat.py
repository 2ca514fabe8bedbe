"""TensorRT version differences in one place (pure Python: testable without TensorRT).

- 8.5 / 8.6 (JetPack 5): EXPLICIT_BATCH network flag, precision builder flags, named-tensor API and
  execute_async_v3 available (bindings / execute_async_v2 still present).
- 10.x (JetPack 6): bindings API removed, EXPLICIT_BATCH implied, INT8 calibrators deprecated since
  10.1 (we never use them: INT8 comes from explicit Q/DQ), precision flags still present.
- 11.x: weak typing removed - no FP16/INT8 builder flags; networks are strongly typed, so INT8 needs
  a Q/DQ ONNX and FP16 needs an ONNX already converted to FP16 (e.g. ModelOpt AutoCast).
"""

from dataclasses import dataclass
from typing import Dict, List, Tuple

from ..errors import EdgenasError

# Highest ONNX opset each TensorRT major's bundled parser supports (support matrices).
MAX_OPSET = {8: 17, 10: 20, 11: 25}
# Ops edgenas models use, all parsed by TensorRT >= 8.5.
KNOWN_OPS = {"Conv", "Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Mul", "Add", "Sub", "Div",
             "GlobalAveragePool", "ReduceMean", "AveragePool", "MaxPool", "Flatten", "Reshape", "Gemm", "MatMul",
             "Identity", "Constant", "Concat", "Transpose", "QuantizeLinear", "DequantizeLinear", "BatchNormalization",
             "Softmax", "Pad", "Cast", "Shape", "Gather", "Unsqueeze", "Squeeze", "Slice", "Resize"}


def parse_version(v: str) -> Tuple[int, int, int]:
    parts = [int(p) for p in str(v).split(".")[:3] if p.isdigit()]
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
    def explicit_batch_flag(self) -> bool:
        return self.major < 10

    @property
    def named_tensors(self) -> bool:
        return self.version >= (8, 5, 0)

    @property
    def precision_flags(self) -> bool:
        return self.major < 11

    @property
    def execute(self) -> str:
        return "execute_async_v3" if self.named_tensors else "execute_async_v2"

    @property
    def max_opset(self) -> int:
        known = [k for k in sorted(MAX_OPSET) if k <= self.major]
        return MAX_OPSET[known[-1]] if known else MAX_OPSET[8]


@dataclass
class BuildPlan:
    network_flags: List[str]
    builder_flags: List[str]
    notes: List[str]


def onnx_facts(model) -> Dict[str, object]:
    """What the build needs to know about an ONNX model: opset, op types, Q/DQ presence, FP16 weights."""
    from onnx import TensorProto

    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    ops = sorted({n.op_type for n in model.graph.node})
    fp16 = any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    return {"opset": opset, "ops": ops, "qdq": "QuantizeLinear" in ops and "DequantizeLinear" in ops, "fp16": fp16}


def plan_build(precision: str, facts: Dict[str, object], trt_version: str) -> BuildPlan:
    """Flags for building ``precision`` from an ONNX with ``facts`` on TensorRT ``trt_version``.
    Never downgrades precision silently: what cannot be built as asked is an error."""
    f = TrtFeatures(parse_version(trt_version))
    if int(facts["opset"]) > f.max_opset:
        raise EdgenasError("ONNX opset {} is newer than TensorRT {} parses (max {}); re-export with opset {} or lower".format(
            facts["opset"], trt_version, f.max_opset, f.max_opset))
    net = ["EXPLICIT_BATCH"] if f.explicit_batch_flag else []
    flags: List[str] = []
    notes: List[str] = []
    unknown_ops = [o for o in facts["ops"] if o not in KNOWN_OPS]  # type: ignore[union-attr]
    if unknown_ops:
        notes.append("ops not on edgenas's known-good list for TensorRT: {}; the parser decides".format(", ".join(unknown_ops)))
    if precision == "int8":
        if not facts["qdq"]:
            raise EdgenasError("target asks for int8 but the ONNX has no Q/DQ nodes; quantize it first: "
                               "edgenas quantize MODEL.onnx --target <int8 target> --out MODEL.int8.onnx")
        if f.precision_flags:
            flags.append("INT8")  # explicit quantization: scales come from the Q/DQ nodes, no calibrator
        else:
            net.append("STRONGLY_TYPED")
    elif precision == "fp16":
        if f.precision_flags:
            flags.append("FP16")
        elif not facts["fp16"]:
            raise EdgenasError("TensorRT {} has no FP16 builder flag (strong typing only); convert the ONNX to FP16 first, "
                               "e.g. with ModelOpt AutoCast, or use an fp32 target".format(trt_version))
        else:
            net.append("STRONGLY_TYPED")
    elif precision != "fp32":
        raise EdgenasError("unknown precision '{}'".format(precision))
    elif not f.precision_flags:
        net.append("STRONGLY_TYPED")
    return BuildPlan(net, flags, notes)
