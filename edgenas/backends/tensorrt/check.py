"""Static TensorRT compatibility check of an ONNX model: runs anywhere (onnx only, no TensorRT), and
before every engine build.

What TensorRT's ONNX parser accepts differs from what ONNX Runtime produces by default:
- Q/DQ must be symmetric: every zero point 0 (onnx-tensorrt rejects a non-zero shift), of type int8
  (uint8 activations, ONNX Runtime's fastest CPU flavour, are refused);
- no INT32 DequantizeLinear (a quantized bias);
- per-channel scales only on weights, and on axis 0 for Conv/ConvTranspose weights;
- weights either float with a Q/DQ pair (reported; the default for TensorRT targets) or INT8 constants;
- the opset within the parser's range, and every op in that TensorRT version's supported list
  (onnx-tensorrt docs/operators.md per release, shipped in onnx_ops.json);
- dynamic dims only where an optimization profile covers them: --shapes NAME:MIN,OPT,MAX for any dim
  (runtime/shapes.py: coverage, MIN <= OPT <= MAX, ONNX shape inference at min / opt / max naming the
  node that rejects a size), or --dynamic-batch for a batch-only dynamic model.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ...errors import EdgenasError
from .compat import parse_version

_OPS_FILE = Path(__file__).with_name("onnx_ops.json")
_INT8, _UINT8, _INT32, _FLOAT16 = 3, 2, 6, 10


@dataclass
class CheckReport:
    trt_version: str
    problems: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def supported_ops(trt_version: str) -> Tuple[str, Dict[str, Any]]:
    """(key, entry) of the newest operator list not newer than ``trt_version``."""
    data = json.loads(_OPS_FILE.read_text(encoding="utf-8"))["versions"]
    want = parse_version(trt_version)
    known = sorted(data, key=parse_version)
    fit = [k for k in known if parse_version(k)[:2] <= want[:2]]
    key = fit[-1] if fit else known[0]
    return key, data[key]


def load_model(path):
    try:
        import onnx
    except ImportError:
        raise EdgenasError("checking an ONNX model needs the onnx package: pip install onnx")
    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise EdgenasError("ONNX file {} does not exist".format(path))
    except Exception as e:  # onnx raises DecodeError and friends for corrupt files
        raise EdgenasError("{} is not a readable ONNX model ({}); re-export it".format(path, type(e).__name__))


def _constants(model) -> Dict[str, Any]:
    from onnx import numpy_helper

    out = {i.name: i for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = a.t
    out["__np__"] = numpy_helper
    return out


def _qdq_problems(model) -> Tuple[List[str], Dict[str, int]]:
    consts = _constants(model)
    np_helper = consts.pop("__np__")
    problems: List[str] = []
    stats = {"q": 0, "dq": 0, "nonzero_zp": 0, "uint8": 0, "int32_dq": 0}
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        stats["q" if n.op_type == "QuantizeLinear" else "dq"] += 1
        x = consts.get(n.input[0])
        if n.op_type == "DequantizeLinear" and x is not None and x.data_type == _INT32:
            stats["int32_dq"] += 1
            continue
        zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if zp is not None:
            if zp.data_type == _UINT8:
                stats["uint8"] += 1
            elif zp.data_type != _INT8:
                problems.append("{} '{}' has a zero point of ONNX type {}; TensorRT takes int8".format(n.op_type, n.name, zp.data_type))
            if np_helper.to_array(zp).any():
                stats["nonzero_zp"] += 1
    if stats["nonzero_zp"]:
        problems.append("{} Q/DQ nodes have non-zero zero points; TensorRT takes only symmetric INT8 (zero point 0): "
                        "quantize for a TensorRT target (edgenas quantize --target <trt int8 target>)".format(stats["nonzero_zp"]))
    if stats["uint8"]:
        problems.append("{} Q/DQ nodes are uint8; TensorRT takes int8 activations and weights".format(stats["uint8"]))
    if stats["int32_dq"]:
        problems.append("{} DequantizeLinear nodes dequantize INT32 (quantized biases); TensorRT does not parse them: "
                        "quantize without bias quantization".format(stats["int32_dq"]))
    return problems, stats


def _attr(node, name: str):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return None


def _qdq_weights_and_axes(model) -> Tuple[List[str], Dict[str, int]]:
    """How the Q/DQ weights are stored, and the per-channel quantization TensorRT rejects.

    Weight forms: ``float`` (a float initializer -> QuantizeLinear -> DequantizeLinear: TensorRT quantizes
    it at build time, the form NVIDIA's own QAT toolkit exports) or ``int8`` (an INT8 initializer ->
    DequantizeLinear). Per-channel rules (TensorRT 8.5 NvInfer.h, IQuantizeLayer/IDequantizeLayer): only
    weights may be quantized per channel, along K = axis 0 of KCRS; a ConvTranspose weight on axis 1
    (ONNX Runtime's default) is refused, NVIDIA's pytorch-quantization uses axis 0 for it. A per-channel
    node without an ``axis`` attribute means axis 1 to ONNX but axis 0 to TensorRT 8.x's parser.
    """
    consts = _constants(model)
    np_helper = consts.pop("__np__")
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers: Dict[str, List[Tuple[Any, int]]] = {}
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            consumers.setdefault(name, []).append((n, i))
    problems: List[str] = []
    forms = {"float": 0, "int8": 0}
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        x = consts.get(n.input[0])
        src = producer.get(n.input[0])
        if n.op_type == "DequantizeLinear" and x is not None and x.data_type == _INT32:
            continue  # a quantized bias: flagged by _qdq_problems
        weight = None  # the constant this node quantizes, if it quantizes a weight
        if x is not None:
            weight = x
            if n.op_type == "DequantizeLinear":
                forms["int8" if x.data_type in (_INT8, _UINT8) else "float"] += 1
        elif n.op_type == "DequantizeLinear" and src is not None and src.op_type == "QuantizeLinear" \
                and src.input[0] in consts:
            weight = consts[src.input[0]]
            forms["float"] += 1
        scale = consts.get(n.input[1]) if len(n.input) > 1 else None
        if scale is None or np_helper.to_array(scale).size <= 1:
            continue
        if weight is None:
            problems.append("{} '{}' quantizes the activation '{}' per channel; TensorRT quantizes activations per tensor "
                            "only: use one scale".format(n.op_type, n.name, n.input[0]))
            continue
        axis = _attr(n, "axis")
        if axis is None:
            problems.append("per-channel {} '{}' has no axis attribute: ONNX reads that as axis 1, TensorRT 8.x's parser "
                            "as axis 0; set axis explicitly (0 for Conv/ConvTranspose weights)".format(n.op_type, n.name))
            continue
        axis = axis + len(weight.dims) if axis < 0 else axis
        if n.op_type != "DequantizeLinear":
            continue
        for user, idx in consumers.get(n.output[0], []):
            if user.op_type in ("Conv", "ConvTranspose") and idx == 1 and axis != 0:
                problems.append("{} '{}' has weights quantized per channel on axis {}; TensorRT takes per-channel weights "
                                "only on axis 0{}: re-quantize for a TensorRT target (edgenas quantize --target <trt int8 "
                                "target> quantizes ConvTranspose on axis 0)".format(
                                    user.op_type, user.name, axis,
                                    " (NVIDIA's own toolkit quantizes ConvTranspose on axis 0)"
                                    if user.op_type == "ConvTranspose" else ""))
    return problems, forms


def onnx_facts(model) -> Dict[str, Any]:
    """Opset, op types, Q/DQ presence and flavour, FP16 weights, dynamic input dims."""
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    ops = sorted({n.op_type for n in model.graph.node})
    inits = {i.name for i in model.graph.initializer}
    dynamic = []
    for v in model.graph.input:
        if v.name in inits:
            continue
        for j, d in enumerate(v.type.tensor_type.shape.dim):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                dynamic.append((v.name, j))
    qdq = "QuantizeLinear" in ops or "DequantizeLinear" in ops
    facts: Dict[str, Any] = {"opset": opset, "ops": ops, "qdq": qdq, "dynamic": dynamic,
                             "fp16": any(i.data_type == _FLOAT16 for i in model.graph.initializer),
                             "custom_domains": sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})}
    if qdq:
        problems, stats = _qdq_problems(model)
        facts["qdq_stats"] = stats
        facts["qdq_flavour"] = "onnxruntime" if problems else "tensorrt"
        forms = _qdq_weights_and_axes(model)[1]
        facts["qdq_weight_counts"] = forms
        facts["qdq_weights"] = ("mixed" if forms["float"] and forms["int8"] else "float" if forms["float"]
                                else "int8" if forms["int8"] else "none")
    return facts


WEIGHT_FORMS = {"float": "float weights with Q/DQ pairs (TensorRT quantizes them at build time)",
                "int8": "INT8 weight constants feeding DequantizeLinear", "mixed": "both float+Q/DQ and INT8 weight constants",
                "none": "no quantized weights"}


def check_onnx(model, trt_version: str, dynamic_batch: Optional[Tuple[int, int, int]] = None,
               precision: Optional[str] = None, shapes=None) -> CheckReport:
    """Everything TensorRT ``trt_version``'s ONNX parser would refuse in ``model``, as one-line problems.
    ``shapes``: optimization profiles for dynamic dims (runtime.shapes syntax, or parsed profiles); the
    resolved profiles land in ``facts["profiles"]``."""
    rep = CheckReport(str(trt_version))
    facts = rep.facts = onnx_facts(model)
    key, entry = supported_ops(trt_version)
    rep.notes.append("operator list of TensorRT {} ({})".format(key, entry.get("ref", "onnx-tensorrt docs/operators.md")))
    lo, hi = int(entry["opset_min"]), int(entry["opset_max"])
    if not lo <= facts["opset"] <= hi:
        rep.problems.append("ONNX opset {} is outside TensorRT {}'s parser range {}-{}; re-export with opset {}".format(
            facts["opset"], trt_version, lo, hi, min(max(facts["opset"], lo), hi)))
    for domain in facts["custom_domains"]:
        rep.problems.append("ops from domain '{}' (ONNX Runtime contrib ops) are not TensorRT ops; export without them".format(domain))
    supported = set(entry["ops"])
    missing = [o for o in facts["ops"] if o not in supported and o != "Constant"]
    if missing:
        rep.problems.append("ops not supported by TensorRT {}'s ONNX parser: {}".format(key, ", ".join(missing)))
    if facts["qdq"]:
        rep.problems += _qdq_problems(model)[0] + _qdq_weights_and_axes(model)[0]
        form = facts["qdq_weights"]
        rep.notes.append("Q/DQ weights: {} ({} float, {} int8)".format(
            WEIGHT_FORMS[form], facts["qdq_weight_counts"]["float"], facts["qdq_weight_counts"]["int8"]))
        if form in ("int8", "mixed") and parse_version(trt_version)[0] < 10:
            rep.notes.append("INT8 weight constants on TensorRT {}: NVIDIA's 8.x workflow stores weights in float with a "
                             "Q/DQ pair, and no board has confirmed the INT8 form on 8.5; if the build fails, re-quantize "
                             "with float weights (edgenas quantize's default for TensorRT targets)".format(trt_version))
    if shapes:
        rep.problems += _profile_problems(model, shapes, dynamic_batch, facts, rep.notes)
    if not shapes:
        from ...runtime.shapes import check_profiles

        for problem in check_profiles([], model):
            name = problem.split("'")[1]
            dims = [d for n, d in facts["dynamic"] if n == name]
            if dims == [0] and dynamic_batch:
                continue
            if dims == [0]:
                problem = "input '{}' has a dynamic batch; build with --dynamic-batch MIN,OPT,MAX (or --shapes {}:MIN,OPT,MAX)".format(
                    name, name)
            rep.problems.append(problem)
    if dynamic_batch and not shapes and not any(dim == 0 for _, dim in facts["dynamic"]):
        rep.problems.append("--dynamic-batch given but the ONNX batch dim is static; export with a dynamic batch "
                            "(edgenas export --dynamic-batch) or drop --dynamic-batch")
    if precision == "int8" and not facts["qdq"]:
        rep.problems.append("an int8 target needs a Q/DQ ONNX; quantize it first: edgenas quantize MODEL.onnx --target "
                            "<trt int8 target> --out MODEL.int8.onnx")
    if precision in ("fp32", "fp16") and facts["qdq"]:
        rep.problems.append("a {} target needs the float ONNX, not a Q/DQ one".format(precision))
    return rep


def _profile_problems(model, shapes, dynamic_batch, facts: Dict[str, Any], notes: List[str]) -> List[str]:
    """Coverage / order / fixed-dim problems of the profiles, then ONNX shape inference at min, opt and max."""
    from ...runtime import shapes as S

    if dynamic_batch:
        return ["give --shapes or --dynamic-batch, not both (--shapes covers the batch dim too)"]
    profiles = S.parse_shapes(shapes, model)  # also reads parsed profiles (a list of {name: (min, opt, max)})
    problems = S.check_profiles(profiles, model)
    if problems:
        return problems
    profiles = S.resolve(profiles_as_spec(profiles), model)
    facts["profiles"] = S.to_json(profiles)
    notes.append("optimization profiles: " + S.describe(profiles))
    return S.infer_problems(model, profiles)


def profiles_as_spec(profiles) -> List[Dict[str, List[List[int]]]]:
    """Parsed profiles back in the mapping form parse_shapes reads (one mapping per profile)."""
    return [{n: [list(r[0]), list(r[1]), list(r[2])] for n, r in p.items()} for p in profiles]


def check_file(path, trt_version: str, **kw) -> CheckReport:
    return check_onnx(load_model(path), trt_version, **kw)
