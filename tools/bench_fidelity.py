#!/usr/bin/env python3
"""Does the supernet rank architectures like stand-alone training does? And does the searched model
beat a hand-designed one at equal latency and equal training? (issue 12's fidelity benchmarks)

Trains one supernet per schedule (sandwich, progressive) in parallel processes, trains >= 15 stand-alone
architectures spread over the latency range (two of them again with another seed, for the validation
noise), scores a pool of random architectures with each supernet (saved for tools/bench_search.py),
reports Kendall tau per schedule, then searches under the hand-designed baseline's latency and trains
both. Built for a GPU (several small trainings share it); --quick smoke-tests it anywhere.

    python tools/bench_fidelity.py --out runs/bench/fidelity --device cuda --json runs/bench/fidelity.json
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "latency_tables" / "cpu-x86-ort-fp32_mbv3-small_r28.json"
BASELINE = "ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re"


def kendall_tau(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i in range(len(a)) for j in range(i + 1, len(a)))
    return float(2 * s / (len(a) * (len(a) - 1)))


def worker(args) -> int:
    """Train the given archs stand-alone (one process; several of these share the GPU)."""
    import torch

    from edgenas.nas.session import prepare_data, test_data
    from edgenas.nas.tensors import accuracy
    from edgenas.nas.train import train_model
    from edgenas.space import get_space
    from edgenas.util.torchdev import resolve_device

    jobs = json.loads(Path(args.worker).read_text())
    dev = resolve_device(args.device, quiet=True)
    space = get_space("mbv3-small")
    d = prepare_data(None, 28, args.train_subset, args.val_size, 0, device=dev, num_classes=10)
    test = test_data(None, 28, d["norm"], None, dev, 10)
    results = []
    for job in jobs:
        torch.manual_seed(job["seed"])
        model = space.build(space.from_string(job["arch"])).to(dev)
        t0 = time.time()
        train_model(model, d["train"], args.epochs, args.batch_size, args.lr, job["seed"], show_progress=False)
        results.append(dict(job, val_acc=accuracy(model, d["val"]), test_acc=accuracy(model, test), train_s=round(time.time() - t0, 1)))
        Path(args.worker + ".out").write_text(json.dumps(results))
    return 0


def run_parallel(cmds, log):
    procs = [subprocess.Popen(c, cwd=str(ROOT), stdout=open(str(log) + ".{}.log".format(i), "w"), stderr=subprocess.STDOUT)
             for i, c in enumerate(cmds)]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit("a worker failed: see {}.*.log (exit codes {})".format(log, codes))


def standalone(archs, args, out: Path, tag: str):
    """[{arch, seed, val_acc, test_acc}] for every (arch, seed), trained by args.workers parallel processes."""
    jobs = [{"arch": a, "seed": s} for a, s in archs]
    chunks = [jobs[i::args.workers] for i in range(min(args.workers, len(jobs)))]
    cmds = []
    for i, chunk in enumerate(chunks):
        f = out / "{}-{}.json".format(tag, i)
        f.write_text(json.dumps(chunk))
        cmds.append([sys.executable, __file__, "--worker", str(f), "--device", args.device, "--epochs", str(args.epochs),
                     "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--val-size", str(args.val_size)]
                    + (["--train-subset", str(args.train_subset)] if args.train_subset else []))
    run_parallel(cmds, out / tag)
    return [r for i in range(len(chunks)) for r in json.loads((out / "{}-{}.json.out".format(tag, i)).read_text())]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench/fidelity")
    p.add_argument("--json", required=False)
    p.add_argument("--device", default="cuda")
    p.add_argument("--schedules", default="sandwich,progressive")
    p.add_argument("--sn-epochs", type=int, default=8)
    p.add_argument("--sn-batch", type=int, default=256)
    p.add_argument("--n-archs", type=int, default=16)
    p.add_argument("--pool", type=int, default=1500)
    p.add_argument("--epochs", type=int, default=4, help="stand-alone training epochs")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--train-subset", type=int)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--search-budget", type=int, default=300)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.quick:
        args.sn_epochs, args.n_archs, args.pool, args.epochs, args.train_subset, args.val_size = 1, 4, 12, 1, 512, 256
        args.workers, args.search_budget = 2, 8
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"device": args.device, "settings": {k: v for k, v in vars(args).items() if k not in ("worker",)}}
    t0 = time.time()
    from edgenas.latency.predictor import Predictor
    from edgenas.latency.table import LatencyTable
    from edgenas.space import get_space

    space = get_space("mbv3-small")
    pred = Predictor(LatencyTable.load(TABLE), space)
    # 1. supernets, one process per schedule, alongside the stand-alone trainings
    schedules = args.schedules.split(",")
    sn_cmds = [[sys.executable, "-m", "edgenas", "supernet", "train", "--space", "mbv3-small", "--epochs", str(args.sn_epochs),
                "--batch-size", str(args.sn_batch), "--lr", "0.1", "--val-size", str(args.val_size), "--schedule", s,
                "--device", args.device, "--out", str(out / ("sn-" + s)), "--quiet"]
               + (["--train-subset", str(args.train_subset)] if args.train_subset else []) for s in schedules]
    sn_procs = [subprocess.Popen(c, cwd=str(ROOT), stdout=open(str(out / "sn-{}.log".format(s)), "w"), stderr=subprocess.STDOUT)
                for c, s in zip(sn_cmds, schedules)]
    G = space.canonical(space.sample(np.random.default_rng(5), 4000))
    lat = pred.predict(G)
    pick = np.argsort(lat)[np.linspace(0, len(G) - 1, args.n_archs).astype(int)]
    archs = [space.to_string(space.decode(g)) for g in G[pick]]
    jobs = [(a, 0) for a in archs] + [(archs[len(archs) // 3], 1), (archs[2 * len(archs) // 3], 1)]
    alone = standalone(jobs, args, out, "standalone")
    res["standalone_s"] = round(time.time() - t0, 1)
    codes = [pr.wait() for pr in sn_procs]
    if any(codes):
        raise SystemExit("supernet training failed: see {}/sn-*.log".format(out))
    res["supernet_s"] = round(time.time() - t0, 1)
    # 2. score the archs and a random pool with each supernet
    import torch

    from edgenas.nas.estimators import SupernetEstimator
    from edgenas.nas.session import load_supernet, prepare_data
    from edgenas.util.torchdev import resolve_device

    dev = resolve_device(args.device, quiet=True)
    seed0 = {r["arch"]: r for r in alone if r["seed"] == 0}
    noise = [abs(r["val_acc"] - seed0[r["arch"]]["val_acc"]) for r in alone if r["seed"] == 1]
    res["standalone"] = alone
    res["standalone_val_noise_pt"] = noise
    pool_G = np.vstack([space.encode(space.from_string(a))[None] for a in archs] +
                       [space.canonical(space.sample(np.random.default_rng(11), args.pool))])
    res["fidelity"] = {}
    for s in schedules:
        net, meta = load_supernet(out / ("sn-" + s) / "supernet.pt")
        net = net.to(dev)
        d = prepare_data(None, 28, args.train_subset, args.val_size, meta["options"]["seed"], norm=meta["norm"], device=dev,
                         num_classes=10)
        est = SupernetEstimator(net, d["val"], d["train"])
        t1 = time.time()
        with torch.no_grad():
            acc = est(pool_G)
        np.savez(out / "pool-{}.npz".format(s), G=pool_G, acc=acc, lat=pred.predict(pool_G))
        sup = acc[:len(archs)]
        tau = kendall_tau(sup, [seed0[a]["val_acc"] for a in archs])
        res["fidelity"][s] = {"kendall_tau": tau, "supernet_acc": sup.tolist(), "pool_eval_s_per_arch": (time.time() - t1) / len(pool_G),
                              "history": meta["train_state"]["history"]}
        print("fidelity {:<12} kendall tau {:.3f} ({} archs; stand-alone val noise {})".format(
            s, tau, len(archs), ["{:.2f}".format(x) for x in noise]), flush=True)
    best_s = max(schedules, key=lambda s: res["fidelity"][s]["kendall_tau"])
    res["best_schedule"] = best_s
    res["pool_s"] = round(time.time() - t0, 1)
    # 3. searched vs hand-designed at the baseline's latency, equal training
    from edgenas.tasks.search import search

    budget_ms = float(pred.predict(space.encode(space.from_string(BASELINE))[None])[0])
    r = search("cpu-x86-ort-fp32", TABLE, out / ("sn-" + best_s) / "supernet.pt", out / "search", latency_ms=budget_ms,
               budget=args.search_budget, val_size=args.val_size, device=args.device, progress=False)
    duel = standalone([(BASELINE, 0), (BASELINE, 1), (r.arch, 0), (r.arch, 1)], args, out, "duel")
    base = [x["test_acc"] for x in duel if x["arch"] == BASELINE]
    srch = [x["test_acc"] for x in duel if x["arch"] == r.arch]
    res["searched_vs_baseline"] = {"latency_budget_ms": budget_ms, "baseline_arch": BASELINE, "searched_arch": r.arch,
                                   "searched_predicted_ms": r.latency_ms, "search_evaluations": r.evaluations,
                                   "baseline_test_acc": base, "searched_test_acc": srch,
                                   "searched_minus_baseline_pt": float(np.mean(srch) - np.mean(base))}
    res["wall_s"] = round(time.time() - t0, 1)
    print("searched - baseline: {:+.2f} pt ({} vs {})".format(res["searched_vs_baseline"]["searched_minus_baseline_pt"], srch, base))
    from edgenas.util.results import write_result_json

    write_result_json(args.json or out / "fidelity.json", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
