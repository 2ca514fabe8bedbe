import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgenas.errors import EdgenasError
from edgenas.latency.board import profile_bundle
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.targets import load_target

from .conftest import ROOT, fast_target


def test_table_has_every_op_and_full_provenance(tiny_table, tiny_space):
    t = LatencyTable.load(tiny_table)
    assert set(t.entries) == set(tiny_space.all_ops())
    h = t.header
    for key in ("target", "target_sha256", "device", "software", "precision", "protocol", "space", "calibration",
                "noise", "profiling_time_s", "bundle"):
        assert key in h
    assert h["space"]["sha256"] == tiny_space.sha256 and h["software"]["onnxruntime"]
    assert h["device"]["cpu"]["logical_cores"] >= 1
    e = next(iter(t.entries.values()))
    assert 0 < e["median_ms"] <= e["p90_ms"] and e["count"] >= 9
    cal = h["calibration"]
    assert cal["n_networks"] == 6 and cal["scale"] > 0 and np.isfinite(cal["loo_mape_pct"])


def test_predictor_is_vectorised_and_matches_single_arch(tiny_table, tiny_space):
    pred = Predictor(LatencyTable.load(tiny_table))
    G = tiny_space.sample(np.random.default_rng(0), 50)
    batch = pred.predict(G)
    single = [pred.predict_arch(tiny_space.decode(g))[0] for g in G[:5]]
    np.testing.assert_allclose(batch[:5], single, rtol=1e-9)
    assert (batch > 0).all()


def _copy(bundle, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


def test_bundle_with_missing_or_corrupt_file_is_refused(tiny_bundle, tmp_path):
    bundle, target = tiny_bundle
    b = _copy(bundle, tmp_path)
    (b / "ops" / "0003.onnx").unlink()
    with pytest.raises(EdgenasError, match="ops/0003.onnx is missing"):
        profile_bundle(b, target, tmp_path / "t.json", show_progress=False)
    shutil.copy(bundle / "ops" / "0003.onnx", b / "ops" / "0003.onnx")
    with open(b / "nets" / "ref01.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff")
    with pytest.raises(EdgenasError, match="nets/ref01.onnx is corrupt"):
        profile_bundle(b, target, tmp_path / "t.json", show_progress=False)
    (b / "manifest.json").write_text("{\"schema\": \"edgenas.ops_")
    with pytest.raises(EdgenasError, match="corrupt or truncated"):
        profile_bundle(b, target, tmp_path / "t.json", show_progress=False)
    assert not (tmp_path / "t.json").exists()


def test_bundle_precision_must_match_target(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    with pytest.raises(EdgenasError, match="planned for fp32.*is int8"):
        profile_bundle(bundle, load_target("cpu-x86-ort-int8"), tmp_path / "t.json", show_progress=False)


def test_interrupted_profile_resumes_and_keeps_measured_rounds(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    target = fast_target(tmp_path, repeat=200, rounds=4, min_round_ms=5.0)
    out = tmp_path / "table.json"
    partial = tmp_path / "table.json.partial.json"
    cmd = [sys.executable, str(ROOT / "tools" / "profile_board.py"), str(bundle), "--target", str(target),
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not partial.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not out.exists()
    before = json.loads(partial.read_text())["samples"]
    kept = {k: v for k, v in before.items() if v}
    assert kept
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr and not partial.exists()
    table = LatencyTable.load(out)
    assert len(table.entries) == len(json.loads((bundle / "manifest.json").read_text())["ops"])
    assert all(e["rounds"] >= 4 for e in table.entries.values())


def test_profiling_keeps_a_bounded_number_of_models_active(tiny_bundle, tmp_path):
    """D10: a bundle of hundreds of engines is timed with at most max_active of them loaded at once."""
    bundle, target = tiny_bundle
    table = profile_bundle(bundle, target, tmp_path / "t.json", show_progress=False, max_active=2)
    n_items = len(json.loads((bundle / "manifest.json").read_text())["ops"]) + 6 + 1
    timer = table.header["protocol"]["timer"]
    assert timer["max_active"] == 2 and timer["activations"] >= n_items
    assert len(table.entries) == n_items - 7 and all(e["rounds"] >= 3 for e in table.entries.values())
