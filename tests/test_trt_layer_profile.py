"""TensorRT per-layer profile of your own model (backends/tensorrt/layer_profile.py): the mapping from engine
layer names and inspector JSON to ONNX nodes, on samples of what TensorRT 8.5 and 10.x write, reformat and
Myelin handling, and the coverage / share / overhead arithmetic. The run itself needs TensorRT and a GPU
(``pytest -m trt`` on a board); here it must fail in one line.

Samples (layer names and JSON fields as TensorRT writes them; the ONNX graphs around them are built here):
- 8.2-8.5, no Metadata: NVIDIA/TensorRT tools/experimental/trt-engine-explorer/tests/inputs/
  mobilenet_v2_residuals.qat.onnx.engine.graph.json (QAT MobileNetV2 on TensorRT 8.x: ``QuantizeLinear_2`` as a
  Reformat layer of Origin QDQ, ``features.0.0.weight + QuantizeLinear_7 + Conv_9 + PWN(Clip_13)``,
  ``... + Conv_121 + Add_123`` with Int8 weights and "Thirty-two wide channel vectorized row major Int8 format").
- 8.5.2 Myelin: a trtexec --dumpProfile log of GoogLeNet on TensorRT 8.5.2 (``Reformatting CopyNode for Input
  Tensor 0 to {ForeignNode[conv1/7x7_s2...loss3/classifier]}`` then ``{ForeignNode[conv1/7x7_s2...loss3/classifier]}``).
- 10.x: the Metadata field (``[ONNX Layer: X]`` joined by U+001E in 8.6, U+001F in 10.0: trex/parser.py
  ``fix_unicode``, NVIDIA/TensorRT issue 2779), ``"Origin": "REFORMAT"``, ``"StreamId"``, ``"Metadata": ""`` on
  reformats (a TensorRT 10 engine-info dump in fuzzylabs/edge-vision-power-estimation's docs), and layer names of
  a torch-exported FP16 engine (``Reformatting CopyNode for Input Tensor 0 to /features/features.0/Conv +
  /features/features.2/Relu``, ``reshape_before_/net/net.0/Gemm``, ``PWN(/Tanh)``).
"""

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from edgenas.backends.tensorrt.layer_profile import (  # noqa: E402
    OnnxIndex,
    build_rows,
    layer_precision,
    map_layers,
    metadata_nodes,
    name_atoms,
    parse_engine_information,
    reformat_target,
    rounds_of,
    summarize,
    timed_rows,
)
from edgenas.errors import EdgenasError  # noqa: E402
from edgenas.latency.onnx_map import torch_module  # noqa: E402

INT8_32 = "Thirty-two wide channel vectorized row major Int8 format"


def _t(name, shape=(1, 8, 8, 8)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _const(name, value):
    return helper.make_tensor(name, TensorProto.FLOAT, [len(value)], value)


def _model(nodes, inits, inp="x", out="y"):
    g = helper.make_graph(nodes, "g", [_t(inp)], [_t(out)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def qat_mobilenet():
    """The QAT MobileNetV2 head the trex sample's layers come from: Q/DQ on activations and weights."""
    n = helper.make_node
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.INT8, [], [0]),
             helper.make_tensor("features.0.0.weight", TensorProto.FLOAT, [8, 8, 1, 1], [0.1] * 64),
             helper.make_tensor("features.3.conv.2.weight", TensorProto.FLOAT, [8, 8, 1, 1], [0.2] * 64),
             helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0])]
    nodes = [n("QuantizeLinear", ["x", "s", "z"], ["433"], name="QuantizeLinear_2"),
             n("DequantizeLinear", ["433", "s", "z"], ["xd"], name="DequantizeLinear_5"),
             n("QuantizeLinear", ["features.0.0.weight", "s", "z"], ["w0q"], name="QuantizeLinear_7"),
             n("DequantizeLinear", ["w0q", "s", "z"], ["w0"], name="DequantizeLinear_8"),
             n("Conv", ["xd", "w0"], ["c0"], name="Conv_9"),
             n("Clip", ["c0", "lo", "hi"], ["449"], name="Clip_13"),
             n("QuantizeLinear", ["449", "s", "z"], ["q1"], name="QuantizeLinear_115"),
             n("DequantizeLinear", ["q1", "s", "z"], ["d1"], name="DequantizeLinear_116"),
             n("QuantizeLinear", ["features.3.conv.2.weight", "s", "z"], ["w1q"], name="QuantizeLinear_119"),
             n("DequantizeLinear", ["w1q", "s", "z"], ["w1"], name="DequantizeLinear_120"),
             n("Conv", ["d1", "w1"], ["c1"], name="Conv_121"),
             n("Add", ["c1", "d1"], ["y"], name="Add_123")]
    return _model(nodes, inits)


# layers as TensorRT 8.x's inspector lists them (trex sample above; tensor details abbreviated)
TRT8_QAT = [
    {"Name": "QuantizeLinear_2", "LayerType": "Reformat",
     "Inputs": [{"Name": "inputs.1", "Dimensions": [1, 3, 224, 224], "Format/Datatype": "Row major linear FP32"}],
     "Outputs": [{"Name": "433", "Dimensions": [1, 3, 224, 224],
                  "Format/Datatype": "Four wide channel vectorized row major Int8 format"}],
     "ParameterType": "Reformat", "Origin": "QDQ", "TacticValue": "0x0000000000000000"},
    {"Name": "features.0.0.weight + QuantizeLinear_7 + Conv_9 + PWN(Clip_13)", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "433", "Dimensions": [1, 3, 224, 224], "Format/Datatype": "Four wide channel vectorized row major Int8 format"}],
     "Outputs": [{"Name": "449", "Dimensions": [1, 32, 112, 112], "Format/Datatype": INT8_32}],
     "ParameterType": "Convolution", "Weights": {"Type": "Int8", "Count": 864}, "Bias": {"Type": "Float", "Count": 32},
     "TacticName": "volta_int8x4_icudnn_int8x4_128x32_relu_xregs_small_c32_nn_v1"},
    {"Name": "features.3.conv.2.weight + QuantizeLinear_119 + Conv_121 + Add_123", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "561", "Dimensions": [1, 144, 56, 56], "Format/Datatype": INT8_32},
                {"Name": "523", "Dimensions": [1, 24, 56, 56], "Format/Datatype": INT8_32}],
     "Outputs": [{"Name": "575", "Dimensions": [1, 24, 56, 56], "Format/Datatype": INT8_32}],
     "ParameterType": "Convolution", "Weights": {"Type": "Int8", "Count": 3456}},
]


def test_fused_names_split_into_onnx_nodes():
    assert name_atoms("features.0.0.weight + QuantizeLinear_7 + Conv_9 + PWN(Clip_13)") == [
        "features.0.0.weight", "QuantizeLinear_7", "Conv_9", "Clip_13"]
    assert name_atoms("PWN(PWN(Sigmoid_5), Mul_6)") == ["Sigmoid_5", "Mul_6"]
    assert name_atoms("conv1 + PWN(re_lu_clip) [profile 1]") == ["conv1", "re_lu_clip"]
    # a Myelin range stays whole; an unnamed layer's brackets do not split
    assert name_atoms("{ForeignNode[conv1/7x7_s2...loss3/classifier]}") == ["{ForeignNode[conv1/7x7_s2...loss3/classifier]}"]
    assert name_atoms("(Unnamed Layer* 17) [Shuffle] + AddU-0") == ["(Unnamed Layer* 17) [Shuffle]", "AddU-0"]
    assert reformat_target("Reformatting CopyNode for Input Tensor 0 to Conv_0") == "Conv_0"
    assert reformat_target("Reformatting CopyNode for Output Tensor 1 to {ForeignNode[a...b]} [profile 2]") == "{ForeignNode[a...b]}"
    assert reformat_target("Conv_0") is None


def test_trt8_qat_layers_map_by_name_with_their_qdq_nodes():
    idx = OnnxIndex(qat_mobilenet())
    mapped = map_layers(TRT8_QAT, idx)
    assert mapped[0] == (["QuantizeLinear_2"], "name")
    # the conv's own nodes first, then the Q/DQ TensorRT fused into it: named (weight Q) and unnamed (activation DQ)
    assert mapped[1] == (["Conv_9", "Clip_13", "DequantizeLinear_5", "QuantizeLinear_7"], "name")
    assert mapped[2][0] == ["Conv_121", "Add_123", "QuantizeLinear_115", "DequantizeLinear_116", "QuantizeLinear_119"]
    rows, facts = build_rows(TRT8_QAT, idx)
    assert [r["precision"] for r in rows] == ["q/dq", "int8", "int8"]
    assert rows[1]["op_types"] == ["Conv", "Clip", "DequantizeLinear", "QuantizeLinear"]
    assert rows[1]["kernel_op"] == "CaskConvolution" and rows[1]["output_shape"] == [1, 32, 112, 112]
    # the weight DequantizeLinear nodes are constant-folded by the builder: neither covered nor lost
    assert facts["unmapped_nodes"] == [] and facts["unmapped_kernels"] == [] and facts["metadata"] is False


def googlenet_chain():
    n = helper.make_node
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [8, 8, 1, 1], [0.1] * 64)]
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv1/7x7_s2"), n("Relu", ["c"], ["r"], name="conv1/relu_7x7"),
             n("Constant", [], ["shape"], name="flatten_shape",
               value=helper.make_tensor("v", TensorProto.INT64, [2], [1, -1])),
             n("Identity", ["shape"], ["shape2"], name="shape_copy"),
             n("MaxPool", ["r"], ["p"], name="pool1/3x3_s2", kernel_shape=[1, 1]),
             n("Reshape", ["p", "shape2"], ["f"], name="flatten"),
             n("Relu", ["f"], ["logits"], name="loss3/classifier"), n("Softmax", ["logits"], ["y"], name="prob")]
    return _model(nodes, inits)


# TensorRT 8.5.2 trtexec --dumpProfile layer names of a Myelin-compiled network (sample above) plus the
# softmax layer it runs after the Myelin graph
TRT85_MYELIN = [{"Name": "Reformatting CopyNode for Input Tensor 0 to {ForeignNode[conv1/7x7_s2...loss3/classifier]}"},
                {"Name": "{ForeignNode[conv1/7x7_s2...loss3/classifier]}"}, {"Name": "prob"}]


def test_myelin_range_takes_the_unclaimed_nodes_between_its_ends_and_reformats_are_its_layout():
    idx = OnnxIndex(googlenet_chain())
    assert idx.folded == {2, 3}  # the constant shape and its copy
    mapped = map_layers(TRT85_MYELIN, idx)
    assert mapped[0] == ([], "layout")
    assert mapped[1] == (["conv1/7x7_s2", "conv1/relu_7x7", "pool1/3x3_s2", "flatten", "loss3/classifier"], "range")
    assert mapped[2] == (["prob"], "name")
    # fused range ends (8.x writes them so) and an end that names no ONNX node
    fused_ends = map_layers([{"Name": "{ForeignNode[(Unnamed Layer* 1) [Shuffle] + conv1/relu_7x7...flatten + "
                                       "(Unnamed Layer* 9) [Shuffle]]}"}], idx)
    assert fused_ends == [(["conv1/relu_7x7", "pool1/3x3_s2", "flatten"], "range")]
    assert map_layers([{"Name": "{ForeignNode[r...(Unnamed Layer* 12) [Shuffle]]}"}], idx) == [(["conv1/relu_7x7"], "name")]
    rows, facts = build_rows(TRT85_MYELIN, idx)
    assert len(rows) == 2 and rows[0]["glue_kernels"] == [TRT85_MYELIN[0]["Name"]]
    assert rows[0]["kernels"] == [TRT85_MYELIN[1]["Name"], TRT85_MYELIN[0]["Name"]]
    # names only (an 8.5 engine or one built without DETAILED): no precision claimed
    assert rows[0]["precision"] == "unknown" and facts["inspector_details"] is False
    assert facts["unmapped_nodes"] == [] and facts["folded_nodes"] == 2


def torch_fp16():
    n = helper.make_node
    inits = [helper.make_tensor("features.0.weight", TensorProto.FLOAT, [8, 8, 1, 1], [0.1] * 64),
             helper.make_tensor("head.weight", TensorProto.FLOAT, [8, 8], [0.1] * 64)]
    nodes = [n("Conv", ["x", "features.0.weight"], ["c"], name="/features/features.0/Conv"),
             n("Relu", ["c"], ["r"], name="/features/features.2/Relu"),
             n("MaxPool", ["r"], ["p"], name="/features/features.3/MaxPool", kernel_shape=[1, 1]),
             n("MatMul", ["p", "head.weight"], ["g"], name="/head/Gemm"),
             n("Tanh", ["g"], ["y"], name="/Tanh")]
    return _model(nodes, inits)


def trt10_json(sep="\x1f"):
    """The engine inspector's JSON as TensorRT 10 writes it: Metadata separators are raw control characters."""
    fp16 = "Channel major FP16 format where channel % 8 == 0"
    conv = "/features/features.0/Conv + /features/features.2/Relu"
    layers = [
        {"Name": "Reformatting CopyNode for Input Tensor 0 to " + conv, "LayerType": "Reformat",
         "Inputs": [{"Name": "x", "Location": "Device", "Dimensions": [1, 8, 8, 8], "Format/Datatype": "Row major linear FP32"}],
         "Outputs": [{"Name": "Reformatted Input Tensor 0 to " + conv, "Location": "Device", "Dimensions": [1, 8, 8, 8],
                      "Format/Datatype": fp16}],
         "ParameterType": "Reformat", "Origin": "REFORMAT", "TacticValue": "0x00000000000003ea", "StreamId": 0,
         "Metadata": ""},
        {"Name": conv, "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "Reformatted Input Tensor 0 to " + conv, "Dimensions": [1, 8, 8, 8], "Format/Datatype": fp16}],
         "Outputs": [{"Name": "r", "Dimensions": [1, 8, 8, 8], "Format/Datatype": fp16}],
         "ParameterType": "Convolution", "Weights": {"Type": "Half", "Count": 64}, "StreamId": 0,
         "TacticName": "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize64x32x64",
         "Metadata": "[ONNX Layer: /features/features.0/Conv]" + sep + "[ONNX Layer: /features/features.2/Relu]"},
        {"Name": "/features/features.3/MaxPool", "LayerType": "CaskPooling",
         "Inputs": [{"Name": "r", "Dimensions": [1, 8, 8, 8], "Format/Datatype": fp16}],
         "Outputs": [{"Name": "p", "Dimensions": [1, 8, 8, 8], "Format/Datatype": fp16}],
         "Metadata": "[ONNX Layer: /features/features.3/MaxPool]", "StreamId": 0},
        {"Name": "reshape_before_/head/Gemm", "LayerType": "NoOp", "Inputs": [], "Outputs": [], "Metadata": ""},
        {"Name": "__myl_MatmulTanh_myl0_0", "LayerType": "gemm",
         "Inputs": [{"Name": "p", "Dimensions": [1, 8], "Format/Datatype": "Half"}],
         "Outputs": [{"Name": "y", "Dimensions": [1, 8], "Format/Datatype": "Half"}],
         "Metadata": "[ONNX Layer: /head/Gemm]" + sep + "[ONNX Layer: /Tanh]", "StreamId": 0},
        {"Name": "(Unnamed Layer* 9) [Shuffle] [profile 1]", "LayerType": "Shuffle", "Inputs": [], "Outputs": []},
    ]
    text = '{"Layers": [' + ",".join(json.dumps(x) for x in layers) + '],\n"Bindings": ["x", "y"]}'
    return text.replace("\\u001f", "\x1f").replace("\\u001e", "\x1e")  # raw, as TensorRT writes them


@pytest.mark.parametrize("sep", ["\x1f", "\x1e"])  # 10.x, 8.6
def test_trt10_inspector_json_maps_by_metadata(sep):
    text = trt10_json(sep)
    with pytest.raises(ValueError):
        json.loads(text)  # strict JSON refuses the raw separators TensorRT writes
    layers = parse_engine_information(text)
    assert layers[-1]["Name"] == "(Unnamed Layer* 9) [Shuffle]"  # profile suffix stripped
    assert metadata_nodes(layers[4]["Metadata"]) == ["/head/Gemm", "/Tanh"]
    rows, facts = build_rows(layers, OnnxIndex(torch_fp16()), torch_module)
    by = {r["kernels"][0]: r for r in rows}
    conv = by["/features/features.0/Conv + /features/features.2/Relu"]
    assert conv["onnx_nodes"] == ["/features/features.0/Conv", "/features/features.2/Relu"]
    assert conv["glue_kernels"] == ["Reformatting CopyNode for Input Tensor 0 to " + conv["kernels"][0]]
    assert conv["precision"] == "fp16" and conv["module"] == "features.0" and conv["mapped_by"] == "metadata"
    assert by["__myl_MatmulTanh_myl0_0"]["onnx_nodes"] == ["/head/Gemm", "/Tanh"]
    assert by["reshape_before_/head/Gemm"]["onnx_nodes"] == ["/head/Gemm"]  # a piece made for the Gemm
    assert by["(Unnamed Layer* 9) [Shuffle]"]["onnx_nodes"] == []
    assert facts["unmapped_kernels"] == ["(Unnamed Layer* 9) [Shuffle]"] and facts["metadata"] is True
    assert facts["unmapped_nodes"] == [] and facts["torch_scopes"] is True


def test_names_only_engine_and_no_onnx_still_give_rows():
    layers = parse_engine_information('{"Layers": ["Conv_0 + Relu_1", "Reformatting CopyNode for Input Tensor 0 to '
                                      'Conv_0 + Relu_1", "(Unnamed Layer* 3) [Shuffle]"], "Bindings": []}')
    rows, facts = build_rows(layers, None)
    assert rows[0]["onnx_nodes"] == ["Conv_0", "Relu_1"] and len(rows[0]["glue_kernels"]) == 1
    assert rows[1]["onnx_nodes"] == [] and facts["unmapped_nodes"] == [] and facts["onnx_nodes"] is None
    with pytest.raises(EdgenasError, match="unreadable JSON"):
        parse_engine_information('{"Layers": [')
    assert parse_engine_information("") == []


def test_precision_from_formats_and_weights():
    assert layer_precision({"Name": "a", "Inputs": [{"Format/Datatype": "Row major linear FP32"}]}, []) == "fp32"
    assert layer_precision({"Name": "a", "Inputs": [{"Format/Datatype": "Half"}]}, []) == "fp16"
    assert layer_precision({"Name": "a", "Weights": {"Type": "Int8"}, "Inputs": [{"Format/Datatype": "Half"}]}, []) == "int8"
    assert layer_precision({"Name": "q", "Origin": "QDQ"}, []) == "q/dq"
    assert layer_precision({"Name": "q"}, ["QuantizeLinear", "DequantizeLinear"]) == "q/dq"
    assert layer_precision({"Name": "r", "Origin": "REFORMAT"}, []) == "layout"
    assert layer_precision({"Name": "x"}, ["Conv"]) == "unknown"


def test_coverage_shares_layout_and_overhead_arithmetic():
    layers = parse_engine_information(trt10_json())
    rows, facts = build_rows(layers, OnnxIndex(torch_fp16()), torch_module)
    names = [x["Name"] for x in layers]
    base = dict(zip(names, [0.01, 0.10, 0.02, 0.0, 0.05, 0.02]))  # reformat, conv, pool, noop, myelin, unnamed
    runs, tags = [], []
    for r in range(3):
        for k in range(4):
            runs.append({n: v * (1 + 0.01 * k) for n, v in base.items()})
            tags.append((r, k > 0))  # the first call of each round is a warm-up
    rounds = rounds_of(runs, tags)
    assert sorted(rounds) == [0, 1, 2] and all(len(v) == 3 for v in rounds.values())
    run_sum = timed_rows(rows, rounds)
    assert run_sum == pytest.approx(0.20 * 1.02)
    e2e = {"median_ms": 0.25}
    out = summarize(rows, facts, run_sum, e2e)
    conv = next(r for r in rows if r["glue_kernels"])
    assert conv["median_ms"] == pytest.approx(0.11 * 1.02) and conv["layout_ms"] == pytest.approx(0.01 * 1.02)
    assert sum(r["share_pct"] for r in rows) == pytest.approx(100.0, abs=0.01)
    assert out["coverage"] == pytest.approx(1 - 0.02 / 0.20, abs=1e-3)  # the unnamed shuffle is unmapped
    assert out["layout_share"] == pytest.approx(0.05, abs=1e-3)
    assert out["overhead_ms"] == pytest.approx(0.25 - 0.204, abs=1e-5) and out["sum_over_e2e"] == pytest.approx(0.816, abs=1e-3)
    assert out["by_precision_ms"]["fp16"] == pytest.approx(0.17 * 1.02, abs=1e-4)
    with pytest.raises(EdgenasError, match="reported 1 runs but 2"):
        rounds_of(runs[:1], tags[:2])


def test_tensorrt_profile_renders_with_the_shared_report(tmp_path):
    from edgenas.latency.model_report import markdown, summary, write_profile

    layers = parse_engine_information(trt10_json())
    rows, facts = build_rows(layers, OnnxIndex(torch_fp16()), torch_module)
    run_sum = timed_rows(rows, {0: [{x["Name"]: 0.01 for x in layers}], 1: [{x["Name"]: 0.01 for x in layers}]})
    e2e = {"median_ms": 0.07, "p10_ms": 0.069, "p90_ms": 0.071, "noise_pct": 0.5}
    p = {"model": {"name": "m.onnx", "engine": "m.engine", "inputs": {"x": [1, 8, 8, 8]}}, "target": "t4-trt-fp16",
         "backend": "tensorrt", "precision": "fp16", "software": {"tensorrt": "10.3.0"}, "device": {"gpu": "Tesla T4"},
         "e2e": e2e, "mapping": facts, "rows": rows}
    p.update(summarize(rows, facts, run_sum, e2e))
    md = markdown(p)
    assert "TensorRT 10.3.0 on Tesla T4" in md and "IProfiler" in md and "(+1 layout)" in md
    assert "`/features/features.0/Conv`" in md and "Unmapped kernels: (Unnamed Layer* 9) [Shuffle]" in md
    assert "layers sum" in summary(p)[0]
    paths = write_profile(p, tmp_path / "m.profile.json")
    assert json.loads(Path(paths["json"]).read_text())["backend"] == "tensorrt"


def _have_trt() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_have_trt(), reason="TensorRT is installed here: the board test below runs instead")
@pytest.mark.parametrize("suffix", [".onnx", ".engine"])
def test_tensorrt_target_without_tensorrt_fails_in_one_line(tmp_path, suffix):
    from edgenas import api

    path = tmp_path / ("m" + suffix)
    onnx.save(torch_fp16(), str(tmp_path / "m.onnx"))
    if suffix == ".engine":
        path.write_bytes(b"plan")
    with pytest.raises(EdgenasError, match="TensorRT is not installed here") as e:
        api.profile_model(path, "t4-trt-fp16", tmp_path / "p.json", progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "p.json").exists()
    if suffix == ".onnx":  # the command line says the same in one line, without a traceback
        from .conftest import run_cli

        proc = run_cli("profile", path, "--target", "t4-trt-fp16", "--quiet", check=1)
        assert "TensorRT is not installed here" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.trt
def test_board_profile_own_model_on_tensorrt(tmp_path):
    """On a board: build at DETAILED verbosity, run with the IProfiler interleaved with graph replays, map back."""
    pytest.importorskip("tensorrt", reason="TensorRT not installed (run on a board: pytest -m trt)")
    from edgenas import api

    path = tmp_path / "m.onnx"
    onnx.save(torch_fp16(), str(path))
    np.savez(tmp_path / "in.npz", x=np.random.default_rng(0).standard_normal((1, 8, 8, 8)).astype(np.float32))
    r = api.profile_model(path, "t4-trt-fp16", tmp_path / "p.json", inputs=tmp_path / "in.npz", budget_s=5, progress=False)
    p = r.data
    assert p["backend"] == "tensorrt" and p["mapping"]["inspector_details"] and r.e2e_ms > 0 and r.kernel_sum_ms > 0
    assert p["timing"]["e2e"]["method"] in ("cuda-graph replay", "back-to-back enqueue")
    assert r.coverage > 0.5 and {n for row in p["rows"] for n in row["onnx_nodes"]} >= {"/features/features.0/Conv"}
    assert r.markdown.is_file() and sum(row["share_pct"] for row in p["rows"]) == pytest.approx(100, abs=0.1)
