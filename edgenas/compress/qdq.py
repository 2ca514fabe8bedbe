"""Static INT8 quantization into explicit Q/DQ ONNX, built on onnxruntime.quantization, in one of two
flavours, because the two backends want different files:

- ``onnxruntime``: uint8 asymmetric activations, per-channel int8 weights, quantized biases: fastest
  on ONNX Runtime's CPU kernels (int8 activations ran ~3x slower here).
- ``tensorrt``: what TensorRT's ONNX parser accepts and fuses: symmetric int8 activations (zero point
  0), per-channel symmetric int8 weights on axis 0 (Conv: output channels; ConvTranspose too, where
  ONNX Runtime would pick axis 1, which TensorRT refuses), float biases (no INT32 DequantizeLinear),
  Q/DQ only on the inputs of weighted layers, pooling and residual Adds, so pointwise ops (hardswish,
  SE gating) stay in float for TensorRT to fuse. Weights stay float behind a QuantizeLinear/
  DequantizeLinear pair by default (``trt_weights="float"``, ONNX Runtime's AddQDQPairToWeight): the
  form NVIDIA's 8.x workflow documents, TensorRT quantizes them at build time. ``trt_weights="int8"``
  stores INT8 constants feeding DequantizeLinear instead (accepted from TensorRT 8.5's parser on, not
  yet confirmed on a board).

The flavour follows the target's backend and is recorded in the artifact's sidecar.
"""

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes


class _Reader:
    """Calibration batches for ORT: arrays of input ``name``, or {input name: array} (a model with several inputs)."""

    def __init__(self, name: Optional[str], batches: List[Any]) -> None:
        self.name, self.batches, self.i = name, batches, 0

    def _feed(self, b) -> Dict[str, np.ndarray]:
        return dict(b) if isinstance(b, dict) else {str(self.name): b}

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return self._feed(self.batches[self.i - 1])

    def rewind(self) -> None:
        self.i = 0

    def __iter__(self):
        return iter(self._feed(b) for b in self.batches)


FLAVOURS = ("onnxruntime", "tensorrt")
TRT_WEIGHT_FORMS = ("float", "int8")
TRT_OP_TYPES = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "GlobalAveragePool", "AveragePool", "MaxPool"]


def qdq_flavour(target) -> str:
    """The Q/DQ flavour a target's backend takes (its spec.py; TensorRT's parser needs its own)."""
    from ..backends.registry import get_backend

    return get_backend(target.backend).qdq_flavour or "onnxruntime"


def flavour_options(flavour: str, quant, trt_weights: str = "float") -> Dict[str, object]:
    """quantize_static keyword arguments for a flavour (``quant`` gives ORT's own settings; ``trt_weights``
    the TensorRT flavour's weight form, see the module docstring)."""
    from onnxruntime.quantization import QuantType

    if flavour == "tensorrt":
        if trt_weights not in TRT_WEIGHT_FORMS:
            raise EdgenasError("unknown TensorRT weight form '{}'; choose float (float weights + Q/DQ, the default) or "
                               "int8 (INT8 constants)".format(trt_weights))
        return {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8, "per_channel": True,
                "op_types_to_quantize": TRT_OP_TYPES,
                "extra_options": {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                  "AddQDQPairToWeight": trt_weights == "float",
                                  # no int32 bias here, so no weight-scale adjustment for one (ORT >= 1.20 would
                                  # index per-channel scales by bias channel, wrong for ConvTranspose on axis 0)
                                  "QDQDisableWeightAdjustForInt32Bias": True}}
    if flavour != "onnxruntime":
        raise EdgenasError("unknown Q/DQ flavour '{}'; choose {}".format(flavour, " or ".join(FLAVOURS)))
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    return {"activation_type": types[quant.activation_type], "weight_type": types[quant.weight_type],
            "per_channel": quant.per_channel}


def quantize_qdq(fp32_path, out_path, batches: Iterable[Any], quant, input_name: Optional[str] = "input",
                 nodes_to_exclude: Optional[List[str]] = None, calibration_cache: Optional[str] = None,
                 flavour: str = "onnxruntime", trt_weights: str = "float") -> Path:
    """Quantize ``fp32_path`` to Q/DQ INT8 at ``out_path`` (atomic) using calibration ``batches``.

    ``quant`` carries activation_type, weight_type, per_channel and method (minmax|entropy|percentile);
    ``flavour`` picks the backend's Q/DQ form, ``trt_weights`` the TensorRT flavour's weight form (see the
    module docstring)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    flavour_options(flavour, quant, trt_weights)  # an unknown flavour or weight form fails before any work
    batches = [{k: np.ascontiguousarray(v) for k, v in b.items()} if isinstance(b, dict)
               else np.ascontiguousarray(b, dtype=np.float32) for b in batches]
    if not batches:
        raise EdgenasError("calibration set is empty; give at least one batch of inputs")
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    out_path = Path(out_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger for every model
    try:
        # ORT writes its own scratch files too: keep all of it in one system temp folder, never beside the output
        with tempfile.TemporaryDirectory(prefix="edgenas-quant-") as work:
            tmp = os.path.join(work, "model.qdq.onnx")
            options = flavour_options(flavour, quant, trt_weights)
            if flavour == "tensorrt":
                _conv_transpose_on_axis0(fp32_path, options)
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # ORT's calibrators print
                quantize_static(str(fp32_path), tmp, _Reader(input_name, batches), quant_format=QuantFormat.QDQ,
                                calibrate_method=methods[quant.method], nodes_to_exclude=nodes_to_exclude or [],
                                **options, **({"calibration_cache_path": calibration_cache} if calibration_cache else {}))
            if flavour == "tensorrt":
                _check_trt_axes(tmp)
            with open(tmp, "rb") as f:
                return atomic_write_bytes(out_path, f.read())
    finally:
        root.setLevel(level)


def _conv_transpose_on_axis0(fp32_path, options: Dict[str, Any]) -> None:
    """ONNX Runtime quantizes ConvTranspose weights per channel on axis 1 (its output channels), which
    TensorRT does not support; NVIDIA's own QAT toolkit uses axis 0 for them. Ask for axis 0 per weight
    (QDQOpTypePerChannelSupportToAxis is not consulted for ConvTranspose, TensorQuantOverrides is)."""
    import onnx

    model = onnx.load(str(fp32_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    names = [n.input[1] for n in model.graph.node if n.op_type == "ConvTranspose" and len(n.input) > 1 and n.input[1] in inits]
    if names:
        overrides = options["extra_options"].setdefault("TensorQuantOverrides", {})  # type: ignore[union-attr]
        for name in names:
            overrides[name] = [{"axis": 0}]


def _check_trt_axes(path) -> None:
    """The TensorRT flavour must pass TensorRT's per-channel rules (an older onnxruntime may ignore the
    axis override): refuse to write a file the board would reject."""
    from ..backends.tensorrt.check import _qdq_weights_and_axes, load_model

    problems = _qdq_weights_and_axes(load_model(path))[0]
    if problems:
        import onnxruntime

        raise EdgenasError("onnxruntime {} produced Q/DQ that TensorRT rejects ({}); upgrade onnxruntime on the host "
                           "(pip install -U onnxruntime) and quantize again".format(onnxruntime.__version__, problems[0]))


def strip_io_qdq(path) -> None:
    """Rewrite a Q/DQ model in place so it takes and returns quantized tensors, as an op does inside a
    quantized network: the input QuantizeLinear and output DequantizeLinear are removed.

    Timed standalone with float I/O, an INT8 op pays a float<->int8 conversion of its whole input and
    output that the network does not (ORT fuses DQ->op->Q chains), which made block sums 1.3-3.9x the
    end-to-end latency here.
    """
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    g = model.graph
    inits = {i.name for i in g.initializer}
    def quantized_info(node, like):
        zp = next((i for i in g.initializer if len(node.input) > 2 and i.name == node.input[2]), None)
        shape = [d.dim_value for d in like.type.tensor_type.shape.dim]
        return zp.data_type if zp is not None else onnx.TensorProto.UINT8, shape

    for gi in [i for i in g.input if i.name not in inits]:
        consumers = [n for n in g.node if gi.name in n.input]
        if len(consumers) == 1 and consumers[0].op_type == "QuantizeLinear":
            q = consumers[0]
            elem, shape = quantized_info(q, gi)
            g.node.remove(q)
            g.input.remove(gi)
            g.input.insert(0, helper.make_tensor_value_info(q.output[0], elem, shape))
    for idx, go in enumerate(list(g.output)):
        producers = [n for n in g.node if go.name in n.output]
        if len(producers) == 1 and producers[0].op_type == "DequantizeLinear":
            dq = producers[0]
            elem, shape = quantized_info(dq, go)
            g.node.remove(dq)
            g.output.remove(go)
            g.output.insert(idx, helper.make_tensor_value_info(dq.input[0], elem, shape))
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())
