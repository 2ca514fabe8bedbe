"""Benchmark "your own model on your board": public architectures at 224 px from the plain-torch zoo (realistic
BatchNorm statistics, no weights), each profiled per layer in context and quantized with the measured
precision plan (``--plan auto``); then FP32, all-INT8 and what shipped are timed again in one fresh interleaved
run. Prints a table and writes JSON (``--json OUT``); no machine paths in the JSON.

    python tools/bench_own_model.py --json docs/results/own_model.json
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
          "regnet_y_400mf", "squeezenet1_0", "ssdlite_mobilenet_v3_large", "yolo_s"]


def confirm(paths, target, feed, budget_s, seed):
    """FP32, INT8 and shipped timed again, interleaved in one run: {name: median ms}."""
    from edgenas.latency.model_profile import interleave, open_session
    from edgenas.runtime.timing import stats

    calls = {}
    for name, p in paths.items():
        s = open_session(p, target)
        names = [o.name for o in s.get_outputs()]
        calls[name] = (lambda run, n: (lambda: run(n, feed)))(s.run, names)
    samples, _ = interleave(calls, target.protocol, seed, budget_s)
    return {k: stats(v)["median_ms"] for k, v in samples.items()}


def one(name, work, args):
    from edgenas.targets import load_target
    from edgenas.tasks.own_model import _inputs, _quantize, profile_model, quantize_auto
    from edgenas.zoo import export

    fp32_t, int8_t = load_target("cpu-x86-ort-fp32"), load_target("cpu-x86-ort-int8")
    src = export(name, work / (name + ".onnx"), resolution=args.resolution, seed=0)
    t0 = time.time()
    prof = profile_model(src, fp32_t, work / (name + ".profile.json"), budget_s=args.profile_budget_s, progress=False)
    profile_s = time.time() - t0
    out = work / (name + ".auto.onnx")
    plan = quantize_auto(src, out, int8_t, calib_size=args.calib_size, max_rel_error=args.max_rel_error,
                         budget_s=args.plan_budget_s, progress=False)
    _, _, _, batches = _inputs(src, int8_t, None, None, args.calib_size, 0)
    int8 = _quantize(src, work / (name + ".int8.onnx"), batches, int8_t, [], None)
    ms = confirm({"fp32": str(src), "int8": int8, "shipped": str(out)}, int8_t, batches[0], args.confirm_budget_s, 7)
    best_pure = min(ms["fp32"], ms["int8"])
    int8_ok = plan.report["candidates"][[c["name"] for c in plan.report["candidates"]].index("int8")]["within_tolerance"]
    best_ok_pure = min(ms["fp32"], ms["int8"]) if int8_ok else ms["fp32"]  # the faster pure model inside the tolerance
    cands = {c["name"]: c for c in plan.report["candidates"]}
    mixed = [c for c in cands.values() if c["name"] not in ("fp32", "int8") and c["within_tolerance"]]
    row = {"model": name, "fp32_ms": round(ms["fp32"], 4), "int8_ms": round(ms["int8"], 4),
           "shipped_ms": round(ms["shipped"], 4), "shipped": plan.shipped,
           "shipped_over_best_pure": round(ms["shipped"] / best_pure, 4),
           "shipped_over_best_pure_within_tolerance": round(ms["shipped"] / best_ok_pure, 4),
           "speedup_over_fp32": round(ms["fp32"] / ms["shipped"], 3), "int8_over_fp32": round(ms["fp32"] / ms["int8"], 3),
           "int8_groups": plan.int8_groups, "groups": plan.groups, "reason": plan.reason,
           "errors": plan.errors, "int8_errors": cands["int8"]["errors"], "int8_within_tolerance": cands["int8"]["within_tolerance"],
           "plan_run_ms": {k: c["median_ms"] for k, c in cands.items()},
           "best_mixed_plan_run_ms": round(min((c["median_ms"] for c in mixed), default=float("nan")), 4),
           "mixed_beats_both_in_plan_run": bool(mixed) and min(c["median_ms"] for c in mixed) <
           min(cands["fp32"]["median_ms"], cands["int8"]["median_ms"]),
           "profile_sum_over_e2e": prof.sum_over_e2e, "profile_coverage": prof.coverage,
           "profile_module_coverage": prof.module_coverage, "profile_e2e_ms": round(prof.e2e_ms, 4),
           "profile_rows": prof.rows, "profile_layout_share": prof.data["layout_share"],
           "profile_seconds": round(profile_s, 1), "plan_seconds": plan.seconds}
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--calib-size", type=int, default=16)
    ap.add_argument("--max-rel-error", type=float, default=0.1)
    ap.add_argument("--profile-budget-s", type=float, default=25.0)
    ap.add_argument("--plan-budget-s", type=float, default=25.0)
    ap.add_argument("--confirm-budget-s", type=float, default=15.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    import onnxruntime

    from edgenas.runtime.device import cpu_info

    t0 = time.time()
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgenas-bench-own-") as d:
        for name in args.models.split(","):
            t1 = time.time()
            rows.append(one(name, Path(d), args))
            r = rows[-1]
            print("{:28s} fp32 {:8.3f} int8 {:8.3f} shipped {:5s} {:8.3f} ({:.3f}x best pure, {:.2f}x fp32) sum/e2e {:.3f} "
                  "coverage {:.3f} profile {:.0f}s ({:.0f}s)".format(
                      name, r["fp32_ms"], r["int8_ms"], r["shipped"], r["shipped_ms"], r["shipped_over_best_pure"],
                      r["speedup_over_fp32"], r["profile_sum_over_e2e"], r["profile_coverage"], r["profile_seconds"],
                      time.time() - t1), flush=True)
    cpu = cpu_info()
    res = {"benchmark": "own_model", "cpu": cpu.get("model"), "isa": cpu.get("isa"),
           "onnxruntime": onnxruntime.__version__, "threads": 1, "resolution": args.resolution,
           "tolerance": {"metric": "relative L2 error per output vs FP32 on the calibration data",
                         "max": args.max_rel_error, "calibration": "{} random-normal images".format(args.calib_size)},
           "budgets_s": {"profile": args.profile_budget_s, "plan": args.plan_budget_s, "confirm": args.confirm_budget_s},
           "load_average": {"start": [round(x, 2) for x in load0], "end": [round(x, 2) for x in os.getloadavg()]},
           "seconds": round(time.time() - t0, 1), "rows": rows,
           "summary": {
               "sum_within_10pct": sum(abs(r["profile_sum_over_e2e"] - 1) <= 0.1 for r in rows),
               "coverage_at_least_95pct": sum(r["profile_coverage"] >= 0.95 for r in rows),
               "shipped_within_1.02x_best_pure": sum(r["shipped_over_best_pure"] <= 1.02 for r in rows),
               "shipped_within_1.02x_best_pure_within_tolerance": sum(
                   r["shipped_over_best_pure_within_tolerance"] <= 1.02 for r in rows),
               "int8_outside_tolerance": [r["model"] for r in rows if not r["int8_within_tolerance"]],
               "mixed_shipped": [r["model"] for r in rows if r["shipped"] == "mixed"],
               "models": len(rows)}}
    print(json.dumps(res["summary"]))
    print("{:.0f} s".format(res["seconds"]))
    if args.json:
        from edgenas.util.results import write_result_json  # no absolute machine paths in results

        write_result_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
