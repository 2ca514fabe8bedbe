#!/usr/bin/env python3
"""Precision-aware search against single-precision searches, at one latency budget and one training
budget, measured in one run: (a) fp32-only search (fp32 table), (b) int8-only search (int8 table),
(c) mixed search (mixed table: int8/fp32 per op plus precision boundaries). Each winner is extracted,
fine-tuned the same way, exported and quantized as its plan says; every deployed artifact and its
own FP32 export are then timed in one interleaved run, and top-1 is measured on the test split.

    python tools/bench_precision.py --supernet runs/demo/supernet/supernet.pt --latency-ms 0.2 --json runs/bench/precision.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import edgenas
from edgenas.backends.onnxruntime import OrtRunner
from edgenas.data.preprocess import dataset_inputs
from edgenas.modelio.model_export import read_sidecar
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.targets import load_target
from edgenas.util.results import write_result_json
from edgenas.validation.compare import run_batched

TABLES = {"fp32": "latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json",
          "int8": "latency_tables/cpu-x86-ort-int8_mbv3-small_r28.json",
          "mixed": "latency_tables/cpu-x86-ort-int8_mbv3-small_r28.mixed.json"}
TARGETS = {"fp32": "cpu-x86-ort-fp32", "int8": "cpu-x86-ort-int8", "mixed": "cpu-x86-ort-int8"}


def deploy(kind, sn, args, out: Path):
    """Search, extract, fine-tune, export and (for int8/mixed) quantize one variant; its file paths."""
    d = out / kind
    r = edgenas.search(TARGETS[kind], args.tables[kind], sn, d / "search", latency_ms=args.latency_ms, budget=args.budget,
                       val_size=args.val_size, seed=args.seed, progress=False, precision="mixed" if kind == "mixed" else None)
    m = edgenas.extract(sn, d / "search" / "best.arch.json", d / "model.pt", val_size=args.val_size)
    m = edgenas.finetune(m.checkpoint, d / "model_ft.pt", epochs=args.epochs, train_subset=args.train_subset,
                         val_size=args.val_size, progress=False)
    fp32 = edgenas.export(m.checkpoint, d / "model.onnx").onnx
    art = fp32
    if kind != "fp32":
        art = edgenas.quantize(fp32, d / "model.int8.onnx", target=TARGETS[kind], calib_size=256).onnx
    plan = read_sidecar(art).get("precision_plan")
    return {"kind": kind, "arch": r.arch, "predicted_ms": r.latency_ms, "estimated_acc": r.accuracy, "fp32_onnx": str(fp32),
            "artifact": str(art), "precision_plan": plan, "search_evaluations": r.evaluations}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--supernet", required=True)
    p.add_argument("--latency-ms", type=float, default=0.2)
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=12000)
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--test-limit", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench/precision")
    p.add_argument("--tables", type=json.loads, default=TABLES, help="JSON: {fp32, int8, mixed} table paths")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    t0 = time.time()
    rows = [deploy(k, args.supernet, args, out) for k in ("fp32", "int8", "mixed")]
    side = read_sidecar(rows[0]["fp32_onnx"])
    x, labels = dataset_inputs(None, side, args.test_limit)
    runners, calls = {}, {}
    for r in rows:
        for role in ("artifact", "fp32_onnx"):
            key = "{}:{}".format(r["kind"], role)
            t = load_target(TARGETS[r["kind"]] if role == "artifact" else "cpu-x86-ort-fp32")
            runners[key] = OrtRunner(r[role], threads=t.threads, graph_optimization=t.graph_optimization)
            runners[key].activate()
            calls[key] = runners[key].timed_call(runners[key].random_feed(0))
    proto = load_target("cpu-x86-ort-fp32").protocol
    proto.rounds, proto.max_extra_rounds = args.rounds, 0
    lat = {k: stats(v)["median_ms"] for k, v in measure_interleaved(calls, proto, seed=args.seed).items()}
    for r in rows:
        out_art = run_batched(runners[r["kind"] + ":artifact"], x, 1)
        out_f32 = run_batched(runners[r["kind"] + ":fp32_onnx"], x, 1)
        r.update(measured_ms=lat[r["kind"] + ":artifact"], fp32_export_ms=lat[r["kind"] + ":fp32_onnx"],
                 top1=float(np.mean(out_art.argmax(1) == labels) * 100), fp32_top1=float(np.mean(out_f32.argmax(1) == labels) * 100))
        r["speedup_over_own_fp32"] = r["fp32_export_ms"] / r["measured_ms"]
        r["int8_drop_pt"] = r["fp32_top1"] - r["top1"]
    for rr in runners.values():
        rr.deactivate()
    a, b, c = rows
    res = {"latency_budget_ms": args.latency_ms, "budget_evals": args.budget, "finetune_epochs": args.epochs,
           "test_images": int(len(labels)), "rows": rows, "wall_s": round(time.time() - t0, 1),
           "mixed_dominates": all((c["top1"] >= o["top1"] and c["measured_ms"] <= o["measured_ms"] * 1.02) or
                                  (c["measured_ms"] < o["measured_ms"] and c["top1"] >= o["top1"] - 0.1) for o in (a, b))}
    print("{:<6} {:>9} {:>9} {:>8} {:>8} {:>8}  arch".format("kind", "measured", "fp32 exp", "speedup", "top-1", "drop"))
    for r in rows:
        print("{:<6} {:>9.4f} {:>9.4f} {:>7.2f}x {:>8.2f} {:>8.2f}  {}".format(r["kind"], r["measured_ms"], r["fp32_export_ms"],
              r["speedup_over_own_fp32"], r["top1"], r["int8_drop_pt"], r["arch"]))
    print("mixed dominates: {}   ({:.0f} s)".format(res["mixed_dominates"], res["wall_s"]))
    write_result_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
