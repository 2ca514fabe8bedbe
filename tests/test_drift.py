"""A table belongs to the machine that measured it: provenance compared field by field, a drift check timed on
this machine against the table's predictions, and a pipeline that never ships over budget silently."""

import json

import numpy as np
import pytest
import yaml

from edgenas.errors import EdgenasError
from edgenas.latency.drift import decide, fit_drift, provenance_mismatches, rescaled
from edgenas.latency.table import LatencyTable

from .conftest import ROOT, run_cli

# Careful enough that a uniform drift is told from noise on a busy 2-core machine, still a few seconds.
STEADY = {"warmup": 3, "repeat": 10, "rounds": 5, "min_round_ms": 3.0, "max_spread_pct": 25.0, "max_extra_rounds": 2}


def _target(tmp_path, **protocol):
    data = yaml.safe_load((ROOT / "targets" / "cpu-x86-ort-fp32.yaml").read_text())
    data["protocol"] = dict(STEADY, **protocol)
    path = tmp_path / "cpu-steady.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def steady(tmp_path_factory, tiny_space):
    """A tiny table profiled on this machine now with the steady protocol, and its target."""
    from edgenas.latency.board import profile_bundle
    from edgenas.latency.bundle import plan_bundle
    from edgenas.targets import load_target

    d = tmp_path_factory.mktemp("steady")
    target = load_target(str(_target(d)))
    plan_bundle(tiny_space, target, d / "b", n_networks=8, show_progress=False)
    profile_bundle(d / "b", target, d / "table.json", show_progress=False)
    return d / "table.json", target, d


def _variant(src, dst, factor=1.0, op_factor=None, drop=None):
    lt = LatencyTable.load(src)
    t = rescaled(lt, factor, {"note": "test"}) if factor != 1.0 else lt
    t.header.pop("drift", None)
    for key, e in t.entries.items():
        if op_factor and op_factor[0] in key:
            e["median_ms"] *= op_factor[1]
            e["p90_ms"] *= op_factor[1]
    for k in drop or ():
        t.header.pop(k, None)
    t.save(dst)
    return dst


# ---- the decision itself -------------------------------------------------------------------------------------


def test_decision_uses_rescales_reprofiles_or_gives_up_on_noise():
    p = np.array([0.1, 0.2, 0.3, 0.5, 0.8, 1.2])
    assert decide(p, p * 1.02, 2.0, 10.0)["decision"] == "ok"
    d = decide(p, p * 1.69 * np.array([1.02, 0.98, 1.01, 0.99, 1.03, 0.97]), 2.0, 10.0)
    assert d["decision"] == "rescale" and abs(d["factor"] - 1.69) < 0.03 and d["residual_pct"] < 5
    d = decide(p, p * np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]), 2.0, 10.0)  # op-dependent: half the nets 2x slower
    assert d["decision"] == "reprofile" and "not uniform" in d["reason"]
    d = decide(p, p * 1.7, 14.0, 10.0)
    assert d["decision"] == "inconclusive" and "14.0%" in d["reason"] and "--drift-check off" in d["reason"]


def test_provenance_names_every_field_that_changes_speed():
    header = {"device": {"cpu": {"model": "AMD EPYC", "machine": "x86_64", "isa": ["avx2", "avx512_vnni", "avx512f", "fma"]},
                         "jetson": {"model": "Orin Nano", "nvpmodel": "NV Power Mode: 15W"}},
              "software": {"onnxruntime": "1.32.0", "numpy": "2.4"}}
    here = {"cpu": {"model": "AMD EPYC", "machine": "x86_64", "isa": ["avx2", "fma"], "affinity": 1},
            "jetson": {"model": "Orin Nano", "nvpmodel": "NV Power Mode: 7W"}}
    diffs = provenance_mismatches(header, here, {"onnxruntime": "1.30.0", "numpy": "1.24"}, threads=2)
    text = "; ".join(diffs)
    assert "CPU ISA: table has avx512_vnni,avx512f" in text
    assert "Jetson power mode: table NV Power Mode: 15W / here NV Power Mode: 7W" in text
    assert "onnxruntime: table 1.32.0 / here 1.30.0" in text
    assert "threads: the target uses 2 but this process may run on 1 core(s)" in text
    assert "numpy" not in text and "CPU model" not in text  # numpy does not change a model's speed; the model is equal
    assert provenance_mismatches(header, header["device"], header["software"]) == []


# ---- the check, timed on this machine --------------------------------------------------------------------------


def test_a_table_from_a_slower_machine_is_rescaled_and_recorded(steady, tmp_path):
    from edgenas.latency.predictor import Predictor
    from edgenas.tasks.drift import check_table

    src, target, _ = steady
    slow = _variant(src, tmp_path / "slow.json", factor=1 / 1.7)  # as if measured on a machine 1.7x faster
    # a loose tolerance: a busy 2-core machine moves single nets by 10-15%; the 1.7x drift is far outside "ok"
    r = check_table(slow, target, tmp_path / "d", log=None, progress=False, tolerance_pct=35)
    assert r.decision == "rescale", r.reason
    # the same measurements against the unperturbed table's predictions: the fitted factor is exactly 1.7x larger
    base = Predictor(LatencyTable.load(src))
    p0 = [base.predict_arch(base.space.from_string(n["arch"]))[0] for n in r.networks]
    f0, b0 = fit_drift(p0, [n["measured_ms"] for n in r.networks])
    assert abs(r.factor / f0 / 1.7 - 1) < 0.01 and abs(r.offset_ms - b0) < 1e-4
    checked = LatencyTable.load(r.table)
    assert checked.header["drift"]["factor"] == r.factor and checked.header["drift"]["source"] == "slow.json"
    rec = json.loads((tmp_path / "d" / "drift.json").read_text())
    assert rec["decision"] == "rescale" and len(rec["networks"]) == 6 and not rec["table"].startswith("/")
    # the rescaled table predicts each reference network as the check measured it, within the check's residual
    pred = Predictor(checked)
    for n in r.networks:
        got = pred.predict_arch(pred.space.from_string(n["arch"]))[0]
        assert abs(got / n["measured_ms"] - 1) * 100 <= r.residual_pct + 0.5


def test_op_dependent_drift_refuses_with_the_command_when_reprofiling_is_off(steady, tmp_path):
    from edgenas.tasks.drift import check_table

    src, target, _ = steady
    odd = _variant(src, tmp_path / "odd.json", op_factor=("_se", 4.0))  # squeeze-excite ops 4x slower in the table
    with pytest.raises(EdgenasError, match=r"does not hold on this board: the drift is not uniform.*re-profile it with: "
                                           r"edgenas profile --target cpu-x86-ort-fp32 --space mbv3-small --resolution 16"):
        check_table(odd, target, tmp_path / "d", reprofile=False, log=None, progress=False)
    assert json.loads((tmp_path / "d" / "drift.json").read_text())["decision"] == "reprofile"


def test_a_check_too_noisy_to_decide_says_so(steady, tmp_path):
    from edgenas.tasks.drift import check_table

    src, _, _ = steady
    strict = _target(tmp_path, max_spread_pct=0.001, max_extra_rounds=0)  # any real timing varies more than this
    with pytest.raises(EdgenasError, match=r"inconclusive: the check's own measurements vary .* more than the target's 0%"):
        check_table(src, str(strict), tmp_path / "d", log=None, progress=False)
    # the pipeline says so and keeps the table as it is (it judges the budget on measured latency anyway)
    said = []
    r = check_table(src, str(strict), tmp_path / "d2", log=said.append, progress=False, trust_when_noisy=True)
    assert r.decision == "inconclusive" and any("inconclusive" in s and "used as it is" in s for s in said)
    kept = LatencyTable.load(r.table)
    assert kept.header["drift"]["factor"] == 1.0 and kept.entries == LatencyTable.load(src).entries


def test_a_table_without_fingerprint_warns_and_is_still_checked(steady, tmp_path):
    from edgenas.tasks.drift import check_table

    src, target, _ = steady
    old = _variant(src, tmp_path / "old.json", drop=("device", "software"))
    said = []
    r = check_table(old, target, tmp_path / "d", log=said.append, progress=False)
    assert any("records no device fingerprint" in s for s in said)
    assert r.decision in ("ok", "rescale", "reprofiled") and r.mismatches == []


def test_a_board_that_cannot_run_the_networks_is_named(steady, tmp_path):
    from edgenas.tasks.drift import check_table

    src, _, _ = steady
    data = yaml.safe_load(_target(tmp_path).read_text())
    data["providers"] = ["TensorrtExecutionProvider"]
    t = tmp_path / "no-provider.yaml"
    t.write_text(yaml.safe_dump(data))
    with pytest.raises(EdgenasError, match=r"this board cannot run the drift check's reference networks: .*TensorrtExecutionProvider"):
        check_table(src, str(t), tmp_path / "d", log=None, progress=False)


def test_cli_drift_prints_the_decision_and_each_network(steady, tmp_path):
    src, target, d = steady
    res = run_cli("drift", src, "--target", d / "cpu-steady.yaml", "--out", tmp_path / "d", "--networks", "4", check=0)
    assert "drift check:" in res.stdout and res.stdout.count("predicted") == 4 and "report:" in res.stdout
    res = run_cli("drift", src, "--networks", "2", check=1)
    assert res.stderr == "edgenas: error: --networks must be an integer in [3, 10000], got 2\n"


def test_foreign_table_warning_names_the_fields(steady, tmp_path):
    from edgenas.latency.drift import foreign_table_warning

    src, _, _ = steady
    lt = LatencyTable.load(src)
    assert foreign_table_warning(lt) is None  # measured here, now
    lt.header["device"]["cpu"]["isa"] = ["avx2", "avx512_vnni", "amx_int8", "fma"]
    lt.header["software"]["onnxruntime"] = "0.0.1"
    w = foreign_table_warning(lt)
    assert "measured on another machine" in w and "onnxruntime: table 0.0.1" in w and "edgenas drift" in w


# ---- the budget is judged on what was measured ------------------------------------------------------------------


def test_budget_verdict_names_budget_measurement_and_fastest_candidate():
    from edgenas.pipeline.budget import verdict

    v = verdict(0.25, [{"attempt": 1, "pruned_to_ms": 0.25, "measured_ms": 0.406, "shipped": "a", "precision": "int8"},
                       {"attempt": 2, "pruned_to_ms": 0.15, "measured_ms": 0.31, "shipped": "b", "precision": "fp32"}],
                "pruning cannot reach 0.1 ms")
    assert v["status"] == "FAIL"
    assert "measured 0.3100 ms against the 0.2500 ms budget" in v["message"]
    assert "fastest candidate measured 0.3100 ms (fp32, attempt 2)" in v["message"]
    assert "Raise the budget to at least 0.3100 ms" in v["message"] and "pruning cannot reach" in v["message"]
    assert verdict(0.25, [{"attempt": 1, "pruned_to_ms": 0.25, "measured_ms": 0.2, "shipped": "a",
                           "precision": "int8"}])["status"] == "PASS"
    assert verdict(0.25, [])["status"] == "NOT MEASURED"
