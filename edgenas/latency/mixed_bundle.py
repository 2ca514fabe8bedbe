"""The precision-boundary ops of a mixed plan, as ONNX Runtime runs them inside a quantized network: a
QuantizeLinear (float -> uint8) where an int8 op follows a float one, a DequantizeLinear (uint8 ->
float) where a float op follows an int8 one, per tensor shape."""

from ..errors import EdgenasError
from ..modelio.onnx_export import DEFAULT_OPSET
from ..space.blocks import parse_block


def boundary_model(key: str, target) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    kind, f = parse_block(key)
    if kind not in ("quant", "dequant"):
        raise EdgenasError("'{}' is not a precision boundary op".format(key))
    shape = [1, int(f["c"])] if f["r"] == 1 else [1, int(f["c"]), int(f["r"]), int(f["r"])]
    act = TensorProto.UINT8 if target.quantization.activation_type == "uint8" else TensorProto.INT8
    zp = 128 if act == TensorProto.UINT8 else 0
    inits = [helper.make_tensor("scale", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("zp", act, [], [zp])]
    if kind == "quant":
        x, y = TensorProto.FLOAT, act
        node = helper.make_node("QuantizeLinear", ["input", "scale", "zp"], ["output"], name=key)
    else:
        x, y = act, TensorProto.FLOAT
        node = helper.make_node("DequantizeLinear", ["input", "scale", "zp"], ["output"], name=key)
    graph = helper.make_graph([node], kind, [helper.make_tensor_value_info("input", x, shape)],
                              [helper.make_tensor_value_info("output", y, shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])
    onnx.checker.check_model(model)
    return model.SerializeToString()
