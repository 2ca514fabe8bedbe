#!/usr/bin/env python3
"""Search benchmarks: best-feasible accuracy vs evaluations for ours, random search, regularized
evolution, Optuna TPE and Optuna NSGA-II at equal budgets of expensive evaluations; throughput; and
(with a supernet) fidelity and searched vs hand-designed (bench_search_training.py).

The objectives are accuracy predictors fitted to supernet evaluations of a pool of random
architectures (``--pool`` npz with ``G`` and ``acc``, or built here from ``--supernet``):

- ``linear``: ridge on one-hot genotypes (additive: a linear model inside a search exploits it).
- ``mlp``: OFA's accuracy predictor, an MLP on one-hot genotypes (non-linear: interactions).

The latency budget is a percentile of random architectures' table latency. Tune engine defaults on
seeds you then leave out, e.g.:

    python tools/bench_search.py --pool runs/bench/pool.pool.npz \
        --table latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json --seeds 0-9 --json runs/bench/search.json
"""

import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the surrogate's small solves: threads only contend

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.nas.acc_predictor import AccuracyPredictor
from edgenas.nas.pareto import hypervolume_2d
from edgenas.space import space_from_description
from edgenas.util.results import write_result_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search_methods import METHODS, run_ours  # noqa: E402


def seeds_arg(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


class MLPPredictor:
    """OFA-style accuracy predictor: one-hot genotype -> 2 hidden ReLU layers -> accuracy (torch fit,
    numpy forward)."""

    def __init__(self, space, hidden=256, epochs=2000, wd=1e-4, seed=0):
        self.base, self.hidden, self.epochs, self.wd, self.seed = AccuracyPredictor(space), hidden, epochs, wd, seed

    def fit(self, G, acc):
        import torch

        torch.manual_seed(self.seed)
        X = torch.tensor(self.base.features(G)[:, :-1], dtype=torch.float32)
        self.mu, self.sd = float(np.mean(acc)), float(np.std(acc)) or 1.0
        y = torch.tensor((np.asarray(acc) - self.mu) / self.sd, dtype=torch.float32)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], self.hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(self.hidden, self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, 1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=self.wd)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(X)[:, 0], y)
            loss.backward()
            opt.step()
        self.W = [(m.weight.detach().numpy().T.astype(np.float64), m.bias.detach().numpy().astype(np.float64))
                  for m in net if isinstance(m, torch.nn.Linear)]
        return self

    def __call__(self, G):
        h = self.base.features(G)[:, :-1]
        for i, (w, b) in enumerate(self.W):
            h = h @ w + b
            if i < len(self.W) - 1:
                h = np.maximum(h, 0)
        return self.mu + self.sd * h[:, 0]


def kendall(a, b):
    a, b = np.asarray(a), np.asarray(b)
    s = np.sign(a[:, None] - a[None]) * np.sign(b[:, None] - b[None])
    return float(s.sum() / (len(a) * (len(a) - 1)))


def objectives(space, G, acc, names):
    """Fit each scenario's predictor on 80% of the pool (holdout quality reported), then on all."""
    n = int(0.8 * len(G))
    out, quality = {}, {}
    R = space.canonical(space.sample(np.random.default_rng(7), 5000))
    for name in names:
        make = (lambda: AccuracyPredictor(space)) if name == "linear" else (lambda: MLPPredictor(space))
        held = make().fit(G[:n], acc[:n])(G[n:])
        f = make().fit(G, acc)
        r = f(R)
        lin = AccuracyPredictor(space).fit(R, r)(R)  # how additive is this objective on random architectures?
        quality[name] = {"holdout_rmse_pt": float(np.sqrt(np.mean((held - acc[n:]) ** 2))),
                         "holdout_pearson": float(np.corrcoef(held, acc[n:])[0, 1]), "holdout_kendall": kendall(held, acc[n:]),
                         "additive_r2": float(1 - np.var(r - lin) / np.var(r)), "n_fit": int(len(G))}
        out[name] = f
        print("objective {:<7} holdout rmse {:.2f} pt  pearson {:.3f}  kendall {:.3f}  additive R2 on random archs {:.3f}".format(
            name, quality[name]["holdout_rmse_pt"], quality[name]["holdout_pearson"], quality[name]["holdout_kendall"],
            quality[name]["additive_r2"]))
    return out, quality


def best_curve(G, latency, acc, budget_ms, n):
    """Best feasible accuracy after each of the first ``n`` evaluations (NaN before the first)."""
    a = np.where(latency(G) <= budget_ms, acc(G), -np.inf) if len(G) else np.zeros(0)
    c = np.maximum.accumulate(a) if len(a) else a
    c = np.concatenate([c, np.full(n - len(c), c[-1] if len(c) else -np.inf)])
    return np.where(np.isfinite(c), c, np.nan)


def run_quality(space, latency, fns, budget_ms, budgets, seeds, methods, variants):
    ref_acc = {k: float(np.percentile(f(space.canonical(space.sample(np.random.default_rng(99), 20000))), 1)) for k, f in fns.items()}
    rows, curves = [], {}
    for scen, acc in fns.items():
        ref = np.array([-ref_acc[scen], budget_ms])
        for evals in budgets:
            for method in methods:
                todo = [(method, {})] if method != "ours" else [("ours" + (":" + k if k else ""), v) for k, v in variants.items()]
                for label, opts in todo:
                    cs = []
                    for seed in seeds:
                        t0 = time.time()
                        if method == "ours":
                            G = run_ours(space, latency, acc, budget_ms, evals, seed, **opts)
                        else:
                            G = METHODS[method](space, latency, acc, budget_ms, evals, seed)
                        secs = time.time() - t0
                        c = best_curve(G, latency, acc, budget_ms, evals)
                        ok = latency(G) <= budget_ms
                        hv = hypervolume_2d(np.stack([-acc(G[ok]), latency(G[ok])], 1), ref) if ok.any() else 0.0
                        rows.append({"scenario": scen, "method": label, "evals": evals, "seed": seed, "n_evaluated": int(len(G)),
                                     "best_feasible_acc": float(c[-1]), "hypervolume": float(hv), "seconds": round(secs, 2)})
                        cs.append(c)
                        print("{:<6} {:<22} evals {:>5} seed {:>3}  best {:.3f}  hv {:.3f}  {:.1f}s".format(
                            scen, label, evals, seed, c[-1], hv, secs), flush=True)
                    curves["{}|{}|{}".format(scen, label, evals)] = np.nanmean(np.array(cs), 0)
    return rows, curves, ref_acc


def summarise(rows):
    out = {}
    for key in sorted({(r["scenario"], r["evals"], r["method"]) for r in rows}):
        r = [x for x in rows if (x["scenario"], x["evals"], x["method"]) == key]
        b = np.array([x["best_feasible_acc"] for x in r])
        out["{}|{}|{}".format(*key)] = {"mean": float(np.mean(b)), "std": float(np.std(b, ddof=1)) if len(b) > 1 else 0.0,
                                        "se": float(np.std(b, ddof=1) / np.sqrt(len(b))) if len(b) > 1 else 0.0,
                                        "hv_mean": float(np.mean([x["hypervolume"] for x in r])), "n_seeds": len(b),
                                        "seconds_per_run": float(np.mean([x["seconds"] for x in r]))}
    verdict = {}
    for scen, evals in sorted({(r["scenario"], r["evals"]) for r in rows}):
        s = {k.split("|")[2]: v for k, v in out.items() if k.startswith("{}|{}|".format(scen, evals))}
        if "ours" in s:
            peers = {m: v for m, v in s.items() if not m.startswith("ours")}  # ours_pareto optimises another goal
            tpe = s.get("optuna_tpe")
            verdict["{}|{}".format(scen, evals)] = {
                "ours_ge_every_peer": bool(all(s["ours"]["mean"] >= v["mean"] for v in peers.values())),
                "ours_minus_tpe": None if tpe is None else s["ours"]["mean"] - tpe["mean"],
                "se_of_difference": None if tpe is None else float(np.hypot(s["ours"]["se"], tpe["se"]))}
    return out, verdict


def table(summary, verdict):
    lines = ["| scenario | evals | method | best feasible acc (mean ± std) | SE | HV | s/run |", "|---|---|---|---|---|---|---|"]
    for k, v in summary.items():
        scen, evals, m = k.split("|")
        lines.append("| {} | {} | {} | {:.3f} ± {:.3f} | {:.3f} | {:.3f} | {:.1f} |".format(scen, evals, m, v["mean"], v["std"], v["se"],
                                                                                       v["hv_mean"], v["seconds_per_run"]))
    for k, v in verdict.items():
        if v["ours_minus_tpe"] is not None:
            lines.append("{}: ours >= every peer: {}; ours - TPE = {:+.3f} (SE of difference {:.3f})".format(
                k, v["ours_ge_every_peer"], v["ours_minus_tpe"], v["se_of_difference"]))
    return "\n".join(lines)


def plot(curves, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    scens = sorted({k.split("|")[0] for k in curves})
    budgets = sorted({int(k.split("|")[2]) for k in curves})
    fig, axes = plt.subplots(len(scens), len(budgets), figsize=(4.2 * len(budgets), 3.4 * len(scens)), squeeze=False)
    for r, scen in enumerate(scens):
        lo = np.nanpercentile(np.concatenate([c[len(c) // 10:] for k, c in curves.items() if k.startswith(scen + "|")]), 2)
        for ax, evals in zip(axes[r], budgets):
            for k, c in curves.items():
                s, m, e = k.split("|")
                if (s, int(e)) == (scen, evals):
                    ax.plot(np.arange(1, len(c) + 1), c, label=m, lw=2 if m.startswith("ours") else 1)
            ax.set(xlabel="evaluations", ylabel="best feasible accuracy (%)", title="{} @ {}".format(scen, evals), ylim=(lo, None))
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def load_pool(args, space):
    if args.pool:
        z = np.load(args.pool)
        return space.canonical(z["G"].astype(np.int64)), z["acc"].astype(float)
    from edgenas.nas.estimators import SupernetEstimator
    from edgenas.nas.session import load_supernet, prepare_data
    from edgenas.util.torchdev import resolve_device

    dev = resolve_device(args.device)
    net, meta = load_supernet(args.supernet)
    net = net.to(dev)
    o = meta["options"]
    d = prepare_data(o.get("data"), space.resolution, None, o["val_size"], o["seed"], norm=meta["norm"],
                     channels=space.config["in_channels"], device=dev, num_classes=space.config["num_classes"])
    G = np.unique(space.canonical(space.sample(np.random.default_rng(1), args.pool_size)), axis=0)
    G = G[np.random.default_rng(2).permutation(len(G))]
    t0 = time.time()
    acc = SupernetEstimator(net, d["val"], d["train"])(G)
    print("pool: {} supernet evaluations in {:.0f} s".format(len(G), time.time() - t0))
    return G, acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool", help="npz with G (genotypes) and acc (supernet accuracy) of random architectures")
    p.add_argument("--supernet", help="build the pool from this supernet (and run fidelity/baseline stages)")
    p.add_argument("--pool-size", type=int, default=300)
    p.add_argument("--table", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--stages", default="quality", help="comma list of throughput, quality, fidelity, baseline")
    p.add_argument("--scenarios", default="linear,mlp")
    p.add_argument("--methods", default=",".join(METHODS), help="of " + ",".join(METHODS))
    p.add_argument("--ours", default="{}", help='JSON {label: engine Options overrides} to compare variants of ours, e.g. '
                   '\'{"": {}, "k2": {"kappa": 2}}\'')
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 (report) or 100-109 (tuning)")
    p.add_argument("--budgets", default="100,300,1000")
    p.add_argument("--percentile", type=float, default=25, help="latency budget: this percentile of random architectures")
    p.add_argument("--tuned-on", default="100-109", help="seeds the engine defaults were tuned on (recorded)")
    p.add_argument("--n-fidelity", type=int, default=15)
    p.add_argument("--train-subset", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--test-limit", type=int, default=10000)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    if not (args.pool or args.supernet):
        p.error("give --pool or --supernet")
    table_ = LatencyTable.load(args.table)
    space = space_from_description(table_.header["space"])
    pred = Predictor(table_, space)
    out_path = Path(args.json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    G, acc = load_pool(args, space)
    if args.supernet and not args.pool:
        np.savez(out_path.with_suffix(".pool.npz"), G=G, acc=acc)
    budget_ms = float(np.percentile(pred.predict(space.canonical(space.sample(np.random.default_rng(2), 20000))), args.percentile))
    stages = args.stages.split(",")
    fns, quality = objectives(space, G, acc, args.scenarios.split(","))
    results.update({"pool": {"n": int(len(G)), "acc_mean": float(acc.mean()), "acc_std": float(acc.std()), "source": args.pool or args.supernet},
                    "objectives": quality, "latency_budget_ms": budget_ms, "latency_percentile": args.percentile})
    if "throughput" in stages:
        R = space.sample(np.random.default_rng(0), 200000)
        t0 = time.perf_counter()
        fns[list(fns)[0]](R), pred.predict(R)
        results["throughput"] = {"evals_per_s": len(R) / (time.perf_counter() - t0)}
    if "quality" in stages:
        t0 = time.time()
        seeds = seeds_arg(args.seeds)
        rows, curves, ref = run_quality(space, pred.predict, fns, budget_ms, [int(b) for b in args.budgets.split(",")], seeds,
                                        args.methods.split(","), json.loads(args.ours) or {"": {}})
        summary, verdict = table_summary = summarise(rows)
        results["quality"] = {"seeds": seeds, "engine_defaults_tuned_on_seeds": seeds_arg(args.tuned_on),
                              "hv_reference_acc": ref, "summary": summary, "verdict": verdict, "runs": rows,
                              "curves": {k: [None if np.isnan(x) else round(float(x), 4) for x in v] for k, v in curves.items()},
                              "wall_s": round(time.time() - t0, 1), "plot": plot(curves, out_path.with_suffix(".png"))}
        print(table(*table_summary))
    if {"fidelity", "baseline"} & set(stages):
        from bench_search_training import training_stages

        results.update(training_stages(args, space, pred, fns.get("linear") or AccuracyPredictor(space).fit(G, acc), stages, out_path))
    write_result_json(out_path, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
