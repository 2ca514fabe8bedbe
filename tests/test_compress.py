"""prune -> export -> quantize -> validate on a tiny model, and the bad inputs of each step."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgenas.compress.prune import prune_once, prune_to_latency
from edgenas.compress.quantize import quantize_model
from edgenas.errors import EdgenasError
from edgenas.modelio.onnx_export import export_onnx
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.nas.train import save_checkpoint
from edgenas.targets import load_target

from .conftest import run_cli
from .test_data import fashion


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_space):
    d = tmp_path_factory.mktemp("compress")
    arch = tiny_space.from_string("ir_k5_e3_re_se,ir_k3_e3_re|ir_k5_e3_re_se,ir_k5_e3_re|ir_k5_e3_re_se|ir_k3_e3_re")
    torch.manual_seed(0)
    model = tiny_space.build(arch).eval()
    meta = {"kind": "model", "space": tiny_space.describe(), "arch": tiny_space.to_string(arch),
            "norm": {"mean": 0.286, "std": 0.353}, "classes": [str(i) for i in range(10)], "data": "fashion-mnist",
            "dataset": "fashion-mnist:train"}
    save_checkpoint(d / "model.pt", model.state_dict(), meta)
    return d, model, arch


@fashion
def test_prune_export_quantize_validate(tiny_model, tiny_table, tiny_space):
    d, _, arch = tiny_model
    full = Predictor(LatencyTable.load(tiny_table), tiny_space).predict_arch(arch)[0]
    res = run_cli("prune", d / "model.pt", "--table", tiny_table, "--latency-ms", str(full * 0.8), "--no-measure",
                  "--finetune-epochs", "1", "--train-subset", "256", "--val-size", "128", "--out", d / "pruned.pt", "--quiet", check=0)
    assert "pruned" in res.stdout
    run_cli("export", d / "pruned.pt", "--out", d / "p.onnx", check=0)
    side = json.loads((d / "p.onnx.json").read_text())
    assert side["input"]["shape"] == [1, 1, 16, 16] and side["arch"]
    res = run_cli("quantize", d / "p.onnx", "--calib-size", "32", "--calib-cache-out", d / "cache.json",
                  "--out", d / "p.int8.onnx", check=0)
    assert "quantized" in res.stdout and (d / "cache.json.key.json").is_file()
    res = run_cli("quantize", d / "p.onnx", "--calib-size", "32", "--calib-cache-in", d / "cache.json",
                  "--out", d / "p2.int8.onnx", check=0)
    res = run_cli("quantize", d / "p.onnx", "--calib-size", "40", "--calib-cache-in", d / "cache.json",
                  "--out", d / "p3.int8.onnx", check=1)
    assert "made for another data_sha256" in res.stderr
    res = run_cli("validate", d / "p.int8.onnx", "--ref", d / "p.onnx", "--target", "cpu-x86-ort-int8", "--limit", "200",
                  "--min-agreement", "0", "--max-acc-drop", "100", "--min-cosine", "0", "--save-outputs", d / "o.npz",
                  "--out", d / "report", check=0)
    report = json.loads((d / "report" / "report.json").read_text())
    row = report["rows"][1]
    assert report["status"] == "PASS" and row["latency_p50_ms"] > 0 and 0 <= row["top1_agreement"] <= 100
    assert (d / "report" / "report.md").read_text().count("| artifact |") == 1
    res = run_cli("validate", d / "p.int8.onnx", "--ref", d / "p.onnx", "--target", "cpu-x86-ort-int8", "--limit", "200",
                  "--min-agreement", "100.1", "--load-outputs", d / "o.npz", "--out", d / "report2")
    assert res.returncode == 3 and json.loads((d / "report2" / "report.json").read_text())["status"] == "FAIL"


def test_untraceable_model_names_the_layer():
    class FixedView(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], 16 * 8 * 8)

    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), FixedView(), nn.Linear(1024, 10))
    with pytest.raises(EdgenasError, match=r"layer 3"):
        prune_once(model, torch.randn(1, 1, 8, 8), [0.5, 0.0, 0.0, 0.0, 0.0], "magnitude", 1)


def test_target_below_reach_is_refused(tiny_model, tiny_table, tiny_space):
    _, model, arch = tiny_model
    pred = Predictor(LatencyTable.load(tiny_table), tiny_space)
    with pytest.raises(EdgenasError, match="pruning cannot reach 0.0001 ms"):
        prune_to_latency(model, arch, pred, 0.0001, torch.randn(*tiny_space.input_shape()))


def test_calibration_set_checks_and_corrupt_onnx(tiny_model, tmp_path, tiny_space):
    _, model, _ = tiny_model
    path = export_onnx(model, tiny_space.input_shape(), tmp_path / "m.onnx")
    q = load_target("cpu-x86-ort-int8").quantization
    with pytest.raises(EdgenasError, match="has 4 images; give at least 16"):
        quantize_model(path, tmp_path / "q.onnx", np.zeros((4, 1, 16, 16), np.float32), q)
    with pytest.raises(EdgenasError, match=r"shape \[32, 1, 28, 28\] but .* takes \[1, 1, 16, 16\]"):
        quantize_model(path, tmp_path / "q.onnx", np.zeros((32, 1, 28, 28), np.float32), q)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage" * 50)
    res = run_cli("quantize", bad, "--calib-inputs", tmp_path / "none.npz", "--out", tmp_path / "x.onnx", check=1)
    assert "bad.onnx" in res.stderr and "Traceback" not in res.stderr


def test_validate_refuses_mismatched_models(tiny_model, tmp_path, tiny_space):
    _, model, _ = tiny_model
    a = export_onnx(model, tiny_space.input_shape(), tmp_path / "a.onnx")
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    other(torch.randn(1, 1, 20, 20))
    b = export_onnx(other, (1, 1, 20, 20), tmp_path / "b.onnx")
    np.savez(tmp_path / "in.npz", inputs=np.zeros((4, 1, 16, 16), np.float32))
    res = run_cli("validate", b, "--ref", a, "--target", "cpu-x86-ort-fp32", "--inputs", tmp_path / "in.npz",
                  "--out", tmp_path / "r", check=1)
    assert "do not match the reference inputs" in res.stderr


def test_any_user_module_prunes_to_measured_latency():
    from edgenas.compress.prune import measure_latency_fn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)).eval()
    target = load_target("cpu-x86-ort-fp32")
    target.protocol.rounds, target.protocol.repeat, target.protocol.max_extra_rounds = 3, 10, 0
    measure = measure_latency_fn(target, (1, 3, 32, 32))
    base = measure(model)
    res = prune_to_latency(model, None, None, 0.5 * base, torch.randn(1, 3, 32, 32), measure=measure)
    assert res["latency_source"] == "measured" and res["model"][0].out_channels < 64
    assert res["measured_ms"] < 0.8 * base
