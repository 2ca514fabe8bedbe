"""tools/gpu_check.py, the first thing to run on a GPU: what can be checked without one. The plan is
checked (every tool compiles, every command exists, the step inputs load), and without CUDA every step
runs and fails fast with its own one-line reason, into a JSON without machine paths."""

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

TOOL = str(ROOT / "tools" / "gpu_check.py")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_dry_run_checks_the_plan_anywhere():
    res = subprocess.run([sys.executable, TOOL, "--dry-run"], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    for step in ("doctor", "cuda_events", "train_speed", "ddp", "table_graph", "table_eager"):
        assert step in res.stdout
    assert "budget      470 s" in res.stdout and "dry run: ok" in res.stdout


def test_unknown_step_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, TOOL, "--steps", "doctor,tabel", "--out", str(tmp_path)], capture_output=True,
                         text=True, cwd=str(ROOT), timeout=60)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "unknown step(s) tabel" in res.stderr


@pytest.mark.skipif(_cuda(), reason="this machine has CUDA: run tools/gpu_check.py for real")
def test_without_cuda_every_step_fails_with_its_own_reason(tmp_path):
    out = tmp_path / "gc"
    res = subprocess.run([sys.executable, TOOL, "--out", str(out)], capture_output=True, text=True, cwd=str(ROOT),
                         timeout=600)
    assert res.returncode == 1, res.stdout + res.stderr
    text = (out / "gpu_check.json").read_text()
    rec = json.loads(text)
    assert rec["schema"] == "edgenas.gpu_check/1" and rec["environment"]["cuda_available"] is False
    assert rec["passed"] == [] and rec["total_s"] < 240
    want = {"doctor": "torch", "cuda_events": "driver", "train_speed": "sees no CUDA GPU", "ddp": "CUDA is not available",
            "table_graph": "this machine has none", "table_eager": "this machine has none"}
    for step, words in want.items():
        r = rec["steps"][step]
        assert r["status"] == "fail" and words in r["reason"] and "\n" not in r["reason"], (step, r.get("reason"))
        assert "Traceback" not in r["reason"]
    assert rec["steps"]["ddp"]["two_processes_nccl"]["status"] == "skip"
    assert rec["steps"]["table_eager"]["accuracy"]["reason"] == "no table: the profile failed"
    assert str(ROOT) not in text  # committed results carry no machine paths
