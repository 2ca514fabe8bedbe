#!/usr/bin/env python3
"""What does the drift check decide when a table comes from another machine, and how far off are the predictions then?

Profiles a table on this machine (the truth here), then makes "another machine's" versions of it the way real
machines differ: a uniformly faster CPU, an op-dependent difference (int8 ReLU blocks much faster, as with
AVX-512-VNNI against AVX2; hardswish blocks stay float-bound), and a thread-count change (big ops speed up, small
ones do not). Each goes through the drift check (`edgenas drift`, re-profiling off so the decision is visible),
and each table's predictions, before and after the check, are compared with N random networks measured here.
A "reprofile" decision is scored with this machine's own fresh table, which is what re-profiling produces.

    python tools/bench_drift.py --json docs/results/drift.json
"""

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_table_accuracy import measure  # noqa: E402

from edgenas.errors import EdgenasError  # noqa: E402
from edgenas.latency.bundle import export_net  # noqa: E402
from edgenas.latency.drift import rescaled  # noqa: E402
from edgenas.latency.predictor import Predictor  # noqa: E402
from edgenas.latency.table import LatencyTable  # noqa: E402
from edgenas.runtime.device import cpu_info  # noqa: E402
from edgenas.targets import load_target  # noqa: E402
from edgenas.util.results import write_result_json  # noqa: E402
from edgenas.util.progress import progress  # noqa: E402


def perturbed(base: LatencyTable, how: str) -> LatencyTable:
    """``base`` as another machine would have measured it."""
    if how == "uniform 1.6x faster":
        t = rescaled(base, 1 / 1.6, {})
        t.header.pop("drift")
        return t
    t = LatencyTable(copy.deepcopy(base.header), copy.deepcopy(base.entries))
    macs = np.array([e.get("macs", 0) for e in t.entries.values()])
    big = np.median(macs)
    for key, e in t.entries.items():
        if how == "op-dependent (VNNI-like int8 ReLU)":
            f = 0.5 if "_re" in key and not key.startswith("fp32:") else 0.95
        else:  # "2 threads instead of 1"
            f = 0.6 if e.get("macs", 0) > big else 0.95
        e["median_ms"] *= f
        e["p90_ms"] *= f
    return t


def errors(table: LatencyTable, archs, measured: np.ndarray):
    pred = Predictor(table)
    p = np.array([pred.predict_arch(a)[0] for a in archs])
    err = (p - measured) / measured
    return {"within_10pct": round(float(np.mean(np.abs(err) <= 0.10)), 3), "mape": round(float(100 * np.mean(np.abs(err))), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="cpu-x86-ort-int8")
    ap.add_argument("--space", default="mbv3-small")
    ap.add_argument("--n", type=int, default=30, help="random networks measured here as ground truth")
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    from edgenas.tasks.drift import check_table
    from edgenas.tasks.profile import profile

    t0 = time.time()
    target = load_target(args.target)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("profiling a table on this machine (the truth here) ...")
        profile(target, tmp / "here.json", space=args.space, progress=True)
        here = LatencyTable.load(tmp / "here.json")
        space = Predictor(here).space
        archs = [space.decode(g) for g in space.canonical(space.sample(np.random.default_rng(args.seed), args.n))]
        items = []
        with progress(len(archs), "export", "nets") as bar:
            for i, a in enumerate(archs):
                path = tmp / "n{:03d}.onnx".format(i)
                export_net(space, a, path, target, args.seed + i)
                items.append(path)
                bar.update(1)
        measured = measure(items, target, target.protocol, args.seed, "measure {} nets".format(len(items)))
        rows = []
        for i, how in enumerate(("same machine", "uniform 1.6x faster", "op-dependent (VNNI-like int8 ReLU)", "2 threads instead of 1")):
            src = tmp / "case.json"
            (here if how == "same machine" else perturbed(here, how)).save(src)
            before = errors(LatencyTable.load(src), archs, measured)
            t1 = time.time()
            try:
                r = check_table(src, target, tmp / "drift{}".format(i), reprofile=False, progress=False, log=None)
                decision, after_table, reason = r.decision, LatencyTable.load(r.table), r.reason
                factor, resid = r.factor, r.residual_pct
            except EdgenasError as e:
                decision = "reprofile" if "does not hold" in str(e) else "inconclusive"
                after_table, reason, factor, resid = (here if decision == "reprofile" else None), str(e), None, None
            after = errors(after_table, archs, measured) if after_table is not None else None
            rows.append({"case": how, "decision": decision, "factor": factor, "residual_pct": resid,
                         "check_s": round(time.time() - t1, 1), "before": before, "after": after, "reason": reason})
            print("{:<38} {:<12} before: {:>5.0%} within ±10% (MAPE {:>5.1f}%)   after: {}".format(
                how, decision, before["within_10pct"], before["mape"],
                "{:.0%} within ±10% (MAPE {:.1f}%)".format(after["within_10pct"], after["mape"]) if after else "-"))
    out = {"cpu": cpu_info(), "target": target.name, "space": args.space, "n_networks": args.n, "seed": args.seed,
           "measured_ms_range": [round(float(measured.min()), 4), round(float(measured.max()), 4)],
           "rows": rows, "wall_s": round(time.time() - t0, 1),
           "note": "'reprofile' rows are scored with this machine's own fresh table (what re-profiling yields)"}
    if args.json:
        write_result_json(args.json, out)
        _plot(rows, Path(args.json).with_suffix(".png"))
    print("wall {:.0f} s".format(out["wall_s"]))
    return 0


def _plot(rows, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["before"]["within_10pct"] * 100 for r in rows], 0.4, label="table as given")
    ax.bar(x + 0.2, [(r["after"] or {}).get("within_10pct", 0) * 100 for r in rows], 0.4, label="after the drift check")
    ax.set_xticks(x)
    ax.set_xticklabels(["{}\n({})".format(r["case"], r["decision"]) for r in rows], fontsize=7)
    ax.set(ylabel="% of nets within ±10%", ylim=(0, 105), title="drift check: predictions here before and after")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
