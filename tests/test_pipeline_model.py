"""Issue 22: the pipeline on your own ONNX model (`model: path.onnx` instead of `space:`): inputs, per-layer
profile, INT8, validation of every output, report; cached and resumable; bad configurations refused before
any stage runs."""

import json

import numpy as np
import pytest
import torch
import yaml

from edgenas.cli.main import main
from edgenas.errors import EdgenasError

from .conftest import fast_target
from .loopback_ssh import needs_openssh
from .test_validate_outputs import Detector, export


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    torch.manual_seed(0)
    onnx = export(Detector(), (torch.randn(1, 3, 32, 32),), d / "det.onnx", ["images"], ["scores", "boxes"],
                  {"images": {0: "batch"}, "scores": {0: "batch"}, "boxes": {0: "batch"}})
    rng = np.random.default_rng(0)
    np.savez(d / "in.npz", images=rng.standard_normal((48, 3, 32, 32)).astype(np.float32), labels=rng.integers(0, 10, 48))
    target = fast_target(d, "cpu-x86-ort-int8")
    cfg = {"model": str(onnx), "target": str(target), "inputs": str(d / "in.npz"), "quantize": {"calib_size": 32, "plan": "none"},
           "validate": {"limit": 48, "class_outputs": ["scores"], "atol": {"scores": 0.01, "boxes": 0.03},
                        "error_stat": "quantile"}}
    return {"d": d, "onnx": onnx, "target": str(target), "cfg": cfg}


def _run(cfg):
    from edgenas.pipeline.run import run_pipeline

    logs = []
    return run_pipeline(cfg, log=logs.append), "\n".join(logs)


def test_own_model_runs_every_stage_then_caches_and_resumes(own, tmp_path):
    cfg = dict(own["cfg"], out=str(tmp_path / "run"))
    res, log = _run(cfg)
    assert res.status == "PASS", log
    for stage in ("inputs", "quantize", "validate"):
        assert "[{:<9}] done".format(stage) in log
    assert "table" not in res.stages and "supernet" not in res.stages  # no search for your own model
    rep = json.loads((tmp_path / "run" / "09-validate" / "report.json").read_text())
    art = rep["rows"][1]
    assert art["path"].endswith("model.int8.onnx") and list(art["outputs"]) == ["scores", "boxes"]
    assert art["outputs"]["boxes"]["tolerance"]["passed"] and art["checks"]["agreement:scores"]
    assert art["outputs"]["boxes"]["max_abs"] > 0  # every layer INT8 (plan: none): real quantization error, within the card
    md = res.report_md.read_text()
    assert "your model" in md and "| boxes | 48x64x4 |" in md and "Shipped:" in md and res.report_html.is_file()
    summary = json.loads((tmp_path / "run" / "report" / "summary.json").read_text())
    assert summary["status"] == "PASS" and summary["shipped"]["shipped"]
    res2, log2 = _run(cfg)  # everything cached
    assert res2.status == "PASS" and "running" not in log2 and "[validate ] cached" in log2
    (tmp_path / "run" / "09-validate" / "report.json").unlink()  # a killed run: only the missing stage runs again
    _, log3 = _run(cfg)
    assert "[validate ] running" in log3 and "[quantize ] cached" in log3 and "[inputs   ] cached" in log3


def test_own_model_from_yaml_with_a_budget_fails_with_its_reason(own, tmp_path, capsys):
    cfg = dict(own["cfg"], out=str(tmp_path / "run"), latency_ms=0.000001, target=own["target"])
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = main(["run", str(path)])
    out = capsys.readouterr().out
    assert rc == 3 and "## Why FAIL" in out and "**budget**: latency budget: p50" in out
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "**budget**" in md and "Validation: **FAIL**" in md


def test_the_measured_precision_plan_runs_by_default_on_onnx_runtime_int8(own, tmp_path):
    cfg = dict(own["cfg"], out=str(tmp_path / "run"), quantize={"calib_size": 16})
    res, log = _run(cfg)
    assert "plan auto: shipped" in res.stages["quantize"]["note"], log
    side = json.loads((tmp_path / "run" / "07-int8" / "model.int8.onnx.json").read_text())
    assert side["precision"] in ("fp32", "int8", "mixed") and res.status == "PASS", log
    assert res.rows[-1]["stage"] == "deployed " + side["precision"]
    if side["precision"] == "fp32":
        assert "quantize --plan auto kept FP32" in res.shipped["reason"]
    with pytest.raises(EdgenasError, match=r"quantize.plan is for your own model"):
        from edgenas.pipeline.config import from_mapping

        from_mapping({"quantize": {"plan": "auto"}}, "pipeline")


def test_random_inputs_are_warned_and_fp32_targets_skip_quantize(own, tmp_path):
    cfg = dict(own["cfg"], out=str(tmp_path / "run"), target=str(fast_target(tmp_path, "cpu-x86-ort-fp32")))
    del cfg["inputs"]
    res, log = _run(cfg)
    assert res.status == "PASS" and "quantize" not in res.stages
    assert "warning  random inputs" in log and "Warning: random inputs" in res.report_md.read_text()


@pytest.mark.parametrize("change, match", [
    ({"validate": {"atol": {"boxs": 0.1}}}, r"validate.atol names output 'boxs' .* \(did you mean 'boxes'\?\)"),
    ({"validate": {"atol": {"boxes": -1}}}, r"validate.atol boxes:-1: a tolerance must be a finite number >= 0"),
    ({"validate": {"metric": "no_such_hook_module:score"}}, r"cannot import module 'no_such_hook_module'"),
    ({"input_shape": {"image": "1x3x32x32"}}, r"no input 'image' \(did you mean 'images'\?\)"),
    ({"inputs": "missing.npz"}, r"pipeline.inputs: missing.npz does not exist"),
    ({"space": "mbv3-small", "model": "nope.onnx"}, r"pipeline.model: nope.onnx does not exist"),
])
def test_bad_own_model_configs_fail_before_any_stage(own, tmp_path, change, match):
    cfg = dict(own["cfg"], out=str(tmp_path / "run"), **change)
    with pytest.raises(EdgenasError, match=match):
        _run(cfg)
    assert not (tmp_path / "run" / "pipeline.json").exists()


def test_opset_outside_13_to_20_and_dynamic_dims_are_refused(own, tmp_path):
    import torch.nn as nn

    old = export(Detector(), (torch.randn(1, 3, 32, 32),), tmp_path / "old.onnx", ["images"], ["scores", "boxes"], opset=12)
    with pytest.raises(EdgenasError, match=r"uses opset 12, outside the supported 13-20; convert it"):
        _run(dict(own["cfg"], model=str(old), out=str(tmp_path / "a")))
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    dyn = export(net, (torch.randn(1, 3, 16, 16),), tmp_path / "dyn.onnx", ["x"], ["y"], {"x": {0: "n", 2: "h", 3: "w"}})
    cfg = {"model": str(dyn), "target": str(fast_target(tmp_path, "cpu-x86-ort-fp32")), "out": str(tmp_path / "b")}
    with pytest.raises(EdgenasError, match=r"dims \[2, 3\] are dynamic.*give input_shape: \{x: 1x3x224x224\}"):
        _run(cfg)
    assert not (tmp_path / "b" / "pipeline.json").exists()
    res, _ = _run(dict(cfg, input_shape={"x": "2x3x24x24"}))
    assert res.status == "PASS"


@needs_openssh
def test_own_model_on_a_board_over_ssh_with_tolerances_and_a_metric(own, env, tmp_path):
    """board: the artifact runs on the board (loopback sshd), every output is compared there with the host's FP32
    outputs and the tolerances, and the board sends the outputs back for the metric hook, which runs here."""
    hook = tmp_path / "hook.py"
    hook.write_text("def agree(outputs, labels):\n    return float((outputs['scores'].argmax(1) == labels).mean() * 100)\n")
    cfg = dict(own["cfg"], out=str(tmp_path / "run"), board="loop")
    cfg["validate"] = dict(cfg["validate"], metric="{}:agree".format(hook), max_metric_drop=100)
    res, log = _run(cfg)
    assert res.status == "PASS", log
    assert "on board loop" in log
    rep = json.loads((tmp_path / "run" / "09-validate" / "report.json").read_text())
    art = rep["rows"][-1]
    assert rep["context"]["board"] == "loop" and art["stage"].startswith("artifact on")
    assert art["outputs"]["boxes"]["tolerance"]["passed"] and art["latency_p50_ms"] > 0
    assert art["metric"]["metric"].endswith("hook.py:agree") and 0 <= art["metric"]["artifact"] <= 100
    assert rep["rows"][0]["stage"].startswith("reference fp32 (host") and list(rep["rows"][0]["outputs"]) == ["scores", "boxes"]


def test_an_external_data_model_and_its_weights_file_key_the_stages(own, tmp_path):
    import onnx

    ext = tmp_path / "m" / "det.onnx"
    ext.parent.mkdir()
    onnx.save_model(onnx.load(str(own["onnx"])), str(ext), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="det.onnx.data", size_threshold=0)
    cfg = dict(own["cfg"], model=str(ext), out=str(tmp_path / "run"))
    res, log = _run(cfg)
    assert res.status == "PASS" and "[quantize ] done" in log
    data = ext.parent / "det.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[-4:] = b"\x00\x00\x80\x3f"  # new weights, same graph file: every stage runs again
    data.write_bytes(bytes(raw))
    _, log2 = _run(cfg)
    assert "[inputs   ] running" in log2 and "[quantize ] running" in log2
    data.unlink()
    with pytest.raises(EdgenasError, match=r"keeps weights in .*det.onnx.data, which does not exist"):
        _run(cfg)
