"""Dynamic input shapes end to end on this CPU: a model with dynamic height and width goes through the TensorRT
check (optimization profiles, the build calls printed and checked against NVIDIA's stubs), ONNX Runtime latency at
min / opt / max, INT8 with mixed-size calibration and validation at two shapes; every bad shape input is refused
with one line."""

import re

import numpy as np
import pytest

from edgenas.backends.tensorrt.check import check_onnx
from edgenas.backends.tensorrt.compat import LEGACY_RUN_API, PROFILE_API, profile_calls
from edgenas.backends.tensorrt.engine_meta import engine_profiles
from edgenas.errors import EdgenasError
from edgenas.runtime import shapes as S

from .conftest import ROOT, fast_target, run_cli

SHAPES = "x:1x3x32x32,1x3x64x64,1x3x160x160"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """fcn: conv net, dynamic H and W; fixed: a Reshape to the 32x32 export size; fpn: stride-2 branch upsampled and
    added back (odd sizes break it)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class FCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.head = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.head(torch.relu(self.c2(torch.relu(self.c1(x)))))

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.fc = nn.Conv2d(3, 4, 3, 2, 1), nn.Linear(4 * 16 * 16, 10)

        def forward(self, x):
            return self.fc(torch.relu(self.c1(x)).reshape(1, 4 * 16 * 16))

    class FPN(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, 1, 1), nn.Conv2d(3, 4, 3, 2, 1)

        def forward(self, x):
            return self.a(x) + F.interpolate(self.b(x), scale_factor=2.0, mode="nearest")

    d = tmp_path_factory.mktemp("dyn")
    torch.manual_seed(0)
    out = {}
    for name, m in (("fcn", FCN()), ("fixed", Fixed()), ("fpn", FPN())):
        out[name] = d / (name + ".onnx")
        torch.onnx.export(m.eval(), (torch.randn(1, 3, 32, 32),), str(out[name]), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {2: "h", 3: "w"}})
    out["dir"] = d
    return out


def _load(path):
    import onnx

    return onnx.load(str(path))


def test_check_accepts_dynamic_hw_with_profiles_and_prints_the_build_calls(models):
    res = run_cli("check", models["fcn"], "--target", "jetson-orin-nano-trt-fp16", "--shapes", SHAPES,
                  "--shapes", "x:1x3x161x161,1x3x320x320,1x3x640x640", "--print-plan", check=0)
    out = res.stdout
    assert "profile 0: x 1x3x32x32..1x3x160x160 (opt 1x3x64x64); profile 1: x 1x3x161x161..1x3x640x640" in out
    assert "profile.set_shape('x', trt.Dims([1, 3, 32, 32]), trt.Dims([1, 3, 64, 64]), trt.Dims([1, 3, 160, 160]))" in out
    assert out.count("config.add_optimization_profile(profile)") == 2
    assert "context.set_input_shape('x', shape)" in out
    rep = check_onnx(_load(models["fcn"]), "8.5.2", precision="fp16", shapes=SHAPES)
    assert rep.ok and rep.facts["profiles"] == [{"x": {"min": [1, 3, 32, 32], "opt": [1, 3, 64, 64], "max": [1, 3, 160, 160]}}]


def test_profile_calls_use_only_api_names_of_tensorrt_8_5_and_10():
    """The printed calls name only PROFILE_API methods; those exist in TensorRT 10.13's stubs (mypy checks the builder and
    runner that make them); set_binding_shape, gone in 10, is never called."""
    profiles = S.resolve(SHAPES, {"x": [1, 3, "h", "w"]})
    stubs = ROOT / ".stubs" / "tensorrt_bindings" / "tensorrt.pyi"
    api = {m for pairs in PROFILE_API.values() for _, m in pairs}
    for version in ("8.5.2", "10.3.0", "10.13.0"):
        lines = profile_calls(profiles, version)
        called = set(re.findall(r"\.(\w+)\(", "\n".join(line.split("#")[0] for line in lines))) - {"Dims"}
        assert called and called <= api, (version, called - api)
        assert not any(n in line.split("#")[0] for line in lines for n in LEGACY_RUN_API)
    if stubs.is_file():
        text = stubs.read_text()
        for cls, method in (p for pairs in PROFILE_API.values() for p in pairs):
            body = text.split("class {}:".format(cls), 1)[1].split("\nclass ", 1)[0]
            assert "def {}(".format(method) in body, (cls, method)
    source = (ROOT / "edgenas" / "backends" / "tensorrt" / "runner.py").read_text() + \
        (ROOT / "edgenas" / "backends" / "tensorrt" / "builder.py").read_text()
    for _, method in (p for pairs in PROFILE_API.values() for p in pairs if p[1] != "get_tensor_profile_shape"):
        assert "." + method + "(" in source, method
    assert "set_binding_shape(" not in source


def test_bad_dynamic_dim_without_range(models):
    rep = check_onnx(_load(models["fcn"]), "10.3", precision="fp16")
    assert rep.problems == ["input 'x' [1, 3, h, w] has dynamic dims [2, 3] and no range; give --shapes x:MIN,OPT,MAX, "
                            "e.g. x:1x3x32x32,1x3x640x640,1x3x1536x1536"]
    res = run_cli("check", models["fcn"], "--target", "jetson-orin-nano-trt-fp16", check=1)
    assert "no range; give --shapes x:MIN,OPT,MAX" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("spec,want", [
    ("x:1x3x64x64,1x3x32x32,1x3x128x128", "min > opt at dim 2 (64 > 32)"),
    ("x:1x3x32x32,1x3x256x256,1x3x128x128", "opt > max at dim 2 (256 > 128)"),
    ("x:1x4x32x32,1x4x64x64,1x4x128x128", "dim 1 is fixed at 3 in the model"),
])
def test_bad_range_order_and_fixed_dims(models, spec, want):
    rep = check_onnx(_load(models["fcn"]), "10.3", precision="fp16", shapes=spec)
    assert len(rep.problems) == 1 and want in rep.problems[0], rep.problems
    res = run_cli("check", models["fcn"], "--target", "cpu-x86-ort-fp32", "--shapes", spec)
    assert res.returncode == 1 and want in res.stderr


def test_bad_range_rejected_by_the_models_ops_names_the_node(models):
    rep = check_onnx(_load(models["fixed"]), "10.3", precision="fp16", shapes="x:1x3x16x16,1x3x32x32,1x3x64x64")
    assert len(rep.problems) == 2
    assert rep.problems[0].startswith("at the min shape x:1x3x16x16: node '/Reshape' (Reshape) reshapes [1, 4, 8, 8] "
                                      "(256 values) to the fixed shape [1, 1024]")
    assert "at the max shape x:1x3x64x64" in rep.problems[1]
    assert check_onnx(_load(models["fixed"]), "10.3", precision="fp16", shapes="x:1x3x32x32").ok
    rep = check_onnx(_load(models["fpn"]), "10.3", precision="fp16", shapes="x:1x3x32x32,1x3x32x32,1x3x33x33")
    assert rep.problems == ["at the max shape x:1x3x33x33: node '/Add' (Add) rejects it: Incompatible dimensions; narrow "
                            "the range (--shapes) to sizes the model takes"]
    too_small = S.infer_at(_load(models["fcn"]), {"x": (1, 3, 1, 1)})
    assert too_small is None or "node '" in too_small  # 1x1 still convolves (padding); smaller sizes are syntax errors


def test_bad_shapes_naming_an_input_the_model_lacks(models):
    with pytest.raises(EdgenasError, match=r"--shapes y:1x3x32x32: the model has no input 'y'; its inputs are x \[1, 3, h, w\]"):
        check_onnx(_load(models["fcn"]), "10.3", precision="fp16", shapes="y:1x3x32x32")
    for bad, msg in (("x:1x3x32", "has 3 dims"), ("x:1x3x0x32", "positive sizes"), ("x:1x3x8x8,1x3x9x9", "not 2")):
        with pytest.raises(EdgenasError, match=msg):
            S.resolve(bad, _load(models["fcn"]))


def test_bad_input_outside_every_profile_is_refused_naming_the_ranges():
    meta = {"build": {"profiles": S.to_json(S.resolve(["x:1x3x32x32,1x3x64x64,1x3x160x160", "x:1x3x161x161,1x3x320x320,"
                                                       "1x3x640x640"], {"x": [1, 3, None, None]}))}}
    profiles = engine_profiles(meta)
    assert S.select_profile(profiles, {"x": (1, 3, 40, 150)}) == 0
    assert S.select_profile(profiles, {"x": (1, 3, 200, 640)}) == 1
    with pytest.raises(EdgenasError) as e:
        S.select_profile(profiles, {"x": (1, 3, 100, 641)}, "engine m.engine")
    assert str(e.value) == ("input x 1x3x100x641 is outside every optimization profile of engine m.engine (profile 0: x "
                            "1x3x32x32..1x3x160x160 (opt 1x3x64x64); profile 1: x 1x3x161x161..1x3x640x640 (opt "
                            "1x3x320x320)); resize the input into a range, or rebuild with a --shapes range that covers it")
    legacy = engine_profiles({"build": {"dynamic_batch": [1, 4, 8]}, "inputs": [{"name": "input", "shape": [-1, 3, 28, 28]}]})
    assert legacy == [{"input": ((1, 3, 28, 28), (4, 3, 28, 28), (8, 3, 28, 28))}]
    assert engine_profiles({"build": {}}) == []


def test_ort_latency_at_min_opt_max_in_one_interleaved_run(models, tmp_path):
    from edgenas.tasks.shape_profile import profile_shapes

    r = profile_shapes(models["fcn"], str(fast_target(tmp_path)), SHAPES, budget_s=3, out=tmp_path / "fcn.shapes.json")
    assert [row["label"] for row in r.rows] == ["min", "opt", "max"] and r.budget_at == "opt"
    assert r.rows[0]["shapes"] == {"x": [1, 3, 32, 32]} and r.rows[2]["shapes"] == {"x": [1, 3, 160, 160]}
    assert r.rows[2]["median_ms"] > r.rows[0]["median_ms"]  # 25x the pixels
    text = r.markdown.read_text()
    assert "| max | x 1x3x160x160 |" in text and "latency budgets apply at the opt shape (x 1x3x64x64)" in text


def test_int8_with_mixed_size_calibration_and_validation_at_two_shapes(models, tmp_path):
    import edgenas

    rng = np.random.default_rng(0)
    calib = tmp_path / "calib"
    calib.mkdir()
    for hw in (32, 64, 96):
        np.savez(calib / "s{}.npz".format(hw), x=rng.standard_normal((6, 3, hw, hw)).astype(np.float32))
    q = tmp_path / "fcn.int8.onnx"
    r = edgenas.quantize(models["fcn"], q, "cpu-x86-ort-int8", calib_inputs=str(calib), shapes=SHAPES, min_sqnr_db=None)
    assert r.calibration_images == 18
    assert r.report["calibration_notes"] == ["calibration inputs span x dim 2 = 32..96 of the declared 32..160",
                                             "calibration inputs span x dim 3 = 32..96 of the declared 32..160"]
    with pytest.raises(EdgenasError, match="need --method minmax"):
        edgenas.quantize(models["fcn"], tmp_path / "e.onnx", "cpu-x86-ort-int8", method="entropy", calib_inputs=str(calib))
    with pytest.raises(EdgenasError, match=r"input x 1x3x96x96 is outside every optimization profile"):
        edgenas.quantize(models["fcn"], tmp_path / "o.onnx", "cpu-x86-ort-int8", calib_inputs=str(calib),
                         shapes="x:1x3x32x32,1x3x64x64,1x3x80x80")
    for hw in (48, 128):
        inputs = tmp_path / "v{}.npz".format(hw)
        np.savez(inputs, x=rng.standard_normal((4, 3, hw, hw)).astype(np.float32))
        v = edgenas.validate(q, models["fcn"], "cpu-x86-ort-int8", tmp_path / "rep{}".format(hw), inputs=inputs, shapes=SHAPES,
                             progress=False)
        assert v.passed, v
        assert any("validated at x 1x3x{}x{}".format(hw, hw) in w for w in v.warnings)
    big = tmp_path / "big.npz"
    np.savez(big, x=rng.standard_normal((1, 3, 200, 200)).astype(np.float32))
    with pytest.raises(EdgenasError, match="input x 1x3x200x200 is outside every optimization profile"):
        edgenas.validate(q, models["fcn"], "cpu-x86-ort-int8", tmp_path / "rep200", inputs=big, shapes=SHAPES, progress=False)


def test_pipeline_model_section_takes_shapes_checks_them_and_runs_at_opt(models, tmp_path):
    """`model:` with `shapes:`: a TensorRT target is checked with the profiles and its board commands carry them; an
    ONNX Runtime run validates at the opt shape; a range the model's ops reject stops the run before any stage."""
    from edgenas.pipeline.run import run_pipeline

    logs = []
    trt = run_pipeline({"model": str(models["fcn"]), "target": "jetson-orin-nano-trt-fp16", "shapes": [SHAPES],
                        "out": str(tmp_path / "trt"), "validate": {"limit": 8}}, log=logs.append)
    text = "\n".join(logs)
    assert "passes the TensorRT" in text and "x 1x3x32x32..1x3x160x160 (opt 1x3x64x64)" in text
    assert any("--shapes " + SHAPES in c for c in trt.board_commands)
    logs.clear()
    ort = run_pipeline({"model": str(models["fcn"]), "target": str(fast_target(tmp_path)), "shapes": SHAPES,
                        "out": str(tmp_path / "ort"), "validate": {"limit": 8}}, log=logs.append)
    assert ort.status == "PASS"
    import numpy as np

    assert np.load(tmp_path / "ort" / "00-model" / "inputs.npz")["inputs"].shape[1:] == (3, 64, 64)  # the opt shape
    with pytest.raises(EdgenasError, match="Reshape"):
        run_pipeline({"model": str(models["fixed"]), "target": "cpu-x86-ort-fp32", "shapes": SHAPES,
                      "out": str(tmp_path / "bad")}, log=logs.append)
    assert not (tmp_path / "bad" / "00-model").exists()


def test_per_layer_profiles_at_the_named_shapes(models, tmp_path):
    out = tmp_path / "fcn.profile.json"
    res = run_cli("profile", models["fcn"], "--target", fast_target(tmp_path), "--shapes", SHAPES, "--layers-at", "min,opt",
                  "--at", "min,opt", "--budget-s", "3", "--out", out, "--quiet", check=0)
    assert "at the opt shape" in res.stdout and "at the min shape" in res.stdout
    import json

    assert json.loads(out.read_text())["rows"] and json.loads((tmp_path / "fcn.profile.min.json").read_text())["rows"]
    bad = run_cli("profile", models["fcn"], "--shapes", SHAPES, "--layers-at", "huge", "--out", tmp_path / "b.json", check=1)
    assert "--layers-at 'huge': name shapes among min, opt, max" in bad.stderr and not (tmp_path / "b.json").exists()
