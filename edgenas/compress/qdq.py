"""Static INT8 quantization into explicit Q/DQ ONNX, built on onnxruntime.quantization.

One Q/DQ file serves ONNX Runtime and TensorRT 8.6 / 10 / 11 alike.
"""

import logging
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes


class _Reader:
    def __init__(self, name: str, batches: List[np.ndarray]) -> None:
        self.name, self.batches, self.i = name, batches, 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.name: self.batches[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0

    def __iter__(self):
        return iter({self.name: b} for b in self.batches)


def quantize_qdq(fp32_path, out_path, batches: Iterable[np.ndarray], quant, input_name: str = "input",
                 nodes_to_exclude: Optional[List[str]] = None, calibration_cache: Optional[str] = None) -> Path:
    """Quantize ``fp32_path`` to Q/DQ INT8 at ``out_path`` (atomic) using calibration ``batches``.

    ``quant`` carries activation_type, weight_type, per_channel and method (minmax|entropy|percentile).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    batches = [np.ascontiguousarray(b, dtype=np.float32) for b in batches]
    if not batches:
        raise EdgenasError("calibration set is empty; give at least one batch of inputs")
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    out_path = Path(out_path)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=str(out_path.parent) if out_path.parent.exists() else None)
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger for every model
    try:
        quantize_static(str(fp32_path), tmp, _Reader(input_name, batches), quant_format=QuantFormat.QDQ,
                        per_channel=quant.per_channel, activation_type=types[quant.activation_type],
                        weight_type=types[quant.weight_type], calibrate_method=methods[quant.method],
                        nodes_to_exclude=nodes_to_exclude or [],
                        **({"calibration_cache_path": calibration_cache} if calibration_cache else {}))
        with open(tmp, "rb") as f:
            return atomic_write_bytes(out_path, f.read())
    finally:
        root.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)


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
