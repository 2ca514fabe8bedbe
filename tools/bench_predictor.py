#!/usr/bin/env python3
"""Batch latency prediction throughput: architectures scored per second from a table.

    python tools/bench_predictor.py --table latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json --json OUT.json
"""

import argparse
import sys
import time

import numpy as np

from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.util.results import write_result_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", required=True)
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args(argv)
    pred = Predictor(LatencyTable.load(args.table))
    G = pred.space.sample(np.random.default_rng(0), args.n)
    pred.predict(G[:1000])
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pred.predict(G)
        times.append(time.perf_counter() - t0)
    best, med = min(times), float(np.median(times))
    out = {"table": args.table, "n": args.n, "archs_per_s_median": args.n / med, "archs_per_s_best": args.n / best,
           "target_archs_per_s": 100000}
    for k, v in out.items():
        print("{:<22} {}".format(k, round(v) if isinstance(v, float) else v))
    if args.json:
        write_result_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
