#!/usr/bin/env python3
"""Pipeline benchmark: wall time of each stage, the deployed model's measured latency against the
budget, and its accuracy against the supernet's estimate for the same subnet.

    python tools/bench_pipeline.py --config examples/cpu-demo.yaml --out runs/bench/pipeline --json runs/bench/pipeline.json
"""

import argparse
import shutil
import sys
import time

from edgenas.pipeline.config import load_pipeline
from edgenas.pipeline.run import run_pipeline
from edgenas.util.results import write_result_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="examples/cpu-demo.yaml")
    p.add_argument("--out", default="runs/bench/pipeline", help="fresh run directory (deleted first)")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    cfg = load_pipeline(args.config)
    cfg.out = args.out
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.time()
    summary = run_pipeline(cfg).summary
    wall = time.time() - t0
    rows = {r["stage"]: r for r in summary["rows"]}
    final = summary["rows"][-1]
    out = {"config": args.config, "target": cfg.target, "budget_ms": cfg.latency_ms, "total_wall_s": round(wall, 1),
           "stage_wall_s": {k: v["seconds"] for k, v in summary["stages"].items()},
           "final_stage": final["stage"], "final_measured_p50_ms": final.get("p50_ms"),
           "final_measured_over_budget": (final.get("p50_ms") or float("nan")) / cfg.latency_ms,
           "final_accuracy": final.get("accuracy"), "supernet_subnet_accuracy": rows["supernet subnet"]["accuracy"],
           "final_minus_supernet_acc_pt": (final.get("accuracy") or float("nan")) - rows["supernet subnet"]["accuracy"],
           "status": final["status"]}
    for k, v in out.items():
        print("{:<28} {}".format(k, v))
    write_result_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
