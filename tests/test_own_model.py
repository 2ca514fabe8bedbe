"""Your own model: the plain-torch zoo, the in-context per-layer profile mapped back to ONNX nodes, the measured
precision plan, and every bad input as a one-line error (real exports, real ONNX Runtime sessions)."""

import json

import numpy as np
import pytest

from edgenas.cli.main import main

from .conftest import fast_target

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from torch import nn  # noqa: E402


class Tiny(nn.Module):
    """A ResNet-ish net: stem, a residual block, a squeeze-excite gate, classifier (fused groups of every kind)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1 = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 8, 1), nn.ReLU(), nn.Conv2d(8, 16, 1), nn.Hardsigmoid())
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.Hardswish())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.conv2(self.conv1(x))
        x = torch.relu(x + y * self.se(y))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.down(x), 1), 1))


class TwoInTwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, 1, 1)
        self.b = nn.Conv2d(1, 8, 3, 1, 1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, image, mask):
        f = torch.relu(self.a(image) + self.b(mask))
        return self.head(f), f.mean((2, 3))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from edgenas.zoo import export_module, randomize_bn

    d = tmp_path_factory.mktemp("own")
    torch.manual_seed(0)
    m = randomize_bn(Tiny(), 0, (4, 3, 32, 32))
    return export_module(m, d / "tiny.onnx", (1, 3, 32, 32), ("input",), ("logits",))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    d = tmp_path_factory.mktemp("targets")
    return fast_target(d), fast_target(d, "cpu-x86-ort-int8")


def _one_line_error(capsys, argv, *needles):
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_zoo_builds_torchvision_layouts_with_realistic_batchnorm():
    from edgenas.zoo import build, list_models, output_names, randomize_bn

    assert len(list_models()) == 10
    r18 = build("resnet18", prefer="plain")
    keys = set(r18.state_dict())
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.1.running_var", "fc.bias"} <= keys
    assert sum(p.numel() for p in r18.parameters()) == 11689512  # torchvision's resnet18
    mb = build("mobilenet_v3_small", prefer="plain")
    assert sum(p.numel() for p in mb.parameters()) == 2542856  # torchvision's mobilenet_v3_small
    assert "features.1.block.1.fc1.weight" in mb.state_dict()
    randomize_bn(mb, seed=3, input_shape=(2, 3, 64, 64), batches=1)
    bn = mb.features[0][1]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))  # statistics it really sees
    assert float(bn.weight.detach().min()) >= 0.5 and float(bn.weight.detach().max()) <= 1.5
    yolo = build("yolo_s", prefer="plain")
    outs = yolo(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 255, 8, 8), (1, 255, 4, 4), (1, 255, 2, 2)]
    assert output_names("ssdlite_mobilenet_v3_large") == ["bbox_regression", "cls_logits"]
    boxes, scores = build("ssdlite_mobilenet_v3_large", prefer="plain")(torch.randn(1, 3, 64, 64))
    assert boxes.shape[:2] == scores.shape[:2] and boxes.shape[2] == 4 and scores.shape[2] == 91


def test_profile_maps_every_kernel_back_to_onnx_nodes_and_torch_modules(tiny, target, tmp_path, capsys):
    out = tmp_path / "p" / "tiny.profile.json"
    assert main(["profile", str(tiny), "--target", str(target[0]), "--budget-s", "3", "--out", str(out), "--quiet"]) == 0
    assert "mapped to ONNX nodes" in capsys.readouterr().out
    p = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and out.with_suffix(".png").stat().st_size > 1000
    model = onnx.load(str(tiny))
    covered = [n for r in p["rows"] for n in r["onnx_nodes"]]
    assert len(covered) == len(set(covered))  # every node in at most one row
    compute = {n.name for n in model.graph.node if n.op_type not in ("Constant",)}
    assert compute - set(covered) <= set(), sorted(compute - set(covered))[:5]
    assert p["coverage"] >= 0.95 and p["module_coverage"] >= 0.9
    assert not p["mapping"]["unmapped_kernels"]
    fused = [r for r in p["rows"] if "Add" in r["op_types"] and "Conv" in r["op_types"]] + \
            [r for r in p["rows"] if r["op_types"][:2] == ["Conv", "Relu"]]
    assert fused, "the runtime's Conv+Relu / Conv+Add fusions are one row each"
    assert any(r["module"] == "stem.0" for r in p["rows"])
    assert abs(sum(r["share_pct"] for r in p["rows"]) - 100) < 0.1
    assert 0.5 < p["sum_over_e2e"] < 2.0 and p["e2e"]["median_ms"] > 0  # the +-10% target is a benchmark figure
    assert p["overhead_ms"] == pytest.approx(p["e2e"]["median_ms"] - p["kernel_sum_ms"], abs=1e-4)
    md = out.with_suffix(".md").read_text()
    assert "| # | ONNX node(s) |" in md and "overhead" in md


def test_int8_profile_rows_carry_their_precision(tiny, target, tmp_path):
    from edgenas.compress.qdq import quantize_qdq
    from edgenas.latency.model_profile import profile_models
    from edgenas.targets import load_target

    t = load_target(str(target[1]))
    rng = np.random.default_rng(0)
    q = quantize_qdq(tiny, tmp_path / "q.onnx", [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(4)],
                     t.quantization, "input")
    feed = {"input": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}
    p = profile_models({"q": str(q)}, t, feed, budget_s=2)["q"]
    precs = {r["precision"] for r in p["rows"]}
    assert "int8" in precs and "q/dq" in precs, precs
    assert p["coverage"] >= 0.95
    conv = next(r for r in p["rows"] if r["kernel_op"] == "QLinearConv")
    assert any(n.endswith("_DequantizeLinear") for n in conv["onnx_nodes"]) and "Conv" in conv["op_types"]


def test_multi_io_dynamic_shapes_opsets_and_external_data(tmp_path, target, capsys):
    from edgenas.zoo import export_module

    m = TwoInTwoOut().eval()
    path = tmp_path / "two.onnx"
    with torch.no_grad():
        torch.onnx.export(m, (torch.randn(1, 3, 16, 16), torch.randn(1, 1, 16, 16)), str(path), dynamo=False,
                          opset_version=13, input_names=["image", "mask"], output_names=["map", "vec"],
                          dynamic_axes={"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"}})
    _one_line_error(capsys, ["profile", path, "--target", target[0]], "--input-shape image:", "dynamic")
    _one_line_error(capsys, ["profile", path, "--target", target[0], "--input-shape", "image:1x4x24x24",
                             "--input-shape", "mask:1x1x24x24"], "dim 1 is 4", "fixes it at 3")
    out = tmp_path / "two.profile.json"
    assert main(["profile", str(path), "--target", str(target[0]), "--input-shape", "image:1x3x24x24", "--input-shape",
                 "mask:1x1x24x24", "--budget-s", "2", "--out", str(out), "--quiet"]) == 0
    p = json.loads(out.read_text())
    assert p["model"]["inputs"] == {"image": [1, 3, 24, 24], "mask": [1, 1, 24, 24]}
    assert p["model"]["outputs"] == ["map", "vec"] and p["coverage"] >= 0.95
    feeds = tmp_path / "feeds.npz"  # real inputs instead of random ones: their shapes fix the dynamic dims' sizes
    np.savez(feeds, image=np.zeros((2, 3, 20, 20), np.float32), mask=np.ones((2, 1, 20, 20), np.float32))
    assert main(["profile", str(path), "--target", str(target[0]), "--inputs", str(feeds), "--input-shape",
                 "image:1x3x20x20", "--input-shape", "mask:1x1x20x20", "--budget-s", "2", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["model"]["inputs"] == {"image": [1, 3, 20, 20], "mask": [1, 1, 20, 20]}
    # opset 20 and weights in an external file
    big = export_module(Tiny(), tmp_path / "t20.onnx", (1, 3, 32, 32), opset=20)
    ext = tmp_path / "ext" / "t20x.onnx"
    ext.parent.mkdir()
    onnx.save_model(onnx.load(str(big)), str(ext), save_as_external_data=True, location="t20x.data", size_threshold=0)
    assert (ext.parent / "t20x.data").is_file()
    assert main(["profile", str(ext), "--target", str(target[0]), "--budget-s", "2", "--quiet"]) == 0
    p = json.loads((ext.parent / "t20x.profile.json").read_text())
    assert p["coverage"] >= 0.95 and len(p["rows"]) >= 5


def _model(nodes, inputs, outputs, inits=(), opset=17, domains=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains])


def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, tiny, target, capsys, monkeypatch):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    out = tmp_path / "out.json"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf at all" * 10)
    _one_line_error(capsys, ["profile", junk, "--target", target[0], "--out", out], "junk.onnx")
    broken = tmp_path / "broken.onnx"  # a node reads a tensor nothing produces
    onnx.save(_model([helper.make_node("Relu", ["nothing"], ["y"], name="r")], [x], [y]), str(broken))
    _one_line_error(capsys, ["profile", broken, "--target", target[0], "--out", out], "fails onnx.checker", "re-export")
    custom = tmp_path / "custom.onnx"  # an op ONNX Runtime does not have
    onnx.save(_model([helper.make_node("Relu", ["x"], ["t"], name="ok"),
                      helper.make_node("FancyOp", ["t"], ["y"], name="my_fancy_node", domain="com.example")], [x], [y],
                     domains=["com.example"]), str(custom))
    _one_line_error(capsys, ["profile", custom, "--target", target[0], "--out", out], "my_fancy_node", "FancyOp")
    _one_line_error(capsys, ["profile", tiny, "--target", target[0], "--input-shape", "nope:1x3x32x32", "--out", out],
                    "no input 'nope'", "input")
    monkeypatch.setenv("EDGENAS_BOARDS", str(tmp_path / "boards.yaml"))  # no boards registered
    _one_line_error(capsys, ["profile", tiny, "--target", target[0], "--board", "orin", "--out", out],
                    "unknown board 'orin'", "edgenas board add orin")
    assert not out.exists() and not (tmp_path / "out.md").exists()
    plain = tmp_path / "relu.onnx"  # nothing to quantize
    onnx.save(_model([helper.make_node("Relu", ["x"], ["t"], name="a"), helper.make_node("Add", ["t", "x"], ["y"], name="b")],
                     [x], [y]), str(plain))
    q = tmp_path / "q.onnx"
    _one_line_error(capsys, ["quantize", plain, "--plan", "auto", "--target", target[1], "--out", q], "no float ops to quantize")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"precision_plan": {"fp32_nodes": ["/stem/stem.0/Conv", "/not/a/node"]}}))
    _one_line_error(capsys, ["quantize", tiny, "--plan", plan, "--target", target[1], "--out", q], "/not/a/node",
                    "another model")
    _one_line_error(capsys, ["quantize", tiny, "--plan", "auto", "--target", target[0], "--out", q], "int8 target")
    assert not q.exists() and not (tmp_path / "q.onnx.json").exists()


def test_plan_auto_ships_the_fastest_measured_candidate_within_tolerance(tiny, target, tmp_path, capsys):
    import onnxruntime as ort

    out = tmp_path / "tiny.auto.onnx"
    assert main(["quantize", str(tiny), "--plan", "auto", "--target", str(target[1]), "--calib-size", "16",
                 "--budget-s", "3", "--max-rel-error", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one interleaved run" in printed and "random inputs" in printed
    side = json.loads((tmp_path / "tiny.auto.onnx.json").read_text())
    cands = {c["name"]: c for c in side["candidates"]}
    assert {"fp32", "int8"} <= set(cands) and side["measured_in_one_run"] == sorted(cands)
    ok = [c for c in cands.values() if c["within_tolerance"]]
    shipped = {"fp32": "fp32", "int8": "int8"}.get(side["precision"])
    shipped_ms = cands[shipped]["median_ms"] if shipped else min(c["median_ms"] for c in ok if c["name"] not in ("fp32", "int8"))
    pure = min(cands[k]["median_ms"] for k in ("fp32", "int8") if cands[k]["within_tolerance"])
    assert shipped_ms <= pure * 1.0 + 1e-9  # never slower than the faster pure model of the same run
    assert all(e["rel_l2"] <= 0.5 for c in ok for e in c["errors"].values())
    groups = side["precision_plan"]["groups"]
    assert groups and all(g["precision"] in ("int8", "fp32") and g["nodes"] for g in groups)
    assert all("sqnr_db" in g and "fp32_ms" in g and "int8_ms" in g for g in groups)
    fp32_nodes = set(side["precision_plan"]["fp32_nodes"])
    assert fp32_nodes == {n for g in groups if g["precision"] == "fp32" for n in g["nodes"]}
    s = ort.InferenceSession(str(out))
    assert s.run(None, {"input": np.zeros((1, 3, 32, 32), np.float32)})[0].shape == (1, 10)
    prof = json.loads(open(side["profile"]["json"]).read())
    assert prof["rows"] and side["profile"]["plot"].endswith(".png")
    # the stored plan applies again: its fp32 nodes keep float weights, the others are quantized
    again = tmp_path / "again.onnx"
    plan = {"precision_plan": {"fp32_nodes": ["/stem/stem.0/Conv", "/stem/stem.2/Relu"]}}
    (tmp_path / "p.json").write_text(json.dumps(plan))
    assert main(["quantize", str(tiny), "--plan", str(tmp_path / "p.json"), "--target", str(target[1]), "--calib-size", "16",
                 "--out", str(again)]) == 0
    g = onnx.load(str(again)).graph
    stem = next(n for n in g.node if n.name == "/stem/stem.0/Conv")
    assert not any(i.endswith("_DequantizeLinear_Output") for i in stem.input)
    conv1 = next(n for n in g.node if n.name == "/conv1/conv1.0/Conv")
    assert any(i.endswith("_DequantizeLinear_Output") for i in conv1.input)
