"""Issue 22: validation's per-output statistics and pass/fail rule against Polygraphy's own comparator, and the
report's verdicts: a latency miss within the run's own noise is INCONCLUSIVE, a real miss is a FAIL."""

import numpy as np
import pytest


def _row(p50, noise, predicted=1.0):
    return {"stage": "artifact", "latency_p50_ms": p50, "predicted_ms": predicted, "latency_noise_pct": noise,
            "latency_max_spread_pct": 10.0}


def test_a_latency_miss_within_the_runs_noise_is_inconclusive(tmp_path):
    from edgenas.validation.report import Thresholds, write_report

    rep = write_report(tmp_path, [_row(1.15, 20.0)], Thresholds(), {"target": "t"})
    row = rep["rows"][0]
    assert rep["status"] == row["status"] == "INCONCLUSIVE" and row["checks"]["latency"] is None
    why = row["inconclusive"][0]["message"]
    assert "within this run's own noise of 20.0%" in why and "max_spread_pct 10%" in why and "quieter machine" in why
    assert "## Why INCONCLUSIVE" in (tmp_path / "report.md").read_text()
    rep = write_report(tmp_path, [_row(1.15, 2.0)], Thresholds(), {"target": "t"})  # a quiet run: a real miss
    assert rep["status"] == "FAIL" and "is 4.5% over 1.1x the predicted 1.0000 ms = 1.1000 ms" in rep["rows"][0]["failures"][0]["message"]
    rep = write_report(tmp_path, [_row(2.0, 20.0)], Thresholds(), {"target": "t"})  # far beyond the noise: FAIL
    assert rep["status"] == "FAIL"
    rep = write_report(tmp_path, [dict(_row(1.15, 20.0), predicted_ms=None)], Thresholds(max_latency_ms=1.0), {"target": "t"})
    assert rep["status"] == "INCONCLUSIVE" and rep["rows"][0]["inconclusive"][0]["check"] == "budget"


def test_statistics_and_verdicts_match_polygraphy():
    pytest.importorskip("polygraphy")
    from polygraphy.comparator import CompareFunc, IterationResult
    from polygraphy.logger import G_LOGGER

    from edgenas.validation.outputs import output_stats, tolerance_check

    G_LOGGER.module_severity = G_LOGGER.CRITICAL
    rng = np.random.default_rng(3)
    ref = {"a": rng.standard_normal((16, 10)).astype(np.float32), "b": rng.standard_normal((16, 8, 4)).astype(np.float32)}
    ref["b"][0, 0, 0] = 0.0  # a zero in the reference: the relative error's epsilon
    out = {k: v + rng.normal(0, 0.02, v.shape).astype(np.float32) for k, v in ref.items()}
    for stat in ("elemwise", "max", "mean", "median", "quantile"):
        for atol, rtol in ((0.01, 0.0), (0.05, 0.0), (0.0, 0.05), (0.02, 0.5)):
            res = CompareFunc.simple(atol=atol, rtol=rtol, check_error_stat=stat, error_quantile=0.9)(
                IterationResult(out, runner_name="artifact"), IterationResult(ref, runner_name="reference"))
            for name in ref:
                s = output_stats(out[name], ref[name], quantile=0.9)
                mine = tolerance_check(out[name], ref[name], atol, rtol, stat, s)
                theirs = res[name]
                assert mine["passed"] == bool(theirs), (stat, atol, rtol, name)
                assert s["max_abs"] == pytest.approx(float(theirs.max_absdiff), rel=1e-6)
                assert s["mean_rel"] == pytest.approx(float(theirs.mean_reldiff), rel=1e-6)
                assert s["median_abs"] == pytest.approx(float(theirs.median_absdiff), rel=1e-6)
