"""The one-command pipeline on tiny settings: all stages, caching, report, and its bad inputs."""

import json

import yaml

from .conftest import run_cli
from .test_data import fashion

TINY = {"target": "cpu-x86-ort-int8", "latency_ms": 1.0, "supernet": {"train_subset": 256, "val_size": 128, "epochs": 1,
                                                                       "batch_size": 64},
        "search": {"population": 4, "generations": 1}, "finetune": {"epochs": 1, "train_subset": 256},
        "quantize": {"calib_size": 32}, "validate": {"limit": 200, "min_agreement": 0, "max_acc_drop": 100,
                                                     "min_cosine": 0, "max_latency_over_predicted": 100}}


def _write(tmp_path, **over):
    cfg = dict(TINY, out=str(tmp_path / "run"), **over)
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@fashion
def test_pipeline_runs_all_stages_then_caches(tmp_path):
    p = _write(tmp_path)
    res = run_cli("run", p, check=0)
    assert "[validate ] done" in res.stdout and "next, on the board" in res.stdout
    summary = json.loads((tmp_path / "run" / "report" / "summary.json").read_text())
    assert [r["stage"] for r in summary["rows"]][-1] == "deployed int8" and summary["rows"][-1]["status"] == "PASS"
    page = (tmp_path / "run" / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 and "<table>" in page and "convergence" in page
    curve = summary["search_curve"]  # best feasible accuracy vs evaluations, also in the terminal and report.md
    assert curve and curve[-1][0] == json.loads((tmp_path / "run" / "03-search" / "result.json").read_text())["evaluations"]
    assert all(a[1] <= b[1] for a, b in zip(curve, curve[1:])) and "Search: best feasible accuracy vs evaluations" in res.stdout
    again = run_cli("run", p, check=0)
    assert again.stdout.count("cached") >= 7 and "running" not in again.stdout


def test_unknown_pipeline_key_is_named(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(dict(TINY, latency_msec=1.0)))
    res = run_cli("run", p, check=1)
    assert "unknown key 'latency_msec' (did you mean 'latency_ms'?)" in res.stderr
    p.write_text(yaml.safe_dump(dict(TINY, search={"populaton": 3})))
    assert "did you mean 'population'" in run_cli("run", p, check=1).stderr


def test_missing_dataset_names_the_stage(tmp_path):
    res = run_cli("run", _write(tmp_path, data=str(tmp_path / "no-such-data")), check=1)
    assert "pipeline stage 'supernet' failed: dataset" in res.stderr and "does not exist" in res.stderr


@fashion
def test_impossible_budget_names_the_stage_and_closest_value(tmp_path):
    res = run_cli("run", _write(tmp_path, latency_ms=0.0001), check=1)
    assert "pipeline stage 'search' failed: no architecture" in res.stderr and "the fastest reaches" in res.stderr


@fashion
def test_over_budget_on_the_board_is_pruned_again_or_ends_fail_with_the_measurement(tmp_path):
    """A table 2.5x too optimistic (and trusted: drift check off) makes the search pick a model that measures over
    the budget (0.05 ms: even the space's fastest network measures more): the pipeline prunes again to a
    measured-corrected budget and never claims success over budget."""
    from edgenas.latency.drift import rescaled
    from edgenas.latency.table import LatencyTable

    from .conftest import ROOT

    src = LatencyTable.load(ROOT / "latency_tables" / "cpu-x86-ort-int8_mbv3-small_r28.json")
    optimistic = tmp_path / "optimistic.json"
    rescaled(src, 0.4, {"note": "test: 2.5x too optimistic"}).save(optimistic)
    res = run_cli("run", _write(tmp_path, table=str(optimistic), search_table=str(optimistic), drift_check=False,
                                precision="single", latency_ms=0.05))
    summary = json.loads((tmp_path / "run" / "report" / "summary.json").read_text())
    budget = summary["budget"]
    assert budget["attempts"][0]["measured_ms"] > 0.05, budget  # the first model really was over budget
    assert "over     shipped model measured" in res.stdout  # and a second attempt ran, or said why it could not
    assert (tmp_path / "run" / "attempt-2").is_dir() or "stage 'prune-2' failed" in (budget.get("stopped") or "")
    report = (tmp_path / "run" / "report" / "report.md").read_text()
    assert budget["message"] in res.stdout and budget["message"] in report
    if budget["status"] == "PASS":
        assert res.returncode == 0 and budget["attempts"][-1]["measured_ms"] <= 0.05
    else:  # pruning could not reach it: FAIL, naming the budget, the measurement and the fastest candidate
        assert res.returncode == 3 and summary["status"] == "FAIL", res.stderr
        assert "Raise the budget to at least" in budget["message"] and (len(budget["attempts"]) >= 2 or budget["stopped"])
