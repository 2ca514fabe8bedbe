#!/usr/bin/env python3
"""How well does a latency table predict end-to-end latency? (the nn-Meter question)

Measures N random architectures of the table's space end to end on the table's backend, in interleaved
rounds, twice (two independent passes give the noise floor), and compares them with the prediction.
The table's own calibration networks are measured in the same rounds as anchors: their ratio to the
table's figures is the machine's drift since profiling, reported beside the raw accuracy (never in
place of it).

    python tools/bench_table_accuracy.py --table latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json --n 100 --json OUT.json
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgenas.backends.registry import get_backend
from edgenas.errors import EdgenasError
from edgenas.latency.bundle import export_net
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.tasks.common import arch_with_plan
from edgenas.backends import make_runner
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.targets import target_from_dict
from edgenas.util.results import write_result_json
from edgenas.util.progress import progress


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def measure(items, target, protocol, seed, desc):
    """Median latency of each item (an ONNX path, or for a torch target a (module builder, shape) pair)."""
    runners = []
    for item in items:
        if not get_backend(target.backend).profiles_bundles:  # its own modules, not ONNX files
            from edgenas.backends.pytorch import TorchCudaRunner

            runners.append(TorchCudaRunner(item[0], item[1], precision=target.precision,
                                           device="cuda" if target.board.kind == "gpu" else "cpu"))
        else:
            runners.append(make_runner(item, target))
    pool = {}

    def acquire(name):  # a bounded number active at once, as the profiler does
        if name not in pool:
            while len(pool) >= (getattr(runners[0], "max_active", None) or len(items)):
                old = next(iter(pool))
                pool.pop(old)[0].deactivate()
            r = runners[int(name[1:])]
            r.activate()
            pool[name] = (r, r.timed_call(r.random_feed(seed + int(name[1:]))))
        return pool[name][1]

    names = {"n{:04d}".format(i): None for i in range(len(items))}
    with progress(len(names) * protocol.rounds, desc, "item-rounds") as bar:
        samples = measure_interleaved(names, protocol, seed=seed, bar=bar, acquire=acquire)
    for r, _ in pool.values():
        r.deactivate()
    return np.array([stats(samples["n{:04d}".format(i)])["median_ms"] for i in range(len(items))])


def plot(pred, meas, naive, path, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 5))
    lim = [0, max(meas.max(), pred.max(), naive.max()) * 1.05]
    ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.9", label="±10%")
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.scatter(meas, naive, s=10, c="tab:gray", alpha=0.6, label="naive block sum")
    ax.scatter(meas, pred, s=12, c="tab:blue", label="calibrated table")
    ax.set(xlim=lim, ylim=lim, xlabel="measured end-to-end (ms)", ylabel="predicted (ms)", title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", required=True)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--rounds", type=int, help="override the target's rounds")
    p.add_argument("--repeat", type=int, help="override the target's calls per round")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--plot", help="PNG of predicted vs measured (default: next to --json)")
    args = p.parse_args(argv)
    try:
        table = LatencyTable.load(args.table)
        pred = Predictor(table)
        target = target_from_dict(table.header["target"], "table target")
    except EdgenasError as e:
        sys.stderr.write("bench_table_accuracy: error: {}\n".format(e))
        return 1
    space, protocol = pred.space, target.protocol
    if args.rounds:
        protocol.rounds = args.rounds
    if args.repeat:
        protocol.repeat = args.repeat
    protocol.max_extra_rounds = 0
    t0 = time.time()
    G = space.canonical(space.sample(np.random.default_rng(args.seed), args.n))
    predicted = pred.predict(G)
    naive = pred.block_sums(G) + table.calibration["overhead_ms"]
    anchors = table.header.get("calibration_networks", [])
    anchor_archs = [arch_with_plan(space, n["arch"], n.get("precision_plan"), "anchor") for n in anchors]
    archs = [space.decode(g) for g in G] + anchor_archs
    builds = [(lambda a=a: space.build(a)) for a in archs]
    with tempfile.TemporaryDirectory() as tmp:
        if not get_backend(target.backend).profiles_bundles:
            items = [(b, tuple(space.input_shape())) for b in builds]
        else:
            items = []
            with progress(len(builds), "export " + target.precision, "nets") as bar:
                for i, arch in enumerate(archs):  # a mixed plan keeps its float ops in float
                    path = Path(tmp) / "a{:04d}.onnx".format(i)
                    export_net(space, arch, path, target, args.seed + i)
                    items.append(path)
                    bar.update(1)
        a = measure(items, target, protocol, args.seed, "pass 1")
        b = measure(items, target, protocol, args.seed + 1, "pass 2")
    n = len(G)
    a, b, anchor_now = a[:n], b[:n], (a[n:] + b[n:]) / 2
    measured = (a + b) / 2
    drift = float(np.median(anchor_now / np.array([x["measured_ms"] for x in anchors]))) if anchors else 1.0
    drift_err = (predicted * drift - measured) / measured
    err = (predicted - measured) / measured
    naive_err = (naive - measured) / measured
    out = {
        "table": args.table, "target": target.name, "precision": target.precision, "space": space.name,
        "resolution": space.resolution, "n": int(len(G)),
        "within_10pct": float(np.mean(np.abs(err) <= 0.10)), "within_5pct": float(np.mean(np.abs(err) <= 0.05)),
        "mape": float(100 * np.mean(np.abs(err))), "max_err_pct": float(100 * np.max(np.abs(err))),
        "spearman": spearman(predicted, measured),
        "noise_floor_pct": float(100 * np.median(np.abs(a - b) / measured)),
        "noise_p90_pct": float(100 * np.percentile(np.abs(a - b) / measured, 90)),
        "drift_factor": drift, "within_10pct_drift_corrected": float(np.mean(np.abs(drift_err) <= 0.10)),
        "mape_drift_corrected": float(100 * np.mean(np.abs(drift_err))),
        "naive_within_10pct": float(np.mean(np.abs(naive_err) <= 0.10)), "naive_mape": float(100 * np.mean(np.abs(naive_err))),
        "naive_ratio_range": [float((naive / measured).min()), float((naive / measured).max())],
        "measured_ms_range": [float(measured.min()), float(measured.max())],
        "protocol": {"rounds": protocol.rounds, "repeat": protocol.repeat, "min_round_ms": protocol.min_round_ms,
                     "passes": 2, "measured": "mean of two interleaved passes"},
        "wall_s": round(time.time() - t0, 1),
        "per_arch": {"predicted_ms": predicted.round(5).tolist(), "pass1_ms": a.round(5).tolist(),
                     "pass2_ms": b.round(5).tolist()},
    }
    png = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if png:
        out["plot"] = plot(predicted, measured, naive, png, "{} @{}px, {}".format(space.name, space.resolution, target.name))
    for k in ("n", "within_10pct", "within_5pct", "mape", "max_err_pct", "spearman", "noise_floor_pct",
              "drift_factor", "within_10pct_drift_corrected", "naive_within_10pct", "naive_mape", "wall_s"):
        v = out[k]
        print("{:<20} {}".format(k, round(v, 4) if isinstance(v, float) else v))
    if args.json:
        write_result_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
