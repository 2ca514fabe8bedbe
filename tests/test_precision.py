"""Precision-aware search (issue 13): mixed tables, mixed plans through search -> extract -> export ->
quantize, the plan kept exactly, and the bad inputs of each step."""

import json

import numpy as np
import pytest

from edgenas.errors import EdgenasError
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.space.mixed import MixedSpace

from .conftest import TINY_SPACE, fast_target, run_cli, space_opts
from .test_data import fashion


@pytest.fixture(scope="module")
def mixed_table(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    target = fast_target(d, "cpu-x86-ort-int8")
    run_cli("profile", "--target", target, "--space", "mbv3-small", *space_opts(), "--precision", "mixed", "--networks", "6",
            "--bundle", d / "bundle", "--out", d / "mixed.json", "--quiet", check=0)
    run_cli("profile", "--target", target, "--space", "mbv3-small", *space_opts(), "--networks", "4",
            "--bundle", d / "b8", "--out", d / "int8.json", "--quiet", check=0)
    return d, target


def test_mixed_space_ops_and_boundaries(tiny_space):
    m = MixedSpace(tiny_space)
    all_int8 = np.zeros(len(m.genes), dtype=np.int64)
    ops = m.ops(m.decode(all_int8))
    assert ops[0].startswith("quant_c1@16") and ops[-1].startswith("dequant_c10@1") and not any("fp32:" in o for o in ops)
    arch = m.decode(all_int8)
    arch["precision"][2] = "fp32"  # a float island between int8 layers pays a dequantize and a quantize
    keys = m.ops(arch)
    i = next(j for j, k in enumerate(keys) if k.startswith("fp32:"))
    assert keys[i - 1].startswith("dequant_") and keys[i + 1].startswith("quant_")
    assert (m.encode(arch) == m.canonical(m.encode(arch)[None])[0]).all()


def test_mixed_table_predicts_plans(mixed_table, tiny_space):
    d, _ = mixed_table
    table = LatencyTable.load(d / "mixed.json")
    pred = Predictor(table)
    assert isinstance(pred.space, MixedSpace) and table.header["space"]["precisions"] == ["int8", "fp32"]
    G = pred.space.canonical(pred.space.sample(np.random.default_rng(0), 50))
    lat = pred.predict(G)
    assert (lat > 0).all() and np.isfinite(lat).all()
    res = run_cli("predict", "--table", d / "mixed.json", "--arch", _arch_file(d, pred.space, G[0]), "--breakdown", check=0)
    assert "boundary" in res.stdout or "fp32" in res.stdout


def _arch_file(d, space, g):
    arch = space.decode(g)
    path = d / "arch.json"
    path.write_text(json.dumps({"arch": space.to_string(arch), "precision_plan": arch["precision"]}))
    return path


def test_plan_errors_are_one_line(mixed_table, tiny_space, tmp_path):
    d, _ = mixed_table
    m = MixedSpace(tiny_space)
    arch = m.decode(np.zeros(len(m.genes), dtype=np.int64))
    bad = dict(arch, precision=["fp16"] * len(arch["precision"]))
    with pytest.raises(EdgenasError, match="precision 'fp16' in the plan is not supported here; choose int8 or fp32"):
        m.encode(bad)
    with pytest.raises(EdgenasError, match="precision plan has 2 entries but the architecture has"):
        m.encode(dict(arch, precision=["int8", "fp32"]))
    (tmp_path / "a.json").write_text(json.dumps({"arch": m.to_string(arch)}))
    res = run_cli("predict", "--table", d / "mixed.json", "--arch", tmp_path / "a.json", check=1)
    assert "needs the arch's precision plan" in res.stderr


@fashion
def test_mixed_search_to_quantized_model_keeps_the_plan(mixed_table, tmp_path):
    d, target = mixed_table
    sn = tmp_path / "sn"
    run_cli("supernet", "train", "--space", "mbv3-small", *space_opts(), "--train-subset", "256", "--val-size", "128",
            "--epochs", "1", "--threads", "1", "--out", sn, "--quiet", check=0)
    big = json.loads((d / "mixed.json").read_text())["header"]["calibration_networks"][1]["measured_ms"]
    res = run_cli("search", "--target", target, "--table", d / "int8.json", "--supernet", sn / "supernet.pt",
                  "--latency-ms", str(10 * big), "--val-size", "128", "--budget", "8", "--out", tmp_path / "s0", check=0)
    assert json.loads((tmp_path / "s0" / "best.arch.json").read_text())["precision_plan"] is None
    run_cli("search", "--target", target, "--table", d / "mixed.json", "--supernet", sn / "supernet.pt",
            "--latency-ms", str(10 * big), "--val-size", "128", "--budget", "8", "--out", tmp_path / "s", check=0)
    best = json.loads((tmp_path / "s" / "best.arch.json").read_text())
    plan = best["precision_plan"]
    assert plan and set(plan) <= {"int8", "fp32"}
    run_cli("extract", "--supernet", sn / "supernet.pt", "--arch", tmp_path / "s" / "best.arch.json", "--val-size", "128",
            "--out", tmp_path / "m.pt", check=0)
    run_cli("export", tmp_path / "m.pt", "--out", tmp_path / "m.onnx", check=0)
    assert json.loads((tmp_path / "m.onnx.json").read_text())["precision_plan"] == plan
    res = run_cli("quantize", tmp_path / "m.onnx", "--target", target, "--calib-size", "32", "--min-sqnr-db", "-1",
                  "--out", tmp_path / "m.q.onnx", check=0)
    side = json.loads((tmp_path / "m.q.onnx.json").read_text())
    floats = {i for i, p in enumerate(plan) if p == "fp32"}
    kept = {int(n.split("/")[1]) for n in side["quantization"]["kept_float"]}
    assert side["precision_plan"] == plan and kept == floats, (kept, floats, res.stdout)
    res = run_cli("quantize", tmp_path / "m.onnx", "--target", target, "--calib-size", "32", "--plan", "int8,fp32",
                  "--out", tmp_path / "x.onnx", check=1)
    assert "the precision plan has 2 entries but the model has" in res.stderr


def test_mixed_search_without_a_mixed_table_names_the_command(mixed_table, tmp_path):
    from edgenas.tasks.search import _search_space
    from edgenas.space import get_space
    from edgenas.targets import load_target

    d, target = mixed_table
    table = LatencyTable.load(d / "int8.json")
    with pytest.raises(EdgenasError, match="needs a mixed table .* Profile one with: edgenas profile --target .* --precision mixed"):
        _search_space(get_space("mbv3-small", **TINY_SPACE), table, "mixed", load_target(str(target)), d / "int8.json")


def _report(path, int8_ms, fp32_ms, accurate=True):
    """A validate report.json as edgenas.validate writes it (reference row first, artifact row last)."""
    rows = [{"stage": "reference fp32", "latency_p50_ms": fp32_ms, "top1": 85.0, "checks": {}},
            {"stage": "artifact", "latency_p50_ms": int8_ms, "top1": 84.9 if accurate else 70.0,
             "checks": {"accuracy": accurate, "agreement": accurate, "cosine": True}}]
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


@pytest.mark.parametrize("int8_ms, accurate, ships, why", [
    (0.10, True, "int8", "faster) and passed the accuracy checks"),
    (0.25, True, "fp32", "slower, so the FP32 export ships"),
    (0.10, False, "fp32", "fails the accuracy thresholds, so the FP32 export ships"),
])
def test_the_pipeline_never_ships_a_slower_or_less_accurate_int8_silently(tmp_path, int8_ms, accurate, ships, why):
    from edgenas.pipeline.ship import choose

    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    fp32.write_bytes(b"fp32")
    int8.write_bytes(b"int8")
    (tmp_path / "m.int8.onnx.json").write_text(json.dumps({"precision": "mixed"}))
    res = choose(_report(tmp_path / "r.json", int8_ms, 0.2, accurate), str(fp32), str(int8), tmp_path / "ship")
    assert why in res["reason"] and res["fp32_ms"] == 0.2 and res["int8_ms"] == int8_ms
    shipped = tmp_path / "ship" / (int8.name if ships == "int8" else fp32.name)
    assert res["shipped"] == str(shipped) and shipped.read_bytes() == ships.encode()
    assert res["precision"] == ("mixed" if ships == "int8" else "fp32")  # the sidecar's precision names a mixed plan
    assert len(list((tmp_path / "ship").glob("*.onnx"))) == 1
